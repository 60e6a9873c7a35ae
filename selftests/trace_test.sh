#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The tracepoints (include/trace/mig_trace.h) and the module parameters.
#
# Tracepoints: enables the mig_mdev events through tracefs, migrates one
# instance to another with migctl (stop-and-copy, protocol v1, whose region
# the chunk events trace), and checks the events of that migration: the
# state arcs of both sides, as many chunk retires as queues, resume chunks
# that add up to the saved bytes, and a rejected device_state write traced
# with its error.
#
# Parameters: a bad section_pages is refused at write time, a bad
# small_mem_mb at load time, each with a message in dmesg.
#
# Runs in the test VM with the module loaded; prints TAP on stdout.

T=/sys/kernel/tracing
TYPES=/sys/class/mig_mdev/mig_mdev/mdev_supported_types
DEVS=/sys/bus/mdev/devices
PARAMS=/sys/module/mig_mdev/parameters
KO=${MIG_MODULE:-/mig/mig-mdev.ko}
MIGCTL=${MIGCTL:-/mig/bin/migctl}
OUT=/tmp/trace_test.$$

# shellcheck source=selftests/tap.sh disable=SC1091
. "$(dirname "$0")/tap.sh"
count() {	# count PATTERN: trace lines matching PATTERN
	grep -c -- "$1" "$OUT.trace"
}
new_uuid() {
	cat /proc/sys/kernel/random/uuid
}

echo "1..11"
[ -d "$T/events" ] || mount -t tracefs nodev "$T" 2>/dev/null

SRC=$(new_uuid)
DST=$(new_uuid)
echo "$SRC" > "$TYPES/mig_mdev-small/create"
echo "$DST" > "$TYPES/mig_mdev-small/create"

# ---- tracepoints --------------------------------------------------------------
if [ ! -d "$T/events/mig_mdev" ]; then
	ok 1 "tracefs has the mig_mdev events ($T/events/mig_mdev missing)"
	for i in 2 3 4 5 6 7 8; do ok 1 "trace check $i (no events)"; done
