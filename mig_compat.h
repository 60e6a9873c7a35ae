/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mig-mdev: the differences between the kernels the module builds for
 * (Linux 6.1 .. 6.12), in one place.  This is the only file that tests
 * LINUX_VERSION_CODE; `make lint` runs checkpatch on it with that one rule
 * off, since an out-of-tree module has no other way to follow the API.
 */
#ifndef MIG_COMPAT_H
#define MIG_COMPAT_H

#include <linux/device.h>
#include <linux/eventfd.h>
#include <linux/vfio.h>
#include <linux/version.h>

/* <asm/unaligned.h> became <linux/unaligned.h> in 6.12. */
#if KERNEL_VERSION(6, 12, 0) <= LINUX_VERSION_CODE
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/* class_create() lost its owner argument in 6.4. */
#if KERNEL_VERSION(6, 4, 0) > LINUX_VERSION_CODE
#define mig_class_create(name) class_create(THIS_MODULE, name)
#else
#define mig_class_create(name) class_create(name)
#endif

/* vm_flags became read only, set through vm_flags_set(), in 6.3. */
#if KERNEL_VERSION(6, 3, 0) > LINUX_VERSION_CODE
#define mig_vm_flags_set(vma, flags) ((vma)->vm_flags |= (flags))
#else
#define mig_vm_flags_set(vma, flags) vm_flags_set(vma, flags)
#endif

/* eventfd_signal() lost its count argument in 6.8. */
#if KERNEL_VERSION(6, 8, 0) > LINUX_VERSION_CODE
#define mig_eventfd_signal(ctx) eventfd_signal(ctx, 1)
#else
#define mig_eventfd_signal(ctx) eventfd_signal(ctx)
#endif

/*
 * Since 6.2 an emulated-IOMMU vfio device also serves the iommufd/cdev path
 * when it names the core's emulated bind/attach helpers.
 */
#if KERNEL_VERSION(6, 2, 0) <= LINUX_VERSION_CODE
#define MIG_VFIO_IOMMUFD_OPS						\
	.bind_iommufd	= vfio_iommufd_emulated_bind,			\
	.unbind_iommufd	= vfio_iommufd_emulated_unbind,			\
	.attach_ioas	= vfio_iommufd_emulated_attach_ioas,
#else
#define MIG_VFIO_IOMMUFD_OPS
#endif

/* 6.6 added detach_ioas, which an emulated device must name too. */
#if KERNEL_VERSION(6, 6, 0) <= LINUX_VERSION_CODE
#define MIG_VFIO_IOMMUFD_DETACH_OPS					\
	.detach_ioas	= vfio_iommufd_emulated_detach_ioas,
#else
#define MIG_VFIO_IOMMUFD_DETACH_OPS
#endif

/* __assign_str() of a trace event lost its source argument in 6.10. */
#if KERNEL_VERSION(6, 10, 0) > LINUX_VERSION_CODE
#define mig_assign_str(dst, src) __assign_str(dst, src)
#else
#define mig_assign_str(dst, src) __assign_str(dst)
#endif

/*
 * Who frees the memory of a vfio_device from vfio_alloc_device() (for us,
 * the whole struct mig_mdev_state).  In 6.1 the core's
 * vfio_device_release() calls the driver's @release and frees nothing: the
 * driver's @release must end with vfio_free_device(), or every instance
 * leaks its state.  Commit 913447d06f03 ("vfio: Remove vfio_free_device"),
 * in 6.2, moved the kvfree() into vfio_device_release(), after @release,
 * and removed vfio_free_device(): there the driver must not free it.  Call
 * this last in @release; nothing may touch the device after it.
 */
static inline void mig_vfio_free_device(struct vfio_device *vdev)
{
#if KERNEL_VERSION(6, 2, 0) > LINUX_VERSION_CODE
	vfio_free_device(vdev);
#endif
}

/*
 * Protocol v2's pre-copy states, their flag and VFIO_MIG_GET_PRECOPY_INFO
 * came in 6.2; the state numbers are ABI, so the driver's tables can name
 * them on every kernel.  Without VFIO_MIGRATION_PRE_COPY the device does
 * not offer them and the core refuses them before the driver sees them.
 */
#ifdef VFIO_MIGRATION_PRE_COPY
#define MIG_V2_STATE_PRE_COPY		VFIO_DEVICE_STATE_PRE_COPY
#define MIG_V2_STATE_PRE_COPY_P2P	VFIO_DEVICE_STATE_PRE_COPY_P2P
#define MIG_V2_FLAG_PRE_COPY		VFIO_MIGRATION_PRE_COPY
#else
#define MIG_V2_STATE_PRE_COPY		6
#define MIG_V2_STATE_PRE_COPY_P2P	7
#define MIG_V2_FLAG_PRE_COPY		0
#endif
#define MIG_V2_NR_STATES		(MIG_V2_STATE_PRE_COPY_P2P + 1)

/*
 * vfio_migration_ops.migration_get_data_size (VFIO_DEVICE_FEATURE_
 * MIG_DATA_SIZE) came in 6.3.
 */
#ifdef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define MIG_V2_DATA_SIZE_OP(fn)		.migration_get_data_size = fn,
#else
#define MIG_V2_DATA_SIZE_OP(fn)
#endif

/*
 * The core's iova_bitmap, through which a device dirty log is reported:
 * part of vfio up to 6.6; from 6.7 part of iommufd, built only with
 * CONFIG_IOMMUFD_DRIVER (stubs that report nothing otherwise) and exported
 * in the IOMMUFD symbol namespace.
 */
#if KERNEL_VERSION(6, 7, 0) > LINUX_VERSION_CODE
#define MIG_HAVE_IOVA_BITMAP	true
#define MIG_IMPORT_IOVA_BITMAP()
#else
#define MIG_HAVE_IOVA_BITMAP	IS_ENABLED(CONFIG_IOMMUFD_DRIVER)
#define MIG_IMPORT_IOVA_BITMAP() MODULE_IMPORT_NS(IOMMUFD)
#endif

#endif /* MIG_COMPAT_H */
