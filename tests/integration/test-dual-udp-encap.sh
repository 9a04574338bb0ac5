#!/bin/bash
# Scenario f of the dual-path suite (tests/topology/dual-path.sh --encap-port 9899): SCTP over
# UDP (RFC 6951). Clients and servers run usrsctp with --udp-encap 9899; `sctplb rules
# --encap-port 9899` queues UDP to the VIPs' port 9899 and `sctplb lb --encap-port 9899` decides
# on the inner SCTP header. `vtag` mode, one LB carrying both paths: one multihomed association;
# the packets reaching the servers are UDP (nft counters), both paths reach one server, and
# cutting path A fails over to path B on that server with no message lost.
#
# Usage: test-dual-udp-encap.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
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
encap=9899

dpt_setup dpf --mode vtag --single-lb --encap-port $encap
# What reaches each server from the client: UDP to port 9899, or plain SCTP.
for s in $DP_SERVERS; do
	ns=DP_SERVER${s}_NS
	ip netns exec "${!ns}" nft -f - <<-EOF
		table inet dualpath_encap {
			chain prerouting {
				type filter hook prerouting priority -300; policy accept;
				ip saddr { 192.168.2.221, 192.168.6.221 } udp dport $encap counter
				ip saddr { 192.168.2.221, 192.168.6.221 } meta l4proto sctp counter
			}
		}
	EOF
done
dpt_lb_start --encap-port $encap
tl_say "SCTP over UDP port $encap: fail over from path A to path B"
dpt_failover_check udp 1
server=$dpt_failover_server
ns=DP_SERVER${server#server-}_NS
counts=$(ip netns exec "${!ns}" nft list chain inet dualpath_encap prerouting | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p' | tr '\n' ' ')
read -r udp sctp <<<"$counts"
if [ "${udp:-0}" -gt 0 ] && [ "${sctp:-1}" = 0 ]; then
	tl_pass "udp: $server received $udp UDP packets to port $encap and no plain SCTP"
else
	tl_fail "udp: $server received ${udp:-?} UDP packets to port $encap and ${sctp:-?} plain SCTP"
fi
stats=$(dpt_sctplb 201 stats --json)
decided=$(tl_json "$stats" "d['reasons']['init-hash'] + d['reasons']['established']")
bad=$(tl_json "$stats" "d['reasons']['bad-udp-header'] + d['reasons']['not-sctp'] + d['reasons']['unknown-association']")
if [ "$decided" -gt 0 ] && [ "$bad" = 0 ]; then
	tl_pass "udp: vm-201 decided $decided encapsulated packets on their inner SCTP header, none unknown"
else
	tl_fail "udp: vm-201 decided $decided packets; bad-udp-header + not-sctp + unknown = $bad"
fi
echo "runtime $((SECONDS - started)) s"
tl_finish
