/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mig-mdev tracepoints: state transitions, the save chunk queue, resume
 * chunks and errors.  Enable them with
 *   echo 1 > /sys/kernel/tracing/events/mig_mdev/enable
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM mig_mdev

#if !defined(_MIG_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _MIG_TRACE_H

#include <linux/tracepoint.h>

#include "mig_compat.h"

/* A state change: v1 device_state or v2 enum vfio_device_mig_state values. */
DECLARE_EVENT_CLASS(mig_state_class,
	TP_PROTO(const char *dev, u32 from, u32 to, int ret),
	TP_ARGS(dev, from, to, ret),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u32, from)
		__field(u32, to)
		__field(int, ret)
	),
	TP_fast_assign(
		mig_assign_str(dev, dev);
		__entry->from = from;
		__entry->to = to;
		__entry->ret = ret;
	),
	TP_printk("%s from=%u to=%u ret=%d", __get_str(dev), __entry->from,
		  __entry->to, __entry->ret)
);

DEFINE_EVENT(mig_state_class, mig_state,
	TP_PROTO(const char *dev, u32 from, u32 to, int ret),
	TP_ARGS(dev, from, to, ret)
);

DEFINE_EVENT(mig_state_class, mig_v2_state,
	TP_PROTO(const char *dev, u32 from, u32 to, int ret),
	TP_ARGS(dev, from, to, ret)
);

DECLARE_EVENT_CLASS(mig_chunk,
	TP_PROTO(const char *dev, u64 size, u64 pending),
	TP_ARGS(dev, size, pending),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u64, size)
		__field(u64, pending)
	),
	TP_fast_assign(
		mig_assign_str(dev, dev);
		__entry->size = size;
		__entry->pending = pending;
	),
	TP_printk("%s size=%llu pending=%llu", __get_str(dev), __entry->size,
		  __entry->pending)
);

/* A data_offset read queued a chunk of @size; @pending is left after it. */
DEFINE_EVENT(mig_chunk, mig_chunk_queue,
	TP_PROTO(const char *dev, u64 size, u64 pending),
	TP_ARGS(dev, size, pending));

/* A pending_bytes read retired the queued chunk of @size. */
DEFINE_EVENT(mig_chunk, mig_chunk_retire,
	TP_PROTO(const char *dev, u64 size, u64 pending),
	TP_ARGS(dev, size, pending));

TRACE_EVENT(mig_resume_chunk,
	TP_PROTO(const char *dev, u64 size, int ret),
	TP_ARGS(dev, size, ret),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u64, size)
		__field(int, ret)
	),
	TP_fast_assign(
		mig_assign_str(dev, dev);
		__entry->size = size;
		__entry->ret = ret;
	),
	TP_printk("%s size=%llu ret=%d", __get_str(dev), __entry->size,
		  __entry->ret)
);

TRACE_EVENT(mig_error,
	TP_PROTO(const char *dev, const char *what, int err),
	TP_ARGS(dev, what, err),
	TP_STRUCT__entry(
		__string(dev, dev)
		__string(what, what)
		__field(int, err)
	),
	TP_fast_assign(
		mig_assign_str(dev, dev);
		mig_assign_str(what, what);
		__entry->err = err;
	),
	TP_printk("%s %s err=%d", __get_str(dev), __get_str(what),
		  __entry->err)
);

#endif /* _MIG_TRACE_H */

/* Out of tree: define_trace.h finds this file through -I$(src)/include. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH trace
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE mig_trace
#include <trace/define_trace.h>
