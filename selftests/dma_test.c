// SPDX-License-Identifier: GPL-2.0
/*
 * The DMA engine (register file revision 2) and the dirty tracking of its
 * writes, without QEMU: a buffer of this process is mapped into the
 * device's container (or iommufd IOAS) as the "guest memory", the device
 * writes records into a ring in it, and the test reads them, the type1
 * dirty bitmap (VFIO_IOMMU_DIRTY_PAGES) and the v2 device dirty log
 * (VFIO_DEVICE_FEATURE_DMA_LOGGING_*).
 *
 * Layout: BUF_PAGES pages at IOVA BUF_IOVA; the ring is RING_PAGES pages
 * from page RING_FIRST; the other pages are never written by the device,
 * and the dirty tests check that nothing reports them.  The engine's
 * registers, the container and the v2 log commands are dma_utils.h's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "mig_utils.h"
#include "mig_stream_utils.h"
#include "cdev_utils.h"
#include "dma_utils.h"

#define PG		4096ULL
#define BUF_IOVA	0x40000000ULL
#define BUF_PAGES	64
#define RING_FIRST	8
#define RING_PAGES	16
#define RING_IOVA	(BUF_IOVA + RING_FIRST * PG)
#define RING_SLOTS	(RING_PAGES * MIG_DMA_RECS_PER_PAGE)
#define RATE		4000	/* records per second */

/* ---- helpers: the type1 bitmap, the ring, the records ---- */

/* VFIO_IOMMU_DIRTY_PAGES START or STOP. */
static int dirty_ctl(struct mig_dev *d, uint32_t flag)
{
	struct vfio_iommu_type1_dirty_bitmap db = {
		.argsz = sizeof(db), .flags = flag,
	};

	return ioctl(d->container, VFIO_IOMMU_DIRTY_PAGES, &db) ? -errno : 0;
}

/* The type1 bitmap of the whole buffer (read and cleared). */
static int dirty_get(struct mig_dev *d, uint64_t *bitmap)
{
	uint64_t buf[(sizeof(struct vfio_iommu_type1_dirty_bitmap) +
		      sizeof(struct vfio_iommu_type1_dirty_bitmap_get)) / 8 + 1];
	struct vfio_iommu_type1_dirty_bitmap *db = (void *)buf;
	struct vfio_iommu_type1_dirty_bitmap_get *g = (void *)db->data;

	memset(buf, 0, sizeof(buf));
	memset(bitmap, 0, BUF_PAGES / 8);
	db->argsz = sizeof(*db) + sizeof(*g);
	db->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	g->iova = BUF_IOVA;
	g->size = BUF_PAGES * PG;
	g->bitmap.pgsize = PG;
	g->bitmap.size = BUF_PAGES / 8;
	g->bitmap.data = (void *)bitmap;
	return ioctl(d->container, VFIO_IOMMU_DIRTY_PAGES, db) ? -errno : 0;
}

