#!/bin/bash
# Expiry keeps its documented time on an idle daemon (docs/design.md "Time"): an association
# closed by SHUTDOWN COMPLETE leaves `sctplb assoc` at most 10 s (the closed linger) + 1.2 s (one
# paced sweep pass + the longest gap between sweeps) after it closed, with the default table size
# (262144 slots) and no other traffic, so the queue thread only wakes on its 200 ms receive
# timeout. (Before the paced sweep, such a daemon took ~200 s per pass over this table.)
# The time since the close is the daemon's own: the closed record's IDLE(s) in `sctplb assoc`
# (the SHUTDOWN COMPLETE was its last packet), so a slow test loop cannot make it look late.
# (tests/topology/lb-topology.sh, one multihomed usrsctp client, vtag mode.)
#
# Usage: test-expiry.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,9p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"
lbt_check_requirements
started=$SECONDS

closed_linger=10   # Timeouts::closed_linger (not configurable at init)
sweep_bound=1.2    # docs/design.md "Time": an entry goes at most this long after its timeout
# The daemon's threads may be scheduled late on a loaded machine: allowance on top of the bound.
scheduling=0.3

lbt_setup lbx
# The topology made a small table (4096 slots); the bound must hold for the default size.
"$SCTPLB_BIN" delete --shm "$tl_prefix" --force >/dev/null
capacity=$("$SCTPLB_BIN" init --shm "$tl_prefix" --seed-file "$LB_STATE/seed" | sed -n 's/.*capacity \([0-9]*\).*/\1/p')
"$SCTPLB_BIN" activate --shm "$tl_prefix" 1 2 3 >/dev/null
[ "$capacity" = 262144 ] || tl_fail "expected the default table capacity 262144, init says '$capacity'"
lbt_lb_start

tl_say "one multihomed association, 3 messages, then SHUTDOWN"
lbt_client x 1 --count 3 --interval 100
status=0
tl_wait x || status=$?
if [ "$status" = 0 ] && [ "$(tl_echo_count x)" = 3 ]; then
	tl_pass "the client got its 3 echoes and shut down"
else
	tl_fail "client: exit $status, $(tl_echo_count x) echoes"
fi

# closed_idle: the IDLE(s) of client 1's closed association in `sctplb assoc`; empty when absent.
closed_idle() {
	lbt_sctplb assoc | awk '$6 == "closed" && /192\.168\.2\.221/ { print $8; exit }'
}
# still_closed: true while the closed association is listed (its latest IDLE(s) in last_idle).
last_idle=
seen_closed=no
still_closed() {
	local idle
	idle=$(closed_idle)
	[ -n "$idle" ] || return 1
	seen_closed=yes
	last_idle=$idle
}
if ! tl_until 5 still_closed; then
	tl_fail "the association is not listed as closed: $(lbt_sctplb assoc)"
fi
# Wait (at most 30 s, far more than the bound) until it is gone, noting its age as it goes.
gone() { ! still_closed; }
if [ "$seen_closed" = yes ]; then
	if tl_until 30 gone; then
		limit=$(awk -v a="$closed_linger" -v b="$sweep_bound" -v c="$scheduling" 'BEGIN { print a + b + c }')
		if awk -v idle="$last_idle" -v limit="$limit" 'BEGIN { exit !(idle <= limit) }'; then
			tl_pass "the closed association left sctplb assoc within ${closed_linger} s + ${sweep_bound} s (last listed ${last_idle} s after closing; limit ${limit} s with ${scheduling} s scheduling allowance)"
		else
			tl_fail "the closed association was still listed ${last_idle} s after closing (limit ${limit} s)"
		fi
	else
		tl_fail "the closed association is still listed ${last_idle} s after closing: $(lbt_sctplb assoc)"
	fi
	stats=$(lbt_sctplb stats --json)
	expired=$(lbt_stat "$stats" expired-closed)
	if [ "$expired" = 1 ]; then
		tl_pass "the sweep removed it (expired-closed 1, table capacity $capacity)"
	else
		tl_fail "expired-closed is $expired, expected 1"
	fi
fi

echo "runtime $((SECONDS - started)) s"
tl_finish
