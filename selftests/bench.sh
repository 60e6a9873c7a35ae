#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of make bench (scripts/bench.sh): runs bin/bench's parts and
# passes their "# BENCH metric median min max" lines through the TAP log.
# A benchmark, not a test: it runs only when the kernel command line has
# mig.bench=1 (make bench sets it), and it asserts no speed; an ok line
# means only that a part ran to the end.
#
#   mig.bench=1           run every part
#   mig.bench_parts=a,b   only these (datapath sweep converge scale)
#   mig.bench_reps=N      samples per figure (default 5)

PATH=/mig/bin:$PATH
parts="datapath sweep converge scale"
reps=5
run=0
# shellcheck disable=SC2013 # the command line is words
for w in $(cat /proc/cmdline); do
	case $w in
	mig.bench=1) run=1 ;;
	mig.bench_parts=*) parts=$(echo "${w#mig.bench_parts=}" | tr ',' ' ') ;;
	mig.bench_reps=*) reps=${w#mig.bench_reps=} ;;
	esac
done

echo "TAP version 13"
if [ "$run" != 1 ]; then
	echo "1..0 # SKIP benchmarks run only under make bench (mig.bench=1)"
	exit 0
fi
if [ ! -x /mig/bin/bench ] || [ ! -d /sys/class/mig_mdev/mig_mdev ]; then
	echo "1..0 # SKIP bin/bench or mig_mdev missing"
	exit 0
fi

n=0
fails=0
# shellcheck disable=SC2086 # a list of words
set -- $parts
echo "1..$#"
echo "# BENCH_INFO cpus $(grep -c ^processor /proc/cpuinfo)"
echo "# BENCH_INFO cpu $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "# BENCH_INFO kernel $(uname -r)"
echo "# BENCH_INFO memtotal_kib $(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
echo "# BENCH_INFO reps $reps"
for p in $parts; do
	n=$((n + 1))
	t0=$(date +%s)
	bench "$p" --reps "$reps" 2>&1
	rc=$?
	echo "# BENCH_INFO ${p}_seconds $(($(date +%s) - t0))"
	if [ $rc -eq 0 ]; then
		echo "ok $n bench $p"
	else
		echo "not ok $n bench $p (exit $rc)"
		fails=$((fails + 1))
	fi
done
[ $fails -eq 0 ]
