// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: migration protocol v2 (VFIO_DEVICE_FEATURE_MIGRATION).
 *
 * The vfio core hands a requested state to mig_v2_set_state(), which walks
 * the path to it one arc at a time: vfio_mig_get_next_state() names the
 * next state, and a const table says what each arc does (open or end a
 * session, let the device run or stop it), as mig_state.c does for v1.
 *
 * The stream travels through a data_fd, an anonymous file: read() of a save
 * fd runs the generator of mig_stream.c, write() of a resume fd feeds its
 * parser.  The v1 region's chunks call the same two functions, so both
 * protocols carry the same stream, and this file knows nothing of chunks,
 * regions or PCI.
 *
 * Ownership (PROTOCOL.md, "Protocol v2 beside v1"): v2 owns migration from
 * the arc that leaves RUNNING until the device is back in RUNNING, reset
 * or closed; meanwhile the v1 region refuses its accesses, and while v1
 * owns, every request here gets -EBUSY.
 *
 * Locking: the states and sessions are st->lock's, like v1's.  A data_fd
 * has a mutex of its own that serializes the fd's callers and guards its
 * bounce buffer; it is taken before the DMA lock and st->lock (mig.h), and
 * user memory is copied with only that mutex held: page data of a save
 * straight from device memory, one copy a byte (mig_v2_read()); a resume's
 * user pages are pinned, and the parser reads them under st->lock, where
 * they cannot fault (mig_v2_write()).  The paths that may stop the device
 * take the DMA lock too (mig_lock()).  The fd holds a reference on the
 * vfio device, so the instance (and its device memory) outlives it; once
 * its session ended, the fd only answers -EINVAL.
 */
#include <linux/anon_inodes.h>
#include <linux/compat.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "mig.h"
#include <trace/mig_trace.h>

/* The data_fd's bounce buffer: the most a read() or write() moves at once. */
#define MIG_V2_BUF		SZ_64K
/* The most page data a read() takes in place at once (under st->lock). */
#define MIG_V2_SPAN		SZ_1M
/* The user pages a write() pins for one piece of MIG_V2_BUF bytes. */
#define MIG_V2_PIN		(MIG_V2_BUF / PAGE_SIZE + 1)

/**
 * struct mig_v2_file - a data_fd
 * @filp: its file
 * @st: the instance; the file holds a reference on its vfio device
 * @lock: serializes read(), write() and ioctl() of the fd; guards @buf,
 *        @pages, @head, @tail, @mem_off and @mem_left (which
 *        mig_v2_unread() also reads, under st->lock).  Taken before
 *        st->lock.
 * @ended: its session ended; every later call gets -EINVAL (st->lock)
 * @buf: bounce buffer, MIG_V2_BUF bytes
 * @pages: a resume fd's pinned user pages of the piece being written,
 *         MIG_V2_PIN of them; NULL for a save fd
 * @head: first byte of @buf a save fd has not returned yet
 * @tail: end of the bytes in @buf; @head < @tail only after a read() whose
 *        copy to user memory faulted: those bytes are returned next
 * @mem_off: offset in device memory of the next page data byte a save fd
 *           returns, while @mem_left is not 0
 * @mem_left: bytes of page data the generator emitted in place that read()
 *            has not returned yet; not 0 only after a read() whose copy out
 *            of device memory faulted, or stopped short: those bytes are
 *            returned next, read from device memory then
 *
 * At most one of the two pending spans (@head < @tail, @mem_left) is not
 * empty: the next bytes of the stream are taken only when both are.
 */
struct mig_v2_file {
	struct file *filp;
	struct mig_mdev_state *st;
	struct mutex lock;	/* see above */
	bool ended;
	u8 *buf;
	struct page **pages;
	size_t head;
	size_t tail;
	u64 mem_off;
	size_t mem_left;
};

