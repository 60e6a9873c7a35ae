// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: the migration region (VFIO migration v1, type 3 subtype 1).
 *
 * Layout: offset 0 holds the trapped struct vfio_device_migration_info; the
 * data section (the staging area) starts at one page in.  With the module
 * parameter zerocopy on at the instance's creation, a window onto device
 * memory, as big as device memory, takes that place instead and the section
 * follows it, so that the section always ends the region.  Each is a
 * sparse-mmap area, the section the first one reported; the header page is
 * in none.  The section is vmalloc_user()
 * memory allocated with the instance, so mappings of it stay valid for as
 * long as they exist.  The window is mapped on fault, 2 MiB at a time, from
 * the device's own memory pages, which never move either (docs/DESIGN.md,
 * "The window"); it is never writable.
 *
 * The chunk queue (PROTOCOL.md "Saving") belongs to the save session
 * (struct mig_save): a data_offset read with data pending and nothing
 * queued produces the next chunk and queues it; the next pending_bytes read
 * retires it.  With a window, a chunk of page data is left where it is and
 * data_offset points at it in the window; headers and tail records are
 * copied into the section.  Resume chunks are applied by the write of
 * data_size, always from the section.
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
 * mig_region_clear() - forget the previous session's bytes
 * @st: the instance
 *
 * Clears the data section, so that nothing of a session shows in the next
 * one, or to the device's next user (PROTOCOL.md, "Region").  The chunk
 * queue is the save session's and goes with it; the window shows device
 * memory, which is not a session's.
 *
 * Context: st->lock held.
 */
void mig_region_clear(struct mig_mdev_state *st)
{
	struct mig_region *r = &st->region;
	size_t off, n;

	lockdep_assert_held(&st->lock);
	for (off = 0; off < r->section_size; off += n) {
		n = min_t(size_t, r->section_size - off, SZ_1M);
		memset(r->section + off, 0, n);
		cond_resched();
	}
}

/* The value does not depend on the retire: the fill already counted it. */
static u64 mig_hdr_pending_read(struct mig_mdev_state *st, u64 *token)
{
	*token = st->save.queued ? st->save.seq : 0;
	return st->save.active ? mig_save_pending(st) : 0;
}

static void mig_hdr_pending_commit(struct mig_mdev_state *st, u64 token)
{
	struct mig_save *s = &st->save;
	u64 size = s->queued_size;

	/* Retire the chunk this read saw, not one queued since. */
	if (!token || !s->queued || s->seq != token)
		return;
	mig_save_unqueue(st);
	trace_mig_chunk_retire(dev_name(st->vdev.dev), size,
			       st->save.active ? mig_save_pending(st) : 0);
}

/* Where the next chunk goes: the section, or its pages in the window. */
static u64 mig_next_chunk_offset(struct mig_mdev_state *st)
{
	struct mig_region *r = &st->region;
	u64 mem_off = U64_MAX;

	if (r->window_size)
		mig_save_next_inplace(st, &mem_off);
	return mem_off == U64_MAX ? r->data_offset : r->window_offset + mem_off;
}

/*
 * The queued chunk's place; with none queued, the place of the chunk the
 * commit will queue (computed without queuing it), or the section.
 */
static u64 mig_hdr_data_offset_read(struct mig_mdev_state *st, u64 *token)
{
	struct mig_save *s = &st->save;

	if (s->queued)
		return s->queued_offset;
	if (!s->active || !mig_save_pending(st))
		return st->region.data_offset;
	*token = mig_next_chunk_offset(st);
	return *token;
}

/*
 * Queue the next chunk.  A chunk of page data in the window is wholly in
 * it (the pages of a record are contiguous in device memory), a chunk in
 * the section wholly in the section.  Only the chunk the read announced:
 * if the session moved on since (another thread, a state change), nothing
 * is queued and the next data_offset read tells the new place.
 */
static void mig_hdr_data_offset_commit(struct mig_mdev_state *st, u64 token)
{
	struct mig_region *r = &st->region;
	struct mig_save *s = &st->save;
	u64 mem_off = U64_MAX;
	size_t size;

	if (!token || !s->active || s->queued || !mig_save_pending(st) ||
	    mig_next_chunk_offset(st) != token)
		return;
	if (r->window_size)
		size = mig_save_fill_inplace(st, r->section, r->section_size,
					     &mem_off);
	else
		size = mig_save_fill(st, r->section, r->section_size);
	s->queued = true;
	s->queued_size = size;
	s->queued_offset = mem_off == U64_MAX ? r->data_offset :
			   r->window_offset + mem_off;
	s->seq++;
	st->stats.chunks_saved++;
	st->stats.bytes_saved += size;
	if (trace_mig_chunk_queue_enabled())
		trace_mig_chunk_queue(dev_name(st->vdev.dev), size,
				      mig_save_pending(st));
}

