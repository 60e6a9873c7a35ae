# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh disable=SC3043
#
# selftests/qemu/v2.sh: what the QEMU 10 (protocol v2) runs share, sourced
# after lib.sh by scenarios_v2.sh and demo.sh: the trace events, the
# switch-over settings per kernel, and the check of which protocol and
# states a migration used (v2_check_protocol).

V2_TRACE="vfio_migration_set_device_state vfio_save_block vfio_load_bufs_thread_start
	vfio_save_complete_precopy_thread_start loadvm_state_switchover_ack_needed
	loadvm_approve_switchover source_return_path_thread_switchover_acked migrate_set_state
	migration_thread_low_pending migrate_transferred"

# Does the kernel have VFIO_MIGRATION_PRE_COPY (6.2 on)?  VFIO_DEVICE_-
# FEATURE_MIG_DATA_SIZE (6.3 on)?  v2_kernel_since MINOR: is it 6.MINOR+?
v2_kernel_since() {
	local r maj min
	r=$(uname -r)
	maj=${r%%.*}
	min=${r#*.}
	min=${min%%[!0-9]*}
	[ "$maj" -gt 6 ] || { [ "$maj" -eq 6 ] && [ "$min" -ge "$1" ]; }
}
v2_kernel_precopy() { v2_kernel_since 2; }

# The live migrations switch over once what QEMU thinks is left fits
# avail-switchover-bandwidth x downtime-limit.  On 6.1 QEMU 10 counts far
# too much:
# - 6.1 has no VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, and QEMU then takes the
#   device's stop-copy size as 100 GiB (VFIO_MIG_STOP_COPY_SIZE);
# - the container has no dirty tracking ("VFIO device doesn't support device
#   and IOMMU dirty tracking": the type1 container of an mdev), so QEMU
#   takes every page of guest RAM as dirty at every sync.
# There 1 TiB/s x 1 s covers both; on 6.12 (the real data size) 1 GiB/s x
# 100 ms, more than 32 MiB of RAM and two small devices' 4 MiB streams.
if v2_kernel_since 3; then
	V2_LIVE_PARAMS=',"avail-switchover-bandwidth":1073741824'
	V2_DOWNTIME=100
else
	V2_LIVE_PARAMS=',"avail-switchover-bandwidth":1099511627776'
	V2_DOWNTIME=1000
fi
V2_BW=33554432

# v2_defaults: the settings every scenario starts from.
v2_defaults() {
	MQ_TRACE=$V2_TRACE
	MQ_WATCH=1
	MQ_CAPS=
	MQ_PARAMS_BOTH=
	MQ_PARAMS_SRC=$V2_LIVE_PARAMS
	MQ_BW=$V2_BW
	MQ_DOWNTIME=$V2_DOWNTIME
	MQ_DEVOPTS=
	V2_PROTO=
}

# v2_qemu_states NAME UUID: the device states QEMU NAME set on UUID, in order.
v2_qemu_states() {
	sed -n "s/.*vfio_migration_set_device_state *($2) state \([A-Z_0-9]*\).*/\1/p" \
		"$MQ_WORK/$1.trace" 2>/dev/null | tr '\n' ' '
}

# v2_trace_count NAME EVENT: how many times EVENT is in QEMU NAME's trace.
v2_trace_count() {
	grep -c "$2" "$MQ_WORK/$1.trace" 2>/dev/null || true
}

# v2_precopy_bytes NAME UUID: device bytes QEMU NAME read while in PRE_COPY
# (the vfio_save_block events before the first STOP_COPY).
v2_precopy_bytes() {
	awk -v u="($2)" '
		index($0, "vfio_migration_set_device_state") && index($0, u) &&
			/state STOP_COPY/ { exit }
		index($0, "vfio_save_block ") && index($0, u) { n += $NF }
		END { print n + 0 }' "$MQ_WORK/$1.trace" 2>/dev/null
}

# v2_check_protocol NAME UUID: the migration of UUID by QEMU NAME used v2,
# with PRE_COPY exactly when the kernel has it.  Sets V2_PROTO.
v2_check_protocol() {
	local q s w pre
	q=$(v2_qemu_states "$1" "$2")
	w=$(mq_watched "$2")
	mq_note "$2: QEMU $1 set the device to: $q"
	case " $q " in
	*" STOP_COPY "*) ;;
	*) mq_fail "QEMU $1 never set $2 to STOP_COPY"; return 1 ;;
	esac
	case " $w " in
	*" SAVING "* | *" PRECOPY "*)
		mq_fail "$2: sysfs showed v1 state names during a v2 migration: $w"
		return 1 ;;
	esac
	if v2_kernel_precopy; then
		case " $q " in
		*" PRE_COPY "*) ;;
		*) mq_fail "kernel $(uname -r) has PRE_COPY, QEMU did not use it"; return 1 ;;
		esac
		pre=$(v2_precopy_bytes "$1" "$2")
		mq_note "$2: $pre bytes read in PRE_COPY"
		# The watcher samples sysfs: a PRE_COPY shorter than its period
		# (a small device whose pre-copy data QEMU reads in a few
		# chunks) may pass unseen; then the data the device gave in it
		# must show that it was there.
		if [ -n "$w" ]; then
			case " $w " in
			*" PRE_COPY "*) ;;
			*) [ "$pre" -gt 0 ] ||
				{ mq_fail "$2: sysfs never read PRE_COPY during the migration, and no data was read in it: $w"; return 1; }
				mq_note "$2: sysfs sampling missed the short PRE_COPY: $w" ;;
			esac
		fi
		V2_PROTO="v2 PRE_COPY"
	else
		case " $q " in
		*" PRE_COPY "* | *" PRE_COPY_P2P "*)
			mq_fail "kernel $(uname -r) has no PRE_COPY, yet QEMU set it"; return 1 ;;
		esac
		case " $w " in
		*" PRE_COPY"*) mq_fail "$2: sysfs read a PRE_COPY state: $w"; return 1 ;;
		esac
		V2_PROTO="v2 STOP_COPY"
	fi
	mq_note "protocol: $V2_PROTO"
}
