// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz: random operation sequences against mig-mdev instances.
 *
 *   fuzz [--seed S] [--time SECONDS] [--ops N] [--round SECONDS] [--verbose]
 *
 * Creates one source instance (small, filled through BAR2, engine off) and
 * three destinations (two small with odd data section sizes, one large),
 * then runs random operations until the time or op budget is spent:
 * trapped-header accesses at any offset and width, device_state writes
 * (valid and invalid values), pending_bytes/data_offset/data_size reads,
 * data_size writes, mmap/munmap of random ranges of the region (touching
 * the pages), pread/pwrite of the data section, BAR0, BAR2 and config
 * accesses, SET_IRQS, GET_REGION_INFO, bad user pointers, engine_rate,
 * VFIO_DEVICE_RESET, close and reopen, remove and create again, full saves
 * of the source and resumes of real or mutated streams (bit flips,
 * truncations, splices, inserted, deleted or repeated bytes, broken record
 * lengths) cut into random chunks.  A reader thread races sysfs and debugfs
 * reads against all of it.
 *
 * The source is only read: it is never reset, resumed or written, so its
 * digest must never change.  Every result is checked against PROTOCOL.md
 * and docs/DESIGN.md as the operation runs (see docs/FUZZ.md).  Output is
 * TAP, one test for the run and one per invariant; on a violation the op
 * index and a replay command are printed and the exit status is 1.
 *
 * The random draws of an operation never depend on what the kernel
 * returned, so the same seed replays the same sequence.  With --round,
 * each round has its own seed and instances.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <linux/vfio.h>

#include "libmig.h"

#define FZ_NDEV		4	/* source + 3 destinations */
#define FZ_MAPS		6	/* live mappings per device */
#define FZ_POOL		4	/* saved streams kept */
#define FZ_SCRATCH	(2u << 20)
#define FZ_OFFSET_SHIFT	40	/* region index << 40 in the device fd */
#define FZ_PAGE		4096

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- */
/* PRNG, invariants, reporting                                       */
/* ---------------------------------------------------------------- */

static uint64_t rnd_state;

static uint64_t rnd_next(uint64_t *s)
{
	/* splitmix64: any seed, 0 included, is fine */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	return rnd_next(&rnd_state);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* true with probability pct/100 */
static bool rnd_pct(unsigned int pct)
{
	return rnd_below(100) < pct;
}

enum fz_inv {
	INV_ERRNO,	/* only the errno classes the docs name */
	INV_RULES,	/* outcomes PROTOCOL.md/DESIGN.md predict */
	INV_RESET,	/* RUNNING after a reset or a reopen */
	INV_SOURCE,	/* the source's digest never changes */
	INV_STREAM,	/* saves work; accepted streams carry the digest */
	INV_RECOVER,	/* at the end every device recovers by reset */
	INV_NR,
};

static const char * const inv_names[INV_NR] = {
	[INV_ERRNO] = "errno classes: EINVAL, EBUSY, EFAULT for bad pointers, ERANGE from engine_rate",
	[INV_RULES] = "outcomes follow PROTOCOL.md and DESIGN.md",
	[INV_RESET] = "every device reads RUNNING after a reset or a reopen",
	[INV_SOURCE] = "the source's digest never changes",
	[INV_STREAM] = "saves of the source succeed; accepted streams carry the destination's digest",
	[INV_RECOVER] = "at the end every device recovers by reset, migrates and is removed",
};

static unsigned int inv_fail[INV_NR];

/* What the resumes did, for the summary (a fuzzer that never gets a stream
 * accepted or rejected is not fuzzing much). */
static struct {
	uint64_t real_ok, mutated_ok, rejected, error, saves;
} stats;
static uint64_t seed, op_index, ops_done;
static const char *op_name = "setup";
static bool stop;
static int verbose;

static void __attribute__((format(printf, 3, 4)))
violation(enum fz_inv inv, const char *dev, const char *fmt, ...)
{
	va_list ap;

	inv_fail[inv]++;
	printf("# VIOLATION [%s] op %" PRIu64 " (%s) on %s: ", inv_names[inv],
	       op_index, op_name, dev);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n# replay: fuzz --seed %" PRIu64 " --ops %" PRIu64 "\n",
	       seed, op_index + 1);
	fflush(stdout);
	stop = true;
}

/* Allowed results of an operation, a bit per class. */
#define A_OK		(1u << 0)
#define A_EINVAL	(1u << 1)
#define A_EBUSY		(1u << 2)
#define A_EFAULT	(1u << 3)
#define A_ERANGE	(1u << 4)

static unsigned int result_bit(int ret)
{
	switch (ret) {
	case 0: return A_OK;
	case -EINVAL: return A_EINVAL;
	case -EBUSY: return A_EBUSY;
	case -EFAULT: return A_EFAULT;
	case -ERANGE: return A_ERANGE;
	}
	return 0;
}

static const char *result_str(int ret)
{
	return ret ? strerror(-ret) : "success";
}

/*
 * @ret (0 or -errno) must be in @allowed.  An errno of a class the docs
 * never give is an INV_ERRNO violation; a documented class that the rules
 * exclude here is an INV_RULES one.  Returns true if the result was allowed.
 */
static bool check(int ret, unsigned int allowed, const char *dev,
		  const char *what)
{
	unsigned int bit = result_bit(ret);

	if (bit & allowed)
		return true;
	violation(bit ? INV_RULES : INV_ERRNO, dev, "%s: %s (%d)", what,
		  result_str(ret), ret);
	return false;
}

/* ---------------------------------------------------------------- */
/* Devices                                                           */
/* ---------------------------------------------------------------- */

struct fz_map {
	uint8_t *addr;
	size_t len;
	bool writable;
	bool partial;	/* part of it was unmapped: don't touch */
};

/**
 * struct fz_dev - one instance
 * @name: "src", "dst0", ...
 * @type: "small" or "large"
 * @src: the source: only read, never reset, resumed or written
 * @uuid: its UUID
 * @created: exists in sysfs
 * @d: the device (fd -1 when closed)
 * @mem_size: device memory
 * @maps: live mappings of its region
 * @efd: an eventfd for SET_IRQS
 */
struct fz_dev {
	const char *name;
	const char *type;
	bool src;
	char uuid[MIG_UUID_LEN + 1];
	bool created;
	struct mig_dev d;
	uint64_t mem_size;
	struct fz_map maps[FZ_MAPS];
	int efd;
};

struct fz_stream {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint64_t digest;
};

static struct fz_dev devs[FZ_NDEV];
/* Guards the uuid and created fields against the reader thread. */
static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fz_stream pool[FZ_POOL];
static unsigned int npool;
static uint64_t src_digest;
static uint8_t *scratch;	/* FZ_SCRATCH bytes, for reads and writes */
static uint8_t *mut;		/* a mutated stream */
static size_t mut_cap;
static sigjmp_buf touch_jmp;
static volatile sig_atomic_t touching;

static uint32_t dev_state(struct fz_dev *v)
{
	uint32_t s;

	if (mig_get_state(&v->d, &s))
		return UINT32_MAX;
	return s;
}

static int raw_rw(struct fz_dev *v, int index, uint64_t off, void *buf,
		  size_t len, bool write)
{
	off_t pos = (off_t)(((uint64_t)index << FZ_OFFSET_SHIFT) + off);
	ssize_t n;

	if (write)
		n = pwrite(v->d.fd, buf, len, pos);
	else
		n = pread(v->d.fd, buf, len, pos);
	if (n < 0)
		return -errno;
	if ((size_t)n != len) {
		violation(INV_RULES, v->name, "%s of %zu bytes at %d:%#" PRIx64
			  " transferred %zd", write ? "pwrite" : "pread", len,
			  index, off, n);
		return -EIO;
	}
	return 0;
}

static void unmap_all(struct fz_dev *v)
{
	unsigned int i;

	for (i = 0; i < FZ_MAPS; i++) {
		if (v->maps[i].addr)
			munmap(v->maps[i].addr, v->maps[i].len);
		memset(&v->maps[i], 0, sizeof(v->maps[i]));
	}
}

