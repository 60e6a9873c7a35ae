#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: boot the test VM with the benchmarks (selftests/bench.sh,
# bin/bench), collect their "# BENCH metric median min max" lines from the
# TAP log and write, in $BUILD/bench/:
#
#   results.csv        metric,value (medians)
#   spread.csv         metric,median,min,max
#   results.md         the tables, with the machine they came from
#   bench.png          the plot (gnuplot, made here from the CSV, with
#                      bench.gp and *.dat); a part not run is a blank panel
#   bench-qemu-dma.png part qemu-dma's plot (bench-qemu-dma.gp,
#                      qemu_dma_v1.dat, qemu_dma_v2.dat), if it ran
#
# It reuses make check's pipeline (scripts/check.sh) with
# TESTS=selftests/bench.sh and mig.bench=1 on the guest's command line.
#
# Environment: BENCH_REPS (samples per figure, default 5), BENCH_PARTS
# (datapath zerocopy sweep converge scale qemu qemu-dma, default all), BENCH_TAP (parse this TAP
# log instead of booting a VM), and what check.sh reads (BUILD, ...).
set -uo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

REPS=${BENCH_REPS:-5}
PARTS=${BENCH_PARTS:-}
OUT=$BUILD/bench
mkdir -p "$OUT"

if ! command -v gnuplot > /dev/null; then
	say DEPS "installing gnuplot-nox (for the plot)"
	apt-get install -y gnuplot-nox > "$OUT/apt.log" 2>&1 ||
		{ apt-get update > /dev/null 2>&1 && apt-get install -y gnuplot-nox >> "$OUT/apt.log" 2>&1; } ||
		say DEPS "gnuplot-nox could not be installed: no plot (see $OUT/apt.log)"
fi

if [ -n "${BENCH_TAP:-}" ]; then
	tap=$BENCH_TAP
	say BENCH "parsing $tap (no VM run)"
else
	append="mig.bench=1 mig.bench_reps=$REPS"
	[ -z "$PARTS" ] || append+=" mig.bench_parts=$(echo "$PARTS" | tr -s ' ,' ',')"
	say BENCH "booting the VM: TESTS=selftests/bench.sh, $append"
	MIG_TESTS=selftests/bench.sh VM_APPEND="$append ${VM_APPEND:-}" \
		TEST_TIMEOUT=${TEST_TIMEOUT:-3000} bash "$MIG_TOP/scripts/check.sh" check
	rc=$?
	[ $rc -eq 0 ] || say BENCH "the VM run exited $rc; collecting what it printed"
	tap=$VMDIR/tap.log
fi
[ -s "$tap" ] || die "no TAP log at $tap"

tr -d '\r' < "$tap" > "$OUT/tap.log"
awk '$1 == "#" && $2 == "BENCH" && NF >= 6 { print $3 "," $4 "," $5 "," $6 }' \
	"$OUT/tap.log" > "$OUT/spread.body"

# The stream code at native speed, on the host CPU (tools/fuzz-native's
# user-space build of mig_stream.c, optimised, no sanitizers).
if [ -z "${BENCH_TAP:-}" ] && command -v "${FUZZ_CC:-clang-14}" > /dev/null &&
	make -s -C "$MIG_TOP/tools/fuzz-native" BUILD="$BUILD" \
		"$BUILD/fuzz-native/stream_bench" > "$OUT/native.log" 2>&1; then
	say BENCH "the stream code at native speed on the host"
	"$BUILD/fuzz-native/stream_bench" --reps "$((REPS < 9 ? 9 : REPS))" \
		> "$OUT/native.tap" 2>> "$OUT/native.log" ||
		say BENCH "stream_bench failed (see $OUT/native.log)"
elif [ -z "${BENCH_TAP:-}" ]; then
	say BENCH "no clang-14: no native figures (see $OUT/native.log)"
fi
# Its samples ("metric value" lines): median, min, max of each metric.
[ ! -s "$OUT/native.tap" ] ||
	sort -k1,1 -k2,2g "$OUT/native.tap" | awk '
		function out() { if (n) print m "," (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) "," v[1] "," v[n] }
		$1 != m { out(); m = $1; n = 0 }
		{ v[++n] = $2 }
		END { out() }' >> "$OUT/spread.body"
{ echo "metric,median,min,max"; cat "$OUT/spread.body"; } > "$OUT/spread.csv"
{ echo "metric,value"; cut -d, -f1,2 "$OUT/spread.body"; } > "$OUT/results.csv"
rm -f "$OUT/spread.body"
n=$(($(wc -l < "$OUT/results.csv") - 1))
[ "$n" -gt 0 ] || die "no BENCH lines in $tap (did the guest run selftests/bench.sh?)"
info() { sed -n "s/^# BENCH_INFO $1 //p" "$OUT/tap.log" | head -n1; }

