#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC3043
#
# selftests/qemu/scenarios_v2.sh [SCENARIO...]: migrate mig-mdev instances
# with QEMU 10.0, the client of VFIO migration protocol v2
# (VFIO_DEVICE_FEATURE_MIGRATION; -device vfio-pci,...,enable-migration=on).
# kselftest TAP on stdout, one test per scenario.  Each vfio scenario checks
# the digests of source and destination and which protocol the migration
# used, and names it in its result line: "v2 PRE_COPY" where the kernel has
# VFIO_MIGRATION_PRE_COPY (6.2 on), "v2 STOP_COPY" (stop-copy only) on 6.1.
# The protocol is read from QEMU's trace (the device states QEMU set, event
# vfio_migration_set_device_state) and from the source instance's sysfs
# migration_state, sampled during the migration: v2 state names only.
#
#   0   QEMU 10 itself: a guest without a vfio device over TCP and to a file
#   1   live over TCP on loopback, engine running; destination paused in
#       RESUMING, digests equal, then cont: RUNNING, the engine goes on
#   2   a stopped VM to a file (file: URI) and back into a new QEMU
#   3   live with the switchover-ack capability (return-path, -incoming
#       defer): on 6.12 the destination must ack the pre-copy data
#   4   live with multifd (2 channels) and x-migration-multifd-transfer=on:
#       the device state goes over the multifd channels
#   5   migrate_cancel mid-way: the source runs on, device RUNNING, engine
#       running; the destination instance is clean: a second migration
#       into it succeeds
#   6   a destination of the other type refuses the stream: the migration
#       fails, the source runs on, the destination instance recovers
#   7   two devices in one guest migrate together
#
# QEMU 10 lives in /opt/qemu10 in the test VM (scripts/mkinitramfs.sh);
# MQ_QEMU and MQ_FW point elsewhere.  Run in the test VM from /mig
# (selftests/TESTS), or by hand: sh /mig/selftests/qemu/scenarios_v2.sh 1 5

MQ_DIR=$(cd "$(dirname "$0")" && pwd)
MQ_QEMU=${MQ_QEMU:-/opt/qemu10/bin/qemu-system-x86_64}
MQ_FW=${MQ_FW:-/opt/qemu10/share/qemu}
MQ_VFIO_MIG=enable-migration=on
MQ_WORK=${MQ_WORK:-/tmp/mig-qemu10}
MQ_PORT=${MQ_PORT:-4540}
# TCG in TCG is slow: short waits for convergence, a slow engine.
MQ_RATE=${MQ_RATE:-100}
MQ_CONVERGE=${MQ_CONVERGE:-60}
MQ_MIG_TIMEOUT=${MQ_MIG_TIMEOUT:-60}
# shellcheck source=selftests/qemu/lib.sh
. "$MQ_DIR/lib.sh"

ALL="0 1 2 3 4 5 6 7"

# shellcheck source=selftests/qemu/v2.sh
. "$MQ_DIR/v2.sh"

# ---- the scenarios -------------------------------------------------------

# 0: QEMU 10 alone, no device: a paused guest over TCP, then to a file and
# back (checks the binary, its libraries, firmware, TCG and migration).
scen_0() {
	local f="$MQ_WORK/plain.mig"
	rm -f "$f"
	MQ_WATCH=
	mq_note "$("$MQ_QEMU" --version | head -n 1)"
	mq_next_port
	mq_qemu_start src "" || return 1
	mq_qemu_start dst "" -S -incoming defer || return 1
	mq_incoming dst "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_migrate src 60 || return 1
	mq_wait_migrate dst 30 || return 1
	mq_report src
	mq_wait_status dst 30 paused || return 1
	mq_migrate dst "file:$f" || return 1
	mq_wait_migrate dst 60 || return 1
	mq_note "file: $(wc -c < "$f") bytes"
	mq_qemu_start back "" -S -incoming defer || return 1
	mq_incoming back "file:$f" || return 1
	mq_wait_migrate back 60 || return 1
	mq_qmp_ok back cont || return 1
	mq_wait_status back 30 running || return 1
	V2_PROTO="no device"
}

scen_1() {
	local s d
	s=$(mq_create small) && d=$(mq_create small) || return 1
	mq_live "$s" "$d" || return 1
	v2_check_protocol src "$s"
}

