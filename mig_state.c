// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the v1 device_state machine.
 *
 * One const table holds every arc (../shared/PROTOCOL.md, "States"): for
 * each current state and each requested state, the actions the arc takes,
 * or nothing if the arc is refused.  mig_state_set() looks the arc up,
 * performs its actions in a fixed order and commits the new state only if
 * all of them succeeded, so a refused or failed write leaves device_state as
 * it was.  The engine follows the RUNNING bit of whatever state results.
 *
 * This file knows nothing of mmap, chunks or PCI: it asks mig_stream.c to
 * open and close sessions (the chunk queue is the save session's and goes
 * with it) and mig_dev.c to start and stop the engine.
 */
#include "mig.h"
#include <trace/mig_trace.h>

/* Actions of an arc, performed in this order. */
#define ARC_OK		BIT(0)	/* the arc is allowed */
#define ARC_SAVE_END	BIT(1)	/* drop the save session and what is unsent */
#define ARC_SAVE_NEW	BIT(2)	/* open a save session: all state pending */
#define ARC_SAVE_FINAL	BIT(3)	/* PRECOPY -> SAVING: same session, tail on */
#define ARC_LOAD_DONE	BIT(4)	/* leave RESUMING: needs a verified stream */
#define ARC_LOAD_NEW	BIT(5)	/* clean device, wait for a stream */

#define STOP		MIG_STATE_STOP
#define RUN		MIG_STATE_RUNNING
#define SAVE		MIG_STATE_SAVING
#define PRE		MIG_STATE_PRECOPY
#define RES		MIG_STATE_RESUMING

/*
 * mig_arcs[from][to].  Rows and columns that are absent (the invalid states
 * 101b and 111b, and ERROR as a target) are 0: refused.  ERROR is left only
 * by VFIO_DEVICE_RESET, so its row is empty too.  A write of the current
 * state is a no-op that succeeds (QEMU writes SAVING while SAVING).
 */
static const u8 mig_arcs[MIG_STATE_NR][MIG_STATE_NR] = {
	[STOP] = {
		[STOP] = ARC_OK,
		[RUN]  = ARC_OK,
		[SAVE] = ARC_OK | ARC_SAVE_NEW,
		[PRE]  = ARC_OK | ARC_SAVE_NEW,
		[RES]  = ARC_OK | ARC_LOAD_NEW,
	},
	[RUN] = {
		[STOP] = ARC_OK,
		[RUN]  = ARC_OK,
		[SAVE] = ARC_OK | ARC_SAVE_NEW,
		[PRE]  = ARC_OK | ARC_SAVE_NEW,
		[RES]  = ARC_OK | ARC_LOAD_NEW,
	},
	[SAVE] = {
		[STOP] = ARC_OK | ARC_SAVE_END,
		[RUN]  = ARC_OK | ARC_SAVE_END,
		[SAVE] = ARC_OK,
	},
	[PRE] = {
		[STOP] = ARC_OK | ARC_SAVE_END,
		[RUN]  = ARC_OK | ARC_SAVE_END,
		[SAVE] = ARC_OK | ARC_SAVE_FINAL,
		[PRE]  = ARC_OK,
	},
	[RES] = {
		[STOP] = ARC_OK | ARC_LOAD_DONE,
		[RUN]  = ARC_OK | ARC_LOAD_DONE,
		[RES]  = ARC_OK,
	},
};

static const char * const mig_state_names[MIG_STATE_NR] = {
	[STOP] = "STOP",
	[RUN] = "RUNNING",
	[SAVE] = "SAVING",
	[PRE] = "PRECOPY",
	[RES] = "RESUMING",
	[MIG_STATE_ERROR] = "ERROR",
};

/**
 * mig_state_name() - name of a device state
 * @state: a device_state value
 *
 * Return: "STOP", "RUNNING", ... or "INVALID".
 */
const char *mig_state_name(u32 state)
{
	if (state >= MIG_STATE_NR || !mig_state_names[state])
		return "INVALID";
	return mig_state_names[state];
}

/*
 * v1 owns migration from the moment it takes the device out of RUNNING
 * until it brings it back; the device runs in the states with the RUNNING
 * bit.
 */
static void mig_state_commit(struct mig_mdev_state *st, u32 new)
{
	if (new != st->mig_state)
		dev_dbg(st->vdev.dev, "device_state %s -> %s\n",
			mig_state_name(st->mig_state), mig_state_name(new));
	st->mig_state = new;
	st->owner = new == RUN ? MIG_OWNER_NONE : MIG_OWNER_V1;
	st->stats.transitions++;
	mig_dev_set_running(&st->dev, new & VFIO_DEVICE_STATE_V1_RUNNING);
}

