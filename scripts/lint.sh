#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make lint: the kernel's own checkers on the module, cppcheck on user space.
#
#   scripts/lint.sh [STEP...]      steps: checkpatch sparse w1 cppcheck kernel-doc
#                                  (default: all)
#
#   checkpatch   checkpatch.pl --strict --no-tree -f on every kernel source file
#                (mig.[ch], mig_*.[ch], include/uapi/linux/*.h,
#                include/trace/*.h);
#                mig_compat.h with --ignore LINUX_VERSION_CODE, the trace
#                header with --ignore OPEN_ENDED_LINE,PARENTHESIS_ALIGNMENT
#   sparse       make module C=2: any "warning:" or "error:" line fails
#   w1           make module W=1 KCFLAGS=-Werror
#   cppcheck     cppcheck on the C files of tools/ and selftests/
#   kernel-doc   scripts/kernel-doc -none on the module and include/uapi:
#                any output fails
#
# sparse and w1 run against the Debian 6.1 headers (KVER_61) and, when it has
# been built, the 6.12 debug kernel (KDIR of `scripts/debug-kernel.sh env`, or
# DEBUG_KDIR).  They build a copy of the module under $BUILD/lint/, so a lint
# run never races a build in the tree.  checkpatch.pl and kernel-doc come from
# Debian's linux-source-6.1 tarball, extracted once into a cache outside the
# repository.  Each step prints PASS or FAIL; logs are in $BUILD/lint/.
# Exits nonzero if any step failed.
set -uo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

