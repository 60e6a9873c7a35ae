// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev device tests: the mdev types and the instance life cycle, the
 * emulated PCI device (config space, BAR0 registers, BAR2 memory, IRQs,
 * reset), the engine, and unloading the module with instances present.
 *
 * Run as root on a host (or guest) with mig_mdev loaded.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "kselftest_harness.h"
#include "mig_utils.h"

#define MIB			(1024ULL * 1024)
#define MAX_INSTANCES		256
#define MIG_MODULE_DEFAULT	"/mig/mig-mdev.ko"
#define MIG_MODULE_NAME		"mig_mdev"
#define MIG_PARAMS_DIR		"/sys/module/" MIG_MODULE_NAME "/parameters"

/* vfio-pci's layout of the device fd, which the module follows. */
#define REGION_OFFSET(index)	((uint64_t)(index) << 40)

#define MSI_FLAGS		(MIG_MDEV_MSI_CAP + PCI_MSI_FLAGS)
#define MSI_ADDR_LO		(MIG_MDEV_MSI_CAP + PCI_MSI_ADDRESS_LO)
#define MSI_ADDR_HI		(MIG_MDEV_MSI_CAP + PCI_MSI_ADDRESS_HI)
#define MSI_DATA_64		(MIG_MDEV_MSI_CAP + PCI_MSI_DATA_64)

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static int param_ulong(const char *name, unsigned long *val)
{
	char buf[64], *end;
	int ret;

	ret = mig_param_read(name, buf, sizeof(buf));
	if (ret)
		return ret;
	errno = 0;
	*val = strtoul(buf, &end, 0);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

/* Memory size of a type, from the module parameters. */
static uint64_t type_mem_size(const char *type)
{
	unsigned long mb;

	if (param_ulong(strcmp(type, "large") ? "small_mem_mb" :
			"large_mem_mb", &mb))
		return 0;
	return mb * MIB;
}

static bool path_exists(const char *fmt, const char *a, const char *b)
{
	char path[512];

	snprintf(path, sizeof(path), fmt, a, b);
	return access(path, F_OK) == 0;
}

/* A single pread/pwrite at an absolute device-fd offset. */
static int raw_pread(struct mig_dev *d, uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread(d->fd, buf, len, (off_t)off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int raw_pwrite(struct mig_dev *d, uint64_t off, const void *buf,
		      size_t len)
{
	ssize_t n = pwrite(d->fd, buf, len, (off_t)off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static uint32_t cfg32(struct mig_dev *d, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	if (_test_cmd_config_read(d, off, &v, 4))
		return 0xdeadbeef;
	return v;
}

static uint16_t cfg16(struct mig_dev *d, uint32_t off)
{
	uint16_t v = 0xdead;

	if (_test_cmd_config_read(d, off, &v, 2))
		return 0xdead;
	return v;
}

static uint8_t cfg8(struct mig_dev *d, uint32_t off)
{
	uint8_t v = 0xde;

	if (_test_cmd_config_read(d, off, &v, 1))
		return 0xde;
	return v;
}

static int cfg_write32(struct mig_dev *d, uint32_t off, uint32_t v)
{
	return _test_cmd_config_write(d, off, &v, 4);
}

static int cfg_write16(struct mig_dev *d, uint32_t off, uint16_t v)
{
	return _test_cmd_config_write(d, off, &v, 2);
}

static int cfg_write8(struct mig_dev *d, uint32_t off, uint8_t v)
{
	return _test_cmd_config_write(d, off, &v, 1);
}

static uint32_t reg(struct mig_dev *d, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	if (_test_cmd_bar0_read(d, off, &v))
		return 0xdeadbeef;
	return v;
}

/* Number of mdev instances on the system, of any parent. */
static unsigned int count_devices(void)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(MIG_SYSFS_DEVICES);
	if (!dir)
		return 0;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* Wait up to @ms for @efd; returns its count, 0 on timeout, or -errno. */
static int64_t eventfd_wait(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t cnt;
	int ret;

	ret = poll(&p, 1, ms);
	if (ret < 0)
		return -errno;
	if (!ret)
		return 0;
	if (read(efd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return -errno;
	return (int64_t)cnt;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint64_t attr_u64(const char *uuid, const char *attr)
{
	char buf[64];

	if (mig_attr_read(uuid, attr, buf, sizeof(buf)))
		return UINT64_MAX;
	return strtoull(buf, NULL, 0);
}

static uint64_t digest_of(const char *uuid)
{
	uint64_t d;

	if (mig_digest(uuid, &d))
		return 0;
	return d;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void fill_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* ------------------------------------------------------------------ */
/* Types and instances                                                 */
/* ------------------------------------------------------------------ */

FIXTURE(types) {
	struct mt_inst inst[MAX_INSTANCES];
	unsigned int n;
};

FIXTURE_SETUP(types)
{
	MT_SKIP_IF_NO_MODULE();
}

FIXTURE_TEARDOWN(types)
{
	unsigned int i;

	for (i = 0; i < MAX_INSTANCES; i++)
		mt_inst_del(&self->inst[i]);
}

static int types_add(FIXTURE_DATA(types) *self, const char *type)
{
	int ret;

	if (self->n >= MAX_INSTANCES)
		return -E2BIG;
	ret = mt_inst_create(&self->inst[self->n], type);
	if (!ret)
		self->n++;
	return ret;
}

TEST_F(types, small_and_large_have_name_description_and_vfio_pci_api)
{
	static const char * const names[] = { "mig_mdev-small",
					      "mig_mdev-large" };
	char path[256], buf[256];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s/name", MIG_SYSFS_TYPES,
			 names[i]);
		ASSERT_OK(mig_sysfs_read(path, buf, sizeof(buf)));
		EXPECT_NE(0, strlen(buf));
		snprintf(path, sizeof(path), "%s/%s/description",
			 MIG_SYSFS_TYPES, names[i]);
		ASSERT_OK(mig_sysfs_read(path, buf, sizeof(buf)));
		EXPECT_NE(0, strlen(buf));
		snprintf(path, sizeof(path), "%s/%s/device_api",
			 MIG_SYSFS_TYPES, names[i]);
		ASSERT_OK(mig_sysfs_read(path, buf, sizeof(buf)));
		EXPECT_STREQ("vfio-pci", buf);
		snprintf(path, sizeof(path), "%s/%s/devices",
			 MIG_SYSFS_TYPES, names[i]);
		EXPECT_OK(access(path, F_OK));
	}
}

TEST_F(types, available_instances_is_budget_left_over_type_size)
{
	uint64_t small = type_mem_size("small"), large = type_mem_size("large");
	unsigned long budget_mb, avail_s, avail_l;

	ASSERT_NE(0, small);
	ASSERT_NE(0, large);
	ASSERT_OK(param_ulong("mem_budget_mb", &budget_mb));
	ASSERT_OK(mig_type_available("small", &avail_s));
	ASSERT_OK(mig_type_available("large", &avail_l));
	if (count_devices())
		SKIP(return, "%u mdev instances exist already",
		     count_devices());
	EXPECT_EQ(budget_mb * MIB / small, avail_s);
	EXPECT_EQ(budget_mb * MIB / large, avail_l);
}

TEST_F(types, available_instances_counts_down_on_create_and_up_on_remove)
{
	uint64_t small = type_mem_size("small"), large = type_mem_size("large");
	unsigned long s0, l0, s, l;

	ASSERT_OK(mig_type_available("small", &s0));
	ASSERT_OK(mig_type_available("large", &l0));
	if (s0 < 1 || l0 < 2)
		SKIP(return, "budget too small: %lu small, %lu large", s0, l0);

	ASSERT_OK(types_add(self, "small"));
	ASSERT_OK(mig_type_available("small", &s));
	EXPECT_EQ(s0 - 1, s);

	ASSERT_OK(types_add(self, "large"));
	ASSERT_OK(mig_type_available("small", &s));
	ASSERT_OK(mig_type_available("large", &l));
	EXPECT_EQ(s0 - 1 - large / small, s);
	EXPECT_EQ((s0 * small - small - large) / large, l);

	ASSERT_OK(mt_inst_del(&self->inst[1]));
	ASSERT_OK(mig_type_available("small", &s));
	EXPECT_EQ(s0 - 1, s);
	ASSERT_OK(mt_inst_del(&self->inst[0]));
	ASSERT_OK(mig_type_available("small", &s));
	ASSERT_OK(mig_type_available("large", &l));
	EXPECT_EQ(s0, s);
	EXPECT_EQ(l0, l);
}

TEST_F(types, create_and_remove_through_sysfs)
{
	struct mt_inst *in = &self->inst[0];
	char path[256], buf[64];

	ASSERT_OK(types_add(self, "small"));
	EXPECT_TRUE(path_exists("%s/%s", MIG_SYSFS_DEVICES, in->uuid));
	snprintf(path, sizeof(path), "%s/mig_mdev-small/devices/%s",
		 MIG_SYSFS_TYPES, in->uuid);
	EXPECT_OK(access(path, F_OK));
	EXPECT_TRUE(path_exists("%s/%s/iommu_group", MIG_SYSFS_DEVICES,
				in->uuid));
	ASSERT_OK(mig_attr_read(in->uuid, "migration_state", buf,
				sizeof(buf)));
	EXPECT_STREQ("RUNNING", buf);

	ASSERT_OK(mt_inst_del(in));
	EXPECT_FALSE(path_exists("%s/%s", MIG_SYSFS_DEVICES, in->uuid));
	EXPECT_NE(0, access(path, F_OK));
}

TEST_F(types, create_with_duplicate_uuid_fails)
{
	char path[256];

	ASSERT_OK(types_add(self, "small"));
	snprintf(path, sizeof(path), "%s/mig_mdev-small/create",
		 MIG_SYSFS_TYPES);
	EXPECT_ERRNO(EEXIST, mig_sysfs_write(path, self->inst[0].uuid));
}

TEST_F(types, create_32_small_instances_at_once)
{
	unsigned long s0, s;
	unsigned int i, j;

	ASSERT_OK(mig_type_available("small", &s0));
	if (s0 < 32)
		SKIP(return, "budget too small: %lu small instances", s0);
	for (i = 0; i < 32; i++)
		ASSERT_OK(types_add(self, "small"));
	ASSERT_OK(mig_type_available("small", &s));
	EXPECT_EQ(s0 - 32, s);
	for (i = 0; i < 32; i++) {
		EXPECT_TRUE(path_exists("%s/%s", MIG_SYSFS_DEVICES,
					self->inst[i].uuid));
		for (j = 0; j < i; j++)
			EXPECT_STRNE(self->inst[i].uuid, self->inst[j].uuid);
	}
	for (i = 0; i < 32; i++)
		ASSERT_OK(mt_inst_del(&self->inst[i]));
	ASSERT_OK(mig_type_available("small", &s));
	EXPECT_EQ(s0, s);
}

TEST_F(types, create_past_the_budget_fails_with_enospc)
{
	unsigned long l0, s, l;
	unsigned int i;

	ASSERT_OK(mig_type_available("large", &l0));
	if (l0 > 32)
		SKIP(return, "budget too large for this guest: %lu", l0);
	for (i = 0; i < l0; i++)
		ASSERT_OK(types_add(self, "large"));
	ASSERT_OK(mig_type_available("large", &l));
	EXPECT_EQ(0, l);
	EXPECT_ERRNO(ENOSPC, types_add(self, "large"));

	/* Fill what is left with small instances, then small fails too. */
	ASSERT_OK(mig_type_available("small", &s));
	ASSERT_GE(MAX_INSTANCES - self->n - 1, s);
	for (i = 0; i < s; i++)
		ASSERT_OK(types_add(self, "small"));
	ASSERT_OK(mig_type_available("small", &s));
	EXPECT_EQ(0, s);
	EXPECT_ERRNO(ENOSPC, types_add(self, "small"));

	/* One removal makes room again. */
	ASSERT_OK(mt_inst_del(&self->inst[0]));
	ASSERT_OK(mig_type_available("large", &l));
	EXPECT_EQ(1, l);
}

/* ------------------------------------------------------------------ */
/* One open small instance                                             */
/* ------------------------------------------------------------------ */

FIXTURE(dev) {
	struct mt_inst inst;
	struct mig_dev *d;
	uint64_t mem_size;
	int efd[2];
};

FIXTURE_SETUP(dev)
{
	MT_SKIP_IF_NO_MODULE();
	self->efd[0] = -1;
	self->efd[1] = -1;
	self->mem_size = type_mem_size("small");
	ASSERT_NE(0, self->mem_size);
	ASSERT_OK(mt_inst_setup(&self->inst, "small"));
	self->d = &self->inst.d;
}

FIXTURE_TEARDOWN(dev)
{
	if (self->efd[0] >= 0)
		close(self->efd[0]);
	if (self->efd[1] >= 0)
		close(self->efd[1]);
	mt_inst_del(&self->inst);
}

/* Config space */

TEST_F(dev, config_ids_and_class_come_from_module_params)
{
	unsigned long vendor, device, class;

	ASSERT_OK(param_ulong("pci_vendor", &vendor));
	ASSERT_OK(param_ulong("pci_device", &device));
	ASSERT_OK(param_ulong("pci_class", &class));
	EXPECT_EQ(vendor, cfg16(self->d, PCI_VENDOR_ID));
	EXPECT_EQ(device, cfg16(self->d, PCI_DEVICE_ID));
	EXPECT_EQ((class << 8) | MIG_MDEV_PCI_REVISION,
		  cfg32(self->d, PCI_CLASS_REVISION));
	EXPECT_EQ(MIG_MDEV_PCI_REVISION, cfg8(self->d, PCI_REVISION_ID));
	EXPECT_EQ(vendor | (device << 16), cfg32(self->d, PCI_VENDOR_ID));
}

TEST_F(dev, config_header_type_is_normal_single_function)
{
	EXPECT_EQ(PCI_HEADER_TYPE_NORMAL, cfg8(self->d, PCI_HEADER_TYPE));
	EXPECT_EQ(0, cfg8(self->d, PCI_BIST));
}

TEST_F(dev, config_cap_list_holds_only_msi_at_0x40)
{
	uint16_t flags;

	EXPECT_TRUE(cfg16(self->d, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	EXPECT_EQ(MIG_MDEV_MSI_CAP, cfg8(self->d, PCI_CAPABILITY_LIST));
	EXPECT_EQ(PCI_CAP_ID_MSI,
		  cfg8(self->d, MIG_MDEV_MSI_CAP + PCI_CAP_LIST_ID));
	EXPECT_EQ(0, cfg8(self->d, MIG_MDEV_MSI_CAP + PCI_CAP_LIST_NEXT));
	flags = cfg16(self->d, MSI_FLAGS);
	EXPECT_EQ(0, flags & PCI_MSI_FLAGS_ENABLE);
	EXPECT_EQ(0, flags & PCI_MSI_FLAGS_QMASK);	/* one vector */
	EXPECT_EQ(0, flags & PCI_MSI_FLAGS_QSIZE);
}

TEST_F(dev, config_interrupt_pin_is_inta)
{
	EXPECT_EQ(1, cfg8(self->d, PCI_INTERRUPT_PIN));
}

TEST_F(dev, config_bar0_sizing_reads_4k_mask_and_restores)
{
	uint32_t orig = cfg32(self->d, PCI_BASE_ADDRESS_0);

	EXPECT_EQ(PCI_BASE_ADDRESS_SPACE_MEMORY | PCI_BASE_ADDRESS_MEM_TYPE_32,
		  orig & ~PCI_BASE_ADDRESS_MEM_MASK);
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_0, 0xffffffff));
	EXPECT_EQ(~(uint32_t)(MIG_MDEV_BAR0_SIZE - 1),
		  cfg32(self->d, PCI_BASE_ADDRESS_0) &
		  PCI_BASE_ADDRESS_MEM_MASK);
	EXPECT_EQ(0xfffff000, cfg32(self->d, PCI_BASE_ADDRESS_0));
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_0, orig));
	EXPECT_EQ(orig, cfg32(self->d, PCI_BASE_ADDRESS_0));

	/* An address sticks in the size-aligned bits only. */
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_0, 0xfebf1234));
	EXPECT_EQ(0xfebf1000, cfg32(self->d, PCI_BASE_ADDRESS_0));
}

TEST_F(dev, config_bar2_is_64bit_prefetchable_sized_to_type_memory)
{
	uint32_t lo = cfg32(self->d, PCI_BASE_ADDRESS_2);
	uint32_t hi = cfg32(self->d, PCI_BASE_ADDRESS_3);
	uint64_t mask = ~(self->mem_size - 1);
	uint32_t flags = PCI_BASE_ADDRESS_SPACE_MEMORY |
			 PCI_BASE_ADDRESS_MEM_TYPE_64 |
			 PCI_BASE_ADDRESS_MEM_PREFETCH;

	EXPECT_EQ(flags, lo & ~PCI_BASE_ADDRESS_MEM_MASK);
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_2, 0xffffffff));
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_3, 0xffffffff));
	EXPECT_EQ((uint32_t)mask | flags, cfg32(self->d, PCI_BASE_ADDRESS_2));
	EXPECT_EQ((uint32_t)(mask >> 32), cfg32(self->d, PCI_BASE_ADDRESS_3));
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_2, lo));
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_3, hi));
	EXPECT_EQ(lo, cfg32(self->d, PCI_BASE_ADDRESS_2));
	EXPECT_EQ(hi, cfg32(self->d, PCI_BASE_ADDRESS_3));
}