# ---- results.md ----------------------------------------------------------
python3 - "$OUT" "$(info cpus)" "$(info cpu)" "$(info kernel)" "$(info memtotal_kib)" \
	"$(info reps)" "$(nproc)" "$(date -u +%Y-%m-%d)" "$(info qemu_dma_settings)" <<'PY'
import csv, re, sys
out, cpus, cpu, kernel, mem, reps, hostcpus, day, dmaset = sys.argv[1:10]
rows = {r["metric"]: r for r in csv.DictReader(open(out + "/spread.csv"))}

def fig(m, fmt="{:.3g}"):
    r = rows.get(m)
    if not r:
        return "-"
    f = lambda k: fmt.format(float(r[k]))
    return f"{f('median')} ({f('min')}..{f('max')})"

L = []
L.append("# mig-mdev benchmark results\n")
L.append(f"Taken {day} with `make bench`: QEMU TCG guest ({cpus} vCPUs, "
         f"{int(mem or 0) // 1024} MiB, kernel {kernel}, CPU model \"{cpu}\") "
         f"on a {hostcpus}-core host.  TCG emulates every guest instruction, "
         f"so absolute figures are far below real hardware: read the ratios.  "
         f"Each figure: median (min..max) of {reps} samples in one run.\n")
L.append("## 1. Data path, large type (64 MiB), stop-and-copy, section 256 pages\n")
L.append("Ratio = memcpy time of the same stream bytes (same run, same piece size) "
         "/ transfer time; 1.0 would be memcpy speed.\n")
L.append("| path | save ratio | resume ratio | save MiB/s | resume MiB/s |")
L.append("| --- | --- | --- | --- | --- |")
for p in ("mmap", "pread"):
    L.append(f"| {p} | {fig('save_'+p+'_ratio')} | {fig('resume_'+p+'_ratio')} | "
             f"{fig('save_'+p+'_mib_s', '{:.0f}')} | {fig('resume_'+p+'_mib_s', '{:.0f}')} |")
L.append(f"| memcpy | 1 | 1 | {fig('memcpy_mib_s', '{:.0f}')} | |\n")
if "save_mmap_enter_share" in rows or "digest_ratio" in rows:
    L.append("Where the time goes (mmap): share of a save spent in the SAVING write "
             f"{fig('save_mmap_enter_share')} and the final STOP {fig('save_mmap_stop_share')}; "
             f"of a resume in the RESUMING write (device reset) {fig('resume_mmap_enter_share')} "
             f"and the final STOP {fig('resume_mmap_stop_share')}.  "
             f"The device digest (xxh64 of the state, computed for END on save and again "
             f"on resume) runs at {fig('digest_ratio')} x memcpy and takes "
             f"{fig('digest_share_of_save_mmap')} of an mmap save.\n")
if "save_zerocopy_ratio" in rows:
    L.append("## 1b. Every protocol and path side by side (large type, 1 MiB pieces)\n")
    L.append("Copies per stream byte are counted, not timed: the driver's from its debugfs "
             "counters (save_copied + user_out), the client's from what it copies itself "
             "(one memcpy a byte out of a mapping; none for pread and read(), which land "
             "in the final buffer).  The resume of every v1 row is the copying parser.\n")
    L.append("| protocol, path | save ratio | resume ratio | copies per byte (save) |")
    L.append("| --- | --- | --- | --- |")
    L.append(f"| v1 mmap, copying device | {fig('save_copy_ratio')} | {fig('resume_mmap_ratio')} | {fig('copies_per_byte_v1_mmap_copy')} |")
    L.append(f"| v1 mmap, zero-copy window | {fig('save_zerocopy_ratio')} | {fig('resume_zerocopy_ratio')} | {fig('copies_per_byte_v1_mmap_zerocopy')} |")
    L.append(f"| v1 pread/pwrite | {fig('save_pread_ratio')} | {fig('resume_pread_ratio')} | {fig('copies_per_byte_v1_pread')} |")
    L.append(f"| v2 data_fd read()/write() | {fig('save_v2_ratio')} | {fig('resume_v2_ratio')} | {fig('copies_per_byte_v2_read')} |")
    L.append("")
