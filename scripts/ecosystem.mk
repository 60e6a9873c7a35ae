# SPDX-License-Identifier: GPL-2.0
# The module among the tools of a real host (included from the Makefile).
# See docs/ECOSYSTEM.md.
#
#   make lint               checkpatch --strict, sparse, W=1, cppcheck, kernel-doc
#   make lint LINT_STEPS="a b" only those steps (checkpatch sparse w1 cppcheck kernel-doc)
#   make dkms-test          dkms add/build/remove for KVER_61 (root; leaves no trace)

LINT_STEPS ?=
ECO_ENV := KVER_61="$(KVER_61)" MIG_CACHE="$(MIG_CACHE)" BUILD="$(BUILD)"

.PHONY: lint dkms-test

lint:
	@$(ECO_ENV) bash $(CURDIR)/scripts/lint.sh $(LINT_STEPS)

dkms-test:
	@$(ECO_ENV) bash $(CURDIR)/scripts/dkms-test.sh