scen_2() {
	local s d f sd c
	s=$(mq_create small) && d=$(mq_create small) || return 1
	f=$MQ_WORK/snapshot.mig
	rm -f "$f"
	mq_qemu_start src "$s" || return 1
	mq_start_engines "$MQ_RATE" "$s" || return 1
	mq_qmp_ok src stop || return 1
	mq_wait_status src 30 paused || return 1
	mq_state_is "$s" STOP || return 1
	c=$(mq_attr "$s" engine_count)
	mq_set_params src "\"downtime-limit\":$V2_DOWNTIME$V2_LIVE_PARAMS" || return 1
	mq_watch_start "$s"
	mq_migrate src "file:$f" || return 1
	mq_wait_migrate src "$MQ_MIG_TIMEOUT" || return 1
	mq_watch_stop "$s"
	mq_note "$s: migration_state seen during the save: $(mq_watched "$s")"
	mq_report src "$s"
	mq_state_is "$s" STOP || return 1
	[ "$(mq_attr "$s" engine_count)" = "$c" ] ||
		{ mq_fail "engine ran while the VM was stopped: $c -> $(mq_attr "$s" engine_count)"; return 1; }
	sd=$(mq_attr "$s" digest)
	# A stopped VM: no pre-copy on any kernel, STOP -> STOP_COPY -> STOP.
	case " $(v2_qemu_states src "$s") " in
	*" PRE_COPY"*) mq_fail "QEMU used PRE_COPY for a stopped VM"; return 1 ;;
	*" STOP_COPY "*) V2_PROTO="v2 STOP_COPY" ;;
	*) mq_fail "QEMU never set $s to STOP_COPY: $(v2_qemu_states src "$s")"; return 1 ;;
	esac
	mq_note "protocol: $V2_PROTO; QEMU set $(v2_qemu_states src "$s")"
	mq_qemu_stop src
	mq_note "snapshot: $(wc -c < "$f") bytes; after close the source reads" \
		"$(mq_attr "$s" migration_state), digest $(mq_attr "$s" digest) (was $sd)"
	mq_qemu_start dst "$d" -S -incoming defer || return 1
	mq_incoming dst "file:$f" || return 1
	mq_wait_migrate dst "$MQ_MIG_TIMEOUT" || return 1
	mq_wait_status dst 30 paused || return 1
	mq_state_is "$d" RESUMING || return 1
	mq_note "digest src $s $sd"
	mq_note "digest dst $d $(mq_attr "$d" digest)"
	[ "$(mq_attr "$d" digest)" = "$sd" ] || { mq_fail "digests differ"; return 1; }
	mq_qmp_ok dst cont || return 1
	mq_wait_status dst 30 running || return 1
	mq_state_is "$d" RUNNING || return 1
	mq_engine_grows "$d" 15 "$c"
}

scen_3() {
	local s d n
	s=$(mq_create small) && d=$(mq_create small) || return 1
	MQ_CAPS="return-path switchover-ack"
	mq_live "$s" "$d" || return 1
	v2_check_protocol src "$s" || return 1
	n=$(sed -n 's/.*loadvm_state_switchover_ack_needed .*num=\([0-9]*\).*/\1/p' \
		"$MQ_WORK/dst.trace" | head -n 1)
	mq_note "destination: switchover ack pending num=${n:-?}," \
		"approvals $(v2_trace_count dst loadvm_approve_switchover)," \
		"source saw $(v2_trace_count src source_return_path_thread_switchover_acked) ack(s)"
	[ "$(v2_trace_count src source_return_path_thread_switchover_acked)" -ge 1 ] ||
		{ mq_fail "the source never received the switchover ack"; return 1; }
	# Only a device in pre-copy asks for the ack.
	if v2_kernel_precopy; then
		[ "${n:-0}" -ge 1 ] || { mq_fail "no device asked for a switchover ack (num=$n)"; return 1; }
	else
		[ "${n:-0}" -eq 0 ] || { mq_fail "a device asked for a switchover ack without PRE_COPY"; return 1; }
	fi
	V2_PROTO="$V2_PROTO, switchover-ack"
}

scen_4() {
	local s d ns nd
	s=$(mq_create small) && d=$(mq_create small) || return 1
	MQ_CAPS=multifd
	MQ_PARAMS_BOTH='"multifd-channels":2'
	MQ_DEVOPTS=",x-migration-multifd-transfer=on"
	mq_live "$s" "$d" || return 1
	v2_check_protocol src "$s" || return 1
	ns=$(v2_trace_count src vfio_save_complete_precopy_thread_start)
	nd=$(v2_trace_count dst vfio_load_bufs_thread_start)
	mq_note "multifd device state: $ns save thread(s) on the source, $nd load thread(s) on the destination"
	if [ "$ns" -lt 1 ] || [ "$nd" -lt 1 ]; then
		mq_fail "the device state did not go over multifd"
		return 1
	fi
	V2_PROTO="$V2_PROTO, multifd"
}

