/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mig-mdev: shared definitions of the module's files.
 *
 * The device model (mig_dev.h: mig_cfg.c, mig_dev.c, mig_dma.c) knows
 * nothing of VFIO or of migration; everything else is its owner, and
 * reaches it through mig_dev.h only (st->dev):
 *
 *   mig_mdev.c    mdev parent, types, vfio_device_ops, ioctls, IRQs, sysfs;
 *                 maps VFIO region indexes to the device's BARs
 *   mig_cfg.c     the emulated PCI config space (device model)
 *   mig_dev.c     BAR0 registers, memory, engine, digest (device model)
 *   mig_dma.c     the DMA engine's registers, state, records and stream
 *                 form (device model)
 *   mig_dma_xfer.c the DMA engine's work item: the writes into guest memory
 *   mig_dma_log.c device dirty tracking of the DMA engine's writes (v2)
 *   mig_state.c   the v1 device_state machine
 *   mig_region.c  the migration region: header traps, data section, mmap
 *   mig_v2.c      protocol v2: the migration feature's states and data_fd
 *   mig_stream.c  the stream format: save generator, resume parser
 *   mig_debugfs.c per-instance statistics
 *   mig_trace.c   tracepoints (include/trace/mig_trace.h)
 *
 * Locking: each instance has one mutex, mig_mdev_state.lock.  It guards
 * everything in struct mig_mdev_state below it (marked "lock"), and the
 * device model's fields marked so (struct mig_dev, whose lock pointer is
 * &st->lock).  It is taken by the vfio callbacks, the sysfs attributes,
 * debugfs and the engine's work item, and never nests inside another lock
 * of this driver.  The only other lock, mig_budget_lock (mig_mdev.c),
 * guards the memory budget and is never held together with an instance
 * lock.  A v2 data_fd has a mutex of its own
 * (struct mig_v2_file in mig_v2.c), taken before st->lock, never after.
 *
 * The DMA lock, st->dev.dma.lock, is taken before st->lock, never after, and
 * after a data_fd's mutex.  It is held by the DMA engine's work item across
 * each write into guest memory (which st->lock must not be), and by every
 * path that can stop the engine or change its ring (mig_lock()), so that
 * when such a path has the lock no DMA write is in flight, and when it
 * stops the engine under it, no write happens after it returns.
 * Order: migf->lock -> st->dev.dma.lock -> st->lock.
 */
#ifndef MIG_H
#define MIG_H

#include <linux/eventfd.h>
#include <linux/mdev.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/vfio.h>
#include <linux/workqueue.h>
#include <linux/mig_mdev_v1.h>

#include "mig_compat.h"
#include "mig_dev.h"

/* Device fd offsets: the region index above MIG_OFFSET_SHIFT. */
#define MIG_OFFSET_SHIFT	40
#define MIG_OFFSET_MASK		((1ULL << MIG_OFFSET_SHIFT) - 1)

struct dentry;
struct page;
struct vm_area_struct;
struct mig_dma_log;

/**
 * struct mig_type - an mdev type
 * @mtype: the mdev core's type; container_of() leads here
 * @stream_type: MIG_TYPE_* written into the stream
 * @mem_size: device memory of an instance, bytes (whole pages)
 */
struct mig_type {
	struct mdev_type mtype;
	u32 stream_type;
	u64 mem_size;
};

/**
 * struct mig_dma_io - the DMA engine's way into guest memory (mig_dma_xfer.c,
 *                     mig_dma_log.c); all guarded by the DMA lock
 * @cache: test_hide_dma_dirty only: the ring's pages, translated and
 *         referenced when the engine started, or NULL
 * @cache_iova: the IOVA @cache starts at
 * @cache_pages: pages in @cache
 * @log: the device dirty log of protocol v2, or NULL
 */
struct mig_dma_io {
	struct page **cache;
	u64 cache_iova;
	u32 cache_pages;
	struct mig_dma_log *log;
};