static bool bit(const uint64_t *bm, unsigned int i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

/* Wait @ms and say whether HEAD moved meanwhile. */
static bool head_moves(struct mig_dev *d, unsigned int ms)
{
	uint64_t h = mt_dma_head(d);

	mt_sleep_ms(ms);
	return mt_dma_head(d) != h;
}

/*
 * Start the engine on the test ring at RATE and wait for @n records.
 * Returns HEAD then (less than @n if it did not get there), 0 on error.
 */
static uint64_t run_ring(struct mig_dev *d, uint64_t n)
{
	if (_test_cmd_dma_start(d, RING_IOVA, RING_PAGES, RATE, MIG_DMA_CTRL_EN))
		return 0;
	return mt_dma_wait_head(d, n);
}

/* Does @r hold record @seq of a ring of @slots, whole and untorn? */
static bool record_ok(const struct mig_dma_record *r, uint64_t seq,
		      uint32_t slots)
{
	__u64 w[7];
	unsigned int i;

	w[0] = le64toh(r->seq);
	w[1] = le32toh(r->magic) | (uint64_t)le32toh(r->slots) << 32;
	if (w[0] != seq || le32toh(r->magic) != MIG_DMA_RECORD_MAGIC ||
	    le32toh(r->slots) != slots)
		return false;
	for (i = 0; i < 5; i++) {
		w[2 + i] = le64toh(r->payload[i]);
		if (w[2 + i] != mig_dma_payload(seq, i))
			return false;
	}
	return le64toh(r->check) == mig_dma_check(w);
}

/*
 * The records a ring of @slots at @ring holds after @head records, the
 * last @slots of them (or all): how many are not what they must be.
 */
static unsigned int bad_records(const void *ring, uint32_t slots,
				uint64_t head)
{
	const struct mig_dma_record *r = ring;
	uint64_t seq = head > slots ? head - slots : 0;
	unsigned int bad = 0;

	for (; seq < head; seq++)
		if (!record_ok(&r[seq % slots], seq, slots))
			bad++;
	return bad;
}

/* The page of the buffer that holds record @seq of the test ring. */
static unsigned int rec_page(uint64_t seq)
{
	return RING_FIRST + (seq % RING_SLOTS) / MIG_DMA_RECS_PER_PAGE;
}

/* ---- helpers: the v2 device dirty log ---- */

/* The v2 log of the whole buffer (read and cleared). */
static int log_report(struct mig_dev *d, uint64_t *bm)
{
	return _test_cmd_dma_log_report(d, BUF_IOVA, BUF_PAGES * PG, PG, bm);
}

/* A read (and clear) of a dirty log: the type1 bitmap or the v2 log. */
typedef int (*report_fn)(struct mig_dev *d, uint64_t *bm);

/*
 * With the engine running on the test ring and @report's log on: read the
 * log, let the engine write two more pages' worth, stop it, read again.
 * With @hidden false, every page written after the first read must be in
 * the second and no page outside the ring; with @hidden true, no page at
 * all.  A third read is empty either way, and the records are good.
 */
static void check_window(struct __test_metadata *_metadata,
			 struct mig_dev *d, const uint8_t *ring,
			 report_fn report, bool hidden)
{
	uint64_t bm[BUF_PAGES / 64], h0, h1, s;
	bool want[BUF_PAGES] = { false };
	unsigned int p;

	ASSERT_OK(report(d, bm));
	h0 = mt_dma_head(d);
	ASSERT_LE(h0 + 2 * MIG_DMA_RECS_PER_PAGE,
		  mt_dma_wait_head(d, h0 + 2 * MIG_DMA_RECS_PER_PAGE));
	ASSERT_OK(_test_cmd_bar0_write(d, MIG_REG_DMA_CONTROL, 0));
	h1 = mt_dma_head(d);
	EXPECT_EQ(0, bad_records(ring, RING_SLOTS, h1));
	ASSERT_OK(report(d, bm));
	/* h0 was read after the first report: a record before it may be in. */
	for (s = h0; s < h1; s++)
		want[rec_page(s)] = true;
	for (p = 0; p < BUF_PAGES; p++) {
		if (hidden) {
			EXPECT_FALSE(bit(bm, p)) TH_LOG("hidden page %u reported", p);
		} else if (want[p]) {
			EXPECT_TRUE(bit(bm, p)) TH_LOG("page %u written, not reported", p);
		} else if (p < RING_FIRST || p >= RING_FIRST + RING_PAGES) {
			EXPECT_FALSE(bit(bm, p)) TH_LOG("page %u reported, never written", p);
		}
	}
	/* Stopped: the next read reports nothing. */
	ASSERT_OK(report(d, bm));
	for (p = 0; p < BUF_PAGES; p++)
		EXPECT_FALSE(bit(bm, p)) TH_LOG("page %u reported twice", p);
}

/* ---- the fixture: one instance, the buffer mapped into its container ---- */

FIXTURE(dma) {
	struct mt_inst inst;
	uint8_t *buf;
	bool hide;	/* test_hide_dma_dirty set: clear it in teardown */
};

FIXTURE_SETUP(dma)
{
	MT_SKIP_IF_NO_MODULE();
	self->buf = mt_dma_buf_new(BUF_PAGES * PG);
	ASSERT_NE(NULL, self->buf);
	ASSERT_OK(mt_inst_setup(&self->inst, "small"));
	test_cmd_dma_map(&self->inst.d, self->buf, BUF_IOVA,
			 BUF_PAGES * PG);
}

FIXTURE_TEARDOWN(dma)
{
	if (self->hide)
		mig_param_write("test_hide_dma_dirty", "N");
	mt_inst_del(&self->inst);
	if (self->buf)
		munmap(self->buf, BUF_PAGES * PG);
}

#define DEV (&self->inst.d)
#define RING (self->buf + RING_FIRST * PG)

TEST_F(dma, revision_2_and_idle_after_open)
{
	EXPECT_EQ(2, mt_reg(DEV, MIG_REG_REVISION));
	EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_CONTROL));
	EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_STATUS));
	EXPECT_EQ(0, mt_dma_head(DEV));
}

/* Records arrive in order, each whole, seq from 0; ACTIVE while running. */
TEST_F(dma, records_valid_and_in_order)
{
	uint64_t h;

	ASSERT_LE(200, run_ring(DEV, 200));
	EXPECT_EQ(MIG_DMA_STATUS_ACTIVE, mt_reg(DEV, MIG_REG_DMA_STATUS));
	ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_CONTROL, 0));
	EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_STATUS));
	h = mt_dma_head(DEV);
	mt_sleep_ms(50);
	EXPECT_EQ(h, mt_dma_head(DEV));
	EXPECT_EQ(0, bad_records(RING, RING_SLOTS, h));
	/* Nothing past HEAD was written. */
	EXPECT_EQ(0, ((struct mig_dma_record *)RING)[h].magic);
}