static u64 mig_hdr_data_size_read(struct mig_mdev_state *st, u64 *token)
{
	return st->save.queued ? st->save.queued_size : 0;
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

/* Count stream bytes copied to or from user memory (debugfs). */
static void mig_region_count_user(struct mig_mdev_state *st, size_t n,
				  bool write)
{
	mutex_lock(&st->lock);
	if (write)
		st->stats.user_in += n;
	else
		st->stats.user_out += n;
	mutex_unlock(&st->lock);
}

/*
 * pread/pwrite of the data section.  Its bytes are user-mappable and may
 * change at any time, so the copy takes no lock (a stalled user page must
 * not hold it): a client orders its copies against chunk fills and applies
 * by its own sequence of header accesses, as it does through the mapping.
 * The section lives as long as the instance.
 */
static ssize_t mig_section_rw(struct mig_mdev_state *st, char __user *buf,
			      size_t count, u64 pos, bool write)
{
	struct mig_region *r = &st->region;
	unsigned long left;

	if (count > r->section_size - pos)
		return -EINVAL;
	if (write)
		left = copy_from_user(r->section + pos, buf, count);
	else
		left = copy_to_user(buf, r->section + pos, count);
	if (left)
		return -EFAULT;
	mig_region_count_user(st, count, write);
	return count;
}

/*
 * pread of the window: device memory, unlocked, as through the mapping.
 * No write reaches device memory through the window: pwrite is -EACCES.
 */
static ssize_t mig_window_rw(struct mig_mdev_state *st, char __user *buf,
			     size_t count, u64 pos, bool write)
{
	if (count > st->region.window_size - pos)
		return -EINVAL;
	if (write)
		return -EACCES;
	if (mig_dev_mem_to_user(&st->dev, pos, buf, count))
		return -EFAULT;
	mig_region_count_user(st, count, false);
	return count;
}

/**
 * mig_region_rw() - read or write the migration region
 * @st: the instance
 * @buf: user buffer
 * @count: bytes
 * @off: offset in the region
 * @write: a write
 *
 * Return: @count, or -EINVAL for an access outside the region, across two
 * of its parts, or of the wrong width or offset in the header; -EACCES for
 * a write of the window.
 */
ssize_t mig_region_rw(struct mig_mdev_state *st, char __user *buf,
		      size_t count, u64 off, bool write)
{
	struct mig_region *r = &st->region;

	if (!count)
		return -EINVAL;
	if (off < MIG_DATA_OFFSET)
		return mig_hdr_rw(st, buf, count, off, write);
	if (off >= r->data_offset && off - r->data_offset < r->section_size)
		return mig_section_rw(st, buf, count, off - r->data_offset,
				      write);
	if (r->window_size && off >= r->window_offset &&
	    off - r->window_offset < r->window_size)
		return mig_window_rw(st, buf, count, off - r->window_offset,
				     write);
	return -EINVAL;
}

/**
 * mig_region_size() - size of the migration region
 * @st: the instance
 *
 * Return: the end of the data section, the last part of the region.
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
	u32 nr = st->region.window_size ? 2 : 1;
	size_t size = struct_size(sparse, areas, nr);
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
	sparse->nr_areas = nr;
	sparse->areas[0].offset = st->region.data_offset;
	sparse->areas[0].size = st->region.section_size;
	if (nr == 2) {
		sparse->areas[1].offset = st->region.window_offset;
		sparse->areas[1].size = st->region.window_size;
	}
	ret = vfio_info_add_capability(caps, &sparse->header, size);
	kfree(sparse);
	return ret;
}

/*
 * Pages a fault of the window maps: the faulting page and those after it,
 * up to the end of the window and of the mapping.  A client copies the
 * window in order, so one fault in 2 MiB instead of one a page (under TCG
 * the first save of a 64 MiB window took 16,384 faults; docs/BENCH.md).
 * They go in by batches of MIG_WINDOW_BATCH, the array on the stack.
 */
#define MIG_WINDOW_FAULT_PAGES	512
#define MIG_WINDOW_BATCH	16

/*
 * A fault in a mapping of the window: the device memory pages from that
 * place on, read only.  No lock: the pages never change for the
 * instance's life, and the mapping holds the device file, so the instance
 * outlives it.  The pgoff's high bits are the region index
 * (MIG_OFFSET_SHIFT).  The mapping is VM_MIXEDMAP (set at mmap time, with
 * the mmap lock held for writing), so vm_insert_pages() may fill it here,
 * under the mmap lock held for reading; it inserts with vm_page_prot,
 * which write notify made read only.  A page already mapped (a racing
 * fault, or a part the client zapped with MADV_DONTNEED) ends the batch
 * with -EBUSY: what was inserted before it stays.
 */
static vm_fault_t mig_window_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mig_mdev_state *st = vma->vm_private_data;
	struct mig_region *r = &st->region;
	u64 off = ((u64)vmf->pgoff << PAGE_SHIFT) & MIG_OFFSET_MASK;
	unsigned long addr = vmf->address & PAGE_MASK;
	struct page *pages[MIG_WINDOW_BATCH];
	unsigned long left, n, rest, i;
	bool mapped = false;
	int ret = 0;

	if (vmf->flags & FAULT_FLAG_WRITE)
		return VM_FAULT_SIGBUS;
	if (off < r->window_offset || off - r->window_offset >= r->window_size)
		return VM_FAULT_SIGBUS;
	off -= r->window_offset;
	left = min3((unsigned long)((r->window_size - off) >> PAGE_SHIFT),
		    (vma->vm_end - addr) >> PAGE_SHIFT,
		    (unsigned long)MIG_WINDOW_FAULT_PAGES);
	while (left) {
		n = min_t(unsigned long, left, MIG_WINDOW_BATCH);
		for (i = 0; i < n; i++)
			pages[i] = mig_dev_mem_page(&st->dev,
						    off + i * PAGE_SIZE);
		rest = n;
		ret = vm_insert_pages(vma, addr, pages, &rest);
		mapped |= rest < n;
		if (ret)
			break;
		addr += n * PAGE_SIZE;
		off += n * PAGE_SIZE;
		left -= n;
	}
	if (mapped || ret == -EBUSY)
		return VM_FAULT_NOPAGE;
	return vmf_error(ret);
}

