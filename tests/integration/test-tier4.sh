#!/bin/bash
# The LB tier, live (docs/tier-scaling.md "The live check"): four sctplb instances in vtag mode
# with association sync as a full mesh, two per path behind an ECMP router per path
# (tests/topology/dual-path.sh --lbs-per-path 2: multipath routes to each VIP, L4 hash), three
# servers, 8 multihomed ctraffic clients with the fixed port pair 3868 <-> 3868 (as Diameter),
# each from its own address pair (odd clients send DATA on path A, even ones on path B). Checks:
#  - the routers spread the associations: each of the 4 instances forwarded packets of at least
#    one association (its kernel forward counters per client address, and its own stats);
#  - before the kill every instance lists every association, with the fwmark of the server that
#    echoes it;
#  - `kill -9` of the busiest instance of path A, and its next hop withdrawn from the router's
#    multipath route (as a BFD or health-check failure does): the sibling forwards the killed
#    instance's associations (its counters for their path-A addresses grow, their servers
#    receive them) and the clients keep being echoed;
#  - at the end every association was echoed by one server only, the server it had before the
#    kill, lost nothing, never restarted or aborted, and no other server received a packet from
#    its addresses during the whole run.
#
# Usage: test-tier4.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,18p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS
clients=8
# The Diameter port on both sides: every association has the same port pair.
export DUAL_PATH_PORT=3868

dpt_setup tier --mode vtag --sync --clients $clients --lbs-per-path 2
dpt_lb_start
tl_say "4 LBs ($DP_LBS_A on path A, $DP_LBS_B on path B), 3 servers, $clients clients up in $((SECONDS - started)) s"
[ -e /proc/sys/net/ipv4/fib_multipath_hash_seed ] ||
	tl_say "this kernel has no fib_multipath_hash_seed: the routers hash with a random seed"

# ctraffic runs until SIGUSR1 (its --duration is only a ceiling): the test stops it once it has
# seen what it waits for. Snapshots every second in $tl_work/ct-K.json, the final report too.
for k in $(seq 1 $clients); do
	vips=$DP_VIP_A,$DP_VIP_B
	[ $((k % 2)) = 1 ] || vips=$DP_VIP_B,$DP_VIP_A
	ns=DP_CLIENT${k}_NS
	tl_spawn "ct-$k" "${!ns}" "$SCTPT" ctraffic --stack usrsctp --addr "$vips" \
		--laddr "$(dpt_client_address "$k" A),$(dpt_client_address "$k" B)" --port "$DP_PORT" \
		--lport-fixed "$DP_PORT" --clients 1 --rate 5 --duration 150 --echo-wait 8000 \
		--connect-timeout 30000 --stats-file "$tl_work/ct-$k.json"
done

# ct_holds K PYTHON-EXPRESSION: holds for client K's latest ctraffic snapshot (`d` the document,
# `a` its association); false while there is none.
ct_holds() {
	"$tl_python" -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(1)
a = (d.get("associations") or [{}])[0]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$tl_work/ct-$1.json" "$2"
}
ct_value() { "$tl_python" -c 'import json, sys; d = json.load(open(sys.argv[1])); a = d["associations"][0]; print(eval(sys.argv[2]))' "$tl_work/ct-$1.json" "$2"; }
all_echoed_at_least() {
	local k
	for k in $(seq 1 $clients); do ct_holds "$k" "a.get('state') == 'up' and a.get('echoed', 0) >= $1" || return 1; done
}
if tl_until 40 all_echoed_at_least 5; then
	tl_pass "all $clients associations up, 5 echoes each ($((SECONDS - started)) s)"
else
	tl_fail "not every association was up with 5 echoes in 40 s"
fi

# The server of each association: the one that echoed it.
declare -A server_of=()
for k in $(seq 1 $clients); do
	server_of[$k]=$(ct_value "$k" "','.join(sorted(a['servers']))")
done

