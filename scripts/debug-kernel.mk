# SPDX-License-Identifier: GPL-2.0
# The 6.12 debug kernel and the compile-only compat check (included from
# the Makefile).  See docs/TESTING.md.
#
#   make debug-kernel        build (or reuse) the 6.12 debug kernel in $(MIG_CACHE)
#   make debug-kernel FORCE=1  rebuild it even if cached
#   make debug-kernel-env    print KERNEL_IMAGE= MODULES_ROOT= KDIR= KVER= ...
#   make debug-kernel-boot   boot it once with a minimal initramfs (smoke test)
#   make debug-module        build mig-mdev.ko against it into build/debug-kernel/
#   make check-debug         make check, booting the debug kernel (TESTS= works)
#   make compat-check        build the module against every kernel, W=1 -Werror

DK_SCRIPTS := $(CURDIR)/scripts
DK_ENV := KVER_61="$(KVER_61)" MIG_CACHE="$(MIG_CACHE)" BUILD="$(BUILD)"

.PHONY: debug-kernel debug-kernel-env debug-kernel-boot debug-module compat-check \
	check-debug

debug-kernel:
	@$(DK_ENV) bash $(DK_SCRIPTS)/build-debug-kernel.sh $(if $(FORCE),--force)

debug-kernel-env:
	@$(DK_ENV) bash $(DK_SCRIPTS)/debug-kernel.sh env

debug-kernel-boot: debug-kernel
	@$(DK_ENV) bash $(DK_SCRIPTS)/debug-kernel.sh boot

debug-module: debug-kernel
	@$(DK_ENV) bash $(DK_SCRIPTS)/debug-kernel.sh module

compat-check:
	@$(DK_ENV) bash $(DK_SCRIPTS)/compat-check.sh

# make check with the debug kernel: scripts/lib.sh reads VM_KVER, VM_KERNEL,
# VM_KROOT and VM_KDIR from the environment.
# Its logs go to $(BUILD)/vm-debug; KASAN and lockdep slow every test down,
# so a program gets more time there.
check-debug: debug-kernel
	@eval "$$($(DK_ENV) bash $(DK_SCRIPTS)/debug-kernel.sh env)" && \
	export VM_KVER VM_KERNEL VM_KROOT VM_KDIR && \
	VMDIR="$(BUILD)/vm-debug" TEST_TIMEOUT="$${TEST_TIMEOUT:-1800}" \
	$(MAKE) --no-print-directory check-61
