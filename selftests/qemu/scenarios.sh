#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC3043
#
# selftests/qemu/scenarios.sh [SCENARIO...]: migrate mig-mdev instances with
# QEMU 7.2, the real client of the v1 migration region.  kselftest TAP on
# stdout, one test per scenario; every test compares the sysfs digest of the
# source and destination instances.
#
#   1   live over TCP on loopback, engine running: several pre-copy passes,
#       destination paused in RESUMING, then cont: RUNNING, engine goes on
#   2   snapshot of a stopped VM to a file (exec:cat), back into a new QEMU
#   3   as 1 with x-no-mmap=on (pread/pwrite of the data section)
#   4a  the large type, data sections 16 pages -> 1024 pages
#   4b  the small type, data sections 1024 pages -> 3 pages (QEMU splits)
#   5   migrate_cancel during pre-copy: the source device is RUNNING again,
#       its engine runs, and a second migration of it succeeds
#   6   a destination of the other type refuses the stream: the source
#       carries on RUNNING, the destination instance recovers
#   7   two devices in one guest migrate together
#
# Run in the test VM from /mig (selftests/TESTS), or by hand:
#	sh /mig/selftests/qemu/scenarios.sh 1 5

MQ_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=selftests/qemu/lib.sh
. "$MQ_DIR/lib.sh"

ALL="1 2 3 4a 4b 5 6 7"

# ---- the scenarios -------------------------------------------------------

scen_1() {
	local s d
	s=$(mq_create small) && d=$(mq_create small) || return 1
	mq_live "$s" "$d" || return 1
	mq_check_passes "$s"
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
	mq_migrate src "exec:cat > $f" || return 1
	mq_wait_migrate src "$MQ_MIG_TIMEOUT" || return 1
	mq_report src "$s"
	mq_state_is "$s" STOP || return 1
	[ "$(mq_attr "$s" engine_count)" = "$c" ] ||
		{ mq_fail "engine ran while the VM was stopped: $c -> $(mq_attr "$s" engine_count)"; return 1; }
	sd=$(mq_attr "$s" digest)
	mq_qemu_stop src
	mq_note "snapshot: $(wc -c < "$f") bytes; after close the source reads" \
		"$(mq_attr "$s" migration_state), engine_count $(mq_attr "$s" engine_count)" \
		"(was $c), digest $(mq_attr "$s" digest) (was $sd)"
	mq_qemu_start dst "$d" -S -incoming defer || return 1
	mq_incoming dst "exec:cat $f" || return 1
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
	local s d rc rate=$MQ_RATE
	s=$(mq_create small) && d=$(mq_create small) || return 1
	# pread/pwrite of the trapped data section is much slower than the
	# mmap under nested TCG: a slower engine still forces several passes.
	MQ_DEVOPTS=",x-no-mmap=on"
	MQ_RATE=100
	mq_live "$s" "$d"
	rc=$?
	MQ_DEVOPTS=
	MQ_RATE=$rate
	[ $rc -eq 0 ] && mq_check_passes "$s"
}

# mq_sections TYPE SRC_PAGES DST_PAGES
mq_sections() {
	local s d
	s=$(mq_create "$1" "$2") && d=$(mq_create "$1" "$3") || return 1
	mq_note "section_size src $(mq_attr "$s" section_size) dst $(mq_attr "$d" section_size)"
	[ "$(mq_attr "$s" section_size)" = $(($2 * 4096)) ] &&
		[ "$(mq_attr "$d" section_size)" = $(($3 * 4096)) ] ||
		{ mq_fail "section_pages was not applied"; return 1; }
	mq_live "$s" "$d"
}

scen_4a() {
	local rc
	MQ_BW=33554432	# 64 MiB of device memory
	mq_sections large 16 1024
	rc=$?
	MQ_BW=4194304
	return $rc
}

scen_4b() { mq_sections small 1024 3; }

