#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make fuzz: run tools/fuzz (bin/fuzz) in the test VM for a time budget.
#
#   FUZZ_TIME     seconds of fuzzing (default 300)
#   FUZZ_ROUND    seconds per seed (default 60): every round has a new seed
#                 and new instances
#   FUZZ_SEED     replay one seed (one round; with FUZZ_OPS, that many ops)
#   FUZZ_OPS      stop after that many operations
#   FUZZ_VERBOSE  1: a line per resume, 2: a line per operation
#   FUZZ_KERNEL   auto (default): the 6.12 debug kernel if it is built,
#                 else Debian's 6.1; or 612, or 61
#
# The parameters reach the guest on the kernel command line (fuzz.time=,
# fuzz.seed=, fuzz.ops=, fuzz.round=, fuzz.verbose=), which bin/fuzz reads; the VM runs
# the "bin/fuzz" line of selftests/TESTS only.  The seeds are printed at the
# end.  See docs/FUZZ.md.
set -euo pipefail
S=$(cd "$(dirname "$0")" && pwd)

FUZZ_TIME=${FUZZ_TIME:-300}
FUZZ_ROUND=${FUZZ_ROUND:-60}
FUZZ_SEED=${FUZZ_SEED:-}
FUZZ_OPS=${FUZZ_OPS:-}
FUZZ_KERNEL=${FUZZ_KERNEL:-auto}
FUZZ_VERBOSE=${FUZZ_VERBOSE:-}

# The kernel: lib.sh (sourced by the VM scripts) boots VM_KVER/VM_KERNEL/
# VM_KROOT/VM_KDIR when they are set, Debian's 6.1 otherwise.
kernel="Debian $(sed -n 's/^KVER_61[[:space:]]*?=[[:space:]]*//p' "$S/config.mk" | tail -n1)"
case $FUZZ_KERNEL in
auto | 612)
	if env=$(bash "$S/debug-kernel.sh" env 2>/dev/null); then
		eval "$env"
		export VM_KVER VM_KERNEL VM_KROOT VM_KDIR
		kernel="the 6.12 debug kernel $VM_KVER (KASAN, lockdep, UBSAN, kmemleak)"
	elif [ "$FUZZ_KERNEL" = 612 ]; then
		echo "error: FUZZ_KERNEL=612 but the 6.12 debug kernel is not built (make debug-kernel)" >&2
		exit 1
	else
		kernel="$kernel (the 6.12 debug kernel is not built: make debug-kernel)"
	fi
	;;
61) ;;
*)
	echo "error: FUZZ_KERNEL is auto, 612 or 61" >&2
	exit 1
	;;
esac

append="fuzz.time=$FUZZ_TIME fuzz.round=$FUZZ_ROUND"
[ -n "$FUZZ_SEED" ] && append+=" fuzz.seed=$FUZZ_SEED"
[ -n "$FUZZ_OPS" ] && append+=" fuzz.ops=$FUZZ_OPS"
[ -n "$FUZZ_VERBOSE" ] && append+=" fuzz.verbose=$FUZZ_VERBOSE"
[ "$FUZZ_TIME" = 0 ] && [ -z "$FUZZ_OPS" ] && {
	echo "error: FUZZ_TIME=0 needs FUZZ_OPS" >&2
	exit 1
}

echo "== mig-mdev fuzz: ${FUZZ_TIME}s${FUZZ_SEED:+, seed $FUZZ_SEED}${FUZZ_OPS:+, $FUZZ_OPS ops} on $kernel =="
rc=0
VM_APPEND="${VM_APPEND:-} $append" MIG_TESTS=fuzz \
	TEST_TIMEOUT=${TEST_TIMEOUT:-$((${FUZZ_TIME%.*} + 600))} \
	bash "$S/check.sh" check || rc=$?

: "${BUILD:=$(cd "$S/.." && pwd)/build}"
tap=$BUILD/vm/tap.log
if [ -f "$tap" ]; then
	echo "== fuzz seeds (replay: make fuzz FUZZ_SEED=S [FUZZ_OPS=N], or bin/fuzz --seed S [--ops N] in make vm-shell) =="
	grep -E '^(not )?ok [0-9]+ fuzz seed=|^# (VIOLATION|replay)' "$tap" || echo "  (no fuzz result in $tap)"
	echo "   on $kernel"
fi
# the totals again, last and alone on their line
[ -f "$BUILD/vm/totals" ] && tail -n1 "$BUILD/vm/totals"
exit $rc
