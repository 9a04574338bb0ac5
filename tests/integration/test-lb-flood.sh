#!/bin/bash
# Floods and a full table through the live daemon (tests/topology/lb-topology.sh, vtag mode, table
# capacity 4096, half-open share 1024), with 20 established associations imported and their DATA
# blasted, plus one real usrsctp association, all while sctp_blast (tests/bench/sctp-blast) floods:
#  a. INITs with fresh tags (ports 40000..59999), and DATA with random vtags, each at the blaster's full rate
#     for 3 s: the half-open share evicts its own oldest entries (half-open-evicted), unknown DATA
#     is dropped (unknown-association); the 20 established associations stay pinned, the real
#     association delivers every message, the daemon's memory stays bounded;
#  b. the table filled with 4000 more established associations, then INITs again: refused as
#     table-full; established associations unaffected.
# Rates and counters are printed (the numbers vary with the machine; the assertions do not).
#
# Usage: test-lb-flood.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,13p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"
lbt_check_requirements
started=$SECONDS
blast=${SCTPLB_BUILD_DIR:-$script_dir/../../build}/tests/bench/sctp-blast/sctp_blast
[ -x "$blast" ] || tl_skip "sctp_blast is not built ($blast): configure with SCTPLB_BUILD_BENCHMARKS=ON"

lbt_setup lbflood --clients 1
lbt_lb_start
vip_a=$(echo "$LB_VIPS" | cut -d, -f1)
sources=$LB_CLIENT1_ADDRS
in_client() { ip netns exec "$LB_CLIENT1_NS" "$@"; }

# 20 established associations (ports 20000..20019, both client addresses), pinned round robin.
known=(--dst "$vip_a" --src "$sources" --paths 2 --associations 20 --sport-base 20000 --seed 1)
"$blast" "${known[@]}" --fwmarks 1,2,3 --export-associations "$tl_work/known.json" >/dev/null
lbt_sctplb assoc --import "$tl_work/known.json" >/dev/null
pinned() { # pinned: how many of the 20 are in the table, established, with their imported fwmark
	# (The table holds thousands of entries in b: read it from a pipe, not an argument.)
	lbt_sctplb assoc --json | "$lbt_python" -c "import json, sys; d = json.load(sys.stdin); print(sum(1 for a in d['associations'] if 20000 <= a['sport'] < 20020 and a['state'] == 'established' and a['fwmark'] == (a['sport'] - 20000) % 3 + 1))"
}
[ "$(pinned)" = 20 ] || tl_fail "the 20 imported associations are not all in the table"

# Port 5000: outside every flood's ports (an INIT from a live association's address and ports is a
# restart attempt, RFC 9260 §5.2.2, which the server decides on: not what this test is about).
lbt_client live 1 --lport 5000 --count 40 --interval 150 --echo-wait 10000
tl_wait_echoes live 2 10 || tl_fail "the real association did not start"
daemon_pid=$(tl_json "$(lbt_sctplb show --json)" "d['daemon_pid']")
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$daemon_pid/status"; }
rss_before=$(rss)
before=$(lbt_sctplb stats --json)

tl_say "a: 3 s of INIT flood + random-vtag DATA flood at full rate, 20 known associations at 2000 pkt/s"
in_client "$blast" "${known[@]}" --pps 2000 --duration 3 >"$tl_work/known.out" 2>&1 &
p1=$!
in_client "$blast" --dst "$vip_a" --src "$sources" --associations 20000 --sport-base 40000 --seed 2 --init \
	--duration 3 >"$tl_work/init-flood.out" 2>&1 &
p2=$!
in_client "$blast" --dst "$vip_a" --src "$sources" --associations 20000 --sport-base 40000 --seed 3 \
	--duration 3 >"$tl_work/data-flood.out" 2>&1 &
p3=$!
wait $p1 $p2 $p3 || tl_fail "a blaster failed: $(cat "$tl_work"/*.out)"
# The daemon may still be working through the queue, and publishes counters after each batch or
# every 200 ms: wait until the counts the checks below want are there (they only grow).
tl_until 20 lbt_stats_reached "$before" half-open-evicted=1 unknown-association=1001 established=1 ||
	tl_say "a: the counters did not reach what the checks want within 20 s"