else
	ok 0 "tracefs has the mig_mdev events"
	# Without the command-name cache, enabling our events patches only
	# mig_mdev's own (idle) tracepoint sites, not the scheduler's hot
	# sched_switch site: under multi-threaded TCG the other vCPU has been
	# seen to run the live-patching int3 there after the patch was done
	# ("Oops: int3" in __schedule, 6.12 debug kernel).  The checks below
	# do not need command names.
	rec_cmd=$(cat "$T/options/record-cmd" 2>/dev/null)
	echo 0 > "$T/options/record-cmd" 2>/dev/null
	echo 0 > "$T/tracing_on"
	: > "$T/trace"
	echo 1 > "$T/events/mig_mdev/enable"
	echo 1 > "$T/tracing_on"
	"$MIGCTL" --protocol v1 migrate "$SRC" "$DST" > "$OUT.migctl" 2>&1
	rc=$?
	echo 0 > "$T/tracing_on"
	echo 0 > "$T/events/mig_mdev/enable"
	cat "$T/trace" > "$OUT.trace"
	[ $rc -eq 0 ] || sed 's/^/# migctl: /' "$OUT.migctl"
	ok $rc "migctl migrate SRC DST with the events on"

	# the arcs: source RUNNING->STOP->SAVING->STOP, destination ->RESUMING->...
	s_arcs=$(grep "mig_state: $SRC " "$OUT.trace" | grep -c "ret=0")
	d_res=$(grep "mig_state: $DST " "$OUT.trace" | grep -c "to=4 ret=0")
	[ "$s_arcs" -ge 2 ] && [ "$d_res" -eq 1 ]
	ok $? "mig_state traces the arcs of both sides (src $s_arcs, dst to RESUMING $d_res)"

	q=$(count "mig_chunk_queue: $SRC ")
	r=$(count "mig_chunk_retire: $SRC ")
	[ "$q" -ge 1 ] && [ "$q" -eq "$r" ]
	ok $? "every queued chunk is retired ($q queued, $r retired)"

	last=$(grep "mig_chunk_retire: $SRC " "$OUT.trace" | tail -n1 |
		sed -n 's/.*pending=\([0-9]*\).*/\1/p')
	[ "$last" = 0 ]
	ok $? "the last retire leaves pending 0 (got '$last')"

	saved=$(grep "mig_chunk_queue: $SRC " "$OUT.trace" |
		sed -n 's/.*size=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	loaded=$(grep "mig_resume_chunk: $DST " "$OUT.trace" | grep "ret=0" |
		sed -n 's/.*size=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	[ "$saved" -gt 0 ] && [ "$saved" = "$loaded" ]
	ok $? "resume chunks add up to the saved bytes ($saved saved, $loaded loaded)"

	# a stream that fails its digest after applying data: the error, the
	# rejected chunk and the driver's arc to ERROR are traced
	"$MIGCTL" --protocol v1 save "$SRC" "$OUT.mig" > /dev/null 2>&1
	off=$((160 + 24 + 16 + 100))	# migctl header, stream header, PAGES head
	v=$(dd if="$OUT.mig" bs=1 skip=$off count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	# shellcheck disable=SC2059 # the octal escape is the format
	printf "\\$(printf %03o $((v ^ 255)))" |
		dd of="$OUT.mig" bs=1 seek=$off count=1 conv=notrunc 2>/dev/null
	"$MIGCTL" file --rehash "$OUT.mig" > /dev/null 2>&1
	: > "$T/trace"
	echo 1 > "$T/events/mig_mdev/enable"
	echo 1 > "$T/tracing_on"
	"$MIGCTL" --protocol v1 load "$DST" "$OUT.mig" > /dev/null 2>&1
	echo 0 > "$T/tracing_on"
	echo 0 > "$T/events/mig_mdev/enable"
	cat "$T/trace" > "$OUT.trace"
	[ "$(count "mig_error: $DST resume stream rejected after apply err=-22")" -eq 1 ] &&
		[ "$(count "mig_resume_chunk: $DST .*ret=-22")" -eq 1 ] &&
		[ "$(count "mig_state: $DST .*to=6 ret=-5")" -eq 1 ]
	ok $? "a stream rejected after apply traces the error, the chunk and ERROR"
	"$MIGCTL" --protocol v1 reset "$DST" > /dev/null 2>&1
	"$MIGCTL" --protocol v1 migrate "$SRC" "$DST" > /dev/null 2>&1
	sd=$(cat "$DEVS/$SRC/digest")
	dd=$(cat "$DEVS/$DST/digest")
	[ "$sd" = "$dd" ]
	ok $? "the traced migration gave equal digests ($sd, $dd)"
	[ -z "$rec_cmd" ] || echo "$rec_cmd" > "$T/options/record-cmd"
fi

# ---- module parameters --------------------------------------------------------
old=$(cat "$PARAMS/section_pages")
dmesg -c > /dev/null
if echo 0 > "$PARAMS/section_pages" 2> /dev/null; then bad=0; else bad=1; fi
[ "$bad" = 1 ] && [ "$(cat "$PARAMS/section_pages")" = "$old" ] &&
	dmesg | grep -q "section_pages must be"
ok $? "section_pages=0 is refused, the value kept and the reason logged"
echo "$old" > "$PARAMS/section_pages"

echo 1 > "$DEVS/$SRC/remove"
echo 1 > "$DEVS/$DST/remove"

if [ -f "$KO" ] && [ -z "$(ls "$DEVS" 2>/dev/null)" ] && rmmod mig_mdev 2>/dev/null; then
	dmesg -c > /dev/null
	if insmod "$KO" small_mem_mb=0 2>/dev/null; then bad=0; else bad=1; fi
	[ "$bad" = 1 ] && dmesg | grep -q "small_mem_mb and large_mem_mb must be"
	ok $? "small_mem_mb=0 is refused at load and the reason logged"
	insmod "$KO"
	[ -d "$TYPES" ]
	ok $? "the module loads again with its defaults"
else
	echo "ok $((n + 1)) small_mem_mb=0 is refused at load # SKIP module busy or $KO missing"
	echo "ok $((n + 2)) the module loads again # SKIP module busy or $KO missing"
	n=$((n + 2))
fi

rm -f "$OUT" "$OUT".*
[ $fails -eq 0 ]
