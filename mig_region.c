// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the migration region (VFIO migration v1, type 3 subtype 1).
 *
 * Layout: offset 0 holds the trapped struct vfio_device_migration_info; the
 * data section starts at data_offset (one page in) and is the only part
 * that can be mapped.  The section is vmalloc_user() memory allocated with
 * the instance, so mappings of it stay valid for as long as they exist.
 *
 * The chunk queue (PROTOCOL.md "Saving"): a data_offset read with data
 * pending and nothing queued fills the section with the next chunk of the
 * stream and queues it; the next pending_bytes read retires it.  Resume
 * chunks are applied by the write of data_size.
 *
 * Header accesses go through a table of fields; anything that is not a
 * field's own width at its own offset is -EINVAL and changes nothing.
 */
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "mig.h"
#include <trace/mig_trace.h>

/* Size of the trapped area before the data section. */
#define MIG_DATA_OFFSET		PAGE_SIZE

/*
 * Header fields.  A read is two steps: ->read computes the value with no
 * side effect (under the lock), and ->commit, called only after the value
 * reached user memory, performs the read's side effect (queue or retire a
 * chunk), so that a read whose copy faults changes nothing (PROTOCOL.md,
 * "Reset and close").  @token carries what ->read saw to ->commit.
 */

static u64 mig_hdr_state_read(struct mig_mdev_state *st, u64 *token)
{
	return mig_state_v1_view(st);
}

static int mig_hdr_state_write(struct mig_mdev_state *st, u64 val)
{
	return mig_state_set(st, val);
}

static u64 mig_hdr_reserved_read(struct mig_mdev_state *st, u64 *token)
{
	return 0;
}

static int mig_hdr_reserved_write(struct mig_mdev_state *st, u64 val)
{
	return 0;
}

/**
 * mig_region_unqueue() - retire the queued chunk, if any
 * @st: the instance
 *
 * Context: st->lock held.
 */
void mig_region_unqueue(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->lock);
	st->region.queued = false;
	st->region.queued_size = 0;
}

/**
 * mig_region_clear() - forget the previous session's bytes
 * @st: the instance
 *
 * Retires the queued chunk and clears the data section, so that nothing of
 * a session shows in the next one, or to the device's next user
 * (PROTOCOL.md, "Region").
 *
 * Context: st->lock held.
 */
void mig_region_clear(struct mig_mdev_state *st)
{
	struct mig_region *r = &st->region;
	size_t off, n;

	lockdep_assert_held(&st->lock);
	mig_region_unqueue(st);
	for (off = 0; off < r->section_size; off += n) {
		n = min_t(size_t, r->section_size - off, SZ_1M);
		memset(r->section + off, 0, n);
		cond_resched();
	}
}

/* The value does not depend on the retire: the fill already counted it. */
static u64 mig_hdr_pending_read(struct mig_mdev_state *st, u64 *token)
{
	*token = st->region.queued ? st->region.seq : 0;
	return st->save.active ? mig_save_pending(st) : 0;
}

static void mig_hdr_pending_commit(struct mig_mdev_state *st, u64 token)
{
	struct mig_region *r = &st->region;
	u64 size = r->queued_size;

	/* Retire the chunk this read saw, not one queued since. */
	if (!token || !r->queued || r->seq != token)
		return;
	mig_region_unqueue(st);
	trace_mig_chunk_retire(dev_name(st->vdev.dev), size,
			       st->save.active ? mig_save_pending(st) : 0);
}

static u64 mig_hdr_data_offset_read(struct mig_mdev_state *st, u64 *token)
{
	return st->region.data_offset;
}

static void mig_hdr_data_offset_commit(struct mig_mdev_state *st, u64 token)
{
	struct mig_region *r = &st->region;
	size_t size;

	if (!st->save.active || r->queued || !mig_save_pending(st))
		return;
	size = mig_save_fill(st, r->section, r->section_size);
	r->queued = true;
	r->queued_size = size;
	r->seq++;
	st->stats.chunks_saved++;
	st->stats.bytes_saved += size;
	if (trace_mig_chunk_queue_enabled())
		trace_mig_chunk_queue(dev_name(st->vdev.dev), size,
				      mig_save_pending(st));
}

static u64 mig_hdr_data_size_read(struct mig_mdev_state *st, u64 *token)
{
	return st->region.queued ? st->region.queued_size : 0;
}

/*
 * The write of data_size applies a chunk of the resume stream.  A chunk
 * that is refused (an empty one, one larger than the section, or bytes the
 * parser rejects) ends the stream: the session starts over, waiting for a
 * stream header, if no byte of it had changed the device, and the device
 * enters ERROR if some had.
 */