/* Without bus mastering the engine does not run. */
TEST_F(dma, no_dma_without_bus_master)
{
	test_cmd_dma_start(DEV, RING_IOVA, RING_PAGES, RATE,
			   MIG_DMA_CTRL_EN);
	test_cmd_bus_master(DEV, false);
	mt_sleep_ms(20);
	EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_STATUS) & MIG_DMA_STATUS_ACTIVE);
	EXPECT_FALSE(head_moves(DEV, 50));
	test_cmd_bus_master(DEV, true);
	EXPECT_TRUE(head_moves(DEV, 50));
}

/* The device writes only while HEAD - TAIL < slots; TAIL frees slots. */
TEST_F(dma, flow_control_by_tail)
{
	uint32_t slots = MIG_DMA_RECS_PER_PAGE;

	test_cmd_dma_start(DEV, RING_IOVA, 1, 20000, MIG_DMA_CTRL_EN);
	ASSERT_EQ(slots, mt_dma_wait_head(DEV, slots));
	mt_sleep_ms(50);
	EXPECT_EQ(slots, mt_dma_head(DEV));
	ASSERT_OK(_test_cmd_dma_set_tail(DEV, 20));
	EXPECT_EQ(20, mt_reg64(DEV, MIG_REG_DMA_TAIL_LO));
	ASSERT_EQ(slots + 20, mt_dma_wait_head(DEV, slots + 20));
	mt_sleep_ms(50);
	EXPECT_EQ(slots + 20, mt_dma_head(DEV));
	EXPECT_EQ(0, bad_records(RING, slots, slots + 20));
	/* A TAIL past HEAD is ignored. */
	ASSERT_OK(_test_cmd_dma_set_tail(DEV, slots + 21));
	EXPECT_EQ(20, mt_reg64(DEV, MIG_REG_DMA_TAIL_LO));
}

/* A ring the device cannot use is refused: FAULT, the engine stays off. */
TEST_F(dma, bad_ring_faults)
{
	static const struct { uint64_t ring; uint32_t pages; } bad[] = {
		{ RING_IOVA, 0 },
		{ RING_IOVA, MIG_DMA_MAX_RING_PAGES + 1 },
		{ RING_IOVA + 64, 1 },
		{ 0xfffffffffffff000ULL, 2 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		test_cmd_dma_start(DEV, bad[i].ring, bad[i].pages, RATE,
				   MIG_DMA_CTRL_EN);
		EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_CONTROL));
		EXPECT_EQ(MIG_DMA_STATUS_FAULT, mt_reg(DEV, MIG_REG_DMA_STATUS));
		/* write 1 to clear */
		ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_STATUS,
					 MIG_DMA_STATUS_FAULT));
		EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_STATUS));
	}
	EXPECT_EQ(0, mt_dma_head(DEV));
}

/* A write the IOMMU refuses (unmapped IOVA): FAULT, engine stopped. */
TEST_F(dma, unmapped_iova_faults)
{
	test_cmd_dma_start(DEV, BUF_IOVA + BUF_PAGES * PG, 1, RATE,
			   MIG_DMA_CTRL_EN);
	mt_sleep_ms(100);
	EXPECT_EQ(MIG_DMA_STATUS_FAULT, mt_reg(DEV, MIG_REG_DMA_STATUS));
	EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_CONTROL));
	EXPECT_EQ(0, mt_dma_head(DEV));
}

/* Unmapping the ring while the engine runs stops it with FAULT. */
TEST_F(dma, unmap_while_running_faults)
{
	uint64_t h;

	ASSERT_LE(10, run_ring(DEV, 10));
	test_cmd_dma_unmap(DEV, BUF_IOVA, BUF_PAGES * PG);
	mt_sleep_ms(100);
	EXPECT_EQ(MIG_DMA_STATUS_FAULT, mt_reg(DEV, MIG_REG_DMA_STATUS));
	h = mt_dma_head(DEV);
	mt_sleep_ms(50);
	EXPECT_EQ(h, mt_dma_head(DEV));
	EXPECT_EQ(0, bad_records(RING, RING_SLOTS, h));
}

/* Ring registers are ignored while enabled; a new ring starts at 0. */
TEST_F(dma, ring_fixed_while_enabled)
{
	ASSERT_LE(5, run_ring(DEV, 5));
	ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_RING_PAGES, 1));
	EXPECT_EQ(RING_PAGES, mt_reg(DEV, MIG_REG_DMA_RING_PAGES));
	ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_CONTROL, 0));
	ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_RING_PAGES, 2));
	EXPECT_EQ(0, mt_dma_head(DEV));
	EXPECT_EQ(0, mt_reg64(DEV, MIG_REG_DMA_TAIL_LO));
}

