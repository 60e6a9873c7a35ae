#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make fuzz-native: the stream parser and generator (mig_stream.c with
# mig_dev.c, mig_cfg.c, mig_state.c, compiled unchanged) under libFuzzer,
# AddressSanitizer and UBSan, in user space.  See docs/FUZZ.md, "Native
# fuzzing".  Two fuzz targets run one after the other: stream_fuzz_resume
# (streams fed to a resuming device) for two thirds of the time, then
# stream_fuzz_trip (programs run on a source, saved, resumed).
#
#   scripts/fuzz-native.sh              fuzz for FUZZ_NATIVE_TIME seconds
#   scripts/fuzz-native.sh replay FILE...  run inputs once, without libFuzzer
#   scripts/fuzz-native.sh corpus       rewrite tools/fuzz-native/corpus/
#
#   FUZZ_NATIVE_TIME    seconds of fuzzing (default 600)
#   FUZZ_NATIVE_SEED    libFuzzer's -seed (default 0: a new one each run)
#   FUZZ_NATIVE_MAXLEN  longest input, bytes (default 65536)
#   FUZZ_NATIVE_ARGS    more libFuzzer options
#
# One worker, under nice.  Each target reads its seed corpus
# (tools/fuzz-native/corpus/TARGET/); new inputs go to its work corpus
# $BUILD/fuzz-native/corpus/TARGET/, which later runs start from.  A crash,
# a sanitizer report or a property violation leaves the input in
# $BUILD/fuzz-native/ (TARGET-crash-*, -leak-*, -timeout-*, -oom-*), prints
# how to replay it, and the run exits 1.
set -uo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/fuzz-native
SRC=$MIG_TOP/tools/fuzz-native
SEEDS=$SRC/corpus
WORK=$OUT/corpus
FUZZ_NATIVE_TIME=${FUZZ_NATIVE_TIME:-600}
FUZZ_NATIVE_SEED=${FUZZ_NATIVE_SEED:-0}
FUZZ_NATIVE_MAXLEN=${FUZZ_NATIVE_MAXLEN:-65536}
FUZZ_NATIVE_ARGS=${FUZZ_NATIVE_ARGS:-}

build() {
	local missing=()
	command -v "${FUZZ_CC:-clang-14}" > /dev/null || missing+=(clang-14)
	[ -e /usr/include/xxhash.h ] || missing+=(libxxhash-dev)
	compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' \
		> /dev/null || missing+=(libclang-rt-14-dev)
	[ ${#missing[@]} -eq 0 ] ||
		die "missing ${missing[*]}: run scripts/deps.sh as root, or apt-get install ${missing[*]}"
	say BUILD "$OUT/stream_fuzz_resume, stream_fuzz_trip, stream_fuzz_replay"
	make -s -C "$SRC" BUILD="$BUILD" > "$OUT.build.log" 2>&1 || {
		cat "$OUT.build.log"
		die "the build failed ($OUT.build.log)"
	}
}

mkdir -p "$OUT"
case ${1:-fuzz} in
replay)
	shift
	[ $# -gt 0 ] || die "replay FILE...: which inputs?"
	build
	exec "$OUT/stream_fuzz_replay" "$@"
	;;
corpus)
	build
	# The seeds of older stream versions (v1-*, v2-*) are kept.
	rm -rf "${SEEDS:?}"/trip
	[ ! -d "$SEEDS"/resume ] ||
		find "$SEEDS"/resume -maxdepth 1 -type f ! -name 'v[0-9]-*' -delete
	mkdir -p "$SEEDS"
	exec "$OUT/stream_fuzz_replay" --make-corpus "$SEEDS"
	;;
fuzz) ;;
*) die "usage: $0 [replay FILE...|corpus]" ;;
esac

