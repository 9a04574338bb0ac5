#!/bin/bash
# sctpt end to end on usrsctp, no load balancer: a client namespace with two addresses per path
# and a server namespace with one address per path, joined by two direct veth links.
#
#   client ns                                   server ns
#   c2 192.168.2.221/24, 192.168.2.222/24 ---- s2 192.168.2.1/24   (path A)
#   c6 192.168.6.221/24, 192.168.6.222/24 ---- s6 192.168.6.1/24   (path B)
#
# Checks:
#  1. ctraffic, 2 clients with ephemeral ports: every message echoed, one server name per
#     association, both paths known on both ends; `sctpt stats` shows the run while it goes;
#  2. ctraffic, 2 clients with --lport-fixed 36412 and disjoint local address sets;
#  3. ctraffic with path A cut for a while: a failover is reported, nothing is lost, echoes come
#     over path B; 3a. SIGUSR1 stops a long run early and cleanly (exit 0, not interrupted);
#  4. sctpt client echoes its stdin lines; 4a. client --count --verbose --abort sends N messages
#     without stdin, notes each, ends with ABORT (the server reports the association lost);
#  4b. Xcluster ovl/sctp's options: ctraffic --shm fills the RTT histogram that
#     `sctpt stats --shm` reads while it runs (counts match the JSON result), --log 3 silences
#     the notes; client --size N sends one N-byte message and checks its echo;
#  5. --stack kernel on a host without kernel SCTP fails with a message naming it; usage errors
#     exit 2.
#
# Usage: test-sctpt.sh [help]   (root; SCTPT=path/to/sctpt, else $SCTPLB_BUILD_DIR's or the
# newest build*/test-apps/sctpt/sctpt; SCTPT_KEEP_LOGS=1 keeps the logs)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,23p' "$0"
	exit 0
fi

script_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=${SCTPLB_SOURCE_DIR:-$(cd "$script_dir/../.." && pwd)}
prefix=sctpt$$
ns_client=${prefix}c
ns_server=${prefix}s
namespaces=()
started_pids=()
work_dir=
failures=0

log() { echo "test-sctpt: $*" >&2; }
skip() {
	echo "SKIP: $*"
	exit 77 # ctest: SKIP_RETURN_CODE 77
}
fail() {
	log "FAIL: $*"
	failures=$((failures + 1))
}
pass() { log "ok: $*"; }

find_sctpt() {
	if [ -n "${SCTPT:-}" ]; then
		echo "$SCTPT"
	elif [ -n "${SCTPLB_BUILD_DIR:-}" ]; then
		echo "$SCTPLB_BUILD_DIR/test-apps/sctpt/sctpt"
	else
		ls -t "$source_dir"/build*/test-apps/sctpt/sctpt 2>/dev/null | head -1
	fi
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, raw sockets)"
for tool in ip nft jq; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done
SCTPT=$(find_sctpt)
if [ -z "$SCTPT" ] || [ ! -x "$SCTPT" ]; then
	skip "sctpt is not built (cmake --build BUILD --target sctpt)"
fi
# tl_until, the shared wait-for-condition helper (nothing else of it is used here; sourced after
# find_sctpt, as it gives SCTPLB_BUILD_DIR a default).
# shellcheck source=../topology/test-common.sh
. "$script_dir/../topology/test-common.sh"
"$SCTPT" help | grep -q '^stacks built in:.* usrsctp' ||
	skip "sctpt was built without usrsctp (Debian: libusrsctp-dev)"

