# SPDX-License-Identifier: GPL-2.0
# make fuzz (included from the Makefile).  See docs/FUZZ.md.
#
#   make fuzz                    fuzz the module in the VM for FUZZ_TIME seconds (300)
#   make fuzz FUZZ_SEED=S [FUZZ_OPS=N]   replay a seed
#
# Boots the 6.12 debug kernel if it is built (else Debian's 6.1, and says
# so); FUZZ_KERNEL=61|612 forces one.  FUZZ_ROUND: seconds per seed (60).

FUZZ_ENV := KVER_61="$(KVER_61)" MIG_CACHE="$(MIG_CACHE)" BUILD="$(BUILD)" \
	FUZZ_TIME="$(FUZZ_TIME)" FUZZ_ROUND="$(FUZZ_ROUND)" \
	FUZZ_SEED="$(FUZZ_SEED)" FUZZ_OPS="$(FUZZ_OPS)" \
	FUZZ_KERNEL="$(FUZZ_KERNEL)" FUZZ_VERBOSE="$(FUZZ_VERBOSE)"

.PHONY: fuzz

fuzz:
	@$(FUZZ_ENV) bash $(CURDIR)/scripts/fuzz.sh
