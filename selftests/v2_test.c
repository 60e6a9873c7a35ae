// SPDX-License-Identifier: GPL-2.0
/*
 * Conformance suite of mig-mdev's migration protocol v2
 * (VFIO_DEVICE_FEATURE_MIGRATION), against PROTOCOL.md "Protocol v2 beside
 * v1": the flags, every (from, to) pair of states including the arcs the
 * core walks in several steps, the data_fd (end of stream, -ENOMSG, no
 * seeking, any split, stale after its session), PRECOPY_INFO and
 * MIG_DATA_SIZE against the bytes read, corrupt streams, reset and close
 * from every state, the exclusion of v1 and v2, the "protocols" module
 * parameter, and streams that cross from one protocol to the other.
 *
 * One binary runs on 6.1 and 6.12: what came after 6.1 (PRE_COPY and
 * PRECOPY_INFO in 6.2, MIG_DATA_SIZE in 6.3) is asked of the running
 * kernel, and its tests are skipped, not passed, where it is missing.
 *
 * Each test creates its own "small" instances and removes them.  The
 * engine is off unless a test needs it, so that nothing is dirtied behind
 * a test's back and digests are stable.
 */
#include <fcntl.h>
#include <time.h>

/* As in migration_test.c: the 6.1 harness and -Wextra. */
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "mig_utils.h"
#include "mig_stream_utils.h"

#define ASSERT_V2(d, s)	ASSERT_EQ((uint32_t)(s), mv2_state(d))
#define EXPECT_V2(d, s)	EXPECT_EQ((uint32_t)(s), mv2_state(d))

/* A syscall's result as 0 or -errno. */
#define SYS(call)	((call) < 0 ? -errno : 0)

/* Bounds a read in PRE_COPY, where a running engine may never let it end. */
#define PRE_COPY_MAX	(64ULL << 20)

#define SKIP_WITHOUT_PRE_COPY() do {					\
	if (!mv2_kernel_has_pre_copy())					\
		SKIP(return, "Linux %s has no VFIO_MIGRATION_PRE_COPY (6.2+)", \
		     mv2_kernel_release());				\
} while (0)

#define SKIP_WITHOUT_DATA_SIZE() do {					\
	if (!mv2_kernel_has_data_size())				\
		SKIP(return, "Linux %s has no MIG_DATA_SIZE (6.3+)",	\
		     mv2_kernel_release());				\
} while (0)

/*
 * Creates and opens an instance (protocols "both"), fills its memory with
 * the pattern of @seed unless @seed is 0, and checks that v2 sees it
 * RUNNING; on failure nothing is left behind.
 */
static int inst_setup(struct mt_inst *in, uint64_t seed)
{
	int ret = mt_inst_new(in, "small");

	if (!ret && seed)
		ret = _test_cmd_fill(in, seed);
	if (!ret && mv2_state(&in->d) != MV2_RUNNING)
		ret = -EPROTO;
	if (ret)
		mt_inst_del(in);
	return ret;
}

/* The stream header's magic at the start of @b. */
static bool starts_with_header(const struct mig_buf *b)
{
	uint32_t magic;

	if (b->len < MT_HDR_LEN)
		return false;
	memcpy(&magic, b->data, sizeof(magic));
	return le32toh(magic) == MIG_STREAM_MAGIC;
}

/* Every page of @in appears in the stream @s. */
static bool covers_all_pages(const struct mt_stream *s, struct mt_inst *in)
{
	uint32_t i;

	for (i = 0; i < in->npages; i++)
		if (!mt_page_covered(s, i))
			return false;
	return true;
}

/* Exactly @n bytes of a save data_fd (fewer only at its end or error). */
static int read_n(int fd, struct mig_buf *out, uint64_t n)
{
	uint64_t got;
	int ret = _test_cmd_v2_read(fd, out, MV2_PIECE, n, &got);

	if (ret == -EFBIG && got == n)
		return 0;
	return ret ? ret : -ENODATA;
}

/*
 * Starts the engine of @in at @rate pages/s and waits until it has written
 * @pages more pages; it goes on running.
 */
static int run_engine(struct mt_inst *in, unsigned int rate, uint64_t pages)
{
	uint64_t start = mt_engine_count(in), deadline = mt_now_ms() + 10000;
	int ret;

	ret = _test_cmd_engine_rate(in->uuid, rate);
	if (ret)
		return ret;
	while (mt_engine_count(in) < start + pages) {
		if (mt_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}

/* ================================================================ */
/* One instance: flags, the data_fd, PRECOPY_INFO, MIG_DATA_SIZE     */
/* ================================================================ */

FIXTURE(v2_one) {
	struct mt_inst a;
	struct mig_buf stream;
	int fd;
	int fd2;
};

FIXTURE_SETUP(v2_one)
{
	self->fd = -1;
	self->fd2 = -1;
	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(inst_setup(&self->a, 0));
}

FIXTURE_TEARDOWN(v2_one)
{
	mv2_close(&self->fd);
	mv2_close(&self->fd2);
	mt_inst_del(&self->a);
	mig_buf_free(&self->stream);
}

TEST_F(v2_one, flags_stop_copy_p2p_and_pre_copy_iff_the_kernel_has_it)
{
	uint64_t flags, want = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P;

	if (mv2_kernel_has_pre_copy())
		want |= VFIO_MIGRATION_PRE_COPY;
	test_cmd_v2_get_flags(&self->a.d, &flags);
	EXPECT_EQ(want, flags) {
		TH_LOG("Linux %s: flags %#llx", mv2_kernel_release(),
		       (unsigned long long)flags);
	}
}

TEST_F(v2_one, stop_copy_reads_the_stream_then_eof_after_end)
{
	struct mig_dev *d = &self->a.d;
	struct mt_stream s;
	uint8_t buf[16];

	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	ASSERT_LE(0, self->fd);
	test_cmd_v2_read_all(self->fd, &self->stream);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s)) {
		TH_LOG("stream of %zu bytes: %s", self->stream.len, s.why);
		mt_stream_free(&s);
	}
	/* The end marker is the last record: the parser took it last. */
	EXPECT_EQ(self->stream.len, s.off_end + MT_REC_LEN +
		  sizeof(struct mig_rec_end));
	EXPECT_EQ(mt_digest(&self->a), s.digest);
	EXPECT_TRUE(covers_all_pages(&s, &self->a));
	mt_stream_free(&s);
	/* EOF stays EOF. */
	EXPECT_EQ(0, mv2_read_some(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, mv2_read_some(self->fd, buf, sizeof(buf)));
	EXPECT_V2(d, MV2_STOP_COPY);
}

TEST_F(v2_one, data_fd_is_a_stream_lseek_and_pread_espipe)
{
	struct mig_dev *d = &self->a.d;
	uint8_t buf[16] = { 0 };

	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(O_RDONLY, fcntl(self->fd, F_GETFL) & O_ACCMODE);
	EXPECT_ERRNO(ESPIPE, SYS(lseek(self->fd, 0, SEEK_SET)));
	EXPECT_ERRNO(ESPIPE, SYS(lseek(self->fd, 0, SEEK_CUR)));
	EXPECT_ERRNO(ESPIPE, SYS(pread(self->fd, buf, sizeof(buf), 0)));
	EXPECT_ERRNO(EBADF, SYS(write(self->fd, buf, sizeof(buf))));
	/* Nothing was consumed: the stream still starts with its header. */
	ASSERT_OK(read_n(self->fd, &self->stream, MT_HDR_LEN));
	EXPECT_TRUE(starts_with_header(&self->stream));

	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	test_cmd_v2_set_state(d, MV2_RESUMING, &self->fd2);
	ASSERT_LE(0, self->fd2);
	EXPECT_EQ(O_WRONLY, fcntl(self->fd2, F_GETFL) & O_ACCMODE);
	EXPECT_ERRNO(ESPIPE, SYS(lseek(self->fd2, 0, SEEK_SET)));
	EXPECT_ERRNO(ESPIPE, SYS(pwrite(self->fd2, buf, sizeof(buf), 0)));
	EXPECT_ERRNO(EBADF, SYS(read(self->fd2, buf, sizeof(buf))));
	EXPECT_V2(d, MV2_RESUMING);
}

TEST_F(v2_one, stop_copy_again_makes_the_old_fd_stale)
{
	struct mig_dev *d = &self->a.d;
	struct mt_stream s;
	uint8_t buf[16];

	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	ASSERT_OK(read_n(self->fd, NULL, 10000));
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	EXPECT_ERRNO(EINVAL, mv2_read_some(self->fd, buf, sizeof(buf)));
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd2);
	ASSERT_LE(0, self->fd2);
	EXPECT_ERRNO(EINVAL, mv2_read_some(self->fd, buf, sizeof(buf)));
	/* The new fd has a whole stream of its own, from the header. */
	test_cmd_v2_read_all(self->fd2, &self->stream);
	EXPECT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s));
	EXPECT_EQ(mt_digest(&self->a), s.digest);
	mt_stream_free(&s);
	EXPECT_ERRNO(EINVAL, mv2_read_some(self->fd, buf, sizeof(buf)));
}

