// SPDX-License-Identifier: GPL-2.0
/*
 * stream_fuzz: the native fuzzer of the stream parser and generator.
 *
 * The module's mig_stream.c, mig_dev.c, mig_cfg.c, mig_state.c and
 * mig_dma.c are compiled unchanged beside this file, against the stand-ins
 * of include/kshim.h (and dma_stub.c for the DMA engine's writes); this file
 * plays the rest of the module (mig_mdev.c's BAR and config accesses, reset
 * and close, mig_region.c's chunk handling) with the same calls, under the
 * DMA lock and the instance lock as they take them (mig_lock()).  The input
 * format is in stream_fuzz.h.  Every property below is checked as the input runs;
 * a violation prints what was seen and calls abort(), so that libFuzzer
 * keeps the input.
 *
 * Resume mode, the body a stream fed to a destination in RESUMING:
 *  - a new resume starts from the power-on state (its digest);
 *  - a chunk is accepted or rejected with -EINVAL; bytes that leave nothing
 *    applied do not change the device (digest before and after);
 *  - a rejected chunk with nothing applied: the session starts over from a
 *    stream header (mig_hdr_data_size_write()); with something applied: the
 *    device goes to ERROR, where every further byte is refused and nothing
 *    changes, device_state writes are refused, and a reset leaves it;
 *  - when the parser says done, the last bytes fed are an END record whose
 *    digest is the device's and whose length is the stream's, after a
 *    stream header for this device; then RESUMING -> RUNNING succeeds and
 *    keeps that digest.  Without done it is refused;
 *  - with no session open, memory, the page hashes (against libxxhash) and
 *    the pending-zero bits agree.
 * Round-trip mode, the body a program run on a source device:
 *  - memory, register and config writes and engine ticks, pre-copy and
 *    stop-and-copy chunks of any size, cancels;
 *  - pending_bytes never lies: nonzero exactly when a chunk has data; in
 *    stop-and-copy a chunk is min(size, pending), pending drops by exactly
 *    its size and reaches 0 exactly when END was sent;
 *  - nothing changes the source while SAVING; END carries its digest;
 *  - the stream, cut anew, resumes into a second device (clean or not):
 *    every chunk accepted, digest, memory, config, registers and engine
 *    equal to the source's;
 *  - with SF_VIA, each chunk from mig_save_fill(), mig_save_fill_inplace()
 *    or mig_save_fill_span(), what is left in place copied out of device
 *    memory as a client does: the same bytes, pending counts and generator
 *    state as a second source saved with mig_save_fill() alone; in place
 *    only what each producer may leave there, copies within their room,
 *    spans within their max.
 */
#include <linux/bitmap.h>
#include <linux/pci_regs.h>

#include "mig.h"
#include "stream_fuzz.h"

#define SF_MAX_CHUNK	16384	/* largest chunk of the random patterns */
#define SF_MAX_CHUNKS	4096	/* then the rest goes in one chunk */
#define SF_MAX_RATE	4096	/* engine pages per second */
#define SF_MAX_TICKS	16	/* engine ticks of a program; the rest do nothing */
#define SF_END_SIZE	(sizeof(struct mig_rec_header) + \
			 sizeof(struct mig_rec_end))

/* What the rest of the module defines is in kmodule.c. */

/* A BAR0 write as mig_mdev.c makes it (the doorbell raises no IRQ here). */
static int sf_bar0_write(struct mig_mdev_state *st, u32 off, u32 val)
{
	bool doorbell;

	return mig_dev_bar0_write(&st->dev, off, val, &doorbell);
}

/* ---- checks ---- */

