#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# /init of the test VM (busybox sh), packed by scripts/mkinitramfs.sh.
#
# Kernel command line:
#   mig.mode=check|demo|shell   what to run (default check)
#   mig.tests=a,b               run only the TESTS lines whose program is a or b
#   mig.timeout=N               seconds per test program (default 600)
#
# Test output (TAP) goes to the second serial port, /dev/ttyS1, with a
# "# mig-run: START <cmd>" / "# mig-run: END <cmd> rc=N" pair around each
# program; kernel messages go to the console, /dev/ttyS0.

PATH=/mig/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
export PATH HOME

mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
hostname mig-vm
ip link set lo up
echo 7 > /proc/sys/kernel/printk
# Report a task stuck in D state after 30 s, not 120 (both kernels have the
# detector); the host's log scan fails the run on the report.
echo 30 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null

MODE=check
TESTSEL=
TIMEOUT=600
read -r cmdline < /proc/cmdline
for w in $cmdline; do
	case $w in
	mig.mode=*) MODE=${w#mig.mode=} ;;
	mig.tests=*) TESTSEL=$(echo "${w#mig.tests=}" | tr ',' ' ') ;;
	mig.timeout=*) TIMEOUT=${w#mig.timeout=} ;;
	esac
done

TAP=/dev/ttyS1
if [ -c /dev/ttyS1 ] && stty -F /dev/ttyS1 raw -echo 2>/dev/null; then
	:
else
	echo "mig-init: no /dev/ttyS1, test output goes to the console" > /dev/console
	TAP=/dev/console
fi
# Everything this script prints goes to the TAP port from here on.
exec > "$TAP" 2>&1
echo "# mig-run: BOOTED $(uname -r) mode=$MODE timeout=$TIMEOUT uptime=$(cut -d" " -f1 /proc/uptime)s"

# ---- modules ------------------------------------------------------------
load_modules() {
	n=$(($(grep -c . /mig/modules.list) + 1))
	echo "TAP version 13"
	echo "1..$n"
	i=0
	while read -r ko; do
		[ -n "$ko" ] || continue
		i=$((i + 1))
		name=$(basename "$ko" .ko)
		if out=$(insmod "$ko" 2>&1); then
			echo "ok $i insmod $name"
		else
			echo "# $out"
			echo "not ok $i insmod $name"
		fi
	done < /mig/modules.list
	i=$((i + 1))
	if [ ! -f /mig/mig-mdev.ko ]; then
		echo "# /mig/mig-mdev.ko is not in the initramfs (module build failed?)"
		echo "not ok $i insmod mig-mdev"
	elif out=$(insmod /mig/mig-mdev.ko 2>&1); then
		echo "ok $i insmod mig-mdev"
	else
		echo "# $out"
		echo "not ok $i insmod mig-mdev"
	fi
}

# ---- running one program under a timeout ------------------------------
# run_one CMD: runs CMD (a shell command line) from /mig in its own session,
# kills the whole session after $TIMEOUT seconds.
run_one() {
	cmd=$1
	echo "# mig-run: START $cmd"
	t0=$(date +%s)
	rm -f /tmp/.mig-timedout
	(cd /mig && exec setsid sh -c "$cmd") < /dev/null &
	pid=$!
	# the watchdog, in a session of its own so that its sleep goes with it
	# shellcheck disable=SC2016 # expanded by the inner sh
	setsid sh -c 'sleep "$1"; touch /tmp/.mig-timedout
		kill -TERM -"$2" 2>/dev/null || kill -TERM "$2"; sleep 5
		kill -KILL -"$2" 2>/dev/null || kill -KILL "$2"' \
		watchdog "$TIMEOUT" "$pid" > /dev/null 2>&1 &
	wd=$!
	wait "$pid"
	rc=$?
	kill -TERM -"$wd" 2>/dev/null || kill -TERM "$wd" 2>/dev/null
	wait "$wd" 2>/dev/null
	if [ -f /tmp/.mig-timedout ]; then
		echo "not ok 1 $cmd # TIMEOUT after ${TIMEOUT}s"
		echo "# mig-run: TIMEOUT $cmd"
	fi
	echo "# mig-run: END $cmd rc=$rc time=$(($(date +%s) - t0))s"
	# A test that left the module unloaded must not take the next ones down.
	grep -q '^mig_mdev ' /proc/modules || insmod /mig/mig-mdev.ko 2>/dev/null
}

selected() {	# selected CMD: does CMD match mig.tests (or is there none)?
	[ -n "$TESTSEL" ] || return 0
	# shellcheck disable=SC2086 # split the command line into words
	set -- $1
	prog=$(basename "$1")
	for t in $TESTSEL; do
		case $t in
		"$prog" | "${prog%.*}" | "$1") return 0 ;;
		esac
	done
	return 1
}

finish() {
	echo "# mig-run: DONE"
	if [ -f /sys/kernel/debug/kmemleak ]; then
		echo scan > /sys/kernel/debug/kmemleak
		sleep 1
		echo scan > /sys/kernel/debug/kmemleak
		echo "mig-init: kmemleak report:" > /dev/console
		cat /sys/kernel/debug/kmemleak > /dev/console
	fi
	{
		echo "mig-init: ---- dmesg ----"
		dmesg
		echo "mig-init: ---- end of dmesg ----"
	} > /dev/console
	sync
	poweroff -f
}

echo "# mig-run: START load-modules"
load_modules
echo "# mig-run: END load-modules rc=0"

case $MODE in
shell)
	echo "# mig-run: shell on the console; exit it to power off"
	{
		echo "mig-init: interactive shell (modules loaded; tests in /mig, list in /mig/TESTS)."
		echo "mig-init: exit the shell to power the VM off."
	} > /dev/console
	setsid cttyhack sh -l < /dev/console > /dev/console 2>&1
	sync
	poweroff -f
	;;
demo)
	if [ -f /mig/selftests/qemu/demo.sh ]; then
		run_one "sh selftests/qemu/demo.sh"
	else
		echo "# mig-run: START demo"
		echo "1..1"
		echo "not ok 1 demo # /mig/selftests/qemu/demo.sh is not in the initramfs"
		echo "# mig-run: END demo rc=1"
	fi
	finish
	;;
esac

if [ ! -f /mig/TESTS ]; then
	echo "# mig-run: START TESTS"
	echo "1..1"
	echo "not ok 1 /mig/TESTS is missing"
	echo "# mig-run: END TESTS rc=1"
	finish
fi
# Read the list first: a test program must not eat the rest of it.
grep -v '^[[:space:]]*#' /mig/TESTS | grep -v '^[[:space:]]*$' > /tmp/.mig-tests
while read -r line; do
	selected "$line" || continue
	run_one "$line"
done < /tmp/.mig-tests
finish
