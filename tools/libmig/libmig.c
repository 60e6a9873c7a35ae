// SPDX-License-Identifier: GPL-2.0
/*
 * libmig: a small client of VFIO migration, protocol v1 and v2.
 *
 * Every function returns 0 (or a size) on success and a negative errno on
 * failure; errno itself is never the interface.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <linux/vfio.h>

#include "libmig.h"

#define MIG_VFIO_CONTAINER "/dev/vfio/vfio"
#define MIG_SYSFS_PARAMS "/sys/module/mig_mdev/parameters"
#define MIG_TYPE_PREFIX "mig_mdev-"

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static int mig_neg_errno(void)
{
	return errno ? -errno : -EIO;
}

/*
 * pread() or pwrite() the whole of @len bytes at @off of @fd, going on
 * after a partial transfer; a transfer of 0 bytes is -EIO.
 */
static int mig_xfer_full(int fd, void *buf, size_t len, uint64_t off,
			 bool write)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = write ? pwrite(fd, p, len, (off_t)off) :
				    pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return mig_neg_errno();
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int mig_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	return mig_xfer_full(fd, buf, len, off, false);
}

static int mig_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	return mig_xfer_full(fd, (void *)buf, len, off, true);
}

static void mig_dev_init_fds(struct mig_dev *d)
{
	memset(d, 0, sizeof(*d));
	d->container = -1;
	d->group = -1;
	d->fd = -1;
	d->mig_index = -1;
	d->data_fd = -1;
	d->cur = VFIO_DEVICE_STATE_RUNNING;
	d->req = VFIO_DEVICE_STATE_RUNNING;
}

/* ------------------------------------------------------------------ */
/* Region discovery                                                    */
/* ------------------------------------------------------------------ */

int mig_get_region_info(struct mig_dev *d, int index,
		    struct vfio_region_info **info)
{
	struct vfio_region_info *ri;
	uint32_t argsz = sizeof(*ri);

	*info = NULL;
	if (index < 0)
		return -EINVAL;
	for (;;) {
		ri = calloc(1, argsz);
		if (!ri)
			return -ENOMEM;
		ri->argsz = argsz;
		ri->index = (uint32_t)index;
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, ri)) {
			int ret = mig_neg_errno();

			free(ri);
			return ret;
		}
		if (ri->argsz <= argsz)
			break;
		/* The capability chain did not fit: retry with its size. */
		argsz = ri->argsz;
		free(ri);
	}
	*info = ri;
	return 0;
}

/*
 * Follows the chain from ri->cap_offset, refusing an offset outside the
 * answer and giving up after 64 hops (a loop).
 */
struct vfio_info_cap_header *mig_region_cap(struct vfio_region_info *ri,
					    uint16_t id)
{
	uint32_t off, hops = 0;

	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	for (off = ri->cap_offset; off && hops < 64; hops++) {
		struct vfio_info_cap_header *h;

		if (off < sizeof(*ri) ||
		    off + sizeof(*h) > ri->argsz)
			return NULL;
		h = (struct vfio_info_cap_header *)((uint8_t *)ri + off);
		if (h->id == id)
			return h;
		off = h->next;
	}
	return NULL;
}

static bool mig_region_is_migration(struct vfio_region_info *ri)
{
	struct vfio_region_info_cap_type *t;

	t = (void *)mig_region_cap(ri, VFIO_REGION_INFO_CAP_TYPE);
	if (!t)
		return false;
	return t->type == VFIO_REGION_TYPE_MIGRATION_DEPRECATED &&
	       t->subtype == VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED;
}

/*
 * The data section is the first sparse-mmap area of the region; a second
 * one is the device's window onto its memory (zero-copy save).  Without the
 * capability, fall back on the data_offset header field (harmless while the
 * device is RUNNING right after open) and the rest of the region.
 */
static int mig_find_section(struct mig_dev *d, struct vfio_region_info *ri)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	uint64_t off;
	int ret;

	sp = (void *)mig_region_cap(ri, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	if (sp && sp->nr_areas >= 1 &&
	    (uint8_t *)&sp->areas[1] <= (uint8_t *)ri + ri->argsz) {
		d->data_offset = sp->areas[0].offset;
		d->section_size = sp->areas[0].size;
		d->window_offset = 0;
		d->window_size = 0;
		if (sp->nr_areas >= 2 &&
		    (uint8_t *)&sp->areas[2] <= (uint8_t *)ri + ri->argsz) {
			d->window_offset = sp->areas[1].offset;
			d->window_size = sp->areas[1].size;
		}
		return 0;
	}
	ret = mig_pread_full(d->fd, &off, sizeof(off),
			     d->mig_offset + MIG_HDR_DATA_OFFSET);
	if (ret)
		return ret;
	if (off >= d->mig_size)
		return -EPROTO;
	d->data_offset = off;
	d->section_size = d->mig_size - off;
	return 0;
}