if "native_save_copy_ratio" in rows:
    L.append("## 1c. The stream code at native speed (host CPU, no VM)\n")
    L.append("tools/fuzz-native/stream_bench: mig_stream.c and mig_dev.c built for user "
             "space as the native fuzzer builds them, -O2 without sanitizers, 64 MiB, "
             f"1 MiB pieces, against memcpy at {fig('native_memcpy_mib_s', '{:.0f}')} MiB/s.\n")
    L.append("| | ratio to memcpy |")
    L.append("| --- | --- |")
    L.append(f"| save, copy into the section | {fig('native_save_copy_ratio')} |")
    L.append(f"| save in place + the client's copy | {fig('native_save_inplace_ratio')} |")
    if "native_save_inplace_chunks" in rows:
        L.append(f"| (chunks of the save in place) | {fig('native_save_inplace_chunks', '{:.0f}')} |")
    L.append(f"| resume (copy and hash) | {fig('native_resume_ratio')} |")
    L.append("")
sp = sorted({int(m.split("_")[1][1:]) for m in rows if m.startswith("sweep_p")})
if sp:
    L.append("## 2. Data section size sweep (large type, mmap)\n")
    L.append("| section | save MiB/s | save ratio | resume MiB/s | resume ratio | syscalls/MiB save | syscalls/MiB resume |")
    L.append("| --- | --- | --- | --- | --- | --- | --- |")
    for p in sp:
        k = f"sweep_p{p}_"
        size = f"{p * 4} KiB" if p < 256 else f"{p // 256} MiB"
        L.append(f"| {p} pages ({size}) | {fig(k+'save_mib_s', '{:.0f}')} | {fig(k+'save_ratio')} | "
                 f"{fig(k+'resume_mib_s', '{:.0f}')} | {fig(k+'resume_ratio')} | "
                 f"{fig(k+'save_syscalls_per_mib', '{:.4g}').split(' ')[0]} | "
                 f"{fig(k+'resume_syscalls_per_mib', '{:.4g}').split(' ')[0]} |")
    L.append("")
cr = sorted({int(m.split("_")[1][1:]) for m in rows if m.startswith("conv_r")})
if cr:
    L.append("## 3. Convergence (large type, live save, at most 30 pre-copy passes)\n")
    L.append("Pre-copy stops when pending_bytes < one section (converged) or after 30 passes; "
             "stop-and-copy bytes and time are the downtime proxy.\n")
    L.append("| engine rate (pages/s) | achieved pages/s | passes | converged | total s | stop-and-copy MiB | stop-and-copy s |")
    L.append("| --- | --- | --- | --- | --- | --- | --- |")
    for r in cr:
        k = f"conv_r{r}_"
        sc = rows.get(k + "stopcopy_bytes")
        scm = "-" if not sc else "{:.1f} ({:.1f}..{:.1f})".format(
            *(float(sc[x]) / 1048576 for x in ("median", "min", "max")))
        L.append(f"| {r} | {fig(k+'engine_pages_s', '{:.0f}')} | {fig(k+'passes', '{:.0f}')} | "
                 f"{fig(k+'converged', '{:.1f}')} | {fig(k+'total_s')} | {scm} | {fig(k+'stopcopy_s')} |")
    L.append("")
sn = sorted({int(m.split("_")[1][1:]) for m in rows if m.startswith("scale_n")})
if sn:
    L.append("## 4. Scale: small instances (4 MiB) migrating at once, one thread per pair\n")
    L.append("Memory: KiB per instance beyond its device memory (MemAvailable and VmallocUsed "
             "deltas minus 4096 KiB; Slab delta as is), instances created and opened.  "
             "MemAvailable moves in steps larger than a few instances (per-CPU counter "
             "batching, reclaim estimates): read it at 32 pairs only.\n")
    L.append("| pairs | aggregate MiB/s | MemAvailable KiB/inst | VmallocUsed KiB/inst | Slab KiB/inst |")
    L.append("| --- | --- | --- | --- | --- |")
    for n in sn:
        k = f"scale_n{n}_"
        L.append(f"| {n} | {fig(k+'aggregate_mib_s', '{:.0f}')} | {fig(k+'memavail_kib_per_inst', '{:.0f}')} | "
                 f"{fig(k+'vmalloc_kib_per_inst', '{:.0f}')} | {fig(k+'slab_kib_per_inst', '{:.0f}')} |")
    L.append("")
