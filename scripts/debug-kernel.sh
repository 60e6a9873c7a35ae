#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The 6.12 debug kernel, for the rest of the machinery.
#
#   scripts/debug-kernel.sh env      print shell assignments (eval-able):
#                                    KERNEL_IMAGE MODULES_ROOT KDIR KVER
#                                    DEBUG_KERNEL_DIR KMODULES MIG_KO, and
#                                    VM_KVER VM_KERNEL VM_KROOT VM_KDIR (the
#                                    same, as scripts/lib.sh names them)
#                                    exit 1 (message on stderr) if not built
#   scripts/debug-kernel.sh dir      the cache dir of the current key
#   scripts/debug-kernel.sh build    scripts/build-debug-kernel.sh [--force]
#   scripts/debug-kernel.sh module   build mig-mdev.ko against it, into
#                                    $BUILD/debug-kernel/module/ (not the repo root)
#   scripts/debug-kernel.sh boot     boot it once with a minimal busybox
#                                    initramfs of its own: proves it boots and
#                                    that kmemleak, failslab, fail_page_alloc,
#                                    tracefs, /dev/vfio/vfio and mdev are live
#
# KMODULES is what the guest must insmod, in order, for the vfio/mdev stack
# (VFIO, type1 and iommufd are built in; only mdev.ko is a module).
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

S=$MIG_TOP/scripts
DBG_BUILD=$BUILD/debug-kernel

dk_dir() { bash "$S/build-debug-kernel.sh" --dir; }

dk_load() {	# set KERNEL_IMAGE ... from the cache, or fail
	DEBUG_KERNEL_DIR=$(dk_dir) || return 1
	if [ ! -f "$DEBUG_KERNEL_DIR/.done" ] || [ ! -f "$DEBUG_KERNEL_DIR/vmlinuz" ]; then
		echo "error: the 6.12 debug kernel is not built ($DEBUG_KERNEL_DIR);" \
			"run: make debug-kernel" >&2
		return 1
	fi
	KVER=$(cat "$DEBUG_KERNEL_DIR/kver")
	KERNEL_IMAGE=$DEBUG_KERNEL_DIR/vmlinuz
	MODULES_ROOT=$DEBUG_KERNEL_DIR/modroot
	KDIR=$DEBUG_KERNEL_DIR/src
	KMODULES="mdev"
	MIG_KO=$DBG_BUILD/module/mig-mdev.ko
}

cmd=${1:-env}
[ $# -gt 0 ] && shift
case $cmd in
env)
	dk_load || exit 1
	for v in KERNEL_IMAGE MODULES_ROOT KDIR KVER DEBUG_KERNEL_DIR KMODULES MIG_KO; do
		printf '%s=%q\n' "$v" "${!v}"
	done
	# the same, under the names scripts/lib.sh (make check) reads
	printf 'VM_KVER=%q\nVM_KERNEL=%q\nVM_KROOT=%q\nVM_KDIR=%q\n' \
		"$KVER" "$KERNEL_IMAGE" "$MODULES_ROOT" "$KDIR"
	;;
dir)
	dk_dir
	;;
build)
	exec bash "$S/build-debug-kernel.sh" "$@"
	;;