static int mig_find_migration_region(struct mig_dev *d)
{
	uint32_t i;

	for (i = 0; i < d->num_regions; i++) {
		struct vfio_region_info *ri;
		int ret;

		ret = mig_get_region_info(d, (int)i, &ri);
		if (ret == -EINVAL)
			continue;
		if (ret)
			return ret;
		if (mig_region_is_migration(ri)) {
			d->mig_index = (int)i;
			d->mig_offset = ri->offset;
			d->mig_size = ri->size;
			ret = mig_find_section(d, ri);
			free(ri);
			return ret;
		}
		free(ri);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */
/* ------------------------------------------------------------------ */

static void libmig_v2_probe(struct mig_dev *d);

/*
 * d->fd is open: count its regions, find the migration region, ask for
 * protocol v2.
 */
static int mig_dev_discover(struct mig_dev *d)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int ret;

	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info))
		return mig_neg_errno();
	d->num_regions = info.num_regions;
	ret = mig_find_migration_region(d);
	if (ret)
		return ret;
	libmig_v2_probe(d);
	libmig_use(d, LIBMIG_PROTO_AUTO);	/* none offered: the caller tells */
	return 0;
}

static int mig_open_container(struct mig_dev *d, unsigned long *iommu)
{
	d->container = open(MIG_VFIO_CONTAINER, O_RDWR | O_CLOEXEC);
	if (d->container < 0)
		return mig_neg_errno();
	if (ioctl(d->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return -ENOTSUP;
	if (ioctl(d->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0)
		*iommu = VFIO_TYPE1v2_IOMMU;
	else if (ioctl(d->container, VFIO_CHECK_EXTENSION,
		       VFIO_TYPE1_IOMMU) > 0)
		*iommu = VFIO_TYPE1_IOMMU;
	else
		return -ENOTSUP;
	return 0;
}

int mig_dev_open_path(struct mig_dev *d, const char *sysfs_dev)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char link[PATH_MAX], target[PATH_MAX], dev[PATH_MAX];
	const char *name, *grp;
	unsigned long iommu;
	ssize_t n;
	int ret;

	mig_dev_init_fds(d);

	/* The device name is the last component of its sysfs path. */
	if (strlen(sysfs_dev) >= sizeof(dev))
		return -ENAMETOOLONG;
	strcpy(dev, sysfs_dev);
	while (strlen(dev) > 1 && dev[strlen(dev) - 1] == '/')
		dev[strlen(dev) - 1] = '\0';
	name = strrchr(dev, '/');
	name = name ? name + 1 : dev;
	if (!*name || strlen(name) > MIG_UUID_LEN)
		return -EINVAL;
	strcpy(d->uuid, name);

	/* Its iommu_group link names the group. */
	if (snprintf(link, sizeof(link), "%s/iommu_group", dev) >=
	    (int)sizeof(link))
		return -ENAMETOOLONG;
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return mig_neg_errno();
	target[n] = '\0';
	grp = strrchr(target, '/');
	grp = grp ? grp + 1 : target;

	ret = mig_open_container(d, &iommu);
	if (ret)
		goto err;

	if (snprintf(link, sizeof(link), "/dev/vfio/%s", grp) >=
	    (int)sizeof(link)) {
		ret = -ENAMETOOLONG;
		goto err;
	}
	d->group = open(link, O_RDWR | O_CLOEXEC);
	if (d->group < 0) {
		ret = mig_neg_errno();
		goto err;
	}
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &status)) {
		ret = mig_neg_errno();
		goto err;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ret = -EBUSY;
		goto err;
	}
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container)) {
		ret = mig_neg_errno();
		goto err;
	}
	if (ioctl(d->container, VFIO_SET_IOMMU, iommu)) {
		ret = mig_neg_errno();
		goto err;
	}
	d->fd = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->uuid);
	if (d->fd < 0) {
		d->fd = -1;
		ret = mig_neg_errno();
		goto err;
	}
	ret = mig_dev_discover(d);
	if (ret)
		goto err;
	return 0;

err:
	mig_dev_close(d);
	return ret;
}

int mig_dev_open_fd(struct mig_dev *d, int fd, const char *uuid)
{
	int ret;

	mig_dev_init_fds(d);
	if (strlen(uuid) > MIG_UUID_LEN)
		return -EINVAL;
	strcpy(d->uuid, uuid);
	d->fd = fd;
	ret = mig_dev_discover(d);
	if (ret)
		mig_dev_close(d);
	return ret;
}

int mig_dev_open(struct mig_dev *d, const char *uuid)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", MIG_SYSFS_DEVICES, uuid) >=
	    (int)sizeof(path)) {
		mig_dev_init_fds(d);
		return -ENAMETOOLONG;
	}
	return mig_dev_open_path(d, path);
}

/*
 * Safe on a device that failed to open or was closed already: every fd is
 * -1 then.  Not safe on a struct that was never passed to an open call.
 */
void mig_dev_close(struct mig_dev *d)
{
	mig_dev_unmap(d);
	if (d->data_fd >= 0)
		close(d->data_fd);
	d->data_fd = -1;
	if (d->fd >= 0)
		close(d->fd);
	if (d->group >= 0) {
		ioctl(d->group, VFIO_GROUP_UNSET_CONTAINER);
		close(d->group);
	}
	if (d->container >= 0)
		close(d->container);
	d->fd = -1;
	d->group = -1;
	d->container = -1;
	d->mig_index = -1;
}

