/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the mig-mdev selftests.  Include after
 * kselftest_harness.h.
 *
 * Instances: struct mig_inst tracks one mdev instance and its open device,
 * so a fixture's teardown can always clean up, whatever the test did:
 *
 *	FIXTURE(dev) { struct mig_inst inst; };
 *	FIXTURE_SETUP(dev)
 *	{
 *		MIG_SKIP_IF_NO_MODULE();
 *		ASSERT_OK(mig_inst_setup(&self->inst, "small"));
 *	}
 *	FIXTURE_TEARDOWN(dev) { mig_inst_teardown(&self->inst); }
 *
 * The harness zeroes the fixture before setup and runs teardown after a
 * failed ASSERT in the test body (not after a failed setup: setup helpers
 * undo their own work when they fail).  A zeroed struct mig_inst holds
 * nothing, so teardown is safe whatever happened.
 *
 * Errors: libmig returns 0 or a negative errno, so
 *	EXPECT_ERRNO(EINVAL, mig_set_state(&dev, 5));
 * asserts the exact error.
 */
#ifndef MIG_UTILS_H
#define MIG_UTILS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "libmig.h"

/* libmig convention: 0 or -errno. */
#define EXPECT_ERRNO(expected, cmd) EXPECT_EQ(-(expected), (cmd))
#define ASSERT_ERRNO(expected, cmd) ASSERT_EQ(-(expected), (cmd))
#ifndef EXPECT_OK
#define EXPECT_OK(cmd) EXPECT_EQ(0, (cmd))
#endif
#ifndef ASSERT_OK
#define ASSERT_OK(cmd) ASSERT_EQ(0, (cmd))
#endif

/*
 * Skip from FIXTURE_SETUP.  The 6.1 harness runs the test body after a
 * SKIP(return, ...) in setup, so leave the test's child process at once with
 * the status that harness reads as a skip (255).  Teardown does not run:
 * skip before the setup creates anything.  In a test body, use SKIP().
 */
#define MIG_SKIP_EXIT_STATUS 255
#define MIG_SKIP_SETUP(fmt, ...) do {					\
	SKIP(, fmt, ##__VA_ARGS__);					\
	_exit(MIG_SKIP_EXIT_STATUS);					\
} while (0)

/* Skip the test from its setup when the module is not loaded. */
#define MIG_SKIP_IF_NO_MODULE() do {					\
	if (!mig_module_loaded())					\
		MIG_SKIP_SETUP("mig_mdev not loaded (%s missing)",	\
			       MIG_SYSFS_PARENT);			\
} while (0)

static inline bool mig_module_loaded(void)
{
	return access(MIG_SYSFS_PARENT, F_OK) == 0;
}

/**
 * struct mig_inst - an instance created by a test
 * @uuid: its UUID
 * @created: the instance exists and must be removed
 * @opened: @dev is open and must be closed
 * @dev: the open device
 */
struct mig_inst {
	char uuid[MIG_UUID_LEN + 1];
	bool created;
	bool opened;
	struct mig_dev dev;
};

/* Create an instance of @type ("small" or "large"); does not open it. */
static inline int mig_inst_create(struct mig_inst *in, const char *type)
{
	int ret;

	if (in->created)
		return -EEXIST;
	ret = mig_instance_create(type, in->uuid);
	if (ret)
		return ret;
	in->created = true;
	return 0;
}

/* Open the device of a created instance (vfio group, container, fd). */
static inline int mig_inst_open(struct mig_inst *in)
{
	int ret;

	if (!in->created)
		return -ENODEV;
	if (in->opened)
		return -EBUSY;
	ret = mig_dev_open(&in->dev, in->uuid);
	if (ret)
		return ret;
	in->opened = true;
	return 0;
}

/* Close the device if it is open; the instance stays. */
static inline void mig_inst_close(struct mig_inst *in)
{
	if (in->opened)
		mig_dev_close(&in->dev);
	in->opened = false;
}

/* Close and remove; returns the error of the remove, if any. */
static inline int mig_inst_remove(struct mig_inst *in)
{
	int ret = 0;

	mig_inst_close(in);
	if (in->created)
		ret = mig_instance_remove(in->uuid);
	in->created = false;
	return ret;
}

/* Create and open; on failure nothing is left behind. */
static inline int mig_inst_setup(struct mig_inst *in, const char *type)
{
	int ret;

	ret = mig_inst_create(in, type);
	if (ret)
		return ret;
	ret = mig_inst_open(in);
	if (ret)
		mig_inst_remove(in);
	return ret;
}

/* For FIXTURE_TEARDOWN: undo whatever mig_inst_setup() and the test did. */
static inline void mig_inst_teardown(struct mig_inst *in)
{
	mig_inst_remove(in);
}

/* Config space, BAR0 and BAR2 accesses of exactly the given width. */
static inline int mig_config_read(struct mig_dev *d, uint32_t off, void *val,
			       size_t len)
{
	return mig_region_pread(d, VFIO_PCI_CONFIG_REGION_INDEX, val, len,
				off);
}

static inline int mig_config_write(struct mig_dev *d, uint32_t off,
				const void *val, size_t len)
{
	return mig_region_pwrite(d, VFIO_PCI_CONFIG_REGION_INDEX, val, len,
				 off);
}

static inline int mig_bar0_read(struct mig_dev *d, uint32_t reg,
				uint32_t *val)
{
	return mig_region_pread(d, VFIO_PCI_BAR0_REGION_INDEX, val,
				sizeof(*val), reg);
}

static inline int mig_bar0_write(struct mig_dev *d, uint32_t reg,
				 uint32_t val)
{
	return mig_region_pwrite(d, VFIO_PCI_BAR0_REGION_INDEX, &val,
				 sizeof(val), reg);
}

static inline int mig_mem_read(struct mig_dev *d, uint64_t off, void *buf,
			       size_t len)
{
	return mig_region_pread(d, VFIO_PCI_BAR2_REGION_INDEX, buf, len, off);
}

static inline int mig_mem_write(struct mig_dev *d, uint64_t off,
				const void *buf, size_t len)
{
	return mig_region_pwrite(d, VFIO_PCI_BAR2_REGION_INDEX, buf, len,
				 off);
}

/* Set the engine rate (pages/s) through sysfs; 0 stops the engine. */
static inline int mig_engine_rate(const char *uuid, unsigned int rate)
{
	char val[16];

	snprintf(val, sizeof(val), "%u", rate);
	return mig_attr_write(uuid, "engine_rate", val);
}

#endif /* MIG_UTILS_H */