if "qemu_small_total_ms" in rows or "qemu_large_total_ms" in rows:
    L.append("## 5. QEMU 7.2 end to end: live migration of one instance\n")
    L.append("Two QEMUs (TCG, firmware only) inside the test VM, TCP on loopback, "
             "max-bandwidth 256 MiB/s, downtime-limit 300 ms, engine at 400 pages/s; "
             "query-migrate on the source.\n")
    L.append("| type | total-time ms | downtime ms |")
    L.append("| --- | --- | --- |")
    for t in ("small", "large"):
        L.append(f"| {t} | {fig('qemu_'+t+'_total_ms', '{:.0f}')} | {fig('qemu_'+t+'_downtime_ms', '{:.0f}')} |")
    L.append("")
# 6. part qemu-dma: qemu_dma_<v1|v2>_r<rate>_<what>
qd = sorted({int(m.group(1)) for m in (re.match(r"qemu_dma_v[12]_r([0-9]+)_", k) for k in rows) if m})
def cnt(m):
    r = rows.get(m)
    return int(float(r["median"])) if r else 0
def mib(m):
    r = rows.get(m)
    if not r:
        return "-"
    v = [float(r[x]) / 1048576 for x in ("median", "min", "max")]
    return "{:.2f} ({:.2f}..{:.2f})".format(*v)
if qd:
    st = dict(w.split("=", 1) for w in dmaset.split() if "=" in w)
    g = lambda k, d="?": st.get(k, d)
    L.append("## 6. QEMU 7.2 (v1) and QEMU 10.0 (v2): the same live migration under the guest's DMA\n")
    L.append(f"The guest test program (guest/) in a TCG guest (-m {g('mem')}) with a small instance "
             f"(4 MiB), its DMA engine writing a {int(g('pages', '0')) * 4} KiB ring at the rate of the "
             f"row (0: `mode=idle`, no DMA), {g('lag')} records left unread; the memory engine at "
             f"{g('engine')} pages/s.  TCP on loopback, max-bandwidth {int(g('bw', '0')) // 1048576} MiB/s, "
             f"downtime-limit {g('downtime')} ms, raised to {g('raised')} ms if the migration has not "
             f"completed after {g('hold')} s; QEMU 10 also gets `{g('v2_extra').lstrip(',')}` "
             f"(selftests/qemu/v2.sh).  Highest DMA rate: dma_max_rate = {g('dma_max_rate')}.  "
             f"Median (min..max) of {g('samples')} samples (min(BENCH_REPS, 3)).  Device bytes and "
             "passes: the source driver's debugfs `bytes_saved` and `passes` (pre-copy passes "
             "completed over the device's dirty pages); RAM bytes and dirty syncs: query-migrate's "
             "`ram.transferred` and `ram.dirty-sync-count`.  Converged: migrations that completed "
             "under the first limit.  Guest: the destination guest's verdict (every DMA record in "
             "order, none lost or torn; its memory not older than its CPU state); *stale RAM* is "
             "the known QEMU 7.2 failure under TCG (docs/GUEST.md).\n")
    L.append("| DMA rec/s | QEMU | guest saw rec/s | total ms | downtime ms | device MiB | device passes | RAM MiB | dirty syncs | converged | guest |")
    L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in qd:
        for p, q in (("v1", "7.2, v1"), ("v2", "10.0, v2")):
            k = f"qemu_dma_{p}_r{r}_"
            if k + "samples" not in rows:
                continue
            n = cnt(k + "samples")
            done = n - cnt(k + "nomig_n")
            v = [f"{cnt(k + 'pass_n')}/{n} pass"]
            if cnt(k + "stale_n"):
                v.append(f"{cnt(k + 'stale_n')} stale RAM")
            if cnt(k + "fail_n"):
                v.append(f"{cnt(k + 'fail_n')} other failure")
            if cnt(k + "nomig_n"):
                v.append(f"{cnt(k + 'nomig_n')} migration failed")
            L.append(f"| {r if r else '0 (idle)'} | {q} | {fig(k+'dma_rec_s', '{:.0f}') if r else '-'} | "
                     f"{fig(k+'total_ms', '{:.0f}')} | {fig(k+'downtime_ms', '{:.0f}')} | "
                     f"{mib(k+'dev_bytes')} | {fig(k+'passes', '{:.0f}')} | {mib(k+'ram_bytes')} | "
                     f"{fig(k+'dirty_syncs', '{:.0f}')} | {cnt(k+'converged_n')}/{done} | {', '.join(v)} |")
    L.append("")
