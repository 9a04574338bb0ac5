#!/bin/bash
# `sctplb metrics` (Prometheus) on the LB topology (tests/topology/lb-topology.sh: init, activate
# 1 2 3, lb in PREFIX-lb). Every scrape is parsed by python3-prometheus-client's exposition parser
# (tests/tools/metrics-scrape.py). Shows:
#  a. after one client's association: the families have the documented names, types and labels;
#     every reason of `stats --json` is a sctplb_packets_total series with the same value, the
#     associations by state sum to its table size; the three targets are active; LB_QUEUE is served;
#  b. a port in use and a bad ADDR:PORT: one-line errors (exit 1 and 2), the first exporter serves on;
#  c. lb stopped: sctplb_daemon_up 0, still served; lb started again: sctplb_daemon_up 1;
#  d. the segment deleted (sctplb_up 0) and made again (init, activate): read again, unrestarted.
#
# Usage: test-metrics.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,12p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"
lbt_check_requirements
"$lbt_python" -c 'import prometheus_client.parser' 2>/dev/null ||
	tl_skip "python3-prometheus-client is not installed"
scrape_tool=$script_dir/../tools/metrics-scrape.py

lbt_setup lbm --clients 1
lbt_lb_start
# The port is the namespace's own (PREFIX-lb's loopback): no clash with other tests.
listen=127.0.0.1:9464
url=http://$listen/metrics

# scrape: the parsed exposition (metrics-scrape.py's JSON) into $scraped; false when unreadable.
scraped=
scrape() { scraped=$(ip netns exec "$LB_NS" "$lbt_python" "$scrape_tool" "$url" 2>"$tl_work/scrape.err"); }
# value FAMILY-SAMPLE LABELS-PYTHON-DICT: the sample's value in $scraped ("none" when absent).
value() {
	tl_json "$scraped" "next((s[2] for f in d['families'].values() for s in f['samples'] if s[0] == '$1' and all(s[1].get(k) == v for k, v in $2.items())), 'none')"
}
sample_is() { scrape && [ "$(value "$1" "$2")" = "$3" ]; }

# --- a. names, types, labels; a counter equals stats --json ------------------------------------
tl_say "a: one association, then sctplb metrics --listen $listen in $LB_NS"
lbt_client a1 1 --count 5 --interval 100
status=0
tl_wait a1 || status=$?
[ "$status" = 0 ] && tl_pass "a: the client's association completed" || tl_fail "a: client exit $status"
tl_spawn metrics "$LB_NS" "$SCTPLB_BIN" metrics --shm "$tl_prefix" --listen "$listen"
if tl_until 10 scrape; then
	tl_pass "a: /metrics served and parsed ($(tl_json "$scraped" "len(d['families'])") families, $(tl_json "$scraped" "d['content_type']"))"
else
	tl_fail "a: no parsable /metrics: $(cat "$tl_work/scrape.err")"
fi
# prometheus_client names a counter family without its _total suffix.
expected_types="sctplb_up:gauge sctplb_daemon_up:gauge sctplb_packets:counter sctplb_events:counter
sctplb_nfqueue_packets:counter sctplb_target_packets:counter sctplb_target_state:gauge
sctplb_target_weight:gauge
sctplb_associations:gauge sctplb_association_table_capacity:gauge sctplb_fastpath_enabled:gauge
sctplb_sync_enabled:gauge sctplb_nfqueue_queue_dropped:counter sctplb_nfqueue_user_dropped:counter
sctplb_nfqueue_waiting_packets:gauge sctplb_nfqueue_served:gauge"
wrong=$(tl_json "$scraped" "' '.join(p for p in '''$expected_types'''.split() if d['families'].get(p.split(':')[0], {}).get('type') != p.split(':')[1])")
[ -z "$wrong" ] && tl_pass "a: every expected family has its type" || tl_fail "a: missing or mistyped: $wrong"
bad_names=$(tl_json "$scraped" "' '.join(n for n in d['families'] if not n.startswith('sctplb_') and not n.startswith('exposer_'))")
[ -z "$bad_names" ] && tl_pass "a: every family is sctplb_* (or the exposer's own)" || tl_fail "a: families: $bad_names"

