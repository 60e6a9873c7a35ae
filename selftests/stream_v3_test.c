// SPDX-License-Identifier: GPL-2.0
/*
 * stream_v3_test: stream format version 3, long page runs.
 *
 * A version 3 stream carries up to MIG_MAX_RUN_PAGES pages a MIG_REC_PAGES
 * record, versions 1 and 2 up to MIG_MAX_RUN_PAGES_V2 (docs/DESIGN.md, "The
 * stream versions").  These tests check that a save writes version 3 with
 * runs longer than the old limit and loads with an equal digest; that a
 * version 1 or 2 stream still loads, and one with a run over its limit is
 * refused with EINVAL before it changes the device; and that a zero-copy
 * save of the large type takes two chunks a run plus one for the tail.
 */
#include "kselftest_harness.h"
#include "mig_utils.h"
#include "mig_stream_utils.h"

#define EXPECT_STATE(d, s)	EXPECT_EQ((uint32_t)(s), mt_state(d))

/* Runs of a stop-and-copy save of every page, at most @max pages each. */
static uint64_t runs_of(uint32_t npages, uint32_t max)
{
	return (npages + max - 1) / max;
}

/*
 * The start of a stream for @in: a stream header of @version and the
 * header and head of a page record of @count pages from page 0; the page
 * data does not follow.  Returns its length.
 */
#define PREFIX_LEN	(MT_HDR_LEN + MT_REC_LEN + sizeof(struct mig_rec_pages))

static size_t stream_prefix(const struct mt_stream *s, uint16_t version,
			    uint32_t count, uint8_t *buf)
{
	struct mig_stream_header h = {
		.magic = htole32(MIG_STREAM_MAGIC),
		.version = htole16(version),
		.header_len = htole16(MT_HDR_LEN),
		.device_type = htole32(s->device_type),
		.page_size = htole32(MIG_PAGE_SIZE),
		.mem_size = htole64(s->mem_size),
	};
	struct mig_rec_header r = {
		.type = htole32(MIG_REC_PAGES),
		.len = htole32(sizeof(struct mig_rec_pages) +
			       (uint64_t)count * MIG_PAGE_SIZE),
	};
	struct mig_rec_pages rp = { .first = 0, .count = htole32(count) };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + MT_HDR_LEN, &r, sizeof(r));
	memcpy(buf + MT_HDR_LEN + MT_REC_LEN, &rp, sizeof(rp));
	return PREFIX_LEN;
}

/* The largest count of a page record in a whole, parsed stream. */
static uint32_t longest_run(const struct mig_buf *b)
{
	size_t off = MT_HDR_LEN;
	uint32_t max = 0;

	while (off + MT_REC_LEN + sizeof(struct mig_rec_pages) <= b->len) {
		struct mig_rec_header r;
		struct mig_rec_pages rp;

		memcpy(&r, b->data + off, sizeof(r));
		if (le32toh(r.type) == MIG_REC_PAGES) {
			memcpy(&rp, b->data + off + MT_REC_LEN, sizeof(rp));
			if (le32toh(rp.count) > max)
				max = le32toh(rp.count);
		}
		off += MT_REC_LEN + le32toh(r.len);
	}
	return max;
}

FIXTURE(v3) {
	struct mt_inst src;
	struct mt_inst dst;
	struct mig_buf stream;
	struct mt_stream parsed;
	uint64_t digest;
};

FIXTURE_SETUP(v3)
{
	mt_inst_init(&self->src);
	mt_inst_init(&self->dst);
	memset(&self->stream, 0, sizeof(self->stream));
	memset(&self->parsed, 0, sizeof(self->parsed));
	ASSERT_OK(mt_inst_new(&self->src, "large"));
	ASSERT_OK(mt_inst_new(&self->dst, "large"));
	/* At least two full runs and a third, so that runs are cut. */
	ASSERT_LT(2 * MIG_MAX_RUN_PAGES, self->src.npages);
	test_cmd_fill(&self->src, 33);
	self->digest = mt_digest(&self->src);
	test_cmd_save(&self->src.d, MIG_PATH_PREAD, &self->stream);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len,
				  &self->parsed)) TH_LOG("%s", self->parsed.why);
}

FIXTURE_TEARDOWN(v3)
{
	mt_stream_free(&self->parsed);
	mig_buf_free(&self->stream);
	mt_inst_del(&self->src);
	mt_inst_del(&self->dst);
}