static int dev_open(struct fz_dev *v)
{
	int ret = mig_dev_open(&v->d, v->uuid);

	if (ret)
		return ret;
	if (v->d.mig_index != MIG_MDEV_MIGRATION_REGION_INDEX)
		return -ENODEV;
	return 0;
}

static void dev_close(struct fz_dev *v)
{
	unmap_all(v);
	mig_dev_close(&v->d);
}

static void section_pages(unsigned int pages)
{
	char val[16];

	snprintf(val, sizeof(val), "%u", pages);
	mig_param_write("section_pages", val);
}

static int dev_create(struct fz_dev *v, const char *name, const char *type,
		      bool src, unsigned int pages)
{
	char old[32], uuid[MIG_UUID_LEN + 1];
	int ret;

	pthread_mutex_lock(&uuid_lock);
	memset(v, 0, sizeof(*v));
	pthread_mutex_unlock(&uuid_lock);
	v->name = name;
	v->type = type;
	v->src = src;
	v->efd = -1;
	v->d.fd = v->d.group = v->d.container = v->d.mig_index = -1;
	if (mig_param_read("section_pages", old, sizeof(old)))
		return -EIO;
	if (pages)
		section_pages(pages);
	ret = mig_instance_create(type, uuid);
	mig_param_write("section_pages", old);
	if (ret)
		return ret;
	pthread_mutex_lock(&uuid_lock);
	memcpy(v->uuid, uuid, sizeof(uuid));
	v->created = true;
	pthread_mutex_unlock(&uuid_lock);
	ret = dev_open(v);
	if (ret)
		return ret;
	{
		struct vfio_region_info *ri;

		ret = mig_get_region_info(&v->d, VFIO_PCI_BAR2_REGION_INDEX, &ri);
		if (ret)
			return ret;
		v->mem_size = ri->size;
		free(ri);
	}
	v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return v->efd < 0 ? -errno : 0;
}

/* ---------------------------------------------------------------- */
/* Streams                                                           */
/* ---------------------------------------------------------------- */

static int pool_sink(void *opaque, const void *buf, size_t len)
{
	struct fz_stream *s = opaque;

	if (len > s->cap - s->len)
		return -EMSGSIZE;
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	return 0;
}

#define FZ_HDR_LEN	sizeof(struct mig_stream_header)
#define FZ_REC_LEN	sizeof(struct mig_rec_header)

/*
 * Record offsets of a stream (at most @max), walking the lengths without
 * judging them.  Returns how many were found.
 */
static unsigned int stream_records(const uint8_t *buf, size_t len,
				   size_t *offs, unsigned int max)
{
	size_t off = FZ_HDR_LEN;
	unsigned int n = 0;

	while (off + FZ_REC_LEN <= len && n < max) {
		uint32_t rlen;

		memcpy(&rlen, buf + off + 4, 4);
		offs[n++] = off;
		off += FZ_REC_LEN + le32toh(rlen);
	}
	return n;
}

/* The digest of a stream's end marker, if it ends with one. */
static bool stream_end_digest(const uint8_t *buf, size_t len, uint64_t *dg)
{
	struct mig_rec_header h;
	uint64_t v;

	if (len < FZ_HDR_LEN + FZ_REC_LEN + sizeof(struct mig_rec_end))
		return false;
	memcpy(&h, buf + len - FZ_REC_LEN - sizeof(struct mig_rec_end),
	       sizeof(h));
	if (le32toh(h.type) != MIG_REC_END ||
	    le32toh(h.len) != sizeof(struct mig_rec_end))
		return false;
	memcpy(&v, buf + len - sizeof(struct mig_rec_end), 8);
	*dg = le64toh(v);
	return true;
}

static const char * const mut_names[] = {
	"none", "bit flips", "record header flips", "truncation", "splice",
	"insertion", "deletion", "repetition", "record length", "trailing bytes",
	"header field",
};

/*
 * Builds a mutated copy of pool stream @a (and @b for splices) in mut[]
 * with the sub-generator @ms.  Returns its length.
 */
static size_t mutate(unsigned int kind, unsigned int a, unsigned int b,
		     uint64_t ms)
{
	const struct fz_stream *sa = &pool[a], *sb = &pool[b];
	size_t len = sa->len, offs[256], i, n, at, cnt;
	unsigned int nrec;

	memcpy(mut, sa->buf, len);
	switch (kind) {
	case 1:		/* bit flips anywhere */
		n = 1 + rnd_next(&ms) % 8;
		for (i = 0; i < n; i++) {
			at = rnd_next(&ms) % len;
			mut[at] ^= 1 << (rnd_next(&ms) % 8);
		}
		break;
	case 2:		/* bits of the stream or a record header */
		nrec = stream_records(mut, len, offs, ARRAY_SIZE(offs));
		n = 1 + rnd_next(&ms) % 3;
		for (i = 0; i < n; i++) {
			size_t base = 0, span = FZ_HDR_LEN;

			if (nrec && rnd_next(&ms) % 4) {
				base = offs[rnd_next(&ms) % nrec];
				span = FZ_REC_LEN + sizeof(struct mig_rec_pages);
			}
			at = base + rnd_next(&ms) % span;
			if (at < len)
				mut[at] ^= 1 << (rnd_next(&ms) % 8);
		}
		break;
	case 3:		/* truncation */
		len = rnd_next(&ms) % len;
		break;
	case 4:		/* splice: a prefix of a, a suffix of b */
		at = rnd_next(&ms) % len;
		i = rnd_next(&ms) % sb->len;
		if (at + sb->len - i > mut_cap)
			break;
		memcpy(mut + at, sb->buf + i, sb->len - i);
		len = at + sb->len - i;
		break;
	case 5:		/* insert 1..64 random bytes */
		cnt = 1 + rnd_next(&ms) % 64;
		at = rnd_next(&ms) % len;
		memmove(mut + at + cnt, mut + at, len - at);
		for (i = 0; i < cnt; i++)
			mut[at + i] = rnd_next(&ms);
		len += cnt;
		break;
	case 6:		/* delete a range */
		at = rnd_next(&ms) % len;
		cnt = 1 + rnd_next(&ms) % (rnd_next(&ms) % 2 ? 16 : 8192);
		if (cnt > len - at)
			cnt = len - at;
		memmove(mut + at, mut + at + cnt, len - at - cnt);
		len -= cnt;
		break;
	case 7:		/* repeat a range */
		at = rnd_next(&ms) % len;
		cnt = 1 + rnd_next(&ms) % 8192;
		if (cnt > len - at)
			cnt = len - at;
		if (len + cnt > mut_cap)
			break;
		memmove(mut + at + cnt, mut + at, len - at);
		len += cnt;
		break;
	case 8:		/* a record's length or type */
		nrec = stream_records(mut, len, offs, ARRAY_SIZE(offs));
		if (!nrec)
			break;
		at = offs[rnd_next(&ms) % nrec] + (rnd_next(&ms) % 2 ? 4 : 0);
		{
			static const uint32_t vals[] = {
				0, 1, 7, 8, 16, 255, 256, 257, 4095, 4096,
				4104, 0x7fffffff, 0x80000000, 0xffffffff,
			};
			uint32_t v = rnd_next(&ms) % 3 ?
				     vals[rnd_next(&ms) % ARRAY_SIZE(vals)] :
				     (uint32_t)rnd_next(&ms);

			v = htole32(v);
			memcpy(mut + at, &v, 4);
		}
		break;
	case 9:		/* bytes after the end marker */
		cnt = 1 + rnd_next(&ms) % 64;
		for (i = 0; i < cnt; i++)
			mut[len + i] = rnd_next(&ms);
		len += cnt;
		break;
	case 10: {	/* a stream header field */
		static const size_t fields[] = { 0, 4, 6, 8, 12, 16 };

		at = fields[rnd_next(&ms) % ARRAY_SIZE(fields)];
		mut[at + rnd_next(&ms) % 2] ^= 1 << (rnd_next(&ms) % 8);
		break;
	}
	}
	return len;
}

/* ---------------------------------------------------------------- */
/* Predictions                                                       */
/* ---------------------------------------------------------------- */

static bool state_valid(uint32_t s)
{
	return s <= MIG_STATE_RESUMING || s == MIG_STATE_ERROR;
}

