#!/bin/bash
# Server-initiated associations (docs/design.md "Server-initiated associations") in the dual-path
# topology, two LBs in vtag mode with association sync, both reading the servers' INITs from a
# VIP on queue 7 (`up --server-queue 7`). Server 1 opens an association itself, from both VIPs
# (sctpt client bound to 10.0.0.1 and 10.0.0.2, fixed port 3868) to a multihomed peer (sctpt
# server in the client namespace vm-221 on its two addresses, port 3868). Its INIT leaves through
# vm-201 (its route to net 2), which identifies server 1 by source MAC and records the association;
# the peer's INIT ACK and every later packet to either VIP reach server 1; path A is cut midway
# and path B (vm-202, which learned the association by sync) carries the rest. A VIP-source INIT
# sent from the client side creates nothing and is counted (server-init-spoofed). vm-201 is
# killed (-9) and restarted midway: the association keeps its direction; the export carries it.
#
# --fastpath: the LBs run the kernel fast path too, and vm-201 must hand the association to it.
#
# Usage: test-dual-server-initiated.sh [help|--fastpath]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,15p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS
peer_port=3868
count=16

fastpath=()
[ "${1:-}" != --fastpath ] || fastpath=(--fastpath)
dpt_setup dsi --mode vtag --sync --server-queue 7 "${fastpath[@]}"
# One usrsctp stack per namespace: server 1's listening sctpt would answer the peer's packets to
# port 3868 with ABORT. The opener takes its place (the other servers keep theirs).
server1_pid=$(awk '$2 == "server-1" { print $1 }' "$DP_STATE/pids")
kill "$server1_pid"
server1_gone() { ! kill -0 "$server1_pid" 2>/dev/null; }
tl_until 10 server1_gone || tl_fail "server-1 (PID $server1_pid) did not stop"
dpt_lb_start
tl_say "topology up in $((SECONDS - started)) s"

a=$(dpt_client_address 1 A)
b=$(dpt_client_address 1 B)
tl_spawn peer "$DP_CLIENT1_NS" "$SCTPT" server --stack usrsctp --verbose --addr "$DP_CLIENT1_ADDRS" \
	--port $peer_port --name peer
peer_listening() { grep -q listening "$tl_work/peer.log"; }
tl_until 10 peer_listening || tl_fail "the peer did not start: $(tail -n 3 "$tl_work/peer.log")"

# A capture of it on vm-201's client side, for `sctplb replay --server-inits 1` below.
tl_spawn capture "$DP_LB201_NS" tcpdump -U -n -i eth2 -w "$tl_work/opener.pcap" sctp
capture_started() { grep -q listening "$tl_work/capture.log"; }
tl_until 10 capture_started || tl_fail "tcpdump did not start: $(cat "$tl_work/capture.log")"
before=$(dpt_counters)
tl_spawn opener "$DP_SERVER1_NS" "$SCTPT" client --stack usrsctp --verbose --connect-timeout 30000 \
	--addr "$DP_CLIENT1_ADDRS" --laddr "$DP_VIPS" --port $peer_port --lport $peer_port \
	--count $count --interval 250 --echo-wait 8000
if tl_wait_echoes opener 4 15; then
	tl_pass "server 1 opened an association from the VIPs to $a,$b: $(tl_echo_count opener) echoes"
else
	tl_fail "server 1 got fewer than 4 echoes in 15 s: $(tail -n 3 "$tl_work/opener.log")"
fi

# Both LBs know it: fwmark 1, direction out, both peer addresses.
assoc_out() { # assoc_out LB: "FWMARK DIRECTION ADDRESSES" of the association with the peer port
	tl_json "$(dpt_sctplb "$1" assoc --json)" \
		"next(('%s %s %s' % (e['fwmark'], e['direction'], ','.join(sorted(e['addresses'])))) for e in d['associations'] if e['sport'] == $peer_port and e['state'] != 'closed') if any(e['sport'] == $peer_port and e['state'] != 'closed' for e in d['associations']) else 'none'"
}
want="1 out $(printf '%s\n' "$a" "$b" | sort | paste -sd,)"
for lb in $DP_LBS; do
	lb_knows() { [ "$(assoc_out "$lb")" = "$want" ]; }
	if tl_until 10 lb_knows; then
		tl_pass "vm-$lb lists the association: fwmark 1, direction out, peer addresses $a and $b"
	else
		tl_fail "vm-$lb lists '$(assoc_out "$lb")', wanted '$want'"
	fi
done
server_inits=$(tl_json "$(dpt_sctplb 201 stats --json)" "d['reasons']['server-init'] + d['reasons']['server-init-retransmit']")
acks=$(tl_json "$(dpt_sctplb 201 stats --json)" "d['reasons']['init-ack-to-server']")
if [ "$server_inits" -ge 1 ] && [ "$acks" -ge 1 ]; then
	tl_pass "vm-201 recorded the server's INIT ($server_inits) and sent the peer's INIT ACK to it ($acks)"
else
	tl_fail "vm-201 counted $server_inits server INITs and $acks INIT ACKs to a server"
fi

