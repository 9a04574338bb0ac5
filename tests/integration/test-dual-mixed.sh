#!/bin/bash
# Scenario e of the dual-path suite (tests/topology/dual-path.sh): IPv6 and mixed multihoming.
#  1. --mixed, `ports` mode, two LBs: path A is IPv4 (192.168.2.221 -> 10.0.0.1 via vm-201),
#     path B is IPv6 (fd00:6::221 -> fd00::1:2 via vm-202), one usrsctp association over both
#     (an AF_INET6 socket bound to one address of each family). Both paths reach one server,
#     both LBs pin it there, and cutting path A (iptables and ip6tables) fails over to the IPv6
#     path on the same server with no message lost.
#  2. --ipv6, `vtag` mode, one LB carrying both paths: the same checks with IPv6 on both paths.
#
# Usage: test-dual-mixed.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,10p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS

dpt_setup dpe --mode ports --mixed
dpt_lb_start
tl_say "mixed: path A IPv4 ($DP_CLIENT1_ADDRS -> $DP_VIPS), ports mode, two LBs"
dpt_failover_check mixed 1
tl_cleanup

dpt_setup dpe6 --mode vtag --single-lb --ipv6
dpt_lb_start
tl_say "IPv6 on both paths ($DP_CLIENT1_ADDRS -> $DP_VIPS), vtag mode, one LB"
dpt_failover_check ipv6 1
unknown=$(tl_json "$(dpt_sctplb 201 stats --json)" "d['reasons']['unknown-association'] + d['reasons']['cookie-echo-unknown'] + d['reasons']['ports-hash']")
[ "$unknown" = 0 ] && tl_pass "ipv6: vm-201 knew every packet (no unknown association)" ||
	tl_fail "ipv6: vm-201 met $unknown unknown or ports-hashed packets"
echo "runtime $((SECONDS - started)) s"
tl_finish
