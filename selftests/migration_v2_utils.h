/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of v2_test.c: the VFIO migration protocol v2
 * (VFIO_DEVICE_FEATURE_MIGRATION, MIG_DEVICE_STATE, the data_fd, and where
 * the kernel has them VFIO_MIG_GET_PRECOPY_INFO and MIG_DATA_SIZE) on the
 * same struct mig_dev and struct mt_inst as the v1 helpers of
 * migration_utils.h.  Include after migration_utils.h.
 *
 * As there, every helper returns 0 or a negative errno and none uses the
 * harness.  The selftests are built once against the build host's uapi
 * (Linux 6.1) and run on 6.1 and 6.12, so what later kernels added comes
 * from libmig.h and what the running kernel has is asked of uname().
 */
#ifndef MIGRATION_V2_UTILS_H
#define MIGRATION_V2_UTILS_H

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "libmig.h"
#include "migration_utils.h"

/* libmig.h defines what 6.2 and 6.3 added to the uapi (PRE_COPY & co.). */

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

static inline const char *mv2_state_name(uint32_t state)
{
	static const char * const names[MV2_NR_STATES] = {
		"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING",
		"RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P",
	};

	return state < MV2_NR_STATES ? names[state] : "(invalid)";
}

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

/* What a v2 GET_STATE shows while v1 owns the device. */
static inline uint32_t mv2_of_v1(uint32_t v1)
{
	switch (v1) {
	case MIG_STATE_STOP:
		return MV2_STOP;
	case MIG_STATE_RUNNING:
		return MV2_RUNNING;
	case MIG_STATE_SAVING:
		return MV2_STOP_COPY;
	case MIG_STATE_PRECOPY:
		return MV2_PRE_COPY;
	case MIG_STATE_RESUMING:
		return MV2_RESUMING;
	default:
		return MV2_ERROR;
	}
}

/* ---------------------------------------------------------------- */
/* The running kernel                                                */
/* ---------------------------------------------------------------- */

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

/* ---------------------------------------------------------------- */
/* VFIO_DEVICE_FEATURE                                               */
/* ---------------------------------------------------------------- */

#define MV2_FEATURE_MAX	32	/* the largest payload used here */

/* One VFIO_DEVICE_FEATURE ioctl; @data is sent and copied back. */
static inline int mv2_feature(struct mig_dev *d, uint32_t flags, void *data,
			      size_t len)
{
	union {
		struct vfio_device_feature f;
		uint8_t raw[sizeof(struct vfio_device_feature) +
			    MV2_FEATURE_MAX];
		uint64_t align;
	} arg;

	if (len > MV2_FEATURE_MAX)
		return -EINVAL;
	memset(&arg, 0, sizeof(arg));
	arg.f.argsz = sizeof(arg.f) + len;
	arg.f.flags = flags;
	memcpy(arg.f.data, data, len);
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, &arg))
		return -errno;
	memcpy(data, arg.f.data, len);
	return 0;
}

/* VFIO_DEVICE_FEATURE_MIGRATION: the VFIO_MIGRATION_* flags. */
static inline int mv2_get_flags(struct mig_dev *d, uint64_t *flags)
{
	struct vfio_device_feature_migration m = { 0 };
	int ret;

	ret = mv2_feature(d, VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_MIGRATION, &m, sizeof(m));
	if (!ret)
		*flags = m.flags;
	return ret;
}

static inline int mv2_get_state(struct mig_dev *d, uint32_t *state)
{
	struct vfio_device_feature_mig_state m = { .data_fd = -1 };
	int ret;

	ret = mv2_feature(d, VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m, sizeof(m));
	if (!ret)
		*state = m.device_state;
	return ret;
}

/* The v2 state, or MT_STATE_NONE if it cannot be read. */
static inline uint32_t mv2_state(struct mig_dev *d)
{
	uint32_t s;

	if (mv2_get_state(d, &s))
		return MT_STATE_NONE;
	return s;
}

/*
 * Requests @state.  *@data_fd (if not NULL) gets the data_fd the kernel
 * returned, or -1; with @data_fd NULL a returned fd is closed.
 */
static inline int mv2_set_state(struct mig_dev *d, uint32_t state,
				int *data_fd)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = state,
		.data_fd = -1,
	};
	int ret;

	ret = mv2_feature(d, VFIO_DEVICE_FEATURE_SET |
			  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m, sizeof(m));
	if (ret)
		m.data_fd = -1;
	if (data_fd)
		*data_fd = m.data_fd;
	else if (m.data_fd >= 0)
		close(m.data_fd);
	return ret;
}

/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (6.3+). */
static inline int mv2_data_size(struct mig_dev *d, uint64_t *len)
{
	struct vfio_device_feature_mig_data_size m = { 0 };
	int ret;

	ret = mv2_feature(d, VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &m, sizeof(m));
	if (!ret)
		*len = m.stop_copy_length;
	return ret;
}