/* Every v1 state without the RUNNING bit stops the engine. */
TEST_F(dma, stops_in_v1_stopped_states)
{
	static const uint32_t states[] = {
		MIG_STATE_STOP, MIG_STATE_SAVING, MIG_STATE_RESUMING,
	};
	unsigned int i;

	if (!libmig_offers(DEV, LIBMIG_PROTO_V1))
		SKIP(return, "instances offer no protocol v1");
	for (i = 0; i < 3; i++) {
		test_cmd_dma_start(DEV, RING_IOVA, RING_PAGES, RATE,
				   MIG_DMA_CTRL_EN);
		ASSERT_TRUE(head_moves(DEV, 50));
		ASSERT_OK(mig_set_state(DEV, states[i]));
		EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_STATUS) &
			  MIG_DMA_STATUS_ACTIVE);
		EXPECT_FALSE(head_moves(DEV, 50)) TH_LOG("in %s",
			mig_state_str(states[i]));
		if (states[i] == MIG_STATE_SAVING)
			ASSERT_OK(mig_set_state(DEV, MIG_STATE_STOP));
		if (states[i] == MIG_STATE_RESUMING) {
			/* A new resume resets the device: ring gone. */
			EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_CONTROL));
			ASSERT_OK(mig_device_reset(DEV));
			continue;
		}
		ASSERT_OK(mig_set_state(DEV, MIG_STATE_RUNNING));
		EXPECT_TRUE(head_moves(DEV, 50));
		ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_CONTROL, 0));
	}
}

/* Every v2 state but RUNNING and PRE_COPY stops the engine. */
TEST_F(dma, stops_in_v2_stopped_states)
{
	static const uint32_t states[] = {
		VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_STOP,
		VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_RESUMING,
		VFIO_DEVICE_STATE_PRE_COPY_P2P,
	};
	unsigned int i;
	int fd = -1;

	if (!libmig_offers(DEV, LIBMIG_PROTO_V2))
		SKIP(return, "instances offer no protocol v2");
	ASSERT_OK(libmig_use(DEV, LIBMIG_PROTO_V2));
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		if (states[i] == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
		    !(libmig_has_precopy(DEV) && libmig_has_p2p(DEV)))
			continue;
		test_cmd_dma_start(DEV, RING_IOVA, RING_PAGES, RATE,
				   MIG_DMA_CTRL_EN);
		ASSERT_TRUE(head_moves(DEV, 50));
		ASSERT_OK(libmig_v2_set_state(DEV, states[i], &fd));
		EXPECT_FALSE(head_moves(DEV, 50)) TH_LOG("in %s",
			libmig_v2_state_str(states[i]));
		EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_STATUS) &
			  MIG_DMA_STATUS_ACTIVE);
		if (fd >= 0)
			close(fd);
		/* RUNNING again, the short way: a reset. */
		ASSERT_OK(mig_device_reset(DEV));
	}
}

/* Pre-copy keeps the device running: the engine goes on. */
TEST_F(dma, runs_in_precopy)
{
	ASSERT_LE(1, run_ring(DEV, 1));
	/* v1's PRECOPY where v1 is offered, else v2's PRE_COPY (6.2 on). */
	if (libmig_use(DEV, LIBMIG_PROTO_V1) || libmig_precopy_begin(DEV))
		if (libmig_use(DEV, LIBMIG_PROTO_V2) ||
		    libmig_precopy_begin(DEV))
			SKIP(return, "no pre-copy in either protocol");
	EXPECT_TRUE(head_moves(DEV, 50));
}

/* VFIO_DEVICE_RESET stops the engine and clears its registers. */
TEST_F(dma, reset_stops)
{
	ASSERT_LE(1, run_ring(DEV, 1));
	ASSERT_OK(mig_device_reset(DEV));
	EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_CONTROL));
	EXPECT_EQ(0, mt_dma_head(DEV));
	EXPECT_FALSE(head_moves(DEV, 50));
}

/* A close stops the engine (no write after it) and disables it. */
TEST_F(dma, close_stops)
{
	uint8_t *snap = malloc(RING_PAGES * PG);

	ASSERT_NE(NULL, snap);
	ASSERT_LE(1, run_ring(DEV, 1));
	mt_inst_close(&self->inst);
	memcpy(snap, RING, RING_PAGES * PG);
	mt_sleep_ms(100);
	EXPECT_EQ(0, memcmp(snap, RING, RING_PAGES * PG));
	free(snap);
	ASSERT_OK(mt_inst_open_dev(&self->inst));
	EXPECT_EQ(0, mt_reg(DEV, MIG_REG_DMA_CONTROL));
	EXPECT_FALSE(head_moves(DEV, 50));
}