/* A writable state: STOP, RUNNING, SAVING, PRECOPY, RESUMING. */
static bool state_writable(uint32_t s)
{
	return s <= MIG_STATE_RESUMING;
}

#define T_OK	A_OK
#define T_NO	A_EINVAL
#define T_ANY	(A_OK | A_EINVAL)

/* PROTOCOL.md's transition table: from (row) -> to (column). */
static unsigned int transition(uint32_t from, uint32_t to)
{
	static const unsigned int table[5][5] = {
		/* to:          STOP   RUN    SAVING PRECOPY RESUMING */
		/* STOP */     { T_OK, T_OK,  T_OK,  T_OK,  T_OK },
		/* RUNNING */  { T_OK, T_OK,  T_OK,  T_OK,  T_OK },
		/* SAVING */   { T_OK, T_OK,  T_OK,  T_NO,  T_NO },
		/* PRECOPY */  { T_OK, T_OK,  T_OK,  T_OK,  T_NO },
		/* RESUMING */ { T_ANY, T_ANY, T_NO, T_NO,  T_OK },
	};

	if (!state_writable(to))
		return T_NO;
	if (from == MIG_STATE_ERROR)
		return T_NO;
	if (!state_writable(from))
		return T_ANY;
	return table[from][to];
}

/* ---------------------------------------------------------------- */
/* Operations                                                        */
/* ---------------------------------------------------------------- */

static void op_state_write(struct fz_dev *v, uint32_t val)
{
	uint32_t before = dev_state(v), after;
	unsigned int allowed = transition(before, val);
	int ret;

	if (!state_valid(before)) {
		violation(INV_RULES, v->name, "device_state reads %#x", before);
		return;
	}
	ret = mig_set_state(&v->d, val);
	if (!check(ret, allowed, v->name, "device_state write"))
		return;
	after = dev_state(v);
	if (!ret && after != val)
		violation(INV_RULES, v->name,
			  "device_state write %#x succeeded from %#x but reads %#x",
			  val, before, after);
	if (ret && after != before)
		violation(INV_RULES, v->name,
			  "failed device_state write %#x changed %#x to %#x",
			  val, before, after);
}

static uint32_t draw_state(void)
{
	static const uint32_t odd[] = {
		5, 7, 8, 9, 0x10, 0x80000000, 0xffffffff, 0x101, 0x6,
	};

	if (rnd_pct(85))
		return rnd_below(5);	/* STOP .. RESUMING */
	return rnd_pct(50) ? odd[rnd_below(ARRAY_SIZE(odd))] :
			     (uint32_t)rnd();
}

static void op_state(struct fz_dev *v)
{
	uint32_t val = draw_state();

	if (v->src && val == MIG_STATE_RESUMING)
		val = 5;	/* the source is never resumed */
	op_state_write(v, val);
}

/* The trapped header at random offsets and widths. */
static void op_header(struct fz_dev *v)
{
	static const size_t widths[] = { 1, 2, 4, 8, 8, 4, 3, 5, 16, 32 };
	static const uint64_t fields[] = { 0, 4, 8, 16, 24 };
	uint64_t off, val = rnd();
	size_t w = widths[rnd_below(ARRAY_SIZE(widths))];
	bool write = rnd_pct(40);
	unsigned int allowed;
	uint8_t buf[32];
	int ret;

	if (rnd_pct(70))
		off = fields[rnd_below(ARRAY_SIZE(fields))] +
		      (rnd_pct(70) ? 0 : rnd_below(8));
	else
		off = rnd_below(v->d.data_offset + 64);
	if (off >= v->d.data_offset)
		return;		/* the section: op_section */
	if (write && mig_hdr_native(off, w) && off == MIG_HDR_DEVICE_STATE) {
		if (v->src && (uint32_t)val == MIG_STATE_RESUMING)
			val = 5;
		op_state_write(v, (uint32_t)val);
		return;
	}
	memcpy(buf, &val, sizeof(val));
	if (!mig_hdr_native(off, w))
		allowed = A_EINVAL;
	else if (!write || off == MIG_HDR_RESERVED)
		allowed = A_OK;
	else if (off == MIG_HDR_DATA_SIZE)
		allowed = dev_state(v) == MIG_STATE_RESUMING ? T_ANY : A_EINVAL;
	else
		allowed = A_EINVAL;	/* pending_bytes, data_offset */
	ret = raw_rw(v, v->d.mig_index, off, buf, w, write);
	if (!check(ret, allowed, v->name, write ? "header write" :
						     "header read"))
		return;
	if (write && off == MIG_HDR_DATA_SIZE && ret) {
		uint32_t s = dev_state(v);

		if (s != MIG_STATE_RESUMING && s != MIG_STATE_ERROR &&
		    allowed != A_EINVAL)
			violation(INV_RULES, v->name,
				  "rejected data_size write left state %#x", s);
	}
	if (!ret && !write) {
		memcpy(&val, buf, sizeof(val));
		if (off == MIG_HDR_DEVICE_STATE && !state_valid((uint32_t)val))
			violation(INV_RULES, v->name,
				  "device_state reads %#x", (uint32_t)val);
		if (off == MIG_HDR_RESERVED && (uint32_t)val)
			violation(INV_RULES, v->name, "reserved reads %#x",
				  (uint32_t)val);
		if (off == MIG_HDR_DATA_OFFSET && val != v->d.data_offset)
			violation(INV_RULES, v->name,
				  "data_offset reads %#" PRIx64 ", not %#" PRIx64,
				  val, v->d.data_offset);
		if (off == MIG_HDR_DATA_SIZE && val > v->d.section_size)
			violation(INV_RULES, v->name,
				  "data_size %" PRIu64 " > section %" PRIu64,
				  val, v->d.section_size);
	}
}

static int discard_sink(void *opaque, const void *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
	return 0;
}

/* One QEMU save iteration on a device that is saving. */
static void op_save_chunk(struct fz_dev *v)
{
	enum mig_path path = rnd_pct(50) ? MIG_PATH_MMAP : MIG_PATH_PREAD;
	uint32_t s = dev_state(v);
	int64_t n;

	if (s != MIG_STATE_SAVING && s != MIG_STATE_PRECOPY)
		return;
	n = mig_save_chunk(&v->d, path, discard_sink, NULL);
	if (n == -EPROTO)
		violation(INV_RULES, v->name,
			  "a chunk outside the section, or empty while pending_bytes > 0");
	else if (n < 0)
		check((int)n, 0, v->name, "save iteration");
}

static void op_data_size_write(struct fz_dev *v)
{
	static const uint64_t vals[] = { 0, 1, 8, 24, 4096, UINT64_MAX };
	uint64_t val = rnd_pct(50) ? vals[rnd_below(ARRAY_SIZE(vals))] :
				     rnd_below(v->d.section_size + 2);
	uint32_t s = dev_state(v);
	unsigned int allowed = A_EINVAL;
	int ret;

	if (s == MIG_STATE_RESUMING && val && val <= v->d.section_size)
		allowed = T_ANY;
	ret = mig_set_data_size(&v->d, val);
	if (!check(ret, allowed, v->name, "data_size write"))
		return;
	s = dev_state(v);
	if (ret && allowed != A_EINVAL && s != MIG_STATE_RESUMING &&
	    s != MIG_STATE_ERROR)
		violation(INV_RULES, v->name,
			  "rejected data_size write left state %#x", s);
}

/* Read every page of a mapping, write a byte into some. */
static void __attribute__((noinline)) touch_pages(struct fz_map *m,
						  uint64_t ms)
{
	volatile uint8_t *p = m->addr;
	size_t off;
	uint8_t sum = 0;

	for (off = 0; off < m->len; off += FZ_PAGE) {
		sum += p[off];
		if (m->writable && rnd_next(&ms) % 2)
			p[off + rnd_next(&ms) % FZ_PAGE] = (uint8_t)ms;
	}
	(void)sum;
}

static void touch_map(struct fz_dev *v, struct fz_map *m, uint64_t ms)
{
	if (m->partial)
		return;
	touching = 1;
	if (sigsetjmp(touch_jmp, 1)) {
		touching = 0;
		violation(INV_RULES, v->name, "a fault touching a mapping");
		return;
	}
	touch_pages(m, ms);
	touching = 0;
}

