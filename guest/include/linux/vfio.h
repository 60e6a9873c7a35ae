/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Empty on purpose: the guest program uses only the device and DMA parts of
 * include/uapi/linux/mig_mdev.h, none of the VFIO ABI it also carries.
 */
#ifndef MIG_GUEST_LINUX_VFIO_H
#define MIG_GUEST_LINUX_VFIO_H
#endif
