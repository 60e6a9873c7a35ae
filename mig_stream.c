// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the migration stream, save generator and resume parser.
 *
 * Format (include/uapi/linux/mig_mdev.h, all little endian): a struct
 * mig_stream_header, then records, each a struct mig_rec_header and @len
 * bytes of payload, packed without padding.  MIG_REC_PAGES records carry
 * runs of up to MIG_MAX_RUN_PAGES contiguous pages; a stop-and-copy save
 * ends with CONFIG, REGS, ENGINE, DMA and END, in that order, END carrying
 * the digest of the whole device state and the length of the stream before
 * it.  The save writes version 3.  A resume also takes version 2, the same
 * records with runs of at most MIG_MAX_RUN_PAGES_V2 pages, and version 1,
 * the format before the DMA engine: no DMA record (END follows ENGINE), and
 * the DMA engine stays in its power-on state, idle, as a version 1 device
 * had it; an idle DMA engine does not enter the digest, so the source's
 * digest still matches.  What each version allows is in mig_versions[].
 *
 * Generator: the stream is produced on demand, one "item" at a time: the
 * stream header, a record header (plus the pages head), or a small payload
 * is staged in struct mig_save.item; the page data of a MIG_REC_PAGES
 * record is copied from device memory when it is emitted.  An item may be
 * cut at any byte by the end of a chunk and is resumed in the next one.
 * Dirty pages are found in the dirty log from a cursor; a run's dirty bits
 * are cleared when its record is staged, so a page written later is sent
 * again.  The tail records follow only in stop-and-copy, once the dirty log
 * is empty.  Because the scan restarts at page 0 on entering stop-and-copy
 * and the log no longer changes, the generator cuts every maximal run of
 * dirty pages into the same records that mig_save_pending() counts, so the
 * pending count is exact there.
 *
 * Parser: a byte-driven state machine (enum mig_load_phase) that survives
 * any split of the stream.  Headers and small payloads are first copied in
 * full into struct mig_load.buf (the input is user-mappable, so it is read
 * once and the copy is validated); page data goes straight into device
 * memory once its record's range was validated.  The record table below
 * gives each type its payload length, the record types that may come right
 * before it, and how it is saved and applied.
 */
#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/build_bug.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/stddef.h>
#include <linux/string.h>

#include "mig.h"
#include <trace/mig_trace.h>

/* What the next bytes of a resume stream are. */
enum mig_load_phase {
	MIG_LOAD_STREAM_HDR,	/* the stream header, collected in buf */
	MIG_LOAD_REC_HDR,	/* a record header, collected in buf */
	MIG_LOAD_PAGES_HEAD,	/* a pages head, after the record header */
	MIG_LOAD_PAYLOAD,	/* a fixed-size payload, collected in buf */
	MIG_LOAD_PAGE_DATA,	/* page data, copied into device memory */
	MIG_LOAD_DONE,		/* END parsed, digest matched */
	MIG_LOAD_FAILED,	/* rejected after the device was changed */
};

#define MIG_REC_HDR_SIZE	sizeof(struct mig_rec_header)
#define MIG_PAGES_HDR_SIZE	(MIG_REC_HDR_SIZE + sizeof(struct mig_rec_pages))

/* Record types that may precede a record; BIT(0) means "none yet". */
#define MIG_AFTER_NONE		BIT(0)
#define MIG_AFTER(type)		BIT(type)

/**
 * struct mig_rec_desc - what the stream code knows about a record type
 * @len: payload bytes; 0 for MIG_REC_PAGES, whose length varies
 * @after: MIG_AFTER() set of the record types that may come right before
 * @save: writes the payload (@len bytes, unaligned) of a tail record
 * @load: applies a validated copy of the payload (@len bytes, unaligned)
 */
struct mig_rec_desc {
	u32 len;
	u32 after;
	void (*save)(struct mig_mdev_state *st, void *out);
	int (*load)(struct mig_mdev_state *st, const void *in);
};

static void mig_save_config(struct mig_mdev_state *st, void *out)
{
	mig_cfg_save(&st->dev, out);
}

static void mig_save_regs(struct mig_mdev_state *st, void *out)
{
	struct mig_rec_regs r;

	mig_dev_regs_to_rec(&st->dev, &r);
	memcpy(out, &r, sizeof(r));
}

static void mig_save_engine(struct mig_mdev_state *st, void *out)
{
	struct mig_rec_engine e;

	mig_dev_engine_to_rec(&st->dev, &e);
	memcpy(out, &e, sizeof(e));
}

/* Staged last: every byte before END's header was emitted already. */
static void mig_save_end(struct mig_mdev_state *st, void *out)
{
	struct mig_rec_end e = {
		.digest = cpu_to_le64(mig_dev_digest(&st->dev)),
		.stream_len = cpu_to_le64(st->save.stream_len),
	};

	memcpy(out, &e, sizeof(e));
}

/* Only what a guest could write: the read-only bits must match. */
static int mig_load_config(struct mig_mdev_state *st, const void *in)
{
	return mig_cfg_load(&st->dev, in);
}

static int mig_load_regs(struct mig_mdev_state *st, const void *in)
{
	struct mig_rec_regs r;

	memcpy(&r, in, sizeof(r));
	if (r.reserved)
		return -EINVAL;
	/* Drops the bits the registers do not have (CONTROL: MIG_CTRL_MASK). */
	mig_dev_regs_from_rec(&st->dev, &r);
	return 0;
}

