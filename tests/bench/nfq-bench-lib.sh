# shellcheck shell=bash
# Shared by the NFQUEUE benchmarks (nfq-throughput.sh, nfq-setups.sh), sourced:
# the sender --veth--> lb --veth l1/l2--> sink namespace topology with its DSR
# routing, the cleanup trap, the background LB process and the counters both
# read. Each script adds its own sink rules and LB-namespace queue rules.
# Expects: bench_name (for the work directory), sctplb (the binary),
# lb_kill_signal (how cleanup stops the LB).

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
mac() { in_ns "$1" cat "/sys/class/net/$2/address"; }
# Floating-point arithmetic; the parentheses keep awk from reading ">" as a redirection.
calc() { awk "BEGIN { printf \"%.6g\", ($1) }"; }
now_ns() { date +%s%N; }

# bench_pins SENDER_CPU LB_CPUS NICENESS: the pin_sender and pin_lb command prefixes
# (no taskset on a single CPU).
bench_pins() {
    pin_sender=(nice -n "$3" taskset -c "$1")
    pin_lb=(nice -n "$3" taskset -c "$2")
    if [ "$(nproc)" -lt 2 ]; then pin_sender=(nice -n "$3"); pin_lb=(nice -n "$3"); fi
}

# bench_topology PREFIX NET CLIENTS: namespaces PREFIX{s,l,k}, addresses NET.0.x;
# sets ns_s ns_l ns_k shm vip clients (CLIENTS sender addresses from NET.0.100,
# comma-separated), net and work (a fresh directory), installs the cleanup trap.
bench_topology() {
    local prefix=$1 count=$3 i
    net=$2
    ns_s=${prefix}s ns_l=${prefix}l ns_k=${prefix}k
    shm=$prefix
    vip=$net.9.9
    work=$(mktemp -d "/tmp/${bench_name}.XXXXXX")
    shm_made=0
    lb_pid=""  # the one background process we run at a time (the LB, or nfq_floor)
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM

    for ns in "$ns_s" "$ns_l" "$ns_k"; do ip netns add "$ns"; in_ns "$ns" ip link set lo up; done
    ip link add s0 netns "$ns_s" type veth peer name l0 netns "$ns_l"
    ip link add l1 netns "$ns_l" type veth peer name k1 netns "$ns_k"
    ip link add l2 netns "$ns_l" type veth peer name k2 netns "$ns_k"
    in_ns "$ns_s" ip addr add "$net.0.1/24" dev s0
    clients=""
    for i in $(seq 100 $((99 + count))); do
        in_ns "$ns_s" ip addr add "$net.0.$i/24" dev s0
        clients="$clients${clients:+,}$net.0.$i"
    done
    in_ns "$ns_s" ip link set s0 up
    in_ns "$ns_s" ip route add default via "$net.0.254"
    in_ns "$ns_l" ip addr add "$net.0.254/24" dev l0
    in_ns "$ns_l" ip addr add "$net.1.254/24" dev l1
    in_ns "$ns_l" ip addr add "$net.2.254/24" dev l2
    for dev in l0 l1 l2; do in_ns "$ns_l" ip link set "$dev" up; done
    in_ns "$ns_k" ip addr add "$net.1.1/24" dev k1
    in_ns "$ns_k" ip addr add "$net.2.1/24" dev k2
    in_ns "$ns_k" ip link set k1 up
    in_ns "$ns_k" ip link set k2 up
    in_ns "$ns_l" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    # The same routing a DSR LB gets from 'sctplb rules': NOTRACK, a table per target
    # holding only the VIP, fwmark rules, and a blackhole for unmarked VIP packets.
    in_ns "$ns_l" iptables -w -t raw -A PREROUTING -d "$vip/32" -p sctp -j NOTRACK
    in_ns "$ns_l" ip route add "$vip/32" via "$net.1.1" table 5001
    in_ns "$ns_l" ip route add "$vip/32" via "$net.2.1" table 5002
    in_ns "$ns_l" ip route add blackhole "$vip/32" table 5000
    in_ns "$ns_l" ip rule add pref 10000 fwmark 0x1 table 5001
    in_ns "$ns_l" ip rule add pref 10000 fwmark 0x2 table 5002
    in_ns "$ns_l" ip rule add pref 10001 to "$vip/32" table 5000
    # Permanent neighbours: no ARP resolution inside a trial (and no ping needed).
    in_ns "$ns_s" ip neigh replace "$net.0.254" lladdr "$(mac "$ns_l" l0)" dev s0 nud permanent
    in_ns "$ns_l" ip neigh replace "$net.1.1" lladdr "$(mac "$ns_k" k1)" dev l1 nud permanent
    in_ns "$ns_l" ip neigh replace "$net.2.1" lladdr "$(mac "$ns_k" k2)" dev l2 nud permanent
}

# bench_stop_lb SIGNAL: stops the background process, if one runs, and reaps it.
bench_stop_lb() {
    if [ -n "$lb_pid" ]; then
        kill "-$1" "$lb_pid" 2>/dev/null || true
        wait "$lb_pid" 2>/dev/null || true
        lb_pid=""
    fi
}

bench_cleanup() {
    bench_stop_lb "$lb_kill_signal"
    if [ "$shm_made" -eq 1 ]; then "$sctplb" delete --shm "$shm" >/dev/null 2>&1 || true; fi
    for ns in "$ns_s" "$ns_l" "$ns_k"; do ip netns delete "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}

# bench_wait_for FILE TEXT [TRIES]: until FILE holds TEXT, TRIES x 0.1 s (default 50).
bench_wait_for() {
    local i
    for i in $(seq "${3:-50}"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# bench_start_lb OUT COMMAND...: COMMAND in the LB namespace, pinned, in the
# background, output to OUT; lb_pid is its PID.
bench_start_lb() {
    local out=$1; shift
    # ip netns exec, not the in_ns function: $! must be the tool's own PID.
    ip netns exec "$ns_l" "${pin_lb[@]}" "$@" >"$out" 2>&1 &
    lb_pid=$!
}

# "queue_dropped user_dropped" summed over our queues (the file is per namespace).
queue_drops() {
    in_ns "$ns_l" cat /proc/net/netfilter/nfnetlink_queue | awk '{ q += $6; u += $7 } END { print q + 0, u + 0 }'
}

# user+system clock ticks of the LB process (all its threads), 0 when none runs
lb_ticks() {
    if [ -n "$lb_pid" ] && [ -r "/proc/$lb_pid/stat" ]; then
        sed 's/.*) //' "/proc/$lb_pid/stat" | awk '{ print $12 + $13 }'
    else
        echo 0
    fi
}
