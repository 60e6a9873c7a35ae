#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC3043
#
# selftests/qemu/demo.sh: the `make demo` job (mig.mode=demo).  The same
# live migration twice, each time of a fresh pair of mig_mdev-small
# instances, engine running, from one guest to another over TCP loopback:
# first with QEMU 7.2 (protocol v1, the migration region), then with QEMU
# 10.0 (protocol v2, the data_fd).  A short report for each says which
# protocol it used.  TAP: two tests.

MQ_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=selftests/qemu/lib.sh
. "$MQ_DIR/lib.sh"

row() { printf '#   %-22s %s\n' "$1" "$2"; }
side() { printf '#   %-16s %-36s  %s\n' "$1" "$2" "$3"; }

# demo_report N TITLE PROTO S D RC SECS: the report of one migration.
demo_report() {
	local n=$1 title=$2 proto=$3 s=$4 d=$5 rc=$6 secs=$7
	local f total ram dev chunks passes bytes

	if [ "$rc" -ne 0 ]; then
		mq_dump
		echo "not ok $n demo: $title"
		return
	fi
	f=$MQ_WORK/src.migrate.json
	total=$(mq_json "$f" total-time 0)
	ram=$(mq_json "$f" ram.transferred 0)
	dev=$(mq_stat "$s" bytes_saved)
	chunks=$(mq_stat "$s" chunks_saved)
	passes=$(mq_stat "$s" passes)
	bytes=$((ram + ${dev:-0}))
	echo "#"
	echo "# ==== mig-mdev demo $n: $title ===="
	echo "# Two TCG guests (q35, $MQ_MEM MiB, firmware only) in this VM, each with one"
	echo "# mig_mdev-small instance as vfio-pci ($MQ_VFIO_MIG).  The source's engine"
	echo "# wrote $MQ_RATE pages/s into device memory while QEMU migrated it over"
	echo "# tcp:127.0.0.1:$MQ_PORT (max-bandwidth $((MQ_BW / 1048576)) MiB/s, downtime-limit $MQ_DOWNTIME ms)"
	echo "# to a paused destination; then the destination was resumed (cont)."
	echo "#"
	row "protocol" "$proto"
	row "pre-copy passes" "${passes:-n/a (no debugfs stats)}"
	row "device state sent" "${dev:-?} bytes in ${chunks:-?} chunks"
	row "guest RAM sent" "$ram bytes (dirty syncs $(mq_json "$f" ram.dirty-sync-count ?))"
	row "total time" "$total ms (setup $(mq_json "$f" setup-time ?) ms)"
	row "downtime" "$(mq_json "$f" downtime ?) ms"
	if [ "${total:-0}" -gt 0 ]; then
		row "throughput" "$(awk -v b="$bytes" -v t="$total" 'BEGIN { printf "%.1f MiB/s", b / 1048576 / (t / 1000) }') (device + RAM over total time)"
	fi
	row "whole run" "${secs}s (both QEMUs started and stopped)"
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
	echo "ok $n demo: $title ($proto)"
}

echo "TAP version 13"
echo "1..2"
if ! mq_have_module; then
	echo "ok 1 demo # SKIP mig_mdev is not loaded"
	echo "ok 2 demo # SKIP mig_mdev is not loaded"
	exit 0
fi

# 1: QEMU 7.2, protocol v1.
mq_begin demo
t0=$(date +%s)
s=$(mq_create small) && d=$(mq_create small) && mq_live "$s" "$d"
rc1=$?
demo_report 1 "live migration with QEMU 7.2" \
	"v1 (the migration region, x-enable-migration=on)" "$s" "$d" $rc1 \
	$(($(date +%s) - t0))
mq_end

# 2: QEMU 10.0, protocol v2, on the same device type.
MQ_QEMU=/opt/qemu10/bin/qemu-system-x86_64
MQ_FW=/opt/qemu10/share/qemu
MQ_VFIO_MIG=enable-migration=on
MQ_WORK=/tmp/mig-demo-qemu10
MQ_PORT=$((MQ_PORT + 100))
# shellcheck source=selftests/qemu/v2.sh
. "$MQ_DIR/v2.sh"
mq_begin demo-v2
v2_defaults
t0=$(date +%s)
s=$(mq_create small) && d=$(mq_create small) && mq_live "$s" "$d" &&
	v2_check_protocol src "$s" > /dev/null
rc2=$?
demo_report 2 "live migration with QEMU 10.0" \
	"${V2_PROTO:-v2} (VFIO_DEVICE_FEATURE_MIGRATION, enable-migration=on)" \
	"$s" "$d" $rc2 $(($(date +%s) - t0))
mq_end
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]