static void op_mmap(struct fz_dev *v)
{
	uint64_t dofs = v->d.data_offset, sec = v->d.section_size;
	uint64_t ms = rnd(), off, len;
	int index = rnd_pct(90) ? v->d.mig_index :
			(int)rnd_below(v->d.mig_index + 2);
	bool shared = rnd_pct(90), writable = rnd_pct(80), valid;
	unsigned int slot = rnd_below(FZ_MAPS);
	struct fz_map *m = &v->maps[slot];
	void *p;

	switch (rnd_below(4)) {
	case 0:		/* the whole section */
		off = dofs;
		len = sec;
		break;
	case 1:		/* pages inside it */
		off = dofs + rnd_below(sec / FZ_PAGE) * FZ_PAGE;
		len = (1 + rnd_below((dofs + sec - off) / FZ_PAGE)) * FZ_PAGE;
		break;
	case 2:		/* anywhere near it, whole pages */
		off = rnd_below((dofs + sec) / FZ_PAGE + 4) * FZ_PAGE;
		len = (1 + rnd_below(sec / FZ_PAGE + 4)) * FZ_PAGE;
		break;
	default:	/* odd lengths, sometimes an odd offset */
		off = dofs + rnd_below(sec + FZ_PAGE);
		if (rnd_pct(60))
			off &= ~(uint64_t)(FZ_PAGE - 1);
		len = 1 + rnd_below(sec + FZ_PAGE);
		break;
	}
	if (m->addr) {
		munmap(m->addr, m->len);
		memset(m, 0, sizeof(*m));
	}
	valid = index == v->d.mig_index && shared && !(off % FZ_PAGE) &&
		off >= dofs && off - dofs < sec &&
		((len + FZ_PAGE - 1) & ~(uint64_t)(FZ_PAGE - 1)) <=
		sec - (off - dofs);
	p = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0),
		 shared ? MAP_SHARED : MAP_PRIVATE, v->d.fd,
		 (off_t)(((uint64_t)index << FZ_OFFSET_SHIFT) + off));
	if (p == MAP_FAILED) {
		int ret = -errno;

		check(ret, valid ? 0 : A_EINVAL, v->name, "mmap");
		return;
	}
	if (!valid) {
		violation(INV_RULES, v->name,
			  "mmap of %#" PRIx64 "+%#" PRIx64 " (index %d, %s) succeeded",
			  off, len, index, shared ? "shared" : "private");
		munmap(p, len);
		return;
	}
	m->addr = p;
	m->len = len;
	m->writable = writable;
	touch_map(v, m, ms);
}