module)
	dk_load || exit 1
	d=$DBG_BUILD/module
	rm -rf "$d"
	mkdir -p "$d"
	cp "$MIG_TOP"/*.c "$MIG_TOP"/*.h "$MIG_TOP/Kbuild" "$d/"
	cp -r "$MIG_TOP/include" "$d/"
	say MODULE "mig-mdev.ko against $KVER ($KDIR)"
	make -C "$KDIR" M="$d" modules > "$d/build.log" 2>&1 ||
		{ grep -E 'error|warning' "$d/build.log" | head -n 30; die "module build failed (log: $d/build.log)"; }
	vm=$(modinfo -F vermagic "$d/mig-mdev.ko" | cut -d' ' -f1)
	[ "$vm" = "$KVER" ] || die "vermagic $vm != $KVER"
	say MODULE "$d/mig-mdev.ko"
	;;
boot)
	dk_load || exit 1
	BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
	d=$DBG_BUILD/smoke
	st=$d/root
	rm -rf "$d"
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,lib/modules}
	cp /bin/busybox "$st/bin/busybox"
	file -L /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not busybox-static"
	/bin/busybox --list-full | while read -r a; do
		[ -e "$st/$a" ] || ln -s /bin/busybox "$st/$a"
	done
	# mdev.ko and the mtty sample, to prove modules load into this kernel
	mkdir -p "$st/lib/modules/$KVER"
	for m in mdev mtty; do
		f=$(modinfo -b "$MODULES_ROOT" -k "$KVER" -F filename "$m")
		cp "$f" "$st/lib/modules/$KVER/$m.ko"
	done
	cat > "$st/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
echo "SMOKE: init at uptime $(cut -d' ' -f1 /proc/uptime)s"
echo "SMOKE: $(cat /proc/version)"
check() {	# check NAME TEST...
	n=$1; shift
	if "$@"; then echo "SMOKE-OK $n"; else echo "SMOKE-FAIL $n"; fi
}
check kmemleak test -e /sys/kernel/debug/kmemleak
check failslab test -e /sys/kernel/debug/failslab/probability
check fail_page_alloc test -e /sys/kernel/debug/fail_page_alloc/probability
check tracefs test -e /sys/kernel/tracing/trace
check vfio-container test -c /dev/vfio/vfio
check iommufd test -c /dev/iommu
check kasan sh -c 'dmesg | grep -q "KernelAddressSanitizer initialized"'
check lockdep test -e /proc/lockdep
check insmod-mdev insmod /lib/modules/$(uname -r)/mdev.ko
check insmod-mtty insmod /lib/modules/$(uname -r)/mtty.ko
check mtty-types test -d /sys/class/mtty/mtty/mdev_supported_types
u=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
check mtty-create sh -c "echo $u > /sys/class/mtty/mtty/mdev_supported_types/mtty-2/create"
check mtty-group test -L /sys/bus/mdev/devices/$u/iommu_group
check mtty-remove sh -c "echo 1 > /sys/bus/mdev/devices/$u/remove"
check rmmod-mtty rmmod mtty
check kmemleak-scan sh -c 'echo scan > /sys/kernel/debug/kmemleak'
echo "SMOKE: kmemleak report: $(cat /sys/kernel/debug/kmemleak | head -n 20)"
echo "SMOKE: done at uptime $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
EOF
	chmod 0755 "$st/init"
	(cd "$st" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 > "$d/initramfs.cpio.gz"
	log=$d/console.log
	say VM "booting $KVER (TCG, 3072 MiB, 2 CPUs), timeout ${BOOT_TIMEOUT}s"
	say LOG "$log"
	t0=$(date +%s.%N)
	rc=0
	timeout -k 10 "$BOOT_TIMEOUT" qemu-system-x86_64 -accel tcg -m 3072 -smp 2 \
		-nographic -no-reboot -nic none -monitor none -serial "file:$log" \
		-kernel "$KERNEL_IMAGE" -initrd "$d/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 quiet" < /dev/null > "$d/qemu.log" 2>&1 || rc=$?
	secs=$(echo "$(date +%s.%N) - $t0" | bc)
	# (firmware escape sequences may precede the first line of /init)
	tr -d '\r' < "$log" | sed 's/^.*\(SMOKE[-:]\)/\1/' > "$d/console.txt"
	grep -a '^SMOKE' "$d/console.txt" | sed 's/^/  | /'
	hits=$(grep -aE 'BUG:|WARNING:|Oops|KASAN|UBSAN|possible circular|unreferenced object|Call Trace:' "$d/console.txt" || true)
	fails=$(grep -ac '^SMOKE-FAIL' "$d/console.txt" || true)
	oks=$(grep -ac '^SMOKE-OK' "$d/console.txt" || true)
	say TIME "QEMU exited with status $rc after ${secs%.*}s ($(sed -n 's/^SMOKE: init at uptime //p' "$d/console.txt") to /init)"
	if [ -n "$hits" ]; then
		echo "== kernel log: offending lines =="
		echo "$hits" | head -n 30 | sed 's/^/  /'
	fi
	if [ "$rc" != 0 ] || [ "$fails" != 0 ] || [ "$oks" = 0 ] || [ -n "$hits" ] ||
		! grep -aq '^SMOKE: done' "$d/console.txt"; then
		echo "debug kernel boot: FAIL ($oks ok, $fails failed; console: $log)"
		exit 1
	fi
	echo "debug kernel boot: OK ($oks checks)"
	;;
*)
	die "usage: $0 env|dir|build [--force]|module|boot"
	;;
esac
