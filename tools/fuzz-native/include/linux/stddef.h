/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/stddef.h>: the system uapi header, then the kernel part in ../kshim.h */
#include_next <linux/stddef.h>
#include "../kshim.h"