/**
 * struct mig_save - a save session (stream generator)
 * @active: a session is open
 * @final: stop-and-copy: the tail records may be emitted
 * @header_sent: the stream header has been emitted
 * @tail: next tail record to emit (0 none yet, then MIG_REC_CONFIG ..)
 * @done: MIG_REC_END has been emitted
 * @initial: the first pass over device memory is not complete yet
 * @cursor: next page index to scan for dirty pages
 * @item: staged bytes of the record being emitted (header part)
 * @item_len: valid bytes in @item
 * @item_off: bytes of @item already emitted
 * @run_first: first page of the MIG_REC_PAGES record being emitted
 * @run_count: pages in it (0 if the item is not a page record)
 * @run_off: page-data bytes of it already emitted
 * @stream_len: bytes emitted so far
 * @queued: a v1 chunk is queued (data_offset read since the last
 *          pending_bytes read); the chunk queue belongs to the session, so
 *          opening, closing or turning it final drops it
 * @queued_size: data_size of the queued chunk
 * @queued_offset: data_offset of the queued chunk: the data section, or
 *                 the window onto device memory (mig_region.c)
 * @seq: number of the last chunk queued, counting from 1 and never reset,
 *       so that a header read that returns before it retires a chunk
 *       retires that one only, even across sessions
 */
struct mig_save {
	bool active;
	bool final;
	bool header_sent;
	bool done;
	bool initial;
	u32 tail;
	u32 cursor;
	u8 item[sizeof(struct mig_rec_header) + MIG_MDEV_CONFIG_SIZE];
	u32 item_len;
	u32 item_off;
	u32 run_first;
	u32 run_count;
	u64 run_off;
	u64 stream_len;
	bool queued;
	u64 queued_size;
	u64 queued_offset;
	u64 seq;
};

/**
 * struct mig_load - a resume session (streaming parser)
 * @active: a session is open
 * @applied: some byte of the stream changed the device
 * @done: MIG_REC_END was parsed and the digest matched
 * @phase: what the next bytes are (see mig_stream.c)
 * @buf: bytes of a header or a small payload collected so far
 * @have: valid bytes in @buf
 * @need: bytes @buf must hold before it is parsed
 * @rec_type: type of the record being parsed
 * @version: the stream's format version, once its header was parsed
 * @page: next page to write while in page data
 * @page_end: one past the last page of the record
 * @page_off: bytes of the current page written
 * @stream_len: bytes parsed so far
 */
struct mig_load {
	bool active;
	bool applied;
	bool done;
	u32 phase;
	u8 buf[MIG_MDEV_CONFIG_SIZE];
	u32 have;
	u32 need;
	u32 rec_type;
	u32 version;
	u32 page;
	u32 page_end;
	u32 page_off;
	u64 stream_len;
};

/**
 * struct mig_region - the migration region's layout and data section
 * @section: the data section, vmalloc_user(), mapped by user space
 * @section_size: its size in bytes (whole pages, fixed at creation)
 * @data_offset: region offset of @section (page aligned, fixed)
 * @window_offset: region offset of the window onto device memory, right
 *                 after @section; 0 if the instance has no window
 *                 (module parameter zerocopy off at creation)
 * @window_size: its size: device memory, whole pages; 0 without a window
 *
 * All constant after creation.  The bytes of @section are not guarded by
 * the lock: user space maps them and pread/pwrite copy them without it.
 */
struct mig_region {
	void *section;
	size_t section_size;
	u64 data_offset;
	u64 window_offset;
	u64 window_size;
};

/* Which protocol owns migration (PROTOCOL.md, "Protocol v2 beside v1"). */
enum mig_owner {
	MIG_OWNER_NONE,
	MIG_OWNER_V1,
	MIG_OWNER_V2,
};

/* The protocols an instance offers (module parameter "protocols"). */
#define MIG_PROTO_V1	BIT(0)
#define MIG_PROTO_V2	BIT(1)

struct mig_v2_file;

/**
 * struct mig_v2 - protocol v2 state of an instance
 * @state: enum vfio_device_mig_state; RUNNING unless v2 owns migration
 * @file: the data_fd of the session in progress, or NULL; the file keeps
 *        its own reference, this one is cleared when the session ends
 */