/* Interrupts every IRQ_EVERY records, counted in both counters. */
TEST_F(dma, irq_every_n_records)
{
	uint32_t every = 16, n, i;
	uint64_t h;

	ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_IRQ_EVERY, every));
	test_cmd_dma_start(DEV, RING_IOVA, RING_PAGES, RATE,
			   MIG_DMA_CTRL_EN | MIG_DMA_CTRL_IRQ_EN);
	/* unacknowledged, the engine holds at the record that raised it */
	ASSERT_EQ(every, mt_dma_wait_head(DEV, every));
	EXPECT_FALSE(head_moves(DEV, 100));
	EXPECT_EQ(1, mt_reg(DEV, MIG_REG_DMA_IRQ_COUNT));
	EXPECT_TRUE(mt_reg(DEV, MIG_REG_STATUS) & MIG_STATUS_IRQ);
	/* each acknowledgment lets it run to the next one */
	for (i = 2; i <= 6; i++) {
		ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_STATUS,
					       MIG_STATUS_IRQ));
		ASSERT_EQ(i * every, mt_dma_wait_head(DEV, i * every));
	}
	ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_CONTROL, 0));
	h = mt_dma_head(DEV);
	n = mt_reg(DEV, MIG_REG_DMA_IRQ_COUNT);
	EXPECT_EQ(6 * every, h);
	EXPECT_EQ(h / every, n);
	EXPECT_EQ(n, mt_reg(DEV, MIG_REG_IRQ_COUNT));
	EXPECT_TRUE(mt_reg(DEV, MIG_REG_STATUS) & MIG_STATUS_IRQ);
}

/*
 * type1 sees the vfio_dma_rw() writes: after a read of the bitmap, every
 * page written since is reported, and no page the device did not touch.
 */
TEST_F(dma, type1_bitmap_reports_written_pages)
{
	ASSERT_LE(10, run_ring(DEV, 10));
	ASSERT_OK(dirty_ctl(DEV, VFIO_IOMMU_DIRTY_PAGES_FLAG_START));
	check_window(_metadata, DEV, RING, dirty_get, false);
	EXPECT_OK(dirty_ctl(DEV, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP));
}

TEST_F(dma, v2_log_reports_written_pages)
{
	uint64_t bm[BUF_PAGES / 64];

	if (!mt_dma_log_offered(DEV))
		SKIP(return, "no DMA logging on this kernel or instance");
	test_cmd_dma_log_start(DEV, BUF_IOVA, BUF_PAGES * PG, PG, 1);
	ASSERT_LE(10, run_ring(DEV, 10));
	check_window(_metadata, DEV, RING, log_report, false);
	EXPECT_OK(_test_cmd_dma_log_stop(DEV));
	/* After STOP, a report has no log to read. */
	EXPECT_ERRNO(EINVAL, log_report(DEV, bm));
}

/* Only the ranges started are tracked. */
TEST_F(dma, v2_log_tracks_only_its_ranges)
{
	uint64_t bm[BUF_PAGES / 64];
	unsigned int p;

	if (!mt_dma_log_offered(DEV))
		SKIP(return, "no DMA logging on this kernel or instance");
	/* Pages 0 .. RING_FIRST - 1: none of the ring. */
	test_cmd_dma_log_start(DEV, BUF_IOVA, RING_FIRST * PG, PG, 1);
	ASSERT_LE(100, run_ring(DEV, 100));
	ASSERT_OK(log_report(DEV, bm));
	for (p = 0; p < BUF_PAGES; p++)
		EXPECT_FALSE(bit(bm, p)) TH_LOG("page %u reported", p);
	EXPECT_OK(_test_cmd_dma_log_stop(DEV));
}

/* Bad starts are refused as the core expects; a second START is busy. */
TEST_F(dma, v2_log_bad_ranges_refused)
{
	if (!mt_dma_log_offered(DEV))
		SKIP(return, "no DMA logging on this kernel or instance");
	/* no range */
	test_err_dma_log_start(EINVAL, DEV, BUF_IOVA, PG, PG, 0);
	/* not aligned to the page size */
	test_err_dma_log_start(EINVAL, DEV, BUF_IOVA + 512, PG, PG, 1);
	/* a page size that is not a power of two */
	test_err_dma_log_start(EINVAL, DEV, 0, 3 * PG, 3 * PG, 1);
	/* past the end of the address space */
	test_err_dma_log_start(EOVERFLOW, DEV, 0xfffffffffffff000ULL,
			       2 * PG, PG, 1);
	test_cmd_dma_log_start(DEV, BUF_IOVA, PG, PG, 2);
	test_err_dma_log_start(EBUSY, DEV, BUF_IOVA, PG, PG, 1);
	EXPECT_OK(_test_cmd_dma_log_stop(DEV));
	EXPECT_OK(_test_cmd_dma_log_stop(DEV));
}

/* ---- the negative control: test_hide_dma_dirty ---- */

/*
 * With the test-only parameter set, the same writes reach memory (the
 * records are good) but neither dirty log sees them: the control that the
 * migration scenarios use to show they can fail.  The tests set the
 * parameter; the fixture's teardown always clears it again.
 */
