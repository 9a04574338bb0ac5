#!/bin/bash
# Health checks (`sctplb health`) on tests/topology/lb-topology.sh (three usrsctp DSR servers
# that bind only the VIPs, so the probes go to VIP 10.0.0.1 with SO_MARK = the target's fwmark,
# and the LB's fwmark rules route each to its server). Shows:
#  a. `health --once` gets an INIT ACK from every server; a probe address that does not resolve
#     is a one-line usage error; a fwmark that is no target is refused;
#  b. with `sctplb health` running (interval 300 ms, timeout 200 ms, rise 2, fall 3) every target
#     becomes up; `show` lists health, last result and age;
#  c. a server is stopped: after 3 failed probes its target is down (logged, counted), new
#     associations avoid it, and a live association on another server is unaffected;
#  d. the server is started again: after 2 successes the target is active again.
# The LB has no kernel SCTP: it answers each INIT ACK with an ICMP protocol unreachable besides
# our ABORT. Harmless: the servers keep no state before COOKIE ECHO.
#
# Usage: test-health.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,15p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"
lbt_check_requirements

lbt_setup hc --clients 3
lbt_lb_start
probe_targets=(--target "1=10.0.0.1" --target "2=10.0.0.1" --target "3=10.0.0.1")

# --- a. one round, bad input --------------------------------------------------------------------
tl_say "a: one probe round to every server; bad input"
once=$(lbt_sctplb health "${probe_targets[@]}" --port "$LB_PORT" --timeout-ms 2000 --once 2>&1) && status=0 || status=$?
if [ "$status" = 0 ] && [ "$(echo "$once" | grep -c ': ok in ')" = 3 ]; then
	tl_pass "a: health --once: every server answered with an INIT ACK"
else
	tl_fail "a: health --once exit $status: $once"
fi
out=$(lbt_sctplb health --target 1=no-such-host.invalid 2>&1) && status=0 || status=$?
if [ "$status" = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "does not resolve"; then
	tl_pass "a: unresolvable probe address: exit 2, one line ($out)"
else
	tl_fail "a: unresolvable probe address: exit $status: $out"
fi
out=$(lbt_sctplb health --target 9=10.0.0.1 2>&1) && status=0 || status=$?
if [ "$status" = 1 ] && echo "$out" | grep -q "not a target"; then
	tl_pass "a: a fwmark that is no target is refused ($out)"
else
	tl_fail "a: fwmark 9: exit $status: $out"
fi

# --- b. the checker runs ------------------------------------------------------------------------
tl_say "b: sctplb health running"
tl_spawn health "$LB_NS" "$SCTPLB_BIN" health --shm "$tl_prefix" "${probe_targets[@]}" --port "$LB_PORT" \
	--interval-ms 300 --timeout-ms 200 --rise 2 --fall 3
# health_is FWMARK HEALTH TARGET-STATE: show --json says so.
health_is() {
	lbt_sctplb show --json | "$lbt_python" -c '
import json, sys
d = json.load(sys.stdin)
t = [t for t in d["targets"] if t["fwmark"] == int(sys.argv[1])][0]
sys.exit(0 if t["health"] and t["health"]["state"] == sys.argv[2] and t["state"] == sys.argv[3] else 1)' "$@"
}
all_up() { health_is 1 up active && health_is 2 up active && health_is 3 up active; }
if tl_until 20 all_up; then
	tl_pass "b: every target is up and active"
else
	tl_fail "b: not every target up: $(lbt_sctplb show --json)"
fi
shown=$(lbt_sctplb show)
if echo "$shown" | grep -q "^health: pid " && [ "$(echo "$shown" | grep -cE ' active .* up +ok +[0-9.]+s$')" = 3 ]; then
	tl_pass "b: show lists health, last result and age for each target"
else
	tl_fail "b: show: $shown"
fi

# --- c. a server stops --------------------------------------------------------------------------
tl_say "c: a server stops while an association on another server lives"
lbt_client live 1 --count 40 --interval 150
tl_wait_echoes live 2 || tl_fail "c: no echo for the live association"
live_server=$(tl_echo_servers live | head -n 1)
victim=1
[ "$live_server" != server-1 ] || victim=2
victim_pid=$("$LBT_TOPOLOGY" pids "$tl_prefix" | awk -v n="server-$victim" '$2 == n { print $1 }')
[ -n "$victim_pid" ] || tl_fail "c: no pid recorded for server-$victim"
kill -TERM "$victim_pid"
victim_down() { health_is "$victim" down down; }
if tl_until 20 victim_down; then
	tl_pass "c: server-$victim stopped: fwmark $victim is down (health and target)"
else
	tl_fail "c: fwmark $victim not down: $(lbt_sctplb show --json)"
fi
if grep -q "health: fwmark $victim down after 3 failed probes (last: timeout): target down" "$tl_work/health.log"; then
	tl_pass "c: the transition is logged"
else
	tl_fail "c: no transition line in the health log"
fi
went_down=$(tl_json "$(lbt_sctplb show --json)" "[t['health']['went_down'] for t in d['targets'] if t['fwmark'] == $victim][0]")
if [ "$went_down" = 1 ]; then tl_pass "c: went_down counted once"; else tl_fail "c: went_down $went_down"; fi
for k in 2 3; do lbt_client "new-$k" "$k" --count 3 --interval 100; done
for k in 2 3; do
	status=0
	tl_wait "new-$k" || status=$?
	servers=$(tl_echo_servers "new-$k" | tr '\n' ' ')
	if [ "$status" = 0 ] && [ -n "$servers" ] && ! echo "$servers" | grep -qw "server-$victim"; then
		tl_pass "c: new association new-$k went to $servers(not server-$victim)"
	else
		tl_fail "c: new-$k exit $status, echoes from '$servers'"
	fi
done
status=0
tl_wait live 40 || status=$?
if [ "$status" = 0 ] && [ "$(tl_echo_count live)" = 40 ] && [ "$(tl_echo_servers live)" = "$live_server" ]; then
	tl_pass "c: the live association on $live_server continued: 40 echoes"
else
	tl_fail "c: live exit $status, $(tl_echo_count live) echoes from $(tl_echo_servers live | tr '\n' ' ')"
fi

# --- d. the server comes back ---------------------------------------------------------------------
tl_say "d: server-$victim starts again"
tl_spawn "server-$victim-again" "$LB_PREFIX-s$victim" "$SCTPT" server --stack usrsctp --verbose \
	--addr 10.0.0.1,10.0.0.2 --port "$LB_PORT" --name "server-$victim"
victim_up() { health_is "$victim" up active; }
if tl_until 20 victim_up; then
	tl_pass "d: fwmark $victim is active again"
else
	tl_fail "d: fwmark $victim not back: $(lbt_sctplb show --json)"
fi
if grep -q "health: fwmark $victim up after 2 successful probes: target active" "$tl_work/health.log"; then
	tl_pass "d: the transition is logged"
else
	tl_fail "d: no up transition in the health log"
fi

tl_finish
