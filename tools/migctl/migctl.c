// SPDX-License-Identifier: GPL-2.0
/*
 * migctl: a command-line client of VFIO migration, protocol v1 and v2.
 *
 * Lists mdev devices, shows what migration a device offers, reads and
 * requests device states, saves a device's migration stream to a file,
 * loads one into a device and migrates one device into another, live or
 * stopped.  It drives any vendor's v1 region or v2 interface through
 * libmig, the same commands, output and exit codes for both (--protocol;
 * by default v2 when the device offers it, as QEMU 8.0 and later do); the
 * few things it reads from mig-mdev's sysfs (migration_state, digest) are
 * used only when they exist.  See docs/MIGCTL.md.
 *
 * The file format (all little endian): a struct migctl_file_hdr of
 * hdr_len bytes, then stream_len bytes of raw migration stream exactly as
 * the device produced it.  The header names the source device (PCI IDs
 * from config space, region type, mdev type), and carries the CRC-32 of the
 * stream and of itself.  The stream is the device's, whichever protocol
 * carried it: a file saved through one protocol loads through the other.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "libmig.h"

/* Exit codes, by cause (also in usage() and docs/MIGCTL.md). */
#define EX_OK		0
#define EX_USAGE	1	/* bad command line */
#define EX_NODEV	2	/* no such device, busy, or no migration */
#define EX_DEVERR	3	/* the device is (or went) in ERROR */
#define EX_BADFILE	4	/* bad/truncated file, or for another device */
#define EX_IO		5	/* I/O or protocol error */

#define MC_MAGIC	"MIGCTL\r\n"
#define MC_VERSION	1
#define MC_CSUM_CRC32	1
#define MC_FLAG_LIVE	(1U << 0)
#define MC_FLAG_DIGEST	(1U << 1)
#define MC_FLAG_V2	(1U << 2)	/* saved through protocol v2 */
#define MC_TYPE_LEN	64
#define MC_MDEV_BUS	"/sys/class/mdev_bus"
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/**
 * struct migctl_file_hdr - the head of a migctl file (little endian)
 * @magic: MC_MAGIC
 * @version: MC_VERSION
 * @hdr_len: sizeof(struct migctl_file_hdr); the stream starts here
 * @vendor: PCI vendor ID of the source (config space 0x00)
 * @device: PCI device ID (0x02)
 * @subvendor: subsystem vendor ID (0x2c)
 * @subdevice: subsystem ID (0x2e)
 * @region_type: migration region type (VFIO_REGION_INFO_CAP_TYPE), 0 when
 *               the source has no region (protocol v2 only)
 * @region_subtype: its subtype
 * @dev_type: mdev type of the source ("mig_mdev-small"), NUL-padded
 * @stream_len: bytes of stream after the header
 * @precopy_bytes: of which saved in PRECOPY / PRE_COPY
 * @stopcopy_bytes: of which saved in SAVING / STOP_COPY
 * @section_size: data section of the source (0 without a region)
 * @digest: the source's sysfs digest when it stopped (MC_FLAG_DIGEST)
 * @passes: pre-copy passes
 * @flags: MC_FLAG_*
 * @csum_type: MC_CSUM_CRC32 (CRC-32/IEEE, as zlib and cksum -a crc32b)
 * @stream_csum: checksum of the stream
 * @hdr_csum: CRC-32 of the header up to this field
 * @reserved: zero
 */
struct migctl_file_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_len;
	uint16_t vendor;
	uint16_t device;
	uint16_t subvendor;
	uint16_t subdevice;
	uint32_t region_type;
	uint32_t region_subtype;
	char dev_type[MC_TYPE_LEN];
	uint64_t stream_len;
	uint64_t precopy_bytes;
	uint64_t stopcopy_bytes;
	uint64_t section_size;
	uint64_t digest;
	uint32_t passes;
	uint32_t flags;
	uint32_t csum_type;
	uint32_t stream_csum;
	uint32_t hdr_csum;
	uint32_t reserved;
};

_Static_assert(sizeof(struct migctl_file_hdr) == 160, "file header layout");

/* Options shared by the subcommands. */
struct mc_opts {
	bool json;
	bool live;
	bool run;
	bool force;
	bool rehash;
	int path;		/* -1: auto, else enum mig_path */
	bool path_given;	/* --mmap or --pread: protocol v1 */
	enum libmig_proto proto;	/* --protocol */
	unsigned int max_passes;
};

static struct mc_opts opt = { .path = -1, .max_passes = 16 };
static bool tty;		/* stderr is a terminal: draw a progress bar */