TEST_F(dev, config_unused_bars_read_zero_and_ignore_sizing)
{
	static const uint32_t bars[] = { PCI_BASE_ADDRESS_1,
					 PCI_BASE_ADDRESS_4,
					 PCI_BASE_ADDRESS_5, PCI_ROM_ADDRESS };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bars); i++) {
		EXPECT_EQ(0, cfg32(self->d, bars[i]));
		ASSERT_OK(cfg_write32(self->d, bars[i], 0xffffffff));
		EXPECT_EQ(0, cfg32(self->d, bars[i]));
	}
}

TEST_F(dev, config_writes_to_read_only_fields_are_ignored)
{
	uint8_t before[MIG_MDEV_CONFIG_SIZE], after[MIG_MDEV_CONFIG_SIZE];
	static const uint32_t ro32[] = { PCI_VENDOR_ID, PCI_CLASS_REVISION,
					 PCI_SUBSYSTEM_VENDOR_ID,
					 PCI_CAPABILITY_LIST, 0x80, 0xfc };
	unsigned int i;

	for (i = 0; i < MIG_MDEV_CONFIG_SIZE; i += 4)
		test_cmd_config_read(self->d, i, before + i, 4);
	for (i = 0; i < ARRAY_SIZE(ro32); i++)
		ASSERT_OK(cfg_write32(self->d, ro32[i], 0xa5a5a5a5));
	ASSERT_OK(cfg_write16(self->d, PCI_STATUS, 0xffff));
	ASSERT_OK(cfg_write8(self->d, PCI_HEADER_TYPE, 0xff));
	ASSERT_OK(cfg_write8(self->d, PCI_BIST, 0xff));
	ASSERT_OK(cfg_write8(self->d, PCI_INTERRUPT_PIN, 0x04));
	ASSERT_OK(cfg_write8(self->d, PCI_MIN_GNT, 0xff));
	ASSERT_OK(cfg_write16(self->d, MIG_MDEV_MSI_CAP, 0x1234));
	for (i = 0; i < MIG_MDEV_CONFIG_SIZE; i += 4)
		test_cmd_config_read(self->d, i, after + i, 4);
	EXPECT_EQ(0, memcmp(before, after, sizeof(before)));
}

