# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh disable=SC3043,SC2034
#
# selftests/qemu/lib.sh: drive QEMU 7.2 (or 10.0) around mig-mdev instances.
#
# Source it from busybox sh (the test VM) or any POSIX shell with `local`:
#
#	. /mig/selftests/qemu/lib.sh
#	mq_begin demo
#	s=$(mq_create small); d=$(mq_create small)
#	mq_live "$s" "$d"          # live migration over TCP on loopback
#	mq_end
#
# Every QEMU is started in the background of the calling shell (never call
# mq_qemu_start inside $(...)), with its QMP socket, stdout and stderr in
# $MQ_WORK/NAME.{sock,out,err}.  Every wait has a timeout and polls QMP (or
# sysfs) instead of sleeping blindly.  The helpers print TAP diagnostics
# ("# ...") on stdout and return non-zero on failure; mq_dump prints the
# stderr of every QEMU of the current test and the tail of dmesg.
#
# Settings (environment):
#   MQ_QEMU       qemu-system-x86_64
#   MQ_FW         the firmware directory QEMU gets with -L (/usr/share/qemu)
#   MQ_VFIO_MIG   the vfio-pci option that turns migration on
#                 (x-enable-migration=on: QEMU 7.2, v1; enable-migration=on:
#                 QEMU 10, v2)
#   MQ_TRACE      QEMU trace events to enable (patterns, space separated);
#                 their log goes to $MQ_WORK/NAME.trace
#   MQ_MEM        guest RAM, a QEMU -m size (32: MiB)
#   MQ_MEM_SAFE   the size to give a guest whose own RAM must arrive intact
#                 under QEMU 7.2 and TCG (32776K: 32 MiB and 8 KiB).  Not a
#                 multiple of 256 KiB on purpose: QEMU 7.2 under TCG loses
#                 guest writes from its dirty bitmap when a RAM block's size
#                 is a whole number of bitmap words (64 pages), because that
#                 fast path clears the bits without re-arming TCG's dirty
#                 tracking in the TLB (fixed in QEMU 9.0 by "physmem: Fix
#                 migration dirty bitmap coherency with TCG memory access");
#                 any other size takes the page-by-page path, which is
#                 correct but slower (every sync tests every page).  The
#                 firmware-only scenarios check the device, not guest RAM,
#                 and keep MQ_MEM.  docs/GUEST.md, "QEMU 7.2 and TCG".
#   MQ_WORK       work directory (/tmp/mig-qemu)
#   MQ_DEVOPTS    extra vfio-pci options, e.g. ",x-no-mmap=on"
#   MQ_IOMMUFD    1: attach the devices through iommufd and the vfio cdev
#                 (-object iommufd; QEMU 9.0 and later, a kernel with
#                 VFIO_DEVICE_CDEV) instead of the type1 container (0)
#   MQ_RATE       engine rate in pages/s for live migrations (400)
#   MQ_BW         max-bandwidth of a live migration in bytes/s (4 MiB/s)
#   MQ_DOWNTIME   downtime-limit in ms (10): QEMU sends one 1 MiB chunk per
#                 100 ms window whatever MQ_BW says, so a low limit is what
#                 keeps pre-copy going for more than one sweep
#   MQ_CONVERGE   seconds of pre-copy before mq_live slows the engine (40)
#   MQ_MIG_TIMEOUT  seconds a migration may take after that (240)
#   MQ_PARAMS_SRC more migrate-set-parameters members for mq_live's source,
#                 e.g. ',"avail-switchover-bandwidth":67108864'
#   MQ_PARAMS_BOTH  migrate-set-parameters members for both sides of mq_live
#                 (e.g. '"multifd-channels":2')
#   MQ_CAPS       capabilities mq_live turns on on both sides
#   MQ_WATCH      1: mq_live samples the sources' migration_state during the
#                 migration (mq_watch_start); the names go to $MQ_WORK/UUID.states
#   MQ_START_TIMEOUT seconds until a new QEMU answers QMP (90)
#   MQ_QMP        the qmp client (qmp in PATH, /mig/bin/qmp, build/bin/qmp)