# Every instance lists every association (both client addresses, established) before the kill.
table_looks=$tl_work/tables.json
# shellcheck disable=SC2046 # the client numbers
tl_until 20 dpt_watch_tables "$table_looks" $(seq 1 $clients) || true
for k in $(seq 1 $clients); do
	read -r -a seen <<<"$(dpt_watched "$table_looks" "$k")"
	missing=''
	i=0
	for lb in $DP_LBS; do
		mark=${seen[$((i * 6))]} ports=${seen[$((i * 6 + 1))]}
		[ "server-$mark" = "${server_of[$k]}" ] && [ "$ports" = "$DP_PORT-$DP_PORT" ] || missing+=" vm-$lb:$mark,$ports"
		i=$((i + 1))
	done
	if [ -z "$missing" ]; then
		tl_pass "client $k: all 4 instances list $DP_PORT->$DP_PORT from $(dpt_client_address "$k" A) and $(dpt_client_address "$k" B) with fwmark of ${server_of[$k]}"
	else
		tl_fail "client $k (echoed by ${server_of[$k]}): instances without it or with another fwmark:$missing"
	fi
done

# The spread: each instance forwarded packets of at least one association. Path B carries only
# heartbeats for odd clients (about one a second): waited for.
# lb_forwarded LB K: packets LB forwarded from client K's address on LB's path.
lb_forwarded() {
	local side=A
	case " $DP_LBS_B " in *" $1 "*) side=B ;; esac
	dpt_counter "${3:-$(dpt_lb_counters)}" "vm-$1" "$(dpt_client_address "$2" $side)"
}
every_lb_forwarded() {
	local lb k counts any
	counts=$(dpt_lb_counters)
	for lb in $DP_LBS; do
		any=no
		for k in $(seq 1 $clients); do [ "$(lb_forwarded "$lb" "$k" "$counts")" = 0 ] || any=yes; done
		[ $any = yes ] || return 1
	done
}
tl_until 20 every_lb_forwarded || true
counts=$(dpt_lb_counters)
for lb in $DP_LBS; do
	carried=''
	for k in $(seq 1 $clients); do [ "$(lb_forwarded "$lb" "$k" "$counts")" = 0 ] || carried+=" $k"; done
	established=$(tl_json "$(dpt_sctplb "$lb" stats --json)" "d['reasons']['established']")
	if [ -n "$carried" ] && [ "$established" -gt 0 ]; then
		tl_pass "vm-$lb forwarded packets of clients$carried (its stats: $established established-association packets)"
	else
		tl_fail "vm-$lb forwarded no association's packets (clients '$carried', stats established $established): the router did not spread"
	fi
done

# The victim: the instance of path A that forwarded most; its sibling takes its share.
victim='' sibling='' most=-1
for lb in $DP_LBS_A; do
	sum=0
	for k in $(seq 1 $clients); do sum=$((sum + $(lb_forwarded "$lb" "$k" "$counts"))); done
	if [ "$sum" -gt "$most" ]; then most=$sum victim=$lb; fi
done
for lb in $DP_LBS_A; do [ "$lb" = "$victim" ] || sibling=$lb; done
moved=()
for k in $(seq 1 $clients); do [ "$(lb_forwarded "$victim" "$k" "$counts")" = 0 ] || moved+=("$k"); done

before_kill=$(dpt_lb_counters)
servers_before_kill=$(dpt_counters)
declare -A echoed_at_kill=()
for k in $(seq 1 $clients); do echoed_at_kill[$k]=$(ct_value "$k" "a['echoed']"); done
tl_say "kill -9 vm-$victim (forwarded $most packets, clients ${moved[*]}), withdraw its next hop"
dpt_lb_stop_one "$victim" KILL
dpt_withdraw "$victim"
killed=$SECONDS

