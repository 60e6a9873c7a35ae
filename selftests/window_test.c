// SPDX-License-Identifier: GPL-2.0
/*
 * window_test: the zero-copy v1 save (issue 15, PROTOCOL.md "Region").
 *
 * With the module parameter zerocopy on when an instance is created, its
 * migration region has a second sparse-mmap area, a read-only window onto
 * device memory, and a save chunk of page data points data_offset at the
 * pages themselves.  These tests check the layout, that every chunk lies in
 * one area, that the data is the same through the window, through pread
 * and through a save with a copy, the pre-copy and stop-and-copy rules for a
 * page written after its chunk was exposed, and the window's safety rules.
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "mig_utils.h"
#include "mig_stream_utils.h"

/*
 * Creates and opens an instance of @type with the module parameter
 * zerocopy at @on (it is read at creation), then puts the parameter back.
 */
static int wt_inst_new(struct mt_inst *in, const char *type, bool on)
{
	char old[16];
	int ret;

	mt_inst_init(in);
	ret = mig_param_read("zerocopy", old, sizeof(old));
	if (!ret)
		ret = mig_param_write("zerocopy", on ? "1" : "0");
	if (ret)
		return ret;
	ret = mt_inst_new(in, type);
	if (mig_param_write("zerocopy", old) && !ret)
		ret = -EIO;
	return ret;
}

/* The sparse-mmap capability of the migration region (caller frees @ri). */
static struct vfio_region_info_cap_sparse_mmap *
wt_areas(struct mig_dev *d, struct vfio_region_info **ri)
{
	if (mig_get_region_info(d, d->mig_index, ri))
		return NULL;
	return (void *)mig_region_cap(*ri, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
}

/*
 * Mappings a test makes, unmapped by the teardown: an instance cannot be
 * removed while a mapping holds its device open.
 */
#define WT_MAPS	4
static void *wt_map[WT_MAPS];
static size_t wt_map_len[WT_MAPS];

static void *wt_mmap(struct mig_dev *d, uint64_t len, int prot, int flags,
		     uint64_t off)
{
	void *p = mmap(NULL, len, prot, flags, d->fd,
		       (off_t)(d->mig_offset + off));
	unsigned int i;

	for (i = 0; p != MAP_FAILED && i < WT_MAPS; i++) {
		if (!wt_map[i]) {
			wt_map[i] = p;
			wt_map_len[i] = len;
			break;
		}
	}
	return p;
}

static void wt_unmap_all(void)
{
	unsigned int i;

	for (i = 0; i < WT_MAPS; i++) {
		if (wt_map[i])
			munmap(wt_map[i], wt_map_len[i]);
		wt_map[i] = NULL;
	}
}

/* A chunk's bytes read with pread, wherever data_offset put them. */
static int wt_pread_chunk(struct mig_dev *d, uint64_t off, uint64_t size,
			  struct mig_buf *out)
{
	uint8_t *buf = malloc(size);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = mig_region_pread(d, d->mig_index, buf, size, off);
	if (!ret)
		ret = mig_buf_sink(out, buf, size);
	free(buf);
	return ret;
}

/* Is [off, off + len) inside the section or inside the window? */
static int wt_area_of(struct mig_dev *d, uint64_t off, uint64_t len)
{
	if (off >= d->data_offset && off - d->data_offset <= d->section_size &&
	    len <= d->section_size - (off - d->data_offset))
		return 0;
	if (off >= d->window_offset && off - d->window_offset <= d->window_size &&
	    len <= d->window_size - (off - d->window_offset))
		return 1;
	return -1;
}

/* Does a write of one byte at @p kill the writer with SIGBUS? */
static bool wt_write_sigbus(volatile uint8_t *p)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return false;
	if (!pid) {
		p[0] = 0x5a;
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS;
}

FIXTURE(win) {
	struct mt_inst src;
	struct mt_inst dst;
};

FIXTURE_SETUP(win)
{
	int ret;

	mt_inst_init(&self->src);
	mt_inst_init(&self->dst);
	ret = wt_inst_new(&self->src, "small", true);
	if (ret == -ENOENT)
		SKIP(return, "module parameter zerocopy missing: old module");
	ASSERT_EQ(0, ret);
	if (!self->src.d.window_size)
		SKIP(return, "no window: CPU pages are not MIG_PAGE_SIZE");
	ASSERT_EQ(0, wt_inst_new(&self->dst, "small", true));
	test_cmd_fill(&self->src, 15);
}

FIXTURE_TEARDOWN(win)
{
	wt_unmap_all();
	mt_inst_del(&self->src);
	mt_inst_del(&self->dst);
}

TEST_F(win, two_areas_reported_section_ends_region)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	struct vfio_region_info *ri = NULL;
	long psz = sysconf(_SC_PAGESIZE);

	sp = wt_areas(&self->src.d, &ri);
	ASSERT_NE(NULL, sp);
	ASSERT_EQ(2, sp->nr_areas);
	EXPECT_EQ(self->src.d.data_offset, sp->areas[0].offset);
	EXPECT_EQ(self->src.d.section_size, sp->areas[0].size);
	/*
	 * Page aligned, after the header page, no overlap: the window first,
	 * the section after it and to the end of the region, where a
	 * resuming client may write up to (size - data_offset) bytes.
	 */
	EXPECT_EQ(0, sp->areas[1].offset % psz);
	EXPECT_EQ(0, sp->areas[1].size % psz);
	EXPECT_GE(sp->areas[1].offset, (uint64_t)psz);
	EXPECT_GE(sp->areas[0].offset, sp->areas[1].offset + sp->areas[1].size);
	EXPECT_EQ(self->src.mem_size, sp->areas[1].size);
	EXPECT_EQ(ri->size, sp->areas[0].offset + sp->areas[0].size);
	free(ri);
}

