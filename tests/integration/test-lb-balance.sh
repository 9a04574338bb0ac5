#!/bin/bash
# Live load balancing through `sctplb lb` (tests/topology/lb-topology.sh: 4 multihomed usrsctp
# clients, one LB namespace, three DSR servers, vtag mode). Shows:
#  a. associations come up through the LB; every packet of an association, on both paths, reaches
#     one server (per-server nft counters per client address, and the echoes); `sctplb assoc`
#     lists the association with both client addresses and that server's fwmark; new
#     associations spread over at least two servers;
#  b. `deactivate` a target during traffic: its live association continues to the end, new
#     associations go elsewhere;
#  c. `down` a target: its association's packets are dropped (the client fails) while an
#     association on another target continues.
#
# Usage: test-lb-balance.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,13p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"
lbt_check_requirements
started=$SECONDS

lbt_setup lbb --clients 4
lbt_lb_start

client_addresses() { # client_addresses K -> "A2 A6"
	local v=LB_CLIENT${1}_ADDRS
	echo "${!v}" | tr , ' '
}

# check_one_server NAME K COUNT BEFORE AFTER: the client succeeded with COUNT echoes, all from one
# server, and only that server received packets from either client address. Sets one_server
# (server-N, or "none").
check_one_server() {
	local name=$1 k=$2 count=$3
	if tl_check_one_server "$name" "$count" "$4" "$5" "$6" lbt_counter "$LB_SERVERS" "$(client_addresses "$k")" \
		"path not balanced to it"; then
		tl_pass "$name: $count echoes, every packet from $(client_addresses "$k" | tr ' ' ,) reached $tl_one_server only"
	fi
	one_server=$tl_one_server
}