int mig_dev_map(struct mig_dev *d)
{
	void *p;

	if (d->section)
		return 0;
	if (d->mig_index < 0 || !d->section_size)
		return -ENODEV;
	p = mmap(NULL, d->section_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 d->fd, (off_t)(d->mig_offset + d->data_offset));
	if (p == MAP_FAILED)
		return mig_neg_errno();
	d->section = p;
	return 0;
}

void mig_dev_unmap(struct mig_dev *d)
{
	if (d->section) {
		munmap(d->section, d->section_size);
		d->section = NULL;
	}
	if (d->window) {
		munmap(d->window, d->window_size);
		d->window = NULL;
	}
}

/* Map the window (read only: the device refuses writes through it). */
static int mig_window_map(struct mig_dev *d)
{
	void *p;

	if (d->window)
		return 0;
	if (!d->window_size)
		return -ENODEV;
	p = mmap(NULL, d->window_size, PROT_READ, MAP_SHARED, d->fd,
		 (off_t)(d->mig_offset + d->window_offset));
	if (p == MAP_FAILED)
		return mig_neg_errno();
	d->window = p;
	return 0;
}

int mig_device_reset(struct mig_dev *d)
{
	if (ioctl(d->fd, VFIO_DEVICE_RESET))
		return mig_neg_errno();
	return 0;
}

/* ------------------------------------------------------------------ */
/* Region access                                                       */
/* ------------------------------------------------------------------ */

static int mig_region_offset(struct mig_dev *d, int index, uint64_t *off)
{
	struct vfio_region_info *ri;
	int ret;

	if (index >= 0 && index == d->mig_index) {
		*off = d->mig_offset;
		return 0;
	}
	ret = mig_get_region_info(d, index, &ri);
	if (ret)
		return ret;
	*off = ri->offset;
	free(ri);
	return 0;
}

/*
 * One pread() of @len bytes, as a single access: the device sees exactly
 * the width the caller asked for, so width and alignment rules can be
 * tested.  A short transfer is -EIO.
 */
