/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of migration_test.c: instances, raw access to the trapped header,
 * a save and a resume that check every step, and a parser of the migration
 * stream (include/uapi/linux/mig_mdev.h) that the tests use to check what a
 * device sends and to build corrupt streams.
 *
 * Every helper returns 0 or a negative errno, as libmig does, so that a test
 * can assert the exact error.  None of them uses the harness, so they are
 * safe to call from threads.
 */
#ifndef MIGRATION_UTILS_H
#define MIGRATION_UTILS_H

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "libmig.h"

#define MT_BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define MT_BAR2		VFIO_PCI_BAR2_REGION_INDEX
#define MT_CONFIG	VFIO_PCI_CONFIG_REGION_INDEX

/* An "impossible" state value that never reads back from a device. */
#define MT_STATE_NONE	0xffffffffU

/**
 * struct mt_inst - an instance the test created and opened
 * @uuid: its UUID
 * @type: "small" or "large"
 * @d: the open device (fds are -1 when closed)
 * @created: the instance exists and must be removed
 * @mem_size: device memory, bytes (BAR0 MEM_PAGES)
 * @npages: the same in pages
 */
struct mt_inst {
	char uuid[MIG_UUID_LEN + 1];
	const char *type;
	struct mig_dev d;
	bool created;
	uint64_t mem_size;
	uint32_t npages;
};

static inline uint64_t mt_xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
static inline uint64_t mt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- */
/* Raw access to the migration region's trapped header               */
/* ---------------------------------------------------------------- */

