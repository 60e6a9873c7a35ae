// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: a sample mediated device with VFIO migration: the v1 region and
 * protocol v2 (VFIO_DEVICE_FEATURE_MIGRATION), on the same device model.
 *
 * This file is the plumbing: module parameters, the parent device and its
 * mdev types, the memory budget, the vfio_device_ops (region reads and
 * writes, ioctls, mmap, interrupts) and the per-instance sysfs attributes.
 * The device itself lives in mig_dev.c and mig_cfg.c, the migration region
 * in mig_region.c, mig_state.c and mig_stream.c, protocol v2 in mig_v2.c.
 *
 * Lock order: mig_budget_lock and an instance's st->lock are never held
 * together; st->lock is the innermost lock of the driver (see mig.h).
 */
#include <linux/device.h>
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/workqueue.h>

#include "mig.h"

#define MIG_NAME		"mig_mdev"
#define MIG_NUM_REGIONS		(VFIO_PCI_NUM_REGIONS + 1)
/*
 * The highest engine_max_rate and dma_max_rate: pages per second (4 GiB/s)
 * and records per second (64 MiB/s).
 */
#define MIG_MAX_RATE_LIMIT	1048576
/* The largest piece of a BAR2 access copied in one go. */
#define MIG_BOUNCE_MAX		SZ_64K

/* ---- module parameters ---- */

static unsigned int small_mem_mb = 4;
module_param(small_mem_mb, uint, 0444);
MODULE_PARM_DESC(small_mem_mb, "Device memory of the small type, MiB (1-1024, default 4)");

static unsigned int large_mem_mb = 64;
module_param(large_mem_mb, uint, 0444);
MODULE_PARM_DESC(large_mem_mb, "Device memory of the large type, MiB (1-1024, default 64)");

static unsigned int mem_budget_mb = 768;
module_param(mem_budget_mb, uint, 0444);
MODULE_PARM_DESC(mem_budget_mb, "Device memory of all instances together, MiB (default 768)");

static int mig_section_pages_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret = kstrtouint(val, 0, &n);

	if (ret || n < 1 || n > 4096) {
		pr_err(MIG_NAME ": section_pages must be 1..4096, not '%s'\n", val);
		return -EINVAL;
	}
	return param_set_uint(val, kp);
}

static const struct kernel_param_ops mig_section_pages_ops = {
	.set = mig_section_pages_set,
	.get = param_get_uint,
};

unsigned int mig_section_pages = 256;
module_param_cb(section_pages, &mig_section_pages_ops, &mig_section_pages, 0644);
MODULE_PARM_DESC(section_pages, "Data section of new instances, pages (1-4096, default 256)");

/* A rate cap, engine_max_rate or dma_max_rate: 1..MIG_MAX_RATE_LIMIT. */
static int mig_max_rate_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret = kstrtouint(val, 0, &n);

	if (ret || n < 1 || n > MIG_MAX_RATE_LIMIT) {
		pr_err(MIG_NAME ": %s must be 1..%u, not '%s'\n", kp->name,
		       MIG_MAX_RATE_LIMIT, val);
		return -EINVAL;
	}
	return param_set_uint(val, kp);
}

static const struct kernel_param_ops mig_max_rate_ops = {
	.set = mig_max_rate_set,
	.get = param_get_uint,
};

unsigned int mig_engine_max_rate = 131072;
module_param_cb(engine_max_rate, &mig_max_rate_ops, &mig_engine_max_rate,
		0644);
MODULE_PARM_DESC(engine_max_rate, "Highest engine rate of any instance, pages per second (1-1048576, default 131072)");

/* The values of "protocols", indexed by MIG_PROTO_* mask. */
static const char * const mig_protocol_names[] = {
	[MIG_PROTO_V1] = "v1",
	[MIG_PROTO_V2] = "v2",
	[MIG_PROTO_V1 | MIG_PROTO_V2] = "both",
};

static int mig_protocols_set(const char *val, const struct kernel_param *kp)
{
	unsigned int i;

	for (i = 1; i < ARRAY_SIZE(mig_protocol_names); i++) {
		if (sysfs_streq(val, mig_protocol_names[i])) {
			WRITE_ONCE(*(unsigned int *)kp->arg, i);
			return 0;
		}
	}
	pr_err(MIG_NAME ": protocols must be v1, v2 or both, not '%s'\n", val);
	return -EINVAL;
}

static int mig_protocols_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  mig_protocol_names[READ_ONCE(*(unsigned int *)kp->arg)]);
}

static const struct kernel_param_ops mig_protocols_ops = {
	.set = mig_protocols_set,
	.get = mig_protocols_get,
};

unsigned int mig_protocols = MIG_PROTO_V1 | MIG_PROTO_V2;
module_param_cb(protocols, &mig_protocols_ops, &mig_protocols, 0644);
MODULE_PARM_DESC(protocols, "Migration protocols new instances offer: v1 (the region), v2 (VFIO_DEVICE_FEATURE_MIGRATION) or both (default)");