int mig_region_pread(struct mig_dev *d, int index, void *buf, size_t len,
		     uint64_t off)
{
	uint64_t base;
	ssize_t n;
	int ret;

	ret = mig_region_offset(d, index, &base);
	if (ret)
		return ret;
	do {
		n = pread(d->fd, buf, len, (off_t)(base + off));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return mig_neg_errno();
	return (size_t)n == len ? 0 : -EIO;
}

int mig_region_pwrite(struct mig_dev *d, int index, const void *buf,
		      size_t len, uint64_t off)
{
	uint64_t base;
	ssize_t n;
	int ret;

	ret = mig_region_offset(d, index, &base);
	if (ret)
		return ret;
	do {
		n = pwrite(d->fd, buf, len, (off_t)(base + off));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return mig_neg_errno();
	return (size_t)n == len ? 0 : -EIO;
}

/* ------------------------------------------------------------------ */
/* The trapped header                                                  */
/* ------------------------------------------------------------------ */

static int mig_hdr_read(struct mig_dev *d, uint64_t field, void *val,
			size_t len)
{
	ssize_t n;

	if (d->mig_index < 0)
		return -ENODEV;
	do {
		n = pread(d->fd, val, len, (off_t)(d->mig_offset + field));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return mig_neg_errno();
	return (size_t)n == len ? 0 : -EIO;
}

static int mig_hdr_write(struct mig_dev *d, uint64_t field, const void *val,
			 size_t len)
{
	ssize_t n;

	if (d->mig_index < 0)
		return -ENODEV;
	do {
		n = pwrite(d->fd, val, len, (off_t)(d->mig_offset + field));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return mig_neg_errno();
	return (size_t)n == len ? 0 : -EIO;
}

int mig_get_state(struct mig_dev *d, uint32_t *state)
{
	return mig_hdr_read(d, MIG_HDR_DEVICE_STATE, state, sizeof(*state));
}

int mig_set_state(struct mig_dev *d, uint32_t state)
{
	return mig_hdr_write(d, MIG_HDR_DEVICE_STATE, &state, sizeof(state));
}

int mig_get_pending(struct mig_dev *d, uint64_t *pending)
{
	return mig_hdr_read(d, MIG_HDR_PENDING_BYTES, pending,
			    sizeof(*pending));
}

int mig_get_data_offset(struct mig_dev *d, uint64_t *off)
{
	return mig_hdr_read(d, MIG_HDR_DATA_OFFSET, off, sizeof(*off));
}

int mig_get_data_size(struct mig_dev *d, uint64_t *size)
{
	return mig_hdr_read(d, MIG_HDR_DATA_SIZE, size, sizeof(*size));
}

int mig_set_data_size(struct mig_dev *d, uint64_t size)
{
	return mig_hdr_write(d, MIG_HDR_DATA_SIZE, &size, sizeof(size));
}

bool mig_hdr_native(uint64_t off, size_t width)
{
	return (off == MIG_HDR_DEVICE_STATE && width == 4) ||
	       (off == MIG_HDR_RESERVED && width == 4) ||
	       (off == MIG_HDR_PENDING_BYTES && width == 8) ||
	       (off == MIG_HDR_DATA_OFFSET && width == 8) ||
	       (off == MIG_HDR_DATA_SIZE && width == 8);
}

static const char * const mig_state_names[MIG_STATE_NR] = {
	[MIG_STATE_STOP] = "STOP",
	[MIG_STATE_RUNNING] = "RUNNING",
	[MIG_STATE_SAVING] = "SAVING",
	[MIG_STATE_PRECOPY] = "PRECOPY",
	[MIG_STATE_RESUMING] = "RESUMING",
	[MIG_STATE_ERROR] = "ERROR",
};

/* The name of a state, "INVALID" for 101b, 111b and any higher bit. */
const char *mig_state_str(uint32_t state)
{
	if (state >= MIG_STATE_NR || !mig_state_names[state])
		return "INVALID";
	return mig_state_names[state];
}

/* Accepts the names of mig_state_str(), in any case, with a trailing \n. */
int mig_state_parse(const char *name, uint32_t *state)
{
	size_t len = strlen(name);
	uint32_t i;

	while (len && isspace((unsigned char)name[len - 1]))
		len--;
	for (i = 0; i < MIG_STATE_NR; i++) {
		const char *s = mig_state_names[i];

		if (s && strlen(s) == len && !strncasecmp(s, name, len)) {
			*state = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Data path                                                           */
/* ------------------------------------------------------------------ */

/*
 * Check that [off, off + len) lies in the data section; returns the
 * section-relative offset through @rel.
 */
static int mig_section_check(struct mig_dev *d, uint64_t off, uint64_t len,
			     uint64_t *rel)
{
	if (off < d->data_offset || off - d->data_offset > d->section_size ||
	    len > d->section_size - (off - d->data_offset))
		return -EPROTO;
	*rel = off - d->data_offset;
	return 0;
}

struct mig_copies mig_copies;

/* Is [off, off + len) in the window?  Its window-relative offset in @rel. */
static bool mig_in_window(struct mig_dev *d, uint64_t off, uint64_t len,
			  uint64_t *rel)
{
	if (!d->window_size || off < d->window_offset ||
	    off - d->window_offset > d->window_size ||
	    len > d->window_size - (off - d->window_offset))
		return false;
	*rel = off - d->window_offset;
	return true;
}

int mig_chunk_map(struct mig_dev *d, uint64_t off, uint64_t size,
			 const void **p)
{
	uint64_t rel = 0;
	int ret;

	if (mig_in_window(d, off, size, &rel)) {
		ret = mig_window_map(d);
		*p = (uint8_t *)d->window + rel;
		return ret;
	}
	ret = mig_section_check(d, off, size, &rel);
	if (!ret)
		ret = mig_dev_map(d);
	*p = (uint8_t *)d->section + rel;
	return ret;
}

/*
 * Returns the chunk size, 0 if pending_bytes read 0, or a negative errno.
 * A chunk in neither sparse-mmap area (the section, the window), or an
 * empty chunk while pending_bytes is not 0, breaks the protocol: -EPROTO.
 */
int64_t mig_save_chunk(struct mig_dev *d, enum mig_path path,
		       mig_sink_fn sink, void *opaque)
{
	uint64_t pending, off, size, rel;
	const void *p;
	void *buf;
	int ret;

	ret = mig_get_pending(d, &pending);
	if (ret)
		return ret;
	if (!pending)
		return 0;
	ret = mig_get_data_offset(d, &off);
	if (ret)
		return ret;
	ret = mig_get_data_size(d, &size);
	if (ret)
		return ret;
	if (!size)
		return -EPROTO;
	if (!mig_in_window(d, off, size, &rel)) {
		ret = mig_section_check(d, off, size, &rel);
		if (ret)
			return ret;
	} else {
		mig_copies.inplace += size;
	}
	if (size > INT64_MAX)
		return -EPROTO;
	mig_copies.stream_bytes += size;

	if (path == MIG_PATH_MMAP) {
		ret = mig_chunk_map(d, off, size, &p);
		if (ret)
			return ret;
		ret = sink(opaque, p, size);
		return ret ? ret : (int64_t)size;
	}
	if (path != MIG_PATH_PREAD)
		return -EINVAL;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	ret = mig_pread_full(d->fd, buf, size, d->mig_offset + off);
	if (!ret)
		ret = sink(opaque, buf, size);
	free(buf);
	return ret ? ret : (int64_t)size;
}

int mig_save_loop(struct mig_dev *d, enum mig_path path, uint64_t max_chunks,
		  mig_sink_fn sink, void *opaque, struct mig_save_stats *st)
{
	struct mig_save_stats local = { 0 };
	int64_t n;
	int ret;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	for (;;) {
		n = mig_save_chunk(d, path, sink, opaque);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;	/* pending_bytes read 0 */
		st->chunks++;
		st->bytes += (uint64_t)n;
		if (max_chunks && st->chunks >= max_chunks)
			break;
	}
	/* Retires the last chunk and tells what is left. */
	ret = mig_get_pending(d, &st->last_pending);
	return ret;
}

int mig_resume_write(struct mig_dev *d, enum mig_path path, const void *buf,
		     size_t len, size_t max_write)
{
	const uint8_t *p = buf;
	int ret;

	if (path != MIG_PATH_MMAP && path != MIG_PATH_PREAD)
		return -EINVAL;
	if (path == MIG_PATH_MMAP) {
		ret = mig_dev_map(d);
		if (ret)
			return ret;
	}
	while (len) {
		uint64_t off, rel, room, n;

		ret = mig_get_data_offset(d, &off);
		if (ret)
			return ret;
		ret = mig_section_check(d, off, 0, &rel);
		if (ret)
			return ret;
		room = d->section_size - rel;
		if (!room)
			return -EPROTO;
		n = len < room ? len : room;
		if (max_write && n > max_write)
			n = max_write;
		mig_copies.stream_bytes += n;
		if (path == MIG_PATH_MMAP) {
			memcpy((uint8_t *)d->section + rel, p, n);
			mig_copies.copied += n;
		} else {
			ret = mig_pwrite_full(d->fd, p, n, d->mig_offset + off);
			if (ret)
				return ret;
		}
		ret = mig_set_data_size(d, n);
		if (ret)
			return ret;
		p += n;
		len -= n;
	}
	return 0;
}

int mig_buf_sink(void *opaque, const void *buf, size_t len)
{
	struct mig_buf *b = opaque;

	if (len > SIZE_MAX - b->len)
		return -ENOMEM;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *data;

		while (cap < b->len + len) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		data = realloc(b->data, cap);
		if (!data)
			return -ENOMEM;
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	mig_copies.copied += len;
	return 0;
}

void mig_buf_free(struct mig_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Protocol v2                                                         */
/* ------------------------------------------------------------------ */

#define LIBMIG_FEATURE_MAX 64

int libmig_feature(struct mig_dev *d, uint32_t flags, void *data, size_t len)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) +
		      LIBMIG_FEATURE_MAX) / sizeof(uint64_t)] = { 0 };
	struct vfio_device_feature *f = (void *)buf;

	if (len > LIBMIG_FEATURE_MAX)
		return -EINVAL;
	f->argsz = sizeof(*f) + len;
	f->flags = flags;
	memcpy(f->data, data, len);
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, f))
		return mig_neg_errno();
	memcpy(data, f->data, len);
	return 0;
}

/*
 * A device offers v2 when the GET of VFIO_DEVICE_FEATURE_MIGRATION works
 * and names STOP_COPY, which the uapi makes the least a driver offers.
 */
static void libmig_v2_probe(struct mig_dev *d)
{
	struct vfio_device_feature_migration mig = { 0 };
	int ret;

	ret = libmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			     VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig));
	if (!ret && !(mig.flags & VFIO_MIGRATION_STOP_COPY))
		ret = -EPROTO;
	d->v2_err = ret;
	d->v2_flags = ret ? 0 : mig.flags;
}

