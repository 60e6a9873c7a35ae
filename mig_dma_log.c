// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: device dirty tracking for protocol v2 (vfio_log_ops, the
 * VFIO_DEVICE_FEATURE_DMA_LOGGING_* features): the pages of guest IOVA
 * space the DMA engine wrote since user space last read them.
 *
 * log_start takes the ranges to track (the core checked that they are
 * aligned to the page size asked for and do not overlap); the device
 * tracks at MIG_PAGE_SIZE and returns that page size if a smaller one was
 * asked, or the one asked if larger (a report sets whole pages of its own
 * size).  Each page written inside a range is an entry of an xarray,
 * indexed by IOVA page number; log_read_and_clear reports the entries in
 * the range asked, through the core's iova_bitmap, and erases them.  The
 * log holds at most MIG_DMA_LOG_MAX_PAGES pages; past that (or if memory
 * runs out) it reports every page asked as written until log_stop: more
 * than the truth, never less.
 *
 * The log is offered only where the kernel has iova_bitmap (6.1 .. 6.6 in
 * vfio itself; later with CONFIG_IOMMUFD_DRIVER): elsewhere REPORT could
 * not report (../shared/PROTOCOL.md, "DMA logging").
 *
 * Locking: the log is the DMA lock's (mig.h, mig_dev.h), which the
 * engine's work item holds when it logs a write, so a report after the
 * device stopped has every write the device made.  The core pins the
 * user's bitmap before it calls log_read_and_clear: no user memory is
 * touched under the lock.
 */
#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <linux/xarray.h>

#include "mig.h"

#define MIG_DMA_LOG_MAX_RANGES	256
#define MIG_DMA_LOG_MAX_PAGES	65536
#define MIG_DMA_PAGE_SHIFT	12

static_assert(BIT(MIG_DMA_PAGE_SHIFT) == MIG_PAGE_SIZE);

MIG_IMPORT_IOVA_BITMAP();

/**
 * struct mig_dma_log - the dirty log of a v2 logging session
 * @pages: IOVA page numbers written, as value entries
 * @count: entries in @pages
 * @overflow: the log lost track: every page is reported written
 * @nranges: ranges tracked
 * @ranges: their first and last IOVA
 */
struct mig_dma_log {
	struct xarray pages;
	u32 count;
	bool overflow;
	u32 nranges;
	struct {
		u64 first;
		u64 last;
	} ranges[];
};

/**
 * mig_dma_log_offered() - can this kernel report a device dirty log?
 *
 * Return: true if the kernel has iova_bitmap (MIG_HAVE_IOVA_BITMAP).
 */
bool mig_dma_log_offered(void)
{
	return MIG_HAVE_IOVA_BITMAP;
}

/* Does [@first, @last] meet a tracked range? */
static bool mig_dma_log_tracks(const struct mig_dma_log *log, u64 first,
			       u64 last)
{
	u32 i;

	for (i = 0; i < log->nranges; i++)
		if (first <= log->ranges[i].last && last >= log->ranges[i].first)
			return true;
	return false;
}

/**
 * mig_dma_log_written() - log a DMA write of guest memory
 * @st: the instance
 * @iova: where the write began
 * @len: its length, at least 1
 *
 * Context: the DMA lock held.
 */
void mig_dma_log_written(struct mig_mdev_state *st, u64 iova, u64 len)
{
	struct mig_dma_log *log = st->dma_io.log;
	u64 page, last = (iova + len - 1) >> MIG_DMA_PAGE_SHIFT;
	int ret;

	lockdep_assert_held(&st->dev.dma.lock);
	if (!log || log->overflow)
		return;
	for (page = iova >> MIG_DMA_PAGE_SHIFT; page <= last; page++) {
		if (!mig_dma_log_tracks(log, page << MIG_DMA_PAGE_SHIFT,
					((page + 1) << MIG_DMA_PAGE_SHIFT) - 1))
			continue;
		if (log->count >= MIG_DMA_LOG_MAX_PAGES) {
			log->overflow = true;
			return;
		}
		ret = xa_insert(&log->pages, page, xa_mk_value(1), GFP_KERNEL);
		if (!ret)
			log->count++;
		else if (ret != -EBUSY)
			log->overflow = true;
	}
}