cleanup() {
	local pid ns
	for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${started_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	started_pids=()
	for ns in "${namespaces[@]}"; do
		# Safety net: anything left in a namespace this script made was started by it.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
		ip netns delete "$ns" 2>/dev/null || true
	done
	namespaces=()
	rm -f "/dev/shm/$shm"
	if [ -n "$work_dir" ]; then
		if [ "$failures" -eq 0 ] && [ "${SCTPT_KEEP_LOGS:-}" != 1 ]; then
			rm -rf "$work_dir"
		else
			log "logs in $work_dir"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

work_dir=$(mktemp -d /tmp/test-sctpt.XXXXXX)
shm=test-sctpt-$$
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# start_in_ns LOG NS COMMAND...: `ip netns exec` execs COMMAND, so $! is COMMAND's own PID.
start_in_ns() {
	local out=$1 ns=$2
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 &
	last_pid=$!
	started_pids+=("$last_pid")
}

# Once reaped, a PID may be reused: drop it so the trap never signals a stranger.
forget_pid() {
	local kept=() p
	for p in "${started_pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
	started_pids=("${kept[@]}")
}

wait_for_line() {
	local file=$1 pattern=$2 tries=100
	while ! grep -q "$pattern" "$file" 2>/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { log "timed out waiting for '$pattern' in $file"; cat "$file" >&2; return 1; }
		sleep 0.1
	done
}

new_namespace() {
	ip netns add "$1"
	namespaces+=("$1")
	in_ns "$1" ip link set lo up
	in_ns "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

static_neighbours() { # NS1 DEV1 NS2 DEV2 "ADDRESSES OF NS2" "ADDRESSES OF NS1"
	local mac1 mac2 address
	mac1=$(in_ns "$1" cat "/sys/class/net/$2/address")
	mac2=$(in_ns "$3" cat "/sys/class/net/$4/address")
	for address in $5; do in_ns "$1" ip neigh replace "$address" lladdr "$mac2" dev "$2" nud permanent; done
	for address in $6; do in_ns "$3" ip neigh replace "$address" lladdr "$mac1" dev "$4" nud permanent; done
}

topology() {
	new_namespace "$ns_client"
	new_namespace "$ns_server"
	ip link add c2 netns "$ns_client" type veth peer name s2 netns "$ns_server"
	ip link add c6 netns "$ns_client" type veth peer name s6 netns "$ns_server"
	in_ns "$ns_client" ip addr add 192.168.2.221/24 dev c2
	in_ns "$ns_client" ip addr add 192.168.2.222/24 dev c2
	in_ns "$ns_client" ip addr add 192.168.6.221/24 dev c6
	in_ns "$ns_client" ip addr add 192.168.6.222/24 dev c6
	in_ns "$ns_server" ip addr add 192.168.2.1/24 dev s2
	in_ns "$ns_server" ip addr add 192.168.6.1/24 dev s6
	for dev in c2 c6; do in_ns "$ns_client" ip link set "$dev" up; done
	for dev in s2 s6; do in_ns "$ns_server" ip link set "$dev" up; done
	static_neighbours "$ns_client" c2 "$ns_server" s2 "192.168.2.1" "192.168.2.221 192.168.2.222"
	static_neighbours "$ns_client" c6 "$ns_server" s6 "192.168.6.1" "192.168.6.221 192.168.6.222"

	# usrsctp writes IPv4 headers itself and picks the source address without routing (the last
	# bound address, on every path; sctpt help). Put the address of the outgoing path back,
	# statelessly (the SCTP checksum does not cover the IP header), as in make-captures.sh.
	in_ns "$ns_server" nft -f - <<-EOF
		table ip sctpt_source {
			chain postrouting {
				type filter hook postrouting priority 0; policy accept;
				oifname "s2" ip protocol sctp ip saddr != 192.168.2.1 counter ip saddr set 192.168.2.1
				oifname "s6" ip protocol sctp ip saddr != 192.168.6.1 counter ip saddr set 192.168.6.1
			}
		}
	EOF
	# The client has two address pairs (.221 and .222, one per association with a fixed port):
	# map each wrong source to its partner on the outgoing path.
	in_ns "$ns_client" nft -f - <<-EOF
		table ip sctpt_source {
			chain postrouting {
				type filter hook postrouting priority 0; policy accept;
				oifname "c2" ip protocol sctp ip saddr 192.168.6.221 counter ip saddr set 192.168.2.221
				oifname "c2" ip protocol sctp ip saddr 192.168.6.222 counter ip saddr set 192.168.2.222
				oifname "c6" ip protocol sctp ip saddr 192.168.2.221 counter ip saddr set 192.168.6.221
				oifname "c6" ip protocol sctp ip saddr 192.168.2.222 counter ip saddr set 192.168.6.222
			}
		}
	EOF
}

# Path A cut in the client namespace, both directions, as a broken link would.
cut_path_a() {
	in_ns "$ns_client" nft -f - <<-EOF
		table inet sctpt_cut {
			chain input { type filter hook input priority 0; policy accept; iifname "c2" counter drop; }
			chain output { type filter hook output priority 0; policy accept; oifname "c2" counter drop; }
		}
	EOF
}
restore_path_a() { in_ns "$ns_client" nft delete table inet sctpt_cut; }

# snapshot_shows FILE JQ-EXPRESSION: the expression holds for ctraffic's latest snapshot in FILE
# (written every second, replaced whole by rename). For tl_until.
snapshot_shows() { jq -e "$2" "$1" >/dev/null 2>&1; }
# stats_shows FILE JQ-EXPRESSION: the same through `sctpt stats` (its output left in stats.json).
stats_shows() {
	"$SCTPT" stats --stats-file "$1" >"$work_dir/stats.json" 2>"$work_dir/stats.err" &&
		jq -e "$2" "$work_dir/stats.json" >/dev/null 2>&1
}

# check_json FILE DESCRIPTION JQ-EXPRESSION: passes when the expression is true for FILE.
check_json() {
	if jq -e "$3" "$1" >/dev/null 2>&1; then
		pass "$2"
	else
		fail "$2 ($3)"
		jq -c '.totals, (.associations[] | {client, state, local, remote, sent, echoed, lost,
			servers, echo_sources, failovers, path_events, errors})' "$1" >&2 || cat "$1" >&2
	fi
}

servers="192.168.2.1,192.168.6.1"
set_1="192.168.2.221,192.168.6.221"
set_2="192.168.2.222,192.168.6.222"
started=$SECONDS

log "sctpt: $SCTPT; namespaces $ns_client, $ns_server"
topology
start_in_ns "$work_dir/server.log" "$ns_server" "$SCTPT" server --stack usrsctp --addr "$servers" \
	--port 6000 --name srv-$$
server_pid=$last_pid
wait_for_line "$work_dir/server.log" "listening on"

# 1. Two associations, ephemeral ports, both from the same local addresses.
stats_file=$work_dir/ctraffic-1.stats.json
start_in_ns "$work_dir/ctraffic-1.json" "$ns_client" "$SCTPT" ctraffic --stack usrsctp \
	--addr "$servers" --laddr "$set_1" --clients 2 --rate 10 --duration 3 --stats-file "$stats_file"
traffic_pid=$last_pid
# Until a snapshot (one a second) shows both associations up and sending; the run lasts 3 s.
running_both_up='.running == true and (.associations | length) == 2 and all(.associations[]; .state == "up" and .sent > 0)'
if tl_until 10 stats_shows "$stats_file" "$running_both_up"; then
	pass "stats: a running snapshot with both associations up and sending"
elif [ -s "$work_dir/stats.err" ]; then
	fail "sctpt stats: $(cat "$work_dir/stats.err")"
else
	check_json "$work_dir/stats.json" "stats: a running snapshot with both associations up and sending" "$running_both_up"
fi
status=0
wait "$traffic_pid" || status=$?
forget_pid "$traffic_pid"
# stdout has the JSON, stderr the notes: split them.
sed -n '/^{/,/^}/p' "$work_dir/ctraffic-1.json" >"$work_dir/result-1.json"
[ "$status" = 0 ] || { fail "ctraffic 1 exited $status"; cat "$work_dir/ctraffic-1.json" >&2; }
check_json "$work_dir/result-1.json" "ctraffic: usrsctp, 2 associations, every message echoed, none lost" \
	'.stack == "usrsctp" and .running == false and .totals.came_up == 2 and .totals.sent >= 50
	 and .totals.echoed == .totals.sent and .totals.lost == 0'
check_json "$work_dir/result-1.json" "ctraffic: one server name per association (srv-$$)" \
	"all(.associations[]; (.servers | keys) == [\"srv-$$\"] and .servers[\"srv-$$\"] == .echoed)"
check_json "$work_dir/result-1.json" \
	"ctraffic: each association ~30 messages, RTTs measured, closed with SHUTDOWN" \
	'all(.associations[]; .sent >= 25 and .sent <= 31 and .rtt_ms.p50 > 0 and .rtt_ms.p99 >= .rtt_ms.p50
	 and .state == "closed" and .unexpected == 0)'