static void mig_save_dma(struct mig_mdev_state *st, void *out)
{
	struct mig_rec_dma d;

	mig_dma_to_rec(&st->dev, &d);
	memcpy(out, &d, sizeof(d));
}

static int mig_load_dma(struct mig_mdev_state *st, const void *in)
{
	struct mig_rec_dma d;

	memcpy(&d, in, sizeof(d));
	/* Only the state: the engine goes on from HEAD when the device runs. */
	return mig_dma_from_rec(&st->dev, &d);
}

static int mig_load_engine(struct mig_mdev_state *st, const void *in)
{
	struct mig_rec_engine e;

	memcpy(&e, in, sizeof(e));
	/* Only the state: the engine starts when the device leaves RESUMING. */
	mig_dev_engine_from_rec(&st->dev, &e);
	return 0;
}

static int mig_load_end(struct mig_mdev_state *st, const void *in)
{
	struct mig_load *ld = &st->load;
	struct mig_rec_end e;

	memcpy(&e, in, sizeof(e));
	/* ld->stream_len already counts this record's header and payload. */
	if (le64_to_cpu(e.stream_len) !=
	    ld->stream_len - MIG_REC_HDR_SIZE - sizeof(e))
		return -EINVAL;
	if (le64_to_cpu(e.digest) != mig_dev_digest(&st->dev))
		return -EINVAL;
	ld->done = true;
	ld->phase = MIG_LOAD_DONE;
	return 0;
}

static const struct mig_rec_desc mig_recs[] = {
	[MIG_REC_PAGES] = {
		.len = 0,
		.after = MIG_AFTER_NONE | MIG_AFTER(MIG_REC_PAGES),
	},
	[MIG_REC_CONFIG] = {
		.len = MIG_MDEV_CONFIG_SIZE,
		.after = MIG_AFTER_NONE | MIG_AFTER(MIG_REC_PAGES),
		.save = mig_save_config,
		.load = mig_load_config,
	},
	[MIG_REC_REGS] = {
		.len = sizeof(struct mig_rec_regs),
		.after = MIG_AFTER(MIG_REC_CONFIG),
		.save = mig_save_regs,
		.load = mig_load_regs,
	},
	[MIG_REC_ENGINE] = {
		.len = sizeof(struct mig_rec_engine),
		.after = MIG_AFTER(MIG_REC_REGS),
		.save = mig_save_engine,
		.load = mig_load_engine,
	},
	[MIG_REC_END] = {
		.len = sizeof(struct mig_rec_end),
		.after = MIG_AFTER(MIG_REC_DMA),
		.save = mig_save_end,
		.load = mig_load_end,
	},
	[MIG_REC_DMA] = {
		.len = sizeof(struct mig_rec_dma),
		.after = MIG_AFTER(MIG_REC_ENGINE),
		.save = mig_save_dma,
		.load = mig_load_dma,
	},
};

/**
 * struct mig_stream_ver - what a stream version allows on resume
 * @max_run: the most pages a MIG_REC_PAGES record may carry; 0 for a
 *           version that is not accepted
 * @dma: the stream has a MIG_REC_DMA record between ENGINE and END
 */
struct mig_stream_ver {
	u32 max_run;
	bool dma;
};

static const struct mig_stream_ver mig_versions[] = {
	[MIG_STREAM_VERSION_NODMA] = {
		.max_run = MIG_MAX_RUN_PAGES_V2,
		.dma = false,
	},
	[MIG_STREAM_VERSION_RUN64] = {
		.max_run = MIG_MAX_RUN_PAGES_V2,
		.dma = true,
	},
	[MIG_STREAM_VERSION] = {
		.max_run = MIG_MAX_RUN_PAGES,
		.dma = true,
	},
};

/*
 * A record's length is a u32: the longest run must fit, with its head.  The
 * generator writes the current version, whose runs are the longest.
 */
static_assert((u64)MIG_MAX_RUN_PAGES * MIG_PAGE_SIZE +
	      sizeof(struct mig_rec_pages) <= U32_MAX);
static_assert(MIG_MAX_RUN_PAGES >= MIG_MAX_RUN_PAGES_V2);

/* The tail records of a stop-and-copy save, in stream order. */
static const u32 mig_tail_order[] = {
	MIG_REC_CONFIG, MIG_REC_REGS, MIG_REC_ENGINE, MIG_REC_DMA, MIG_REC_END,
};

/* The staging areas hold the largest header or payload they must take. */
static_assert(sizeof_field(struct mig_save, item) >=
	      MIG_REC_HDR_SIZE + MIG_MDEV_CONFIG_SIZE);
static_assert(sizeof_field(struct mig_save, item) >=
	      sizeof(struct mig_stream_header));
static_assert(sizeof(struct mig_rec_dma) == 56);
static_assert(sizeof_field(struct mig_load, buf) >= MIG_MDEV_CONFIG_SIZE);
static_assert(sizeof_field(struct mig_load, buf) >=
	      sizeof(struct mig_stream_header));
static_assert(sizeof_field(struct mig_load, buf) >= MIG_PAGES_HDR_SIZE);
static_assert(sizeof_field(struct mig_load, buf) >=
	      sizeof(struct mig_rec_regs));

