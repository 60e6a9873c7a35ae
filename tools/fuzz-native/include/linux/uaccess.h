/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/uaccess.h> for the native fuzzer: see ../kshim.h */
#include "../kshim.h"
