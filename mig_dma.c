// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the DMA engine: its registers, state, records and stream form.
 *
 * The guest gives the device a ring of its IOVA space (registers
 * MIG_REG_DMA_*, include/uapi/linux/mig_mdev.h); while the device runs, the
 * guest enabled bus mastering and the engine with a nonzero rate, and the
 * device has a user, the engine writes sequence-numbered records into the
 * ring at the rate, flow controlled by the guest's TAIL.  This file holds
 * what the engine is: its registers, when it runs, what it writes (the
 * batches, the records, HEAD and the interrupt), its state in the stream
 * and in the digest.  How the writes reach guest memory (the work item,
 * vfio_dma_rw(), the dirty logs) is the owner's: mig_dma_xfer.c and
 * mig_dma_log.c, behind mig_dma_work() and mig_dma_stopped() (mig_dev.h).
 *
 * Locking (mig_dev.h): the registers are the instance lock's.  The engine
 * runs while mig_dma.active; it is turned off only with both the DMA lock
 * and the instance lock held (mig_dma_update() asserts both), and the work
 * item holds the DMA lock across each write, so a path that stopped the
 * engine knows that no write is in flight and none follows.
 */
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "mig_dev.h"

/* As the memory engine: the tick, and at most this many ticks' worth. */
#define MIG_DMA_TICK_MS		10
#define MIG_DMA_BURST		2

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
static bool mig_dma_should_run(struct mig_dev *dev)
{
	const struct mig_dma_regs *r = &dev->dma.regs;

	return dev->running && dev->engine.user &&
	       (r->control & MIG_DMA_CTRL_EN) && r->rate &&
	       mig_cfg_bus_master(dev);
}

/**
 * mig_dma_update() - start or stop the DMA engine to match the state
 * @dev: the device
 *
 * Starting arms the work item.  Stopping takes effect at once: the work
 * item holds the DMA lock across every write and checks
 * @dev->dma.active under dev->lock before each, and the caller holds both,
 * so no write is in flight now and none happens after this returns.  The
 * owner drops what it keeps for a running engine (mig_dma_stopped()).
 *
 * Context: the DMA lock and dev->lock held.
 */
void mig_dma_update(struct mig_dev *dev)
{
	struct mig_dma *d = &dev->dma;
	bool run;

	lockdep_assert_held(&d->lock);
	lockdep_assert_held(dev->lock);
	run = mig_dma_should_run(dev);
	if (run == d->active)
		return;
	d->active = run;
	if (!run) {
		mig_dma_stopped(dev);
		return;
	}
	d->last = ktime_get();
	d->credit_ns = 0;
	queue_delayed_work(mig_wq, &d->work,
			   msecs_to_jiffies(MIG_DMA_TICK_MS));
}

/**
 * mig_dma_reset() - the DMA engine's power-on state: idle, no ring
 * @dev: the device
 *
 * Context: the DMA lock and dev->lock held.
 */
void mig_dma_reset(struct mig_dev *dev)
{
	lockdep_assert_held(&dev->dma.lock);
	lockdep_assert_held(dev->lock);
	memset(&dev->dma.regs, 0, sizeof(dev->dma.regs));
	mig_dma_update(dev);
}

/**
 * mig_dma_disable() - the device's user is gone: disable the engine
 * @dev: the device
 *
 * The ring is IOVA space of the user that closed the device; the next user
 * has other mappings there, or none.  A close clears MIG_DMA_CTRL_EN (the
 * other registers keep their values, HEAD included), so the engine never
 * writes into the next user's memory.
 *
 * Context: the DMA lock and dev->lock held.
 */
void mig_dma_disable(struct mig_dev *dev)
{
	lockdep_assert_held(&dev->dma.lock);
	lockdep_assert_held(dev->lock);
	dev->dma.regs.control &= ~MIG_DMA_CTRL_EN;
	mig_dma_update(dev);
}

/**
 * mig_dma_idle() - is the DMA engine in its power-on state?
 * @dev: the device
 *
 * Context: dev->lock held.
 * Return: true if every DMA register reads as after a reset.
 */
bool mig_dma_idle(struct mig_dev *dev)
{
	static const struct mig_dma_regs zero;

	lockdep_assert_held(dev->lock);
	return !memcmp(&dev->dma.regs, &zero, sizeof(zero));
}

/**
 * mig_dma_reg_read() - read a DMA register
 * @dev: the device
 * @off: register offset in [MIG_REG_DMA_CONTROL, MIG_REG_DMA_END), aligned
 * @val: the value
 *
 * Context: dev->lock held.
 * Return: 0, or -EINVAL for an offset outside the DMA registers.
 */