struct mig_v2 {
	u32 state;
	struct mig_v2_file *file;
};

/**
 * struct mig_stats - counters shown in debugfs
 * @chunks_saved: chunks queued by the save side
 * @bytes_saved: bytes in them
 * @chunks_loaded: chunks applied by the resume side
 * @bytes_loaded: bytes in them
 * @passes: completed pre-copy passes over device memory
 * @transitions: successful device_state changes
 * @errors: rejected writes and failed transitions
 * @resets: VFIO_DEVICE_RESET calls
 * @save_copied: stream bytes the save side copied out of device state
 *               (into the data section or a data_fd buffer)
 * @save_inplace: stream bytes handed out in place, through the window or
 *                a v2 data_fd read() straight from device memory
 * @load_copied: stream bytes the resume parser copied into the device
 * @user_out: bytes copied to user memory by read()/pread() of stream data
 *            (v1 data section or window, v2 data_fd)
 * @user_in: bytes copied from user memory by pwrite()/write() of stream
 *           data into a buffer first (not a data_fd write() of pinned
 *           pages, which the parser reads in place)
 */
struct mig_stats {
	u64 chunks_saved;
	u64 bytes_saved;
	u64 chunks_loaded;
	u64 bytes_loaded;
	u64 passes;
	u64 transitions;
	u64 errors;
	u64 resets;
	u64 save_copied;
	u64 save_inplace;
	u64 load_copied;
	u64 user_out;
	u64 user_in;
};

/**
 * struct mig_mdev_state - one instance
 * @vdev: the vfio device; container_of() leads here
 * @mdev: the mdev device
 * @type: its type
 * @lock: guards every field below it, and the device model's (lock) fields
 * @dev: the device model (mig_dev.h; its own locking notes)
 * @dma_io: the DMA engine's way into guest memory (the DMA lock)
 * @protocols: MIG_PROTO_* this instance offers (constant)
 * @owner: the protocol that owns migration, enum mig_owner (lock)
 * @mig_state: the v1 device_state, MIG_STATE_*; RUNNING unless v1 owns
 *             migration (lock)
 * @v2: protocol v2 state (lock)
 * @save: save session (lock)
 * @load: resume session (lock)
 * @region: the migration region (lock)
 * @stats: debugfs counters (lock)
 * @irq_index: VFIO_PCI_*_IRQ_INDEX with a trigger, or -1 (lock)
 * @intx_trigger: eventfd of INTx (lock)
 * @msi_trigger: eventfd of MSI (lock)
 * @intx_masked: INTx is masked (lock)
 * @debugfs: this instance's debugfs directory
 */
struct mig_mdev_state {
	struct vfio_device vdev;
	struct mdev_device *mdev;
	const struct mig_type *type;
	struct mutex lock;	/* guards the fields below */
	struct mig_dev dev;
	struct mig_dma_io dma_io;
	u32 protocols;
	u32 owner;
	u32 mig_state;
	struct mig_v2 v2;
	struct mig_save save;
	struct mig_load load;
	struct mig_region region;
	struct mig_stats stats;
	int irq_index;
	struct eventfd_ctx *intx_trigger;
	struct eventfd_ctx *msi_trigger;
	bool intx_masked;
	struct dentry *debugfs;
};

/* mig_mdev.c: module parameters, the engine's workqueue, the interrupt */
void mig_irq_raise(struct mig_mdev_state *st);
extern unsigned int mig_section_pages;
extern unsigned int mig_protocols;
extern bool mig_test_hide_dma_dirty;

/*
 * The shortest run whose page data goes out in place.  Each chunk costs a
 * v1 client three trapped header accesses, and QEMU 7.2 takes one chunk a
 * pre-copy iteration: a pass over pages the engine dirtied one here and one
 * there would be a chunk a page, and never converge under a slow kernel.
 * Shorter runs are copied into the section with the headers around them,
 * many to a chunk; a copy of 64 KiB costs less than a chunk's accesses.
 */