TEST_F(win, zerocopy_off_keeps_one_area)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	struct vfio_region_info *ri = NULL;
	struct mt_inst in;

	ASSERT_EQ(0, wt_inst_new(&in, "small", false));
	sp = wt_areas(&in.d, &ri);
	EXPECT_NE(NULL, sp);
	if (sp) {
		EXPECT_EQ(1, sp->nr_areas);
		EXPECT_EQ(ri->size, sp->areas[0].offset + sp->areas[0].size);
	}
	EXPECT_EQ(0, in.d.window_size);
	free(ri);
	mt_inst_del(&in);
}

/*
 * Stop-and-copy through the mmap: every chunk is in one area, page aligned,
 * a window chunk is exactly the device's pages, pending_bytes drops by the
 * chunk's size, and the stream loads with an equal digest.
 */
TEST_F(win, stop_copy_chunks_in_one_area_and_exact)
{
	struct mig_dev *d = &self->src.d;
	struct mig_buf out = { 0 };
	uint64_t pending, off, size, next, win_chunks = 0, sec_chunks = 0;
	uint8_t *win;
	struct mt_stream s;

	win = wt_mmap(d, d->window_size, PROT_READ, MAP_SHARED,
		      d->window_offset);
	ASSERT_NE(MAP_FAILED, win);
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_STOP));
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_SAVING));
	ASSERT_EQ(0, mig_get_pending(d, &pending));
	while (pending) {
		ASSERT_EQ(0, mig_get_data_offset(d, &off));
		ASSERT_EQ(0, mig_get_data_size(d, &size));
		ASSERT_NE(0, size);
		ASSERT_EQ(0, off % MIG_PAGE_SIZE);
		switch (wt_area_of(d, off, size)) {
		case 0:
			sec_chunks++;
			ASSERT_EQ(0, mig_buf_sink(&out, (uint8_t *)d->section +
						  (off - d->data_offset), size));
			break;
		case 1:
			win_chunks++;
			ASSERT_EQ(0, size % MIG_PAGE_SIZE);
			ASSERT_EQ(0, mig_buf_sink(&out, win + (off -
						  d->window_offset), size));
			break;
		default:
			ASSERT_TRUE(false) TH_LOG("chunk %#llx+%#llx in no area",
						  (unsigned long long)off,
						  (unsigned long long)size);
		}
		ASSERT_EQ(0, mig_get_pending(d, &next));
		ASSERT_EQ(pending - size, next);
		pending = next;
	}
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_STOP));
	EXPECT_GT(win_chunks, 0);
	EXPECT_GT(sec_chunks, 0);
	ASSERT_EQ(0, mt_stream_parse(out.data, out.len, &s)) TH_LOG("%s", s.why);
	EXPECT_EQ(self->src.npages, s.pages);
	mt_stream_free(&s);
	test_cmd_resume(&self->dst.d, out.data, out.len,
			MIG_STATE_RUNNING);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
	mig_buf_free(&out);
}

