/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mig-mdev: the device model, apart from how it is reached.
 *
 *   mig_cfg.c     the emulated PCI config space
 *   mig_dev.c     BAR0 registers, memory, its dirty log and page hashes,
 *                 the engine, the digest
 *   mig_dma.c     the DMA engine: registers, when it runs, what it writes,
 *                 its stream form
 *
 * These files include this header and kernel headers only: no VFIO or
 * mdev header, and they know no migration protocol.  Their owner (mig.h:
 * the vfio device, the state machines, the stream) tells the device to run
 * or stop (mig_dev_set_running()), that it gains or loses its user
 * (mig_dev_set_user()), and reaches its state through the functions below
 * only.  BARs are numbered as the device numbers them (MIG_BAR_*); which
 * VFIO region reaches which BAR is the owner's business.
 *
 * What the owner must act on, the device says by return value: a BAR0
 * write that rang the doorbell (mig_dev_bar0_write()), a DMA batch whose
 * record raises the interrupt (mig_dma_commit()).  Two things only the
 * owner can do, because they reach guest memory, are functions the owner
 * defines (mig_dma_xfer.c; tools/fuzz-native/dma_stub.c in user space):
 * mig_dma_work(), the DMA engine's tick, and mig_dma_stopped().
 *
 * Locking: the instance lock, *mig_dev.lock (the owner's mutex), guards the
 * fields marked (lock); the DMA lock, mig_dma.lock, those marked (dma), and
 * is taken before the instance lock, never after (mig.h has the whole
 * order).  The engines' work items take the locks themselves.
 */
#ifndef MIG_DEV_H
#define MIG_DEV_H

#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/pci_regs.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/mig_mdev.h>

/* The device's BARs, by PCI BAR number: registers and device memory. */
#define MIG_BAR_REGS	0
#define MIG_BAR_MEM	2

struct page;

/* Module parameters the device model reads (defined in mig_mdev.c). */
extern unsigned int mig_pci_vendor;
extern unsigned int mig_pci_device;
extern unsigned int mig_pci_class;
extern unsigned int mig_engine_max_rate;
extern unsigned int mig_dma_max_rate;
/* The engines' workqueue (mig_mdev.c). */
extern struct workqueue_struct *mig_wq;

/**
 * struct mig_regs - the BAR0 register file (see include/uapi)
 * @control: MIG_REG_CONTROL
 * @status: MIG_REG_STATUS (IRQ bit; ENGINE_ACTIVE is computed on read)
 * @irq_count: MIG_REG_IRQ_COUNT
 * @engine_rate: MIG_REG_ENGINE_RATE, pages per second
 * @engine_seed: MIG_REG_ENGINE_SEED
 * @scratch: MIG_REG_SCRATCH0..
 */
struct mig_regs {
	u32 control;
	u32 status;
	u32 irq_count;
	u32 engine_rate;
	u32 engine_seed;
	u32 scratch[MIG_NR_SCRATCH];
};

/**
 * struct mig_engine - the engine that writes device memory
 * @prng: xorshift64 state; deterministic from the seed
 * @count: pages written since the seed was set
 * @credit_ns: time owed to the engine, carried between ticks
 * @last: time of the last tick
 * @active: the work item is armed (see mig_engine_should_run())
 * @admin: the administrator started it through sysfs; it runs whether or
 *         not the device has a user
 * @user: the device has a user (its fd is open)
 * @work: the tick, on mig_wq
 */
struct mig_engine {
	u64 prng;
	u64 count;
	u64 credit_ns;
	ktime_t last;
	bool active;
	bool admin;
	bool user;
	struct delayed_work work;
};

/**
 * struct mig_dma_regs - the DMA engine's registers (see include/uapi)
 * @control: MIG_REG_DMA_CONTROL, MIG_DMA_CTRL_*
 * @status: MIG_REG_DMA_STATUS: the FAULT bit (ACTIVE is computed on read)
 * @ring: MIG_REG_DMA_RING_LO/HI, the ring's IOVA
 * @ring_pages: MIG_REG_DMA_RING_PAGES
 * @rate: MIG_REG_DMA_RATE, records per second
 * @head: MIG_REG_DMA_HEAD_LO/HI, records written since the ring was set
 * @tail: MIG_REG_DMA_TAIL_LO/HI, records the guest consumed
 * @tail_hi: TAIL_HI as written, waiting for the TAIL_LO write that takes
 *           effect
 * @irq_every: MIG_REG_DMA_IRQ_EVERY
 * @irq_count: MIG_REG_DMA_IRQ_COUNT
 */
struct mig_dma_regs {
	u32 control;
	u32 status;
	u64 ring;
	u32 ring_pages;
	u32 rate;
	u64 head;
	u64 tail;
	u32 tail_hi;
	u32 irq_every;
	u32 irq_count;
};

/**
 * struct mig_dma - the DMA engine
 * @lock: the DMA lock (see the top of this file and mig.h); guards the
 *        fields marked (dma), and the owner's side of the engine, and is
 *        held whenever @active turns false
 * @regs: the registers (lock)
 * @active: the work item is armed: the engine runs (lock, and the DMA
 *          lock to turn it false)
 * @credit_ns: time owed to the engine, carried between ticks (lock)
 * @last: time of the last tick (lock)
 * @work: the tick, on mig_wq; its function is the owner's mig_dma_work()
 * @buf: the records of one write, built outside the instance lock (dma)
 */
struct mig_dma {
	struct mutex lock;	/* see above */
	struct mig_dma_regs regs;
	bool active;
	u64 credit_ns;
	ktime_t last;
	struct delayed_work work;
	void *buf;
};

/**
 * struct mig_dma_batch - records staged for one write
 * @seq: the first record's sequence number (HEAD when staged)
 * @n: records, all in one page of the ring
 * @slots: slots in the ring
 * @iova: where the first one goes
 */
struct mig_dma_batch {
	u64 seq;
	u32 n;
	u32 slots;
	u64 iova;
};

/**
 * struct mig_dev - the device model of one instance
 * @lock: the instance lock, the owner's mutex (set by mig_dev_init());
 *        guards the fields marked (lock)
 * @config: PCI config space (lock)
 * @cfg_wmask: writable bits of each config byte (constant after init)
 * @bar_size: sizes of the BARs, by BAR number (MIG_BAR_*; constant)
 * @regs: BAR0 register file (lock)
 * @engine: the engine (lock)
 * @dma: the DMA engine (its own locking, see struct mig_dma)
 * @mem: device memory, @npages pages, vzalloc'ed (lock)
 * @npages: pages of device memory (constant)
 * @dirty: bitmap of pages written since last sent, @npages bits (lock)
 * @page_hash: xxh64 of each page of @mem, kept current by every writer of
 *             @mem, so that the digest never has to read all of memory (lock)
 * @zero_pending: bitmap of pages that are zero in the device's state (and
 *                in @page_hash) but whose bytes in @mem were not cleared
 *                yet; only a resume session leaves bits set here (lock)
 * @stale_page: a page whose hash is not current yet (a resume stopped
 *              inside it), rehashed before the next digest; -1 if none (lock)
 * @running: the device may start work of its own: its owner let it
 *           (mig_dev_set_running()) (lock)
 */
struct mig_dev {
	struct mutex *lock;	/* the instance lock: see above */
	u8 config[MIG_MDEV_CONFIG_SIZE];
	u8 cfg_wmask[MIG_MDEV_CONFIG_SIZE];
	u64 bar_size[PCI_STD_NUM_BARS];
	struct mig_regs regs;
	struct mig_engine engine;
	struct mig_dma dma;
	u8 *mem;
	u32 npages;
	unsigned long *dirty;
	__le64 *page_hash;
	unsigned long *zero_pending;
	long stale_page;
	bool running;
};

/* mig_cfg.c: PCI config space; callers hold the instance lock */
void mig_cfg_init(struct mig_dev *dev);
int mig_cfg_read(struct mig_dev *dev, u32 off, void *val, size_t len);
int mig_cfg_write(struct mig_dev *dev, u32 off, const void *val, size_t len);
void mig_cfg_save(struct mig_dev *dev, void *out);
int mig_cfg_load(struct mig_dev *dev, const void *rec);
bool mig_cfg_msi_enabled(struct mig_dev *dev);
bool mig_cfg_intx_disabled(struct mig_dev *dev);
bool mig_cfg_bus_master(struct mig_dev *dev);

/* mig_dev.c: the device model; callers hold the instance lock unless noted */
int mig_dev_init(struct mig_dev *dev, struct mutex *lock,
		 u64 mem_size);				/* no lock needed */
void mig_dev_free(struct mig_dev *dev);			/* no lock needed */
void mig_dev_reset(struct mig_dev *dev);
void mig_dev_reset_lazy(struct mig_dev *dev);
void mig_dev_mem_settle(struct mig_dev *dev, u32 first, u32 count);
u64 mig_dev_bar_size(const struct mig_dev *dev, unsigned int bar);
int mig_dev_bar0_read(struct mig_dev *dev, u32 off, u32 *val);
int mig_dev_bar0_write(struct mig_dev *dev, u32 off, u32 val, bool *doorbell);
void mig_dev_mem_read(struct mig_dev *dev, u64 off, void *buf, size_t len);
void mig_dev_mem_write(struct mig_dev *dev, u64 off, const void *buf,
		       size_t len);
void mig_dev_engine_update(struct mig_dev *dev);
u64 mig_dev_due(u32 rate, u64 *credit_ns, ktime_t *last, u32 burst_ms);
void mig_dev_engine_cancel(struct mig_dev *dev);	/* without lock */
u32 mig_dev_engine_rate(struct mig_dev *dev);
u64 mig_dev_engine_count(struct mig_dev *dev);
void mig_dev_mark_dirty(struct mig_dev *dev, u32 first, u32 count);
void mig_dev_mark_all_dirty(struct mig_dev *dev);
bool mig_dev_dirty_run(struct mig_dev *dev, u32 from, u32 to, u32 max,
		       u32 *first, u32 *end);
void mig_dev_dirty_clear(struct mig_dev *dev, u32 first, u32 count);
const void *mig_dev_mem_peek(struct mig_dev *dev, u64 off);
struct page *mig_dev_mem_page(struct mig_dev *dev, u64 off);
size_t mig_dev_mem_to_user(struct mig_dev *dev, u64 off, void __user *buf,
			   size_t len);
void mig_dev_mem_written(struct mig_dev *dev, u32 first, u32 count);
void mig_dev_page_rehash(struct mig_dev *dev, u32 page);
void mig_dev_page_stale(struct mig_dev *dev, u32 page);
void mig_dev_page_load(struct mig_dev *dev, u32 page, const void *src);
void mig_dev_page_load_part(struct mig_dev *dev, u32 page, u32 off,
			    const void *src, size_t len);
u64 mig_dev_digest(struct mig_dev *dev);
void mig_dev_engine_admin(struct mig_dev *dev, u32 rate);
void mig_dev_set_user(struct mig_dev *dev, bool present);
void mig_dev_set_running(struct mig_dev *dev, bool running);
void mig_dev_regs_to_rec(struct mig_dev *dev, struct mig_rec_regs *r);
void mig_dev_regs_from_rec(struct mig_dev *dev, const struct mig_rec_regs *r);
void mig_dev_engine_to_rec(struct mig_dev *dev, struct mig_rec_engine *e);
void mig_dev_engine_from_rec(struct mig_dev *dev,
			     const struct mig_rec_engine *e);

/* Pages of device memory; constant for the instance's life. */
static inline u32 mig_dev_npages(const struct mig_dev *dev)
{
	return dev->npages;
}

/* mig_dma.c: callers hold the instance lock (and the DMA lock) unless noted */
int mig_dma_init(struct mig_dev *dev);			/* no lock needed */
void mig_dma_free(struct mig_dev *dev);			/* no lock needed */
void mig_dma_cancel(struct mig_dev *dev);		/* without locks */
void mig_dma_reset(struct mig_dev *dev);
void mig_dma_update(struct mig_dev *dev);
void mig_dma_disable(struct mig_dev *dev);
u64 mig_dma_slots(const struct mig_dma_regs *r);
int mig_dma_reg_read(struct mig_dev *dev, u32 off, u32 *val);
int mig_dma_reg_write(struct mig_dev *dev, u32 off, u32 val);
void mig_dma_to_rec(struct mig_dev *dev, struct mig_rec_dma *rec);
int mig_dma_from_rec(struct mig_dev *dev, const struct mig_rec_dma *rec);
bool mig_dma_idle(struct mig_dev *dev);
u64 mig_dma_due(struct mig_dev *dev);
bool mig_dma_stage(struct mig_dev *dev, u64 due, struct mig_dma_batch *b);
void mig_dma_build(struct mig_dma_record *rec, const struct mig_dma_batch *b);
bool mig_dma_commit(struct mig_dev *dev, const struct mig_dma_batch *b);
void mig_dma_fault(struct mig_dev *dev);

/*
 * What the owner defines (mig_dma_xfer.c), because it reaches guest memory:
 * mig_dma_work() is the DMA engine's tick (mig_dma.work), which writes the
 * records into the ring; mig_dma_stopped() is called when the engine stops,
 * with both locks held, and drops whatever the writer keeps for a running
 * engine (cached translations).
 */
void mig_dma_work(struct work_struct *work);
void mig_dma_stopped(struct mig_dev *dev);

#endif /* MIG_DEV_H */