TEST_F(v2_one, resuming_again_makes_the_old_fd_stale)
{
	struct mig_dev *d = &self->a.d;
	uint64_t digest;
	uint8_t byte = 0;

	test_cmd_v2_save(d, &self->stream);
	digest = mt_digest(&self->a);
	test_cmd_v2_set_state(d, MV2_RESUMING, &self->fd);
	test_cmd_v2_write(self->fd, self->stream.data, self->stream.len,
			  MT_CUT_FIXED, 0, NULL);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	test_cmd_v2_set_state(d, MV2_RESUMING, &self->fd2);
	ASSERT_LE(0, self->fd2);
	EXPECT_ERRNO(EINVAL, mv2_write_some(self->fd, &byte, 1));
	test_cmd_v2_write(self->fd2, self->stream.data, self->stream.len,
			  MT_CUT_FIXED, 0, NULL);
	EXPECT_ERRNO(EINVAL, mv2_write_some(self->fd, &byte, 1));
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	EXPECT_EQ(digest, mt_digest(&self->a));
}

TEST_F(v2_one, save_fd_closed_mid_stream_state_changes_go_on)
{
	struct mig_dev *d = &self->a.d;
	struct mt_stream s;

	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	ASSERT_OK(read_n(self->fd, NULL, 10000));
	mv2_close(&self->fd);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	test_cmd_v2_set_state(d, MV2_RUNNING, NULL);
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	ASSERT_LE(0, self->fd);
	test_cmd_v2_read_all(self->fd, &self->stream);
	EXPECT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s)) {
		TH_LOG("%s", s.why);
	}
	EXPECT_EQ(mt_digest(&self->a), s.digest);
	mt_stream_free(&s);
	EXPECT_OK(_test_cmd_v2_set_state(d, MV2_RUNNING, NULL));
}

TEST_F(v2_one, resume_fd_closed_mid_stream_stop_refused_reset_recovers)
{
	struct mig_dev *d = &self->a.d;
	uint64_t digest;

	test_cmd_v2_save(d, &self->stream);
	digest = mt_digest(&self->a);
	test_cmd_v2_set_state(d, MV2_RESUMING, &self->fd);
	test_cmd_v2_write(self->fd, self->stream.data, self->stream.len / 2,
			  MT_CUT_FIXED, 0, NULL);
	mv2_close(&self->fd);
	test_err_v2_set_state(EINVAL, d, MV2_STOP, NULL);
	EXPECT_V2(d, MV2_RESUMING);
	test_cmd_device_reset(d);
	ASSERT_V2(d, MV2_RUNNING);
	test_cmd_v2_resume(d, self->stream.data, self->stream.len,
			   MT_CUT_FIXED, 0, MV2_STOP);
	EXPECT_EQ(digest, mt_digest(&self->a));
}

/* Whether the engine of @in writes a page in the next 100 ms. */
static bool engine_moves(struct mt_inst *in)
{
	uint64_t count = mt_engine_count(in);

	usleep(100000);
	return mt_engine_count(in) != count;
}

TEST_F(v2_one, engine_runs_in_running_only)
{
	static const uint32_t stopped[] = {
		MV2_RUNNING_P2P, MV2_STOP, MV2_STOP_COPY, MV2_STOP,
	};
	struct mig_dev *d = &self->a.d;
	size_t i;

	test_cmd_engine_rate(self->a.uuid, 20000);
	EXPECT_TRUE(engine_moves(&self->a));
	for (i = 0; i < ARRAY_SIZE(stopped); i++) {
		test_cmd_v2_set_state(d, stopped[i], NULL);
		EXPECT_FALSE(engine_moves(&self->a))
			TH_LOG("%s", libmig_v2_state_str(stopped[i]));
	}
	test_cmd_v2_set_state(d, MV2_RUNNING, NULL);
	EXPECT_TRUE(engine_moves(&self->a));
}

TEST_F(v2_one, engine_runs_in_pre_copy_not_in_pre_copy_p2p)
{
	struct mig_dev *d = &self->a.d;

	SKIP_WITHOUT_PRE_COPY();
	test_cmd_engine_rate(self->a.uuid, 20000);
	test_cmd_v2_set_state(d, MV2_PRE_COPY, &self->fd);
	EXPECT_TRUE(engine_moves(&self->a));
	test_cmd_v2_set_state(d, MV2_PRE_COPY_P2P, NULL);
	EXPECT_FALSE(engine_moves(&self->a));
	test_cmd_v2_set_state(d, MV2_PRE_COPY, NULL);
	EXPECT_TRUE(engine_moves(&self->a));
}

TEST_F(v2_one, pre_copy_reads_until_enomsg_when_caught_up)
{
	struct mig_dev *d = &self->a.d;
	struct mt_stream s;
	uint64_t got;
	uint8_t buf[16];

	SKIP_WITHOUT_PRE_COPY();
	test_cmd_v2_set_state(d, MV2_PRE_COPY, &self->fd);
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(O_RDONLY, fcntl(self->fd, F_GETFL) & O_ACCMODE);
	test_err_v2_read(ENOMSG, self->fd, &self->stream, MV2_PIECE,
			 PRE_COPY_MAX, &got);
	EXPECT_EQ(self->stream.len, got);
	EXPECT_TRUE(starts_with_header(&self->stream));
	/* Every page went, the tail records wait for STOP_COPY. */
	EXPECT_ERRNO(EBADMSG, mt_stream_parse(self->stream.data,
					      self->stream.len, &s));
	EXPECT_STREQ("no end marker", s.why ? s.why : "(parsed)");
	if (s.covered) {
		EXPECT_TRUE(covers_all_pages(&s, &self->a));
	}
	mt_stream_free(&s);
	EXPECT_ERRNO(ENOMSG, mv2_read_some(self->fd, buf, sizeof(buf)));
	EXPECT_V2(d, MV2_PRE_COPY);
}