/* ------------------------------------------------------------------ */
/* Save                                                                */
/* ------------------------------------------------------------------ */

/* Bytes of the staged item (header part and page data) not emitted yet. */
static u64 mig_save_item_left(const struct mig_save *s)
{
	return (s->item_len - s->item_off) +
	       ((u64)s->run_count * MIG_PAGE_SIZE - s->run_off);
}

/* Index in mig_tail_order[] of the tail record after @tail (0: none yet). */
static u32 mig_save_tail_index(u32 tail)
{
	u32 i;

	for (i = 0; tail && i < ARRAY_SIZE(mig_tail_order); i++)
		if (mig_tail_order[i] == tail)
			return i + 1;
	return 0;
}

/* The tail record staged after @tail (0: none staged yet). */
static u32 mig_save_next_tail(u32 tail)
{
	return mig_tail_order[mig_save_tail_index(tail)];
}

/* Stage a record header and @len bytes of payload written by @desc. */
static void mig_save_stage(struct mig_mdev_state *st, u32 type, u32 len)
{
	struct mig_save *s = &st->save;
	struct mig_rec_header h = {
		.type = cpu_to_le32(type),
		.len = cpu_to_le32(len),
	};

	memcpy(s->item, &h, sizeof(h));
	s->item_len = sizeof(h);
	s->item_off = 0;
	if (mig_recs[type].save) {
		mig_recs[type].save(st, s->item + sizeof(h));
		s->item_len += len;
	}
}

static void mig_save_stage_header(struct mig_mdev_state *st)
{
	struct mig_save *s = &st->save;
	struct mig_stream_header h = {
		.magic = cpu_to_le32(MIG_STREAM_MAGIC),
		.version = cpu_to_le16(MIG_STREAM_VERSION),
		.header_len = cpu_to_le16(sizeof(h)),
		.device_type = cpu_to_le32(st->type->stream_type),
		.page_size = cpu_to_le32(MIG_PAGE_SIZE),
		.mem_size = cpu_to_le64(st->type->mem_size),
	};

	memcpy(s->item, &h, sizeof(h));
	s->item_len = sizeof(h);
	s->item_off = 0;
}

/*
 * Find the next run of dirty pages from the cursor, wrapping once to page
 * 0 (a completed pre-copy pass), clear its bits and stage its record.
 */
static bool mig_save_stage_pages(struct mig_mdev_state *st)
{
	struct mig_save *s = &st->save;
	u32 n = mig_dev_npages(&st->dev);
	struct mig_rec_pages p;
	u32 first, end;

	if (!mig_dev_dirty_run(&st->dev, s->cursor, n, MIG_MAX_RUN_PAGES, &first,
			       &end)) {
		s->initial = false;
		if (!s->cursor)
			return false;
		if (!s->final)
			st->stats.passes++;
		s->cursor = 0;
		if (!mig_dev_dirty_run(&st->dev, 0, n, MIG_MAX_RUN_PAGES, &first,
				       &end))
			return false;
	}
	mig_dev_dirty_clear(&st->dev, first, end - first);
	s->cursor = end;

	s->run_first = first;
	s->run_count = end - first;
	s->run_off = 0;
	mig_save_stage(st, MIG_REC_PAGES, sizeof(p) +
		       s->run_count * MIG_PAGE_SIZE);
	p.first = cpu_to_le32(s->run_first);
	p.count = cpu_to_le32(s->run_count);
	memcpy(s->item + s->item_len, &p, sizeof(p));
	s->item_len += sizeof(p);
	return true;
}

/* Stage the next item; false if there is nothing to send now. */
static bool mig_save_stage_next(struct mig_mdev_state *st)
{
	struct mig_save *s = &st->save;
	u32 type;

	if (s->done)
		return false;
	if (!s->header_sent) {
		mig_save_stage_header(st);
		return true;
	}
	if (!s->tail && mig_save_stage_pages(st))
		return true;
	if (!s->final)
		return false;
	type = mig_save_next_tail(s->tail);
	mig_save_stage(st, type, mig_recs[type].len);
	s->tail = type;
	return true;
}

/* The staged item was emitted in full. */
static void mig_save_item_done(struct mig_save *s)
{
	/* The stream header is always the first item. */
	s->header_sent = true;
	if (s->tail == MIG_REC_END)
		s->done = true;
	s->item_len = 0;
	s->item_off = 0;
	s->run_count = 0;
	s->run_off = 0;
}

/* Bytes of the page records for the dirty pages in [@from, @to). */
static u64 mig_save_run_cost(struct mig_mdev_state *st, u32 from, u32 to)
{
	u32 first, end;
	u64 cost = 0;

	for (; mig_dev_dirty_run(&st->dev, from, to, U32_MAX, &first, &end);
	     from = end)
		cost += DIV_ROUND_UP(end - first, MIG_MAX_RUN_PAGES) *
			(u64)MIG_PAGES_HDR_SIZE +
			(u64)(end - first) * MIG_PAGE_SIZE;
	return cost;
}

/*
 * Bytes the generator emits for the dirty log as it stands.  The scan goes
 * from the cursor to the end and then wraps to page 0, so a run of dirty
 * pages that straddles the cursor is sent as two records: count the two
 * sides apart and the figure is exact.
 */