MQ_QEMU=${MQ_QEMU:-qemu-system-x86_64}
MQ_FW=${MQ_FW:-/usr/share/qemu}
MQ_VFIO_MIG=${MQ_VFIO_MIG:-x-enable-migration=on}
MQ_TRACE=${MQ_TRACE:-}
MQ_MEM=${MQ_MEM:-32}
MQ_MEM_SAFE=${MQ_MEM_SAFE:-32776K}
MQ_WORK=${MQ_WORK:-/tmp/mig-qemu}
MQ_DEVOPTS=${MQ_DEVOPTS:-}
MQ_IOMMUFD=${MQ_IOMMUFD:-0}
MQ_RATE=${MQ_RATE:-400}
MQ_BW=${MQ_BW:-4194304}
MQ_DOWNTIME=${MQ_DOWNTIME:-10}
MQ_CONVERGE=${MQ_CONVERGE:-40}
MQ_MIG_TIMEOUT=${MQ_MIG_TIMEOUT:-240}
MQ_START_TIMEOUT=${MQ_START_TIMEOUT:-90}
MQ_PORT=${MQ_PORT:-4440}
MQ_PARAMS_SRC=${MQ_PARAMS_SRC:-}
MQ_PARAMS_BOTH=${MQ_PARAMS_BOTH:-}
MQ_CAPS=${MQ_CAPS:-}
MQ_WATCH=${MQ_WATCH:-}

MQ_PARENT=/sys/class/mig_mdev/mig_mdev
MQ_TYPES=$MQ_PARENT/mdev_supported_types
MQ_DEVS=/sys/bus/mdev/devices
MQ_PARAMS=/sys/module/mig_mdev/parameters
MQ_DEBUGFS=/sys/kernel/debug/mig_mdev

if [ -z "${MQ_QMP:-}" ]; then
	if command -v qmp > /dev/null 2>&1; then
		MQ_QMP=qmp
	elif [ -x /mig/bin/qmp ]; then
		MQ_QMP=/mig/bin/qmp
	else
		MQ_QMP=$(cd "$(dirname "$0")/../.." 2>/dev/null && pwd)/build/bin/qmp
	fi
fi

MQ_NAMES=		# QEMUs of the current test (names)
MQ_TEST=		# name of the current test
MQ_LAST_SRC_DIGEST=	# the last pair mq_same_digest compared
MQ_LAST_DST_DIGEST=

mq_note() { printf '# %s\n' "$*"; }
mq_fail() { printf '# FAIL: %s\n' "$*"; return 1; }
mq_indent() { sed 's/^/#   /'; }

# ---- processes -----------------------------------------------------------