LINTDIR=$BUILD/lint
TARBALL=${KSRC_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
KDIR61=/usr/src/linux-headers-$KVER_61
mkdir -p "$LINTDIR"
cd "$MIG_TOP" || exit 1

STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(checkpatch sparse w1 cppcheck kernel-doc)
results=()
nfail=0

result() {	# result NAME PASS|FAIL|SKIP [WHY]
	printf '  %-28s %s%s\n' "$1" "$2" "${3:+ ($3)}"
	results+=("$(printf '%-28s %s%s' "$1" "$2" "${3:+ ($3)}")")
	if [ "$2" = FAIL ]; then nfail=$((nfail + 1)); fi
}
show() {	# show FILE: the findings, indented, at most 60 lines
	sed 's/^/      /' "$1" | head -n 60
	local n
	n=$(wc -l < "$1")
	if [ "$n" -gt 60 ]; then echo "      ... $((n - 60)) more lines in $1"; fi
}

# ---- the kernel's scripts, from the linux-source-6.1 tarball --------------------
# Cached in $MIG_CACHE (or $BUILD if that is not writable), keyed by the
# tarball's size and date; never copied into the repository.
KTOOLS=
ktools() {
	local cache stamp want member
	if [ -n "$KTOOLS" ]; then return 0; fi
	[ -f "$TARBALL" ] || {
		echo "  no $TARBALL: apt-get install linux-source-6.1 (or set KSRC_TARBALL)"
		return 1
	}
	cache=$MIG_CACHE/lint/linux-source-6.1
	if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
		cache=$LINTDIR/cache/linux-source-6.1
		mkdir -p "$cache"
	fi
	want=$(stat -c '%s %Y' "$TARBALL")
	stamp=$cache/.stamp
	if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
		echo "  UNTAR    checkpatch.pl, kernel-doc from $TARBALL -> $cache"
		rm -rf "${cache:?}"/*
		member=linux-source-6.1/scripts
		tar -xJf "$TARBALL" -C "$cache" --strip-components=2 \
			"$member/checkpatch.pl" "$member/spelling.txt" \
			"$member/const_structs.checkpatch" "$member/kernel-doc" || return 1
		echo "$want" > "$stamp"
	fi
	KTOOLS=$cache
}

# ---- the files -------------------------------------------------------------------
shopt -s nullglob
KSRC=(mig.[ch] mig_*.[ch] include/uapi/linux/*.h include/trace/*.h)
USRC=(tools/*/*.c tools/*/*.h selftests/*.c selftests/*.h)
shopt -u nullglob

# ---- (a) checkpatch ----------------------------------------------------------------
step_checkpatch() {
	local log=$LINTDIR/checkpatch.log f ignore
	: > "$LINTDIR/checkpatch.stderr"
	ktools || { result checkpatch FAIL "no checkpatch.pl"; return; }
	: > "$log"
	# From a scratch directory, since checkpatch keeps its CamelCase cache
	# (.checkpatch-camelcase.*) in the current one; the files are linked in
	# at their repository paths, which some rules look at (include/uapi/).
	rm -rf "$LINTDIR/checkpatch.d"
	for f in "${KSRC[@]}"; do
		mkdir -p "$LINTDIR/checkpatch.d/$(dirname "$f")"
		ln -s "$MIG_TOP/$f" "$LINTDIR/checkpatch.d/$f"
	done
	for f in "${KSRC[@]}"; do
		ignore=()
		# the one file whose job is LINUX_VERSION_CODE (it says so at its top)
		case $f in
		mig_compat.h) ignore=(--ignore LINUX_VERSION_CODE) ;;
		# TRACE_EVENT() is laid out the kernel's way (TP_PROTO(\n ...),
		# which checkpatch --strict cannot parse: the same two rules fire
		# on every header of include/trace/events/
		include/trace/*) ignore=(--ignore OPEN_ENDED_LINE,PARENTHESIS_ALIGNMENT) ;;
		esac
		(cd "$LINTDIR/checkpatch.d" &&
			perl "$KTOOLS/checkpatch.pl" --strict --no-tree --terse --show-types \
				--no-summary "${ignore[@]}" -f "$f") \
			>> "$log" 2>> "$LINTDIR/checkpatch.stderr"
	done
	if grep -qE '(ERROR|WARNING|CHECK):' "$log"; then
		show "$log"
		result checkpatch FAIL "$(grep -cE '(ERROR|WARNING|CHECK):' "$log") findings in ${#KSRC[@]} files"
	else
		result checkpatch PASS "${#KSRC[@]} files"
	fi
}

# ---- (b) sparse and (c) W=1 --------------------------------------------------------
# modcopy DIR: a fresh copy of what `make module` needs, in DIR
modcopy() {
	rm -rf "$1"
	mkdir -p "$1/scripts"
	cp -- *.c *.h Kbuild Makefile "$1/" &&
		cp scripts/*.mk "$1/scripts/" &&
		cp -r include "$1/"
	find "$1" \( -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' \) -delete
}
# kbuild NAME TAG KDIR MAKE-ARGS...: build a copy of the module with extra
# arguments; fail on an error exit or any warning/error line
kbuild() {
	local name=$1 tag=$2 kdir=$3 dir log rc=0
	shift 3
	dir=$LINTDIR/$tag
	log=$LINTDIR/$tag.log
	modcopy "$dir" || { result "$name" FAIL "copying the sources"; return; }
	echo "  MAKE     module KDIR=$kdir $* (in $dir)"
	make -C "$dir" module KDIR="$kdir" "$@" > "$log" 2>&1 || rc=$?
	# findings by repository path
	sed -i "s|$dir/||g" "$log"
	if [ $rc -ne 0 ] || grep -qE 'warning:|error:' "$log"; then
		grep -E 'warning:|error:' "$log" > "$log.findings" || tail -n 30 "$log" > "$log.findings"
		show "$log.findings"
		result "$name" FAIL "$(grep -cE 'warning:|error:' "$log") warning/error lines, make exit $rc; $log"
	else
		result "$name" PASS
	fi
}

# The 6.12 debug kernel tree, if it has been built (empty if not):
# DEBUG_KDIR, else KDIR from `scripts/debug-kernel.sh env`.
debug_kdir() {
	local d=
	if [ -n "${DEBUG_KDIR:-}" ]; then echo "$DEBUG_KDIR"; return; fi
	if [ -f scripts/debug-kernel.sh ]; then
		d=$(eval "$(bash scripts/debug-kernel.sh env 2>/dev/null)" && echo "${KDIR:-}")
	elif [ -f scripts/build-debug-kernel.sh ]; then
		d=$(bash scripts/build-debug-kernel.sh --dir 2>/dev/null)
		if [ -n "$d" ] && [ -f "$d/.done" ]; then d=$d/src; else d=; fi
	fi
	if [ -n "$d" ] && [ -f "$d/Module.symvers" ]; then echo "$d"; fi
}

step_kbuild() {	# step_kbuild sparse|w1
	local what=$1 dk kdirs=("$KDIR61") tags=(6.1) i
	if [ ! -d "$KDIR61" ]; then
		result "$what 6.1" FAIL "no $KDIR61: apt-get install linux-headers-$KVER_61"
		return
	fi
	dk=$(debug_kdir)
	if [ -n "$dk" ]; then kdirs+=("$dk"); tags+=(6.12-debug); fi
	for i in "${!kdirs[@]}"; do
		case $what in
		sparse)
			command -v sparse > /dev/null ||
				DEBIAN_FRONTEND=noninteractive apt-get install -y -q sparse > /dev/null
			kbuild "sparse ${tags[$i]}" "sparse-${tags[$i]}" "${kdirs[$i]}" C=2 ;;
		w1)
			kbuild "W=1 -Werror ${tags[$i]}" "w1-${tags[$i]}" "${kdirs[$i]}" W=1 KCFLAGS=-Werror ;;
		esac
	done
	if [ -z "$dk" ]; then
		result "$what 6.12-debug" SKIP "not built: make debug-kernel, or set DEBUG_KDIR"
	fi
}

# ---- (d) cppcheck ----------------------------------------------------------------
step_cppcheck() {
	local log=$LINTDIR/cppcheck.log ksft=$BUILD/kselftest inc=() rc=0
	if ! command -v cppcheck > /dev/null; then
		echo "  DEPS     apt-get install cppcheck"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cppcheck > /dev/null ||
			{ result cppcheck FAIL "apt-get install cppcheck failed"; return; }
	fi
	if [ ${#USRC[@]} -eq 0 ]; then result cppcheck SKIP "no C files"; return; fi
	# the harness headers, extracted as the selftests build does it: without
	# them cppcheck cannot expand FIXTURE/TEST_F and reports syntax errors
	make -s -C selftests BUILD="$BUILD" "$ksft/kselftest_harness.h" > /dev/null ||
		{ result cppcheck FAIL "cannot extract kselftest_harness.h"; return; }
	inc=(-I "$ksft")
	cppcheck --error-exitcode=1 --enable=warning,portability --inline-suppr -q \
		--std=c11 --platform=unix64 -I include/uapi -I tools/libmig "${inc[@]}" \
		--suppress='*:*/kselftest*.h' "${USRC[@]}" > "$log" 2>&1 || rc=$?
	if [ $rc -ne 0 ] || [ -s "$log" ]; then
		show "$log"
		result cppcheck FAIL "exit $rc; $log"
	else
		result cppcheck PASS "${#USRC[@]} files"
	fi
}

# ---- (e) kernel-doc --------------------------------------------------------------
step_kerneldoc() {
	local log=$LINTDIR/kernel-doc.log files=()
	ktools || { result kernel-doc FAIL "no kernel-doc"; return; }
	shopt -s nullglob
	files=(mig.[ch] mig_*.[ch] include/uapi/linux/*.h)
	shopt -u nullglob
	perl "$KTOOLS/kernel-doc" -none "${files[@]}" > "$log" 2>&1
	if [ -s "$log" ]; then
		show "$log"
		result kernel-doc FAIL "$(wc -l < "$log") lines; $log"
	else
		result kernel-doc PASS "${#files[@]} files"
	fi
}

echo "== mig-mdev lint: ${STEPS[*]} (kernel $KVER_61; logs in $LINTDIR) =="
for s in "${STEPS[@]}"; do
	echo "-- $s"
	case $s in
	checkpatch) step_checkpatch ;;
	sparse) step_kbuild sparse ;;
	w1 | W=1) step_kbuild w1 ;;
	cppcheck) step_cppcheck ;;
	kernel-doc | kerneldoc) step_kerneldoc ;;
	*) result "$s" FAIL "unknown step (checkpatch sparse w1 cppcheck kernel-doc)" ;;
	esac
done

echo "== lint summary =="
for r in "${results[@]}"; do echo "  $r"; done
if [ $nfail -gt 0 ]; then
	echo "lint: $nfail step(s) FAILED"
	exit 1
fi
echo "lint: all steps passed"
