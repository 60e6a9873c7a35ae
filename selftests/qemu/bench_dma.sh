# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh disable=SC3043,SC2034
#
# selftests/qemu/bench_dma.sh: part qemu-dma of make bench (docs/BENCH.md),
# sourced by selftests/bench.sh in a subshell (it uses bench.sh's stats()):
#
#	( . /mig/selftests/qemu/bench_dma.sh && bench_qemu_dma REPS )
#
# The same live migration under QEMU 7.2 (protocol v1) and QEMU 10.0 (v2):
# the guest test program (guest/, docs/GUEST.md) runs the device's DMA
# engine at each rate of BD_RATES while the device's memory engine runs at
# BD_ENGINE pages/s; after GQ_REPORTS guest reports the migration starts
# under BD_DOWNTIME ms; if it has not completed after BD_HOLD s the limit is
# raised to BD_RAISED ms.  Per (QEMU, rate), over min(REPS, 3) samples:
# query-migrate's total-time and downtime, the device's bytes and pre-copy
# passes (the driver's debugfs stats), QEMU's dirty-sync count and RAM
# bytes, the DMA rate the source guest saw, how many samples converged
# under BD_DOWNTIME, and the destination guest's verdict: pass, the known
# QEMU 7.2 stale-RAM failure (gq_stale_ram; lib.sh's MQ_MEM_SAFE avoids it), or
# any other failure.
#
# Figures: "# BENCH qemu_dma_<v1|v2>_r<RATE>_<what> median min max"; rate
# 0 is the guest in mode=idle (the instance attached, no DMA).  Counts
# (samples, converged_n, pass_n, stale_n, fail_n) have median = min = max.

MQ_DIR=${MQ_DIR:-/mig/selftests/qemu}
MQ_WORK=${MQ_WORK:-/tmp/mig-bench-dma}
MQ_PORT=${MQ_PORT:-4840}
MQ_MIG_TIMEOUT=${MQ_MIG_TIMEOUT:-60}
# shellcheck source=selftests/qemu/lib.sh
. "$MQ_DIR/lib.sh"
# shellcheck source=selftests/qemu/v2.sh
. "$MQ_DIR/v2.sh"
# shellcheck source=selftests/qemu/guest.sh
. "$MQ_DIR/guest.sh"

BD_RATES=${BD_RATES:-"0 200 2000 20000 max"}
BD_ENGINE=${BD_ENGINE:-400}	# the memory engine, pages/s
BD_PAGES=${BD_PAGES:-256}	# the ring: 1 MiB, 16384 records
BD_LAG=${BD_LAG:-64}		# records in flight at any switch-over
BD_BW=${BD_BW:-33554432}	# max-bandwidth, 32 MiB/s
BD_DOWNTIME=${BD_DOWNTIME:-100}	# downtime-limit, ms
BD_RAISED=${BD_RAISED:-1000}	# after BD_HOLD s without convergence
BD_HOLD=${BD_HOLD:-15}
BD_Q10=${BD_Q10:-/opt/qemu10/bin/qemu-system-x86_64}
BD_Q10_FW=${BD_Q10_FW:-/opt/qemu10/share/qemu}
BD_Q72=$MQ_QEMU
BD_Q72_FW=$MQ_FW
# the same guest under both QEMUs: the size QEMU 7.2 needs (lib.sh)
MQ_MEM=$MQ_MEM_SAFE