TEST_F(dev, config_command_keeps_only_memory_master_and_intx_disable)
{
	const uint16_t rw = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			    PCI_COMMAND_INTX_DISABLE;

	EXPECT_EQ(0, cfg16(self->d, PCI_COMMAND));
	ASSERT_OK(cfg_write16(self->d, PCI_COMMAND, 0xffff));
	EXPECT_EQ(rw, cfg16(self->d, PCI_COMMAND));
	ASSERT_OK(cfg_write16(self->d, PCI_COMMAND, 0));
	EXPECT_EQ(0, cfg16(self->d, PCI_COMMAND));
}

TEST_F(dev, config_cache_line_latency_and_interrupt_line_are_writable)
{
	ASSERT_OK(cfg_write8(self->d, PCI_CACHE_LINE_SIZE, 0x10));
	ASSERT_OK(cfg_write8(self->d, PCI_LATENCY_TIMER, 0x40));
	ASSERT_OK(cfg_write8(self->d, PCI_INTERRUPT_LINE, 0x0b));
	EXPECT_EQ(0x10, cfg8(self->d, PCI_CACHE_LINE_SIZE));
	EXPECT_EQ(0x40, cfg8(self->d, PCI_LATENCY_TIMER));
	EXPECT_EQ(0x0b, cfg8(self->d, PCI_INTERRUPT_LINE));
	EXPECT_EQ(1, cfg8(self->d, PCI_INTERRUPT_PIN));
}