/* The same stream through the mmap (zero-copy), pread, and a copying device. */
TEST_F(win, mmap_pread_and_copy_path_streams_identical)
{
	struct mig_buf a = { 0 }, b = { 0 }, c = { 0 };
	struct mt_inst cp;

	test_cmd_save(&self->src.d, MIG_PATH_MMAP, &a);
	test_cmd_save(&self->src.d, MIG_PATH_PREAD, &b);
	ASSERT_EQ(a.len, b.len);
	EXPECT_EQ(0, memcmp(a.data, b.data, a.len));

	/* A device without the window, same memory: the same bytes. */
	ASSERT_EQ(0, mig_set_state(&self->src.d, MIG_STATE_RUNNING));
	ASSERT_EQ(0, wt_inst_new(&cp, "small", false));
	test_cmd_resume(&cp.d, a.data, a.len, MIG_STATE_STOP);
	test_cmd_save(&cp.d, MIG_PATH_MMAP, &c);
	ASSERT_EQ(a.len, c.len);
	EXPECT_EQ(0, memcmp(a.data, c.data, a.len));
	mt_inst_del(&cp);
	mig_buf_free(&a);
	mig_buf_free(&b);
	mig_buf_free(&c);
}

/* The window shows device memory: the same bytes as pread and BAR2. */
TEST_F(win, window_mmap_pread_and_bar2_agree)
{
	struct mig_dev *d = &self->src.d;
	uint8_t *win, *pr, *bar;
	uint64_t len = d->window_size;

	win = wt_mmap(d, len, PROT_READ, MAP_SHARED, d->window_offset);
	ASSERT_NE(MAP_FAILED, win);
	pr = malloc(len);
	bar = malloc(len);
	ASSERT_NE(NULL, pr);
	ASSERT_NE(NULL, bar);
	ASSERT_EQ(0, mig_region_pread(d, d->mig_index, pr, len,
				      d->window_offset));
	ASSERT_EQ(0, mig_region_pread(d, MT_BAR2, bar, len, 0));
	EXPECT_EQ(0, memcmp(win, bar, len));
	EXPECT_EQ(0, memcmp(pr, bar, len));
	/* A BAR2 write shows at once through the mapping. */
	memset(bar, 0xa5, MIG_PAGE_SIZE);
	ASSERT_EQ(0, mig_region_pwrite(d, MT_BAR2, bar, MIG_PAGE_SIZE,
				       3 * MIG_PAGE_SIZE));
	EXPECT_EQ(0, memcmp(win + 3 * MIG_PAGE_SIZE, bar, MIG_PAGE_SIZE));
	free(pr);
	free(bar);
}

/*
 * Pre-copy: a page written after the chunk that carries it was exposed is
 * logged again and re-sent; the stop-and-copy that follows is exact.
 */