/*
 * A write to a page mapped read only.  Having ->page_mkwrite also makes
 * the core map shared writable pages without write permission (write
 * notify), so that every write to the window comes here; ->pfn_mkwrite
 * covers a page the core would not take for a normal one.
 */
static vm_fault_t mig_window_mkwrite(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

static const struct vm_operations_struct mig_window_vm_ops = {
	.fault = mig_window_fault,
	.page_mkwrite = mig_window_mkwrite,
	.pfn_mkwrite = mig_window_mkwrite,
};

/* Is [@off, @off + @len) inside the area at @start of @size bytes? */
static bool mig_in_area(u64 off, u64 len, u64 start, u64 size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

/**
 * mig_region_mmap() - map (part of) the data section or the window
 * @st: the instance
 * @vma: the mapping; MAP_SHARED only
 * @off: offset in the region of the mapping's first byte
 *
 * The section is mapped at once.  The window is mapped on fault, read
 * only: a write to it, with PROT_WRITE or not, gets SIGBUS.
 *
 * Return: 0, or -EINVAL for a private mapping or one that is not entirely
 * inside one area.
 */
int mig_region_mmap(struct mig_mdev_state *st, struct vm_area_struct *vma,
		    u64 off)
{
	struct mig_region *r = &st->region;
	u64 len = vma->vm_end - vma->vm_start;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (mig_in_area(off, len, r->data_offset, r->section_size))
		return remap_vmalloc_range(vma, r->section,
					   (off - r->data_offset) >> PAGE_SHIFT);
	if (!r->window_size ||
	    !mig_in_area(off, len, r->window_offset, r->window_size))
		return -EINVAL;
	mig_vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_private_data = st;
	vma->vm_ops = &mig_window_vm_ops;
	return 0;
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
	/*
	 * The window maps device memory by CPU page: it needs whole ones.  It
	 * goes before the section, so that the section runs to the end of the
	 * region: a resuming client may write up to (region size -
	 * data_offset) bytes at data_offset (PROTOCOL.md, "Region").
	 */
	if (READ_ONCE(mig_zerocopy) && MIG_PAGE_SIZE == PAGE_SIZE) {
		r->window_offset = MIG_DATA_OFFSET;
		r->window_size = st->type->mem_size;
		r->data_offset = r->window_offset + r->window_size;
	}
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
