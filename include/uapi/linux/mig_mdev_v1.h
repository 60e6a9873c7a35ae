/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mig-mdev: the VFIO side of the user-space ABI: how protocol v1 reaches
 * the device's migration region.
 *
 * Our own copy of the VFIO migration v1 ABI (region type 3, subtype 1,
 * struct vfio_device_migration_info and the device_state bits).  Linux 6.1
 * and 6.12 still ship it under *_DEPRECATED names, later kernels may not;
 * the definitions below are used only when <linux/vfio.h> does not provide
 * them, so this header can be included with either.  Then the names this
 * project gives the v1 states, the trapped header's fields and the
 * region's index.
 *
 * The device itself (registers, stream format) is <linux/mig_mdev.h>,
 * which knows nothing of VFIO; this header includes it for convenience.
 */
#ifndef _UAPI_LINUX_MIG_MDEV_V1_H
#define _UAPI_LINUX_MIG_MDEV_V1_H

#include <linux/types.h>
#include <linux/vfio.h>
#include <linux/mig_mdev.h>

#ifndef VFIO_REGION_TYPE_MIGRATION_DEPRECATED
#define VFIO_REGION_TYPE_MIGRATION_DEPRECATED		(3)
#define VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED	(1)

/**
 * struct vfio_device_migration_info - header of the v1 migration region
 * @device_state: requested or current device state, VFIO_DEVICE_STATE_V1_*
 * @reserved: reads as zero, writes are ignored
 * @pending_bytes: bytes the device still has to send (read only)
 * @data_offset: offset of the data section in the region (read only)
 * @data_size: size of the data in the data section
 *
 * The header sits at offset 0 of the migration region and is trapped: only
 * accesses of a field's own width at its own offset are accepted.
 */
struct vfio_device_migration_info {
	__u32 device_state;
#define VFIO_DEVICE_STATE_V1_STOP	(0)
#define VFIO_DEVICE_STATE_V1_RUNNING	(1 << 0)
#define VFIO_DEVICE_STATE_V1_SAVING	(1 << 1)
#define VFIO_DEVICE_STATE_V1_RESUMING	(1 << 2)
#define VFIO_DEVICE_STATE_MASK		(VFIO_DEVICE_STATE_V1_RUNNING | \
					 VFIO_DEVICE_STATE_V1_SAVING | \
					 VFIO_DEVICE_STATE_V1_RESUMING)
	__u32 reserved;
	__u64 pending_bytes;
	__u64 data_offset;
	__u64 data_size;
};
#endif /* VFIO_REGION_TYPE_MIGRATION_DEPRECATED */

/* Names used by this project for the v1 states (values as in the uapi). */
#define MIG_STATE_STOP		0x0	/* 000b */
#define MIG_STATE_RUNNING	0x1	/* 001b */
#define MIG_STATE_SAVING	0x2	/* 010b: stop-and-copy */
#define MIG_STATE_PRECOPY	0x3	/* 011b: running and saving */
#define MIG_STATE_RESUMING	0x4	/* 100b */
#define MIG_STATE_ERROR		0x6	/* 110b: entered by the driver only */
#define MIG_STATE_NR		8	/* 3 state bits */
#define MIG_STATE_BITS		0x7

/* Offsets and widths of the trapped header fields. */
#define MIG_HDR_DEVICE_STATE	0
#define MIG_HDR_RESERVED	4
#define MIG_HDR_PENDING_BYTES	8
#define MIG_HDR_DATA_OFFSET	16
#define MIG_HDR_DATA_SIZE	24
#define MIG_HDR_SIZE		32

/* The migration region is the first device-specific region index. */
#define MIG_MDEV_MIGRATION_REGION_INDEX	VFIO_PCI_NUM_REGIONS

#endif /* _UAPI_LINUX_MIG_MDEV_V1_H */