static u64 mig_save_dirty_cost(struct mig_mdev_state *st)
{
	u32 cursor = min(st->save.cursor, mig_dev_npages(&st->dev));

	return mig_save_run_cost(st, cursor, mig_dev_npages(&st->dev)) +
	       mig_save_run_cost(st, 0, cursor);
}

/* The rest of the item in progress, or the stream header not staged yet. */
static u64 mig_save_left(struct mig_mdev_state *st)
{
	const struct mig_save *s = &st->save;
	u64 left = mig_save_item_left(s);

	if (!s->header_sent && !left)
		left += sizeof(struct mig_stream_header);
	return left;
}

/* Bytes of the tail records after @tail (0: none staged yet). */
static u64 mig_save_tail_cost(u32 tail)
{
	u64 cost = 0;
	u32 i;

	for (i = mig_save_tail_index(tail); i < ARRAY_SIZE(mig_tail_order); i++)
		cost += MIG_REC_HDR_SIZE + mig_recs[mig_tail_order[i]].len;
	return cost;
}

/**
 * mig_save_open() - start a save session
 * @st: the instance
 * @final: true when entering SAVING directly (stop-and-copy), false for
 *         PRECOPY
 *
 * Marks every page dirty; the stream header is the first thing sent.
 *
 * Context: st->lock held.
 */
void mig_save_open(struct mig_mdev_state *st, bool final)
{
	struct mig_save *s = &st->save;

	u64 seq = s->seq;

	lockdep_assert_held(&st->lock);
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	s->active = true;
	s->final = final;
	s->initial = true;
	mig_dev_mark_all_dirty(&st->dev);
}

/**
 * mig_save_set_final() - PRECOPY -> SAVING in the same session
 * @st: the instance
 *
 * Keeps what was sent and the item in progress (a page record cut by a
 * chunk stays in progress), enables the tail records and restarts the page
 * scan at page 0, so that mig_save_pending() is exact from now on.
 *
 * Context: st->lock held.
 */
void mig_save_set_final(struct mig_mdev_state *st)
{
	struct mig_save *s = &st->save;

	lockdep_assert_held(&st->lock);
	if (!s->active)
		return;
	mig_save_unqueue(st);
	s->final = true;
	s->cursor = 0;
}

/**
 * mig_save_close() - drop the save session
 * @st: the instance
 *
 * Whatever was not sent is discarded; the device keeps its state.
 *
 * Context: st->lock held.
 */
void mig_save_close(struct mig_mdev_state *st)
{
	u64 seq = st->save.seq;

	lockdep_assert_held(&st->lock);
	memset(&st->save, 0, sizeof(st->save));
	st->save.seq = seq;
}

/**
 * mig_save_unqueue() - retire the queued v1 chunk, if any
 * @st: the instance
 *
 * The chunk counts as sent: its bytes were emitted when it was queued.
 *
 * Context: st->lock held.
 */
void mig_save_unqueue(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	st->save.queued = false;
	st->save.queued_size = 0;
	st->save.queued_offset = 0;
}

/**
 * mig_save_pending() - bytes of the stream still to send
 * @st: the instance
 *
 * In stop-and-copy the count is exact: the rest of the item in progress,
 * the stream header if not staged yet, the records of the dirty log as the
 * generator cuts them, and the tail records not staged yet.  It reaches 0
 * exactly when MIG_REC_END was emitted in full.  In pre-copy it is the same
 * without the tail: what can be sent now, so a nonzero count guarantees
 * that mig_save_fill() produces data, and 0 means caught up.
 *
 * Context: st->lock held.
 * Return: the byte count; 0 without a session.
 */
u64 mig_save_pending(struct mig_mdev_state *st)
{
	struct mig_save *s = &st->save;

	lockdep_assert_held(&st->lock);
	if (!s->active || s->done)
		return 0;
	return mig_save_left(st) + (s->tail ? 0 : mig_save_dirty_cost(st)) +
	       (s->final ? mig_save_tail_cost(s->tail) : 0);
}

/**
 * mig_save_precopy_info() - what pre-copy has left to send, split in two
 * @st: the instance
 * @initial: bytes left of the first pass over device memory (the stream
 *           header and every page once); 0 once that pass was emitted
 * @dirty: the rest: pages written again since they were sent
 *
 * @initial + @dirty is mig_save_pending(): what mig_save_fill() produces
 * before it runs dry, if nothing is written meanwhile.
 *
 * Context: st->lock held.
 */
void mig_save_precopy_info(struct mig_mdev_state *st, u64 *initial,
			   u64 *dirty)
{
	struct mig_save *s = &st->save;
	u32 n = mig_dev_npages(&st->dev);
	u32 cursor = min(s->cursor, n);
	u64 ahead, behind;

	lockdep_assert_held(&st->lock);
	*initial = 0;
	*dirty = 0;
	if (!s->active || s->done)
		return;
	ahead = mig_save_left(st);
	behind = 0;
	if (!s->tail) {
		ahead += mig_save_run_cost(st, cursor, n);
		behind = mig_save_run_cost(st, 0, cursor);
	}
	if (s->final)
		ahead += mig_save_tail_cost(s->tail);
	if (s->initial) {
		*initial = ahead;
		*dirty = behind;
	} else {
		*dirty = ahead + behind;
	}
}

