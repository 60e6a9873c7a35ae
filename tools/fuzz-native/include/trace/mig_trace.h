/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <trace/mig_trace.h> for the native fuzzer: every tracepoint of
 * include/trace/mig_trace.h evaluates its arguments and records nothing;
 * none is ever enabled.  A tracepoint added there is added here too.
 */
#ifndef KSHIM_MIG_TRACE_H
#define KSHIM_MIG_TRACE_H

#include "../kshim.h"

#define trace_mig_state(...)		kshim_trace(0, __VA_ARGS__)
#define trace_mig_v2_state(...)		kshim_trace(0, __VA_ARGS__)
#define trace_mig_chunk_queue(...)	kshim_trace(0, __VA_ARGS__)
#define trace_mig_chunk_retire(...)	kshim_trace(0, __VA_ARGS__)
#define trace_mig_resume_chunk(...)	kshim_trace(0, __VA_ARGS__)
#define trace_mig_error(...)		kshim_trace(0, __VA_ARGS__)
#define trace_mig_state_enabled()	false
#define trace_mig_v2_state_enabled()	false
#define trace_mig_chunk_queue_enabled()	false
#define trace_mig_chunk_retire_enabled() false
#define trace_mig_resume_chunk_enabled() false
#define trace_mig_error_enabled()	false

#endif /* KSHIM_MIG_TRACE_H */
