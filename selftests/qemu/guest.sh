# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh disable=SC3043,SC2034
#
# selftests/qemu/guest.sh: run the guest test program (guest/, docs/GUEST.md)
# in QEMU around a mig-mdev instance and read its serial output.  Sourced
# after lib.sh (and v2.sh for QEMU 10) by dma_guest.sh and demo.sh.
#
# The program prints "DMACHECK ..." lines on COM1, which goes to
# $MQ_WORK/NAME.serial; each QEMU of a migration has its own file, so the
# destination's file holds only what the guest printed after it arrived.
# The host ends a run by writing the UART's scratch register over the
# monitor (gq_finish); the guest then drains, waits for interrupts still on
# their way, prints a FINAL line and "DMACHECK END pass|fail|skip".
#
# Settings: GQ_ELF (the program), GQ_HOLD (seconds of pre-copy before the
# switch-over is allowed, 3), GQ_REPORTS (reports to wait for on either
# side, 2), GQ_HIDE (the module parameter that hides the DMA writes from
# dirty tracking, for the negative control), GQ_ON_START (a command
# gq_migrate runs with the source's UUID once the source guest has started,
# e.g. to start the device's memory engine after QEMU's reset).

GQ_ELF=${GQ_ELF:-}
if [ -z "$GQ_ELF" ]; then
	for f in /mig/guest/dmacheck.elf "$MQ_DIR/../../build/guest/dmacheck.elf"; do
		[ -f "$f" ] && { GQ_ELF=$f; break; }
	done
fi
GQ_HOLD=${GQ_HOLD:-3}
GQ_REPORTS=${GQ_REPORTS:-2}
GQ_HIDE=${GQ_HIDE:-test_hide_dma_dirty}
GQ_LINE_TIMEOUT=${GQ_LINE_TIMEOUT:-60}
GQ_ON_START=${GQ_ON_START:-}
GQ_RELEASED=		# gq_migrate: 1 if the hold ended before the migration

gq_serial() { echo "$MQ_WORK/$1.serial"; }

# gq_args NAME "GUEST ARGS": the QEMU arguments that boot the program.
gq_args() {
	echo "-kernel $GQ_ELF -append '$2' -serial file:$(gq_serial "$1")"
}

# gq_count NAME PATTERN: lines of NAME's serial output that match.
gq_count() { grep -c "$2" "$(gq_serial "$1")" 2>/dev/null || true; }

# gq_wait_line NAME PATTERN [N] [TIMEOUT]: wait for N lines (1) matching.
# Returns 2 at once if the guest ended (END) before that.
gq_wait_line() {
	local n=0 want=${3:-1} lim=$((${4:-$GQ_LINE_TIMEOUT} * 10))
	while [ "$(gq_count "$1" "$2")" -lt "$want" ]; do
		if [ "$2" != "DMACHECK END" ] && [ "$(gq_count "$1" "DMACHECK END")" -gt 0 ]; then
			mq_note "guest on $1 ended: $(grep 'DMACHECK \(FATAL\|SKIP\|END\)' "$(gq_serial "$1")" | tr '\n' ' ')"
			return 2
		fi
		n=$((n + 1))
		if [ $n -gt $lim ] || ! mq_alive "$(mq_pid "$1")"; then
			mq_fail "guest on $1: no $want line(s) '$2' after $((lim / 10))s"
			return 1
		fi
		sleep 0.1
	done
}

# gq_field NAME WHAT KEY: KEY's value in the last "DMACHECK WHAT" line.
gq_field() {
	grep "^DMACHECK $2 " "$(gq_serial "$1")" 2>/dev/null | tail -n 1 | tr -d '\r' |
		tr ' ' '\n' | sed -n "s/^$3=//p"
}

# gq_first_field NAME WHAT KEY: the same in the first such line.
gq_first_field() {
	grep "^DMACHECK $2 " "$(gq_serial "$1")" 2>/dev/null | head -n 1 | tr -d '\r' |
		tr ' ' '\n' | sed -n "s/^$3=//p"
}

# gq_start NAME UUID "GUEST ARGS" [QEMU ARGS...]: boot the program on a
# paused QEMU, let it run, wait for its start line.  Returns 3 (with
# GQ_SKIP set) when the guest reports SKIP.
gq_start() {
	local name="$1" u="$2" ga="$3" rc
	shift 3
	rm -f "$(gq_serial "$name")"
	mq_qemu_start "$name" "$u" -S -kernel "$GQ_ELF" -append "$ga" \
		-serial "file:$(gq_serial "$name")" "$@" || return 1
	mq_qmp_ok "$name" cont || return 1
	gq_wait_line "$name" "DMACHECK start"
	rc=$?
	if [ $rc -eq 2 ] && [ "$(gq_count "$name" "DMACHECK SKIP")" -gt 0 ]; then
		GQ_SKIP=$(sed -n 's/^DMACHECK SKIP //p' "$(gq_serial "$name")" | tr -d '\r' | head -n 1)
		return 3
	fi
	[ $rc -eq 0 ] || return 1
	mq_note "guest on $name: $(grep '^DMACHECK \(device\|start\)' "$(gq_serial "$name")" | tr -d '\r' | tr '\n' ' ')"
}

