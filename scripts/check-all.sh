#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check: the suite on each kernel KERNEL names, one totals line.
#
#   KERNEL=61    Debian's 6.1 kernel (make check-61)
#   KERNEL=612   the 6.12 debug kernel, built first if needed (make check-debug)
#   KERNEL=all   both, 6.1 first (the default)
#
# Each kernel's own summary and logs stay where its run put them
# (build/vm/ and build/vm-debug/); the last line sums them.
set -uo pipefail
KERNEL=${KERNEL:-all}
case "$KERNEL" in
61) targets=(check-61) ;;
612) targets=(check-debug) ;;
all) targets=(check-61 check-debug) ;;
*) echo "KERNEL=$KERNEL: use 61, 612 or all"; echo "0 passed, 1 failed"; exit 1 ;;
esac

p=0 f=0 s=0 rc=0
summary=()
for t in "${targets[@]}"; do
	log=$(mktemp /tmp/mig-check.XXXXXX)
	make --no-print-directory "$t" 2>&1 | tee "$log"
	trc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
	rm -f "$log"
	if [ -z "$line" ]; then
		line="0 passed, 1 failed"
		echo "make $t ended (exit $trc) without totals"
	fi
	tp=${line%% passed*}
	tf=${line#*passed, }
	tf=${tf%% failed*}
	ts=0
	case "$line" in *skipped*) ts=${line##*failed, }; ts=${ts%% skipped*} ;; esac
	if [ "$trc" -ne 0 ] && [ "$tf" -eq 0 ]; then tf=1; fi
	[ "$trc" -eq 0 ] || rc=1
	p=$((p + tp)) f=$((f + tf)) s=$((s + ts))
	summary+=("$(printf '  %-12s %s' "$t" "$line")")
done

echo "== make check: KERNEL=$KERNEL =="
for l in "${summary[@]}"; do echo "$l"; done
[ "$f" -eq 0 ] || rc=1
if [ "$s" -gt 0 ]; then
	echo "$p passed, $f failed, $s skipped"
else
	echo "$p passed, $f failed"
fi
exit $rc
