#!/bin/bash
# Scenario b of the dual-path suite (tests/topology/dual-path.sh --single-lb): `vtag` mode with
# ONE LB instance (vm-201) that carries both paths (nets 2 and 6 on the client side, 1 and 4 on
# the server side), so it sees the INIT and every packet of both paths without association sync.
# One multihomed usrsctp association: both paths reach one server and the LB pinned it there;
# cutting path A (vm-201's client side, iptables and ip6tables) moves the traffic to path B on the
# same server, with no message lost.
#
# Usage: test-dual-vtag-single-lb.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,8p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS

dpt_setup dpb --mode vtag --single-lb --clients 1
dpt_lb_start
tl_say "vtag mode, one LB carrying both paths: fail over from path A to path B"
dpt_failover_check b1 1
stats=$(dpt_sctplb 201 stats --json)
unknown=$(tl_json "$stats" "d['reasons']['unknown-association'] + d['reasons']['cookie-echo-unknown']")
ports_hash=$(tl_json "$stats" "d['reasons']['ports-hash']")
init_hash=$(tl_json "$stats" "d['reasons']['init-hash']")
if [ "$unknown" = 0 ] && [ "$ports_hash" = 0 ] && [ "$init_hash" -ge 1 ]; then
	tl_pass "vm-201: the INIT chose the target ($init_hash init-hash), no packet was unknown or hashed by ports"
else
	tl_fail "vm-201: init-hash $init_hash, ports-hash $ports_hash, unknown $unknown"
fi
echo "runtime $((SECONDS - started)) s"
tl_finish