bool mig_zerocopy;
module_param_named(zerocopy, mig_zerocopy, bool, 0644);
MODULE_PARM_DESC(zerocopy, "v1 save of new instances hands page data out in place, through a window of the migration region onto device memory (default off: copied through the data section)");

unsigned int mig_pci_vendor = MIG_MDEV_PCI_VENDOR;
module_param_named(pci_vendor, mig_pci_vendor, uint, 0444);
MODULE_PARM_DESC(pci_vendor, "PCI vendor ID (default 0x1b36)");

unsigned int mig_pci_device = MIG_MDEV_PCI_DEVICE;
module_param_named(pci_device, mig_pci_device, uint, 0444);
MODULE_PARM_DESC(pci_device, "PCI device ID (default 0x11f0)");

unsigned int mig_pci_class = MIG_MDEV_PCI_CLASS;
module_param_named(pci_class, mig_pci_class, uint, 0444);
MODULE_PARM_DESC(pci_class, "PCI class code, 24 bits (default 0x120000)");

unsigned int mig_dma_max_rate = 65536;
module_param_cb(dma_max_rate, &mig_max_rate_ops, &mig_dma_max_rate, 0644);
MODULE_PARM_DESC(dma_max_rate, "Highest DMA engine rate of any instance, records per second (1-1048576, default 65536)");

/*
 * The negative control of the dirty-tracking tests: the DMA engine's
 * writes bypass both dirty logs (a device that caches its translations
 * past their pin, see mig_dma_xfer.c).  Migration loses them.  Tests only.
 */
bool mig_test_hide_dma_dirty;
module_param_named(test_hide_dma_dirty, mig_test_hide_dma_dirty, bool, 0644);
MODULE_PARM_DESC(test_hide_dma_dirty, "TEST ONLY: hide the DMA engine's writes from dirty tracking, so that migration loses them (default off)");

/*
 * TEST ONLY, one shot: the next instance's probe leaves its device set to
 * the vfio core's registration, then the parameter reads N again.  The
 * fail-nth sweep uses it to reach the core's own allocation of the set
 * (patches/6.12/0002-*: a kernel without that fix registers the device
 * with no set when the allocation fails, and its first open dereferences
 * NULL).
 */
static bool mig_test_core_dev_set;
module_param_named(test_core_dev_set, mig_test_core_dev_set, bool, 0644);
MODULE_PARM_DESC(test_core_dev_set, "TEST ONLY: the next instance leaves its device set to the vfio core, then this goes back to N (default off)");

/*
 * The engines' ticks run here, not on the system workqueue: an unbound
 * queue of the module's own, so that many busy instances delay nothing of
 * the rest of the kernel, and none of it delays them.
 */
struct workqueue_struct *mig_wq;

/* ---- the parent and its types ---- */

static struct {
	struct class *class;
	struct device dev;
	struct mdev_parent parent;
} mig_parent;

static struct mig_type mig_types[] = {
	{ .mtype.sysfs_name = "small", .mtype.pretty_name = "mig-mdev small",
	  .stream_type = MIG_TYPE_SMALL },
	{ .mtype.sysfs_name = "large", .mtype.pretty_name = "mig-mdev large",
	  .stream_type = MIG_TYPE_LARGE },
};

static struct mdev_type *mig_mdev_types[] = {
	&mig_types[0].mtype,
	&mig_types[1].mtype,
};

/* The memory budget: bytes of device memory handed out to instances. */
static DEFINE_MUTEX(mig_budget_lock);
static u64 mig_budget_used;	/* mig_budget_lock */

static u64 mig_budget_total(void)
{
	return (u64)mem_budget_mb << 20;
}

static int mig_budget_take(u64 bytes)
{
	int ret = 0;

	mutex_lock(&mig_budget_lock);
	if (mig_budget_used + bytes > mig_budget_total())
		ret = -ENOSPC;
	else
		mig_budget_used += bytes;
	mutex_unlock(&mig_budget_lock);
	return ret;
}

static void mig_budget_give(u64 bytes)
{
	mutex_lock(&mig_budget_lock);
	mig_budget_used -= bytes;
	mutex_unlock(&mig_budget_lock);
}

static unsigned int mig_get_available(struct mdev_type *mtype)
{
	struct mig_type *t = container_of(mtype, struct mig_type, mtype);
	u64 left;

	mutex_lock(&mig_budget_lock);
	left = mig_budget_total() - mig_budget_used;
	mutex_unlock(&mig_budget_lock);
	return div64_u64(left, t->mem_size);
}

