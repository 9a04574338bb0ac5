# shellcheck shell=bash
# dual-path-lib.sh: helpers shared by tests/integration/test-dual-*.sh and tests/demo/demo.sh, on
# top of dual-path.sh (modelled on lb-test-lib.sh). Source it (bash); dpt_setup installs an EXIT
# trap that stops every client started here and brings the topology down.
#
# Provides: dpt_check_requirements, dpt_setup NAME [up options], dpt_lb_start [lb options],
# dpt_sctplb 201|202 COMMAND ARGS, dpt_client NAME K [usctp client options], dpt_wait NAME [S],
# dpt_echo_servers NAME, dpt_echo_count NAME, dpt_wait_echoes NAME N [S], dpt_counters,
# dpt_counter COUNTERS SERVER ADDRESS, dpt_server_messages SERVER, dpt_json JSON EXPR,
# dpt_check_one_server ..., dpt_failover_check ..., dpt_pass/dpt_fail/dpt_skip/dpt_finish.

dpt_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dpt_source_dir=$(cd "$dpt_lib_dir/../.." && pwd)
DPT_TOPOLOGY=$dpt_lib_dir/dual-path.sh
: "${SCTPLB_BUILD_DIR:=$dpt_source_dir/build}"
: "${SCTPLB_BIN:=$SCTPLB_BUILD_DIR/lb/cli/sctplb}"
: "${USCTP:=$SCTPLB_BUILD_DIR/test-apps/usrsctp/usctp}"
export SCTPLB_BUILD_DIR SCTPLB_BIN USCTP

dpt_failures=0
dpt_client_pids=()
declare -A dpt_client_pid=()
dpt_prefix=
dpt_work=

dpt_skip() {
	echo "SKIP: $*"
	exit 0
}
dpt_pass() { echo "PASS: $*"; }
dpt_fail() {
	echo "FAIL: $*"
	dpt_failures=$((dpt_failures + 1))
}
dpt_say() { echo "--- $*"; }

# dpt_check_requirements: SKIP (exit 0, saying why) when this machine cannot run the tests.
dpt_check_requirements() {
	[ "$(id -u)" = 0 ] || dpt_skip "needs root (network namespaces, iptables, NFQUEUE)"
	local tool
	for tool in ip nft iptables ip6tables python3; do
		command -v "$tool" >/dev/null || dpt_skip "$tool is not installed"
	done
	[ -x "$SCTPLB_BIN" ] || dpt_skip "sctplb not built at $SCTPLB_BIN"
	[ -x "$USCTP" ] || dpt_skip "usctp not built at $USCTP (needs libusrsctp-dev)"
	ip netns add "dptcheck$$" 2>/dev/null || dpt_skip "cannot create network namespaces"
	if ! ip netns exec "dptcheck$$" iptables -t mangle -A PREROUTING -p sctp -j NFQUEUE --queue-num 2 \
		2>/dev/null; then
		ip netns delete "dptcheck$$"
		dpt_skip "iptables NFQUEUE target not available"
	fi
	ip netns delete "dptcheck$$"
}

dpt_cleanup() {
	local pid
	for pid in "${dpt_client_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${dpt_client_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	dpt_client_pids=()
	if [ -n "$dpt_prefix" ]; then
		if [ "${DPT_KEEP_LOGS:-}" = 1 ] && [ -d "$DP_STATE" ]; then
			cp -r "$DP_STATE" "$dpt_work/topology" 2>/dev/null || true
		fi
		"$DPT_TOPOLOGY" down "$dpt_prefix" || true
		dpt_prefix=
	fi
	if [ -n "$dpt_work" ]; then
		if [ "${DPT_KEEP_LOGS:-}" = 1 ]; then echo "logs kept in $dpt_work"; else rm -rf "$dpt_work"; fi
		dpt_work=
	fi
}

# dpt_setup NAME [up options]: topology PREFIX = NAME + $$ up, servers started, LBs not started.
DP_STATE=
dpt_setup() {
	local name=$1
	shift
	dpt_prefix=$name$$
	dpt_work=$(mktemp -d "/tmp/$name.XXXXXX")
	trap dpt_cleanup EXIT
	trap 'exit 130' INT TERM
	"$DPT_TOPOLOGY" up "$dpt_prefix" "$@"
	eval "$("$DPT_TOPOLOGY" env "$dpt_prefix")"
	"$DPT_TOPOLOGY" servers "$dpt_prefix"
}