/**
 * mig_save_final_size() - bytes a stop-and-copy would send from now on
 * @st: the instance
 *
 * What mig_save_pending() would return if the session turned final now;
 * without a session, the size of a whole stream.  Exact while nothing
 * writes device memory, which a stopped device does not.
 *
 * Context: st->lock held.
 * Return: the byte count.
 */
u64 mig_save_final_size(struct mig_mdev_state *st)
{
	struct mig_save *s = &st->save;
	u64 pages = mig_dev_npages(&st->dev);

	lockdep_assert_held(&st->lock);
	if (s->active && s->done)
		return 0;
	/* Turning final restarts the scan at page 0 (mig_save_set_final()). */
	if (s->active)
		return mig_save_left(st) + mig_save_tail_cost(s->tail) +
		       (s->tail ? 0 : s->final ? mig_save_dirty_cost(st) :
			mig_save_run_cost(st, 0, pages));
	return sizeof(struct mig_stream_header) +
	       DIV_ROUND_UP(pages, MIG_MAX_RUN_PAGES) * (u64)MIG_PAGES_HDR_SIZE +
	       pages * MIG_PAGE_SIZE + mig_save_tail_cost(0);
}

/* Does the page data of the staged run go out in place (@min_pages > 0)? */
static bool mig_save_run_inplace(const struct mig_save *s, u32 min_pages)
{
	return min_pages && s->run_count >= min_pages;
}

/*
 * Copy the next bytes of the stream into @buf, up to @max.  With
 * @inplace_min nonzero the copy stops where the page data of a run of at
 * least @inplace_min pages starts on a page boundary (after at least one
 * byte), so that the page data can go out in place; the page data of
 * shorter runs is copied.  0 copies everything.
 */
static size_t mig_save_emit(struct mig_mdev_state *st, u8 *out, size_t max,
			    u32 inplace_min)
{
	struct mig_save *s = &st->save;
	size_t done = 0;
	u64 n, off;

	while (done < max) {
		if (!mig_save_item_left(s) && !mig_save_stage_next(st))
			break;
		if (s->item_off < s->item_len) {
			n = min_t(u64, max - done, s->item_len - s->item_off);
			memcpy(out + done, s->item + s->item_off, n);
			s->item_off += n;
		} else {
			bool inplace = mig_save_run_inplace(s, inplace_min);

			if (inplace && done && !(s->run_off % MIG_PAGE_SIZE))
				break;
			n = min_t(u64, max - done,
				  (u64)s->run_count * MIG_PAGE_SIZE - s->run_off);
			if (inplace)
				n = min_t(u64, n, MIG_PAGE_SIZE -
					  s->run_off % MIG_PAGE_SIZE);
			off = (u64)s->run_first * MIG_PAGE_SIZE + s->run_off;
			memcpy(out + done, mig_dev_mem_peek(&st->dev, off), n);
			s->run_off += n;
		}
		done += n;
		s->stream_len += n;
		if (!mig_save_item_left(s))
			mig_save_item_done(s);
	}
	st->stats.save_copied += done;
	return done;
}

/**
 * mig_save_fill() - produce the next bytes of the stream
 * @st: the instance
 * @buf: the data section
 * @max: room in @buf
 *
 * Fills @buf with as much of the stream as there is to send now, up to
 * @max bytes.  Records are packed densely and may be cut at any byte; the
 * next call goes on where this one stopped.
 *
 * Context: st->lock held.
 * Return: bytes written to @buf; 0 if there is nothing to send now.
 */
size_t mig_save_fill(struct mig_mdev_state *st, void *buf, size_t max)
{
	lockdep_assert_held(&st->lock);
	if (!st->save.active)
		return 0;
	return mig_save_emit(st, buf, max, 0);
}

/*
 * Bytes of page data left in the record in progress once all of its header
 * was emitted: the next bytes of the stream are these, in device memory.
 */
static u64 mig_save_data_left(const struct mig_save *s)
{
	if (!s->active || s->item_off < s->item_len)
		return 0;
	return (u64)s->run_count * MIG_PAGE_SIZE - s->run_off;
}

/* Where the next byte of page data is in device memory. */
static u64 mig_save_data_off(const struct mig_save *s)
{
	return (u64)s->run_first * MIG_PAGE_SIZE + s->run_off;
}

/* Emit @n bytes of page data without copying them: the caller reads them. */
static void mig_save_take(struct mig_mdev_state *st, u64 n)
{
	struct mig_save *s = &st->save;

	s->run_off += n;
	s->stream_len += n;
	st->stats.save_inplace += n;
	if (!mig_save_item_left(s))
		mig_save_item_done(s);
}

/**
 * mig_save_next_inplace() - where mig_save_fill_inplace() will put the next chunk
 * @st: the instance
 * @mem_off: set to the offset in device memory of the next chunk if it is
 *           page data left in place, U64_MAX if it goes into the section
 *
 * Has no side effect: a data_offset read returns this before it queues the
 * chunk (PROTOCOL.md, "Reset and close": a read whose copy faults changes
 * nothing).  The next chunk is in place exactly when the record in progress
 * is a run of at least MIG_INPLACE_MIN_PAGES pages with its header emitted
 * and page data left from a page boundary.
 *
 * Context: st->lock held.
 */
