#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# migctl, end to end on mig-mdev instances: every subcommand, both
# protocols (v1's region through both data paths, v2's data_fd) and files
# saved through one loaded through the other, live saves with the engine
# running, the protocol auto-detection, and every error with its exit code
# (1 usage, 2 no device or protocol not offered, 3 device in ERROR, 4 bad
# file or wrong device, 5 I/O).  Prints TAP on stdout; runs in the test VM
# from /mig.

PATH=/mig/bin:$PATH
T=/sys/class/mig_mdev/mig_mdev/mdev_supported_types
D=/sys/bus/mdev/devices
P=/sys/module/mig_mdev/parameters
W=/tmp/migctl_test
HDR=160		# migctl's file header
PAGE_DATA=$((HDR + 24 + 16))	# stream header, PAGES record header and head
insts=
# shellcheck source=selftests/tap.sh disable=SC1091
. "$(dirname "$0")/tap.sh"

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

show() {	# show FILE: a file's lines as TAP comments
	sed 's/^/# /' "$1"
}

# run NAME EXPECTED-RC CMD...: run migctl, stdout in $W/out, stderr in
# $W/err; a test that it exited with EXPECTED-RC.
run() {
	name=$1
	want=$2
	shift 2
	"$@" > "$W/out" 2> "$W/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "# $*: exit $rc, expected $want"
		show "$W/out"
		show "$W/err"
	fi
	[ "$rc" -eq "$want" ]
	ok $? "$name (exit $want)"
}

# has NAME FILE PATTERN: a test that FILE has a line matching PATTERN.
has() {
	grep -q -- "$3" "$2"
	r=$?
	if [ $r -ne 0 ]; then
		echo "# no '$3' in:"
		show "$2"
	fi
	ok $r "$1"
}

# jval NAME FILE PATH WANT: a test that the JSON in FILE parses (qmp --get
# walks it to PATH) and the member at PATH is WANT.
jval() {
	v=$(qmp --get "$3" < "$2" 2>&1)
	[ "$v" = "$4" ]
	r=$?
	if [ $r -ne 0 ]; then
		echo "# $3 is '$v', expected '$4', in:"
		show "$2"
	fi
	ok $r "$1"
}

create() {	# create TYPE: a new instance, its UUID on stdout
	u=$(cat /proc/sys/kernel/random/uuid)
	echo "$u" > "$T/mig_mdev-$1/create" || return 1
	echo "$u"
}

digest() {
	cat "$D/$1/digest"
}

flip() {	# flip FILE OFFSET: invert one byte of FILE in place
	v=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	v=$((v ^ 255))
	# shellcheck disable=SC2059 # the octal escape is the format
	printf "\\$(printf %03o "$v")" |
		dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}

cleanup() {
	for u in $insts; do
		[ -e "$D/$u" ] && echo 1 > "$D/$u/remove"
	done
	[ -f "$P/protocols" ] && echo both > "$P/protocols"
	rm -rf "$W"
}

skip() {	# skip NAME REASON: a skipped test
	n=$((n + 1))
	echo "ok $n $1 # SKIP $2"
}

stream() {	# stream FILE: the stream of a migctl file, on stdout
	tail -c +$((HDR + 1)) "$1"
}

echo "TAP version 13"
[ -d "$T" ] || skip_all "mig_mdev not loaded"
command -v migctl > /dev/null || skip_all "migctl not in /mig/bin"
mkdir -p "$W"
trap cleanup EXIT

A=$(create small) || skip_all "cannot create a small instance"
B=$(create small) || skip_all "cannot create a second small instance"
L=$(create large) || skip_all "cannot create a large instance"
insts="$A $B $L"
echo "# A=$A B=$B (small) L=$L (large)"

# Give A some state: the engine writes its memory for a moment.
echo 5000 > "$D/$A/engine_rate"
sleep 1
echo 0 > "$D/$A/engine_rate"

# ---- usage, help, unknown device -------------------------------------
run "help" 0 migctl --help
has "help documents the exit codes" "$W/out" "3  the device is or went in ERROR"
run "no command is a usage error" 1 migctl
run "unknown option is a usage error" 1 migctl --bogus list
run "unknown state name is a usage error" 1 migctl state "$A" HALTED
run "info on a device that does not exist" 2 migctl info 00000000-0000-0000-0000-000000000000
has "the message names the missing device" "$W/err" "no such device"

