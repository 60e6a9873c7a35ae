#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test VM and count its results.
#
#   scripts/run-vm.sh [check|demo|shell]
#
# Environment:
#   MIG_TESTS     run only these TESTS programs (names, space or comma separated)
#   VM_TIMEOUT    seconds for the whole VM (default 3600)
#   TEST_TIMEOUT  seconds per test program in the guest (default 600)
#   VM_MEM        guest memory in MiB (default 3072)
#   VM_SMP        guest CPUs (default 2)
#   VM_APPEND     extra kernel command line
#
# Logs: build/vm/console.log (kernel console), build/vm/tap.log (test
# output), build/vm/qemu.log (QEMU's own messages).  The last line printed
# is "N passed, N failed" (", N skipped" if any); exit status 1 if anything
# failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

MODE=${1:-check}
case $MODE in check|demo|shell) ;; *) die "usage: $0 [check|demo|shell]" ;; esac
VM_TIMEOUT=${VM_TIMEOUT:-3600}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
VM_MEM=${VM_MEM:-3072}
VM_SMP=${VM_SMP:-2}
MIG_TESTS=${MIG_TESTS:-}

KERNEL=$VM_KERNEL
INITRD=$VMDIR/initramfs.cpio.gz
CONSOLE=$VMDIR/console.log
TAPLOG=$VMDIR/tap.log
QLOG=$VMDIR/qemu.log
[ -f "$KERNEL" ] || die "no $KERNEL: run scripts/fetch-kernel.sh"
[ -f "$INITRD" ] || die "no $INITRD: run scripts/mkinitramfs.sh"

append="console=ttyS0 panic=-1 quiet mig.mode=$MODE mig.timeout=$TEST_TIMEOUT"
if [ -n "$MIG_TESTS" ]; then
	append+=" mig.tests=$(echo "$MIG_TESTS" | tr -s ' ,' ',' | sed 's/^,//;s/,$//')"
fi
append+=" ${VM_APPEND:-}"

qemu=(qemu-system-x86_64 -accel tcg -m "$VM_MEM" -smp "$VM_SMP" -nographic -no-reboot -nic none
      -kernel "$KERNEL" -initrd "$INITRD" -append "$append")
rm -f "$CONSOLE" "$TAPLOG" "$QLOG"

if [ "$MODE" = shell ]; then
	say VM "interactive shell: console on this terminal (Ctrl-A x quits QEMU)"
	say LOG "test port output: $TAPLOG"
	exec "${qemu[@]}" -serial mon:stdio -serial "file:$TAPLOG"
fi

say VM "booting $VM_KVER (TCG, ${VM_MEM} MiB, $VM_SMP CPUs), mode=$MODE${MIG_TESTS:+ tests=$MIG_TESTS}, timeout ${VM_TIMEOUT}s (${TEST_TIMEOUT}s per program)"
say LOG "console: $CONSOLE"
say LOG "tests:   $TAPLOG"
t0=$(date +%s)
touch "$TAPLOG"
timeout -k 10 "$VM_TIMEOUT" "${qemu[@]}" -monitor none \
	-serial "file:$CONSOLE" -serial "file:$TAPLOG" < /dev/null > "$QLOG" 2>&1 &
qpid=$!
# Show the test output as it comes.
tail -n +1 -F --pid="$qpid" "$TAPLOG" 2>/dev/null | sed -u 's/\r$//; s/^/  | /' || true
rc=0
wait "$qpid" || rc=$?
secs=$(($(date +%s) - t0))
say VM "QEMU exited with status $rc after ${secs}s"

