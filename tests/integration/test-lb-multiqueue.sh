#!/bin/bash
# Two NFQUEUEs (iptables --queue-balance 2:3, `sctplb lb --queue 2:3`: one thread each) sharing
# one association table. --queue-balance spreads packets by addresses, so the two paths of one
# association can reach different threads; each association must still reach one server on both
# paths. sctplb owns only the fwmark bits 0xff (--mark-mask): a mark bit 0x100 set by another
# rule before the queue must survive the verdict. (tests/topology/lb-topology.sh with 4
# multihomed usrsctp clients, vtag mode.)
#
# Usage: test-lb-multiqueue.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,7p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"
lbt_check_requirements
started=$SECONDS

export LB_QUEUE=2:3 LB_MARK_MASK=0xff
lbt_setup lbq --clients 4
# Another user of fwmark: bit 0x100 on every VIP packet, set before the NFQUEUE rule; counted
# after the verdict (FORWARD) if it is still there.
ip netns exec "$LB_NS" iptables -w -t mangle -I PREROUTING 1 -d 10.0.0.0/24 -p sctp -j MARK --or-mark 0x100
ip netns exec "$LB_NS" iptables -w -t filter -I FORWARD 1 -d 10.0.0.0/24 -p sctp -m mark --mark 0x100/0x100
lbt_lb_start --mark-mask 0xff

# The per-packet decision trace, switched on at run time for the client port of nobody but
# client 1's first address.
lbt_sctplb trace --on --address 192.168.2.221 >/dev/null
tl_say "four multihomed associations at once, DATA moving to path B after 3 messages"
for k in 1 2 3 4; do
	lbt_client "q$k" "$k" --count 8 --interval 150 --primary 10.0.0.2 --primary-after 3
done
for k in 1 2 3 4; do
	status=0
	tl_wait "q$k" || status=$?
	servers=$(tl_echo_servers "q$k" | tr '\n' ' ')
	if [ "$status" = 0 ] && [ "$(tl_echo_count "q$k")" = 8 ] && [ "$(echo $servers | wc -w)" = 1 ]; then
		tl_pass "q$k: 8 echoes, all from $servers"
	else
		tl_fail "q$k: exit $status, $(tl_echo_count "q$k") echoes from: $servers"
	fi
done

# unknown-association must stay 0: judge it once every queued packet's decision is published.
tl_until 10 lbt_stats_settled || tl_fail "the daemon's published packet count did not reach the kernel's queue count in 10 s"
stats=$lbt_stats_now
unknown=$(tl_json "$stats" "d['reasons']['unknown-association']")
if [ "$unknown" = 0 ]; then
	tl_pass "no packet was unknown to the thread that got it (unknown-association 0)"
else
	tl_fail "unknown-association $unknown: a thread missed an association the other one created"
fi
# Both threads served this segment (informational: the kernel's address hash decides the split).
queues=$(ip netns exec "$LB_NS" cat /proc/net/netfilter/nfnetlink_queue | awk '$1 == 2 || $1 == 3 { printf "queue %s: %s packets; ", $1, $8 }')
tl_say "kernel: $queues"
bound=$(ip netns exec "$LB_NS" cat /proc/net/netfilter/nfnetlink_queue | awk '($1 == 2 || $1 == 3) && $2 != 0' | wc -l)
if [ "$bound" = 2 ]; then
	tl_pass "both queues 2 and 3 are bound by the one sctplb lb"
else
	tl_fail "expected queues 2 and 3 bound, found $bound"
fi

traced=$(grep -c ' trace q' "$LB_STATE/lb.log" || true)
foreign=$(grep ' trace q' "$LB_STATE/lb.log" | grep -vc '192.168.2.221' || true)
if [ "$traced" -gt 0 ] && [ "$foreign" = 0 ] && grep ' trace q' "$LB_STATE/lb.log" | grep -q 'reason=established'; then
	tl_pass "trace: $traced decisions traced at run time, all of 192.168.2.221"
else
	tl_fail "trace: $traced lines, $foreign of other addresses"
fi
kept=$(ip netns exec "$LB_NS" iptables -w -t filter -L FORWARD 1 -v -n -x | awk '{ print $1 }')
if [ "${kept:-0}" -gt 20 ]; then
	tl_pass "the foreign mark bit 0x100 survived sctplb's verdicts ($kept forwarded packets carried it)"
else
	tl_fail "the foreign mark bit 0x100 was lost (${kept:-0} forwarded packets carried it)"
fi

echo "runtime $((SECONDS - started)) s"
tl_finish
