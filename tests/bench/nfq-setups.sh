#!/usr/bin/env bash
# Association setups per second through the sctplb NFQUEUE path (one queue):
# sctp_setups plays the client side of many short associations (INIT, COOKIE
# ECHO, SHUTDOWN, SHUTDOWN COMPLETE: what a direct-server-return LB sees of a
# setup and teardown; the server's INIT ACK, COOKIE ACK and SHUTDOWN ACK go
# straight to the client and never reach the LB) towards the VIP through an LB
# namespace running 'sctplb lb --queue 2' with an empty table. Each
# association is created by its INIT, established by its COOKIE ECHO (matched
# by address and ports: the LB never saw Ts), closed by its SHUTDOWN COMPLETE.
# A setup counts when its SHUTDOWN COMPLETE reaches a server: the LB forwards
# it only for an association it knows.
# Reports, per trial: offered and completed setups/s, the LB process's CPU per
# setup and per packet given a verdict (/proc/PID/stat utime+stime; it includes
# the kernel's forwarding of each accepted packet, which runs in the verdict's
# system call), packets per receive batch, queue drops and the decider's verdicts.
# It reports; a timing never fails it (only a setup that cannot run does).
#
# Usage: nfq-setups.sh [options]        (root)
#   --quick          CI smoke: one saturation trial and one paced trial, short (< ~30 s)
#   --floor          after each repetition's LB trials, the same trials through nfq_floor
#                    --no-batch-verdict (accepts every packet with one mark, one verdict
#                    message per packet; no table): the kernel's share of a setup's cost,
#                    and the ratio LB / floor of CPU per setup, paired per repetition
#   --sender         after each repetition's trials, one more at full rate with the LB
#                    namespace dropping every packet at ingress (raw PREROUTING, before
#                    the queue): what the generator alone offers on its CPU, the ceiling
#                    of any setups/s figure this machine can show
#   --reps N         repetitions of the trial list (default 3)
#   --rates LIST     offered setups/s of the paced trials (default 20000,50000,100000;
#                    0 = as fast as the sender goes, always measured first)
#   --seconds S      seconds each trial starts associations (default 2)
#   --build DIR      build directory (default: SCTPLB_BUILD_DIR or <source>/build)
#   --sender-cpu C   CPU of the sender (default 0)
#   --lb-cpus LIST   CPUs of sctplb lb (taskset list, default 1)
#   --nice N         niceness of sender and LB (default -10; 0 = leave alone)
#   help             this text
#
# Topology (namespaces named setups<PID>{s,l,k}), nfq-bench-lib.sh as nfq-throughput.sh:
#   sender (64 client addresses) --veth--> lb (NOTRACK, NFQUEUE 2, fwmark 1/2 ->
#   table 5001/5002 -> sink k1/k2, unmarked -> blackhole) --veth l1/l2--> sink
#   (raw PREROUTING counts each chunk type and drops).
set -eu

reps=3
quick=0
with_floor=0
with_sender=0
rates=20000,50000,100000
seconds=2
sender_cpu=0
lb_cpus=1
niceness=-10
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${SCTPLB_BUILD_DIR:-$top/build}
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --floor) with_floor=1 ;;
        --sender) with_sender=1 ;;
        --reps) reps=$2; shift ;;
        --rates) rates=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --build) build=$2; shift ;;
        --sender-cpu) sender_cpu=$2; shift ;;
        --lb-cpus) lb_cpus=$2; shift ;;
        --nice) niceness=$2; shift ;;
        help | -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "nfq-setups: unknown option '$1' (try help)" >&2; exit 2 ;;
    esac
    shift
done
if [ $quick -eq 1 ]; then reps=1 rates=50000 seconds=1; fi
case "$reps" in '' | *[!0-9]* | 0) echo "nfq-setups: --reps wants a positive number" >&2; exit 2 ;; esac