#define STOP		VFIO_DEVICE_STATE_STOP
#define RUN		VFIO_DEVICE_STATE_RUNNING
#define COPY		VFIO_DEVICE_STATE_STOP_COPY
#define RES		VFIO_DEVICE_STATE_RESUMING
#define P2P		VFIO_DEVICE_STATE_RUNNING_P2P
#define PRE		MIG_V2_STATE_PRE_COPY
#define PRE_P2P		MIG_V2_STATE_PRE_COPY_P2P
#define ERROR		VFIO_DEVICE_STATE_ERROR

/* Actions of an arc, performed in this order. */
#define ARC_OK		BIT(0)	/* the arc is allowed */
#define ARC_LOAD_DONE	BIT(1)	/* leave RESUMING: needs a verified stream */
#define ARC_SAVE_END	BIT(2)	/* end the save session and its fd */
#define ARC_SAVE_NEW	BIT(3)	/* open a save session and its fd */
#define ARC_SAVE_FINAL	BIT(4)	/* pre-copy -> STOP_COPY, same session, fd */
#define ARC_LOAD_NEW	BIT(5)	/* clean device, open a resume fd */

/*
 * mig_v2_arcs[from][to]: the single arcs of the v2 uapi comment that a
 * device with STOP_COPY, P2P and PRE_COPY implements (the core walks every
 * other path through them), plus the two arcs of a device without P2P.
 * ERROR is left only by VFIO_DEVICE_RESET; everything else is 0: refused.
 */
static const u8 mig_v2_arcs[MIG_V2_NR_STATES][MIG_V2_NR_STATES] = {
	[STOP] = {
		[RUN]     = ARC_OK,
		[P2P]     = ARC_OK,
		[COPY]    = ARC_OK | ARC_SAVE_NEW,
		[RES]     = ARC_OK | ARC_LOAD_NEW,
	},
	[RUN] = {
		[STOP]    = ARC_OK,
		[P2P]     = ARC_OK,
		[PRE]     = ARC_OK | ARC_SAVE_NEW,
	},
	[P2P] = {
		[RUN]     = ARC_OK,
		[STOP]    = ARC_OK,
		[PRE_P2P] = ARC_OK | ARC_SAVE_NEW,
	},
	[PRE] = {
		[RUN]     = ARC_OK | ARC_SAVE_END,
		[PRE_P2P] = ARC_OK,
		[COPY]    = ARC_OK | ARC_SAVE_FINAL,
	},
	[PRE_P2P] = {
		[PRE]     = ARC_OK,
		[P2P]     = ARC_OK | ARC_SAVE_END,
		[COPY]    = ARC_OK | ARC_SAVE_FINAL,
	},
	[COPY] = {
		[STOP]    = ARC_OK | ARC_SAVE_END,
	},
	[RES] = {
		[STOP]    = ARC_OK | ARC_LOAD_DONE,
	},
};

/* The states in which the device starts work of its own. */
static bool mig_v2_runs(u32 state)
{
	return state == RUN || state == PRE;
}

static const char * const mig_v2_names[MIG_V2_NR_STATES] = {
	[ERROR] = "ERROR",
	[STOP] = "STOP",
	[RUN] = "RUNNING",
	[COPY] = "STOP_COPY",
	[RES] = "RESUMING",
	[P2P] = "RUNNING_P2P",
	[PRE] = "PRE_COPY",
	[PRE_P2P] = "PRE_COPY_P2P",
};

/**
 * mig_v2_state_name() - name of a v2 state
 * @state: an enum vfio_device_mig_state value
 *
 * Return: "STOP", "STOP_COPY", ... or "INVALID".
 */
const char *mig_v2_state_name(u32 state)
{
	return state < MIG_V2_NR_STATES ? mig_v2_names[state] : "INVALID";
}

/**
 * mig_v2_flags() - the migration flags of a device that offers v2
 *
 * Return: STOP_COPY | P2P, and PRE_COPY where the kernel defines it.
 */
u32 mig_v2_flags(void)
{
	return VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
	       MIG_V2_FLAG_PRE_COPY;
}