TEST_F(win, precopy_page_written_after_expose_is_resent)
{
	struct mig_dev *d = &self->src.d;
	struct mig_buf out = { 0 };
	uint8_t page[MIG_PAGE_SIZE];
	uint64_t pending, off, size, target = UINT64_MAX;
	struct mt_stream s;
	int rounds = 0;

	memset(page, 0x3c, sizeof(page));
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_PRECOPY));
	/* Pre-copy until caught up; rewrite a page of the first window chunk. */
	for (;;) {
		ASSERT_EQ(0, mig_get_pending(d, &pending));
		if (!pending)
			break;
		ASSERT_LT(rounds++, 100000);
		ASSERT_EQ(0, mig_get_data_offset(d, &off));
		ASSERT_EQ(0, mig_get_data_size(d, &size));
		if (target == UINT64_MAX && wt_area_of(d, off, size) == 1) {
			target = off - d->window_offset;
			/* The device writes the page while the client copies. */
			ASSERT_EQ(0, mig_region_pwrite(d, MT_BAR2, page,
						       sizeof(page), target));
		}
		ASSERT_EQ(0, wt_pread_chunk(d, off, size, &out));
	}
	ASSERT_NE(UINT64_MAX, target);
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_SAVING));
	/* Stopped: device memory does not move; a BAR2 write is refused. */
	EXPECT_EQ(-EBUSY, mig_region_pwrite(d, MT_BAR2, page, sizeof(page), 0));
	ASSERT_EQ(0, mig_save_loop(d, MIG_PATH_MMAP, 0, mig_buf_sink, &out,
				   NULL));
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_STOP));
	ASSERT_EQ(0, mt_stream_parse(out.data, out.len, &s)) TH_LOG("%s", s.why);
	/* Every page once, and the rewritten one once more. */
	EXPECT_GE(s.pages, (uint64_t)self->src.npages + 1);
	mt_stream_free(&s);
	test_cmd_resume(&self->dst.d, out.data, out.len,
			MIG_STATE_RUNNING);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
	ASSERT_EQ(0, mig_region_pread(&self->dst.d, MT_BAR2, page, sizeof(page),
				      target));
	EXPECT_EQ(0x3c, page[0]);
	EXPECT_EQ(0x3c, page[MIG_PAGE_SIZE - 1]);
	mig_buf_free(&out);
}

/*
 * A pre-copy pass over scattered dirty pages: runs shorter than 16 pages
 * are copied into the section, many to a chunk, and only a long run goes
 * through the window; the stream is still the same state.
 */
TEST_F(win, short_runs_share_section_chunks)
{
	struct mig_dev *d = &self->src.d;
	struct mig_buf out = { 0 };
	uint64_t pending, off, size;
	unsigned int win_chunks = 0, sec_chunks = 0, i;
	uint8_t page[MIG_PAGE_SIZE];
	struct mt_stream s;

	ASSERT_LE(432, self->src.npages);
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_PRECOPY));
	ASSERT_EQ(0, mig_save_loop(d, MIG_PATH_MMAP, 0, mig_buf_sink, &out,
				   NULL));

	/* 100 runs of one page, then one of 32 pages. */
	memset(page, 0x6b, sizeof(page));
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, mig_region_pwrite(d, MT_BAR2, page, sizeof(page),
					       3 * i * MIG_PAGE_SIZE));
	for (i = 400; i < 432; i++)
		ASSERT_EQ(0, mig_region_pwrite(d, MT_BAR2, page, sizeof(page),
					       (uint64_t)i * MIG_PAGE_SIZE));
	for (;;) {
		ASSERT_EQ(0, mig_get_pending(d, &pending));
		if (!pending)
			break;
		ASSERT_EQ(0, mig_get_data_offset(d, &off));
		ASSERT_EQ(0, mig_get_data_size(d, &size));
		switch (wt_area_of(d, off, size)) {
		case 0:
			sec_chunks++;
			break;
		case 1:
			win_chunks++;
			EXPECT_EQ(32 * MIG_PAGE_SIZE, size);
			break;
		default:
			ASSERT_TRUE(false) TH_LOG("chunk in no area");
		}
		ASSERT_EQ(0, wt_pread_chunk(d, off, size, &out));
		ASSERT_LT(sec_chunks + win_chunks, 100);
	}
	EXPECT_EQ(1, win_chunks);
	/* 100 pages and their headers fit the 1 MiB section once. */
	EXPECT_GE(2, sec_chunks);
	EXPECT_LE(1, sec_chunks);

	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_SAVING));
	ASSERT_EQ(0, mig_save_loop(d, MIG_PATH_MMAP, 0, mig_buf_sink, &out,
				   NULL));
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_STOP));
	ASSERT_EQ(0, mt_stream_parse(out.data, out.len, &s)) TH_LOG("%s", s.why);
	/* Every page once, the 132 rewritten ones once more. */
	EXPECT_LE(self->src.npages + 132, s.pages);
	mt_stream_free(&s);
	test_cmd_resume(&self->dst.d, out.data, out.len, MIG_STATE_RUNNING);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
	mig_buf_free(&out);
}