# ---- list, info, state, reset -----------------------------------------
run "list" 0 migctl list
has "list shows the small type" "$W/out" "type mig_mdev-small"
has "list shows instance A RUNNING with its digest" "$W/out" "$A  RUNNING  *digest $(digest "$A")"
run "list --json" 0 migctl --json list
has "list --json has the instances array" "$W/out" '"instances": \['
has "list --json has A's uuid and digest" "$W/out" "\"uuid\": \"$A\".*\"digest\": \"$(digest "$A")\""
jval "list --json parses: count" "$W/out" count "$(grep -c '"uuid"' "$W/out")"

run "info" 0 migctl info "$A"
has "info shows the region index 9" "$W/out" "^region  *index 9 "
has "info shows the type capability 3/1" "$W/out" "type 3 subtype 1 (migration v1)"
has "info shows the sparse-mmap area" "$W/out" "^cap sparse    area 0: offset 4096 size $(cat "$D/$A/section_size")"
has "info shows the data section" "$W/out" "^data section  offset 4096, size $(cat "$D/$A/section_size")"
has "info shows the state" "$W/out" "^state  *RUNNING"
run "info --json" 0 migctl --json info "$A"
for k in region_index region_size region_flags cap_type sparse_areas data_offset data_size state; do
	has "info --json has $k" "$W/out" "\"$k\": "
done
jval "info --json parses: region_index" "$W/out" region_index 9
jval "info --json parses: sparse area size" "$W/out" sparse_areas.0.size "$(cat "$D/$A/section_size")"
jval "info --json parses to its last member" "$W/out" state RUNNING

run "state reads" 0 migctl state "$A"
has "state reads RUNNING" "$W/out" "^RUNNING$"
run "state STOP" 0 migctl state "$A" STop
has "state STOP reports the transition" "$W/out" "^RUNNING -> STOP$"
run "state --json SAVING" 0 migctl --json state "$A" SAVING
has "state --json names the new state" "$W/out" '"state": "SAVING"'
run "reset" 0 migctl reset "$A"
has "reset leaves the device RUNNING" "$W/out" "-> RUNNING$"

# ---- save and load, both data paths ------------------------------------
# reset put A back to power-on: give it state again.
echo 5000 > "$D/$A/engine_rate"
sleep 1
echo 0 > "$D/$A/engine_rate"
da=$(digest "$A")
run "save (stopped, mmap)" 0 migctl --mmap save "$A" "$W/a.mig"
has "save reports mmap" "$W/out" "via mmap"
run "file verifies the saved file" 0 migctl file "$W/a.mig"
has "file names the source type" "$W/out" "mig_mdev-small"
run "load (mmap)" 0 migctl load "$B" "$W/a.mig"
has "load reports the device's verdict" "$W/out" "verdict: accepted"
[ "$(digest "$B")" = "$da" ]
ok $? "save + load round trip: B's digest equals A's ($da)"

run "save --pread --json" 0 migctl --pread --json save "$A" "$W/p.mig"
for k in command path bytes stopcopy_bytes seconds mib_per_s crc32 digest; do
	has "save --json has $k" "$W/out" "\"$k\": "
done
has "save --json names the pread path" "$W/out" '"path": "pread"'
jval "save --json parses: digest is A's" "$W/out" digest "$da"
jval "save --json parses to its last member" "$W/out" state STOP
cmp -s "$W/a.mig" "$W/p.mig"
ok $? "pread and mmap saves write identical files"
echo 1 > "$D/$B/engine_rate"	# disturb B
run "load --pread --json" 0 migctl --pread --json load "$B" "$W/p.mig"
has "load --json says the digest matches" "$W/out" '"digest_match": true'
jval "load --json parses: verdict" "$W/out" verdict accepted
jval "load --json parses to its last member" "$W/out" state STOP
[ "$(digest "$B")" = "$da" ]
ok $? "pread round trip: B's digest equals A's"

