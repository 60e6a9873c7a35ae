// SPDX-License-Identifier: GPL-2.0
/*
 * v2_copy_test: one copy a byte through a v2 save data_fd (issue 15).
 *
 * read() of a save data_fd copies page data straight from device memory
 * to the caller's buffer (mig_save_fill_span()); only headers and the tail
 * records go through the fd's bounce buffer.  These tests check that the
 * bytes are those of a v1 save of the same state, whatever the read()
 * sizes; that a page rewritten after its record was staged, even while
 * its bytes are being read, is sent again in pre-copy and the stream
 * resumes to the source's digest; that a read() whose buffer faults
 * returns what it copied, loses nothing (the rest is the next read()'s)
 * and leaves the device as it was; and that the driver's counters show
 * one copy per byte of page data.
 *
 * write() of a resume data_fd pins the caller's pages and the parser
 * copies from them straight into device memory: a write() whose buffer
 * faults mid-page-data is short, and the stream goes on from there; a
 * reset in the middle of a resume leaves memory zero; the counters show
 * one copy per byte.  A read() or write() whose page stalls in
 * userfaultfd holds no lock others need (GET_STATE answers meanwhile).
 *
 * Each test creates its own instances and removes them; the engine is off
 * unless a test starts it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* pthread_timedjoin_np() */
#endif
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* As in migration_test.c: the 6.1 harness and -Wextra. */
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "mig_utils.h"
#include "mig_stream_utils.h"

#define EXPECT_V2(d, s)	EXPECT_EQ((uint32_t)(s), mv2_state(d))

/* Where the first page's data starts: stream header, record, pages head. */
#define CT_DATA0	(MT_HDR_LEN + MT_REC_LEN + sizeof(struct mig_rec_pages))

/*
 * A whole STOP_COPY save read with read() sizes cycling through @sizes
 * (none page aligned, so that page data is taken from mid-page), then
 * STOP and back to RUNNING.
 */
static int ct_save_cut(struct mig_dev *d, const size_t *sizes, size_t nr,
		       struct mig_buf *out)
{
	uint8_t *buf;
	size_t i = 0;
	ssize_t n;
	int fd, ret;

	ret = _test_cmd_v2_set_state(d, MV2_STOP_COPY, &fd);
	if (ret)
		return ret;
	buf = malloc(1 << 20);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	do {
		n = read(fd, buf, sizes[i++ % nr]);
		if (n < 0)
			ret = -errno;
		else if (n)
			ret = mig_buf_sink(out, buf, n);
	} while (n > 0 && !ret);
	free(buf);
	close(fd);
	if (!ret)
		ret = _test_cmd_v2_set_state(d, MV2_STOP, NULL);
	if (!ret)
		ret = _test_cmd_v2_set_state(d, MV2_RUNNING, NULL);
	return ret;
}

/* A data_fd read() or write() of one page, in a thread of its own. */
struct ct_call {
	int fd;
	uint8_t *page;
	bool write;
	ssize_t ret;
};

static void *ct_call_run(void *arg)
{
	struct ct_call *c = arg;

	c->ret = c->write ? mv2_write_some(c->fd, c->page, MIG_PAGE_SIZE) :
			    mv2_read_some(c->fd, c->page, MIG_PAGE_SIZE);
	return NULL;
}

/* GET_STATE in a thread: it needs the instance lock. */
struct ct_probe {
	struct mig_dev *d;
	uint32_t state;
};

static void *ct_probe_run(void *arg)
{
	struct ct_probe *p = arg;

	p->state = mv2_state(p->d);
	return NULL;
}

/* A userfaultfd with @page registered for missing-page faults, or -errno. */
static int ct_uffd_open(uint8_t *page)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)page, .len = MIG_PAGE_SIZE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK), err;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Waits up to 5 s for a fault on @page: 0 once it came. */
static int ct_uffd_wait(int uffd, uint8_t *page)
{
	uint64_t deadline = mt_now_ms() + 5000;
	struct uffd_msg msg;

	while (mt_now_ms() < deadline) {
		struct pollfd pfd = { .fd = uffd, .events = POLLIN };

		poll(&pfd, 1, 100);
		if (read(uffd, &msg, sizeof(msg)) == sizeof(msg) &&
		    msg.event == UFFD_EVENT_PAGEFAULT &&
		    msg.arg.pagefault.address - (uintptr_t)page < MIG_PAGE_SIZE)
			return 0;
	}
	return -ETIMEDOUT;
}

