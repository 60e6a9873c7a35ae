/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The DMA engine (register file revision 2) and the dirty logs of its
 * writes, for the selftests that drive it (dma_test, fail_nth_test).
 * Include after mig_utils.h, whose conventions these follow: a command is
 * _test_cmd_X(), returns 0 or -errno and never uses the harness;
 * test_cmd_X(...) asserts that it worked, test_err_X(errno, ...) expects
 * that error.  Queries (mt_X()) return a value.
 *
 * The "guest memory" is a buffer of the test process mapped into the
 * device's type1 container at an IOVA (or into an iommufd IOAS, with
 * cdev_utils.h); the engine writes its records into a ring there.
 */
#ifndef DMA_UTILS_H
#define DMA_UTILS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <linux/pci_regs.h>

/* The longest a helper waits for the engine, milliseconds. */
#define MT_DMA_WAIT_MS	5000

static inline void mt_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* @len bytes of anonymous memory, populated (no fault later), or NULL. */
static inline uint8_t *mt_dma_buf_new(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---------------------------------------------------------------- */
/* The type1 container                                               */
/* ---------------------------------------------------------------- */

/* VFIO_IOMMU_MAP_DMA of @size bytes at @vaddr to @iova, read-write. */
static inline int _test_cmd_dma_map(struct mig_dev *d, void *vaddr,
				    uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr, .iova = iova, .size = size,
	};

	return ioctl(d->container, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
}

#define test_cmd_dma_map(...) ASSERT_OK(_test_cmd_dma_map(__VA_ARGS__))
#define test_err_dma_map(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_dma_map(__VA_ARGS__))

static inline int _test_cmd_dma_unmap(struct mig_dev *d, uint64_t iova,
				      uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .iova = iova, .size = size,
	};

	return ioctl(d->container, VFIO_IOMMU_UNMAP_DMA, &u) ? -errno : 0;
}

#define test_cmd_dma_unmap(...) ASSERT_OK(_test_cmd_dma_unmap(__VA_ARGS__))
#define test_err_dma_unmap(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_dma_unmap(__VA_ARGS__))

/* ---------------------------------------------------------------- */
/* The engine's registers                                            */
/* ---------------------------------------------------------------- */

/* PCI_COMMAND's bus master bit on or off. */
static inline int _test_cmd_bus_master(struct mig_dev *d, bool on)
{
	uint16_t cmd;
	int ret = _test_cmd_config_read(d, PCI_COMMAND, &cmd, sizeof(cmd));

	if (ret)
		return ret;
	cmd = on ? cmd | PCI_COMMAND_MASTER : cmd & ~PCI_COMMAND_MASTER;
	return _test_cmd_config_write(d, PCI_COMMAND, &cmd, sizeof(cmd));
}

#define test_cmd_bus_master(...) ASSERT_OK(_test_cmd_bus_master(__VA_ARGS__))

/* A BAR0 register, or 0xdeadbeef if the read failed. */
static inline uint32_t mt_reg(struct mig_dev *d, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	if (_test_cmd_bar0_read(d, off, &v))
		return 0xdeadbeef;
	return v;
}

/* A 64-bit register read as the uapi says: HI, LO, HI until HI holds. */
static inline uint64_t mt_reg64(struct mig_dev *d, uint32_t lo)
{
	uint32_t hi, l, hi2;

	do {
		hi = mt_reg(d, lo + 4);
		l = mt_reg(d, lo);
		hi2 = mt_reg(d, lo + 4);
	} while (hi != hi2);
	return (uint64_t)hi << 32 | l;
}

/* HEAD: the records written since the ring was programmed. */
static inline uint64_t mt_dma_head(struct mig_dev *d)
{
	return mt_reg64(d, MIG_REG_DMA_HEAD_LO);
}

/*
 * Program a ring of @pages pages at IOVA @ring and the rate (records per
 * second); only while the engine is disabled (the device ignores the
 * ring's registers while it is enabled).
 */
static inline int _test_cmd_dma_ring(struct mig_dev *d, uint64_t ring,
				     uint32_t pages, uint32_t rate)
{
	int ret;

	ret = _test_cmd_bar0_write(d, MIG_REG_DMA_RING_LO, (uint32_t)ring);
	ret = ret ?: _test_cmd_bar0_write(d, MIG_REG_DMA_RING_HI, ring >> 32);
	ret = ret ?: _test_cmd_bar0_write(d, MIG_REG_DMA_RING_PAGES, pages);
	ret = ret ?: _test_cmd_bar0_write(d, MIG_REG_DMA_RATE, rate);
	return ret;
}

#define test_cmd_dma_ring(...) ASSERT_OK(_test_cmd_dma_ring(__VA_ARGS__))

/*
 * Bus mastering on, the ring and rate programmed (_test_cmd_dma_ring()),
 * then @ctrl written to CONTROL (MIG_DMA_CTRL_EN starts the engine).
 */
static inline int _test_cmd_dma_start(struct mig_dev *d, uint64_t ring,
				      uint32_t pages, uint32_t rate,
				      uint32_t ctrl)
{
	int ret;

	ret = _test_cmd_bus_master(d, true);
	ret = ret ?: _test_cmd_dma_ring(d, ring, pages, rate);
	ret = ret ?: _test_cmd_bar0_write(d, MIG_REG_DMA_CONTROL, ctrl);
	return ret;
}

#define test_cmd_dma_start(...) ASSERT_OK(_test_cmd_dma_start(__VA_ARGS__))

/* CONTROL 0: the engine stops (after the write in flight). */
static inline int _test_cmd_dma_stop(struct mig_dev *d)
{
	return _test_cmd_bar0_write(d, MIG_REG_DMA_CONTROL, 0);
}

