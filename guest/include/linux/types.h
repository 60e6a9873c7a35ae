/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few <linux/types.h> names include/uapi/linux/mig_mdev.h uses, for the
 * freestanding 32-bit guest program: it is built with -nostdinc, so it sees
 * only the project's uapi header, this shim and GCC's own headers.
 */
#ifndef MIG_GUEST_LINUX_TYPES_H
#define MIG_GUEST_LINUX_TYPES_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef __u16 __le16;
typedef __u32 __le32;
typedef __u64 __le64;

#endif
