/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libmig: a small client of VFIO migration, protocol v1 and v2.
 *
 * Opens an mdev instance through the vfio group/container API (type1) and
 * finds what migration it offers: the v1 migration region (walked over the
 * mmap'ed data section or with pread/pwrite) and the v2 interface
 * (VFIO_DEVICE_FEATURE_MIGRATION, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE and
 * the data_fd).  The session calls (libmig_save_*, libmig_resume_*) walk
 * the save and resume sequences of either protocol behind one API.  It
 * knows nothing of mig-mdev beyond the sysfs helpers at the end, so it
 * drives any vendor's device.
 *
 * Every function that can fail returns 0 or a negative errno (never -1 with
 * errno set), so that callers and tests can assert the exact error.
 *
 * Names: the v1 calls keep their mig_ names; everything added for v2 and
 * the protocol-neutral session calls is named libmig_ (LIBMIG_ for
 * constants), so that no new name of this library repeats one of the
 * kernel module (which has its own MIG_PROTO_* bits, mig_v2_* functions).
 */
#ifndef LIBMIG_H
#define LIBMIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <linux/mig_mdev_v1.h>

/*
 * The v2 uapi of later kernels, for headers that lack it (Linux 6.1's):
 * PRE_COPY arrived in 6.2 with VFIO_MIG_GET_PRECOPY_INFO, MIG_DATA_SIZE in
 * 6.3.  Whether a device offers them is found at run time, never assumed.
 */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY		(1 << 2)
#define VFIO_DEVICE_STATE_PRE_COPY	6
#define VFIO_DEVICE_STATE_PRE_COPY_P2P	7
#endif

#ifndef VFIO_MIG_GET_PRECOPY_INFO
struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};

#define VFIO_MIG_GET_PRECOPY_INFO	_IO(VFIO_TYPE, VFIO_BASE + 21)
#endif

#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};

#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
#endif

#define MIG_UUID_LEN 36

/* A state no protocol defines (v1's 101b, 111b; out of range). */
#define LIBMIG_STATE_INVALID	0xffffffffU

/* What one v2 read() asks for; also the "one chunk" of convergence. */
#define LIBMIG_V2_CHUNK		(1U << 20)

/**
 * enum libmig_proto - a migration protocol
 * @LIBMIG_PROTO_AUTO: let libmig_use() choose: v2 when offered, else v1
 * @LIBMIG_PROTO_V1: the migration region (region type 3, subtype 1)
 * @LIBMIG_PROTO_V2: VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE and the data_fd
 */
enum libmig_proto {
	LIBMIG_PROTO_AUTO = 0,
	LIBMIG_PROTO_V1 = 1,
	LIBMIG_PROTO_V2 = 2,
};

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
 * @window_offset: offset of the second sparse-mmap area, the device's
 *                 window onto its memory (zero-copy save), or 0 if none
 * @window_size: its size, or 0
 * @window: the mmap'ed window, or NULL (mapped when a chunk is in it)
 * @v2_flags: the VFIO_MIGRATION_* flags of VFIO_DEVICE_FEATURE_MIGRATION,
 *            0 when the device offers no protocol v2
 * @v2_err: why not: the negative errno of that GET (0 when offered)
 * @proto: the protocol of the session calls (libmig_use())
 * @data_fd: the v2 data_fd of the current session, or -1
 * @cur: the state the session calls last reached (VFIO_DEVICE_STATE_*)
 * @req: the state of the last request they made: after a failure, the one
 *       that failed
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
	uint64_t window_offset;
	uint64_t window_size;
	void *window;
	uint64_t v2_flags;
	int v2_err;
	enum libmig_proto proto;
	int data_fd;
	uint32_t cur;
	uint32_t req;
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
int mig_device_reset(struct mig_dev *d);	/* VFIO_DEVICE_RESET */

/* Region access: offsets are relative to the region's start. */
int mig_region_pread(struct mig_dev *d, int index, void *buf, size_t len,
		     uint64_t off);
int mig_region_pwrite(struct mig_dev *d, int index, const void *buf,
		      size_t len, uint64_t off);
int mig_get_region_info(struct mig_dev *d, int index,
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

/**
 * struct mig_copies - what libmig's data path moved, for all devices
 * @stream_bytes: stream bytes saved and resumed through libmig
 * @copied: bytes libmig itself copied in user space: mig_buf_sink() and the
 *          mmap resume's copy into the section (a pread or pwrite is the
 *          kernel's copy, counted by the driver in debugfs)
 * @inplace: stream bytes of save chunks that were in the window (the
 *           device's memory, no copy by the device)
 */
struct mig_copies {
	uint64_t stream_bytes;
	uint64_t copied;
	uint64_t inplace;
};

extern struct mig_copies mig_copies;

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
 * The mapped bytes of a save chunk at region offset @off, in the section
 * or the window (mapping either on first use), as QEMU 7.2 looks up the
 * sparse-mmap area of each chunk; -EPROTO if it is in neither.
 */
int mig_chunk_map(struct mig_dev *d, uint64_t off, uint64_t size,
		  const void **p);

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

/* ------------------------------------------------------------------ */
/* Protocol v2 (libmig_v2_*) and the session calls of both (libmig_*)   */
/* ------------------------------------------------------------------ */

/*
 * VFIO_DEVICE_FEATURE with @flags (feature index | GET/SET/PROBE) and @len
 * bytes of @data in and out (at most 64).
 */
int libmig_feature(struct mig_dev *d, uint32_t flags, void *data, size_t len);
/* The v2 state (VFIO_DEVICE_STATE_*). */
int libmig_v2_get_state(struct mig_dev *d, uint32_t *state);
/* Request @state; *@data_fd gets the fd it returned or -1. */
int libmig_v2_set_state(struct mig_dev *d, uint32_t state, int *data_fd);
/* VFIO_MIG_GET_PRECOPY_INFO on a save data_fd. */
int libmig_v2_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty);
/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (-ENOTTY or -EINVAL: not offered). */
int libmig_v2_data_size(struct mig_dev *d, uint64_t *len);
/* "STOP", "RUNNING", "STOP_COPY", ... "PRE_COPY_P2P"; "INVALID". */
const char *libmig_v2_state_str(uint32_t state);

