/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The migration stream (include/uapi/linux/mig_mdev.h) as the selftests
 * see it, whichever protocol carried it: a parser that checks what a
 * device sends, and builders of short and corrupt streams.  Part of the
 * helper layer of mig_utils.h (include that first); nothing here uses the
 * harness or touches a device.
 */
#ifndef MIG_STREAM_UTILS_H
#define MIG_STREAM_UTILS_H

#include <endian.h>

#include "mig_utils.h"

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
 * Append END record @r with payload @pl to @out, its stream_len set to the
 * length of @out before it (a rewritten stream's own length).
 */
static inline int mt_sink_end(struct mig_buf *out,
			      const struct mig_rec_header *r, const uint8_t *pl)
{
	struct mig_rec_end e;
	int ret;

	memcpy(&e, pl, sizeof(e));
	e.stream_len = htole64(out->len);
	ret = mig_buf_sink(out, r, sizeof(*r));
	return ret ? ret : mig_buf_sink(out, &e, sizeof(e));
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
			uint32_t first, count, i;

			memcpy(&rp, pl, sizeof(rp));
			first = le32toh(rp.first);
			count = le32toh(rp.count);
			for (i = 0; i < count && !ret; i++) {
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
			ret = mt_sink_end(out, &r, pl);
		} else {
			ret = mig_buf_sink(out, buf + off, MT_REC_LEN + rlen);
		}
		off += MT_REC_LEN + rlen;
	}
	return ret;
}

/*
 * The same device state in the format of stream version @version: a copy
 * of a whole, valid stream (mt_stream_parse()) with its header's version
 * set, every MIG_REC_PAGES record cut into runs of at most what @version
 * allows (MIG_MAX_RUN_PAGES_V2 before version 3), the MIG_REC_DMA record
 * left out unless @dma, and the end marker's stream_len fixed.  Returns 0,
 * -EBADMSG for a stream that does not parse, or -ENOMEM.
 */
static inline int mt_stream_rewrite(const uint8_t *buf, size_t len,
				    uint16_t version, bool dma,
				    struct mig_buf *out)
{
	uint32_t max = version < MIG_STREAM_VERSION ? MIG_MAX_RUN_PAGES_V2 :
			MIG_MAX_RUN_PAGES;
	struct mig_stream_header h;
	size_t off = MT_HDR_LEN;
	struct mt_stream s;
	int ret;

	ret = mt_stream_parse(buf, len, &s);
	mt_stream_free(&s);
	if (ret)
		return ret;
	memcpy(&h, buf, sizeof(h));
	h.version = htole16(version);
	out->len = 0;
	ret = mig_buf_sink(out, &h, sizeof(h));
	while (!ret && off < len) {
		struct mig_rec_header r;
		const uint8_t *pl = buf + off + MT_REC_LEN;
		uint32_t rlen, type;

		memcpy(&r, buf + off, sizeof(r));
		rlen = le32toh(r.len);
		type = le32toh(r.type);
		if (type == MIG_REC_PAGES) {
			struct mig_rec_pages rp;
			uint32_t first, count, done, n;

			memcpy(&rp, pl, sizeof(rp));
			first = le32toh(rp.first);
			count = le32toh(rp.count);
			for (done = 0; done < count && !ret; done += n) {
				n = count - done < max ? count - done : max;
				r.len = htole32(sizeof(rp) + n * MIG_PAGE_SIZE);
				rp.first = htole32(first + done);
				rp.count = htole32(n);
				ret = mig_buf_sink(out, &r, sizeof(r));
				if (!ret)
					ret = mig_buf_sink(out, &rp, sizeof(rp));
				if (!ret)
					ret = mig_buf_sink(out, pl + sizeof(rp) +
							   (size_t)done *
							   MIG_PAGE_SIZE,
							   (size_t)n *
							   MIG_PAGE_SIZE);
			}
		} else if (type == MIG_REC_END) {
			ret = mt_sink_end(out, &r, pl);
		} else if (type != MIG_REC_DMA || dma) {
			ret = mig_buf_sink(out, buf + off, MT_REC_LEN + rlen);
		}
		off += MT_REC_LEN + rlen;
	}
	return ret;
}

#endif /* MIG_STREAM_UTILS_H */
