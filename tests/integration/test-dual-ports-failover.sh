#!/bin/bash
# Scenario a of the dual-path suite (tests/topology/dual-path.sh): `ports` mode with two LB
# instances, vm-201 for path A and vm-202 for path B, sharing no state (same seed, M, fwmarks).
# One multihomed usrsctp association: both paths reach one server (per-server nft counters per
# client address) and both LBs pinned it to that server's fwmark; cutting path A in vm-201
# (iptables and ip6tables FORWARD drop) moves the traffic to path B, on the same server, and the
# client gets every echo (no message lost).
#
# Usage: test-dual-ports-failover.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
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

dpt_setup dpa --mode ports --clients 1
dpt_lb_start
tl_say "ports mode, two LBs: fail over from path A (vm-201) to path B (vm-202)"
dpt_failover_check a1 1
for lb in 201 202; do
	hashed=$(tl_json "$(dpt_sctplb "$lb" stats --json)" "d['reasons']['ports-hash'] + d['reasons']['init-hash']")
	tl_say "vm-$lb: $hashed packets chose a target by the ports hash"
done
echo "runtime $((SECONDS - started)) s"
tl_finish