mq_alive() {	# mq_alive PID: running (and not a zombie)?
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

mq_pid() { cat "$MQ_WORK/$1.pid" 2>/dev/null; }

# mq_wait_exit NAME TIMEOUT: wait until QEMU NAME has exited; its exit
# status goes to $MQ_WORK/NAME.rc.  Returns 1 if it was still running.
mq_wait_exit() {
	local pid n=0 lim rc
	pid=$(mq_pid "$1")
	[ -n "$pid" ] || return 0
	lim=$(($2 * 10))
	while mq_alive "$pid"; do
		n=$((n + 1))
		[ $n -le "$lim" ] || return 1
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	rc=$?
	[ -f "$MQ_WORK/$1.rc" ] || echo "$rc" > "$MQ_WORK/$1.rc"
	return 0
}

# mq_qemu_start NAME "UUID..." [QEMU ARGS...]: start a tiny TCG guest with
# one vfio-pci device per instance (through iommufd if MQ_IOMMUFD=1), wait
# until QMP answers.
mq_qemu_start() {
	local name="$1" uuids="$2" sock pid i=0 u n=0 ev fd=
	shift 2
	if [ "$MQ_IOMMUFD" = 1 ]; then
		set -- "$@" -object iommufd,id=mqfd
		fd=,iommufd=mqfd
	fi
	for u in $uuids; do
		set -- "$@" -device "vfio-pci,id=mig$i,sysfsdev=$MQ_DEVS/$u,$MQ_VFIO_MIG$fd$MQ_DEVOPTS"
		i=$((i + 1))
	done
	if [ -n "$MQ_TRACE" ]; then
		for ev in $MQ_TRACE; do
			set -- "$@" -trace "enable=$ev"
		done
		set -- "$@" -D "$MQ_WORK/$name.trace"
	fi
	# SeaBIOS prints to the debug port: mq_wait_firmware reads it.  Both
	# sides of a migration get the same device, so the device lists match.
	set -- -chardev "file,id=fwlog,path=$MQ_WORK/$name.fw" \
		-device isa-debugcon,iobase=0x402,chardev=fwlog "$@"
	sock=$MQ_WORK/$name.sock
	rm -f "$sock" "$MQ_WORK/$name.rc" "$MQ_WORK/$name.pid" "$MQ_WORK/$name.fw" \
		"$MQ_WORK/$name.trace"
	echo "$MQ_QEMU -accel tcg -machine q35 -m $MQ_MEM -nodefaults -display none" \
		"-L $MQ_FW -qmp unix:$sock,server=on,wait=off $*" > "$MQ_WORK/$name.cmd"
	"$MQ_QEMU" -name "$name" -accel tcg -machine q35 -m "$MQ_MEM" \
		-nodefaults -display none -L "$MQ_FW" \
		-qmp "unix:$sock,server=on,wait=off" "$@" \
		< /dev/null > "$MQ_WORK/$name.out" 2> "$MQ_WORK/$name.err" &
	pid=$!
	echo "$pid" > "$MQ_WORK/$name.pid"
	MQ_NAMES="$MQ_NAMES $name"
	while :; do
		if ! mq_alive "$pid"; then
			mq_wait_exit "$name" 1
			mq_fail "QEMU $name exited at start (rc $(cat "$MQ_WORK/$name.rc" 2>/dev/null))"
			return 1
		fi
		"$MQ_QMP" -t 1 "$sock" --wait-qmp 2>/dev/null && break
		n=$((n + 1))
		if [ $n -ge "$MQ_START_TIMEOUT" ]; then
			mq_fail "QEMU $name: no QMP after ${MQ_START_TIMEOUT}s"
			return 1
		fi
	done
	mq_note "QEMU $name (pid $pid) up: $uuids"
	# A guest that runs: let the firmware finish (see mq_wait_firmware).
	case " $* " in
	*" -S "* | *" -incoming "*) ;;
	*) mq_wait_firmware "$name" "$MQ_START_TIMEOUT" || return 1 ;;
	esac
}

# mq_wait_firmware NAME TIMEOUT: wait until SeaBIOS has given up booting
# ("No bootable device.") and idles.  A guest migrated in the middle of its
# POST resets itself on the destination soon after cont, which resets the
# devices too.
mq_wait_firmware() {
	local n=0 lim=$(($2 * 10))
	while ! grep -q "No bootable device" "$MQ_WORK/$1.fw" 2>/dev/null; do
		n=$((n + 1))
		if [ $n -gt $lim ] || ! mq_alive "$(mq_pid "$1")"; then
			mq_fail "QEMU $1: firmware not idle after ${2}s: $(tail -n 3 "$MQ_WORK/$1.fw" 2>/dev/null | tr '\n' ' ')"
			return 1
		fi
		sleep 0.1
	done
}

# mq_qmp NAME COMMAND...: run QMP commands, print their returns.
mq_qmp() {
	local name="$1"
	shift
	"$MQ_QMP" -t 30 "$MQ_WORK/$name.sock" "$@"
}

# mq_qmp_ok NAME COMMAND...: the same, quiet; diagnostics on failure.
mq_qmp_ok() {
	local out
	if ! out=$(mq_qmp "$@" 2>&1); then
		mq_fail "QMP $1: $2: $out"
		return 1
	fi
}

# mq_qemu_stop NAME: quit over QMP, then TERM, then KILL; reaps it.
mq_qemu_stop() {
	local pid
	pid=$(mq_pid "$1")
	[ -n "$pid" ] || return 0
	if mq_alive "$pid"; then
		"$MQ_QMP" -t 5 "$MQ_WORK/$1.sock" quit > /dev/null 2>&1
		if ! mq_wait_exit "$1" 20; then
			mq_note "QEMU $1 ignored quit: SIGTERM"
			kill -TERM "$pid" 2>/dev/null
			if ! mq_wait_exit "$1" 10; then
				kill -KILL "$pid" 2>/dev/null
				mq_wait_exit "$1" 10
			fi
		fi
	else
		mq_wait_exit "$1" 1
	fi
	rm -f "$MQ_WORK/$1.pid"
}