scen_5() {
	local s d d1 d2 rc
	s=$(mq_create small) && d=$(mq_create small) || return 1
	mq_next_port
	mq_qemu_start src "$s" || return 1
	mq_start_engines "$MQ_RATE" "$s" || return 1
	mq_qemu_start dst "$d" -S -incoming defer || return 1
	mq_incoming dst "tcp:127.0.0.1:$MQ_PORT" || return 1
	# 256 KiB/s with a 1 ms downtime limit and the engine running: pre-copy
	# cannot converge, the cancel cannot come too late.
	mq_set_params src "\"max-bandwidth\":262144,\"downtime-limit\":1" || return 1
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_attr "$s" migration_state PRECOPY 60 || return 1
	mq_wait_migrate src 10 active || return 1
	mq_stat_above "$s" bytes_saved 0 30 || return 1
	mq_note "pre-copy under way: $(mq_stat "$s" bytes_saved) bytes saved; migrate_cancel"
	mq_qmp_ok src migrate_cancel || return 1
	mq_wait_migrate src 30 cancelled || return 1
	mq_wait_status src 30 running || return 1
	mq_wait_attr "$s" migration_state RUNNING 10 || return 1
	mq_engine_grows "$s" 10 || return 1
	# The destination lost its stream: QEMU gives up and exits.
	if mq_wait_exit dst 60; then
		mq_note "destination QEMU exited (rc $(cat "$MQ_WORK/dst.rc")): $(tail -n 2 "$MQ_WORK/dst.err" | tr '\n' ' ')"
	else
		mq_note "destination QEMU still running after the cancel; stopping it"
		mq_qemu_stop dst
	fi
	mq_note "destination instance after close: $(mq_attr "$d" migration_state)"
	# Nothing lost: quiesce the engine, then migrate the device again.
	mq_set_attr "$s" engine_rate 0 || return 1
	d1=$(mq_attr "$s" digest)
	sleep 0.5
	d2=$(mq_attr "$s" digest)
	[ "$d1" = "$d2" ] || { mq_fail "source digest moves with the engine off: $d1 $d2"; return 1; }
	mq_next_port
	mq_qemu_start dst2 "$d" -S -incoming defer || return 1
	mq_incoming dst2 "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_set_params src "\"max-bandwidth\":134217728,\"downtime-limit\":300" || return 1
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_migrate src "$MQ_MIG_TIMEOUT"
	rc=$?
	[ $rc -eq 0 ] || { mq_fail "second migration after the cancel: rc $rc"; return 1; }
	mq_wait_migrate dst2 60 || return 1
	mq_report src "$s" "$d"
	[ "$(mq_attr "$s" digest)" = "$d1" ] ||
		{ mq_fail "source digest changed by the migration: $d1 -> $(mq_attr "$s" digest)"; return 1; }
	mq_same_digest "$s" "$d"
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
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_migrate src "$MQ_MIG_TIMEOUT"
	rc=$?
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
	mq_wait_status src 30 running || return 1
	mq_wait_attr "$s" migration_state RUNNING 10 || return 1
	mq_engine_grows "$s" 10 || return 1
	mq_note "destination instance after close: $(mq_attr "$d" migration_state)"
	mq_state_is "$d" RUNNING RESUMING ERROR || return 1
	# A new QEMU resets it: RUNNING and usable.
	mq_qemu_start chk "$d" || return 1
	mq_state_is "$d" RUNNING || return 1
	mq_qemu_stop chk
	mq_note "source digest $(mq_attr "$s" digest), destination $(mq_attr "$d" digest) (differ by design)"
}

scen_7() {
	local s1 s2 d1 d2
	s1=$(mq_create small) && s2=$(mq_create small) &&
		d1=$(mq_create small) && d2=$(mq_create small) || return 1
	mq_live "$s1 $s2" "$d1 $d2"
}

# mq_check_passes UUID: the live migration went through several pre-copy
# passes, or at least sent again pages the engine dirtied after they were
# sent (when the module's debugfs stats say).
mq_check_passes() {
	local p b mib
	p=$(mq_stat "$1" passes)
	b=$(mq_stat "$1" bytes_saved)
	mib=$(awk '{ print $1; exit }' \
		"/sys/bus/mdev/devices/$1/mdev_type/description" 2>/dev/null)
	# passes counts the wraps of the module's dirty-log cursor: 1 is a
	# second sweep over pages the engine dirtied during the first.  With
	# the zero-copy window a first sweep is a few chunks (a run of up to
	# 16 MiB is one), and pre-copy may end before the cursor wraps: the
	# pages dirtied meanwhile go in stop-and-copy, so the stream is then
	# longer than one copy of memory plus a page of headers.
	if [ -z "$p" ]; then
		mq_note "no debugfs passes counter for $1"
	elif [ "$p" -ge 1 ]; then
		mq_note "$p pre-copy passes (wraps of the dirty-log sweep)"
	elif [ -n "$b" ] && [ -n "$mib" ] &&
		[ "$b" -gt $((mib * 1048576 + 4096)) ]; then
		mq_note "0 pre-copy passes, but $b bytes saved for $mib MiB: dirtied pages sent again"
	else
		mq_fail "$p pre-copy passes: the engine did not force a second sweep"
	fi
}

# mq_stat_above UUID KEY N TIMEOUT: wait until a debugfs counter exceeds N
# (no wait when the module has no debugfs stats).
mq_stat_above() {
	local n=0 lim=$(($4 * 10)) v
	[ -r "$MQ_DEBUGFS/$1/stats" ] || return 0
	while v=$(mq_stat "$1" "$2"); [ "${v:-0}" -le "$3" ]; do
		n=$((n + 1))
		if [ $n -gt $lim ]; then
			mq_fail "$1: $2 stays at $v for ${4}s"
			return 1
		fi
		sleep 0.1
	done
}

scen_name() {
	case $1 in
	1) echo "live migration over tcp loopback" ;;
	2) echo "snapshot to a file and back" ;;
	3) echo "live migration with x-no-mmap=on" ;;
	4a) echo "large type, data sections 16 -> 1024 pages" ;;
	4b) echo "small type, data sections 1024 -> 3 pages" ;;
	5) echo "migrate_cancel during pre-copy" ;;
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
if ! mq_have_module; then
	skip="mig_mdev is not loaded ($MQ_TYPES missing)"
elif ! command -v "$MQ_QEMU" > /dev/null 2>&1; then
	skip="no $MQ_QEMU"
elif ! [ -x "$MQ_QMP" ] && ! command -v "$MQ_QMP" > /dev/null 2>&1; then
	skip="no qmp client ($MQ_QMP)"
fi

trap 'mq_end; exit 1' INT TERM
fails=0
i=0
for t; do
	i=$((i + 1))
	name="scenario $t: $(scen_name "$t")"
	if [ -n "$skip" ]; then
		echo "ok $i $name # SKIP $skip"
		continue
	fi
	mq_scenario "$t" "$name"
	rc=$?
	mq_verdict "$i" "$name" "$rc" || fails=$((fails + 1))
	mq_end
done
[ $fails -eq 0 ]