/* Written (the records are good), but no dirty page in either log. */
TEST_F(dma, hidden_writes_reach_memory_but_no_dirty_log)
{
	ASSERT_OK(mig_param_write("test_hide_dma_dirty", "Y"));
	self->hide = true;
	/*
	 * The engine starts (and caches its translations: pins that type1
	 * would report) before tracking does, as a guest's device would be
	 * running before migration starts.
	 */
	ASSERT_LE(10, run_ring(DEV, 10));
	ASSERT_OK(dirty_ctl(DEV, VFIO_IOMMU_DIRTY_PAGES_FLAG_START));
	check_window(_metadata, DEV, RING, dirty_get, true);
	EXPECT_OK(dirty_ctl(DEV, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP));
	if (!mt_dma_log_offered(DEV))
		return;
	test_cmd_dma_log_start(DEV, BUF_IOVA, BUF_PAGES * PG, PG, 1);
	ASSERT_OK(_test_cmd_bar0_write(DEV, MIG_REG_DMA_CONTROL, MIG_DMA_CTRL_EN));
	check_window(_metadata, DEV, RING, log_report, true);
	EXPECT_OK(_test_cmd_dma_log_stop(DEV));
}

/*
 * The hazard of the fault model, kept safe: user space unmaps and frees
 * the ring while the engine runs on its cached translations.  The engine
 * holds its own page references, so it writes pages no one maps any more
 * (never freed memory); a reset drops them (KASAN and kmemleak watch on
 * 6.12).
 */
TEST_F(dma, hidden_ring_freed_under_cached_translations)
{
	ASSERT_OK(mig_param_write("test_hide_dma_dirty", "Y"));
	self->hide = true;
	ASSERT_LE(10, run_ring(DEV, 10));
	test_cmd_dma_unmap(DEV, BUF_IOVA, BUF_PAGES * PG);
	ASSERT_OK(munmap(self->buf, BUF_PAGES * PG));
	self->buf = NULL;
	/* The modelled bug: it goes on writing. */
	EXPECT_TRUE(head_moves(DEV, 50));
	ASSERT_OK(mig_device_reset(DEV));
	EXPECT_FALSE(head_moves(DEV, 50));
}

/* ---- the same engine through the vfio cdev and iommufd (6.6 on) ---- */

FIXTURE(cdev_dma) {
	char uuid[MIG_UUID_LEN + 1];
	bool created, open;
	int iommufd;
	uint32_t ioas;
	struct mig_dev d;
	uint8_t *buf;
};

FIXTURE_SETUP(cdev_dma)
{
	char path[300];
	int fd = -1;

	self->iommufd = -1;
	MT_SKIP_IF_NO_MODULE();
	if (access("/dev/iommu", F_OK))
		MT_SKIP_SETUP("no /dev/iommu: this kernel has no iommufd");
	ASSERT_OK(mig_instance_create("small", self->uuid));
	self->created = true;
	if (cdev_path(self->uuid, path, sizeof(path))) {
		mig_instance_remove(self->uuid);
		MT_SKIP_SETUP("no vfio device cdev (CONFIG_VFIO_DEVICE_CDEV)");
	}
	self->buf = mt_dma_buf_new(BUF_PAGES * PG);
	ASSERT_NE(NULL, self->buf);
	self->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->iommufd);
	ASSERT_OK(cdev_open(self->uuid, self->iommufd, &fd, &self->ioas));
	ASSERT_OK(mig_dev_open_fd(&self->d, fd, self->uuid));
	self->open = true;
	ASSERT_OK(cdev_ioas_map(self->iommufd, self->ioas, self->buf,
				BUF_IOVA, BUF_PAGES * PG));
}

FIXTURE_TEARDOWN(cdev_dma)
{
	if (self->open)
		mig_dev_close(&self->d);
	if (self->iommufd >= 0)
		close(self->iommufd);
	if (self->created)
		mig_instance_remove(self->uuid);
	if (self->buf)
		munmap(self->buf, BUF_PAGES * PG);
}

/* vfio_dma_rw() through iommufd: the same records. */
TEST_F(cdev_dma, records_valid_and_in_order)
{
	ASSERT_LE(100, run_ring(&self->d, 100));
	ASSERT_OK(_test_cmd_bar0_write(&self->d, MIG_REG_DMA_CONTROL, 0));
	EXPECT_EQ(0, bad_records(self->buf + RING_FIRST * PG, RING_SLOTS,
				 mt_dma_head(&self->d)));
}

/* An IOAS unmap under the running engine: FAULT, engine stopped. */
TEST_F(cdev_dma, ioas_unmap_faults)
{
	ASSERT_LE(10, run_ring(&self->d, 10));
	ASSERT_OK(cdev_ioas_unmap(self->iommufd, self->ioas, BUF_IOVA,
				  BUF_PAGES * PG));
	mt_sleep_ms(100);
	EXPECT_EQ(MIG_DMA_STATUS_FAULT, mt_reg(&self->d, MIG_REG_DMA_STATUS));
	EXPECT_FALSE(head_moves(&self->d, 50));
}