# gq_finish NAME: tell the guest to finish (UART scratch register = 1),
# wait for its END line.
gq_finish() {
	mq_qmp_ok "$1" '{"execute":"human-monitor-command","arguments":{"command-line":"o 0x3ff 1"}}' || return 1
	gq_wait_line "$1" "DMACHECK END" 1 30
	[ $? -ne 1 ]
}

# gq_show NAME: the guest's lines, as diagnostics.
gq_show() {
	mq_note "serial of $1:"
	tr -d '\r' < "$(gq_serial "$1")" 2>/dev/null | grep DMACHECK | tail -n 40 | mq_indent
}

# gq_bad_lines NAME: the guest's LOST and TORN lines, counted.
gq_bad_lines() { grep -c '^DMACHECK \(LOST\|TORN\)' "$(gq_serial "$1")" 2>/dev/null || true; }

# gq_migrate SRC_UUID DST_UUID "GUEST ARGS" HOLD_PARAMS RELEASE_PARAMS:
# boot the program on src, let it report GQ_REPORTS times, start a paused
# destination with the same command line, migrate over TCP loopback with
# HOLD_PARAMS (a switch-over that cannot happen yet) for GQ_HOLD seconds,
# then RELEASE_PARAMS; when it completes, cont the destination and let the
# guest report GQ_REPORTS more times there.  The QEMUs are named src, dst.
# GQ_RELEASED says whether RELEASE_PARAMS were needed (1) or the migration
# completed under HOLD_PARAMS (0).
gq_migrate() {
	local s="$1" d="$2" ga="$3" hold="$4" rel="$5" c rc
	mq_next_port
	GQ_RELEASED=
	gq_start src "$s" "$ga" || return $?
	if [ -n "$GQ_ON_START" ] && [ -n "$s" ]; then
		"$GQ_ON_START" "$s" || return 1
	fi
	gq_wait_line src "DMACHECK report" "$GQ_REPORTS" || return 1
	rm -f "$(gq_serial dst)"
	mq_qemu_start dst "$d" -S -incoming defer -kernel "$GQ_ELF" -append "$ga" \
		-serial "file:$(gq_serial dst)" || return 1
	for c in $MQ_CAPS; do
		mq_set_cap src "$c" true && mq_set_cap dst "$c" true || return 1
	done
	mq_incoming dst "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_set_params src "$hold" || return 1
	[ "$MQ_WATCH" = 1 ] && [ -n "$s" ] && mq_watch_start "$s"
	GQ_SRC_REPORTS0=$(gq_count src "DMACHECK report")
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_migrate src "$GQ_HOLD" completed > /dev/null 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		GQ_RELEASED=0
		mq_note "the migration completed within the ${GQ_HOLD}s hold"
	elif [ $rc -eq 2 ]; then
		GQ_RELEASED=1
		mq_note "pre-copy for ${GQ_HOLD}s, $(($(gq_count src 'DMACHECK report') - GQ_SRC_REPORTS0)) guest report(s) meanwhile; switch-over allowed"
		mq_set_params src "$rel" || return 1
		mq_wait_migrate src "$MQ_MIG_TIMEOUT"
		rc=$?
	fi
	[ "$MQ_WATCH" = 1 ] && [ -n "$s" ] && mq_watch_stop "$s"
	[ $rc -eq 0 ] || { mq_fail "migration did not complete (rc $rc)"; return 1; }
	mq_wait_migrate dst 60 || return 1
	mq_report src $s $d
	mq_wait_status src 30 postmigrate || return 1
	mq_wait_status dst 30 paused || return 1
	if [ -n "$s" ]; then
		mq_state_is "$s" STOP || return 1
		mq_state_is "$d" RESUMING || return 1
	fi
	mq_qmp_ok dst cont || return 1
	mq_wait_status dst 30 running || return 1
	gq_wait_line dst "DMACHECK report" "$GQ_REPORTS" || return 1
}

