#!/bin/bash
# Scenario c of the dual-path suite (tests/topology/dual-path.sh --single-lb --clients 12):
# 12 multihomed clients, each in its own namespace (one usrsctp stack per namespace), all with
# the fixed port pair 36412 <-> 36412 (as S1AP), `vtag` mode on one LB carrying both paths.
# A ports-only hash would send all 12 to one server; here each association is pinned on both
# paths (every packet from either client address reaches its one server; the LB lists it with
# both addresses) and at least two servers are used. The even spread is proven by the replay
# tests; 12 random tags over 3 servers are not even often enough to assert it here.
#
# Usage: test-dual-fixed-ports.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,9p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS
clients=12

dpt_setup dpc --mode vtag --single-lb --clients $clients
dpt_lb_start
tl_say "topology with $clients clients up in $((SECONDS - started)) s"
tl_say "$clients clients, 36412 -> 36412, DATA on path A then on path B"
before=$(dpt_counters)
for k in $(seq 1 $clients); do
	dpt_client "fixed-$k" "$k" --lport 36412 --count 4 --interval 300 --primary "$DP_VIP_B" --primary-after 2
done
# While they run: look at the LB's table until every association was seen established with both
# client addresses (what each look saw adds up: one that ended meanwhile keeps its entry).
tables=$tl_work/tables.json
# shellcheck disable=SC2046 # the client numbers
tl_until 30 dpt_watch_tables "$tables" $(seq 1 $clients) || true
declare -A statuses=()
for k in $(seq 1 $clients); do
	status=0
	tl_wait "fixed-$k" || status=$?
	statuses[$k]=$status
done
after=$(dpt_counters)
declare -A used=()
for k in $(seq 1 $clients); do
	dpt_check_one_server "fixed-$k" "$k" 4 "$before" "$after" "${statuses[$k]}"
	server=$dpt_one_server
	[ "$server" = none ] && continue
	used[$server]=$((${used[$server]:-0} + 1))
	a=$(dpt_client_address "$k" A)
	b=$(dpt_client_address "$k" B)
	read -r mark ports _ _ _ found <<<"$(dpt_watched "$tables" "$k")"
	if [ "$found" = 1 ] && [ "$mark" = "${server#server-}" ] && [ "$ports" = 36412-36412 ]; then
		tl_pass "fixed-$k: the LB lists 36412->36412 from $a and $b with fwmark ${server#server-}"
	else
		tl_fail "fixed-$k: the LB lists $found established associations from $a and $b, the youngest $ports with fwmark $mark (echoes from $server)"
	fi
done
spread=$(for s in "${!used[@]}"; do echo "$s: ${used[$s]}"; done | sort | tr '\n' ' ')
if [ ${#used[@]} -ge 2 ]; then
	tl_pass "the $clients fixed-port associations used ${#used[@]} servers ($spread)"
else
	tl_fail "every fixed-port association went to one server ($spread)"
fi
echo "runtime $((SECONDS - started)) s"
tl_finish