# ---- counting ----------------------------------------------------------------
tr -d '\r' < "$TAPLOG" > "$VMDIR/tap.clean"
touch "$CONSOLE"
# The guest kernel log: any of these is a failure.  The dmesg dump at the end
# repeats what printk already showed, so lines are de-duplicated.
# Hangs and stalls count too (PROTOCOL.md, "Hostile input"): the hung-task
# detector ("task ... blocked for more than"), soft and hard lockups, RCU
# stalls and the workqueue watchdog.
pat='BUG:|WARNING:|Oops|KASAN|UBSAN|lockdep|possible circular locking|unreferenced object|Call Trace:|blocked for more than|hung task|soft lockup|hard LOCKUP|rcu_sched self-detected stall|rcu_preempt self-detected stall|rcu: INFO: .* detected stall|workqueue lockup|Kernel panic|general protection fault'
# An allocation failure report (warn_alloc: "page allocation failure:" or
# "vmalloc error:", then a stack dump up to </TASK>) is what the fail-nth
# sweep provokes on purpose: it is not a kernel bug, so it is left out.
#
# A WARN block ("cut here" ... "end trace") that scripts/known-splats.txt
# names -- a kernel-core bug the sweep reaches, with its analysis in
# docs/TESTING.md -- is left out too; its name goes to $VMDIR/console.known.
tr -d '\r' < "$CONSOLE" |
	awk '/page allocation failure:|vmalloc error:/ { skip = 1 }
	     !skip { print }
	     skip && /<\/TASK>/ { skip = 0 }' |
	sed 's/^\[ *[0-9.]*\] //' |
	awk -v known="$(dirname "$0")/known-splats.txt" -v out="$VMDIR/console.known" '
	BEGIN {
		while ((getline l < known) > 0) {
			if (l ~ /^#/ || l !~ /\|/) continue
			n = split(l, f, "|")
			if (n < 3) continue
			nk++; kw[nk] = f[1]; kf[nk] = f[2]; kn[nk] = f[3]
		}
		printf "" > out
	}
	function flush(    i, j, w, ok) {
		w = 0
		for (i = 1; i <= nb; i++) if (buf[i] ~ /^WARNING: /) { w = i; break }
		if (w) for (j = 1; j <= nk; j++) {
			if (buf[w] !~ kw[j]) continue
			ok = 0
			for (i = 1; i <= nb; i++) if (buf[i] ~ kf[j]) ok = 1
			if (ok) { print kn[j] > out; nb = 0; return }
		}
		for (i = 1; i <= nb; i++) print buf[i]
		nb = 0
	}
	/-+\[ cut here \]-+/ { if (nb) flush(); inb = 1 }
	inb { buf[++nb] = $0; if ($0 ~ /---\[ end trace/) { inb = 0; flush() } next }
	{ print }
	END { if (nb) flush() }' |
	grep -aE "$pat" |
	grep -avE 'KASAN: KernelAddressSanitizer initialized|RCU lockdep checking is enabled' |
	awk '!seen[$0]++' > "$VMDIR/console.hits" || true
summary=$VMDIR/summary.txt
rc2=0
awk -v vm_rc="$rc" -v vm_timeout="$VM_TIMEOUT" -v console="$CONSOLE" -v taplog="$TAPLOG" \
    -v mode="$MODE" -v scanfile="$VMDIR/console.hits" '
function fail(name) { failed++; failnames[failed] = name }
function pass() { passed++ }
function endprog(rc,    p) {
	p = cur
	if (p == "") return
	prc[p] = rc
	if (rc != "0" && pf[p] == 0)
		{ fail(p ": exited with status " rc); pf[p]++ }
	else if (rc == "0" && pp[p] + pf[p] + ps[p] == 0 && !plan0[p]) {
		if (mode == "demo") { pass(); pp[p]++ }
		else { fail(p ": printed no test results"); pf[p]++ }
	}
	else if (plan[p] != "" && pp[p] + pf[p] + ps[p] < plan[p] && !timedout[p])
		{ fail(p ": planned " plan[p] " tests, reported " pp[p] + pf[p] + ps[p]); pf[p]++ }
	cur = ""
}
/^# mig-run: BOOTED/ { booted = 1; bootline = $0; next }
/^# mig-run: DONE/ { done = 1; next }
/^# mig-run: START / {
	if (cur != "") endprog("incomplete")
	cur = substr($0, 18); nprog++; progs[nprog] = cur; lastprog = cur; lastrun = ""
	pp[cur] = pf[cur] = ps[cur] = 0; plan[cur] = ""; next
}
/^# mig-run: TIMEOUT / { timedout[cur] = 1; next }
/^# mig-run: END / {
	s = $0; sub(/.* rc=/, "", s); sub(/ .*/, "", s); endprog(s); next
}
/^#  RUN / { lastrun = $0; sub(/^#  RUN +/, "", lastrun); next }
/^1\.\.[0-9]+/ { if (cur != "") { n = $0; sub(/^1\.\./, "", n); sub(/[^0-9].*/, "", n); plan[cur] = n + 0; if (n + 0 == 0) plan0[cur] = 1 } next }
/^not ok / {
	p = (cur == "" ? "(no program)" : cur)
	if ($0 ~ /# *(SKIP|TODO)/) { skipped++; ps[p]++; next }
	name = $0; sub(/^not ok [0-9]* *-? */, "", name)
	if ($0 ~ /# TIMEOUT/ && lastrun != "") name = name " (last test started: " lastrun ")"
	fail(p ": " name); pf[p]++; next
}
/^ok / {
	p = (cur == "" ? "(no program)" : cur)
	if ($0 ~ /# *[Ss][Kk][Ii][Pp]/) { skipped++; ps[p]++ } else { pass(); pp[p]++ }
	next
}
END {
	if (cur != "") {
		if (!(vm_rc == 124 || vm_rc == 137))
			{ fail(cur ": did not finish (the guest stopped while it ran)"); pf[cur]++ }
		prc[cur] = "none"
	}
	if (!booted)
		fail("guest reached /init (see " console ")")
	if (vm_rc == 124 || vm_rc == 137) {
		msg = "VM finished within " vm_timeout "s (it was killed"
		if (lastprog != "") msg = msg "; running: " lastprog
		if (lastrun != "") msg = msg "; last test started: " lastrun
		fail(msg ")")
		print "VM TIMEOUT after " vm_timeout "s" > "/dev/stderr"
		if (lastprog != "") print "  last program started: " lastprog > "/dev/stderr"
		if (lastrun != "") print "  last test started:    " lastrun > "/dev/stderr"
	} else if (booted && !done) {
		fail("guest ran to the end (it stopped early: panic? see " console ")")
	}
	# the guest kernel log
	hits = 0
	while ((getline l < scanfile) > 0) hits++
	if (booted || hits) {
		if (hits) fail("guest kernel log clean (" hits " lines, see below and " console ")")
		else pass()
	}
	print "== per program =="
	for (i = 1; i <= nprog; i++) {
		p = progs[i]
		printf "  %-40s %d passed, %d failed, %d skipped (exit %s)\n", p, pp[p], pf[p], ps[p], prc[p]
	}
	if (failed) {
		print "== failed =="
		for (i = 1; i <= failed; i++) print "  FAIL " failnames[i]
	}
	out = (passed + 0) " passed, " (failed + 0) " failed"
	if (skipped) out = out ", " skipped " skipped"
	print out > "/dev/fd/3"
	exit (failed ? 1 : 0)
}' "$VMDIR/tap.clean" 3> "$VMDIR/totals" > "$summary" || rc2=$?

cat "$summary"
if [ -s "$VMDIR/console.known" ]; then
	echo "== known kernel-core warnings, left out of the log scan (docs/TESTING.md) =="
	sort "$VMDIR/console.known" | uniq -c | sed 's/^ */  /'
fi
if [ -s "$VMDIR/console.hits" ]; then
	echo "== guest kernel log: offending lines (full log: $CONSOLE) =="
	head -n 40 "$VMDIR/console.hits" | sed 's/^/  /'
	echo "== the first report in context =="
	tr -d '\r' < "$CONSOLE" | grep -aF -m1 -B3 -A30 -- "$(head -n1 "$VMDIR/console.hits")" | sed 's/^/  /'
fi
say LOG "console: $CONSOLE"
say LOG "tests:   $TAPLOG"
say LOG "qemu:    $QLOG"
say TIME "${secs}s in the VM ($(sed -n 's/.*uptime=\([0-9.]*s\).*/\1/p' "$VMDIR/tap.clean" | head -n1 | sed 's/^$/?/;s/^/boot to \/init /'))"
[ -n "${MIG_NO_TOTALS:-}" ] || cat "$VMDIR/totals"
exit $rc2