TEST_F(v2_one, precopy_info_adds_up_to_what_read_returns)
{
	struct mig_dev *d = &self->a.d;
	uint64_t i0 = 0, d0 = 0, i1 = 0, d1 = 0, got = 0;

	SKIP_WITHOUT_PRE_COPY();
	test_cmd_v2_set_state(d, MV2_PRE_COPY, &self->fd);
	test_cmd_v2_precopy_info(self->fd, &i0, &d0);
	EXPECT_LT(self->a.mem_size, i0);
	EXPECT_EQ(0, d0);
	ASSERT_OK(read_n(self->fd, NULL, 5000));
	test_cmd_v2_precopy_info(self->fd, &i1, &d1);
	EXPECT_EQ(i0 - 5000, i1);
	EXPECT_EQ(0, d1);
	test_err_v2_read(ENOMSG, self->fd, NULL, MV2_PIECE, PRE_COPY_MAX, &got);
	EXPECT_EQ(i1 + d1, got);
	test_cmd_v2_precopy_info(self->fd, &i1, &d1);
	EXPECT_EQ(0, i1);
	EXPECT_EQ(0, d1);
	/* PRE_COPY_P2P keeps the session and its count. */
	test_cmd_v2_set_state(d, MV2_PRE_COPY_P2P, &self->fd2);
	EXPECT_EQ(-1, self->fd2);
	test_cmd_v2_precopy_info(self->fd, &i1, &d1);
	EXPECT_EQ(0, i1 + d1);
}

TEST_F(v2_one, precopy_info_counts_a_page_written_after_the_pass)
{
	struct mig_dev *d = &self->a.d;
	uint8_t page[MIG_PAGE_SIZE];
	uint64_t ini = 0, dirty = 0, got = 0;

	SKIP_WITHOUT_PRE_COPY();
	test_cmd_v2_set_state(d, MV2_PRE_COPY, &self->fd);
	ASSERT_ERRNO(ENOMSG, _test_cmd_v2_read(self->fd, NULL, MV2_PIECE,
					       PRE_COPY_MAX, &got));
	mt_pattern(99, 5 * MIG_PAGE_SIZE, page, sizeof(page));
	test_cmd_mem_write(d, 5 * MIG_PAGE_SIZE, page, sizeof(page));
	test_cmd_v2_precopy_info(self->fd, &ini, &dirty);
	EXPECT_EQ(0, ini);
	EXPECT_LE(MIG_PAGE_SIZE, dirty);
	test_err_v2_read(ENOMSG, self->fd, &self->stream, MV2_PIECE,
			 PRE_COPY_MAX, &got);
	EXPECT_EQ(dirty, got);
	test_cmd_v2_precopy_info(self->fd, &ini, &dirty);
	EXPECT_EQ(0, ini + dirty);
}

TEST_F(v2_one, precopy_info_einval_outside_pre_copy)
{
	struct mig_dev *d = &self->a.d;
	uint64_t ini = 0, dirty = 0;

	SKIP_WITHOUT_PRE_COPY();
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	test_err_v2_precopy_info(EINVAL, self->fd, &ini, &dirty);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	test_err_v2_precopy_info(EINVAL, self->fd, &ini, &dirty);
	test_cmd_v2_set_state(d, MV2_PRE_COPY, &self->fd2);
	EXPECT_OK(libmig_v2_precopy_info(self->fd2, &ini, &dirty));
	test_cmd_v2_set_state(d, MV2_RUNNING, NULL);
	test_err_v2_precopy_info(EINVAL, self->fd2, &ini, &dirty);
}

TEST_F(v2_one, pre_copy_to_stop_copy_keeps_the_fd_and_the_stream)
{
	struct mig_dev *d = &self->a.d;
	struct mt_stream s;
	uint64_t got;
	int fd;

	SKIP_WITHOUT_PRE_COPY();
	test_cmd_v2_set_state(d, MV2_PRE_COPY, &self->fd);
	ASSERT_OK(read_n(self->fd, &self->stream, 3000));
	test_cmd_v2_set_state(d, MV2_PRE_COPY_P2P, &fd);
	EXPECT_EQ(-1, fd);
	mv2_close(&fd);
	test_err_v2_read(ENOMSG, self->fd, &self->stream, MV2_PIECE,
			 PRE_COPY_MAX, &got);
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &fd);
	EXPECT_EQ(-1, fd);
	mv2_close(&fd);
	test_cmd_v2_read_all(self->fd, &self->stream);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s)) {
		TH_LOG("%s", s.why);
		mt_stream_free(&s);
	}
	EXPECT_EQ(mt_digest(&self->a), s.digest);
	EXPECT_TRUE(covers_all_pages(&s, &self->a));
	mt_stream_free(&s);
}

TEST_F(v2_one, data_size_is_exact_in_stop_copy)
{
	struct mig_dev *d = &self->a.d;
	uint64_t s0 = 0, s1 = 0, s2 = 0, rest = 0;

	SKIP_WITHOUT_DATA_SIZE();
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	test_cmd_v2_data_size(d, &s0);
	ASSERT_OK(read_n(self->fd, NULL, 100000));
	test_cmd_v2_data_size(d, &s1);
	test_cmd_v2_read(self->fd, NULL, MV2_PIECE, UINT64_MAX, &rest);
	test_cmd_v2_data_size(d, &s2);
	EXPECT_EQ(100000 + rest, s0);
	EXPECT_EQ(rest, s1);
	EXPECT_EQ(0, s2);
}

TEST_F(v2_one, data_size_never_underestimates_stop_copy)
{
	struct mig_dev *d = &self->a.d;
	uint64_t s_run = 0, s_stop = 0, n = 0;

	SKIP_WITHOUT_DATA_SIZE();
	test_cmd_v2_data_size(d, &s_run);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	test_cmd_v2_data_size(d, &s_stop);
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	test_cmd_v2_read(self->fd, NULL, MV2_PIECE, UINT64_MAX, &n);
	EXPECT_LE(n, s_run);
	EXPECT_LE(n, s_stop);
	EXPECT_LT(self->a.mem_size, n);
}

TEST_F(v2_one, data_size_is_exact_in_pre_copy_p2p)
{
	struct mig_dev *d = &self->a.d;
	uint64_t size = 0, got = 0, rest = 0;
	int fd;

	SKIP_WITHOUT_PRE_COPY();
	SKIP_WITHOUT_DATA_SIZE();
	test_cmd_v2_set_state(d, MV2_PRE_COPY_P2P, &self->fd);
	ASSERT_OK(read_n(self->fd, NULL, 10000));
	test_cmd_v2_data_size(d, &size);
	/* What STOP_COPY then returns on the same fd, to its end. */
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &fd);
	EXPECT_EQ(-1, fd);
	mv2_close(&fd);
	test_cmd_v2_read(self->fd, NULL, MV2_PIECE, UINT64_MAX, &rest);
	EXPECT_EQ(rest, size);

	/* The same once caught up: only the tail is left. */
	mv2_close(&self->fd);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	test_cmd_v2_set_state(d, MV2_PRE_COPY_P2P, &self->fd);
	test_err_v2_read(ENOMSG, self->fd, NULL, MV2_PIECE, PRE_COPY_MAX, &got);
	test_cmd_v2_data_size(d, &size);
	test_cmd_v2_set_state(d, MV2_STOP_COPY, NULL);
	test_cmd_v2_read(self->fd, NULL, MV2_PIECE, UINT64_MAX, &rest);
	EXPECT_EQ(rest, size);
	EXPECT_LT(0, rest);
}