TEST_F(dev, config_msi_enable_address_and_data_are_writable)
{
	uint16_t flags = cfg16(self->d, MSI_FLAGS);

	ASSERT_TRUE(flags & PCI_MSI_FLAGS_64BIT);
	ASSERT_OK(cfg_write16(self->d, MSI_FLAGS, flags | PCI_MSI_FLAGS_ENABLE));
	EXPECT_EQ(flags | PCI_MSI_FLAGS_ENABLE, cfg16(self->d, MSI_FLAGS));
	ASSERT_OK(cfg_write32(self->d, MSI_ADDR_LO, 0xfee01003));
	EXPECT_EQ(0xfee01000, cfg32(self->d, MSI_ADDR_LO));
	ASSERT_OK(cfg_write32(self->d, MSI_ADDR_HI, 0x12345678));
	EXPECT_EQ(0x12345678, cfg32(self->d, MSI_ADDR_HI));
	ASSERT_OK(cfg_write16(self->d, MSI_DATA_64, 0x4041));
	EXPECT_EQ(0x4041, cfg16(self->d, MSI_DATA_64));
	ASSERT_OK(cfg_write16(self->d, MSI_FLAGS, flags));
	EXPECT_EQ(flags, cfg16(self->d, MSI_FLAGS));
}

TEST_F(dev, config_whole_space_reads_in_one_go)
{
	uint8_t whole[MIG_MDEV_CONFIG_SIZE], dw[MIG_MDEV_CONFIG_SIZE];
	unsigned int i;

	test_cmd_config_read(self->d, 0, whole, sizeof(whole));
	for (i = 0; i < MIG_MDEV_CONFIG_SIZE; i += 4)
		test_cmd_config_read(self->d, i, dw + i, 4);
	EXPECT_EQ(0, memcmp(whole, dw, sizeof(whole)));
}

TEST_F(dev, config_out_of_range_access_is_einval)
{
	uint32_t v = 0;

	test_err_config_read(EINVAL, self->d, MIG_MDEV_CONFIG_SIZE, &v, 1);
	test_err_config_read(EINVAL, self->d, MIG_MDEV_CONFIG_SIZE, &v, 4);
	test_err_config_read(EINVAL, self->d, 0x1000, &v, 4);
	test_err_config_write(EINVAL, self->d, MIG_MDEV_CONFIG_SIZE, &v, 4);
}

TEST_F(dev, config_misaligned_or_odd_width_access_is_einval)
{
	uint32_t v = 0xffffffff;

	test_err_config_read(EINVAL, self->d, 0x01, &v, 2);
	test_err_config_read(EINVAL, self->d, 0x02, &v, 4);
	test_err_config_read(EINVAL, self->d, 0x00, &v, 3);
	test_err_config_write(EINVAL, self->d, 0x0d, &v, 2);
	test_err_config_write(EINVAL, self->d, 0x11, &v, 4);
	test_err_config_write(EINVAL, self->d, 0x04, &v, 3);
	/* The rejected writes changed nothing. */
	EXPECT_EQ(0, cfg16(self->d, PCI_COMMAND));
	EXPECT_EQ(0, cfg8(self->d, PCI_LATENCY_TIMER));
}

/* BAR0 registers */

TEST_F(dev, bar0_id_and_revision_identify_the_register_file)
{
	EXPECT_EQ(MIG_REG_ID_VALUE, reg(self->d, MIG_REG_ID));
	EXPECT_EQ(MIG_REG_REVISION_VALUE, reg(self->d, MIG_REG_REVISION));
}

TEST_F(dev, bar0_power_on_registers_are_zero)
{
	EXPECT_EQ(0, reg(self->d, MIG_REG_CONTROL));
	EXPECT_EQ(0, reg(self->d, MIG_REG_STATUS));
	EXPECT_EQ(0, reg(self->d, MIG_REG_IRQ_COUNT));
	EXPECT_EQ(0, reg(self->d, MIG_REG_ENGINE_RATE));
	EXPECT_EQ(0, reg(self->d, MIG_REG_ENGINE_SEED));
	EXPECT_EQ(0, reg(self->d, MIG_REG_ENGINE_COUNT_LO));
	EXPECT_EQ(0, reg(self->d, MIG_REG_ENGINE_COUNT_HI));
}

TEST_F(dev, bar0_scratch_registers_round_trip)
{
	unsigned int i;

	for (i = 0; i < MIG_NR_SCRATCH; i++)
		test_cmd_bar0_write(self->d, MIG_REG_SCRATCH0 + 4 * i,
				    0x5c000000 | (i * 0x01010101));
	for (i = 0; i < MIG_NR_SCRATCH; i++)
		EXPECT_EQ(0x5c000000 | (i * 0x01010101),
			  reg(self->d, MIG_REG_SCRATCH0 + 4 * i));
}

TEST_F(dev, bar0_read_only_registers_ignore_writes)
{
	static const uint32_t ro[] = { MIG_REG_ID, MIG_REG_REVISION,
				       MIG_REG_IRQ_COUNT,
				       MIG_REG_ENGINE_COUNT_LO,
				       MIG_REG_ENGINE_COUNT_HI,
				       MIG_REG_MEM_PAGES };
	uint32_t before[ARRAY_SIZE(ro)];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ro); i++)
		before[i] = reg(self->d, ro[i]);
	for (i = 0; i < ARRAY_SIZE(ro); i++)
		EXPECT_OK(_test_cmd_bar0_write(self->d, ro[i], 0x87654321));
	for (i = 0; i < ARRAY_SIZE(ro); i++)
		EXPECT_EQ(before[i], reg(self->d, ro[i]));
	/*
	 * The doorbell and unused offsets read as zero (revision 2: the DMA
	 * engine's registers follow the scratch registers).
	 */
	EXPECT_EQ(0, reg(self->d, MIG_REG_DOORBELL));
	EXPECT_OK(_test_cmd_bar0_write(self->d, MIG_REG_DMA_END, 0xffffffff));
	EXPECT_EQ(0, reg(self->d, MIG_REG_DMA_END));
	EXPECT_EQ(0, reg(self->d, MIG_MDEV_BAR0_SIZE - 4));
}

TEST_F(dev, bar0_control_keeps_only_defined_bits)
{
	test_cmd_bar0_write(self->d, MIG_REG_CONTROL, ~MIG_CTRL_ENGINE_EN);
	EXPECT_EQ(MIG_CTRL_IRQ_EN, reg(self->d, MIG_REG_CONTROL));
	test_cmd_bar0_write(self->d, MIG_REG_CONTROL, 0);
	EXPECT_EQ(0, reg(self->d, MIG_REG_CONTROL));
}