void mig_save_next_inplace(struct mig_mdev_state *st, u64 *mem_off)
{
	const struct mig_save *s = &st->save;

	lockdep_assert_held(&st->lock);
	*mem_off = U64_MAX;
	if (!mig_save_data_left(s) || s->run_off % MIG_PAGE_SIZE ||
	    !mig_save_run_inplace(s, MIG_INPLACE_MIN_PAGES))
		return;
	*mem_off = mig_save_data_off(s);
}

/**
 * mig_save_fill_inplace() - the next chunk, page data left in place
 * @st: the instance
 * @buf: the data section, for what is not page data
 * @max: room in @buf
 * @mem_off: set to the offset in device memory of the chunk if it is page
 *           data left in place, U64_MAX if it was copied into @buf
 *
 * As mig_save_fill(), except that the page data of a MIG_REC_PAGES record
 * is not copied: when the next bytes of the stream are the page data of the
 * record in progress, from a page boundary, and the run has at least
 * MIG_INPLACE_MIN_PAGES pages, the chunk is all of it, in device memory at
 * *@mem_off (the pages are contiguous there); otherwise the chunk is the
 * headers, tail records and shorter runs up to the next such page data,
 * copied into @buf.  The pages' dirty bits were cleared when the record was
 * staged, before the chunk is exposed, so a page written while the client
 * copies it is logged again and sent in a later pass; a stopped device
 * writes nothing, so stop-and-copy is exact.  The bytes emitted, and so
 * mig_save_pending(), are those of mig_save_fill().
 *
 * Context: st->lock held.
 * Return: the chunk's size; 0 if there is nothing to send now.
 */
size_t mig_save_fill_inplace(struct mig_mdev_state *st, void *buf,
			     size_t max, u64 *mem_off)
{
	struct mig_save *s = &st->save;
	u64 n;

	lockdep_assert_held(&st->lock);
	mig_save_next_inplace(st, mem_off);
	if (!s->active)
		return 0;
	if (*mem_off == U64_MAX)
		return mig_save_emit(st, buf, max, MIG_INPLACE_MIN_PAGES);
	n = mig_save_data_left(s);
	mig_save_take(st, n);
	return n;
}

/**
 * mig_save_fill_span() - the next bytes of the stream, page data in place
 * @st: the instance
 * @buf: for what is not page data
 * @room: room in @buf, at least 1
 * @max: the most bytes to produce, at least 1
 * @mem_off: set to the offset in device memory of the bytes if they are
 *           page data left in place, U64_MAX if they were copied into @buf
 *
 * The v2 data_fd's variant of mig_save_fill_inplace(): when the next bytes
 * of the stream are page data of the record in progress, they are emitted
 * without a copy, from wherever the record stands (not only from a page
 * boundary) and at most @max of them; the caller then copies them out of
 * device memory at *@mem_off, contiguous there.  Runs of any length go
 * out so (a data_fd has no cost a chunk).  Otherwise the headers and tail
 * records up to the next page data, at most @max and @room bytes, are
 * copied into @buf.  The dirty-bit argument of mig_save_fill_inplace()
 * holds: a page written after its record was staged is logged again and
 * sent in a later pass, and in stop-and-copy nothing writes device memory.  The bytes
 * emitted, and so mig_save_pending(), are those of mig_save_fill().
 *
 * Context: st->lock held.
 * Return: bytes emitted; 0 if there is nothing to send now.
 */
size_t mig_save_fill_span(struct mig_mdev_state *st, void *buf, size_t room,
			  size_t max, u64 *mem_off)
{
	struct mig_save *s = &st->save;
	u64 n;

	lockdep_assert_held(&st->lock);
	*mem_off = U64_MAX;
	if (!s->active)
		return 0;
	n = min_t(u64, max, mig_save_data_left(s));
	if (!n)
		return mig_save_emit(st, buf, min(room, max), 1);
	*mem_off = mig_save_data_off(s);
	mig_save_take(st, n);
	return n;
}

/* ------------------------------------------------------------------ */
/* Resume                                                              */
/* ------------------------------------------------------------------ */

/* Collect @need bytes in buf, then parse them in @phase. */
static void mig_load_expect(struct mig_load *ld, u32 phase, u32 need)
{
	ld->phase = phase;
	ld->have = 0;
	ld->need = need;
}

/* Wait for a stream header; the device is left as it is. */
static void mig_load_restart(struct mig_load *ld)
{
	ld->done = false;
	ld->version = 0;
	ld->rec_type = 0;
	ld->page = 0;
	ld->page_end = 0;
	ld->page_off = 0;
	ld->stream_len = 0;
	mig_load_expect(ld, MIG_LOAD_STREAM_HDR,
			sizeof(struct mig_stream_header));
}

/* What the stream being loaded allows; its header was accepted. */
static const struct mig_stream_ver *mig_load_ver(const struct mig_load *ld)
{
	return &mig_versions[ld->version];
}

