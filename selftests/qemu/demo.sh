#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC3043
#
# selftests/qemu/demo.sh: the `make demo` job (mig.mode=demo).  The same
# live migration twice, each time of a fresh pair of mig_mdev-small
# instances, engine running, from one guest to another over TCP loopback:
# first with QEMU 7.2 (protocol v1, the migration region), then with QEMU
# 10.0 (protocol v2, the data_fd).  A short report for each says which
# protocol it used.  Then the guest's own view (demo 3): the guest test
# program (guest/, docs/GUEST.md) checks the device's DMA records (or, on a
# device without the DMA engine, its doorbell interrupts) before, during
# and after a live migration, and its report says whether any was lost.
# TAP: three tests.

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
	echo "# Two TCG guests (q35, -m $MQ_MEM, firmware only) in this VM, each with one"
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

# guest_phases: the guest's report lines, by phase of the migration.
guest_phases() {
	local n=0 l
	echo "#   before the migration (source):"
	tr -d '\r' < "$(gq_serial src)" | grep '^DMACHECK report' | while read -r l; do
		n=$((n + 1))
		if [ $n -le "$GQ_SRC_REPORTS0" ]; then echo "#     ${l#DMACHECK }"; fi
	done
	echo "#   during pre-copy (source, still running):"
	tr -d '\r' < "$(gq_serial src)" | grep '^DMACHECK report' | while read -r l; do
		n=$((n + 1))
		if [ $n -gt "$GQ_SRC_REPORTS0" ]; then echo "#     ${l#DMACHECK }"; fi
	done
	echo "#   after the switch-over (destination):"
	tr -d '\r' < "$(gq_serial dst)" | grep '^DMACHECK \(report\|FINAL\|LOST\|TORN\|FATAL\|END\)' |
		sed 's/^DMACHECK /#     /'
}

# demo_guest N: demo 3, the guest test program across a live migration.
demo_guest() {
	local n=$1 s d rc ga="mode=dma pages=16 rate=200 irq_every=32 lag=64" what="DMA records"
	mq_begin demo-guest
	v2_defaults
	MQ_TRACE=
	MQ_WATCH=
	s=$(mq_create small) && d=$(mq_create small) || { echo "not ok $n demo: guest"; return 1; }
	gq_migrate "$s" "$d" "$ga" '"max-bandwidth":4194304,"downtime-limit":1' \
		"\"max-bandwidth\":$V2_BW,\"downtime-limit\":$V2_DOWNTIME$V2_LIVE_PARAMS"
	rc=$?
	if [ $rc -eq 3 ]; then
		# no DMA engine in this module: the doorbell's interrupts instead
		mq_note "$GQ_SKIP: the doorbell instead"
		mq_end
		mq_begin demo-guest
		s=$(mq_create small) && d=$(mq_create small) || return 1
		ga="mode=doorbell bell=10"
		what="doorbell interrupts"
		gq_migrate "$s" "$d" "$ga" '"max-bandwidth":4194304,"downtime-limit":1' \
			"\"max-bandwidth\":$V2_BW,\"downtime-limit\":$V2_DOWNTIME$V2_LIVE_PARAMS"
		rc=$?
	fi
	[ $rc -eq 0 ] && gq_finish dst && gq_verdict "$s" "$d" > "$MQ_WORK/verdict" 2>&1
	rc=$?
	echo "#"
	echo "# ==== mig-mdev demo $n: the guest's own report ($what, $MQ_VFIO_MIG) ===="
	echo "# The guest test program ($ga) ran in the source QEMU, was"
	echo "# live-migrated with its mig_mdev-small instance, and went on in the destination."
	echo "# Its report lines (t: guest ticks, 100 a second; ok/lost/torn: records;"
	echo "# irqs: interrupts it took; dev_irqs: what the device says it raised):"
	guest_phases
	sed 's/^# /#   /' "$MQ_WORK/verdict"
	echo "#"
	if [ $rc -eq 0 ]; then
		echo "ok $n demo: the guest's own report: $GQ_RESULT"
	else
		mq_dump
		echo "not ok $n demo: the guest's own report"
	fi
	mq_end
	return $rc
}

echo "TAP version 13"
echo "1..3"
if ! mq_have_module; then
	echo "ok 1 demo # SKIP mig_mdev is not loaded"
	echo "ok 2 demo # SKIP mig_mdev is not loaded"
	echo "ok 3 demo # SKIP mig_mdev is not loaded"
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

# 3: the guest's own report, QEMU 10.0 as in 2.
# shellcheck source=selftests/qemu/guest.sh
. "$MQ_DIR/guest.sh"
if [ -z "$GQ_ELF" ]; then
	echo "ok 3 demo: the guest's own report # SKIP no guest program (make guest)"
	rc3=0
else
	MQ_WORK=/tmp/mig-demo-guest
	MQ_PORT=$((MQ_PORT + 100))
	demo_guest 3
	rc3=$?
fi
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ $rc3 -eq 0 ]