dpt_lb_start() { "$DPT_TOPOLOGY" lb-start "$dpt_prefix" "$@"; }
dpt_sctplb() { "$DPT_TOPOLOGY" sctplb "$dpt_prefix" "$@"; }
dpt_cut_path_a() { "$DPT_TOPOLOGY" cut-path-a "$dpt_prefix"; }
dpt_heal_path_a() { "$DPT_TOPOLOGY" heal-path-a "$dpt_prefix"; }
# "server-N ADDRESS COUNT": packets each server received from each client address.
dpt_counters() { "$DPT_TOPOLOGY" counters "$dpt_prefix"; }
dpt_counter() { echo "$1" | awk -v s="$2" -v a="$3" '$1 == s && $2 == a { print $3 + 0; found = 1 } END { if (!found) print 0 }'; }

# dpt_client_address K A|B: client K's address on path A (net 2) or B (net 6).
dpt_client_address() {
	local v=DP_CLIENT${1}_ADDRS
	if [ "$2" = A ]; then echo "${!v}" | cut -d, -f1; else echo "${!v}" | cut -d, -f2; fi
}

# dpt_client NAME K [usctp client options]: multihomed client K (both local addresses, both VIPs)
# in the background; output in $dpt_work/NAME.log.
dpt_client() {
	local name=$1 k=$2 ns addrs
	local -a encap=()
	shift 2
	ns=DP_CLIENT${k}_NS
	addrs=DP_CLIENT${k}_ADDRS
	[ -z "$DP_ENCAP_PORT" ] || encap=(--udp-encap "$DP_ENCAP_PORT")
	ip netns exec "${!ns}" "$USCTP" client --addr "$DP_VIPS" --laddr "${!addrs}" --port "$DP_PORT" \
		"${encap[@]}" "$@" >"$dpt_work/$name.log" 2>&1 &
	dpt_client_pid[$name]=$!
	dpt_client_pids+=($!)
}

# dpt_wait NAME [SECONDS]: the client's exit status (124, and killed, after SECONDS, default 30).
dpt_wait() {
	local name=$1 limit=${2:-30} pid status tenths
	pid=${dpt_client_pid[$name]}
	tenths=$((limit * 10))
	while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; do
		tenths=$((tenths - 1))
		if [ $tenths -le 0 ]; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			return 124
		fi
		sleep 0.1
	done
	status=0
	wait "$pid" || status=$?
	return $status
}

dpt_log() { cat "$dpt_work/$1.log"; }
# The servers that echoed the client's messages, one per line, sorted, unique.
dpt_echo_servers() {
	sed -n 's/.*client: echo via [^ ]*: \(server-[0-9]*\): .*/\1/p' "$dpt_work/$1.log" | sort -u
}
dpt_echo_count() { grep -c 'client: echo via' "$dpt_work/$1.log" || true; }
dpt_wait_echoes() { # NAME N [SECONDS]
	local name=$1 want=$2 tenths=$((${3:-10} * 10))
	while [ "$(dpt_echo_count "$name")" -lt "$want" ]; do
		tenths=$((tenths - 1))
		[ $tenths -gt 0 ] || return 1
		sleep 0.1
	done
}

# dpt_server_messages SERVER: "ADDRESS message N" for every message the server received.
dpt_server_messages() {
	sed -n "s/.*$1: association [0-9]*: from \([0-9a-f.:]*\): \(message [0-9]*\)$/\1 \2/p" \
		"$DP_STATE/$1.log"
}

