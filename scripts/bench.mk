# SPDX-License-Identifier: GPL-2.0
# make bench (included from the Makefile).  See docs/BENCH.md.
#
#   make bench              boot the VM, run the benchmarks, write build/bench/
#   make bench-report       redo build/bench/ from the last run's TAP log

.PHONY: bench bench-report

bench:
	@$(VM_ENV) BENCH_REPS="$(BENCH_REPS)" BENCH_PARTS="$(BENCH_PARTS)" \
		bash $(CURDIR)/scripts/bench.sh

bench-report:
	@$(VM_ENV) BENCH_TAP="$(BUILD)/vm/tap.log" bash $(CURDIR)/scripts/bench.sh
