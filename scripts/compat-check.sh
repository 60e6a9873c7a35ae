#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build mig-mdev.ko against every configured kernel tree, without booting,
# with W=1 and warnings as errors (KCFLAGS=-Werror):
#
#   6.1          Debian's headers, /usr/src/linux-headers-$KVER_61
#   6.12-debug   the project's 6.12 debug tree (make debug-kernel), if built
#
# Each build runs on a copy of the sources (*.c *.h Kbuild include/) in
# $BUILD/compat/<kernel>/, so the builds never clobber each other or the
# repository's own objects.  Logs: $BUILD/compat/<kernel>.log.
# Prints one line per kernel (OK, FAIL or SKIP); exit status 1 if any FAIL.
#
#   scripts/compat-check.sh [KERNEL...]      default: all of them
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/compat
mkdir -p "$OUT"
results=()
failed=0

check_one() {	# check_one NAME KDIR KVER
	local name=$1 kdir=$2 kver=$3 d=$OUT/$1 log=$OUT/$1.log vm
	if [ ! -f "$kdir/Makefile" ]; then
		results+=("SKIP $name ($kdir missing)")
		return 0
	fi
	rm -rf "$d"
	mkdir -p "$d"
	cp "$MIG_TOP"/*.c "$MIG_TOP"/*.h "$MIG_TOP/Kbuild" "$d/"
	cp -r "$MIG_TOP/include" "$d/"
	say BUILD "$name: make -C $kdir M=$d W=1 KCFLAGS=-Werror modules"
	if ! make -C "$kdir" M="$d" W=1 KCFLAGS=-Werror modules > "$log" 2>&1; then
		grep -E 'error:|warning:|Error [0-9]' "$log" | head -n 30 | sed 's/^/    /'
		results+=("FAIL $name ($kver): build failed, log $log")
		failed=1
		return 0
	fi
	vm=$(modinfo -F vermagic "$d/mig-mdev.ko" | cut -d' ' -f1)
	if [ "$vm" != "$kver" ]; then
		results+=("FAIL $name ($kver): mig-mdev.ko has vermagic $vm")
		failed=1
		return 0
	fi
	results+=("OK   $name ($kver): $d/mig-mdev.ko")
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(6.1 6.12-debug)
for k in "${want[@]}"; do
	case $k in
	6.1 | 61)
		check_one 6.1 "/usr/src/linux-headers-$KVER_61" "$KVER_61"
		;;
	6.12-debug | 612)
		if env=$(bash "$MIG_TOP/scripts/debug-kernel.sh" env 2>/dev/null); then
			eval "$env"
			check_one 6.12-debug "$KDIR" "$KVER"
		else
			results+=("SKIP 6.12-debug (not built: make debug-kernel)")
		fi
		;;
	*)
		die "unknown kernel $k (6.1, 6.12-debug)"
		;;
	esac
done

echo "== compat-check (W=1, -Werror) =="
printf '%s\n' "${results[@]}"
exit $failed