sctplb=$build/lb/cli/sctplb
setups=$build/tests/bench/sctp-blast/sctp_setups
floor=$build/tests/bench/nfq-floor/nfq_floor
[ "$(id -u)" = 0 ] || { echo "nfq-setups: needs root (namespaces, iptables)" >&2; exit 1; }
tools=("$sctplb" "$setups")
[ $with_floor -eq 0 ] || tools+=("$floor")
for tool in "${tools[@]}"; do
    [ -x "$tool" ] || { echo "nfq-setups: $tool is missing: build sctplb sctp_setups nfq_floor" >&2; exit 1; }
done
command -v iptables >/dev/null || { echo "nfq-setups: iptables is missing" >&2; exit 1; }
clock_ticks=$(getconf CLK_TCK)
bench_name=nfq-setups
lb_kill_signal=TERM
# shellcheck source=tests/bench/nfq-bench-lib.sh
. "$(dirname "$0")/nfq-bench-lib.sh"
bench_pins "$sender_cpu" "$lb_cpus" "$niceness"

# ---- topology ------------------------------------------------------------------
bench_topology "setups$$" 10.212 64
in_ns "$ns_l" iptables -w -t mangle -A PREROUTING -d $vip/32 -p sctp -j NFQUEUE --queue-num 2
# Sink: one counting rule per chunk type the client sends, then drop.
chunk_types="INIT COOKIE_ECHO SHUTDOWN SHUTDOWN_COMPLETE"
for type in $chunk_types; do
    in_ns "$ns_k" iptables -w -t raw -A PREROUTING -p sctp -m sctp --chunk-types any "$type"
done
in_ns "$ns_k" iptables -w -t raw -A PREROUTING -p sctp -j DROP

# An empty table: closed entries linger 10 s (closed_linger), so 1 Mi entries hold
# 100k setups/s without evictions.
shm_made=1  # before init: a run stopped during init still removes the segment
"$sctplb" init --shm "$shm" --hash vtag --capacity 1048576 >"$work/init.out" 2>&1
"$sctplb" activate --shm "$shm" 1 2 >"$work/activate.out" 2>&1
# The process on the queue: sctplb lb (its table carries on across restarts), or nfq_floor.
start_queue_reader() {  # lb | floor
    config=$1
    if [ "$config" = lb ]; then
        bench_start_lb "$work/lb.out" "$sctplb" lb --shm "$shm" --queue 2 --no-fastpath
        bench_wait_for "$work/lb.out" "running:" 100 || { echo "nfq-setups: sctplb lb did not start: $(tail -n 3 "$work/lb.out")" >&2; exit 1; }
    else
        bench_start_lb "$work/floor.out" "$floor" --queue 2 --mark 1 --no-batch-verdict
        bench_wait_for "$work/floor.out" "bound queue" 100 || { echo "nfq-setups: nfq_floor did not start: $(tail -n 3 "$work/floor.out")" >&2; exit 1; }
    fi
}
start_queue_reader lb

# ---- measurement helpers -------------------------------------------------------
# packets per chunk type at the sink, in the order of $chunk_types
sink_counts() {
    in_ns "$ns_k" iptables -w -t raw -nvxL PREROUTING | awk 'NR > 2 && NR <= 6 { printf "%s ", $1 } END { print "" }'
}
# Waits (up to 10 s) until no packet waits in the queue and the sink's counts
# stopped moving: what the LB still had to decide counts for this trial.
drain() {
    local previous="" current waiting
    for _ in $(seq 100); do
        waiting=$(in_ns "$ns_l" cat /proc/net/netfilter/nfnetlink_queue | awk '{ w += $3 } END { print w + 0 }')
        current=$(sink_counts)
        [ "$waiting" != 0 ] || [ "$current" != "$previous" ] || return 0
        previous=$current
        sleep 0.1
    done
}
# the decider's reason counters that a setup passes through
reasons() {  # init-hash cookie-echo-matched established closed unknown-association table-full packets batches
    "$sctplb" stats --shm "$shm" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
r, e = s["reasons"], s["events"]
print(r["init-hash"], r["cookie-echo-matched"], r["established"], e["closed"], r["unknown-association"], r["table-full"],
      s["packets"], s["batches"])' \
        2>/dev/null || echo "0 0 0 0 0 0 0 0"
}

