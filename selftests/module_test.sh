#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Smoke test of the guest: the module is loaded and registers its parent
# device and types, and QEMU 7.2 runs here (for the nested-QEMU tests).
# Prints TAP on stdout.

PARENT=/sys/class/mig_mdev/mig_mdev
# shellcheck source=selftests/tap.sh disable=SC1091
. "$(dirname "$0")/tap.sh"

echo "TAP version 13"
echo "1..8"

grep -q '^mig_mdev ' /proc/modules
ok $? "module mig_mdev is loaded"

for t in mig_mdev-small mig_mdev-large; do
	d=$PARENT/mdev_supported_types/$t
	[ -d "$d" ]
	ok $? "type $t exists"
	api=$(cat "$d/device_api" 2>/dev/null)
	[ "$api" = vfio-pci ]
	r=$?
	[ $r -eq 0 ] || echo "# $d/device_api: '${api}'"
	ok $r "type $t has device_api vfio-pci"
done

v=$(qemu-system-x86_64 -version 2>&1 | head -n1)
echo "# $v"
case $v in *" version 7.2"*) r=0 ;; *) r=1 ;; esac
ok $r "qemu-system-x86_64 -version is 7.2"

# QEMU with TCG (the accelerator is a loadable module in Debian's build)
# starts, serves QMP on a unix socket and runs.
Q=/tmp/module_test.qmp
rm -f "$Q"
qemu-system-x86_64 -accel tcg -machine q35 -m 64 -nodefaults -nographic \
	-L /usr/share/qemu -S -qmp "unix:$Q,server=on,wait=off" \
	> /tmp/module_test.qemu.log 2>&1 &
qpid=$!
i=0
while [ ! -S "$Q" ] && [ $i -lt 300 ] && kill -0 $qpid 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
[ -S "$Q" ] && kill -0 $qpid 2>/dev/null
r=$?
[ $r -eq 0 ] || sed 's/^/# /' /tmp/module_test.qemu.log
ok $r "qemu -accel tcg starts with a QMP socket"
kill $qpid 2>/dev/null
wait $qpid 2>/dev/null

out=$( (
	echo '{"execute":"qmp_capabilities"}'
	echo '{"execute":"cont"}'
	sleep 1
	echo '{"execute":"query-status"}'
	echo '{"execute":"quit"}'
) | timeout 60 qemu-system-x86_64 -accel tcg -machine q35 -m 64 -nodefaults \
	-nographic -L /usr/share/qemu -S -qmp stdio 2>&1)
echo "$out" | grep -q '"status": "running"'
r=$?
[ $r -eq 0 ] || echo "$out" | sed 's/^/# /'
ok $r "qemu -accel tcg runs a guest (QMP query-status: running)"

[ $fails -eq 0 ]