/* VFIO_MIG_GET_PRECOPY_INFO on a save data_fd (6.2+). */
static inline int mv2_precopy_info(int data_fd, uint64_t *initial,
				   uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

/* Closes *@fd if it is open and marks it closed. */
static inline void mv2_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---------------------------------------------------------------- */
/* The data_fd                                                       */
/* ---------------------------------------------------------------- */

#define MV2_PIECE	65536	/* read() and write() size unless told */

/*
 * Reads a save data_fd in read()s of @piece bytes into @out (NULL: the
 * bytes are dropped) until read() returns 0: returns 0 (end of stream);
 * until read() fails: returns its -errno (-ENOMSG: caught up, in
 * PRE_COPY); or once @max bytes were read: returns -EFBIG.  *@got (if not
 * NULL) is the number of bytes this call read, whatever it returns.
 */
static inline int mv2_read(int fd, struct mig_buf *out, size_t piece,
			   uint64_t max, uint64_t *got)
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

/* The whole rest of a STOP_COPY stream, up to the end of the file. */
static inline int mv2_read_all(int fd, struct mig_buf *out)
{
	return mv2_read(fd, out, MV2_PIECE, UINT64_MAX, NULL);
}

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
 * Writes @len bytes of stream to a resume data_fd, cut as mt_feed() cuts
 * it for the region: MT_CUT_FIXED, @arg bytes a write() (0: all at once);
 * MT_CUT_RANDOM, 1..MV2_RANDOM_MAX bytes, xorshift seeded by @arg.  A
 * short write goes on from where it stopped.  Stops at the first error
 * and returns it; *@fed (if not NULL) says how much was taken.
 */
static inline int mv2_write(int fd, const void *buf, size_t len,
			    enum mt_cut cut, uint64_t arg, size_t *fed)
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

/* ---------------------------------------------------------------- */
/* Save and resume                                                   */
/* ---------------------------------------------------------------- */

/*
 * A whole stop-copy save into @out: from RUNNING or STOP to STOP_COPY, the
 * data_fd read to its end, then STOP.
 */
static inline int mv2_save(struct mig_dev *d, struct mig_buf *out)
{
	int fd, ret;

	ret = mv2_set_state(d, MV2_STOP_COPY, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return -EPROTO;
	ret = mv2_read_all(fd, out);
	close(fd);
	if (ret)
		return ret;
	return mv2_set_state(d, MV2_STOP, NULL);
}

/*
 * A whole resume: from RUNNING or STOP to RESUMING, the stream written as
 * mv2_write() cuts it, then @end_state.
 */
static inline int mv2_resume(struct mig_dev *d, const void *buf, size_t len,
			     enum mt_cut cut, uint64_t arg, uint32_t end_state)
{
	int fd, ret;

	ret = mv2_set_state(d, MV2_RESUMING, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return -EPROTO;
	ret = mv2_write(fd, buf, len, cut, arg, NULL);
	close(fd);
	if (ret)
		return ret;
	return mv2_set_state(d, end_state, NULL);
}

/* ---------------------------------------------------------------- */
/* Instances                                                         */
/* ---------------------------------------------------------------- */

/*
 * As mt_inst_open(), for an instance with or without the migration region
 * (protocols=v2 has none): maps the data section only if there is one.
 */
static inline int mv2_inst_open(struct mt_inst *in)
{
	uint32_t pages;
	int ret;

	ret = mig_dev_open(&in->d, in->uuid);
	if (ret)
		return ret;
	if (in->d.mig_index >= 0) {
		ret = mig_dev_map(&in->d);
		if (ret)
			return ret;
	}
	ret = mt_bar0_read(&in->d, MIG_REG_MEM_PAGES, &pages);
	if (ret)
		return ret;
	in->npages = pages;
	in->mem_size = (uint64_t)pages * MIG_PAGE_SIZE;
	return 0;
}

/*
 * Creates and opens an instance of @type whose module parameter
 * "protocols" was @protocols ("v1", "v2", "both") when it was created; the
 * parameter is set back to "both" right away (it is read only at
 * creation).  Undo with mt_inst_del(), whatever this returned.
 */
static inline int mv2_inst_new(struct mt_inst *in, const char *type,
			       const char *protocols)
{
	int ret, ret2;

	mt_inst_init(in);
	in->type = type;
	ret = mig_param_write("protocols", protocols);
	if (ret)
		return ret;
	ret = mig_instance_create(type, in->uuid);
	ret2 = mig_param_write("protocols", "both");
	if (ret)
		return ret;
	in->created = true;
	if (ret2)
		return ret2;
	return mv2_inst_open(in);
}

/* The instance's sysfs migration_state, or "" if it cannot be read. */
static inline const char *mv2_sysfs_state(struct mt_inst *in, char *buf,
					  size_t len)
{
	if (mig_attr_read(in->uuid, "migration_state", buf, len))
		buf[0] = '\0';
	return buf;
}

#endif /* MIGRATION_V2_UTILS_H */
