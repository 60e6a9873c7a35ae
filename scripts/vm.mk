# SPDX-License-Identifier: GPL-2.0
# The VM test machinery (included from the Makefile).  See docs/TESTING.md.
#
#   make check              the suite on Debian's 6.1 and on the 6.12 debug kernel, one total
#   make check KERNEL=61    only on 6.1 (612: only on the debug kernel, built first if needed)
#   make check TESTS="a b"  run only those TESTS programs
#   make demo               boot the VM and run selftests/qemu/demo.sh
#   make vm-shell           boot the VM with a shell on this terminal
#   make initramfs          build everything and pack build/vm/initramfs.cpio.gz
#   make vm-deps            install the host packages the VM tests need
#   make vm-qemu10          fetch QEMU 10.0 (bookworm-backports) into the cache

VM_SCRIPTS := $(CURDIR)/scripts
# What the scripts read from the environment.
VM_ENV := KVER_61="$(KVER_61)" MIG_CACHE="$(MIG_CACHE)" BUILD="$(BUILD)" \
	MIG_TESTS="$(TESTS)"

.PHONY: check check-61 demo vm-shell initramfs vm-deps vm-kernel vm-qemu10 vm-run

KERNEL ?= all

check:
	@KERNEL="$(KERNEL)" bash $(VM_SCRIPTS)/check-all.sh

# the suite on one kernel: Debian's 6.1 unless VM_KVER and friends say else
check-61:
	@$(VM_ENV) bash $(VM_SCRIPTS)/check.sh check

demo:
	@$(VM_ENV) bash $(VM_SCRIPTS)/check.sh demo

vm-shell:
	@$(VM_ENV) KEEP_GOING=1 bash $(VM_SCRIPTS)/check.sh shell

initramfs:
	@$(VM_ENV) bash $(VM_SCRIPTS)/check.sh initramfs

vm-deps:
	@$(VM_ENV) bash $(VM_SCRIPTS)/deps.sh

vm-kernel:
	@$(VM_ENV) bash $(VM_SCRIPTS)/fetch-kernel.sh

vm-qemu10:
	@$(VM_ENV) bash $(VM_SCRIPTS)/fetch-qemu10.sh

# boot the VM with the initramfs already built (no rebuild)
vm-run:
	@$(VM_ENV) bash $(VM_SCRIPTS)/run-vm.sh check