TEST_F(dev, bar0_status_irq_bit_is_write_one_to_clear)
{
	test_cmd_bar0_write(self->d, MIG_REG_CONTROL, MIG_CTRL_IRQ_EN);
	test_cmd_bar0_write(self->d, MIG_REG_DOORBELL, 1);
	EXPECT_EQ(MIG_STATUS_IRQ, reg(self->d, MIG_REG_STATUS));
	EXPECT_EQ(1, reg(self->d, MIG_REG_IRQ_COUNT));
	test_cmd_bar0_write(self->d, MIG_REG_STATUS, 0);
	EXPECT_EQ(MIG_STATUS_IRQ, reg(self->d, MIG_REG_STATUS));
	test_cmd_bar0_write(self->d, MIG_REG_STATUS, ~MIG_STATUS_IRQ);
	EXPECT_EQ(MIG_STATUS_IRQ, reg(self->d, MIG_REG_STATUS));
	test_cmd_bar0_write(self->d, MIG_REG_STATUS, MIG_STATUS_IRQ);
	EXPECT_EQ(0, reg(self->d, MIG_REG_STATUS));
	/* The count is not cleared with the bit. */
	EXPECT_EQ(1, reg(self->d, MIG_REG_IRQ_COUNT));
}

TEST_F(dev, bar0_doorbell_without_irq_enable_does_nothing)
{
	test_cmd_bar0_write(self->d, MIG_REG_DOORBELL, 1);
	EXPECT_EQ(0, reg(self->d, MIG_REG_STATUS));
	EXPECT_EQ(0, reg(self->d, MIG_REG_IRQ_COUNT));
}

TEST_F(dev, bar0_mem_pages_matches_type)
{
	EXPECT_EQ(self->mem_size / MIG_PAGE_SIZE,
		  reg(self->d, MIG_REG_MEM_PAGES));
}

TEST_F(dev, bar0_out_of_range_access_is_einval)
{
	uint32_t v = 0;

	test_err_bar0_read(EINVAL, self->d, MIG_MDEV_BAR0_SIZE, &v);
	test_err_bar0_write(EINVAL, self->d, MIG_MDEV_BAR0_SIZE, v);
	EXPECT_ERRNO(EINVAL, mig_region_pread(self->d, 0, &v, 4, 1ULL << 32));
}

TEST_F(dev, bar0_non_dword_or_misaligned_access_is_einval)
{
	uint64_t v = 0;

	EXPECT_ERRNO(EINVAL, mig_region_pread(self->d, 0, &v, 1, MIG_REG_ID));
	EXPECT_ERRNO(EINVAL, mig_region_pread(self->d, 0, &v, 2, MIG_REG_ID));
	EXPECT_ERRNO(EINVAL, mig_region_pread(self->d, 0, &v, 8, MIG_REG_ID));
	EXPECT_ERRNO(EINVAL, mig_region_pread(self->d, 0, &v, 4,
					      MIG_REG_SCRATCH0 + 2));
	v = 0xffffffff;
	EXPECT_ERRNO(EINVAL, mig_region_pwrite(self->d, 0, &v, 2,
					       MIG_REG_SCRATCH0));
	EXPECT_ERRNO(EINVAL, mig_region_pwrite(self->d, 0, &v, 8,
					       MIG_REG_SCRATCH0));
	EXPECT_ERRNO(EINVAL, mig_region_pwrite(self->d, 0, &v, 4,
					       MIG_REG_SCRATCH0 + 1));
	EXPECT_EQ(0, reg(self->d, MIG_REG_SCRATCH0));
	EXPECT_EQ(0, reg(self->d, MIG_REG_SCRATCH0 + 4));
}

/* BAR2 memory */

TEST_F(dev, bar2_round_trip_at_every_width)
{
	static const size_t widths[] = { 1, 2, 4, 8 };
	uint8_t w[8], r[8], page[64];
	uint64_t base = self->mem_size / 2;
	unsigned int i, k;

	for (i = 0; i < 4; i++) {
		for (k = 0; k < 8 / widths[i]; k++) {
			uint64_t off = base + 8 * i + k * widths[i];

			fill_pattern(w, widths[i], i * 16 + k + 1);
			test_cmd_mem_write(self->d, off, w, widths[i]);
			memset(r, 0, sizeof(r));
			test_cmd_mem_read(self->d, off, r, widths[i]);
			EXPECT_EQ(0, memcmp(w, r, widths[i]));
		}
	}
	/* Every width landed where it was aimed, nothing around it moved. */
	test_cmd_mem_read(self->d, base - 16, page, sizeof(page));
	EXPECT_TRUE(all_zero(page, 16));
	EXPECT_TRUE(all_zero(page + 48, 16));
	for (i = 0; i < 4; i++)
		for (k = 0; k < 8 / widths[i]; k++) {
			fill_pattern(w, widths[i], i * 16 + k + 1);
			EXPECT_EQ(0, memcmp(w, page + 16 + 8 * i +
					    k * widths[i], widths[i]));
		}
	/* The last 8 bytes of memory are reachable. */
	test_cmd_mem_write(self->d, self->mem_size - 8, w, 8);
	test_cmd_mem_read(self->d, self->mem_size - 8, r, 8);
	EXPECT_EQ(0, memcmp(w, r, 8));
}

TEST_F(dev, bar2_long_range_round_trip)
{
	size_t len = 3 * MIG_PAGE_SIZE + 24;
	uint64_t off = MIG_PAGE_SIZE - 8;
	uint8_t *w = malloc(len), *r = malloc(len), *all;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	fill_pattern(w, len, 7);
	test_cmd_mem_write(self->d, off, w, len);
	test_cmd_mem_read(self->d, off, r, len);
	EXPECT_EQ(0, memcmp(w, r, len));
	free(w);
	free(r);

	/* The whole of memory in one go. */
	all = malloc(self->mem_size);
	ASSERT_NE(NULL, all);
	fill_pattern(all, self->mem_size, 11);
	test_cmd_mem_write(self->d, 0, all, self->mem_size);
	memset(all, 0, self->mem_size);
	test_cmd_mem_read(self->d, 0, all, self->mem_size);
	r = malloc(self->mem_size);
	ASSERT_NE(NULL, r);
	fill_pattern(r, self->mem_size, 11);
	EXPECT_EQ(0, memcmp(all, r, self->mem_size));
	free(all);
	free(r);
}

TEST_F(dev, bar2_out_of_range_access_is_einval)
{
	uint8_t buf[2 * MIG_PAGE_SIZE] = { 0 };
	uint64_t end = self->mem_size;

	test_err_mem_read(EINVAL, self->d, end, buf, 1);
	test_err_mem_read(EINVAL, self->d, end, buf, 8);
	test_err_mem_write(EINVAL, self->d, end, buf, 4);
	test_err_mem_read(EINVAL, self->d, end - MIG_PAGE_SIZE, buf,
			  sizeof(buf));
	test_err_mem_write(EINVAL, self->d, end - MIG_PAGE_SIZE, buf,
			   sizeof(buf));
	test_err_mem_read(EINVAL, self->d, 1ULL << 39, buf, 8);
}

TEST_F(dev, bar2_misaligned_access_is_einval)
{
	uint64_t v = 0xffffffffffffffffULL, r = 0;

	test_err_mem_read(EINVAL, self->d, 1, &v, 2);
	test_err_mem_read(EINVAL, self->d, 2, &v, 4);
	test_err_mem_read(EINVAL, self->d, 4, &v, 8);
	test_err_mem_write(EINVAL, self->d, 1, &v, 2);
	test_err_mem_write(EINVAL, self->d, 6, &v, 4);
	test_err_mem_write(EINVAL, self->d, 12, &v, 8);
	test_err_mem_write(EINVAL, self->d, 0, &v, 3);
	test_cmd_mem_read(self->d, 0, &r, 8);
	EXPECT_EQ(0, r);
	test_cmd_mem_read(self->d, 8, &r, 8);
	EXPECT_EQ(0, r);
}