/* Does the device offer @p (V1: a migration region; V2: the feature)? */
bool libmig_offers(const struct mig_dev *d, enum libmig_proto p);
/*
 * Choose the protocol of the session calls: @p, or for LIBMIG_PROTO_AUTO v2
 * when offered, else v1.  -EPROTONOSUPPORT when the device does not offer
 * it (or, for auto, neither).  A fresh device uses LIBMIG_PROTO_AUTO's choice.
 */
int libmig_use(struct mig_dev *d, enum libmig_proto p);
const char *libmig_proto_str(enum libmig_proto p);	/* "v1", "v2", "auto" */
/* The optional parts of the chosen protocol: v1 always pre-copies. */
bool libmig_has_precopy(const struct mig_dev *d);
bool libmig_has_p2p(const struct mig_dev *d);
/* What one chunk is: v1's data section, LIBMIG_V2_CHUNK for v2. */
uint64_t libmig_chunk(const struct mig_dev *d);

/*
 * States, in both protocols, are numbered as enum vfio_device_mig_state:
 * v1's SAVING is STOP_COPY, PRECOPY is PRE_COPY; v1 has no *_P2P (-EINVAL).
 * libmig_state_str() names a state as the chosen protocol does (v1:
 * "SAVING"), libmig_state_parse() takes the names of protocol @p.
 */
int libmig_get_state(struct mig_dev *d, uint32_t *state);
int libmig_set_state(struct mig_dev *d, uint32_t state);
const char *libmig_state_str(const struct mig_dev *d, uint32_t state);
int libmig_state_parse(enum libmig_proto p, const char *name, uint32_t *state);
/* A v1 device_state in that numbering; LIBMIG_STATE_INVALID if v1 has none. */
uint32_t libmig_of_v1(uint32_t v1);

/*
 * Saving.  Live: libmig_precopy_begin() (RUNNING -> PRECOPY / PRE_COPY),
 * passes of libmig_save_pass() and libmig_pending(), then
 * libmig_stopcopy_begin() (v1: SAVING; v2: PRE_COPY_P2P if offered, then
 * STOP_COPY).  Stopped: libmig_stop() (v2: RUNNING_P2P if offered, then
 * STOP), libmig_stopcopy_begin().  Both: libmig_save_pass() with no limit
 * to the end of the stream, libmig_save_end() (STOP).
 */
int libmig_precopy_begin(struct mig_dev *d);	/* -EOPNOTSUPP: no PRE_COPY */
int libmig_stop(struct mig_dev *d);
int libmig_stopcopy_begin(struct mig_dev *d);
/*
 * Copy stream to @sink until the device has nothing more right now (v1:
 * pending_bytes 0; v2: -ENOMSG in pre-copy, EOF in stop-copy) or, with
 * @limit > 0, until at least @limit bytes went.  *@bytes: what was copied.
 * @path applies to v1 only.
 */
int libmig_save_pass(struct mig_dev *d, enum mig_path path, uint64_t limit,
		     mig_sink_fn sink, void *opaque, uint64_t *bytes);
/*
 * What is left to save now: v1 pending_bytes (which also retires the last
 * chunk read); v2 in pre-copy initial_bytes + dirty_bytes of
 * VFIO_MIG_GET_PRECOPY_INFO (@initial, may be NULL, gets initial_bytes;
 * v1 sets it to 0), in stop-copy VFIO_DEVICE_FEATURE_MIG_DATA_SIZE.
 */
int libmig_pending(struct mig_dev *d, uint64_t *pending, uint64_t *initial);
int libmig_save_end(struct mig_dev *d);

/*
 * Resuming: libmig_resume_begin() (v1: RESUMING in one write, as QEMU 7.2
 * does; v2: RUNNING_P2P if offered, STOP, RESUMING), libmig_resume_feed()
 * any split of the stream, libmig_resume_end() (v1: STOP, or RUNNING with
 * @run, in one write; v2: STOP, then with @run RUNNING_P2P if offered and
 * RUNNING).
 */
int libmig_resume_begin(struct mig_dev *d);
int libmig_resume_feed(struct mig_dev *d, enum mig_path path, const void *buf,
		       size_t len);
int libmig_resume_end(struct mig_dev *d, bool run);

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
