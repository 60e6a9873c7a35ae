// SPDX-License-Identifier: GPL-2.0
/*
 * bench: measures mig-mdev's migration data path from user space.
 *
 *   bench datapath [--reps N]     save and resume of a large instance,
 *                                 mmap and pread/pwrite, against memcpy
 *   bench sweep [--reps N]        data section 1..2048 pages
 *   bench converge [--reps N]     engine rate against pre-copy passes
 *   bench scale [--reps N]        1, 8, 32 small instances at once
 *
 * Every figure is taken --reps times (default 5) and printed as
 *
 *   # BENCH <metric> <median> <min> <max>
 *
 * which selftests/bench.sh passes through the TAP log and scripts/bench.sh
 * collects on the host (docs/BENCH.md).  Ratios are taken against memcpy
 * of the same bytes in the same run, never against a lone absolute figure.
 * Nothing here is a test: it asserts no speed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libmig.h"

#define MAX_REPS	32
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_INST	32

static int reps = 5;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Print one figure: the median and the spread of @n samples. */
static void report(const char *metric, double *v, int n)
{
	double s[MAX_REPS];
	double med;

	if (n <= 0)
		return;
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), dbl_cmp);
	med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	printf("# BENCH %s %.6g %.6g %.6g\n", metric, med, s[0], s[n - 1]);
	fflush(stdout);
}

static void die(const char *what, int err)
{
	printf("# bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	fflush(stdout);
	exit(1);
}

#define CHECK(call) do {						\
	int __r = (call);						\
	if (__r < 0)							\
		die(#call, __r);					\
} while (0)

/* ------------------------------------------------------------------ */
/* Instances                                                           */
/* ------------------------------------------------------------------ */

struct inst {
	char uuid[MIG_UUID_LEN + 1];
	struct mig_dev dev;
	bool open;
};

static void inst_new(struct inst *in, const char *type)
{
	memset(in, 0, sizeof(*in));
	CHECK(mig_instance_create(type, in->uuid));
	CHECK(mig_dev_open(&in->dev, in->uuid));
	in->open = true;
	CHECK(mig_dev_map(&in->dev));
}

static void inst_del(struct inst *in)
{
	if (in->open)
		mig_dev_close(&in->dev);
	in->open = false;
	mig_instance_remove(in->uuid);
}

static void set_section_pages(unsigned int pages)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", pages);
	CHECK(mig_param_write("section_pages", v));
}