# --- a. one association on both paths --------------------------------------------------------
tl_say "a: a multihomed association through the LB; DATA moves to path B after 3 messages"
before=$(lbt_counters)
lbt_client a1 1 --count 8 --interval 150 --primary 10.0.0.2 --primary-after 3
tl_wait_echoes a1 5 || true
assoc=$(lbt_sctplb assoc --json)
status=0
tl_wait a1 || status=$?
after=$(lbt_counters)
check_one_server a1 1 8 "$before" "$after" "$status"
server=$one_server
mark=${server#server-}
read -r a2 a6 <<<"$(client_addresses 1)"
if [ "$server" != none ]; then
	on_b=$(tl_server_messages "$server" | grep -c "^$a6 " || true)
	on_a=$(tl_server_messages "$server" | grep -c "^$a2 " || true)
	if [ "$on_a" -ge 3 ] && [ "$on_b" -ge 1 ]; then
		tl_pass "a1: $server got $on_a messages on path A ($a2) and $on_b on path B ($a6)"
	else
		tl_fail "a1: $server got $on_a messages on path A and $on_b on path B (want >=3 and >=1)"
	fi
	found=$(tl_json "$assoc" "sum(1 for a in d['associations'] if '$a2' in a['addresses'] and '$a6' in a['addresses'] and a['fwmark'] == $mark and a['state'] != 'closed')")
	if [ "$found" = 1 ]; then
		tl_pass "a1: sctplb assoc lists the association with $a2 and $a6 and fwmark $mark"
	else
		tl_fail "a1: sctplb assoc has no association with both client addresses and fwmark $mark: $assoc"
	fi
fi

tl_say "a: new associations from 4 clients at a time spread over the servers"
declare -A used=()
for batch in 1 2 3; do
	before=$(lbt_counters)
	for k in 1 2 3 4; do
		lbt_client "spread$batch-$k" "$k" --count 3 --interval 100 --primary 10.0.0.2 --primary-after 1
	done
	for k in 1 2 3 4; do
		status=0
		tl_wait "spread$batch-$k" || status=$?
		statuses[k]=$status
	done
	after=$(lbt_counters)
	for k in 1 2 3 4; do
		check_one_server "spread$batch-$k" "$k" 3 "$before" "$after" "${statuses[k]}"
		server=$one_server
		[ "$server" = none ] || used[$server]=1
	done
	[ ${#used[@]} -lt 2 ] || break
done
if [ ${#used[@]} -ge 2 ]; then
	tl_pass "a: associations spread over ${#used[@]} servers (${!used[*]})"
else
	tl_fail "a: every association went to ${!used[*]}"
fi

# --- b. deactivate (drain) ---------------------------------------------------------------------
tl_say "b: deactivate the target of a live association"
lbt_client b-live 1 --count 20 --interval 200
if ! tl_wait_echoes b-live 1; then
	tl_fail "b: no echo for b-live"
fi
drained=$(tl_echo_servers b-live | head -n 1)
drained_mark=${drained#server-}
lbt_sctplb deactivate "$drained_mark" >/dev/null
state=$(tl_json "$(lbt_sctplb show --json)" "[t['state'] for t in d['targets'] if t['fwmark'] == $drained_mark][0]")
[ "$state" = draining ] && tl_pass "b: fwmark $drained_mark is draining" || tl_fail "b: fwmark $drained_mark is '$state'"
before=$(lbt_counters)
for k in 2 3 4; do lbt_client "b-new-$k" "$k" --count 3 --interval 100 --primary 10.0.0.2 --primary-after 1; done
for k in 2 3 4; do
	status=0
	tl_wait "b-new-$k" || status=$?
	statuses[k]=$status
done
after=$(lbt_counters)
for k in 2 3 4; do
	check_one_server "b-new-$k" "$k" 3 "$before" "$after" "${statuses[k]}"
	server=$one_server
	if [ "$server" = "$drained" ]; then
		tl_fail "b: new association b-new-$k went to the draining $drained"
	elif [ "$server" != none ]; then
		tl_pass "b: new association b-new-$k went to $server, not the draining $drained"
	fi
done
status=0
tl_wait b-live || status=$?
servers=$(tl_echo_servers b-live | tr '\n' ' ')
if [ "$status" = 0 ] && [ "$(tl_echo_count b-live)" = 20 ] && [ "$servers" = "$drained " ]; then
	tl_pass "b: the live association on $drained continued to its end (20 echoes, SHUTDOWN)"
else
	tl_fail "b: live association: exit $status, $(tl_echo_count b-live) echoes from $servers"
fi
lbt_sctplb activate "$drained_mark" >/dev/null

# --- c. down ----------------------------------------------------------------------------------
tl_say "c: down the target of one live association while another continues elsewhere"
lbt_client c-victim 1 --count 40 --interval 200 --echo-wait 1000
tl_wait_echoes c-victim 1 || tl_fail "c: no echo for c-victim"
victim=$(tl_echo_servers c-victim | head -n 1)
victim_mark=${victim#server-}
# Drain the victim's target first, so the second association surely lands elsewhere.
lbt_sctplb deactivate "$victim_mark" >/dev/null
lbt_client c-other 2 --count 20 --interval 200
tl_wait_echoes c-other 1 || tl_fail "c: no echo for c-other"
other=$(tl_echo_servers c-other | head -n 1)
[ "$other" != "$victim" ] || tl_fail "c: c-other went to the draining $victim"
stats_before_down=$(lbt_sctplb stats --json)
down_output=$(lbt_sctplb down "$victim_mark")
# Every message the victim sends from here on meets a forgotten association. The client logs
# "sent" just after handing a message to its stack, so one more may have passed the LB before
# `down` returned than the log shows.
sent_at_down=$(grep -c '] sent message' "$tl_work/c-victim.log" || true)
tl_say "c: down $victim_mark after $sent_at_down messages sent: $(echo "$down_output" | grep forgotten)"
status=0
tl_wait c-other || status=$?
servers=$(tl_echo_servers c-other | tr '\n' ' ')
if [ "$status" = 0 ] && [ "$(tl_echo_count c-other)" = 20 ] && [ "$servers" = "$other " ]; then
	tl_pass "c: the association on $other continued to its end (20 echoes)"
else
	tl_fail "c: association on $other: exit $status, $(tl_echo_count c-other) echoes from $servers"
fi
# The victim's whole life after `down` is in its log once it has exited: no message it sent after
# `down` may have been echoed (its retransmissions of earlier ones are dropped too).
status=0
tl_wait c-victim 30 || status=$?
last_echoed=$(sed -n 's/.*] echo via [^ ]*: server-[0-9]*: message \([0-9]*\)$/\1/p' "$tl_work/c-victim.log" |
	sort -n | tail -n 1)
if [ "${last_echoed:-0}" -le $((sent_at_down + 1)) ]; then
	tl_pass "c: no message the client sent after 'down' was echoed (last echo: message ${last_echoed:-none}; $sent_at_down sent before)"
else
	tl_fail "c: the association on the downed $victim still got echoes: message $last_echoed echoed, $sent_at_down sent before 'down'"
fi
if tl_until 10 lbt_stats_reached "$stats_before_down" unknown-association=1; then
	tl_pass "c: its packets were dropped as unknown-association (+$(($(lbt_stat "$lbt_stats_now" unknown-association) - $(lbt_stat "$stats_before_down" unknown-association))))"
else
	tl_fail "c: unknown-association did not rise after 'down'"
fi
if [ "$status" != 0 ]; then
	tl_pass "c: the client of the downed target failed (exit $status, $(tl_echo_count c-victim) of 40 echoes)"
else
	tl_fail "c: the client of the downed target succeeded"
fi

echo "runtime $((SECONDS - started)) s"
tl_finish
