# shellcheck shell=bash
# dual-path-lib.sh: helpers for tests/integration/test-dual-*.sh and tests/demo/demo.sh on top of
# dual-path.sh; the helpers every test library shares (tl_pass/tl_fail/tl_finish, tl_wait,
# tl_echo_*, tl_json, tl_server_messages, ...) come from test-common.sh. Source it (bash);
# dpt_setup installs an EXIT trap that stops every client started here and brings the topology
# down.
#
# Provides: dpt_check_requirements, dpt_setup NAME [up options], dpt_lb_start [lb options],
# dpt_sctplb 201|202 COMMAND ARGS, dpt_client NAME K [usctp client options], dpt_counters,
# dpt_counter COUNTERS SERVER ADDRESS, dpt_client_address K A|B, dpt_check_one_server ...,
# dpt_assoc_fwmark ..., dpt_failover_check .... DPT_KEEP_LOGS=1 keeps the logs.

# shellcheck source-path=SCRIPTDIR source=test-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/test-common.sh"
DPT_TOPOLOGY=$tl_lib_dir/dual-path.sh
# shellcheck disable=SC2034 # read by test-common.sh
tl_topology=$DPT_TOPOLOGY
tl_state_var=DP_STATE
tl_keep_logs=${DPT_KEEP_LOGS:-}
# shellcheck disable=SC2034 # set by dpt_setup (the topology's env), read by the tests
DP_STATE=

# dpt_check_requirements: SKIP (exit 77, saying why) when this machine cannot run the tests.
dpt_check_requirements() { tl_check_requirements dptcheck ip nft iptables ip6tables python3; }
# dpt_setup NAME [up options]: topology PREFIX = NAME + $$ up, servers started, LBs not started.
dpt_setup() { tl_setup "$@"; }

dpt_lb_start() { "$DPT_TOPOLOGY" lb-start "$tl_prefix" "$@"; }
dpt_sctplb() { "$DPT_TOPOLOGY" sctplb "$tl_prefix" "$@"; }
dpt_cut_path_a() { "$DPT_TOPOLOGY" cut-path-a "$tl_prefix"; }
dpt_heal_path_a() { "$DPT_TOPOLOGY" heal-path-a "$tl_prefix"; }
# "server-N ADDRESS COUNT": packets each server received from each client address.
dpt_counters() { "$DPT_TOPOLOGY" counters "$tl_prefix"; }
dpt_counter() { echo "$1" | awk -v s="$2" -v a="$3" '$1 == s && $2 == a { print $3 + 0; found = 1 } END { if (!found) print 0 }'; }

# dpt_client_address K A|B: client K's address on path A (net 2) or B (net 6).
dpt_client_address() {
	local v=DP_CLIENT${1}_ADDRS
	if [ "$2" = A ]; then echo "${!v}" | cut -d, -f1; else echo "${!v}" | cut -d, -f2; fi
}

# dpt_client NAME K [usctp client options]: multihomed client K (both local addresses, both VIPs)
# in the background; output in $tl_work/NAME.log.
dpt_client() {
	local name=$1 k=$2 ns addrs
	local -a encap=()
	shift 2
	ns=DP_CLIENT${k}_NS
	addrs=DP_CLIENT${k}_ADDRS
	[ -z "$DP_ENCAP_PORT" ] || encap=(--udp-encap "$DP_ENCAP_PORT")
	tl_spawn "$name" "${!ns}" "$USCTP" client --addr "$DP_VIPS" --laddr "${!addrs}" --port "$DP_PORT" \
		"${encap[@]}" "$@"
}

# dpt_check_one_server NAME K COUNT BEFORE AFTER STATUS: the client succeeded with COUNT echoes,
# all from one server, and only that server received packets from either client address, from
# both of them. Sets dpt_one_server (server-N, or "none").
dpt_check_one_server() {
	local name=$1 k=$2 a b
	a=$(dpt_client_address "$k" A)
	b=$(dpt_client_address "$k" B)
	if tl_check_one_server "$name" "$3" "$4" "$5" "$6" dpt_counter "$DP_SERVERS" "$a $b" \
		"that path is not pinned to it"; then
		tl_pass "$name: $3 echoes from $tl_one_server; both paths ($a, $b) reached $tl_one_server and no other server"
	fi
	dpt_one_server=$tl_one_server
}

