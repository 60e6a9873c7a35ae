#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the project's 6.12 debug kernel (KASAN, lockdep, UBSAN, kmemleak,
# fault injection; VFIO built in) from Debian's linux-source-6.12:
# x86_64 defconfig + kvm_guest.config + scripts/debug-kernel.config, with
# the kernel fixes in patches/6.12/*.patch applied (patch -p1, in name
# order; see patches/README.md).
#
#   scripts/build-debug-kernel.sh            build, or reuse the cached build
#   scripts/build-debug-kernel.sh --force    rebuild even if cached
#   scripts/build-debug-kernel.sh --dir      print the cache dir for the current
#                                            key (built or not) and exit
#
# Output, outside the repository, keyed by a hash of the source package
# version, the fragment and the patches:
#   $MIG_CACHE/kernel-6.12-debug-<key>/
#     src/            the built tree: usable as KDIR (Module.symvers, .config)
#     vmlinuz         the bzImage
#     modroot/        make modules_install INSTALL_MOD_PATH=modroot, depmod'd
#     kver            the kernel release (make kernelrelease)
#     build.log       the make output
#     patches/        the patches applied (copies)
#     .configured     unpacked, patched and configured: an interrupted build resumes
#     .done           written last; its absence means an unfinished build
#
# Environment: MIG_CACHE (default from scripts/config.mk), JOBS (default 2),
# NICE (default 10).  Runs apt-get (as root) for missing build packages.
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

SRCPKG=linux-source-6.12
TARBALL=/usr/src/linux-source-6.12.tar.xz
FRAG=$MIG_TOP/scripts/debug-kernel.config
PATCHDIR=$MIG_TOP/patches/6.12
JOBS=${JOBS:-2}
NICE=${NICE:-10}
FORCE=0
case ${1:-} in
--force) FORCE=1 ;;
--dir) ;;
"") ;;
*) die "usage: $0 [--force|--dir]" ;;
esac