scen_5() {
	local s d d1 d2 rc
	s=$(mq_create small) && d=$(mq_create small) || return 1
	mq_next_port
	mq_qemu_start src "$s" || return 1
	mq_start_engines "$MQ_RATE" "$s" || return 1
	mq_qemu_start dst "$d" -S -incoming defer || return 1
	mq_incoming dst "tcp:127.0.0.1:$MQ_PORT" || return 1
	# 256 KiB/s and a 1 ms downtime limit: QEMU switches over only when
	# the device's stop-copy size fits 256 bytes, which never happens.
	mq_set_params src "\"max-bandwidth\":262144,\"downtime-limit\":1" || return 1
	mq_watch_start "$s"
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_migrate src 30 active || return 1
	if v2_kernel_precopy; then
		mq_wait_attr "$s" migration_state PRE_COPY 30 || return 1
	fi
	# let a few hundred KB of RAM (and on 6.12 of device data) go
	mq_wait_ram src 262144 30 || return 1
	mq_note "under way: $(mq_attr "$s" migration_state); migrate_cancel"
	mq_qmp_ok src migrate_cancel || return 1
	mq_wait_migrate src 30 cancelled || return 1
	mq_wait_status src 30 running || return 1
	mq_wait_attr "$s" migration_state RUNNING 10 || return 1
	mq_watch_stop "$s"
	mq_note "$s: migration_state seen: $(mq_watched "$s")"
	mq_note "$s: QEMU set the device to: $(v2_qemu_states src "$s")"
	mq_engine_grows "$s" 10 || return 1
	if v2_kernel_precopy; then V2_PROTO="v2 PRE_COPY"; else V2_PROTO="v2 (no PRE_COPY)"; fi
	case " $(mq_watched "$s") " in
	*" SAVING "* | *" PRECOPY "*) mq_fail "v1 state names in sysfs"; return 1 ;;
	esac
	# The destination lost its stream: QEMU gives up and exits.
	if mq_wait_exit dst 60; then
		mq_note "destination QEMU exited (rc $(cat "$MQ_WORK/dst.rc")): $(tail -n 2 "$MQ_WORK/dst.err" | tr '\n' ' ')"
	else
		mq_fail "destination QEMU still running 60 s after the cancel"
		return 1
	fi
	mq_note "destination instance after close: $(mq_attr "$d" migration_state)"
	mq_state_is "$d" RUNNING || return 1
	# Nothing half-done on either side: quiesce the engine, migrate again
	# into the same destination instance.
	mq_set_attr "$s" engine_rate 0 || return 1
	d1=$(mq_attr "$s" digest)
	sleep 0.5
	d2=$(mq_attr "$s" digest)
	[ "$d1" = "$d2" ] || { mq_fail "source digest moves with the engine off: $d1 $d2"; return 1; }
	mq_next_port
	mq_qemu_start dst2 "$d" -S -incoming defer || return 1
	mq_incoming dst2 "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_set_params src "\"max-bandwidth\":$V2_BW,\"downtime-limit\":$V2_DOWNTIME$V2_LIVE_PARAMS" || return 1
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_migrate src "$MQ_MIG_TIMEOUT"
	rc=$?
	[ $rc -eq 0 ] || { mq_fail "second migration after the cancel: rc $rc"; return 1; }
	mq_wait_migrate dst2 60 || return 1
	mq_report src "$s" "$d"
	mq_state_is "$d" RESUMING || return 1
	[ "$(mq_attr "$s" digest)" = "$d1" ] ||
		{ mq_fail "source digest changed by the migration: $d1 -> $(mq_attr "$s" digest)"; return 1; }
	mq_same_digest "$s" "$d"
}

# mq_wait_ram NAME BYTES TIMEOUT: QEMU NAME's query-migrate ram.transferred
# passes BYTES.
mq_wait_ram() {
	local n=0 v name="$1"
	while :; do
		v=$(mq_qmp "$name" query-migrate 2>/dev/null | "$MQ_QMP" --get ram.transferred 0)
		[ "${v:-0}" -gt "$2" ] && return 0
		n=$((n + 1))
		if [ $n -gt $(($3 * 10)) ]; then
			mq_fail "QEMU $name: ram.transferred $v, not above $2 after ${3}s"
			return 1
		fi
		sleep 0.1
	done
}

