#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build what the VM tests: the module against the headers of the kernel the
# VM boots, then the tools and selftests (their binaries land in build/bin).
# Logs: build/vm/build-*.log.  Exits nonzero, naming the part, on failure.
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

KDIR=$VM_KDIR
mkdir -p "$VMDIR"
failed=()

step() {	# step NAME LOG CMD...: run CMD, output shown and kept in LOG
	local name=$1 log=$2 rc=0
	shift 2
	say BUILD "$name: $*"
	"$@" > "$log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		tail -n 40 "$log" | sed 's/^/    /'
		echo "BUILD FAILED: $name (exit $rc; full log: $log)"
		failed+=("$name")
		return 1
	fi
	grep -E 'warning:|error:' "$log" | head -n 20 | sed 's/^/    /' || true
}

[ -d "$KDIR" ] || die "no $KDIR: run scripts/deps.sh (package linux-headers-$KVER_61)"
if step module "$VMDIR/build-module.log" make -C "$MIG_TOP" module KDIR="$KDIR"; then
	vm=$(modinfo -F vermagic "$MIG_TOP/mig-mdev.ko" | cut -d' ' -f1)
	if [ "$vm" != "$VM_KVER" ]; then
		echo "BUILD FAILED: mig-mdev.ko has vermagic '$vm', the VM boots $VM_KVER"
		failed+=(vermagic)
	else
		say BUILD "mig-mdev.ko vermagic $vm matches the guest kernel"
	fi
else
	rm -f "$MIG_TOP/mig-mdev.ko"	# never pack a stale module
fi

if [ -f "$MIG_TOP/tools/Makefile" ]; then
	step tools "$VMDIR/build-tools.log" make -C "$MIG_TOP" tools || true
else
	say BUILD "tools: no tools/Makefile yet, skipped"
fi
if [ -f "$MIG_TOP/selftests/Makefile" ]; then
	step selftests "$VMDIR/build-selftests.log" make -C "$MIG_TOP" selftests || true
else
	say BUILD "selftests: no selftests/Makefile yet, skipped"
fi

if [ -f "$MIG_TOP/guest/Makefile" ]; then
	step guest "$VMDIR/build-guest.log" make -C "$MIG_TOP" guest || true
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "BUILD FAILED: ${failed[*]}"
	exit 1
fi
say BUILD "ok (binaries: $BUILD/bin)"