/* ================================================================ */
/* Two instances: resume, corrupt streams, v1 <-> v2                 */
/* ================================================================ */

FIXTURE(v2_pair) {
	struct mt_inst src;
	struct mt_inst dst;
	struct mig_buf stream;
	struct mig_buf bad;
	int fd;
	uint64_t digest;
};

FIXTURE_SETUP(v2_pair)
{
	self->fd = -1;
	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(inst_setup(&self->src, 5));
	if (inst_setup(&self->dst, 0)) {
		mt_inst_del(&self->src);
		ASSERT_TRUE(false) TH_LOG("cannot create the destination");
	}
}

FIXTURE_TEARDOWN(v2_pair)
{
	mv2_close(&self->fd);
	mt_inst_del(&self->src);
	mt_inst_del(&self->dst);
	mig_buf_free(&self->stream);
	mig_buf_free(&self->bad);
}

/* A v2 save of the source into self->stream; the source ends in STOP. */
static int pair_save(FIXTURE_DATA(v2_pair) *self)
{
	int ret = _test_cmd_v2_save(&self->src.d, &self->stream);

	self->digest = mt_digest(&self->src);
	return ret;
}

TEST_F(v2_pair, resume_one_byte_per_write_gives_equal_digest)
{
	uint32_t pages[] = { 0, self->src.npages / 2, self->src.npages - 1 };
	uint8_t page[MIG_PAGE_SIZE];
	unsigned int i;

	/* Power-on memory but three pages, so that the stream is short. */
	test_cmd_device_reset(&self->src.d);
	for (i = 0; i < 3; i++) {
		mt_pattern(11 + i, (uint64_t)pages[i] * MIG_PAGE_SIZE, page,
			   sizeof(page));
		test_cmd_mem_write(&self->src.d,
				   (uint64_t)pages[i] * MIG_PAGE_SIZE,
				   page, sizeof(page));
	}
	test_cmd_bar0_write(&self->src.d, MIG_REG_SCRATCH0, 0x5a5a1234);
	ASSERT_OK(pair_save(self));
	ASSERT_OK(mt_stream_compact(self->stream.data, self->stream.len,
				    &self->bad));
	ASSERT_GT(4 * (MIG_PAGE_SIZE + 64) + 1024, self->bad.len) {
		TH_LOG("compact stream of %zu bytes: memory not zero after reset?",
		       self->bad.len);
	}
	test_cmd_v2_resume(&self->dst.d, self->bad.data, self->bad.len,
			   MT_CUT_FIXED, 1, MV2_STOP);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
	EXPECT_OK(_test_cmd_v2_set_state(&self->dst.d, MV2_RUNNING, NULL));
}

TEST_F(v2_pair, resume_random_splits_gives_equal_digest)
{
	ASSERT_OK(pair_save(self));
	test_cmd_v2_resume(&self->dst.d, self->stream.data, self->stream.len,
			   MT_CUT_RANDOM, 42, MV2_STOP);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
	/* Page-sized writes that start one byte into each page. */
	test_cmd_device_reset(&self->dst.d);
	test_cmd_v2_set_state(&self->dst.d, MV2_RESUMING, &self->fd);
	test_cmd_v2_write(self->fd, self->stream.data, 1, MT_CUT_FIXED, 0,
			  NULL);
	test_cmd_v2_write(self->fd, self->stream.data + 1,
			  self->stream.len - 1, MT_CUT_FIXED, MIG_PAGE_SIZE,
			  NULL);
	test_cmd_v2_set_state(&self->dst.d, MV2_RUNNING, NULL);
	EXPECT_OK(_test_cmd_v2_set_state(&self->dst.d, MV2_STOP, NULL));
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
}

TEST_F(v2_pair, header_byte_flipped_rejected_resuming_kept_then_good_stream)
{
	struct mig_dev *d = &self->dst.d;
	uint8_t hdr[MT_HDR_LEN];
	uint64_t before;
	char name[32];
	size_t i;

	ASSERT_OK(pair_save(self));
	test_cmd_v2_set_state(d, MV2_RESUMING, &self->fd);
	before = mt_digest(&self->dst);
	/* Every header byte matters; each flip is caught at the header. */
	for (i = 0; i < MT_HDR_LEN; i++) {
		memcpy(hdr, self->stream.data, sizeof(hdr));
		hdr[i] ^= 0x40;
		EXPECT_ERRNO(EINVAL, mv2_write_some(self->fd, hdr, sizeof(hdr)))
			TH_LOG("header byte %zu flipped", i);
		EXPECT_V2(d, MV2_RESUMING);
	}
	/* A whole stream in one write(), its magic flipped. */
	self->bad.len = 0;
	ASSERT_OK(mig_buf_sink(&self->bad, self->stream.data,
			       self->stream.len));
	self->bad.data[0] ^= 0x01;
	EXPECT_ERRNO(EINVAL, mv2_write_some(self->fd, self->bad.data,
					    self->bad.len));
	EXPECT_V2(d, MV2_RESUMING);
	EXPECT_STREQ("RESUMING", mv2_sysfs_state(&self->dst, name,
						 sizeof(name)));
	EXPECT_EQ(before, mt_digest(&self->dst));
	/* The session starts over: a good stream from byte 0 loads. */
	test_cmd_v2_write(self->fd, self->stream.data, self->stream.len,
			  MT_CUT_FIXED, 0, NULL);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
}

TEST_F(v2_pair, page_byte_flipped_after_bytes_applied_gives_error)
{
	struct mig_dev *d = &self->dst.d;
	struct mt_stream s;
	uint8_t byte = 0;
	char name[32];

	ASSERT_OK(pair_save(self));
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s));
	ASSERT_NE(0, s.first_pages);
	self->bad.len = 0;
	ASSERT_OK(mig_buf_sink(&self->bad, self->stream.data,
			       self->stream.len));
	/* Well into the page data: only the end marker's digest tells. */
	self->bad.data[s.first_pages + MT_REC_LEN +
		       sizeof(struct mig_rec_pages) + 2 * MIG_PAGE_SIZE +
		       100] ^= 0x10;
	mt_stream_free(&s);

	test_cmd_v2_set_state(d, MV2_RESUMING, &self->fd);
	test_err_v2_write(EINVAL, self->fd, self->bad.data, self->bad.len,
			  MT_CUT_FIXED, MV2_PIECE, NULL);
	EXPECT_V2(d, MV2_ERROR);
	EXPECT_STREQ("ERROR", mv2_sysfs_state(&self->dst, name, sizeof(name)));
	EXPECT_EQ(MIG_STATE_ERROR, mt_state(d));
	test_err_v2_set_state(EINVAL, d, MV2_RUNNING, NULL);
	test_err_v2_set_state(EINVAL, d, MV2_STOP, NULL);
	EXPECT_ERRNO(EINVAL, mv2_write_some(self->fd, &byte, 1));
	EXPECT_V2(d, MV2_ERROR);

	test_cmd_device_reset(d);
	ASSERT_V2(d, MV2_RUNNING);
	test_cmd_v2_resume(d, self->stream.data, self->stream.len,
			   MT_CUT_FIXED, 0, MV2_STOP);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
}

