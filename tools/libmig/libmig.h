/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libmig: a small client of the VFIO migration v1 region.
 *
 * Opens an mdev instance through the vfio group/container API (type1),
 * finds its migration region and walks the save and resume sequences of the
 * v1 protocol over the mmap'ed data section or with pread/pwrite.  It knows
 * nothing of mig-mdev beyond the sysfs helpers at the end, so it drives any
 * vendor's v1 region.
 *
 * Every function that can fail returns 0 or a negative errno (never -1 with
 * errno set), so that callers and tests can assert the exact error.
 */
#ifndef LIBMIG_H
#define LIBMIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <linux/mig_mdev.h>

#define MIG_UUID_LEN 36

/**
 * struct mig_dev - an open device
 * @container: /dev/vfio/vfio fd
 * @group: /dev/vfio/N fd
 * @fd: the device fd
 * @uuid: the instance's UUID
 * @num_regions: from VFIO_DEVICE_GET_INFO
 * @mig_index: region index of the migration region, or -1
 * @mig_offset: its offset in the device fd
 * @mig_size: its size
 * @data_offset: offset of the data section in the region (from the sparse
 *               mmap capability)
 * @section_size: size of the data section
 * @section: the mmap'ed data section, or NULL (see mig_dev_map())
 */
struct mig_dev {
	int container;
	int group;
	int fd;
	char uuid[MIG_UUID_LEN + 1];
	uint32_t num_regions;
	int mig_index;
	uint64_t mig_offset;
	uint64_t mig_size;
	uint64_t data_offset;
	uint64_t section_size;
	void *section;
};

/* Opening and closing. */
int mig_dev_open(struct mig_dev *d, const char *uuid);
int mig_dev_open_path(struct mig_dev *d, const char *sysfs_dev);
/*
 * Adopt a device fd opened another way (the vfio cdev bound to an iommufd):
 * finds the migration region; mig_dev_close() closes @fd.
 */
int mig_dev_open_fd(struct mig_dev *d, int fd, const char *uuid);
void mig_dev_close(struct mig_dev *d);
int mig_dev_map(struct mig_dev *d);	/* mmap the data section */
void mig_dev_unmap(struct mig_dev *d);
int mig_dev_reset(struct mig_dev *d);	/* VFIO_DEVICE_RESET */

/* Region access: offsets are relative to the region's start. */
int mig_region_pread(struct mig_dev *d, int index, void *buf, size_t len,
		     uint64_t off);
int mig_region_pwrite(struct mig_dev *d, int index, const void *buf,
		      size_t len, uint64_t off);
int mig_region_info(struct mig_dev *d, int index,
		    struct vfio_region_info **info);	/* caller frees */
/* Capability @id in the chain of a GET_REGION_INFO answer, or NULL. */
struct vfio_info_cap_header *mig_region_cap(struct vfio_region_info *ri,
					    uint16_t id);

/* The trapped header of the migration region. */
int mig_get_state(struct mig_dev *d, uint32_t *state);
int mig_set_state(struct mig_dev *d, uint32_t state);
int mig_get_pending(struct mig_dev *d, uint64_t *pending);
int mig_get_data_offset(struct mig_dev *d, uint64_t *off);
int mig_get_data_size(struct mig_dev *d, uint64_t *size);
int mig_set_data_size(struct mig_dev *d, uint64_t size);
/* True for the five (offset, width) pairs of the header PROTOCOL.md names. */
bool mig_hdr_native(uint64_t off, size_t width);
const char *mig_state_str(uint32_t state);	/* "RUNNING", ... */
int mig_state_parse(const char *name, uint32_t *state);

/* Data path. */
enum mig_path {
	MIG_PATH_MMAP,		/* the mmap'ed section (mig_dev_map) */
	MIG_PATH_PREAD,		/* pread/pwrite at region + data_offset */
};

/**
 * typedef mig_sink_fn - receives saved chunks in order
 * @opaque: caller's pointer
 * @buf: chunk data
 * @len: its size (> 0)
 * Return: 0 to go on, a negative errno to stop the save with that error.
 */
typedef int (*mig_sink_fn)(void *opaque, const void *buf, size_t len);

/**
 * struct mig_save_stats - what one save call did
 * @chunks: chunks read
 * @bytes: bytes read
 * @last_pending: pending_bytes at the end of the call
 */
struct mig_save_stats {
	uint64_t chunks;
	uint64_t bytes;
	uint64_t last_pending;
};

/*
 * One save iteration, as QEMU's save_iterate: read pending_bytes; if > 0,
 * read data_offset and data_size, copy the chunk to @sink.  Returns the
 * chunk size (0 if nothing was pending) or a negative errno.
 */
int64_t mig_save_chunk(struct mig_dev *d, enum mig_path path,
		       mig_sink_fn sink, void *opaque);

/*
 * Save until pending_bytes reads 0 (the device must already be in SAVING or
 * PRECOPY); with @max_chunks > 0 stop after that many chunks.
 */
int mig_save_loop(struct mig_dev *d, enum mig_path path, uint64_t max_chunks,
		  mig_sink_fn sink, void *opaque, struct mig_save_stats *st);

/*
 * Resume: feed @len bytes of stream to a device in RESUMING, as QEMU does:
 * read data_offset, write at most @max_write bytes (0: the section size) of
 * data into the section, write data_size, repeat.  Returns 0 or the errno of
 * the first failing step.
 */
int mig_resume_write(struct mig_dev *d, enum mig_path path, const void *buf,
		     size_t len, size_t max_write);

/* A growable buffer, usable as a sink (mig_buf_sink). */
struct mig_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
int mig_buf_sink(void *opaque, const void *buf, size_t len);
void mig_buf_free(struct mig_buf *b);

/* mig-mdev's sysfs: instances and their attributes. */
#define MIG_SYSFS_PARENT "/sys/class/mig_mdev/mig_mdev"
#define MIG_SYSFS_TYPES MIG_SYSFS_PARENT "/mdev_supported_types"
#define MIG_SYSFS_DEVICES "/sys/bus/mdev/devices"

int mig_uuid_gen(char uuid[MIG_UUID_LEN + 1]);
/* @type is "small" or "large" (the part after "mig_mdev-"). */
int mig_instance_create(const char *type, char uuid[MIG_UUID_LEN + 1]);
int mig_instance_remove(const char *uuid);
int mig_sysfs_read(const char *path, char *buf, size_t len);
int mig_sysfs_write(const char *path, const char *val);
int mig_attr_read(const char *uuid, const char *attr, char *buf, size_t len);
int mig_attr_write(const char *uuid, const char *attr, const char *val);
int mig_digest(const char *uuid, uint64_t *digest);
int mig_type_available(const char *type, unsigned long *avail);
int mig_param_read(const char *name, char *buf, size_t len);
int mig_param_write(const char *name, const char *val);

#endif /* LIBMIG_H */