static int mig_hdr_data_size_write(struct mig_mdev_state *st, u64 val)
{
	int ret;

	if (st->mig_state != MIG_STATE_RESUMING || !st->load.active)
		return -EINVAL;
	ret = mig_load_chunk(st, st->region.section,
			     val > st->region.section_size ? 0 : val);
	if (!ret)
		return 0;
	if (st->load.applied)
		mig_state_error(st);
	else
		mig_load_open(st);	/* start over, from a stream header */
	return ret;
}

/**
 * struct mig_hdr_field - a field of the trapped header
 * @off: its offset
 * @width: its width; the only access width accepted
 * @read: its value, without side effect
 * @commit: the read's side effect, once the value reached user space, or
 *          NULL if it has none
 * @write: writes it, or NULL if it is read only
 * @shared: it may be read while protocol v2 owns migration; every other
 *          access then gets -EBUSY and changes nothing
 */
struct mig_hdr_field {
	u32 off;
	u32 width;
	bool shared;
	u64 (*read)(struct mig_mdev_state *st, u64 *token);
	void (*commit)(struct mig_mdev_state *st, u64 token);
	int (*write)(struct mig_mdev_state *st, u64 val);
};

static const struct mig_hdr_field mig_hdr_fields[] = {
	{ MIG_HDR_DEVICE_STATE, 4, true, mig_hdr_state_read, NULL,
	  mig_hdr_state_write },
	{ MIG_HDR_RESERVED, 4, false, mig_hdr_reserved_read, NULL,
	  mig_hdr_reserved_write },
	{ MIG_HDR_PENDING_BYTES, 8, false, mig_hdr_pending_read,
	  mig_hdr_pending_commit, NULL },
	{ MIG_HDR_DATA_OFFSET, 8, false, mig_hdr_data_offset_read,
	  mig_hdr_data_offset_commit, NULL },
	{ MIG_HDR_DATA_SIZE, 8, false, mig_hdr_data_size_read, NULL,
	  mig_hdr_data_size_write },
};

static const struct mig_hdr_field *mig_hdr_field(u64 off, size_t count)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(mig_hdr_fields); i++)
		if (mig_hdr_fields[i].off == off &&
		    mig_hdr_fields[i].width == count)
			return &mig_hdr_fields[i];
	return NULL;
}

/* User memory is copied before or after the lock is held, never under it. */
static ssize_t mig_hdr_rw(struct mig_mdev_state *st, char __user *buf,
			  size_t count, u64 off, bool write)
{
	const struct mig_hdr_field *f = mig_hdr_field(off, count);
	u64 val = 0, token = 0;
	u32 v32;
	int ret;

	if (!f || (write && !f->write))
		return -EINVAL;

	if (write) {
		if (count == sizeof(u32)) {
			if (copy_from_user(&v32, buf, sizeof(v32)))
				return -EFAULT;
			val = v32;
		} else if (copy_from_user(&val, buf, sizeof(val))) {
			return -EFAULT;
		}
		/* device_state and data_size writes may stop the device. */
		mig_lock(st);
		ret = st->owner == MIG_OWNER_V2 ? -EBUSY : f->write(st, val);
		mig_unlock(st);
		return ret ? ret : count;
	}

	mutex_lock(&st->lock);
	ret = st->owner == MIG_OWNER_V2 && !f->shared ? -EBUSY : 0;
	if (!ret)
		val = f->read(st, &token);
	mutex_unlock(&st->lock);
	if (ret)
		return ret;
	v32 = val;
	if (copy_to_user(buf, count == sizeof(u32) ? (void *)&v32 : &val,
			 count))
		return -EFAULT;
	if (f->commit) {
		mutex_lock(&st->lock);
		/* v2 may have taken over since: its session is not ours. */
		if (st->owner != MIG_OWNER_V2)
			f->commit(st, token);
		mutex_unlock(&st->lock);
	}
	return count;
}

/*
 * pread/pwrite of the data section.  Its bytes are user-mappable and may
 * change at any time, so the copy takes no lock (a stalled user page must
 * not hold it): a client orders its copies against chunk fills and applies
 * by its own sequence of header accesses, as it does through the mapping.
 * The section lives as long as the instance.
 */