#define test_cmd_dma_stop(...) ASSERT_OK(_test_cmd_dma_stop(__VA_ARGS__))

/*
 * Wait until HEAD >= @n; returns HEAD, or less than @n after
 * MT_DMA_WAIT_MS.
 */
static inline uint64_t mt_dma_wait_head(struct mig_dev *d, uint64_t n)
{
	uint64_t h = 0;
	int i;

	for (i = 0; i < MT_DMA_WAIT_MS / 5; i++) {
		h = mt_dma_head(d);
		if (h >= n)
			break;
		mt_sleep_ms(5);
	}
	return h;
}

/* TAIL (HI, then LO, which completes the write): records consumed. */
static inline int _test_cmd_dma_set_tail(struct mig_dev *d, uint64_t tail)
{
	int ret = _test_cmd_bar0_write(d, MIG_REG_DMA_TAIL_HI, tail >> 32);

	return ret ?: _test_cmd_bar0_write(d, MIG_REG_DMA_TAIL_LO,
					   (uint32_t)tail);
}

/* HEAD in @head, or the -errno of a failed read (no value made up). */
static inline int _test_cmd_dma_head(struct mig_dev *d, uint64_t *head)
{
	uint32_t hi, lo, hi2;
	int ret;

	do {
		ret = _test_cmd_bar0_read(d, MIG_REG_DMA_HEAD_HI, &hi);
		ret = ret ?: _test_cmd_bar0_read(d, MIG_REG_DMA_HEAD_LO, &lo);
		ret = ret ?: _test_cmd_bar0_read(d, MIG_REG_DMA_HEAD_HI, &hi2);
		if (ret)
			return ret;
	} while (hi != hi2);
	*head = (uint64_t)hi << 32 | lo;
	return 0;
}

/*
 * Wait up to MT_DMA_WAIT_MS for @n records more than HEAD holds now.
 * Returns 0, -EFAULT if the engine stopped on a refused write (STATUS
 * FAULT), -ETIMEDOUT if the records did not come, or the -errno of a
 * failed register read.
 */
static inline int _test_cmd_dma_wait_records(struct mig_dev *d, uint64_t n)
{
	uint64_t h, want;
	uint32_t status;
	int i, ret;

	ret = _test_cmd_dma_head(d, &h);
	if (ret)
		return ret;
	want = h + n;
	for (i = 0; i < MT_DMA_WAIT_MS / 5; i++) {
		ret = _test_cmd_dma_head(d, &h);
		if (ret || h >= want)
			return ret;
		ret = _test_cmd_bar0_read(d, MIG_REG_DMA_STATUS, &status);
		if (ret)
			return ret;
		if (status & MIG_DMA_STATUS_FAULT)
			return -EFAULT;
		mt_sleep_ms(5);
	}
	return -ETIMEDOUT;
}

#define test_cmd_dma_wait_records(...) \
	ASSERT_OK(_test_cmd_dma_wait_records(__VA_ARGS__))

/* ---------------------------------------------------------------- */
/* The v2 device dirty log (VFIO_DEVICE_FEATURE_DMA_LOGGING_*)       */
/* ---------------------------------------------------------------- */

/*
 * LOGGING_START at @page_size of [@iova, @iova + @len) and, with
 * @nranges 2, of the @len bytes after it too (0: no range at all).
 */
static inline int _test_cmd_dma_log_start(struct mig_dev *d, uint64_t iova,
					  uint64_t len, uint64_t page_size,
					  uint32_t nranges)
{
	struct vfio_device_feature_dma_logging_range r[2] = {
		{ .iova = iova, .length = len },
		{ .iova = iova + len, .length = len },
	};
	struct vfio_device_feature_dma_logging_control c = {
		.page_size = page_size, .num_ranges = nranges,
		.ranges = (uintptr_t)r,
	};

	return libmig_feature(d, VFIO_DEVICE_FEATURE_SET |
			      VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &c,
			      sizeof(c));
}

#define test_cmd_dma_log_start(...) \
	ASSERT_OK(_test_cmd_dma_log_start(__VA_ARGS__))
#define test_err_dma_log_start(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_dma_log_start(__VA_ARGS__))

static inline int _test_cmd_dma_log_stop(struct mig_dev *d)
{
	return libmig_feature(d, VFIO_DEVICE_FEATURE_SET |
			      VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

#define test_cmd_dma_log_stop(...) \
	ASSERT_OK(_test_cmd_dma_log_stop(__VA_ARGS__))

/*
 * LOGGING_REPORT (read and clear) of [@iova, @iova + @len) at @page_size
 * into @bm, one bit a page, which this zeroes first: @bm holds at least
 * @len / @page_size bits, in whole 64-bit words.
 */
static inline int _test_cmd_dma_log_report(struct mig_dev *d, uint64_t iova,
					   uint64_t len, uint64_t page_size,
					   uint64_t *bm)
{
	struct vfio_device_feature_dma_logging_report r = {
		.iova = iova, .length = len, .page_size = page_size,
		.bitmap = (uintptr_t)bm,
	};

	memset(bm, 0, (len / page_size + 63) / 64 * 8);
	return libmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			      VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &r,
			      sizeof(r));
}

#define test_cmd_dma_log_report(...) \
	ASSERT_OK(_test_cmd_dma_log_report(__VA_ARGS__))

/*
 * Does this kernel and instance offer the log (../shared/PROTOCOL.md,
 * "DMA logging")?  A probe of LOGGING_START.
 */
static inline bool mt_dma_log_offered(struct mig_dev *d)
{
	return !libmig_feature(d, VFIO_DEVICE_FEATURE_PROBE |
			       VFIO_DEVICE_FEATURE_SET |
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL, 0);
}

#endif /* DMA_UTILS_H */
