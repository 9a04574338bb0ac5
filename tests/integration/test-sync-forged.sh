#!/bin/bash
# Association sync, scenario d (tests/topology/dual-path.sh --mode vtag --sync, two LBs): forged,
# replayed and unauthenticated sync messages change nothing and are counted.
# Real sync datagrams are captured on vm-201's net-3 interface while two associations run (one
# made through vm-201, one through vm-202, so vm-202 sends records). tests/tools/sync-inject.py
# then re-sends one of vm-202's records messages to vm-201 from 192.168.3.202:7400 (raw socket,
# in vm-202's namespace): an exact copy (replayed), one body byte flipped with the MAC kept and
# the body changed then signed with a random key under the real key id, sequence far ahead
# (forged), the MAC cut off and a random key id (unauthenticated), and a copy from port 7401
# (not-a-peer). vm-201's stats.sync.rejected counters rise by exactly those numbers, its
# association table is unchanged (ages and idle times aside) and both live associations still
# deliver every message to their one server.
#
# Usage: test-sync-forged.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,14p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
command -v tcpdump >/dev/null || tl_skip "tcpdump is not installed"
inject=$tl_source_dir/tests/tools/sync-inject.py
started=$SECONDS

dpt_setup dpf --mode vtag --sync --clients 2
dpt_lb_start
tl_say "topology with two syncing LBs up in $((SECONDS - started)) s"
lb_a_sync=$(dpt_sync_address 201)
lb_b_sync=$(dpt_sync_address 202)

tl_say "d: capture the sync traffic on vm-201's eth3 while two associations start"
tl_spawn capture "$DP_LB201_NS" tcpdump -U -n -i eth3 -w "$tl_work/sync.pcap" udp port "$DP_SYNC_PORT"
capture_listening() { grep -q "listening on" "$tl_work/capture.log"; }
tl_until 10 capture_listening || tl_fail "d: tcpdump did not start: $(tl_log capture)"
# The clients live until the checks are done, however slow the machine: each reads its messages
# from a FIFO that feed() fills every 250 ms until $tl_work/stop exists; then the FIFO closes and
# the client ends its association with SHUTDOWN. NAME.sent holds how many messages were fed.
feed() {
	local name=$1 i=0
	exec 3>"$tl_work/$name.in"
	while [ ! -e "$tl_work/stop" ]; do
		i=$((i + 1))
		echo "message $i" >&3
		echo "$i" >"$tl_work/$name.sent"
		sleep 0.25
	done
	exec 3>&-
}
before=$(dpt_counters)
for name in via-a via-b; do
	mkfifo "$tl_work/$name.in"
	feed "$name" &
	tl_client_pids+=($!)
done
TL_SPAWN_INPUT=$tl_work/via-a.in dpt_client via-a 1 --lport 36412 --primary "$DP_VIP_B" --primary-after 2
TL_SPAWN_INPUT=$tl_work/via-b.in dpt_client via-b 2 --addr "$DP_VIP_B,$DP_VIP_A" --lport 36412 \
	--primary "$DP_VIP_A" --primary-after 2
for name in via-a via-b; do tl_wait_echoes "$name" 4 10 || tl_fail "d: $name: fewer than 4 echoes"; done
# Stop the capture once it holds a records message with a body from vm-202 to vm-201 (tcpdump -U
# writes each packet as it comes; the reader stops at a partly written record), at most 10 s.
captured_records() {
	"$inject" list "$tl_work/sync.pcap" --from "$lb_b_sync" --to "$lb_a_sync" 2>/dev/null |
		awk '$2 == "records" && $5 > 0 { found = 1 } END { exit !found }'
}
tl_until 10 captured_records || true
kill -INT "${tl_client_pid[capture]}"
tl_wait capture 5 || true
messages=$("$inject" list "$tl_work/sync.pcap" --from "$lb_b_sync" --to "$lb_a_sync")
tl_say "d: captured $(echo "$messages" | grep -c .) sync messages from vm-202 to vm-201 ($(echo "$messages" | awk '{ print $2 }' | sort | uniq -c | awk '{ printf "%s %s, ", $1, $2 }'))"
# A records message with a body: the one a forger would most like to change.
index=$(echo "$messages" | awk '$2 == "records" && $5 > 0 { print $1; exit }')
if [ -z "$index" ]; then
	tl_fail "d: no records message from vm-202 to vm-201 was captured: $(echo "$messages" | head -n 5 | tr '\n' ';')"
	tl_finish
fi