TEST_F(v2_pair, truncated_stream_stop_refused_stays_resuming)
{
	struct mig_dev *d = &self->dst.d;
	size_t len, half;

	ASSERT_OK(pair_save(self));
	len = self->stream.len;
	half = len / 2 + 7;
	test_cmd_v2_set_state(d, MV2_RESUMING, &self->fd);
	/* Cut in the page data, then inside the end marker. */
	test_cmd_v2_write(self->fd, self->stream.data, half, MT_CUT_FIXED,
			  0, NULL);
	test_err_v2_set_state(EINVAL, d, MV2_STOP, NULL);
	EXPECT_V2(d, MV2_RESUMING);
	test_cmd_v2_write(self->fd, self->stream.data + half, len - 10 - half,
			  MT_CUT_FIXED, 0, NULL);
	test_err_v2_set_state(EINVAL, d, MV2_STOP, NULL);
	test_err_v2_set_state(EINVAL, d, MV2_RUNNING, NULL);
	EXPECT_V2(d, MV2_RESUMING);
	/* The session is intact: the last bytes complete it. */
	test_cmd_v2_write(self->fd, self->stream.data + len - 10, 10,
			  MT_CUT_FIXED, 0, NULL);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
}

TEST_F(v2_pair, v1_saved_stream_resumes_through_v2)
{
	struct mt_stream s;

	ASSERT_OK(run_engine(&self->src, 20000, 2000));
	test_cmd_save(&self->src.d, MIG_PATH_PREAD, &self->stream);
	self->digest = mt_digest(&self->src);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s));
	EXPECT_EQ(self->digest, s.digest);
	mt_stream_free(&s);
	test_cmd_v2_resume(&self->dst.d, self->stream.data, self->stream.len,
			   MT_CUT_RANDOM, 3, MV2_STOP);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
	EXPECT_OK(_test_cmd_v2_set_state(&self->dst.d, MV2_RUNNING, NULL));
}

TEST_F(v2_pair, v2_saved_stream_resumes_through_v1)
{
	ASSERT_OK(run_engine(&self->src, 20000, 2000));
	ASSERT_OK(pair_save(self));
	test_cmd_resume(&self->dst.d, self->stream.data, self->stream.len,
			MIG_STATE_STOP);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
	EXPECT_OK(mig_set_state(&self->dst.d, MIG_STATE_RUNNING));
}

TEST_F(v2_pair, live_pre_copy_with_the_engine_running_gives_equal_digest)
{
	struct mig_dev *d = &self->src.d;
	struct mt_stream s;
	uint64_t got;
	int round, ret, fd;

	SKIP_WITHOUT_PRE_COPY();
	ASSERT_OK(run_engine(&self->src, 2000, 500));
	test_cmd_v2_set_state(d, MV2_PRE_COPY, &self->fd);
	for (round = 0; round < 2; round++) {
		ret = _test_cmd_v2_read(self->fd, &self->stream, MV2_PIECE,
					2 * self->src.mem_size, &got);
		ASSERT_TRUE(ret == -ENOMSG || ret == -EFBIG) {
			TH_LOG("PRE_COPY read, round %d: %d", round, ret);
		}
	}
	test_cmd_v2_set_state(d, MV2_PRE_COPY_P2P, &fd);
	EXPECT_EQ(-1, fd);
	mv2_close(&fd);
	ASSERT_ERRNO(ENOMSG, _test_cmd_v2_read(self->fd, &self->stream,
					       MV2_PIECE, PRE_COPY_MAX, &got));
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &fd);
	EXPECT_EQ(-1, fd);
	mv2_close(&fd);
	test_cmd_v2_read_all(self->fd, &self->stream);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	self->digest = mt_digest(&self->src);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s)) {
		TH_LOG("%s", s.why);
		mt_stream_free(&s);
	}
	EXPECT_EQ(self->digest, s.digest);
	mt_stream_free(&s);
	test_cmd_v2_resume(&self->dst.d, self->stream.data, self->stream.len,
			   MT_CUT_RANDOM, 9, MV2_STOP);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
}

/* ================================================================ */
/* Every (from, to) pair; reset and close from every state           */
/* ================================================================ */

enum from {
	FROM_RUNNING,
	FROM_STOP,
	FROM_RUNNING_P2P,
	FROM_STOP_COPY,
	FROM_RESUMING,		/* nothing written yet */
	FROM_RESUMED,		/* a whole stream written */
	FROM_PRE_COPY,
	FROM_PRE_COPY_P2P,
	FROM_ERROR,
};

FIXTURE(v2_arc) {
	struct mt_inst a;
	struct mig_buf stream;
	int fd;		/* the data_fd that reaching "from" returned */
	int fd2;	/* the data_fd of the arc under test */
};

FIXTURE_VARIANT(v2_arc) {
	enum from from;
	uint32_t state;
};

FIXTURE_VARIANT_ADD(v2_arc, from_running) {
	.from = FROM_RUNNING, .state = MV2_RUNNING,
};

FIXTURE_VARIANT_ADD(v2_arc, from_stop) {
	.from = FROM_STOP, .state = MV2_STOP,
};

FIXTURE_VARIANT_ADD(v2_arc, from_running_p2p) {
	.from = FROM_RUNNING_P2P, .state = MV2_RUNNING_P2P,
};

FIXTURE_VARIANT_ADD(v2_arc, from_stop_copy) {
	.from = FROM_STOP_COPY, .state = MV2_STOP_COPY,
};

FIXTURE_VARIANT_ADD(v2_arc, from_resuming) {
	.from = FROM_RESUMING, .state = MV2_RESUMING,
};

FIXTURE_VARIANT_ADD(v2_arc, from_resuming_complete) {
	.from = FROM_RESUMED, .state = MV2_RESUMING,
};

FIXTURE_VARIANT_ADD(v2_arc, from_pre_copy) {
	.from = FROM_PRE_COPY, .state = MV2_PRE_COPY,
};

FIXTURE_VARIANT_ADD(v2_arc, from_pre_copy_p2p) {
	.from = FROM_PRE_COPY_P2P, .state = MV2_PRE_COPY_P2P,
};

FIXTURE_VARIANT_ADD(v2_arc, from_error) {
	.from = FROM_ERROR, .state = MV2_ERROR,
};

/*
 * The stream FROM_RESUMED writes: a v2 save of the power-on device, made
 * short (mt_stream_compact()); the device is reset afterwards.
 */
static int arc_stream(struct mt_inst *in, struct mig_buf *out)
{
	struct mig_buf full = { 0 };
	int ret;

	ret = _test_cmd_v2_save(&in->d, &full);
	if (!ret)
		ret = mt_stream_compact(full.data, full.len, out);
	mig_buf_free(&full);
	if (!ret)
		ret = mig_device_reset(&in->d);
	return ret;
}

/* From RUNNING to @from by a legal path; *@fd gets the data_fd, or -1. */
static int arc_reach(struct mt_inst *in, enum from from,
		     const struct mig_buf *stream, uint32_t state, int *fd)
{
	uint8_t err[MT_ERROR_STREAM_MAX];
	size_t len;
	int ret;

	*fd = -1;
	switch (from) {
	case FROM_RUNNING:
		return 0;
	case FROM_RESUMED:
		ret = _test_cmd_v2_set_state(&in->d, MV2_RESUMING, fd);
		if (ret)
			return ret;
		return _test_cmd_v2_write(*fd, stream->data, stream->len,
					  MT_CUT_FIXED, 0, NULL);
	case FROM_ERROR:
		ret = _test_cmd_v2_set_state(&in->d, MV2_RESUMING, fd);
		if (ret)
			return ret;
		len = mt_error_stream(in, MIG_TYPE_SMALL, err);
		ret = _test_cmd_v2_write(*fd, err, len, MT_CUT_FIXED, 0, NULL);
		if (ret != -EINVAL)
			return ret ? ret : -EPROTO;
		return 0;
	default:
		return _test_cmd_v2_set_state(&in->d, state, fd);
	}
}

