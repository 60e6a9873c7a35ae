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
 *                  device memory (one copy a byte, by the client); also
 *                  the number of chunks it took
 *   resume         mig_load_chunk() of 1 MiB pieces (copy and hash)
 *
 * Output: one "metric value" line per sample; scripts/bench.sh takes the
 * median and the spread of each metric.
 *
 *   stream_bench [--reps N] [--mib M]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mig.h"

#define SB_SECTION	(1 << 20)

static double sb_secs(void)
{
	struct timespec t;

	return clock_gettime(CLOCK_MONOTONIC, &t) ? 0 : t.tv_sec + t.tv_nsec * 1e-9;
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
	if (mig_dev_init(&st->dev, &st->lock, type->mem_size))
		exit(1);
	return st;
}

/* A pattern in every page, written the way a BAR2 write is. */
static void sb_fill(struct mig_mdev_state *st)
{
	u64 buf[MIG_PAGE_SIZE / 8], off, i;

	mig_lock(st);
	for (off = 0; off < st->type->mem_size; off += MIG_PAGE_SIZE) {
		for (i = 0; i < ARRAY_SIZE(buf); i++)
			buf[i] = (off + i * 8) * 0x9e3779b97f4a7c15ULL;
		mig_dev_mem_write(&st->dev, off, buf, sizeof(buf));
	}
	mig_unlock(st);
}

static double sb_memcpy(u8 *dst, const u8 *src, size_t len)
{
	double t0 = sb_secs();
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < SB_SECTION ? len - off : SB_SECTION;
		memcpy(dst + off, src + off, n);
	}
	__asm__ __volatile__("" : : "r"(dst) : "memory");
	return sb_secs() - t0;
}

/*
 * A whole stop-and-copy save into @out; returns its length, and in
 * *@chunks how many pieces it took (a v1 client's chunks).
 */
static size_t sb_save(struct mig_mdev_state *st, u8 *out, u8 *section,
		      bool inplace, double *secs, size_t *chunks)
{
	size_t len = 0, n;
	double t0;
	u64 off;

	mig_lock(st);
	t0 = sb_secs();
	mig_save_open(st, true);
	*chunks = 0;
	while (mig_save_pending(st)) {
		++*chunks;
		if (inplace) {
			n = mig_save_fill_inplace(st, section, SB_SECTION,
						  &off);
			/* the client's copy, from where data_offset points */
			memcpy(out + len, off == U64_MAX ? section :
			       mig_dev_mem_peek(&st->dev, off), n);
		} else {
			n = mig_save_fill(st, out + len, SB_SECTION);
		}
		len += n;
	}
	mig_save_close(st);
	*secs = sb_secs() - t0;
	mig_unlock(st);
	return len;
}

static double sb_resume(struct mig_mdev_state *st, const u8 *in, size_t len)
{
	size_t off, n;
	double t0;

	mig_lock(st);
	t0 = sb_secs();
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
	t0 = sb_secs() - t0;
	mig_unlock(st);
	return t0;
}

int main(int argc, char **argv)
{
	struct mig_type type = { .stream_type = MIG_TYPE_LARGE };
	struct mig_mdev_state *src, *dst;
	unsigned int mib = 64;
	u8 *out, *copy, *section;
	int reps = 5, i;
	size_t cap, len, chunks;
	double t, mc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = atoi(argv[++i]);
		else
			reps = 0;
	}
	if (reps < 1 || !mib || mib > 1024) {
		fprintf(stderr, "usage: stream_bench [--reps N] [--mib M (1-1024)]\n");
		return 1;
	}
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
	for (i = 0; i < reps; i++) {
		len = sb_save(src, out, section, false, &t, &chunks);
		mc = sb_memcpy(copy, out, len);
		printf("native_memcpy_mib_s %g\n", len / 1048576.0 / mc);
		printf("native_save_copy_ratio %g\n", mc / t);
		len = sb_save(src, out, section, true, &t, &chunks);
		mc = sb_memcpy(copy, out, len);
		printf("native_save_inplace_ratio %g\n", mc / t);
		printf("native_save_inplace_chunks %zu\n", chunks);
		t = sb_resume(dst, out, len);
		mc = sb_memcpy(copy, out, len);
		printf("native_resume_ratio %g\n", mc / t);
	}
	return 0;
}