# The sibling forwards the killed instance's associations: 3 more packets from each one's path-A
# address through the sibling, and as many more at its server (path A has no other way now).
sibling_carries() {
	local k a counts servers
	counts=$(dpt_lb_counters)
	servers=$(dpt_counters)
	for k in "${moved[@]}"; do
		a=$(dpt_client_address "$k" A)
		[ $(($(dpt_counter "$counts" "vm-$sibling" "$a") - $(dpt_counter "$before_kill" "vm-$sibling" "$a"))) -ge 3 ] || return 1
		[ $(($(dpt_counter "$servers" "${server_of[$k]}" "$a") - $(dpt_counter "$servers_before_kill" "${server_of[$k]}" "$a"))) -ge 3 ] || return 1
	done
}
if tl_until 30 sibling_carries; then
	tl_pass "vm-$sibling forwards the associations of clients ${moved[*]} to their servers after vm-$victim died ($((SECONDS - killed)) s)"
else
	tl_fail "vm-$sibling did not forward 3 packets of each of clients ${moved[*]} to its server in 30 s: $(dpt_lb_counters | tr '\n' ' ')"
fi
echoed_since_kill() {
	local k
	for k in $(seq 1 $clients); do ct_holds "$k" "a['echoed'] >= ${echoed_at_kill[$k]} + 10" || return 1; done
}
if tl_until 30 echoed_since_kill; then
	tl_pass "every client got 10 more echoes after the kill ($((SECONDS - killed)) s)"
else
	tl_fail "not every client got 10 more echoes in the 30 s after the kill"
fi

# Stop the traffic (SIGUSR1: finish now) and read each final report.
# shellcheck disable=SC2154 # tl_client_pid: test-common.sh
for k in $(seq 1 $clients); do kill -USR1 "${tl_client_pid[ct-$k]}" 2>/dev/null || true; done
dpt_wait_clients ct- $(seq 1 $clients)
after=$(dpt_counters)
for k in $(seq 1 $clients); do
	if [ "${dpt_status[$k]}" = 0 ] && ct_holds "$k" "not d['running'] and a['state'] == 'closed' and a['sent'] == a['echoed'] > 0 and a['lost'] == 0 and a['restarts'] == 0 and a['unexpected'] == 0 and list(a['servers']) == ['${server_of[$k]}'] and not any(e['event'] in ('COMM_LOST', 'RESTART', 'CANT_STR_ASSOC') for e in a['association_events'])"; then
		tl_pass "client $k: $(ct_value "$k" "a['echoed']") messages, every one echoed by ${server_of[$k]}, none lost, no restart or abort, closed with SHUTDOWN"
	else
		tl_fail "client $k: exit ${dpt_status[$k]}; $(ct_value "$k" "{x: a.get(x) for x in ('state', 'sent', 'echoed', 'lost', 'restarts', 'servers', 'association_events')}" 2>&1 | tail -n 1)"
	fi
	strangers=''
	for s in $DP_SERVERS; do
		for address in $(dpt_client_address "$k" A) $(dpt_client_address "$k" B); do
			delta=$(dpt_counter "$after" "server-$s" "$address")
			if [ "server-$s" = "${server_of[$k]}" ]; then
				[ "$delta" -gt 0 ] || strangers+=" nothing from $address at server-$s;"
			else
				[ "$delta" = 0 ] || strangers+=" server-$s received $delta from $address;"
			fi
		done
	done
	if [ -z "$strangers" ]; then
		tl_pass "client $k: only ${server_of[$k]} received its packets, on both paths, during the whole run"
	else
		tl_fail "client $k (${server_of[$k]}):$strangers"
	fi
done
# No server saw an association end other than by SHUTDOWN (an ABORT or an out-of-the-blue packet
# shows as COMM_LOST or RESTART in its notes).
if grep -E 'association [0-9]+: (COMM_LOST|RESTART|CANT_STR_ASSOC)' "$DP_STATE"/server-*.log >"$tl_work/server-ends.txt"; then
	tl_fail "the servers saw associations lost or restarted: $(head -n 3 "$tl_work/server-ends.txt" | tr '\n' ' ')"
else
	tl_pass "no server saw an association lost, aborted or restarted"
fi

echo "runtime $((SECONDS - started)) s"
tl_finish
