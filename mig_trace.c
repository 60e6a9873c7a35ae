// SPDX-License-Identifier: GPL-2.0
/* mig-mdev: the one place the tracepoints of include/trace/mig_trace.h live. */
#define CREATE_TRACE_POINTS
#include <trace/mig_trace.h>