/* A save writes version 3, cuts every page into MIG_MAX_RUN_PAGES runs. */
TEST_F_TIMEOUT(v3, save_writes_long_runs_and_loads, 180)
{
	const struct mig_stream_header *h = (const void *)self->stream.data;

	EXPECT_EQ(MIG_STREAM_VERSION, le16toh(h->version));
	EXPECT_EQ(self->src.npages, self->parsed.pages);
	EXPECT_EQ(runs_of(self->src.npages, MIG_MAX_RUN_PAGES),
		  self->parsed.page_records);
	EXPECT_EQ(MIG_MAX_RUN_PAGES, longest_run(&self->stream));
	EXPECT_LT(MIG_MAX_RUN_PAGES_V2, longest_run(&self->stream));
	test_cmd_resume(&self->dst.d, self->stream.data, self->stream.len,
			MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
	/* Through the mapped section, cut at random: the same. */
	test_cmd_device_reset(&self->dst.d);
	test_cmd_set_state(&self->dst.d, MIG_STATE_RESUMING);
	test_cmd_feed(&self->dst.d, MIG_PATH_MMAP, self->stream.data,
		      self->stream.len, MT_CUT_RANDOM, 7, NULL);
	test_cmd_set_state(&self->dst.d, MIG_STATE_STOP);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
}

/* Version 2 (DMA record, short runs) and version 1 (neither) still load. */
TEST_F_TIMEOUT(v3, version_1_and_2_streams_still_load, 180)
{
	static const struct {
		uint16_t version;
		bool dma;
	} olds[] = {
		{ MIG_STREAM_VERSION_RUN64, true },
		{ MIG_STREAM_VERSION_NODMA, false },
	};
	struct mig_buf old = { 0 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(olds); i++) {
		ASSERT_OK(mt_stream_rewrite(self->stream.data, self->stream.len,
					    olds[i].version, olds[i].dma,
					    &old));
		EXPECT_EQ(MIG_MAX_RUN_PAGES_V2, longest_run(&old));
		test_cmd_resume(&self->dst.d, old.data, old.len,
				MIG_STATE_STOP);
		EXPECT_EQ(self->digest, mt_digest(&self->dst))
			TH_LOG("version %u", olds[i].version);
		test_cmd_device_reset(&self->dst.d);
	}
	mig_buf_free(&old);
}

/*
 * The saved stream labelled version 2: its runs are longer than version 2
 * allows.  The first page record is refused at its head, with EINVAL,
 * before any byte changed the device: the session stays in RESUMING with
 * the device as it was (same digest), and a good stream still loads.
 */
TEST_F_TIMEOUT(v3, version_2_stream_with_long_run_refused, 180)
{
	struct mig_dev *d = &self->dst.d;
	struct mig_buf good = { 0 };
	uint8_t *bad = mt_dup(&self->stream);
	uint16_t v2 = htole16(MIG_STREAM_VERSION_RUN64);
	uint64_t before;

	ASSERT_NE(NULL, bad);
	memcpy(bad + offsetof(struct mig_stream_header, version), &v2,
	       sizeof(v2));
	ASSERT_LT(MIG_MAX_RUN_PAGES_V2, longest_run(&self->stream));
	test_cmd_set_state(d, MIG_STATE_RESUMING);
	before = mt_digest(&self->dst);
	test_err_feed(EINVAL, d, MIG_PATH_PREAD, bad, self->stream.len,
		      MT_CUT_FIXED, 0, NULL);
	free(bad);
	EXPECT_STATE(d, MIG_STATE_RESUMING);
	EXPECT_EQ(before, mt_digest(&self->dst));
	/* The same state as a version 2 stream should carry it: taken. */
	ASSERT_OK(mt_stream_rewrite(self->stream.data, self->stream.len,
				    MIG_STREAM_VERSION_RUN64, true, &good));
	test_cmd_feed(d, MIG_PATH_PREAD, good.data, good.len, MT_CUT_FIXED, 0,
		      NULL);
	test_cmd_set_state(d, MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
	mig_buf_free(&good);
}

/*
 * The limits at their edges, on the head of the first page record: each
 * version takes its limit and refuses one more page (EINVAL, nothing
 * applied: still RESUMING).  A version past the current one is refused.
 */
TEST_F_TIMEOUT(v3, run_limit_of_each_version, 180)
{
	static const struct {
		uint16_t version;
		uint32_t count;
		bool ok;
	} cases[] = {
		{ MIG_STREAM_VERSION_NODMA, MIG_MAX_RUN_PAGES_V2, true },
		{ MIG_STREAM_VERSION_NODMA, MIG_MAX_RUN_PAGES_V2 + 1, false },
		{ MIG_STREAM_VERSION_RUN64, MIG_MAX_RUN_PAGES_V2, true },
		{ MIG_STREAM_VERSION_RUN64, MIG_MAX_RUN_PAGES_V2 + 1, false },
		{ MIG_STREAM_VERSION, MIG_MAX_RUN_PAGES, true },
		{ MIG_STREAM_VERSION, MIG_MAX_RUN_PAGES + 1, false },
		{ MIG_STREAM_VERSION + 1, 1, false },
	};
	struct mig_dev *d = &self->dst.d;
	uint8_t buf[PREFIX_LEN];
	unsigned int i;
	size_t len;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		len = stream_prefix(&self->parsed, cases[i].version,
				    cases[i].count, buf);
		test_cmd_set_state(d, MIG_STATE_RESUMING);
		EXPECT_EQ(cases[i].ok ? 0 : -EINVAL,
			  _test_cmd_feed(d, MIG_PATH_PREAD, buf, len,
					 MT_CUT_FIXED, 0, NULL))
			TH_LOG("version %u, %u pages", cases[i].version,
			       cases[i].count);
		EXPECT_STATE(d, MIG_STATE_RESUMING);
		test_cmd_device_reset(d);
	}
}

/*
 * Zero-copy: a stop-and-copy save of the large type is the stream header
 * and a record header in the section, then for each run its page data in
 * the window and the next record header in the section, and the tail
 * records: 2 * runs + 1 chunks, where version 2's 64-page runs took 2 *
 * npages / 64 + 1.  pending_bytes stays exact chunk by chunk.
 */
TEST_F_TIMEOUT(v3, zerocopy_save_takes_two_chunks_a_run, 180)
{
	struct mt_inst zc;
	struct mig_dev *d = &zc.d;
	struct mig_buf out = { 0 };
	uint64_t pending, next, chunks = 0, biggest = 0, runs;
	int64_t n;
	int ret;

	ret = mt_inst_new_param(&zc, "large", "zerocopy", "1", NULL);
	if (ret == -ENOENT)
		SKIP(return, "module parameter zerocopy missing: old module");
	ASSERT_OK(ret);
	if (!d->window_size) {
		mt_inst_del(&zc);
		SKIP(return, "no window: CPU pages are not MIG_PAGE_SIZE");
	}
	/* The same state as the fixture's source. */
	test_cmd_resume(d, self->stream.data, self->stream.len,
			MIG_STATE_STOP);
	ASSERT_EQ(self->digest, mt_digest(&zc));
	test_cmd_set_state(d, MIG_STATE_SAVING);
	ASSERT_OK(mig_get_pending(d, &pending));
	while (pending) {
		n = mig_save_chunk(d, MIG_PATH_MMAP, mig_buf_sink, &out);
		ASSERT_LT(0, n);
		chunks++;
		if ((uint64_t)n > biggest)
			biggest = n;
		ASSERT_OK(mig_get_pending(d, &next));
		ASSERT_EQ(pending - n, next);
		pending = next;
	}
	test_cmd_set_state(d, MIG_STATE_STOP);
	runs = runs_of(zc.npages, MIG_MAX_RUN_PAGES);
	TH_LOG("%llu chunks for %llu runs (%llu with 64-page runs)",
	       (unsigned long long)chunks, (unsigned long long)runs,
	       (unsigned long long)(2 * runs_of(zc.npages,
						MIG_MAX_RUN_PAGES_V2) + 1));
	EXPECT_EQ(2 * runs + 1, chunks);
	EXPECT_EQ((uint64_t)MIG_MAX_RUN_PAGES * MIG_PAGE_SIZE, biggest);
	/* Byte for byte the stream of the copying source. */
	ASSERT_EQ(self->stream.len, out.len);
	EXPECT_EQ(0, memcmp(self->stream.data, out.data, out.len));
	mig_buf_free(&out);
	mt_inst_del(&zc);
}

TEST_HARNESS_MAIN