if [ ${#fastpath[@]} -gt 0 ]; then
	in_kernel() {
		[ "$(tl_json "$(dpt_sctplb 201 assoc --json)" "any(e['sport'] == $peer_port and e['fastpath'] for e in d['associations'])")" = True ]
	}
	if tl_until 10 in_kernel; then
		tl_pass "vm-201 handed the server-initiated association to the kernel fast path"
	else
		tl_fail "vm-201 never put the association in the kernel fast path"
	fi
fi

# The capture replayed: the server's INIT is recorded for fwmark 1, and the peer's INIT ACK and
# every later packet to the VIP go to fwmark 1.
kill "${tl_client_pid[capture]}"
tl_wait capture 5 || true
replay=$("$SCTPLB_BIN" replay --pcap "$tl_work/opener.pcap" --vip "$DP_VIPS" --server-inits 1 --json)
replayed=$(echo "$replay" | /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{\"n\"")]
inits = sum(r["reason"] == "server-init" for r in rows)
acks = [r for r in rows if r["reason"] == "init-ack-to-server"]
to_vip = [r for r in rows if r["dir"] == "in"]
print(inits, len(acks), len(to_vip), sum(r["fwmark"] == 1 for r in to_vip))')
read -r r_inits r_acks r_in r_in1 <<<"$replayed"
if [ "$r_inits" -ge 1 ] && [ "$r_acks" -ge 1 ] && [ "$r_in" -gt 2 ] && [ "$r_in" = "$r_in1" ]; then
	tl_pass "replay --server-inits 1 of the capture: $r_inits server INIT(s), $r_acks INIT ACK(s) to it, all $r_in packets to the VIP to fwmark 1"
else
	tl_fail "replay of the capture: $r_inits server INITs, $r_acks INIT ACKs to a server, $r_in1 of $r_in packets to the VIP to fwmark 1"
fi

# kill -9 of vm-201 and a restart: the association (in its shared memory) keeps its direction;
# the export carries it.
dpt_lb_stop_one 201 KILL
dpt_lb_start_one 201
if [ "$(assoc_out 201)" = "$want" ]; then
	tl_pass "after kill -9 and a restart vm-201 still lists it: $want"
else
	tl_fail "after kill -9 and a restart vm-201 lists '$(assoc_out 201)'"
fi
dpt_sctplb 201 assoc --export "$tl_work/export.json" >/dev/null
if grep -q '"server_initiated":true' "$tl_work/export.json"; then
	tl_pass "assoc --export marks it server_initiated"
else
	tl_fail "the export does not mark it server_initiated: $(head -c 400 "$tl_work/export.json")"
fi

tl_say "cutting path A in vm-201 after $(tl_echo_count opener) echoes"
at_cut=$(dpt_counters)
dpt_cut_path_a
status=0
tl_wait opener 40 || status=$?
after=$(dpt_counters)
if [ "$status" = 0 ] && [ "$(tl_echo_count opener)" -ge $count ]; then
	tl_pass "server 1 got all $count echoes; path A was cut on the way"
else
	tl_fail "the opener ended with status $status after $(tl_echo_count opener) of $count echoes: $(tail -n 3 "$tl_work/opener.log")"
fi
from_b=$(($(dpt_counter "$after" server-1 "$b") - $(dpt_counter "$at_cut" server-1 "$b")))
if [ "$from_b" -gt 0 ]; then
	tl_pass "after the cut server 1 received $from_b packets from $b through vm-202"
else
	tl_fail "after the cut nothing from $b reached server 1"
fi
others=0
for s in 2 3; do
	for addr in "$a" "$b"; do
		others=$((others + $(dpt_counter "$after" "server-$s" "$addr") - $(dpt_counter "$before" "server-$s" "$addr")))
	done
done
if [ "$others" = 0 ]; then
	tl_pass "no packet of the peer reached server 2 or 3"
else
	tl_fail "servers 2 and 3 received $others packets of the peer"
fi
dpt_heal_path_a

# Spoofing: an INIT with source VIP A sent from the client side (the peer's namespace) to a
# server's address, routed through vm-201. vm-201 queues it (source VIP) but no server's MAC.
spoofed_before=$(tl_json "$(dpt_sctplb 201 stats --json)" "d['reasons']['server-init-spoofed']")
size_before=$(tl_json "$(dpt_sctplb 201 assoc --json)" "d['count']")
ip netns exec "$DP_CLIENT1_NS" ip route replace 192.168.1.0/24 via 192.168.2.201
# The topology's usrsctp source fix would rewrite the forged source: let this one pass as it is.
ip netns exec "$DP_CLIENT1_NS" nft insert rule ip dualpath_source postrouting ip saddr "${DP_VIP_A%%,*}" accept
ip netns exec "$DP_CLIENT1_NS" /usr/bin/python3 - "${DP_VIP_A%%,*}" 192.168.1.2 <<'PY'
import socket, struct, sys
src, dst = sys.argv[1], sys.argv[2]
init = struct.pack('!BBHIIHHI', 1, 0, 20, 0x5b5b5b5b, 65536, 10, 10, 1)
sctp = struct.pack('!HHII', 3868, 3868, 0, 0) + init
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(sctp), 1, 0, 64, 132, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for _ in range(3):
    s.sendto(ip + sctp, (dst, 0))
PY
spoof_counted() {
	[ "$(tl_json "$(dpt_sctplb 201 stats --json)" "d['reasons']['server-init-spoofed']")" -gt "$spoofed_before" ]
}
if tl_until 10 spoof_counted; then
	tl_pass "a VIP-source INIT from the client side was dropped as server-init-spoofed"
else
	tl_fail "vm-201 did not count the spoofed INIT (server-init-spoofed stays $spoofed_before)"
fi
size_after=$(tl_json "$(dpt_sctplb 201 assoc --json)" "d['count']")
if [ "$size_after" -le "$size_before" ]; then
	tl_pass "the spoofed INIT created no association ($size_before before, $size_after after)"
else
	tl_fail "vm-201 has $size_after associations after the spoofed INIT, $size_before before"
fi
echo "runtime $((SECONDS - started)) s"
tl_finish