check_json "$work_dir/result-1.json" "ctraffic: both local and both server addresses in each association" \
	'all(.associations[]; (.local.addresses | sort) == ["192.168.2.221", "192.168.6.221"]
	 and (.remote.addresses | sort) == ["192.168.2.1", "192.168.6.1"] and .remote.port == 6000)'
check_json "$work_dir/result-1.json" "ctraffic: distinct ephemeral local ports" \
	'[.associations[].local.port] | (length == 2 and (unique | length) == 2 and all(.[]; . > 0))'
check_json "$stats_file" "stats file named with --stats-file: holds the final result at the end" \
	'.running == false and .totals.sent > 0'

# 2. A fixed local port: one association per local address set.
status=0
in_ns "$ns_client" "$SCTPT" ctraffic --stack usrsctp --addr "$servers" --laddr "$set_1;$set_2" \
	--clients 2 --rate 10 --duration 1.5 --lport-fixed 36412 --stats-file "$work_dir/stats-2.json" \
	>"$work_dir/result-2.json" 2>"$work_dir/ctraffic-2.log" || status=$?
[ "$status" = 0 ] || { fail "ctraffic --lport-fixed exited $status"; cat "$work_dir/ctraffic-2.log" >&2; }
check_json "$work_dir/result-2.json" \
	"ctraffic --lport-fixed 36412: both associations on port 36412, disjoint local sets, all echoed" \
	'.totals.came_up == 2 and .totals.lost == 0 and .totals.echoed == .totals.sent and .totals.sent > 0
	 and all(.associations[]; .local.port == 36412)
	 and ([.associations[].local.addresses | sort] | sort) ==
	     [["192.168.2.221", "192.168.6.221"], ["192.168.2.222", "192.168.6.222"]]'

