// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the DMA engine's registers, state and stream form.
 *
 * The guest gives the device a ring of its IOVA space (registers
 * MIG_REG_DMA_*, include/uapi/linux/mig_mdev.h); while the device runs, the
 * guest enabled bus mastering and the engine with a nonzero rate, and the
 * device has a user, the engine writes sequence-numbered records into the
 * ring at the rate, flow controlled by the guest's TAIL.  This file holds
 * what the engine is: its registers, when it runs, its state in the stream
 * and in the digest.  How it writes (the work item, vfio_dma_rw(), the
 * dirty logs) is mig_dma_xfer.c's and mig_dma_log.c's.
 *
 * Locking (mig.h): the registers are st->lock's.  The engine runs while
 * mig_dma.active; it is turned off only with both the DMA lock and
 * st->lock held (mig_dma_update() asserts both), and the work item holds
 * the DMA lock across each write, so a path that stopped the engine knows
 * that no write is in flight and none follows.
 */
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "mig.h"

/* The engine's tick (as the memory engine's). */
#define MIG_DMA_TICK_MS		10

/**
 * mig_dma_slots() - records the ring holds
 * @r: the registers
 *
 * Return: ring pages times records per page.
 */
u64 mig_dma_slots(const struct mig_dma_regs *r)
{
	return (u64)r->ring_pages * MIG_DMA_RECS_PER_PAGE;
}

/* A ring the engine may write: page aligned, 1..MAX pages, no wrap. */
static bool mig_dma_ring_ok(u64 ring, u32 pages)
{
	u64 end;

	return pages && pages <= MIG_DMA_MAX_RING_PAGES &&
	       IS_ALIGNED(ring, MIG_PAGE_SIZE) &&
	       !check_add_overflow(ring, (u64)pages * MIG_PAGE_SIZE - 1, &end);
}

/*
 * The engine runs while the device runs (the protocol that owns migration
 * says so), has a user (a close stops what the fd holder started), the
 * guest enabled bus mastering and the engine with a nonzero rate.
 */
static bool mig_dma_should_run(struct mig_mdev_state *st)
{
	const struct mig_dma_regs *r = &st->dma.regs;

	return st->running && st->engine.user &&
	       (r->control & MIG_DMA_CTRL_EN) && r->rate &&
	       mig_cfg_bus_master(st);
}

/**
 * mig_dma_update() - start or stop the DMA engine to match the state
 * @st: the instance
 *
 * Starting arms the work item.  Stopping takes effect at once: the work
 * item holds the DMA lock across every write and checks
 * @st->dma.active under st->lock before each, and the caller holds both,
 * so no write is in flight now and none happens after this returns.  The
 * translations the engine cached (test_hide_dma_dirty) are dropped.
 *
 * Context: the DMA lock and st->lock held.
 */
void mig_dma_update(struct mig_mdev_state *st)
{
	struct mig_dma *d = &st->dma;
	bool run;

	lockdep_assert_held(&d->lock);
	lockdep_assert_held(&st->lock);
	run = mig_dma_should_run(st);
	if (run == d->active)
		return;
	d->active = run;
	if (!run) {
		mig_dma_uncache(st);
		return;
	}
	d->last = ktime_get();
	d->credit_ns = 0;
	queue_delayed_work(mig_wq, &d->work,
			   msecs_to_jiffies(MIG_DMA_TICK_MS));
}

/**
 * mig_dma_reset() - the DMA engine's power-on state: idle, no ring
 * @st: the instance
 *
 * Context: the DMA lock and st->lock held.
 */
void mig_dma_reset(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->dma.lock);
	lockdep_assert_held(&st->lock);
	memset(&st->dma.regs, 0, sizeof(st->dma.regs));
	mig_dma_update(st);
}

/**
 * mig_dma_disable() - the device's user is gone: disable the engine
 * @st: the instance
 *
 * The ring is IOVA space of the user that closed the device; the next user
 * has other mappings there, or none.  A close clears MIG_DMA_CTRL_EN (the
 * other registers keep their values, HEAD included), so the engine never
 * writes into the next user's memory.
 *
 * Context: the DMA lock and st->lock held.
 */
void mig_dma_disable(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->dma.lock);
	lockdep_assert_held(&st->lock);
	st->dma.regs.control &= ~MIG_DMA_CTRL_EN;
	mig_dma_update(st);
}

/**
 * mig_dma_idle() - is the DMA engine in its power-on state?
 * @st: the instance
 *
 * Context: st->lock held.
 * Return: true if every DMA register reads as after a reset.
 */
bool mig_dma_idle(struct mig_mdev_state *st)
{
	static const struct mig_dma_regs zero;

	lockdep_assert_held(&st->lock);
	return !memcmp(&st->dma.regs, &zero, sizeof(zero));
}

