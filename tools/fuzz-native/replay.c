// SPDX-License-Identifier: GPL-2.0
/*
 * stream_fuzz_replay: the native fuzzer's harness without libFuzzer.
 *
 *   stream_fuzz_replay [--resume|--trip] FILE...  run each input once
 *   stream_fuzz_replay --make-corpus DIR   write the seed corpus into DIR/resume
 *                                          and DIR/trip
 *
 * The mode of a file is the option's, else its name's (resume-..., trip-...:
 * the seed corpus files and the reproducers of the two fuzz targets), else
 * the input's SF_ROUNDTRIP flag.
 *
 * Built with AddressSanitizer and UBSan as the fuzzer is, so a reproducer
 * (crash-*) fails here the same way, and can be run under gdb.  The seed
 * corpus is made by the harness's own round trip: programs that fill a
 * source device and save it (pre-copy, stop-and-copy, a cancelled save,
 * the large type), the streams they saved, shorter streams made from
 * those by dropping the records of zero pages (which a fresh destination
 * already has), and streams in the SF_COMPACT form (a byte a page).  Every
 * stream entry must be accepted by the resume mode, or this fails.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/mig_mdev.h>

#include "stream_fuzz.h"

/* ---- a growing byte buffer ---- */

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static void buf_put(struct buf *b, const void *src, size_t n)
{
	if (b->cap - b->len < n) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

/* @bytes bytes of @v, little endian */
static void buf_le(struct buf *b, uint32_t v, int bytes)
{
	uint8_t le[4];
	int i;

	for (i = 0; i < bytes; i++)
		le[i] = v >> (8 * i);
	buf_put(b, le, bytes);
}

static void buf_prefix(struct buf *b, uint8_t flags, uint8_t split,
		       uint16_t seed)
{
	b->len = 0;
	buf_le(b, flags, 1);
	buf_le(b, split, 1);
	buf_le(b, seed, 2);
}

/* ---- round-trip programs (enum sf_op) ---- */

static void op_mem(struct buf *b, uint32_t off, uint32_t len, uint8_t pat)
{
	buf_le(b, SF_OP_MEM, 1);
	buf_le(b, off, 4);
	buf_le(b, len - 1, 2);
	buf_le(b, pat, 1);
}

static void op_bar0(struct buf *b, uint32_t reg, uint32_t val)
{
	buf_le(b, SF_OP_BAR0, 1);
	buf_le(b, reg / 4, 1);
	buf_le(b, val, 4);
}

static void op_cfg(struct buf *b, uint8_t off, uint8_t wsel, uint32_t val)
{
	buf_le(b, SF_OP_CFG, 1);
	buf_le(b, off, 1);
	buf_le(b, wsel, 1);
	buf_le(b, val, 4);
}

static void op_arg(struct buf *b, enum sf_op op, uint32_t arg, int bytes)
{
	buf_le(b, op, 1);
	buf_le(b, arg, bytes);
}

/* Pages 0, 1, 2, 5, 6 of the small type written; registers, config. */
static void prog_fill(struct buf *b)
{
	static const uint8_t pages[] = { 0, 1, 2, 5, 6 };
	unsigned int i;

	for (i = 0; i < sizeof(pages); i++)
		op_mem(b, pages[i] * MIG_PAGE_SIZE, MIG_PAGE_SIZE, 0x11 * (i + 1));
	op_mem(b, 2 * MIG_PAGE_SIZE + 100, 3, 0);	/* a few zero bytes */
	op_bar0(b, MIG_REG_SCRATCH0, 0xdeadbeef);
	op_bar0(b, MIG_REG_SCRATCH0 + 60, 42);
	op_bar0(b, MIG_REG_ENGINE_SEED, 7);
	op_bar0(b, MIG_REG_CONTROL, MIG_CTRL_IRQ_EN);
	op_bar0(b, MIG_REG_DOORBELL, 1);
	op_cfg(b, 0x04, 1, 0x0006);	/* PCI_COMMAND: memory, master */
	op_cfg(b, 0x3c, 0, 0x0b);	/* PCI_INTERRUPT_LINE */
	op_cfg(b, 0x48, 2, 0xfee00000);	/* MSI address */
}

/* Pre-copy with the engine running, then stop-and-copy. */
static void prog_precopy(struct buf *b)
{
	op_mem(b, 0, 2 * MIG_PAGE_SIZE, 0x5a);
	op_arg(b, SF_OP_ENGINE, 400, 2);
	op_arg(b, SF_OP_PRECOPY, 0, 0);
	op_arg(b, SF_OP_CHUNK, 4096 - 1, 2);
	op_arg(b, SF_OP_TICK, 150, 1);		/* ~10 ms: ~4 pages */
	op_arg(b, SF_OP_CHUNK, 8192 - 1, 2);
	op_mem(b, 3 * MIG_PAGE_SIZE + 10, 100, 0x33);
	op_arg(b, SF_OP_CHUNK, 16384 - 1, 2);
	op_arg(b, SF_OP_CHUNK, 16384 - 1, 2);
	op_arg(b, SF_OP_TICK, 80, 1);
	op_arg(b, SF_OP_CHUNK, 5000, 2);
	op_arg(b, SF_OP_SAVING, 0, 0);
	op_arg(b, SF_OP_CHUNK, 99, 2);
}

/* A save cancelled, memory written, a new save. */
static void prog_cancel(struct buf *b)
{
	op_arg(b, SF_OP_PRECOPY, 0, 0);
	op_arg(b, SF_OP_CHUNK, 999, 2);
	op_arg(b, SF_OP_CANCEL, 0, 0);
	op_mem(b, 7 * MIG_PAGE_SIZE - 50, 100, 0x77);
	op_arg(b, SF_OP_SAVING, 0, 0);
	op_arg(b, SF_OP_CHUNK, 12345, 2);
}

/* The large type: pages on both sides of a 64-page run, pre-copy. */
static void prog_large(struct buf *b)
{
	op_mem(b, 0, 100, 0x01);
	op_mem(b, 63 * MIG_PAGE_SIZE, MIG_PAGE_SIZE + 1, 0x02);
	op_mem(b, 71 * MIG_PAGE_SIZE + 4000, 96, 0x03);
	op_bar0(b, MIG_REG_SCRATCH0 + 4, 1);
	op_arg(b, SF_OP_PRECOPY, 0, 0);
	op_arg(b, SF_OP_CHUNK, 16384 - 1, 2);
	op_mem(b, 10 * MIG_PAGE_SIZE, 1, 0x04);
	op_arg(b, SF_OP_SAVING, 0, 0);
}

/* Registers and config only: memory stays zero. */
static void prog_regs(struct buf *b)
{
	op_bar0(b, MIG_REG_SCRATCH0 + 8, 0x12345678);
	op_cfg(b, 0x0c, 0, 0x10);	/* PCI_CACHE_LINE_SIZE */
}

/*
 * The stream @s without the records of pages that are zero at its end: a
 * fresh destination has them already, so the END digest still holds.  Each
 * page that is not zero gets a record of its own; END's length is redone.
 */
static void sparse(const uint8_t *s, size_t len, unsigned int npages,
		   struct buf *out)
{
	uint8_t *mem = calloc(npages, MIG_PAGE_SIZE);
	static const uint8_t zero[MIG_PAGE_SIZE];
	size_t pos = sizeof(struct mig_stream_header);
	struct mig_rec_header h;
	struct mig_rec_pages p;
	struct mig_rec_end e;
	unsigned int page;

	buf_put(out, s, pos);
	for (;;) {
		memcpy(&h, s + pos, sizeof(h));
		if (le32toh(h.type) != MIG_REC_PAGES)
			break;
		memcpy(&p, s + pos + sizeof(h), sizeof(p));
		memcpy(mem + (size_t)le32toh(p.first) * MIG_PAGE_SIZE,
		       s + pos + sizeof(h) + sizeof(p),
		       (size_t)le32toh(p.count) * MIG_PAGE_SIZE);
		pos += sizeof(h) + le32toh(h.len);
	}
	for (page = 0; page < npages; page++) {
		if (!memcmp(mem + (size_t)page * MIG_PAGE_SIZE, zero,
			    MIG_PAGE_SIZE))
			continue;
		h.type = htole32(MIG_REC_PAGES);
		h.len = htole32(sizeof(p) + MIG_PAGE_SIZE);
		p.first = htole32(page);
		p.count = htole32(1);
		buf_put(out, &h, sizeof(h));
		buf_put(out, &p, sizeof(p));
		buf_put(out, mem + (size_t)page * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
	}
	/* CONFIG, REGS, ENGINE and END as they were; END's length redone */
	buf_put(out, s + pos, len - pos);
	memcpy(&e, out->p + out->len - sizeof(e), sizeof(e));
	e.stream_len = htole64(out->len - sizeof(h) - sizeof(e));
	memcpy(out->p + out->len - sizeof(e), &e, sizeof(e));
	free(mem);
}

/* Every page of the small or large type written whole with a pattern. */
static void prog_pages(struct buf *b, unsigned int npages)
{
	unsigned int page;

	for (page = 0; page < npages; page++)
		op_mem(b, page * MIG_PAGE_SIZE, MIG_PAGE_SIZE,
		       page % 3 ? 0x40 + page : 0);
	op_bar0(b, MIG_REG_SCRATCH0 + 12, npages);
}

static void prog_pages_small(struct buf *b)
{
	prog_pages(b, SF_SMALL_PAGES);
}

static void prog_pages_large(struct buf *b)
{
	prog_pages(b, SF_LARGE_PAGES);
}

/* With SF_VIA: a save chunk from producer @via, room @room, at most @max. */
static void op_chunk_via(struct buf *b, uint32_t room, enum sf_via via,
			 uint32_t max)
{
	op_arg(b, SF_OP_CHUNK, room - 1, 2);
	buf_le(b, via, 1);
	buf_le(b, max - 1, 2);
}

/*
 * SF_VIA, the large type: the first pass (one run of 72 pages) through
 * every producer, pages cut mid-page by a copy and picked up in place,
 * then a long and a short run written again, in stop-and-copy.
 */
static void prog_via_large(struct buf *b)
{
	op_mem(b, 0, 16 * MIG_PAGE_SIZE, 0x21);
	op_mem(b, 40 * MIG_PAGE_SIZE, 8 * MIG_PAGE_SIZE, 0x22);
	op_arg(b, SF_OP_ENGINE, 300, 2);
	op_arg(b, SF_OP_PRECOPY, 0, 0);
	op_chunk_via(b, 100, SF_VIA_INPLACE, 1);	/* headers, then stops */
	op_chunk_via(b, 100, SF_VIA_INPLACE, 1);	/* the rest in place */
	op_arg(b, SF_OP_TICK, 100, 1);
	op_chunk_via(b, 5000, SF_VIA_FILL, 1);		/* ends mid-page */
	op_chunk_via(b, 64, SF_VIA_SPAN, 10000);	/* the run in place */
	op_mem(b, 20 * MIG_PAGE_SIZE, 16 * MIG_PAGE_SIZE, 0x23);
	op_mem(b, 36 * MIG_PAGE_SIZE, 4 * MIG_PAGE_SIZE, 0x25);
	op_mem(b, 60 * MIG_PAGE_SIZE + 7, 3, 0x24);
	op_chunk_via(b, 6000, SF_VIA_FILL, 1);
	op_chunk_via(b, 3000, SF_VIA_INPLACE, 1);	/* up to a page */
	op_chunk_via(b, 3000, SF_VIA_INPLACE, 1);	/* in place */
	op_arg(b, SF_OP_TICK, 50, 1);
	op_chunk_via(b, 16, SF_VIA_SPAN, 1);
	op_chunk_via(b, 16384, SF_VIA_SPAN, 4097);
	op_mem(b, 50 * MIG_PAGE_SIZE, 16 * MIG_PAGE_SIZE, 0x26);
	op_mem(b, 66 * MIG_PAGE_SIZE + 1, 2, 0x27);
	op_arg(b, SF_OP_SAVING, 0, 0);
	op_chunk_via(b, 40, SF_VIA_SPAN, 7);
	op_chunk_via(b, 40, SF_VIA_INPLACE, 1);
	op_chunk_via(b, 9000, SF_VIA_FILL, 1);
}

/* SF_VIA, the small type: runs too short to go in place, engine running. */
static void prog_via_small(struct buf *b)
{
	op_mem(b, 0, 3 * MIG_PAGE_SIZE, 0x31);
	op_mem(b, 5 * MIG_PAGE_SIZE + 9, 200, 0x32);
	op_arg(b, SF_OP_ENGINE, 2000, 2);
	op_arg(b, SF_OP_PRECOPY, 0, 0);
	op_chunk_via(b, 10, SF_VIA_SPAN, 100);		/* the room bounds a copy */
	op_chunk_via(b, 4096, SF_VIA_INPLACE, 1);
	op_arg(b, SF_OP_TICK, 200, 1);
	op_chunk_via(b, 100, SF_VIA_SPAN, 6000);
	op_chunk_via(b, 1, SF_VIA_SPAN, 3);
	op_chunk_via(b, 8192, SF_VIA_INPLACE, 1);
	op_arg(b, SF_OP_TICK, 200, 1);
	op_chunk_via(b, 700, SF_VIA_FILL, 1);
	op_arg(b, SF_OP_SAVING, 0, 0);
}

/* SF_VIA, the large type, straight to stop-and-copy: the seed's producers. */
static void prog_via_stop(struct buf *b)
{
	prog_pages_large(b);
	op_arg(b, SF_OP_SAVING, 0, 0);
	op_chunk_via(b, 30, SF_VIA_SPAN, 5);
}

/* The pattern byte of a page that sf_pattern() made, or -1. */
static int page_pattern(const uint8_t *page)
{
	static uint8_t want[MIG_PAGE_SIZE];
	int p;

	for (p = 0; p < 256; p++) {
		sf_pattern(want, sizeof(want), p);
		if (!memcmp(page, want, sizeof(want)))
			return p;
	}
	return -1;
}

/* The stream @s in SF_COMPACT form: each page's data as its pattern byte. */
static void compact(const uint8_t *s, size_t len, struct buf *out)
{
	size_t pos = sizeof(struct mig_stream_header);
	struct mig_rec_header h;
	struct mig_rec_pages p;
	uint32_t i;
	int pat;

	buf_put(out, s, pos);
	while (pos < len) {
		memcpy(&h, s + pos, sizeof(h));
		if (le32toh(h.type) != MIG_REC_PAGES) {
			buf_put(out, s + pos, sizeof(h) + le32toh(h.len));
			pos += sizeof(h) + le32toh(h.len);
			continue;
		}
		memcpy(&p, s + pos + sizeof(h), sizeof(p));
		buf_put(out, s + pos, sizeof(h) + sizeof(p));
		pos += sizeof(h) + sizeof(p);
		for (i = 0; i < le32toh(p.count); i++) {
			pat = page_pattern(s + pos);
			if (pat < 0) {
				fprintf(stderr, "compact: a page that is no pattern\n");
				exit(1);
			}
			buf_le(out, pat, 1);
			pos += MIG_PAGE_SIZE;
		}
	}
}

/* @name is MODE-WHAT: the file goes to @dir/MODE/ */
static void write_file(const char *dir, const char *name, const struct buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%.*s/%s", dir,
		 (int)strcspn(name, "-"), name, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b->p, 1, b->len, f) != b->len || fclose(f)) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	printf("  %.*s/%-28s %6zu bytes\n", (int)strcspn(name, "-"), name, name,
	       b->len);
}