/*
 * The same with the engine writing pages all along: equal digests.  Each
 * pre-copy pass is bounded in chunks, so that a slow kernel (the debug
 * one) that never catches up with the engine still ends.
 */
TEST_F(win, live_save_with_engine_running)
{
	struct mig_dev *d = &self->src.d;
	struct mig_buf out = { 0 };
	int pass;

	test_cmd_engine_rate(self->src.uuid, 4000);
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_PRECOPY));
	for (pass = 0; pass < 4; pass++)
		ASSERT_EQ(0, mig_save_loop(d, MIG_PATH_MMAP, 2 * self->src.npages /
					   MIG_MAX_RUN_PAGES + 4, mig_buf_sink,
					   &out, NULL));
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_SAVING));
	ASSERT_EQ(0, mig_save_loop(d, MIG_PATH_MMAP, 0, mig_buf_sink, &out,
				   NULL));
	ASSERT_EQ(0, mig_set_state(d, MIG_STATE_STOP));
	test_cmd_resume(&self->dst.d, out.data, out.len,
			MIG_STATE_STOP);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
	mig_buf_free(&out);
}

/* No write reaches device memory through the window, in any state. */
TEST_F(win, window_refuses_writes_in_every_state)
{
	static const uint32_t states[] = {
		MIG_STATE_RUNNING, MIG_STATE_PRECOPY, MIG_STATE_SAVING,
		MIG_STATE_STOP, MIG_STATE_RESUMING,
	};
	struct mig_dev *d = &self->src.d;
	uint8_t *rw, *ro, byte = 1;
	unsigned int i;

	/* QEMU maps every area read-write: the mapping is allowed. */
	rw = wt_mmap(d, d->window_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     d->window_offset);
	ASSERT_NE(MAP_FAILED, rw);
	ro = wt_mmap(d, d->window_size, PROT_READ, MAP_SHARED,
		     d->window_offset);
	ASSERT_NE(MAP_FAILED, ro);
	for (i = 0; i < ARRAY_SIZE(states); i++) {
		if (states[i] == MIG_STATE_RESUMING)
			ASSERT_EQ(0, mig_set_state(d, MIG_STATE_RUNNING));
		ASSERT_EQ(0, mig_set_state(d, states[i]));
		/* Fresh page (write fault) and a page read first (wp fault). */
		EXPECT_TRUE(wt_write_sigbus(rw + i * 2 * MIG_PAGE_SIZE));
		EXPECT_EQ(rw[(i * 2 + 1) * MIG_PAGE_SIZE],
			  ro[(i * 2 + 1) * MIG_PAGE_SIZE]);
		EXPECT_TRUE(wt_write_sigbus(rw + (i * 2 + 1) * MIG_PAGE_SIZE));
		EXPECT_EQ(-EACCES, mig_region_pwrite(d, d->mig_index, &byte, 1,
						     d->window_offset));
	}
	ASSERT_EQ(0, mig_device_reset(d));
}

