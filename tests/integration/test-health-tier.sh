#!/bin/bash
# Health checks in an LB tier (tests/topology/dual-path.sh --mode vtag --sync: vm-201 carries
# path A, vm-202 path B, syncing): each LB runs its own `sctplb health` (vm-201 probes VIP A,
# vm-202 VIP B, each by fwmark). The probes of vm-201 to one server are dropped (a failure only
# vm-201 sees), so the LBs disagree:
#  - vm-201 takes the target out, vm-202 keeps it: their config digests differ and sync counts
#    digest mismatches, yet keeps running: a new association made meanwhile (INIT and COOKIE
#    ECHO through vm-201, DATA later on path B through vm-202) is pinned alike on both LBs;
#  - an established association on another server never moves: every message, on both paths,
#    reaches its server;
#  - the drop is lifted: vm-201 activates the target again and the digests agree.
#
# Usage: test-health-tier.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,12p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"
dpt_check_requirements

dpt_setup hct --mode vtag --sync --clients 3
dpt_lb_start
health_options=(--port "$DP_PORT" --interval-ms 300 --timeout-ms 200 --rise 2 --fall 3)
tl_spawn health-201 "$DP_LB201_NS" "$SCTPLB_BIN" health --shm "$DP_LB201_SHM" \
	--target "1=$DP_VIP_A,2=$DP_VIP_A,3=$DP_VIP_A" "${health_options[@]}"
tl_spawn health-202 "$DP_LB_B_NS" "$SCTPLB_BIN" health --shm "$DP_LB_B_SHM" \
	--target "1=$DP_VIP_B,2=$DP_VIP_B,3=$DP_VIP_B" "${health_options[@]}"

# target_is LB FWMARK HEALTH STATE: that LB's show --json says so.
target_is() {
	dpt_sctplb "$1" show --json | "$tl_python" -c '
import json, sys
d = json.load(sys.stdin)
t = [t for t in d["targets"] if t["fwmark"] == int(sys.argv[1])][0]
sys.exit(0 if t["health"] and t["health"]["state"] == sys.argv[2] and t["state"] == sys.argv[3] else 1)' "${@:2}"
}
all_up() { local lb s; for lb in 201 202; do for s in 1 2 3; do target_is $lb $s up active || return 1; done; done; }
digest() { tl_json "$(dpt_sctplb "$1" show --json)" "d['config_digest']"; }
digests_equal() { [ "$(digest 201)" = "$(digest 202)" ]; }
if tl_until 20 all_up; then
	tl_pass "every target up and active on both LBs"
else
	tl_fail "not all up: $(dpt_sctplb 201 show) $(dpt_sctplb 202 show)"
fi

# --- an established association, then the disagreement --------------------------------------------
tl_say "an association lives on one server; vm-201's probes to another server are dropped"
before_live=$(dpt_counters)
dpt_client live 1 --count 40 --interval 200 --primary "$DP_VIP_B" --primary-after 20
tl_wait_echoes live 2 || tl_fail "no echo for the live association"
live_server=$(tl_echo_servers live | head -n 1)
dpt_wait_pinned 1 "${live_server#server-}" || tl_fail "the live association is not pinned on both LBs"
victim=1
[ "$live_server" != server-1 ] || victim=2
ip netns exec "$tl_prefix-vm00$victim" nft -f - <<EOF
table ip hct_drop {
	chain input {
		type filter hook prerouting priority -400; policy accept;
		ip saddr 192.168.1.201 ip protocol sctp drop
	}
}
EOF
if tl_until 20 target_is 201 "$victim" down down; then
	tl_pass "vm-201: fwmark $victim down (only vm-201's probes fail)"
else
	tl_fail "vm-201: fwmark $victim not down: $(dpt_sctplb 201 show)"
fi
if target_is 202 "$victim" up active; then
	tl_pass "vm-202: fwmark $victim still up and active"
else
	tl_fail "vm-202: fwmark $victim: $(dpt_sctplb 202 show)"
fi
if digests_equal; then
	tl_fail "the digests agree while the LBs disagree"
else
	tl_pass "the config digests differ ($(digest 201) / $(digest 202))"
fi
mismatches() {
	[ "$(dpt_sync_stat 201 "s['digest_mismatches']")" -gt 0 ] && [ "$(dpt_sync_stat 202 "s['digest_mismatches']")" -gt 0 ]
}
if tl_until 10 mismatches; then
	tl_pass "sync counts digest mismatches on both LBs"
else
	tl_fail "no digest mismatch counted"
fi

# A new association meanwhile: handshake on path A (vm-201, which avoids the victim), DATA moves to
# path B (vm-202): vm-202 must have learned it by sync.
dpt_client during 2 --count 12 --interval 150 --primary "$DP_VIP_B" --primary-after 4
tl_wait_echoes during 1 || tl_fail "no echo for the new association"
during_server=$(tl_echo_servers during | head -n 1)
if [ -n "$during_server" ] && [ "$during_server" != "server-$victim" ] && dpt_wait_pinned 2 "${during_server#server-}"; then
	tl_pass "sync works while the LBs disagree: the new association is pinned to $during_server on both"
else
	tl_fail "the new association ('$during_server') is not pinned alike on both LBs"
fi
status=0
tl_wait during || status=$?
if [ "$status" = 0 ] && [ "$(tl_echo_count during)" = 12 ]; then
	tl_pass "the new association finished on both paths (12 echoes)"
else
	tl_fail "the new association: exit $status, $(tl_echo_count during) echoes"
fi

# --- the live association never moved; the LBs agree again -------------------------------------------
status=0
tl_wait live 40 || status=$?
after_live=$(dpt_counters)
dpt_check_one_server live 1 40 "$before_live" "$after_live" "$status"
if [ "$dpt_one_server" = "$live_server" ]; then
	tl_pass "the established association stayed on $live_server through the disagreement"
fi
ip netns exec "$tl_prefix-vm00$victim" nft delete table ip hct_drop
if tl_until 20 target_is 201 "$victim" up active && tl_until 10 digests_equal; then
	tl_pass "drop lifted: vm-201 activated fwmark $victim again; the digests agree"
else
	tl_fail "after the drop: $(dpt_sctplb 201 show)"
fi
tl_finish