# 3. Failover: path A (the primary both ways) cut once the association is up and sending, until
#    the client has reported it UNREACHABLE and had echoes over path B (by the snapshots, one a
#    second). Detection takes ~1.4 s (RTO 200+400+800 ms, 2 retransmissions); after the cut a
#    heartbeat on path A (every ~1-2.5 s to an unreachable address) makes it AVAILABLE again,
#    within the rest of the 9 s run (~5 s on an idle machine).
stats_3=$work_dir/stats-3.json
start_in_ns "$work_dir/ctraffic-3.json" "$ns_client" "$SCTPT" ctraffic --stack usrsctp \
	--addr "$servers" --laddr "$set_1" --clients 1 --rate 20 --duration 9 \
	--stats-file "$stats_3"
traffic_pid=$last_pid
tl_until 10 snapshot_shows "$stats_3" '.running == true and .associations[0].state == "up" and .associations[0].sent > 0' ||
	fail "failover: the association was not up and sending within 10 s"
cut_path_a
tl_until 10 snapshot_shows "$stats_3" '.running == true and any(.associations[0].path_events[]; .address == "192.168.2.1"
	and .state == "UNREACHABLE") and (.associations[0].echo_sources["192.168.6.1"] // 0) > 0' ||
	fail "failover: no UNREACHABLE path A and echo over path B within 10 s of the cut"
restore_path_a
status=0
wait "$traffic_pid" || status=$?
forget_pid "$traffic_pid"
sed -n '/^{/,/^}/p' "$work_dir/ctraffic-3.json" >"$work_dir/result-3.json"
[ "$status" = 0 ] || { fail "ctraffic (failover) exited $status"; cat "$work_dir/ctraffic-3.json" >&2; }
check_json "$work_dir/result-3.json" "failover: path A reported UNREACHABLE, nothing lost" \
	'.totals.failovers >= 1 and .totals.lost == 0 and .totals.echoed == .totals.sent
	 and any(.associations[0].path_events[]; .address == "192.168.2.1" and .state == "UNREACHABLE")'
check_json "$work_dir/result-3.json" "failover: echoes arrived over path B during the cut" \
	'.associations[0].echo_sources["192.168.6.1"] > 0'
check_json "$work_dir/result-3.json" "failover: path A AVAILABLE again after the cut" \
	'any(.associations[0].path_events[]; .address == "192.168.2.1" and .state == "AVAILABLE")'

# 3a. SIGUSR1 ends a run early as if its duration had elapsed: --duration 60 stopped after ~2 s
# of traffic exits 0, every message echoed, associations closed, "stopped" and not "interrupted".
# (Signalled only once a snapshot exists: ctraffic blocks SIGUSR1 before it writes one.)
stats_3a=$work_dir/stats-3a.json
start_in_ns "$work_dir/ctraffic-3a.json" "$ns_client" "$SCTPT" ctraffic --stack usrsctp \
	--addr "$servers" --laddr "$set_1" --clients 2 --rate 10 --duration 60 --stats-file "$stats_3a"
traffic_pid=$last_pid
if tl_until 20 snapshot_shows "$stats_3a" '.running == true and .totals.came_up == 2 and .totals.sent > 0'; then
	sleep 2
	kill -USR1 "$traffic_pid"
else
	fail "stop: the associations were not up and sending within 20 s"
	kill -TERM "$traffic_pid" 2>/dev/null || true
fi
status=0
wait "$traffic_pid" || status=$?
forget_pid "$traffic_pid"
sed -n '/^{/,/^}/p' "$work_dir/ctraffic-3a.json" >"$work_dir/result-3a.json"
[ "$status" = 0 ] || { fail "ctraffic stopped by SIGUSR1 exited $status"; cat "$work_dir/ctraffic-3a.json" >&2; }
check_json "$work_dir/result-3a.json" "stop: SIGUSR1 ended a 60 s run early, cleanly: every message echoed, not interrupted" \
	'.stopped == true and .interrupted == false and .running == false and .elapsed_s < 50
	 and .totals.sent > 0 and .totals.echoed == .totals.sent and .totals.lost == 0
	 and all(.associations[]; .state == "closed")'

# 4. Interactive client: stdin lines out, echoes on stdout.
status=0
printf 'hello\nsecond line\n' | in_ns "$ns_client" timeout 20 "$SCTPT" client --stack usrsctp \
	--addr "$servers" --laddr "$set_1" --port 6000 >"$work_dir/client.out" 2>"$work_dir/client.err" ||
	status=$?
expected_echoes=$(printf 'srv-%s: hello\nsrv-%s: second line' $$ $$)
if [ "$status" = 0 ] && [ "$(cat "$work_dir/client.out")" = "$expected_echoes" ]; then
	pass "client: both stdin lines echoed with the server's name, clean SHUTDOWN"
else
	fail "client: exit $status, output: $(cat "$work_dir/client.out")"
	cat "$work_dir/client.err" >&2
fi

# 4a. Counted client (what the namespace tests run): --count messages without stdin, --verbose
# notes per message, then ABORT instead of SHUTDOWN; the server sees the association lost.
lost_before=$(grep -c COMM_LOST "$work_dir/server.log" || true)
status=0
in_ns "$ns_client" timeout 20 "$SCTPT" client --stack usrsctp --addr "$servers" --laddr "$set_1" \
	--port 6000 --count 3 --interval 100 --verbose --abort >"$work_dir/counted.out" \
	2>"$work_dir/counted.err" || status=$?
expected_echoes=$(printf 'srv-%s: message 1\nsrv-%s: message 2\nsrv-%s: message 3' $$ $$ $$)
if [ "$status" = 0 ] && [ "$(cat "$work_dir/counted.out")" = "$expected_echoes" ] &&
	[ "$(grep -c '] echo via 192.168.[26].1: srv-[0-9]*: message [123]$' "$work_dir/counted.err")" = 3 ] &&
	[ "$(grep -c '] sent message [123]$' "$work_dir/counted.err")" = 3 ] &&
	grep -q '] aborting$' "$work_dir/counted.err" && ! grep -q SHUTDOWN_COMP "$work_dir/counted.err"; then
	pass "client --count 3 --verbose --abort: 3 messages echoed and noted, then ABORT"
else
	fail "client --count 3 --verbose --abort: exit $status, output: $(cat "$work_dir/counted.out")"
	cat "$work_dir/counted.err" >&2
fi
server_saw_abort() { [ "$(grep -c COMM_LOST "$work_dir/server.log" || true)" -gt "$lost_before" ]; }
tries=100
until server_saw_abort || [ $tries -eq 0 ]; do tries=$((tries - 1)); sleep 0.1; done
server_saw_abort || fail "the server did not report the ABORTed association lost (COMM_LOST)"

# 4b. ovl/sctp's histogram: 'stats init' with 8 buckets of 2 ms, then ctraffic --shm.
"$SCTPT" stats --shm "$shm" --buckets 8 --interval 2000 init || fail "stats --shm init failed"
start_in_ns "$work_dir/ctraffic-shm.json" "$ns_client" "$SCTPT" ctraffic --stack usrsctp --log 3 \
	--addr "$servers" --laddr "$set_1" --rate 20 --duration 2 --shm "$shm"
traffic_pid=$last_pid
shm_shows() { "$SCTPT" stats --shm "$shm" json >"$work_dir/shm.json" && jq -e "$1" "$work_dir/shm.json" >/dev/null; }
tl_until 10 shm_shows '.sent > 0 and .received > 0' ||
	fail "stats --shm: no sent and received counts while ctraffic runs: $(cat "$work_dir/shm.json")"
status=0
wait "$traffic_pid" || status=$?
forget_pid "$traffic_pid"
[ "$status" = 0 ] || { fail "ctraffic --shm exited $status"; cat "$work_dir/ctraffic-shm.json" >&2; }
"$SCTPT" stats --shm "$shm" json >"$work_dir/shm.json" || fail "stats --shm json failed"
echoed=$(sed -n '/^{/,/^}/p' "$work_dir/ctraffic-shm.json" | jq '.totals.echoed')
if jq -e --argjson echoed "${echoed:-0}" '.buckets == 8 and .interval_us == 2000 and .sent == $echoed
	and .received == $echoed and $echoed >= 30 and (.histogram | add) == .received
	and .max_rtt_us > 0' "$work_dir/shm.json" >/dev/null; then
	pass "ctraffic --shm: histogram of $echoed echoes, counts match the result"
else
	fail "ctraffic --shm: histogram $(cat "$work_dir/shm.json") vs $echoed echoed"
fi
if grep -q '^\[' "$work_dir/ctraffic-shm.json"; then
	fail "ctraffic --log 3 still printed notes: $(grep -m1 '^\[' "$work_dir/ctraffic-shm.json")"
fi
[ "$("$SCTPT" stats --shm "$shm" show | grep -c ' us  *[0-9]* |')" = 8 ] ||
	fail "stats --shm show: not 8 bucket lines: $("$SCTPT" stats --shm "$shm" show)"
status=0
in_ns "$ns_client" timeout 20 "$SCTPT" client --stack usrsctp --log 5 --addr "$servers" \
	--laddr "$set_1" --size 1400 </dev/null >"$work_dir/size.out" 2>"$work_dir/size.err" || status=$?
echo_bytes=$((1400 + ${#$} + 6)) # "srv-PID: " + 1400 bytes
if [ "$status" = 0 ] && grep -q "sent 1400 bytes" "$work_dir/size.err" &&
	grep -q "received $echo_bytes bytes" "$work_dir/size.err" && [ ! -s "$work_dir/size.out" ]; then
	pass "client --size 1400: one message, its echo of $echo_bytes bytes checked"
else
	fail "client --size 1400: exit $status: $(cat "$work_dir/size.err")"
fi

# 5. The kernel stack where the kernel has no SCTP, and usage errors.
status=0
in_ns "$ns_client" "$SCTPT" client --stack kernel --addr "$servers" --laddr "$set_1" \
	--connect-timeout 1000 </dev/null >/dev/null 2>"$work_dir/kernel.err" || status=$?
if grep -q "the kernel has no SCTP" "$work_dir/kernel.err"; then
	if [ "$status" = 1 ]; then
		pass "--stack kernel: exit 1, '$(head -1 "$work_dir/kernel.err")'"
	else
		fail "--stack kernel without kernel SCTP exited $status, not 1"
	fi
elif [ -d /proc/sys/net/sctp ]; then
	log "this kernel has SCTP: the missing-kernel-SCTP check does not apply"
else
	fail "--stack kernel: exit $status, unexpected message: $(cat "$work_dir/kernel.err")"
fi
status=0
"$SCTPT" ctraffic --addr 192.168.2.1 --laddr "$set_1" --clients 2 --lport-fixed 36412 \
	2>"$work_dir/usage.err" || status=$?
if [ "$status" = 2 ] && grep -q "lport-fixed" "$work_dir/usage.err"; then
	pass "usage error (fixed port, one address set for two clients): exit 2"
else
	fail "usage error exited $status: $(cat "$work_dir/usage.err")"
fi

kill "$server_pid"
status=0
wait "$server_pid" || status=$?
forget_pid "$server_pid"
[ "$status" = 0 ] || fail "server exited $status on SIGTERM"
grep -q "stopping: [0-9]* associations" "$work_dir/server.log" || fail "server did not report at exit"

log "took $((SECONDS - started)) s"
if [ "$failures" -ne 0 ]; then
	log "$failures check(s) failed"
	exit 1
fi
log "all checks passed"
