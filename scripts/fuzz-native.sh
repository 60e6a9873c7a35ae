#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make fuzz-native: the stream parser and generator (mig_stream.c with
# mig_dev.c, mig_cfg.c, mig_state.c, compiled unchanged) under libFuzzer,
# AddressSanitizer and UBSan, in user space.  See docs/FUZZ.md, "Native
# fuzzing".
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
# One worker, under nice.  The seed corpus (tools/fuzz-native/corpus/) is
# read; new inputs go to the work corpus $BUILD/fuzz-native/corpus/, which
# later runs start from.  A crash, a sanitizer report or a property
# violation leaves its input in $BUILD/fuzz-native/ (crash-*, leak-*,
# timeout-*, oom-*), prints how to replay it and exits 1.
set -uo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/fuzz-native
SRC=$MIG_TOP/tools/fuzz-native
SEEDS=$SRC/corpus
WORK=$OUT/corpus
LOG=$OUT/fuzz.log
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
	say BUILD "$OUT/stream_fuzz, stream_fuzz_replay"
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
	rm -f "$SEEDS"/*
	mkdir -p "$SEEDS"
	exec "$OUT/stream_fuzz_replay" --make-corpus "$SEEDS"
	;;
fuzz) ;;
*) die "usage: $0 [replay FILE...|corpus]" ;;
esac

echo "== mig-mdev native fuzz: ${FUZZ_NATIVE_TIME}s, seed $FUZZ_NATIVE_SEED (0: random), one worker =="
build
mkdir -p "$WORK"
# Reproducers of earlier runs are kept, out of the way of this one's.
shopt -s nullglob
old=("$OUT"/crash-* "$OUT"/leak-* "$OUT"/timeout-* "$OUT"/oom-*)
if [ ${#old[@]} -gt 0 ]; then
	mkdir -p "$OUT/previous"
	mv "${old[@]}" "$OUT/previous/"
	say KEEP "${#old[@]} reproducer(s) of an earlier run moved to $OUT/previous/"
fi
count() { find "$1" -maxdepth 1 -type f | wc -l; }
say FUZZ "seeds $SEEDS ($(count "$SEEDS")), work corpus $WORK ($(count "$WORK")), log $LOG"

# shellcheck disable=SC2086
timeout -k 30 $((FUZZ_NATIVE_TIME + 300)) nice -n 10 "$OUT/stream_fuzz" \
	-max_total_time="$FUZZ_NATIVE_TIME" -seed="$FUZZ_NATIVE_SEED" \
	-max_len="$FUZZ_NATIVE_MAXLEN" -timeout=25 -print_final_stats=1 \
	-dict="$SRC/stream.dict" -artifact_prefix="$OUT/" \
	$FUZZ_NATIVE_ARGS "$WORK" "$SEEDS" > "$LOG" 2>&1 &
pid=$!
# libFuzzer's last status line every minute while it runs.
n=0
while kill -0 "$pid" 2> /dev/null; do
	sleep 2
	n=$((n + 1))
	[ $((n % 30)) -eq 0 ] || continue
	line=$(grep -E '^#[0-9]+' "$LOG" | tail -n1)
	[ -n "$line" ] && say RUN "$line"
done
wait "$pid"
rc=$?

done=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$LOG" | tail -n1)
last=${done:-$(grep -E '^#[0-9]+' "$LOG" | tail -n1)}
field() {
	local v
	v=$(sed -n "s/.* $1: \([^ ]*\).*/\1/p" <<< "$last")
	echo "${v:--}"
}
stat() {
	local v
	v=$(sed -n "s/^stat::$1:[[:space:]]*//p" "$LOG")
	echo "${v:--}"
}
echo "== native fuzz summary =="
echo "  executions   $(stat number_of_executed_units) (${FUZZ_NATIVE_TIME}s, $(stat average_exec_per_sec) exec/s)"
echo "  coverage     cov $(field cov), ft $(field ft)"
echo "  corpus       $(field corp) (inputs/bytes), $(stat new_units_added) added this run; $WORK"
echo "  peak RSS     $(stat peak_rss_mb) MB; log $LOG"

found=("$OUT"/crash-* "$OUT"/leak-* "$OUT"/timeout-* "$OUT"/oom-*)
if [ "$rc" -ne 0 ] || [ ${#found[@]} -gt 0 ] || [ -z "$done" ]; then
	grep -E 'property violated|kshim: kernel bug|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' \
		"$LOG" | head -n 20 | sed 's/^/  /'
	for f in "${found[@]}"; do
		echo "  reproducer   $f"
		echo "  replay       make fuzz-native-replay FILES=$f"
		echo "               (or: $OUT/stream_fuzz_replay $f; gdb --args ...)"
	done
	[ -n "$done" ] || echo "  libFuzzer did not finish (exit $rc): see $LOG"
	echo "fuzz-native: FAIL"
	exit 1
fi
echo "fuzz-native: PASS"