/* The v2 DMA log through the cdev: the pages written, nothing else. */
TEST_F(cdev_dma, v2_log_reports_written_pages)
{
	if (!mt_dma_log_offered(&self->d))
		SKIP(return, "no DMA logging on this kernel or instance");
	test_cmd_dma_log_start(&self->d, BUF_IOVA, BUF_PAGES * PG, PG, 1);
	ASSERT_LE(10, run_ring(&self->d, 10));
	check_window(_metadata, &self->d, self->buf + RING_FIRST * PG,
		     log_report, false);
	EXPECT_OK(_test_cmd_dma_log_stop(&self->d));
}

/* ---- migration: the position travels in the stream ---- */

FIXTURE(pair) {
	struct mt_inst src, dst;
	uint8_t *buf;
	struct mig_buf stream;
};

FIXTURE_SETUP(pair)
{
	MT_SKIP_IF_NO_MODULE();
	self->buf = mt_dma_buf_new(BUF_PAGES * PG);
	ASSERT_NE(NULL, self->buf);
	ASSERT_OK(mt_inst_setup(&self->src, "small"));
	ASSERT_OK(mt_inst_setup(&self->dst, "small"));
	/* The same "guest memory" at the same IOVA on both sides. */
	test_cmd_dma_map(&self->src.d, self->buf, BUF_IOVA,
			 BUF_PAGES * PG);
	test_cmd_dma_map(&self->dst.d, self->buf, BUF_IOVA,
			 BUF_PAGES * PG);
}

FIXTURE_TEARDOWN(pair)
{
	mt_inst_del(&self->src);
	mt_inst_del(&self->dst);
	mig_buf_free(&self->stream);
	if (self->buf)
		munmap(self->buf, BUF_PAGES * PG);
}

FIXTURE_VARIANT(pair) {
	enum libmig_proto save, load;
};

FIXTURE_VARIANT_ADD(pair, v1) {
	.save = LIBMIG_PROTO_V1, .load = LIBMIG_PROTO_V1,
};

FIXTURE_VARIANT_ADD(pair, v2) {
	.save = LIBMIG_PROTO_V2, .load = LIBMIG_PROTO_V2,
};

FIXTURE_VARIANT_ADD(pair, v1_to_v2) {
	.save = LIBMIG_PROTO_V1, .load = LIBMIG_PROTO_V2,
};

/*
 * Wait until HEAD >= @n, acknowledging the interrupt as a driver's handler
 * would (the engine holds at each record that raised one until then).
 */
static uint64_t wait_head_acked(struct mig_dev *d, uint64_t n)
{
	uint64_t h = 0;
	int i;

	for (i = 0; i < MT_DMA_WAIT_MS / 5; i++) {
		if (_test_cmd_bar0_write(d, MIG_REG_STATUS, MIG_STATUS_IRQ))
			break;
		h = mt_dma_head(d);
		if (h >= n)
			break;
		mt_sleep_ms(5);
	}
	return h;
}

/*
 * A live save with the engine running; the destination goes on from the
 * source's HEAD: every record from 0 on, in order, none torn, and the
 * interrupt count carried over.
 */
TEST_F(pair, resumed_engine_continues_from_head)
{
	struct mig_dev *s = &self->src.d, *d = &self->dst.d;
	uint64_t bytes, h, a, b;
	uint32_t irqs;

	if (libmig_use(s, variant->save) || libmig_use(d, variant->load))
		SKIP(return, "instances do not offer %s and %s",
		     libmig_proto_str(variant->save),
		     libmig_proto_str(variant->load));
	ASSERT_OK(_test_cmd_bar0_write(s, MIG_REG_DMA_IRQ_EVERY, 8));
	test_cmd_dma_start(s, RING_IOVA, RING_PAGES, RATE,
			   MIG_DMA_CTRL_EN | MIG_DMA_CTRL_IRQ_EN);
	ASSERT_LE(50, wait_head_acked(s, 50));
	if (libmig_has_precopy(s)) {
		ASSERT_OK(libmig_precopy_begin(s));
		ASSERT_OK(libmig_save_pass(s, MIG_PATH_PREAD, 0, mig_buf_sink,
					   &self->stream, &bytes));
		ASSERT_OK(_test_cmd_bar0_write(s, MIG_REG_STATUS,
					       MIG_STATUS_IRQ));
		EXPECT_TRUE(head_moves(s, 30));
	}
	ASSERT_OK(libmig_stopcopy_begin(s));
	ASSERT_OK(libmig_save_pass(s, MIG_PATH_PREAD, 0, mig_buf_sink,
				   &self->stream, &bytes));
	h = mt_dma_head(s);
	irqs = mt_reg(s, MIG_REG_DMA_IRQ_COUNT);
	EXPECT_FALSE(head_moves(s, 30));
	ASSERT_OK(mig_digest(self->src.uuid, &a));
	ASSERT_OK(libmig_save_end(s));

	ASSERT_OK(libmig_resume_begin(d));
	ASSERT_OK(libmig_resume_feed(d, MIG_PATH_PREAD, self->stream.data,
				     self->stream.len));
	ASSERT_OK(libmig_resume_end(d, false));
	ASSERT_OK(mig_digest(self->dst.uuid, &b));
	EXPECT_EQ(a, b);
	EXPECT_EQ(h, mt_dma_head(d));
	EXPECT_EQ(irqs, mt_reg(d, MIG_REG_DMA_IRQ_COUNT));
	/* Stopped until RUNNING; then from HEAD on. */
	EXPECT_FALSE(head_moves(d, 30));
	test_cmd_bus_master(d, true);
	ASSERT_OK(libmig_set_state(d, VFIO_DEVICE_STATE_RUNNING));
	ASSERT_LE(h + 50, wait_head_acked(d, h + 50));
	ASSERT_OK(_test_cmd_bar0_write(d, MIG_REG_DMA_CONTROL, 0));
	h = mt_dma_head(d);
	EXPECT_EQ(0, bad_records(self->buf + RING_FIRST * PG, RING_SLOTS, h));
	EXPECT_EQ(h / 8, mt_reg(d, MIG_REG_DMA_IRQ_COUNT));
}