/* ------------------------------------------------------------------ */
/* Messages, time, JSON                                                */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3)))
static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	if (tty)
		fputs("\r\033[K", stderr);
	fputs("migctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* Human-readable lines: on stdout, unless --json owns stdout. */
__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	va_list ap;

	if (opt.json)
		return;
	if (tty)
		fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mib(uint64_t bytes)
{
	return bytes / 1048576.0;
}

static void json_str(const char *key, const char *val, bool last)
{
	const char *p;

	printf("  \"%s\": \"", key);
	for (p = val; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	printf("\"%s\n", last ? "" : ",");
}

static void json_u64(const char *key, uint64_t val, bool last)
{
	printf("  \"%s\": %" PRIu64 "%s\n", key, val, last ? "" : ",");
}

static void json_dbl(const char *key, double val, bool last)
{
	printf("  \"%s\": %.6f%s\n", key, val, last ? "" : ",");
}

static void json_bool(const char *key, bool val, bool last)
{
	printf("  \"%s\": %s%s\n", key, val ? "true" : "false",
	       last ? "" : ",");
}

/* ------------------------------------------------------------------ */
/* CRC-32 (IEEE 802.3, reflected, as zlib), slice-by-8                  */
/* ------------------------------------------------------------------ */

static uint32_t crc_tab[8][256];

static void crc32_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_tab[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_tab[j][i] = (crc_tab[j - 1][i] >> 8) ^
					crc_tab[0][crc_tab[j - 1][i] & 0xff];
}

/* Continue a CRC-32: start with crc32_update(0, ...). */
static uint32_t crc32_update(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len >= 8) {
		uint32_t a, b;

		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		a = le32toh(a) ^ crc;
		b = le32toh(b);
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		      crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^
		      crc_tab[3][b & 0xff] ^ crc_tab[2][(b >> 8) & 0xff] ^
		      crc_tab[1][(b >> 16) & 0xff] ^ crc_tab[0][b >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

/**
 * struct mc_progress - what a transfer has done so far
 * @what: "save", "load", "migrate"
 * @bytes: bytes moved
 * @total: bytes expected (0: unknown; then @pending gives the fraction)
 * @pending: the device's pending_bytes after the last chunk
 * @pass: current pass (0: stop-and-copy)
 * @t0: start time
 * @drawn: time of the last redraw
 */
struct mc_progress {
	const char *what;
	uint64_t bytes;
	uint64_t total;
	uint64_t pending;
	unsigned int pass;
	double t0;
	double drawn;
};

static void progress_draw(struct mc_progress *pg, bool force)
{
	double t = now(), frac, el;
	char bar[31];
	int i, fill;

	if (!tty || (!force && t - pg->drawn < 0.1))
		return;
	pg->drawn = t;
	if (pg->total)
		frac = (double)pg->bytes / pg->total;
	else if (pg->bytes + pg->pending)
		frac = (double)pg->bytes / (pg->bytes + pg->pending);
	else
		frac = 1;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * 30);
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	bar[30] = '\0';
	el = t - pg->t0;
	fprintf(stderr, "\r\033[K%-7s [%s] %8.1f MiB  %s %-3u %7.1f MiB/s",
		pg->what, bar, mib(pg->bytes), pg->pass ? "pass" : "stop",
		pg->pass, el > 0 ? mib(pg->bytes) / el : 0.0);
}

static void progress_done(void)
{
	if (tty)
		fputs("\r\033[K", stderr);
}

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

/**
 * struct mc_dev - an open device and what migctl learnt about it
 * @d: libmig's device
 * @name: as given on the command line
 * @has_sparse: the region offers the sparse-mmap capability
 * @rtype: region type of the migration region
 * @rsubtype: its subtype
 * @flags: its VFIO_REGION_INFO_FLAG_*
 * @vendor: PCI IDs from config space
 * @device: PCI device ID
 * @subvendor: subsystem vendor ID
 * @subdevice: subsystem ID
 * @dev_type: mdev type name, or ""
 * @path: data path chosen for this device
 */
struct mc_dev {
	struct mig_dev d;
	const char *name;
	bool has_sparse;
	uint32_t rtype, rsubtype, flags;
	uint16_t vendor, device, subvendor, subdevice;
	char dev_type[MC_TYPE_LEN];
	enum mig_path path;
};

/* Copy a string into @len bytes, cut if needed, always terminated. */
static void copy_str(char *out, const char *in, size_t len)
{
	size_t n = strnlen(in, len - 1);

	memcpy(out, in, n);
	out[n] = '\0';
}

static bool is_sysfs_path(const char *name)
{
	return strchr(name, '/');
}

static void sysfs_dev_path(const char *name, char *buf, size_t len)
{
	if (is_sysfs_path(name))
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s/%s", MIG_SYSFS_DEVICES, name);
}

/* The mdev type of a device: the last part of its mdev_type link. */
static void read_dev_type(const char *name, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX], *base;
	ssize_t n;

	out[0] = '\0';
	sysfs_dev_path(name, path, sizeof(path));
	strncat(path, "/mdev_type", sizeof(path) - strlen(path) - 1);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	copy_str(out, base ? base + 1 : target, len);
}

/* A sysfs attribute of the device, "" when it has none. */
static int read_attr(const char *name, const char *attr, char *buf,
		     size_t len)
{
	char path[PATH_MAX];

	sysfs_dev_path(name, path, sizeof(path));
	strncat(path, "/", sizeof(path) - strlen(path) - 1);
	strncat(path, attr, sizeof(path) - strlen(path) - 1);
	buf[0] = '\0';
	return mig_sysfs_read(path, buf, len);
}

static bool read_digest(const char *name, uint64_t *digest)
{
	char buf[64], *end;

	if (read_attr(name, "digest", buf, sizeof(buf)) || !buf[0])
		return false;
	*digest = strtoull(buf, &end, 16);
	return end != buf;
}

/* The protocol asked for: --mmap and --pread are v1's data paths. */
static enum libmig_proto mc_want(void)
{
	if (opt.proto == LIBMIG_PROTO_AUTO && opt.path_given)
		return LIBMIG_PROTO_V1;
	return opt.proto;
}

/*
 * Choose the protocol of an open device (--protocol, default v2 when the
 * device offers it, else v1); exit 2 with what it does offer if not.
 */
static int mc_use_protocol(struct mc_dev *m)
{
	enum libmig_proto want = mc_want();
	bool v1 = libmig_offers(&m->d, LIBMIG_PROTO_V1);
	bool v2 = libmig_offers(&m->d, LIBMIG_PROTO_V2);

	if (!libmig_use(&m->d, want))
		return EX_OK;
	if (!v1 && !v2)
		return fail(EX_NODEV, "%s: no migration: no region of type 3 subtype 1 among its %u regions (protocol v1), and VFIO_DEVICE_FEATURE_MIGRATION: %s (protocol v2)",
			    m->name, m->d.num_regions, strerror(-m->d.v2_err));
	if (want == LIBMIG_PROTO_V2)
		return fail(EX_NODEV, "%s: does not offer migration protocol v2 (VFIO_DEVICE_FEATURE_MIGRATION: %s); it offers v1: use --protocol v1 or auto",
			    m->name, strerror(-m->d.v2_err));
	return fail(EX_NODEV, "%s: does not offer migration protocol v1 (no region of type 3 subtype 1 among its %u regions)%s; it offers v2: use --protocol v2 or auto",
		    m->name, m->d.num_regions,
		    opt.path_given ? ", which --mmap and --pread need" : "");
}

static int mc_open(struct mc_dev *m, const char *name)
{
	struct vfio_region_info *ri;
	struct vfio_region_info_cap_type *ct;
	uint32_t id = 0, sub = 0;
	char path[PATH_MAX];
	int ret;

	memset(m, 0, sizeof(*m));
	m->name = name;
	sysfs_dev_path(name, path, sizeof(path));
	ret = mig_dev_open_path(&m->d, path);
	if (ret == -ENOENT || ret == -ENODEV || ret == -EINVAL)
		return fail(EX_NODEV, "%s: no such device (%s)", name, path);
	if (ret == -EBUSY)
		return fail(EX_NODEV, "%s: busy: another process (QEMU?) has its vfio group open",
			    name);
	if (ret)
		return fail(EX_NODEV, "%s: cannot open through vfio: %s", name,
			    strerror(-ret));
	ret = mc_use_protocol(m);
	if (ret) {
		mig_dev_close(&m->d);
		return ret;
	}
	if (m->d.mig_index >= 0) {
		ret = mig_get_region_info(&m->d, m->d.mig_index, &ri);
		if (ret) {
			mig_dev_close(&m->d);
			return fail(EX_IO, "%s: VFIO_DEVICE_GET_REGION_INFO: %s",
				    name, strerror(-ret));
		}
		m->flags = ri->flags;
		ct = (void *)mig_region_cap(ri, VFIO_REGION_INFO_CAP_TYPE);
		if (ct) {
			m->rtype = ct->type;
			m->rsubtype = ct->subtype;
		}
		m->has_sparse = mig_region_cap(ri,
					       VFIO_REGION_INFO_CAP_SPARSE_MMAP) &&
				(ri->flags & VFIO_REGION_INFO_FLAG_MMAP);
		free(ri);
	}

	if (!mig_region_pread(&m->d, VFIO_PCI_CONFIG_REGION_INDEX, &id, 4, 0)) {
		m->vendor = le32toh(id) & 0xffff;
		m->device = le32toh(id) >> 16;
	}
	if (!mig_region_pread(&m->d, VFIO_PCI_CONFIG_REGION_INDEX, &sub, 4,
			      PCI_SUBSYSTEM_VENDOR_ID)) {
		m->subvendor = le32toh(sub) & 0xffff;
		m->subdevice = le32toh(sub) >> 16;
	}
	read_dev_type(name, m->dev_type, sizeof(m->dev_type));

	if (opt.path >= 0)
		m->path = opt.path;
	else
		m->path = m->has_sparse ? MIG_PATH_MMAP : MIG_PATH_PREAD;
	if (m->d.proto == LIBMIG_PROTO_V1 && m->path == MIG_PATH_MMAP) {
		ret = mig_dev_map(&m->d);
		if (ret) {
			mig_dev_close(&m->d);
			return fail(EX_IO, "%s: mmap of the data section: %s (try --pread)",
				    name, strerror(-ret));
		}
	}
	return EX_OK;
}

/* The data path of a transfer: the v1 section's, or v2's data_fd. */
static const char *path_name(const struct mc_dev *m)
{
	if (m->d.proto == LIBMIG_PROTO_V2)
		return "data_fd";
	return m->path == MIG_PATH_MMAP ? "mmap" : "pread";
}

static const char *proto_name(const struct mc_dev *m)
{
	return libmig_proto_str(m->d.proto);
}

static const char *remedy(const char *name)
{
	static char buf[PATH_MAX + 128];

	snprintf(buf, sizeof(buf),
		 "only VFIO_DEVICE_RESET leaves ERROR: run 'migctl reset %s' (or close every user of the device)",
		 name);
	return buf;
}

/* Refuse to work on a device in ERROR (a vendor may keep ERROR across opens). */
static int mc_check_not_error(struct mc_dev *m)
{
	uint32_t s;
	int ret = libmig_get_state(&m->d, &s);

	if (ret)
		return fail(EX_IO, "%s: reading device_state: %s", m->name,
			    strerror(-ret));
	if (s == VFIO_DEVICE_STATE_ERROR)
		return fail(EX_DEVERR, "%s: device is in ERROR; %s", m->name,
			    remedy(m->name));
	return EX_OK;
}

/*
 * After a failed step: if the device went to ERROR, say so with the remedy
 * (EX_DEVERR); otherwise report @ret as @code.
 */
static int mc_step_failed(struct mc_dev *m, const char *step, int ret,
			  int code)
{
	bool got;
	uint32_t s;

	got = !libmig_get_state(&m->d, &s);
	if (got && s == VFIO_DEVICE_STATE_ERROR)
		return fail(EX_DEVERR, "%s: %s failed (%s) and the device is now in ERROR; %s",
			    m->name, step, strerror(-ret), remedy(m->name));
	return fail(code, "%s: %s failed: %s (device_state %s)", m->name, step,
		    strerror(-ret), got ? libmig_state_str(&m->d, s) : "?");
}

/* The state request libmig made last failed with @ret: say which. */
static int mc_req_failed(struct mc_dev *m, int ret)
{
	const char *to = libmig_state_str(&m->d, m->d.req);
	char step[128];

	if (m->d.proto == LIBMIG_PROTO_V1)
		snprintf(step, sizeof(step), "writing device_state %s", to);
	else
		snprintf(step, sizeof(step),
			 "setting device_state %s (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE)",
			 to);
	return mc_step_failed(m, step, ret, EX_IO);
}

static int mc_set_state(struct mc_dev *m, uint32_t state)
{
	int ret = libmig_set_state(&m->d, state);

	return ret ? mc_req_failed(m, ret) : EX_OK;
}

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

/**
 * struct mc_sink - where saved chunks go
 * @fd: the file, or -1
 * @dst: the destination device, or NULL
 * @dst_err: the error of the destination, if it failed
 * @file_err: the error of the file, if writing it failed
 * @crc: CRC-32 of what went by
 * @pg: the progress display
 */
struct mc_sink {
	int fd;
	struct mc_dev *dst;
	int dst_err;
	int file_err;
	uint32_t crc;
	struct mc_progress *pg;
};

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

static int mc_sink_fn(void *opaque, const void *buf, size_t len)
{
	struct mc_sink *s = opaque;
	int ret;

	if (s->fd >= 0) {
		s->crc = crc32_update(s->crc, buf, len);
		ret = write_full(s->fd, buf, len);
		if (ret) {
			s->file_err = ret;
			return ret;
		}
	}
	if (s->dst) {
		ret = libmig_resume_feed(&s->dst->d, s->dst->path, buf, len);
		if (ret) {
			s->dst_err = ret;
			return ret;
		}
	}
	s->pg->bytes += len;
	s->pg->pending = s->pg->pending > len ? s->pg->pending - len : 0;
	progress_draw(s->pg, false);
	return 0;
}

/**
 * struct mc_save_stats - what a save did
 * @live: pre-copy ran (--live, and the device offers it)
 * @passes: pre-copy passes
 * @precopy_bytes: bytes saved in PRECOPY / PRE_COPY
 * @stopcopy_bytes: bytes saved in SAVING / STOP_COPY
 * @precopy_secs: time in pre-copy
 * @stopcopy_secs: time from leaving pre-copy (or RUNNING) to STOP: the
 *                 device's share of a live migration's downtime
 * @digest: the source's digest when stopped, if @has_digest
 * @has_digest: the device has a digest attribute
 */
struct mc_save_stats {
	bool live;
	unsigned int passes;
	uint64_t precopy_bytes;
	uint64_t stopcopy_bytes;
	double precopy_secs;
	double stopcopy_secs;
	uint64_t digest;
	bool has_digest;
};

/* A failed pass: which side failed, and how. */
static int mc_pass_failed(struct mc_dev *src, struct mc_sink *s, int ret)
{
	if (s->dst && s->dst_err)
		return mc_step_failed(s->dst, "feeding the stream", s->dst_err,
				      EX_BADFILE);
	if (s->file_err)
		return fail(EX_IO, "writing the file: %s",
			    strerror(-s->file_err));
	return mc_step_failed(src, "saving", ret, EX_IO);
}

/* What is left to save; a failure is reported. */
static int mc_pending(struct mc_dev *m, struct mc_sink *s, uint64_t *pending,
		      uint64_t *initial)
{
	int ret = libmig_pending(&m->d, pending, initial);

	if (ret)
		return mc_step_failed(m, m->d.proto == LIBMIG_PROTO_V1 ?
				      "reading pending_bytes" :
				      "VFIO_MIG_GET_PRECOPY_INFO", ret, EX_IO);
	s->pg->pending = *pending;
	return EX_OK;
}

/*
 * The save sequence on @m, chunks to @s: live (pre-copy passes, then
 * stop-and-copy) or stopped, ending in STOP.  Either protocol: libmig's
 * session calls walk v1's PRECOPY, SAVING, STOP or v2's PRE_COPY,
 * PRE_COPY_P2P, STOP_COPY, STOP (RUNNING_P2P, STOP, STOP_COPY when
 * stopped or without PRE_COPY).  Each pass copies what was pending when
 * it began; pre-copy ends when less than one chunk is left (and, in v2,
 * the initial bytes are all read) or after --max-passes passes.
 */
static int mc_save(struct mc_dev *m, struct mc_sink *s,
		   struct mc_save_stats *st)
{
	uint64_t pending, initial, bytes;
	double t;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = mc_check_not_error(m);
	if (ret)
		return ret;
	st->live = opt.live && libmig_has_precopy(&m->d);
	if (opt.live && !st->live)
		say("pre-copy: %s offers no PRE_COPY (VFIO_MIGRATION_PRE_COPY): stop-and-copy only\n",
		    m->name);
	t = now();
	if (st->live) {
		ret = libmig_precopy_begin(&m->d);
		if (ret)
			return mc_req_failed(m, ret);
		ret = mc_pending(m, s, &pending, &initial);
		if (ret)
			return ret;
		while (pending && st->passes < opt.max_passes) {
			double tp = now();

			s->pg->pass = ++st->passes;
			ret = libmig_save_pass(&m->d, m->path, pending,
					       mc_sink_fn, s, &bytes);
			if (ret)
				return mc_pass_failed(m, s, ret);
			st->precopy_bytes += bytes;
			ret = mc_pending(m, s, &pending, &initial);
			if (ret)
				return ret;
			say("pass %u: %" PRIu64 " bytes in %.3f s, pending %" PRIu64 "\n",
			    st->passes, bytes, now() - tp, pending);
			if (pending < libmig_chunk(&m->d) && !initial)
				break;
		}
		st->precopy_secs = now() - t;
		t = now();
	} else {
		ret = libmig_stop(&m->d);
		if (ret)
			return mc_req_failed(m, ret);
	}
	s->pg->pass = 0;
	ret = libmig_stopcopy_begin(&m->d);
	if (ret)
		return mc_req_failed(m, ret);
	/* v2's stop-copy size, when offered, for the progress bar. */
	s->pg->pending = 0;
	if (m->d.proto == LIBMIG_PROTO_V2 &&
	    !libmig_pending(&m->d, &pending, NULL))
		s->pg->pending = pending;
	ret = libmig_save_pass(&m->d, m->path, 0, mc_sink_fn, s, &bytes);
	if (ret)
		return mc_pass_failed(m, s, ret);
	st->stopcopy_bytes = bytes;
	ret = libmig_save_end(&m->d);
	if (ret)
		return mc_req_failed(m, ret);
	st->stopcopy_secs = now() - t;
	say("stop-and-copy: %" PRIu64 " bytes in %.3f s\n", bytes,
	    st->stopcopy_secs);
	st->has_digest = read_digest(m->name, &st->digest);
	return EX_OK;
}

/* ------------------------------------------------------------------ */
/* The file                                                            */
/* ------------------------------------------------------------------ */

static uint32_t hdr_csum(const struct migctl_file_hdr *h)
{
	return crc32_update(0, h, offsetof(struct migctl_file_hdr, hdr_csum));
}

static void hdr_to_le(struct migctl_file_hdr *h)
{
	h->version = htole32(h->version);
	h->hdr_len = htole32(h->hdr_len);
	h->vendor = htole16(h->vendor);
	h->device = htole16(h->device);
	h->subvendor = htole16(h->subvendor);
	h->subdevice = htole16(h->subdevice);
	h->region_type = htole32(h->region_type);
	h->region_subtype = htole32(h->region_subtype);
	h->stream_len = htole64(h->stream_len);
	h->precopy_bytes = htole64(h->precopy_bytes);
	h->stopcopy_bytes = htole64(h->stopcopy_bytes);
	h->section_size = htole64(h->section_size);
	h->digest = htole64(h->digest);
	h->passes = htole32(h->passes);
	h->flags = htole32(h->flags);
	h->csum_type = htole32(h->csum_type);
	h->stream_csum = htole32(h->stream_csum);
}

/* The same swaps undo themselves. */
static void hdr_from_le(struct migctl_file_hdr *h)
{
	hdr_to_le(h);
	h->hdr_csum = le32toh(h->hdr_csum);
}

/**
 * struct mc_file - an open migctl file, header checked
 * @fd: the file
 * @h: its header, in host order
 * @size: file size
 */
struct mc_file {
	int fd;
	struct migctl_file_hdr h;
	uint64_t size;
};

/*
 * Open @name and check its header and length; with @verify also the
 * stream checksum (a full read).
 */
static int mc_file_open(struct mc_file *f, const char *name, int flags,
			bool verify)
{
	struct stat sb;
	uint32_t crc;
	ssize_t n;

	f->fd = open(name, flags | O_CLOEXEC);
	if (f->fd < 0)
		return fail(errno == ENOENT ? EX_BADFILE : EX_IO, "%s: %s",
			    name, strerror(errno));
	if (fstat(f->fd, &sb))
		return fail(EX_IO, "%s: %s", name, strerror(errno));
	f->size = sb.st_size;
	n = pread(f->fd, &f->h, sizeof(f->h), 0);
	if (n < 0)
		return fail(EX_IO, "%s: %s", name, strerror(errno));
	if ((size_t)n < sizeof(f->h) ||
	    memcmp(f->h.magic, MC_MAGIC, sizeof(f->h.magic)))
		return fail(EX_BADFILE, "%s: not a migctl file%s", name,
			    (size_t)n < sizeof(f->h) &&
			    !memcmp(f->h.magic, MC_MAGIC, 8) ?
			    " (truncated header)" : "");
	hdr_from_le(&f->h);
	if (f->h.version != MC_VERSION)
		return fail(EX_BADFILE, "%s: file format version %u, migctl reads %u",
			    name, f->h.version, MC_VERSION);
	if (f->h.hdr_len != sizeof(f->h) ||
	    f->h.csum_type != MC_CSUM_CRC32) {
		return fail(EX_BADFILE, "%s: unknown header layout (length %u, checksum type %u)",
			    name, f->h.hdr_len, f->h.csum_type);
	}
	{
		struct migctl_file_hdr raw = f->h;

		hdr_to_le(&raw);
		if (hdr_csum(&raw) != f->h.hdr_csum)
			return fail(EX_BADFILE, "%s: header checksum mismatch (corrupted file)",
				    name);
	}
	if (f->size < f->h.hdr_len + f->h.stream_len)
		return fail(EX_BADFILE, "%s: truncated: %" PRIu64 " of %" PRIu64 " stream bytes present",
			    name, f->size - f->h.hdr_len, f->h.stream_len);
	if (f->size > f->h.hdr_len + f->h.stream_len)
		return fail(EX_BADFILE, "%s: %" PRIu64 " unexpected bytes after the stream",
			    name, f->size - f->h.hdr_len - f->h.stream_len);
	if (!verify)
		return EX_OK;

	{
		static uint8_t buf[1 << 20];
		uint64_t off = 0;

		crc = 0;
		while (off < f->h.stream_len) {
			size_t want = sizeof(buf);

			if (want > f->h.stream_len - off)
				want = f->h.stream_len - off;
			n = pread(f->fd, buf, want, f->h.hdr_len + off);
			if (n < 0)
				return fail(EX_IO, "%s: %s", name,
					    strerror(errno));
			if (n == 0)
				return fail(EX_BADFILE, "%s: truncated", name);
			crc = crc32_update(crc, buf, n);
			off += n;
		}
	}
	if (crc != f->h.stream_csum)
		return fail(EX_BADFILE, "%s: stream checksum mismatch: file says %08x, stream has %08x (corrupted file)",
			    name, f->h.stream_csum, crc);
	return EX_OK;
}

static void fill_ident(struct migctl_file_hdr *h, const struct mc_dev *m)
{
	h->vendor = m->vendor;
	h->device = m->device;
	h->subvendor = m->subvendor;
	h->subdevice = m->subdevice;
	h->region_type = m->rtype;
	h->region_subtype = m->rsubtype;
	snprintf(h->dev_type, sizeof(h->dev_type), "%s", m->dev_type);
}

/*
 * Does the file (or source device) @h fit device @m?  The region type is
 * compared only when both sides have a region: a device without one
 * (protocol v2 only) writes 0/0.
 */
static int check_ident(const struct migctl_file_hdr *h,
		       const struct mc_dev *m, const char *what)
{
	char src[MC_TYPE_LEN + 1];
	bool regions = (h->region_type || h->region_subtype) &&
		       (m->rtype || m->rsubtype);

	snprintf(src, sizeof(src), "%.*s", MC_TYPE_LEN, h->dev_type);
	if (h->vendor == m->vendor && h->device == m->device &&
	    h->subvendor == m->subvendor && h->subdevice == m->subdevice &&
	    (!regions || (h->region_type == m->rtype &&
			  h->region_subtype == m->rsubtype)) &&
	    !strcmp(src, m->dev_type))
		return EX_OK;
	if (opt.force) {
		say("warning: %s is from %04x:%04x %s, %s is %04x:%04x %s (--force)\n",
		    what, h->vendor, h->device, src, m->name, m->vendor,
		    m->device, m->dev_type);
		return EX_OK;
	}
	return fail(EX_BADFILE, "%s is from another device type: %04x:%04x (sub %04x:%04x) %s, region %u/%u; %s is %04x:%04x (sub %04x:%04x) %s, region %u/%u (--force feeds it anyway)",
		    what, h->vendor, h->device, h->subvendor, h->subdevice,
		    src[0] ? src : "(no mdev type)", h->region_type,
		    h->region_subtype, m->name, m->vendor, m->device,
		    m->subvendor, m->subdevice,
		    m->dev_type[0] ? m->dev_type : "(no mdev type)", m->rtype,
		    m->rsubtype);
}

/* ------------------------------------------------------------------ */
/* Resuming                                                            */
/* ------------------------------------------------------------------ */

/*
 * Leave RESUMING for STOP or RUNNING and tell the device's verdict.
 * @src_digest: the digest the source had, if @has_src.
 */
static int mc_finish_resume(struct mc_dev *m, uint64_t src_digest,
			    bool has_src, bool *match, uint64_t *digest,
			    bool *has_digest)
{
	uint32_t to = opt.run ? VFIO_DEVICE_STATE_RUNNING :
				VFIO_DEVICE_STATE_STOP;
	int ret = libmig_resume_end(&m->d, opt.run);

	*has_digest = false;
	*match = false;
	if (ret && m->d.req == VFIO_DEVICE_STATE_STOP)
		return mc_step_failed(m, "leaving RESUMING for STOP (stream incomplete?)",
				      ret, EX_BADFILE);
	if (ret && m->d.proto == LIBMIG_PROTO_V1)
		return mc_step_failed(m, "leaving RESUMING for RUNNING", ret,
				      EX_BADFILE);
	if (ret)
		return mc_req_failed(m, ret);
	*has_digest = read_digest(m->name, digest);
	*match = has_src && *has_digest && *digest == src_digest;
	if (*has_digest && has_src)
		say("verdict: accepted, device_state %s, digest %016" PRIx64 " %s the source's %016" PRIx64 "\n",
		    libmig_state_str(&m->d, to), *digest,
		    *match ? "matches" : "DIFFERS from", src_digest);
	else
		say("verdict: accepted, device_state %s\n",
		    libmig_state_str(&m->d, to));
	return EX_OK;
}

/* ------------------------------------------------------------------ */
/* Subcommands                                                         */
/* ------------------------------------------------------------------ */


/* The JSON fields a save and a migrate share. */
static void json_transfer(const struct mc_dev *m,
			  const struct mc_save_stats *st,
			  const struct mc_progress *pg, double secs)
{
	json_str("protocol", proto_name(m), false);
	json_str("path", path_name(m), false);
	json_bool("live", st->live, false);
	json_u64("passes", st->passes, false);
	json_u64("bytes", pg->bytes, false);
	json_u64("precopy_bytes", st->precopy_bytes, false);
	json_u64("stopcopy_bytes", st->stopcopy_bytes, false);
	json_dbl("seconds", secs, false);
	json_dbl("stopcopy_seconds", st->stopcopy_secs, false);
	json_dbl("mib_per_s", secs > 0 ? mib(pg->bytes) / secs : 0, false);
}
static int cmd_save(const char *uuid, const char *file)
{
	struct mc_progress pg = { .what = "save", .t0 = now() };
	struct mc_sink s = { .fd = -1, .pg = &pg };
	struct migctl_file_hdr h = { 0 };
	struct mc_save_stats st;
	struct mc_dev m;
	double secs;
	int ret;

	ret = mc_open(&m, uuid);
	if (ret)
		return ret;
	s.fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (s.fd < 0) {
		ret = fail(EX_IO, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (lseek(s.fd, sizeof(h), SEEK_SET) < 0) {
		ret = fail(EX_IO, "%s: %s", file, strerror(errno));
		goto out;
	}
	ret = mc_save(&m, &s, &st);
	progress_done();
	if (ret)
		goto out;
	secs = now() - pg.t0;

	memcpy(h.magic, MC_MAGIC, sizeof(h.magic));
	h.version = MC_VERSION;
	h.hdr_len = sizeof(h);
	fill_ident(&h, &m);
	h.stream_len = pg.bytes;
	h.precopy_bytes = st.precopy_bytes;
	h.stopcopy_bytes = st.stopcopy_bytes;
	h.section_size = m.d.section_size;
	h.digest = st.digest;
	h.passes = st.passes;
	h.flags = (st.live ? MC_FLAG_LIVE : 0) |
		  (st.has_digest ? MC_FLAG_DIGEST : 0) |
		  (m.d.proto == LIBMIG_PROTO_V2 ? MC_FLAG_V2 : 0);
	h.csum_type = MC_CSUM_CRC32;
	h.stream_csum = s.crc;
	hdr_to_le(&h);
	h.hdr_csum = htole32(hdr_csum(&h));
	if (pwrite(s.fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    fsync(s.fd)) {
		ret = fail(EX_IO, "%s: writing the header: %s", file,
			   strerror(errno));
		goto out;
	}

	if (opt.json) {
		printf("{\n");
		json_str("command", "save", false);
		json_str("device", uuid, false);
		json_str("file", file, false);
		json_transfer(&m, &st, &pg, secs);
		printf("  \"crc32\": \"%08x\",\n", s.crc);
		if (st.has_digest)
			printf("  \"digest\": \"%016" PRIx64 "\",\n",
			       st.digest);
		json_str("state", "STOP", true);
		printf("}\n");
	} else {
		say("saved %s to %s: %" PRIu64 " bytes (%" PRIu64 " pre-copy in %u passes, %" PRIu64 " stop-and-copy) in %.3f s, %.1f MiB/s via %s (protocol %s), crc32 %08x\n",
		    uuid, file, pg.bytes, st.precopy_bytes, st.passes,
		    st.stopcopy_bytes, secs,
		    secs > 0 ? mib(pg.bytes) / secs : 0.0, path_name(&m),
		    proto_name(&m), s.crc);
	}
out:
	if (s.fd >= 0)
		close(s.fd);
	if (ret && s.fd >= 0)
		unlink(file);
	mig_dev_close(&m.d);
	return ret;
}

static int cmd_load(const char *uuid, const char *file)
{
	struct mc_progress pg = { .what = "load", .t0 = now() };
	uint64_t off = 0, digest = 0;
	struct mc_file f = { .fd = -1 };
	bool match, has_digest;
	struct mc_dev m;
	uint8_t *buf = NULL;
	size_t bufsz;
	double secs;
	int ret;

	ret = mc_file_open(&f, file, O_RDONLY, true);
	if (ret)
		goto out_file;
	ret = mc_open(&m, uuid);
	if (ret)
		goto out_file;
	ret = check_ident(&f.h, &m, file);
	if (ret)
		goto out;
	ret = mc_check_not_error(&m);
	if (ret)
		goto out;
	bufsz = libmig_chunk(&m.d);
	buf = malloc(bufsz);
	if (!buf) {
		ret = fail(EX_IO, "out of memory");
		goto out;
	}
	pg.total = f.h.stream_len;
	ret = libmig_resume_begin(&m.d);
	if (ret) {
		ret = mc_req_failed(&m, ret);
		goto out;
	}
	while (off < f.h.stream_len) {
		size_t want = bufsz;
		ssize_t n;

		if (want > f.h.stream_len - off)
			want = f.h.stream_len - off;
		n = pread(f.fd, buf, want, f.h.hdr_len + off);
		if (n <= 0) {
			ret = fail(n ? EX_IO : EX_BADFILE, "%s: %s", file,
				   n ? strerror(errno) : "truncated");
			goto out;
		}
		ret = libmig_resume_feed(&m.d, m.path, buf, n);
		if (ret) {
			char step[96];

			snprintf(step, sizeof(step),
				 "feeding the stream at byte %" PRIu64, off);
			ret = mc_step_failed(&m, step, ret,
					     ret == -EINVAL ? EX_BADFILE : EX_IO);
			goto out;
		}
		off += n;
		pg.bytes = off;
		progress_draw(&pg, false);
	}
	progress_done();
	ret = mc_finish_resume(&m, f.h.digest, f.h.flags & MC_FLAG_DIGEST,
			       &match, &digest, &has_digest);
	if (ret)
		goto out;
	secs = now() - pg.t0;
	if (opt.json) {
		printf("{\n");
		json_str("command", "load", false);
		json_str("device", uuid, false);
		json_str("file", file, false);
		json_str("protocol", proto_name(&m), false);
		json_str("path", path_name(&m), false);
		json_u64("bytes", off, false);
		json_dbl("seconds", secs, false);
		json_dbl("mib_per_s", secs > 0 ? mib(off) / secs : 0, false);
		if (f.h.flags & MC_FLAG_DIGEST)
			printf("  \"source_digest\": \"%016" PRIx64 "\",\n",
			       (uint64_t)f.h.digest);
		if (has_digest)
			printf("  \"digest\": \"%016" PRIx64 "\",\n", digest);
		json_bool("digest_match", match, false);
		json_str("verdict", "accepted", false);
		json_str("state", opt.run ? "RUNNING" : "STOP", true);
		printf("}\n");
	} else {
		say("loaded %s into %s: %" PRIu64 " bytes in %.3f s, %.1f MiB/s via %s (protocol %s)\n",
		    file, uuid, off, secs, secs > 0 ? mib(off) / secs : 0.0,
		    path_name(&m), proto_name(&m));
	}
out:
	progress_done();
	free(buf);
	mig_dev_close(&m.d);
out_file:
	if (f.fd >= 0)
		close(f.fd);
	return ret;
}

static int cmd_migrate(const char *src_name, const char *dst_name)
{
	struct mc_progress pg = { .what = "migrate", .t0 = now() };
	struct mc_sink s = { .fd = -1, .pg = &pg };
	struct migctl_file_hdr h = { 0 };
	struct mc_save_stats st;
	struct mc_dev src, dst;
	uint64_t digest = 0;
	bool match, has_digest;
	double secs;
	int ret;

	ret = mc_open(&src, src_name);
	if (ret)
		return ret;
	ret = mc_open(&dst, dst_name);
	if (ret) {
		mig_dev_close(&src.d);
		return ret;
	}
	fill_ident(&h, &src);
	ret = check_ident(&h, &dst, src_name);
	if (ret)
		goto out;
	ret = mc_check_not_error(&dst);
	if (ret)
		goto out;
	ret = libmig_resume_begin(&dst.d);
	if (ret) {
		ret = mc_req_failed(&dst, ret);
		goto out;
	}
	s.dst = &dst;
	ret = mc_save(&src, &s, &st);
	progress_done();
	if (ret)
		goto out;
	ret = mc_finish_resume(&dst, st.digest, st.has_digest, &match, &digest,
			       &has_digest);
	if (ret)
		goto out;
	secs = now() - pg.t0;
	if (opt.json) {
		printf("{\n");
		json_str("command", "migrate", false);
		json_str("source", src_name, false);
		json_str("destination", dst_name, false);
		json_transfer(&src, &st, &pg, secs);
		json_str("destination_protocol", proto_name(&dst), false);
		json_str("destination_path", path_name(&dst), false);
		if (st.has_digest)
			printf("  \"source_digest\": \"%016" PRIx64 "\",\n",
			       st.digest);
		if (has_digest)
			printf("  \"digest\": \"%016" PRIx64 "\",\n", digest);
		json_bool("digest_match", match, false);
		json_str("state", opt.run ? "RUNNING" : "STOP", true);
		printf("}\n");
	} else {
		say("migrated %s to %s: %" PRIu64 " bytes (%" PRIu64 " pre-copy in %u passes, %" PRIu64 " stop-and-copy, downtime %.3f s) in %.3f s, %.1f MiB/s via %s to %s (protocol %s to %s)\n",
		    src_name, dst_name, pg.bytes, st.precopy_bytes, st.passes,
		    st.stopcopy_bytes, st.stopcopy_secs, secs,
		    secs > 0 ? mib(pg.bytes) / secs : 0.0,
		    path_name(&src), path_name(&dst), proto_name(&src),
		    proto_name(&dst));
	}
out:
	progress_done();
	mig_dev_close(&dst.d);
	mig_dev_close(&src.d);
	return ret;
}

static void flags_str(uint32_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s",
		 flags & VFIO_REGION_INFO_FLAG_READ ? "READ " : "",
		 flags & VFIO_REGION_INFO_FLAG_WRITE ? "WRITE " : "",
		 flags & VFIO_REGION_INFO_FLAG_MMAP ? "MMAP " : "",
		 flags & VFIO_REGION_INFO_FLAG_CAPS ? "CAPS" : "");
}

/* "STOP_COPY P2P PRE_COPY" for the VFIO_MIGRATION_* flags. */
static void v2_flags_str(uint64_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s",
		 flags & VFIO_MIGRATION_STOP_COPY ? "STOP_COPY " : "",
		 flags & VFIO_MIGRATION_P2P ? "P2P " : "",
		 flags & VFIO_MIGRATION_PRE_COPY ? "PRE_COPY " : "");
	if (*buf)
		buf[strlen(buf) - 1] = '\0';
}

/* The sparse-mmap areas that fit in the answer. */
static uint32_t sparse_areas(const struct vfio_region_info *ri,
			     const struct vfio_region_info_cap_sparse_mmap *sp)
{
	uint32_t i;

	for (i = 0; sp && i < sp->nr_areas &&
	     (const uint8_t *)&sp->areas[i + 1] <=
	     (const uint8_t *)ri + ri->argsz; i++)
		;
	return i;
}

static void info_region_json(const struct mc_dev *m,
			     const struct vfio_region_info *ri)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	uint32_t i, n;

	sp = (void *)mig_region_cap((struct vfio_region_info *)ri,
				    VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	n = sparse_areas(ri, sp);
	json_u64("region_index", m->d.mig_index, false);
	json_u64("region_offset", m->d.mig_offset, false);
	json_u64("region_size", m->d.mig_size, false);
	printf("  \"region_flags\": \"0x%x\",\n", ri->flags);
	json_u64("cap_type", m->rtype, false);
	json_u64("cap_subtype", m->rsubtype, false);
	printf("  \"sparse_areas\": [");
	for (i = 0; i < n; i++)
		printf("%s{\"offset\": %llu, \"size\": %llu}", i ? ", " : "",
		       (unsigned long long)sp->areas[i].offset,
		       (unsigned long long)sp->areas[i].size);
	printf("],\n");
	json_u64("data_offset", m->d.data_offset, false);
	json_u64("data_size", m->d.section_size, false);
	json_str("default_path", m->has_sparse ? "mmap" : "pread", false);
}

static void info_region_text(const struct mc_dev *m,
			     const struct vfio_region_info *ri)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	char flags[64];
	uint32_t i, n;

	if (!ri) {
		printf("region        none (no region of type 3 subtype 1 among %u: protocol v1 not offered)\n",
		       m->d.num_regions);
		return;
	}
	sp = (void *)mig_region_cap((struct vfio_region_info *)ri,
				    VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	n = sparse_areas(ri, sp);
	flags_str(ri->flags, flags, sizeof(flags));
	printf("region        index %d of %u, fd offset 0x%" PRIx64 ", size %" PRIu64 " (%.1f MiB)\n",
	       m->d.mig_index, m->d.num_regions, m->d.mig_offset,
	       m->d.mig_size, mib(m->d.mig_size));
	printf("flags         0x%x %s\n", ri->flags, flags);
	printf("cap type      type %u subtype %u%s\n", m->rtype, m->rsubtype,
	       m->rtype == VFIO_REGION_TYPE_MIGRATION_DEPRECATED &&
	       m->rsubtype == VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED ?
	       " (migration v1)" : "");
	for (i = 0; i < n; i++)
		printf("cap sparse    area %u: offset %llu size %llu\n", i,
		       (unsigned long long)sp->areas[i].offset,
		       (unsigned long long)sp->areas[i].size);
	if (!sp)
		printf("cap sparse    none (data path: pread/pwrite)\n");
	printf("data section  offset %" PRIu64 ", size %" PRIu64 " (%" PRIu64 " pages)\n",
	       m->d.data_offset, m->d.section_size,
	       m->d.section_size / MIG_PAGE_SIZE);
}

/*
 * Protocol v2: its flags and, where the kernel has it, the stop-copy size
 * (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, Linux 6.3 on).
 */
static void info_v2(struct mc_dev *m)
{
	bool has_size;
	uint64_t size = 0;
	char flags[64];
	int err;

	if (!libmig_offers(&m->d, LIBMIG_PROTO_V2)) {
		if (!opt.json)
			printf("v2            not offered (VFIO_DEVICE_FEATURE_MIGRATION: %s)\n",
			       strerror(-m->d.v2_err));
		return;
	}
	v2_flags_str(m->d.v2_flags, flags, sizeof(flags));
	err = libmig_v2_data_size(&m->d, &size);
	has_size = !err;
	if (opt.json) {
		json_u64("v2_flags", m->d.v2_flags, false);
		json_str("v2_flag_names", flags, false);
		if (has_size)
			json_u64("stop_copy_size", size, false);
		return;
	}
	printf("v2 flags      0x%" PRIx64 " %s\n", m->d.v2_flags, flags);
	if (has_size)
		printf("v2 data size  %" PRIu64 " bytes to stop-and-copy now (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE)\n",
		       size);
	else
		printf("v2 data size  not offered (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: %s)\n",
		       strerror(-err));
}

static int cmd_info(const char *uuid)
{
	struct vfio_region_info *ri = NULL;
	bool v1, v2;
	uint32_t state;
	struct mc_dev m;
	int ret;

	opt.path = MIG_PATH_PREAD;	/* no need to map anything */
	ret = mc_open(&m, uuid);
	if (ret)
		return ret;
	v1 = libmig_offers(&m.d, LIBMIG_PROTO_V1);
	v2 = libmig_offers(&m.d, LIBMIG_PROTO_V2);
	ret = libmig_get_state(&m.d, &state);
	if (ret) {
		ret = fail(EX_IO, "%s: reading device_state: %s", uuid,
			   strerror(-ret));
		goto out;
	}
	if (v1) {
		ret = mig_get_region_info(&m.d, m.d.mig_index, &ri);
		if (ret) {
			ret = fail(EX_IO, "%s: region info: %s", uuid,
				   strerror(-ret));
			goto out;
		}
	}
	if (opt.json) {
		printf("{\n");
		json_str("command", "info", false);
		json_str("device", uuid, false);
		json_str("mdev_type", m.dev_type, false);
		printf("  \"pci_id\": \"%04x:%04x\",\n", m.vendor, m.device);
		printf("  \"subsystem_id\": \"%04x:%04x\",\n", m.subvendor,
		       m.subdevice);
		printf("  \"protocols\": [%s%s%s],\n", v1 ? "\"v1\"" : "",
		       v1 && v2 ? ", " : "", v2 ? "\"v2\"" : "");
		json_str("protocol", proto_name(&m), false);
		json_u64("num_regions", m.d.num_regions, false);
		if (ri)
			info_region_json(&m, ri);
		info_v2(&m);
		json_str("state", libmig_state_str(&m.d, state), true);
		printf("}\n");
	} else {
		printf("device        %s (%s, PCI %04x:%04x, subsystem %04x:%04x)\n",
		       uuid, m.dev_type[0] ? m.dev_type : "no mdev type",
		       m.vendor, m.device, m.subvendor, m.subdevice);
		printf("protocols     %s%s%s, using %s\n", v1 ? "v1" : "",
		       v1 && v2 ? " " : "", v2 ? "v2" : "", proto_name(&m));
		info_region_text(&m, ri);
		info_v2(&m);
		printf("state         %s\n", libmig_state_str(&m.d, state));
	}
out:
	free(ri);
	mig_dev_close(&m.d);
	return ret;
}

/*
 * The protocol and state a STATE argument names.  Names of one protocol
 * only (v1's SAVING and PRECOPY, v2's STOP_COPY, RUNNING_P2P, PRE_COPY,
 * PRE_COPY_P2P) choose that protocol when --protocol is auto; names both
 * have (STOP, RUNNING, RESUMING) leave the choice to the device.
 */
static int parse_state_arg(const char *name, uint32_t *state)
{
	uint32_t s1, s2;
	bool in1 = !libmig_state_parse(LIBMIG_PROTO_V1, name, &s1);
	bool in2 = !libmig_state_parse(LIBMIG_PROTO_V2, name, &s2);
	enum libmig_proto p = mc_want();

	if (p == LIBMIG_PROTO_AUTO && in1 != in2)
		p = in1 ? LIBMIG_PROTO_V1 : LIBMIG_PROTO_V2;
	if (p == LIBMIG_PROTO_V1 ? !in1 : p == LIBMIG_PROTO_V2 ? !in2 : !in1)
		return fail(EX_USAGE, "unknown state '%s' (%s%s%s)", name,
			    p != LIBMIG_PROTO_V2 ? "v1: STOP RUNNING SAVING PRECOPY RESUMING" : "",
			    p == LIBMIG_PROTO_AUTO ? "; " : "",
			    p != LIBMIG_PROTO_V1 ? "v2: STOP RUNNING STOP_COPY RESUMING RUNNING_P2P PRE_COPY PRE_COPY_P2P" : "");
	*state = p == LIBMIG_PROTO_V2 ? s2 : s1;	/* shared names agree */
	if (*state == VFIO_DEVICE_STATE_ERROR)
		return fail(EX_USAGE, "ERROR is entered by the driver only");
	opt.proto = p;
	return EX_OK;
}

static int cmd_state(const char *uuid, const char *name)
{
	uint32_t want = 0, before, after;
	struct mc_dev m;
	int ret;

	if (name) {
		ret = parse_state_arg(name, &want);
		if (ret)
			return ret;
	}
	opt.path = MIG_PATH_PREAD;
	ret = mc_open(&m, uuid);
	if (ret)
		return ret;
	ret = libmig_get_state(&m.d, &before);
	if (ret) {
		ret = fail(EX_IO, "%s: reading device_state: %s", uuid,
			   strerror(-ret));
		goto out;
	}
	after = before;
	if (name) {
		if (before == VFIO_DEVICE_STATE_ERROR) {
			ret = fail(EX_DEVERR, "%s: device is in ERROR; %s",
				   uuid, remedy(uuid));
			goto out;
		}
		ret = mc_set_state(&m, want);
		if (ret)
			goto out;
		if (libmig_get_state(&m.d, &after))
			after = LIBMIG_STATE_INVALID;
	}
	if (opt.json) {
		printf("{\n");
		json_str("command", "state", false);
		json_str("device", uuid, false);
		json_str("protocol", proto_name(&m), false);
		if (name)
			json_str("previous", libmig_state_str(&m.d, before),
				 false);
		json_str("state", libmig_state_str(&m.d, after), true);
		printf("}\n");
	} else if (name) {
		printf("%s -> %s\n", libmig_state_str(&m.d, before),
		       libmig_state_str(&m.d, after));
		fprintf(stderr, "note: the state holds while migctl has the device open; on close the driver decides (mig-mdev: RUNNING)\n");
	} else {
		printf("%s\n", libmig_state_str(&m.d, after));
	}
out:
	mig_dev_close(&m.d);
	return ret;
}

static int cmd_reset(const char *uuid)
{
	uint32_t before, after;
	struct mc_dev m;
	int ret;

	opt.path = MIG_PATH_PREAD;
	ret = mc_open(&m, uuid);
	if (ret)
		return ret;
	if (libmig_get_state(&m.d, &before))
		before = LIBMIG_STATE_INVALID;
	ret = mig_device_reset(&m.d);
	if (ret) {
		ret = fail(EX_IO, "%s: VFIO_DEVICE_RESET: %s", uuid,
			   strerror(-ret));
		goto out;
	}
	if (libmig_get_state(&m.d, &after))
		after = LIBMIG_STATE_INVALID;
	if (opt.json) {
		printf("{\n");
		json_str("command", "reset", false);
		json_str("device", uuid, false);
		json_str("protocol", proto_name(&m), false);
		json_str("previous", libmig_state_str(&m.d, before), false);
		json_str("state", libmig_state_str(&m.d, after), true);
		printf("}\n");
	} else {
		printf("reset %s: %s -> %s\n", uuid,
		       libmig_state_str(&m.d, before),
		       libmig_state_str(&m.d, after));
	}
out:
	mig_dev_close(&m.d);
	return ret;
}

/* migctl file FILE [--rehash]: show, verify, or re-checksum a file. */
static int cmd_file(const char *file)
{
	struct mc_file f = { .fd = -1 };
	char type[MC_TYPE_LEN + 1];
	int ret;

	if (opt.rehash) {
		static uint8_t buf[1 << 20];
		struct migctl_file_hdr h;
		uint64_t off = 0;
		uint32_t crc = 0;
		ssize_t n;

		/* Header checks only: the stream checksum is what is fixed. */
		ret = mc_file_open(&f, file, O_RDWR, false);
		if (ret)
			goto out;
		while (off < f.h.stream_len) {
			size_t want = sizeof(buf);

			if (want > f.h.stream_len - off)
				want = f.h.stream_len - off;
			n = pread(f.fd, buf, want, f.h.hdr_len + off);
			if (n <= 0) {
				ret = fail(EX_IO, "%s: read failed", file);
				goto out;
			}
			crc = crc32_update(crc, buf, n);
			off += n;
		}
		f.h.stream_csum = crc;
		h = f.h;
		hdr_to_le(&h);
		h.hdr_csum = htole32(hdr_csum(&h));
		if (pwrite(f.fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
			ret = fail(EX_IO, "%s: %s", file, strerror(errno));
			goto out;
		}
		say("%s: stream checksum set to %08x\n", file, crc);
		goto out;
	}
	ret = mc_file_open(&f, file, O_RDONLY, true);
	if (ret)
		goto out;
	snprintf(type, sizeof(type), "%.*s", MC_TYPE_LEN, f.h.dev_type);
	if (opt.json) {
		printf("{\n");
		json_str("command", "file", false);
		json_str("file", file, false);
		json_u64("version", f.h.version, false);
		printf("  \"pci_id\": \"%04x:%04x\",\n", f.h.vendor,
		       f.h.device);
		printf("  \"subsystem_id\": \"%04x:%04x\",\n", f.h.subvendor,
		       f.h.subdevice);
		json_str("mdev_type", type, false);
		json_u64("region_type", f.h.region_type, false);
		json_u64("region_subtype", f.h.region_subtype, false);
		json_u64("stream_len", f.h.stream_len, false);
		json_u64("precopy_bytes", f.h.precopy_bytes, false);
		json_u64("stopcopy_bytes", f.h.stopcopy_bytes, false);
		json_u64("passes", f.h.passes, false);
		json_bool("live", f.h.flags & MC_FLAG_LIVE, false);
		json_str("protocol", f.h.flags & MC_FLAG_V2 ? "v2" : "v1",
			 false);
		if (f.h.flags & MC_FLAG_DIGEST)
			printf("  \"digest\": \"%016" PRIx64 "\",\n",
			       (uint64_t)f.h.digest);
		printf("  \"crc32\": \"%08x\"\n}\n", f.h.stream_csum);
	} else {
		printf("file     %s: migctl format %u, checksum ok\n", file,
		       f.h.version);
		printf("source   PCI %04x:%04x subsystem %04x:%04x, %s, region %u/%u, section %" PRIu64 "\n",
		       f.h.vendor, f.h.device, f.h.subvendor, f.h.subdevice,
		       type[0] ? type : "no mdev type", f.h.region_type,
		       f.h.region_subtype, (uint64_t)f.h.section_size);
		printf("stream   %" PRIu64 " bytes: %" PRIu64 " pre-copy in %u passes, %" PRIu64 " stop-and-copy, through protocol %s; crc32 %08x\n",
		       (uint64_t)f.h.stream_len, (uint64_t)f.h.precopy_bytes,
		       f.h.passes, (uint64_t)f.h.stopcopy_bytes,
		       f.h.flags & MC_FLAG_V2 ? "v2" : "v1", f.h.stream_csum);
		if (f.h.flags & MC_FLAG_DIGEST)
			printf("digest   %016" PRIx64 "\n", (uint64_t)f.h.digest);
	}
out:
	if (f.fd >= 0)
		close(f.fd);
	return ret;
}

/* ---- list ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

/* Sorted entries of @dir (no dot files); caller frees. */
static int list_dir(const char *dir, char ***out)
{
	struct dirent *de;
	char **v = NULL;
	int n = 0;
	DIR *d;

	*out = NULL;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char **nv;

		if (de->d_name[0] == '.')
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n] = strdup(de->d_name);
		if (v[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), name_cmp);
	*out = v;
	return n;
}

static void free_list(char **v, int n)
{
	while (n--)
		free(v[n]);
	free(v);
}

/*
 * The state of a device: sysfs when the driver has it, else what the
 * device reports (v2 when it offers it, else the v1 header).
 */
static void instance_state(const char *uuid, char *buf, size_t len)
{
	struct mig_dev d;
	uint32_t s;

	if (!read_attr(uuid, "migration_state", buf, len) && buf[0])
		return;
	if (mig_dev_open(&d, uuid)) {
		snprintf(buf, len, "?");
		return;
	}
	if (d.proto == LIBMIG_PROTO_AUTO)	/* no migration offered */
		snprintf(buf, len, "-");
	else if (libmig_get_state(&d, &s))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s", libmig_state_str(&d, s));
	mig_dev_close(&d);
}

static int cmd_list(void)
{
	char **parents, **types, **insts, path[PATH_MAX];
	int np, nt, ni, p, t, i, total = 0;
	bool first = true;

	np = list_dir(MC_MDEV_BUS, &parents);
	if (opt.json)
		printf("{\n  \"command\": \"list\",\n  \"instances\": [");
	else if (!np)
		printf("no mdev parent devices (%s is empty or missing)\n",
		       MC_MDEV_BUS);
	for (p = 0; p < np; p++) {
		if (!opt.json)
			printf("parent %s\n", parents[p]);
		snprintf(path, sizeof(path), "%s/%s/mdev_supported_types",
			 MC_MDEV_BUS, parents[p]);
		nt = list_dir(path, &types);
		for (t = 0; t < nt; t++) {
			char avail[32], tname[128];

			snprintf(path, sizeof(path),
				 "%s/%s/mdev_supported_types/%s/available_instances",
				 MC_MDEV_BUS, parents[p], types[t]);
			if (mig_sysfs_read(path, avail, sizeof(avail)))
				snprintf(avail, sizeof(avail), "?");
			snprintf(path, sizeof(path),
				 "%s/%s/mdev_supported_types/%s/name",
				 MC_MDEV_BUS, parents[p], types[t]);
			if (mig_sysfs_read(path, tname, sizeof(tname)))
				tname[0] = '\0';
			if (!opt.json)
				printf("  type %s%s%s%s, %s available\n",
				       types[t], tname[0] ? " (" : "", tname,
				       tname[0] ? ")" : "", avail);
			snprintf(path, sizeof(path),
				 "%s/%s/mdev_supported_types/%s/devices",
				 MC_MDEV_BUS, parents[p], types[t]);
			ni = list_dir(path, &insts);
			for (i = 0; i < ni; i++) {
				char state[32], digest[64];

				instance_state(insts[i], state, sizeof(state));
				if (read_attr(insts[i], "digest", digest,
					      sizeof(digest)))
					digest[0] = '\0';
				total++;
				if (opt.json) {
					printf("%s\n    {\"uuid\": \"%s\", \"parent\": \"%s\", \"type\": \"%s\", \"state\": \"%s\"",
					       first ? "" : ",", insts[i],
					       parents[p], types[t], state);
					if (digest[0])
						printf(", \"digest\": \"%s\"",
						       digest);
					printf("}");
					first = false;
				} else {
					printf("    %s  %-8s%s%s\n", insts[i],
					       state, digest[0] ? "  digest " : "",
					       digest);
				}
			}
			free_list(insts, ni);
		}
		free_list(types, nt);
	}
	free_list(parents, np);
	if (opt.json)
		printf("%s],\n  \"count\": %d\n}\n", first ? "" : "\n  ",
		       total);
	return EX_OK;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static int run_list(const char **a)
{
	(void)a;
	return cmd_list();
}

static int run_info(const char **a) { return cmd_info(a[0]); }
static int run_state(const char **a) { return cmd_state(a[0], a[1]); }
static int run_reset(const char **a) { return cmd_reset(a[0]); }
static int run_save(const char **a) { return cmd_save(a[0], a[1]); }
static int run_load(const char **a) { return cmd_load(a[0], a[1]); }
static int run_migrate(const char **a) { return cmd_migrate(a[0], a[1]); }
static int run_file(const char **a) { return cmd_file(a[0]); }

/**
 * struct mc_cmd - a subcommand
 * @name: as typed
 * @args: its arguments, for the usage message
 * @min_args: fewest arguments
 * @max_args: most arguments
 * @fn: runs it; returns the exit status
 */
static const struct mc_cmd {
	const char *name;
	const char *args;
	int min_args;
	int max_args;
	int (*fn)(const char **args);
} mc_cmds[] = {
	{ "list", "", 0, 0, run_list },
	{ "info", "DEV", 1, 1, run_info },
	{ "state", "DEV [STATE]", 1, 2, run_state },
	{ "reset", "DEV", 1, 1, run_reset },
	{ "save", "DEV FILE", 2, 2, run_save },
	{ "load", "DEV FILE", 2, 2, run_load },
	{ "migrate", "SRC DST", 2, 2, run_migrate },
	{ "file", "FILE", 1, 1, run_file },
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: migctl [options] COMMAND ...\n"
"\n"
"A client of VFIO migration (protocol v1 or v2) of an mdev device (any\n"
"vendor's).  DEV is an mdev UUID (/sys/bus/mdev/devices/UUID) or a sysfs\n"
"device path.\n"
"\n"
"commands:\n"
"  list                    mdev parents, types, instances, states, digests\n"
"  info DEV                the protocols offered; the migration region: index,\n"
"                          size, flags, caps, data section; the v2 flags and\n"
"                          data size; the current state\n"
"  state DEV [STATE]       read, or request a state: v1 STOP RUNNING SAVING\n"
"                          PRECOPY RESUMING, v2 STOP RUNNING STOP_COPY RESUMING\n"
"                          RUNNING_P2P PRE_COPY PRE_COPY_P2P\n"
"  reset DEV               VFIO_DEVICE_RESET (the way out of ERROR)\n"
"  save DEV FILE           save the device's state to FILE (stopped, or --live)\n"
"  load DEV FILE           feed FILE to the device; STOP after (or --run)\n"
"  migrate SRC DST         save SRC into DST in one process, chunk by chunk\n"
"  file FILE               show and verify a saved file (--rehash: recompute\n"
"                          its stream checksum, for tests that edit streams)\n"
"\n"
"options:\n"
"  --protocol v1|v2|auto   v1: the migration region; v2: the data_fd of\n"
"                          VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE; auto (the\n"
"                          default): v2 when the device offers it, else v1\n"
"  --live                  pre-copy while the device runs, then stop-and-copy\n"
"  --max-passes N          at most N pre-copy passes (default 16)\n"
"  --run                   after load/migrate, leave the destination RUNNING\n"
"  --mmap, --pread         v1 data path (default: mmap when the region offers\n"
"                          a sparse-mmap area, else pread/pwrite); they ask\n"
"                          for protocol v1\n"
"  --force                 feed a file or device of another type anyway\n"
"  --json                  machine-readable result on stdout\n"
"  -h, --help              this text\n"
"\n"
"exit status:\n"
"  0  success\n"
"  1  usage error\n"
"  2  no such device, device busy, or no migration (in the protocol asked for)\n"
"  3  the device is or went in ERROR (remedy: migctl reset DEV)\n"
"  4  bad, corrupted or truncated file, or a file/device of another type;\n"
"     also a stream the device refused without applying it\n"
"  5  I/O or protocol error\n");
}

int main(int argc, char **argv)
{
	const char *args[3] = { NULL, NULL, NULL };
	const char *cmd = NULL;
	int i, nargs = 0;

	crc32_init();
	tty = isatty(STDERR_FILENO);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return EX_OK;
		} else if (!strcmp(a, "--json")) {
			opt.json = true;
		} else if (!strcmp(a, "--live")) {
			opt.live = true;
		} else if (!strcmp(a, "--run")) {
			opt.run = true;
		} else if (!strcmp(a, "--force")) {
			opt.force = true;
		} else if (!strcmp(a, "--rehash")) {
			opt.rehash = true;
		} else if (!strcmp(a, "--mmap")) {
			opt.path = MIG_PATH_MMAP;
			opt.path_given = true;
		} else if (!strcmp(a, "--pread")) {
			opt.path = MIG_PATH_PREAD;
			opt.path_given = true;
		} else if (!strcmp(a, "--protocol")) {
			if (++i >= argc)
				return fail(EX_USAGE, "--protocol needs v1, v2 or auto");
			if (!strcmp(argv[i], "v1"))
				opt.proto = LIBMIG_PROTO_V1;
			else if (!strcmp(argv[i], "v2"))
				opt.proto = LIBMIG_PROTO_V2;
			else if (!strcmp(argv[i], "auto"))
				opt.proto = LIBMIG_PROTO_AUTO;
			else
				return fail(EX_USAGE, "--protocol: '%s' is not v1, v2 or auto",
					    argv[i]);
		} else if (!strcmp(a, "--max-passes")) {
			char *end;
			unsigned long v;

			if (++i >= argc)
				return fail(EX_USAGE, "--max-passes needs a number");
			v = strtoul(argv[i], &end, 10);
			if (*end || end == argv[i] || v < 1 || v > 100000)
				return fail(EX_USAGE, "--max-passes: '%s' is not 1..100000",
					    argv[i]);
			opt.max_passes = v;
		} else if (a[0] == '-' && a[1]) {
			fail(EX_USAGE, "unknown option %s", a);
			usage(stderr);
			return EX_USAGE;
		} else if (!cmd) {
			cmd = a;
		} else if (nargs < 3) {
			args[nargs++] = a;
		} else {
			return fail(EX_USAGE, "too many arguments");
		}
	}
	if (opt.json)
		tty = false;
	if (opt.path_given && opt.proto == LIBMIG_PROTO_V2)
		return fail(EX_USAGE, "--mmap and --pread are data paths of protocol v1; v2 moves the stream through its data_fd");
	if (!cmd) {
		usage(stderr);
		return EX_USAGE;
	}

	for (i = 0; i < (int)ARRAY_SIZE(mc_cmds); i++) {
		const struct mc_cmd *c = &mc_cmds[i];

		if (strcmp(cmd, c->name))
			continue;
		if (nargs < c->min_args || nargs > c->max_args)
			return fail(EX_USAGE, "usage: migctl %s%s%s (see --help)",
				    c->name, c->args[0] ? " " : "", c->args);
		return c->fn(args);
	}
	fail(EX_USAGE, "unknown command '%s'", cmd);
	usage(stderr);
	return EX_USAGE;
}