after=$lbt_stats_now
for f in known init-flood data-flood; do tl_say "$f: $(tail -n 1 "$tl_work/$f.out")"; done
delta() { echo $(($(lbt_stat "$after" "$1") - $(lbt_stat "$before" "$1"))); }
tl_say "LB counted: init-hash +$(delta init-hash), half-open-evicted +$(delta half-open-evicted), unknown-association +$(delta unknown-association), established +$(delta established); kernel queue drops: $(tl_json "$after" "sum(q['queue_dropped'] + q['user_dropped'] for q in (d['kernel_queues'] or []))")"
[ "$(delta half-open-evicted)" -gt 0 ] && tl_pass "a: the INIT flood overflowed the half-open share, which evicted only its own entries (+$(delta half-open-evicted))" ||
	tl_fail "a: no half-open eviction: the INIT flood did not reach the LB?"
[ "$(delta unknown-association)" -gt 1000 ] && tl_pass "a: random-vtag DATA dropped as unknown-association (+$(delta unknown-association))" ||
	tl_fail "a: only $(delta unknown-association) unknown-association drops"
[ "$(delta established)" -gt 0 ] && tl_pass "a: the known associations' DATA was forwarded meanwhile (established +$(delta established))" ||
	tl_fail "a: no established packet forwarded during the flood"
n=$(pinned)
[ "$n" = 20 ] && tl_pass "a: all 20 established associations are still pinned to their servers" || tl_fail "a: $n of 20 established associations left"
half_open=$(tl_json "$after" "d['table']['half_open']")
half_open_capacity=$(tl_json "$after" "d['table']['half_open_capacity']")
[ "$half_open" -le "$half_open_capacity" ] && tl_pass "a: half-open entries $half_open <= their share $half_open_capacity" ||
	tl_fail "a: half-open entries $half_open exceed their share $half_open_capacity"

tl_say "b: the table filled with 4000 more established associations, then INITs"
"$blast" --dst "$vip_a" --src "$sources" --paths 2 --associations 4000 --sport-base 30000 --seed 4 \
	--export-associations "$tl_work/fill.json" >/dev/null
tl_say "import: $(lbt_sctplb assoc --import "$tl_work/fill.json" 2>&1 || true)"
before=$(lbt_sctplb stats --json)
in_client "$blast" --dst "$vip_a" --src "$sources" --associations 20000 --sport-base 40000 --seed 5 --init \
	--duration 1 >"$tl_work/init-flood-2.out" 2>&1
tl_until 20 lbt_stats_reached "$before" table-full=1 || tl_say "b: no table-full drop counted within 20 s"
after=$lbt_stats_now
tl_say "init flood: $(tail -n 1 "$tl_work/init-flood-2.out"); table $(tl_json "$after" "d['table']")"
[ "$(delta table-full)" -gt 0 ] && tl_pass "b: with the table full, new INITs were refused as table-full (+$(delta table-full))" ||
	tl_fail "b: no table-full drop (table $(tl_json "$after" "d['table']"))"
n=$(pinned)
[ "$n" = 20 ] && tl_pass "b: all 20 established associations are still pinned" || tl_fail "b: $n of 20 left"

status=0
tl_wait live 40 || status=$?
if [ "$status" = 0 ] && [ "$(tl_echo_count live)" = 40 ]; then
	tl_pass "the real association delivered all 40 messages through both floods"
else
	tl_fail "the real association ended with status $status after $(tl_echo_count live) echoes"
fi
rss_after=$(rss)
[ "$rss_after" -le $((rss_before + 2048)) ] && tl_pass "the daemon's memory stayed bounded: VmRSS $rss_before kB before, $rss_after kB after" ||
	tl_fail "the daemon's memory grew: VmRSS $rss_before kB before, $rss_after kB after"
echo "runtime $((SECONDS - started)) s"
tl_finish
