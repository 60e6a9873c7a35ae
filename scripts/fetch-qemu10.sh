#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# QEMU 10.0, the VFIO migration v2 client, for the test VM: downloaded from
# Debian's $QEMU10_SUITE (bookworm-backports) and unpacked into
# $MIG_CACHE/qemu10/<version>/root (usr/bin/qemu-system-x86_64,
# usr/share/qemu, usr/share/seabios).  Nothing is installed: the system's
# apt sources, its package lists and the installed QEMU 7.2 stay as they
# are.  apt reads a private source list (the mirror of the system's own
# bookworm suite), and keeps its lists and caches under $MIG_CACHE/apt-bpo.
#
#   scripts/fetch-qemu10.sh          fetch if not cached, print the root
#   scripts/fetch-qemu10.sh root     print the cached root (exit 1 if none)
#
# apt's output goes to $MIG_CACHE/qemu10/apt.log.
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

: "${QEMU10_SUITE:=$(mig_conf QEMU10_SUITE)}"
: "${QEMU10_SUITE:=bookworm-backports}"
PKGS=(qemu-system-x86 qemu-system-common qemu-system-data)
Q=$MIG_CACHE/qemu10
LOG=$Q/apt.log

cached_root() {	# the newest complete unpack, if any
	local d best=
	for d in "$Q"/*/.done; do
		[ -f "$d" ] || continue
		best=${d%/.done}/root
	done
	[ -n "$best" ] && [ -x "$best/usr/bin/qemu-system-x86_64" ] && echo "$best"
}

if [ "${1:-}" = root ]; then
	cached_root || { echo "error: QEMU 10 is not in $Q: run scripts/fetch-qemu10.sh" >&2; exit 1; }
	exit 0
fi

if r=$(cached_root); then
	say QEMU10 "cached: $r"
	exit 0
fi

# The mirror that serves the system's bookworm suite (deb822 or one-line
# sources); backports lives beside it.
mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
		     /Suites:[^\n]*bookworm( |$|\n|-updates)/ {
			for (i = 1; i <= NF; i++)
				if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, " "); print u[1]; exit }
		     }' "$f"
	done
	{ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($(i + 1) ~ /^bookworm(-updates)?$/) print $i; break } }'
}
MIRROR=$({ mirror || true; } | grep -v -e security -e "^$" | head -n1 || true)
[ -n "$MIRROR" ] || die "no Debian bookworm mirror in /etc/apt/sources.list*; cannot fetch QEMU 10"

APT=$MIG_CACHE/apt-bpo
mkdir -p "$Q" "$APT/lists/partial" "$APT/cache/archives/partial"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$KEYRING] $MIRROR $QEMU10_SUITE main" > "$APT/sources.list"
aptq() {
	apt-get -q -o Dir::Etc::SourceList="$APT/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$APT/lists" \
		-o Dir::Cache="$APT/cache" -o APT::Sandbox::User=root "$@"
}

: > "$LOG"
say QEMU10 "apt-get update of $QEMU10_SUITE from $MIRROR (log: $LOG)"
aptq update >> "$LOG" 2>&1 || { tail -n 5 "$LOG" >&2; die "apt-get update of $QEMU10_SUITE failed (see $LOG)"; }
DL=$Q/debs
rm -rf "$DL"
mkdir -p "$DL"
for p in "${PKGS[@]}"; do
	say QEMU10 "apt-get download $p/$QEMU10_SUITE"
	(cd "$DL" && aptq download "$p/$QEMU10_SUITE") >> "$LOG" 2>&1 ||
		{ tail -n 5 "$LOG" >&2; die "apt-get download $p/$QEMU10_SUITE failed (see $LOG)"; }
done
debs=()
for p in "${PKGS[@]}"; do
	f=$(ls "$DL/${p}"_*.deb 2>/dev/null | head -n1)
	[ -n "$f" ] || die "apt-get download left no ${p}_*.deb in $DL"
	debs+=("$f")
done

ver=$(dpkg-deb -f "${debs[0]}" Version)
case $ver in
*:10.*) ;;
*) die "$QEMU10_SUITE offers qemu-system-x86 $ver, not 10.x" ;;
esac
key=${ver#*:}
dir=$Q/$key
say QEMU10 "unpacking qemu-system-x86 $ver into $dir"
rm -rf "$dir"
mkdir -p "$dir/root"
for f in "${debs[@]}"; do dpkg -x "$f" "$dir/root"; done
Q10=$dir/root/usr/bin/qemu-system-x86_64
[ -x "$Q10" ] || die "no usr/bin/qemu-system-x86_64 in the unpacked packages"
if ldd "$Q10" | grep -q 'not found'; then
	ldd "$Q10" | grep 'not found' >&2
	die "QEMU 10 needs libraries QEMU 7.2's packages did not install (apt-get install them)"
fi
"$Q10" --version | head -n1 > "$dir/version"
touch "$dir/.done"
say QEMU10 "$(cat "$dir/version"): $Q10"
