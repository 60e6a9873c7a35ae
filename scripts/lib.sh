#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Common helpers for the VM test machinery; sourced by the other scripts.
# Reads KVER_61 and MIG_CACHE from the environment, falling back to
# scripts/config.mk, the one place that names the kernel version.

MIG_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MIG_TOP

mig_conf() {	# mig_conf VAR: value of "VAR ?= value" in scripts/config.mk
	sed -n "s/^$1[[:space:]]*?=[[:space:]]*//p" "$MIG_TOP/scripts/config.mk" | tail -n1
}

: "${KVER_61:=$(mig_conf KVER_61)}"
: "${MIG_CACHE:=$(mig_conf MIG_CACHE)}"
: "${MIG_CACHE:=/var/cache/mig-mdev}"
: "${BUILD:=$MIG_TOP/build}"
: "${VMDIR:=$BUILD/vm}"
export KVER_61 MIG_CACHE BUILD VMDIR

# The unpacked guest kernel: $KROOT/boot/vmlinuz-$KVER_61, $KROOT/lib/modules/$KVER_61
KROOT=$MIG_CACHE/kernel/$KVER_61/root
export KROOT

# The kernel the VM boots: Debian's $KVER_61 unless these are set (e.g. to a
# kernel built from source): its release, its bzImage, a root holding its
# lib/modules/$VM_KVER, and the build tree to compile the module against.
: "${VM_KVER:=$KVER_61}"
: "${VM_KERNEL:=$KROOT/boot/vmlinuz-$KVER_61}"
: "${VM_KROOT:=$KROOT}"
: "${VM_KDIR:=/usr/src/linux-headers-$KVER_61}"
export VM_KVER VM_KERNEL VM_KROOT VM_KDIR

say() { printf '  %-8s %s\n' "$1" "$2"; }
die() { echo "error: $*" >&2; exit 1; }