TEST_F(dev, unknown_region_index_access_is_einval)
{
	static const uint32_t idx[] = { VFIO_PCI_BAR1_REGION_INDEX,
					VFIO_PCI_BAR3_REGION_INDEX,
					VFIO_PCI_BAR5_REGION_INDEX,
					VFIO_PCI_ROM_REGION_INDEX,
					VFIO_PCI_VGA_REGION_INDEX,
					VFIO_PCI_NUM_REGIONS + 1, 200 };
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(idx); i++) {
		EXPECT_ERRNO(EINVAL, raw_pread(self->d, REGION_OFFSET(idx[i]),
					       &v, 4));
		EXPECT_ERRNO(EINVAL, raw_pwrite(self->d, REGION_OFFSET(idx[i]),
						&v, 4));
	}
}

/* VFIO device, region and IRQ info */

TEST_F(dev, device_info_is_pci_with_reset_and_a_migration_region)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	test_cmd_ioctl(self->d->fd, VFIO_DEVICE_GET_INFO, &info);
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_RESET);
	EXPECT_EQ(VFIO_PCI_NUM_REGIONS + 1, info.num_regions);
	EXPECT_EQ(VFIO_PCI_NUM_IRQS, info.num_irqs);
	EXPECT_EQ(MIG_MDEV_MIGRATION_REGION_INDEX, self->d->mig_index);
}

TEST_F(dev, device_info_short_argsz_is_einval)
{
	struct vfio_device_info info = { .argsz = 8 };

	test_err_ioctl(EINVAL, self->d->fd, VFIO_DEVICE_GET_INFO, &info);
}

TEST_F(dev, region_info_gives_size_flags_and_offset_of_each_region)
{
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ |
			    VFIO_REGION_INFO_FLAG_WRITE;
	struct vfio_region_info *ri;
	int i;

	for (i = 0; i < VFIO_PCI_NUM_REGIONS + 1; i++) {
		ASSERT_OK(mig_get_region_info(self->d, i, &ri));
		EXPECT_EQ(i, ri->index);
		EXPECT_EQ(REGION_OFFSET(i), ri->offset);
		switch (i) {
		case VFIO_PCI_BAR0_REGION_INDEX:
			EXPECT_EQ(MIG_MDEV_BAR0_SIZE, ri->size);
			EXPECT_EQ(rw, ri->flags);
			break;
		case VFIO_PCI_BAR2_REGION_INDEX:
			EXPECT_EQ(self->mem_size, ri->size);
			EXPECT_EQ(rw, ri->flags);
			break;
		case VFIO_PCI_CONFIG_REGION_INDEX:
			EXPECT_EQ(MIG_MDEV_CONFIG_SIZE, ri->size);
			EXPECT_EQ(rw, ri->flags);
			break;
		case MIG_MDEV_MIGRATION_REGION_INDEX:
			EXPECT_EQ(rw | VFIO_REGION_INFO_FLAG_MMAP |
				  VFIO_REGION_INFO_FLAG_CAPS, ri->flags);
			EXPECT_EQ(self->d->data_offset +
				  self->d->section_size, ri->size);
			break;
		default:
			EXPECT_EQ(0, ri->size);
			EXPECT_EQ(0, ri->flags);
			break;
		}
		free(ri);
	}
}

TEST_F(dev, region_info_bad_index_is_einval)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri) };

	ri.index = VFIO_PCI_NUM_REGIONS + 1;
	test_err_ioctl(EINVAL, self->d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri);
	ri.index = 0xffffffff;
	test_err_ioctl(EINVAL, self->d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri);
}

TEST_F(dev, region_info_short_argsz_is_einval)
{
	struct vfio_region_info ri = { .argsz = 16,
				       .index = VFIO_PCI_BAR0_REGION_INDEX };

	test_err_ioctl(EINVAL, self->d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri);
	ri.argsz = 0;
	test_err_ioctl(EINVAL, self->d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri);
}

TEST_F(dev, irq_info_intx_and_msi_have_one_eventfd_vector)
{
	struct vfio_irq_info info = { .argsz = sizeof(info) };
	uint32_t i;

	for (i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		info.index = i;
		test_cmd_ioctl(self->d->fd, VFIO_DEVICE_GET_IRQ_INFO, &info);
		if (i == VFIO_PCI_INTX_IRQ_INDEX ||
		    i == VFIO_PCI_MSI_IRQ_INDEX) {
			EXPECT_EQ(1, info.count);
			EXPECT_TRUE(info.flags & VFIO_IRQ_INFO_EVENTFD);
		} else {
			EXPECT_EQ(0, info.count);
		}
	}
}

TEST_F(dev, irq_info_bad_index_or_short_argsz_is_einval)
{
	struct vfio_irq_info info = { .argsz = sizeof(info) };

	info.index = VFIO_PCI_NUM_IRQS;
	test_err_ioctl(EINVAL, self->d->fd, VFIO_DEVICE_GET_IRQ_INFO, &info);
	info.index = 0xffffffff;
	test_err_ioctl(EINVAL, self->d->fd, VFIO_DEVICE_GET_IRQ_INFO, &info);
	info.index = VFIO_PCI_INTX_IRQ_INDEX;
	info.argsz = 8;
	test_err_ioctl(EINVAL, self->d->fd, VFIO_DEVICE_GET_IRQ_INFO, &info);
}

/* Interrupts */

TEST_F(dev, doorbell_fires_intx_eventfd)
{
	self->efd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, self->efd[0]);
	test_cmd_irq_eventfd(self->d, VFIO_PCI_INTX_IRQ_INDEX, self->efd[0]);
	test_cmd_bar0_write(self->d, MIG_REG_CONTROL, MIG_CTRL_IRQ_EN);
	EXPECT_EQ(0, eventfd_wait(self->efd[0], 0));
	test_cmd_bar0_write(self->d, MIG_REG_DOORBELL, 1);
	EXPECT_EQ(1, eventfd_wait(self->efd[0], 1000));
	test_cmd_irq_eventfd(self->d, VFIO_PCI_INTX_IRQ_INDEX, -1);
}

TEST_F(dev, doorbell_does_not_fire_intx_when_intx_disabled)
{
	self->efd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, self->efd[0]);
	test_cmd_irq_eventfd(self->d, VFIO_PCI_INTX_IRQ_INDEX, self->efd[0]);
	ASSERT_OK(cfg_write16(self->d, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE));
	test_cmd_bar0_write(self->d, MIG_REG_CONTROL, MIG_CTRL_IRQ_EN);
	test_cmd_bar0_write(self->d, MIG_REG_DOORBELL, 1);
	EXPECT_EQ(0, eventfd_wait(self->efd[0], 200));
	/* The device still counts it. */
	EXPECT_EQ(1, reg(self->d, MIG_REG_IRQ_COUNT));
}

