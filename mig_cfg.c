// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the emulated PCI config space.
 *
 * A type 0 header with BAR0 (32-bit memory, the register file), BAR2/3
 * (64-bit prefetchable memory, the device memory), an interrupt pin and a
 * capability list holding one MSI capability (64-bit address, one vector).
 *
 * Config space is a byte array plus a write mask per byte: a write changes
 * exactly the bits of the mask, so read-only bits ignore writes and BAR
 * sizing (write all ones, read back) falls out of the masks of the BARs.
 */
#include <linux/pci_regs.h>
#include <linux/string.h>

#include "mig_dev.h"

#define MIG_MSI_FLAGS	(MIG_MDEV_MSI_CAP + PCI_MSI_FLAGS)
#define MIG_MSI_ADDR_LO	(MIG_MDEV_MSI_CAP + PCI_MSI_ADDRESS_LO)
#define MIG_MSI_ADDR_HI	(MIG_MDEV_MSI_CAP + PCI_MSI_ADDRESS_HI)
#define MIG_MSI_DATA	(MIG_MDEV_MSI_CAP + PCI_MSI_DATA_64)

/**
 * struct mig_cfg_field - a writable field of config space
 * @off: offset in config space
 * @len: width in bytes
 * @wmask: writable bits of the field
 */
struct mig_cfg_field {
	u8 off;
	u8 len;
	u32 wmask;
};

/* Every writable field except the BARs, whose masks depend on their size. */
static const struct mig_cfg_field mig_cfg_writable[] = {
	{ PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			  PCI_COMMAND_INTX_DISABLE },
	{ PCI_CACHE_LINE_SIZE, 1, 0xff },
	{ PCI_LATENCY_TIMER, 1, 0xff },
	{ PCI_INTERRUPT_LINE, 1, 0xff },
	{ MIG_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE },
	{ MIG_MSI_ADDR_LO, 4, 0xfffffffc },
	{ MIG_MSI_ADDR_HI, 4, 0xffffffff },
	{ MIG_MSI_DATA, 2, 0xffff },
};

/*
 * Config space is little endian: the low @len bytes of @val.  Byte copies,
 * so that the device model needs no unaligned-access header (whose name
 * changed in 6.12: mig_compat.h, which this file must not include).
 */
static void mig_cfg_put(u8 *cfg, u32 off, u32 len, u32 val)
{
	__le32 v = cpu_to_le32(val);

	memcpy(cfg + off, &v, len);
}

static u16 mig_cfg_get16(const u8 *cfg, u32 off)
{
	__le16 v;

	memcpy(&v, cfg + off, sizeof(v));
	return le16_to_cpu(v);
}

static void mig_cfg_init_wmask(struct mig_dev *dev)
{
	u64 bar2_mask = ~(dev->bar_size[MIG_BAR_MEM] - 1) &
			PCI_BASE_ADDRESS_MEM_MASK;
	u32 bar0_mask = ~(u32)(dev->bar_size[MIG_BAR_REGS] - 1) &
			PCI_BASE_ADDRESS_MEM_MASK;
	unsigned int i;

	memset(dev->cfg_wmask, 0, sizeof(dev->cfg_wmask));
	for (i = 0; i < ARRAY_SIZE(mig_cfg_writable); i++)
		mig_cfg_put(dev->cfg_wmask, mig_cfg_writable[i].off,
			    mig_cfg_writable[i].len, mig_cfg_writable[i].wmask);
	mig_cfg_put(dev->cfg_wmask, PCI_BASE_ADDRESS_0, 4, bar0_mask);
	mig_cfg_put(dev->cfg_wmask, PCI_BASE_ADDRESS_2, 4, lower_32_bits(bar2_mask));
	mig_cfg_put(dev->cfg_wmask, PCI_BASE_ADDRESS_3, 4, upper_32_bits(bar2_mask));
}

/**
 * mig_cfg_init() - put config space in its power-on state
 * @dev: the device; dev->bar_size must be set
 *
 * Context: dev->lock held, or the instance not yet visible.
 */
void mig_cfg_init(struct mig_dev *dev)
{
	u8 *cfg = dev->config;

	memset(cfg, 0, MIG_MDEV_CONFIG_SIZE);
	mig_cfg_put(cfg, PCI_VENDOR_ID, 2, mig_pci_vendor);
	mig_cfg_put(cfg, PCI_DEVICE_ID, 2, mig_pci_device);
	mig_cfg_put(cfg, PCI_STATUS, 2, PCI_STATUS_CAP_LIST);
	mig_cfg_put(cfg, PCI_CLASS_REVISION, 4,
		    (mig_pci_class << 8) | MIG_MDEV_PCI_REVISION);
	mig_cfg_put(cfg, PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL);
	mig_cfg_put(cfg, PCI_BASE_ADDRESS_0, 4, PCI_BASE_ADDRESS_SPACE_MEMORY |
		    PCI_BASE_ADDRESS_MEM_TYPE_32);
	mig_cfg_put(cfg, PCI_BASE_ADDRESS_2, 4, PCI_BASE_ADDRESS_SPACE_MEMORY |
		    PCI_BASE_ADDRESS_MEM_TYPE_64 |
		    PCI_BASE_ADDRESS_MEM_PREFETCH);
	mig_cfg_put(cfg, PCI_SUBSYSTEM_VENDOR_ID, 2, mig_pci_vendor);
	mig_cfg_put(cfg, PCI_SUBSYSTEM_ID, 2, mig_pci_device);
	mig_cfg_put(cfg, PCI_CAPABILITY_LIST, 1, MIG_MDEV_MSI_CAP);
	mig_cfg_put(cfg, PCI_INTERRUPT_PIN, 1, 1);	/* INTA# */
	mig_cfg_put(cfg, MIG_MDEV_MSI_CAP + PCI_CAP_LIST_ID, 1, PCI_CAP_ID_MSI);
	mig_cfg_put(cfg, MIG_MDEV_MSI_CAP + PCI_CAP_LIST_NEXT, 1, 0);
	mig_cfg_put(cfg, MIG_MSI_FLAGS, 2, PCI_MSI_FLAGS_64BIT);
	mig_cfg_init_wmask(dev);
}