int libmig_v2_get_state(struct mig_dev *d, uint32_t *state)
{
	struct vfio_device_feature_mig_state st = { .data_fd = -1 };
	int ret;

	ret = libmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
			     sizeof(st));
	if (!ret)
		*state = st.device_state;
	return ret;
}

int libmig_v2_set_state(struct mig_dev *d, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state st = {
		.device_state = state,
		.data_fd = -1,
	};
	int ret;

	*data_fd = -1;
	ret = libmig_feature(d, VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
			     sizeof(st));
	if (!ret)
		*data_fd = st.data_fd;
	return ret;
}

int libmig_v2_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return mig_neg_errno();
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

int libmig_v2_data_size(struct mig_dev *d, uint64_t *len)
{
	struct vfio_device_feature_mig_data_size ds = { 0 };
	int ret;

	ret = libmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			     VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &ds,
			     sizeof(ds));
	if (!ret)
		*len = ds.stop_copy_length;
	return ret;
}

static const char * const libmig_v2_names[] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

#define LIBMIG_V2_NR_STATES (VFIO_DEVICE_STATE_PRE_COPY_P2P + 1)

const char *libmig_v2_state_str(uint32_t state)
{
	if (state >= LIBMIG_V2_NR_STATES)
		return "INVALID";
	return libmig_v2_names[state];
}

/* The states that own a data_fd: the saving group and RESUMING. */
static bool libmig_v2_has_session(uint32_t state)
{
	return state == VFIO_DEVICE_STATE_PRE_COPY ||
	       state == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	       state == VFIO_DEVICE_STATE_STOP_COPY ||
	       state == VFIO_DEVICE_STATE_RESUMING;
}

/* ------------------------------------------------------------------ */
/* Either protocol                                                     */
/* ------------------------------------------------------------------ */

/* v1 device_state -> the v2 numbering, as the two protocols map them. */
static const uint32_t libmig_from_v1[MIG_STATE_NR] = {
	[MIG_STATE_STOP] = VFIO_DEVICE_STATE_STOP,
	[MIG_STATE_RUNNING] = VFIO_DEVICE_STATE_RUNNING,
	[MIG_STATE_SAVING] = VFIO_DEVICE_STATE_STOP_COPY,
	[MIG_STATE_PRECOPY] = VFIO_DEVICE_STATE_PRE_COPY,
	[MIG_STATE_RESUMING] = VFIO_DEVICE_STATE_RESUMING,
	[5] = LIBMIG_STATE_INVALID,
	[MIG_STATE_ERROR] = VFIO_DEVICE_STATE_ERROR,
	[7] = LIBMIG_STATE_INVALID,
};