# A reason counter equals stats --json: read stats before and after the scrape; settled, all agree.
reasons_match() {
	local before after
	before=$(lbt_sctplb stats --json)
	scrape || return 1
	after=$(lbt_sctplb stats --json)
	[ "$before" = "$after" ] || return 1
	mismatch=$(tl_json "$scraped" "' '.join(r for r, n in $(tl_json "$after" "d['reasons']").items() if next((s[2] for s in d['families']['sctplb_packets']['samples'] if s[1] == {'reason': r}), None) != n)")
	packets=$(tl_json "$after" "d['packets']")
	table_size=$(tl_json "$after" "d['table']['size']")
	[ -z "$mismatch" ] && [ "$(value sctplb_nfqueue_packets_total '{}')" = "$packets.0" ] &&
		[ "$(tl_json "$scraped" "int(sum(s[2] for s in d['families']['sctplb_associations']['samples']))")" = "$table_size" ]
}
mismatch=
table_size=
if tl_until 10 reasons_match; then
	tl_pass "a: every sctplb_packets_total{reason}, sctplb_nfqueue_packets_total ($packets) and the sum of sctplb_associations ($table_size) equal stats --json"
else
	tl_fail "a: differ from stats --json: ${mismatch:-sctplb_nfqueue_packets_total or sctplb_associations}"
fi
established=$(value sctplb_events_total '{"event": "established"}')
init_hash=$(value sctplb_packets_total '{"reason": "init-hash"}')
[ "$init_hash" = 1.0 ] && tl_pass "a: sctplb_packets_total{reason=\"init-hash\"} 1 (one INIT balanced)" ||
	tl_fail "a: init-hash $init_hash (events: established $established)"
active=$(tl_json "$scraped" "sorted(s[1]['fwmark'] for s in d['families']['sctplb_target_state']['samples'] if s[1]['state'] == 'active' and s[2] == 1)")
[ "$active" = "['1', '2', '3']" ] && tl_pass "a: sctplb_target_state{state=\"active\"} 1 for fwmarks 1 2 3" ||
	tl_fail "a: active targets: $active"
# Weights and health: fwmark 2 gets weight 3; sctplb health probes the three servers.
lbt_sctplb activate --weight 3 2 >/dev/null
weights_seen() { scrape && [ "$(tl_json "$scraped" "sorted((s[1]['fwmark'], s[2]) for s in d['families']['sctplb_target_weight']['samples'])")" = "[('1', 1.0), ('2', 3.0), ('3', 1.0)]" ]; }
tl_until 10 weights_seen && tl_pass "a: sctplb_target_weight 1, 3, 1 for fwmarks 1 2 3 (activate --weight 3 2)" ||
	tl_fail "a: weights: $(tl_json "$scraped" "d['families'].get('sctplb_target_weight')")"
tl_spawn health "$LB_NS" "$SCTPLB_BIN" health --shm "$tl_prefix" --target 1=10.0.0.1 --target 2=10.0.0.1 \
	--target 3=10.0.0.1 --port "$LB_PORT" --interval-ms 1500 --timeout-ms 1000 --rise 1 --fall 3
health_seen() { scrape && [ "$(tl_json "$scraped" "sorted(s[1]['fwmark'] for s in d['families']['sctplb_target_health']['samples'] if s[1]['health'] == 'up' and s[2] == 1)")" = "['1', '2', '3']" ] &&
	[ "$(tl_json "$scraped" "int(all(s[2] >= 1 for s in d['families']['sctplb_target_probes']['samples'] if s[1]['result'] == 'ok'))")" = 1 ]; }
tl_until 20 health_seen && tl_pass "a: sctplb_target_health{health=\"up\"} 1 and sctplb_target_probes_total{result=\"ok\"} > 0 for fwmarks 1 2 3" ||
	tl_fail "a: health: $(tl_json "$scraped" "d['families'].get('sctplb_target_health')")"
kill "${tl_client_pid[health]}" 2>/dev/null || true
tl_wait health 10 >/dev/null || true
target_packets=$(tl_json "$scraped" "sum(s[2] for s in d['families']['sctplb_target_packets']['samples'])")
[ "$target_packets" != 0 ] && tl_pass "a: sctplb_target_packets_total sums to $target_packets" ||
	tl_fail "a: no packets per target"
states=$(tl_json "$scraped" "sorted(s[1]['state'] for s in d['families']['sctplb_associations']['samples'])")
[ "$states" = "['closed', 'closing', 'established', 'half-open', 'restart-pending']" ] &&
	tl_pass "a: sctplb_associations{state} for every live state" || tl_fail "a: sctplb_associations states: $states"
[ "$(value sctplb_nfqueue_served "{'queue': '$LB_QUEUE'}")" = 1.0 ] &&
	tl_pass "a: sctplb_nfqueue_served{queue=\"$LB_QUEUE\"} 1, drops $(value sctplb_nfqueue_queue_dropped_total "{'queue': '$LB_QUEUE'}")" ||
	tl_fail "a: queue $LB_QUEUE not served: $(tl_json "$scraped" "d['families'].get('sctplb_nfqueue_served')")"

