/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The helper layer of the mig-mdev selftests, in the manner of the
 * kernel's tools/testing/selftests/iommu/iommufd_utils.h.  Include after
 * kselftest_harness.h.  Its jobs, in this order:
 *
 *  - assertions: libmig and every helper here return 0 or a negative
 *    errno, so a test asserts the exact error:
 *	EXPECT_ERRNO(EINVAL, mig_set_state(&in->d, 5));
 *	ASSERT_OK(mig_device_reset(&in->d));
 *  - skips from a fixture's setup (MT_SKIP_IF_NO_MODULE());
 *  - one instance type, struct mt_inst, for every test program;
 *  - config space, BAR0 and BAR2 accesses, the engine and the fill
 *    pattern;
 *  - protocol v1 (the migration region: trapped header, save, resume) and
 *    protocol v2 (VFIO_DEVICE_FEATURE_MIGRATION and the data_fd).
 *
 * The stream format (parser, builders of corrupt streams) is in
 * mig_stream_utils.h.
 *
 * Commands: a helper that does something to a device is _test_cmd_X(),
 * returns 0 or -errno and never uses the harness, so threads and forked
 * children may call it.  In a TEST_F body, test_cmd_X(...) asserts that it
 * worked (ASSERT_OK, the test stops) and test_err_X(errno, ...) expects
 * that exact error (EXPECT_ERRNO, the test goes on).  Unlike
 * iommufd_utils.h's, the wrappers take the device or instance as their
 * first argument: most fixtures here hold two instances.  Where libmig
 * already has the command (mig_set_state(), libmig_v2_data_size(), ...),
 * the wrappers call it and there is no _test_cmd_X() to repeat it.
 *
 * Instances: the harness zeroes a fixture before its setup, and a zeroed
 * struct mt_inst holds nothing, so mt_inst_del() in the teardown is safe
 * whatever the setup and the test did:
 *
 *	FIXTURE(dev) { struct mt_inst a; };
 *	FIXTURE_SETUP(dev)
 *	{
 *		MT_SKIP_IF_NO_MODULE();
 *		ASSERT_OK(mt_inst_new(&self->a, "small"));
 *	}
 *	FIXTURE_TEARDOWN(dev) { mt_inst_del(&self->a); }
 *
 * The selftests are built once against the build host's uapi (Linux 6.1)
 * and run on 6.1 and 6.12: what later kernels added to the uapi comes from
 * libmig.h, and what the running kernel has is asked of uname().
 */
#ifndef MIG_UTILS_H
#define MIG_UTILS_H

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "libmig.h"

/* ---------------------------------------------------------------- */
/* Assertions                                                        */
/* ---------------------------------------------------------------- */

/* libmig convention: 0 or -errno. */
#define EXPECT_ERRNO(expected, cmd) EXPECT_EQ(-(expected), (cmd))
#define ASSERT_ERRNO(expected, cmd) ASSERT_EQ(-(expected), (cmd))
#ifndef EXPECT_OK
#define EXPECT_OK(cmd) EXPECT_EQ(0, (cmd))
#endif
#ifndef ASSERT_OK
#define ASSERT_OK(cmd) ASSERT_EQ(0, (cmd))
#endif

/* ---------------------------------------------------------------- */
/* Skips                                                             */
/* ---------------------------------------------------------------- */

/*
 * Skip from FIXTURE_SETUP.  The 6.1 harness runs the test body after a
 * SKIP(return, ...) in setup, so leave the test's child process at once with
 * the status that harness reads as a skip (255).  Teardown does not run:
 * skip before the setup creates anything.  In a test body, use SKIP().
 */
#define MT_SKIP_EXIT_STATUS 255
#define MT_SKIP_SETUP(fmt, ...) do {					\
	SKIP(, fmt, ##__VA_ARGS__);					\
	_exit(MT_SKIP_EXIT_STATUS);					\
} while (0)

/* Skip the test from its setup when the module is not loaded. */
#define MT_SKIP_IF_NO_MODULE() do {					\
	if (!mt_module_loaded())					\
		MT_SKIP_SETUP("mig_mdev not loaded (%s missing)",	\
			      MIG_SYSFS_PARENT);			\
} while (0)

static inline bool mt_module_loaded(void)
{
	return access(MIG_SYSFS_PARENT, F_OK) == 0;
}

/* ---------------------------------------------------------------- */
/* Small things                                                      */
/* ---------------------------------------------------------------- */