uint32_t libmig_of_v1(uint32_t v1)
{
	return v1 < MIG_STATE_NR ? libmig_from_v1[v1] : LIBMIG_STATE_INVALID;
}

static int libmig_to_v1(uint32_t state, uint32_t *v1)
{
	uint32_t i;

	if (state == LIBMIG_STATE_INVALID)
		return -EINVAL;
	for (i = 0; i < MIG_STATE_NR; i++) {
		if (libmig_from_v1[i] == state) {
			*v1 = i;
			return 0;
		}
	}
	return -EINVAL;		/* the *_P2P states */
}

bool libmig_offers(const struct mig_dev *d, enum libmig_proto p)
{
	if (p == LIBMIG_PROTO_V1)
		return d->mig_index >= 0;
	if (p == LIBMIG_PROTO_V2)
		return d->v2_flags != 0;
	return false;
}

int libmig_use(struct mig_dev *d, enum libmig_proto p)
{
	if (p == LIBMIG_PROTO_AUTO)
		p = libmig_offers(d, LIBMIG_PROTO_V2) ? LIBMIG_PROTO_V2 :
						      LIBMIG_PROTO_V1;
	if (!libmig_offers(d, p))
		return -EPROTONOSUPPORT;
	d->proto = p;
	return 0;
}

const char *libmig_proto_str(enum libmig_proto p)
{
	return p == LIBMIG_PROTO_V1 ? "v1" : p == LIBMIG_PROTO_V2 ? "v2" : "auto";
}

bool libmig_has_precopy(const struct mig_dev *d)
{
	return d->proto == LIBMIG_PROTO_V1 ||
	       (d->proto == LIBMIG_PROTO_V2 &&
		(d->v2_flags & VFIO_MIGRATION_PRE_COPY));
}

bool libmig_has_p2p(const struct mig_dev *d)
{
	return d->proto == LIBMIG_PROTO_V2 && (d->v2_flags & VFIO_MIGRATION_P2P);
}

uint64_t libmig_chunk(const struct mig_dev *d)
{
	return d->proto == LIBMIG_PROTO_V1 ? d->section_size : LIBMIG_V2_CHUNK;
}

int libmig_get_state(struct mig_dev *d, uint32_t *state)
{
	uint32_t v1;
	int ret;

	if (d->proto == LIBMIG_PROTO_V2)
		return libmig_v2_get_state(d, state);
	if (d->proto != LIBMIG_PROTO_V1)
		return -EPROTONOSUPPORT;
	ret = mig_get_state(d, &v1);
	if (!ret)
		*state = libmig_of_v1(v1);
	return ret;
}

/*
 * One request.  A v2 data_fd the request returns replaces the session's;
 * a state without a session ends it (its fd is closed).
 */
int libmig_set_state(struct mig_dev *d, uint32_t state)
{
	int fd = -1, ret;
	uint32_t v1;

	d->req = state;
	if (d->proto == LIBMIG_PROTO_V1) {
		ret = libmig_to_v1(state, &v1);
		if (!ret)
			ret = mig_set_state(d, v1);
	} else if (d->proto == LIBMIG_PROTO_V2) {
		ret = libmig_v2_set_state(d, state, &fd);
	} else {
		ret = -EPROTONOSUPPORT;
	}
	if (ret)
		return ret;
	d->cur = state;
	if (fd >= 0 || !libmig_v2_has_session(state)) {
		if (d->data_fd >= 0)
			close(d->data_fd);
		d->data_fd = fd;
	}
	return 0;
}

const char *libmig_state_str(const struct mig_dev *d, uint32_t state)
{
	uint32_t v1;

	if (d->proto != LIBMIG_PROTO_V1)
		return libmig_v2_state_str(state);
	if (libmig_to_v1(state, &v1))
		return "INVALID";
	return mig_state_str(v1);
}

/* Names as mig_state_parse(): any case, a trailing newline. */
int libmig_state_parse(enum libmig_proto p, const char *name, uint32_t *state)
{
	size_t len = strlen(name);
	uint32_t i, v1;

	if (p == LIBMIG_PROTO_V1) {
		if (mig_state_parse(name, &v1))
			return -EINVAL;
		*state = libmig_from_v1[v1];
		return 0;
	}
	if (p != LIBMIG_PROTO_V2)
		return -EINVAL;
	while (len && isspace((unsigned char)name[len - 1]))
		len--;
	for (i = 0; i < LIBMIG_V2_NR_STATES; i++) {
		const char *s = libmig_v2_names[i];

		if (strlen(s) == len && !strncasecmp(s, name, len)) {
			*state = i;
			return 0;
		}
	}
	return -EINVAL;
}

int libmig_precopy_begin(struct mig_dev *d)
{
	if (!libmig_has_precopy(d))
		return -EOPNOTSUPP;
	return libmig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY);
}