static ssize_t mig_show_description(struct mdev_type *mtype, char *buf)
{
	struct mig_type *t = container_of(mtype, struct mig_type, mtype);

	return sysfs_emit(buf, "%llu MiB device memory, 4 KiB registers, VFIO migration v1\n",
			  t->mem_size >> 20);
}

/* ---- interrupts ---- */

/**
 * mig_irq_raise() - signal the device's interrupt
 * @st: the instance
 *
 * The interrupt the guest set up: MSI if it is enabled in config space and
 * has a trigger, INTx otherwise unless the command register disables it or
 * it is masked.
 *
 * Context: st->lock held.
 */
void mig_irq_raise(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	if (mig_cfg_msi_enabled(&st->dev)) {
		if (st->msi_trigger)
			mig_eventfd_signal(st->msi_trigger);
		return;
	}
	if (st->intx_trigger && !st->intx_masked &&
	    !mig_cfg_intx_disabled(&st->dev))
		mig_eventfd_signal(st->intx_trigger);
}

static struct eventfd_ctx **mig_irq_trigger(struct mig_mdev_state *st,
					    unsigned int index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return &st->intx_trigger;
	case VFIO_PCI_MSI_IRQ_INDEX:
		return &st->msi_trigger;
	default:
		return NULL;
	}
}

static void mig_irq_put(struct eventfd_ctx **trigger)
{
	if (*trigger)
		eventfd_ctx_put(*trigger);
	*trigger = NULL;
}

static int mig_irq_count(unsigned int index)
{
	return index == VFIO_PCI_INTX_IRQ_INDEX ||
	       index == VFIO_PCI_MSI_IRQ_INDEX;
}

/*
 * VFIO_IRQ_SET_ACTION_TRIGGER on INTx or MSI.  Count 0 with DATA_NONE
 * disables the interrupt; anything else names the one vector, start 0 and
 * count 1, and then @data holds its one element (the core sized it).
 *
 * Context: st->lock held.
 */
static int mig_irq_set_trigger(struct mig_mdev_state *st,
			       struct vfio_irq_set *hdr, const void *data)
{
	u32 type = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	struct eventfd_ctx **trigger = mig_irq_trigger(st, hdr->index);
	struct eventfd_ctx *ctx;
	s32 fd;

	lockdep_assert_held(&st->lock);
	if (!hdr->count && type == VFIO_IRQ_SET_DATA_NONE) {
		mig_irq_put(trigger);
		if (st->irq_index == hdr->index)
			st->irq_index = -1;
		return 0;
	}
	if (hdr->start || hdr->count != 1)
		return -EINVAL;

	switch (type) {
	case VFIO_IRQ_SET_DATA_NONE:
		if (*trigger)
			mig_eventfd_signal(*trigger);
		return 0;
	case VFIO_IRQ_SET_DATA_BOOL:
		if (*(const u8 *)data && *trigger)
			mig_eventfd_signal(*trigger);
		return 0;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		fd = *(const s32 *)data;
		if (fd < 0) {
			mig_irq_put(trigger);
			if (st->irq_index == hdr->index)
				st->irq_index = -1;
			return 0;
		}
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
		mig_irq_put(trigger);
		*trigger = ctx;
		st->irq_index = hdr->index;
		return 0;
	}
	return -EINVAL;
}

/*
 * VFIO_IRQ_SET_ACTION_MASK/UNMASK: INTx only, its one vector (start 0,
 * count 1), no eventfd.  With count 0 the core hands over no data, so the
 * count is checked before @data is read.
 *
 * Context: st->lock held.
 */
static int mig_irq_set_mask(struct mig_mdev_state *st,
			    struct vfio_irq_set *hdr, const void *data)
{
	bool mask = hdr->flags & VFIO_IRQ_SET_ACTION_MASK;

	lockdep_assert_held(&st->lock);
	if (hdr->index != VFIO_PCI_INTX_IRQ_INDEX || hdr->start ||
	    hdr->count != 1)
		return -EINVAL;
	switch (hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_NONE:
		break;
	case VFIO_IRQ_SET_DATA_BOOL:
		if (!*(const u8 *)data)
			return 0;
		break;
	default:
		return -EINVAL;
	}
	st->intx_masked = mask;
	return 0;
}

