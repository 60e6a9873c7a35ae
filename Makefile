# SPDX-License-Identifier: GPL-2.0
#
# mig-mdev: a sample mdev vendor driver with a VFIO migration v1 region.
#
#   make            build the module against KDIR, the tools and selftests
#   make module     the module only (KDIR=/path/to/kernel/build)
#   make guest      the guest test program, build/guest/dmacheck.elf (docs/GUEST.md)
#   make help       list every target, with those of scripts/*.mk

include scripts/config.mk

KDIR ?= /lib/modules/$(shell uname -r)/build
BUILD ?= $(CURDIR)/build

.PHONY: all module tools selftests guest clean help

all: module tools selftests guest

module:
	@if [ ! -d "$(KDIR)" ]; then \
		echo "KDIR=$(KDIR) does not exist: point KDIR at a kernel build tree,"; \
		echo "e.g. make KDIR=/usr/src/linux-headers-$(KVER_61)"; exit 1; fi
	@echo "  MODULE  mig-mdev.ko against $(KDIR)"
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

tools:
	$(MAKE) -C tools BUILD=$(BUILD)

selftests: tools
	$(MAKE) -C selftests BUILD=$(BUILD)

guest:
	$(MAKE) -C guest BUILD=$(BUILD)

clean:
	-[ -d "$(KDIR)" ] && $(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD)

help:
	@sed -n 's/^#   //p' Makefile $(wildcard scripts/*.mk)

# make check, demo, vm-shell, initramfs: the VM test machinery
include scripts/vm.mk
include scripts/ecosystem.mk
include scripts/debug-kernel.mk
include scripts/bench.mk
include scripts/fuzz.mk
include scripts/fuzz-native.mk