# gq_verdict SRC_UUID DST_UUID: what the destination guest's output must
# show after gq_migrate and gq_finish dst: the guest's own pass, no lost
# or torn record, interrupts equal to the device's count, the record
# stream (or the rings) continuing from where the source stopped, and the
# guest not restarted on the destination.
gq_verdict() {
	local mode ok lost torn irqs dirqs head tail rings sok shead srings dhead0
	mode=$(gq_field dst FINAL mode)
	ok=$(gq_field dst FINAL ok)
	lost=$(gq_field dst FINAL lost)
	torn=$(gq_field dst FINAL torn)
	irqs=$(gq_field dst FINAL irqs)
	dirqs=$(gq_field dst FINAL dev_irqs)
	head=$(gq_field dst FINAL head)
	tail=$(gq_field dst FINAL tail)
	rings=$(gq_field dst FINAL rings)
	sok=$(gq_field src report ok)
	shead=$(gq_field src report head)
	srings=$(gq_field src report rings)
	dhead0=$(gq_first_field dst report head)
	mq_note "source, last report: $(grep '^DMACHECK report' "$(gq_serial src)" | tail -n 1 | tr -d '\r')"
	mq_note "destination, FINAL:  $(grep '^DMACHECK FINAL' "$(gq_serial dst)" | tr -d '\r')"
	[ "$(gq_count dst 'DMACHECK FATAL')" = 0 ] ||
		{ mq_fail "$(grep '^DMACHECK FATAL' "$(gq_serial dst)" | head -n 1 | tr -d '\r')"; return 1; }
	[ -n "$ok" ] || { mq_fail "no FINAL line from the destination guest"; return 1; }
	[ "$(gq_count dst 'DMACHECK hello')" -eq 0 ] ||
		{ mq_fail "the guest started over on the destination"; return 1; }
	[ "$lost" = 0 ] && [ "$torn" = 0 ] && [ "$(gq_bad_lines dst)" = 0 ] && [ "$(gq_bad_lines src)" = 0 ] ||
		{ mq_fail "lost $lost, torn $torn records"; return 1; }
	[ "$irqs" = "$dirqs" ] ||
		{ mq_fail "the guest took $irqs interrupts, the device raised $dirqs"; return 1; }
	if [ "$mode" = idle ]; then
		GQ_RESULT="the guest's memory and CPU state arrived together (ticks $(gq_field src report t) -> $(gq_first_field dst report t))"
		[ "$(gq_first_field dst report t)" -gt "$(gq_field src report t)" ] ||
			{ mq_fail "the destination's first report is not after the source's last"; return 1; }
	elif [ "$mode" = dma ]; then
		[ "$ok" = "$head" ] && [ "$tail" = "$head" ] ||
			{ mq_fail "records: $ok good, head $head, tail $tail"; return 1; }
		[ "$dhead0" -ge "$shead" ] ||
			{ mq_fail "the device's head went back: $shead on the source, $dhead0 on the destination"; return 1; }
		[ "$ok" -gt "$sok" ] && [ "$head" -gt "$shead" ] ||
			{ mq_fail "no record after the migration (source $sok good, head $shead)"; return 1; }
		GQ_RESULT="records 0..$((head - 1)) in order, $((head - shead)) after the source's last report; $irqs interrupts"
	else
		[ "$rings" = "$dirqs" ] && [ "$rings" -gt "$srings" ] ||
			{ mq_fail "rings $rings (source $srings), device $dirqs"; return 1; }
		GQ_RESULT="$rings rings, $irqs interrupts ($srings rings before the source's last report)"
	fi
	[ "$(gq_count dst 'DMACHECK END pass')" = 1 ] ||
		{ mq_fail "the guest's own verdict is not pass"; return 1; }
	mq_note "$GQ_RESULT"
}

# gq_stale_ram: does the destination guest show QEMU 7.2's stale guest RAM
# under TCG (docs/GUEST.md, "QEMU 7.2 and TCG: the guest RAM size"; lib.sh's
# MQ_MEM_SAFE avoids it), its RAM older than its CPU and device state?  The
# evidence: the guest found stale memory; or took a CPU exception on the
# destination and nowhere else; or a slot held a record newer than the one
# it expected (its ring position went back with its RAM).
gq_stale_ram() {
	[ "$(gq_count dst 'FATAL stale memory')" -gt 0 ] && return 0
	[ "$(gq_count dst 'FATAL cpu exception')" -gt 0 ] &&
		[ "$(gq_count src 'FATAL')" = 0 ] && return 0
	tr -d '\r' < "$(gq_serial dst)" 2>/dev/null | awk '
		/^DMACHECK LOST / {
			for (i = 3; i <= NF; i++) {
				if ($i ~ /^seq=/) { split(substr($i, 5), a, "-"); s = a[1] + 0 }
				if ($i ~ /^found=/) f = substr($i, 7) + 0
			}
			if (f > s) newer = 1
		}
		END { exit newer ? 0 : 1 }'
}
