// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the device model.
 *
 * What the device is, apart from how it is reached: the BAR0 register file,
 * the device memory behind BAR2 with its dirty log, and the engine, a work
 * item that writes pseudo-random pages into the memory at a set rate while
 * the device runs.  The engine is deterministic: its output depends only on
 * the seed and the number of pages written, so a migrated engine goes on
 * exactly where the source stopped.  The digest covers all of it; memory
 * enters it through a hash per page that every writer of memory keeps
 * current, so reading the digest (and a save's END record) costs a pass
 * over the page hashes, not over memory.  The reset that starts a resume
 * clears memory lazily: its pages become zero in their hashes at once and
 * in memory when the stream writes them or the session ends (see
 * mig_dev_reset_lazy()).
 *
 * Every function here is called with the instance lock (*dev->lock) held
 * unless its comment says otherwise; the engine's work item takes the lock
 * itself.  Nothing here knows VFIO or the migration protocols (mig_dev.h).
 */
#include <linux/bitmap.h>
#include <linux/build_bug.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/xxhash.h>

#include "mig_dev.h"

/* The zero page stands for a page of device memory. */
static_assert(MIG_PAGE_SIZE <= PAGE_SIZE);

/*
 * The engine wakes this often and catches up with the time that passed, but
 * never by more than MIG_ENGINE_BURST ticks' worth of pages at its rate: a
 * late tick is not a burst.  It writes its pages in batches of
 * MIG_ENGINE_BATCH, dropping the lock and yielding the CPU between them.
 * Its rate is capped by the engine_max_rate module parameter, so the work
 * of one tick is bounded whatever the guest writes into ENGINE_RATE.
 */
#define MIG_ENGINE_TICK_MS	10
#define MIG_ENGINE_BURST	2
#define MIG_ENGINE_BATCH	64

/* Long loops over memory yield the CPU after this many pages. */
#define MIG_RESCHED_PAGES	256

static u64 mig_prng_seed(u32 seed)
{
	/* Spread the 32-bit seed over 64 bits; xorshift needs a nonzero state. */
	return ((u64)seed * 0x9e3779b97f4a7c15ULL) ^ 0x6a09e667f3bcc909ULL;
}

static u64 mig_prng_next(u64 *x)
{
	/* xorshift64* */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dULL;
}

/*
 * The engine runs while the device runs (the protocol that owns migration
 * says so through mig_dev_set_running()), the engine is enabled with a
 * nonzero rate, and either the device has a user (its fd is open) or the
 * administrator started it through sysfs: an engine the fd holder started
 * does not outlive the fd.
 */
static bool mig_engine_should_run(struct mig_dev *dev)
{
	const struct mig_engine *e = &dev->engine;

	return dev->running &&
	       (dev->regs.control & MIG_CTRL_ENGINE_EN) && dev->regs.engine_rate &&
	       (e->user || e->admin);
}

/* Pages per second the engine runs at: the register, capped. */
static u32 mig_engine_rate(struct mig_dev *dev)
{
	return clamp_t(u32, dev->regs.engine_rate, 1,
		       READ_ONCE(mig_engine_max_rate));
}

/**
 * mig_dev_due() - work owed at a rate since the last tick
 * @rate: units per second, at least 1
 * @credit_ns: time owed and not paid yet, carried between ticks
 * @last: time of the last tick; set to now
 * @burst_ms: the most time one tick pays for: a late tick is not a burst
 *
 * Shared by the engine (pages) and the DMA engine (records).
 *
 * Return: the units due now, at least 0 and at most @burst_ms worth (1 if
 * that rounds to 0); the remainder of a unit is carried in @credit_ns.
 */
u64 mig_dev_due(u32 rate, u64 *credit_ns, ktime_t *last, u32 burst_ms)
{
	u64 ns_per_unit = max_t(u64, NSEC_PER_SEC / rate, 1);
	u64 limit = max_t(u64, div_u64((u64)rate * burst_ms, MSEC_PER_SEC), 1);
	ktime_t now = ktime_get();
	u64 due, units;

	due = *credit_ns + ktime_to_ns(ktime_sub(now, *last));
	*last = now;
	units = div64_u64(due, ns_per_unit);
	if (units > limit) {
		units = limit;
		due = units * ns_per_unit;
	}
	*credit_ns = due - units * ns_per_unit;
	return units;
}

/* Pages the engine owes since its last tick, at most MIG_ENGINE_BURST ticks'. */
static u64 mig_engine_due(struct mig_dev *dev)
{
	return mig_dev_due(mig_engine_rate(dev), &dev->engine.credit_ns,
			   &dev->engine.last,
			   MIG_ENGINE_TICK_MS * MIG_ENGINE_BURST);
}

/* Write one page of the engine's sequence. */
static void mig_engine_write_page(struct mig_dev *dev)
{
	u32 page = mig_prng_next(&dev->engine.prng) % dev->npages;
	__le64 *p = (__le64 *)(dev->mem + (size_t)page * MIG_PAGE_SIZE);
	unsigned int i;

	for (i = 0; i < MIG_PAGE_SIZE / sizeof(u64); i++)
		p[i] = cpu_to_le64(mig_prng_next(&dev->engine.prng));
	mig_dev_mem_written(dev, page, 1);
	dev->engine.count++;
}

static void mig_engine_work(struct work_struct *work)
{
	struct mig_dev *dev = container_of(to_delayed_work(work),
					   struct mig_dev, engine.work);
	struct mig_engine *e = &dev->engine;
	u64 pages;
	u32 n;

	mutex_lock(dev->lock);
	if (!e->active)
		goto out;
	pages = mig_engine_due(dev);
	for (;;) {
		n = min_t(u64, pages, MIG_ENGINE_BATCH);
		pages -= n;
		while (n--)
			mig_engine_write_page(dev);
		if (!pages)
			break;
		/* Let the lock's other users and the CPU's other tasks in. */
		mutex_unlock(dev->lock);
		cond_resched();
		mutex_lock(dev->lock);
		if (!e->active)
			goto out;
	}
	queue_delayed_work(mig_wq, &e->work,
			   msecs_to_jiffies(MIG_ENGINE_TICK_MS));
out:
	mutex_unlock(dev->lock);
}

/**
 * mig_dev_engine_update() - start or stop the engine to match the state
 * @dev: the device
 *
 * The engine runs while device_state has the RUNNING bit and the guest (or
 * sysfs) enabled it with a nonzero rate.  Stopping takes effect at once:
 * every page write checks @dev->engine.active under the lock, so no page is
 * written after this returns; the pending work item finds the engine
 * inactive and does not rearm.
 */
void mig_dev_engine_update(struct mig_dev *dev)
{
	struct mig_engine *e = &dev->engine;
	bool run;

	lockdep_assert_held(dev->lock);
	run = mig_engine_should_run(dev);
	if (run == e->active)
		return;
	e->active = run;
	if (run) {
		e->last = ktime_get();
		e->credit_ns = 0;
		queue_delayed_work(mig_wq, &e->work,
				   msecs_to_jiffies(MIG_ENGINE_TICK_MS));
	}
}

/**
 * mig_dev_engine_cancel() - wait until the engines' work items are idle
 * @dev: the device, whose engine was stopped with mig_dev_engine_update()
 *      or is being torn down, and whose DMA engine was stopped by the close
 *
 * Context: must not hold dev->lock (the work item takes it).
 */
void mig_dev_engine_cancel(struct mig_dev *dev)
{
	mutex_lock(dev->lock);
	dev->engine.active = false;
	mutex_unlock(dev->lock);
	cancel_delayed_work_sync(&dev->engine.work);
	mig_dma_cancel(dev);
}

/**
 * mig_dev_engine_admin() - the administrator sets the engine rate (sysfs)
 * @dev: the device
 * @rate: pages per second; 0 disables the engine
 *
 * Sets the rate, enables or disables the engine accordingly, and makes it
 * the administrator's: it runs whether or not the device has a user, until
 * the device's user changes its rate or enable bit, or a reset.
 */
void mig_dev_engine_admin(struct mig_dev *dev, u32 rate)
{
	lockdep_assert_held(dev->lock);
	dev->regs.engine_rate = rate;
	if (rate)
		dev->regs.control |= MIG_CTRL_ENGINE_EN;
	else
		dev->regs.control &= ~MIG_CTRL_ENGINE_EN;
	dev->engine.admin = rate;
	mig_dev_engine_update(dev);
}

/**
 * mig_dev_engine_rate() - the engine's rate as the administrator sees it
 * @dev: the device
 *
 * Context: dev->lock held.
 * Return: ENGINE_RATE if CONTROL.ENGINE_EN is set, else 0.
 */
u32 mig_dev_engine_rate(struct mig_dev *dev)
{
	lockdep_assert_held(dev->lock);
	return dev->regs.control & MIG_CTRL_ENGINE_EN ? dev->regs.engine_rate : 0;
}

/**
 * mig_dev_engine_count() - pages the engine wrote since its seed was set
 * @dev: the device
 *
 * Context: dev->lock held.
 * Return: the count.
 */
u64 mig_dev_engine_count(struct mig_dev *dev)
{
	lockdep_assert_held(dev->lock);
	return dev->engine.count;
}

/**
 * mig_dev_set_user() - the device gains or loses its user
 * @dev: the device
 * @present: true when the device fd is opened, false when it is closed
 *
 * An engine that the user started (through BAR0 or a resume stream) runs
 * only while the device has a user; its registers keep their values, so it
 * goes on where it stopped at the next open.  The same holds for the DMA
 * engine.
 *
 * Context: the DMA lock and dev->lock held (mig_lock()).
 */
void mig_dev_set_user(struct mig_dev *dev, bool present)
{
	lockdep_assert_held(dev->lock);
	dev->engine.user = present;
	mig_dev_engine_update(dev);
	mig_dma_update(dev);
}

/**
 * mig_dev_set_running() - the device runs or stops
 * @dev: the device
 * @running: true if the device may start work of its own (the engines)
 *
 * The migration state machines call this; the device keeps serving MMIO
 * and config accesses either way.  When it returns false the DMA engine
 * has no write in flight and starts none (mig_dma_update()).
 *
 * Context: the DMA lock and dev->lock held (mig_lock()).
 */
void mig_dev_set_running(struct mig_dev *dev, bool running)
{
	lockdep_assert_held(dev->lock);
	dev->running = running;
	mig_dev_engine_update(dev);
	mig_dma_update(dev);
}

/**
 * mig_dev_mark_dirty() - log pages as written
 * @dev: the device
 * @first: first page
 * @count: number of pages; the caller checked the range
 *
 * Context: dev->lock held.
 */
void mig_dev_mark_dirty(struct mig_dev *dev, u32 first, u32 count)
{
	lockdep_assert_held(dev->lock);
	bitmap_set(dev->dirty, first, count);
}

/**
 * mig_dev_page_rehash() - recompute the hash of one page of memory
 * @dev: the device
 * @page: the page, < dev->npages
 *
 * Context: dev->lock held.
 */
void mig_dev_page_rehash(struct mig_dev *dev, u32 page)
{
	lockdep_assert_held(dev->lock);
	dev->page_hash[page] = cpu_to_le64(xxh64(dev->mem + (size_t)page *
						MIG_PAGE_SIZE,
						MIG_PAGE_SIZE, 0));
}

/**
 * mig_dev_page_stale() - note a page whose hash is not current
 * @dev: the device
 * @page: a page partly written, whose writer will go on with it later
 *
 * Hashing a page on every partial write would cost a page of work per
 * byte when a resume stream arrives a byte at a time; instead the page is
 * rehashed once, when the digest needs it or another page goes stale.
 *
 * Context: dev->lock held.
 */
void mig_dev_page_stale(struct mig_dev *dev, u32 page)
{
	lockdep_assert_held(dev->lock);
	if (dev->stale_page >= 0 && dev->stale_page != page)
		mig_dev_page_rehash(dev, dev->stale_page);
	dev->stale_page = page;
}

/**
 * mig_dev_mem_written() - account for a write of device memory
 * @dev: the device
 * @first: first page written
 * @count: number of pages; the caller checked the range
 *
 * Logs the pages as dirty and rehashes them.
 *
 * Context: dev->lock held.
 */
void mig_dev_mem_written(struct mig_dev *dev, u32 first, u32 count)
{
	u32 page;

	lockdep_assert_held(dev->lock);
	mig_dev_mark_dirty(dev, first, count);
	for (page = first; page < first + count; page++)
		mig_dev_page_rehash(dev, page);
}

/**
 * mig_dev_dirty_run() - the next run of pages logged as written
 * @dev: the device
 * @from: the first page to look at
 * @to: one past the last page to look at (at most the device's pages)
 * @max: the longest run to return
 * @first: set to the run's first page
 * @end: set to one past its last page
 *
 * Context: dev->lock held.
 * Return: true if [@first, @end) is a run of logged pages in [@from, @to)
 * of at most @max pages, false if none is logged there.
 */
bool mig_dev_dirty_run(struct mig_dev *dev, u32 from, u32 to, u32 max,
		       u32 *first, u32 *end)
{
	unsigned long f;

	lockdep_assert_held(dev->lock);
	to = min(to, dev->npages);
	if (from >= to)
		return false;
	f = find_next_bit(dev->dirty, to, from);
	if (f >= to)
		return false;
	*first = f;
	*end = find_next_zero_bit(dev->dirty, f + min(max, to - (u32)f), f);
	return true;
}

/**
 * mig_dev_dirty_clear() - take pages off the log (they were sent)
 * @dev: the device
 * @first: first page
 * @count: number of pages; the caller checked the range
 *
 * Context: dev->lock held.
 */
void mig_dev_dirty_clear(struct mig_dev *dev, u32 first, u32 count)
{
	lockdep_assert_held(dev->lock);
	bitmap_clear(dev->dirty, first, count);
}

/**
 * mig_dev_mem_peek() - device memory at an offset, for a copy out
 * @dev: the device
 * @off: byte offset, below the memory size (checked by the caller)
 *
 * The pointer is valid while dev->lock is held; the bytes behind it change
 * only under the lock.
 *
 * Context: dev->lock held.
 * Return: the address of byte @off of device memory.
 */
const void *mig_dev_mem_peek(struct mig_dev *dev, u64 off)
{
	lockdep_assert_held(dev->lock);
	return dev->mem + off;
}

/**
 * mig_dev_mem_page() - the page of device memory that holds a byte
 * @dev: the device
 * @off: byte offset, below the memory size (checked by the caller)
 *
 * Device memory is allocated with the instance and never moves, so the page
 * is the same for the instance's life: a mapping of it follows the device
 * through reset and close, and sees nothing but the device's own memory.
 *
 * Context: no lock needed (the page, not its bytes, is returned).
 * Return: the page.
 */
struct page *mig_dev_mem_page(struct mig_dev *dev, u64 off)
{
	return vmalloc_to_page(dev->mem + off);
}

/**
 * mig_dev_mem_to_user() - copy device memory to user space, unlocked
 * @dev: the device
 * @off: byte offset; the caller checked [@off, @off + @len)
 * @buf: user buffer
 * @len: bytes
 *
 * The read of the window onto device memory (mig_region.c): as through its
 * mapping, the bytes are whatever the memory holds during the copy, which
 * takes no lock (user memory may fault or stall).  Pages a resume has not
 * cleared yet show the device's own earlier bytes.
 *
 * Context: dev->lock not held.
 * Return: bytes not copied, as copy_to_user().
 */
size_t mig_dev_mem_to_user(struct mig_dev *dev, u64 off,
			   void __user *buf, size_t len)
{
	return copy_to_user(buf, dev->mem + off, len);
}

/**
 * mig_dev_mark_all_dirty() - log every page as written (a new save)
 * @dev: the device
 *
 * Context: dev->lock held.
 */
void mig_dev_mark_all_dirty(struct mig_dev *dev)
{
	lockdep_assert_held(dev->lock);
	bitmap_fill(dev->dirty, dev->npages);
}

/**
 * mig_dev_regs_to_rec() - the register file in stream form
 * @dev: the device
 * @r: filled with the registers, little endian
 *
 * Context: dev->lock held.
 */
void mig_dev_regs_to_rec(struct mig_dev *dev, struct mig_rec_regs *r)
{
	unsigned int i;

	lockdep_assert_held(dev->lock);
	memset(r, 0, sizeof(*r));
	r->control = cpu_to_le32(dev->regs.control);
	r->status = cpu_to_le32(dev->regs.status);
	r->irq_count = cpu_to_le32(dev->regs.irq_count);
	r->engine_rate = cpu_to_le32(dev->regs.engine_rate);
	r->engine_seed = cpu_to_le32(dev->regs.engine_seed);
	for (i = 0; i < MIG_NR_SCRATCH; i++)
		r->scratch[i] = cpu_to_le32(dev->regs.scratch[i]);
}

/**
 * mig_dev_regs_from_rec() - load the register file from stream form
 * @dev: the device
 * @r: registers, little endian; bits the registers do not have are dropped
 *
 * Context: dev->lock held.
 */
void mig_dev_regs_from_rec(struct mig_dev *dev,
			   const struct mig_rec_regs *r)
{
	unsigned int i;

	lockdep_assert_held(dev->lock);
	dev->regs.control = le32_to_cpu(r->control) & MIG_CTRL_MASK;
	dev->regs.status = le32_to_cpu(r->status) & MIG_STATUS_IRQ;
	dev->regs.irq_count = le32_to_cpu(r->irq_count);
	dev->regs.engine_rate = le32_to_cpu(r->engine_rate);
	dev->regs.engine_seed = le32_to_cpu(r->engine_seed);
	for (i = 0; i < MIG_NR_SCRATCH; i++)
		dev->regs.scratch[i] = le32_to_cpu(r->scratch[i]);
	/* Brought by the device's user: the engine is the user's now. */
	dev->engine.admin = false;
}

/**
 * mig_dev_engine_to_rec() - the engine state in stream form
 * @dev: the device
 * @e: filled with the engine state, little endian
 *
 * Context: dev->lock held.
 */
void mig_dev_engine_to_rec(struct mig_dev *dev,
			   struct mig_rec_engine *e)
{
	lockdep_assert_held(dev->lock);
	e->prng = cpu_to_le64(dev->engine.prng);
	e->count = cpu_to_le64(dev->engine.count);
}

/**
 * mig_dev_engine_from_rec() - load the engine state from stream form
 * @dev: the device
 * @e: engine state, little endian
 *
 * The engine does not start here: the state machine starts it when the
 * device leaves RESUMING for RUNNING.
 *
 * Context: dev->lock held.
 */
void mig_dev_engine_from_rec(struct mig_dev *dev,
			     const struct mig_rec_engine *e)
{
	lockdep_assert_held(dev->lock);
	dev->engine.prng = le64_to_cpu(e->prng);
	dev->engine.count = le64_to_cpu(e->count);
}

/**
 * mig_dev_digest() - digest of all migratable state
 * @dev: the device
 *
 * xxh64 over config space, the registers, the engine and (unless it is
 * idle) the DMA engine in their stream form, and the xxh64 of each page
 * of device memory.  Two instances with
 * equal state have equal digests whatever their history.
 *
 * Context: dev->lock held.
 * Return: the digest.
 */
u64 mig_dev_digest(struct mig_dev *dev)
{
	struct mig_rec_regs regs;
	struct mig_rec_engine eng;
	struct mig_rec_dma dma;
	struct xxh64_state h;

	lockdep_assert_held(dev->lock);
	if (dev->stale_page >= 0) {
		mig_dev_page_rehash(dev, dev->stale_page);
		dev->stale_page = -1;
	}
	mig_dev_regs_to_rec(dev, &regs);
	mig_dev_engine_to_rec(dev, &eng);
	xxh64_reset(&h, 0);
	xxh64_update(&h, dev->config, sizeof(dev->config));
	xxh64_update(&h, &regs, sizeof(regs));
	xxh64_update(&h, &eng, sizeof(eng));
	/* An idle DMA engine digests as a device without one (stream v1). */
	if (!mig_dma_idle(dev)) {
		mig_dma_to_rec(dev, &dma);
		xxh64_update(&h, &dma, sizeof(dma));
	}
	xxh64_update(&h, dev->page_hash, dev->npages * sizeof(*dev->page_hash));
	return xxh64_digest(&h);
}

/**
 * mig_dev_bar_size() - the size of one of the device's BARs
 * @dev: the device
 * @bar: the BAR number (MIG_BAR_*); any other is a BAR the device lacks
 *
 * Context: no lock needed (constant).
 * Return: its size in bytes, 0 if the device has no such BAR.
 */
u64 mig_dev_bar_size(const struct mig_dev *dev, unsigned int bar)
{
	return bar < PCI_STD_NUM_BARS ? dev->bar_size[bar] : 0;
}

/**
 * mig_dev_bar0_read() - read a BAR0 register
 * @dev: the device
 * @off: register offset, 4-byte aligned, checked by the caller
 * @val: the value
 *
 * Context: dev->lock held.
 * Return: 0, or -EINVAL past the end of BAR0.
 */
int mig_dev_bar0_read(struct mig_dev *dev, u32 off, u32 *val)
{
	lockdep_assert_held(dev->lock);
	if (off >= MIG_MDEV_BAR0_SIZE || off & 3)
		return -EINVAL;

	switch (off) {
	case MIG_REG_ID:
		*val = MIG_REG_ID_VALUE;
		break;
	case MIG_REG_REVISION:
		*val = MIG_REG_REVISION_VALUE;
		break;
	case MIG_REG_CONTROL:
		*val = dev->regs.control;
		break;
	case MIG_REG_STATUS:
		*val = dev->regs.status |
		       (dev->engine.active ? MIG_STATUS_ENGINE_ACTIVE : 0);
		break;
	case MIG_REG_IRQ_COUNT:
		*val = dev->regs.irq_count;
		break;
	case MIG_REG_ENGINE_RATE:
		*val = dev->regs.engine_rate;
		break;
	case MIG_REG_ENGINE_SEED:
		*val = dev->regs.engine_seed;
		break;
	case MIG_REG_ENGINE_COUNT_LO:
		*val = lower_32_bits(dev->engine.count);
		break;
	case MIG_REG_ENGINE_COUNT_HI:
		*val = upper_32_bits(dev->engine.count);
		break;
	case MIG_REG_MEM_PAGES:
		*val = dev->npages;
		break;
	case MIG_REG_SCRATCH0 ... MIG_REG_END - 1:
		*val = dev->regs.scratch[(off - MIG_REG_SCRATCH0) / 4];
		break;
	case MIG_REG_DMA_CONTROL ... MIG_REG_DMA_END - 1:
		return mig_dma_reg_read(dev, off, val);
	default:		/* the doorbell and unused offsets */
		*val = 0;
		break;
	}
	return 0;
}

/**
 * mig_dev_bar0_write() - write a BAR0 register
 * @dev: the device
 * @off: register offset, 4-byte aligned, checked by the caller
 * @val: the value
 * @doorbell: set to true when the write rang the doorbell with interrupts
 *            enabled, false otherwise: the caller raises the interrupt
 *
 * Writes to read-only registers and unused offsets are ignored, as on
 * hardware.  A write of ENGINE_RATE, or of CONTROL that flips the engine's
 * enable bit, makes the engine the device user's (mig_dev_set_user()).
 * Rates above the engine_max_rate module parameter run at that rate.
 * The DMA engine's registers are mig_dma.c's.
 *
 * Context: the DMA lock and dev->lock held (mig_lock()).
 * Return: 0, or -EINVAL past the end of BAR0.
 */
int mig_dev_bar0_write(struct mig_dev *dev, u32 off, u32 val,
		       bool *doorbell)
{
	lockdep_assert_held(dev->lock);
	*doorbell = false;
	if (off >= MIG_MDEV_BAR0_SIZE || off & 3)
		return -EINVAL;

	switch (off) {
	case MIG_REG_CONTROL:
		if ((dev->regs.control ^ val) & MIG_CTRL_ENGINE_EN)
			dev->engine.admin = false;
		dev->regs.control = val & MIG_CTRL_MASK;
		mig_dev_engine_update(dev);
		break;
	case MIG_REG_STATUS:
		dev->regs.status &= ~(val & MIG_STATUS_IRQ);
		break;
	case MIG_REG_DOORBELL:
		if (!(dev->regs.control & MIG_CTRL_IRQ_EN))
			break;
		dev->regs.status |= MIG_STATUS_IRQ;
		dev->regs.irq_count++;
		*doorbell = true;
		break;
	case MIG_REG_ENGINE_RATE:
		dev->regs.engine_rate = val;
		dev->engine.admin = false;
		mig_dev_engine_update(dev);
		break;
	case MIG_REG_ENGINE_SEED:
		dev->regs.engine_seed = val;
		dev->engine.prng = mig_prng_seed(val);
		dev->engine.count = 0;
		break;
	case MIG_REG_SCRATCH0 ... MIG_REG_END - 1:
		dev->regs.scratch[(off - MIG_REG_SCRATCH0) / 4] = val;
		break;
	case MIG_REG_DMA_CONTROL ... MIG_REG_DMA_END - 1:
		return mig_dma_reg_write(dev, off, val);
	default:		/* read-only registers and unused offsets */
		break;
	}
	return 0;
}

/* Everything of the power-on state but the contents of memory. */
static void mig_dev_reset_state(struct mig_dev *dev)
{
	const void *zero_page = page_address(ZERO_PAGE(0));
	__le64 zero_hash;
	u32 page;

	memset(&dev->regs, 0, sizeof(dev->regs));
	dev->engine.prng = mig_prng_seed(0);
	dev->engine.count = 0;
	dev->engine.admin = false;
	mig_dev_engine_update(dev);
	mig_dma_reset(dev);
	zero_hash = cpu_to_le64(xxh64(zero_page, MIG_PAGE_SIZE, 0));
	for (page = 0; page < dev->npages; page++)
		dev->page_hash[page] = zero_hash;
	dev->stale_page = -1;
	bitmap_zero(dev->dirty, dev->npages);
	mig_cfg_init(dev);
}

/**
 * mig_dev_reset() - put the device in its power-on state
 * @dev: the device
 *
 * Config space, registers, engines (stopped) and memory (zero); the dirty
 * log is cleared.
 *
 * Context: the DMA lock and dev->lock held (mig_lock()).
 */
void mig_dev_reset(struct mig_dev *dev)
{
	lockdep_assert_held(dev->lock);
	mig_dev_reset_state(dev);
	bitmap_fill(dev->zero_pending, dev->npages);
	mig_dev_mem_settle(dev, 0, dev->npages);
}

/**
 * mig_dev_reset_lazy() - power-on state, memory cleared only when needed
 * @dev: the device
 *
 * As mig_dev_reset(), except that the pages of memory are only marked
 * pending zero: their hashes (and so the digest) are those of zero pages at
 * once, but their bytes are cleared by mig_dev_mem_settle(), or not at all
 * if mig_dev_page_load() or mig_dev_page_load_part() writes them first.  A
 * resume, whose stream normally brings every page, so does not clear all of
 * memory only to overwrite it.  The caller must settle all of memory before
 * anything but those functions and mig_dev_mem_settle() reads or writes it
 * (see mig_load_close()).
 *
 * Context: the DMA lock and dev->lock held (mig_lock()).
 */
void mig_dev_reset_lazy(struct mig_dev *dev)
{
	lockdep_assert_held(dev->lock);
	mig_dev_reset_state(dev);
	bitmap_fill(dev->zero_pending, dev->npages);
}

/**
 * mig_dev_mem_settle() - clear the pages of a range still pending zero
 * @dev: the device
 * @first: first page
 * @count: number of pages; the caller checked the range
 *
 * Afterwards the bytes of the range in memory are the device's state.  The
 * CPU is yielded every MIG_RESCHED_PAGES pages cleared (all of memory can be
 * up to 1 GiB).
 *
 * Context: dev->lock held.
 */
void mig_dev_mem_settle(struct mig_dev *dev, u32 first, u32 count)
{
	unsigned long end = (unsigned long)first + count;
	unsigned long page, stop;

	lockdep_assert_held(dev->lock);
	for (page = find_next_bit(dev->zero_pending, end, first); page < end;
	     page = find_next_bit(dev->zero_pending, end, stop)) {
		stop = find_next_zero_bit(dev->zero_pending, end, page);
		stop = min(stop, page + MIG_RESCHED_PAGES);
		memset(dev->mem + page * MIG_PAGE_SIZE, 0,
		       (stop - page) * MIG_PAGE_SIZE);
		bitmap_clear(dev->zero_pending, page, stop - page);
		cond_resched();
	}
}

/**
 * mig_dev_mem_read() - read device memory (BAR2)
 * @dev: the device
 * @off: offset in memory
 * @buf: where the bytes go (kernel memory)
 * @len: how many, at least 1; the caller checked the range
 */
void mig_dev_mem_read(struct mig_dev *dev, u64 off, void *buf,
		      size_t len)
{
	u32 first = off / MIG_PAGE_SIZE;
	u32 last = (off + len - 1) / MIG_PAGE_SIZE;

	lockdep_assert_held(dev->lock);
	/* A resume in progress may not have cleared these yet. */
	mig_dev_mem_settle(dev, first, last - first + 1);
	memcpy(buf, dev->mem + off, len);
}

/**
 * mig_dev_mem_write() - write device memory (BAR2)
 * @dev: the device
 * @off: offset in memory
 * @buf: the bytes (kernel memory)
 * @len: how many, at least 1; the caller checked the range
 *
 * The pages written are logged dirty and rehashed.
 */
void mig_dev_mem_write(struct mig_dev *dev, u64 off, const void *buf,
		       size_t len)
{
	u32 first = off / MIG_PAGE_SIZE;
	u32 last = (off + len - 1) / MIG_PAGE_SIZE;

	lockdep_assert_held(dev->lock);
	mig_dev_mem_settle(dev, first, last - first + 1);
	memcpy(dev->mem + off, buf, len);
	mig_dev_mem_written(dev, first, last - first + 1);
}

/*
 * xxh64 of a page as it is copied.  A resume must both copy each page of the
 * stream into memory and hash it (the END record's digest covers the
 * hashes); done apart, the page is read twice.  This does both in one pass
 * and returns what xxh64(dst, MIG_PAGE_SIZE, 0) would: the page hashes of
 * the source are taken with xxh64(), so a difference fails every resume's
 * digest check.  The algorithm is xxHash's XXH64 for a seed of 0 and a
 * length that is a whole number of 32-byte stripes, so no tail.
 */
#define MIG_XXH_P1	0x9e3779b185ebca87ULL
#define MIG_XXH_P2	0xc2b2ae3d27d4eb4fULL
#define MIG_XXH_P3	0x165667b19e3779f9ULL
#define MIG_XXH_P4	0x85ebca77c2b2ae63ULL

static_assert(MIG_PAGE_SIZE % 32 == 0);

static __always_inline u64 mig_xxh_round(u64 acc, u64 lane)
{
	return rol64(acc + lane * MIG_XXH_P2, 31) * MIG_XXH_P1;
}

static u64 mig_xxh_merge(u64 h, u64 acc)
{
	return (h ^ mig_xxh_round(0, acc)) * MIG_XXH_P1 + MIG_XXH_P4;
}

/* Copy one lane and return its value for the hash. */
static __always_inline u64 mig_xxh_copy_lane(u8 *dst, const u8 *src)
{
	__le64 w;

	memcpy(&w, src, sizeof(w));
	memcpy(dst, &w, sizeof(w));
	return le64_to_cpu(w);
}

static u64 mig_copy_page_xxh64(void *dst, const void *src)
{
	u64 a1 = MIG_XXH_P1 + MIG_XXH_P2, a2 = MIG_XXH_P2, a3 = 0;
	u64 a4 = -MIG_XXH_P1;
	const u8 *s = src;
	u8 *d = dst;
	size_t i;
	u64 h;

	for (i = 0; i < MIG_PAGE_SIZE; i += 32) {
		a1 = mig_xxh_round(a1, mig_xxh_copy_lane(d + i, s + i));
		a2 = mig_xxh_round(a2, mig_xxh_copy_lane(d + i + 8, s + i + 8));
		a3 = mig_xxh_round(a3, mig_xxh_copy_lane(d + i + 16, s + i + 16));
		a4 = mig_xxh_round(a4, mig_xxh_copy_lane(d + i + 24, s + i + 24));
	}
	h = rol64(a1, 1) + rol64(a2, 7) + rol64(a3, 12) + rol64(a4, 18);
	h = mig_xxh_merge(h, a1);
	h = mig_xxh_merge(h, a2);
	h = mig_xxh_merge(h, a3);
	h = mig_xxh_merge(h, a4);
	h += MIG_PAGE_SIZE;
	/* the final avalanche */
	h ^= h >> 33;
	h *= MIG_XXH_P2;
	h ^= h >> 29;
	h *= MIG_XXH_P3;
	h ^= h >> 32;
	return h;
}

/**
 * mig_dev_page_load() - write a whole page of memory (a resume)
 * @dev: the device
 * @page: the page, < dev->npages
 * @src: MIG_PAGE_SIZE bytes
 *
 * The page's hash is brought up to date; the page is no longer pending zero.
 *
 * Context: dev->lock held.
 */
void mig_dev_page_load(struct mig_dev *dev, u32 page, const void *src)
{
	u64 hash = mig_copy_page_xxh64(dev->mem + (size_t)page * MIG_PAGE_SIZE,
				       src);

	lockdep_assert_held(dev->lock);
	dev->page_hash[page] = cpu_to_le64(hash);
	__clear_bit(page, dev->zero_pending);
	if (dev->stale_page == page)
		dev->stale_page = -1;
}

/**
 * mig_dev_page_load_part() - write part of a page of memory (a resume)
 * @dev: the device
 * @page: the page, < dev->npages
 * @off: offset in the page
 * @src: the bytes
 * @len: how many, at most MIG_PAGE_SIZE - @off
 *
 * A page pending zero is cleared first, so that the bytes not written are
 * zero as the device's state says.  If the write ends the page, its hash is
 * brought up to date; otherwise the page is stale until the next write ends
 * it or the digest is needed (mig_dev_page_stale()).
 *
 * Context: dev->lock held.
 */
void mig_dev_page_load_part(struct mig_dev *dev, u32 page, u32 off,
			    const void *src, size_t len)
{
	u8 *p = dev->mem + (size_t)page * MIG_PAGE_SIZE;

	lockdep_assert_held(dev->lock);
	if (__test_and_clear_bit(page, dev->zero_pending))
		memset(p, 0, MIG_PAGE_SIZE);
	memcpy(p + off, src, len);
	if (off + len < MIG_PAGE_SIZE) {
		mig_dev_page_stale(dev, page);
		return;
	}
	mig_dev_page_rehash(dev, page);
	if (dev->stale_page == page)
		dev->stale_page = -1;
}

/**
 * mig_dev_init() - allocate and power on the device model
 * @dev: the device, zeroed
 * @lock: the instance lock, initialized: the owner's mutex that guards the
 *        device's (lock) fields
 * @mem_size: bytes of device memory, whole pages, a power of two
 *
 * The device runs (mig_dev_set_running()) until its owner says otherwise.
 *
 * Context: the instance is not visible yet; no lock needed.
 * Return: 0 or -ENOMEM.
 */
int mig_dev_init(struct mig_dev *dev, struct mutex *lock, u64 mem_size)
{
	dev->lock = lock;
	dev->running = true;
	dev->npages = mem_size / MIG_PAGE_SIZE;
	dev->bar_size[MIG_BAR_REGS] = MIG_MDEV_BAR0_SIZE;
	dev->bar_size[MIG_BAR_MEM] = mem_size;
	INIT_DELAYED_WORK(&dev->engine.work, mig_engine_work);

	dev->mem = vzalloc((size_t)dev->npages * MIG_PAGE_SIZE);
	if (!dev->mem)
		return -ENOMEM;
	dev->dirty = bitmap_zalloc(dev->npages, GFP_KERNEL);
	if (!dev->dirty)
		goto err_mem;
	dev->zero_pending = bitmap_zalloc(dev->npages, GFP_KERNEL);
	if (!dev->zero_pending)
		goto err_dirty;
	dev->page_hash = kvcalloc(dev->npages, sizeof(*dev->page_hash),
				  GFP_KERNEL);
	if (!dev->page_hash)
		goto err_zero;
	if (mig_dma_init(dev))
		goto err_hash;
	/* Nobody else can see the instance yet; the locks are for lockdep. */
	mutex_lock(&dev->dma.lock);
	mutex_lock(dev->lock);
	mig_dev_reset(dev);
	mutex_unlock(dev->lock);
	mutex_unlock(&dev->dma.lock);
	return 0;

err_hash:
	kvfree(dev->page_hash);
err_zero:
	bitmap_free(dev->zero_pending);
err_dirty:
	bitmap_free(dev->dirty);
err_mem:
	vfree(dev->mem);
	dev->mem = NULL;
	return -ENOMEM;
}

/**
 * mig_dev_free() - free the device model
 * @dev: the device; its engine was cancelled
 *
 * Context: the instance is going away; no lock needed.
 */
void mig_dev_free(struct mig_dev *dev)
{
	mig_dma_free(dev);
	kvfree(dev->page_hash);
	bitmap_free(dev->zero_pending);
	bitmap_free(dev->dirty);
	vfree(dev->mem);
}
