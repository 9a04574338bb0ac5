#!/bin/bash
# IP fragments and ICMP errors through the live daemon (tests/topology/lb-topology.sh, vtag mode),
# next to a live association, with packets crafted by tests/tools/raw-send.py in the client's
# namespace:
#  a. a DATA packet of the association cut in two IPv4 fragments, the second sent first: the
#     second is held until the first arrives, then both go to the association's server;
#  b. fragments of an unknown association: the first is dropped as unknown, the second follows it;
#  c. a lone non-first fragment: held --hold-ms, then dropped (hold-expired, ip-fragment);
#  d. ICMP "fragmentation needed" quoting a VIP -> client packet of the association (vtag = Tc):
#     marked for its server; one quoting an unknown tag: dropped (icmp-unknown);
# and the association keeps delivering every message. Counters are compared before and after.
#
# Usage: test-lb-fragments-icmp.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,12p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"
lbt_check_requirements
started=$SECONDS
raw_send="python3 $script_dir/../tools/raw-send.py"

lbt_setup lbf --clients 1
lbt_lb_start --hold-ms 200
client_a=$(echo "$LB_CLIENT1_ADDRS" | cut -d, -f1)
vip_a=$(echo "$LB_VIPS" | cut -d, -f1)

lbt_client live 1 --count 20 --interval-ms 150 --echo-wait-ms 8000
tl_wait_echoes live 2 10 || tl_fail "the live association did not start"
assoc=$(lbt_sctplb assoc --json)
field() { tl_json "$assoc" "d['associations'][0]['$1']"; }
tc=$(field tc)
ts=$(field ts)
sport=$(field sport)
fwmark=$(field fwmark)
tl_say "live association: $client_a:$sport, Tc $tc, Ts $ts, fwmark $fwmark"

stats() { lbt_sctplb stats --json; }
count() { # count JSON KEY: a reason or event counter, or "target" for packets to the association's target
	case $2 in
	target) tl_json "$1" "sum(t['packets'] for t in d['targets'] if t['fwmark'] == $fwmark)" ;;
	*) tl_json "$1" "d['reasons'].get('$2', d['events'].get('$2'))" ;;
	esac
}
lbt_sctplb trace --on >/dev/null
before=$(stats)
in_client() { ip netns exec "$LB_CLIENT1_NS" "$@"; }
in_client $raw_send fragments --src "$client_a" --dst "$vip_a" --sport "$sport" --vtag "$ts" --id 0x1001 --order 1,0
in_client $raw_send fragments --src "$client_a" --dst "$vip_a" --sport "$sport" --vtag 0xdeadbeef --id 0x1002 --order 0,1
in_client $raw_send lone-fragment --src "$client_a" --dst "$vip_a" --id 0x1003
in_client $raw_send icmp --src "$client_a" --dst "$vip_a" --quote-src "$vip_a" --quote-dst "$client_a" \
	--quote-sport 36412 --quote-dport "$sport" --quote-vtag "$tc"
in_client $raw_send icmp --src "$client_a" --dst "$vip_a" --quote-src "$vip_a" --quote-dst "$client_a" \
	--quote-sport 36412 --quote-dport "$sport" --quote-vtag 0x12345678
sleep 0.5 # the lone fragment's hold (200 ms) runs out; counters are published every batch or 200 ms
after=$(stats)
lbt_sctplb trace --off >/dev/null
grep -E "reason=(fragment|ip-fragment|icmp)|\(hold" "$LB_STATE/lb.log" | sed 's/^/    /' || true

expect() { # expect KEY DELTA WHY
	local delta
	delta=$(($(count "$after" "$1") - $(count "$before" "$1")))
	if [ "$delta" -eq "$2" ]; then
		tl_pass "$1 +$delta: $3"
	else
		tl_fail "$1 +$delta, expected +$2: $3"
	fi
}
expect fragment-follows 1 "the held second fragment of the association's packet followed its first (a)"
expect hold-resolved 1 "the early second fragment was released with the first's mark (a)"
expect fragment-of-dropped 1 "the unknown association's second fragment followed its first's drop (b)"
expect ip-fragment 1 "the lone fragment: its first fragment never came (c)"
# The crafted packets by their size in the trace (the association's own packets, and the ICMP
# errors its endpoints may answer the crafted DATA with, count under the same reasons).
traced() { grep -c -E "$1" "$LB_STATE/lb.log" || true; }
check_trace() { # check_trace PATTERN COUNT WHY
	local n
	n=$(traced "$1")
	if [ "$n" = "$2" ]; then tl_pass "$3"; else tl_fail "$3: $n trace lines match '$1', expected $2"; fi
}
check_trace "len=224/224 -> accept mark=$fwmark reason=fragment-follows \(hold-resolved\)" 1 \
	"(a) the second fragment, sent first, was held and then sent to fwmark $fwmark with its first"
check_trace "vtag=$ts \[DATA\] len=44/44 -> accept mark=$fwmark reason=established" 1 \
	"(a) the first fragment (44 bytes, DATA cut) went to fwmark $fwmark"
check_trace "len=224/224 -> drop mark=0 reason=fragment-of-dropped$" 1 \
	"(b) the unknown association's second fragment followed its first's drop at once (no sync: no hold)"
check_trace "len=84/84 -> drop mark=0 reason=ip-fragment \(hold-expired\)" 1 \
	"(c) the lone fragment waited --hold-ms and was dropped"
check_trace "len=56/56 -> accept mark=$fwmark reason=icmp-error" 1 \
	"(d) the ICMP error quoting Tc went to the association's server (fwmark $fwmark)"
check_trace "len=56/56 -> drop mark=0 reason=icmp-unknown" 1 "(d) the ICMP error quoting an unknown tag was dropped"
status=0
tl_wait live 30 || status=$?
if [ "$status" = 0 ] && [ "$(tl_echo_count live)" = 20 ]; then
	tl_pass "the live association delivered all 20 messages meanwhile"
else
	tl_fail "the live association ended with status $status after $(tl_echo_count live) echoes"
fi
echo "runtime $((SECONDS - started)) s"
tl_finish