static long mig_ioctl_set_irqs(struct mig_mdev_state *st, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	size_t data_size = 0;
	u8 *data = NULL;
	int ret;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	ret = vfio_set_irqs_validate_and_prepare(&hdr, mig_irq_count(hdr.index),
						 VFIO_PCI_NUM_IRQS, &data_size);
	if (ret)
		return ret;
	if (!mig_irq_count(hdr.index))
		return -EINVAL;
	if (data_size) {
		data = memdup_user(arg + minsz, data_size);
		if (IS_ERR(data))
			return PTR_ERR(data);
	}

	mutex_lock(&st->lock);
	switch (hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) {
	case VFIO_IRQ_SET_ACTION_TRIGGER:
		ret = mig_irq_set_trigger(st, &hdr, data);
		break;
	case VFIO_IRQ_SET_ACTION_MASK:
	case VFIO_IRQ_SET_ACTION_UNMASK:
		ret = mig_irq_set_mask(st, &hdr, data);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	mutex_unlock(&st->lock);
	kfree(data);
	return ret;
}

/* ---- region access ---- */

/*
 * Is the device frozen for a save (stop-and-copy, either protocol)?
 * Context: st->lock.
 */
static bool mig_frozen(struct mig_mdev_state *st)
{
	return st->save.active && st->save.final;
}

/* Is a resume stream being loaded (either protocol)?  Context: st->lock. */
static bool mig_loading(struct mig_mdev_state *st)
{
	return st->load.active;
}

/* Does the instance have the v1 migration region? */
static bool mig_has_v1(struct mig_mdev_state *st)
{
	return st->protocols & MIG_PROTO_V1;
}

/*
 * Config space: single accesses of 1, 2 or 4 bytes at their natural
 * alignment, or longer reads and writes made of whole aligned dwords (QEMU
 * reads the whole of config space in one go).  The bytes go through a
 * buffer on the stack, so that user memory is never touched with the lock
 * held.
 */
static ssize_t mig_config_rw(struct mig_mdev_state *st, char __user *buf,
			     size_t count, u64 off, bool write)
{
	size_t step = count > 4 ? 4 : count, done;
	u8 val[MIG_MDEV_CONFIG_SIZE];
	int ret = 0;

	/* The shape first: a malformed access is -EINVAL in any state. */
	if (off >= MIG_MDEV_CONFIG_SIZE || count > MIG_MDEV_CONFIG_SIZE - off ||
	    count % step || step == 3 || off % step)
		return -EINVAL;
	if (write && copy_from_user(val, buf, count))
		return -EFAULT;

	/* A write may clear bus mastering, which stops the DMA engine. */
	if (write)
		mig_lock(st);
	else
		mutex_lock(&st->lock);
	if (write && mig_frozen(st))
		ret = -EBUSY;
	for (done = 0; done < count && !ret; done += step) {
		if (write)
			ret = mig_cfg_write(&st->dev, off + done, val + done, step);
		else
			ret = mig_cfg_read(&st->dev, off + done, val + done, step);
	}
	if (write) {
		mig_dma_update(&st->dev);
		mig_unlock(st);
	} else {
		mutex_unlock(&st->lock);
	}
	if (ret)
		return ret;
	if (!write && copy_to_user(buf, val, count))
		return -EFAULT;
	return count;
}

/* BAR0: naturally aligned 4-byte accesses only. */
static ssize_t mig_bar0_rw(struct mig_mdev_state *st, char __user *buf,
			   size_t count, u64 off, bool write)
{
	bool doorbell = false;
	u32 val;
	int ret;

	if (count != 4 || off & 3 || off >= MIG_MDEV_BAR0_SIZE)
		return -EINVAL;
	if (write && copy_from_user(&val, buf, 4))
		return -EFAULT;

	if (write) {
		mig_lock(st);
		if (mig_frozen(st)) {
			ret = -EBUSY;
		} else {
			ret = mig_dev_bar0_write(&st->dev, off, val, &doorbell);
			if (doorbell)
				mig_irq_raise(st);
		}
		mig_unlock(st);
	} else {
		mutex_lock(&st->lock);
		ret = mig_dev_bar0_read(&st->dev, off, &val);
		mutex_unlock(&st->lock);
	}
	if (ret)
		return ret;
	if (!write && copy_to_user(buf, &val, 4))
		return -EFAULT;
	return 4;
}

/*
 * One piece of a BAR2 access, between the bounce buffer and device memory.
 * Context: st->lock held.
 */
static int mig_bar2_piece(struct mig_mdev_state *st, void *bounce, size_t n,
			  u64 off, bool write)
{
	lockdep_assert_held(&st->lock);
	if (!write) {
		mig_dev_mem_read(&st->dev, off, bounce, n);
		return 0;
	}
	/* Stopped for a save, or being loaded: memory must not move. */
	if (mig_frozen(st) || mig_loading(st))
		return -EBUSY;
	mig_dev_mem_write(&st->dev, off, bounce, n);
	return 0;
}

/*
 * BAR2, device memory: 1, 2, 4 or 8 bytes at their natural alignment, or
 * any longer range.  The bytes go through a bounce buffer of at most
 * MIG_BOUNCE_MAX bytes, a piece at a time: user memory is copied with the
 * lock dropped, and a long access yields the CPU between pieces.  If a
 * piece fails after others were done, the access is short, as a read(2)
 * or write(2) is.
 */
static ssize_t mig_bar2_rw(struct mig_mdev_state *st, char __user *buf,
			   size_t count, u64 off, bool write)
{
	u64 size = mig_dev_bar_size(&st->dev, MIG_BAR_MEM);
	size_t done, n, bsize = min_t(size_t, count, MIG_BOUNCE_MAX);
	u64 small;
	void *bounce = &small;
	int ret = 0;

	if (off >= size || count > size - off)
		return -EINVAL;
	if (count <= 8 && (!is_power_of_2(count) || off & (count - 1)))
		return -EINVAL;
	if (bsize > sizeof(small)) {
		bounce = kvmalloc(bsize, GFP_KERNEL);
		if (!bounce)
			return -ENOMEM;
	}

	for (done = 0; done < count; done += n) {
		n = min(count - done, bsize);
		if (write && copy_from_user(bounce, buf + done, n)) {
			ret = -EFAULT;
			break;
		}
		mutex_lock(&st->lock);
		ret = mig_bar2_piece(st, bounce, n, off + done, write);
		mutex_unlock(&st->lock);
		if (ret)
			break;
		if (!write && copy_to_user(buf + done, bounce, n)) {
			ret = -EFAULT;
			break;
		}
		cond_resched();
	}
	if (bounce != &small)
		kvfree(bounce);
	return done ? done : ret;
}

/*
 * The device's BAR behind a vfio region index of the PCI layout: region
 * BARn is BAR n, as in vfio-pci.  MIG_BAR_NONE for the other regions.
 */
#define MIG_BAR_NONE	PCI_STD_NUM_BARS

static unsigned int mig_region_bar(u32 index)
{
	static const u8 bars[] = {
		[VFIO_PCI_BAR0_REGION_INDEX] = 0,
		[VFIO_PCI_BAR1_REGION_INDEX] = 1,
		[VFIO_PCI_BAR2_REGION_INDEX] = 2,
		[VFIO_PCI_BAR3_REGION_INDEX] = 3,
		[VFIO_PCI_BAR4_REGION_INDEX] = 4,
		[VFIO_PCI_BAR5_REGION_INDEX] = 5,
	};

	return index < ARRAY_SIZE(bars) ? bars[index] : MIG_BAR_NONE;
}

/* An access to one of the device's BARs (MIG_BAR_*). */
static ssize_t mig_bar_rw(struct mig_mdev_state *st, unsigned int bar,
			  char __user *buf, size_t count, u64 off, bool write)
{
	switch (bar) {
	case MIG_BAR_REGS:
		return mig_bar0_rw(st, buf, count, off, write);
	case MIG_BAR_MEM:
		return mig_bar2_rw(st, buf, count, off, write);
	default:
		return -EINVAL;
	}
}

static ssize_t mig_rw(struct mig_mdev_state *st, char __user *buf,
		      size_t count, loff_t *ppos, bool write)
{
	unsigned int index = *ppos >> MIG_OFFSET_SHIFT;
	u64 off = *ppos & MIG_OFFSET_MASK;
	ssize_t ret;

	/* No region takes an empty access (and none reaches a division). */
	if (!count)
		return -EINVAL;
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		ret = mig_config_rw(st, buf, count, off, write);
		break;
	case VFIO_PCI_BAR0_REGION_INDEX ... VFIO_PCI_BAR5_REGION_INDEX:
		ret = mig_bar_rw(st, mig_region_bar(index), buf, count, off,
				 write);
		break;
	case MIG_MDEV_MIGRATION_REGION_INDEX:
		ret = mig_has_v1(st) ? mig_region_rw(st, buf, count, off, write) :
				       -EINVAL;
		break;
	default:
		ret = -EINVAL;
		break;
	}
	if (ret > 0)
		*ppos += ret;
	return ret;
}