TEST_F(dev, doorbell_fires_msi_eventfd_when_msi_enabled)
{
	uint16_t flags = cfg16(self->d, MSI_FLAGS);

	self->efd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	self->efd[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, self->efd[0]);
	ASSERT_LE(0, self->efd[1]);
	test_cmd_irq_eventfd(self->d, VFIO_PCI_INTX_IRQ_INDEX, self->efd[0]);
	test_cmd_irq_eventfd(self->d, VFIO_PCI_MSI_IRQ_INDEX, self->efd[1]);
	ASSERT_OK(cfg_write32(self->d, MSI_ADDR_LO, 0xfee00000));
	ASSERT_OK(cfg_write16(self->d, MSI_DATA_64, 0x0041));
	ASSERT_OK(cfg_write16(self->d, MSI_FLAGS, flags | PCI_MSI_FLAGS_ENABLE));
	test_cmd_bar0_write(self->d, MIG_REG_CONTROL, MIG_CTRL_IRQ_EN);
	test_cmd_bar0_write(self->d, MIG_REG_DOORBELL, 1);
	EXPECT_EQ(1, eventfd_wait(self->efd[1], 1000));
	/* MSI replaces INTx, it does not add to it. */
	EXPECT_EQ(0, eventfd_wait(self->efd[0], 100));

	/* Twice more: each doorbell is one interrupt. */
	test_cmd_bar0_write(self->d, MIG_REG_DOORBELL, 1);
	test_cmd_bar0_write(self->d, MIG_REG_DOORBELL, 1);
	sleep_ms(50);
	EXPECT_EQ(2, eventfd_wait(self->efd[1], 1000));
	EXPECT_EQ(3, reg(self->d, MIG_REG_IRQ_COUNT));
	test_cmd_irq_eventfd(self->d, VFIO_PCI_MSI_IRQ_INDEX, -1);
	test_cmd_irq_eventfd(self->d, VFIO_PCI_INTX_IRQ_INDEX, -1);
}

/* Reset */

TEST_F(dev, reset_restores_registers_memory_and_config)
{
	uint8_t cfg0[MIG_MDEV_CONFIG_SIZE], cfg1[MIG_MDEV_CONFIG_SIZE];
	uint8_t *mem = malloc(self->mem_size);
	uint32_t state;
	unsigned int i;

	ASSERT_NE(NULL, mem);
	for (i = 0; i < MIG_MDEV_CONFIG_SIZE; i += 4)
		test_cmd_config_read(self->d, i, cfg0 + i, 4);

	/* Dirty everything the guest can reach. */
	for (i = 0; i < MIG_NR_SCRATCH; i++)
		test_cmd_bar0_write(self->d, MIG_REG_SCRATCH0 + 4 * i, ~i);
	test_cmd_bar0_write(self->d, MIG_REG_ENGINE_SEED, 1234);
	test_cmd_bar0_write(self->d, MIG_REG_ENGINE_RATE, 77);
	test_cmd_bar0_write(self->d, MIG_REG_CONTROL, MIG_CTRL_IRQ_EN);
	test_cmd_bar0_write(self->d, MIG_REG_DOORBELL, 1);
	fill_pattern(mem, self->mem_size, 3);
	test_cmd_mem_write(self->d, 0, mem, self->mem_size);
	ASSERT_OK(cfg_write16(self->d, PCI_COMMAND, PCI_COMMAND_MEMORY |
			      PCI_COMMAND_MASTER));
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_0, 0xfeb00000));
	ASSERT_OK(cfg_write32(self->d, PCI_BASE_ADDRESS_2, 0xc0000000));
	ASSERT_OK(cfg_write8(self->d, PCI_INTERRUPT_LINE, 11));
	ASSERT_OK(cfg_write16(self->d, MSI_FLAGS, cfg16(self->d, MSI_FLAGS) |
			      PCI_MSI_FLAGS_ENABLE));

	test_cmd_device_reset(self->d);

	EXPECT_EQ(MIG_REG_ID_VALUE, reg(self->d, MIG_REG_ID));
	EXPECT_EQ(0, reg(self->d, MIG_REG_CONTROL));
	EXPECT_EQ(0, reg(self->d, MIG_REG_STATUS));
	EXPECT_EQ(0, reg(self->d, MIG_REG_IRQ_COUNT));
	EXPECT_EQ(0, reg(self->d, MIG_REG_ENGINE_RATE));
	EXPECT_EQ(0, reg(self->d, MIG_REG_ENGINE_SEED));
	EXPECT_EQ(0, reg(self->d, MIG_REG_ENGINE_COUNT_LO));
	for (i = 0; i < MIG_NR_SCRATCH; i++)
		EXPECT_EQ(0, reg(self->d, MIG_REG_SCRATCH0 + 4 * i));
	test_cmd_mem_read(self->d, 0, mem, self->mem_size);
	EXPECT_TRUE(all_zero(mem, self->mem_size));
	for (i = 0; i < MIG_MDEV_CONFIG_SIZE; i += 4)
		test_cmd_config_read(self->d, i, cfg1 + i, 4);
	EXPECT_EQ(0, memcmp(cfg0, cfg1, sizeof(cfg0)));
	ASSERT_OK(mig_get_state(self->d, &state));
	EXPECT_EQ(MIG_STATE_RUNNING, state);
	free(mem);
}

TEST_F(dev, reset_returns_the_digest_of_a_new_instance)
{
	uint64_t fresh = digest_of(self->inst.uuid);
	uint64_t v = 0x0123456789abcdefULL;

	ASSERT_NE(0, fresh);
	test_cmd_bar0_write(self->d, MIG_REG_SCRATCH0, 1);
	test_cmd_mem_write(self->d, 4096, &v, 8);
	ASSERT_OK(cfg_write8(self->d, PCI_LATENCY_TIMER, 0x20));
	EXPECT_NE(fresh, digest_of(self->inst.uuid));
	test_cmd_device_reset(self->d);
	EXPECT_EQ(fresh, digest_of(self->inst.uuid));
}

TEST_F(dev, reset_stops_the_engine)
{
	uint64_t d1;

	test_cmd_engine_rate(self->inst.uuid, 2000);
	sleep_ms(100);
	test_cmd_device_reset(self->d);
	EXPECT_EQ(0, attr_u64(self->inst.uuid, "engine_rate"));
	EXPECT_EQ(0, reg(self->d, MIG_REG_STATUS) & MIG_STATUS_ENGINE_ACTIVE);
	d1 = digest_of(self->inst.uuid);
	sleep_ms(300);
	EXPECT_EQ(d1, digest_of(self->inst.uuid));
	EXPECT_EQ(0, attr_u64(self->inst.uuid, "engine_count"));
}

/* The engine */

