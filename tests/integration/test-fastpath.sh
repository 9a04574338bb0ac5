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
fp_element_count() { tl_json "$(fp_sctplb "$1" fastpath --json)" "len(d['elements'])"; }
# fp_kernel_packets LB FWMARK: packets the kernel marked for that target.
fp_kernel_packets() {
	tl_json "$(fp_sctplb "$1" fastpath --json)" "sum(t['packets'] for t in d['targets'] if t['fwmark'] == $2)"
}
# fp_assoc K FIELD|EXPR LB: a field of client K's youngest live association on LB (or a Python
# expression on it, `e`); "none" if there is none.
fp_assoc() {
	local a b expr=$2
	a=$(dpt_client_address "$1" A)
	b=$(dpt_client_address "$1" B)
	case $expr in *"'"*) ;; *) expr="e['$expr']" ;; esac
	tl_json "$(fp_sctplb "$3" assoc --json)" "(lambda l: (lambda e: str($expr))(min(l, key=lambda x: x['age_s'])) if l else 'none')([x for x in d['associations'] if '$a' in x['addresses'] and '$b' in x['addresses'] and x['state'] != 'closed'])"
}
# fp_wait SECONDS COMMAND...: until COMMAND succeeds (1 after SECONDS of wall time).
fp_wait() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
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
	[ "$ts" != none ] && [ "$fastpath" = True ] && fp_elements "$2" "$ts" | grep -qx "$address $mark"
}

tl_say "a: two fixed-port clients, DATA on path A then on path B"
before=$(dpt_counters)
for k in 1 2; do  # (until killed below)
	dpt_client "live-$k" "$k" --lport 36412 --count 900 --interval-ms 100 --echo-wait-ms 8000 \
		--primary "$DP_VIP_B" --primary-after 20