# ---- live, with the engine running --------------------------------------
echo 2000 > "$D/$A/engine_rate"
sleep 1
run "save --live with the engine on (v1)" 0 migctl --protocol v1 --live --max-passes 8 save "$A" "$W/live.mig"
has "save --live reports its passes" "$W/out" "^pass 1: "
has "save --live reports stop-and-copy" "$W/out" "^stop-and-copy: "
run "file --json of a live save" 0 migctl --json file "$W/live.mig"
has "the file says live" "$W/out" '"live": true'
run "load of the live save" 0 migctl --json load "$B" "$W/live.mig"
has "live load: B's digest matches A's when A stopped" "$W/out" '"digest_match": true'

# ---- migrate ------------------------------------------------------------
run "migrate --live A B with the engine on (v1)" 0 migctl --protocol v1 --live migrate "$A" "$B"
has "migrate reports each pass" "$W/out" "^pass 1: .* pending "
has "migrate reports the digest match" "$W/out" "digest .* matches the source's"
echo 0 > "$D/$A/engine_rate"
run "migrate --json --pread A B" 0 migctl --json --pread migrate "$A" "$B"
has "migrate --json says the digest matches" "$W/out" '"digest_match": true'
jval "migrate --json parses: path" "$W/out" path pread
[ "$(digest "$B")" = "$(digest "$A")" ]
ok $? "after migrate (engine off) B's digest equals A's"
run "migrate onto the other type" 4 migctl migrate "$A" "$L"

# ---- bad files ------------------------------------------------------------
run "load onto the other type" 4 migctl load "$L" "$W/a.mig"
has "the message names both types" "$W/err" "another device type.*mig_mdev-small.*mig_mdev-large"
for p in v1 v2; do
	if [ $p = v2 ] && [ ! -f "$P/protocols" ]; then
		skip "load --force onto the other type (v2)" "module without protocol v2"
		continue
	fi
	run "load --force onto the other type ($p): the device refuses it" 4 migctl --protocol $p --force load "$L" "$W/a.mig"
	has "the device refused it before applying anything ($p)" "$W/err" "state RESUMING"
done

size=$(wc -c < "$W/a.mig")
head -c $((size - 1000)) "$W/a.mig" > "$W/trunc.mig"
run "load of a truncated file" 4 migctl load "$B" "$W/trunc.mig"
has "the message says truncated" "$W/err" "truncated"
head -c 100 "$W/a.mig" > "$W/head.mig"
run "load of a truncated header" 4 migctl load "$B" "$W/head.mig"
echo "not a migctl file" > "$W/junk.mig"
run "load of a file that is not a migctl file" 4 migctl load "$B" "$W/junk.mig"

cp "$W/a.mig" "$W/bad.mig"
flip "$W/bad.mig" $((PAGE_DATA + 100))
run "load of a corrupted file" 4 migctl load "$B" "$W/bad.mig"
has "the message says checksum" "$W/err" "checksum mismatch"
run "file of a corrupted file" 4 migctl file "$W/bad.mig"

# ---- device in ERROR -------------------------------------------------------
run "file --rehash fixes the stream checksum" 0 migctl file --rehash "$W/bad.mig"
run "file verifies the rehashed file" 0 migctl file "$W/bad.mig"
for p in v1 v2; do
	if [ $p = v2 ] && [ ! -f "$P/protocols" ]; then
		skip "load of a stream whose digest fails (v2)" "module without protocol v2"
		continue
	fi
	run "load of a stream whose digest fails after applying data ($p)" 3 migctl --protocol $p load "$B" "$W/bad.mig"
	has "the message says ERROR ($p)" "$W/err" "now in ERROR"
	has "the message names the remedy ($p)" "$W/err" "VFIO_DEVICE_RESET leaves ERROR: run 'migctl reset $B'"
	run "reset after the ERROR ($p)" 0 migctl --protocol $p reset "$B"
done
run "load after the reset" 0 migctl load "$B" "$W/a.mig"
[ "$(digest "$B")" = "$da" ]
ok $? "after the reset a load restores A's state"