/* Fill device memory with a pattern (so that pages are not all zero). */
static void fill_memory(struct inst *in, size_t mem)
{
	size_t chunk = 1 << 20, off, i;
	uint64_t *buf = malloc(chunk);

	if (!buf)
		die("malloc", ENOMEM);
	for (off = 0; off < mem; off += chunk) {
		for (i = 0; i < chunk / 8; i++)
			buf[i] = (off + i * 8) * 0x9e3779b97f4a7c15ULL;
		CHECK(mig_region_pwrite(&in->dev, VFIO_PCI_BAR2_REGION_INDEX,
					buf, chunk, off));
	}
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Save and resume loops: the data path, nothing else                  */
/* ------------------------------------------------------------------ */

/**
 * struct xfer - one save or resume
 * @bytes: stream bytes moved
 * @syscalls: header and data accesses issued (each one system call)
 * @secs: wall time, from the first state write to the last
 * @enter: of which the first state write (SAVING or RESUMING)
 * @leave: of which the last (STOP: for a resume, the digest check)
 */
struct xfer {
	uint64_t bytes;
	uint64_t syscalls;
	double secs;
	double enter;
	double leave;
};

/*
 * Save until pending reads 0, into @out (which must hold the stream).
 * mmap: memcpy from the mapped area data_offset points into; pread:
 * straight into @out.
 */
static int save_chunks(struct mig_dev *d, enum mig_path path, uint8_t *out,
		       size_t cap, struct xfer *x)
{
	uint64_t pending, off, size;
	int ret;

	for (;;) {
		ret = mig_get_pending(d, &pending);
		x->syscalls++;
		if (ret)
			return ret;
		if (!pending)
			return 0;
		CHECK(mig_get_data_offset(d, &off));
		CHECK(mig_get_data_size(d, &size));
		x->syscalls += 2;
		if (!size || x->bytes + size > cap)
			return -EPROTO;
		if (path == MIG_PATH_MMAP) {
			const void *p;

			/* the section, or the window of a zero-copy device */
			CHECK(mig_chunk_map(d, off, size, &p));
			memcpy(out + x->bytes, p, size);
		} else {
			ssize_t n = pread(d->fd, out + x->bytes, size,
					  d->mig_offset + off);

			x->syscalls++;
			if (n != (ssize_t)size)
				return -EIO;
		}
		x->bytes += size;
	}
}

/* Stop-and-copy save of a stopped device into @out. */
static void save_stopped(struct mig_dev *d, enum mig_path path, uint8_t *out,
			 size_t cap, struct xfer *x)
{
	double t0, t1, t2;

	memset(x, 0, sizeof(*x));
	CHECK(mig_set_state(d, MIG_STATE_STOP));
	t0 = now();
	CHECK(mig_set_state(d, MIG_STATE_SAVING));
	t1 = now();
	CHECK(save_chunks(d, path, out, cap, x));
	t2 = now();
	CHECK(mig_set_state(d, MIG_STATE_STOP));
	x->secs = now() - t0;
	x->enter = t1 - t0;
	x->leave = t0 + x->secs - t2;
	x->syscalls += 2;
}

/* Resume @len bytes of stream; one chunk is data_offset, data, data_size. */
static void resume(struct mig_dev *d, enum mig_path path, const uint8_t *in,
		   size_t len, struct xfer *x)
{
	uint64_t chunks = (len + d->section_size - 1) / d->section_size;
	double t0, t1, t2;

	memset(x, 0, sizeof(*x));
	t0 = now();
	CHECK(mig_set_state(d, MIG_STATE_RESUMING));
	t1 = now();
	CHECK(mig_resume_write(d, path, in, len, 0));
	t2 = now();
	CHECK(mig_set_state(d, MIG_STATE_STOP));
	x->secs = now() - t0;
	x->enter = t1 - t0;
	x->leave = t0 + x->secs - t2;
	x->bytes = len;
	x->syscalls = 2 + chunks * (path == MIG_PATH_MMAP ? 2 : 3);
}

/* memcpy of @len bytes in pieces of @piece, as the data path moves them. */
static double memcpy_secs(uint8_t *dst, const uint8_t *src, size_t len,
			  size_t piece)
{
	double t0 = now();
	size_t off;

	for (off = 0; off < len; off += piece)
		memcpy(dst + off, src + off, len - off < piece ? len - off :
		       piece);
	__asm__ __volatile__("" : : "r"(dst) : "memory");
	return now() - t0;
}

static uint8_t *big_alloc(size_t len)
{
	uint8_t *p = malloc(len);

	if (!p)
		die("malloc", ENOMEM);
	memset(p, 0x5a, len);	/* fault it in */
	return p;
}

static double mibs(uint64_t bytes, double secs)
{
	return secs > 0 ? bytes / 1048576.0 / secs : 0;
}

/* ------------------------------------------------------------------ */
/* 1. datapath                                                         */
/* ------------------------------------------------------------------ */

static int bench_datapath(void)
{
	double r_sm[MAX_REPS], r_sp[MAX_REPS], r_rm[MAX_REPS], r_rp[MAX_REPS];
	double t_mc[MAX_REPS], t_sm[MAX_REPS], t_sp[MAX_REPS], t_rm[MAX_REPS];
	double t_rp[MAX_REPS], se[MAX_REPS], sl[MAX_REPS], re[MAX_REPS];
	uint64_t dig;
	double rl[MAX_REPS], dg[MAX_REPS], dgr[MAX_REPS];
	struct inst src, dst;
	uint8_t *stream, *copy;
	size_t mem, cap;
	struct xfer x;
	char buf[64];
	int i;

	set_section_pages(256);
	inst_new(&src, "large");
	inst_new(&dst, "large");
	CHECK(mig_param_read("large_mem_mb", buf, sizeof(buf)));
	mem = strtoull(buf, NULL, 0) << 20;
	cap = mem + (mem >> 4) + (1 << 20);
	stream = big_alloc(cap);
	copy = big_alloc(cap);
	fill_memory(&src, mem);
	printf("# datapath: large type (%zu MiB), section %" PRIu64 " KiB, %d reps\n",
	       mem >> 20, src.dev.section_size >> 10, reps);

	for (i = 0; i < reps; i++) {
		double mc, t0, dsecs;

		/*
		 * Each transfer is timed right after a memcpy of the same
		 * bytes in pieces of one section, so that the ratio compares
		 * the two under the same load of the host.
		 */
		save_stopped(&src.dev, MIG_PATH_MMAP, stream, cap, &x);
		mc = memcpy_secs(copy, stream, x.bytes, src.dev.section_size);
		save_stopped(&src.dev, MIG_PATH_MMAP, stream, cap, &x);
		t_mc[i] = mibs(x.bytes, mc);
		t_sm[i] = mibs(x.bytes, x.secs);
		r_sm[i] = mc / x.secs;
		se[i] = x.enter / x.secs;
		sl[i] = x.leave / x.secs;

		/* the digest the END record carries, timed through sysfs */
		mc = memcpy_secs(copy, stream, x.bytes, src.dev.section_size);
		t0 = now();
		CHECK(mig_digest(src.uuid, &dig));
		dsecs = now() - t0;
		dg[i] = mc / dsecs;
		dgr[i] = dsecs / x.secs;

		mc = memcpy_secs(copy, stream, x.bytes, src.dev.section_size);
		save_stopped(&src.dev, MIG_PATH_PREAD, stream, cap, &x);
		t_sp[i] = mibs(x.bytes, x.secs);
		r_sp[i] = mc / x.secs;

		mc = memcpy_secs(copy, stream, x.bytes, src.dev.section_size);
		resume(&dst.dev, MIG_PATH_MMAP, stream, x.bytes, &x);
		t_rm[i] = mibs(x.bytes, x.secs);
		r_rm[i] = mc / x.secs;
		re[i] = x.enter / x.secs;
		rl[i] = x.leave / x.secs;

		mc = memcpy_secs(copy, stream, x.bytes, src.dev.section_size);
		resume(&dst.dev, MIG_PATH_PREAD, stream, x.bytes, &x);
		t_rp[i] = mibs(x.bytes, x.secs);
		r_rp[i] = mc / x.secs;
		printf("# rep %d: memcpy %.0f MiB/s, save mmap %.0f pread %.0f, resume mmap %.0f pwrite %.0f\n",
		       i + 1, t_mc[i], t_sm[i], t_sp[i], t_rm[i], t_rp[i]);
	}
	report("memcpy_mib_s", t_mc, reps);
	report("save_mmap_mib_s", t_sm, reps);
	report("save_pread_mib_s", t_sp, reps);
	report("resume_mmap_mib_s", t_rm, reps);
	report("resume_pread_mib_s", t_rp, reps);
	report("save_mmap_ratio", r_sm, reps);
	report("save_pread_ratio", r_sp, reps);
	report("resume_mmap_ratio", r_rm, reps);
	report("resume_pread_ratio", r_rp, reps);
	/* where the time goes: shares of the first and last state writes */
	report("save_mmap_enter_share", se, reps);
	report("save_mmap_stop_share", sl, reps);
	report("resume_mmap_enter_share", re, reps);
	report("resume_mmap_stop_share", rl, reps);
	report("digest_ratio", dg, reps);	/* digest speed / memcpy */
	report("digest_share_of_save_mmap", dgr, reps);
	inst_del(&src);
	inst_del(&dst);
	free(stream);
	free(copy);
	return 0;
}

/* ------------------------------------------------------------------ */
/* 2. section size sweep                                               */
/* ------------------------------------------------------------------ */

static int bench_sweep(void)
{
	static const unsigned int pages[] = {
		1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048 };
	double s_t[MAX_REPS], s_r[MAX_REPS], r_t[MAX_REPS], r_r[MAX_REPS];
	double mc_t[MAX_REPS], sc, rc;
	uint8_t *stream, *copy;
	struct inst src, dst;
	size_t mem, cap;
	char buf[64], m[64];
	struct xfer x;
	unsigned int p;
	int i;

	CHECK(mig_param_read("large_mem_mb", buf, sizeof(buf)));
	mem = strtoull(buf, NULL, 0) << 20;
	cap = mem + (mem >> 4) + (1 << 20);
	stream = big_alloc(cap);
	copy = big_alloc(cap);
	printf("# sweep: large type (%zu MiB), mmap path, %d reps per size\n",
	       mem >> 20, reps);
	for (p = 0; p < ARRAY_SIZE(pages); p++) {
		set_section_pages(pages[p]);
		inst_new(&src, "large");
		inst_new(&dst, "large");
		fill_memory(&src, mem);
		sc = 0;
		rc = 0;
		for (i = 0; i < reps; i++) {
			double mc;

			save_stopped(&src.dev, MIG_PATH_MMAP, stream, cap, &x);
			mc = memcpy_secs(copy, stream, x.bytes,
					 src.dev.section_size);
			save_stopped(&src.dev, MIG_PATH_MMAP, stream, cap, &x);
			s_t[i] = mibs(x.bytes, x.secs);
			sc = x.syscalls / (x.bytes / 1048576.0);
			mc_t[i] = mibs(x.bytes, mc);
			s_r[i] = mc / x.secs;
			mc = memcpy_secs(copy, stream, x.bytes,
					 src.dev.section_size);
			resume(&dst.dev, MIG_PATH_MMAP, stream, x.bytes, &x);
			r_t[i] = mibs(x.bytes, x.secs);
			rc = x.syscalls / (x.bytes / 1048576.0);
			r_r[i] = mc / x.secs;
		}
		snprintf(m, sizeof(m), "sweep_p%u_save_mib_s", pages[p]);
		report(m, s_t, reps);
		snprintf(m, sizeof(m), "sweep_p%u_resume_mib_s", pages[p]);
		report(m, r_t, reps);
		snprintf(m, sizeof(m), "sweep_p%u_save_ratio", pages[p]);
		report(m, s_r, reps);
		snprintf(m, sizeof(m), "sweep_p%u_resume_ratio", pages[p]);
		report(m, r_r, reps);
		snprintf(m, sizeof(m), "sweep_p%u_memcpy_mib_s", pages[p]);
		report(m, mc_t, reps);
		printf("# BENCH sweep_p%u_save_syscalls_per_mib %.6g %.6g %.6g\n",
		       pages[p], sc, sc, sc);
		printf("# BENCH sweep_p%u_resume_syscalls_per_mib %.6g %.6g %.6g\n",
		       pages[p], rc, rc, rc);
		inst_del(&src);
		inst_del(&dst);
	}
	set_section_pages(256);
	free(stream);
	free(copy);
	return 0;
}

/* ------------------------------------------------------------------ */
/* 3. convergence                                                      */
/* ------------------------------------------------------------------ */

#define CONV_MAX_PASSES	30

/* A sink that copies each chunk into a fixed ring, as into a socket buffer. */
#define RING_SIZE	(16u << 20)

static int ring_sink(void *opaque, const void *buf, size_t len)
{
	static size_t pos;
	uint8_t *ring = opaque;

	if (len > RING_SIZE)
		return -EMSGSIZE;
	if (pos + len > RING_SIZE)
		pos = 0;
	memcpy(ring + pos, buf, len);
	pos += len;
	return 0;
}

/* Copy chunks until @limit bytes went or pending reads 0. */
static int pass(struct mig_dev *d, uint8_t *ring, uint64_t limit,
		struct xfer *x, uint64_t *pending)
{
	uint64_t start = x->bytes;
	int64_t n;

	for (;;) {
		n = mig_save_chunk(d, MIG_PATH_MMAP, ring_sink, ring);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			*pending = 0;
			return 0;
		}
		x->bytes += n;
		if (limit && x->bytes - start >= limit)
			break;
	}
	return mig_get_pending(d, pending);
}

