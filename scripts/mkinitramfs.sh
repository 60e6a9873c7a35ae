#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Pack the test VM's initramfs: build/vm/initramfs.cpio.gz.
#
#   /init                     scripts/guest-init.sh
#   /bin, /sbin, /usr/...     busybox-static and its applet links
#   /lib/modules/$VM_KVER     the vfio modules and their dependencies
#   /mig/modules.list         those modules, in load order
#   /mig/mig-mdev.ko          the module under test (if it was built)
#   /mig/bin/                 build/bin/* (tools, selftest programs)
#   /mig/selftests/           selftests/*.sh and selftests/qemu/
#   /mig/TESTS                selftests/TESTS
#   /mig/guest/dmacheck.elf   the guest test program (guest/, docs/GUEST.md)
#   QEMU 7.2                  qemu-system-x86_64, its libraries, accel
#                             modules and x86 firmware, at their host paths
#   /opt/qemu10/              QEMU 10.0: bin/qemu-system-x86_64, share/qemu
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

MODLIB=$VM_KROOT/lib/modules/$VM_KVER
[ -f "$MODLIB/modules.dep" ] || die "no $MODLIB/modules.dep: run scripts/fetch-kernel.sh first"

ST=$VMDIR/initramfs.d
OUT=$VMDIR/initramfs.cpio.gz
rm -rf "$ST"
mkdir -p "$ST"/{bin,sbin,usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run,root,etc,mig/bin,mig/selftests}
ln -s usr/lib "$ST/lib"
ln -s usr/lib64 "$ST/lib64"

# ---- busybox -------------------------------------------------------------
BB=/bin/busybox
file -L "$BB" 2>/dev/null | grep -q 'statically linked' ||
	[ "$(dpkg-query -W -f='${db:Status-Status}' busybox-static 2>/dev/null)" = installed ] ||
	die "$BB is not busybox-static (apt-get install busybox-static)"
cp "$BB" "$ST/bin/busybox"
"$BB" --list-full | while read -r a; do
	if [ ! -e "$ST/$a" ] && [ ! -L "$ST/$a" ]; then ln -s /bin/busybox "$ST/$a"; fi
done
install -m 0755 "$MIG_TOP/scripts/guest-init.sh" "$ST/init"

cat > "$ST/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$ST/etc/group" <<'EOF'
root:x:0:
kvm:x:104:
nogroup:x:65534:
EOF
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost\n' > "$ST/etc/hosts"
echo 'hosts: files' > "$ST/etc/nsswitch.conf"
echo mig-vm > "$ST/etc/hostname"

# ---- shared libraries of an ELF file --------------------------------------
copy_file() {	# copy_file PATH: copy PATH (links followed) to the same path in the image
	local dst=$ST$1
	if [ -e "$dst" ]; then return 0; fi
	mkdir -p "$(dirname "$dst")"
	cp -L "$1" "$dst"
}
copy_libs() {	# copy_libs ELF...: copy every library ldd names, and the loader
	local f l
	for f in "$@"; do
		{ ldd "$f" 2>/dev/null || true; } | awk '
			$2 == "=>" && $3 ~ /^\// { print $3; next }
			$1 ~ /^\// { print $1 }' |
		while read -r l; do
			copy_file "$l"
		done
	done
}

