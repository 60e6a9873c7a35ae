#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of make bench (scripts/bench.sh): runs bin/bench's parts and
# passes their "# BENCH metric median min max" lines through the TAP log.
# A benchmark, not a test: it runs only when the kernel command line has
# mig.bench=1 (make bench sets it), and it asserts no speed; an ok line
# means only that a part ran to the end.
#
#   mig.bench=1           run every part
#   mig.bench_parts=a,b   only these (datapath zerocopy sweep converge scale qemu
#                         qemu-dma)
#   mig.bench_reps=N      samples per figure (default 5)

PATH=/mig/bin:$PATH
parts="datapath zerocopy sweep converge scale qemu qemu-dma"
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

# stats METRIC VALUE...: one "# BENCH" line, median min max, as bin/bench.
stats() {
	m=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v m="$m" '
		{ v[NR] = $1 }
		END {
			if (!NR) exit
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "# BENCH %s %g %g %g\n", m, med, v[1], v[NR]
		}'
}

# 5. QEMU 7.2 end to end: live migration of one instance between two QEMUs
# in this VM (selftests/qemu/lib.sh), query-migrate's total-time and
# downtime.  At most 3 samples per type: each takes a minute under TCG.
bench_qemu() {
	# shellcheck source=selftests/qemu/lib.sh disable=SC1091
	. /mig/selftests/qemu/lib.sh || return 1
	# shellcheck disable=SC2034 # read by lib.sh
	MQ_BW=268435456		# 256 MiB/s: not the limit here
	# shellcheck disable=SC2034
	MQ_DOWNTIME=300		# QEMU's default
	q=$reps
	[ "$q" -le 3 ] || q=3
	for t in small large; do
		tt=
		dt=
		i=0
		while [ $i -lt "$q" ]; do
			i=$((i + 1))
			mq_begin "bench-$t-$i"
			s=$(mq_create "$t") && d=$(mq_create "$t") &&
				mq_live "$s" "$d" > "/tmp/bench-qemu.log" 2>&1
			rc=$?
			if [ $rc -eq 0 ]; then
				f=$MQ_WORK/src.migrate.json
				tt="$tt $(mq_json "$f" total-time)"
				dt="$dt $(mq_json "$f" downtime)"
				echo "# qemu $t rep $i: total-time $(mq_json "$f" total-time) ms, downtime $(mq_json "$f" downtime) ms"
			else
				sed 's/^/# /' /tmp/bench-qemu.log | tail -n 20
				mq_dump
			fi
			mq_end
			[ $rc -eq 0 ] || return 1
		done
		# shellcheck disable=SC2086 # lists of numbers
		stats "qemu_${t}_total_ms" $tt
		# shellcheck disable=SC2086
		stats "qemu_${t}_downtime_ms" $dt
	done
}

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
	# 6. (qemu-dma) QEMU 7.2 (v1) and 10.0 (v2) side by side, the guest
	# program's DMA at a sweep of rates: selftests/qemu/bench_dma.sh.
	# shellcheck source=selftests/qemu/bench_dma.sh disable=SC1091
	case $p in
	qemu) bench_qemu ;;
	qemu-dma) (. /mig/selftests/qemu/bench_dma.sh && bench_qemu_dma "$reps") ;;
	*) bench "$p" --reps "$reps" 2>&1 ;;
	esac
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