/* From RUNNING: v2 quiesces P2P first when the device offers it. */
int libmig_stop(struct mig_dev *d)
{
	uint32_t s;
	int ret;

	if (libmig_has_p2p(d)) {
		ret = libmig_get_state(d, &s);
		if (ret)
			return ret;
		if (s == VFIO_DEVICE_STATE_RUNNING) {
			ret = libmig_set_state(d, VFIO_DEVICE_STATE_RUNNING_P2P);
			if (ret)
				return ret;
		}
	}
	return libmig_set_state(d, VFIO_DEVICE_STATE_STOP);
}

/* From pre-copy or STOP; v2 leaves PRE_COPY through PRE_COPY_P2P. */
int libmig_stopcopy_begin(struct mig_dev *d)
{
	uint32_t s;
	int ret;

	if (libmig_has_p2p(d)) {
		ret = libmig_get_state(d, &s);
		if (ret)
			return ret;
		if (s == VFIO_DEVICE_STATE_PRE_COPY) {
			ret = libmig_set_state(d,
					       VFIO_DEVICE_STATE_PRE_COPY_P2P);
			if (ret)
				return ret;
		}
	}
	return libmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY);
}

static int libmig_v1_save_pass(struct mig_dev *d, enum mig_path path,
			       uint64_t limit, mig_sink_fn sink, void *opaque,
			       uint64_t *bytes)
{
	int64_t n;

	for (;;) {
		n = mig_save_chunk(d, path, sink, opaque);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;	/* pending_bytes read 0 */
		*bytes += (uint64_t)n;
		if (limit && *bytes >= limit)
			return 0;
	}
}

/*
 * read() the data_fd: -ENOMSG ends a pre-copy pass (caught up for now),
 * 0 the stream.  -ENOMSG outside pre-copy breaks the uapi and is returned.
 */
static int libmig_v2_save_pass(struct mig_dev *d, uint64_t limit,
			       mig_sink_fn sink, void *opaque,
			       uint64_t *bytes)
{
	bool precopy = d->cur == VFIO_DEVICE_STATE_PRE_COPY ||
		       d->cur == VFIO_DEVICE_STATE_PRE_COPY_P2P;
	uint8_t *buf;
	ssize_t n;
	int ret = 0;

	if (d->data_fd < 0)
		return -EBADF;
	buf = malloc(LIBMIG_V2_CHUNK);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = read(d->data_fd, buf, LIBMIG_V2_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!(errno == ENOMSG && precopy))
				ret = mig_neg_errno();
			break;
		}
		if (n == 0)
			break;
		ret = sink(opaque, buf, (size_t)n);
		if (ret)
			break;
		*bytes += (uint64_t)n;
		if (limit && *bytes >= limit)
			break;
	}
	free(buf);
	return ret;
}

int libmig_save_pass(struct mig_dev *d, enum mig_path path, uint64_t limit,
		     mig_sink_fn sink, void *opaque, uint64_t *bytes)
{
	*bytes = 0;
	if (d->proto == LIBMIG_PROTO_V1)
		return libmig_v1_save_pass(d, path, limit, sink, opaque, bytes);
	if (d->proto == LIBMIG_PROTO_V2)
		return libmig_v2_save_pass(d, limit, sink, opaque, bytes);
	return -EPROTONOSUPPORT;
}

int libmig_pending(struct mig_dev *d, uint64_t *pending, uint64_t *initial)
{
	uint64_t init = 0, dirty = 0;
	int ret;

	if (d->proto == LIBMIG_PROTO_V1) {
		ret = mig_get_pending(d, pending);
	} else if (d->proto != LIBMIG_PROTO_V2) {
		ret = -EPROTONOSUPPORT;
	} else if (d->cur == VFIO_DEVICE_STATE_PRE_COPY ||
		   d->cur == VFIO_DEVICE_STATE_PRE_COPY_P2P) {
		ret = libmig_v2_precopy_info(d->data_fd, &init, &dirty);
		if (!ret && init > UINT64_MAX - dirty)
			ret = -EPROTO;
		if (!ret)
			*pending = init + dirty;
	} else {
		ret = libmig_v2_data_size(d, pending);
	}
	if (initial)
		*initial = init;
	return ret;
}

int libmig_save_end(struct mig_dev *d)
{
	return libmig_set_state(d, VFIO_DEVICE_STATE_STOP);
}

int libmig_resume_begin(struct mig_dev *d)
{
	uint32_t s;
	int ret;

	if (d->proto == LIBMIG_PROTO_V2) {
		ret = libmig_get_state(d, &s);
		if (ret)
			return ret;
		if (s != VFIO_DEVICE_STATE_STOP) {
			ret = libmig_stop(d);
			if (ret)
				return ret;
		}
	}
	return libmig_set_state(d, VFIO_DEVICE_STATE_RESUMING);
}