# mq_wait_status NAME TIMEOUT STATUS...: poll query-status.
mq_wait_status() {
	local name="$1" t="$2" out
	shift 2
	if ! out=$("$MQ_QMP" "$MQ_WORK/$name.sock" --wait-status "$t" "$@" 2>&1); then
		mq_fail "QEMU $name: not $* after ${t}s: $out"
		return 1
	fi
}

# mq_wait_migrate NAME TIMEOUT [STATUS...]: poll query-migrate until the
# status is one of STATUS (completed); its last return goes to
# $MQ_WORK/NAME.migrate.json.  Returns qmp's code: 1 failed/cancelled,
# 2 timeout.
mq_wait_migrate() {
	local name="$1" t="$2" rc
	shift 2
	"$MQ_QMP" "$MQ_WORK/$name.sock" --wait-migrate "$t" "$@" \
		> "$MQ_WORK/$name.migrate.json" 2> "$MQ_WORK/$name.migrate.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		mq_note "QEMU $name: query-migrate: $(cat "$MQ_WORK/$name.migrate.err")"
		mq_note "QEMU $name: $(cat "$MQ_WORK/$name.migrate.json")"
	fi
	return $rc
}

# mq_json FILE PATH [DEFAULT]: a member of a JSON file (qmp --get).
mq_json() { "$MQ_QMP" --get "$2" "${3:-}" < "$1"; }

# mq_migrate NAME URI: start an outgoing migration.
mq_migrate() {
	mq_qmp_ok "$1" "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"$2\"}}"
}

# mq_incoming NAME URI: start listening (QEMU started with -incoming defer).
mq_incoming() {
	mq_qmp_ok "$1" "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"$2\"}}"
}

# mq_set_params NAME JSON-MEMBERS: migrate-set-parameters.
mq_set_params() {
	mq_qmp_ok "$1" "{\"execute\":\"migrate-set-parameters\",\"arguments\":{$2}}"
}