#define MIG_INPLACE_MIN_PAGES	16

extern bool mig_zerocopy;

/*
 * mig_dma_xfer.c: the writes; the DMA lock held unless noted.  It also
 * defines mig_dma_work() and mig_dma_stopped() for the device (mig_dev.h).
 */
void mig_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length);

/* mig_dma_log.c: protocol v2 device dirty tracking; the DMA lock held */
extern const struct vfio_log_ops mig_dma_log_ops;
bool mig_dma_log_offered(void);				/* no lock needed */
void mig_dma_log_written(struct mig_mdev_state *st, u64 iova, u64 len);
void mig_dma_log_free(struct mig_mdev_state *st);

/*
 * mig_lock() - take the DMA lock and st->lock, in that order: what every
 * path that may stop the device or change the DMA engine's ring takes.
 */
static inline void mig_lock(struct mig_mdev_state *st)
{
	mutex_lock(&st->dev.dma.lock);
	mutex_lock(&st->lock);
}

static inline void mig_unlock(struct mig_mdev_state *st)
{
	mutex_unlock(&st->lock);
	mutex_unlock(&st->dev.dma.lock);
}

/* mig_state.c */
int mig_state_set(struct mig_mdev_state *st, u32 new_state);
void mig_state_error(struct mig_mdev_state *st);
void mig_state_drop(struct mig_mdev_state *st);
const char *mig_state_name(u32 state);
u32 mig_state_v1_view(struct mig_mdev_state *st);

/* mig_v2.c */
extern const struct vfio_migration_ops mig_v2_ops;
u32 mig_v2_flags(void);
void mig_v2_drop(struct mig_mdev_state *st);
u32 mig_v2_view(struct mig_mdev_state *st);
const char *mig_v2_state_name(u32 state);

/* mig_region.c */
int mig_region_init(struct mig_mdev_state *st);		/* no lock needed */
void mig_region_free(struct mig_mdev_state *st);	/* no lock needed */
u64 mig_region_size(struct mig_mdev_state *st);
int mig_region_info(struct mig_mdev_state *st, struct vfio_region_info *info,
		    struct vfio_info_cap *caps);
ssize_t mig_region_rw(struct mig_mdev_state *st, char __user *buf,
		      size_t count, u64 off, bool write);
int mig_region_mmap(struct mig_mdev_state *st, struct vm_area_struct *vma,
		    u64 off);
void mig_region_clear(struct mig_mdev_state *st);

/* mig_stream.c: callers hold st->lock */
void mig_save_open(struct mig_mdev_state *st, bool final);
void mig_save_set_final(struct mig_mdev_state *st);
void mig_save_close(struct mig_mdev_state *st);
u64 mig_save_pending(struct mig_mdev_state *st);
size_t mig_save_fill(struct mig_mdev_state *st, void *buf, size_t max);
void mig_save_next_inplace(struct mig_mdev_state *st, u64 *mem_off);
size_t mig_save_fill_span(struct mig_mdev_state *st, void *buf, size_t room,
			  size_t max, u64 *mem_off);
size_t mig_save_fill_inplace(struct mig_mdev_state *st, void *buf,
			     size_t max, u64 *mem_off);
void mig_save_unqueue(struct mig_mdev_state *st);
void mig_load_open(struct mig_mdev_state *st);
void mig_load_close(struct mig_mdev_state *st);
int mig_load_feed(struct mig_mdev_state *st, const void *buf, size_t len);
int mig_load_chunk(struct mig_mdev_state *st, const void *buf, size_t len);
void mig_load_account(struct mig_mdev_state *st, size_t len, int ret);
void mig_save_precopy_info(struct mig_mdev_state *st, u64 *initial,
			   u64 *dirty);
u64 mig_save_final_size(struct mig_mdev_state *st);

/* mig_debugfs.c */
void mig_debugfs_init(void);
void mig_debugfs_exit(void);
void mig_debugfs_add(struct mig_mdev_state *st);
void mig_debugfs_remove(struct mig_mdev_state *st);

#endif /* MIG_H */
