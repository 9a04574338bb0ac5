#!/bin/bash
# The kernel fast path (tests/topology/dual-path.sh --mode vtag --sync --fastpath, two LBs,
# fixed ports 36412 <-> 36412, idle timeout 4 s, mark mask 0xff; IPv4, or IPv6 with --ipv6):
#  a. pinning: each association's elements (one per client address, its Ts -> its server's
#     fwmark) are in the kernel map of the LB of each path, `assoc` says "kernel", the kernel
#     marked packets for that target, and every echo comes from one server (both paths);
#  b. kill -9 of BOTH daemons: the live associations keep being echoed (the kernel forwards
#     them alone); after the restart a new association works and the old ones are still there;
#  c. a foreign fwmark bit (0x1200, outside the mask) set before the fast path is kept on a
#     forwarded packet and the message still reaches its server; unknown-vtag packets with it
#     add nothing to the map;
#  d. a client restart (RFC 9260 §5.2.2, new tags) re-keys the elements: the old Ts is gone,
#     the new one is in the map;
#  e. an association closed by SHUTDOWN loses its elements; one whose client vanished (kill
#     -9) is expired when the kernel's elements time out (fastpath-idle), not before;
#  f. `sctplb down FWMARK` removes that target's elements.
#
# With --ipv6 only a and b run, over IPv6 (the map assoc6 and the IPv6 chain): not in CI, where
# the VM suite's S4 checks IPv6 through the fast path with kernel SCTP, and
# tests/unit/nft_fastpath_test.cpp the IPv6 chain packet by packet; c to f are the same daemon
# code for either family.
# Usage: test-fastpath.sh [--ipv6] [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,23p' "$0"
	exit 0
fi
family=()
name=dfp
if [ "${1:-}" = --ipv6 ]; then
	family=(--ipv6)
	name=dfq
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements
started=$SECONDS

idle=4
dpt_setup "$name" --mode vtag --sync --fastpath --clients 4 --idle-timeout $idle --mark-mask 0xff "${family[@]}"
dpt_lb_start
tl_say "topology with two syncing LBs and the fast path up in $((SECONDS - started)) s (${family[*]:-IPv4})"

