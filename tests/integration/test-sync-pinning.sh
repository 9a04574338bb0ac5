#!/bin/bash
# Association sync, scenarios a and b (tests/topology/dual-path.sh --mode vtag --sync): two LB
# instances, vm-201 for path A and vm-202 for path B, in `vtag` mode, syncing over net 3.
#  a. 12 clients, each in its own namespace, all with the fixed port pair 36412 <-> 36412, DATA on
#     path A then on path B: each association reaches one server on both paths (per-server nft
#     counters per client address), both LBs list it with that server's fwmark (the LB that saw
#     the INIT "local", the other "learned" from it), and at least two servers are used;
#  b. path A cut in vm-201 mid-association (fixed ports again, two clients one after the other):
#     the association continues on path B through vm-202 to the same server, no message lost.
#
# Usage: test-sync-pinning.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,11p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS
clients=12

# Clients 13 and 14 are for b: the failover check counts every message from the client's addresses.
dpt_setup dps --mode vtag --sync --clients $((clients + 2))
dpt_lb_start
tl_say "topology with $clients clients and two syncing LBs up in $((SECONDS - started)) s"

# --- a. fixed ports, both paths, both LBs -------------------------------------------------------
tl_say "a: $clients clients, 36412 -> 36412, DATA on path A (vm-201) then on path B (vm-202)"
count=10
before=$(dpt_counters)
for k in $(seq 1 $clients); do
	dpt_client "fixed-$k" "$k" --lport 36412 --count $count --interval 300 --primary "$DP_VIP_B" --primary-after 2
done
# While they run: look at both LBs' tables until every association was seen established on both
# (what each look saw adds up: an association that ended before the last look keeps its entry).
tables=$tl_work/tables.json
# shellcheck disable=SC2046 # the client numbers
tl_until 30 dpt_watch_tables "$tables" $(seq 1 $clients) || true
dpt_wait_clients fixed- $(seq 1 $clients)
after=$(dpt_counters)
for k in $(seq 1 $clients); do
	dpt_check_one_server "fixed-$k" "$k" $count "$before" "$after" "${dpt_status[$k]}"
	server=$dpt_one_server
	dpt_tally_server "$server"
	[ "$server" = none ] && continue
	a=$(dpt_client_address "$k" A)
	b=$(dpt_client_address "$k" B)
	# "MARK PORTS TC TS LEARNED" of each LB's entry.
	read -r mark_201 ports_201 tc_201 ts_201 learned_201 _ mark_202 ports_202 tc_202 ts_202 learned_202 _ <<<"$(
		dpt_watched "$tables" "$k")"
	if [ "$mark_201" = "${server#server-}" ] && [ "$mark_202" = "$mark_201" ] &&
		[ "$ports_201 $ports_202" = "36412-36412 36412-36412" ] && [ "$tc_201 $ts_201" = "$tc_202 $ts_202" ]; then
		tl_pass "fixed-$k: vm-201 and vm-202 list 36412->36412 from $a and $b (tags $tc_201/$ts_201) with fwmark $mark_201"
	else
		tl_fail "fixed-$k: echoes from $server; vm-201 lists '$mark_201 $ports_201 $tc_201 $ts_201', vm-202 '$mark_202 $ports_202 $tc_202 $ts_202'"
	fi
	if { [ "$learned_201" = local ] && [ "$learned_202" = "$(dpt_sync_address 201)" ]; } ||
		{ [ "$learned_202" = local ] && [ "$learned_201" = "$(dpt_sync_address 202)" ]; }; then
		tl_pass "fixed-$k: learned: vm-201 '$learned_201', vm-202 '$learned_202'"
	else
		tl_fail "fixed-$k: learned: vm-201 '$learned_201', vm-202 '$learned_202' (one local, the other from its peer expected)"
	fi
done
dpt_check_spread "a: the $clients fixed-port associations"
for lb in 201 202; do
	stats=$(dpt_sctplb $lb stats --json)
	tl_say "vm-$lb: $(tl_json "$stats" "'unknown-association %s, held %s, hold-resolved %s, hold-expired %s' % (d['reasons']['unknown-association'], d['events']['held'], d['events']['hold-resolved'], d['events']['hold-expired'])");" \
		"sync: $(dpt_sync_stat $lb "'ready %s, records sent %s applied %s, digest mismatches %s, peers %s' % (s['ready'], s['records_sent'], s['records_applied'], s['digest_mismatches'], [(p['address'], p['state'], p['digest_match']) for p in s['peers']])" "$stats")"
done

# --- b. cut path A ----------------------------------------------------------------------------
for k in $((clients + 1)) $((clients + 2)); do
	tl_say "b: fixed ports, cut path A in vm-201 mid-association (client $k)"
	dpt_failover_check "failover-$k" "$k" --lport 36412
done

echo "runtime $((SECONDS - started)) s"
tl_finish
