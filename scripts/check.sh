#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The whole pipeline behind make check / demo / vm-shell / initramfs:
# dependencies, guest kernel, build, initramfs, boot, totals.
#
#   scripts/check.sh check|demo|shell|initramfs
#
# A failure before the boot (dependencies, kernel, build, initramfs) ends
# with "0 passed, 1 failed".  KEEP_GOING=1 boots even when the build failed
# (the guest then reports the missing pieces as failed tests).
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

MODE=${1:-check}
S=$MIG_TOP/scripts
mkdir -p "$VMDIR"
t0=$(date +%s)

prefail() {	# prefail STEP: a step before the boot failed
	echo "FAIL $1 (see the messages above)"
	echo "0 passed, 1 failed"
	exit 1
}

echo "== mig-mdev $MODE: kernel $VM_KVER, cache $MIG_CACHE, output $VMDIR =="
bash "$S/deps.sh" || prefail "dependencies"
if [ "$VM_KVER" = "$KVER_61" ]; then
	bash "$S/fetch-kernel.sh" || prefail "guest kernel $KVER_61"
fi
bash "$S/fetch-qemu10.sh" || prefail "QEMU 10 from bookworm-backports"
if ! bash "$S/build.sh"; then
	if [ "${KEEP_GOING:-0}" = 1 ] && [ "$MODE" != initramfs ]; then
		echo "  KEEP_GOING=1: booting anyway"
	else
		prefail "build"
	fi
fi
tb=$(date +%s)
bash "$S/mkinitramfs.sh" || prefail "initramfs"
if [ "$MODE" = initramfs ]; then
	exit 0
fi
rc=0
MIG_NO_TOTALS=1 bash "$S/run-vm.sh" "$MODE" || rc=$?
if [ "$MODE" != shell ]; then
	echo "  TIME     $(($(date +%s) - t0))s in all (build $((tb - t0))s)"
	# the totals, last and alone on their line
	tail -n1 "$VMDIR/totals"
fi
exit $rc