static ssize_t mig_read(struct vfio_device *vdev, char __user *buf,
			size_t count, loff_t *ppos)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);

	return mig_rw(st, buf, count, ppos, false);
}

static ssize_t mig_write(struct vfio_device *vdev, const char __user *buf,
			 size_t count, loff_t *ppos)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);

	return mig_rw(st, (char __user *)buf, count, ppos, true);
}

static int mig_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);
	u64 pos = (u64)vma->vm_pgoff << PAGE_SHIFT;

	if (pos >> MIG_OFFSET_SHIFT != MIG_MDEV_MIGRATION_REGION_INDEX ||
	    !mig_has_v1(st))
		return -EINVAL;
	return mig_region_mmap(st, vma, pos & MIG_OFFSET_MASK);
}

/* ---- ioctls ---- */

/* The region count: the migration region only where v1 is offered. */
static u32 mig_num_regions(struct mig_mdev_state *st)
{
	return mig_has_v1(st) ? MIG_NUM_REGIONS : VFIO_PCI_NUM_REGIONS;
}

static long mig_ioctl_get_info(struct mig_mdev_state *st, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = mig_num_regions(st);
	info.num_irqs = VFIO_PCI_NUM_IRQS;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* Size of a vfio region of the PCI layout: config space or a BAR. */
static u64 mig_vfio_region_size(struct mig_mdev_state *st, u32 index)
{
	if (index == VFIO_PCI_CONFIG_REGION_INDEX)
		return MIG_MDEV_CONFIG_SIZE;
	return mig_dev_bar_size(&st->dev, mig_region_bar(index));
}

static long mig_ioctl_get_region_info(struct mig_mdev_state *st,
				      void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_info_cap caps = { .buf = NULL, .size = 0 };
	struct vfio_region_info info;
	int ret = 0;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= mig_num_regions(st))
		return -EINVAL;

	info.offset = (u64)info.index << MIG_OFFSET_SHIFT;
	info.cap_offset = 0;
	if (info.index == MIG_MDEV_MIGRATION_REGION_INDEX) {
		mutex_lock(&st->lock);
		ret = mig_region_info(st, &info, &caps);
		mutex_unlock(&st->lock);
		if (ret)
			goto out;
	} else {
		info.size = mig_vfio_region_size(st, info.index);
		info.flags = info.size ? VFIO_REGION_INFO_FLAG_READ |
					 VFIO_REGION_INFO_FLAG_WRITE : 0;
	}

	if (caps.size) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + caps.size) {
			info.argsz = sizeof(info) + caps.size;
			info.cap_offset = 0;
		} else {
			vfio_info_cap_shift(&caps, sizeof(info));
			if (copy_to_user(arg + sizeof(info), caps.buf,
					 caps.size)) {
				ret = -EFAULT;
				goto out;
			}
			info.cap_offset = sizeof(info);
		}
	}
	if (copy_to_user(arg, &info, minsz))
		ret = -EFAULT;
