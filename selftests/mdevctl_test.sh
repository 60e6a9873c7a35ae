#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# mdevctl (Debian's package, 1.2.0) drives the module the way an
# administrator would: it lists our types with their descriptions and
# available instances, starts an instance, lists it and stops it, and does
# the same for a persistent definition (define, start, stop, undefine).
# mdevctl finds parents in /sys/class/mdev_bus, where the mdev core links
# every registered parent by its device name: ours is mig_mdev.
#
# Needs /usr/bin/mdevctl in the guest (selftests/initramfs-extra.list);
# without it the test reports one SKIP.  Prints TAP on stdout.

P=mig_mdev
SMALL=mig_mdev-small
LARGE=mig_mdev-large
BUS=/sys/class/mdev_bus/$P
DEVS=/sys/bus/mdev/devices
CONF=/etc/mdevctl.d
OUT=/tmp/mdevctl_test.$$
NTESTS=24

# shellcheck source=selftests/tap.sh disable=SC1091
. "$(dirname "$0")/tap.sh"
diag() {	# diag FILE: show FILE as TAP comments
	sed 's/^/# /' "$1"
}
run() {	# run ARGS...: mdevctl ARGS, output in $OUT, command and output shown if it fails
	mdevctl "$@" > "$OUT" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "# mdevctl $* exited $rc:"
		diag "$OUT"
	fi
	return $rc
}
# types_field TYPE FIELD: the value of "FIELD: value" under parent $P and
# TYPE in the `mdevctl types` output held in $OUT
types_field() {
	awk -v p="$P" -v t="$1" -v f="$2: " '
		/^[^ ]/ { cp = $1; ct = ""; next }
		/^  [^ ]/ { ct = $1; next }
		cp == p && ct == t {
			sub(/^ +/, "")
			if (index($0, f) == 1) { print substr($0, length(f) + 1); exit }
		}' "$OUT"
}
# sysfs_desc TYPE: the type's description as mdevctl prints it (trimmed,
# newlines joined with ", ")
sysfs_desc() {
	awk 'BEGIN { ORS = "" } NR > 1 { print ", " } { print }' \
		"$BUS/mdev_supported_types/$1/description"
}
avail() {	# avail TYPE: available_instances from sysfs
	cat "$BUS/mdev_supported_types/$1/available_instances"
}
new_uuid() {
	cat /proc/sys/kernel/random/uuid
}
cleanup() {
	for u in $U1 $U2; do
		if [ -e "$DEVS/$u" ]; then echo 1 > "$DEVS/$u/remove"; fi
		rm -f "$CONF/$P/$u"
	done
	rmdir "$CONF/$P" 2>/dev/null
	rm -f "$OUT"
}

echo "TAP version 13"
if ! command -v mdevctl > /dev/null; then
	echo "1..1"
	echo "# mdevctl is not in the guest: the packer must add the files of"
	echo "# selftests/initramfs-extra.list (and the host needs the mdevctl package)"
	echo "ok 1 mdevctl # SKIP mdevctl not installed"
	exit 0
fi
echo "1..$NTESTS"

U1=$(new_uuid)
U2=$(new_uuid)
trap cleanup EXIT
trap 'exit 1' INT TERM
# The directories mdevctl checks on every run (the package makes them).
mkdir -p "$CONF/scripts.d/callouts" "$CONF/scripts.d/notifiers"

# ---- types -------------------------------------------------------------------
[ -d "$BUS/mdev_supported_types" ]
r=$?
[ $r -eq 0 ] || ls -l /sys/class/mdev_bus/ 2>&1 | diag /dev/stdin
ok $r "the mdev core links the parent as $BUS"

run types
ok $? "mdevctl types runs"

grep -qx "$P" "$OUT"
r=$?
[ $r -eq 0 ] || diag "$OUT"
ok $r "mdevctl types lists parent $P"