FIXTURE_SETUP(v2_arc)
{
	int ret;

	self->fd = -1;
	self->fd2 = -1;
	MT_SKIP_IF_NO_MODULE();
	if (mv2_is_pre_copy(variant->state) && !mv2_kernel_has_pre_copy())
		MT_SKIP_SETUP("Linux %s has no VFIO_MIGRATION_PRE_COPY (6.2+), no %s",
			      mv2_kernel_release(),
			      libmig_v2_state_str(variant->state));
	ASSERT_OK(inst_setup(&self->a, 0));
	if (variant->from == FROM_RESUMED) {
		ret = arc_stream(&self->a, &self->stream);
		if (ret)
			mt_inst_del(&self->a);
		ASSERT_OK(ret);
	}
}

FIXTURE_TEARDOWN(v2_arc)
{
	mv2_close(&self->fd);
	mv2_close(&self->fd2);
	mt_inst_del(&self->a);
	mig_buf_free(&self->stream);
}

/* The errno the arc from the variant's state to @to must get, or 0. */
static int arc_errno(const FIXTURE_VARIANT(v2_arc) *v, uint32_t to)
{
	if (to >= MV2_NR_STATES ||
	    (mv2_is_pre_copy(to) && !mv2_kernel_has_pre_copy()))
		return -EINVAL;		/* no such state */
	if (to == MV2_ERROR || v->state == MV2_ERROR)
		return -EINVAL;
	if (v->state == MV2_STOP_COPY && mv2_is_pre_copy(to))
		return -EINVAL;		/* the blocked arcs */
	if (v->from == FROM_RESUMING && to != MV2_RESUMING)
		return -EINVAL;		/* leaving needs a whole stream */
	return 0;
}

/* The arc keeps the save or resume session (and its fd) of @from. */
static bool arc_keeps_session(uint32_t from, uint32_t to)
{
	return from == to || (mv2_is_pre_copy(from) && mv2_is_saving(to));
}

static const uint32_t arc_targets[] = {
	MV2_STOP, MV2_RUNNING, MV2_STOP_COPY, MV2_RESUMING, MV2_RUNNING_P2P,
	MV2_PRE_COPY, MV2_PRE_COPY_P2P, MV2_ERROR, MV2_NR_STATES, 0x80000000U,
	UINT32_MAX,
};

/*
 * Requests @to from the variant's state, just reached, and checks the
 * answer, the state after it (GET_STATE, sysfs, the v1 view), the new
 * data_fd if one is due, and the old one: still working if its session
 * goes on, stale if it ended.
 */
static void arc_check(struct __test_metadata *_metadata,
		      FIXTURE_DATA(v2_arc) *self,
		      const FIXTURE_VARIANT(v2_arc) *variant, uint32_t to)
{
	struct mig_dev *d = &self->a.d;
	uint32_t from = variant->state;
	int want = arc_errno(variant, to);
	uint32_t end = want ? from : to;
	bool kept = want || arc_keeps_session(from, to);
	bool new_fd = !kept && (mv2_is_saving(to) || to == MV2_RESUMING);
	char name[32];
	uint8_t byte;

	EXPECT_EQ(want, _test_cmd_v2_set_state(d, to, &self->fd2))
		TH_LOG("%s -> %s (%#x)", libmig_v2_state_str(from),
		       libmig_v2_state_str(to), to);
	EXPECT_EQ(end, mv2_state(d))
		TH_LOG("%s -> %s: state", libmig_v2_state_str(from),
		       libmig_v2_state_str(to));
	EXPECT_EQ(new_fd, self->fd2 >= 0)
		TH_LOG("%s -> %s: data_fd %d", libmig_v2_state_str(from),
		       libmig_v2_state_str(to), self->fd2);
	if (self->fd2 >= 0) {
		int mode = fcntl(self->fd2, F_GETFL) & O_ACCMODE;

		EXPECT_EQ(to == MV2_RESUMING ? O_WRONLY : O_RDONLY, mode)
			TH_LOG("%s -> %s: mode", libmig_v2_state_str(from),
			       libmig_v2_state_str(to));
		if (to != MV2_RESUMING) {
			EXPECT_EQ(1, mv2_read_some(self->fd2, &byte, 1))
				TH_LOG("%s -> %s: new fd read",
				       libmig_v2_state_str(from),
				       libmig_v2_state_str(to));
		}
	}
	if (self->fd >= 0 && from != MV2_ERROR) {
		if (!kept && mv2_is_saving(from)) {
			EXPECT_ERRNO(EINVAL, mv2_read_some(self->fd, &byte, 1))
				TH_LOG("%s -> %s: old fd read",
				       libmig_v2_state_str(from),
				       libmig_v2_state_str(to));
		} else if (!kept) {
			EXPECT_ERRNO(EINVAL, mv2_write_some(self->fd, &byte, 1))
				TH_LOG("%s -> %s: old fd write",
				       libmig_v2_state_str(from),
				       libmig_v2_state_str(to));
		} else if (mv2_is_saving(from)) {
			EXPECT_EQ(1, mv2_read_some(self->fd, &byte, 1))
				TH_LOG("%s -> %s: kept fd read",
				       libmig_v2_state_str(from),
				       libmig_v2_state_str(to));
		}
	}
	EXPECT_STREQ(libmig_v2_state_str(end), mv2_sysfs_state(&self->a, name,
							  sizeof(name)))
		TH_LOG("%s -> %s: sysfs", libmig_v2_state_str(from),
		       libmig_v2_state_str(to));
	EXPECT_EQ(mv2_v1_view(end), mt_state(d))
		TH_LOG("%s -> %s: v1 view", libmig_v2_state_str(from),
		       libmig_v2_state_str(to));
}

TEST_F(v2_arc, set_state_to_every_target)
{
	struct mig_dev *d = &self->a.d;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(arc_targets); i++) {
		mv2_close(&self->fd);
		mv2_close(&self->fd2);
		test_cmd_device_reset(d);
		ASSERT_V2(d, MV2_RUNNING);
		ASSERT_OK(arc_reach(&self->a, variant->from, &self->stream,
				    variant->state, &self->fd));
		ASSERT_V2(d, variant->state);
		arc_check(_metadata, self, variant, arc_targets[i]);
	}
}

/*
 * After a reset or a close and reopen: RUNNING, the old data_fd stale, and
 * both protocols free (v1 and then v2 can take the device out of RUNNING).
 */
static void arc_check_fresh(struct __test_metadata *_metadata,
			    FIXTURE_DATA(v2_arc) *self,
			    const FIXTURE_VARIANT(v2_arc) *variant,
			    const char *how)
{
	struct mig_dev *d = &self->a.d;
	struct mig_buf hdr = { 0 };
	uint8_t byte = 0;
	char name[32];

	EXPECT_V2(d, MV2_RUNNING) TH_LOG("%s", how);
	EXPECT_STREQ("RUNNING", mv2_sysfs_state(&self->a, name, sizeof(name)))
		TH_LOG("%s", how);
	EXPECT_EQ(MIG_STATE_RUNNING, mt_state(d)) TH_LOG("%s", how);
	if (self->fd >= 0 && mv2_is_saving(variant->state)) {
		EXPECT_ERRNO(EINVAL, mv2_read_some(self->fd, &byte, 1))
			TH_LOG("%s: old fd read", how);
	} else if (self->fd >= 0) {
		EXPECT_ERRNO(EINVAL, mv2_write_some(self->fd, &byte, 1))
			TH_LOG("%s: old fd write", how);
	}
	EXPECT_OK(mig_set_state(d, MIG_STATE_STOP)) TH_LOG("%s: v1", how);
	EXPECT_OK(mig_set_state(d, MIG_STATE_RUNNING)) TH_LOG("%s: v1", how);
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd2)
		TH_LOG("%s: v2", how);
	EXPECT_OK(read_n(self->fd2, &hdr, MT_HDR_LEN)) TH_LOG("%s", how);
	EXPECT_TRUE(starts_with_header(&hdr)) TH_LOG("%s", how);
	mig_buf_free(&hdr);
	EXPECT_OK(_test_cmd_v2_set_state(d, MV2_RUNNING, NULL))
		TH_LOG("%s", how);
}