dpt_json() {
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# dpt_check_one_server NAME K COUNT BEFORE AFTER STATUS: the client succeeded with COUNT echoes,
# all from one server, and only that server received packets from either client address, from
# both of them. Sets dpt_one_server (server-N, or "none").
dpt_check_one_server() {
	local name=$1 k=$2 count=$3 before=$4 after=$5 status=$6 servers server s address delta ok=yes
	dpt_one_server=none
	if [ "$status" != 0 ] || [ "$(dpt_echo_count "$name")" != "$count" ]; then
		dpt_fail "$name: exit $status, $(dpt_echo_count "$name") of $count echoes"
		ok=no
	fi
	servers=$(dpt_echo_servers "$name")
	if [ "$(echo "$servers" | grep -c .)" != 1 ]; then
		dpt_fail "$name: echoes from several servers (or none): $(echo "$servers" | tr "\n" " ")"
		return 0
	fi
	server=$servers
	for s in $DP_SERVERS; do
		for address in $(dpt_client_address "$k" A) $(dpt_client_address "$k" B); do
			delta=$(($(dpt_counter "$after" "server-$s" "$address") - $(dpt_counter "$before" "server-$s" "$address")))
			if [ "server-$s" = "$server" ] && [ "$delta" -eq 0 ]; then
				dpt_fail "$name: $server received no packet from $address (that path is not pinned to it)"
				ok=no
			elif [ "server-$s" != "$server" ] && [ "$delta" -ne 0 ]; then
				dpt_fail "$name: server-$s received $delta packets from $address, but $server has the association"
				ok=no
			fi
		done
	done
	[ $ok = no ] || dpt_pass "$name: $count echoes from $server; both paths ($(dpt_client_address "$k" A), $(dpt_client_address "$k" B)) reached $server and no other server"
	dpt_one_server=$server
}

# dpt_assoc_fwmark LB ADDRESS_A ADDRESS_B: the fwmark of the youngest live association listing
# either client address in that LB's table ("none" if there is none). An LB that did not see the
# end of an earlier association (it ended on the other path) still lists it: hence the youngest.
dpt_assoc_fwmark() {
	local json
	json=$(dpt_sctplb "$1" assoc --json)
	dpt_json "$json" "next((str(a['fwmark']) for a in sorted(d['associations'], key=lambda a: a['age_s']) if ('$2' in a['addresses'] or '$3' in a['addresses']) and a['state'] != 'closed'), 'none')"
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
	if ! dpt_wait_echoes "$name" 4 10; then
		dpt_fail "$name: fewer than 4 echoes in 10 s before the cut: $(tail -n 3 "$dpt_work/$name.log")"
		dpt_wait "$name" 1 || true
		return 0
	fi
	server=$(dpt_echo_servers "$name" | head -n 1)
	mark=${server#server-}
	local echoes_at_cut on_b_before
	on_b_before=$(dpt_counters)
	echoes_at_cut=$(dpt_echo_count "$name")
	dpt_say "$name: cutting path A in vm-201 after $echoes_at_cut echoes"
	dpt_cut_path_a
	if [ "$(dpt_counter "$on_b_before" "$server" "$b")" -gt "$(dpt_counter "$before" "$server" "$b")" ]; then
		dpt_pass "$name: before the cut, path B ($b -> $DP_VIP_B, heartbeats) already reached $server"
	else
		dpt_fail "$name: before the cut, $server received nothing on path B ($b)"
	fi
	for lb in $DP_LBS; do
		fwmark=$(dpt_assoc_fwmark "$lb" "$a" "$b")
		if [ "$fwmark" = "$mark" ]; then
			dpt_pass "$name: vm-$lb pinned the association to fwmark $mark ($server)"
		else
			dpt_fail "$name: vm-$lb has fwmark '$fwmark' for the association, the echoes came from $server"
		fi
	done
	sleep 0.2
	at_cut=$(dpt_counters)
	status=0
	dpt_wait "$name" 40 || status=$?
	after=$(dpt_counters)
	dpt_check_one_server "$name" "$k" "$count" "$before" "$after" "$status"
	delta=$(($(dpt_counter "$after" "$server" "$a") - $(dpt_counter "$at_cut" "$server" "$a")))
	if [ "$delta" = 0 ]; then
		dpt_pass "$name: after the cut nothing from $a reached $server (path A is cut)"
	else
		dpt_fail "$name: after the cut $server still received $delta packets from $a"
	fi
	from_b_after=$(dpt_server_messages "$server" | awk -v b="$b" -v n="$echoes_at_cut" '$1 == b && $3 > n' | wc -l)
	if [ "$from_b_after" -gt 0 ]; then
		dpt_pass "$name: after the cut $server received $from_b_after messages on path B ($b -> $DP_VIP_B)"
	else
		dpt_fail "$name: no message reached $server on path B after the cut"
	fi
	missing=$(dpt_server_messages "$server" | awk -v a="$a" -v b="$b" '$1 == a || $1 == b { print $3 }' |
		sort -n | awk -v n="$count" '{ seen[$1]++ } END { for (i = 1; i <= n; i++) if (seen[i] != 1) printf "%d(x%d) ", i, seen[i] + 0 }')
	if [ -z "$missing" ]; then
		dpt_pass "$name: $server received each of the $count messages exactly once"
	else
		dpt_fail "$name: $server received these messages not exactly once: $missing"
	fi
	dpt_heal_path_a
	dpt_failover_server=$server
}

dpt_finish() {
	if [ "$dpt_failures" -gt 0 ]; then
		echo "FAILED: $dpt_failures check(s) failed; logs follow"
		local file
		for file in "$dpt_work"/*.log "$DP_STATE"/*.log; do
			[ -f "$file" ] || continue
			echo "===== $file (last 60 lines)"
			tail -n 60 "$file"
		done
		exit 1
	fi
	echo "ALL PASSED"
	exit 0
}