static int bench_converge(void)
{
	static const unsigned int rates[] = {
		0, 1000, 4000, 16000, 32000, 48000, 64000, 128000 };
	double passes[MAX_REPS], total[MAX_REPS], sc_bytes[MAX_REPS];
	double sc_secs[MAX_REPS], conv[MAX_REPS], eff[MAX_REPS];
	uint8_t *ring = big_alloc(RING_SIZE);
	char m[64], buf[64];
	struct inst src;
	unsigned int r;
	int i;

	set_section_pages(256);
	printf("# converge: large type, mmap, at most %d pre-copy passes, %d reps per rate\n",
	       CONV_MAX_PASSES, reps);
	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		inst_new(&src, "large");
		for (i = 0; i < reps; i++) {
			uint64_t pending, c0, c1;
			struct xfer x = { 0 };
			unsigned int np = 0;
			double t0, t1, t2;

			snprintf(buf, sizeof(buf), "%u", rates[r]);
			CHECK(mig_attr_write(src.uuid, "engine_rate", buf));
			usleep(200000);
			CHECK(mig_attr_read(src.uuid, "engine_count", buf,
					    sizeof(buf)));
			c0 = strtoull(buf, NULL, 10);
			t0 = now();
			CHECK(mig_set_state(&src.dev, MIG_STATE_PRECOPY));
			CHECK(mig_get_pending(&src.dev, &pending));
			while (pending && np < CONV_MAX_PASSES) {
				np++;
				CHECK(pass(&src.dev, ring, pending, &x,
					   &pending));
				if (pending < src.dev.section_size)
					break;
			}
			CHECK(mig_attr_read(src.uuid, "engine_count", buf,
					    sizeof(buf)));
			c1 = strtoull(buf, NULL, 10);
			t1 = now();
			conv[i] = pending < src.dev.section_size;
			{
				uint64_t before = x.bytes;

				CHECK(mig_set_state(&src.dev,
						    MIG_STATE_SAVING));
				CHECK(pass(&src.dev, ring, 0, &x, &pending));
				CHECK(mig_set_state(&src.dev, MIG_STATE_STOP));
				sc_bytes[i] = x.bytes - before;
			}
			t2 = now();
			passes[i] = np;
			total[i] = t2 - t0;
			sc_secs[i] = t2 - t1;
			eff[i] = t1 > t0 ? (c1 - c0) / (t1 - t0) : 0;
			/* back to RUNNING for the next rep */
			CHECK(mig_set_state(&src.dev, MIG_STATE_RUNNING));
		}
		CHECK(mig_attr_write(src.uuid, "engine_rate", "0"));
		snprintf(m, sizeof(m), "conv_r%u_passes", rates[r]);
		report(m, passes, reps);
		snprintf(m, sizeof(m), "conv_r%u_total_s", rates[r]);
		report(m, total, reps);
		snprintf(m, sizeof(m), "conv_r%u_stopcopy_bytes", rates[r]);
		report(m, sc_bytes, reps);
		snprintf(m, sizeof(m), "conv_r%u_stopcopy_s", rates[r]);
		report(m, sc_secs, reps);
		snprintf(m, sizeof(m), "conv_r%u_converged", rates[r]);
		report(m, conv, reps);
		snprintf(m, sizeof(m), "conv_r%u_engine_pages_s", rates[r]);
		report(m, eff, reps);
		inst_del(&src);
	}
	free(ring);
	return 0;
}