static ssize_t mig_section_rw(struct mig_mdev_state *st, char __user *buf,
			      size_t count, u64 off, bool write)
{
	struct mig_region *r = &st->region;
	u64 pos = off - r->data_offset;
	unsigned long left;

	if (pos >= r->section_size || count > r->section_size - pos)
		return -EINVAL;
	if (write)
		left = copy_from_user(r->section + pos, buf, count);
	else
		left = copy_to_user(buf, r->section + pos, count);
	return left ? -EFAULT : count;
}

/**
 * mig_region_rw() - read or write the migration region
 * @st: the instance
 * @buf: user buffer
 * @count: bytes
 * @off: offset in the region
 * @write: a write
 *
 * Return: @count, or -EINVAL for an access outside the region, across the
 * header and the section, or of the wrong width or offset in the header.
 */
ssize_t mig_region_rw(struct mig_mdev_state *st, char __user *buf,
		      size_t count, u64 off, bool write)
{
	if (!count)
		return -EINVAL;
	if (off < st->region.data_offset)
		return mig_hdr_rw(st, buf, count, off, write);
	return mig_section_rw(st, buf, count, off, write);
}

/**
 * mig_region_size() - size of the migration region
 * @st: the instance
 *
 * Return: data_offset plus the data section.
 */
u64 mig_region_size(struct mig_mdev_state *st)
{
	return st->region.data_offset + st->region.section_size;
}

/**
 * mig_region_info() - VFIO_DEVICE_GET_REGION_INFO of the migration region
 * @st: the instance
 * @info: flags and size are filled in
 * @caps: the type and sparse-mmap capabilities are added to it
 *
 * Context: st->lock held.
 * Return: 0 or -ENOMEM.
 */
int mig_region_info(struct mig_mdev_state *st, struct vfio_region_info *info,
		    struct vfio_info_cap *caps)
{
	lockdep_assert_held(&st->lock);
	struct vfio_region_info_cap_type type = {
		.header.id = VFIO_REGION_INFO_CAP_TYPE,
		.header.version = 1,
		.type = VFIO_REGION_TYPE_MIGRATION_DEPRECATED,
		.subtype = VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED,
	};
	struct vfio_region_info_cap_sparse_mmap *sparse;
	size_t size = struct_size(sparse, areas, 1);
	int ret;

	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		      VFIO_REGION_INFO_FLAG_MMAP;
	info->size = mig_region_size(st);

	ret = vfio_info_add_capability(caps, &type.header, sizeof(type));
	if (ret)
		return ret;

	sparse = kzalloc(size, GFP_KERNEL);
	if (!sparse)
		return -ENOMEM;
	sparse->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	sparse->header.version = 1;
	sparse->nr_areas = 1;
	sparse->areas[0].offset = st->region.data_offset;
	sparse->areas[0].size = st->region.section_size;
	ret = vfio_info_add_capability(caps, &sparse->header, size);
	kfree(sparse);
	return ret;
}

/**
 * mig_region_mmap() - map (part of) the data section
 * @st: the instance
 * @vma: the mapping; MAP_SHARED only
 * @off: offset in the region of the mapping's first byte
 *
 * Return: 0, or -EINVAL for a private mapping or one that is not entirely
 * inside the data section.
 */
int mig_region_mmap(struct mig_mdev_state *st, struct vm_area_struct *vma,
		    u64 off)
{
	struct mig_region *r = &st->region;
	u64 len = vma->vm_end - vma->vm_start;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (off < r->data_offset || off - r->data_offset >= r->section_size ||
	    len > r->section_size - (off - r->data_offset))
		return -EINVAL;
	return remap_vmalloc_range(vma, r->section,
				   (off - r->data_offset) >> PAGE_SHIFT);
}

/**
 * mig_region_init() - allocate the data section
 * @st: the instance
 *
 * The section has mig_section_pages pages, read now, so that instances
 * created after a change of the parameter get the new size.
 *
 * Context: the instance is not visible yet; no lock needed.
 * Return: 0 or -ENOMEM.
 */
int mig_region_init(struct mig_mdev_state *st)
{
	struct mig_region *r = &st->region;

	r->data_offset = MIG_DATA_OFFSET;
	r->section_size = (size_t)READ_ONCE(mig_section_pages) * PAGE_SIZE;
	r->section = vmalloc_user(r->section_size);
	if (!r->section)
		return -ENOMEM;
	return 0;
}

/**
 * mig_region_free() - free the data section
 * @st: the instance; no mapping of it is left (the vfio core releases the
 *      device only after the last mapping of its file is gone)
 */
void mig_region_free(struct mig_mdev_state *st)
{
	vfree(st->region.section);
	st->region.section = NULL;
}