static void mig_dma_log_destroy(struct mig_dma_log *log)
{
	if (!log)
		return;
	xa_destroy(&log->pages);
	kfree(log);
}

/**
 * mig_dma_log_free() - end the logging session, if any
 * @st: the instance
 *
 * Context: the DMA lock held, or the instance going away.
 */
void mig_dma_log_free(struct mig_mdev_state *st)
{
	mig_dma_log_destroy(st->dma_io.log);
	st->dma_io.log = NULL;
}

static struct mig_dma_log *mig_dma_log_new(struct rb_root_cached *ranges,
					   u32 nnodes)
{
	struct interval_tree_node *node;
	struct mig_dma_log *log;
	u32 i = 0;

	log = kzalloc(struct_size(log, ranges, nnodes), GFP_KERNEL);
	if (!log)
		return ERR_PTR(-ENOMEM);
	log->nranges = nnodes;
	xa_init(&log->pages);
	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX);
	     node && i < nnodes;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX), i++) {
		/* A range of length 0 ends before it starts. */
		if (node->last < node->start) {
			mig_dma_log_destroy(log);
			return ERR_PTR(-EINVAL);
		}
		log->ranges[i].first = node->start;
		log->ranges[i].last = node->last;
	}
	log->nranges = i;
	return log;
}

static int mig_dma_log_start(struct vfio_device *vdev,
			     struct rb_root_cached *ranges, u32 nnodes,
			     u64 *page_size)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);
	struct mig_dma_log *log;
	int ret = 0;

	if (!nnodes || !*page_size || !is_power_of_2(*page_size))
		return -EINVAL;
	if (nnodes > MIG_DMA_LOG_MAX_RANGES)
		return -E2BIG;
	log = mig_dma_log_new(ranges, nnodes);
	if (IS_ERR(log))
		return PTR_ERR(log);

	mutex_lock(&st->dev.dma.lock);
	if (st->dma_io.log) {
		ret = -EBUSY;
	} else {
		st->dma_io.log = log;
		log = NULL;
		*page_size = max_t(u64, *page_size, MIG_PAGE_SIZE);
	}
	mutex_unlock(&st->dev.dma.lock);
	mig_dma_log_destroy(log);
	return ret;
}

static int mig_dma_log_stop(struct vfio_device *vdev)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);

	mutex_lock(&st->dev.dma.lock);
	mig_dma_log_free(st);
	mutex_unlock(&st->dev.dma.lock);
	return 0;
}

static int mig_dma_log_read_and_clear(struct vfio_device *vdev,
				      unsigned long iova, unsigned long length,
				      struct iova_bitmap *dirty)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);
	struct mig_dma_log *log;
	unsigned long page;
	void *entry;
	int ret = 0;

	if (!length)
		return -EINVAL;
	mutex_lock(&st->dev.dma.lock);
	log = st->dma_io.log;
	if (!log) {
		ret = -EINVAL;
	} else if (log->overflow) {
		iova_bitmap_set(dirty, iova, length);
	} else {
		xa_for_each_range(&log->pages, page, entry,
				  iova >> MIG_DMA_PAGE_SHIFT,
				  (iova + length - 1) >> MIG_DMA_PAGE_SHIFT) {
			iova_bitmap_set(dirty, page << MIG_DMA_PAGE_SHIFT,
					MIG_PAGE_SIZE);
			xa_erase(&log->pages, page);
			log->count--;
		}
	}
	mutex_unlock(&st->dev.dma.lock);
	return ret;
}

/* Named by instances that offer protocol v2 where mig_dma_log_offered(). */
const struct vfio_log_ops mig_dma_log_ops = {
	.log_start		= mig_dma_log_start,
	.log_stop		= mig_dma_log_stop,
	.log_read_and_clear	= mig_dma_log_read_and_clear,
};