/* What v2 GET_STATE shows while v1 owns migration. */
static u32 mig_v2_from_v1(u32 v1)
{
	switch (v1) {
	case MIG_STATE_STOP:
		return STOP;
	case MIG_STATE_SAVING:
		return COPY;
	case MIG_STATE_PRECOPY:
		/* Without PRE_COPY a v2 client knows no running save. */
		return MIG_V2_FLAG_PRE_COPY ? PRE : RUN;
	case MIG_STATE_RESUMING:
		return RES;
	case MIG_STATE_ERROR:
		return ERROR;
	default:
		return RUN;
	}
}

/**
 * mig_v2_view() - the state a v2 GET_STATE reports
 * @st: the instance
 *
 * Context: st->lock held.
 * Return: the v2 state; while v1 owns migration, its state mapped to v2.
 */
u32 mig_v2_view(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	if (st->owner == MIG_OWNER_V1)
		return mig_v2_from_v1(st->mig_state);
	return st->v2.state;
}

/* The session's fd, if any, answers -EINVAL from now on.  Context: lock. */
static void mig_v2_end_file(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	if (st->v2.file) {
		st->v2.file->ended = true;
		st->v2.file = NULL;
	}
}

static void mig_v2_enter(struct mig_mdev_state *st, u32 state)
{
	trace_mig_v2_state(dev_name(st->vdev.dev), st->v2.state, state, 0);
	dev_dbg(st->vdev.dev, "v2 %s -> %s\n", mig_v2_state_name(st->v2.state),
		mig_v2_state_name(state));
	st->v2.state = state;
	st->owner = state == RUN ? MIG_OWNER_NONE : MIG_OWNER_V2;
	st->stats.transitions++;
	mig_dev_set_running(&st->dev, mig_v2_runs(state));
}

/* A stream that cannot be undone was refused.  Context: st->lock held. */
static void mig_v2_error(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	mig_v2_end_file(st);
	mig_state_drop(st);
	st->stats.errors++;
	trace_mig_v2_state(dev_name(st->vdev.dev), st->v2.state, ERROR, -EIO);
	dev_dbg(st->vdev.dev, "v2 %s -> ERROR\n",
		mig_v2_state_name(st->v2.state));
	st->v2.state = ERROR;
	st->owner = MIG_OWNER_V2;
	mig_dev_set_running(&st->dev, false);
}

/**
 * mig_v2_drop() - end any v2 session (reset, close)
 * @st: the instance
 *
 * The data_fd, if any, answers -EINVAL from now on; the v2 state is
 * RUNNING.  The caller drops the sessions themselves and sets the owner.
 *
 * Context: st->lock held.
 */
void mig_v2_drop(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	mig_v2_end_file(st);
	st->v2.state = RUN;
}

/* ---- the data_fd ---- */

/*
 * Take the next bytes of the stream, at most @max: page data of the record
 * in progress stays in device memory (@mem_off, @mem_left), the rest is
 * copied into @migf's buffer.  Bytes a faulted read() left are returned
 * first.  Return: bytes pending, 0 at the end, -ENOMSG if caught up in
 * pre-copy, -EINVAL once the session ended.
 */
static ssize_t mig_v2_fill(struct mig_v2_file *migf, size_t max)
{
	struct mig_mdev_state *st = migf->st;
	ssize_t ret;
	u64 mem_off;
	size_t n;

	mutex_lock(&st->lock);
	if (migf->ended) {
		ret = -EINVAL;
	} else if (migf->head < migf->tail) {
		ret = migf->tail - migf->head;
	} else if (migf->mem_left) {
		ret = migf->mem_left;
	} else {
		n = mig_save_fill_span(st, migf->buf, MIG_V2_BUF, max,
				       &mem_off);
		if (mem_off != U64_MAX) {
			migf->head = 0;
			migf->tail = 0;
			migf->mem_off = mem_off;
			WRITE_ONCE(migf->mem_left, n);
		} else {
			migf->head = 0;
			migf->tail = n;
		}
		if (n) {
			st->stats.chunks_saved++;
			st->stats.bytes_saved += n;
			/* read() copies all of it out (counted ahead). */
			st->stats.user_out += n;
		}
		/* Nothing now: caught up in pre-copy, the end in STOP_COPY. */
		ret = n ? n : st->save.final ? 0 : -ENOMSG;
	}
	mutex_unlock(&st->lock);
	return ret;
}