# fp_sctplb LB COMMAND ARGS: an sctplb command on that LB's segment (dpt_sctplb without the
# topology script in between: these helpers run in tight loops).
fp_sctplb() {
	local ns=$DP_LB201_NS shm=$DP_LB201_SHM
	[ "$1" = 201 ] || { ns=$DP_LB_B_NS; shm=$DP_LB_B_SHM; }
	ip netns exec "$ns" "$SCTPLB_BIN" "$2" --shm "$shm" "${@:3}"
}
# fp_elements LB TS: the map elements of LB with vtag TS, one "CLIENT FWMARK" per line.
fp_elements() {
	tl_json "$(fp_sctplb "$1" fastpath --json)" \
		"'\n'.join('%s %s' % (e['client'], e['fwmark']) for e in d['elements'] if e['vtag'] == '$2')"
}
# fp_no_elements LB TS: LB's map has no element with vtag TS.
fp_no_elements() { [ -z "$(fp_elements "$1" "$2")" ]; }
# fp_no_assoc K LB: LB lists no live association of client K.
fp_no_assoc() { [ "$(fp_assoc "$1" ts "$2")" = none ]; }
# fp_foreign_elements LB ADDRESS TS: how many elements of LB's map have client ADDRESS, the
# fixed ports 36412 -> 36412 and a vtag other than TS: the keys packets with unknown vtags from
# ADDRESS could add. (Not the map's total: other associations' elements come and go with the
# idle timeout, e.g. the path-B elements vm-201 holds but never sees traffic for.)
fp_foreign_elements() {
	tl_json "$(fp_sctplb "$1" fastpath --json)" \
		"sum(1 for e in d['elements'] if e['client'] == '$2' and e['sport'] == 36412 and e['dport'] == 36412 and e['vtag'] != '$3')"
}
# fp_kernel_packets LB FWMARK...: packets the kernel marked for those targets, together.
fp_kernel_packets() {
	local lb=$1 marks
	shift
	marks=$(IFS=,; echo "$*")
	tl_json "$(fp_sctplb "$lb" fastpath --json)" "sum(t['packets'] for t in d['targets'] if t['fwmark'] in ($marks,))"
}
# fp_kernel_marked_more LB N FWMARK...: the kernel of LB marked more than N packets for those targets.
fp_kernel_marked_more() { [ "$(fp_kernel_packets "$1" "${@:3}")" -gt "$2" ]; }
# fp_unknown_at_least LB N: LB counted N or more packets as unknown-association.
fp_unknown_at_least() { [ "$(tl_json "$(fp_sctplb "$1" stats --json)" "d['reasons']['unknown-association']")" -ge "$2" ]; }
# fp_assoc K FIELD|EXPR LB: a field of client K's youngest live association on LB (or a Python
# expression on it, `e`); "none" if there is none.
fp_assoc() {
	local a b expr=$2
	a=$(dpt_client_address "$1" A)
	b=$(dpt_client_address "$1" B)
	case $expr in *"'"*) ;; *) expr="e['$expr']" ;; esac
	tl_json "$(fp_sctplb "$3" assoc --json)" "(lambda l: (lambda e: str($expr))(min(l, key=lambda x: x['age_s'])) if l else 'none')([x for x in d['associations'] if '$a' in x['addresses'] and '$b' in x['addresses'] and x['state'] != 'closed'])"
}
# fp_in_map K LB: client K's association has an element for the address of the path LB carries
# (A: vm-201, B: vm-202) with its Ts and fwmark in LB's map, and `assoc` on LB says the kernel
# forwards it. (The element of the other path's address, installed too, times out on this LB:
# those packets never cross it.)
fp_in_map() {
	local path=A ts mark fastpath address
	[ "$2" = 201 ] || path=B
	read -r ts mark fastpath <<<"$(fp_assoc "$1" "'%s %s %s' % (e['ts'], e['fwmark'], e['fastpath'])" "$2")"
	address=$(dpt_client_address "$1" $path)
	# (grep reads everything: with -q it could exit before the writer is done, a broken pipe.)
	[ "$ts" != none ] && [ "$fastpath" = True ] && fp_elements "$2" "$ts" | grep -x "$address $mark" >/dev/null
}

tl_say "a: two fixed-port clients, DATA on path A then on path B"
before=$(dpt_counters)
for k in 1 2; do  # (until killed below)
	dpt_client "live-$k" "$k" --lport 36412 --count 900 --interval 100 --echo-wait 8000 \
		--primary "$DP_VIP_B" --primary-after 20