# bd_use v1|v2: the QEMU and its migration parameters (BD_HOLD_P, the
# ordinary limit; BD_RAISE_P, the raised one).  No trace events and no
# state sampling: they would cost time in what is measured.  QEMU 10 on
# 6.1 (no VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, no dirty tracking for the
# mdev container) needs v2.sh's avail-switchover-bandwidth to switch over
# at all; it gets it on both kernels, as every v2 scenario does.
bd_use() {
	MQ_TRACE=
	MQ_WATCH=
	MQ_CAPS=
	MQ_DEVOPTS=
	case $1 in
	v1)
		MQ_QEMU=$BD_Q72
		MQ_FW=$BD_Q72_FW
		MQ_VFIO_MIG=x-enable-migration=on
		BD_EXTRA=
		;;
	v2)
		MQ_QEMU=$BD_Q10
		MQ_FW=$BD_Q10_FW
		MQ_VFIO_MIG=enable-migration=on
		BD_EXTRA=$V2_LIVE_PARAMS
		;;
	esac
	BD_HOLD_P="\"max-bandwidth\":$BD_BW,\"downtime-limit\":$BD_DOWNTIME$BD_EXTRA"
	BD_RAISE_P="\"max-bandwidth\":$BD_BW,\"downtime-limit\":$BD_RAISED$BD_EXTRA"
}

# The memory engine starts once the source guest runs (QEMU's reset at
# start clears it): gq_migrate's GQ_ON_START.
bd_engine() { mq_start_engines "$BD_ENGINE" "$1"; }

# bd_sample PROTO RATE LOG: one migration; sets the BD_S_* figures and
# BD_OUTCOME (pass, stale, fail, nomig).  Returns 3 if the guest skipped.
bd_sample() {
	local s d ga rc f n
	BD_OUTCOME=nomig
	s=$(mq_create small) && d=$(mq_create small) || return 1
	if [ "$2" = 0 ]; then
		ga="mode=idle"
	else
		ga="mode=dma pages=$BD_PAGES rate=$2 irq_every=0 lag=$BD_LAG"
	fi
	GQ_HOLD=$BD_HOLD
	GQ_ON_START=bd_engine
	gq_migrate "$s" "$d" "$ga" "$BD_HOLD_P" "$BD_RAISE_P" >> "$3" 2>&1
	rc=$?
	GQ_ON_START=
	[ $rc -ne 3 ] || return 3
	# A migration that completed counts, whatever the guest did after it
	# (the destination guest of the stale-RAM failure stops before its
	# reports, and gq_migrate fails on that).
	f=$MQ_WORK/src.migrate.json
	[ "$(mq_json "$f" status 2>/dev/null)" = completed ] || return 0
	# QEMU 7.2 says "completed" a moment before it has worked out
	# total-time and downtime (0 until then): ask again.
	n=0
	while [ "$(mq_json "$f" total-time 0)" = 0 ] && [ $n -lt 50 ]; do
		sleep 0.1
		mq_qmp src query-migrate > "$f" 2>> "$3"
		n=$((n + 1))
	done
	BD_S_TOTAL=$(mq_json "$f" total-time)
	BD_S_DOWN=$(mq_json "$f" downtime)
	BD_S_RAM=$(mq_json "$f" ram.transferred)
	BD_S_SYNCS=$(mq_json "$f" ram.dirty-sync-count)
	BD_S_DEV=$(mq_stat "$s" bytes_saved)
	BD_S_PASSES=$(mq_stat "$s" passes)
	BD_S_CONV=$((1 - GQ_RELEASED))
	# the DMA rate the source guest saw: its last report's head over its
	# ticks (100 a second)
	BD_S_DMA=$(awk -v h="$(gq_field src report head)" -v t="$(gq_field src report t)" \
		'BEGIN { printf "%.0f", (t > 0 ? h * 100 / t : 0) }')
	BD_OUTCOME=fail
	if [ "$(gq_count dst 'DMACHECK END')" = 0 ]; then
		gq_finish dst >> "$3" 2>&1
	fi
	if [ $rc -eq 0 ] && gq_verdict "$s" "$d" >> "$3" 2>&1; then
		BD_OUTCOME=pass
	elif gq_stale_ram; then
		BD_OUTCOME=stale
	fi
	return 0
}