/*
 * Copy up to @len pending bytes to @ubuf: the buffered ones (all or none),
 * or page data straight from device memory, with no lock but @migf's
 * (mig_dev_mem_to_user()).  Return: bytes copied; -EFAULT if none.
 */
static ssize_t mig_v2_copy_out(struct mig_v2_file *migf, char __user *ubuf,
			       size_t len)
{
	size_t n, left;

	if (migf->head < migf->tail) {
		n = min_t(size_t, len, migf->tail - migf->head);
		if (copy_to_user(ubuf, migf->buf + migf->head, n))
			return -EFAULT;
		WRITE_ONCE(migf->head, migf->head + n);
		return n;
	}
	n = min_t(size_t, len, migf->mem_left);
	left = mig_dev_mem_to_user(&migf->st->dev, migf->mem_off, ubuf, n);
	/* What reached user memory is returned; the rest stays pending. */
	n -= left;
	migf->mem_off += n;
	WRITE_ONCE(migf->mem_left, migf->mem_left - n);
	return n ? n : -EFAULT;
}

/*
 * read() of a save fd: one copy a byte of page data, from device memory to
 * user memory; headers and tail records go through the bounce buffer.  The
 * generator is advanced under st->lock, the copy runs without it.  A copy
 * that faults returns what it copied (EFAULT if nothing); the bytes the
 * generator emitted but the caller did not get stay pending and are the
 * first the next read() returns, so the stream has no hole.
 */
static ssize_t mig_v2_read(struct file *filp, char __user *ubuf, size_t len,
			   loff_t *pos)
{
	struct mig_v2_file *migf = filp->private_data;
	ssize_t done = 0, ret = 0;
	size_t want;

	if (pos)
		return -ESPIPE;
	mutex_lock(&migf->lock);
	while (len) {
		ret = mig_v2_fill(migf, min_t(size_t, len, MIG_V2_SPAN));
		if (ret <= 0)
			break;
		want = min_t(size_t, len, ret);
		ret = mig_v2_copy_out(migf, ubuf + done, want);
		if (ret < 0)
			break;
		done += ret;
		len -= ret;
		if (ret < want) {
			ret = -EFAULT;
			break;
		}
		/* A huge count against a busy engine: let a signal end it. */
		if (signal_pending(current))
			break;
		cond_resched();
	}
	mutex_unlock(&migf->lock);
	return done ? done : ret;
}

/*
 * Apply a piece of the stream to the resume session: @len bytes of @migf's
 * buffer (@npages 0), or of its @npages pinned user pages from byte @off
 * of the first, which the parser reads in place.
 */
static int mig_v2_feed(struct mig_v2_file *migf, int npages, size_t off,
		       size_t len)
{
	struct mig_mdev_state *st = migf->st;
	size_t done = 0, part;
	const void *src;
	int i, ret = 0;

	/* A refused stream may stop the device (ERROR). */
	mig_lock(st);
	if (migf->ended) {
		ret = -EINVAL;
		goto out;
	}
	/*
	 * The parser reads its input once and validates the copy (a v1
	 * section is user-mappable too), so pages their owner may change
	 * meanwhile are as good an input as the bounce buffer: nothing of
	 * them is applied unless it passed the parser's checks, and the END
	 * digest covers every byte.  A pinned page cannot fault: no user
	 * memory access happens here.
	 */
	if (!npages) {
		ret = mig_load_feed(st, migf->buf, len);
		if (!ret)
			st->stats.user_in += len;
	}
	for (i = 0; i < npages && done < len && !ret; i++, off = 0) {
		part = min_t(size_t, len - done, PAGE_SIZE - off);
		src = kmap_local_page(migf->pages[i]);
		ret = mig_load_feed(st, src + off, part);
		kunmap_local(src);
		done += part;
	}
	mig_load_account(st, len, ret);
	/*
	 * As in v1: a stream refused before it changed the device starts
	 * over from a stream header; one refused after leaves ERROR.
	 */
	if (ret && st->load.applied)
		mig_v2_error(st);
out:
	mig_unlock(st);
	return ret;
}

