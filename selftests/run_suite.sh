#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs the suite of selftests/TESTS on this machine, in its order and with
# its arguments, as the VM's init runs it for make check.  make -C
# selftests run_tests calls it; it is not one of the tests.
#
#   run_suite.sh TOP BUILD [WORD...]
#
# TOP is the repository, BUILD the build directory (BUILD/bin holds the
# programs).  With WORDs, only the lines whose program is one of them run
# (the same match as make check TESTS="..."): its path, its file name, or
# its file name without the extension.
#
# A line's command runs from a scratch directory in which bin/ is BUILD/bin
# and selftests/ is TOP/selftests, the layout of /mig in the VM.  Each
# program's TAP (and stderr) is printed behind "# ", as kselftest's
# runner prints it, and this script adds one line a program: "ok N CMD",
# "ok N CMD # SKIP" (exit 4) or "not ok N CMD"; it exits 1 if any failed.
# Needs root and the module loaded.

set -u
TOP=$1
BUILD=$2
shift 2

SUITE=$TOP/selftests/TESTS
RUN=$BUILD/run

selected() {	# selected CMD [WORD...]: is CMD's program one of the WORDs?
	prog=${1%%[[:space:]]*}
	base=${prog##*/}
	shift
	[ $# -gt 0 ] || return 0
	for w in "$@"; do
		case $w in
		"$base" | "${base%.*}" | "$prog") return 0 ;;
		esac
	done
	return 1
}

[ -f "$SUITE" ] || { echo "run_suite.sh: $SUITE missing" >&2; exit 1; }
mkdir -p "$RUN" || exit 1
ln -sfn "$BUILD/bin" "$RUN/bin"
ln -sfn "$TOP/selftests" "$RUN/selftests"
[ -f "$TOP/mig-mdev.ko" ] && ln -sf "$TOP/mig-mdev.ko" "$RUN/mig-mdev.ko"

# What the scripts look for in /mig in the VM, here.
PATH=$BUILD/bin:$PATH
MIG_MODULE=$TOP/mig-mdev.ko
MIGCTL=$BUILD/bin/migctl
export PATH MIG_MODULE MIGCTL

# Read the list first: a program must not eat the rest of it.
list=$(grep -v '^[[:space:]]*#' "$SUITE" | grep -v '^[[:space:]]*$')
total=0
echo "$list" > "$RUN/.suite"
while read -r line; do
	selected "$line" "$@" && total=$((total + 1))
done < "$RUN/.suite"

echo "TAP version 13"
echo "1..$total"
n=0
fail=0
while read -r line; do
	selected "$line" "$@" || continue
	n=$((n + 1))
	echo "# selftests: mig_mdev: $line"
	# Its own TAP nests as kselftest's runner nests it: behind "# ".
	{
		(cd "$RUN" && sh -c "$line" < /dev/null 2>&1)
		echo $? > "$RUN/.rc"
	} | sed 's/^/# /'
	read -r rc < "$RUN/.rc"
	case $rc in
	0) echo "ok $n $line" ;;
	4) echo "ok $n $line # SKIP" ;;
	*) echo "not ok $n $line # exit=$rc"; fail=1 ;;
	esac
done < "$RUN/.suite"
exit $fail
