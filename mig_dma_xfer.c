// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the DMA engine's work item, which writes the records into
 * guest memory.
 *
 * Each tick works out how many records the engine owes at its rate, then
 * writes them in batches, a batch being the records that fit in one page
 * of the ring, in the room the guest's TAIL leaves, and up to the next
 * interrupt.  Per batch: stage it under st->lock (which records, where),
 * build and write it without st->lock (vfio_dma_rw() may fault and sleep
 * on the user's memory), and commit it under st->lock (HEAD, the
 * interrupt; a refused write sets FAULT and stops the engine).  The DMA
 * lock is held across the whole tick, so a path that stops the engine
 * (mig_lock()) waits for the write in flight and no write follows it.
 *
 * vfio_dma_rw() works with the legacy container (type1, which marks the
 * pages it writes in its dirty bitmap) and with iommufd.  Each write is
 * also logged for protocol v2's device dirty tracking (mig_dma_log.c).
 *
 * test_hide_dma_dirty (a fault model for the negative control of the
 * tests, off by default): a device that keeps using translations past
 * their pin.  When the engine starts, it pins the ring's pages through
 * vfio_pin_pages(), takes a page reference of its own, and unpins them at
 * once; it then writes through kmap_local_page(), which neither type1's
 * dirty bitmap nor the device log sees.  The references are dropped when
 * the engine stops (state machines, reset, close, a ring change) and on
 * dma_unmap of the ring, so no page is used after its reference is gone;
 * but, as with the real bug this models, the device may keep writing a
 * page that user space unmapped from the IOVA after the unpin (type1 and
 * iommufd notify only unmaps of pinned pages).  Never for production.
 */
#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <linux/workqueue.h>

#include "mig.h"

/* The engine's tick, as the memory engine's. */
#define MIG_DMA_TICK_MS		10

/*
 * Drop the translations the engine cached; only test_hide_dma_dirty caches
 * any (see the top of this file).  Context: the DMA lock held.
 */
static void mig_dma_uncache(struct mig_mdev_state *st)
{
	struct mig_dma_io *d = &st->dma_io;
	u32 i;

	lockdep_assert_held(&st->dev.dma.lock);
	if (!d->cache)
		return;
	for (i = 0; i < d->cache_pages; i++) {
		set_page_dirty_lock(d->cache[i]);
		put_page(d->cache[i]);
	}
	kfree(d->cache);
	d->cache = NULL;
	d->cache_pages = 0;
	d->cache_iova = 0;
}

/*
 * test_hide_dma_dirty: translate the ring's pages and keep them past their
 * pin.  Context: the DMA lock held, st->lock not (vfio_pin_pages() faults
 * the user's pages in).
 */