/*
 * Pin the user pages that hold up to @len bytes at @ubuf, read-only and
 * short term; unpinned by the caller.  Return: the bytes the pinned pages
 * cover (a prefix of the @len), 0 if none could be pinned (memory that GUP
 * cannot pin, such as a PFN mapping, or a fault: the bounce path decides).
 */
static size_t mig_v2_pin(struct mig_v2_file *migf, const char __user *ubuf,
			 size_t len, int *npages)
{
	unsigned long start = (unsigned long)ubuf;
	size_t off = offset_in_page(start);
	int nr = DIV_ROUND_UP(off + len, PAGE_SIZE);

	*npages = pin_user_pages_fast(start & PAGE_MASK, nr, 0, migf->pages);
	if (*npages <= 0) {
		*npages = 0;
		return 0;
	}
	return min_t(size_t, len, (size_t)*npages * PAGE_SIZE - off);
}

/*
 * write() of a resume fd: one copy a byte.  Each piece's user pages are
 * pinned with only @migf's mutex held (pinning may fault, and wait for as
 * long as the memory's owner likes), then the parser copies from them
 * straight into device memory under st->lock, as it copies from the
 * bounce buffer.  Memory that cannot be pinned goes through the bounce
 * buffer, copied with copy_from_user() before st->lock.  A piece that
 * faults ends the write() short: it returns the bytes applied, EFAULT if
 * none; the caller goes on from there.
 */
static ssize_t mig_v2_write(struct file *filp, const char __user *ubuf,
			    size_t len, loff_t *pos)
{
	struct mig_v2_file *migf = filp->private_data;
	ssize_t done = 0;
	int npages, ret = 0;
	size_t n;

	if (pos)
		return -ESPIPE;
	mutex_lock(&migf->lock);
	while (len) {
		n = mig_v2_pin(migf, ubuf + done, min_t(size_t, len, MIG_V2_BUF),
			       &npages);
		if (n) {
			ret = mig_v2_feed(migf, npages,
					  offset_in_page(ubuf + done), n);
			unpin_user_pages(migf->pages, npages);
		} else {
			n = min_t(size_t, len, MIG_V2_BUF);
			if (copy_from_user(migf->buf, ubuf + done, n)) {
				ret = -EFAULT;
				break;
			}
			ret = mig_v2_feed(migf, 0, 0, n);
		}
		if (ret)
			break;
		done += n;
		len -= n;
		/* A huge count against a busy engine: let a signal end it. */
		if (signal_pending(current))
			break;
		cond_resched();
	}
	mutex_unlock(&migf->lock);
	/* A refused stream is reported even after earlier pieces went in. */
	if (ret && ret != -EFAULT)
		return ret;
	return done ? done : ret;
}

/* Bytes a save fd holds that read() has not returned.  Context: st->lock. */
static u64 mig_v2_unread(struct mig_mdev_state *st)
{
	struct mig_v2_file *migf = st->v2.file;

	/* The fill runs under st->lock; a reader only moves head up. */
	return migf ? migf->tail - min(READ_ONCE(migf->head), migf->tail) +
		      READ_ONCE(migf->mem_left) : 0;
}

