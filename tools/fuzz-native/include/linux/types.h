/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/types.h>: the system uapi header, then the kernel part in ../kshim.h */
#include_next <linux/types.h>
#include "../kshim.h"