static void op_munmap(struct fz_dev *v)
{
	struct fz_map *m = &v->maps[rnd_below(FZ_MAPS)];
	uint64_t pages, first, cnt, ms = rnd();
	bool whole = rnd_pct(60);

	if (!m->addr)
		return;
	pages = (m->len + FZ_PAGE - 1) / FZ_PAGE;
	first = rnd_next(&ms) % pages;
	cnt = 1 + rnd_next(&ms) % (pages - first);
	if (whole) {
		touch_map(v, m, ms);
		munmap(m->addr, m->len);
		memset(m, 0, sizeof(*m));
		return;
	}
	munmap(m->addr + first * FZ_PAGE, cnt * FZ_PAGE);
	/*
	 * Keep the hole ours with an inaccessible placeholder: otherwise a
	 * later mmap (malloc, libmig's section) could land in it and be
	 * unmapped with the rest of this range.
	 */
	if (mmap(m->addr + first * FZ_PAGE, cnt * FZ_PAGE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		violation(INV_RULES, v->name, "placeholder mmap: %s",
			  strerror(errno));
	m->partial = true;
}

/* pread/pwrite around the data section. */
static void op_section(struct fz_dev *v)
{
	uint64_t dofs = v->d.data_offset, sec = v->d.section_size;
	uint64_t off = dofs + rnd_below(sec + 2 * FZ_PAGE);
	uint64_t max = sec < FZ_SCRATCH ? sec : FZ_SCRATCH;
	size_t len = rnd_pct(30) ? 1 + rnd_below(64) : 1 + rnd_below(max);
	bool write = rnd_pct(50), valid;
	int ret;

	if (rnd_pct(20))
		off = dofs + sec - rnd_below(2 * FZ_PAGE);
	if (off < dofs)
		off = dofs;	/* the header is op_header's */
	valid = off - dofs < sec && len <= sec - (off - dofs);
	if (write)
		memset(scratch, (int)off, len);
	ret = raw_rw(v, v->d.mig_index, off, scratch, len, write);
	check(ret, valid ? A_OK : A_EINVAL, v->name,
	      write ? "section pwrite" : "section pread");
}

static void op_bar0(struct fz_dev *v)
{
	static const size_t widths[] = { 4, 4, 4, 4, 1, 2, 8 };
	static const uint32_t regs[] = {
		MIG_REG_CONTROL, MIG_REG_STATUS, MIG_REG_DOORBELL,
		MIG_REG_ENGINE_RATE, MIG_REG_ENGINE_SEED, MIG_REG_SCRATCH0,
		MIG_REG_ID, MIG_REG_MEM_PAGES,
	};
	uint64_t off = rnd_pct(60) ? regs[rnd_below(ARRAY_SIZE(regs))] :
				     rnd_below(MIG_MDEV_BAR0_SIZE + 64);
	size_t w = widths[rnd_below(ARRAY_SIZE(widths))];
	bool write = !v->src && rnd_pct(50);
	uint32_t val = (uint32_t)rnd(), s;
	uint8_t buf[8];
	unsigned int allowed;
	int ret;

	if (off == MIG_REG_ENGINE_RATE && rnd_pct(90))
		val %= 200;	/* mostly a rate the VM can take */
	if (rnd_pct(10))
		off |= 1 + rnd_below(3);
	memcpy(buf, &val, 4);
	memset(buf + 4, 0, 4);
	s = dev_state(v);
	if (w != 4 || off % 4 || off >= MIG_MDEV_BAR0_SIZE)
		allowed = A_EINVAL;
	else if (write)
		allowed = s == MIG_STATE_SAVING ? A_EBUSY : A_OK;
	else
		allowed = A_OK;
	ret = raw_rw(v, VFIO_PCI_BAR0_REGION_INDEX, off, buf, w, write);
	check(ret, allowed, v->name, write ? "BAR0 write" : "BAR0 read");
}

static void op_bar2(struct fz_dev *v)
{
	static const size_t small[] = { 1, 2, 4, 8, 3, 6 };
	uint64_t size = v->mem_size, off;
	size_t len;
	bool write = !v->src && rnd_pct(50), valid;
	unsigned int allowed;
	uint32_t s;
	int ret;

	if (rnd_pct(50)) {
		len = small[rnd_below(ARRAY_SIZE(small))];
		off = rnd_below(size + 16);
		if (rnd_pct(70))
			off &= ~(uint64_t)(len - 1);
	} else {
		len = 1 + rnd_below(rnd_pct(50) ? 64 * 1024 : FZ_SCRATCH);
		off = rnd_below(size + FZ_PAGE);
		if (rnd_pct(20))
			off = size - rnd_below(len + 1);
	}
	valid = off < size && len <= size - off &&
		(len > 8 || (!(len & (len - 1)) && !(off & (len - 1))));
	s = dev_state(v);
	if (!valid)
		allowed = A_EINVAL;
	else if (write && (s == MIG_STATE_SAVING || s == MIG_STATE_RESUMING))
		allowed = A_EBUSY;
	else
		allowed = A_OK;
	if (write)
		memset(scratch, (int)rnd(), len);
	ret = raw_rw(v, VFIO_PCI_BAR2_REGION_INDEX, off, scratch, len, write);
	check(ret, allowed, v->name, write ? "BAR2 write" : "BAR2 read");
}

static void op_config(struct fz_dev *v)
{
	static const size_t lens[] = { 1, 2, 4, 4, 8, 64, 256, 3, 6 };
	uint64_t off = rnd_below(MIG_MDEV_CONFIG_SIZE + 8);
	size_t len = lens[rnd_below(ARRAY_SIZE(lens))];
	bool write = !v->src && rnd_pct(40);
	unsigned int allowed;
	uint32_t s;
	int ret;

	if (rnd_pct(70))
		off &= ~(uint64_t)((len >= 4 ? 4 : len) - 1);
	if (write)
		memset(scratch, (int)rnd(), len);
	s = dev_state(v);
	if (off >= MIG_MDEV_CONFIG_SIZE || len > MIG_MDEV_CONFIG_SIZE - off ||
	    len % (len > 4 ? 4 : len))
		allowed = A_EINVAL;
	else if (write && s == MIG_STATE_SAVING)
		allowed = A_EBUSY | A_EINVAL;
	else
		allowed = A_OK | A_EINVAL;
	ret = raw_rw(v, VFIO_PCI_CONFIG_REGION_INDEX, off, scratch, len, write);
	check(ret, allowed, v->name, write ? "config write" : "config read");
}

static void op_reset(struct fz_dev *v)
{
	uint32_t s;
	int ret;

	if (v->src)
		return;
	ret = mig_device_reset(&v->d);
	if (ret) {
		violation(INV_RESET, v->name, "VFIO_DEVICE_RESET: %s",
			  result_str(ret));
		return;
	}
	s = dev_state(v);
	if (s != MIG_STATE_RUNNING)
		violation(INV_RESET, v->name, "reads %#x after a reset", s);
}

static void op_reopen(struct fz_dev *v)
{
	bool keep_maps = rnd_pct(30);
	uint64_t ms = rnd();
	unsigned int i;
	uint32_t s;
	int ret;

	if (keep_maps) {
		/* Close the fds first: the mappings keep the device open. */
		mig_dev_unmap(&v->d);
		if (v->d.fd >= 0)
			close(v->d.fd);
		v->d.fd = -1;
		for (i = 0; i < FZ_MAPS; i++)
			if (v->maps[i].addr)
				touch_map(v, &v->maps[i], ms);
	}
	dev_close(v);
	ret = dev_open(v);
	if (ret) {
		violation(INV_RESET, v->name, "reopen: %s", result_str(ret));
		return;
	}
	s = dev_state(v);
	if (s != MIG_STATE_RUNNING)
		violation(INV_RESET, v->name, "reads %#x after a reopen", s);
}

static void op_engine_rate(struct fz_dev *v)
{
	static const char * const odd[] = {
		"abc", "-1", "4294967296", "0x10", " 5", "12abc",
	};
	char val[32];
	unsigned int allowed;
	uint32_t s;
	int ret;

	if (v->src)
		return;
	if (rnd_pct(80))
		snprintf(val, sizeof(val), "%u",
			 rnd_pct(30) ? 0 : (unsigned int)rnd_below(200));
	else
		snprintf(val, sizeof(val), "%s", odd[rnd_below(ARRAY_SIZE(odd))]);
	s = dev_state(v);
	allowed = A_OK | A_EINVAL | A_ERANGE;
	if (s == MIG_STATE_SAVING || s == MIG_STATE_RESUMING)
		allowed = A_EBUSY | A_EINVAL | A_ERANGE;
	ret = mig_attr_write(v->uuid, "engine_rate", val);
	check(ret, allowed, v->name, "engine_rate write");
}

static void op_irqs(struct fz_dev *v)
{
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} irq;
	uint32_t index = rnd_pct(80) ? (uint32_t)rnd_below(2) :
				       (uint32_t)rnd_below(6);
	bool off = rnd_pct(25), bell = rnd_pct(50);
	uint64_t cnt;
	int ret;

	if (v->src)
		return;
	memset(&irq, 0, sizeof(irq));
	irq.set.argsz = sizeof(irq);
	irq.set.index = index;
	irq.set.count = off ? 0 : 1;
	irq.set.flags = VFIO_IRQ_SET_ACTION_TRIGGER |
			(off ? VFIO_IRQ_SET_DATA_NONE :
			       VFIO_IRQ_SET_DATA_EVENTFD);
	if (off)
		irq.set.argsz = sizeof(irq.set);
	irq.fd = v->efd;
	ret = ioctl(v->d.fd, VFIO_DEVICE_SET_IRQS, &irq) ? -errno : 0;
	check(ret, index <= VFIO_PCI_MSI_IRQ_INDEX ? A_OK : A_EINVAL, v->name,
	      "SET_IRQS");
	if (bell && dev_state(v) != MIG_STATE_SAVING) {
		mig_region_pwrite(&v->d, VFIO_PCI_BAR0_REGION_INDEX,
				  &(uint32_t){ 1 }, 4, MIG_REG_DOORBELL);
		if (read(v->efd, &cnt, sizeof(cnt)) < 0)
			cnt = 0;
	}
}

static void op_region_info(struct fz_dev *v)
{
	static const uint32_t sizes[] = { 0, 16, 32, 33, 64, 256 };
	uint8_t buf[256];
	struct vfio_region_info *ri = (void *)buf;
	uint32_t index = rnd_below(v->d.num_regions + 3);
	uint32_t argsz = sizes[rnd_below(ARRAY_SIZE(sizes))];
	unsigned int allowed;
	int ret;

	memset(buf, 0, sizeof(buf));
	ri->argsz = argsz;
	ri->index = index;
	ret = ioctl(v->d.fd, VFIO_DEVICE_GET_REGION_INFO, ri) ? -errno : 0;
	allowed = argsz < offsetof(struct vfio_region_info, offset) + 8 ||
		  index >= v->d.num_regions ? A_EINVAL : A_OK;
	if (!check(ret, allowed, v->name, "GET_REGION_INFO") || ret)
		return;
	if ((int)index == v->d.mig_index) {
		/* Caps that do not fit: the size they need, cap_offset 0. */
		if ((ri->argsz > argsz && ri->cap_offset) ||
		    (argsz <= sizeof(*ri) && ri->argsz <= argsz))
			violation(INV_RULES, v->name,
				  "argsz %u: argsz %u cap_offset %u back",
				  argsz, ri->argsz, ri->cap_offset);
		if (ri->size != v->d.data_offset + v->d.section_size)
			violation(INV_RULES, v->name, "region size %#llx",
				  (unsigned long long)ri->size);
	}
}

/* User pointers that fault: EFAULT, never a crash or a hang. */
static void op_bad_pointer(struct fz_dev *v)
{
	void *bad = rnd_pct(50) ? NULL : (void *)(uintptr_t)0x10;
	int ret;

	switch (rnd_below(v->src ? 3 : 5)) {
	case 0:
		ret = raw_rw(v, v->d.mig_index, MIG_HDR_DEVICE_STATE, bad, 4,
			     false);
		check(ret, A_EFAULT, v->name, "device_state read to a bad pointer");
		break;
	case 1:
		ret = raw_rw(v, VFIO_PCI_BAR2_REGION_INDEX, 0, bad, 64, false);
		check(ret, A_EFAULT, v->name, "BAR2 read to a bad pointer");
		break;
	case 2:
		ret = raw_rw(v, v->d.mig_index, v->d.data_offset, bad, 64,
			     false);
		check(ret, A_EFAULT, v->name, "section read to a bad pointer");
		break;
	case 3:
		ret = raw_rw(v, v->d.mig_index, MIG_HDR_DATA_SIZE, bad, 8,
			     true);
		check(ret, A_EFAULT, v->name, "data_size write from a bad pointer");
		break;
	default:
		ret = raw_rw(v, v->d.mig_index, MIG_HDR_DEVICE_STATE, bad, 4,
			     true);
		check(ret, A_EFAULT, v->name, "device_state write from a bad pointer");
		break;
	}
}

/* A whole stop-and-copy save of the source into the pool. */
static void op_save(struct fz_dev *v, unsigned int slot, enum mig_path path)
{
	struct fz_stream *s = &pool[slot];
	uint64_t dg;
	int ret;

	s->len = 0;
	ret = mig_set_state(&v->d, MIG_STATE_STOP);
	if (!ret)
		ret = mig_set_state(&v->d, MIG_STATE_SAVING);
	if (!ret)
		ret = mig_save_loop(&v->d, path, 0, pool_sink, s, NULL);
	if (!ret)
		ret = mig_set_state(&v->d, MIG_STATE_STOP);
	if (ret) {
		violation(INV_STREAM, v->name, "save: %s", result_str(ret));
		s->len = 0;
		return;
	}
	if (!stream_end_digest(s->buf, s->len, &dg) || dg != src_digest) {
		violation(INV_STREAM, v->name,
			  "saved stream of %zu bytes does not end with the source's digest",
			  s->len);
		s->len = 0;
		return;
	}
	s->digest = dg;
	stats.saves++;
	if (slot >= npool)
		npool = slot + 1;
}

/*
 * Resume a real or mutated stream into a destination, in random chunks
 * through the mmap'ed section or pwrite.
 */
static void op_resume(struct fz_dev *v)
{
	unsigned int kind = rnd_pct(30) ? 0 : 1 + rnd_below(10);
	unsigned int a = rnd_below(npool ? npool : 1);
	unsigned int b = rnd_below(npool ? npool : 1);
	uint64_t ms = rnd(), cs = rnd() | 1;
	enum mig_path path = rnd_pct(50) ? MIG_PATH_MMAP : MIG_PATH_PREAD;
	bool reset = rnd_pct(30), go_on = rnd_pct(20), partial = rnd_pct(10);
	uint32_t end = rnd_pct(70) ? MIG_STATE_RUNNING : MIG_STATE_STOP;
	unsigned int cut = rnd_below(4);
	bool same = !strcmp(v->type, devs[0].type);
	size_t len, done = 0, limit;
	bool failed = false;
	uint32_t s;
	uint64_t dg, got;
	int ret;

	if (v->src || !npool || !pool[a].len || !pool[b].len)
		return;
	len = mutate(kind, a, b, ms);
	limit = partial ? rnd_next(&ms) % (len + 1) : len;

	s = dev_state(v);
	if (reset || !(s == MIG_STATE_RUNNING || s == MIG_STATE_STOP)) {
		if (mig_device_reset(&v->d)) {
			violation(INV_RESET, v->name, "VFIO_DEVICE_RESET failed");
			return;
		}
	}
	ret = mig_set_state(&v->d, MIG_STATE_RESUMING);
	if (!check(ret, A_OK, v->name, "RESUMING from RUNNING/STOP"))
		return;
	if (path == MIG_PATH_MMAP && mig_dev_map(&v->d)) {
		violation(INV_RULES, v->name, "mmap of the whole section failed");
		return;
	}
	while (done < limit && !stop) {
		uint64_t off, room, n;

		ret = mig_get_data_offset(&v->d, &off);
		if (!check(ret, A_OK, v->name, "data_offset read in RESUMING"))
			return;
		if (off != v->d.data_offset) {
			violation(INV_RULES, v->name, "data_offset %#" PRIx64
				  " in RESUMING", off);
			return;
		}
		room = v->d.section_size;
		switch (cut) {
		case 0: n = room; break;			/* as QEMU */
		case 1: n = 1 + rnd_next(&cs) % room; break;	/* random */
		case 2: n = 1 + rnd_next(&cs) % 64; break;	/* tiny */
		default: n = rnd_next(&cs) % 2 ? room : 1 + rnd_next(&cs) % 32;
		}
		if (n > limit - done)
			n = limit - done;
		if (path == MIG_PATH_MMAP) {
			memcpy(v->d.section, mut + done, n);
		} else {
			ret = raw_rw(v, v->d.mig_index, off, mut + done, n, true);
			if (!check(ret, A_OK, v->name, "section pwrite"))
				return;
		}
		ret = mig_set_data_size(&v->d, n);
		if (!check(ret, (kind || !same) ? T_ANY : A_OK, v->name,
			   kind ? "data_size write of a mutated stream" :
				  "data_size write of a real stream"))
			return;
		if (ret) {
			s = dev_state(v);
			if (s != MIG_STATE_RESUMING && s != MIG_STATE_ERROR) {
				violation(INV_RULES, v->name,
					  "rejected chunk left state %#x", s);
				return;
			}
			if (!failed) {
				stats.rejected++;
				if (s == MIG_STATE_ERROR)
					stats.error++;
			}
			failed = true;
			if (!go_on || s == MIG_STATE_ERROR)
				break;
		}
		done += n;
	}
	if (stop)
		return;
	s = dev_state(v);
	ret = mig_set_state(&v->d, end);
	if (!kind && same && !partial && !failed) {
		if (!check(ret, A_OK, v->name,
			   "leaving RESUMING after a whole real stream"))
			return;
	} else if (!check(ret, s == MIG_STATE_ERROR ? A_EINVAL : T_ANY,
			  v->name, "leaving RESUMING")) {
		return;
	}
	if (ret)
		return;
	if (kind)
		stats.mutated_ok++;
	else
		stats.real_ok++;
	/* Accepted: the stream ended with an end marker, whose digest we have. */
	if (mig_digest(v->uuid, &got)) {
		violation(INV_STREAM, v->name, "digest unreadable");
		return;
	}
	if (!stream_end_digest(mut, done, &dg))
		violation(INV_STREAM, v->name,
			  "left RESUMING with a stream (%s) of %zu bytes that has no end marker",
			  mut_names[kind], done);
	else if (dg != got)
		violation(INV_STREAM, v->name,
			  "accepted stream (%s) carries digest %016" PRIx64
			  ", the device has %016" PRIx64, mut_names[kind], dg,
			  got);
	if (verbose)
		printf("#   %s resumed a %s stream of %zu bytes\n", v->name,
		       mut_names[kind], done);
}

static void check_source(const char *when)
{
	uint64_t d;
	int ret = mig_digest(devs[0].uuid, &d);

	if (ret)
		violation(INV_SOURCE, "src", "digest unreadable (%s): %s", when,
			  result_str(ret));
	else if (d != src_digest)
		violation(INV_SOURCE, "src", "digest %016" PRIx64 " != %016"
			  PRIx64 " (%s)", d, src_digest, when);
}

/* Close, remove and create a destination again, with a new section size. */
static void op_recreate(struct fz_dev *v)
{
	unsigned int pages = 1 + rnd_below(64);
	const char *name = v->name, *type = v->type;
	int ret;

	if (v->src)
		return;
	dev_close(v);
	if (v->efd >= 0)
		close(v->efd);
	v->efd = -1;
	ret = mig_instance_remove(v->uuid);
	pthread_mutex_lock(&uuid_lock);
	v->created = ret != 0;
	pthread_mutex_unlock(&uuid_lock);
	if (ret) {
		violation(INV_RULES, v->name, "remove of a closed instance: %s",
			  result_str(ret));
		return;
	}
	ret = dev_create(v, name, type, false, pages);
	if (ret)
		violation(INV_RULES, name, "create again (%u pages): %s", pages,
			  result_str(ret));
}

/*
 * The reader thread: sysfs attributes and debugfs stats of random
 * instances, read while the main thread works on them (and removes and
 * creates them).  Only races: it draws from its own generator, so the main
 * sequence replays the same.
 */
static atomic_bool reader_run;
static atomic_uint reader_bad;
static atomic_ullong reader_reads;
static char reader_msg[512];

static void *reader(void *arg)
{
	static const char * const attrs[] = {
		"digest", "migration_state", "engine_count", "engine_rate",
		"section_size",
	};
	uint64_t s = *(uint64_t *)arg ^ 0xfeedULL;
	char uuid[MIG_UUID_LEN + 1], path[256], buf[128];
	unsigned int k;
	uint32_t st;
	int ret;

	while (atomic_load(&reader_run)) {
		struct fz_dev *v = &devs[rnd_next(&s) % FZ_NDEV];

		pthread_mutex_lock(&uuid_lock);
		memcpy(uuid, v->uuid, sizeof(uuid));
		if (!v->created)
			uuid[0] = '\0';
		pthread_mutex_unlock(&uuid_lock);
		if (!uuid[0])
			continue;
		/*
		 * Leave the CPU to the main thread, and the digest (a hash of
		 * all device memory under the instance lock) mostly alone.
		 */
		usleep(500 + rnd_next(&s) % 2000);
		k = rnd_next(&s) % (ARRAY_SIZE(attrs) + 1);
		if (k == 0 && rnd_next(&s) % 8)
			k = 1;
		if (k == ARRAY_SIZE(attrs))
			snprintf(path, sizeof(path),
				 "/sys/kernel/debug/mig_mdev/%s/stats", uuid);
		else
			snprintf(path, sizeof(path), "%s/%s/%s",
				 MIG_SYSFS_DEVICES, uuid, attrs[k]);
		ret = mig_sysfs_read(path, buf, sizeof(buf));
		atomic_fetch_add(&reader_reads, 1);
		/*
		 * Gone: removed (recreate) under our feet.  debugfs answers
		 * EIO to a reader whose file was removed after it opened it.
		 */
		if (ret == -ENOENT || ret == -ENODEV ||
		    (ret == -EIO && k == ARRAY_SIZE(attrs)))
			continue;
		if (ret || (k == 1 && mig_state_parse(buf, &st))) {
			if (!atomic_fetch_add(&reader_bad, 1))
				snprintf(reader_msg, sizeof(reader_msg),
					 "%s: %s%s%s", path, result_str(ret),
					 ret ? "" : ", reads ", ret ? "" : buf);
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- */
/* The run                                                           */
/* ---------------------------------------------------------------- */

struct fz_op {
	const char *name;
	void (*fn)(struct fz_dev *v);
	unsigned int weight;
};

static void op_save_any(struct fz_dev *v)
{
	(void)v;
	op_save(&devs[0], rnd_below(FZ_POOL),
		rnd_pct(50) ? MIG_PATH_MMAP : MIG_PATH_PREAD);
}

static const struct fz_op ops[] = {
	{ "header", op_header, 14 },
	{ "device_state", op_state, 10 },
	{ "save chunk", op_save_chunk, 8 },
	{ "data_size write", op_data_size_write, 4 },
	{ "mmap", op_mmap, 6 },
	{ "munmap", op_munmap, 4 },
	{ "section rw", op_section, 6 },
	{ "BAR0", op_bar0, 6 },
	{ "BAR2", op_bar2, 5 },
	{ "config", op_config, 5 },
	{ "reset", op_reset, 3 },
	{ "close/reopen", op_reopen, 2 },
	{ "engine_rate", op_engine_rate, 2 },
	{ "SET_IRQS", op_irqs, 2 },
	{ "GET_REGION_INFO", op_region_info, 2 },
	{ "bad pointer", op_bad_pointer, 2 },
	{ "save", op_save_any, 1 },
	{ "resume", op_resume, 5 },
	{ "recreate", op_recreate, 1 },
};

static void on_segv(int sig)
{
	char msg[256];
	int n;

	if (touching)
		siglongjmp(touch_jmp, 1);
	/* A bug of the fuzzer itself: say where, for the replay. */
	n = snprintf(msg, sizeof(msg),
		     "# fuzz: signal %d in op %" PRIu64 " (%s); replay: fuzz --seed %"
		     PRIu64 " --ops %" PRIu64 " -vv\n", sig, op_index, op_name,
		     seed, op_index + 1);
	if (n > 0 && write(1, msg, n) < 0)
		n = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fill_source(struct fz_dev *v)
{
	uint64_t off, s = seed ^ 0x5eed;
	size_t i;
	int ret;

	for (off = 0; off < v->mem_size; off += FZ_SCRATCH) {
		size_t len = v->mem_size - off < FZ_SCRATCH ?
			     v->mem_size - off : FZ_SCRATCH;

		for (i = 0; i < len; i += 8) {
			uint64_t w = (off + i) / FZ_PAGE % 5 ? rnd_next(&s) : 0;

			memcpy(scratch + i, &w, 8);
		}
		ret = mig_region_pwrite(&v->d, VFIO_PCI_BAR2_REGION_INDEX,
					scratch, len, off);
		if (ret)
			return ret;
	}
	return 0;
}

/* The end: every device resets, the source migrates into each small one. */
static void finish(void)
{
	unsigned int i;
	uint64_t got;
	int ret;

	op_name = "final recovery";
	stop = false;
	for (i = 0; i < FZ_NDEV; i++) {
		struct fz_dev *v = &devs[i];

		if (!v->created)
			continue;
		unmap_all(v);
		if (v->d.fd < 0 && dev_open(v)) {
			violation(INV_RECOVER, v->name, "cannot be reopened");
			continue;
		}
		if (i == 0) {
			check_source("at the end");
			op_save(v, 0, MIG_PATH_PREAD);
		}
		ret = mig_device_reset(&v->d);
		if (ret || dev_state(v) != MIG_STATE_RUNNING)
			violation(INV_RECOVER, v->name,
				  "reset: %s, state %#x", result_str(ret),
				  dev_state(v));
	}
	for (i = 1; i < FZ_NDEV && pool[0].len; i++) {
		struct fz_dev *v = &devs[i];

		if (!v->created || strcmp(v->type, devs[0].type))
			continue;
		ret = mig_set_state(&v->d, MIG_STATE_RESUMING);
		if (!ret)
			ret = mig_resume_write(&v->d, MIG_PATH_PREAD,
					       pool[0].buf, pool[0].len, 0);
		if (!ret)
			ret = mig_set_state(&v->d, MIG_STATE_RUNNING);
		if (!ret)
			ret = mig_digest(v->uuid, &got);
		if (ret || got != pool[0].digest)
			violation(INV_RECOVER, v->name,
				  "migration after the reset: %s",
				  ret ? result_str(ret) : "digest differs");
	}
	for (i = 0; i < FZ_NDEV; i++) {
		struct fz_dev *v = &devs[i];

		dev_close(v);
		if (v->efd >= 0)
			close(v->efd);
		v->efd = -1;
		if (v->created) {
			ret = mig_instance_remove(v->uuid);
			if (ret)
				violation(INV_RECOVER, v->name, "remove: %s",
					  result_str(ret));
			v->created = false;
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fuzz [--seed S] [--time SECONDS] [--ops N] [--round SECONDS] [--verbose]\n"
		"  random operation sequences against mig-mdev instances;\n"
		"  TAP on stdout, exit 1 on a violated invariant.\n"
		"  --seed S      one round with this seed (replay); default: random\n"
		"  --time T      stop after T seconds (default 60; 0: no limit)\n"
		"  --ops N       stop after N operations (0: no limit)\n"
		"  --round R     without --seed: new instances and a new seed every\n"
		"                R seconds (default: one round)\n"
		"  fuzz.seed=, fuzz.time=, fuzz.ops=, fuzz.round= on the kernel\n"
		"  command line override the options (make fuzz uses them); with\n"
		"  fuzz.time= or fuzz.round= but no fuzz.seed=, a --seed is dropped\n"
		"  and every round gets a new random seed.\n");
	exit(2);
}

/* fuzz.NAME=VALUE on the kernel command line, for make fuzz. */
static const char *cmdline_opt(const char *cmdline, const char *name,
			       char *val, size_t len)
{
	char key[32];
	const char *p = cmdline;
	size_t n;

	snprintf(key, sizeof(key), "fuzz.%s=", name);
	while ((p = strstr(p, key))) {
		if (p == cmdline || p[-1] == ' ') {
			p += strlen(key);
			n = strcspn(p, " \n");
			if (n >= len)
				n = len - 1;
			memcpy(val, p, n);
			val[n] = '\0';
			return val;
		}
		p++;
	}
	return NULL;
}

/*
 * One round: instances, the initial saves, random operations until the
 * budget is spent, the final recovery.  Prints "ok N fuzz seed=..." and
 * returns the number of violations.
 */
static unsigned int run_round(uint64_t s, double budget, uint64_t max_ops,
			      unsigned int tapno)
{
	static const char * const dst_types[FZ_NDEV] = {
		"small", "small", "small", "large",
	};
	static const char * const names[FZ_NDEV] = {
		"src", "dst0", "dst1", "dst2",
	};
	uint64_t counts[ARRAY_SIZE(ops)] = { 0 };
	unsigned int wsum = 0, i, before = 0, failed = 0;
	bool have_rd = false;
	pthread_t rd;
	double t0;
	int ret;

	for (i = 0; i < INV_NR; i++)
		before += inv_fail[i];
	seed = s;
	rnd_state = s;
	npool = 0;
	stop = false;
	op_index = 0;
	op_name = "setup";
	memset(&stats, 0, sizeof(stats));
	for (i = 0; i < FZ_NDEV; i++) {
		memset(&devs[i], 0, sizeof(devs[i]));
		devs[i].name = names[i];
		devs[i].efd = -1;
		devs[i].d.fd = devs[i].d.group = devs[i].d.container = -1;
		devs[i].d.mig_index = -1;
	}
	printf("# fuzz: seed=%" PRIu64 " time=%gs ops=%" PRIu64
	       " (replay: fuzz --seed %" PRIu64 ")\n", s, budget, max_ops, s);

	/* Instances: odd section sizes on the destinations (from the seed). */
	for (i = 0; i < FZ_NDEV; i++) {
		unsigned int pages = i ? 1 + rnd_below(i == 1 ? 4 : 64) : 0;

		ret = dev_create(&devs[i], names[i], dst_types[i], !i, pages);
		if (ret) {
			printf("# %s (%s): %s\n", names[i], dst_types[i],
			       result_str(ret));
			finish();
			printf("not ok %u fuzz seed=%" PRIu64 " # setup failed\n",
			       tapno, s);
			return 1;
		}
		printf("# %s: %s %s, memory %" PRIu64 " KiB, section %" PRIu64
		       " KiB\n", names[i], dst_types[i], devs[i].uuid,
		       devs[i].mem_size >> 10, devs[i].d.section_size >> 10);
	}
	ret = fill_source(&devs[0]);
	if (!ret)
		ret = mig_digest(devs[0].uuid, &src_digest);
	if (ret) {
		finish();
		printf("not ok %u fuzz seed=%" PRIu64 " # setup: %s\n", tapno,
		       s, result_str(ret));
		return 1;
	}
	op_name = "initial saves";
	op_save(&devs[0], 0, MIG_PATH_MMAP);
	op_save(&devs[0], 1, MIG_PATH_PREAD);

	for (i = 0; i < ARRAY_SIZE(ops); i++)
		wsum += ops[i].weight;
	atomic_store(&reader_bad, 0);
	atomic_store(&reader_reads, 0);
	atomic_store(&reader_run, true);
	if (pthread_create(&rd, NULL, reader, &s)) {
		atomic_store(&reader_run, false);
		printf("# no reader thread: %s\n", strerror(errno));
	} else {
		have_rd = true;
	}
	t0 = now();
	for (op_index = 0; !stop; op_index++) {
		unsigned int w, k, dev;

		if (max_ops && op_index >= max_ops)
			break;
		if (budget && now() - t0 >= budget)
			break;
		w = rnd_below(wsum);
		for (k = 0; w >= ops[k].weight; k++)
			w -= ops[k].weight;
		dev = rnd_below(FZ_NDEV);
		op_name = ops[k].name;
		if (verbose > 1)
			printf("# op %" PRIu64 ": %s on %s\n", op_index,
			       op_name, devs[dev].name);
		ops[k].fn(&devs[dev]);
		counts[k]++;
		if (!stop && !(op_index % 32))
			check_source("after the op");
	}
	ops_done = op_index;
	atomic_store(&reader_run, false);
	if (have_rd)
		pthread_join(rd, NULL);
	if (atomic_load(&reader_bad))
		violation(INV_ERRNO, "reader", "%u concurrent sysfs/debugfs reads failed, first: %s",
			  atomic_load(&reader_bad), reader_msg);
	printf("# %" PRIu64 " ops in %.1fs, %llu concurrent sysfs/debugfs reads:",
	       ops_done, now() - t0, (unsigned long long)atomic_load(&reader_reads));
	for (i = 0; i < ARRAY_SIZE(ops); i++)
		printf(" %s=%" PRIu64, ops[i].name, counts[i]);
	printf("\n# saves %" PRIu64 ", resumes accepted: real %" PRIu64
	       " mutated %" PRIu64 ", rejected %" PRIu64 " (%" PRIu64
	       " into ERROR)\n", stats.saves, stats.real_ok, stats.mutated_ok,
	       stats.rejected, stats.error);

	finish();

	for (i = 0; i < INV_NR; i++)
		failed += inv_fail[i];
	failed -= before;
	printf("%sok %u fuzz seed=%" PRIu64 " ops=%" PRIu64 "\n",
	       failed ? "not " : "", tapno, s, ops_done);
	if (failed)
		printf("# replay: fuzz --seed %" PRIu64 " --ops %" PRIu64 "\n",
		       s, ops_done);
	return failed;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "time", required_argument, NULL, 't' },
		{ "ops", required_argument, NULL, 'n' },
		{ "round", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double budget = 60, round = 0, t0, left = 0;
	uint64_t max_ops = 0, s = 0;
	bool have_seed = false;
	unsigned int i, rounds = 0, failed = 0;
	char cmdline[4096] = "", val[64];
	int c;

	while ((c = getopt_long(argc, argv, "s:t:n:r:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			s = strtoull(optarg, NULL, 0);
			have_seed = true;
			break;
		case 't':
			budget = strtod(optarg, NULL);
			break;
		case 'n':
			max_ops = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			round = strtod(optarg, NULL);
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (!mig_sysfs_read("/proc/cmdline", cmdline, sizeof(cmdline))) {
		if (cmdline_opt(cmdline, "seed", val, sizeof(val))) {
			s = strtoull(val, NULL, 0);
			have_seed = true;
		}
		/*
		 * make fuzz explores: its time or round budget replaces the
		 * fixed seed the TESTS line gives CI, unless it names a seed.
		 */
		if (!cmdline_opt(cmdline, "seed", val, sizeof(val)) &&
		    (cmdline_opt(cmdline, "time", val, sizeof(val)) ||
		     cmdline_opt(cmdline, "round", val, sizeof(val))))
			have_seed = false;
		if (cmdline_opt(cmdline, "time", val, sizeof(val)))
			budget = strtod(val, NULL);
		if (cmdline_opt(cmdline, "ops", val, sizeof(val)))
			max_ops = strtoull(val, NULL, 0);
		if (cmdline_opt(cmdline, "round", val, sizeof(val)))
			round = strtod(val, NULL);
		if (cmdline_opt(cmdline, "verbose", val, sizeof(val)))
			verbose = atoi(val);
	}
	if (!budget && !max_ops)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("TAP version 13\n");
	if (access(MIG_SYSFS_PARENT, F_OK)) {
		printf("1..1\nok 1 fuzz # SKIP mig_mdev not loaded\n");
		return 0;
	}
	signal(SIGSEGV, on_segv);
	signal(SIGBUS, on_segv);
	scratch = malloc(FZ_SCRATCH);
	/* Streams of the small type; the source is always small. */
	mut_cap = ((uint64_t)64 << 20) + (2 << 20);
	{
		char mb[32];

		if (!mig_param_read("small_mem_mb", mb, sizeof(mb)))
			mut_cap = (strtoull(mb, NULL, 10) << 20) * 33 / 32 +
				  (1 << 20);
	}
	mut = malloc(mut_cap);
	for (i = 0; i < FZ_POOL; i++) {
		pool[i].cap = mut_cap - 65536;
		pool[i].buf = malloc(pool[i].cap);
		if (!pool[i].buf)
			mut = NULL;
	}
	if (!scratch || !mut) {
		printf("1..1\nnot ok 1 fuzz # out of memory\n");
		return 1;
	}

	if (have_seed || !round || (budget && round >= budget)) {
		if (!have_seed &&
		    getrandom(&s, sizeof(s), 0) != sizeof(s))
			s = (uint64_t)time(NULL) * 2654435761u ^ getpid();
		failed = run_round(s, budget, max_ops, ++rounds);
	} else {
		t0 = now();
		while (!budget || (left = budget - (now() - t0)) > 1) {
			if (getrandom(&s, sizeof(s), 0) != sizeof(s))
				s = (uint64_t)time(NULL) * 2654435761u ^
				    (rounds + 1);
			failed += run_round(s, budget && left < round ? left :
					    round, 0, ++rounds);
		}
	}
	for (i = 0; i < INV_NR; i++)
		printf("%sok %u %s\n", inv_fail[i] ? "not " : "",
		       rounds + 1 + i, inv_names[i]);
	printf("1..%u\n", rounds + INV_NR);
	for (i = 0; i < FZ_POOL; i++)
		free(pool[i].buf);
	free(mut);
	free(scratch);
	return failed ? 1 : 0;
}