#ifdef VFIO_MIG_GET_PRECOPY_INFO
static long mig_v2_precopy_info(struct mig_v2_file *migf, void __user *arg)
{
	struct mig_mdev_state *st = migf->st;
	struct vfio_precopy_info info;
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	u64 initial, dirty, unread;
	int ret = 0;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;

	mutex_lock(&migf->lock);
	mutex_lock(&st->lock);
	if (migf->ended || (st->v2.state != PRE && st->v2.state != PRE_P2P)) {
		ret = -EINVAL;
	} else {
		mig_save_precopy_info(st, &initial, &dirty);
		unread = migf->tail - migf->head + migf->mem_left;
		if (st->save.initial)
			initial += unread;
		else
			dirty += unread;
	}
	mutex_unlock(&st->lock);
	mutex_unlock(&migf->lock);
	if (ret)
		return ret;
	info.initial_bytes = initial;
	info.dirty_bytes = dirty;
	info.flags = 0;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}
#endif

static long mig_v2_ioctl(struct file *filp, unsigned int cmd,
			 unsigned long arg)
{
#ifdef VFIO_MIG_GET_PRECOPY_INFO
	if (cmd == VFIO_MIG_GET_PRECOPY_INFO)
		return mig_v2_precopy_info(filp->private_data,
					   (void __user *)arg);
#endif
	return -ENOTTY;
}

static int mig_v2_release(struct inode *inode, struct file *filp)
{
	struct mig_v2_file *migf = filp->private_data;
	struct mig_mdev_state *st = migf->st;

	/* A session whose fd is gone goes on until its state ends it. */
	mutex_lock(&st->lock);
	if (st->v2.file == migf)
		st->v2.file = NULL;
	mutex_unlock(&st->lock);
	put_device(&st->vdev.device);
	mutex_destroy(&migf->lock);
	kfree(migf->pages);
	kvfree(migf->buf);
	kfree(migf);
	return 0;
}

static const struct file_operations mig_v2_save_fops = {
	.owner		= THIS_MODULE,
	.read		= mig_v2_read,
	.unlocked_ioctl	= mig_v2_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= mig_v2_release,
};

static const struct file_operations mig_v2_resume_fops = {
	.owner		= THIS_MODULE,
	.write		= mig_v2_write,
	.release	= mig_v2_release,
};

/* A new data_fd for the session an arc is about to open.  Context: lock. */
static struct mig_v2_file *mig_v2_file_new(struct mig_mdev_state *st,
					   bool save)
{
	struct mig_v2_file *migf;
	struct file *filp;

	migf = kzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	migf->buf = kvmalloc(MIG_V2_BUF, GFP_KERNEL_ACCOUNT);
	if (!save)
		migf->pages = kcalloc(MIG_V2_PIN, sizeof(*migf->pages),
				      GFP_KERNEL_ACCOUNT);
	if (!migf->buf || (!save && !migf->pages)) {
		kfree(migf->pages);
		kvfree(migf->buf);
		kfree(migf);
		return ERR_PTR(-ENOMEM);
	}
	mutex_init(&migf->lock);
	migf->st = st;
	filp = anon_inode_getfile("mig_mdev_data", save ? &mig_v2_save_fops :
				  &mig_v2_resume_fops, migf,
				  save ? O_RDONLY : O_WRONLY);
	if (IS_ERR(filp)) {
		mutex_destroy(&migf->lock);
		kfree(migf->pages);
		kvfree(migf->buf);
		kfree(migf);
		return ERR_CAST(filp);
	}
	stream_open(filp->f_inode, filp);
	migf->filp = filp;
	get_device(&st->vdev.device);
	return migf;
}

/*
 * Perform the single arc from the current state to @next.  Anything that
 * can fail comes before anything changes, so a refused arc leaves the
 * state as it was.  Context: st->lock held.
 */
static struct file *mig_v2_step(struct mig_mdev_state *st, u32 next)
{
	u32 cur = st->v2.state;
	struct mig_v2_file *migf = NULL;
	u8 arc = 0;

