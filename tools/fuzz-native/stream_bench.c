// SPDX-License-Identifier: GPL-2.0
/*
 * stream_bench: the stream code at native speed (issue 15).  The module's
 * mig_stream.c, mig_dev.c, mig_cfg.c and mig_state.c, built for user space
 * exactly as the native fuzzer builds them (include/kshim.h) but optimised
 * and without sanitizers, timed on the host CPU against memcpy of the same
 * bytes in pieces of the same size:
 *
 *   save copy      mig_save_fill() into a 1 MiB section (one copy a byte)
 *   save in place  mig_save_fill_inplace() and the client's copy out of
 *                  device memory (one copy a byte, by the client)
 *   resume         mig_load_chunk() of 1 MiB pieces (copy and hash)
 *
 * Output: "# BENCH metric median min max" lines, as tools/bench does.
 *
 *   stream_bench [--reps N] [--mib M]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mig.h"

#define SB_SECTION	(1 << 20)
#define SB_MAX_REPS	32

/* ---- what the rest of the module defines (as stream_fuzz.c) ---- */

unsigned int mig_section_pages = 256;
unsigned int mig_pci_vendor = MIG_MDEV_PCI_VENDOR;
unsigned int mig_pci_device = MIG_MDEV_PCI_DEVICE;
unsigned int mig_pci_class = MIG_MDEV_PCI_CLASS;
unsigned int mig_engine_max_rate = 131072;
struct workqueue_struct *mig_wq;

void mig_region_clear(struct mig_mdev_state *st)
{
}

static double sb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sb_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void sb_report(const char *metric, double *v, int n)
{
	qsort(v, n, sizeof(*v), sb_cmp);
	printf("# BENCH %s %.6g %.6g %.6g\n", metric, v[n / 2], v[0], v[n - 1]);
}

static struct mig_mdev_state *sb_dev_new(struct mig_type *type)
{
	struct mig_mdev_state *st = calloc(1, sizeof(*st));

	if (!st)
		exit(1);
	st->type = type;
	st->irq_index = -1;
	st->mig_state = MIG_STATE_RUNNING;
	mutex_init(&st->lock);
	if (mig_dev_init(st))
		exit(1);
	return st;
}

/* A pattern in every page, written the way a BAR2 write is. */
static void sb_fill(struct mig_mdev_state *st)
{
	u64 buf[MIG_PAGE_SIZE / 8], off, i;

	mutex_lock(&st->lock);
	for (off = 0; off < st->type->mem_size; off += MIG_PAGE_SIZE) {
		for (i = 0; i < ARRAY_SIZE(buf); i++)
			buf[i] = (off + i * 8) * 0x9e3779b97f4a7c15ULL;
		mig_dev_mem_write(st, off, buf, sizeof(buf));
	}
	mutex_unlock(&st->lock);
}

static double sb_memcpy(u8 *dst, const u8 *src, size_t len)
{
	double t0 = sb_now();
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < SB_SECTION ? len - off : SB_SECTION;
		memcpy(dst + off, src + off, n);
	}
	__asm__ __volatile__("" : : "r"(dst) : "memory");
	return sb_now() - t0;
}

/* A whole stop-and-copy save into @out; returns its length. */
static size_t sb_save(struct mig_mdev_state *st, u8 *out, u8 *section,
		      bool inplace, double *secs)
{
	size_t len = 0, n;
	double t0;
	u64 off;

	mutex_lock(&st->lock);
	t0 = sb_now();
	mig_save_open(st, true);
	while (mig_save_pending(st)) {
		if (inplace) {
			n = mig_save_fill_inplace(st, section, SB_SECTION,
						  &off);
			/* the client's copy, from where data_offset points */
			memcpy(out + len, off == U64_MAX ? section :
			       mig_dev_mem_peek(st, off), n);
		} else {
			n = mig_save_fill(st, out + len, SB_SECTION);
		}
		len += n;
	}
	mig_save_close(st);
	*secs = sb_now() - t0;
	mutex_unlock(&st->lock);
	return len;
}

static double sb_resume(struct mig_mdev_state *st, const u8 *in, size_t len)
{
	size_t off, n;
	double t0;

	mutex_lock(&st->lock);
	t0 = sb_now();
	mig_load_open(st);
	for (off = 0; off < len; off += n) {
		n = len - off < SB_SECTION ? len - off : SB_SECTION;
		if (mig_load_chunk(st, in + off, n)) {
			fprintf(stderr, "stream_bench: resume refused\n");
			exit(1);
		}
	}
	if (!st->load.done) {
		fprintf(stderr, "stream_bench: resume incomplete\n");
		exit(1);
	}
	mig_load_close(st);
	t0 = sb_now() - t0;
	mutex_unlock(&st->lock);
	return t0;
}

int main(int argc, char **argv)
{
	double r_sc[SB_MAX_REPS], r_si[SB_MAX_REPS], r_r[SB_MAX_REPS];
	double mc_mib[SB_MAX_REPS];
	struct mig_mdev_state *src, *dst;
	struct mig_type type = { .stream_type = MIG_TYPE_LARGE };
	unsigned int mib = 64;
	int reps = 5, i;
	u8 *out, *copy, *section;
	size_t cap, len = 0;
	double t, mc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = atoi(argv[++i]);
		else
			return fprintf(stderr, "usage: stream_bench [--reps N] [--mib M]\n"), 1;
	}
	if (reps < 1 || reps > SB_MAX_REPS || !mib || mib > 1024)
		return fprintf(stderr, "stream_bench: bad --reps or --mib\n"), 1;
	type.mem_size = (u64)mib << 20;
	src = sb_dev_new(&type);
	dst = sb_dev_new(&type);
	sb_fill(src);
	cap = type.mem_size + (type.mem_size >> 4) + (1 << 20);
	out = malloc(cap);
	copy = malloc(cap);
	section = malloc(SB_SECTION);
	if (!out || !copy || !section)
		return 1;
	memset(out, 0x5a, cap);
	memset(copy, 0x5a, cap);
	printf("# stream_bench: %u MiB of device memory, 1 MiB pieces, %d reps\n",
	       mib, reps);
	for (i = 0; i < reps; i++) {
		len = sb_save(src, out, section, false, &t);
		mc = sb_memcpy(copy, out, len);
		mc_mib[i] = len / 1048576.0 / mc;
		r_sc[i] = mc / t;
		len = sb_save(src, out, section, true, &t);
		mc = sb_memcpy(copy, out, len);
		r_si[i] = mc / t;
		t = sb_resume(dst, out, len);
		mc = sb_memcpy(copy, out, len);
		r_r[i] = mc / t;
	}
	sb_report("native_memcpy_mib_s", mc_mib, reps);
	sb_report("native_save_copy_ratio", r_sc, reps);
	sb_report("native_save_inplace_ratio", r_si, reps);
	sb_report("native_resume_ratio", r_r, reps);
	return 0;
}