# mq_set_cap NAME CAPABILITY true|false
mq_set_cap() {
	mq_qmp_ok "$1" "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":[{\"capability\":\"$2\",\"state\":$3}]}}"
}

mq_next_port() { MQ_PORT=$((MQ_PORT + 1)); }

# ---- instances -----------------------------------------------------------

mq_have_module() { [ -d "$MQ_TYPES" ]; }

# mq_create TYPE [SECTION_PAGES]: create an instance of mig_mdev-TYPE,
# print its UUID.  SECTION_PAGES is set for this instance only.
mq_create() {
	local u old rc=0
	u=$(cat /proc/sys/kernel/random/uuid) || return 1
	if [ -n "${2:-}" ]; then
		old=$(cat "$MQ_PARAMS/section_pages")
		echo "$2" > "$MQ_PARAMS/section_pages" || return 1
	fi
	echo "$u" > "$MQ_TYPES/mig_mdev-$1/create" || rc=1
	[ -n "${2:-}" ] && echo "$old" > "$MQ_PARAMS/section_pages"
	if [ $rc -ne 0 ]; then
		echo "# FAIL: cannot create a mig_mdev-$1 instance" >&2
		return 1
	fi
	echo "$u" >> "$MQ_WORK/instances"
	echo "$u"
}

mq_remove() {
	[ -d "$MQ_DEVS/$1" ] && echo 1 > "$MQ_DEVS/$1/remove"
}

mq_attr() { cat "$MQ_DEVS/$1/$2" 2>/dev/null; }
mq_set_attr() { echo "$3" > "$MQ_DEVS/$1/$2"; }

# mq_stat UUID KEY: a value of the debugfs stats ("" if there are none).
mq_stat() {
	[ -r "$MQ_DEBUGFS/$1/stats" ] &&
		awk -v k="$2" '$1 == k { print $2 }' "$MQ_DEBUGFS/$1/stats"
}

# mq_wait_attr UUID ATTR VALUE TIMEOUT: poll sysfs until ATTR reads VALUE.
mq_wait_attr() {
	local n=0 lim=$(($4 * 10)) v
	while v=$(mq_attr "$1" "$2"); [ "$v" != "$3" ]; do
		n=$((n + 1))
		if [ $n -gt $lim ]; then
			mq_fail "$1: $2 reads '$v', not '$3' after ${4}s"
			return 1
		fi
		sleep 0.1
	done
}

# mq_engine_grows UUID TIMEOUT [ABOVE]: engine_count rises (above ABOVE,
# default its current value) within TIMEOUT seconds.
mq_engine_grows() {
	local c0 c n=0 lim=$(($2 * 10))
	c0=${3:-$(mq_attr "$1" engine_count)}
	while c=$(mq_attr "$1" engine_count); [ "${c:-0}" -le "${c0:-0}" ]; do
		n=$((n + 1))
		if [ $n -gt $lim ]; then
			mq_fail "$1: engine_count stays at $c (not above $c0) for ${2}s"
			return 1
		fi
		sleep 0.1
	done
}

# mq_start_engines RATE UUID...: start the engines, check that they run.
mq_start_engines() {
	local r="$1" u
	shift
	for u; do
		mq_set_attr "$u" engine_rate "$r" || { mq_fail "$u: cannot set engine_rate"; return 1; }
	done
	for u; do
		mq_engine_grows "$u" 10 || return 1
	done
}

# mq_same_digest SRC DST: the two instances' digests are equal.
mq_same_digest() {
	local a b
	a=$(mq_attr "$1" digest)
	b=$(mq_attr "$2" digest)
	MQ_LAST_SRC_DIGEST=$a
	MQ_LAST_DST_DIGEST=$b
	mq_note "digest src $1 $a"
	mq_note "digest dst $2 $b"
	[ -n "$a" ] && [ "$a" = "$b" ] || mq_fail "digests differ: $a != $b"
}

# mq_state_is UUID STATE...: migration_state is one of STATE.
mq_state_is() {
	local u="$1" v s
	shift
	v=$(mq_attr "$u" migration_state)
	for s; do
		[ "$v" = "$s" ] && return 0
	done
	mq_fail "$u: migration_state is '$v', expected $*"
}

# mq_watch_start UUID: sample migration_state every 20 ms in the background;
# each new value is appended to $MQ_WORK/UUID.states.
mq_watch_start() {
	local f="$MQ_DEVS/$1/migration_state" out="$MQ_WORK/$1.states"
	: > "$out"
	(
		last=
		while :; do
			read -r v < "$f" 2>/dev/null || v=gone
			if [ "$v" != "$last" ]; then
				echo "$v" >> "$out"
				last=$v
			fi
			sleep 0.02
		done
	) &
	echo $! > "$MQ_WORK/$1.watch"
	echo "$1" >> "$MQ_WORK/watches"
}

# mq_watch_stop UUID: end the sampling; the sequence seen stays in the file.
mq_watch_stop() {
	local pid
	pid=$(cat "$MQ_WORK/$1.watch" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$MQ_WORK/$1.watch"
}

# mq_watched UUID: the states mq_watch saw, in order, on one line.
mq_watched() { tr '\n' ' ' < "$MQ_WORK/$1.states" 2>/dev/null; }

# ---- test life cycle -----------------------------------------------------

# mq_begin NAME: fresh work state for one test.
mq_begin() {
	MQ_TEST=$1
	MQ_NAMES=
	mkdir -p "$MQ_WORK"
	rm -f "$MQ_WORK"/*.sock "$MQ_WORK"/*.err "$MQ_WORK"/*.out \
		"$MQ_WORK"/*.json "$MQ_WORK"/*.rc "$MQ_WORK"/*.cmd "$MQ_WORK"/*.fw \
		"$MQ_WORK"/*.trace "$MQ_WORK"/*.states "$MQ_WORK"/watches \
		"$MQ_WORK"/instances
	: > "$MQ_WORK/instances"
}

# mq_scenario T NAME: run scenario T (function scen_T, T one of $ALL) after
# mq_begin, with its name and time in the log; returns its status.  A
# script may set MQ_SETUP to a function that runs after mq_begin.
mq_scenario() {
	mq_begin "$1"
	[ -z "${MQ_SETUP:-}" ] || "$MQ_SETUP"
	mq_note "---- $2"
	_t0=$(date +%s)
	case " $ALL " in
	*" $1 "*) "scen_$1"; _rc=$? ;;
	*) mq_fail "no such scenario"; _rc=1 ;;
	esac
	mq_note "time $(($(date +%s) - _t0))s"
	return $_rc
}

# mq_verdict I NAME RC: scenario I's TAP line for its status RC; a failure
# dumps what the scenario left first.  Returns 1 for a failure.
mq_verdict() {
	if [ "$3" -eq 0 ]; then
		echo "ok $1 $2"
		return 0
	fi
	mq_dump
	echo "not ok $1 $2"
	return 1
}

# mq_dump: what a failed test leaves for the reader.
mq_dump() {
	local n
	for n in $MQ_NAMES; do
		mq_note "---- QEMU $n: $(cat "$MQ_WORK/$n.cmd" 2>/dev/null)"
		[ -f "$MQ_WORK/$n.rc" ] && mq_note "exit status $(cat "$MQ_WORK/$n.rc")"
		mq_note "stderr:"
		mq_indent < "$MQ_WORK/$n.err" 2>/dev/null
		if [ -s "$MQ_WORK/$n.trace" ]; then
			mq_note "trace (last 30 lines of $(wc -l < "$MQ_WORK/$n.trace")):"
			tail -n 30 "$MQ_WORK/$n.trace" | mq_indent
		fi
	done
	if [ -s "$MQ_WORK/instances" ]; then
		while read -r n; do
			[ -d "$MQ_DEVS/$n" ] || continue
			mq_note "instance $n: state $(mq_attr "$n" migration_state)" \
				"engine_count $(mq_attr "$n" engine_count)" \
				"digest $(mq_attr "$n" digest)"
			[ -r "$MQ_DEBUGFS/$n/stats" ] &&
				tr '\n' ' ' < "$MQ_DEBUGFS/$n/stats" | mq_indent && echo
		done < "$MQ_WORK/instances"
	fi
	mq_note "---- dmesg | tail -40"
	dmesg | tail -40 | mq_indent
}

# mq_end: stop every QEMU of the test, remove its instances, restore the
# section_pages default.
mq_end() {
	local n
	if [ -f "$MQ_WORK/watches" ]; then
		while read -r n; do
			mq_watch_stop "$n"
		done < "$MQ_WORK/watches"
		rm -f "$MQ_WORK/watches"
	fi
	for n in $MQ_NAMES; do
		mq_qemu_stop "$n"
	done
	MQ_NAMES=
	if [ -f "$MQ_WORK/instances" ]; then
		while read -r n; do
			mq_remove "$n" 2>/dev/null
		done < "$MQ_WORK/instances"
		: > "$MQ_WORK/instances"
	fi
	[ -w "$MQ_PARAMS/section_pages" ] && echo 256 > "$MQ_PARAMS/section_pages"
	return 0
}

# ---- migration recipes ---------------------------------------------------

# mq_report NAME UUID...: print the outgoing migration's numbers (and the
# device's debugfs counters) as diagnostics.
mq_report() {
	local f=$MQ_WORK/$1.migrate.json u
	shift
	mq_note "total-time $(mq_json "$f" total-time ?) ms," \
		"downtime $(mq_json "$f" downtime ?) ms," \
		"setup-time $(mq_json "$f" setup-time ?) ms"
	mq_note "ram: transferred $(mq_json "$f" ram.transferred ?) B," \
		"dirty-sync-count $(mq_json "$f" ram.dirty-sync-count ?)," \
		"mbps $(mq_json "$f" ram.mbps ?)"
	# QEMU 7.2 never fills "vfio" in (CONFIG_VFIO is not seen by target.c)
	mq_json "$f" vfio.transferred > /dev/null &&
		mq_note "vfio: transferred $(mq_json "$f" vfio.transferred) B"
	for u; do
		[ -r "$MQ_DEBUGFS/$u/stats" ] &&
			mq_note "$u stats: $(tr '\n' ' ' < "$MQ_DEBUGFS/$u/stats")"
	done
	return 0
}

# mq_pairs "SRC..." "DST..." CMD: run "CMD SRC DST" for each pair.
mq_pairs() {
	local s d rest="$2" cmd="$3" rc=0
	for s in $1; do
		d=${rest%% *}
		rest=${rest#"$d"}
		rest=${rest# }
		$cmd "$s" "$d" || rc=1
	done
	return $rc
}

mq_dst_runs_on() {	# SRC DST: after cont, DST's engine goes on from SRC's count
	mq_state_is "$2" RUNNING || return 1
	mq_engine_grows "$2" 15 "$(mq_attr "$1" engine_count)" || return 1
	mq_note "engine_count src $(mq_attr "$1" engine_count) dst $(mq_attr "$2" engine_count)"
	if [ -r "$MQ_DEBUGFS/$2/stats" ] && [ "$(mq_stat "$2" resets)" != 1 ]; then
		mq_fail "$2 was reset after the migration ($(mq_stat "$2" resets) resets)"
		return 1
	fi
}

# mq_live "SRC..." "DST..." [QEMU ARGS for both...]: the live migration of
# scenario 1.  A source QEMU with the SRC instances, engines started at
# MQ_RATE after QEMU's reset; a paused destination with the DST instances;
# migrate over TCP loopback under MQ_BW / MQ_DOWNTIME; the destination
# devices wait in RESUMING with the source's digests; then cont: RUNNING,
# and the engines go on.  QEMUs are named src and dst and left running.
# Should pre-copy not converge within MQ_CONVERGE seconds, the engines are
# slowed to 1 page/s (noted) so that the test ends.
mq_live() {
	local src="$1" dst="$2" u rc c
	shift 2
	mq_next_port
	mq_qemu_start src "$src" "$@" || return 1
	mq_start_engines "$MQ_RATE" $src || return 1
	mq_qemu_start dst "$dst" -S -incoming defer "$@" || return 1
	for c in $MQ_CAPS; do
		mq_set_cap src "$c" true && mq_set_cap dst "$c" true || return 1
	done
	if [ -n "$MQ_PARAMS_BOTH" ]; then
		mq_set_params src "$MQ_PARAMS_BOTH" && mq_set_params dst "$MQ_PARAMS_BOTH" || return 1
	fi
	mq_incoming dst "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_set_params src "\"max-bandwidth\":$MQ_BW,\"downtime-limit\":$MQ_DOWNTIME$MQ_PARAMS_SRC" || return 1
	if [ "$MQ_WATCH" = 1 ]; then
		for u in $src; do mq_watch_start "$u"; done
	fi
	mq_migrate src "tcp:127.0.0.1:$MQ_PORT" || return 1
	mq_wait_migrate src "$MQ_CONVERGE"
	rc=$?
	if [ $rc -eq 2 ]; then
		# A loaded host can make the link slower than the engine: slow
		# the engine down rather than fail on a migration that cannot end.
		mq_note "no convergence after ${MQ_CONVERGE}s: engine slowed to 1 page/s"
		for u in $src; do
			mq_note "$u: $(mq_stat "$u" passes) passes, $(mq_stat "$u" bytes_saved) bytes so far"
			mq_set_attr "$u" engine_rate 1
		done
		mq_wait_migrate src "$MQ_MIG_TIMEOUT"
		rc=$?
	fi
	if [ "$MQ_WATCH" = 1 ]; then
		for u in $src; do
			mq_watch_stop "$u"
			mq_note "$u: migration_state seen during the migration: $(mq_watched "$u")"
		done
	fi
	[ $rc -eq 0 ] || return 1
	mq_wait_migrate dst 60 || return 1
	mq_report src $src $dst
	mq_wait_status src 30 postmigrate || return 1
	mq_wait_status dst 30 paused || return 1
	for u in $src; do mq_state_is "$u" STOP || return 1; done
	for u in $dst; do mq_state_is "$u" RESUMING || return 1; done
	mq_pairs "$src" "$dst" mq_same_digest || return 1
	mq_qmp_ok dst cont || return 1
	mq_wait_status dst 30 running || return 1
	mq_pairs "$src" "$dst" mq_dst_runs_on || return 1
}