	if (cur < MIG_V2_NR_STATES && next < MIG_V2_NR_STATES)
		arc = mig_v2_arcs[cur][next];
	if (!(arc & ARC_OK))
		return ERR_PTR(-EINVAL);
	if ((arc & ARC_LOAD_DONE) && !st->load.done)
		return ERR_PTR(-EINVAL);
	if (arc & (ARC_SAVE_NEW | ARC_LOAD_NEW)) {
		migf = mig_v2_file_new(st, arc & ARC_SAVE_NEW);
		if (IS_ERR(migf))
			return ERR_CAST(migf);
	}

	if (arc & (ARC_SAVE_END | ARC_LOAD_DONE | ARC_SAVE_NEW | ARC_LOAD_NEW))
		mig_v2_end_file(st);
	if (arc & ARC_SAVE_END)
		mig_save_close(st);
	if (arc & ARC_LOAD_DONE)
		mig_load_close(st);
	if (arc & ARC_SAVE_NEW)
		mig_save_open(st, next == COPY);
	if (arc & ARC_SAVE_FINAL)
		mig_save_set_final(st);
	if (arc & ARC_LOAD_NEW)
		mig_load_open(st);
	if (migf)
		st->v2.file = migf;
	mig_v2_enter(st, next);
	return migf ? migf->filp : NULL;
}

/*
 * Arcs the core cannot plan safely on every kernel we run: from ERROR it
 * WARNs, and STOP_COPY -> PRE_COPY(_P2P) loops forever before 6.12.96.
 */
static bool mig_v2_refused(u32 cur, u32 new)
{
	return cur == ERROR ||
	       (cur == COPY && (new == PRE || new == PRE_P2P));
}

static struct file *mig_v2_set_state(struct vfio_device *vdev,
				     enum vfio_device_mig_state new)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);
	enum vfio_device_mig_state next;
	struct file *res = NULL, *stray = NULL;
	int ret;

	/* The arcs that stop the device stop its DMA: the DMA lock first. */
	mig_lock(st);
	if (st->owner == MIG_OWNER_V1) {
		res = ERR_PTR(-EBUSY);
		goto out;
	}
	if (mig_v2_refused(st->v2.state, new)) {
		res = ERR_PTR(-EINVAL);
		goto out;
	}
	while (st->v2.state != new) {
		ret = vfio_mig_get_next_state(vdev, st->v2.state, new, &next);
		if (ret) {
			res = ERR_PTR(ret);
			break;
		}
		res = mig_v2_step(st, next);
		if (IS_ERR(res))
			break;
		/* The core's paths open a session on their last arc only. */
		if (res && next != new) {
			stray = res;
			res = ERR_PTR(-EINVAL);
			break;
		}
	}
out:
	if (IS_ERR(res)) {
		st->stats.errors++;
		trace_mig_v2_state(dev_name(st->vdev.dev), st->v2.state, new,
				   PTR_ERR(res));
	}
	mig_unlock(st);
	if (stray)
		fput(stray);
	return res;
}

static int mig_v2_get_state(struct vfio_device *vdev,
			    enum vfio_device_mig_state *state)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);

	mutex_lock(&st->lock);
	*state = mig_v2_view(st);
	mutex_unlock(&st->lock);
	return 0;
}

/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: what STOP_COPY would read from now. */
static int __maybe_unused mig_v2_get_data_size(struct vfio_device *vdev,
					       unsigned long *len)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);

	mutex_lock(&st->lock);
	*len = mig_save_final_size(st) + mig_v2_unread(st);
	mutex_unlock(&st->lock);
	return 0;
}

/* The v2 callbacks, named by the vfio_device of an instance that offers v2. */
const struct vfio_migration_ops mig_v2_ops = {
	.migration_set_state	= mig_v2_set_state,
	.migration_get_state	= mig_v2_get_state,
	MIG_V2_DATA_SIZE_OP(mig_v2_get_data_size)
};
