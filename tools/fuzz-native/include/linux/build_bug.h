/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/build_bug.h> for the native fuzzer: see ../kshim.h */
#include "../kshim.h"