out:
	kfree(caps.buf);
	return ret;
}

static long mig_ioctl_get_irq_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;

	info.count = mig_irq_count(info.index);
	info.flags = 0;
	if (info.index == VFIO_PCI_INTX_IRQ_INDEX)
		info.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE;
	else if (info.index == VFIO_PCI_MSI_IRQ_INDEX)
		info.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/*
 * Reset and close end any migration, whichever protocol owned it: no
 * session, the data_fd stale, both protocols' states RUNNING, no owner.
 * Context: st->lock held.
 */
static void mig_migration_end(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	mig_state_drop(st);
	mig_v2_drop(st);
	st->mig_state = MIG_STATE_RUNNING;
	st->owner = MIG_OWNER_NONE;
	mig_dev_set_running(&st->dev, true);
}

/* VFIO_DEVICE_RESET: power-on state, no session, RUNNING.  Context: lock. */
static void mig_reset(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	mig_migration_end(st);
	mig_dev_reset(&st->dev);
	st->intx_masked = false;
	st->stats.resets++;
	dev_dbg(st->vdev.dev, "reset\n");
}

static long mig_ioctl(struct vfio_device *vdev, unsigned int cmd,
		      unsigned long arg)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return mig_ioctl_get_info(st, uarg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return mig_ioctl_get_region_info(st, uarg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return mig_ioctl_get_irq_info(uarg);
	case VFIO_DEVICE_SET_IRQS:
		return mig_ioctl_set_irqs(st, uarg);
	case VFIO_DEVICE_RESET:
		mig_lock(st);
		mig_reset(st);
		mig_unlock(st);
		return 0;
	}
	return -ENOTTY;
}

/* ---- open, close, life cycle ---- */

static int mig_open_device(struct vfio_device *vdev)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);

	mig_lock(st);
	mig_dev_set_user(&st->dev, true);
	mig_unlock(st);
	return 0;
}

static void mig_close_device(struct vfio_device *vdev)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);

	/*
	 * Drop any session, whatever the state (ERROR included): the device
	 * keeps its state and the next open finds it RUNNING.  What the fd
	 * holder set up for itself goes: its eventfds, the INTx mask, and the
	 * work it started (an engine it enabled holds still until the next
	 * open; see mig_dev_set_user()), and its DMA, which is disabled: the
	 * ring is its IOVA space.  When this returns no DMA write is in
	 * flight and none follows.
	 */
	mig_lock(st);
	mig_migration_end(st);
	mig_irq_put(&st->intx_trigger);
	mig_irq_put(&st->msi_trigger);
	st->irq_index = -1;
	st->intx_masked = false;
	mig_dma_disable(&st->dev);
	mig_dev_set_user(&st->dev, false);
	/* Not the fd holder's any more: neither is a dirty log it started. */
	mig_dma_log_free(st);
	mig_unlock(st);
}