scen_6() {
	local s d rc
	s=$(mq_create small) && d=$(mq_create large) || return 1
	mq_next_port
	mq_qemu_start src "$s" || return 1
	mq_start_engines "$MQ_RATE" "$s" || return 1
	mq_qemu_start dst "$d" -S -incoming defer || return 1
	# With a return path the source learns that the destination failed
	# even when the whole stream fits in the socket buffers.
	mq_set_cap src return-path true || return 1
	mq_set_cap dst return-path true || return 1
	mq_incoming dst "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_set_params src "\"max-bandwidth\":$V2_BW,\"downtime-limit\":$V2_DOWNTIME$V2_LIVE_PARAMS" || return 1
	mq_watch_start "$s"
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_migrate src "$MQ_MIG_TIMEOUT"
	rc=$?
	mq_watch_stop "$s"
	case $rc in
	1) mq_note "source QEMU reports the failure, as it should" ;;
	0) mq_fail "the migration to a mig_mdev-large instance completed"; return 1 ;;
	*) mq_fail "no end to the migration (rc $rc)"; return 1 ;;
	esac
	if mq_wait_exit dst 60; then
		mq_note "destination QEMU exited (rc $(cat "$MQ_WORK/dst.rc")): $(grep -i -e error -e fail "$MQ_WORK/dst.err" | head -n 4 | tr '\n' ' ')"
	else
		mq_fail "destination QEMU still running after the refused stream"
		return 1
	fi
	mq_note "$s: migration_state seen: $(mq_watched "$s")"
	mq_note "$s: QEMU set the device to: $(v2_qemu_states src "$s")"
	mq_note "$d: QEMU set the device to: $(v2_qemu_states dst "$d")"
	case " $(v2_qemu_states src "$s") " in
	*" PRE_COPY "*) V2_PROTO="v2 PRE_COPY" ;;
	*) V2_PROTO="v2 STOP_COPY" ;;
	esac
	if v2_kernel_precopy && [ "$V2_PROTO" != "v2 PRE_COPY" ]; then
		mq_fail "kernel $(uname -r) has PRE_COPY, QEMU did not use it"
		return 1
	fi
	mq_wait_status src 30 running || return 1
	mq_wait_attr "$s" migration_state RUNNING 10 || return 1
	mq_engine_grows "$s" 10 || return 1
	mq_note "destination instance after close: $(mq_attr "$d" migration_state)"
	mq_state_is "$d" RUNNING || return 1
	# A new QEMU opens it: RUNNING and usable.
	mq_qemu_start chk "$d" -S || return 1
	mq_state_is "$d" RUNNING || return 1
	mq_qemu_stop chk
	mq_note "source digest $(mq_attr "$s" digest), destination $(mq_attr "$d" digest) (differ by design)"
}

scen_7() {
	local s1 s2 d1 d2
	s1=$(mq_create small) && s2=$(mq_create small) &&
		d1=$(mq_create small) && d2=$(mq_create small) || return 1
	mq_live "$s1 $s2" "$d1 $d2" || return 1
	v2_check_protocol src "$s1" || return 1
	v2_check_protocol src "$s2"
}

scen_name() {
	case $1 in
	0) echo "QEMU 10 without a device, over tcp and to a file" ;;
	1) echo "live migration over tcp loopback" ;;
	2) echo "stopped VM to a file and back" ;;
	3) echo "live migration with switchover-ack" ;;
	4) echo "live migration with multifd device state" ;;
	5) echo "migrate_cancel mid-way" ;;
	6) echo "destination of the other type refuses" ;;
	7) echo "two devices in one guest" ;;
	*) echo "unknown scenario $1" ;;
	esac
}

# ---- the runner ----------------------------------------------------------

[ $# -gt 0 ] || set -- $ALL
echo "TAP version 13"
echo "1..$#"

skip=
skip_dev=
if ! [ -x "$MQ_QEMU" ] && ! command -v "$MQ_QEMU" > /dev/null 2>&1; then
	skip="no QEMU 10 ($MQ_QEMU; scripts/fetch-qemu10.sh)"
elif ! [ -x "$MQ_QMP" ] && ! command -v "$MQ_QMP" > /dev/null 2>&1; then
	skip="no qmp client ($MQ_QMP)"
elif ! mq_have_module; then
	skip_dev="mig_mdev is not loaded ($MQ_TYPES missing)"
elif ! [ -r "$MQ_PARAMS/protocols" ]; then
	skip_dev="mig_mdev has no protocol v2 (no protocols parameter)"
elif [ "$(cat "$MQ_PARAMS/protocols")" = v1 ]; then
	skip_dev="mig_mdev loaded with protocols=v1"
fi
v2_kernel_precopy && mq_note "kernel $(uname -r): PRE_COPY expected" ||
	mq_note "kernel $(uname -r): no PRE_COPY (stop-copy only)"

MQ_SETUP=v2_defaults
trap 'mq_end; exit 1' INT TERM
fails=0
i=0
for t; do
	i=$((i + 1))
	name="scenario $t: $(scen_name "$t")"
	why=$skip
	[ "$t" = 0 ] || why=${why:-$skip_dev}
	if [ -n "$why" ]; then
		echo "ok $i $name # SKIP $why"
		continue
	fi
	mq_scenario "$t" "$name"
	rc=$?
	[ -n "$V2_PROTO" ] && name="$name ($V2_PROTO)"
	mq_verdict "$i" "$name" "$rc" || fails=$((fails + 1))
	mq_end
done
[ $fails -eq 0 ]
