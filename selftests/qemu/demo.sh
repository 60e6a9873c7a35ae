#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC3043
#
# selftests/qemu/demo.sh: the `make demo` job (mig.mode=demo).  Creates two
# mig_mdev-small instances, live-migrates the first, engine running, from
# one QEMU 7.2 guest to another over TCP loopback (scenario 1 of
# scenarios.sh), and prints a short report.  TAP: one test.

MQ_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=selftests/qemu/lib.sh
. "$MQ_DIR/lib.sh"

echo "TAP version 13"
echo "1..1"
if ! mq_have_module; then
	echo "ok 1 demo # SKIP mig_mdev is not loaded"
	exit 0
fi

row() { printf '#   %-22s %s\n' "$1" "$2"; }
side() { printf '#   %-16s %-36s  %s\n' "$1" "$2" "$3"; }

mq_begin demo
t0=$(date +%s)
s=$(mq_create small) && d=$(mq_create small) && mq_live "$s" "$d"
rc=$?
secs=$(($(date +%s) - t0))

if [ $rc -eq 0 ]; then
	f=$MQ_WORK/src.migrate.json
	total=$(mq_json "$f" total-time 0)
	ram=$(mq_json "$f" ram.transferred 0)
	dev=$(mq_stat "$s" bytes_saved)
	chunks=$(mq_stat "$s" chunks_saved)
	passes=$(mq_stat "$s" passes)
	bytes=$((ram + ${dev:-0}))
	echo "#"
	echo "# ==== mig-mdev demo: live migration of a mediated device with QEMU 7.2 ===="
	echo "# Two TCG guests (q35, $MQ_MEM MiB, firmware only) in this VM, each with one"
	echo "# mig_mdev-small instance as vfio-pci (x-enable-migration=on).  The source's"
	echo "# engine wrote $MQ_RATE pages/s into device memory while QEMU migrated it over"
	echo "# tcp:127.0.0.1:$MQ_PORT (max-bandwidth $((MQ_BW / 1048576)) MiB/s, downtime-limit $MQ_DOWNTIME ms)"
	echo "# to a paused destination; then the destination was resumed (cont)."
	echo "#"
	row "pre-copy passes" "${passes:-n/a (no debugfs stats)}"
	row "device state sent" "${dev:-?} bytes in ${chunks:-?} chunks"
	row "guest RAM sent" "$ram bytes (dirty syncs $(mq_json "$f" ram.dirty-sync-count ?))"
	row "total time" "$total ms (setup $(mq_json "$f" setup-time ?) ms)"
	row "downtime" "$(mq_json "$f" downtime ?) ms"
	if [ "${total:-0}" -gt 0 ]; then
		row "throughput" "$(awk -v b="$bytes" -v t="$total" 'BEGIN { printf "%.1f MiB/s", b / 1048576 / (t / 1000) }') (device + RAM over total time)"
	fi
	row "whole demo" "${secs}s (both QEMUs started and stopped)"
	echo "#"
	side "" "source" "destination"
	side "instance" "$s" "$d"
	side "digest" "$MQ_LAST_SRC_DIGEST" "$MQ_LAST_DST_DIGEST (at RESUMING)"
	side "state now" "$(mq_attr "$s" migration_state)" "$(mq_attr "$d" migration_state)"
	side "engine_count" "$(mq_attr "$s" engine_count)" "$(mq_attr "$d" engine_count) (still counting)"
	side "device resets" "$(mq_stat "$s" resets)" "$(mq_stat "$d" resets) (1: QEMU's at start)"
	if [ "$MQ_LAST_SRC_DIGEST" = "$MQ_LAST_DST_DIGEST" ]; then
		echo "# digests match: the destination holds exactly the source's device state"
	fi
	echo "#"
	echo "ok 1 demo: live migration with QEMU 7.2"
else
	mq_dump
	echo "not ok 1 demo: live migration with QEMU 7.2"
fi
mq_end
exit $rc