/* Ends the stall: @page gets a copy of @src's MIG_PAGE_SIZE bytes. */
static int ct_uffd_serve(int uffd, uint8_t *page, const void *src)
{
	static uint8_t buf[MIG_PAGE_SIZE] __attribute__((aligned(4096)));
	struct uffdio_copy copy = {
		.dst = (uintptr_t)page,
		.src = (uintptr_t)buf,
		.len = MIG_PAGE_SIZE,
	};

	memcpy(buf, src, sizeof(buf));
	return ioctl(uffd, UFFDIO_COPY, &copy) && errno != EEXIST ? -errno : 0;
}

/*
 * Starts @c, waits until its page faulted, and checks that a GET_STATE
 * of @d (the instance lock) answers @want within 3 s meanwhile; then
 * serves the page from @src and joins @c.  Returns 0, or what went wrong.
 */
static int ct_stall_probe(struct ct_call *c, int uffd, struct mig_dev *d,
			  uint32_t want, const void *src)
{
	struct ct_probe p = { .d = d, .state = UINT32_MAX };
	pthread_t call, probe;
	struct timespec ts;
	int ret, joined;

	if (pthread_create(&call, NULL, ct_call_run, c))
		return -EAGAIN;
	ret = ct_uffd_wait(uffd, c->page);
	joined = pthread_create(&probe, NULL, ct_probe_run, &p) ? -EAGAIN : 0;
	if (!joined) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 3;
		joined = pthread_timedjoin_np(probe, NULL, &ts);
	}
	/* Serve even on failure, so that both threads end. */
	if (ct_uffd_serve(uffd, c->page, src) && !ret)
		ret = -EIO;
	pthread_join(call, NULL);
	if (joined == ETIMEDOUT)
		pthread_join(probe, NULL);
	if (!ret && joined)
		ret = -EDEADLK;
	if (!ret && p.state != want)
		ret = -EPROTO;
	return ret;
}

FIXTURE(v2c) {
	struct mt_inst src;
	struct mt_inst dst;
	struct mig_buf ref;
	struct mig_buf out;
	int fd;
	uint8_t *map;		/* two pages, the second PROT_NONE */
};

FIXTURE_SETUP(v2c)
{
	self->fd = -1;
	self->map = MAP_FAILED;
	mt_inst_init(&self->src);
	mt_inst_init(&self->dst);
	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(mt_inst_new(&self->src, "small"));
	ASSERT_OK(mt_inst_new(&self->dst, "small"));
	ASSERT_OK(_test_cmd_fill(&self->src, 0x5eed));
}

FIXTURE_TEARDOWN(v2c)
{
	mv2_close(&self->fd);
	if (self->map != MAP_FAILED)
		munmap(self->map, 2 * MIG_PAGE_SIZE);
	mt_inst_del(&self->src);
	mt_inst_del(&self->dst);
	mig_buf_free(&self->ref);
	mig_buf_free(&self->out);
}

/* v2 read() at any sizes gives the bytes of a v1 pread save. */
TEST_F(v2c, read_at_any_size_equals_v1_pread)
{
	static const size_t odd[] = { 1, 4095, 7, 4097, 65537, 100, 1 << 20 };
	static const size_t big[] = { 1 << 20 };

	test_cmd_save(&self->src.d, MIG_PATH_PREAD, &self->ref);
	ASSERT_OK(mig_set_state(&self->src.d, MIG_STATE_RUNNING));
	ASSERT_OK(ct_save_cut(&self->src.d, big, 1, &self->out));
	ASSERT_EQ(self->ref.len, self->out.len);
	EXPECT_EQ(0, memcmp(self->ref.data, self->out.data, self->ref.len));
	mig_buf_free(&self->out);
	ASSERT_OK(ct_save_cut(&self->src.d, odd, ARRAY_SIZE(odd), &self->out));
	ASSERT_EQ(self->ref.len, self->out.len);
	EXPECT_EQ(0, memcmp(self->ref.data, self->out.data, self->ref.len));
	test_cmd_v2_resume(&self->dst.d, self->out.data, self->out.len,
			   MT_CUT_RANDOM, 5, MV2_STOP);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
}