next_association=0
echo "nfq-setups: $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  sender on CPU $sender_cpu, sctplb lb --queue 2 on CPU(s) $lb_cpus, nice $niceness; 64 client addresses;" \
    "$reps repetition(s) of rates 0,$rates setups/s, ${seconds}s each"
echo "  (a setup = INIT, COOKIE ECHO, SHUTDOWN, SHUTDOWN COMPLETE through the LB; 'done' = SHUTDOWN COMPLETEs delivered)"
: >"$work/cells"
trial() {  # rate
    local rate=$1 out before after drops_before drops_after ticks_before ticks_after t0 t1 r_before r_after
    before=$(sink_counts) drops_before=$(queue_drops) ticks_before=$(lb_ticks) r_before=$(reasons)
    t0=$(now_ns)
    out=$(in_ns "$ns_s" "${pin_sender[@]}" "$setups" --dst $vip --src "$clients" --first "$next_association" \
        --rate "$rate" --duration "$seconds")
    t1=$(now_ns)
    ticks_after=$(lb_ticks)
    drain
    after=$(sink_counts) drops_after=$(queue_drops) r_after=$(reasons)
    next_association=$(echo "$out" | sed -n 's/.*next=\([0-9]*\).*/\1/p')
    local started sender_s sender_cpu
    started=$(echo "$out" | sed -n 's/.*associations=\([0-9]*\).*/\1/p')
    sender_s=$(echo "$out" | sed -n 's/.* seconds=\([0-9.]*\).*/\1/p')
    sender_cpu=$(echo "$out" | sed -n 's/.*cpu=\([0-9.]*\)%.*/\1/p')
    set -- $before $after
    local d_init=$(($5 - $1)) d_cookie=$(($6 - $2)) d_shutdown=$(($7 - $3)) d_done=$(($8 - $4))
    set -- $drops_before $drops_after
    local qdrop=$(($3 - $1)) udrop=$(($4 - $2))
    set -- $r_before $r_after
    local wall lb_cpu us_per_setup
    wall=$(calc "($t1 - $t0) / 1e9")
    lb_cpu=$(calc "100 * ($ticks_after - $ticks_before) / $clock_ticks / $wall")
    us_per_setup=$(calc "$d_done > 0 ? 1e6 * ($ticks_after - $ticks_before) / $clock_ticks / $d_done : 0")
    # packets per receive batch: near 1, the system calls and wake-ups of each
    # batch dominate; tens, the per-packet work (the kernel's re-injection of
    # each accepted packet runs in the LB's context and counts in its CPU)
    local per_batch us_per_packet
    per_batch=-  # nfq_floor keeps no shared counters
    [ "$config" != lb ] || per_batch=$(calc "${16} > ${8} ? (${15} - ${7}) / (${16} - ${8}) : 0")
    # Per packet that got a verdict (delivered to the sink, or dropped as unknown
    # by the LB): when the queue overflows, a lost INIT leaves its association's
    # later packets unknown, so per completed setup overstates the LB's cost.
    us_per_packet=$(calc "($d_init + $d_cookie + $d_shutdown + $d_done + ${13} - $5) > 0 ? 1e6 * ($ticks_after - $ticks_before) / $clock_ticks / ($d_init + $d_cookie + $d_shutdown + $d_done + ${13} - $5) : 0")
    printf '  %-5s rate %-7s offered %7.0f/s done %7.0f/s (%s of %s) | sink INIT %s COOKIE_ECHO %s SHUTDOWN %s | LB %3.0f%% of a CPU, %.2f us/setup, %.2f us/packet, %.4s packets/batch | sender %s%% | nfq drops %s/%s | LB: init-hash %s cookie-echo-matched %s closed %s unknown %s table-full %s\n' \
        "$config" "$rate" "$(calc "$started / $sender_s")" "$(calc "$d_done / $sender_s")" "$d_done" "$started" \
        "$d_init" "$d_cookie" "$d_shutdown" "$lb_cpu" "$us_per_setup" "$us_per_packet" "$per_batch" "$sender_cpu" "$qdrop" "$udrop" \
        $((${9} - $1)) $((${10} - $2)) $((${12} - $4)) $((${13} - $5)) $((${14} - $6))
    echo "config=$config rep=$rep rate=$rate offered=$(calc "$started / $sender_s") sender_cpu=$sender_cpu done=$(calc "$d_done / $sender_s") complete=$(calc "$started > 0 ? $d_done / $started : 0") us=$us_per_setup usp=$us_per_packet" >>"$work/cells"
}
started_at=$(date +%s)
IFS=, read -r -a rate_list <<<"$rates"
for rep in $(seq "$reps"); do
    [ "$config" = lb ] || { bench_stop_lb TERM; start_queue_reader lb; }
    trial 0
    for rate in "${rate_list[@]}"; do trial "$rate"; done
    if [ $with_floor -eq 1 ]; then
        bench_stop_lb TERM
        start_queue_reader floor
        trial 0
        for rate in "${rate_list[@]}"; do trial "$rate"; done
    fi
    if [ $with_sender -eq 1 ]; then
        # The queue reader stays up (idle); nothing reaches it.
        in_ns "$ns_l" iptables -w -t raw -I PREROUTING 1 -d $vip/32 -p sctp -j DROP
        saved_config=$config config=sender
        trial 0
        config=$saved_config
        in_ns "$ns_l" iptables -w -t raw -D PREROUTING -d $vip/32 -p sctp -j DROP
    fi
