#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Download and unpack the Debian kernel image the VM boots (no install into
# /boot): $MIG_CACHE/kernel/$KVER_61/root/{boot,lib/modules}.  Cached.
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

kdir=$MIG_CACHE/kernel/$KVER_61
stamp=$kdir/.done
if [ -f "$stamp" ] && [ -f "$KROOT/boot/vmlinuz-$KVER_61" ]; then
	say KERNEL "cached: $KROOT/boot/vmlinuz-$KVER_61"
	exit 0
fi

pkg=linux-image-$KVER_61-unsigned
mkdir -p "$MIG_CACHE/debs"
deb=$(ls "$MIG_CACHE/debs/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
	say KERNEL "apt-get download $pkg"
	if ! (cd "$MIG_CACHE/debs" && apt-get download -q "$pkg" >/dev/null 2>&1); then
		apt-get update -q >/dev/null 2>&1 || true
		(cd "$MIG_CACHE/debs" && apt-get download -q "$pkg") || {
			cat >&2 <<EOM
error: could not download $pkg.  Debian drops old kernel ABIs; pick the
current one with
    apt-cache depends linux-headers-amd64 | grep linux-headers-6.1
and set KVER_61 in scripts/config.mk, or run: make check KVER_61=6.1.0-NN-amd64
EOM
			exit 1
		}
	fi
	deb=$(ls "$MIG_CACHE/debs/${pkg}"_*.deb | head -n1)
fi

say KERNEL "unpacking $(basename "$deb")"
rm -rf "$kdir"
mkdir -p "$KROOT"
dpkg -x "$deb" "$KROOT"
[ -f "$KROOT/boot/vmlinuz-$KVER_61" ] || die "$deb has no boot/vmlinuz-$KVER_61"
depmod -b "$KROOT" "$KVER_61"
touch "$stamp"
say KERNEL "$KROOT/boot/vmlinuz-$KVER_61"