/*
 * What a v1 read of device_state shows while v2 owns migration: the v1
 * state that matches best.  v1 has no P2P states: a device that only serves
 * MMIO reads as running, a pre-copy whose device initiates nothing as
 * PRECOPY.
 */
static const u32 mig_v2_to_v1[] = {
	[VFIO_DEVICE_STATE_ERROR] = MIG_STATE_ERROR,
	[VFIO_DEVICE_STATE_STOP] = STOP,
	[VFIO_DEVICE_STATE_RUNNING] = RUN,
	[VFIO_DEVICE_STATE_STOP_COPY] = SAVE,
	[VFIO_DEVICE_STATE_RESUMING] = RES,
	[VFIO_DEVICE_STATE_RUNNING_P2P] = RUN,
	[MIG_V2_STATE_PRE_COPY] = PRE,
	[MIG_V2_STATE_PRE_COPY_P2P] = PRE,
};

/**
 * mig_state_v1_view() - device_state as a v1 read shows it
 * @st: the instance
 *
 * Context: st->lock held.
 * Return: the v1 state; while v2 owns migration, its state mapped to v1.
 */
u32 mig_state_v1_view(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	if (st->owner == MIG_OWNER_V2 && st->v2.state < ARRAY_SIZE(mig_v2_to_v1))
		return mig_v2_to_v1[st->v2.state];
	return st->mig_state;
}

/**
 * mig_state_set() - a write of device_state
 * @st: the instance
 * @new: the value user space wrote
 *
 * Context: st->lock held.
 * Return: 0; -EBUSY if protocol v2 owns migration; -EINVAL if @new has
 * reserved bits, is not a state user space may request, the arc is refused,
 * or the resume stream is not complete.  On error device_state is
 * unchanged.
 */
int mig_state_set(struct mig_mdev_state *st, u32 new)
{
	u8 arc;

	lockdep_assert_held(&st->lock);
	if (st->owner == MIG_OWNER_V2) {
		st->stats.errors++;
		return -EBUSY;
	}
	if (new & ~MIG_STATE_BITS)
		goto refuse;
	arc = mig_arcs[st->mig_state][new];
	if (!(arc & ARC_OK))
		goto refuse;
	/* The only action that can fail goes first, before anything changes. */
	if ((arc & ARC_LOAD_DONE) && !st->load.done)
		goto refuse;

	if (arc & ARC_SAVE_END)
		mig_save_close(st);
	if (arc & ARC_SAVE_NEW)
		mig_save_open(st, new == SAVE);
	if (arc & ARC_SAVE_FINAL)
		mig_save_set_final(st);
	if (arc & ARC_LOAD_DONE)
		mig_load_close(st);
	if (arc & ARC_LOAD_NEW)
		mig_load_open(st);
	/* A new session shows nothing of the last one. */
	if (arc & (ARC_SAVE_NEW | ARC_LOAD_NEW))
		mig_region_clear(st);
	trace_mig_state(dev_name(st->vdev.dev), st->mig_state, new, 0);
	mig_state_commit(st, new);
	return 0;

refuse:
	trace_mig_state(dev_name(st->vdev.dev), st->mig_state, new, -EINVAL);
	st->stats.errors++;
	dev_dbg(st->vdev.dev, "device_state %s -> %#x refused\n",
		mig_state_name(st->mig_state), new);
	return -EINVAL;
}

/**
 * mig_state_error() - the device hit an error it cannot undo
 * @st: the instance
 *
 * Drops any session and enters ERROR, which only VFIO_DEVICE_RESET leaves.
 *
 * Context: st->lock held.
 */
void mig_state_error(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	mig_state_drop(st);
	st->stats.errors++;
	trace_mig_state(dev_name(st->vdev.dev), st->mig_state, MIG_STATE_ERROR,
			-EIO);
	dev_dbg(st->vdev.dev, "device_state %s -> ERROR\n",
		mig_state_name(st->mig_state));
	st->mig_state = MIG_STATE_ERROR;
	st->owner = MIG_OWNER_V1;
	mig_dev_set_running(&st->dev, false);
}

/**
 * mig_state_drop() - drop any session (close, reset, ERROR)
 * @st: the instance
 *
 * The data section is cleared with it.  The caller sets the state that
 * follows.
 *
 * Context: st->lock held.
 */
void mig_state_drop(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	mig_save_close(st);
	mig_load_close(st);
	mig_region_clear(st);
}