static int mig_init_dev(struct vfio_device *vdev)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	int ret;

	st->mdev = mdev;
	st->type = container_of(mdev->type, struct mig_type, mtype);
	st->irq_index = -1;
	st->mig_state = MIG_STATE_RUNNING;
	st->v2.state = VFIO_DEVICE_STATE_RUNNING;
	st->protocols = READ_ONCE(mig_protocols);
	if (st->protocols & MIG_PROTO_V2) {
		vdev->mig_ops = &mig_v2_ops;
		vdev->migration_flags = mig_v2_flags();
		if (mig_dma_log_offered())
			vdev->log_ops = &mig_dma_log_ops;
	}
	mutex_init(&st->lock);

	ret = mig_budget_take(st->type->mem_size);
	if (ret)
		goto err_lock;
	ret = mig_dev_init(&st->dev, &st->lock, st->type->mem_size);
	if (ret)
		goto err_budget;
	ret = mig_region_init(st);
	if (ret)
		goto err_dev;
	return 0;

err_dev:
	mig_dev_free(&st->dev);
err_budget:
	mig_budget_give(st->type->mem_size);
err_lock:
	mutex_destroy(&st->lock);
	return ret;
}

static void mig_release_dev(struct vfio_device *vdev)
{
	struct mig_mdev_state *st = container_of(vdev, struct mig_mdev_state,
						 vdev);

	mig_region_free(st);
	mig_dma_log_free(st);
	mig_dev_free(&st->dev);
	mig_budget_give(st->type->mem_size);
	mutex_destroy(&st->lock);
	mig_vfio_free_device(vdev);
}

static const struct vfio_device_ops mig_dev_ops = {
	.name		= "vfio-mig-mdev",
	.init		= mig_init_dev,
	.release	= mig_release_dev,
	.open_device	= mig_open_device,
	.close_device	= mig_close_device,
	.read		= mig_read,
	.write		= mig_write,
	.mmap		= mig_mmap,
	.ioctl		= mig_ioctl,
	.dma_unmap	= mig_dma_unmap,
	MIG_VFIO_IOMMUFD_OPS
	MIG_VFIO_IOMMUFD_DETACH_OPS
};

static int mig_probe(struct mdev_device *mdev)
{
	struct mig_mdev_state *st;
	int ret = 0;

	st = vfio_alloc_device(mig_mdev_state, vdev, &mdev->dev, &mig_dev_ops);
	if (IS_ERR(st))
		return PTR_ERR(st);
	/*
	 * A device set of its own, made here rather than by the vfio core:
	 * registration makes one when the driver did not, but ignores the
	 * allocation failing, and the first open then dereferences a NULL
	 * dev_set (found by selftests/fail_nth_test on 6.12; the debug
	 * kernel carries the fix, patches/6.12/0002-*, and the sweep's
	 * create_open sequence checks it with test_core_dev_set).
	 */
	if (READ_ONCE(mig_test_core_dev_set))
		WRITE_ONCE(mig_test_core_dev_set, false);
	else
		ret = vfio_assign_device_set(&st->vdev, &st->vdev);
	if (ret)
		goto err_put;
	ret = vfio_register_emulated_iommu_dev(&st->vdev);
	if (ret)
		goto err_put;
	dev_set_drvdata(&mdev->dev, st);
	mig_debugfs_add(st);
	return 0;

err_put:
	vfio_put_device(&st->vdev);
	return ret;
}

static void mig_remove(struct mdev_device *mdev)
{
	struct mig_mdev_state *st = dev_get_drvdata(&mdev->dev);

	mig_debugfs_remove(st);
	/* Waits until user space closed the device. */
	vfio_unregister_group_dev(&st->vdev);
	mig_dev_engine_cancel(&st->dev);
	vfio_put_device(&st->vdev);
}

/* ---- per-instance sysfs attributes ---- */

static struct mig_mdev_state *mig_from_dev(struct device *dev)
{
	return dev_get_drvdata(dev);
}

static ssize_t digest_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct mig_mdev_state *st = mig_from_dev(dev);
	u64 digest;

	mutex_lock(&st->lock);
	digest = mig_dev_digest(&st->dev);
	mutex_unlock(&st->lock);
	return sysfs_emit(buf, "%016llx\n", digest);
}

/* Root only: a digest of the whole device state is the fd holder's data. */
static DEVICE_ATTR_ADMIN_RO(digest);

static ssize_t engine_rate_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	struct mig_mdev_state *st = mig_from_dev(dev);
	u32 rate;

	mutex_lock(&st->lock);
	rate = mig_dev_engine_rate(&st->dev);
	mutex_unlock(&st->lock);
	return sysfs_emit(buf, "%u\n", rate);
}

