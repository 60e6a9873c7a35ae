#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The whole pipeline behind make check / demo / vm-shell / initramfs:
# dependencies, guest kernel, build, initramfs, boot, totals.
#
#   scripts/check.sh check|demo|shell|initramfs
#
# A failure before the boot (dependencies, kernel, build, initramfs) ends
# with "0 passed, 1 failed".  KEEP_GOING=1 boots even when the build failed
# (the guest then reports the missing pieces as failed tests).
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

MODE=${1:-check}
S=$MIG_TOP/scripts
mkdir -p "$VMDIR"
t0=$(date +%s)

# `make demo` is for a newcomer's first minutes: one line per step
# (packages, kernel, build, VM), then the report.  What the steps print
# (apt-get, make, the guest's output) goes to $VMDIR/demo.log instead.
# VERBOSE=1 shows it all, as check does.
QUIET=0
if [ "$MODE" = demo ] && [ "${VERBOSE:-0}" != 1 ]; then
	QUIET=1
fi
LOG=$VMDIR/$MODE.log

prefail() {	# prefail STEP: a step before the boot failed
	echo "FAIL $1 (see the messages above)"
	echo "0 passed, 1 failed"
	exit 1
}

# step LABEL CMD...: run CMD; quiet: its output to $LOG, one line here
# saying how it went (and the last thing the step said), or its last
# lines if it failed.
step() {
	local label=$1 out ts rc=0 last
	shift
	if [ $QUIET = 0 ]; then
		"$@"
		return
	fi
	printf '  %-9s ' "$label"
	out=$(mktemp)
	ts=$(date +%s)
	"$@" > "$out" 2>&1 || rc=$?
	{ echo "==== $label: $*"; cat "$out"; echo "==== exit $rc"; } >> "$LOG"
	if [ $rc = 0 ]; then
		# the step's last "  WORD  what" line, without the word
		last=$(grep -E '^  [A-Z]+ +' "$out" | tail -n 1 | sed -E 's/^  [A-Z]+ +//')
		echo "ok, $(($(date +%s) - ts))s${last:+: $last}"
	else
		echo "FAILED after $(($(date +%s) - ts))s:"
		tail -n 25 "$out" | sed 's/^/    /'
		echo "  full log: $LOG"
	fi
	rm -f "$out"
	return $rc
}

# shellcheck disable=SC2317  # called through step
build_all() {	# the module, tools, selftests and the initramfs
	local rc=0
	bash "$S/build.sh" || rc=$?
	if [ "$rc" != 0 ]; then
		if [ "${KEEP_GOING:-0}" != 1 ] || [ "$MODE" = initramfs ]; then
			return "$rc"
		fi
		echo "  KEEP_GOING=1: booting anyway"
	fi
	bash "$S/mkinitramfs.sh"
}

# shellcheck disable=SC2317  # called through step
kernel() {	# the guest kernel: Debian's 6.1 (downloaded once) or VM_KERNEL
	if [ "$VM_KVER" = "$KVER_61" ]; then
		bash "$S/fetch-kernel.sh"
	else
		say KERNEL "$VM_KERNEL ($VM_KVER)"
	fi
}

if [ $QUIET = 1 ]; then
	: > "$LOG"
	echo "== mig-mdev $MODE (everything the steps print: $LOG) =="
else
	echo "== mig-mdev $MODE: kernel $VM_KVER, cache $MIG_CACHE, output $VMDIR =="
fi
step packages bash "$S/deps.sh" || prefail "dependencies"
step kernel kernel || prefail "guest kernel $VM_KVER"
step build build_all || prefail "build"
[ "$MODE" != initramfs ] || exit 0
tb=$(date +%s)
rc=0
if [ $QUIET = 1 ]; then
	step VM env MIG_NO_TOTALS=1 bash "$S/run-vm.sh" "$MODE" || rc=$?
	# The report: what demo.sh printed (its "# " lines, unprefixed) and
	# its result.  (If the VM failed, step showed the summary.)
	if grep -q '^# mig-run: START.*demo' "$VMDIR/tap.clean" 2>/dev/null; then
		echo
		awk '/^# mig-run: START.*demo/ { on = 1; next }
		     /^# mig-run: END/ { on = 0; next }
		     on && /^# ?/ { sub(/^# ?/, ""); print; next }
		     on && /^(not )?ok / { print }' "$VMDIR/tap.clean"
		echo
	fi
else
	MIG_NO_TOTALS=1 bash "$S/run-vm.sh" "$MODE" || rc=$?
fi
if [ "$MODE" != shell ]; then
	echo "  TIME     $(($(date +%s) - t0))s in all (build $((tb - t0))s)"
	# the totals, last and alone on their line
	tail -n1 "$VMDIR/totals"
fi
exit $rc