done
for k in 1 2; do tl_wait_echoes "live-$k" 4 10 || tl_fail "a: live-$k: fewer than 4 echoes"; done
declare -A server_of=()
for k in 1 2; do
	server=$(tl_echo_servers "live-$k" | head -n 1)
	server_of[$k]=$server
	mark=${server#server-}
	if fp_wait 5 fp_in_map "$k" 201 && fp_wait 5 fp_in_map "$k" 202; then
		tl_pass "a: live-$k: both LBs' kernel maps hold its path's address with Ts $(fp_assoc "$k" ts 201) -> fwmark $mark ($server); assoc says kernel"
	else
		tl_fail "a: live-$k: not in both kernel maps as expected: vm-201 $(dpt_sctplb 201 fastpath --json), vm-202 $(dpt_sctplb 202 fastpath --json)"
	fi
done
tl_wait_echoes live-1 15 15 || true
for lb in 201 202; do
	marked=0
	for k in 1 2; do marked=$((marked + $(fp_kernel_packets $lb "${server_of[$k]#server-}"))); done
	if [ "$marked" -gt 10 ]; then
		tl_pass "a: vm-$lb's kernel marked $marked packets of these associations itself"
	else
		tl_fail "a: vm-$lb's kernel marked only $marked packets"
	fi
done

tl_say "b: kill -9 both daemons: the kernel forwards the live associations alone"
dpt_lb_stop_one 201 KILL
dpt_lb_stop_one 202 KILL
declare -A echoes_at_kill=()
for k in 1 2; do echoes_at_kill[$k]=$(tl_echo_count "live-$k"); done
sleep 2
for k in 1 2; do
	now=$(tl_echo_count "live-$k")
	if [ "$now" -ge $((echoes_at_kill[$k] + 6)) ]; then
		tl_pass "b: live-$k: ${echoes_at_kill[$k]} -> $now echoes in the 2 s without any daemon"
	else
		tl_fail "b: live-$k: ${echoes_at_kill[$k]} -> $now echoes in the 2 s without any daemon"
	fi
done
dpt_lb_start_one 201 &
starter=$!
dpt_lb_start_one 202
wait $starter
dpt_client new-3 3 --lport 36412 --count 80 --interval-ms 100 --echo-wait-ms 8000
ts3=none
if tl_wait_echoes new-3 5 15 && fp_wait 5 fp_in_map 3 201; then
	ts3=$(fp_assoc 3 ts 201)
	tl_pass "b: after the restart a new association works and enters the fast path"
else
	tl_fail "b: after the restart the new association: $(tl_echo_count new-3) echoes, in vm-201's map: no"
fi
for k in 1 2; do
	if fp_in_map "$k" 201 && fp_in_map "$k" 202; then
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
sleep 1.5
kept=$(ip netns exec "$DP_LB201_NS" nft list chain inet foreign post | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
if [ "${kept:-0}" -gt 0 ]; then
	tl_pass "c: $kept packets from $a1 left vm-201 marked 0x1200 | $mark1: the foreign bits kept, ours set"
else
	tl_fail "c: no packet from $a1 left vm-201 with mark 0x1200 | $mark1"
fi
elements_before=$(fp_element_count 201)
ip netns exec "$DP_CLIENT1_NS" python3 "$script_dir/../tools/raw-send.py" data --src "$a1" \
	--dst "$DP_VIP_A" --sport 36412 --dport 36412 --count 50 ||
	tl_say "c: (raw sender failed; the insert check below still runs)"
sleep 1
elements_after=$(fp_element_count 201)
if [ "$elements_after" = "$elements_before" ]; then
	tl_pass "c: 50 unknown-vtag packets with the foreign mark added nothing to the map ($elements_after elements)"
else
	tl_fail "c: the map went from $elements_before to $elements_after elements"
fi
ip netns exec "$DP_LB201_NS" nft delete table inet foreign

tl_say "d: a client restart re-keys the elements"
ts_old=$(fp_assoc 2 ts 201)
kill -KILL "${tl_client_pid[live-2]}"
tl_wait live-2 5 2>/dev/null || true
dpt_client restart-2 2 --lport 36412 --count 600 --interval-ms 100 --echo-wait-ms 8000  # (until killed)
tl_wait_echoes restart-2 4 15 || tl_fail "d: the restarted client: fewer than 4 echoes"
ts_new=$(fp_assoc 2 ts 201)
if [ "$ts_new" != "$ts_old" ] && fp_wait 5 fp_in_map 2 201 && fp_wait 5 fp_in_map 2 202 &&
	[ -z "$(fp_elements 201 "$ts_old")" ] && [ -z "$(fp_elements 202 "$ts_old")" ]; then
	tl_pass "d: Ts $ts_old -> $ts_new: the new elements are in both maps, the old ones gone"
else
	tl_fail "d: Ts $ts_old -> $ts_new; old elements '$(fp_elements 201 "$ts_old")'; in map: $(fp_in_map 2 201 && echo yes || echo no)"
fi

tl_say "e: SHUTDOWN removes the elements; a vanished client's association ends when they time out"
tl_wait new-3 30 || true
if fp_wait 3 fp_no_elements 201 "$ts3"; then
	tl_pass "e: new-3 shut down: its elements (Ts $ts3) left the map"
else
	tl_fail "e: new-3 shut down but its elements are still in the map: $(fp_elements 201 "$ts3")"
fi
ts1=$(fp_assoc 1 ts 201)
idle_before=$(tl_json "$(dpt_sctplb 201 stats --json)" "d['events']['fastpath-idle']")
kill -KILL "${tl_client_pid[live-1]}"
vanished=$SECONDS
tl_wait live-1 5 2>/dev/null || true
sleep 1
if fp_in_map 1 201; then
	tl_pass "e: $((SECONDS - vanished)) s after live-1 vanished its association is still there (idle timeout $idle s)"
else
	tl_fail "e: live-1's association went before the idle timeout"
fi
if fp_wait $((idle + 4)) fp_no_assoc 1 201; then
	idle_after=$(tl_json "$(dpt_sctplb 201 stats --json)" "d['events']['fastpath-idle']")
	tl_pass "e: $((SECONDS - vanished)) s after live-1 vanished it is gone (fastpath-idle $idle_before -> $idle_after) and its elements too: '$(fp_elements 201 "$ts1")'"
else
	tl_fail "e: live-1's association (Ts $ts1) is still listed $((SECONDS - vanished)) s after it vanished: vm-201 $(dpt_sctplb 201 assoc) $(dpt_sctplb 201 fastpath); vm-202 $(dpt_sctplb 202 assoc) $(dpt_sctplb 202 fastpath)"
fi

tl_say "f: 'sctplb down' of a target removes its elements"
mark2=$(fp_assoc 2 fwmark 201)
ts2=$(fp_assoc 2 ts 201)
dpt_sctplb 201 down "$mark2" >/dev/null
if fp_wait 3 fp_no_elements 201 "$ts2"; then
	tl_pass "f: down $mark2: its elements (Ts $ts2) left vm-201's map"
else
	tl_fail "f: down $mark2: vm-201's map still has $(fp_elements 201 "$ts2")"
fi

echo "runtime $((SECONDS - started)) s"
tl_finish