# ---- protocols: v1, v2, auto, and files across them ------------------------
# The module parameter "protocols" is taken when an instance is created: V1
# offers only the region, V2 only VFIO_DEVICE_FEATURE_MIGRATION, A and B both.
# PRE_COPY (and VFIO_DEVICE_FEATURE_MIG_DATA_SIZE) exist from Linux 6.2 and
# 6.3: the 6.1 guest has neither, the 6.12 guest both.
case $(uname -r) in
6.1.*) pre=0 ;;
*) pre=1 ;;
esac
V1=''
V2=''
if [ -f "$P/protocols" ] && echo v1 > "$P/protocols" && V1=$(create small) &&
	echo v2 > "$P/protocols" && V2=$(create small); then
	insts="$insts $V1 $V2"
fi
[ -f "$P/protocols" ] && echo both > "$P/protocols"
if [ -z "$V2" ]; then
	skip "protocol tests" "no protocols parameter (module without protocol v2)"
else
	echo "# V1=$V1 (protocols=v1) V2=$V2 (protocols=v2), kernel $(uname -r)"
	[ "$(cat "$D/$V1/protocols") $(cat "$D/$V2/protocols") $(cat "$D/$A/protocols")" = "v1 v2 both" ]
	ok $? "the instances' protocols attributes say v1, v2, both"

	# auto: v2 when offered (as QEMU 8.0 and later), else v1
	run "info --json of an instance with both" 0 migctl --json info "$A"
	jval "both offered: protocols lists v1" "$W/out" protocols.0 v1
	jval "both offered: protocols lists v2" "$W/out" protocols.1 v2
	jval "both offered: auto picks v2" "$W/out" protocol v2
	if [ $pre = 1 ]; then
		jval "v2 flags STOP_COPY P2P PRE_COPY on $(uname -r)" "$W/out" v2_flag_names "STOP_COPY P2P PRE_COPY"
	else
		jval "v2 flags STOP_COPY P2P, no PRE_COPY on $(uname -r)" "$W/out" v2_flag_names "STOP_COPY P2P"
	fi
	run "info of a v1-only instance" 0 migctl info "$V1"
	has "v1 only: auto picks v1" "$W/out" "^protocols  *v1, using v1"
	has "v1 only: v2 is not offered" "$W/out" "^v2  *not offered"
	run "info --json of a v2-only instance" 0 migctl --json info "$V2"
	jval "v2 only: auto picks v2" "$W/out" protocol v2
	! grep -q '"region_index"' "$W/out"
	ok $? "v2 only: no region described"
	run "info of a v2-only instance" 0 migctl info "$V2"
	has "v2 only: the region is not offered" "$W/out" "^region  *none"
	if [ $pre = 1 ]; then
		has "the stop-copy size is offered on $(uname -r)" "$W/out" "^v2 data size  [0-9]* bytes"
	else
		has "the stop-copy size is not offered on $(uname -r)" "$W/out" "^v2 data size  not offered"
	fi

	# a protocol the instance does not offer: exit 2, and what it offers
	run "--protocol v2 on a v1-only instance" 2 migctl --protocol v2 save "$V1" "$W/x.mig"
	has "the message says v2 is not offered and v1 is" "$W/err" "does not offer migration protocol v2.*it offers v1"
	[ ! -e "$W/x.mig" ]
	ok $? "no file is left behind"
	run "--protocol v1 on a v2-only instance" 2 migctl --protocol v1 load "$V2" "$W/a.mig"
	has "the message says v1 is not offered and v2 is" "$W/err" "does not offer migration protocol v1.*it offers v2"
	run "--pread (a v1 data path) on a v2-only instance" 2 migctl --pread info "$V2"
	run "--protocol v2 with --mmap is a usage error" 1 migctl --protocol v2 --mmap save "$A" "$W/x.mig"
	run "--protocol v3 is a usage error" 1 migctl --protocol v3 info "$A"
	run "a v2 state name with --protocol v1 is a usage error" 1 migctl --protocol v1 state "$A" RUNNING_P2P

	# states by v2 name
	run "state RUNNING_P2P (a v2 name picks v2)" 0 migctl --json state "$A" running_p2p
	jval "state RUNNING_P2P: through v2" "$W/out" protocol v2
	jval "state RUNNING_P2P: reached" "$W/out" state RUNNING_P2P

	# round trips, engine off: every pair of protocols gives A's digest
	echo 0 > "$D/$A/engine_rate"
	da=$(digest "$A")
	run "save through v2 (stopped)" 0 migctl --json save "$A" "$W/a2.mig"
	jval "save through v2: the path is the data_fd" "$W/out" path data_fd
	jval "save through v2: the digest is A's" "$W/out" digest "$da"
	bytes=$(qmp --get bytes < "$W/out")
	run "file of a v2 save" 0 migctl --json file "$W/a2.mig"
	jval "the file says protocol v2" "$W/out" protocol v2
	run "save through v1 (stopped)" 0 migctl --protocol v1 save "$A" "$W/a1.mig"
	stream "$W/a1.mig" > "$W/s1"
	stream "$W/a2.mig" > "$W/s2"
	cmp -s "$W/s1" "$W/s2"
	ok $? "v1 and v2 saves of the same state carry the same stream"
	if [ $pre = 1 ]; then
		run "info --json: the stop-copy size" 0 migctl --json info "$A"
		sz=$(qmp --get stop_copy_size < "$W/out")
		[ -n "$sz" ] && [ -n "$bytes" ] && [ "$sz" -ge "$bytes" ]
		ok $? "the stop-copy size ($sz) covers a stopped save ($bytes bytes)"
	fi
	for pair in v2:v2 v1:v2 v2:v1; do
		from=${pair%:*}
		to=${pair#*:}
		f=$W/a1.mig
		[ "$from" = v2 ] && f=$W/a2.mig
		echo 1 > "$D/$B/engine_rate"	# disturb B
		run "load through $to of a save through $from" 0 migctl --protocol "$to" --json load "$B" "$f"
		jval "load through $to: the protocol" "$W/out" protocol "$to"
		jval "load through $to of $from: digest_match" "$W/out" digest_match true
		[ "$(digest "$B")" = "$da" ]
		ok $? "save $from / load $to: B's digest equals A's"
	done

	# v2-only source, v1-only destination: a file, then one process
	echo 3000 > "$D/$V2/engine_rate"
	sleep 1
	echo 0 > "$D/$V2/engine_rate"
	dv=$(digest "$V2")
	run "save of the v2-only instance" 0 migctl save "$V2" "$W/v2.mig"
	run "load into the v1-only instance" 0 migctl load "$V1" "$W/v2.mig"
	[ "$(digest "$V1")" = "$dv" ]
	ok $? "v2-only to v1-only through a file: equal digests"
	echo 1 > "$D/$V1/engine_rate"	# disturb V1
	run "migrate the v2-only into the v1-only instance" 0 migctl --json migrate "$V2" "$V1"
	jval "migrate: source through v2" "$W/out" protocol v2
	jval "migrate: destination through v1" "$W/out" destination_protocol v1
	jval "migrate v2 -> v1: digest_match" "$W/out" digest_match true

	# live through v2, the engine on: pre-copy where the kernel has it
	echo 2000 > "$D/$A/engine_rate"
	sleep 1
	run "save --live through v2 with the engine on" 0 migctl --protocol v2 --live --max-passes 8 save "$A" "$W/live2.mig"
	if [ $pre = 1 ]; then
		has "v2 live save: pre-copy passes from PRECOPY_INFO" "$W/out" "^pass 1: .* pending "
	else
		has "v2 live save: no PRE_COPY on $(uname -r), said so" "$W/out" "offers no PRE_COPY"
	fi
	has "v2 live save reports stop-and-copy" "$W/out" "^stop-and-copy: "
	run "load through v1 of the v2 live save" 0 migctl --protocol v1 --json load "$B" "$W/live2.mig"
	jval "v2 live save / v1 load: digest_match" "$W/out" digest_match true
	run "migrate --live through v2 with the engine on" 0 migctl --protocol v2 --live --json migrate "$A" "$B"
	jval "v2 live migrate: digest_match" "$W/out" digest_match true
	if [ $pre = 1 ]; then
		v=$(qmp --get passes < "$W/out")
		[ "${v:-0}" -ge 1 ]
		ok $? "v2 live migrate made pre-copy passes ($v)"
	fi
	echo 0 > "$D/$A/engine_rate"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