for t in $SMALL $LARGE; do
	want=$(sysfs_desc $t)
	got=$(types_field $t Description)
	[ -n "$want" ] && [ "$got" = "$want" ]
	r=$?
	[ $r -eq 0 ] || echo "# $t: description '$got', sysfs says '$want'"
	ok $r "mdevctl types shows $t with its description"

	want=$(avail $t)
	got=$(types_field $t "Available instances")
	[ -n "$got" ] && [ "$got" = "$want" ] && [ "$got" -gt 0 ]
	r=$?
	[ $r -eq 0 ] || echo "# $t: available instances '$got', sysfs says '$want'"
	ok $r "mdevctl types shows $t with its available instances ($got)"

	got=$(types_field $t "Device API")
	[ "$got" = vfio-pci ]
	r=$?
	[ $r -eq 0 ] || echo "# $t: device API '$got'"
	ok $r "mdevctl types shows $t with device API vfio-pci"
done

# ---- start, list, stop ----------------------------------------------------------
before=$(avail $SMALL)
run start -u "$U1" -p $P --type $SMALL
ok $? "mdevctl start -u UUID -p $P --type $SMALL"

[ -d "$DEVS/$U1" ]
ok $? "$DEVS/UUID exists after mdevctl start"

t=$(basename "$(readlink -f "$DEVS/$U1/mdev_type" 2>/dev/null)")
[ "$t" = $SMALL ]
r=$?
[ $r -eq 0 ] || echo "# mdev_type of $U1 is '$t'"
ok $r "the started instance has type $SMALL"

run types
got=$(types_field $SMALL "Available instances")
[ -n "$got" ] && [ "$got" -eq $((before - 1)) ]
r=$?
[ $r -eq 0 ] || echo "# available instances of $SMALL: $before before, '$got' after"
ok $r "mdevctl types shows one $SMALL instance fewer available"

run list
grep -q "^$U1 $P $SMALL" "$OUT"
r=$?
[ $r -eq 0 ] || diag "$OUT"
ok $r "mdevctl list shows UUID $P $SMALL"

run stop -u "$U1"
ok $? "mdevctl stop -u UUID"

[ ! -e "$DEVS/$U1" ]
ok $? "$DEVS/UUID is gone after mdevctl stop"

run list
! grep -q "$U1" "$OUT"
r=$?
[ $r -eq 0 ] || diag "$OUT"
ok $r "mdevctl list no longer shows UUID"

[ "$(avail $SMALL)" = "$before" ]
ok $? "available instances of $SMALL are back to $before"

# ---- a persistent definition ----------------------------------------------------------
run define -u "$U2" -p $P --type $LARGE
r=$?
[ $r -eq 0 ] && [ -f "$CONF/$P/$U2" ]
r=$?
[ $r -eq 0 ] || ls -lR "$CONF" | diag /dev/stdin
ok $r "mdevctl define -u UUID -p $P --type $LARGE writes $CONF/$P/UUID"

run list --defined
grep -q "^$U2 $P $LARGE" "$OUT"
r=$?
[ $r -eq 0 ] || diag "$OUT"
ok $r "mdevctl list --defined shows the definition"

run start -u "$U2" &&
	[ "$(basename "$(readlink -f "$DEVS/$U2/mdev_type")")" = $LARGE ]
ok $? "mdevctl start -u UUID starts the defined $LARGE instance"

run stop -u "$U2" && [ ! -e "$DEVS/$U2" ]
ok $? "mdevctl stop -u UUID stops it"

run undefine -u "$U2" && [ ! -e "$CONF/$P/$U2" ]
ok $? "mdevctl undefine -u UUID removes the definition"

# ---- refusals ------------------------------------------------------------------------
U3=$(new_uuid)
mdevctl start -u "$U3" -p $P --type mig_mdev-none > "$OUT" 2>&1
r=$?
[ $r -ne 0 ] && [ ! -e "$DEVS/$U3" ]
r=$?
[ $r -eq 0 ] || diag "$OUT"
ok $r "mdevctl start of an unknown type fails and creates nothing"

[ $n -eq $NTESTS ] || echo "# ran $n tests, planned $NTESTS"
[ $fails -eq 0 ] && [ $n -eq $NTESTS ]