/* Save @s in stop-and-copy into the fixture's stream. */
static void save_stopped(struct __test_metadata *_metadata,
			 struct mig_dev *s, struct mig_buf *out)
{
	uint64_t bytes;

	ASSERT_OK(libmig_stopcopy_begin(s));
	ASSERT_OK(libmig_save_pass(s, MIG_PATH_PREAD, 0, mig_buf_sink, out,
				   &bytes));
	ASSERT_OK(libmig_save_end(s));
}

/*
 * Version 1 streams (before the DMA engine) still load, with the DMA
 * engine idle, and their digest matches; a version 1 stream cannot carry
 * a DMA record, nor a later version leave it out.  The version 1 streams
 * are the saved one rewritten (mt_stream_rewrite()): runs of at most
 * MIG_MAX_RUN_PAGES_V2 pages, without or with the DMA record.
 */
TEST_F(pair, version_1_stream_accepted_dma_idle)
{
	struct mig_dev *s = &self->src.d, *d = &self->dst.d;
	uint64_t a, b, pattern = 0x1122334455667788ULL;
	struct mig_buf v1 = { 0 }, v1dma = { 0 };
	struct mig_stream_header h;

	if (libmig_use(s, variant->save) || libmig_use(d, variant->load))
		SKIP(return, "instances do not offer %s and %s",
		     libmig_proto_str(variant->save),
		     libmig_proto_str(variant->load));
	ASSERT_OK(_test_cmd_mem_write(s, MIG_PAGE_SIZE, &pattern, sizeof(pattern)));
	save_stopped(_metadata, s, &self->stream);
	ASSERT_OK(mig_digest(self->src.uuid, &a));
	ASSERT_OK(mt_stream_rewrite(self->stream.data, self->stream.len,
				    MIG_STREAM_VERSION_NODMA, false, &v1));
	ASSERT_OK(mt_stream_rewrite(self->stream.data, self->stream.len,
				    MIG_STREAM_VERSION_NODMA, true, &v1dma));

	/*
	 * A DMA register written in RESUMING (allowed there) before the
	 * stream: a version 1 stream leaves the engine idle, as its source's.
	 */
	ASSERT_OK(libmig_resume_begin(d));
	ASSERT_OK(_test_cmd_bar0_write(d, MIG_REG_DMA_RATE, 5));
	ASSERT_OK(libmig_resume_feed(d, MIG_PATH_PREAD, v1.data, v1.len));
	ASSERT_OK(libmig_resume_end(d, false));
	ASSERT_OK(mig_digest(self->dst.uuid, &b));
	EXPECT_EQ(a, b);
	EXPECT_EQ(0, mt_reg(d, MIG_REG_DMA_RATE));
	ASSERT_OK(mig_device_reset(d));

	/* Versions 2 and 3 without their DMA record: refused, before END. */
	for (h.version = htole16(MIG_STREAM_VERSION_RUN64);
	     le16toh(h.version) <= MIG_STREAM_VERSION;
	     h.version = htole16(le16toh(h.version) + 1)) {
		memcpy(v1.data + offsetof(struct mig_stream_header, version),
		       &h.version, sizeof(h.version));
		ASSERT_OK(libmig_resume_begin(d));
		EXPECT_NE(0, libmig_resume_feed(d, MIG_PATH_PREAD, v1.data,
						v1.len));
		ASSERT_OK(mig_device_reset(d));
	}

	/* Version 1 with a DMA record: refused. */
	ASSERT_OK(libmig_resume_begin(d));
	EXPECT_NE(0, libmig_resume_feed(d, MIG_PATH_PREAD, v1dma.data,
					v1dma.len));
	mig_buf_free(&v1);
	mig_buf_free(&v1dma);
}

TEST_HARNESS_MAIN
