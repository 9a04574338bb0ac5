#!/bin/bash
# Hostile and broken input through the live daemon (tests/topology/lb-topology.sh, vtag mode,
# --init-allow 192.168.2.0/24 --init-rate 50/50), next to a live association, with packets crafted
# by tests/tools/raw-send.py in the client's namespace:
#  a. a DATA packet of the association cut in two IPv4 fragments, the second sent first: the
#     second is held until the first arrives, then both go to the association's server;
#  b. fragments of an unknown association: the first is dropped as unknown, the second follows it;
#  c. a lone non-first fragment: held --hold-ms, then dropped (hold-expired, ip-fragment);
#  d. ICMP "fragmentation needed" quoting a VIP -> client packet of the association (vtag = Tc):
#     marked for its server; one quoting an unknown tag: dropped (icmp-unknown);
#  e. INITs from the client's path-B address, outside --init-allow: refused (init-not-allowed);
#  f. a flood of 400 INITs (random tags, distinct ports no association uses) from the client's
#     address: at most the burst and the refill admitted, the rest init-rate-limited; the daemon's
#     memory does not grow;
#  g. a corpus of malformed packets (zero/short/overlong chunk lengths, INIT bundled with DATA,
#     INIT with a vtag, INIT tag 0, 150 address parameters, 65 chunks, DATA with vtag 0, no
#     chunks, a short SCTP header) and IPv6 ones (9 extension headers, an extension header then a
#     cut SCTP header, a lone fragment, ICMPv6 packet too big for no association, unknown DATA): each
#     counted under its named reason (the INIT-carrying ones from a port of no association: from
#     the live association's ports an INIT is a restart, RFC 9260 §5.2.2, until that ends);
# and the daemon stays up and the association keeps delivering every message.
#
# Usage: test-lb-robustness.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,23p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"
lbt_check_requirements
started=$SECONDS
raw_send="$lbt_python $script_dir/../tools/raw-send.py"

lbt_setup lbr --clients 1
lbt_lb_start --hold-ms 200 --init-allow 192.168.2.0/24 --init-rate 50/50
client_a=$(echo "$LB_CLIENT1_ADDRS" | cut -d, -f1)
vip_a=$(echo "$LB_VIPS" | cut -d, -f1)

# 9 s of traffic: (a) and (d) need the association alive a few process starts later.
lbt_client live 1 --count 60 --interval 150 --echo-wait 8000
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
	*) lbt_stat "$1" "$2" ;;
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
daemon_pid=$(tl_json "$(lbt_sctplb show --json)" "d['daemon_pid']")
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$daemon_pid/status"; }
rss_before=$(rss)
client_b=$(echo "$LB_CLIENT1_ADDRS" | cut -d, -f2)
vip_b=$(echo "$LB_VIPS" | cut -d, -f2)
in_client $raw_send inits --src "$client_b" --dst "$vip_b" --count 5
# The corpus's INITs come from a port no association uses (below the flood's 1024..65535, and not
# the live one): from the live association's ports an INIT would be a restart (init-restart,
# before admission control) while it lives and a new INIT once it has ended, so (f)'s sum would
# depend on timing. The flood's ports are distinct and never the live association's, for the
# same reason (and a port reused by two flood INITs would meet the first one's entry).
corpus_init_sport=$((sport == 1000 ? 1001 : 1000))
in_client $raw_send inits --src "$client_a" --dst "$vip_a" --count 400 --id 7 --avoid-sport "$sport"
hostile_list=$(in_client $raw_send hostile --src "$client_a" --dst "$vip_a" --sport "$sport" --vtag "$ts" \
	--init-sport "$corpus_init_sport")
# IPv6 too: a v6 VIP queued on the LB (its own rule set, tables 6000+), the client's path-A link
# given IPv6 addresses; the packets leave as Ethernet frames (no IPv6 stack shaping them).
ip -n "$LB_NS" addr add fd00:2::1/64 dev l2 nodad
ip -n "$LB_CLIENT1_NS" addr add fd00:2::221/64 dev c2 nodad
ip netns exec "$LB_NS" "$SCTPLB_BIN" rules --shm "$LB_SHM" --vip fd00::1:1 --queue "$LB_QUEUE" \
	--target 1=fd00:2::221 --table-base 6000 --priority 9000 --apply >/dev/null
