#!/bin/bash
# Association sync, scenario c (tests/topology/dual-path.sh --mode vtag --sync, two LBs):
# `kill -9` of vm-201's sctplb while associations are live, then a restart.
#  - two live fixed-port associations (DATA on path B after message 3) keep being echoed while
#    vm-201 is dead: path B runs through vm-202 alone;
#  - two new clients connect while vm-201 is dead (VIP B first: INIT and COOKIE ECHO through
#    vm-202 only);
#  - vm-201 restarts and asks vm-202 for its table: stats show sync ready and table records
#    received, vm-201 lists the new associations "learned" from vm-202 with their server's fwmark,
#    and when the new clients move their DATA to path A it reaches the same server; every client
#    gets every echo from one server, and only that server received packets from its addresses.
#
# Usage: test-sync-lb-restart.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,13p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS

dpt_setup dpk --mode vtag --sync --clients 4
dpt_lb_start
tl_say "topology with two syncing LBs up in $((SECONDS - started)) s"

live_count=60
# The new clients move their DATA to path A after message 16 (4 s). Should vm-201's restart come
# later on a loaded machine, those messages are retransmitted on path B (RFC 9260 §6.4) and the
# client returns to its primary A once a heartbeat there is answered: 40 messages (10 s) leave
# room for that; the check of path A reads the server's log after the clients ended.
new_count=40
new_to_a_after=16
before=$(dpt_counters)
for k in 1 2; do
	dpt_client "live-$k" "$k" --lport 36412 --count $live_count --interval 250 --echo-wait 8000 \
		--primary "$DP_VIP_B" --primary-after 3
done
for k in 1 2; do tl_wait_echoes "live-$k" 4 10 || tl_fail "c: live-$k: fewer than 4 echoes before the kill"; done
for k in 1 2; do
	server=$(tl_echo_servers "live-$k" | head -n 1)
	if dpt_wait_pinned "$k" "${server#server-}"; then
		tl_pass "c: live-$k: both LBs pinned the association to ${server#server-} ($server) before the kill"
	else
		tl_fail "c: live-$k: the association is not pinned to '${server#server-}' on both LBs before the kill"
	fi
done

tl_say "c: kill -9 vm-201's sctplb"
dpt_lb_stop_one 201 KILL
# (lb-stop KILL returns once the daemon is gone.) 4 more echoes per client, waited for up to 20 s
# (at 250 ms a message: ~1 s of traffic, well inside the clients' 15 s).
declare -A echoes_at_kill=()
for k in 1 2; do echoes_at_kill[$k]=$(tl_echo_count "live-$k"); done
killed=$SECONDS
for k in 1 2; do
	if tl_until 20 tl_has_echoes "live-$k" $((echoes_at_kill[$k] + 4)); then
		tl_pass "c: live-$k: path B carried on through vm-202 while vm-201 was dead (${echoes_at_kill[$k]} -> $(tl_echo_count "live-$k") echoes, $((SECONDS - killed)) s)"
	else
		tl_fail "c: live-$k: ${echoes_at_kill[$k]} -> $(tl_echo_count "live-$k") echoes in the $((SECONDS - killed)) s after vm-201 died"
	fi
done

tl_say "c: two new clients while vm-201 is dead (INIT to VIP B, through vm-202)"
for k in 3 4; do
	dpt_client "new-$k" "$k" --addr "$DP_VIP_B,$DP_VIP_A" --lport 36412 --count $new_count --interval 250 \
		--echo-wait 8000 --primary "$DP_VIP_A" --primary-after $new_to_a_after
done
for k in 3 4; do tl_wait_echoes "new-$k" 2 10 || tl_fail "c: new-$k: no 2 echoes through vm-202 alone"; done

tl_say "c: restart vm-201's sctplb"
restart_started=$(date +%s%N)
dpt_lb_start_one 201
tl_say "c: vm-201 running again after $((($(date +%s%N) - restart_started) / 1000000)) ms"
# resynced: vm-201 is sync-ready with table records from vm-202 (waited for: "running" does not
# promise that the peer answered already, e.g. when --sync-wait-ms ran out on a loaded machine).
resynced() {
	read -r ready received requests peer_state <<<"$(dpt_sync_stat 201 "'%s %s %s %s' % (s.get('ready'), s.get('table_records_received'), s.get('table_requests_sent'), [p['state'] for p in s.get('peers', [])])")"
	[ "$ready" = True ] && [ "$received" -gt 0 ]
}
if tl_until 10 resynced; then
	tl_pass "c: vm-201 resynced: ready, $received table records received ($requests table requests, peer states $peer_state)"
else
	tl_fail "c: vm-201 after the restart: ready $ready, table_records_received $received, table_requests_sent $requests, peers $peer_state"
fi
# vm-202 may count the dump after sending it: waited for too.
served_dump() {
	served=$(dpt_sync_stat 202 "s.get('table_dumps_served')")
	[ "$served" -ge 1 ]
}
if tl_until 10 served_dump; then
	tl_pass "c: vm-202 served $served table dump(s)"
else
	tl_fail "c: vm-202 served '$served' table dumps"
fi
# learned_from_202 K SERVER: the restarted vm-201 lists client K's association with SERVER's
# fwmark, learned from vm-202.
learned_from_202() {
	read -r mark _ _ _ learned <<<"$(dpt_assoc_summary "$(dpt_client_address "$1" A)" "$(dpt_client_address "$1" B)" "$(dpt_sctplb 201 assoc --json)")"
	[ "$mark" = "${2#server-}" ] && [ "$learned" = "$(dpt_sync_address 202)" ]
}
for k in 3 4; do
	server=$(tl_echo_servers "new-$k" | head -n 1)
	if tl_until 10 learned_from_202 "$k" "$server"; then
		tl_pass "c: new-$k: the restarted vm-201 lists the association made while it was dead, fwmark $mark ($server), learned from $learned"
	else
		tl_fail "c: new-$k: echoes from '$server'; the restarted vm-201 lists fwmark '$mark', learned '$learned'"
	fi
done

dpt_wait_clients live- 1 2
dpt_wait_clients new- 3 4
after=$(dpt_counters)
for k in 1 2; do dpt_check_one_server "live-$k" "$k" $live_count "$before" "$after" "${dpt_status[$k]}"; done
for k in 3 4; do
	dpt_check_one_server "new-$k" "$k" $new_count "$before" "$after" "${dpt_status[$k]}"
	[ "$dpt_one_server" != none ] || continue
	a=$(dpt_client_address "$k" A)
	on_a=$(tl_server_messages "$dpt_one_server" | awk -v a="$a" -v n=$new_to_a_after '$1 == a && $3 > n' | wc -l)
	if [ "$on_a" -ge 1 ]; then
		tl_pass "c: new-$k: after vm-201's restart its DATA on path A ($a -> $DP_VIP_A) reached $dpt_one_server ($on_a messages)"
	else
		tl_fail "c: new-$k: no message on path A ($a) reached $dpt_one_server after vm-201's restart"
	fi
done

echo "runtime $((SECONDS - started)) s"
tl_finish
