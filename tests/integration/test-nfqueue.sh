#!/bin/bash
# Integration test of the NFQUEUE I/O layer (lb/io/nfqueue.*) through its two
# tools, nfq_marker and nfq_floor (tests/bench/nfq-floor/).
#
#   sender ns --veth-- lb ns --veth l1-- sink ns (k1)   fwmark 0x101 -> table 101 -> l1
#                            --veth l2-- sink ns (k2)   fwmark 0x102 -> table 102 -> l2
#
# In the lb namespace iptables sets mark 0x100 and queues SCTP to queue 2;
# nfq_marker --modulo 2 --mask 0xff sets the low byte to (dport % 2) + 1, keeping
# 0x100 (read from NFQA_MARK). Only correctly marked packets have a route. The
# sink namespace counts arrivals per interface with iptables counters.
#
# Checks: marks route packets to the right sink; a second binder of the queue
# fails with a clear message; a packet longer than the copy range reports its
# wire length; SIGTERM ends the loop (no hang in recv; the time is printed); the
# queue is released on exit and nfq_floor (fixed mark) works on it.
#
# Usage: test-nfqueue.sh [help]   (root; SCTPLB_BUILD_DIR = the build directory)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
    sed -n '2,18p' "$0"
    exit 0
fi

# tl_until, the shared wait-for-condition helper (nothing else of it is used here).
# shellcheck source=../topology/test-common.sh
. "$(dirname "$0")/../topology/test-common.sh"
build_dir=${SCTPLB_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
python=/usr/bin/python3 # ~12 ms per start; a version-manager shim on PATH takes ~90 ms
[ -x "$python" ] || python=python3
tools=$build_dir/tests/bench/nfq-floor
marker=$tools/nfq_marker
floor=$tools/nfq_floor

skip() { echo "SKIP: $*"; exit 77; }  # ctest: SKIP_RETURN_CODE 77
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, iptables)"
command -v iptables >/dev/null || skip "iptables is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
[ -x "$marker" ] && [ -x "$floor" ] || skip "nfq_marker/nfq_floor not built in $tools (SCTPLB_BUILD_BENCHMARKS=OFF?)"

prefix=nfq$$
ns_s=${prefix}s
ns_l=${prefix}l
ns_k=${prefix}k
work=$(mktemp -d /tmp/test-nfqueue.XXXXXX)
pids=()
failures=0