/**
 * mig_dma_reg_read() - read a DMA register
 * @st: the instance
 * @off: register offset in [MIG_REG_DMA_CONTROL, MIG_REG_DMA_END), aligned
 * @val: the value
 *
 * Context: st->lock held.
 * Return: 0, or -EINVAL for an offset outside the DMA registers.
 */
int mig_dma_reg_read(struct mig_mdev_state *st, u32 off, u32 *val)
{
	const struct mig_dma_regs *r = &st->dma.regs;

	lockdep_assert_held(&st->lock);
	switch (off) {
	case MIG_REG_DMA_CONTROL:
		*val = r->control;
		break;
	case MIG_REG_DMA_STATUS:
		*val = r->status |
		       (st->dma.active ? MIG_DMA_STATUS_ACTIVE : 0);
		break;
	case MIG_REG_DMA_RING_LO:
		*val = lower_32_bits(r->ring);
		break;
	case MIG_REG_DMA_RING_HI:
		*val = upper_32_bits(r->ring);
		break;
	case MIG_REG_DMA_RING_PAGES:
		*val = r->ring_pages;
		break;
	case MIG_REG_DMA_RATE:
		*val = r->rate;
		break;
	case MIG_REG_DMA_HEAD_LO:
		*val = lower_32_bits(r->head);
		break;
	case MIG_REG_DMA_HEAD_HI:
		*val = upper_32_bits(r->head);
		break;
	case MIG_REG_DMA_TAIL_LO:
		*val = lower_32_bits(r->tail);
		break;
	case MIG_REG_DMA_TAIL_HI:
		*val = upper_32_bits(r->tail);
		break;
	case MIG_REG_DMA_IRQ_EVERY:
		*val = r->irq_every;
		break;
	case MIG_REG_DMA_IRQ_COUNT:
		*val = r->irq_count;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/* CONTROL: enabling needs a good ring, or it sets FAULT instead. */
static void mig_dma_write_control(struct mig_mdev_state *st, u32 val)
{
	struct mig_dma_regs *r = &st->dma.regs;

	val &= MIG_DMA_CTRL_MASK;
	if ((val & ~r->control & MIG_DMA_CTRL_EN) &&
	    !mig_dma_ring_ok(r->ring, r->ring_pages)) {
		r->status |= MIG_DMA_STATUS_FAULT;
		val &= ~MIG_DMA_CTRL_EN;
	}
	r->control = val;
}

/*
 * The ring's registers, only while the engine is disabled: a new ring
 * starts at record 0.
 */
static void mig_dma_write_ring(struct mig_mdev_state *st, u32 off, u32 val)
{
	struct mig_dma_regs *r = &st->dma.regs;

	if (r->control & MIG_DMA_CTRL_EN)
		return;
	if (off == MIG_REG_DMA_RING_LO)
		r->ring = ((u64)upper_32_bits(r->ring) << 32) | val;
	else if (off == MIG_REG_DMA_RING_HI)
		r->ring = lower_32_bits(r->ring) | ((u64)val << 32);
	else
		r->ring_pages = val;
	r->head = 0;
	r->tail = 0;
	r->tail_hi = 0;
}

/*
 * TAIL_LO completes a TAIL write.  A tail the engine has not reached yet
 * (past HEAD), or one that would leave more records unconsumed than the
 * ring holds, is ignored.
 */
static void mig_dma_write_tail(struct mig_mdev_state *st, u32 val)
{
	struct mig_dma_regs *r = &st->dma.regs;
	u64 tail = ((u64)r->tail_hi << 32) | val;

	if (tail <= r->head && r->head - tail <= mig_dma_slots(r))
		r->tail = tail;
}

/**
 * mig_dma_reg_write() - write a DMA register
 * @st: the instance
 * @off: register offset in [MIG_REG_DMA_CONTROL, MIG_REG_DMA_END), aligned
 * @val: the value
 *
 * Writes to read-only registers are ignored, as on hardware; so are the
 * ring's registers while the engine is enabled (uapi header).
 *
 * Context: the DMA lock and st->lock held.
 * Return: 0, or -EINVAL for an offset outside the DMA registers.
 */
int mig_dma_reg_write(struct mig_mdev_state *st, u32 off, u32 val)
{
	struct mig_dma_regs *r = &st->dma.regs;

	lockdep_assert_held(&st->dma.lock);
	lockdep_assert_held(&st->lock);
	switch (off) {
	case MIG_REG_DMA_CONTROL:
		mig_dma_write_control(st, val);
		break;
	case MIG_REG_DMA_STATUS:
		r->status &= ~(val & MIG_DMA_STATUS_FAULT);
		break;
	case MIG_REG_DMA_RING_LO:
	case MIG_REG_DMA_RING_HI:
	case MIG_REG_DMA_RING_PAGES:
		mig_dma_write_ring(st, off, val);
		break;
	case MIG_REG_DMA_RATE:
		r->rate = val;
		break;
	case MIG_REG_DMA_TAIL_HI:
		r->tail_hi = val;
		break;
	case MIG_REG_DMA_TAIL_LO:
		mig_dma_write_tail(st, val);
		break;
	case MIG_REG_DMA_IRQ_EVERY:
		r->irq_every = val;
		break;
	case MIG_REG_DMA_HEAD_LO:
	case MIG_REG_DMA_HEAD_HI:
	case MIG_REG_DMA_IRQ_COUNT:
		break;
	default:
		return -EINVAL;
	}
	mig_dma_update(st);
	return 0;
}

/**
 * mig_dma_to_rec() - the DMA engine in stream form
 * @st: the instance
 * @rec: filled, little endian
 *
 * Context: st->lock held.
 */
void mig_dma_to_rec(struct mig_mdev_state *st, struct mig_rec_dma *rec)
{
	const struct mig_dma_regs *r = &st->dma.regs;

	lockdep_assert_held(&st->lock);
	memset(rec, 0, sizeof(*rec));
	rec->control = cpu_to_le32(r->control);
	rec->status = cpu_to_le32(r->status);
	rec->ring = cpu_to_le64(r->ring);
	rec->ring_pages = cpu_to_le32(r->ring_pages);
	rec->rate = cpu_to_le32(r->rate);
	rec->head = cpu_to_le64(r->head);
	rec->tail = cpu_to_le64(r->tail);
	rec->tail_hi = cpu_to_le32(r->tail_hi);
	rec->irq_every = cpu_to_le32(r->irq_every);
	rec->irq_count = cpu_to_le32(r->irq_count);
}

/**
 * mig_dma_from_rec() - load the DMA engine from stream form
 * @st: the instance
 * @rec: the record, little endian
 *
 * Only a state the device could have reached is taken: known bits, an
 * enabled engine with a good ring, TAIL at most HEAD and at most a ring
 * behind it.  The engine does not start here: the state machine starts it
 * when the device runs again, from the source's HEAD.
 *
 * Context: st->lock held; the device is stopped (RESUMING).
 * Return: 0, or -EINVAL for a state the device cannot be in.
 */
int mig_dma_from_rec(struct mig_mdev_state *st, const struct mig_rec_dma *rec)
{
	struct mig_dma_regs r = {
		.control = le32_to_cpu(rec->control),
		.status = le32_to_cpu(rec->status),
		.ring = le64_to_cpu(rec->ring),
		.ring_pages = le32_to_cpu(rec->ring_pages),
		.rate = le32_to_cpu(rec->rate),
		.head = le64_to_cpu(rec->head),
		.tail = le64_to_cpu(rec->tail),
		.tail_hi = le32_to_cpu(rec->tail_hi),
		.irq_every = le32_to_cpu(rec->irq_every),
		.irq_count = le32_to_cpu(rec->irq_count),
	};

	lockdep_assert_held(&st->lock);
	if (rec->reserved || r.control & ~MIG_DMA_CTRL_MASK ||
	    r.status & ~MIG_DMA_STATUS_FAULT || r.tail > r.head ||
	    r.head - r.tail > mig_dma_slots(&r) ||
	    ((r.control & MIG_DMA_CTRL_EN) &&
	     !mig_dma_ring_ok(r.ring, r.ring_pages)))
		return -EINVAL;
	st->dma.regs = r;
	return 0;
}

/**
 * mig_dma_init() - set up the DMA engine of a new instance
 * @st: the instance
 *
 * Context: the instance is not visible yet; no lock needed.
 * Return: 0 or -ENOMEM.
 */
int mig_dma_init(struct mig_mdev_state *st)
{
	struct mig_dma *d = &st->dma;

	d->buf = kzalloc(MIG_PAGE_SIZE, GFP_KERNEL);
	if (!d->buf)
		return -ENOMEM;
	mutex_init(&d->lock);
	INIT_DELAYED_WORK(&d->work, mig_dma_work);
	return 0;
}

/**
 * mig_dma_cancel() - wait until the DMA engine's work item is idle
 * @st: the instance, being torn down; the device was closed, so the
 *      engine is stopped (mig_dma_update() under the locks)
 *
 * Context: must hold neither lock (the work item takes them).
 */
void mig_dma_cancel(struct mig_mdev_state *st)
{
	/* A tick still queued finds the engine stopped and does not rearm. */
	cancel_delayed_work_sync(&st->dma.work);
}

/**
 * mig_dma_free() - free the DMA engine
 * @st: the instance; its engine was cancelled
 *
 * Context: the instance is going away; no lock needed.
 */
void mig_dma_free(struct mig_mdev_state *st)
{
	mig_dma_log_free(st);
	kfree(st->dma.buf);
	mutex_destroy(&st->dma.lock);
}
