/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/vmalloc.h> for the native fuzzer: see ../kshim.h */
#include "../kshim.h"