cleanup() {
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for ns in "$ns_s" "$ns_l" "$ns_k"; do ip netns delete "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# --- topology -----------------------------------------------------------------
for ns in "$ns_s" "$ns_l" "$ns_k"; do ip netns add "$ns"; in_ns "$ns" ip link set lo up; done
ip link add s0 netns "$ns_s" type veth peer name l0 netns "$ns_l"
ip link add l1 netns "$ns_l" type veth peer name k1 netns "$ns_k"
ip link add l2 netns "$ns_l" type veth peer name k2 netns "$ns_k"
in_ns "$ns_s" ip addr add 10.201.0.1/24 dev s0
in_ns "$ns_s" ip link set s0 up
in_ns "$ns_s" ip route add default via 10.201.0.254
in_ns "$ns_l" ip addr add 10.201.0.254/24 dev l0
in_ns "$ns_l" ip addr add 10.201.1.254/24 dev l1
in_ns "$ns_l" ip addr add 10.201.2.254/24 dev l2
for dev in l0 l1 l2; do in_ns "$ns_l" ip link set "$dev" up; done
in_ns "$ns_k" ip addr add 10.201.1.1/24 dev k1
in_ns "$ns_k" ip addr add 10.201.2.1/24 dev k2
in_ns "$ns_k" ip link set k1 up
in_ns "$ns_k" ip link set k2 up
in_ns "$ns_l" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
# The VIP has no route in the main table: an unmarked packet goes nowhere.
vip=10.201.9.9
in_ns "$ns_l" ip route add default via 10.201.1.1 dev l1 table 101
in_ns "$ns_l" ip route add default via 10.201.2.1 dev l2 table 102
in_ns "$ns_l" ip rule add fwmark 0x101 table 101
in_ns "$ns_l" ip rule add fwmark 0x102 table 102
in_ns "$ns_l" iptables -t mangle -A PREROUTING -p sctp -j MARK --set-mark 0x100
in_ns "$ns_l" iptables -t mangle -A PREROUTING -p sctp -j NFQUEUE --queue-num 2
# Counters at the sink (raw PREROUTING sees every arrival before routing).
in_ns "$ns_k" iptables -t raw -A PREROUTING -i k1 -p sctp
in_ns "$ns_k" iptables -t raw -A PREROUTING -i k2 -p sctp
in_ns "$ns_k" iptables -t raw -A PREROUTING -i k1 -p sctp -m length --length 1000:65535

# packets arriving by sink rule, one line: "K1 K2 K1_LONG"
sink_counts() {
    in_ns "$ns_k" iptables -t raw -L PREROUTING -v -n -x | awk 'NR >= 3 && NR <= 5 { printf "%s%s", sep, $1; sep = " " }'
}
# sinks_reached K1 K2 K1_LONG: reads the counts into k1 k2 k1_long; true when each is reached
# (for tl_until: forwarding after the verdict is asynchronous).
sinks_reached() {
    read -r k1 k2 k1_long <<<"$(sink_counts)"
    [ "${k1:-0}" -ge "$1" ] && [ "${k2:-0}" -ge "$2" ] && [ "${k1_long:-0}" -ge "$3" ]
}

# Raw SCTP sender: python3 over a raw IP socket (protocol 132; the host kernel
# has no SCTP but raw sockets work). One DATA chunk per packet, CRC32c set.
cat >"$work/send.py" <<'EOF'
import socket, struct, sys
def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF
dst, dport, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
for i in range(count):
    data = bytes(size)
    chunk = struct.pack('!BBHIHHI', 0, 3, 16 + size, i + 1, 0, i & 0xffff, 0) + data
    chunk += bytes(-len(chunk) % 4)
    packet = struct.pack('!HHII', 5000, dport, 0x1234abcd, 0) + chunk
    packet = packet[:8] + struct.pack('<I', crc32c(packet)) + packet[12:]
    sock.sendto(packet, (dst, 0))
EOF
send() { in_ns "$ns_s" "$python" "$work/send.py" "$vip" "$@"; }

file_has() { grep -q -- "$2" "$1" 2>/dev/null; }
# Waits until FILE contains TEXT (at most 10 s).
wait_for() { tl_until 10 file_has "$1" "$2"; }

# Sends SIGNAL to PID and reports whether it exited by itself (the watchdog KILLs it after 10 s:
# a loop that ignores the signal, e.g. blocked in a recv restarted by SA_RESTART, never exits).
# The time it took is printed, not judged: a loaded machine may be slow to schedule it.
stop_by_itself() {
    local pid=$1 signal=$2 start end
    start=$(date +%s%N)
    kill "-$signal" "$pid"
    (sleep 10; kill -KILL "$pid" 2>/dev/null) &
    local watchdog=$!
    pids+=("$watchdog")
    local rc=0
    wait "$pid" || rc=$?
    end=$(date +%s%N)
    kill "$watchdog" 2>/dev/null || true
    elapsed_ms=$(((end - start) / 1000000))
    exit_code=$rc
    [ "$rc" -ne 137 ]
}

# --- 1. marker binds queue 2 ---------------------------------------------------
ip netns exec "$ns_l" "$marker" --queue 2 --copy-range 256 --modulo 2 --mask 0xff --log \
    >"$work/marker.out" 2>"$work/marker.err" &
marker_pid=$!
pids+=("$marker_pid")
if wait_for "$work/marker.out" "bound queue 2"; then
    pass "nfq_marker bound queue 2"
else
    fail "nfq_marker did not bind queue 2: $(cat "$work/marker.err")"
    exit 1
fi

# --- 2. a second binder fails clearly ------------------------------------------
rc=0
timeout 5 ip netns exec "$ns_l" "$floor" --queue 2 >"$work/second.out" 2>"$work/second.err" || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "queue 2 is already bound by another process" "$work/second.err"; then
    pass "second binder refused (exit $rc): $(cat "$work/second.err")"
else
    fail "second binder: exit $rc, stderr: $(cat "$work/second.err"), stdout: $(cat "$work/second.out")"
fi

# --- 3. marks route the packets ------------------------------------------------
send 1000 50 100   # dport 1000: mark 0x101 -> k1
send 1001 30 100   # dport 1001: mark 0x102 -> k2
send 1000 1 1200   # longer than the copy range (256), -> k1
tl_until 10 sinks_reached 51 30 1 || true # judged exactly below
if [ "$k1" = 51 ] && [ "$k2" = 30 ]; then
    pass "marked packets routed: 51 via mark 0x101, 30 via mark 0x102"
else
    fail "routing by mark: k1=$k1 (want 51) k2=$k2 (want 30)"
fi
if [ "$k1_long" = 1 ]; then
    pass "the long packet arrived whole (verdict does not cut it)"
else
    fail "long packet at the sink: $k1_long (want 1)"
fi
if grep -q "old_mark=0x100 mark=0x101" "$work/marker.out" && grep -q "old_mark=0x100 mark=0x102" "$work/marker.out"; then
    pass "current mark read from the packet, only masked bits replaced"
else
    fail "mark bits: $(grep -m3 packet "$work/marker.out")"
fi
long_line=$(grep -m1 "truncated" "$work/marker.out" || true)
payload=$(sed -n 's/.* payload=\([0-9]*\) .*/\1/p' <<<"$long_line")
wire=$(sed -n 's/.* wire=\([0-9]*\) .*/\1/p' <<<"$long_line")
if [ -n "$payload" ] && [ "$payload" = 256 ] && [ "$wire" -gt "$payload" ]; then
    pass "packet beyond the copy range: payload=$payload wire_length=$wire"
else
    fail "no truncated packet reported: '$long_line'"
fi

# --- 4. SIGTERM ends the loop ----------------------------------------------------
if stop_by_itself "$marker_pid" TERM; then
    pass "nfq_marker exited ${elapsed_ms} ms after SIGTERM (exit $exit_code)"
else
    fail "nfq_marker did not exit within 10 s of SIGTERM (killed, exit $exit_code)"
fi
if [ "$exit_code" = 0 ] && grep -q "nfq_marker: packets=81 " "$work/marker.out"; then
    pass "counters printed: $(grep 'nfq_marker: packets=' "$work/marker.out")"
else
    fail "final counters: exit $exit_code, $(grep 'nfq_marker: packets=' "$work/marker.out" || echo none)"
fi

# --- 5. the queue is released; nfq_floor with a fixed mark ------------------------
ip netns exec "$ns_l" "$floor" --queue 2 --mark 0x102 >"$work/floor.out" 2>"$work/floor.err" &
floor_pid=$!
pids+=("$floor_pid")
if wait_for "$work/floor.out" "bound queue 2"; then
    pass "queue 2 released on exit and bound again by nfq_floor"
    send 1000 20 64
    tl_until 10 sinks_reached 0 50 0 || true # judged exactly below
    k2_after=$k2
    if [ "$k2_after" = 50 ]; then
        pass "nfq_floor --mark 0x102 sent 20 packets to k2"
    else
        fail "nfq_floor fixed mark: k2=$k2_after (want 50)"
    fi
    if stop_by_itself "$floor_pid" INT && [ "$exit_code" = 0 ] &&
        grep -q "nfq_floor: packets=20 " "$work/floor.out"; then
        pass "nfq_floor exited ${elapsed_ms} ms after SIGINT: $(grep 'nfq_floor: packets=' "$work/floor.out")"
    else
        fail "nfq_floor stop: ${elapsed_ms} ms, exit $exit_code, $(cat "$work/floor.out" "$work/floor.err")"
    fi
else
    fail "nfq_floor could not bind queue 2 after the marker exited: $(cat "$work/floor.err")"
fi

if [ "$failures" -ne 0 ]; then
    echo "FAIL: $failures check(s) failed"
    exit 1
fi
echo "PASS: all NFQUEUE checks"
