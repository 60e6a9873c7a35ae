#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install (as root, with apt-get) whatever the VM test machinery and the
# native fuzzer (clang, libFuzzer and the sanitizer runtimes, libxxhash) need
# and is missing.  Quick and silent when everything is there already.
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

pkgs=(qemu-system-x86 busybox-static cpio kmod sparse make gcc binutils libc6-dev
      xz-utils gzip "linux-headers-$KVER_61" linux-source-6.1 mdevctl
      clang-14 libclang-rt-14-dev libxxhash-dev)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	say DEPS "all present (kernel ABI $KVER_61)"
	exit 0
fi

kver_help() {
	cat >&2 <<EOM
error: the Debian archive has no package for kernel ABI $KVER_61 (old ABIs are
dropped from the archive).  Pick the current one with
    apt-cache depends linux-headers-amd64 | grep linux-headers-6.1
and set KVER_61 in scripts/config.mk, or run e.g.
    make check KVER_61=6.1.0-NN-amd64
EOM
	exit 1
}

[ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); run as root: apt-get install -y ${missing[*]}"
say DEPS "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Update the package lists once if any missing package is unknown to apt.
need_update=0
for p in "${missing[@]}"; do
	apt-cache show "$p" >/dev/null 2>&1 || need_update=1
done
if [ $need_update = 1 ]; then
	say DEPS "apt-get update"
	apt-get update -q >/dev/null || apt-get update -q
fi
for p in "${missing[@]}"; do
	if ! apt-cache show "$p" >/dev/null 2>&1; then
		case $p in
		*"$KVER_61"*) kver_help ;;
		*) die "package $p not found in the archive" ;;
		esac
	fi
done
apt-get install -y -q --no-install-recommends "${missing[@]}"