TEST_F(v2_arc, reset_then_close_give_running_and_a_stale_data_fd)
{
	struct mig_dev *d = &self->a.d;

	ASSERT_OK(arc_reach(&self->a, variant->from, &self->stream,
			    variant->state, &self->fd));
	ASSERT_V2(d, variant->state);
	test_cmd_device_reset(d);
	arc_check_fresh(_metadata, self, variant, "VFIO_DEVICE_RESET");

	mv2_close(&self->fd);
	mv2_close(&self->fd2);
	ASSERT_OK(arc_reach(&self->a, variant->from, &self->stream,
			    variant->state, &self->fd));
	ASSERT_V2(d, variant->state);
	mt_inst_close(&self->a);
	ASSERT_OK(mt_inst_open(&self->a));
	arc_check_fresh(_metadata, self, variant, "close and reopen");
}

/* ================================================================ */
/* v1 and v2 exclude each other                                      */
/* ================================================================ */

FIXTURE(v2_excl) {
	struct mt_inst a;
	int fd;
};

FIXTURE_SETUP(v2_excl)
{
	self->fd = -1;
	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(inst_setup(&self->a, 0));
}

FIXTURE_TEARDOWN(v2_excl)
{
	mv2_close(&self->fd);
	mt_inst_del(&self->a);
}

/* The v1 states a v1 client can take the device to. */
static const uint32_t v1_states[] = {
	MIG_STATE_STOP, MIG_STATE_RUNNING, MIG_STATE_SAVING, MIG_STATE_PRECOPY,
	MIG_STATE_RESUMING,
};

/* From RUNNING to the v1 state @v1 through the region. */
static int v1_reach(struct mt_inst *in, uint32_t v1)
{
	uint8_t err[MT_ERROR_STREAM_MAX];
	size_t len;
	int ret;

	switch (v1) {
	case MIG_STATE_SAVING:
		ret = mig_set_state(&in->d, MIG_STATE_STOP);
		return ret ? ret : mig_set_state(&in->d, MIG_STATE_SAVING);
	case MIG_STATE_ERROR:
		ret = mig_set_state(&in->d, MIG_STATE_RESUMING);
		if (ret)
			return ret;
		len = mt_error_stream(in, MIG_TYPE_SMALL, err);
		ret = _test_cmd_feed(&in->d, MIG_PATH_PREAD, err, len,
				     MT_CUT_FIXED, 0, NULL);
		return ret == -EINVAL ? 0 : ret ? ret : -EPROTO;
	default:
		return mig_set_state(&in->d, v1);
	}
}

/* From RUNNING to the v2 state @s; *@fd gets the data_fd, or -1. */
static int v2_reach(struct mt_inst *in, uint32_t s, int *fd)
{
	if (s == MV2_ERROR)
		return arc_reach(in, FROM_ERROR, NULL, s, fd);
	return _test_cmd_v2_set_state(&in->d, s, fd);
}

/*
 * In ERROR, v1 and v2 refuse everything with -EINVAL of their own; which
 * answer wins over -EBUSY there the contract does not say.
 */
static bool refused(int ret, bool error)
{
	return ret == -EBUSY || (error && ret == -EINVAL);
}

TEST_F(v2_excl, v1_owner_refuses_v2_set_state_ebusy)
{
	static const uint32_t targets[] = {
		MV2_RUNNING, MV2_STOP, MV2_STOP_COPY, MV2_RESUMING,
		MV2_RUNNING_P2P,
	};
	static const uint32_t owned[] = {
		MIG_STATE_STOP, MIG_STATE_SAVING, MIG_STATE_PRECOPY,
		MIG_STATE_RESUMING, MIG_STATE_ERROR,
	};
	struct mig_dev *d = &self->a.d;
	char name[32];
	size_t i, j;
	uint32_t s;

	for (i = 0; i < ARRAY_SIZE(owned); i++) {
		uint32_t v1 = owned[i];

		test_cmd_device_reset(d);
		ASSERT_OK(v1_reach(&self->a, v1)) TH_LOG("v1 %s",
							 mig_state_str(v1));
		ASSERT_EQ(v1, mt_state(d));
		ASSERT_OK(libmig_v2_get_state(d, &s));
		/* 6.1 has no PRE_COPY to show for PRECOPY. */
		if (v1 != MIG_STATE_PRECOPY || mv2_kernel_has_pre_copy()) {
			EXPECT_EQ(libmig_of_v1(v1), s)
				TH_LOG("v1 %s: v2 reads %s", mig_state_str(v1),
				       libmig_v2_state_str(s));
		}
		for (j = 0; j < ARRAY_SIZE(targets); j++) {
			int ret = _test_cmd_v2_set_state(d, targets[j],
							 &self->fd);

			EXPECT_TRUE(refused(ret, v1 == MIG_STATE_ERROR))
				TH_LOG("v1 %s, v2 -> %s: %d", mig_state_str(v1),
				       libmig_v2_state_str(targets[j]), ret);
			EXPECT_EQ(-1, self->fd);
			mv2_close(&self->fd);
			EXPECT_EQ(v1, mt_state(d));
		}
		EXPECT_STREQ(mig_state_str(v1),
			     mv2_sysfs_state(&self->a, name, sizeof(name)));
	}
}

/*
 * While v2 owns the device in @s: every v1 header write and the reads that
 * drive a v1 session are -EBUSY, device_state reads the v2 state mapped,
 * and the v2 state and its data_fd are untouched.
 */
static void v2_owner_check(struct __test_metadata *_metadata,
			   FIXTURE_DATA(v2_excl) *self, uint32_t s)
{
	struct mig_dev *d = &self->a.d;
	bool err = s == MV2_ERROR;
	uint32_t zero = 0;
	uint64_t v;
	uint8_t byte;
	size_t i;

	test_cmd_device_reset(d);
	mv2_close(&self->fd);
	ASSERT_OK(v2_reach(&self->a, s, &self->fd))
		TH_LOG("v2 %s", libmig_v2_state_str(s));
	ASSERT_V2(d, s);
	EXPECT_EQ(mv2_v1_view(s), mt_state(d))
		TH_LOG("v2 %s: v1 device_state", libmig_v2_state_str(s));
	for (i = 0; i < ARRAY_SIZE(v1_states); i++) {
		EXPECT_TRUE(refused(mig_set_state(d, v1_states[i]), err))
			TH_LOG("v2 %s: v1 device_state write %s",
			       libmig_v2_state_str(s),
			       mig_state_str(v1_states[i]));
	}
	EXPECT_TRUE(refused(mig_get_pending(d, &v), err))
		TH_LOG("v2 %s: pending_bytes", libmig_v2_state_str(s));
	EXPECT_TRUE(refused(mig_get_data_offset(d, &v), err))
		TH_LOG("v2 %s: data_offset", libmig_v2_state_str(s));
	EXPECT_TRUE(refused(mig_get_data_size(d, &v), err))
		TH_LOG("v2 %s: data_size", libmig_v2_state_str(s));
	EXPECT_TRUE(refused(mig_set_data_size(d, MIG_PAGE_SIZE), err))
		TH_LOG("v2 %s: data_size write", libmig_v2_state_str(s));
	EXPECT_TRUE(refused(_test_cmd_hdr_write(d, MIG_HDR_RESERVED, &zero, 4),
			    err))
		TH_LOG("v2 %s: reserved write", libmig_v2_state_str(s));
	EXPECT_V2(d, s);
	if (mv2_is_saving(s)) {
		EXPECT_EQ(1, mv2_read_some(self->fd, &byte, 1))
			TH_LOG("v2 %s: data_fd", libmig_v2_state_str(s));
	}
}