done
for k in 1 2; do tl_wait_echoes "live-$k" 4 10 || tl_fail "a: live-$k: fewer than 4 echoes"; done
declare -A server_of=()
for k in 1 2; do
	server=$(tl_echo_servers "live-$k" | head -n 1)
	server_of[$k]=$server
	mark=${server#server-}
	if tl_until 5 fp_in_map "$k" 201 && tl_until 5 fp_in_map "$k" 202; then
		tl_pass "a: live-$k: both LBs' kernel maps hold its path's address with Ts $(fp_assoc "$k" ts 201) -> fwmark $mark ($server); assoc says kernel"
	else
		tl_fail "a: live-$k: not in both kernel maps as expected: vm-201 $(dpt_sctplb 201 fastpath --json), vm-202 $(dpt_sctplb 202 fastpath --json)"
	fi
done
# Path A (vm-201) carries the DATA of messages 1-20, path B (vm-202) only heartbeats until the
# clients make VIP B their primary after message 20 (--primary-after): wait, for each LB, until
# its kernel marked more than 10 packets of these associations (at 100 ms a message, ~1 s of DATA
# on that path), up to 30 s.
marks="${server_of[1]#server-} ${server_of[2]#server-}"
for lb in 201 202; do
	# shellcheck disable=SC2086 # two fwmarks
	if tl_until 30 fp_kernel_marked_more $lb 10 $marks; then
		# shellcheck disable=SC2086
		tl_pass "a: vm-$lb's kernel marked $(fp_kernel_packets $lb $marks) packets of these associations itself"
	else
		# shellcheck disable=SC2086
		tl_fail "a: vm-$lb's kernel marked only $(fp_kernel_packets $lb $marks) packets in 30 s (live-1 at $(tl_echo_count live-1) echoes)"
	fi
done

tl_say "b: kill -9 both daemons: the kernel forwards the live associations alone"
dpt_lb_stop_one 201 KILL
dpt_lb_stop_one 202 KILL
# (lb-stop KILL returns once both daemons are gone.) Wait for 6 more echoes per client, up to
# 20 s: at 100 ms a message that is ~0.6 s of traffic, and far less than the 900 messages left; an
# echo needs its DATA forwarded by the kernel alone (nothing reads the queue now).
declare -A echoes_at_kill=()
for k in 1 2; do echoes_at_kill[$k]=$(tl_echo_count "live-$k"); done
killed=$SECONDS
for k in 1 2; do
	if tl_until 20 tl_has_echoes "live-$k" $((echoes_at_kill[$k] + 6)); then
		tl_pass "b: live-$k: ${echoes_at_kill[$k]} -> $(tl_echo_count "live-$k") echoes without any daemon ($((SECONDS - killed)) s)"
	else
		tl_fail "b: live-$k: ${echoes_at_kill[$k]} -> $(tl_echo_count "live-$k") echoes in $((SECONDS - killed)) s without any daemon"
	fi
done
dpt_lb_start_one 201 &
starter=$!
dpt_lb_start_one 202
wait $starter
dpt_client new-3 3 --lport 36412 --count 80 --interval 100 --echo-wait 8000
ts3=none
if tl_wait_echoes new-3 5 15 && tl_until 5 fp_in_map 3 201; then
	ts3=$(fp_assoc 3 ts 201)
	tl_pass "b: after the restart a new association works and enters the fast path"
else
	tl_fail "b: after the restart the new association: $(tl_echo_count new-3) echoes, in vm-201's map: no"
fi
# Up to 5 s: the restarted daemons adopt the kernel's elements in their first pass.
for k in 1 2; do
	if tl_until 5 fp_in_map "$k" 201 && tl_until 5 fp_in_map "$k" 202; then
		tl_pass "b: live-$k is still in both maps after the restarts"
	else
		tl_fail "b: live-$k is missing from a map after the restarts"
	fi
done

if [ ${#family[@]} -gt 0 ]; then
	echo "runtime $((SECONDS - started)) s"
	tl_finish
fi

tl_say "c: a foreign fwmark bit (0x1200, outside the mask 0xff) set before the fast path"
a1=$(dpt_client_address 1 A)
mark1=${server_of[1]#server-}
fam=ip
[ ${#family[@]} -eq 0 ] || fam=ip6
ip netns exec "$DP_LB201_NS" nft -f - <<-EOF
	table inet foreign {
		chain pre {
			type filter hook prerouting priority -200;
			$fam saddr $a1 meta l4proto sctp meta mark set 0x1200
		}
		chain post {
			type filter hook postrouting priority 0;
			$fam saddr $a1 meta mark 0x$(printf '%x' $((0x1200 | mark1))) counter
		}
	}
EOF
# foreign_kept: packets from $a1 (live-1's DATA or heartbeats on path A) left vm-201 with both marks.
foreign_kept() {
	kept=$(ip netns exec "$DP_LB201_NS" nft list chain inet foreign post | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
	[ "${kept:-0}" -gt 0 ]
}
if tl_until 10 foreign_kept; then
	tl_pass "c: $kept packets from $a1 left vm-201 marked 0x1200 | $mark1: the foreign bits kept, ours set"
else
	tl_fail "c: no packet from $a1 left vm-201 with mark 0x1200 | $mark1"
fi
# The 50 random-vtag DATA packets miss the map (a lookup adds nothing in the kernel) and reach
# the daemon, which drops them as unknown-association (vtag mode: never guessed; with sync after
# --hold-ms). Wait until vm-201 counted all 50, then count the elements with their key: client
# $a1, ports 36412, a vtag other than live-1's Ts.
ts1=$(fp_assoc 1 ts 201)
foreign_before=$(fp_foreign_elements 201 "$a1" "$ts1")
unknown_before=$(tl_json "$(fp_sctplb 201 stats --json)" "d['reasons']['unknown-association']")
ip netns exec "$DP_CLIENT1_NS" python3 "$script_dir/../tools/raw-send.py" data --src "$a1" \
	--dst "$DP_VIP_A" --sport 36412 --dport 36412 --count 50 ||
	tl_fail "c: the raw sender failed"
if tl_until 15 fp_unknown_at_least 201 $((unknown_before + 50)); then
	foreign_after=$(fp_foreign_elements 201 "$a1" "$ts1")
	if [ "$foreign_before" = 0 ] && [ "$foreign_after" = 0 ]; then
		tl_pass "c: 50 unknown-vtag packets with the foreign mark were dropped as unknown-association and added no element from $a1 (Ts $ts1 is live-1's)"
	else
		tl_fail "c: elements from $a1 with a vtag other than live-1's Ts $ts1: $foreign_before before, $foreign_after after the 50 unknown-vtag packets"
	fi
else
	tl_fail "c: vm-201 counted $unknown_before -> $(tl_json "$(fp_sctplb 201 stats --json)" "d['reasons']['unknown-association']") unknown-association, not the 50 packets sent"
fi
ip netns exec "$DP_LB201_NS" nft delete table inet foreign

tl_say "d: a client restart re-keys the elements"
ts_old=$(fp_assoc 2 ts 201)
kill -KILL "${tl_client_pid[live-2]}"
tl_wait live-2 5 2>/dev/null || true
dpt_client restart-2 2 --lport 36412 --count 600 --interval 100 --echo-wait 8000  # (until killed)
tl_wait_echoes restart-2 4 15 || tl_fail "d: the restarted client: fewer than 4 echoes"
# rekeyed: vm-201 lists the new Ts, both maps hold the new elements and neither the old ones
# (vm-202 learns the restart through the sync; each fast path replaces elements in its next pass).
rekeyed() {
	ts_new=$(fp_assoc 2 ts 201)
	[ "$ts_new" != "$ts_old" ] && [ "$ts_new" != none ] && fp_in_map 2 201 && fp_in_map 2 202 &&
		fp_no_elements 201 "$ts_old" && fp_no_elements 202 "$ts_old"
}
if tl_until 10 rekeyed; then
	tl_pass "d: Ts $ts_old -> $ts_new: the new elements are in both maps, the old ones gone"
else
	tl_fail "d: Ts $ts_old -> $ts_new; old elements '$(fp_elements 201 "$ts_old")'; in map: $(fp_in_map 2 201 && echo yes || echo no)"
fi

tl_say "e: SHUTDOWN removes the elements; a vanished client's association ends when they time out"
tl_wait new-3 30 || true
if tl_until 3 fp_no_elements 201 "$ts3"; then
	tl_pass "e: new-3 shut down: its elements (Ts $ts3) left the map"
else
	tl_fail "e: new-3 shut down but its elements are still in the map: $(fp_elements 201 "$ts3")"
fi
ts1=$(fp_assoc 1 ts 201)
idle_before=$(tl_json "$(dpt_sctplb 201 stats --json)" "d['events']['fastpath-idle']")
# "Not before the elements time out", judged on the LB's own state, whatever our scheduling: each
# look reads vm-201's table first, then its map. The association missing from the table while a
# later read of the map still holds one of its elements (Ts $ts1) with 500 ms or more to live
# means the daemon removed it early. (The margin: vm-202, whose last DATA from live-1 may be a
# few ms younger than the last heartbeat on path A, may end it through the sync just as vm-201's
# own element runs out.) fp_vanished_look prints "LISTED MS-LEFT": 1 or 0, and the longest time
# to live of its elements in ms (0: none left).
fp_vanished_look() {
	local assoc
	assoc=$(fp_sctplb 201 assoc --json)
	tl_json "[$assoc, $(fp_sctplb 201 fastpath --json)]" \
		"'%d %d' % (any(a['ts'] == '$ts1' and a['state'] != 'closed' for a in d[0]['associations']), max([e['expires_ms'] for e in d[1]['elements'] if e['vtag'] == '$ts1'] + [0]))"
}
kill -KILL "${tl_client_pid[live-1]}"
vanished=$SECONDS
# (Reaped at once, within one 0.1 s poll: reaped later, bash reports "Killed" in the output.) The
# first look then finds its elements with the idle timeout minus the time since path A's last
# heartbeat (~1 s apart) to live.
tl_wait live-1 5 2>/dev/null || true
looks_with_elements=0
early=
listed=1
deadline=$((SECONDS + idle + 8))
while [ $SECONDS -lt $deadline ]; do
	read -r listed left <<<"$(fp_vanished_look)"
	if [ "$listed" = 1 ]; then
		[ "$left" = 0 ] || looks_with_elements=$((looks_with_elements + 1))
	else
		[ "$left" -lt 500 ] || early=$left
		break
	fi
	sleep 0.2
done
# A last look after the deadline (a slow machine never loses it).
if [ "$listed" = 1 ]; then
	read -r listed left <<<"$(fp_vanished_look)"
	[ "$listed" = 1 ] || [ "$left" -lt 500 ] || early=$left
fi
if [ -n "$early" ]; then
	tl_fail "e: live-1's association left vm-201's table while its element still had $early ms to live (idle timeout $idle s)"
elif [ "$looks_with_elements" -gt 0 ]; then
	tl_pass "e: live-1's association stayed in vm-201's table while its elements lived ($looks_with_elements looks)"
else
	tl_fail "e: never saw live-1's association with its elements after the kill (first look came too late, or it went at once)"
fi
if [ "$listed" = 0 ]; then
	idle_after=$(tl_json "$(dpt_sctplb 201 stats --json)" "d['events']['fastpath-idle']")
	tl_pass "e: $((SECONDS - vanished)) s after live-1 vanished it is gone (fastpath-idle $idle_before -> $idle_after) and its elements too: '$(fp_elements 201 "$ts1")'"
else
	tl_fail "e: live-1's association (Ts $ts1) is still listed $((SECONDS - vanished)) s after it vanished: vm-201 $(dpt_sctplb 201 assoc) $(dpt_sctplb 201 fastpath); vm-202 $(dpt_sctplb 202 assoc) $(dpt_sctplb 202 fastpath)"
fi

tl_say "f: 'sctplb down' of a target removes its elements"
mark2=$(fp_assoc 2 fwmark 201)
ts2=$(fp_assoc 2 ts 201)
dpt_sctplb 201 down "$mark2" >/dev/null
if tl_until 3 fp_no_elements 201 "$ts2"; then
	tl_pass "f: down $mark2: its elements (Ts $ts2) left vm-201's map"
else
	tl_fail "f: down $mark2: vm-201's map still has $(fp_elements 201 "$ts2")"
fi

echo "runtime $((SECONDS - started)) s"
tl_finish