# The association table without what changes by itself (ages, idle and last-seen times).
stable_table() {
	tl_json "$(dpt_sctplb 201 assoc --json)" "json.dumps(sorted(({k: v for k, v in a.items() if not any(w in k for w in ('age', 'idle', 'seen', 'last'))} for a in d['associations']), key=lambda a: json.dumps(a, sort_keys=True)), sort_keys=True)"
}
rejected() { dpt_sync_stat 201 "json.dumps(s.get('rejected'), sort_keys=True)"; }
table_before=$(stable_table)
rejected_before=$(rejected)
declare -A sent=([replayed]=0 [forged]=0 [unauthenticated]=0 [not-a-peer]=0 [malformed]=0)
send() { # send VERDICT KIND [sync-inject options]
	local verdict=$1 kind=$2 line
	shift 2
	if line=$(ip netns exec "$DP_LB_B_NS" "$inject" send "$tl_work/sync.pcap" --from "$lb_b_sync" \
		--to "$lb_a_sync" --index "$index" --kind "$kind" "$@" 2>&1); then
		sent[$verdict]=$((${sent[$verdict]} + 1))
		tl_say "d: $kind ($verdict expected): $line"
	else
		tl_fail "d: sync-inject.py $kind: $line"
	fi
}
send replayed replay
send forged flip-body
send forged remac
send unauthenticated strip-mac
send unauthenticated random-key-id
send not-a-peer replay --source-port $((DP_SYNC_PORT + 1))
# vm-201 handles the datagrams in its sync thread: wait (10 s at most) until every verdict counted
# at least what was sent, then judge the exact numbers.
all_counted() {
	rejected_after=$(rejected)
	[ "$(tl_json "[$rejected_before, $rejected_after]" "int(all(d[1][v] - d[0][v] >= n for v, n in {'replayed': ${sent[replayed]}, 'forged': ${sent[forged]}, 'unauthenticated': ${sent[unauthenticated]}, 'not-a-peer': ${sent[not-a-peer]}, 'malformed': ${sent[malformed]}}.items()))")" = 1 ]
}
tl_until 10 all_counted || true
rejected_after=$(rejected)
table_after=$(stable_table)
for name in via-a via-b; do
	# The table comparison means something only while both associations live.
	kill -0 "${tl_client_pid[$name]}" 2>/dev/null ||
		tl_fail "d: $name ended before the injected messages were checked: $(tail -n 3 "$tl_work/$name.log" | tr '\n' ';')"
done
for verdict in replayed forged unauthenticated not-a-peer malformed; do
	delta=$(($(tl_json "$rejected_after" "d['$verdict']") - $(tl_json "$rejected_before" "d['$verdict']")))
	if [ "$delta" = "${sent[$verdict]}" ]; then
		tl_pass "d: vm-201 counted rejected.$verdict +$delta (${sent[$verdict]} sent)"
	else
		tl_fail "d: vm-201 counted rejected.$verdict +$delta, ${sent[$verdict]} sent (before $rejected_before, after $rejected_after)"
	fi
done
# The refused datagrams came from vm-202's address while vm-202 is up: vm-201 logs them once (at
# most one line per peer per 10 s) and keeps vm-202 "up", not "authentication failing".
auth_logged() { grep -q "sync: peer $lb_b_sync: [0-9]* datagram(s) from its address failed authentication while it is up" "$DP_STATE/lb-201.log"; }
if tl_until 10 auth_logged; then
	tl_pass "d: vm-201 logged the authentication failures: $(grep -m1 'failed authentication' "$DP_STATE/lb-201.log")"
else
	tl_fail "d: vm-201 did not log the authentication failures: $(grep 'sync: peer' "$DP_STATE/lb-201.log" | tail -n 3 | tr '\n' ';')"
fi
# Rate-limited: consecutive lines about the failures are at least 10 s apart (the log's
# HH:MM:SS.mmm stamps; a slow injection may span more than one 10 s window).
gaps=$(grep "failed authentication" "$DP_STATE/lb-201.log" | awk '{ split($1, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]; if (NR > 1) { g = s - last; if (g < 0) g += 86400; printf "%.1f ", g } last = s }')
lines=$(grep -c "failed authentication" "$DP_STATE/lb-201.log" || true)
if [ "$lines" -ge 1 ] && ! echo "$gaps" | awk '{ for (i = 1; i <= NF; i++) if ($i < 9.9) bad = 1 } END { exit !bad }'; then
	tl_pass "d: $lines log line(s) about the failures, rate-limited (gaps: ${gaps:-none} s)"
else
	tl_fail "d: $lines log lines about the authentication failures, gaps ${gaps:-none} s (at least 10 s expected)"
fi
peer_state=$(dpt_sync_stat 201 "s['peers'][0]['state']")
[ "$peer_state" = up ] && tl_pass "d: vm-201 still reports vm-202 up" ||
	tl_fail "d: vm-201 reports vm-202 '$peer_state', expected up (its real datagrams authenticate)"
if [ "$table_before" = "$table_after" ]; then
	tl_pass "d: vm-201's association table is unchanged ($(tl_json "$table_after" "len(d)") associations; ages and idle times aside)"
else
	tl_fail "d: vm-201's association table changed: before $table_before after $table_after"
fi

touch "$tl_work/stop"
dpt_wait_clients via- a b
after=$(dpt_counters)
dpt_check_one_server via-a 1 "$(cat "$tl_work/via-a.sent")" "$before" "$after" "${dpt_status[a]}"
dpt_check_one_server via-b 2 "$(cat "$tl_work/via-b.sent")" "$before" "$after" "${dpt_status[b]}"

echo "runtime $((SECONDS - started)) s"
tl_finish