L.append("Raw: `results.csv` (medians), `spread.csv` (median, min, max), `tap.log`.")
open(out + "/results.md", "w").write("\n".join(L) + "\n")

# data files for gnuplot
def val(m):
    r = rows.get(m)
    return float(r["median"]) if r else float("nan")
with open(out + "/sweep.dat", "w") as f:
    for p in sp:
        k = f"sweep_p{p}_"
        f.write(f"{p*4} {val(k+'save_mib_s')} {val(k+'resume_mib_s')} "
                f"{val(k+'save_syscalls_per_mib')} {val(k+'resume_syscalls_per_mib')} "
                f"{val(k+'save_ratio')} {val(k+'resume_ratio')}\n")
with open(out + "/conv.dat", "w") as f:
    for r in cr:
        k = f"conv_r{r}_"
        f.write(f"{max(r, 1)} {val(k+'passes')} {val(k+'stopcopy_bytes')/1048576} {val(k+'total_s')}\n")
with open(out + "/scale.dat", "w") as f:
    for n in sn:
        f.write(f"{n} {val(f'scale_n{n}_aggregate_mib_s')}\n")
for p in ("v1", "v2"):
    with open(out + f"/qemu_dma_{p}.dat", "w") as f:
        f.write("# label index total tmin tmax down dmin dmax dev_mib ram_mib passes syncs\n")
        for i, r in enumerate(qd):
            k = f"qemu_dma_{p}_r{r}_"
            def mm(m, scale=1.0):
                x = rows.get(k + m)
                return [float(x[c]) / scale for c in ("median", "min", "max")] if x else [float("nan")] * 3
            t, d = mm("total_ms"), mm("downtime_ms")
            f.write(f"{r if r else 'idle'} {i} {t[0]} {t[1]} {t[2]} {d[0]} {d[1]} {d[2]} "
                    f"{mm('dev_bytes', 1048576)[0]} {mm('ram_bytes', 1048576)[0]} "
                    f"{mm('passes')[0]} {mm('dirty_syncs')[0]}\n")
with open(out + "/datapath.dat", "w") as f:
    for i, p in enumerate(("mmap", "pread")):
        f.write(f"{i} {p} {val('save_'+p+'_ratio')} {val('resume_'+p+'_ratio')}\n")
    if "save_zerocopy_ratio" in rows:
        f.write(f"2 mmap-zerocopy {val('save_zerocopy_ratio')} {val('resume_zerocopy_ratio')}\n")
        f.write(f"3 v2-read/write {val('save_v2_ratio')} {val('resume_v2_ratio')}\n")
PY

# ---- plot ------------------------------------------------------------------
# has_NAME: 1 if NAME.dat has a measured value (a run of some parts only
# leaves the others empty or NaN; their panels are left blank).
has() {
	awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) f = 1 }
	     END { print f ? 1 : 0 }' "$OUT/$1.dat" 2> /dev/null || echo 0
}
if command -v gnuplot > /dev/null; then
	flags="has_datapath=$(has datapath); has_sweep=$(has sweep); has_conv=$(has conv); has_scale=$(has scale)"
	cat > "$OUT/bench.gp" <<'GP'