int libmig_resume_feed(struct mig_dev *d, enum mig_path path, const void *buf,
		       size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	if (d->proto == LIBMIG_PROTO_V1)
		return mig_resume_write(d, path, buf, len, 0);
	if (d->proto != LIBMIG_PROTO_V2)
		return -EPROTONOSUPPORT;
	if (d->data_fd < 0)
		return -EBADF;
	while (len) {
		n = write(d->data_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mig_neg_errno();
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int libmig_resume_end(struct mig_dev *d, bool run)
{
	int ret;

	if (d->proto == LIBMIG_PROTO_V1)
		return libmig_set_state(d, run ? VFIO_DEVICE_STATE_RUNNING :
						 VFIO_DEVICE_STATE_STOP);
	ret = libmig_set_state(d, VFIO_DEVICE_STATE_STOP);
	if (ret || !run)
		return ret;
	if (libmig_has_p2p(d)) {
		ret = libmig_set_state(d, VFIO_DEVICE_STATE_RUNNING_P2P);
		if (ret)
			return ret;
	}
	return libmig_set_state(d, VFIO_DEVICE_STATE_RUNNING);
}

/* ------------------------------------------------------------------ */
/* sysfs                                                               */
/* ------------------------------------------------------------------ */

int mig_uuid_gen(char uuid[MIG_UUID_LEN + 1])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return mig_neg_errno();
		}
		got += n;
	}
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	snprintf(uuid, MIG_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* "small" -> ".../mig_mdev-small"; a full type name is taken as is. */
static int mig_type_path(const char *type, const char *file, char *path,
			 size_t len)
{
	const char *prefix = strncmp(type, MIG_TYPE_PREFIX,
				     strlen(MIG_TYPE_PREFIX)) ?
			     MIG_TYPE_PREFIX : "";

	if (!*type || strchr(type, '/'))
		return -EINVAL;
	if (snprintf(path, len, "%s/%s%s/%s", MIG_SYSFS_TYPES, prefix, type,
		     file) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int mig_instance_create(const char *type, char uuid[MIG_UUID_LEN + 1])
{
	char path[PATH_MAX];
	int ret;

	ret = mig_type_path(type, "create", path, sizeof(path));
	if (ret)
		return ret;
	ret = mig_uuid_gen(uuid);
	if (ret)
		return ret;
	return mig_sysfs_write(path, uuid);
}

int mig_instance_remove(const char *uuid)
{
	char path[PATH_MAX];

	if (!*uuid || strchr(uuid, '/'))
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s/remove", MIG_SYSFS_DEVICES,
		     uuid) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return mig_sysfs_write(path, "1");
}

/*
 * Reads at most @len - 1 bytes, NUL-terminates them and drops one trailing
 * newline.  Returns 0 or a negative errno.
 */
int mig_sysfs_read(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd, ret = 0;

	if (!len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mig_neg_errno();
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = mig_neg_errno();
			break;
		}
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	if (got && buf[got - 1] == '\n')
		buf[got - 1] = '\0';
	return ret;
}

/* Writes @val in one write(); the attribute's error comes back as is. */
int mig_sysfs_write(const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t n;
	int fd, ret;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return mig_neg_errno();
	do {
		n = write(fd, val, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		ret = mig_neg_errno();
	else
		ret = (size_t)n == len ? 0 : -EIO;
	if (close(fd) && !ret)
		ret = mig_neg_errno();
	return ret;
}

static int mig_attr_path(const char *uuid, const char *attr, char *path,
			 size_t len)
{
	if (!*uuid || strchr(uuid, '/'))
		return -EINVAL;
	if (snprintf(path, len, "%s/%s/%s", MIG_SYSFS_DEVICES, uuid, attr) >=
	    (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int mig_attr_read(const char *uuid, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	int ret;

	ret = mig_attr_path(uuid, attr, path, sizeof(path));
	return ret ? ret : mig_sysfs_read(path, buf, len);
}

int mig_attr_write(const char *uuid, const char *attr, const char *val)
{
	char path[PATH_MAX];
	int ret;

	ret = mig_attr_path(uuid, attr, path, sizeof(path));
	return ret ? ret : mig_sysfs_write(path, val);
}

static int mig_parse_u64(const char *s, int base, uint64_t *val)
{
	char *end;

	errno = 0;
	*val = strtoull(s, &end, base);
	if (errno)
		return -errno;
	if (end == s || (*end && !isspace((unsigned char)*end)))
		return -EINVAL;
	return 0;
}

int mig_digest(const char *uuid, uint64_t *digest)
{
	char buf[64];
	int ret;

	ret = mig_attr_read(uuid, "digest", buf, sizeof(buf));
	return ret ? ret : mig_parse_u64(buf, 16, digest);
}

int mig_type_available(const char *type, unsigned long *avail)
{
	char path[PATH_MAX], buf[64];
	uint64_t v;
	int ret;

	ret = mig_type_path(type, "available_instances", path, sizeof(path));
	if (ret)
		return ret;
	ret = mig_sysfs_read(path, buf, sizeof(buf));
	if (ret)
		return ret;
	ret = mig_parse_u64(buf, 10, &v);
	if (ret)
		return ret;
	*avail = (unsigned long)v;
	return 0;
}

static int mig_param_path(const char *name, char *path, size_t len)
{
	if (!*name || strchr(name, '/'))
		return -EINVAL;
	if (snprintf(path, len, "%s/%s", MIG_SYSFS_PARAMS, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int mig_param_read(const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	int ret;

	ret = mig_param_path(name, path, sizeof(path));
	return ret ? ret : mig_sysfs_read(path, buf, len);
}

int mig_param_write(const char *name, const char *val)
{
	char path[PATH_MAX];
	int ret;

	ret = mig_param_path(name, path, sizeof(path));
	return ret ? ret : mig_sysfs_write(path, val);
}