TEST_F(dev, engine_dirties_memory_while_running)
{
	uint64_t d0, d1, count;
	uint8_t *mem = malloc(self->mem_size);

	ASSERT_NE(NULL, mem);
	d0 = digest_of(self->inst.uuid);
	sleep_ms(300);
	EXPECT_EQ(d0, digest_of(self->inst.uuid));	/* off by default */

	test_cmd_engine_rate(self->inst.uuid, 1000);
	EXPECT_EQ(1000, attr_u64(self->inst.uuid, "engine_rate"));
	EXPECT_EQ(MIG_CTRL_ENGINE_EN,
		  reg(self->d, MIG_REG_CONTROL) & MIG_CTRL_ENGINE_EN);
	EXPECT_EQ(1000, reg(self->d, MIG_REG_ENGINE_RATE));
	sleep_ms(300);
	d1 = digest_of(self->inst.uuid);
	EXPECT_NE(d0, d1);
	count = attr_u64(self->inst.uuid, "engine_count");
	EXPECT_LT(0, count);
	EXPECT_GE(10000, count);
	sleep_ms(300);
	EXPECT_NE(d1, digest_of(self->inst.uuid));

	/* Stopped, the count holds still and the register agrees. */
	test_cmd_engine_rate(self->inst.uuid, 0);
	count = attr_u64(self->inst.uuid, "engine_count");
	EXPECT_EQ((uint32_t)count, reg(self->d, MIG_REG_ENGINE_COUNT_LO));
	EXPECT_EQ((uint32_t)(count >> 32),
		  reg(self->d, MIG_REG_ENGINE_COUNT_HI));
	test_cmd_mem_read(self->d, 0, mem, self->mem_size);
	EXPECT_FALSE(all_zero(mem, self->mem_size));
	free(mem);
}

TEST_F(dev, engine_does_not_run_in_stop_state)
{
	char buf[32];
	uint64_t d1, c1;
	uint32_t state;

	ASSERT_EQ(MIG_MDEV_MIGRATION_REGION_INDEX, self->d->mig_index);
	test_cmd_engine_rate(self->inst.uuid, 1000);
	sleep_ms(100);

	state = MIG_STATE_STOP;
	ASSERT_OK(mig_region_pwrite(self->d, self->d->mig_index, &state, 4,
				    MIG_HDR_DEVICE_STATE));
	ASSERT_OK(mig_get_state(self->d, &state));
	EXPECT_EQ(MIG_STATE_STOP, state);
	ASSERT_OK(mig_attr_read(self->inst.uuid, "migration_state", buf,
				sizeof(buf)));
	EXPECT_STREQ("STOP", buf);

	d1 = digest_of(self->inst.uuid);
	c1 = attr_u64(self->inst.uuid, "engine_count");
	sleep_ms(300);
	EXPECT_EQ(d1, digest_of(self->inst.uuid));
	EXPECT_EQ(c1, attr_u64(self->inst.uuid, "engine_count"));
	EXPECT_EQ(0, reg(self->d, MIG_REG_STATUS) & MIG_STATUS_ENGINE_ACTIVE);

	/* Back to RUNNING: the engine picks up again. */
	test_cmd_set_state(self->d, MIG_STATE_RUNNING);
	sleep_ms(300);
	EXPECT_NE(d1, digest_of(self->inst.uuid));
	EXPECT_LT(c1, attr_u64(self->inst.uuid, "engine_count"));
}

/* ------------------------------------------------------------------ */
/* Module unload                                                       */
/* ------------------------------------------------------------------ */

FIXTURE(module) {
	struct mt_inst inst[2];
	char params[1024];
	const char *ko;
	bool unloaded;
};

static bool module_sysfs_present(void)
{
	return access("/sys/module/" MIG_MODULE_NAME, F_OK) == 0;
}

/* "name=value ..." of the loaded module's parameters, to load it alike. */
static void module_params(char *out, size_t len)
{
	struct dirent *de;
	DIR *dir;
	size_t used = 0;

	out[0] = '\0';
	dir = opendir(MIG_PARAMS_DIR);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char val[64];
		int n;

		if (de->d_name[0] == '.' ||
		    mig_param_read(de->d_name, val, sizeof(val)))
			continue;
		n = snprintf(out + used, len - used, "%s%s=%s",
			     used ? " " : "", de->d_name, val);
		if (n < 0 || (size_t)n >= len - used) {
			out[used] = '\0';
			break;
		}
		used += n;
	}
	closedir(dir);
}

static int module_load(const char *ko, const char *params)
{
	int fd, ret = 0;

	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, params, 0))
		ret = -errno;
	close(fd);
	return ret;
}

static int module_unload(void)
{
	return syscall(SYS_delete_module, MIG_MODULE_NAME, O_NONBLOCK) ?
	       -errno : 0;
}

FIXTURE_SETUP(module)
{
	MT_SKIP_IF_NO_MODULE();
	self->ko = getenv("MIG_MODULE");
	if (!self->ko || !*self->ko)
		self->ko = MIG_MODULE_DEFAULT;
	if (access(self->ko, R_OK))
		MT_SKIP_SETUP("module file %s not found (set MIG_MODULE)",
			      self->ko);
	if (geteuid())
		MT_SKIP_SETUP("needs root to unload and load modules");
	module_params(self->params, sizeof(self->params));
}

FIXTURE_TEARDOWN(module)
{
	unsigned int i;

	/* Never leave the next test program without the module. */
	if (self->unloaded && !module_sysfs_present())
		module_load(self->ko, self->params);
	for (i = 0; i < 2; i++) {
		if (self->inst[i].created &&
		    path_exists("%s/%s", MIG_SYSFS_DEVICES, self->inst[i].uuid))
			mt_inst_del(&self->inst[i]);
	}
}

TEST_F(module, unload_with_instances_removes_them_and_reload_works)
{
	unsigned long s0, s;

	ASSERT_OK(mig_type_available("small", &s0));
	ASSERT_OK(mt_inst_create(&self->inst[0], "small"));
	ASSERT_OK(mt_inst_create(&self->inst[1], "large"));
	/* Opened and closed once: a closed device holds nothing. */
	ASSERT_OK(mt_inst_open_dev(&self->inst[0]));
	mt_inst_close(&self->inst[0]);

	self->unloaded = true;
	ASSERT_OK(module_unload());
	EXPECT_FALSE(module_sysfs_present());
	EXPECT_NE(0, access(MIG_SYSFS_PARENT, F_OK));
	EXPECT_FALSE(path_exists("%s/%s", MIG_SYSFS_DEVICES,
				 self->inst[0].uuid));
	EXPECT_FALSE(path_exists("%s/%s", MIG_SYSFS_DEVICES,
				 self->inst[1].uuid));
	/* They went with the module: nothing left to remove. */
	self->inst[0].created = false;
	self->inst[1].created = false;

	TH_LOG("reloading %s %s", self->ko, self->params);
	ASSERT_OK(module_load(self->ko, self->params));
	self->unloaded = false;
	ASSERT_OK(access(MIG_SYSFS_PARENT, F_OK));
	ASSERT_OK(mig_type_available("small", &s));
	EXPECT_EQ(s0, s);
	EXPECT_FALSE(path_exists("%s/%s", MIG_SYSFS_DEVICES,
				 self->inst[0].uuid));

	/* The reloaded module works. */
	ASSERT_OK(mt_inst_setup(&self->inst[0], "small"));
	EXPECT_EQ(MIG_REG_ID_VALUE, reg(&self->inst[0].d, MIG_REG_ID));
}

TEST_HARNESS_MAIN