/* ------------------------------------------------------------------ */
/* 4. scale                                                            */
/* ------------------------------------------------------------------ */

struct pair {
	struct inst src, dst;
	uint64_t bytes;
	int err;
};

static int fwd_sink(void *opaque, const void *buf, size_t len)
{
	struct mig_dev *dst = opaque;

	return mig_resume_write(dst, MIG_PATH_MMAP, buf, len, 0);
}

/* Stop-and-copy migration of one pair, chunk by chunk, mmap to mmap. */
static void *migrate_pair(void *arg)
{
	struct pair *p = arg;
	struct mig_save_stats st = { 0 };
	int ret;

	ret = mig_set_state(&p->dst.dev, MIG_STATE_RESUMING);
	if (!ret)
		ret = mig_set_state(&p->src.dev, MIG_STATE_STOP);
	if (!ret)
		ret = mig_set_state(&p->src.dev, MIG_STATE_SAVING);
	if (!ret)
		ret = mig_save_loop(&p->src.dev, MIG_PATH_MMAP, 0, fwd_sink,
				    &p->dst.dev, &st);
	if (!ret)
		ret = mig_set_state(&p->src.dev, MIG_STATE_STOP);
	if (!ret)
		ret = mig_set_state(&p->dst.dev, MIG_STATE_STOP);
	p->bytes = st.bytes;
	p->err = ret;
	return NULL;
}