static ssize_t engine_rate_store(struct device *dev,
				 struct device_attribute *attr,
				 const char *buf, size_t count)
{
	struct mig_mdev_state *st = mig_from_dev(dev);
	u32 rate;
	int ret;

	ret = kstrtou32(buf, 0, &rate);
	if (ret) {
		dev_err(dev, "engine_rate: '%.*s' is not a number of pages per second\n",
			(int)min_t(size_t, count, 32), buf);
		return ret;
	}
	mutex_lock(&st->lock);
	if (mig_frozen(st) || mig_loading(st))
		ret = -EBUSY;
	else
		mig_dev_engine_admin(&st->dev, rate);
	mutex_unlock(&st->lock);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(engine_rate);

static ssize_t engine_count_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct mig_mdev_state *st = mig_from_dev(dev);
	u64 count;

	mutex_lock(&st->lock);
	count = mig_dev_engine_count(&st->dev);
	mutex_unlock(&st->lock);
	return sysfs_emit(buf, "%llu\n", count);
}
static DEVICE_ATTR_RO(engine_count);

static ssize_t migration_state_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct mig_mdev_state *st = mig_from_dev(dev);
	const char *name;

	mutex_lock(&st->lock);
	if (st->owner == MIG_OWNER_V2)
		name = mig_v2_state_name(st->v2.state);
	else
		name = mig_state_name(st->mig_state);
	mutex_unlock(&st->lock);
	return sysfs_emit(buf, "%s\n", name);
}
static DEVICE_ATTR_RO(migration_state);

static ssize_t protocols_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  mig_protocol_names[mig_from_dev(dev)->protocols]);
}
static DEVICE_ATTR_RO(protocols);

static ssize_t section_size_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%zu\n", mig_from_dev(dev)->region.section_size);
}
static DEVICE_ATTR_RO(section_size);

static struct attribute *mig_dev_attrs[] = {
	&dev_attr_digest.attr,
	&dev_attr_engine_rate.attr,
	&dev_attr_engine_count.attr,
	&dev_attr_migration_state.attr,
	&dev_attr_protocols.attr,
	&dev_attr_section_size.attr,
	NULL,
};
ATTRIBUTE_GROUPS(mig_dev);

/* ---- module ---- */

static struct mdev_driver mig_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = MIG_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = mig_dev_groups,
	},
	.probe = mig_probe,
	.remove = mig_remove,
	.get_available = mig_get_available,
	.show_description = mig_show_description,
};

static void mig_parent_release(struct device *dev)
{
}

static int __init mig_check_params(void)
{
	if (!small_mem_mb || small_mem_mb > 1024 || !large_mem_mb ||
	    large_mem_mb > 1024) {
		pr_err(MIG_NAME ": small_mem_mb and large_mem_mb must be 1..1024\n");
		return -EINVAL;
	}
	if (mig_pci_vendor > 0xffff || mig_pci_device > 0xffff ||
	    mig_pci_class > 0xffffff) {
		pr_err(MIG_NAME ": pci_vendor/pci_device take 16 bits, pci_class 24\n");
		return -EINVAL;
	}
	return 0;
}

static int __init mig_init(void)
{
	int ret = mig_check_params();

	if (ret)
		return ret;
	mig_types[0].mem_size = (u64)small_mem_mb << 20;
	mig_types[1].mem_size = (u64)large_mem_mb << 20;

	mig_wq = alloc_workqueue(MIG_NAME, WQ_UNBOUND, 0);
	if (!mig_wq)
		return -ENOMEM;
	mig_debugfs_init();
	ret = mdev_register_driver(&mig_driver);
	if (ret)
		goto err_debugfs;
	mig_parent.class = mig_class_create(MIG_NAME);
	if (IS_ERR(mig_parent.class)) {
		ret = PTR_ERR(mig_parent.class);
		goto err_driver;
	}
	mig_parent.dev.class = mig_parent.class;
	mig_parent.dev.release = mig_parent_release;
	dev_set_name(&mig_parent.dev, MIG_NAME);
	ret = device_register(&mig_parent.dev);
	if (ret) {
		put_device(&mig_parent.dev);
		goto err_class;
	}
	ret = mdev_register_parent(&mig_parent.parent, &mig_parent.dev,
				   &mig_driver, mig_mdev_types,
				   ARRAY_SIZE(mig_mdev_types));
	if (ret)
		goto err_device;
	return 0;

err_device:
	device_unregister(&mig_parent.dev);
err_class:
	class_destroy(mig_parent.class);
err_driver:
	mdev_unregister_driver(&mig_driver);
err_debugfs:
	mig_debugfs_exit();
	destroy_workqueue(mig_wq);
	return ret;
}

static void __exit mig_exit(void)
{
	mdev_unregister_parent(&mig_parent.parent);
	device_unregister(&mig_parent.dev);
	class_destroy(mig_parent.class);
	mdev_unregister_driver(&mig_driver);
	mig_debugfs_exit();
	destroy_workqueue(mig_wq);
}

module_init(mig_init);
module_exit(mig_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Sample mediated device with VFIO migration, protocols v1 and v2");
MODULE_VERSION("0.1");
