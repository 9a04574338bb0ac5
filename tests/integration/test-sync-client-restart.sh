#!/bin/bash
# Association sync, scenario e (tests/topology/dual-path.sh --mode vtag --sync, two LBs): an SCTP
# restart (RFC 9260 §5.2.2) of a fixed-port client keeps its server on both paths.
# A client (36412 <-> 36412) runs an association pinned on both paths (DATA on path A through
# vm-201, heartbeats on path B through vm-202); it is killed (kill -9: no ABORT, the server keeps
# the association) and a new client starts at once with the same port and addresses: its INIT
# (VIP A, through vm-201) and COOKIE ECHO restart the association with new tags, then its DATA
# moves to path B (through vm-202, which learns the new tags only from the sync). Checks: the
# server logs a RESTART; every echo comes from the old association's server and only that server
# received packets from either client address; DATA on path B reached it; both LBs list the
# association with the new tags and the same fwmark.
#
# Usage: test-sync-client-restart.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,12p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS

dpt_setup dpe --mode vtag --sync --clients 1
dpt_lb_start
tl_say "topology with two syncing LBs up in $((SECONDS - started)) s"
a=$(dpt_client_address 1 A)
b=$(dpt_client_address 1 B)
# "FWMARK TC TS" of an LB's live association of the client.
tags() {
	local mark tc ts
	read -r mark _ tc ts _ <<<"$(dpt_assoc_summary "$a" "$b" "$(dpt_sctplb "$1" assoc --json)")"
	echo "$mark $tc $ts"
}

tl_say "e: the first association (36412 -> 36412, DATA on path A, heartbeats on path B)"
first_before=$(dpt_counters)
dpt_client old 1 --lport 36412 --count 400 --interval 250
tl_wait_echoes old 3 10 || tl_fail "e: the first association: fewer than 3 echoes"
server=$(tl_echo_servers old | head -n 1)
mark=${server#server-}
dpt_wait_pinned 1 "$mark" || tl_fail "e: the first association is not pinned to '$mark' on both LBs"
# Path B carries only heartbeats (every ~1 s): wait up to 10 s for one to reach the server.
path_b_reached() { [ "$(dpt_counter "$(dpt_counters)" "$server" "$b")" -gt "$(dpt_counter "$first_before" "$server" "$b")" ]; }
b_reached=no
if tl_until 10 path_b_reached; then b_reached=yes; fi
read -r old_mark_201 old_tc old_ts <<<"$(tags 201)"
read -r old_mark_202 old_tc_202 old_ts_202 <<<"$(tags 202)"
if [ "$old_mark_201 $old_mark_202" = "$mark $mark" ] && [ "$old_tc $old_ts" = "$old_tc_202 $old_ts_202" ] &&
	[ $b_reached = yes ]; then
	tl_pass "e: the first association (tags $old_tc/$old_ts) reached $server on path A and on path B (heartbeats); both LBs list it with fwmark $mark"
else
	tl_fail "e: the first association: echoes from $server; vm-201 '$old_mark_201 $old_tc $old_ts', vm-202 '$old_mark_202 $old_tc_202 $old_ts_202'; path B reached it: $b_reached"
fi

tl_say "e: kill -9 the client; a new one with the same port and addresses restarts the association"
kill -KILL "${tl_client_pid[old]}"
tl_wait old 5 2>/dev/null || true
restarts_before=$(grep -c 'association [0-9]*: RESTART' "$DP_STATE/$server.log" || true)
before=$(dpt_counters)
count=30  # long enough that both tables are read while it lives, even on a loaded machine
to_b_after=4
dpt_client new 1 --lport 36412 --count $count --interval 250 --echo-wait 8000 \
	--primary "$DP_VIP_B" --primary-after $to_b_after
# While the restarted association lives (its DATA now on path B): both LBs' entries.
tl_wait_echoes new $((to_b_after + 3)) 15 || true
# new_tags_listed: both LBs list the association with fwmark MARK and the same new tags (vm-202
# learns them through the sync and from path B): waited for (10 s) while the client lives.
new_tags_listed() {
	read -r mark_201 tc_201 ts_201 <<<"$(tags 201)"
	read -r mark_202 tc_202 ts_202 <<<"$(tags 202)"
	[ "$mark_201 $mark_202" = "$mark $mark" ] && [ "$tc_201 $ts_201" = "$tc_202 $ts_202" ] &&
		[ "$tc_201" != "$old_tc" ] && [ "$ts_201" != "$old_ts" ]
}
tl_until 10 new_tags_listed || true
assoc_202=$(dpt_sctplb 202 assoc --json)
status=0
tl_wait new 40 || status=$?
after=$(dpt_counters)
dpt_check_one_server new 1 $count "$before" "$after" "$status"
if [ "$dpt_one_server" = "$server" ]; then
	tl_pass "e: the restarted association kept its server $server"
else
	tl_fail "e: the restarted association was answered by '$dpt_one_server', the first one by $server"
fi
restarts=$(grep -c 'association [0-9]*: RESTART' "$DP_STATE/$server.log" || true)
if [ "$restarts" -gt "$restarts_before" ]; then
	tl_pass "e: $server handled it as an SCTP restart of its association (RESTART notification)"
else
	tl_fail "e: $server logged no RESTART (the new INIT did not restart the association)"
fi
on_b=$(tl_server_messages "$server" | awk -v b="$b" '$1 == b' | wc -l)
if [ "$on_b" -ge 1 ]; then
	tl_pass "e: after the restart $on_b messages went on path B ($b -> $DP_VIP_B, through vm-202) to $server"
else
	tl_fail "e: no message of the restarted association reached $server on path B"
fi
if [ "$mark_201 $mark_202" = "$mark $mark" ] && [ "$tc_201 $ts_201" = "$tc_202 $ts_202" ] &&
	[ "$tc_201" != "$old_tc" ] && [ "$ts_201" != "$old_ts" ]; then
	tl_pass "e: both LBs list the new tags $tc_201/$ts_201 (were $old_tc/$old_ts) with fwmark $mark"
else
	tl_fail "e: after the restart vm-201 lists '$mark_201 $tc_201 $ts_201', vm-202 '$mark_202 $tc_202 $ts_202' (before: fwmark $mark, tags $old_tc/$old_ts); vm-202's table: $assoc_202"
fi

echo "runtime $((SECONDS - started)) s"
tl_finish