TEST_F(v2_excl, v2_owner_refuses_v1_ebusy)
{
	static const uint32_t states[] = {
		MV2_STOP, MV2_RUNNING_P2P, MV2_STOP_COPY, MV2_RESUMING,
		MV2_ERROR,
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(states); i++)
		v2_owner_check(_metadata, self, states[i]);
}

TEST_F(v2_excl, v2_pre_copy_owner_refuses_v1_ebusy)
{
	SKIP_WITHOUT_PRE_COPY();
	v2_owner_check(_metadata, self, MV2_PRE_COPY);
	v2_owner_check(_metadata, self, MV2_PRE_COPY_P2P);
}

TEST_F(v2_excl, owner_back_in_running_frees_the_other)
{
	struct mig_dev *d = &self->a.d;

	test_cmd_v2_set_state(d, MV2_RUNNING_P2P, NULL);
	ASSERT_ERRNO(EBUSY, mig_set_state(d, MIG_STATE_STOP));
	test_cmd_v2_set_state(d, MV2_RUNNING, NULL);
	test_cmd_set_state(d, MIG_STATE_STOP);
	ASSERT_ERRNO(EBUSY, _test_cmd_v2_set_state(d, MV2_STOP, NULL));
	test_cmd_set_state(d, MIG_STATE_PRECOPY);
	test_cmd_set_state(d, MIG_STATE_RUNNING);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	EXPECT_V2(d, MV2_STOP);
}

TEST_F(v2_excl, reset_frees_both)
{
	struct mig_dev *d = &self->a.d;

	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	test_cmd_device_reset(d);
	test_cmd_set_state(d, MIG_STATE_SAVING);
	ASSERT_ERRNO(EBUSY, _test_cmd_v2_set_state(d, MV2_STOP, NULL));
	test_cmd_device_reset(d);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	EXPECT_V2(d, MV2_STOP);
}

TEST_F(v2_excl, close_frees_both)
{
	struct mig_dev *d = &self->a.d;

	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	mt_inst_close(&self->a);
	ASSERT_OK(mt_inst_open(&self->a));
	test_cmd_set_state(d, MIG_STATE_SAVING);
	ASSERT_ERRNO(EBUSY, _test_cmd_v2_set_state(d, MV2_STOP, NULL));
	mt_inst_close(&self->a);
	ASSERT_OK(mt_inst_open(&self->a));
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	EXPECT_V2(d, MV2_STOP);
}

/* ================================================================ */
/* The "protocols" module parameter                                  */
/* ================================================================ */

FIXTURE(v2_protocols) {
	struct mt_inst a;
	struct mig_buf stream;
	int fd;
};

FIXTURE_SETUP(v2_protocols)
{
	char val[16];

	self->fd = -1;
	mt_inst_init(&self->a);
	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(mig_param_read("protocols", val, sizeof(val)));
	ASSERT_STREQ("both", val);
}

FIXTURE_TEARDOWN(v2_protocols)
{
	mv2_close(&self->fd);
	mt_inst_del(&self->a);
	mig_buf_free(&self->stream);
	mig_param_write("protocols", "both");
}

TEST_F(v2_protocols, v1_instance_offers_only_the_region)
{
	struct mig_dev *d = &self->a.d;
	struct mt_stream s;
	uint64_t flags;
	char val[16];
	uint32_t state;

	ASSERT_OK(mt_inst_new_proto(&self->a, "small", "v1"));
	ASSERT_OK(mig_param_read("protocols", val, sizeof(val)));
	EXPECT_STREQ("both", val);
	ASSERT_OK(mig_attr_read(self->a.uuid, "protocols", val, sizeof(val)));
	EXPECT_STREQ("v1", val);
	test_err_v2_get_flags(ENOTTY, d, &flags);
	EXPECT_ERRNO(ENOTTY, libmig_v2_get_state(d, &state));
	test_err_v2_set_state(ENOTTY, d, MV2_STOP, &self->fd);
	EXPECT_EQ(-1, self->fd);
	if (mv2_kernel_has_data_size()) {
		test_err_v2_data_size(ENOTTY, d, &flags);
	}
	EXPECT_EQ(MIG_MDEV_MIGRATION_REGION_INDEX, d->mig_index);
	test_cmd_save(d, MIG_PATH_PREAD, &self->stream);
	EXPECT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s));
	mt_stream_free(&s);
	EXPECT_OK(mig_set_state(d, MIG_STATE_RUNNING));
}

TEST_F(v2_protocols, v2_instance_has_no_region)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info ri = {
		.argsz = sizeof(ri),
		.index = VFIO_PCI_NUM_REGIONS,
	};
	struct mig_dev *d = &self->a.d;
	struct mt_stream s;
	uint64_t flags;
	char val[16];

	ASSERT_OK(mt_inst_new_proto(&self->a, "small", "v2"));
	ASSERT_OK(mig_attr_read(self->a.uuid, "protocols", val, sizeof(val)));
	EXPECT_STREQ("v2", val);
	ASSERT_OK(SYS(ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info)));
	EXPECT_EQ(VFIO_PCI_NUM_REGIONS, info.num_regions);
	EXPECT_ERRNO(EINVAL, SYS(ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO,
				       &ri)));
	EXPECT_EQ(-1, d->mig_index);
	test_cmd_v2_get_flags(d, &flags);
	EXPECT_TRUE(flags & VFIO_MIGRATION_STOP_COPY);
	test_cmd_v2_save(d, &self->stream);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s));
	EXPECT_EQ(mt_digest(&self->a), s.digest);
	mt_stream_free(&s);
	EXPECT_OK(_test_cmd_v2_set_state(d, MV2_RUNNING, NULL));
}

TEST_F(v2_protocols, default_both_and_other_values_refused)
{
	struct mig_dev *d = &self->a.d;
	uint64_t flags;
	char val[16];

	EXPECT_ERRNO(EINVAL, mig_param_write("protocols", "v3"));
	ASSERT_OK(mig_param_read("protocols", val, sizeof(val)));
	EXPECT_STREQ("both", val);
	ASSERT_OK(mt_inst_new_proto(&self->a, "small", "both"));
	ASSERT_OK(mig_attr_read(self->a.uuid, "protocols", val, sizeof(val)));
	EXPECT_STREQ("both", val);
	EXPECT_OK(_test_cmd_v2_get_flags(d, &flags));
	EXPECT_EQ(MIG_MDEV_MIGRATION_REGION_INDEX, d->mig_index);
}

TEST_HARNESS_MAIN