lb_mac=$(ip netns exec "$LB_NS" cat /sys/class/net/l2/address)
hostile_list+=$'\n'$(in_client $raw_send hostile6 --src fd00:2::221 --dst fd00::1:1 --iface c2 --dst-mac "$lb_mac")
# (g) every malformed packet under its reason: the deltas of those reasons add up exactly.
declare -A wanted=()
while read -r name reason; do
	[ -n "$name" ] && wanted[$reason]=$((${wanted[$reason]:-0} + 1))
done <<<"$hostile_list"
# Counted earlier under the same reasons: the IPv4 lone fragment (c), the unknown ICMP error (d).
declare -A earlier=([ip-fragment]=1 [icmp-unknown]=1)
goals=(fragment-follows=1 hold-resolved=1 fragment-of-dropped=1 init-not-allowed=5
	init-hash+init-rate-limited=401)
for reason in "${!wanted[@]}"; do goals+=("$reason=$((${wanted[$reason]} + ${earlier[$reason]:-0}))"); done
# Until every packet sent is counted: the lone fragments (c, g) only when their hold (200 ms) runs
# out, and the daemon publishes counters after each batch or every 200 ms.
tl_until 20 lbt_stats_reached "$before" "${goals[@]}" || tl_fail "not every crafted packet was counted within 20 s (goals: ${goals[*]})"
after=$lbt_stats_now
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
check_trace "fd00:2::221:5000 -> fd00::1:1:36412 vtag=0x0badc0de \\[DATA\\] len=[0-9/]+ -> drop mark=0 reason=unknown-association" 1 \
	"(g) an IPv6 packet of no association went through the queue and was dropped"
expect init-not-allowed 5 "(e) INITs from $client_b, outside --init-allow, were refused"
admitted=$(($(count "$after" init-hash) - $(count "$before" init-hash)))
limited=$(($(count "$after" init-rate-limited) - $(count "$before" init-rate-limited)))
# 400 flooding INITs + the corpus's one INIT that parses (cut by the copy range), all from client A
# and from ports of no association: each is a new association's INIT, admitted or rate-limited.
if [ $((admitted + limited)) -eq 401 ] && [ "$admitted" -ge 50 ] && [ "$admitted" -le 120 ]; then
	tl_pass "(f) of 401 INITs from $client_a $admitted were admitted (burst 50 + 50/s) and $limited rate-limited"
else
	tl_fail "(f) of 401 INITs from $client_a $admitted were admitted and $limited rate-limited (want 50..120 admitted, sum 401)"
fi
rss_after=$(rss)
if [ "$rss_after" -le $((rss_before + 1024)) ]; then
	tl_pass "(f) the daemon's memory stayed put: VmRSS $rss_before kB before, $rss_after kB after"
else
	tl_fail "(f) the daemon's memory grew: VmRSS $rss_before kB before, $rss_after kB after"
fi
# (g) every malformed packet under its reason (wanted, earlier: above).
for reason in "${!wanted[@]}"; do
	what="(g) $(echo "$hostile_list" | awk -v r="$reason" '$2 == r { printf "%s%s", sep, $1; sep = ", " }')"
	wanted[$reason]=$((${wanted[$reason]} + ${earlier[$reason]:-0}))
	[ -z "${earlier[$reason]:-}" ] || what+=" (+ ${earlier[$reason]} from c/d)"
	if [ "$reason" = unknown-association ]; then
		# Also counts the client stack's ABORTs answering the INIT ACKs of admitted flood INITs.
		delta=$(($(count "$after" "$reason") - $(count "$before" "$reason")))
		if [ "$delta" -ge "${wanted[$reason]}" ]; then tl_pass "$reason +$delta: $what"; else tl_fail "$reason +$delta, want >= ${wanted[$reason]}: $what"; fi
		continue
	fi
	expect "$reason" "${wanted[$reason]}" "$what"
done
if kill -0 "$daemon_pid" 2>/dev/null; then tl_pass "the daemon (pid $daemon_pid) is still running"; else tl_fail "the daemon died"; fi
status=0
tl_wait live 30 || status=$?
if [ "$status" = 0 ] && [ "$(tl_echo_count live)" = 60 ]; then
	tl_pass "the live association delivered all 60 messages meanwhile"
else
	tl_fail "the live association ended with status $status after $(tl_echo_count live) echoes"
fi
echo "runtime $((SECONDS - started)) s"
tl_finish