echo "== mig-mdev native fuzz: ${FUZZ_NATIVE_TIME}s, seed $FUZZ_NATIVE_SEED (0: random), one worker =="
build
# Reproducers of earlier runs are kept, out of the way of this one's.
shopt -s nullglob
artifacts() { echo "$OUT"/*-crash-* "$OUT"/*-leak-* "$OUT"/*-timeout-* "$OUT"/*-oom-*; }
read -r -a old <<< "$(artifacts)"
if [ ${#old[@]} -gt 0 ]; then
	mkdir -p "$OUT/previous"
	mv "${old[@]}" "$OUT/previous/"
	say KEEP "${#old[@]} reproducer(s) of an earlier run moved to $OUT/previous/"
fi
count() { find "$1" -maxdepth 1 -type f | wc -l; }

# run TARGET SECONDS: one fuzz target; its summary lines go to $sum
sum=()
total=0
bad=0
run() {
	local t=$1 secs=$2 log=$OUT/fuzz-$1.log pid rc n=0 line fin last
	mkdir -p "$WORK/$t"
	say FUZZ "$t ${secs}s: seeds $SEEDS/$t ($(count "$SEEDS/$t")), work corpus $WORK/$t ($(count "$WORK/$t")), log $log"
	# shellcheck disable=SC2086
	timeout -k 30 $((secs + 300)) nice -n 10 "$OUT/stream_fuzz_$t" \
		-max_total_time="$secs" -seed="$FUZZ_NATIVE_SEED" \
		-max_len="$FUZZ_NATIVE_MAXLEN" -timeout=25 -print_final_stats=1 \
		-dict="$SRC/stream.dict" -artifact_prefix="$OUT/$t-" \
		$FUZZ_NATIVE_ARGS "$WORK/$t" "$SEEDS/$t" > "$log" 2>&1 &
	pid=$!
	# libFuzzer's last status line every minute while it runs
	while kill -0 "$pid" 2> /dev/null; do
		sleep 2
		n=$((n + 1))
		[ $((n % 30)) -eq 0 ] || continue
		line=$(grep -E '^#[0-9]+' "$log" | tail -n1)
		[ -n "$line" ] && say RUN "$t $line"
	done
	wait "$pid"
	rc=$?
	fin=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1)
	last=${fin:-$(grep -E '^#[0-9]+' "$log" | tail -n1)}
	field() {
		local v
		v=$(sed -n "s/.* $1: \([^ ]*\).*/\1/p" <<< "$last")
		echo "${v:--}"
	}
	stat() {
		local v
		v=$(sed -n "s/^stat::$1:[[:space:]]*//p" "$log")
		echo "${v:--}"
	}
	sum+=("  $t: $(stat number_of_executed_units) executions in ${secs}s ($(stat average_exec_per_sec) exec/s), cov $(field cov), ft $(field ft), corpus $(field corp) (inputs/bytes), $(stat new_units_added) added, peak RSS $(stat peak_rss_mb) MB")
	n=$(stat number_of_executed_units)
	[[ $n =~ ^[0-9]+$ ]] && total=$((total + n))
	if [ "$rc" -ne 0 ] || [ -z "$fin" ]; then
		bad=1
		grep -E 'property violated|kshim: kernel bug|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' \
			"$log" | head -n 20 | sed "s/^/  $t: /"
		[ -n "$fin" ] || echo "  $t: libFuzzer did not finish (exit $rc): see $log"
	fi
}

resume_secs=$((FUZZ_NATIVE_TIME * 2 / 3))
run resume "$resume_secs"
run trip $((FUZZ_NATIVE_TIME - resume_secs))

echo "== native fuzz summary =="
printf '%s\n' "${sum[@]}"
echo "  total: $total executions; logs $OUT/fuzz-resume.log, $OUT/fuzz-trip.log"
read -r -a found <<< "$(artifacts)"
for f in "${found[@]}"; do
	echo "  reproducer   $f"
	echo "  replay       make fuzz-native-replay FILES=$f"
	echo "               (or: $OUT/stream_fuzz_replay $f; gdb --args ...)"
done
if [ "$bad" -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
	echo "fuzz-native: FAIL"
	exit 1
fi
echo "fuzz-native: PASS"