/* Mappings: MAP_SHARED only, inside one area. */
TEST_F(win, mmap_inside_one_area_only)
{
	struct mig_dev *d = &self->src.d;
	long psz = sysconf(_SC_PAGESIZE);
	void *p;

	p = wt_mmap(d, psz, PROT_READ, MAP_PRIVATE, d->window_offset);
	EXPECT_EQ(MAP_FAILED, p);
	/* Across the section's end into the window. */
	p = wt_mmap(d, 2 * psz, PROT_READ, MAP_SHARED,
		    d->window_offset - psz);
	EXPECT_EQ(MAP_FAILED, p);
	/* Past the window's end. */
	p = wt_mmap(d, 2 * psz, PROT_READ, MAP_SHARED,
		    d->window_offset + d->window_size - psz);
	EXPECT_EQ(MAP_FAILED, p);
	/* The last page alone is fine. */
	p = wt_mmap(d, psz, PROT_READ, MAP_SHARED,
		    d->window_offset + d->window_size - psz);
	ASSERT_NE(MAP_FAILED, p);
	/* pread across the end of the window: -EINVAL. */
	EXPECT_EQ(-EINVAL, mig_region_pread(d, d->mig_index, &p, sizeof(p),
					    d->window_offset + d->window_size -
					    4));
}

/*
 * The window follows the device: through a reset (it reads zero) and a
 * close of the device fd (the mapping keeps the device open and goes on
 * showing its memory).
 */
TEST_F(win, mapping_follows_reset_and_close)
{
	struct mig_dev *d = &self->src.d;
	uint8_t *win, page[MIG_PAGE_SIZE];
	uint64_t len = d->window_size, i;
	bool zero = true;

	win = wt_mmap(d, len, PROT_READ, MAP_SHARED, d->window_offset);
	ASSERT_NE(MAP_FAILED, win);
	ASSERT_EQ(0, mig_region_pread(d, MT_BAR2, page, sizeof(page),
				      MIG_PAGE_SIZE));
	EXPECT_EQ(0, memcmp(win + MIG_PAGE_SIZE, page, sizeof(page)));
	ASSERT_EQ(0, mig_device_reset(d));
	for (i = 0; i < len && zero; i += 8)
		zero = !*(uint64_t *)(win + i);
	EXPECT_TRUE(zero);

	memset(page, 0x77, sizeof(page));
	ASSERT_EQ(0, mig_region_pwrite(d, MT_BAR2, page, sizeof(page),
				       5 * MIG_PAGE_SIZE));

	/* Close the device fd with the mapping alive. */
	mt_inst_close(&self->src);
	EXPECT_EQ(0x77, win[5 * MIG_PAGE_SIZE]);
	EXPECT_EQ(0x77, win[6 * MIG_PAGE_SIZE - 1]);
	EXPECT_EQ(0, win[MIG_PAGE_SIZE]);
}

/* How many of @n pages from @p are mapped (mincore), from page @first. */
static int wt_mapped(const uint8_t *p, size_t n, size_t first, size_t count)
{
	unsigned char vec[2048];
	size_t i;
	int in = 0;

	if (n > sizeof(vec) || mincore((void *)p, n * MIG_PAGE_SIZE, vec))
		return -1;
	for (i = first; i < first + count && i < n; i++)
		in += vec[i] & 1;
	return in;
}

/*
 * One fault maps up to 512 pages (2 MiB) from the faulting one on, never
 * past the mapping or the window, never over a page already mapped; what
 * it maps reads as device memory and still refuses writes.
 */