#define MT_BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define MT_BAR2		VFIO_PCI_BAR2_REGION_INDEX
#define MT_CONFIG	VFIO_PCI_CONFIG_REGION_INDEX

/* An "impossible" state value that never reads back from a device. */
#define MT_STATE_NONE	0xffffffffU

static inline uint64_t mt_xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
static inline uint64_t mt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- */
/* Config space, BAR0, BAR2: accesses of exactly the given width     */
/* ---------------------------------------------------------------- */

static inline int _test_cmd_config_read(struct mig_dev *d, uint32_t off,
					void *val, size_t len)
{
	return mig_region_pread(d, MT_CONFIG, val, len, off);
}

#define test_cmd_config_read(...) \
	ASSERT_OK(_test_cmd_config_read(__VA_ARGS__))
#define test_err_config_read(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_config_read(__VA_ARGS__))

static inline int _test_cmd_config_write(struct mig_dev *d, uint32_t off,
					 const void *val, size_t len)
{
	return mig_region_pwrite(d, MT_CONFIG, val, len, off);
}

#define test_cmd_config_write(...) \
	ASSERT_OK(_test_cmd_config_write(__VA_ARGS__))
#define test_err_config_write(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_config_write(__VA_ARGS__))

static inline int _test_cmd_bar0_read(struct mig_dev *d, uint32_t reg,
				      uint32_t *val)
{
	return mig_region_pread(d, MT_BAR0, val, sizeof(*val), reg);
}

#define test_cmd_bar0_read(...) \
	ASSERT_OK(_test_cmd_bar0_read(__VA_ARGS__))
#define test_err_bar0_read(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_bar0_read(__VA_ARGS__))

static inline int _test_cmd_bar0_write(struct mig_dev *d, uint32_t reg,
				       uint32_t val)
{
	return mig_region_pwrite(d, MT_BAR0, &val, sizeof(val), reg);
}

#define test_cmd_bar0_write(...) \
	ASSERT_OK(_test_cmd_bar0_write(__VA_ARGS__))
#define test_err_bar0_write(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_bar0_write(__VA_ARGS__))

static inline int _test_cmd_mem_read(struct mig_dev *d, uint64_t off,
				     void *buf, size_t len)
{
	return mig_region_pread(d, MT_BAR2, buf, len, off);
}

#define test_cmd_mem_read(...) \
	ASSERT_OK(_test_cmd_mem_read(__VA_ARGS__))
#define test_err_mem_read(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_mem_read(__VA_ARGS__))

static inline int _test_cmd_mem_write(struct mig_dev *d, uint64_t off,
				      const void *buf, size_t len)
{
	return mig_region_pwrite(d, MT_BAR2, buf, len, off);
}

#define test_cmd_mem_write(...) \
	ASSERT_OK(_test_cmd_mem_write(__VA_ARGS__))
#define test_err_mem_write(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_mem_write(__VA_ARGS__))

/* Any ioctl, 0 or -errno: for the ioctls libmig has no command for. */
static inline int _test_cmd_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

#define test_cmd_ioctl(...) ASSERT_OK(_test_cmd_ioctl(__VA_ARGS__))
#define test_err_ioctl(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_ioctl(__VA_ARGS__))

/* Points IRQ @index's trigger at eventfd @efd (-1: tears it down). */
static inline int _test_cmd_irq_eventfd(struct mig_dev *d, uint32_t index,
					int32_t efd)
{
	uint32_t buf[(sizeof(struct vfio_irq_set) + sizeof(int32_t) + 3) / 4];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;

	memset(buf, 0, sizeof(buf));
	set->argsz = sizeof(struct vfio_irq_set) + sizeof(int32_t);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = index;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &efd, sizeof(efd));
	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

#define test_cmd_irq_eventfd(...) \
	ASSERT_OK(_test_cmd_irq_eventfd(__VA_ARGS__))
#define test_err_irq_eventfd(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_irq_eventfd(__VA_ARGS__))

/* VFIO_DEVICE_RESET, through libmig. */
#define test_cmd_device_reset(d) ASSERT_OK(mig_device_reset(d))
#define test_err_device_reset(_errno, d) \
	EXPECT_ERRNO(_errno, mig_device_reset(d))

/* ---------------------------------------------------------------- */
/* Instances                                                         */
/* ---------------------------------------------------------------- */