static int mig_cfg_check(u32 off, size_t len)
{
	if (len != 1 && len != 2 && len != 4)
		return -EINVAL;
	if (off >= MIG_MDEV_CONFIG_SIZE || off & (len - 1))
		return -EINVAL;
	return 0;
}

/**
 * mig_cfg_read() - read a naturally aligned 1, 2 or 4 byte config field
 * @dev: the device
 * @off: offset in config space
 * @val: where the little-endian bytes go
 * @len: 1, 2 or 4
 *
 * Context: dev->lock held.
 * Return: 0, or -EINVAL for another width, a misaligned or out-of-range
 * offset.
 */
int mig_cfg_read(struct mig_dev *dev, u32 off, void *val, size_t len)
{
	int ret = mig_cfg_check(off, len);

	lockdep_assert_held(dev->lock);
	if (ret)
		return ret;
	memcpy(val, dev->config + off, len);
	return 0;
}

/**
 * mig_cfg_write() - write a naturally aligned 1, 2 or 4 byte config field
 * @dev: the device
 * @off: offset in config space
 * @val: the little-endian bytes to write
 * @len: 1, 2 or 4
 *
 * Only the writable bits change; writes to read-only bits are ignored, as on
 * real hardware.
 *
 * Context: dev->lock held.
 * Return: 0, or -EINVAL for another width, a misaligned or out-of-range
 * offset.
 */
int mig_cfg_write(struct mig_dev *dev, u32 off, const void *val,
		  size_t len)
{
	const u8 *src = val;
	int ret = mig_cfg_check(off, len);
	size_t i;

	lockdep_assert_held(dev->lock);
	if (ret)
		return ret;
	for (i = 0; i < len; i++) {
		u8 wm = dev->cfg_wmask[off + i];

		dev->config[off + i] = (dev->config[off + i] & ~wm) | (src[i] & wm);
	}
	return 0;
}

/**
 * mig_cfg_save() - config space as the stream carries it
 * @dev: the device
 * @out: MIG_MDEV_CONFIG_SIZE bytes
 *
 * Context: dev->lock held.
 */
void mig_cfg_save(struct mig_dev *dev, void *out)
{
	lockdep_assert_held(dev->lock);
	memcpy(out, dev->config, MIG_MDEV_CONFIG_SIZE);
}

/**
 * mig_cfg_load() - restore config space from a migration stream
 * @dev: the device
 * @rec: MIG_MDEV_CONFIG_SIZE bytes of the source's config space
 *
 * A stream may change only what a guest could change through config
 * writes: the writable bits.  Its read-only bits (IDs, class, header type,
 * the capability list, the BARs' type and size bits, MSI's capabilities)
 * must be the device's own, or the record comes from another kind of
 * device, or was forged; then nothing changes.
 *
 * Context: dev->lock held.
 * Return: 0, or -EINVAL if a read-only bit of @rec differs from the device's.
 */
int mig_cfg_load(struct mig_dev *dev, const void *rec)
{
	const u8 *src = rec;
	size_t i;

	lockdep_assert_held(dev->lock);
	for (i = 0; i < MIG_MDEV_CONFIG_SIZE; i++)
		if ((src[i] ^ dev->config[i]) & ~dev->cfg_wmask[i])
			return -EINVAL;
	for (i = 0; i < MIG_MDEV_CONFIG_SIZE; i++)
		dev->config[i] = src[i];
	return 0;
}

/**
 * mig_cfg_msi_enabled() - is MSI enabled in the MSI capability?
 * @dev: the device
 *
 * Context: dev->lock held.
 * Return: true if the guest enabled MSI.
 */
bool mig_cfg_msi_enabled(struct mig_dev *dev)
{
	lockdep_assert_held(dev->lock);
	return mig_cfg_get16(dev->config, MIG_MSI_FLAGS) &
	       PCI_MSI_FLAGS_ENABLE;
}

/**
 * mig_cfg_intx_disabled() - is INTx disabled in the command register?
 * @dev: the device
 *
 * Context: dev->lock held.
 * Return: true if PCI_COMMAND_INTX_DISABLE is set.
 */
bool mig_cfg_intx_disabled(struct mig_dev *dev)
{
	lockdep_assert_held(dev->lock);
	return mig_cfg_get16(dev->config, PCI_COMMAND) &
	       PCI_COMMAND_INTX_DISABLE;
}

/**
 * mig_cfg_bus_master() - may the device initiate DMA?
 * @dev: the device
 *
 * Context: dev->lock held.
 * Return: true if PCI_COMMAND_MASTER is set.
 */
bool mig_cfg_bus_master(struct mig_dev *dev)
{
	lockdep_assert_held(dev->lock);
	return mig_cfg_get16(dev->config, PCI_COMMAND) &
	       PCI_COMMAND_MASTER;
}