TEST_F(win, fault_maps_ahead_within_the_mapping)
{
	struct mig_dev *d = &self->src.d;
	size_t n = d->window_size / MIG_PAGE_SIZE, ps = MIG_PAGE_SIZE;
	volatile uint8_t *w;
	uint8_t *win, *bar;

	ASSERT_LE(1024, n);
	ASSERT_GE(2048, n);
	win = wt_mmap(d, d->window_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->window_offset);
	ASSERT_NE(MAP_FAILED, win);
	w = win;
	ASSERT_EQ(0, wt_mapped(win, n, 0, n));

	/* A read of page 3 maps pages 3..514, nothing before or after. */
	(void)w[3 * ps];
	EXPECT_EQ(512, wt_mapped(win, n, 3, 512));
	EXPECT_EQ(512, wt_mapped(win, n, 0, n));

	/* A hole punched in the middle refills up to the next mapped page. */
	ASSERT_EQ(0, madvise(win + 10 * ps, 3 * ps, MADV_DONTNEED));
	EXPECT_EQ(509, wt_mapped(win, n, 0, n));
	(void)w[10 * ps];
	EXPECT_EQ(512, wt_mapped(win, n, 0, n));
	(void)w[0];
	EXPECT_EQ(515, wt_mapped(win, n, 0, n));

	/* The last 100 pages: one fault, clipped by the window's end. */
	(void)w[(n - 100) * ps];
	EXPECT_EQ(100, wt_mapped(win, n, n - 100, 100));

	/* Pages mapped ahead are device memory, and read only. */
	bar = malloc(d->window_size);
	ASSERT_NE(NULL, bar);
	ASSERT_EQ(0, mig_region_pread(d, MT_BAR2, bar, d->window_size, 0));
	EXPECT_EQ(0, memcmp(win, bar, d->window_size));
	free(bar);
	EXPECT_TRUE(wt_write_sigbus(win + 200 * ps));
	EXPECT_TRUE(wt_write_sigbus(win + (n - 1) * ps));
}

/* A mapping of part of the window: the fault stops at the mapping's end. */
TEST_F(win, fault_ahead_stops_at_the_mapping_end)
{
	struct mig_dev *d = &self->src.d;
	uint8_t *part, page[MIG_PAGE_SIZE];
	volatile uint8_t *w;

	part = wt_mmap(d, 24 * MIG_PAGE_SIZE, PROT_READ, MAP_SHARED,
		       d->window_offset + 40 * MIG_PAGE_SIZE);
	ASSERT_NE(MAP_FAILED, part);
	w = part;
	(void)w[MIG_PAGE_SIZE];
	EXPECT_EQ(0, wt_mapped(part, 24, 0, 1));
	EXPECT_EQ(23, wt_mapped(part, 24, 1, 23));
	ASSERT_EQ(0, mig_region_pread(d, MT_BAR2, page, sizeof(page),
				      63 * MIG_PAGE_SIZE));
	EXPECT_EQ(0, memcmp(part + 23 * MIG_PAGE_SIZE, page, sizeof(page)));
}

/* Copies counted by the driver: a zero-copy save copies only headers. */
TEST_F(win, driver_counts_inplace_bytes)
{
	struct mig_buf out = { 0 };
	uint64_t copied0, inplace0, copied, inplace;

	copied0 = mt_stat(&self->src, "save_copied");
	inplace0 = mt_stat(&self->src, "save_inplace");
	if (copied0 == UINT64_MAX)
		SKIP(return, "no debugfs stats");
	ASSERT_NE(UINT64_MAX, inplace0);
	test_cmd_save(&self->src.d, MIG_PATH_MMAP, &out);
	copied = mt_stat(&self->src, "save_copied") - copied0;
	inplace = mt_stat(&self->src, "save_inplace") - inplace0;
	EXPECT_EQ(out.len, copied + inplace);
	EXPECT_EQ(self->src.mem_size, inplace);
	/* Headers and tail records: well under 1% of the stream. */
	EXPECT_LT(copied * 100, out.len);
	mig_buf_free(&out);
}

TEST_HARNESS_MAIN