static int mig_load_stream_hdr(struct mig_mdev_state *st)
{
	struct mig_load *ld = &st->load;
	struct mig_stream_header h;

	memcpy(&h, ld->buf, sizeof(h));
	ld->version = le16_to_cpu(h.version);
	if (le32_to_cpu(h.magic) != MIG_STREAM_MAGIC ||
	    ld->version >= ARRAY_SIZE(mig_versions) ||
	    !mig_versions[ld->version].max_run ||
	    le16_to_cpu(h.header_len) != sizeof(h) ||
	    le32_to_cpu(h.device_type) != st->type->stream_type ||
	    le32_to_cpu(h.page_size) != MIG_PAGE_SIZE ||
	    le64_to_cpu(h.mem_size) != st->type->mem_size)
		return -EINVAL;
	/* A version 1 device had no DMA engine: ours is idle, as after reset. */
	if (!mig_load_ver(ld)->dma)
		mig_dma_reset(&st->dev);
	mig_load_expect(ld, MIG_LOAD_REC_HDR, MIG_REC_HDR_SIZE);
	return 0;
}

/*
 * The record types that may come right before @type in the stream being
 * loaded: a version 1 stream has no DMA record, its END follows ENGINE.
 */
static u32 mig_load_after(const struct mig_load *ld, u32 type)
{
	if (mig_load_ver(ld)->dma)
		return mig_recs[type].after;
	if (type == MIG_REC_DMA)
		return 0;
	if (type == MIG_REC_END)
		return MIG_AFTER(MIG_REC_ENGINE);
	return mig_recs[type].after;
}

static int mig_load_rec_hdr(struct mig_mdev_state *st)
{
	struct mig_load *ld = &st->load;
	const struct mig_rec_desc *desc;
	struct mig_rec_header h;
	u32 type, len;

	memcpy(&h, ld->buf, sizeof(h));
	type = le32_to_cpu(h.type);
	len = le32_to_cpu(h.len);
	if (!type || type >= ARRAY_SIZE(mig_recs))
		return -EINVAL;
	desc = &mig_recs[type];
	if (!(mig_load_after(ld, type) & MIG_AFTER(ld->rec_type)))
		return -EINVAL;
	ld->rec_type = type;
	if (type == MIG_REC_PAGES) {
		/* Keep the header in buf; the pages head follows it. */
		ld->phase = MIG_LOAD_PAGES_HEAD;
		ld->need = MIG_PAGES_HDR_SIZE;
		return 0;
	}
	if (len != desc->len)
		return -EINVAL;
	mig_load_expect(ld, MIG_LOAD_PAYLOAD, len);
	return 0;
}

static int mig_load_pages_head(struct mig_mdev_state *st)
{
	struct mig_load *ld = &st->load;
	struct mig_rec_header h;
	struct mig_rec_pages p;
	u32 first, count;

	memcpy(&h, ld->buf, sizeof(h));
	memcpy(&p, ld->buf + sizeof(h), sizeof(p));
	first = le32_to_cpu(p.first);
	count = le32_to_cpu(p.count);
	if (!count || count > mig_load_ver(ld)->max_run ||
	    first > mig_dev_npages(&st->dev) ||
	    count > mig_dev_npages(&st->dev) - first ||
	    le32_to_cpu(h.len) != sizeof(p) + count * MIG_PAGE_SIZE)
		return -EINVAL;
	ld->page = first;
	ld->page_end = first + count;
	ld->page_off = 0;
	ld->phase = MIG_LOAD_PAGE_DATA;
	return 0;
}

static int mig_load_payload(struct mig_mdev_state *st)
{
	struct mig_load *ld = &st->load;
	u32 type = ld->rec_type;
	int ret;

	ret = mig_recs[type].load(st, ld->buf);
	if (ret)
		return ret;
	if (ld->phase == MIG_LOAD_DONE)
		return 0;
	/* Every record but END changes the device. */
	ld->applied = true;
	mig_load_expect(ld, MIG_LOAD_REC_HDR, MIG_REC_HDR_SIZE);
	return 0;
}

/*
 * Copy page data into device memory; returns the bytes consumed.  The pages
 * of a record are contiguous in device memory.  Whole pages are written and
 * hashed in one go; a page cut by the end of the chunk is finished by the
 * next one.
 */
static size_t mig_load_page_data(struct mig_mdev_state *st, const u8 *p,
				 size_t len)
{
	struct mig_load *ld = &st->load;
	u64 left = (u64)(ld->page_end - ld->page) * MIG_PAGE_SIZE -
		   ld->page_off;
	size_t n = min_t(u64, len, left);
	size_t done = 0, part;

	ld->applied = true;
	while (done < n) {
		part = min_t(size_t, n - done, MIG_PAGE_SIZE - ld->page_off);
		if (part == MIG_PAGE_SIZE)
			mig_dev_page_load(&st->dev, ld->page, p + done);
		else
			mig_dev_page_load_part(&st->dev, ld->page, ld->page_off,
					       p + done, part);
		done += part;
		ld->page_off += part;
		if (ld->page_off == MIG_PAGE_SIZE) {
			ld->page++;
			ld->page_off = 0;
		}
	}
	if (ld->page == ld->page_end)
		mig_load_expect(ld, MIG_LOAD_REC_HDR, MIG_REC_HDR_SIZE);
	return n;
}

/* Bytes collected in buf are complete: parse them. */
static int mig_load_parse(struct mig_mdev_state *st)
{
	switch (st->load.phase) {
	case MIG_LOAD_STREAM_HDR:
		return mig_load_stream_hdr(st);
	case MIG_LOAD_REC_HDR:
		return mig_load_rec_hdr(st);
	case MIG_LOAD_PAGES_HEAD:
		return mig_load_pages_head(st);
	case MIG_LOAD_PAYLOAD:
		return mig_load_payload(st);
	}
	WARN_ON_ONCE(1);
	return -EINVAL;
}

