# shellcheck shell=bash
# dual-path-lib.sh: helpers for tests/integration/test-dual-*.sh, test-sync-*.sh and
# tests/demo/demo.sh on top of dual-path.sh; the helpers every test library shares (tl_pass/
# tl_fail/tl_finish, tl_wait, tl_echo_*, tl_json, tl_server_messages, ...) come from
# test-common.sh. Source it (bash); dpt_setup installs an EXIT trap that stops every client
# started here and brings the topology down.
#
# Provides: dpt_check_requirements, dpt_setup NAME [up options], dpt_lb_start [lb options],
# dpt_sctplb 201|202 COMMAND ARGS, dpt_client NAME K [sctpt client options], dpt_counters,
# dpt_counter COUNTERS SERVER ADDRESS, dpt_client_address K A|B, dpt_check_one_server ...,
# dpt_assoc_fwmark ..., dpt_lb_pinned ..., dpt_failover_check ...; for association sync (up
# --sync): dpt_sync_address, dpt_lb_start_one, dpt_lb_stop_one, dpt_assoc_summary, dpt_pinned,
# dpt_wait_pinned, dpt_watch_tables, dpt_watched, dpt_sync_stat,
# dpt_wait_clients, dpt_tally_server, dpt_check_spread; for the tier (up --lbs-per-path 2):
# dpt_lb_counters, dpt_withdraw.
# DPT_KEEP_LOGS=1 keeps the logs.

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
# dpt_lb_start_one K [lb options]; dpt_lb_stop_one K [SIGNAL] (KILL: kill -9); K: an LB (201, ...).
dpt_lb_start_one() { "$DPT_TOPOLOGY" lb-start "$tl_prefix" --only "$@"; }
dpt_lb_stop_one() { "$DPT_TOPOLOGY" lb-stop "$tl_prefix" "${2:-TERM}" "$1"; }
dpt_sctplb() { "$DPT_TOPOLOGY" sctplb "$tl_prefix" "$@"; }
dpt_cut_path_a() { "$DPT_TOPOLOGY" cut-path-a "$tl_prefix"; }
dpt_heal_path_a() { "$DPT_TOPOLOGY" heal-path-a "$tl_prefix"; }
# "server-N ADDRESS COUNT": packets each server received from each client address.
dpt_counters() { "$DPT_TOPOLOGY" counters "$tl_prefix"; }
# "vm-K ADDRESS COUNT": packets each LB of the tier forwarded from each client address (read them
# with dpt_counter). dpt_withdraw K: LB K's next hop leaves its path's multipath route.
dpt_lb_counters() { "$DPT_TOPOLOGY" lb-counters "$tl_prefix"; }
dpt_withdraw() { "$DPT_TOPOLOGY" withdraw "$tl_prefix" "$1"; }
dpt_counter() { echo "$1" | awk -v s="$2" -v a="$3" '$1 == s && $2 == a { print $3 + 0; found = 1 } END { if (!found) print 0 }'; }

# dpt_client_address K A|B: client K's address on path A (net 2) or B (net 6).
dpt_client_address() {
	local v=DP_CLIENT${1}_ADDRS
	if [ "$2" = A ]; then echo "${!v}" | cut -d, -f1; else echo "${!v}" | cut -d, -f2; fi
}

