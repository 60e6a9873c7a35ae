/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/vfio.h>: the system uapi header, then the kernel part in ../kshim.h */
#include_next <linux/vfio.h>
#include "../kshim.h"