done
echo
echo "Medians over $reps repetition(s) (complete = SHUTDOWN COMPLETEs delivered / associations started):"
configs=lb
[ $with_floor -eq 0 ] || configs="lb floor"
for config in $configs; do
    for rate in 0 ${rates//,/ }; do
        awk -v c="$config" -v r="$rate" '{ for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] } if (v["config"] == c && v["rate"] == r) print v["done"], v["complete"], v["us"], v["usp"] }' "$work/cells" |
            sort -g | awk -v c="$config" -v r="$rate" '{ a[NR] = $0 } END { if (NR) { split(a[int((NR + 1) / 2)], m, " "); printf "  %-5s rate %-7s done %7.0f setups/s, complete %.4f, %.2f us/setup, %.2f us/packet of the queue reader'"'"'s CPU\n", c, r, m[1], m[2], m[3], m[4] } }'
    done
done
if [ $with_sender -eq 1 ]; then
    awk '{ for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] } if (v["config"] == "sender") print v["offered"], v["sender_cpu"] }' "$work/cells" |
        sort -g | awk '{ a[NR] = $0 } END { if (NR) { split(a[int((NR + 1) / 2)], m, " "); printf "  sender alone (the LB drops at ingress): offers %.0f setups/s (%.0f packets/s through an LB) with %s%% of its CPU\n", m[1], 4 * m[1], m[2] } }'
fi
if [ $with_floor -eq 1 ]; then
    echo "LB / floor, CPU per setup and per packet (median over repetitions of the ratio within one repetition):"
    for rate in 0 ${rates//,/ }; do
        printf '  rate %-7s' "$rate"
        for field in us usp; do
            awk -v r="$rate" -v f="$field" '{ for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] } if (v["rate"] == r) x[v["config"], v["rep"]] = v[f] }
                END { for (k in x) { split(k, ck, SUBSEP); if (ck[1] == "lb" && x["floor", ck[2]] > 0) print x[k] / x["floor", ck[2]] } }' "$work/cells" |
                sort -g | awk -v f="$field" '{ a[NR] = $1 } END { if (NR) printf " %s %.2f", (f == "us" ? "per setup" : "per packet"), a[int((NR + 1) / 2)] }'
        done
        echo
    done
fi
echo "nfq-setups: $(($(date +%s) - started_at)) s, load now $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