/**
 * struct mt_inst - an instance a test created, and its open device
 * @uuid: its UUID
 * @type: "small" or "large"
 * @created: the instance exists and must be removed
 * @opened: @d is open and must be closed
 * @d: the open device
 * @mem_size: device memory, bytes (BAR0 MEM_PAGES; 0 until mt_inst_open())
 * @npages: the same in pages
 */
struct mt_inst {
	char uuid[MIG_UUID_LEN + 1];
	const char *type;
	bool created;
	bool opened;
	struct mig_dev d;
	uint64_t mem_size;
	uint32_t npages;
};

/* Empties @in, for an instance outside a (zeroed) fixture. */
static inline void mt_inst_init(struct mt_inst *in)
{
	memset(in, 0, sizeof(*in));
	in->d.fd = -1;
	in->d.group = -1;
	in->d.container = -1;
	in->d.mig_index = -1;
}

/* Creates an instance of @type ("small" or "large"); does not open it. */
static inline int mt_inst_create(struct mt_inst *in, const char *type)
{
	int ret;

	if (in->created)
		return -EEXIST;
	in->type = type;
	ret = mig_instance_create(type, in->uuid);
	if (ret)
		return ret;
	in->created = true;
	return 0;
}

/* Opens the device of a created instance (vfio group, container, fd). */
static inline int mt_inst_open_dev(struct mt_inst *in)
{
	int ret;

	if (!in->created)
		return -ENODEV;
	if (in->opened)
		return -EBUSY;
	ret = mig_dev_open(&in->d, in->uuid);
	if (ret)
		return ret;
	in->opened = true;
	return 0;
}

/*
 * As mt_inst_open_dev(), then maps the data section if the device has
 * the migration region (protocols=v2 has none) and reads the memory size.
 */
static inline int mt_inst_open(struct mt_inst *in)
{
	uint32_t pages;
	int ret;

	ret = mt_inst_open_dev(in);
	if (ret)
		return ret;
	if (in->d.mig_index >= 0) {
		ret = mig_dev_map(&in->d);
		if (ret)
			return ret;
	}
	ret = _test_cmd_bar0_read(&in->d, MIG_REG_MEM_PAGES, &pages);
	if (ret)
		return ret;
	in->npages = pages;
	in->mem_size = (uint64_t)pages * MIG_PAGE_SIZE;
	return 0;
}

