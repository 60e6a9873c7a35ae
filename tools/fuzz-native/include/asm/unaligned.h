/* SPDX-License-Identifier: GPL-2.0 */
/* <asm/unaligned.h> for the native fuzzer: see ../kshim.h */
#include "../kshim.h"