static void mkdir_p(const char *dir, const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (mkdir(path, 0755) && errno != EEXIST) {
		fprintf(stderr, "cannot make %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* Run a program in round-trip mode; the stream it saved goes to @stream. */
static void roundtrip(const char *dir, const char *name, uint8_t flags,
		      void (*prog)(struct buf *), struct buf *stream)
{
	struct sf_result res;
	struct buf b = { 0 };

	buf_prefix(&b, SF_ROUNDTRIP | flags, SF_SPLIT_RANDOM, 1);
	prog(&b);
	write_file(dir, name, &b);
	sf_run(b.p, b.len, SF_MODE_TRIP, &res, 1);
	stream->len = 0;
	buf_put(stream, res.stream, res.stream_len);
	free(res.stream);
	free(b.p);
}

/* A resume-mode entry; the harness must accept its stream. */
static void resume(const char *dir, const char *name, uint8_t flags,
		   uint8_t split, uint16_t seed, const struct buf *stream)
{
	struct sf_result res;
	struct buf b = { 0 };

	buf_prefix(&b, flags, split, seed);
	buf_put(&b, stream->p, stream->len);
	sf_run(b.p, b.len, SF_MODE_RESUME, &res, 0);
	if (res.sessions != 1 || res.accepted != 1 || res.rejected) {
		fprintf(stderr, "%s: not accepted (%u sessions, %u accepted, %u rejected)\n",
			name, res.sessions, res.accepted, res.rejected);
		exit(1);
	}
	write_file(dir, name, &b);
	free(b.p);
}

/*
 * A resume-mode entry of the first @len bytes of a stream: an unfinished
 * stream, short, so that mutations land on its headers rather than on page
 * data.  The harness must take every byte and not finish it.
 */
static void cut(const char *dir, const char *name, uint8_t flags,
		uint8_t split, const struct buf *stream, size_t len)
{
	struct sf_result res;
	struct buf b = { 0 };

	buf_prefix(&b, flags, split, 0);
	buf_put(&b, stream->p, len);
	sf_run(b.p, b.len, SF_MODE_RESUME, &res, 0);
	if (res.sessions != 1 || res.accepted || res.rejected) {
		fprintf(stderr, "%s: not an unfinished stream (%u sessions, %u accepted, %u rejected)\n",
			name, res.sessions, res.accepted, res.rejected);
		exit(1);
	}
	write_file(dir, name, &b);
	free(b.p);
}

static int make_corpus(const char *dir)
{
	struct buf fill = { 0 }, pre = { 0 }, large = { 0 }, regs = { 0 };
	struct buf s = { 0 }, c = { 0 };

	printf("seed corpus in %s:\n", dir);
	mkdir_p(dir, "resume");
	mkdir_p(dir, "trip");
	roundtrip(dir, "trip-fill", 0, prog_fill, &fill);
	roundtrip(dir, "trip-precopy", SF_DIRTY, prog_precopy, &pre);
	roundtrip(dir, "trip-cancel", 0, prog_cancel, &s);
	roundtrip(dir, "trip-large", SF_LARGE, prog_large, &large);
	roundtrip(dir, "trip-regs", 0, prog_regs, &regs);

	resume(dir, "resume-fill", 0, SF_SPLIT_PAGES, 1, &fill);
	resume(dir, "resume-precopy", SF_DIRTY, SF_SPLIT_MIX, 7, &pre);
	s.len = 0;
	sparse(fill.p, fill.len, SF_SMALL_PAGES, &s);
	resume(dir, "resume-sparse", SF_DIRTY, SF_SPLIT_SMALL, 3, &s);
	/* the stream header, a pages head, a few bytes of the page */
	cut(dir, "resume-cut-pages", 0, SF_SPLIT_WHOLE, &s,
	    sizeof(struct mig_stream_header) + sizeof(struct mig_rec_header) +
	    sizeof(struct mig_rec_pages) + 64);
	s.len = 0;
	sparse(regs.p, regs.len, SF_SMALL_PAGES, &s);
	resume(dir, "resume-minimal", 0, SF_SPLIT_BYTE, 0, &s);
	/* everything but END */
	cut(dir, "resume-cut-end", SF_RESET, SF_SPLIT_RANDOM, &s,
	    s.len - sizeof(struct mig_rec_header) - sizeof(struct mig_rec_end));
	s.len = 0;
	sparse(large.p, large.len, SF_LARGE_PAGES, &s);
	resume(dir, "resume-large-sparse", SF_LARGE, SF_SPLIT_RANDOM, 5, &s);

	/* compact: a byte a page, so that whole streams are short */
	roundtrip(dir, "trip-pages", 0, prog_pages_small, &s);
	compact(s.p, s.len, &c);
	resume(dir, "resume-compact-pages", SF_COMPACT, SF_SPLIT_SMALL, 9, &c);
	cut(dir, "resume-compact-cut", SF_COMPACT, SF_SPLIT_WHOLE, &c,
	    c.len - sizeof(struct mig_rec_header) - sizeof(struct mig_rec_end));
	roundtrip(dir, "trip-pages-large", SF_LARGE, prog_pages_large, &s);
	c.len = 0;
	compact(s.p, s.len, &c);
	resume(dir, "resume-compact-large", SF_COMPACT | SF_LARGE,
	       SF_SPLIT_PAGES, 3, &c);

	/* each chunk from a producer of its own: fill, in place, span */
	roundtrip(dir, "trip-via-large", SF_LARGE | SF_VIA, prog_via_large, &s);
	roundtrip(dir, "trip-via-small", SF_DIRTY | SF_VIA, prog_via_small, &s);
	roundtrip(dir, "trip-via-stop", SF_LARGE | SF_VIA, prog_via_stop, &s);

	free(fill.p);
	free(pre.p);
	free(large.p);
	free(regs.p);
	free(s.p);
	free(c.p);
	return 0;
}

/*
 * The mode of a file: forced by an option, else by its name (the fuzz
 * targets' reproducers are resume-crash-... and trip-crash-..., the seed
 * corpus files resume-... and trip-...), else by its SF_ROUNDTRIP flag.
 */
static enum sf_mode file_mode(const char *path, enum sf_mode forced)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (forced != SF_MODE_INPUT)
		return forced;
	if (!strncmp(base, "resume-", 7))
		return SF_MODE_RESUME;
	if (!strncmp(base, "trip-", 5))
		return SF_MODE_TRIP;
	return SF_MODE_INPUT;
}

static int replay(const char *path, enum sf_mode mode)
{
	struct sf_result res;
	struct buf b = { 0 };
	uint8_t tmp[65536];
	size_t n;
	bool trip;
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_put(&b, tmp, n);
	fclose(f);
	mode = file_mode(path, mode);
	trip = mode == SF_MODE_TRIP || (mode == SF_MODE_INPUT &&
					b.len >= SF_PREFIX &&
					(b.p[0] & SF_ROUNDTRIP));
	sf_run(b.p, b.len, trip ? SF_MODE_TRIP : SF_MODE_RESUME, &res, 0);
	printf("%s: %zu bytes, %s: %u sessions, %u accepted, %u chunks rejected (%u into ERROR)\n",
	       path, b.len, trip ? "round trip" : "resume", res.sessions,
	       res.accepted, res.rejected, res.errors);
	if (res.chunks)
		printf("%s: %u save chunks from a producer of their own, %u of them in place\n",
		       path, res.chunks, res.inplace);
	free(b.p);
	return 0;
}

int main(int argc, char **argv)
{
	enum sf_mode mode = SF_MODE_INPUT;
	int i = 1, ret = 0;

	if (argc == 3 && !strcmp(argv[1], "--make-corpus"))
		return make_corpus(argv[2]);
	if (i < argc && !strcmp(argv[i], "--resume")) {
		mode = SF_MODE_RESUME;
		i++;
	} else if (i < argc && !strcmp(argv[i], "--trip")) {
		mode = SF_MODE_TRIP;
		i++;
	}
	if (i >= argc || argv[i][0] == '-') {
		fprintf(stderr, "usage: %s [--resume|--trip] FILE...\n"
			"       %s --make-corpus DIR\n", argv[0], argv[0]);
		return 2;
	}
	for (; i < argc; i++)
		ret |= replay(argv[i], mode);
	return ret;
}