# ---- the cache key -----------------------------------------------------------
# the patches to apply, in name order (the glob sorts)
PATCHES=()
for p in "$PATCHDIR"/*.patch; do
	[ -f "$p" ] && PATCHES+=("$p")
done

# debug_kernel_key [PATCH...]: hash of (source package version + fragment +
# the patches); with no patches it is the key of the unpatched build
debug_kernel_key() {
	local ver p
	ver=$(dpkg-query -W -f='${Version}' "$SRCPKG" 2>/dev/null || true)
	[ -n "$ver" ] || return 1
	{
		echo "$SRCPKG $ver"
		cat "$FRAG"
		# name and content of each patch: renaming one changes the order
		for p in "$@"; do
			echo "patch $(basename "$p")"
			cat "$p"
		done
	} | sha256sum | cut -c1-12
}

if [ "${1:-}" = --dir ]; then
	key=$(debug_kernel_key "${PATCHES[@]}") || die "$SRCPKG is not installed (run $0 to install it and build)"
	echo "$MIG_CACHE/kernel-6.12-debug-$key"
	exit 0
fi

# ---- host packages -------------------------------------------------------------
pkgs=("$SRCPKG" make gcc libc6-dev bc bison flex libelf-dev libssl-dev cpio rsync
      xz-utils kmod perl python3 patch)
missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); as root: apt-get install -y ${missing[*]}"
	say DEPS "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	for p in "${missing[@]}"; do
		if ! apt-cache show "$p" > /dev/null 2>&1; then
			apt-get update -q > /dev/null
			break
		fi
	done
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ -f "$TARBALL" ] || die "$TARBALL missing although $SRCPKG is installed"

key=$(debug_kernel_key "${PATCHES[@]}")
OUT=$MIG_CACHE/kernel-6.12-debug-$key
SRC=$OUT/src
LOG=$OUT/build.log
mkdir -p "$MIG_CACHE"

# One build per key at a time (two `make` runs in one tree corrupt it).
exec 9> "$MIG_CACHE/.kernel-6.12-debug-$key.lock"
if ! flock -n 9; then
	say KERNEL "another build of $OUT is running; waiting for it"
	flock 9
fi

if [ $FORCE = 0 ] && [ -f "$OUT/.done" ] && [ -f "$OUT/vmlinuz" ]; then
	say KERNEL "cached: $OUT/vmlinuz ($(cat "$OUT/kver"))"
	exit 0
fi

t0=$(date +%s)
say KERNEL "6.12 debug kernel, key $key ($(dpkg-query -W -f='${Version}' "$SRCPKG"))"
say KERNEL "output: $OUT"
# An interrupted build of this key resumes (make is incremental) once its
# tree is unpacked and configured; --force starts from scratch.
if [ $FORCE = 0 ] && [ -f "$OUT/.configured" ] && [ -f "$SRC/.config" ] &&
	cmp -s "$FRAG" "$OUT/debug-kernel.config"; then
	say KERNEL "resuming the unfinished build in $SRC"
else
	rm -rf "$OUT"
	# A finished build of the same source and fragment without patches
	# has every object the patches do not touch: start from a copy of
	# it, and make rebuilds only what they change (minutes, not an hour
	# on a busy host).  Its configuration is this one: same fragment.
	base=$MIG_CACHE/kernel-6.12-debug-$(debug_kernel_key)
	seeded=0
	if [ ${#PATCHES[@]} -gt 0 ] && [ -f "$base/.done" ] && [ -f "$base/src/.config" ] &&
		cmp -s "$FRAG" "$base/debug-kernel.config"; then
		mkdir -p "$OUT"
		say SEED "copying the unpatched build $base/src"
		cp -a "$base/src" "$SRC"
		seeded=1
	else
		mkdir -p "$SRC"
		say UNPACK "$TARBALL"
		tar -xf "$TARBALL" -C "$SRC" --strip-components=1
	fi

	# ---- patch ---------------------------------------------------------------------
	mkdir -p "$OUT/patches"
	for p in "${PATCHES[@]}"; do
		say PATCH "$(basename "$p")"
		patch -d "$SRC" -p1 -N --no-backup-if-mismatch < "$p" > "$OUT/patch.log" 2>&1 ||
			{ cat "$OUT/patch.log" >&2; die "$(basename "$p") does not apply to $SRCPKG"; }
		cp "$p" "$OUT/patches/"
	done

	# ---- configure -----------------------------------------------------------------
	cp "$FRAG" "$OUT/debug-kernel.config"
	if [ $seeded = 1 ]; then
		say CONFIG "the unpatched build's (same fragment)"
	else
		say CONFIG "x86_64_defconfig + kvm_guest.config + $(basename "$FRAG")"
		(
			cd "$SRC"
			scripts/kconfig/merge_config.sh -m arch/x86/configs/x86_64_defconfig \
				kernel/configs/kvm_guest.config "$OUT/debug-kernel.config"
			make ARCH=x86_64 olddefconfig
		) > "$OUT/config.log" 2>&1 || { tail -n 30 "$OUT/config.log"; die "configuring failed (log: $OUT/config.log)"; }
	fi

	# Every option of the fragment must have taken.
	bad=()
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			opt=${line%%=*}; want=${line#*=}; want=${want#\"}; want=${want%\"}
			;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }; opt=${opt%% *}; want=n
			;;
		*) continue ;;
		esac
		got=$("$SRC/scripts/config" --file "$SRC/.config" -s "${opt#CONFIG_}")
		if [ "$want" = n ]; then
			case $got in n | undef) continue ;; esac
		elif [ "$got" = "$want" ]; then
			continue
		fi
		bad+=("$opt: wanted $want, got $got")
	done < "$FRAG"
	if [ ${#bad[@]} -gt 0 ]; then
		echo "error: ${#bad[@]} option(s) of $(basename "$FRAG") did not take (missing dependency?):" >&2
		printf '    %s\n' "${bad[@]}" >&2
		echo "  the merged config: $SRC/.config" >&2
		exit 1
	fi
	say CONFIG "all $(grep -cE '^CONFIG_|^# CONFIG_.* is not set' "$FRAG") options of the fragment took"
	touch "$OUT/.configured"
fi

# ---- build -----------------------------------------------------------------------
say BUILD "nice -n $NICE make -j$JOBS bzImage modules (about 10 min on 2 cores)"
say LOG "$LOG"
tb=$(date +%s)
if ! (cd "$SRC" && nice -n "$NICE" make -j"$JOBS" bzImage modules) > "$LOG" 2>&1; then
	grep -E 'error:|Error [0-9]' "$LOG" | head -n 20 | sed 's/^/    /'
	die "kernel build failed after $(($(date +%s) - tb))s (log: $LOG)"
fi
say BUILD "done in $(($(date +%s) - tb))s"

kver=$(make -s -C "$SRC" kernelrelease)
(cd "$SRC" && make INSTALL_MOD_PATH="$OUT/modroot" modules_install) >> "$LOG" 2>&1 ||
	die "modules_install failed (log: $LOG)"
depmod -b "$OUT/modroot" "$kver"
# the source/build links modules_install makes point into the tree: fine (KDIR)
cp "$SRC/arch/x86/boot/bzImage" "$OUT/vmlinuz"
echo "$kver" > "$OUT/kver"
[ -f "$SRC/Module.symvers" ] || die "no $SRC/Module.symvers after the build"
touch "$OUT/.done"
say KERNEL "$OUT/vmlinuz ($kver)"
say KDIR "$SRC"
say TIME "$(($(date +%s) - t0))s in all"
