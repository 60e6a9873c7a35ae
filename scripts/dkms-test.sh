#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prove that dkms.conf builds the module the way a real host would: install
# dkms if missing, copy the module's sources to /usr/src/mig-mdev-VERSION,
# dkms add, dkms build for the Debian 6.1 ABI of scripts/config.mk (KVER_61)
# against its installed headers, check the .ko's vermagic and version, then
# dkms remove --all so the machine is left as it was.  Run as root.
#
#   scripts/dkms-test.sh            (make dkms-test)
#
# The host's running kernel is not KVER_61 and loads no modules: every dkms
# command names the kernel with -k, and nothing is installed into
# /lib/modules.  Prints PASS or FAIL last; on a failed build, dkms's make.log.
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

NAME=mig-mdev
KDIR=/usr/src/linux-headers-$KVER_61
DKMS_TREE=/var/lib/dkms

fail() {
	echo "dkms-test: $*" >&2
	echo "FAIL dkms-test"
	exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root (dkms writes /usr/src and $DKMS_TREE)"

# ---- versions ----------------------------------------------------------------
conf_val() {	# conf_val VAR: the value of VAR="..." in dkms.conf
	sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" "$MIG_TOP/dkms.conf"
}
VERSION=$(conf_val PACKAGE_VERSION)
MODVER=$(sed -n 's/^MODULE_VERSION("\([^"]*\)");.*/\1/p' "$MIG_TOP/mig_mdev.c")
[ -n "$VERSION" ] || fail "no PACKAGE_VERSION in dkms.conf"
[ "$(conf_val PACKAGE_NAME)" = "$NAME" ] || fail "dkms.conf: PACKAGE_NAME is not $NAME"
[ "$VERSION" = "$MODVER" ] ||
	fail "dkms.conf PACKAGE_VERSION=$VERSION but mig_mdev.c MODULE_VERSION(\"$MODVER\")"
say VERSION "$NAME $VERSION (dkms.conf and MODULE_VERSION agree)"

# ---- dkms and the headers ------------------------------------------------------
if ! command -v dkms > /dev/null; then
	say DEPS "apt-get install dkms"
	# No recommends: they would pull linux-headers-amd64, headers for a
	# kernel this host does not run.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dkms ||
		fail "apt-get install dkms failed"
fi
[ -d "$KDIR" ] || fail "no $KDIR: apt-get install linux-headers-$KVER_61"
[ -e "/lib/modules/$KVER_61/build" ] ||
	fail "no /lib/modules/$KVER_61/build (package linux-headers-$KVER_61 makes it)"
say DKMS "$(dkms --version) building for $KVER_61 (host runs $(uname -r))"

# ---- a clean slate, and cleaning up whatever happens ---------------------------
SRC=/usr/src/$NAME-$VERSION
had_key=0
if [ -e "$DKMS_TREE/mok.key" ]; then had_key=1; fi
cleanup() {
	if [ -d "$DKMS_TREE/$NAME" ]; then
		dkms remove "$NAME/$VERSION" --all > /dev/null 2>&1 || true
	fi
	rm -rf "$SRC" "${DKMS_TREE:?}/$NAME"
	# dkms makes a signing key on its first build; drop it if we made it
	if [ $had_key = 0 ]; then rm -f "$DKMS_TREE/mok.key" "$DKMS_TREE/mok.pub"; fi
}
if [ -e "$SRC" ] || [ -e "$DKMS_TREE/$NAME" ]; then
	say CLEAN "removing a previous $NAME from dkms and $SRC"
	cleanup
fi
trap cleanup EXIT

# ---- the source tree dkms gets ---------------------------------------------------
# Only what the module needs: the kbuild files, its C sources and headers.
say COPY "$SRC"
mkdir -p "$SRC/scripts"
(
	cd "$MIG_TOP"
	cp -- *.c *.h Kbuild Makefile dkms.conf "$SRC/"
	cp scripts/config.mk "$SRC/scripts/"
	cp -r include "$SRC/"
)
find "$SRC" \( -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' \) -delete

# ---- add, build, check ------------------------------------------------------------
say ADD "dkms add $NAME/$VERSION"
dkms add "$NAME/$VERSION" || fail "dkms add failed"

say BUILD "dkms build $NAME/$VERSION -k $KVER_61"
if ! dkms build "$NAME/$VERSION" -k "$KVER_61"; then
	for log in "$DKMS_TREE/$NAME/$VERSION/build/make.log" \
		"$DKMS_TREE/$NAME/$VERSION/$KVER_61/x86_64/log/make.log"; do
		if [ -f "$log" ]; then
			echo "---- $log ----"
			cat "$log"
			echo "---- end of make.log ----"
		fi
	done
	fail "dkms build failed"
fi

KO=$(find "$DKMS_TREE/$NAME/$VERSION/$KVER_61" -path '*/module/*' -name "$NAME.ko*" | head -n1)
[ -n "$KO" ] || fail "dkms build left no $NAME.ko under $DKMS_TREE/$NAME/$VERSION/$KVER_61"
vermagic=$(modinfo -F vermagic "$KO")
[ "${vermagic%% *}" = "$KVER_61" ] || fail "$KO: vermagic '$vermagic', expected $KVER_61"
say VERMAGIC "$vermagic"
kover=$(modinfo -F version "$KO")
[ "$kover" = "$VERSION" ] || fail "$KO: version '$kover', expected $VERSION"
say MODINFO "name $(modinfo -F name "$KO"), version $kover"

dkms status "$NAME/$VERSION" | sed 's/^/  STATUS   /'
dkms status "$NAME/$VERSION" -k "$KVER_61" | grep -q ': built' ||
	fail "dkms status does not say built for $KVER_61"

# ---- remove ------------------------------------------------------------------------
trap - EXIT
say REMOVE "dkms remove $NAME/$VERSION --all"
dkms remove "$NAME/$VERSION" --all > /dev/null || fail "dkms remove failed"
cleanup
[ -z "$(dkms status "$NAME" 2>/dev/null)" ] || fail "dkms still lists $NAME"
[ ! -e "$SRC" ] && [ ! -e "$DKMS_TREE/$NAME" ] || fail "left $SRC or $DKMS_TREE/$NAME behind"
echo "PASS dkms-test"
