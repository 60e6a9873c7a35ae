/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/unaligned.h> for the native fuzzer: see ../kshim.h */
#include "../kshim.h"