set terminal pngcairo size 1200,900 font ",9" noenhanced
set output "bench.png"
set multiplot layout 2,2 title "mig-mdev make bench (TCG guest; medians)"
set title "1. data path / memcpy (64 MiB, stop-and-copy)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set yrange [0:*]
set ylabel "ratio to memcpy"
if (has_datapath) {
	plot "datapath.dat" using 3:xtic(2) title "save", "" using 4 title "resume"
} else {
	set multiplot next
}
set title "2. data section sweep (mmap)"
set style data linespoints
set logscale x 2
set xlabel "section KiB"
set ylabel "ratio to memcpy"
set y2label "syscalls per MiB"
set logscale y2 10
set y2tics
set key top left
if (has_sweep) {
	plot "sweep.dat" using 1:6 title "save / memcpy", "" using 1:7 title "resume / memcpy", \
	     "" using 1:4 axes x1y2 title "save syscalls/MiB" dt 2, "" using 1:5 axes x1y2 title "resume syscalls/MiB" dt 2
} else {
	set multiplot next
}
unset y2tics
unset y2label
unset logscale y2
set title "3. convergence (64 MiB, live)"
set logscale x 10
set xlabel "engine rate, pages/s (0 plotted at 1)"
set ylabel "pre-copy passes"
set y2label "stop-and-copy MiB"
set y2tics
if (has_conv) {
	plot "conv.dat" using 1:2 title "passes", "" using 1:3 axes x1y2 title "stop-and-copy MiB"
} else {
	set multiplot next
}
unset y2tics
unset y2label
unset logscale x
set title "4. scale (4 MiB pairs, threads)"
set xlabel "pairs migrating at once"
set ylabel "aggregate MiB/s"
set xtics (1, 8, 32)
if (has_scale) {
	plot "scale.dat" using 1:2 title "aggregate MiB/s"
} else {
	set multiplot next
}
unset multiplot
GP
	if (cd "$OUT" && gnuplot -e "$flags" bench.gp) > "$OUT/gnuplot.log" 2>&1; then
		say PLOT "$OUT/bench.png"
	else
		say PLOT "gnuplot failed: see $OUT/gnuplot.log"
	fi
	# part qemu-dma: its own image, v1 and v2 side by side (x: the DMA
	# rates as categories; v1 drawn just left of each, v2 just right)
	rm -f "$OUT/bench-qemu-dma.png"
	if [ "$(has qemu_dma_v1)$(has qemu_dma_v2)" != 00 ]; then
		cat > "$OUT/bench-qemu-dma.gp" <<'GP'
set terminal pngcairo size 1200,900 font ",9" noenhanced
set output "bench-qemu-dma.png"
set multiplot layout 2,2 title "mig-mdev make bench, part qemu-dma: QEMU 7.2 (v1) and 10.0 (v2), guest DMA sweep (medians; bars: min..max)"
set xlabel "guest DMA rate, records/s"
set xrange [-0.5:*]
set offsets 0, 0.5, 0, 0
set key top left
set yrange [0:*]
set style data linespoints
v1 = "qemu_dma_v1.dat"
v2 = "qemu_dma_v2.dat"
set title "total time"
set ylabel "ms"
plot v1 using ($2-0.05):3:4:5:xtic(1) with yerrorlines title "QEMU 7.2, v1", \
     v2 using ($2+0.05):3:4:5 with yerrorlines title "QEMU 10.0, v2"
set title "downtime"
if (limit == limit) { set yrange [0:*] ; set offsets 0, 0.5, limit * 0.2, 0 }
plot v1 using ($2-0.05):6:7:8:xtic(1) with yerrorlines title "QEMU 7.2, v1", \
     v2 using ($2+0.05):6:7:8 with yerrorlines title "QEMU 10.0, v2", \
     limit with lines dt 3 lc "gray" title sprintf("downtime-limit %g ms", limit)
set title "bytes sent"
set offsets 0, 0.5, 0, 0
set ylabel "MiB"
plot v1 using 2:9:xtic(1) title "device, v1", v2 using 2:9 title "device, v2", \
     v1 using 2:10 title "guest RAM, v1" dt 2, v2 using 2:10 title "guest RAM, v2" dt 2
set title "pre-copy passes (driver) and dirty syncs (QEMU)"
set ylabel "count"
set key top right
plot v1 using 2:11:xtic(1) title "device passes, v1", v2 using 2:11 title "device passes, v2", \
     v1 using 2:12 title "dirty syncs, v1" dt 2, v2 using 2:12 title "dirty syncs, v2" dt 2
unset multiplot
GP
		lim=$(info qemu_dma_settings | tr ' ' '\n' | sed -n 's/^downtime=//p')
		if (cd "$OUT" && gnuplot -e "limit=${lim:-NaN}" bench-qemu-dma.gp) >> "$OUT/gnuplot.log" 2>&1; then
			say PLOT "$OUT/bench-qemu-dma.png"
		else
			say PLOT "gnuplot failed on bench-qemu-dma.gp: see $OUT/gnuplot.log"
		fi
	fi
fi
say RESULTS "$OUT/results.md"
say CSV "$OUT/results.csv ($n figures; spread in $OUT/spread.csv)"
grep -E '^(save|resume)_(mmap|pread)_ratio,' "$OUT/results.csv" | sed 's/^/  /' || true