/* One pread of @len bytes at region offset @off: 0 or -errno. */
static inline int mt_hdr_read(struct mig_dev *d, uint64_t off, void *buf,
			      size_t len)
{
	ssize_t n = pread(d->fd, buf, len, (off_t)(d->mig_offset + off));

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

static inline int mt_hdr_write(struct mig_dev *d, uint64_t off,
			       const void *buf, size_t len)
{
	ssize_t n = pwrite(d->fd, buf, len, (off_t)(d->mig_offset + off));

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

/* device_state, or MT_STATE_NONE if it cannot be read. */
static inline uint32_t mt_state(struct mig_dev *d)
{
	uint32_t s;

	if (mig_get_state(d, &s))
		return MT_STATE_NONE;
	return s;
}

/* pending_bytes, or UINT64_MAX if it cannot be read. */
static inline uint64_t mt_pending(struct mig_dev *d)
{
	uint64_t v;

	if (mig_get_pending(d, &v))
		return UINT64_MAX;
	return v;
}

static inline uint64_t mt_data_offset(struct mig_dev *d)
{
	uint64_t v;

	if (mig_get_data_offset(d, &v))
		return UINT64_MAX;
	return v;
}

static inline uint64_t mt_data_size(struct mig_dev *d)
{
	uint64_t v;

	if (mig_get_data_size(d, &v))
		return UINT64_MAX;
	return v;
}

/* ---------------------------------------------------------------- */
/* Instances                                                         */
/* ---------------------------------------------------------------- */

static inline int mt_bar0_read(struct mig_dev *d, uint32_t reg, uint32_t *val)
{
	return mig_region_pread(d, MT_BAR0, val, 4, reg);
}

static inline int mt_bar0_write(struct mig_dev *d, uint32_t reg, uint32_t val)
{
	return mig_region_pwrite(d, MT_BAR0, &val, 4, reg);
}

static inline int mt_inst_open(struct mt_inst *in)
{
	uint32_t pages;
	int ret;

	ret = mig_dev_open(&in->d, in->uuid);
	if (ret)
		return ret;
	ret = mig_dev_map(&in->d);
	if (ret)
		return ret;
	ret = mt_bar0_read(&in->d, MIG_REG_MEM_PAGES, &pages);
	if (ret)
		return ret;
	in->npages = pages;
	in->mem_size = (uint64_t)pages * MIG_PAGE_SIZE;
	return 0;
}

static inline void mt_inst_close(struct mt_inst *in)
{
	mig_dev_close(&in->d);
}

/* Marks every fd closed so that mt_inst_del() is safe at any point. */
static inline void mt_inst_init(struct mt_inst *in)
{
	memset(in, 0, sizeof(*in));
	in->d.fd = -1;
	in->d.group = -1;
	in->d.container = -1;
	in->d.mig_index = -1;
}

static inline int mt_inst_new(struct mt_inst *in, const char *type)
{
	int ret;

	mt_inst_init(in);
	in->type = type;
	ret = mig_instance_create(type, in->uuid);
	if (ret)
		return ret;
	in->created = true;
	return mt_inst_open(in);
}

/*
 * Creates an instance whose data section has @pages pages, and puts the
 * module parameter back right away (it is only read at creation).
 */
static inline int mt_inst_new_section(struct mt_inst *in, const char *type,
				      unsigned int pages)
{
	char old[32], val[32];
	int ret, ret2;

	ret = mig_param_read("section_pages", old, sizeof(old));
	if (ret)
		return ret;
	snprintf(val, sizeof(val), "%u", pages);
	ret = mig_param_write("section_pages", val);
	if (ret)
		return ret;
	mt_inst_init(in);
	in->type = type;
	ret = mig_instance_create(type, in->uuid);
	ret2 = mig_param_write("section_pages", old);
	if (ret)
		return ret;
	in->created = true;
	if (ret2)
		return ret2;
	return mt_inst_open(in);
}

static inline void mt_inst_del(struct mt_inst *in)
{
	mt_inst_close(in);
	if (in->created)
		mig_instance_remove(in->uuid);
	in->created = false;
}

static inline uint64_t mt_digest(struct mt_inst *in)
{
	uint64_t v;

	if (mig_digest(in->uuid, &v))
		return 0;
	return v;
}

static inline int mt_set_rate(struct mt_inst *in, unsigned int rate)
{
	char val[32];

	snprintf(val, sizeof(val), "%u", rate);
	return mig_attr_write(in->uuid, "engine_rate", val);
}

static inline uint64_t mt_engine_count(struct mt_inst *in)
{
	char buf[64];

	if (mig_attr_read(in->uuid, "engine_count", buf, sizeof(buf)))
		return UINT64_MAX;
	return strtoull(buf, NULL, 10);
}

/* The fill pattern of @seed for @len bytes at @off of device memory. */
static inline void mt_pattern(uint64_t seed, uint64_t off, void *buf,
			      size_t len)
{
	uint64_t *w = buf;
	uint64_t s = 0;
	size_t i;

	/* Whole pages, page aligned: one xorshift stream per page. */
	for (i = 0; i < len / 8; i++) {
		uint64_t pos = off + i * 8;

		if (!(pos % MIG_PAGE_SIZE) || i == 0) {
			s = seed * 0x9e3779b97f4a7c15ULL +
			    pos / MIG_PAGE_SIZE + 1;
			mt_xorshift(&s);
		}
		w[i] = mt_xorshift(&s);
	}
}

/*
 * Fills device memory through BAR2 with the pattern of @seed (every page
 * but every seventh, which stays zero) and the scratch registers, so that
 * streams carry data.
 */
static inline int mt_fill(struct mt_inst *in, uint64_t seed)
{
	const size_t step = 256 * MIG_PAGE_SIZE;
	uint8_t *buf;
	uint64_t off;
	unsigned int i;
	int ret = 0;

	buf = malloc(step);
	if (!buf)
		return -ENOMEM;
	for (off = 0; off < in->mem_size && !ret; off += step) {
		size_t len = in->mem_size - off < step ? in->mem_size - off :
							 step;
		size_t p;

		mt_pattern(seed, off, buf, len);
		for (p = 0; p < len; p += MIG_PAGE_SIZE)
			if (!(((off + p) / MIG_PAGE_SIZE) % 7))
				memset(buf + p, 0, MIG_PAGE_SIZE);
		ret = mig_region_pwrite(&in->d, MT_BAR2, buf, len, off);
	}
	free(buf);
	for (i = 0; i < MIG_NR_SCRATCH && !ret; i++)
		ret = mt_bar0_write(&in->d, MIG_REG_SCRATCH0 + 4 * i,
				    (uint32_t)(seed * 131 + i));
	return ret;
}

/* ---------------------------------------------------------------- */
/* Save and resume                                                   */
/* ---------------------------------------------------------------- */

/*
 * A whole stop-and-copy save into @out: RUNNING/STOP -> STOP -> SAVING,
 * chunks until pending_bytes reads 0, then STOP.
 */
static inline int mt_save(struct mig_dev *d, enum mig_path path,
			  struct mig_buf *out)
{
	int ret;

	ret = mig_set_state(d, MIG_STATE_STOP);
	if (ret)
		return ret;
	ret = mig_set_state(d, MIG_STATE_SAVING);
	if (ret)
		return ret;
	ret = mig_save_loop(d, path, 0, mig_buf_sink, out, NULL);
	if (ret)
		return ret;
	return mig_set_state(d, MIG_STATE_STOP);
}

/* How mt_feed() cuts a stream into chunks. */
enum mt_cut {
	MT_CUT_FIXED,		/* @arg bytes a chunk (0: the section) */
	MT_CUT_RANDOM,		/* 1..section bytes, xorshift seeded by @arg */
};

/*
 * Feeds @len bytes of stream to a device in RESUMING, one chunk at a time:
 * read data_offset, copy the data (mmap or pwrite), write data_size.
 * Stops at the first error and returns it; *@fed says how much was taken.
 * In MT_CUT_FIXED with @arg 1 data_offset is read once (it is constant).
 */
static inline int mt_feed(struct mig_dev *d, enum mig_path path,
			  const void *buf, size_t len, enum mt_cut cut,
			  uint64_t arg, size_t *fed)
{
	const uint8_t *p = buf;
	uint64_t seed = arg | 1, off = 0, rel;
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		size_t n;

		if (!off || !(cut == MT_CUT_FIXED && arg == 1)) {
			ret = mig_get_data_offset(d, &off);
			if (ret)
				break;
		}
		rel = off - d->data_offset;
		if (off < d->data_offset || rel >= d->section_size) {
			ret = -EPROTO;
			break;
		}
		if (cut == MT_CUT_FIXED)
			n = arg ? arg : d->section_size - rel;
		else
			n = 1 + mt_xorshift(&seed) % (d->section_size - rel);
		if (n > d->section_size - rel)
			n = d->section_size - rel;
		if (n > len - done)
			n = len - done;
		if (path == MIG_PATH_MMAP) {
			memcpy((uint8_t *)d->section + rel, p + done, n);
		} else {
			ssize_t w = pwrite(d->fd, p + done, n,
					   (off_t)(d->mig_offset + off));

			if (w != (ssize_t)n) {
				ret = w < 0 ? -errno : -EIO;
				break;
			}
		}
		ret = mig_set_data_size(d, n);
		if (ret)
			break;
		done += n;
	}
	if (fed)
		*fed = done;
	return ret;
}

/* RUNNING -> RESUMING, feed the whole stream in section-sized chunks. */
static inline int mt_resume(struct mig_dev *d, const void *buf, size_t len,
			    uint32_t end_state)
{
	int ret;

	ret = mig_set_state(d, MIG_STATE_RESUMING);
	if (ret)
		return ret;
	ret = mt_feed(d, MIG_PATH_PREAD, buf, len, MT_CUT_FIXED, 0, NULL);
	if (ret)
		return ret;
	return mig_set_state(d, end_state);
}

/* ---------------------------------------------------------------- */
/* The stream                                                        */
/* ---------------------------------------------------------------- */

#define MT_HDR_LEN	sizeof(struct mig_stream_header)
#define MT_REC_LEN	sizeof(struct mig_rec_header)

/**
 * struct mt_stream - what mt_stream_parse() found
 * @why: the first problem, or NULL
 * @device_type: from the header
 * @mem_size: from the header
 * @records: number of records
 * @page_records: MIG_REC_PAGES records
 * @pages: pages carried (with repeats)
 * @first_pages: offset of the first MIG_REC_PAGES record, or 0
 * @off_config: offset of the MIG_REC_CONFIG record, or 0
 * @off_regs: MIG_REC_REGS
 * @off_engine: MIG_REC_ENGINE
 * @off_dma: MIG_REC_DMA
 * @off_end: MIG_REC_END
 * @digest: from the end marker
 * @end_stream_len: from the end marker
 * @covered: pages seen at least once (bitmap, malloc'ed, npages bits)
 */
struct mt_stream {
	const char *why;
	uint32_t device_type;
	uint64_t mem_size;
	uint64_t records;
	uint64_t page_records;
	uint64_t pages;
	size_t first_pages;
	size_t off_config;
	size_t off_regs;
	size_t off_engine;
	size_t off_dma;
	size_t off_end;
	uint64_t digest;
	uint64_t end_stream_len;
	uint8_t *covered;
};

static inline void mt_stream_free(struct mt_stream *s)
{
	free(s->covered);
	s->covered = NULL;
}

/*
 * Parses a whole stream.  Returns 0 if it follows the format: header,
 * records with lengths that fit their types, the tail records in order and
 * the end marker last; else -EBADMSG with @s->why set.
 */
static inline int mt_stream_parse(const uint8_t *buf, size_t len,
				  struct mt_stream *s)
{
	const struct mig_stream_header *h = (const void *)buf;
	uint32_t npages = 0;
	size_t off;
	uint32_t tail = 0;

	memset(s, 0, sizeof(*s));
#define MT_BAD(msg) do { s->why = (msg); return -EBADMSG; } while (0)
	if (len < MT_HDR_LEN)
		MT_BAD("shorter than the stream header");
	if (le32toh(h->magic) != MIG_STREAM_MAGIC)
		MT_BAD("bad magic");
	if (le16toh(h->version) != MIG_STREAM_VERSION)
		MT_BAD("bad version");
	if (le16toh(h->header_len) != MT_HDR_LEN)
		MT_BAD("bad header_len");
	if (le32toh(h->page_size) != MIG_PAGE_SIZE)
		MT_BAD("bad page_size");
	s->device_type = le32toh(h->device_type);
	s->mem_size = le64toh(h->mem_size);
	if (!s->mem_size || s->mem_size % MIG_PAGE_SIZE)
		MT_BAD("bad mem_size");
	npages = s->mem_size / MIG_PAGE_SIZE;
	s->covered = calloc(1, npages / 8 + 1);
	if (!s->covered)
		MT_BAD("out of memory");

	off = MT_HDR_LEN;
	while (off < len) {
		const struct mig_rec_header *r = (const void *)(buf + off);
		const uint8_t *pl = buf + off + MT_REC_LEN;
		uint32_t type, rlen;

		if (s->off_end)
			MT_BAD("bytes after the end marker");
		if (len - off < MT_REC_LEN)
			MT_BAD("truncated record header");
		type = le32toh(r->type);
		rlen = le32toh(r->len);
		if (len - off - MT_REC_LEN < rlen)
			MT_BAD("truncated record");
		s->records++;
		switch (type) {
		case MIG_REC_PAGES: {
			const struct mig_rec_pages *rp = (const void *)pl;
			uint32_t first, count, i;

			if (tail)
				MT_BAD("pages after the tail records");
			if (rlen < sizeof(*rp))
				MT_BAD("short pages record");
			first = le32toh(rp->first);
			count = le32toh(rp->count);
			if (!count || count > MIG_MAX_RUN_PAGES)
				MT_BAD("bad page count");
			if (rlen != sizeof(*rp) + (uint64_t)count * MIG_PAGE_SIZE)
				MT_BAD("bad pages record length");
			if (first >= npages || count > npages - first)
				MT_BAD("page index out of range");
			for (i = first; i < first + count; i++)
				s->covered[i / 8] |= 1 << (i % 8);
			if (!s->first_pages)
				s->first_pages = off;
			s->page_records++;
			s->pages += count;
			break;
		}
		case MIG_REC_CONFIG:
			if (tail != 0 || rlen != MIG_MDEV_CONFIG_SIZE)
				MT_BAD("bad config record");
			s->off_config = off;
			tail = MIG_REC_CONFIG;
			break;
		case MIG_REC_REGS:
			if (tail != MIG_REC_CONFIG ||
			    rlen != sizeof(struct mig_rec_regs))
				MT_BAD("bad regs record");
			s->off_regs = off;
			tail = MIG_REC_REGS;
			break;
		case MIG_REC_ENGINE:
			if (tail != MIG_REC_REGS ||
			    rlen != sizeof(struct mig_rec_engine))
				MT_BAD("bad engine record");
			s->off_engine = off;
			tail = MIG_REC_ENGINE;
			break;
		case MIG_REC_DMA:
			if (tail != MIG_REC_ENGINE ||
			    rlen != sizeof(struct mig_rec_dma))
				MT_BAD("bad dma record");
			s->off_dma = off;
			tail = MIG_REC_DMA;
			break;
		case MIG_REC_END: {
			const struct mig_rec_end *e = (const void *)pl;

			if (tail != MIG_REC_DMA ||
			    rlen != sizeof(struct mig_rec_end))
				MT_BAD("bad end record");
			s->off_end = off;
			s->digest = le64toh(e->digest);
			s->end_stream_len = le64toh(e->stream_len);
			if (s->end_stream_len != off)
				MT_BAD("end marker stream_len is wrong");
			break;
		}
		default:
			MT_BAD("unknown record type");
		}
		off += MT_REC_LEN + rlen;
	}
	if (!s->off_end)
		MT_BAD("no end marker");
#undef MT_BAD
	return 0;
}

static inline bool mt_page_covered(const struct mt_stream *s, uint32_t page)
{
	return s->covered[page / 8] & (1 << (page % 8));
}

/* A copy of a stream buffer, for corrupting. */
static inline uint8_t *mt_dup(const struct mig_buf *b)
{
	uint8_t *p = malloc(b->len + 64);

	if (p)
		memcpy(p, b->data, b->len);
	return p;
}

/*
 * A stream that fails after part of it was applied: a valid header for
 * @in, one page record (page 1, applied), then a record of unknown type.
 * @buf holds MT_ERROR_STREAM_MAX bytes; returns the stream's length.
 */
#define MT_ERROR_STREAM_MAX	(MIG_PAGE_SIZE + 256)

static inline size_t mt_error_stream(struct mt_inst *in, uint32_t stream_type,
				     uint8_t *buf)
{
	struct mig_stream_header h = {
		.magic = htole32(MIG_STREAM_MAGIC),
		.version = htole16(MIG_STREAM_VERSION),
		.header_len = htole16(MT_HDR_LEN),
		.device_type = htole32(stream_type),
		.page_size = htole32(MIG_PAGE_SIZE),
		.mem_size = htole64(in->mem_size),
	};
	struct mig_rec_header r = {
		.type = htole32(MIG_REC_PAGES),
		.len = htole32(sizeof(struct mig_rec_pages) + MIG_PAGE_SIZE),
	};
	struct mig_rec_pages rp = {
		.first = htole32(1),
		.count = htole32(1),
	};
	struct mig_rec_header bad = { .type = htole32(0x77), .len = 0 };
	size_t off = 0;

	memcpy(buf + off, &h, sizeof(h));
	off += sizeof(h);
	memcpy(buf + off, &r, sizeof(r));
	off += sizeof(r);
	memcpy(buf + off, &rp, sizeof(rp));
	off += sizeof(rp);
	memset(buf + off, 0xa5, MIG_PAGE_SIZE);
	off += MIG_PAGE_SIZE;
	memcpy(buf + off, &bad, sizeof(bad));
	off += sizeof(bad);
	return off;
}

static inline bool mt_page_is_zero(const uint8_t *p)
{
	size_t i;

	for (i = 0; i < MIG_PAGE_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * The same device state in fewer bytes: a copy of a whole, valid stream
 * (mt_stream_parse()) with one MIG_REC_PAGES record per page that is not
 * all zero, the zero pages left out, and the end marker's stream_len
 * fixed.  A resume clears the pages a stream does not bring, so both
 * streams load the same state; the short one is cheap to feed a byte at a
 * time.  Returns 0, -EBADMSG for a stream that does not parse, or -ENOMEM.
 */
static inline int mt_stream_compact(const uint8_t *buf, size_t len,
				    struct mig_buf *out)
{
	struct mt_stream s;
	size_t off = MT_HDR_LEN;
	int ret;

	ret = mt_stream_parse(buf, len, &s);
	mt_stream_free(&s);
	if (ret)
		return ret;
	out->len = 0;
	ret = mig_buf_sink(out, buf, MT_HDR_LEN);
	while (!ret && off < len) {
		struct mig_rec_header r;
		const uint8_t *pl = buf + off + MT_REC_LEN;
		uint32_t rlen;

		memcpy(&r, buf + off, sizeof(r));
		rlen = le32toh(r.len);
		if (le32toh(r.type) == MIG_REC_PAGES) {
			struct mig_rec_pages rp;
			struct mig_rec_header one = {
				.type = htole32(MIG_REC_PAGES),
				.len = htole32(sizeof(rp) + MIG_PAGE_SIZE),
			};
			uint32_t first, i;

			memcpy(&rp, pl, sizeof(rp));
			first = le32toh(rp.first);
			for (i = 0; i < le32toh(rp.count) && !ret; i++) {
				const uint8_t *pg = pl + sizeof(rp) +
						    (size_t)i * MIG_PAGE_SIZE;

				if (mt_page_is_zero(pg))
					continue;
				rp.first = htole32(first + i);
				rp.count = htole32(1);
				ret = mig_buf_sink(out, &one, sizeof(one));
				if (!ret)
					ret = mig_buf_sink(out, &rp, sizeof(rp));
				if (!ret)
					ret = mig_buf_sink(out, pg, MIG_PAGE_SIZE);
			}
		} else if (le32toh(r.type) == MIG_REC_END) {
			struct mig_rec_end e;

			memcpy(&e, pl, sizeof(e));
			e.stream_len = htole64(out->len);
			ret = mig_buf_sink(out, &r, sizeof(r));
			if (!ret)
				ret = mig_buf_sink(out, &e, sizeof(e));
		} else {
			ret = mig_buf_sink(out, buf + off, MT_REC_LEN + rlen);
		}
		off += MT_REC_LEN + rlen;
	}
	return ret;
}

#endif /* MIGRATION_UTILS_H */