# dpt_client NAME K [sctpt client options]: multihomed sctpt client K (usrsctp, --verbose; both
# local addresses, both VIPs; up to 30 s to come up) in the background; output in
# $tl_work/NAME.log.
dpt_client() {
	local name=$1 k=$2 ns addrs
	local -a encap=()
	shift 2
	ns=DP_CLIENT${k}_NS
	addrs=DP_CLIENT${k}_ADDRS
	[ -z "$DP_ENCAP_PORT" ] || encap=(--udp-encap "$DP_ENCAP_PORT")
	tl_spawn "$name" "${!ns}" "$SCTPT" client --stack usrsctp --verbose --connect-timeout 30000 \
		--addr "$DP_VIPS" --laddr "${!addrs}" --port "$DP_PORT" "${encap[@]}" "$@"
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

# dpt_failover_check NAME K [client options]: client K sends COUNT messages; after a few echoes
# path A is cut in vm-201. Checks: before the cut both paths reach one server S (and the LB(s)
# pinned it to S); after the cut path A delivers nothing, path B carries the messages, to S; the
# client gets every echo (no message lost) from S only; S received every message exactly once.
dpt_failover_check() {
	local name=$1 k=$2 count=32 interval=250 a b before at_cut after status server mark lb
	local from_b_after missing delta
	# 32 messages (8 s): the cut must find the client still sending after up to 4 echoes and up
	# to 5 s waiting for path B's heartbeat; 16 could all be sent before it on a loaded machine
	# (the association then closed before the pin check: "fwmark 'none'").
	shift 2
	a=$(dpt_client_address "$k" A)
	b=$(dpt_client_address "$k" B)
	before=$(dpt_counters)
	dpt_client "$name" "$k" --count $count --interval $interval --echo-wait 8000 "$@"
	if ! tl_wait_echoes "$name" 4 10; then
		tl_fail "$name: fewer than 4 echoes in 10 s before the cut: $(tail -n 3 "$tl_work/$name.log")"
		tl_wait "$name" 1 || true
		return 0
	fi
	server=$(tl_echo_servers "$name" | head -n 1)
	mark=${server#server-}
	local echoes_at_cut on_b_before
	# Path B carries heartbeats only (the first confirms the path right after the handshake, RFC
	# 9260 §5.4): wait up to 5 s for one to have reached the server before cutting path A.
	dpt_failover_b_reached() {
		on_b_before=$(dpt_counters)
		[ "$(dpt_counter "$on_b_before" "$server" "$b")" -gt "$(dpt_counter "$before" "$server" "$b")" ]
	}
	tl_until 5 dpt_failover_b_reached || true
	echoes_at_cut=$(tl_echo_count "$name")
	tl_say "$name: cutting path A in vm-201 after $echoes_at_cut echoes"
	dpt_cut_path_a
	if [ "$(dpt_counter "$on_b_before" "$server" "$b")" -gt "$(dpt_counter "$before" "$server" "$b")" ]; then
		tl_pass "$name: before the cut, path B ($b -> $DP_VIP_B, heartbeats) already reached $server"
	else
		tl_fail "$name: before the cut, $server received nothing on path B ($b)"
	fi
	for lb in $DP_LBS; do
		# Up to 10 s: on a loaded machine the LB may read its queue (or its sync peer) late.
		if tl_until 10 dpt_lb_pinned "$lb" "$a" "$b" "$mark"; then
			tl_pass "$name: vm-$lb pinned the association to fwmark $mark ($server)"
		else
			tl_fail "$name: vm-$lb has fwmark '$(dpt_assoc_fwmark "$lb" "$a" "$b")' for the association, the echoes came from $server"
		fi
	done
	# The snapshot "at the cut" is read after the pin checks above and 0.2 s more: packets that
	# had passed vm-201's FORWARD hook before the DROP rule existed may still sit in a veth
	# backlog on their way to the server and must not count as "after the cut". No condition
	# marks their arrival; a longer margin only makes the check below more lenient, never wrong
	# (nothing can cross FORWARD once the rule is in).
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

# --- association sync (dual-path.sh up --sync) -------------------------------------------------

# dpt_sync_address K: LB K's sync address (--sync-listen), as "learned" and "peers" show it.
dpt_sync_address() { echo "192.168.3.$1:$DP_SYNC_PORT"; }

# dpt_assoc_summary ADDRESS_A ADDRESS_B JSON...: for each `sctplb assoc --json` output, five
# words on one line: "FWMARK SPORT-DPORT TC TS LEARNED" of the youngest live association listing
# both client addresses ("none none none none none" if there is none).
dpt_assoc_summary() {
	"$tl_python" -c '
import json, sys
a, b = sys.argv[1:3]
words = []
for text in sys.argv[3:]:
    live = [x for x in json.loads(text)["associations"]
            if a in x["addresses"] and b in x["addresses"] and x["state"] != "closed"]
    e = min(live, key=lambda x: x["age_s"], default=None)
    words += ["none"] * 5 if e is None else [str(e["fwmark"]), "%s-%s" % (e["sport"], e["dport"]),
                                             e["tc"], e["ts"], str(e.get("learned"))]
print(" ".join(words))' "$@"
}

# dpt_lb_pinned LB ADDRESS_A ADDRESS_B MARK: LB's youngest live association with either address
# has fwmark MARK.
dpt_lb_pinned() { [ "$(dpt_assoc_fwmark "$1" "$2" "$3")" = "$4" ]; }
# dpt_pinned K MARK: every LB lists client K's association with fwmark MARK.
dpt_pinned() {
	local a b lb
	a=$(dpt_client_address "$1" A)
	b=$(dpt_client_address "$1" B)
	for lb in $DP_LBS; do dpt_lb_pinned "$lb" "$a" "$b" "$2" || return 1; done
}
# dpt_wait_pinned K MARK [SECONDS]: until both LBs list client K's live association (either
# address) with fwmark MARK (default 10 s of wall time; returns 1 then).
dpt_wait_pinned() { tl_until "${3:-10}" dpt_pinned "$1" "$2"; }

# dpt_watch_tables FILE K...: one look at every LB's table (`assoc --json`); for each client K and
# LB, FILE keeps what the latest look that found K's association established (both addresses)
# saw. True once every client was seen on every LB. Sightings add up over looks: an association
# that ended meanwhile (closed, then dropped after the linger) keeps what was seen while it lived,
# so `tl_until SECONDS dpt_watch_tables FILE K...` never depends on reading every table in one
# window. dpt_watched FILE K prints "FWMARK SPORT-DPORT TC TS LEARNED COUNT" per LB (COUNT: the
# established associations listing both addresses in that look; "none" x 6 if never seen).
dpt_watch_tables() {
	local file=$1 lb k clients=
	local -a tables=()
	shift
	for k in "$@"; do clients+="$k=$(dpt_client_address "$k" A),$(dpt_client_address "$k" B) "; done
	for lb in $DP_LBS; do tables+=("$lb=$(dpt_sctplb "$lb" assoc --json)"); done
	"$tl_python" -c '
import json, os, sys
path, clients, tables = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
seen = json.load(open(path)) if os.path.exists(path) else {}
for item in tables:
    lb, text = item.split("=", 1)
    associations = json.loads(text)["associations"]
    for client in clients:
        k, addresses = client.split("=")
        a, b = addresses.split(",")
        live = [x for x in associations
                if a in x["addresses"] and b in x["addresses"] and x["state"] == "established"]
        if live:
            e = min(live, key=lambda x: x["age_s"])
            seen["%s/%s" % (lb, k)] = [str(e["fwmark"]), "%s-%s" % (e["sport"], e["dport"]),
                                       e["tc"], e["ts"], str(e.get("learned")), str(len(live))]
with open(path + ".new", "w") as out:
    json.dump(seen, out)
os.replace(path + ".new", path)
sys.exit(0 if all("%s/%s" % (item.split("=", 1)[0], client.split("=")[0]) in seen
                  for item in tables for client in clients) else 1)
' "$file" "$clients" "${tables[@]}"
}
dpt_watched() {
	"$tl_python" -c '
import json, os, sys
path, k, lbs = sys.argv[1], sys.argv[2], sys.argv[3].split()
seen = json.load(open(path)) if os.path.exists(path) else {}
print(" ".join(" ".join(seen.get("%s/%s" % (lb, k), ["none"] * 6)) for lb in lbs))' "$1" "$2" "$DP_LBS"
}

# dpt_sync_stat LB EXPR [JSON]: a Python expression on that LB's `stats --json` "sync" object
# (`s`); JSON: a `stats --json` output taken earlier (default: now).
dpt_sync_stat() {
	local json=${3:-}
	[ -n "$json" ] || json=$(dpt_sctplb "$1" stats --json)
	tl_json "$json" "(lambda s: $2)(d.get('sync') or {})"
}

# dpt_wait_clients NAME-PREFIX K...: waits (40 s at most each) for the clients named NAME-PREFIX
# + K; their exit statuses in dpt_status[K].
declare -A dpt_status=()
dpt_wait_clients() {
	local prefix=$1 k status
	shift
	for k in "$@"; do
		status=0
		tl_wait "$prefix$k" 40 || status=$?
		dpt_status[$k]=$status
	done
}

# dpt_tally_server SERVER: count one association on SERVER (as dpt_check_one_server found it;
# "none" is not counted). dpt_check_spread WHAT: PASS when the tally has two servers or more.
declare -A dpt_used=()
dpt_tally_server() { [ "$1" = none ] || dpt_used[$1]=$((${dpt_used[$1]:-0} + 1)); }
dpt_check_spread() {
	local spread
	spread=$(for s in "${!dpt_used[@]}"; do echo "$s: ${dpt_used[$s]}"; done | sort | tr '\n' ' ')
	if [ ${#dpt_used[@]} -ge 2 ]; then
		tl_pass "$1 used ${#dpt_used[@]} servers ($spread)"
	else
		tl_fail "$1 all went to one server ($spread)"
	fi
}