# ---- kernel modules ------------------------------------------------------
declare -A seen=()
order=()
resolve() {	# resolve NAME: append NAME's dependencies, then NAME, to order
	local name=${1//-/_} dep deps
	if [ -n "${seen[$name]:-}" ]; then return 0; fi
	seen[$name]=1
	if ! deps=$(modinfo -b "$VM_KROOT" -k "$VM_KVER" -F depends "$name" 2>/dev/null); then
		say MODULES "WARNING: $name is not in $MODLIB (built in? merged?), skipped"
		return 0
	fi
	for dep in ${deps//,/ }; do
		resolve "$dep"
	done
	order+=("$name")
}
wanted=(irqbypass vfio vfio_iommu_type1 mdev vfio_virqfd)
KO=$MIG_TOP/mig-mdev.ko
if [ -f "$KO" ]; then
	for d in $(modinfo -F depends "$KO" | tr ',' ' '); do wanted+=("$d"); done
fi
for m in "${wanted[@]}"; do resolve "$m"; done

: > "$ST/mig/modules.list"
for m in "${order[@]}"; do
	src=$(modinfo -b "$VM_KROOT" -k "$VM_KVER" -F filename "$m")
	case $src in /*) ;; *) continue ;; esac	# (builtin)
	rel=${src#"$VM_KROOT"}
	rel=${rel%.xz}
	rel=${rel%.zst}
	rel=${rel%.gz}
	mkdir -p "$ST$(dirname "$rel")"
	case $src in
	*.ko.xz) xz -dc "$src" > "$ST$rel" ;;
	*.ko.zst) zstd -qdc "$src" > "$ST$rel" ;;
	*.ko.gz) gzip -dc "$src" > "$ST$rel" ;;
	*) cp "$src" "$ST$rel" ;;
	esac
	echo "$rel" >> "$ST/mig/modules.list"
done
cp "$MODLIB"/modules.{order,builtin,builtin.modinfo} "$ST/lib/modules/$VM_KVER/" 2>/dev/null || true
depmod -b "$ST" "$VM_KVER" 2>/dev/null || true
say MODULES "${order[*]}"

if [ -f "$KO" ]; then
	cp "$KO" "$ST/mig/mig-mdev.ko"
	say MODULE "mig-mdev.ko ($(modinfo -F vermagic "$KO" | cut -d' ' -f1))"
else
	say MODULE "WARNING: $KO not built; the guest will report it"
fi

# ---- user space under test -------------------------------------------------
if [ -d "$BUILD/bin" ] && [ -n "$(ls -A "$BUILD/bin" 2>/dev/null)" ]; then
	cp -a "$BUILD/bin/." "$ST/mig/bin/"
	for f in "$ST"/mig/bin/*; do
		if [ -f "$f" ] && head -c4 "$f" | grep -q ELF; then copy_libs "$f"; fi
	done
	say BIN "$(cd "$ST/mig/bin" && echo *)"
else
	say BIN "no $BUILD/bin (tools/selftests not built)"
fi
shopt -s nullglob
for f in "$MIG_TOP"/selftests/*.sh; do install -m 0755 "$f" "$ST/mig/selftests/"; done
if [ -d "$MIG_TOP/selftests/qemu" ]; then cp -a "$MIG_TOP/selftests/qemu" "$ST/mig/selftests/"; fi
shopt -u nullglob
if [ -f "$MIG_TOP/selftests/TESTS" ]; then
	cp "$MIG_TOP/selftests/TESTS" "$ST/mig/TESTS"
fi
if [ -f "$BUILD/guest/dmacheck.elf" ]; then
	mkdir -p "$ST/mig/guest"
	cp "$BUILD/guest/dmacheck.elf" "$ST/mig/guest/"
	say GUEST "/mig/guest/dmacheck.elf"
else
	say GUEST "WARNING: no $BUILD/guest/dmacheck.elf (make guest); dma_guest will skip"
fi

# ---- QEMU 7.2 for nested use ----------------------------------------------
QEMU=/usr/bin/qemu-system-x86_64
QMOD=/usr/lib/x86_64-linux-gnu/qemu
[ -x "$QEMU" ] || die "$QEMU missing (apt-get install qemu-system-x86)"
copy_file "$QEMU"
copy_libs "$QEMU"
for m in accel-tcg-x86_64.so accel-tcg-i386.so; do
	if [ -f "$QMOD/$m" ]; then copy_file "$QMOD/$m"; copy_libs "$QMOD/$m"; fi
done
for f in /usr/share/qemu/{kvmvapic.bin,linuxboot.bin,linuxboot_dma.bin,multiboot.bin,multiboot_dma.bin,pvh.bin,qboot.rom,bios-microvm.bin,sgabios.bin,vgabios*.bin,bios*.bin,efi-*.rom,pxe-*.rom} \
	/usr/share/seabios/* /usr/lib/ipxe/qemu/efi-{virtio,e1000,e1000e}.rom; do
	if [ -e "$f" ]; then copy_file "$f"; fi
done
if [ -d /usr/share/qemu/keymaps ]; then cp -rL /usr/share/qemu/keymaps "$ST/usr/share/qemu/"; fi

# ---- QEMU 10.0 (the v2 client) beside 7.2 -----------------------------------
# From $MIG_CACHE/qemu10 (scripts/fetch-qemu10.sh): the binary, the libraries
# it needs beyond 7.2's (ldd), and the few x86 ROMs of its own data dir.
# TCG is built in; SeaBIOS comes from /usr/share/seabios, packed above.
Q10_DIR=/opt/qemu10
if Q10_ROOT=$(bash "$MIG_TOP/scripts/fetch-qemu10.sh" root 2>/dev/null); then
	Q10=$Q10_ROOT/usr/bin/qemu-system-x86_64
	mkdir -p "$ST$Q10_DIR/bin" "$ST$Q10_DIR/share/qemu"
	cp "$Q10" "$ST$Q10_DIR/bin/"
	copy_libs "$Q10"
	for f in kvmvapic.bin linuxboot.bin linuxboot_dma.bin multiboot.bin multiboot_dma.bin pvh.bin; do
		if [ -e "$Q10_ROOT/usr/share/qemu/$f" ]; then
			cp -L "$Q10_ROOT/usr/share/qemu/$f" "$ST$Q10_DIR/share/qemu/"
		fi
	done
	say QEMU10 "$Q10_DIR/bin/qemu-system-x86_64 ($(cat "${Q10_ROOT%/root}/version" 2>/dev/null))"
else
	say QEMU10 "WARNING: QEMU 10 not in $MIG_CACHE/qemu10 (scripts/fetch-qemu10.sh); its scenarios will skip"
fi

# ---- extra host files the tests name (selftests/initramfs-extra.list) -------
EXTRA=$MIG_TOP/selftests/initramfs-extra.list
if [ -f "$EXTRA" ]; then
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		if [ -d "$p" ]; then
			mkdir -p "$ST$p"
			cp -aL "$p/." "$ST$p/"
		elif [ -f "$p" ]; then
			copy_file "$p"
			if head -c4 "$p" | grep -q ELF; then copy_libs "$p"; fi
		else
			echo "  WARN     $p (from $EXTRA) is missing on the host; its test will skip" >&2
		fi
	done < "$EXTRA"
fi
# the loader's search path, in case a library sits outside the default ones
ldconfig -r "$ST" 2>/dev/null || true

# ---- pack ------------------------------------------------------------------
(cd "$ST" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
say INITRAMFS "$OUT ($(du -h "$OUT" | cut -f1), $(du -sh "$ST" | cut -f1) unpacked)"