# --- b. a port in use, a bad ADDR:PORT ----------------------------------------------------------
tl_say "b: a second exporter on $listen, then bad --listen values"
status=0
timeout 10 ip netns exec "$LB_NS" "$SCTPLB_BIN" metrics --shm "$tl_prefix" --listen "$listen" \
	>"$tl_work/second.log" 2>&1 || status=$?
if [ "$status" = 1 ] && [ "$(wc -l <"$tl_work/second.log")" = 1 ] && grep -q "$listen.*Address already in use" "$tl_work/second.log"; then
	tl_pass "b: port in use, exit 1: $(cat "$tl_work/second.log")"
else
	tl_fail "b: port in use: exit $status: $(cat "$tl_work/second.log")"
fi
for bad in 127.0.0.1 127.0.0.1:0 127.0.0.1:70000 nohost:9464 '[::1:9464'; do
	status=0
	"$SCTPLB_BIN" metrics --shm "$tl_prefix" --listen "$bad" >"$tl_work/bad.log" 2>&1 || status=$?
	if [ "$status" = 2 ] && [ "$(wc -l <"$tl_work/bad.log")" = 1 ] && grep -q "^sctplb metrics: --listen" "$tl_work/bad.log"; then
		tl_pass "b: --listen '$bad', exit 2: $(cat "$tl_work/bad.log")"
	else
		tl_fail "b: --listen '$bad': exit $status: $(cat "$tl_work/bad.log")"
	fi
done
sample_is sctplb_up '{}' 1.0 && tl_pass "b: the first exporter serves on" || tl_fail "b: the first exporter stopped serving"

# --- c. lb stopped and started again ------------------------------------------------------------
tl_say "c: lb stopped, then started again; the exporter keeps running"
lbt_lb_stop
if tl_until 10 sample_is sctplb_daemon_up '{}' 0.0 && [ "$(value sctplb_up '{}')" = 1.0 ]; then
	tl_pass "c: lb stopped: sctplb_daemon_up 0, sctplb_up 1"
else
	tl_fail "c: lb stopped: daemon_up $(value sctplb_daemon_up '{}'), $(cat "$tl_work/scrape.err")"
fi
lbt_lb_start
if tl_until 10 sample_is sctplb_daemon_up '{}' 1.0 && [ "$(value sctplb_nfqueue_served "{'queue': '$LB_QUEUE'}")" = 1.0 ]; then
	tl_pass "c: lb started again: sctplb_daemon_up 1, queue $LB_QUEUE served"
else
	tl_fail "c: after the restart: daemon_up $(value sctplb_daemon_up '{}')"
fi

# --- d. the segment deleted and made again ------------------------------------------------------
tl_say "d: lb stopped, segment deleted, then init + activate again"
lbt_lb_stop
lbt_sctplb delete >/dev/null
if tl_until 10 sample_is sctplb_up '{}' 0.0 && [ "$(tl_json "$scraped" "len([f for f in d['families'] if f.startswith('sctplb_')])")" = 1 ]; then
	tl_pass "d: no segment: only sctplb_up 0"
else
	tl_fail "d: no segment: sctplb_up $(value sctplb_up '{}')"
fi
lbt_sctplb init --hash vtag --seed-file "$LB_STATE/seed" --capacity 4096 >/dev/null
lbt_sctplb activate 2 >/dev/null
two_active() {
	sample_is sctplb_up '{}' 1.0 && [ "$(value sctplb_target_state '{"fwmark": "2", "state": "active"}')" = 1.0 ] &&
		[ "$(value sctplb_packets_total '{"reason": "init-hash"}')" = 0.0 ]
}
if tl_until 10 two_active; then
	tl_pass "d: the new segment is read: sctplb_up 1, fwmark 2 active, counters from 0"
else
	tl_fail "d: new segment: sctplb_up $(value sctplb_up '{}'), init-hash $(value sctplb_packets_total '{"reason": "init-hash"}')"
fi
kill -0 "${tl_client_pid[metrics]}" && tl_pass "d: the same exporter process ran throughout" ||
	tl_fail "d: the exporter exited: $(tl_log metrics)"
kill -TERM "${tl_client_pid[metrics]}"
status=0
tl_wait metrics 10 || status=$?
[ "$status" = 0 ] && tl_pass "d: SIGTERM: the exporter exits 0" || tl_fail "d: SIGTERM: exit $status"

echo "test-metrics: $((SECONDS))s"
tl_finish