# dpt_assoc_fwmark LB ADDRESS_A ADDRESS_B: the fwmark of the youngest live association listing
# either client address in that LB's table ("none" if there is none). An LB that did not see the
# end of an earlier association (it ended on the other path) still lists it: hence the youngest.
dpt_assoc_fwmark() {
	local json
	json=$(dpt_sctplb "$1" assoc --json)
	tl_json "$json" "next((str(a['fwmark']) for a in sorted(d['associations'], key=lambda a: a['age_s']) if ('$2' in a['addresses'] or '$3' in a['addresses']) and a['state'] != 'closed'), 'none')"
}

# dpt_failover_check NAME K: client K sends COUNT messages; after a few echoes path A is cut in
# vm-201. Checks: before the cut both paths reach one server S (and the LB(s) pinned it to S);
# after the cut path A delivers nothing, path B carries the messages, to S; the client gets every
# echo (no message lost) from S only; S received every message exactly once.
dpt_failover_check() {
	local name=$1 k=$2 count=16 interval=250 a b before at_cut after status server mark lb fwmark
	local from_b_after missing delta
	a=$(dpt_client_address "$k" A)
	b=$(dpt_client_address "$k" B)
	before=$(dpt_counters)
	dpt_client "$name" "$k" --count $count --interval-ms $interval --echo-wait-ms 8000
	if ! tl_wait_echoes "$name" 4 10; then
		tl_fail "$name: fewer than 4 echoes in 10 s before the cut: $(tail -n 3 "$tl_work/$name.log")"
		tl_wait "$name" 1 || true
		return 0
	fi
	server=$(tl_echo_servers "$name" | head -n 1)
	mark=${server#server-}
	local echoes_at_cut on_b_before
	on_b_before=$(dpt_counters)
	echoes_at_cut=$(tl_echo_count "$name")
	tl_say "$name: cutting path A in vm-201 after $echoes_at_cut echoes"
	dpt_cut_path_a
	if [ "$(dpt_counter "$on_b_before" "$server" "$b")" -gt "$(dpt_counter "$before" "$server" "$b")" ]; then
		tl_pass "$name: before the cut, path B ($b -> $DP_VIP_B, heartbeats) already reached $server"
	else
		tl_fail "$name: before the cut, $server received nothing on path B ($b)"
	fi
	for lb in $DP_LBS; do
		fwmark=$(dpt_assoc_fwmark "$lb" "$a" "$b")
		if [ "$fwmark" = "$mark" ]; then
			tl_pass "$name: vm-$lb pinned the association to fwmark $mark ($server)"
		else
			tl_fail "$name: vm-$lb has fwmark '$fwmark' for the association, the echoes came from $server"
		fi
	done
	sleep 0.2
	at_cut=$(dpt_counters)
	status=0
	tl_wait "$name" 40 || status=$?
	after=$(dpt_counters)
	dpt_check_one_server "$name" "$k" "$count" "$before" "$after" "$status"
	delta=$(($(dpt_counter "$after" "$server" "$a") - $(dpt_counter "$at_cut" "$server" "$a")))
	if [ "$delta" = 0 ]; then
		tl_pass "$name: after the cut nothing from $a reached $server (path A is cut)"
	else
		tl_fail "$name: after the cut $server still received $delta packets from $a"
	fi
	from_b_after=$(tl_server_messages "$server" | awk -v b="$b" -v n="$echoes_at_cut" '$1 == b && $3 > n' | wc -l)
	if [ "$from_b_after" -gt 0 ]; then
		tl_pass "$name: after the cut $server received $from_b_after messages on path B ($b -> $DP_VIP_B)"
	else
		tl_fail "$name: no message reached $server on path B after the cut"
	fi
	missing=$(tl_server_messages "$server" | awk -v a="$a" -v b="$b" '$1 == a || $1 == b { print $3 }' |
		sort -n | awk -v n="$count" '{ seen[$1]++ } END { for (i = 1; i <= n; i++) if (seen[i] != 1) printf "%d(x%d) ", i, seen[i] + 0 }')
	if [ -z "$missing" ]; then
		tl_pass "$name: $server received each of the $count messages exactly once"
	else
		tl_fail "$name: $server received these messages not exactly once: $missing"
	fi
	dpt_heal_path_a
	dpt_failover_server=$server
}