static __printf(3, 4) __attribute__((noreturn))
void sf_fail(int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "stream_fuzz: property violated (stream_fuzz.c:%d, %s): ",
		line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define sf_check(cond, fmt, ...) do {					\
	if (!(cond))							\
		sf_fail(__LINE__, #cond, fmt, ##__VA_ARGS__);		\
} while (0)

/* ---- random numbers and chunk sizes, all derived from the input ---- */

static u32 sf_rand(u32 *x)
{
	/* xorshift32 */
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static u32 sf_rand_init(u32 seed, u32 salt)
{
	u32 x = (seed * 0x9e3779b1u) ^ salt;

	return x ? x : 1;
}

/**
 * struct sf_chunker - cuts a byte sequence into chunks
 * @split: enum sf_split
 * @seed: the input's seed
 * @rng: random state
 * @count: chunks cut so far
 */
struct sf_chunker {
	u32 split;
	u32 seed;
	u32 rng;
	u32 count;
};

static void sf_chunker_init(struct sf_chunker *c, u32 split, u32 seed,
			    u32 salt)
{
	c->split = split % SF_SPLIT_NR;
	c->seed = seed;
	c->rng = sf_rand_init(seed, salt);
	c->count = 0;
}

/* The size of the next chunk, 1..@left (@left > 0). */
static size_t sf_chunk_len(struct sf_chunker *c, size_t left)
{
	u32 split = c->split;
	size_t n = left;

	if (c->count++ >= SF_MAX_CHUNKS)
		return left;
	if (split == SF_SPLIT_MIX)
		split = sf_rand(&c->rng) % SF_SPLIT_MIX;
	switch (split) {
	case SF_SPLIT_BYTE:
		n = 1;
		break;
	case SF_SPLIT_FIXED:
		n = 1 + c->seed % 8192;
		break;
	case SF_SPLIT_PAGES:
		n = MIG_PAGE_SIZE * (1 + c->seed % 4);
		break;
	case SF_SPLIT_SMALL:
		n = 1 + sf_rand(&c->rng) % 64;
		break;
	case SF_SPLIT_RANDOM:
		n = 1 + sf_rand(&c->rng) % SF_MAX_CHUNK;
		break;
	case SF_SPLIT_TWO:
		if (c->count == 1)
			n = 1 + c->seed % left;
		break;
	}
	return min(n, left);
}

/* Operands of a round-trip program; zeros once it ends. */
struct sf_prog {
	const u8 *p;
	size_t left;
};

static u32 sf_take(struct sf_prog *pr, unsigned int bytes)
{
	u32 v = 0;
	unsigned int i;

	for (i = 0; i < bytes && pr->left; i++, pr->left--)
		v |= (u32)*pr->p++ << (8 * i);
	return v;
}

/* ---- the device, and the accesses mig_mdev.c makes of it ---- */

static struct mig_type sf_types[2] = {
	{ .stream_type = MIG_TYPE_SMALL,
	  .mem_size = SF_SMALL_PAGES * MIG_PAGE_SIZE },
	{ .stream_type = MIG_TYPE_LARGE,
	  .mem_size = SF_LARGE_PAGES * MIG_PAGE_SIZE },
};

static struct mig_mdev_state *sf_dev_new(const struct mig_type *type)
{
	struct mig_mdev_state *st = calloc(1, sizeof(*st));

	sf_check(st, "out of memory");
	/* as mig_init_dev() */
	st->type = type;
	st->irq_index = -1;
	st->mig_state = MIG_STATE_RUNNING;
	mutex_init(&st->lock);
	sf_check(!mig_dev_init(&st->dev, &st->lock, type->mem_size),
		 "mig_dev_init() failed");
	/* as mig_open_device(): the device has a user */
	mig_lock(st);
	mig_dev_set_user(&st->dev, true);
	mig_unlock(st);
	return st;
}

static void sf_dev_free(struct mig_mdev_state *st)
{
	/* as mig_remove() and mig_release_dev() */
	mig_dev_engine_cancel(&st->dev);
	mig_dev_free(&st->dev);
	mutex_destroy(&st->lock);
	free(st);
}

/* The digest of a device just created (or reset), per type. */
static u64 sf_power_on_digest(const struct mig_type *type)
{
	static u64 digest[ARRAY_SIZE(sf_types)];
	static bool known[ARRAY_SIZE(sf_types)];
	size_t i = type - sf_types;
	struct mig_mdev_state *st;

	if (!known[i]) {
		st = sf_dev_new(type);
		mig_lock(st);
		digest[i] = mig_dev_digest(&st->dev);
		mig_unlock(st);
		sf_dev_free(st);
		known[i] = true;
	}
	return digest[i];
}

void sf_pattern(u8 *dst, size_t len, u32 pattern)
{
	u32 x = sf_rand_init(pattern, 0x4d454d);
	size_t i;
	u32 w;

	for (i = 0; i < len; i += sizeof(w)) {
		w = pattern ? sf_rand(&x) : 0;
		memcpy(dst + i, &w, min(sizeof(w), len - i));
	}
}

/*
 * A BAR2 write, as mig_bar2_rw() makes it, of sf_pattern() bytes; the lock
 * is held.
 */
static void sf_mem_write(struct mig_mdev_state *st, u64 off, size_t len,
			 u32 pattern)
{
	u32 first = off / MIG_PAGE_SIZE;
	u32 last = (off + len - 1) / MIG_PAGE_SIZE;

	sf_pattern(st->dev.mem + off, len, pattern);
	mig_dev_mem_written(&st->dev, first, last - first + 1);
}

/* Time passes; the engine's work item runs if it is queued (no lock). */
static void sf_tick(struct mig_mdev_state *st, u32 us)
{
	kshim_now_ns += (s64)us * NSEC_PER_USEC;
	kshim_run_delayed_work(&st->dev.engine.work);
}

/* VFIO_DEVICE_RESET, as mig_reset(); the lock is held. */
static void sf_reset(struct mig_mdev_state *st)
{
	mig_state_drop(st);
	st->mig_state = MIG_STATE_RUNNING;
	mig_dev_reset(&st->dev);
	sf_check(mig_dev_digest(&st->dev) == sf_power_on_digest(st->type),
		 "a reset does not give the power-on state");
}

/* A close of the device fd, as mig_close_device(); the lock is held. */
static void sf_close(struct mig_mdev_state *st)
{
	u64 digest = mig_dev_digest(&st->dev);

	mig_state_drop(st);
	st->mig_state = MIG_STATE_RUNNING;
	mig_dev_set_user(&st->dev, false);
	/* and the next open */
	mig_dev_set_user(&st->dev, true);
	sf_check(mig_dev_digest(&st->dev) == digest,
		 "a close changed the device's state");
}

/*
 * With no resume session open, memory is the device's state: no page is
 * pending zero, and each page's hash is the reference XXH64 of its bytes.
 */
static void sf_check_memory(struct mig_mdev_state *st)
{
	u32 page;
	u64 want;

	(void)mig_dev_digest(&st->dev);	/* brings a stale page up to date */
	sf_check(bitmap_empty(st->dev.zero_pending, st->dev.npages),
		 "pages pending zero with no resume session");
	for (page = 0; page < st->dev.npages; page++) {
		want = XXH64(st->dev.mem + (size_t)page * MIG_PAGE_SIZE,
			     MIG_PAGE_SIZE, 0);
		sf_check(le64_to_cpu(st->dev.page_hash[page]) == want,
			 "page %u: hash %016llx, its bytes hash to %016llx",
			 page, (unsigned long long)
			 le64_to_cpu(st->dev.page_hash[page]),
			 (unsigned long long)want);
	}
}

/* A destination that has state of its own before it resumes. */
static void sf_dirty(struct mig_mdev_state *st, u32 seed)
{
	u16 cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	mig_lock(st);
	sf_mem_write(st, 0, st->type->mem_size, seed | 1);
	sf_bar0_write(st, MIG_REG_SCRATCH0, seed);
	sf_bar0_write(st, MIG_REG_ENGINE_SEED, seed);
	sf_bar0_write(st, MIG_REG_ENGINE_RATE, 1000);
	sf_bar0_write(st, MIG_REG_CONTROL, MIG_CTRL_ENGINE_EN);
	mig_cfg_write(&st->dev, PCI_COMMAND, &cmd, sizeof(cmd));
	mig_unlock(st);
	sf_tick(st, 5000);	/* ~5 pages */
}

/* ---- resume mode ---- */

/**
 * struct sf_resume - a stream fed to a destination
 * @st: the destination
 * @body: the stream bytes
 * @len: their number
 * @pos: bytes fed (or dropped with a rejected chunk) so far
 * @start: where the stream of the current session began in @body
 * @end_digest: the digest of the END record the parser accepted
 * @ch: cuts @body into chunks
 * @res: counts
 */
struct sf_resume {
	struct mig_mdev_state *st;
	const u8 *body;
	size_t len;
	size_t pos;
	size_t start;
	u64 end_digest;
	struct sf_chunker ch;
	struct sf_result *res;
};

/* RUNNING -> RESUMING: a new session on a device at power-on state. */
static void sf_resume_begin(struct sf_resume *r)
{
	struct mig_mdev_state *st = r->st;

	mig_lock(st);
	sf_check(!mig_state_set(st, MIG_STATE_RESUMING),
		 "RUNNING -> RESUMING refused");
	sf_check(st->load.active && !st->load.applied && !st->load.done,
		 "a new resume session is not fresh");
	sf_check(mig_dev_digest(&st->dev) == sf_power_on_digest(st->type),
		 "RESUMING does not start from the power-on state");
	mig_unlock(st);
	r->start = r->pos;
	r->res->sessions++;
}

/* The parser says done: the bytes up to @r->pos end with a good END. */
static void sf_resume_check_end(struct sf_resume *r)
{
	struct mig_mdev_state *st = r->st;
	size_t len = r->pos - r->start;
	const u8 *s = r->body + r->start;
	struct mig_stream_header h;
	struct mig_rec_header rh;
	struct mig_rec_end e;

	sf_check(len >= sizeof(h) + SF_END_SIZE,
		 "a stream of %zu bytes accepted", len);
	memcpy(&h, s, sizeof(h));
	sf_check(le32_to_cpu(h.magic) == MIG_STREAM_MAGIC &&
		 le16_to_cpu(h.version) >= MIG_STREAM_VERSION_NODMA &&
		 le16_to_cpu(h.version) <= MIG_STREAM_VERSION &&
		 le16_to_cpu(h.header_len) == sizeof(h) &&
		 le32_to_cpu(h.device_type) == st->type->stream_type &&
		 le32_to_cpu(h.page_size) == MIG_PAGE_SIZE &&
		 le64_to_cpu(h.mem_size) == st->type->mem_size,
		 "a stream accepted with a stream header for another device");
	memcpy(&rh, s + len - SF_END_SIZE, sizeof(rh));
	memcpy(&e, s + len - sizeof(e), sizeof(e));
	sf_check(le32_to_cpu(rh.type) == MIG_REC_END &&
		 le32_to_cpu(rh.len) == sizeof(e),
		 "the stream was done after a record that is not END");
	sf_check(le64_to_cpu(e.stream_len) == len - SF_END_SIZE,
		 "END says %llu bytes, the stream had %zu before it",
		 (unsigned long long)le64_to_cpu(e.stream_len),
		 len - SF_END_SIZE);
	sf_check(le64_to_cpu(e.digest) == mig_dev_digest(&st->dev),
		 "END digest %016llx, device %016llx",
		 (unsigned long long)le64_to_cpu(e.digest),
		 (unsigned long long)mig_dev_digest(&st->dev));
	r->end_digest = le64_to_cpu(e.digest);
	r->res->accepted++;
}

/*
 * A chunk was rejected after bytes were applied: ERROR, as mig_region.c
 * does it.  Until then every further byte is refused and changes nothing;
 * in ERROR the device keeps its state and only a reset leaves it.
 * The lock is held.
 */
static void sf_resume_error(struct sf_resume *r)
{
	struct mig_mdev_state *st = r->st;
	u64 digest = mig_dev_digest(&st->dev);
	u8 *more = malloc(1);

	r->res->errors++;
	*more = r->pos < r->len ? r->body[r->pos] : 0;
	sf_check(mig_load_feed(st, more, 1) == -EINVAL,
		 "a failed session took another byte");
	free(more);
	sf_check(mig_dev_digest(&st->dev) == digest,
		 "a byte fed to a failed session changed the device");
	mig_state_error(st);
	sf_check(st->mig_state == MIG_STATE_ERROR && !st->load.active,
		 "mig_state_error() left state %u, session %d",
		 st->mig_state, st->load.active);
	sf_check(mig_dev_digest(&st->dev) == digest,
		 "entering ERROR changed the device");
	sf_check_memory(st);
	sf_check(mig_state_set(st, MIG_STATE_RUNNING) == -EINVAL &&
		 st->mig_state == MIG_STATE_ERROR,
		 "a device_state write left ERROR");
	sf_reset(st);
}

/* Feed the next chunk, as a write of data_size does. */
static void sf_resume_chunk(struct sf_resume *r)
{
	struct mig_mdev_state *st = r->st;
	struct mig_load *ld = &st->load;
	size_t n = sf_chunk_len(&r->ch, r->len - r->pos);
	bool applied = ld->applied;
	u64 before = 0;
	u8 *chunk;
	int ret;

	/* exactly the chunk, so that AddressSanitizer sees any overread */
	chunk = malloc(n);
	sf_check(chunk, "out of memory");
	memcpy(chunk, r->body + r->pos, n);
	mig_lock(st);
	if (!applied)
		before = mig_dev_digest(&st->dev);
	ret = mig_load_feed(st, chunk, n);
	free(chunk);
	r->pos += n;
	sf_check(ret == 0 || ret == -EINVAL, "mig_load_feed() returned %d",
		 ret);
	sf_check(!applied || ld->applied, "applied went back to false");
	sf_check(st->mig_state == MIG_STATE_RESUMING && ld->active,
		 "a chunk ended the session");
	if (!ld->applied)
		sf_check(mig_dev_digest(&st->dev) == before,
			 "bytes that applied nothing changed the device");
	if (!ret) {
		if (ld->done)
			sf_resume_check_end(r);
		mig_unlock(st);
		return;
	}
	r->res->rejected++;
	sf_check(!ld->done, "a rejected chunk left the stream done");
	if (!ld->applied) {
		/* the session starts over, from a stream header */
		mig_load_open(st);
		sf_check(mig_dev_digest(&st->dev) == before,
			 "starting the session over changed the device");
		r->start = r->pos;
		mig_unlock(st);
		return;
	}
	sf_resume_error(r);
	mig_unlock(st);
	if (r->pos < r->len)
		sf_resume_begin(r);
}

/* The body is fed: RESUMING -> RUNNING, which needs a verified stream. */
static void sf_resume_end(struct sf_resume *r, bool reset)
{
	struct mig_mdev_state *st = r->st;
	bool done;
	int ret;

	mig_lock(st);
	if (st->mig_state == MIG_STATE_RESUMING) {
		done = st->load.done;
		ret = mig_state_set(st, MIG_STATE_RUNNING);
		if (done) {
			sf_check(!ret && st->mig_state == MIG_STATE_RUNNING &&
				 !st->load.active,
				 "RESUMING -> RUNNING refused after a whole stream");
			sf_check(mig_dev_digest(&st->dev) == r->end_digest,
				 "leaving RESUMING changed the device");
		} else {
			sf_check(ret == -EINVAL &&
				 st->mig_state == MIG_STATE_RESUMING,
				 "RESUMING -> RUNNING without a whole stream");
			if (reset)
				sf_reset(st);
			else
				sf_close(st);
		}
	}
	sf_check_memory(st);
	mig_unlock(st);
}

/* Append up to @n bytes of @in to @out, within SF_COMPACT_MAX. */
static size_t sf_expand_copy(u8 *out, size_t *olen, const u8 *in,
			     size_t left, size_t n)
{
	n = min(n, left);
	n = min(n, SF_COMPACT_MAX - *olen);
	memcpy(out + *olen, in, n);
	*olen += n;
	return n;
}

/*
 * An SF_COMPACT body as the stream it stands for: headers and payloads as
 * they are, each page of a MIG_REC_PAGES record a byte for sf_pattern()
 * (at most SF_LARGE_PAGES of them a record).  Whatever the lengths say, the
 * body is read once and the stream is at most SF_COMPACT_MAX bytes.
 */
static u8 *sf_expand(const u8 *body, size_t len, size_t *olen)
{
	u8 *out = malloc(SF_COMPACT_MAX);
	struct mig_rec_header h;
	struct mig_rec_pages p;
	size_t pos, n;
	u32 pages;

	sf_check(out, "out of memory");
	*olen = 0;
	pos = sf_expand_copy(out, olen, body, len,
			     sizeof(struct mig_stream_header));
	while (pos < len && *olen < SF_COMPACT_MAX) {
		n = sf_expand_copy(out, olen, body + pos, len - pos, sizeof(h));
		memcpy(&h, body + pos, n);
		pos += n;
		if (n < sizeof(h))
			break;
		if (le32_to_cpu(h.type) != MIG_REC_PAGES) {
			pos += sf_expand_copy(out, olen, body + pos, len - pos,
					      le32_to_cpu(h.len));
			continue;
		}
		n = sf_expand_copy(out, olen, body + pos, len - pos, sizeof(p));
		memcpy(&p, body + pos, n);
		pos += n;
		if (n < sizeof(p))
			break;
		for (pages = 0; pages < min_t(u32, le32_to_cpu(p.count),
					      SF_LARGE_PAGES) && pos < len &&
		     *olen <= SF_COMPACT_MAX - MIG_PAGE_SIZE; pages++) {
			sf_pattern(out + *olen, MIG_PAGE_SIZE, body[pos++]);
			*olen += MIG_PAGE_SIZE;
		}
	}
	return out;
}

static void sf_resume(const struct mig_type *type, u32 flags, u32 split,
		      u32 seed, const u8 *body, size_t len,
		      struct sf_result *res)
{
	struct sf_resume r = {
		.body = body,
		.len = len,
		.res = res,
	};
	u8 *expanded = NULL;

	if (flags & SF_COMPACT) {
		expanded = sf_expand(body, len, &r.len);
		r.body = expanded;
	}
	r.st = sf_dev_new(type);
	sf_chunker_init(&r.ch, split, seed, 0x52455355);
	if (flags & SF_DIRTY)
		sf_dirty(r.st, seed);
	sf_resume_begin(&r);
	while (r.pos < r.len)
		sf_resume_chunk(&r);
	sf_resume_end(&r, flags & SF_RESET);
	sf_dev_free(r.st);
	free(expanded);
}

/* ---- round-trip mode ---- */

/**
 * struct sf_trip - a source device, a program and the stream it saved
 * @src: the source
 * @ref: with SF_VIA, a second source that runs the same program, its
 *       chunks all from mig_save_fill() and of the sizes @src's had;
 *       else NULL
 * @prog: the program
 * @stream: the stream saved so far (malloc'ed)
 * @len: its length
 * @cap: its allocated size
 * @ref_stream: @ref's stream, as @stream
 * @ref_len: its length
 * @ref_cap: its allocated size
 * @rec: the start of a record of @stream at or before the next chunk
 * @stop_digest: the source's digest when it entered SAVING
 * @ticks: SF_OP_TICK operations so far
 * @rng: with SF_VIA, draws the producers of the chunks that finish the save
 * @res: counts
 */
struct sf_trip {
	struct mig_mdev_state *src;
	struct mig_mdev_state *ref;
	struct sf_prog prog;
	u8 *stream;
	size_t len;
	size_t cap;
	u8 *ref_stream;
	size_t ref_len;
	size_t ref_cap;
	size_t rec;
	u64 stop_digest;
	u32 ticks;
	u32 rng;
	struct sf_result *res;
};

/* Room for @n more bytes in a stream buffer. */
static void sf_grow(u8 **buf, size_t *cap, size_t len, size_t n)
{
	if (*cap - len >= n)
		return;
	*cap = (len + n) * 2;
	*buf = realloc(*buf, *cap);
	sf_check(*buf, "out of memory");
}

/*
 * One save chunk as mig_region.c makes it (pending_bytes, then data_offset
 * fills the section, then data_size), at most @max bytes.
 */
static void sf_trip_chunk(struct sf_trip *t, size_t max)
{
	struct mig_mdev_state *st = t->src;
	bool final = st->save.final;
	u64 before, after;
	size_t n;

	sf_grow(&t->stream, &t->cap, t->len, max);
	mig_lock(st);
	before = mig_save_pending(st);
	n = mig_save_fill(st, t->stream + t->len, max);
	after = mig_save_pending(st);
	mig_unlock(st);
	sf_check(n <= max, "a chunk of %zu bytes in a section of %zu", n, max);
	sf_check(!before == !n, "pending_bytes %llu, the chunk had %zu bytes",
		 (unsigned long long)before, n);
	if (final) {
		sf_check(n == min_t(u64, max, before),
			 "stop-and-copy: a chunk of %zu bytes, %zu room, pending_bytes %llu",
			 n, max, (unsigned long long)before);
		sf_check(after == before - n,
			 "stop-and-copy: pending_bytes %llu, a chunk of %zu, then %llu",
			 (unsigned long long)before, n,
			 (unsigned long long)after);
		sf_check(st->save.done == !after,
			 "pending_bytes %llu with END %s", (unsigned long long)after,
			 st->save.done ? "sent" : "not sent");
	} else {
		sf_check(!st->save.done, "END sent in pre-copy");
	}
	t->len += n;
}

/**
 * struct sf_rec - a record of the saved stream, as its header says
 * @start: offset of its header in the stream
 * @data: offset of its page data (MIG_REC_PAGES), else @end
 * @end: offset of the byte after it
 * @type: MIG_REC_*
 * @first: MIG_REC_PAGES: its first page
 * @count: MIG_REC_PAGES: its pages
 */
struct sf_rec {
	size_t start;
	size_t data;
	size_t end;
	u32 type;
	u32 first;
	u32 count;
};

#define SF_PAGES_HDR	(sizeof(struct mig_rec_header) + \
			 sizeof(struct mig_rec_pages))

/*
 * The record of the saved stream that holds byte @pos, found from @t->rec
 * on; false if @pos is in the stream header or the record's header (with
 * the pages head) is not all in the stream yet.
 */
static bool sf_trip_rec(const struct sf_trip *t, size_t pos, struct sf_rec *r)
{
	size_t at = max(t->rec, sizeof(struct mig_stream_header));
	struct mig_rec_header h;
	struct mig_rec_pages pg;

	if (pos < at)
		return false;
	for (;;) {
		if (at + sizeof(h) > t->len)
			return false;
		memcpy(&h, t->stream + at, sizeof(h));
		r->start = at;
		r->type = le32_to_cpu(h.type);
		r->end = at + sizeof(h) + le32_to_cpu(h.len);
		r->data = r->end;
		r->first = 0;
		r->count = 0;
		if (r->type == MIG_REC_PAGES) {
			if (at + SF_PAGES_HDR > t->len)
				return false;
			memcpy(&pg, t->stream + at + sizeof(h), sizeof(pg));
			r->first = le32_to_cpu(pg.first);
			r->count = le32_to_cpu(pg.count);
			r->data = at + SF_PAGES_HDR;
			sf_check(r->end - r->data == (size_t)r->count * MIG_PAGE_SIZE,
				 "a record of %u pages, %zu bytes of page data",
				 r->count, r->end - r->data);
		}
		if (pos < r->end)
			return true;
		at = r->end;
	}
}

/* Is byte @pos of the stream the first of a page of a run of @min pages? */
static bool sf_trip_page_start(const struct sf_trip *t, size_t pos, u32 min)
{
	struct sf_rec r;

	return sf_trip_rec(t, pos, &r) && r.type == MIG_REC_PAGES &&
	       pos >= r.data && !((pos - r.data) % MIG_PAGE_SIZE) &&
	       r.count >= min;
}

/**
 * struct sf_via_chunk - one chunk of an SF_VIA save
 * @via: its producer, enum sf_via
 * @room: the section's size, or the read's buffer
 * @max: mig_save_fill_span(): the most bytes of the chunk
 * @off: where the chunk is in device memory, U64_MAX if it was copied
 * @pos: where it starts in the stream
 * @n: its size
 * @after: mig_save_pending() after it
 */
struct sf_via_chunk {
	u32 via;
	size_t room;
	size_t max;
	u64 off;
	size_t pos;
	size_t n;
	u64 after;
};

/*
 * Where the bytes of chunk @c, now at the end of the stream, are: page data
 * left in place is whole pages of one long run from a page boundary (the
 * rest of the run) for mig_save_fill_inplace(), the next bytes of one
 * run's page data for mig_save_fill_span(), in device memory at the
 * record's own offset; a copy holds no page-aligned data of a long run
 * (mig_save_fill_inplace()), no page data at all (mig_save_fill_span()),
 * and stops short of its room only where such page data starts or when
 * there is nothing more to send now.
 */
static void sf_trip_check_place(struct sf_trip *t,
				const struct sf_via_chunk *c)
{
	size_t end = c->pos + c->n, at = c->pos, a, b;
	bool inplace = c->off != U64_MAX, seen = false;
	struct sf_rec r;

	if (sf_trip_rec(t, c->pos, &r))
		t->rec = r.start;
	while (at < end && sf_trip_rec(t, at, &r)) {
		a = max(at, r.data);
		b = min(end, r.end);
		at = r.end;
		if (a >= b)
			continue;
		seen = true;
		if (inplace) {
			sf_check(a == c->pos && b == end &&
				 c->off == (u64)r.first * MIG_PAGE_SIZE +
					   (a - r.data),
				 "a chunk at %#llx in memory, %zu bytes: stream bytes %zu..%zu, page data of pages %u+%u at %zu",
				 (unsigned long long)c->off, c->n, c->pos,
				 end, r.first, r.count, r.data);
			if (c->via == SF_VIA_INPLACE)
				sf_check(b == r.end && r.count >= MIG_INPLACE_MIN_PAGES &&
					 !((a - r.data) % MIG_PAGE_SIZE) &&
					 !(c->off % MIG_PAGE_SIZE) &&
					 !(c->n % MIG_PAGE_SIZE),
					 "in place: %zu bytes at %#llx, %zu into a run of %u pages",
					 c->n, (unsigned long long)c->off,
					 a - r.data, r.count);
			else
				sf_check(c->n == min(c->max, r.end - a),
					 "a span of %zu bytes, max %zu, %zu left in the run",
					 c->n, c->max, r.end - a);
		} else {
			sf_check(c->via != SF_VIA_SPAN,
				 "a span copied %zu bytes of page data", b - a);
			sf_check(c->via != SF_VIA_INPLACE ||
				 r.count < MIG_INPLACE_MIN_PAGES ||
				 ((a - r.data) % MIG_PAGE_SIZE &&
				  (a - r.data) / MIG_PAGE_SIZE ==
				  (b - 1 - r.data) / MIG_PAGE_SIZE),
				 "page data of a run of %u pages copied from byte %zu to %zu of it",
				 r.count, a - r.data, b - r.data);
		}
	}
	sf_check(!inplace || seen, "a chunk in place that is not page data");
	if (inplace || !c->after)
		return;
	if (c->via == SF_VIA_INPLACE && c->n < c->room)
		sf_check(sf_trip_page_start(t, end, MIG_INPLACE_MIN_PAGES),
			 "a copy of %zu bytes, room %zu, stopped at stream byte %zu",
			 c->n, c->room, end);
	if (c->via == SF_VIA_SPAN && c->n < min(c->room, c->max))
		sf_check(sf_trip_page_start(t, end, 1) &&
			 sf_trip_rec(t, end, &r) && r.data == end,
			 "a span copy of %zu bytes, room %zu, max %zu, stopped at stream byte %zu",
			 c->n, c->room, c->max, end);
}

/*
 * The same bytes from @t->ref, with mig_save_fill() and a section of the
 * chunk's size: the producers emit the stream of mig_save_fill(), and the
 * generators stay in the same state.  A copy that ran dry looked for the
 * next record, which a fill of exactly its size does not: when nothing is
 * left, one more byte's room lets @t->ref look too.
 */
static void sf_trip_ref_chunk(struct sf_trip *t, const struct sf_via_chunk *c)
{
	struct mig_mdev_state *ref = t->ref;
	size_t n;
	u8 more;

	sf_grow(&t->ref_stream, &t->ref_cap, t->ref_len, c->n);
	mig_lock(ref);
	n = mig_save_fill(ref, t->ref_stream + t->ref_len, c->n);
	sf_check(n == c->n, "mig_save_fill() gave %zu bytes, the chunk had %zu",
		 n, c->n);
	if (!c->after && memcmp(&ref->save, &t->src->save, sizeof(ref->save)))
		sf_check(!mig_save_fill(ref, &more, 1),
			 "mig_save_fill() found more than the chunk's producer");
	sf_check(mig_save_pending(ref) == c->after,
		 "pending_bytes %llu after the chunk, %llu after mig_save_fill()",
		 (unsigned long long)c->after,
		 (unsigned long long)mig_save_pending(ref));
	sf_check(!memcmp(&ref->save, &t->src->save, sizeof(ref->save)),
		 "the generator's state differs from mig_save_fill()'s");
	mig_unlock(ref);
	sf_check(t->ref_len == c->pos &&
		 !memcmp(t->ref_stream + t->ref_len, t->stream + c->pos, n),
		 "stream bytes %zu..%zu differ from mig_save_fill()'s",
		 c->pos, c->pos + n);
	t->ref_len += n;
}

/*
 * An SF_VIA save chunk from producer @via, as mig_region.c (v1 data
 * section or window) or mig_v2.c (data_fd read) makes it; the client
 * copies what is in place out of device memory, as it reads the window or
 * the data_fd.
 */
static void sf_trip_chunk_via(struct sf_trip *t, u32 via, size_t room,
			      size_t max)
{
	struct mig_mdev_state *st = t->src;
	struct sf_via_chunk c = {
		.via = via % SF_VIA_NR,
		.room = room,
		.max = max,
		.off = U64_MAX,
		.pos = t->len,
	};
	bool final = st->save.final;
	const u8 *from;
	u64 before;
	u8 *sec;

	/* exactly the room, so that AddressSanitizer sees any overrun */
	sec = malloc(room);
	sf_check(sec, "out of memory");
	mig_lock(st);
	before = mig_save_pending(st);
	switch (c.via) {
	case SF_VIA_FILL:
		c.n = mig_save_fill(st, sec, room);
		break;
	case SF_VIA_INPLACE:
		c.n = mig_save_fill_inplace(st, sec, room, &c.off);
		break;
	default:
		c.n = mig_save_fill_span(st, sec, room, max, &c.off);
		break;
	}
	c.after = mig_save_pending(st);
	mig_unlock(st);
	if (c.off == U64_MAX) {
		sf_check(c.n <= room, "producer %u: %zu bytes copied, room %zu",
			 c.via, c.n, room);
		from = sec;
	} else {
		sf_check(c.via != SF_VIA_FILL, "mig_save_fill() in place");
		sf_check(c.n && c.off <= st->type->mem_size &&
			 c.n <= st->type->mem_size - c.off,
			 "%zu bytes in place at %#llx", c.n,
			 (unsigned long long)c.off);
		from = st->dev.mem + c.off;
	}
	sf_check(c.via != SF_VIA_SPAN || c.n <= max,
		 "a span of %zu bytes, max %zu", c.n, max);
	sf_check(!before == !c.n, "pending_bytes %llu, the chunk had %zu bytes",
		 (unsigned long long)before, c.n);
	if (final) {
		sf_check(c.via != SF_VIA_FILL || c.n == min_t(u64, room, before),
			 "stop-and-copy: a chunk of %zu bytes, %zu room, pending_bytes %llu",
			 c.n, room, (unsigned long long)before);
		sf_check(c.after == before - c.n,
			 "stop-and-copy: pending_bytes %llu, a chunk of %zu, then %llu",
			 (unsigned long long)before, c.n,
			 (unsigned long long)c.after);
		sf_check(st->save.done == !c.after,
			 "pending_bytes %llu with END %s",
			 (unsigned long long)c.after,
			 st->save.done ? "sent" : "not sent");
	} else {
		sf_check(!st->save.done, "END sent in pre-copy");
	}
	sf_grow(&t->stream, &t->cap, t->len, c.n);
	memcpy(t->stream + t->len, from, c.n);
	t->len += c.n;
	free(sec);
	t->res->chunks++;
	t->res->inplace += c.off != U64_MAX;
	sf_trip_check_place(t, &c);
	sf_trip_ref_chunk(t, &c);
}

/* Device @i of a round trip: the source, then with SF_VIA the reference. */
static struct mig_mdev_state *sf_trip_dev(const struct sf_trip *t, int i)
{
	return i == 0 ? t->src : i == 1 ? t->ref : NULL;
}

/* A device_state write that the state table allows; lock not held. */
static void sf_trip_state(struct sf_trip *t, u32 state)
{
	struct mig_mdev_state *st;
	u32 from = t->src->mig_state;
	int ret, i;

	for (i = 0; (st = sf_trip_dev(t, i)); i++) {
		mig_lock(st);
		ret = mig_state_set(st, state);
		sf_check(!ret && st->mig_state == state,
			 "device_state %u -> %u: %d", from, state, ret);
		if (state == MIG_STATE_SAVING || state == MIG_STATE_PRECOPY)
			sf_check(st->save.active &&
				 st->save.final == (state == MIG_STATE_SAVING),
				 "device_state %u -> %u: no save session", from,
				 state);
		if (state == MIG_STATE_SAVING && !i)
			t->stop_digest = mig_dev_digest(&st->dev);
		if (state == MIG_STATE_SAVING && i)
			sf_check(mig_dev_digest(&st->dev) == t->stop_digest,
				 "the reference source differs from the source");
		mig_unlock(st);
	}
	if (from != state && (from == MIG_STATE_RUNNING ||
			      state == MIG_STATE_RUNNING)) {
		/* a new save, or the old one dropped */
		t->len = 0;
		t->ref_len = 0;
		t->rec = 0;
	}
}

static void sf_trip_op(struct sf_trip *t)
{
	struct mig_mdev_state *st = t->src;
	struct sf_prog *pr = &t->prog;
	u32 op = sf_take(pr, 1) % SF_OP_NR;
	bool frozen = st->mig_state == MIG_STATE_SAVING;
	u32 off = 0, len = 0, val = 0, width = 0, via = 0, max = 0;
	u64 digest;
	int i;

	switch (op) {
	case SF_OP_MEM:
		off = sf_take(pr, 4) % st->type->mem_size;
		len = 1 + sf_take(pr, 2);
		val = sf_take(pr, 1);
		break;
	case SF_OP_BAR0:
		off = 4 * (sf_take(pr, 1) % 32);
		val = sf_take(pr, 4);
		break;
	case SF_OP_CFG:
		off = sf_take(pr, 1);
		width = 1 << (sf_take(pr, 1) % 3);
		val = cpu_to_le32(sf_take(pr, 4));
		break;
	case SF_OP_ENGINE:
		val = sf_take(pr, 2) % SF_MAX_RATE;
		break;
	case SF_OP_TICK:
		val = sf_take(pr, 1);
		if (t->ticks++ >= SF_MAX_TICKS)
			return;
		/* one clock: both sources' engines see the same time */
		kshim_now_ns += (s64)64 * val * NSEC_PER_USEC;
		break;
	case SF_OP_CHUNK:
		len = 1 + sf_take(pr, 2);
		if (t->ref) {
			via = sf_take(pr, 1);
			max = 1 + sf_take(pr, 2);
		}
		if (!st->save.active)
			return;
		if (t->ref)
			sf_trip_chunk_via(t, via, len, max);
		else
			sf_trip_chunk(t, min(len, SF_MAX_CHUNK));
		return;
	case SF_OP_PRECOPY:
		if (st->mig_state == MIG_STATE_RUNNING ||
		    st->mig_state == MIG_STATE_PRECOPY)
			sf_trip_state(t, MIG_STATE_PRECOPY);
		return;
	case SF_OP_SAVING:
		if (st->mig_state != MIG_STATE_SAVING)
			sf_trip_state(t, MIG_STATE_SAVING);
		return;
	case SF_OP_CANCEL:
		sf_trip_state(t, MIG_STATE_RUNNING);
		return;
	}
	if (frozen && op != SF_OP_TICK)	/* mig_bar2_rw() and the rest: -EBUSY */
		return;
	for (i = 0; (st = sf_trip_dev(t, i)); i++) {
		mig_lock(st);
		switch (op) {
		case SF_OP_MEM:
			sf_mem_write(st, off,
				     min_t(u64, len, st->type->mem_size - off),
				     val);
			break;
		case SF_OP_BAR0:
			sf_check(!sf_bar0_write(st, off, val),
				 "BAR0 write at %#x refused", off);
			break;
		case SF_OP_CFG:
			sf_check(mig_cfg_write(&st->dev, off, &val, width) ==
				 (off % width ? -EINVAL : 0),
				 "config write of %u bytes at %#x", width, off);
			break;
		case SF_OP_ENGINE:
			sf_bar0_write(st, MIG_REG_ENGINE_RATE, val);
			sf_bar0_write(st, MIG_REG_CONTROL, MIG_CTRL_ENGINE_EN);
			break;
		case SF_OP_TICK:
			digest = mig_dev_digest(&st->dev);
			mig_unlock(st);
			kshim_run_delayed_work(&st->dev.engine.work);
			mig_lock(st);
			sf_check(!frozen || mig_dev_digest(&st->dev) == digest,
				 "the device changed while SAVING");
			break;
		}
		mig_unlock(st);
	}
}

/* The size of the next chunk that finishes the save. */
static void sf_trip_finish_chunk(struct sf_trip *t, struct sf_chunker *ch,
				 u64 pending)
{
	size_t room = sf_chunk_len(ch, min_t(u64, pending, SF_MAX_CHUNK));
	u32 via, max;

	if (!t->ref) {
		sf_trip_chunk(t, room);
		return;
	}
	via = sf_rand(&t->rng) % SF_VIA_NR;
	max = sf_rand(&t->rng);
	max = 1 + max % (max & 1 ? MIG_PAGE_SIZE : 4 * SF_MAX_CHUNK);
	sf_trip_chunk_via(t, via, room, max);
}

/* Stop-and-copy to the end, then SAVING -> STOP; check the END record. */
static void sf_trip_finish(struct sf_trip *t, struct sf_chunker *ch)
{
	struct mig_mdev_state *st = t->src;
	struct mig_rec_header rh;
	struct mig_rec_end e;
	u64 pending;

	if (st->mig_state != MIG_STATE_SAVING)
		sf_trip_state(t, MIG_STATE_SAVING);
	for (;;) {
		mig_lock(st);
		pending = mig_save_pending(st);
		mig_unlock(st);
		if (!pending)
			break;
		sf_trip_finish_chunk(t, ch, pending);
	}
	mig_lock(st);
	sf_check(st->save.done, "pending_bytes 0 before END was sent");
	sf_check(mig_dev_digest(&st->dev) == t->stop_digest,
		 "the device changed while SAVING");
	mig_unlock(st);
	sf_trip_state(t, MIG_STATE_STOP);
	sf_check(!st->save.active, "SAVING -> STOP kept the save session");

	sf_check(t->len >= sizeof(struct mig_stream_header) + SF_END_SIZE,
		 "a stream of %zu bytes", t->len);
	memcpy(&rh, t->stream + t->len - SF_END_SIZE, sizeof(rh));
	memcpy(&e, t->stream + t->len - sizeof(e), sizeof(e));
	sf_check(le32_to_cpu(rh.type) == MIG_REC_END &&
		 le32_to_cpu(rh.len) == sizeof(e) &&
		 le64_to_cpu(e.stream_len) == t->len - SF_END_SIZE &&
		 le64_to_cpu(e.digest) == t->stop_digest,
		 "the stream does not end with the END record of the source");
	sf_check(!t->ref || (t->ref_len == t->len &&
			     !memcmp(t->ref_stream, t->stream, t->len)),
		 "a stream of %zu bytes, mig_save_fill()'s has %zu",
		 t->len, t->ref_len);
}

/* Resume the saved stream into a new device: it must become the source. */
static void sf_trip_resume(struct sf_trip *t, u32 flags, u32 split, u32 seed)
{
	struct mig_mdev_state *src = t->src, *dst;
	struct sf_chunker ch;
	size_t pos = 0, n;
	u8 *chunk;
	int ret;

	dst = sf_dev_new(src->type);
	if (flags & SF_DIRTY)
		sf_dirty(dst, seed);
	sf_chunker_init(&ch, split, seed, 0x44535421);
	mig_lock(dst);
	sf_check(!mig_state_set(dst, MIG_STATE_RESUMING),
		 "RUNNING -> RESUMING refused");
	mig_unlock(dst);
	while (pos < t->len) {
		n = sf_chunk_len(&ch, t->len - pos);
		chunk = malloc(n);
		sf_check(chunk, "out of memory");
		memcpy(chunk, t->stream + pos, n);
		mig_lock(dst);
		ret = mig_load_feed(dst, chunk, n);
		mig_unlock(dst);
		free(chunk);
		sf_check(!ret, "the source's stream rejected: bytes %zu..%zu of %zu",
			 pos, pos + n, t->len);
		pos += n;
	}
	mig_lock(dst);
	sf_check(dst->load.done, "the source's whole stream is not done");
	sf_check(!mig_state_set(dst, MIG_STATE_RUNNING),
		 "RESUMING -> RUNNING refused after the source's stream");
	sf_check(mig_dev_digest(&dst->dev) == t->stop_digest,
		 "destination digest %016llx, source %016llx",
		 (unsigned long long)mig_dev_digest(&dst->dev),
		 (unsigned long long)t->stop_digest);
	sf_check(!memcmp(dst->dev.mem, src->dev.mem, src->type->mem_size),
		 "destination memory differs from the source's");
	sf_check(!memcmp(dst->dev.config, src->dev.config,
			 sizeof(src->dev.config)),
		 "destination config space differs from the source's");
	sf_check(!memcmp(&dst->dev.regs, &src->dev.regs,
			 sizeof(src->dev.regs)),
		 "destination registers differ from the source's");
	sf_check(dst->dev.engine.prng == src->dev.engine.prng &&
		 dst->dev.engine.count == src->dev.engine.count,
		 "destination engine differs from the source's");
	sf_check_memory(dst);
	mig_unlock(dst);
	sf_dev_free(dst);
}

static void sf_roundtrip(const struct mig_type *type, u32 flags, u32 split,
			 u32 seed, const u8 *body, size_t len,
			 struct sf_result *res, bool keep_stream)
{
	struct sf_trip t = {
		.prog = { .p = body, .left = len },
		.res = res,
	};
	struct sf_chunker ch;

	t.src = sf_dev_new(type);
	if (flags & SF_VIA) {
		t.ref = sf_dev_new(type);
		t.rng = sf_rand_init(seed, 0x56494121);
	}
	while (t.prog.left)
		sf_trip_op(&t);
	sf_chunker_init(&ch, split, seed, 0x53415645);
	sf_trip_finish(&t, &ch);
	mig_lock(t.src);
	sf_check_memory(t.src);
	mig_unlock(t.src);
	sf_trip_resume(&t, flags, split, seed);
	sf_dev_free(t.src);
	if (t.ref)
		sf_dev_free(t.ref);
	free(t.ref_stream);
	res->sessions++;
	res->accepted++;
	if (keep_stream) {
		res->stream = t.stream;
		res->stream_len = t.len;
	} else {
		free(t.stream);
	}
}

int sf_run(const uint8_t *data, size_t size, enum sf_mode mode,
	   struct sf_result *res, int keep_stream)
{
	struct sf_result scratch;
	const struct mig_type *type;
	u32 flags, split, seed;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	if (size < SF_PREFIX)
		return 0;
	flags = data[0];
	split = data[1] % SF_SPLIT_NR;
	seed = data[2] | data[3] << 8;
	type = &sf_types[!!(flags & SF_LARGE)];
	kshim_now_ns = NSEC_PER_SEC;
	if (mode == SF_MODE_TRIP ||
	    (mode == SF_MODE_INPUT && (flags & SF_ROUNDTRIP)))
		sf_roundtrip(type, flags, split, seed, data + SF_PREFIX,
			     size - SF_PREFIX, res, keep_stream);
	else
		sf_resume(type, flags, split, seed, data + SF_PREFIX,
			  size - SF_PREFIX, res);
	return 0;
}

/*
 * The fuzz targets: stream_fuzz_resume and stream_fuzz_trip are this file
 * built with SF_FUZZ_MODE set to SF_MODE_RESUME or SF_MODE_TRIP, so that
 * each has a corpus of its own (round trips cost ten times more than
 * resumes and would crowd them out of a shared one).
 */
#ifndef SF_FUZZ_MODE
#define SF_FUZZ_MODE	SF_MODE_INPUT
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return sf_run(data, size, SF_FUZZ_MODE, NULL, 0);
}
