#!/bin/bash
# Scenario d of the dual-path suite (tests/topology/dual-path.sh): `ports` mode with two LB
# instances (vm-201 path A, vm-202 path B); every target command is given to both.
#  - `deactivate` the target of a live association: it continues to its end on both paths (its
#    DATA moves to path B, through vm-202, after the drain), new associations go elsewhere;
#  - `down` a target: its association stops (no echo after it), another association continues.
# Without association sync, vm-202 pins an association only once a path-B packet has passed it
# (the first heartbeat ACK, right after the handshake); the test waits for that before draining.
#
# Usage: test-dual-drain.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
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

dpt_setup dpd --mode ports --clients 4
dpt_lb_start

both_lbs() { local lb; for lb in 201 202; do dpt_sctplb "$lb" "$@" >/dev/null; done; }

# --- deactivate -------------------------------------------------------------------------------
tl_say "d: deactivate (on both LBs) the target of a live association"
live_count=20
before_live=$(dpt_counters)
dpt_client live 1 --count $live_count --interval 250 --primary "$DP_VIP_B" --primary-after 8
tl_wait_echoes live 2 || tl_fail "d: no echo for the live association"
drained=$(tl_echo_servers live | head -n 1)
mark=${drained#server-}
if dpt_wait_pinned 1 "$mark"; then
	tl_pass "d: vm-201 and vm-202 both pinned the live association to fwmark $mark"
else
	tl_fail "d: the live association is not pinned to fwmark $mark on both LBs"
fi
both_lbs deactivate "$mark"
for lb in 201 202; do
	state=$(tl_json "$(dpt_sctplb $lb show --json)" "[t['state'] for t in d['targets'] if t['fwmark'] == $mark][0]")
	[ "$state" = draining ] && tl_pass "d: vm-$lb: fwmark $mark is draining" || tl_fail "d: vm-$lb: fwmark $mark is '$state'"
done
before=$(dpt_counters)
declare -A statuses=()
for k in 2 3 4; do dpt_client "new-$k" "$k" --count 3 --interval 150 --primary "$DP_VIP_B" --primary-after 1; done
for k in 2 3 4; do
	status=0
	tl_wait "new-$k" || status=$?
	statuses[$k]=$status
done
after=$(dpt_counters)
for k in 2 3 4; do
	dpt_check_one_server "new-$k" "$k" 3 "$before" "$after" "${statuses[$k]}"
	if [ "$dpt_one_server" = "$drained" ]; then
		tl_fail "d: new association new-$k went to the draining $drained"
	elif [ "$dpt_one_server" != none ]; then
		tl_pass "d: new association new-$k went to $dpt_one_server, not the draining $drained"
	fi
done
status=0
tl_wait live || status=$?
after_live=$(dpt_counters)
dpt_check_one_server live 1 $live_count "$before_live" "$after_live" "$status"
b1=$(dpt_client_address 1 B)
late_on_b=$(tl_server_messages "$drained" | awk -v b="$b1" '$1 == b && $3 > 8' | wc -l)
if [ "$late_on_b" -ge 1 ]; then
	tl_pass "d: after the drain the live association's DATA went on path B (vm-202) to $drained ($late_on_b messages)"
else
	tl_fail "d: no message of the live association reached $drained on path B"
fi
both_lbs activate "$mark"

# --- down -------------------------------------------------------------------------------------
tl_say "d: down (on both LBs) the target of one live association while another continues"
dpt_client victim 1 --count 80 --interval 200 --echo-wait 1000
tl_wait_echoes victim 1 || tl_fail "d: no echo for the victim"
victim=$(tl_echo_servers victim | head -n 1)
victim_mark=${victim#server-}
dpt_wait_pinned 1 "$victim_mark" || tl_fail "d: the victim's association is not pinned on both LBs"
# Drain it first, so the other association surely lands elsewhere.
both_lbs deactivate "$victim_mark"
dpt_client other 2 --count 16 --interval 200 --primary "$DP_VIP_B" --primary-after 8
tl_wait_echoes other 1 || tl_fail "d: no echo for the other association"
other=$(tl_echo_servers other | head -n 1)
[ "$other" != "$victim" ] || tl_fail "d: the other association went to the draining $victim"
dpt_wait_pinned 2 "${other#server-}" || tl_fail "d: the other association is not pinned on both LBs"
both_lbs down "$victim_mark"
echoes_at_down=$(tl_echo_count victim)
status=0
tl_wait other || status=$?
if [ "$status" = 0 ] && [ "$(tl_echo_count other)" = 16 ] && [ "$(tl_echo_servers other | tr -d '\n')" = "$other" ]; then
	tl_pass "d: the association on $other continued to its end (16 echoes, paths A and B)"
else
	tl_fail "d: the association on $other: exit $status, $(tl_echo_count other) echoes from $(tl_echo_servers other | tr '\n' ' ')"
fi
# The victim's echoes over the rest of its life, not in a window of fixed length: wait for the
# client to end (its packets now hash to another server, which does not know the association).
# One echo may have been under way at the 'down'.
status=0
tl_wait victim 30 || status=$?
echoes_later=$(tl_echo_count victim)
if [ "$echoes_later" -le $((echoes_at_down + 1)) ]; then
	tl_pass "d: no echo for the association on the downed $victim after 'down' ($echoes_at_down before, $echoes_later when the client ended)"
else
	tl_fail "d: the association on the downed $victim still got echoes ($echoes_at_down -> $echoes_later)"
fi
if [ "$status" != 0 ]; then
	tl_pass "d: the client of the downed target failed (exit $status, $(tl_echo_count victim) of 80 echoes)"
else
	tl_fail "d: the client of the downed target succeeded"
fi

echo "runtime $((SECONDS - started)) s"
tl_finish