/* Drop clean caches, so that MemAvailable moves with our allocations only. */
static void drop_caches(void)
{
	sync();
	mig_sysfs_write("/proc/sys/vm/drop_caches", "3");
}

/* A /proc/meminfo field in KiB. */
static long meminfo(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int bench_scale(void)
{
	static const int counts[] = { 1, 8, 32 };
	double agg[MAX_REPS], avail[MAX_REPS], slab[MAX_REPS];
	double vmal[MAX_REPS];
	static struct pair pairs[MAX_INST];
	pthread_t th[MAX_INST];
	char m[64], buf[64];
	size_t mem;
	int c, i, k;

	set_section_pages(256);
	CHECK(mig_param_read("small_mem_mb", buf, sizeof(buf)));
	mem = strtoull(buf, NULL, 0) << 20;
	printf("# scale: small type (%zu MiB), stop-and-copy, one thread per pair, %d reps\n",
	       mem >> 20, reps);
	for (c = 0; c < (int)ARRAY_SIZE(counts); c++) {
		int n = counts[c];

		for (i = 0; i < reps; i++) {
			long a0, s0, v0, a1, s1, v1;
			uint64_t bytes = 0;
			double t0, t;

			drop_caches();
			a0 = meminfo("MemAvailable");
			s0 = meminfo("Slab");
			v0 = meminfo("VmallocUsed");
			for (k = 0; k < n; k++) {
				inst_new(&pairs[k].src, "small");
				inst_new(&pairs[k].dst, "small");
			}
			drop_caches();
			a1 = meminfo("MemAvailable");
			s1 = meminfo("Slab");
			v1 = meminfo("VmallocUsed");
			/* KiB per instance beyond its device memory */
			avail[i] = (double)(a0 - a1) / (2 * n) - (mem >> 10);
			slab[i] = (double)(s1 - s0) / (2 * n);
			vmal[i] = (double)(v1 - v0) / (2 * n) - (mem >> 10);
			for (k = 0; k < n; k++)
				fill_memory(&pairs[k].src, mem);
			t0 = now();
			for (k = 0; k < n; k++)
				if (pthread_create(&th[k], NULL, migrate_pair,
						   &pairs[k]))
					die("pthread_create", errno);
			for (k = 0; k < n; k++) {
				pthread_join(th[k], NULL);
				if (pairs[k].err)
					die("migrate_pair", pairs[k].err);
				bytes += pairs[k].bytes;
			}
			t = now() - t0;
			agg[i] = mibs(bytes, t);
			for (k = 0; k < n; k++) {
				inst_del(&pairs[k].src);
				inst_del(&pairs[k].dst);
			}
		}
		snprintf(m, sizeof(m), "scale_n%d_aggregate_mib_s", n);
		report(m, agg, reps);
		snprintf(m, sizeof(m), "scale_n%d_memavail_kib_per_inst", n);
		report(m, avail, reps);
		snprintf(m, sizeof(m), "scale_n%d_slab_kib_per_inst", n);
		report(m, slab, reps);
		snprintf(m, sizeof(m), "scale_n%d_vmalloc_kib_per_inst", n);
		report(m, vmal, reps);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* 5. zero-copy: every protocol and path side by side                  */
/* ------------------------------------------------------------------ */

/* A counter of the instance's debugfs stats; 0 without debugfs. */
static uint64_t dbg_stat(const char *uuid, const char *name)
{
	char path[128], line[128];
	size_t len = strlen(name);
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/mig_mdev/%s/stats",
		 uuid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ' ')
			v = strtoull(line + len + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Bytes the driver copied for the stream so far (save side). */
static uint64_t drv_copied(const char *uuid)
{
	return dbg_stat(uuid, "save_copied") + dbg_stat(uuid, "user_out");
}

/* Stop-copy through a v2 data_fd: read() straight into @out, by @piece. */
static void save_v2(struct mig_dev *d, uint8_t *out, size_t cap,
		    size_t piece, struct xfer *x)
{
	double t0;
	int fd;
	ssize_t n;

	memset(x, 0, sizeof(*x));
	CHECK(libmig_use(d, LIBMIG_PROTO_V2));
	CHECK(libmig_stop(d));
	t0 = now();
	CHECK(libmig_stopcopy_begin(d));
	do {
		n = read(d->data_fd, out + x->bytes,
			 cap - x->bytes < piece ? cap - x->bytes : piece);
		if (n < 0)
			die("read data_fd", errno);
		x->bytes += n;
		x->syscalls++;
	} while (n);
	CHECK(libmig_save_end(d));
	x->secs = now() - t0;
	CHECK(libmig_v2_set_state(d, VFIO_DEVICE_STATE_RUNNING, &fd));
}

/* Resume through a v2 data_fd: write() by @piece. */
static void resume_v2(struct mig_dev *d, const uint8_t *in, size_t len,
		      size_t piece, struct xfer *x)
{
	size_t off;
	double t0;
	int fd;
	ssize_t n;

	memset(x, 0, sizeof(*x));
	CHECK(libmig_use(d, LIBMIG_PROTO_V2));
	t0 = now();
	CHECK(libmig_resume_begin(d));
	for (off = 0; off < len; off += n) {
		n = write(d->data_fd, in + off,
			  len - off < piece ? len - off : piece);
		if (n <= 0)
			die("write data_fd", n < 0 ? errno : EIO);
	}
	CHECK(libmig_resume_end(d, false));
	x->secs = now() - t0;
	x->bytes = len;
	CHECK(libmig_v2_set_state(d, VFIO_DEVICE_STATE_RUNNING, &fd));
}

/*
 * The data path of v1 (mmap with a copying device, mmap with the window,
 * pread) and v2 (data_fd read/write) on the same large type, same section
 * size and piece size, each timed next to a memcpy of the same bytes.
 * Copies per stream byte are counted, not timed: the driver's from its
 * debugfs counters, the client's from what this loop itself copies (one
 * memcpy a byte through a mapping, none for pread and read(), which land
 * in the final buffer).
 */
/* The figures of bench_zerocopy(), in the order they are reported. */
enum zc_fig {
	ZC_SAVE_COPY, ZC_SAVE_ZC, ZC_RESUME_ZC, ZC_SAVE_V2, ZC_RESUME_V2,
	ZC_CPB_COPY, ZC_CPB_ZC, ZC_CPB_PREAD, ZC_CPB_V2, ZC_SC_COPY, ZC_SC_ZC,
	ZC_NR
};

static const char *const zc_names[ZC_NR] = {
	"save_copy_ratio", "save_zerocopy_ratio", "resume_zerocopy_ratio",
	"save_v2_ratio", "resume_v2_ratio", "copies_per_byte_v1_mmap_copy",
	"copies_per_byte_v1_mmap_zerocopy", "copies_per_byte_v1_pread",
	"copies_per_byte_v2_read", "syscalls_per_mib_v1_mmap_copy",
	"syscalls_per_mib_v1_mmap_zerocopy",
};

/* Copies per stream byte: the driver's since @c0, plus @client's. */
static double zc_copies(const char *uuid, uint64_t c0, uint64_t client,
			uint64_t bytes)
{
	return (double)(drv_copied(uuid) - c0 + client) / bytes;
}

static int bench_zerocopy(void)
{
	double v[ZC_NR][MAX_REPS];
	struct inst cp, zc, dst;
	uint8_t *stream, *copy;
	size_t mem, cap, piece;
	struct xfer x;
	uint64_t c0;
	char buf[64];
	int i, f;

	set_section_pages(256);
	CHECK(mig_param_write("zerocopy", "1"));
	inst_new(&zc, "large");
	inst_new(&dst, "large");
	CHECK(mig_param_write("zerocopy", "0"));
	inst_new(&cp, "large");
	if (!zc.dev.window_size)
		die("zerocopy: no window", ENODEV);
	CHECK(mig_param_read("large_mem_mb", buf, sizeof(buf)));
	mem = strtoull(buf, NULL, 0) << 20;
	cap = mem + (mem >> 4) + (1 << 20);
	piece = cp.dev.section_size;
	stream = big_alloc(cap);
	copy = big_alloc(cap);
	fill_memory(&cp, mem);
	fill_memory(&zc, mem);
	printf("# zerocopy: large type (%zu MiB), section and v2 piece %zu KiB, %d reps\n",
	       mem >> 20, piece >> 10, reps);

	for (i = 0; i < reps; i++) {
		double mc = memcpy_secs(copy, stream, mem, piece);

		/* v1 mmap, copying device; then pread */
		c0 = drv_copied(cp.uuid);
		save_stopped(&cp.dev, MIG_PATH_MMAP, stream, cap, &x);
		v[ZC_SAVE_COPY][i] = mc * x.bytes / mem / x.secs;
		v[ZC_CPB_COPY][i] = zc_copies(cp.uuid, c0, x.bytes, x.bytes);
		v[ZC_SC_COPY][i] = x.syscalls / (x.bytes / 1048576.0);
		c0 = drv_copied(cp.uuid);
		save_stopped(&cp.dev, MIG_PATH_PREAD, stream, cap, &x);
		v[ZC_CPB_PREAD][i] = zc_copies(cp.uuid, c0, 0, x.bytes);

		/* v1 mmap, zero-copy device, and the resume of its stream */
		c0 = drv_copied(zc.uuid);
		mc = memcpy_secs(copy, stream, x.bytes, piece);
		save_stopped(&zc.dev, MIG_PATH_MMAP, stream, cap, &x);
		v[ZC_SAVE_ZC][i] = mc / x.secs;
		v[ZC_CPB_ZC][i] = zc_copies(zc.uuid, c0, x.bytes, x.bytes);
		v[ZC_SC_ZC][i] = x.syscalls / (x.bytes / 1048576.0);
		mc = memcpy_secs(copy, stream, x.bytes, piece);
		resume(&dst.dev, MIG_PATH_MMAP, stream, x.bytes, &x);
		v[ZC_RESUME_ZC][i] = mc / x.secs;

		/* v2 read() and write(): v1 lets go of both devices first */
		CHECK(mig_set_state(&cp.dev, MIG_STATE_RUNNING));
		CHECK(mig_set_state(&dst.dev, MIG_STATE_RUNNING));
		c0 = drv_copied(cp.uuid);
		mc = memcpy_secs(copy, stream, x.bytes, piece);
		save_v2(&cp.dev, stream, cap, piece, &x);
		v[ZC_SAVE_V2][i] = mc / x.secs;
		v[ZC_CPB_V2][i] = zc_copies(cp.uuid, c0, 0, x.bytes);
		mc = memcpy_secs(copy, stream, x.bytes, piece);
		resume_v2(&dst.dev, stream, x.bytes, piece, &x);
		v[ZC_RESUME_V2][i] = mc / x.secs;
		printf("# rep %d: save v1 mmap copy %.2f zero-copy %.2f v2 %.2f, resume v1 %.2f v2 %.2f of memcpy\n",
		       i + 1, v[ZC_SAVE_COPY][i], v[ZC_SAVE_ZC][i],
		       v[ZC_SAVE_V2][i], v[ZC_RESUME_ZC][i], v[ZC_RESUME_V2][i]);
	}
	for (f = 0; f < ZC_NR; f++)
		report(zc_names[f], v[f], reps);
	inst_del(&cp);
	inst_del(&zc);
	inst_del(&dst);
	free(stream);
	free(copy);
	return 0;
}

int main(int argc, char **argv)
{
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			reps = atoi(argv[++i]);
			if (reps < 1 || reps > MAX_REPS) {
				fprintf(stderr, "--reps: 1..%d\n", MAX_REPS);
				return 1;
			}
		} else {
			fprintf(stderr, "unknown argument %s\n", argv[i]);
			return 1;
		}
	}
	if (argc < 2) {
		fprintf(stderr, "usage: bench datapath|sweep|converge|scale|zerocopy [--reps N]\n");
		return 1;
	}
	if (!strcmp(argv[1], "datapath"))
		return bench_datapath();
	if (!strcmp(argv[1], "sweep"))
		return bench_sweep();
	if (!strcmp(argv[1], "converge"))
		return bench_converge();
	if (!strcmp(argv[1], "scale"))
		return bench_scale();
	if (!strcmp(argv[1], "zerocopy"))
		return bench_zerocopy();
	fprintf(stderr, "unknown benchmark %s\n", argv[1]);
	return 1;
}