static int mig_dma_cache_fill(struct mig_mdev_state *st, u64 ring, u32 pages)
{
	struct mig_dma_io *d = &st->dma_io;
	struct page **p;
	int ret;
	u32 i;

	lockdep_assert_held(&st->dev.dma.lock);
	p = kcalloc(pages, sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	ret = vfio_pin_pages(&st->vdev, ring, pages, IOMMU_READ | IOMMU_WRITE,
			     p);
	if (ret != pages) {
		if (ret > 0)
			vfio_unpin_pages(&st->vdev, ring, ret);
		kfree(p);
		return ret < 0 ? ret : -EFAULT;
	}
	for (i = 0; i < pages; i++)
		get_page(p[i]);
	vfio_unpin_pages(&st->vdev, ring, pages);
	d->cache = p;
	d->cache_iova = ring;
	d->cache_pages = pages;
	return 0;
}

/* A write through the cached translations.  Context: the DMA lock. */
static int mig_dma_cache_write(struct mig_mdev_state *st,
			       const struct mig_dma_batch *b, size_t len)
{
	struct mig_dma_io *d = &st->dma_io;
	u64 idx = (b->iova - d->cache_iova) >> PAGE_SHIFT;
	void *va;

	lockdep_assert_held(&st->dev.dma.lock);
	if (b->iova < d->cache_iova || idx >= d->cache_pages)
		return -EFAULT;
	va = kmap_local_page(d->cache[idx]);
	memcpy(va + offset_in_page(b->iova), st->dev.dma.buf, len);
	kunmap_local(va);
	return 0;
}

/*
 * Write a built batch into guest memory.  Context: the DMA lock held,
 * st->lock not.
 */
static int mig_dma_write(struct mig_mdev_state *st,
			 const struct mig_dma_batch *b)
{
	size_t len = (size_t)b->n * MIG_DMA_RECORD_SIZE;
	int ret;

	lockdep_assert_held(&st->dev.dma.lock);
	if (st->dma_io.cache)
		return mig_dma_cache_write(st, b, len);
	ret = vfio_dma_rw(&st->vdev, b->iova, st->dev.dma.buf, len, true);
	if (!ret)
		mig_dma_log_written(st, b->iova, len);
	return ret;
}

/* A write was refused: the device faults.  Context: both locks. */
static void mig_dma_refused(struct mig_mdev_state *st, int err)
{
	lockdep_assert_held(&st->lock);
	dev_dbg(st->vdev.dev, "DMA to %#llx refused (%d): FAULT\n",
		st->dev.dma.regs.ring, err);
	mig_dma_fault(&st->dev);
}

/* Account for a batch written, or refused.  Context: both locks held. */
static void mig_dma_done(struct mig_mdev_state *st,
			 const struct mig_dma_batch *b, int ret)
{
	lockdep_assert_held(&st->lock);
	if (ret)
		mig_dma_refused(st, ret);
	else if (mig_dma_commit(&st->dev, b))
		mig_irq_raise(st);
}

/*
 * test_hide_dma_dirty asks for cached translations and there are none yet:
 * make them, without st->lock.  Context: both locks held, and held again
 * on return.
 */
static int mig_dma_cache_prepare(struct mig_mdev_state *st)
{
	const struct mig_dma_regs *r = &st->dev.dma.regs;
	u64 ring = r->ring;
	u32 pages = r->ring_pages;
	int ret;

	lockdep_assert_held(&st->lock);
	if (!READ_ONCE(mig_test_hide_dma_dirty) || st->dma_io.cache)
		return 0;
	mutex_unlock(&st->lock);
	ret = mig_dma_cache_fill(st, ring, pages);
	mutex_lock(&st->lock);
	return ret;
}

/**
 * mig_dma_work() - a tick of the DMA engine (the device's mig_dma.work)
 * @work: the engine's delayed work
 *
 * Writes the records owed at the engine's rate and rearms itself while the
 * engine runs.  The ring's registers cannot change meanwhile: only paths
 * that hold the DMA lock, which this holds, write them.
 *
 * Context: takes the DMA lock, then st->lock.
 */
void mig_dma_work(struct work_struct *work)
{
	struct mig_dma *d = container_of(to_delayed_work(work), struct mig_dma,
					 work);
	struct mig_mdev_state *st = container_of(d, struct mig_mdev_state,
						 dev.dma);
	struct mig_dma_batch b;
	u64 due;
	int ret;

	mutex_lock(&d->lock);
	mutex_lock(&st->lock);
	if (!d->active)
		goto out;
	due = mig_dma_due(&st->dev);
	ret = mig_dma_cache_prepare(st);
	if (ret) {
		mig_dma_refused(st, ret);
		goto out;
	}
	while (due && mig_dma_stage(&st->dev, due, &b)) {
		mutex_unlock(&st->lock);
		mig_dma_build(d->buf, &b);
		ret = mig_dma_write(st, &b);
		cond_resched();
		mutex_lock(&st->lock);
		mig_dma_done(st, &b, ret);
		if (!d->active)
			goto out;
		due -= b.n;
	}
	queue_delayed_work(mig_wq, &d->work, msecs_to_jiffies(MIG_DMA_TICK_MS));
out:
	mutex_unlock(&st->lock);
	mutex_unlock(&d->lock);
}

/**
 * mig_dma_stopped() - the device's DMA engine stopped
 * @dev: the device (st->dev)
 *
 * Drops the translations the engine cached (test_hide_dma_dirty), so that
 * no page is used after its reference is gone.
 *
 * Context: the DMA lock and st->lock held (mig_dma_update()).
 */
void mig_dma_stopped(struct mig_dev *dev)
{
	mig_dma_uncache(container_of(dev, struct mig_mdev_state, dev));
}

/* Does [@a, @a + @alen) meet [@b, @b + @blen)?  Both lengths nonzero. */
static bool mig_dma_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

/**
 * mig_dma_unmap() - vfio_device_ops.dma_unmap: user space unmaps IOVA
 * @vdev: the vfio device
 * @iova: start of the range
 * @length: its length
 *
 * A ring that loses its mapping while enabled is a refused write: FAULT,
 * and the engine stops.  Translations cached in the range are dropped.
 * The core calls this only for ranges with pinned pages (the cache's pin
 * is over at once, so in practice: while it is being made); an unmap it
 * does not tell us about makes the next vfio_dma_rw() fail the same way.
 *
 * Context: takes the DMA lock and st->lock.
 */
void mig_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);
	struct mig_dma_io *d = &st->dma_io;
	const struct mig_dma_regs *r = &st->dev.dma.regs;

	if (!length)
		return;
	mig_lock(st);
	if ((r->control & MIG_DMA_CTRL_EN) &&
	    mig_dma_overlap(r->ring, (u64)r->ring_pages * MIG_PAGE_SIZE, iova,
			    length))
		mig_dma_refused(st, -EFAULT);
	if (d->cache &&
	    mig_dma_overlap(d->cache_iova, (u64)d->cache_pages * PAGE_SIZE,
			    iova, length))
		mig_dma_uncache(st);
	mig_unlock(st);
}