/**
 * mig_load_open() - start a resume session, or restart the parser
 * @st: the instance
 *
 * Without a session, or with one that has already changed the device, the
 * device is reset to its power-on state first (a new resume), memory
 * lazily: the pages the stream brings are never cleared, the others are
 * when the session is closed (mig_load_close()).  With a session that has
 * not applied any byte yet (a restart after a rejected chunk), only the
 * parser starts over, which is cheap: the device was not changed by the
 * stream and accesses made while RESUMING are kept.  Either way the parser
 * then waits for a stream header.
 *
 * Context: st->lock held.
 */
void mig_load_open(struct mig_mdev_state *st)
{
	struct mig_load *ld = &st->load;

	lockdep_assert_held(&st->lock);
	if (!ld->active || ld->applied)
		mig_dev_reset_lazy(&st->dev);
	memset(ld, 0, sizeof(*ld));
	ld->active = true;
	mig_load_restart(ld);
}

/**
 * mig_load_close() - drop the resume session
 * @st: the instance
 *
 * Whether the stream was complete or not, the pages it did not bring are
 * cleared now, as the reset that opened the session said.
 *
 * Context: st->lock held.
 */
void mig_load_close(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	if (st->load.active)
		mig_dev_mem_settle(&st->dev, 0, mig_dev_npages(&st->dev));
	memset(&st->load, 0, sizeof(st->load));
}

/**
 * mig_load_feed() - parse the next bytes of a resume stream
 * @st: the instance
 * @buf: the bytes (the data section: user-mappable, read once)
 * @len: how many, at least 1; the stream may be cut at any byte
 *
 * Validates the stream header against this instance, every record header
 * (known type, allowed after the previous record, exact payload length,
 * page range) and the end record (stream length, digest of the device
 * state as loaded), and applies the records to the device as they arrive.
 * Anything after the end record is rejected.
 *
 * On rejection the session's @applied says whether the device was changed.
 * If not, the parser is already back to waiting for a stream header (a
 * further mig_load_open() is cheap and changes nothing more); if it was,
 * every further byte is rejected until the session is closed.
 *
 * Context: st->lock held.
 * Return: 0, or -EINVAL if the bytes were rejected.
 */
int mig_load_feed(struct mig_mdev_state *st, const void *buf, size_t len)
{
	struct mig_load *ld = &st->load;
	const u8 *p = buf;
	int ret = 0;
	size_t n;

	lockdep_assert_held(&st->lock);
	if (!ld->active)
		return -EINVAL;
	while (len && !ret) {
		switch (ld->phase) {
		case MIG_LOAD_PAGE_DATA:
			n = mig_load_page_data(st, p, len);
			ld->stream_len += n;
			break;
		case MIG_LOAD_STREAM_HDR:
		case MIG_LOAD_REC_HDR:
		case MIG_LOAD_PAGES_HEAD:
		case MIG_LOAD_PAYLOAD:
			n = min_t(size_t, len, ld->need - ld->have);
			memcpy(ld->buf + ld->have, p, n);
			ld->have += n;
			ld->stream_len += n;
			if (ld->have == ld->need)
				ret = mig_load_parse(st);
			break;
		default:	/* DONE: nothing may follow END; FAILED */
			n = 0;
			ret = -EINVAL;
			break;
		}
		p += n;
		len -= n;
	}
	if (ret) {
		if (ld->applied) {
			ld->done = false;
			ld->phase = MIG_LOAD_FAILED;
		} else {
			mig_load_restart(ld);
		}
	}
	return ret;
}

/**
 * mig_load_account() - account for a piece of the resume stream
 * @st: the instance
 * @len: its bytes
 * @ret: what mig_load_feed() returned for it (for every part of it)
 *
 * The statistics and tracepoints both protocols keep for a piece of the
 * stream, however many mig_load_feed() calls it took.
 *
 * Context: st->lock held.
 */
void mig_load_account(struct mig_mdev_state *st, size_t len, int ret)
{
	lockdep_assert_held(&st->lock);
	trace_mig_resume_chunk(dev_name(st->vdev.dev), len, ret);
	if (!ret) {
		st->stats.chunks_loaded++;
		st->stats.bytes_loaded += len;
		st->stats.load_copied += len;
		return;
	}
	st->stats.errors++;
	trace_mig_error(dev_name(st->vdev.dev), st->load.applied ?
			"resume stream rejected after apply" :
			"resume stream rejected", ret);
}

/**
 * mig_load_chunk() - apply a piece of the resume stream and account for it
 * @st: the instance
 * @buf: the bytes (kernel memory)
 * @len: how many
 *
 * mig_load_feed() and mig_load_account().  The caller decides what a
 * refusal does to the state: a stream refused while st->load.applied is
 * clear starts over, one refused after it changed the device leaves the
 * device in ERROR.
 *
 * Context: st->lock held.
 * Return: as mig_load_feed().
 */
int mig_load_chunk(struct mig_mdev_state *st, const void *buf, size_t len)
{
	int ret;

	lockdep_assert_held(&st->lock);
	ret = len ? mig_load_feed(st, buf, len) : -EINVAL;
	mig_load_account(st, len, ret);
	return ret;
}