int mig_dma_reg_read(struct mig_dev *dev, u32 off, u32 *val)
{
	const struct mig_dma_regs *r = &dev->dma.regs;

	lockdep_assert_held(dev->lock);
	switch (off) {
	case MIG_REG_DMA_CONTROL:
		*val = r->control;
		break;
	case MIG_REG_DMA_STATUS:
		*val = r->status |
		       (dev->dma.active ? MIG_DMA_STATUS_ACTIVE : 0);
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
static void mig_dma_write_control(struct mig_dev *dev, u32 val)
{
	struct mig_dma_regs *r = &dev->dma.regs;

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
static void mig_dma_write_ring(struct mig_dev *dev, u32 off, u32 val)
{
	struct mig_dma_regs *r = &dev->dma.regs;

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
static void mig_dma_write_tail(struct mig_dev *dev, u32 val)
{
	struct mig_dma_regs *r = &dev->dma.regs;
	u64 tail = ((u64)r->tail_hi << 32) | val;

	if (tail <= r->head && r->head - tail <= mig_dma_slots(r))
		r->tail = tail;
}

/**
 * mig_dma_reg_write() - write a DMA register
 * @dev: the device
 * @off: register offset in [MIG_REG_DMA_CONTROL, MIG_REG_DMA_END), aligned
 * @val: the value
 *
 * Writes to read-only registers are ignored, as on hardware; so are the
 * ring's registers while the engine is enabled (uapi header).
 *
 * Context: the DMA lock and dev->lock held.
 * Return: 0, or -EINVAL for an offset outside the DMA registers.
 */
int mig_dma_reg_write(struct mig_dev *dev, u32 off, u32 val)
{
	struct mig_dma_regs *r = &dev->dma.regs;

	lockdep_assert_held(&dev->dma.lock);
	lockdep_assert_held(dev->lock);
	switch (off) {
	case MIG_REG_DMA_CONTROL:
		mig_dma_write_control(dev, val);
		break;
	case MIG_REG_DMA_STATUS:
		r->status &= ~(val & MIG_DMA_STATUS_FAULT);
		break;
	case MIG_REG_DMA_RING_LO:
	case MIG_REG_DMA_RING_HI:
	case MIG_REG_DMA_RING_PAGES:
		mig_dma_write_ring(dev, off, val);
		break;
	case MIG_REG_DMA_RATE:
		r->rate = val;
		break;
	case MIG_REG_DMA_TAIL_HI:
		r->tail_hi = val;
		break;
	case MIG_REG_DMA_TAIL_LO:
		mig_dma_write_tail(dev, val);
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
	mig_dma_update(dev);
	return 0;
}

/**
 * mig_dma_to_rec() - the DMA engine in stream form
 * @dev: the device
 * @rec: filled, little endian
 *
 * Context: dev->lock held.
 */
void mig_dma_to_rec(struct mig_dev *dev, struct mig_rec_dma *rec)
{
	const struct mig_dma_regs *r = &dev->dma.regs;

	lockdep_assert_held(dev->lock);
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
 * @dev: the device
 * @rec: the record, little endian
 *
 * Only a state the device could have reached is taken: known bits, an
 * enabled engine with a good ring, TAIL at most HEAD and at most a ring
 * behind it.  The engine does not start here: the state machine starts it
 * when the device runs again, from the source's HEAD.
 *
 * Context: dev->lock held; the device is stopped (RESUMING).
 * Return: 0, or -EINVAL for a state the device cannot be in.
 */
int mig_dma_from_rec(struct mig_dev *dev, const struct mig_rec_dma *rec)
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

	lockdep_assert_held(dev->lock);
	if (rec->reserved || r.control & ~MIG_DMA_CTRL_MASK ||
	    r.status & ~MIG_DMA_STATUS_FAULT || r.tail > r.head ||
	    r.head - r.tail > mig_dma_slots(&r) ||
	    ((r.control & MIG_DMA_CTRL_EN) &&
	     !mig_dma_ring_ok(r.ring, r.ring_pages)))
		return -EINVAL;
	dev->dma.regs = r;
	return 0;
}

/**
 * mig_dma_due() - records the engine owes since its last tick
 * @dev: the device
 *
 * At most MIG_DMA_BURST ticks' worth at its rate, capped by the
 * dma_max_rate module parameter.
 *
 * Context: dev->lock held.
 * Return: the records due.
 */
u64 mig_dma_due(struct mig_dev *dev)
{
	struct mig_dma *d = &dev->dma;

	lockdep_assert_held(dev->lock);
	return mig_dev_due(clamp_t(u32, d->regs.rate, 1,
				   READ_ONCE(mig_dma_max_rate)),
			   &d->credit_ns, &d->last,
			   MIG_DMA_TICK_MS * MIG_DMA_BURST);
}

/**
 * mig_dma_stage() - the next batch of records to write
 * @dev: the device
 * @due: records owed, at least 1
 * @b: filled with the batch
 *
 * At most @due records from HEAD, within the room TAIL leaves, within
 * HEAD's page of the ring, and ending at the next record that raises the
 * interrupt.  Nothing while the interrupt raised at HEAD is not
 * acknowledged (STATUS.IRQ set): so no two interrupts merge on their way.
 *
 * Context: dev->lock held; the engine runs.
 * Return: true if @b holds a batch, false if the ring is full or the
 * engine holds for an acknowledgment.
 */
bool mig_dma_stage(struct mig_dev *dev, u64 due, struct mig_dma_batch *b)
{
	const struct mig_dma_regs *r = &dev->dma.regs;
	u32 slots = mig_dma_slots(r);
	u32 slot, rem;
	u64 n;

	lockdep_assert_held(dev->lock);
	div_u64_rem(r->head, slots, &slot);
	n = min3(due, slots - (r->head - r->tail),
		 (u64)(MIG_DMA_RECS_PER_PAGE - slot % MIG_DMA_RECS_PER_PAGE));
	if ((r->control & MIG_DMA_CTRL_IRQ_EN) && r->irq_every) {
		div_u64_rem(r->head, r->irq_every, &rem);
		/* the interrupt raised at this record is not acknowledged yet */
		if (!rem && r->head && (dev->regs.status & MIG_STATUS_IRQ))
			return false;
		n = min_t(u64, n, r->irq_every - rem);
	}
	if (!n)
		return false;
	b->seq = r->head;
	b->n = n;
	b->slots = slots;
	b->iova = r->ring + (u64)slot * MIG_DMA_RECORD_SIZE;
	return true;
}

/**
 * mig_dma_build() - the records of a batch, as the uapi header defines them
 * @rec: room for @b->n records
 * @b: the batch
 *
 * Context: any; touches neither the device nor a lock.
 */
void mig_dma_build(struct mig_dma_record *rec, const struct mig_dma_batch *b)
{
	u64 w[7];
	u32 i, j;

	for (i = 0; i < b->n; i++) {
		w[0] = b->seq + i;
		w[1] = MIG_DMA_RECORD_MAGIC | (u64)b->slots << 32;
		rec[i].seq = cpu_to_le64(w[0]);
		rec[i].magic = cpu_to_le32(MIG_DMA_RECORD_MAGIC);
		rec[i].slots = cpu_to_le32(b->slots);
		for (j = 0; j < ARRAY_SIZE(rec[i].payload); j++) {
			w[2 + j] = mig_dma_payload(w[0], j);
			rec[i].payload[j] = cpu_to_le64(w[2 + j]);
		}
		rec[i].check = cpu_to_le64(mig_dma_check(w));
	}
}

/**
 * mig_dma_fault() - a write was refused: FAULT, and the engine stops
 * @dev: the device
 *
 * Context: the DMA lock and dev->lock held.
 */
void mig_dma_fault(struct mig_dev *dev)
{
	struct mig_dma_regs *r = &dev->dma.regs;

	lockdep_assert_held(dev->lock);
	r->status |= MIG_DMA_STATUS_FAULT;
	r->control &= ~MIG_DMA_CTRL_EN;
	mig_dma_update(dev);
}

/**
 * mig_dma_commit() - account for a batch written
 * @dev: the device
 * @b: the batch, written whole
 *
 * HEAD moves past it; if its last record is one that raises the interrupt
 * (IRQ_EN, IRQ_EVERY), the interrupt is counted and flagged in the
 * registers, and the caller raises it.
 *
 * Context: the DMA lock and dev->lock held.
 * Return: true if the caller must raise the device's interrupt.
 */
bool mig_dma_commit(struct mig_dev *dev, const struct mig_dma_batch *b)
{
	struct mig_dma_regs *r = &dev->dma.regs;
	u32 rem;

	lockdep_assert_held(dev->lock);
	r->head += b->n;
	if (!(r->control & MIG_DMA_CTRL_IRQ_EN) || !r->irq_every)
		return false;
	div_u64_rem(r->head, r->irq_every, &rem);
	if (rem)
		return false;
	r->irq_count++;
	dev->regs.irq_count++;
	dev->regs.status |= MIG_STATUS_IRQ;
	return true;
}

/**
 * mig_dma_init() - set up the DMA engine of a new instance
 * @dev: the device
 *
 * Context: the instance is not visible yet; no lock needed.
 * Return: 0 or -ENOMEM.
 */
int mig_dma_init(struct mig_dev *dev)
{
	struct mig_dma *d = &dev->dma;

	d->buf = kzalloc(MIG_PAGE_SIZE, GFP_KERNEL);
	if (!d->buf)
		return -ENOMEM;
	mutex_init(&d->lock);
	INIT_DELAYED_WORK(&d->work, mig_dma_work);
	return 0;
}

/**
 * mig_dma_cancel() - wait until the DMA engine's work item is idle
 * @dev: the device, being torn down; the device was closed, so the
 *      engine is stopped (mig_dma_update() under the locks)
 *
 * Context: must hold neither lock (the work item takes them).
 */
void mig_dma_cancel(struct mig_dev *dev)
{
	/* A tick still queued finds the engine stopped and does not rearm. */
	cancel_delayed_work_sync(&dev->dma.work);
}

/**
 * mig_dma_free() - free the DMA engine
 * @dev: the device; its engine was cancelled
 *
 * Context: the instance is going away; no lock needed.
 */
void mig_dma_free(struct mig_dev *dev)
{
	kfree(dev->dma.buf);
	mutex_destroy(&dev->dma.lock);
}