/*
 * PRE_COPY: page 0 is rewritten through BAR2 while its bytes are half
 * read, so the stream carries a torn page 0; the write logged it again, so
 * it is sent again and the destination ends with the new bytes.
 */
TEST_F(v2c, page_rewritten_mid_read_in_pre_copy_is_resent)
{
	struct mig_dev *d = &self->src.d;
	uint8_t page[MIG_PAGE_SIZE], half[CT_DATA0 + MIG_PAGE_SIZE / 2];
	struct mt_stream s;
	uint64_t got;
	int fd, ret;

	if (!mv2_kernel_has_pre_copy())
		SKIP(return, "Linux %s has no VFIO_MIGRATION_PRE_COPY (6.2+)",
		     mv2_kernel_release());
	test_cmd_v2_set_state(d, MV2_PRE_COPY, &self->fd);
	ASSERT_LE(0, self->fd);
	/* Stream header, page 0's record and half of page 0. */
	ASSERT_EQ((ssize_t)sizeof(half), mv2_read_some(self->fd, half,
						       sizeof(half)));
	ASSERT_OK(mig_buf_sink(&self->out, half, sizeof(half)));
	memset(page, 0x3c, sizeof(page));
	ASSERT_OK(mig_region_pwrite(d, MT_BAR2, page, sizeof(page), 0));
	/* The rest of page 0 is read from device memory: the new bytes. */
	ASSERT_EQ(MIG_PAGE_SIZE / 2, mv2_read_some(self->fd, page,
						   MIG_PAGE_SIZE / 2));
	EXPECT_EQ(0x3c, page[0]);
	EXPECT_EQ(0x3c, page[MIG_PAGE_SIZE / 2 - 1]);
	ASSERT_OK(mig_buf_sink(&self->out, page, MIG_PAGE_SIZE / 2));
	ret = _test_cmd_v2_read(self->fd, &self->out, 12345,
				4 * self->src.mem_size, &got);
	ASSERT_EQ(-ENOMSG, ret);
	test_cmd_v2_set_state(d, MV2_STOP_COPY, &fd);
	EXPECT_EQ(-1, fd);
	test_cmd_v2_read_all(self->fd, &self->out);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	ASSERT_OK(mt_stream_parse(self->out.data, self->out.len, &s)) {
		TH_LOG("%s", s.why);
		mt_stream_free(&s);
	}
	/* Every page once, page 0 once more. */
	EXPECT_GE(s.pages, (uint64_t)self->src.npages + 1);
	EXPECT_EQ(mt_digest(&self->src), s.digest);
	mt_stream_free(&s);
	test_cmd_v2_resume(&self->dst.d, self->out.data, self->out.len,
			   MT_CUT_RANDOM, 11, MV2_STOP);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
	ASSERT_OK(_test_cmd_mem_read(&self->dst.d, 0, page, sizeof(page)));
	EXPECT_EQ(0x3c, page[0]);
	EXPECT_EQ(0x3c, page[MIG_PAGE_SIZE - 1]);
}

/*
 * read() into a buffer that faults: a header (bounce buffer) is all or
 * nothing, page data (straight from device memory) returns the bytes that
 * reached the buffer; either way nothing is lost, the next read() goes on
 * where the caller stopped, and the device is as it was.
 */