/* A counter of the instance's debugfs stats, or UINT64_MAX. */
static inline uint64_t mt_stat(const struct mt_inst *in, const char *name)
{
	char path[128], line[128];
	uint64_t v = UINT64_MAX;
	size_t len = strlen(name);
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/mig_mdev/%s/stats",
		 in->uuid);
	f = fopen(path, "r");
	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ' ')
			v = strtoull(line + len + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Closes the device if it is open; the instance stays. */
static inline void mt_inst_close(struct mt_inst *in)
{
	if (in->opened)
		mig_dev_close(&in->d);
	in->opened = false;
}

/*
 * Closes and removes whatever @in holds; returns the error of the remove,
 * if any.  For teardowns: safe on a zeroed or mt_inst_init() instance.
 */
static inline int mt_inst_del(struct mt_inst *in)
{
	int ret = 0;

	mt_inst_close(in);
	if (in->created)
		ret = mig_instance_remove(in->uuid);
	in->created = false;
	return ret;
}

/* Creates and opens the device only; on failure nothing is left behind. */
static inline int mt_inst_setup(struct mt_inst *in, const char *type)
{
	int ret;

	ret = mt_inst_create(in, type);
	if (ret)
		return ret;
	ret = mt_inst_open_dev(in);
	if (ret)
		mt_inst_del(in);
	return ret;
}

/* Creates and opens (mt_inst_open()); undo with mt_inst_del(), always. */
static inline int mt_inst_new(struct mt_inst *in, const char *type)
{
	int ret;

	mt_inst_init(in);
	ret = mt_inst_create(in, type);
	if (ret)
		return ret;
	return mt_inst_open(in);
}

/*
 * As mt_inst_new(), with the module parameter @param set to @val while
 * the instance is created (parameters such as section_pages and protocols
 * are only read at creation) and set back to @restore (NULL: to what it
 * was) right away.
 */
static inline int mt_inst_new_param(struct mt_inst *in, const char *type,
				    const char *param, const char *val,
				    const char *restore)
{
	char old[32];
	int ret, ret2;

	if (!restore) {
		ret = mig_param_read(param, old, sizeof(old));
		if (ret)
			return ret;
		restore = old;
	}
	mt_inst_init(in);
	ret = mig_param_write(param, val);
	if (ret)
		return ret;
	ret = mt_inst_create(in, type);
	ret2 = mig_param_write(param, restore);
	if (ret)
		return ret;
	if (ret2)
		return ret2;
	return mt_inst_open(in);
}

/* An instance whose data section has @pages pages. */
static inline int mt_inst_new_section(struct mt_inst *in, const char *type,
				      unsigned int pages)
{
	char val[32];

	snprintf(val, sizeof(val), "%u", pages);
	return mt_inst_new_param(in, type, "section_pages", val, NULL);
}

/*
 * An instance created with the module parameter "protocols" set to
 * @protocols ("v1", "v2", "both"); the parameter goes back to "both".
 */
static inline int mt_inst_new_proto(struct mt_inst *in, const char *type,
				    const char *protocols)
{
	return mt_inst_new_param(in, type, "protocols", protocols, "both");
}

/* ---------------------------------------------------------------- */
/* The engine and the memory pattern                                 */
/* ---------------------------------------------------------------- */

static inline uint64_t mt_digest(struct mt_inst *in)
{
	uint64_t v;

	if (mig_digest(in->uuid, &v))
		return 0;
	return v;
}

/* Sets the engine rate (pages/s) through sysfs; 0 stops the engine. */
static inline int _test_cmd_engine_rate(const char *uuid, unsigned int rate)
{
	char val[16];

	snprintf(val, sizeof(val), "%u", rate);
	return mig_attr_write(uuid, "engine_rate", val);
}

#define test_cmd_engine_rate(...) \
	ASSERT_OK(_test_cmd_engine_rate(__VA_ARGS__))

static inline uint64_t mt_engine_count(struct mt_inst *in)
{
	char buf[64];

	if (mig_attr_read(in->uuid, "engine_count", buf, sizeof(buf)))
		return UINT64_MAX;
	return strtoull(buf, NULL, 10);
}

/* The fill pattern of @seed for @len bytes at @off of device memory. */
static inline void mt_pattern(uint64_t seed, uint64_t off, void *buf,
			      size_t len)
{
	uint64_t *w = buf;
	uint64_t s = 0;
	size_t i;

	/* Whole pages, page aligned: one xorshift stream per page. */
	for (i = 0; i < len / 8; i++) {
		uint64_t pos = off + i * 8;

		if (!(pos % MIG_PAGE_SIZE) || i == 0) {
			s = seed * 0x9e3779b97f4a7c15ULL +
			    pos / MIG_PAGE_SIZE + 1;
			mt_xorshift(&s);
		}
		w[i] = mt_xorshift(&s);
	}
}

/*
 * Fills device memory through BAR2 with the pattern of @seed (every page
 * but every seventh, which stays zero) and the scratch registers, so that
 * streams carry data.
 */
static inline int _test_cmd_fill(struct mt_inst *in, uint64_t seed)
{
	const size_t step = 256 * MIG_PAGE_SIZE;
	uint8_t *buf;
	uint64_t off;
	unsigned int i;
	int ret = 0;

	buf = malloc(step);
	if (!buf)
		return -ENOMEM;
	for (off = 0; off < in->mem_size && !ret; off += step) {
		size_t len = in->mem_size - off < step ? in->mem_size - off :
							 step;
		size_t p;

		mt_pattern(seed, off, buf, len);
		for (p = 0; p < len; p += MIG_PAGE_SIZE)
			if (!(((off + p) / MIG_PAGE_SIZE) % 7))
				memset(buf + p, 0, MIG_PAGE_SIZE);
		ret = _test_cmd_mem_write(&in->d, off, buf, len);
	}
	free(buf);
	for (i = 0; i < MIG_NR_SCRATCH && !ret; i++)
		ret = _test_cmd_bar0_write(&in->d, MIG_REG_SCRATCH0 + 4 * i,
					   (uint32_t)(seed * 131 + i));
	return ret;
}

#define test_cmd_fill(...) ASSERT_OK(_test_cmd_fill(__VA_ARGS__))

/* ---------------------------------------------------------------- */
/* Protocol v1: the migration region's trapped header                */
/* ---------------------------------------------------------------- */

/* One pread of @len bytes at region offset @off. */
static inline int _test_cmd_hdr_read(struct mig_dev *d, uint64_t off,
				     void *buf, size_t len)
{
	ssize_t n = pread(d->fd, buf, len, (off_t)(d->mig_offset + off));

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

#define test_cmd_hdr_read(...) ASSERT_OK(_test_cmd_hdr_read(__VA_ARGS__))
#define test_err_hdr_read(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_hdr_read(__VA_ARGS__))

static inline int _test_cmd_hdr_write(struct mig_dev *d, uint64_t off,
				      const void *buf, size_t len)
{
	ssize_t n = pwrite(d->fd, buf, len, (off_t)(d->mig_offset + off));

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

#define test_cmd_hdr_write(...) ASSERT_OK(_test_cmd_hdr_write(__VA_ARGS__))
#define test_err_hdr_write(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_hdr_write(__VA_ARGS__))

/* device_state and data_size, through libmig. */
#define test_cmd_set_state(d, state) ASSERT_OK(mig_set_state(d, state))
#define test_err_set_state(_errno, d, state) \
	EXPECT_ERRNO(_errno, mig_set_state(d, state))
#define test_cmd_set_data_size(d, size) ASSERT_OK(mig_set_data_size(d, size))
#define test_err_set_data_size(_errno, d, size) \
	EXPECT_ERRNO(_errno, mig_set_data_size(d, size))

/*
 * A state or a header field, or an impossible value (MT_STATE_NONE,
 * UINT64_MAX) if it cannot be read: for comparisons in EXPECT_EQ().
 */
static inline uint32_t mt_get32(struct mig_dev *d,
				int (*get)(struct mig_dev *d, uint32_t *v))
{
	uint32_t v;

	return get(d, &v) ? MT_STATE_NONE : v;
}

static inline uint64_t mt_get64(struct mig_dev *d,
				int (*get)(struct mig_dev *d, uint64_t *v))
{
	uint64_t v;

	return get(d, &v) ? UINT64_MAX : v;
}

static inline uint32_t mt_state(struct mig_dev *d)
{
	return mt_get32(d, mig_get_state);
}

static inline uint64_t mt_pending(struct mig_dev *d)
{
	return mt_get64(d, mig_get_pending);
}

static inline uint64_t mt_data_offset(struct mig_dev *d)
{
	return mt_get64(d, mig_get_data_offset);
}

static inline uint64_t mt_data_size(struct mig_dev *d)
{
	return mt_get64(d, mig_get_data_size);
}

/* ---------------------------------------------------------------- */
/* Protocol v1: save and resume                                      */
/* ---------------------------------------------------------------- */

/*
 * A whole stop-and-copy save into @out: RUNNING/STOP -> STOP -> SAVING,
 * chunks until pending_bytes reads 0, then STOP.
 */
static inline int _test_cmd_save(struct mig_dev *d, enum mig_path path,
				 struct mig_buf *out)
{
	int ret;

	ret = mig_set_state(d, MIG_STATE_STOP);
	if (ret)
		return ret;
	ret = mig_set_state(d, MIG_STATE_SAVING);
	if (ret)
		return ret;
	ret = mig_save_loop(d, path, 0, mig_buf_sink, out, NULL);
	if (ret)
		return ret;
	return mig_set_state(d, MIG_STATE_STOP);
}

#define test_cmd_save(...) ASSERT_OK(_test_cmd_save(__VA_ARGS__))
#define test_err_save(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_save(__VA_ARGS__))

/* How _test_cmd_feed() and _test_cmd_v2_write() cut a stream. */
enum mt_cut {
	MT_CUT_FIXED,		/* @arg bytes a chunk (0: the section) */
	MT_CUT_RANDOM,		/* 1..section bytes, xorshift seeded by @arg */
};

/*
 * Feeds @len bytes of stream to a device in RESUMING, one chunk at a time:
 * read data_offset, copy the data (mmap or pwrite), write data_size.
 * Stops at the first error and returns it; *@fed says how much was taken.
 * In MT_CUT_FIXED with @arg 1 data_offset is read once (it is constant).
 */
static inline int _test_cmd_feed(struct mig_dev *d, enum mig_path path,
				 const void *buf, size_t len, enum mt_cut cut,
				 uint64_t arg, size_t *fed)
{
	const uint8_t *p = buf;
	uint64_t seed = arg | 1, off = 0, rel;
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		size_t n;

		if (!off || !(cut == MT_CUT_FIXED && arg == 1)) {
			ret = mig_get_data_offset(d, &off);
			if (ret)
				break;
		}
		rel = off - d->data_offset;
		if (off < d->data_offset || rel >= d->section_size) {
			ret = -EPROTO;
			break;
		}
		if (cut == MT_CUT_FIXED)
			n = arg ? arg : d->section_size - rel;
		else
			n = 1 + mt_xorshift(&seed) % (d->section_size - rel);
		if (n > d->section_size - rel)
			n = d->section_size - rel;
		if (n > len - done)
			n = len - done;
		if (path == MIG_PATH_MMAP) {
			memcpy((uint8_t *)d->section + rel, p + done, n);
		} else {
			ssize_t w = pwrite(d->fd, p + done, n,
					   (off_t)(d->mig_offset + off));

			if (w != (ssize_t)n) {
				ret = w < 0 ? -errno : -EIO;
				break;
			}
		}
		ret = mig_set_data_size(d, n);
		if (ret)
			break;
		done += n;
	}
	if (fed)
		*fed = done;
	return ret;
}

#define test_cmd_feed(...) ASSERT_OK(_test_cmd_feed(__VA_ARGS__))
#define test_err_feed(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_feed(__VA_ARGS__))

/* RUNNING -> RESUMING, feed the whole stream in section-sized chunks. */
static inline int _test_cmd_resume(struct mig_dev *d, const void *buf,
				   size_t len, uint32_t end_state)
{
	int ret;

	ret = mig_set_state(d, MIG_STATE_RESUMING);
	if (ret)
		return ret;
	ret = _test_cmd_feed(d, MIG_PATH_PREAD, buf, len, MT_CUT_FIXED, 0,
			     NULL);
	if (ret)
		return ret;
	return mig_set_state(d, end_state);
}

#define test_cmd_resume(...) ASSERT_OK(_test_cmd_resume(__VA_ARGS__))
#define test_err_resume(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_resume(__VA_ARGS__))

/* ---------------------------------------------------------------- */
/* Protocol v2: states                                               */
/* ---------------------------------------------------------------- */

/*
 * The v2 states (enum vfio_device_mig_state).  Our own names: an enum
 * cannot be completed by #ifndef, and 6.1's lacks the PRE_COPY pair.
 */
#define MV2_ERROR		0
#define MV2_STOP		1
#define MV2_RUNNING		2
#define MV2_STOP_COPY		3
#define MV2_RESUMING		4
#define MV2_RUNNING_P2P		5
#define MV2_PRE_COPY		6
#define MV2_PRE_COPY_P2P	7
#define MV2_NR_STATES		8

static_assert(VFIO_DEVICE_STATE_RUNNING_P2P == MV2_RUNNING_P2P &&
	      VFIO_DEVICE_STATE_ERROR == MV2_ERROR,
	      "the v2 state numbers are the uapi's");

static inline bool mv2_is_pre_copy(uint32_t state)
{
	return state == MV2_PRE_COPY || state == MV2_PRE_COPY_P2P;
}

/* The states whose arc in returns a save data_fd. */
static inline bool mv2_is_saving(uint32_t state)
{
	return state == MV2_STOP_COPY || mv2_is_pre_copy(state);
}

/* What a v1 read of device_state shows while v2 owns the device. */
static inline uint32_t mv2_v1_view(uint32_t state)
{
	switch (state) {
	case MV2_STOP:
		return MIG_STATE_STOP;
	case MV2_RUNNING:
	case MV2_RUNNING_P2P:
		return MIG_STATE_RUNNING;
	case MV2_STOP_COPY:
		return MIG_STATE_SAVING;
	case MV2_PRE_COPY:
	case MV2_PRE_COPY_P2P:
		return MIG_STATE_PRECOPY;
	case MV2_RESUMING:
		return MIG_STATE_RESUMING;
	default:
		return MIG_STATE_ERROR;
	}
}

/* The running kernel is @major.@minor or later. */
static inline bool mv2_kernel_at_least(unsigned int major,
				       unsigned int minor)
{
	unsigned int ma = 0, mi = 0;
	struct utsname u;

	if (uname(&u) || sscanf(u.release, "%u.%u", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/* VFIO_MIGRATION_PRE_COPY and VFIO_MIG_GET_PRECOPY_INFO: Linux 6.2. */
static inline bool mv2_kernel_has_pre_copy(void)
{
	return mv2_kernel_at_least(6, 2);
}

/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: Linux 6.3. */
static inline bool mv2_kernel_has_data_size(void)
{
	return mv2_kernel_at_least(6, 3);
}

static inline const char *mv2_kernel_release(void)
{
	static struct utsname u;

	if (!u.release[0] && uname(&u))
		return "?";
	return u.release;
}

/* VFIO_DEVICE_FEATURE_MIGRATION: the VFIO_MIGRATION_* flags. */
static inline int _test_cmd_v2_get_flags(struct mig_dev *d, uint64_t *flags)
{
	struct vfio_device_feature_migration m = { 0 };
	int ret;

	ret = libmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			     VFIO_DEVICE_FEATURE_MIGRATION, &m, sizeof(m));
	if (!ret)
		*flags = m.flags;
	return ret;
}

#define test_cmd_v2_get_flags(...) \
	ASSERT_OK(_test_cmd_v2_get_flags(__VA_ARGS__))
#define test_err_v2_get_flags(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_v2_get_flags(__VA_ARGS__))

/* The v2 state, or MT_STATE_NONE if it cannot be read. */
static inline uint32_t mv2_state(struct mig_dev *d)
{
	return mt_get32(d, libmig_v2_get_state);
}

/*
 * Requests @state.  *@data_fd (if not NULL) gets the data_fd the kernel
 * returned, or -1; with @data_fd NULL a returned fd is closed.
 */
static inline int _test_cmd_v2_set_state(struct mig_dev *d, uint32_t state,
					 int *data_fd)
{
	int fd, ret;

	ret = libmig_v2_set_state(d, state, &fd);
	if (data_fd)
		*data_fd = fd;
	else if (fd >= 0)
		close(fd);
	return ret;
}

#define test_cmd_v2_set_state(...) \
	ASSERT_OK(_test_cmd_v2_set_state(__VA_ARGS__))
#define test_err_v2_set_state(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_v2_set_state(__VA_ARGS__))

/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (6.3+), through libmig. */
#define test_cmd_v2_data_size(...) ASSERT_OK(libmig_v2_data_size(__VA_ARGS__))
#define test_err_v2_data_size(_errno, ...) \
	EXPECT_ERRNO(_errno, libmig_v2_data_size(__VA_ARGS__))

/* VFIO_MIG_GET_PRECOPY_INFO on a save data_fd (6.2+), through libmig. */
#define test_cmd_v2_precopy_info(...) \
	ASSERT_OK(libmig_v2_precopy_info(__VA_ARGS__))
#define test_err_v2_precopy_info(_errno, ...) \
	EXPECT_ERRNO(_errno, libmig_v2_precopy_info(__VA_ARGS__))

/* Closes *@fd if it is open and marks it closed. */
static inline void mv2_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The instance's sysfs migration_state, or "" if it cannot be read. */
static inline const char *mv2_sysfs_state(struct mt_inst *in, char *buf,
					  size_t len)
{
	if (mig_attr_read(in->uuid, "migration_state", buf, len))
		buf[0] = '\0';
	return buf;
}

/* ---------------------------------------------------------------- */
/* Protocol v2: the data_fd                                          */
/* ---------------------------------------------------------------- */

#define MV2_PIECE	65536	/* read() and write() size unless told */

/*
 * Reads a save data_fd in read()s of @piece bytes into @out (NULL: the
 * bytes are dropped) until read() returns 0: returns 0 (end of stream);
 * until read() fails: returns its -errno (-ENOMSG: caught up, in
 * PRE_COPY); or once @max bytes were read: returns -EFBIG.  *@got (if not
 * NULL) is the number of bytes this call read, whatever it returns.
 */
static inline int _test_cmd_v2_read(int fd, struct mig_buf *out,
				    size_t piece, uint64_t max, uint64_t *got)
{
	uint64_t total = 0;
	uint8_t *buf;
	int ret = 0;

	buf = malloc(piece);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t want = piece;
		ssize_t n;

		if (total >= max) {
			ret = -EFBIG;
			break;
		}
		if (want > max - total)
			want = max - total;
		n = read(fd, buf, want);
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (!n)
			break;
		total += n;
		if (out) {
			ret = mig_buf_sink(out, buf, n);
			if (ret)
				break;
		}
	}
	free(buf);
	if (got)
		*got = total;
	return ret;
}

#define test_cmd_v2_read(...) ASSERT_OK(_test_cmd_v2_read(__VA_ARGS__))
#define test_err_v2_read(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_v2_read(__VA_ARGS__))

/* The whole rest of a STOP_COPY stream, up to the end of the file. */
static inline int _test_cmd_v2_read_all(int fd, struct mig_buf *out)
{
	return _test_cmd_v2_read(fd, out, MV2_PIECE, UINT64_MAX, NULL);
}

#define test_cmd_v2_read_all(...) \
	ASSERT_OK(_test_cmd_v2_read_all(__VA_ARGS__))
#define test_err_v2_read_all(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_v2_read_all(__VA_ARGS__))

/* One read() of at most @len bytes: its byte count or -errno. */
static inline ssize_t mv2_read_some(int fd, void *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	return n < 0 ? -errno : n;
}

/* One write() of @len bytes: its byte count or -errno. */
static inline ssize_t mv2_write_some(int fd, const void *buf, size_t len)
{
	ssize_t n = write(fd, buf, len);

	return n < 0 ? -errno : n;
}

#define MV2_RANDOM_MAX	65536	/* largest write() of MT_CUT_RANDOM */

/*
 * Writes @len bytes of stream to a resume data_fd, cut as _test_cmd_feed()
 * cuts it for the region: MT_CUT_FIXED, @arg bytes a write() (0: all at
 * once); MT_CUT_RANDOM, 1..MV2_RANDOM_MAX bytes, xorshift seeded by @arg.
 * A short write goes on from where it stopped.  Stops at the first error
 * and returns it; *@fed (if not NULL) says how much was taken.
 */
static inline int _test_cmd_v2_write(int fd, const void *buf, size_t len,
				     enum mt_cut cut, uint64_t arg,
				     size_t *fed)
{
	const uint8_t *p = buf;
	uint64_t seed = arg | 1;
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		size_t n;
		ssize_t w;

		if (cut == MT_CUT_FIXED)
			n = arg ? arg : len - done;
		else
			n = 1 + mt_xorshift(&seed) % MV2_RANDOM_MAX;
		if (n > len - done)
			n = len - done;
		w = write(fd, p + done, n);
		if (w < 0) {
			ret = -errno;
			break;
		}
		if (!w) {
			ret = -EIO;
			break;
		}
		done += w;
	}
	if (fed)
		*fed = done;
	return ret;
}

#define test_cmd_v2_write(...) ASSERT_OK(_test_cmd_v2_write(__VA_ARGS__))
#define test_err_v2_write(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_v2_write(__VA_ARGS__))

/* ---------------------------------------------------------------- */
/* Protocol v2: save and resume                                      */
/* ---------------------------------------------------------------- */

/*
 * A whole stop-copy save into @out: from RUNNING or STOP to STOP_COPY, the
 * data_fd read to its end, then STOP.
 */
static inline int _test_cmd_v2_save(struct mig_dev *d, struct mig_buf *out)
{
	int fd, ret;

	ret = _test_cmd_v2_set_state(d, MV2_STOP_COPY, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return -EPROTO;
	ret = _test_cmd_v2_read_all(fd, out);
	close(fd);
	if (ret)
		return ret;
	return _test_cmd_v2_set_state(d, MV2_STOP, NULL);
}

#define test_cmd_v2_save(...) ASSERT_OK(_test_cmd_v2_save(__VA_ARGS__))
#define test_err_v2_save(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_v2_save(__VA_ARGS__))

/*
 * A whole resume: from RUNNING or STOP to RESUMING, the stream written as
 * _test_cmd_v2_write() cuts it, then @end_state.
 */
static inline int _test_cmd_v2_resume(struct mig_dev *d, const void *buf,
				      size_t len, enum mt_cut cut,
				      uint64_t arg, uint32_t end_state)
{
	int fd, ret;

	ret = _test_cmd_v2_set_state(d, MV2_RESUMING, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return -EPROTO;
	ret = _test_cmd_v2_write(fd, buf, len, cut, arg, NULL);
	close(fd);
	if (ret)
		return ret;
	return _test_cmd_v2_set_state(d, end_state, NULL);
}

#define test_cmd_v2_resume(...) ASSERT_OK(_test_cmd_v2_resume(__VA_ARGS__))
#define test_err_v2_resume(_errno, ...) \
	EXPECT_ERRNO(_errno, _test_cmd_v2_resume(__VA_ARGS__))

#endif /* MIG_UTILS_H */
