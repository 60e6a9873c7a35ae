#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# selftests/qemu/scenarios_zc.sh: QEMU 7.2's live, file and x-no-mmap
# scenarios (scenarios.sh 1 2 3) with the zero-copy v1 save: instances are
# created with the module parameter zerocopy on, so that their migration
# region has the window onto device memory and page data goes out through
# it.  The parameter is put back afterwards.

MQ_DIR=$(cd "$(dirname "$0")" && pwd)
P=/sys/module/mig_mdev/parameters/zerocopy

if [ ! -w "$P" ]; then
	echo "1..0 # SKIP no module parameter zerocopy"
	exit 0
fi
old=$(cat "$P")
echo 1 > "$P"
sh "$MQ_DIR/scenarios.sh" 1 2 3
rc=$?
echo "$old" > "$P"
exit $rc
