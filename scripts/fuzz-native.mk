# SPDX-License-Identifier: GPL-2.0
# make fuzz-native (included from the Makefile).  See docs/FUZZ.md,
# "Native fuzzing".
#
#   make fuzz-native             fuzz the stream code in user space (libFuzzer, ASan, UBSan) for FUZZ_NATIVE_TIME s (600)
#   make fuzz-native FUZZ_NATIVE_SEED=N   a fixed libFuzzer seed (CI: 60 s, seed 1)
#   make fuzz-native-replay FILES="f..."  run inputs (a crash-* reproducer) once, without libFuzzer
#   make fuzz-native-corpus      rewrite tools/fuzz-native/corpus/ with the harness's own generator
#
# Needs clang-14, libclang-rt-14-dev and libxxhash-dev (scripts/deps.sh).

FUZZ_NATIVE_ENV := BUILD="$(BUILD)" FUZZ_NATIVE_TIME="$(FUZZ_NATIVE_TIME)" \
	FUZZ_NATIVE_SEED="$(FUZZ_NATIVE_SEED)" \
	FUZZ_NATIVE_MAXLEN="$(FUZZ_NATIVE_MAXLEN)" \
	FUZZ_NATIVE_ARGS="$(FUZZ_NATIVE_ARGS)"

.PHONY: fuzz-native fuzz-native-replay fuzz-native-corpus

fuzz-native:
	@$(FUZZ_NATIVE_ENV) bash $(CURDIR)/scripts/fuzz-native.sh

fuzz-native-replay:
	@$(FUZZ_NATIVE_ENV) bash $(CURDIR)/scripts/fuzz-native.sh replay $(FILES)

fuzz-native-corpus:
	@$(FUZZ_NATIVE_ENV) bash $(CURDIR)/scripts/fuzz-native.sh corpus