# bd_point PROTO RATE N: N samples of one (QEMU, rate); its BENCH lines.
bd_point() {
	local p="$1" r="$2" n="$3" i=0 k log rc c tot='' down='' ram='' syncs='' dev='' \
		pas='' dma='' conv=0 pass=0 stale=0 fail=0 nomig=0
	k=qemu_dma_${p}_r$r
	log=$MQ_WORK/$k.log
	while [ $i -lt "$n" ]; do
		i=$((i + 1))
		mq_begin "$k-$i"
		: > "$log"
		bd_sample "$p" "$r" "$log"
		rc=$?
		if [ $rc -eq 3 ]; then
			mq_note "$k: the guest skipped: $GQ_SKIP"
			mq_end
			return 3
		fi
		if [ $rc -ne 0 ] || [ "$BD_OUTCOME" = nomig ]; then
			nomig=$((nomig + 1))
			mq_note "$k rep $i: the migration failed; its log:"
			tail -n 30 "$log" | mq_indent
			mq_dump
		else
			tot="$tot $BD_S_TOTAL"
			down="$down $BD_S_DOWN"
			ram="$ram $BD_S_RAM"
			syncs="$syncs $BD_S_SYNCS"
			dev="$dev $BD_S_DEV"
			pas="$pas $BD_S_PASSES"
			dma="$dma $BD_S_DMA"
			conv=$((conv + BD_S_CONV))
			case $BD_OUTCOME in
			pass) pass=$((pass + 1)) ;;
			stale) stale=$((stale + 1)) ;;
			*) fail=$((fail + 1)) ;;
			esac
			mq_note "$k rep $i: total $BD_S_TOTAL ms, downtime $BD_S_DOWN ms," \
				"device $BD_S_DEV B in $BD_S_PASSES passes, RAM $BD_S_RAM B" \
				"in $BD_S_SYNCS syncs, DMA $BD_S_DMA rec/s," \
				"$([ "$BD_S_CONV" = 1 ] && echo "converged under ${BD_DOWNTIME} ms" ||
					echo "limit raised to ${BD_RAISED} ms"), guest: $BD_OUTCOME"
			if [ "$BD_OUTCOME" != pass ]; then
				grep -E '^# (FAIL|source, last|destination, FINAL)' "$log" | mq_indent
				gq_show dst | tail -n 8
			fi
		fi
		mq_end
	done
	if [ -n "$tot" ]; then
		# shellcheck disable=SC2086 # lists of numbers
		{
			stats "${k}_total_ms" $tot
			stats "${k}_downtime_ms" $down
			stats "${k}_dev_bytes" $dev
			stats "${k}_passes" $pas
			stats "${k}_ram_bytes" $ram
			stats "${k}_dirty_syncs" $syncs
			stats "${k}_dma_rec_s" $dma
		}
	fi
	for c in "samples $n" "converged_n $conv" "pass_n $pass" "stale_n $stale" \
		"fail_n $fail" "nomig_n $nomig"; do
		stats "${k}_${c% *}" "${c#* }"
	done
	[ $nomig -eq 0 ]
}

# bench_qemu_dma REPS: the part.  Returns 1 if a migration failed.
bench_qemu_dma() {
	local n="$1" max p r rc=0 protos=v1
	[ "$n" -le 3 ] || n=3
	if [ -z "$GQ_ELF" ] || [ ! -f "$GQ_ELF" ]; then
		mq_note "qemu-dma: no guest program"
		return 1
	fi
	max=$(cat "$MQ_PARAMS/dma_max_rate")
	if [ -x "$BD_Q10" ]; then
		protos="v1 v2"
	else
		mq_note "qemu-dma: no QEMU 10 ($BD_Q10): v1 only"
	fi
	echo "# BENCH_INFO qemu_dma_settings samples=$n engine=$BD_ENGINE pages=$BD_PAGES" \
		"lag=$BD_LAG bw=$BD_BW downtime=$BD_DOWNTIME raised=$BD_RAISED hold=$BD_HOLD" \
		"mem=$MQ_MEM dma_max_rate=$max v2_extra=$V2_LIVE_PARAMS"
	for r in $BD_RATES; do
		[ "$r" != max ] || r=$max
		for p in $protos; do
			bd_use "$p"
			bd_point "$p" "$r" "$n"
			case $? in
			0) ;;
			3) return 1 ;;
			*) rc=1 ;;
			esac
		done
	done
	return $rc
}