TEST_F(v2c, read_that_faults_returns_what_it_copied_and_loses_nothing)
{
	struct mig_dev *d = &self->src.d;
	uint8_t *good = malloc(1 << 20);
	size_t off0 = CT_DATA0 + 100;
	uint64_t digest;
	ssize_t n;

	ASSERT_NE(NULL, good);
	self->map = mmap(NULL, 2 * MIG_PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	ASSERT_OK(mprotect(self->map + MIG_PAGE_SIZE, MIG_PAGE_SIZE,
			   PROT_NONE));
	digest = mt_digest(&self->src);
	test_cmd_v2_save(d, &self->ref);
	test_cmd_v2_set_state(d, MV2_RUNNING, NULL);

	test_cmd_v2_set_state(d, MV2_STOP_COPY, &self->fd);
	ASSERT_LE(0, self->fd);
	/* The stream header goes through the bounce buffer: nothing. */
	EXPECT_EQ(-EFAULT, mv2_read_some(self->fd, self->map + MIG_PAGE_SIZE,
					 16));
	/* Up to mid-page 0, into good memory. */
	ASSERT_EQ((ssize_t)off0, mv2_read_some(self->fd, good, off0));
	ASSERT_OK(mig_buf_sink(&self->out, good, off0));
	/* Page data: the first half of the buffer is filled, then a fault. */
	n = mv2_read_some(self->fd, self->map, 2 * MIG_PAGE_SIZE);
	ASSERT_GT(n, 0);
	ASSERT_LE(n, MIG_PAGE_SIZE);
	ASSERT_OK(mig_buf_sink(&self->out, self->map, n));
	/* Nothing reaches a buffer that faults at once. */
	EXPECT_EQ(-EFAULT, mv2_read_some(self->fd, self->map + MIG_PAGE_SIZE,
					 MIG_PAGE_SIZE));
	/* The rest, from where the caller stopped. */
	test_cmd_v2_read_all(self->fd, &self->out);
	ASSERT_EQ(self->ref.len, self->out.len);
	EXPECT_EQ(0, memcmp(self->ref.data, self->out.data, self->ref.len));
	mv2_close(&self->fd);
	test_cmd_v2_set_state(d, MV2_STOP, NULL);
	test_cmd_v2_set_state(d, MV2_RUNNING, NULL);

	/* The device is unharmed: same state, same stream, it resumes. */
	EXPECT_EQ(digest, mt_digest(&self->src));
	mig_buf_free(&self->out);
	test_cmd_v2_save(d, &self->out);
	ASSERT_EQ(self->ref.len, self->out.len);
	EXPECT_EQ(0, memcmp(self->ref.data, self->out.data, self->ref.len));
	test_cmd_v2_resume(&self->dst.d, self->out.data, self->out.len,
			   MT_CUT_FIXED, 0, MV2_STOP);
	EXPECT_EQ(digest, mt_digest(&self->dst));
	free(good);
}

/*
 * The driver's counters on a large instance: page data is handed out in
 * place and copied once, to user memory; only headers and tail records
 * are copied into the bounce buffer first.
 */
TEST(v2_read_copies_page_data_once)
{
	struct mig_buf out = { 0 };
	uint64_t copied0, inplace0, user0, copied, inplace, user;
	struct mt_inst in;

	mt_inst_init(&in);
	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(mt_inst_new(&in, "large"));
	copied0 = mt_stat(&in, "save_copied");
	inplace0 = mt_stat(&in, "save_inplace");
	user0 = mt_stat(&in, "user_out");
	if (copied0 == UINT64_MAX || inplace0 == UINT64_MAX ||
	    user0 == UINT64_MAX) {
		mt_inst_del(&in);
		SKIP(return, "no debugfs stats");
	}
	EXPECT_EQ(0, _test_cmd_v2_save(&in.d, &out));
	copied = mt_stat(&in, "save_copied") - copied0;
	inplace = mt_stat(&in, "save_inplace") - inplace0;
	user = mt_stat(&in, "user_out") - user0;
	EXPECT_EQ(64ULL << 20, in.mem_size);
	EXPECT_EQ(in.mem_size, inplace);
	EXPECT_EQ(out.len, copied + inplace);
	EXPECT_EQ(out.len, user);
	/* Copies per byte: 1, plus the headers (well under 1%). */
	EXPECT_LT((copied + user) * 100, out.len * 101);
	TH_LOG("copies per byte %.5f over %zu bytes",
	       (double)(copied + user) / out.len, out.len);
	mig_buf_free(&out);
	mt_inst_del(&in);
}

/*
 * write() from a buffer whose second page is PROT_NONE, in the middle of
 * page data: the first page is applied, the write() is short, and the
 * rest of the stream, written from there, completes the resume.
 */
TEST_F(v2c, write_that_faults_mid_page_data_is_short_and_goes_on)
{
	size_t off0 = CT_DATA0 + 100;
	uint64_t digest;
	ssize_t n;

	self->map = mmap(NULL, 2 * MIG_PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	ASSERT_OK(mprotect(self->map + MIG_PAGE_SIZE, MIG_PAGE_SIZE,
			   PROT_NONE));
	test_cmd_v2_save(&self->src.d, &self->ref);
	digest = mt_digest(&self->src);
	ASSERT_GT(self->ref.len, off0 + 2 * MIG_PAGE_SIZE);

	test_cmd_v2_set_state(&self->dst.d, MV2_RESUMING, &self->fd);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ((ssize_t)off0, mv2_write_some(self->fd, self->ref.data,
						off0));
	/* Nothing of a buffer that faults at once. */
	EXPECT_EQ(-EFAULT, mv2_write_some(self->fd,
					  self->map + MIG_PAGE_SIZE, 64));
	memcpy(self->map, self->ref.data + off0, MIG_PAGE_SIZE);
	n = mv2_write_some(self->fd, self->map, 2 * MIG_PAGE_SIZE);
	ASSERT_GT(n, 0);
	ASSERT_LE(n, MIG_PAGE_SIZE);
	EXPECT_V2(&self->dst.d, MV2_RESUMING);
	test_cmd_v2_write(self->fd, self->ref.data + off0 + n,
			  self->ref.len - off0 - n, MT_CUT_RANDOM, 7, NULL);
	mv2_close(&self->fd);
	test_cmd_v2_set_state(&self->dst.d, MV2_STOP, NULL);
	EXPECT_EQ(digest, mt_digest(&self->dst));
	test_cmd_v2_set_state(&self->dst.d, MV2_RUNNING, NULL);
}

/* VFIO_DEVICE_RESET halfway through a resume: every byte of memory is 0. */
TEST_F(v2c, reset_during_resume_leaves_memory_zero)
{
	struct mig_dev *d = &self->dst.d;
	uint8_t *buf = malloc(1 << 20), junk[16] = { 0 };
	uint64_t off, i, bad = UINT64_MAX;

	ASSERT_NE(NULL, buf);
	test_cmd_v2_save(&self->src.d, &self->ref);
	ASSERT_OK(_test_cmd_fill(&self->dst, 0xbad));
	test_cmd_v2_set_state(d, MV2_RESUMING, &self->fd);
	ASSERT_LE(0, self->fd);
	test_cmd_v2_write(self->fd, self->ref.data, self->ref.len / 2,
			  MT_CUT_RANDOM, 13, NULL);
	test_cmd_device_reset(d);
	EXPECT_V2(d, MV2_RUNNING);
	EXPECT_EQ(-EINVAL, mv2_write_some(self->fd, junk, sizeof(junk)));
	for (off = 0; off < self->dst.mem_size && bad == UINT64_MAX;
	     off += 1 << 20) {
		ASSERT_OK(_test_cmd_mem_read(d, off, buf, 1 << 20));
		for (i = 0; i < (1 << 20) && bad == UINT64_MAX; i += 8)
			if (*(uint64_t *)(buf + i))
				bad = off + i;
	}
	EXPECT_EQ(UINT64_MAX, bad) {
		TH_LOG("memory at %#llx is not zero after the reset",
		       (unsigned long long)bad);
	}
	free(buf);
}

/*
 * The resume's counters on a large instance: the parser's copy from the
 * pinned user pages is the only one (load_copied), nothing is copied into
 * the bounce buffer (user_in).
 */
TEST(v2_write_copies_once)
{
	struct mig_buf stream = { 0 };
	uint64_t load0, in0, load, in;
	struct mt_inst a, b;

	mt_inst_init(&a);
	mt_inst_init(&b);
	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(mt_inst_new(&a, "large"));
	ASSERT_OK(mt_inst_new(&b, "large"));
	load0 = mt_stat(&b, "load_copied");
	in0 = mt_stat(&b, "user_in");
	if (load0 == UINT64_MAX || in0 == UINT64_MAX) {
		mt_inst_del(&a);
		mt_inst_del(&b);
		SKIP(return, "no debugfs stats");
	}
	ASSERT_OK(_test_cmd_fill(&a, 0xc0b1));
	EXPECT_EQ(0, _test_cmd_v2_save(&a.d, &stream));
	EXPECT_EQ(0, _test_cmd_v2_resume(&b.d, stream.data, stream.len,
					 MT_CUT_FIXED, 1 << 20, MV2_STOP));
	EXPECT_EQ(mt_digest(&a), mt_digest(&b));
	load = mt_stat(&b, "load_copied") - load0;
	in = mt_stat(&b, "user_in") - in0;
	EXPECT_EQ(stream.len, load);
	EXPECT_EQ(0, in);
	TH_LOG("resume copies per byte %.5f over %zu bytes",
	       (double)(load + in) / stream.len, stream.len);
	mig_buf_free(&stream);
	mt_inst_del(&a);
	mt_inst_del(&b);
}

/*
 * A read() and a write() whose user page stalls in userfaultfd: the copy
 * runs without the instance lock (GET_STATE answers meanwhile), and once
 * the page comes the call completes with the right bytes.
 */
TEST_F(v2c, copy_stalled_by_userfaultfd_holds_no_instance_lock)
{
	struct ct_call c = { 0 };
	size_t off0 = CT_DATA0 + 100;
	uint8_t buf[CT_DATA0 + 100];
	int uffd;

	self->map = mmap(NULL, 2 * MIG_PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	uffd = ct_uffd_open(self->map);
	if (uffd < 0)
		SKIP(return, "no userfaultfd: %s", strerror(-uffd));
	test_cmd_v2_save(&self->src.d, &self->ref);
	test_cmd_v2_set_state(&self->src.d, MV2_RUNNING, NULL);

	/* read(): the copy out of device memory stalls. */
	test_cmd_v2_set_state(&self->src.d, MV2_STOP_COPY, &self->fd);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ((ssize_t)off0, mv2_read_some(self->fd, buf, off0));
	ASSERT_OK(mig_buf_sink(&self->out, buf, off0));
	c.fd = self->fd;
	c.page = self->map;
	EXPECT_OK(ct_stall_probe(&c, uffd, &self->src.d, MV2_STOP_COPY,
				 self->ref.data));
	ASSERT_EQ(MIG_PAGE_SIZE, c.ret);
	ASSERT_OK(mig_buf_sink(&self->out, self->map, MIG_PAGE_SIZE));
	test_cmd_v2_read_all(self->fd, &self->out);
	ASSERT_EQ(self->ref.len, self->out.len);
	EXPECT_EQ(0, memcmp(self->ref.data, self->out.data, self->ref.len));
	mv2_close(&self->fd);
	test_cmd_v2_set_state(&self->src.d, MV2_STOP, NULL);

	/* write(): pinning the page stalls; the page brings the stream. */
	ASSERT_OK(madvise(self->map, MIG_PAGE_SIZE, MADV_DONTNEED));
	test_cmd_v2_set_state(&self->dst.d, MV2_RESUMING, &self->fd);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ((ssize_t)off0, mv2_write_some(self->fd, self->ref.data,
						off0));
	c.fd = self->fd;
	c.write = true;
	EXPECT_OK(ct_stall_probe(&c, uffd, &self->dst.d, MV2_RESUMING,
				 self->ref.data + off0));
	ASSERT_EQ(MIG_PAGE_SIZE, c.ret);
	test_cmd_v2_write(self->fd, self->ref.data + off0 + MIG_PAGE_SIZE,
			  self->ref.len - off0 - MIG_PAGE_SIZE, MT_CUT_FIXED, 0,
			  NULL);
	mv2_close(&self->fd);
	test_cmd_v2_set_state(&self->dst.d, MV2_STOP, NULL);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
	close(uffd);
}

TEST_HARNESS_MAIN
