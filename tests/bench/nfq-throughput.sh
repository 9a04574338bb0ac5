#!/usr/bin/env bash
# NFQUEUE throughput benchmark: lossless packets/s of 64-byte SCTP DATA packets
# of many associations through a load-balancer namespace, and what each packet
# costs the machine, for
#   sender   the LB namespace drops the packets at its first hook (raw PREROUTING
#            DROP): the sender's own cost, subtracted from the others' (LB share)
#   kernel   kernel-only fwmark routing (iptables -t mangle -j MARK): no user space
#   floor    nfq_floor, the minimal NFQUEUE accept loop (tests/bench/nfq-floor),
#            one fixed mark, so a batch of 64 is answered by ONE batch verdict
#   floor-pv nfq_floor --no-batch-verdict: one verdict message per packet, all in
#            one sendmsg: what sctplb sends when its marks differ (equal batching)
#   lb-1q    sctplb lb --queue 2          (iptables --queue-num 2)
#   lb-2q    sctplb lb --queue 2:3        (iptables --queue-balance 2:3)
#   lb-fp    sctplb lb --queue 2 with the kernel fast path: 'sctplb rules --fastpath-only'
#            makes the nft table, the daemon fills its map with the imported
#            associations, the NFQUEUE rule queues only unmarked packets
#   nft-floor the least an nftables map fast path can be, no daemon: lb-fp's NFQUEUE
#            rule (mark match) plus one base chain (its own inet table, prerouting
#            -160) with one rule 'meta mark set ip saddr . sctp sport . sctp dport
#            . sctp vtag map @m', @m holding the keys lb-fp's map holds (values =
#            the fwmarks): what any nftables table costs at least
# interleaved in one run, median of the repetitions, with the ratios
# sctplb/floor, sctplb/floor-pv, sctplb/kernel and lb-fp/kernel, lb-fp/lb-1q, lb-fp/nft-floor,
# nft-floor/kernel. It reports; a timing never fails it (only a
# setup that cannot run does).
#
# Cost: with veth every rule of the LB namespace runs in the softirq of whoever
# sends (the sender's CPU; after an NFQUEUE verdict, the LB process's CPU), so
# rates alone mix the sender's cost with the LB's. Each cell therefore also
# reports the whole machine's busy CPU time (/proc/stat, all CPUs: user + nice +
# system + irq + softirq; steal and idle excluded) per delivered packet, once at
# a fixed offered rate every config sustains (--cost-rate) and once at
# saturation. LB share = a config's cost - the sender config's cost in the same
# repetition. /proc/stat counts every process of the machine: other work adds
# to every cell alike when it is steady (it cancels in the LB share) and is
# noise when it is not; compare the paired ratios, and the load printed.
# When other work keeps the machine busy that figure means nothing (every
# jiffy is busy), so each cell also reports an "own" cost: the CPU time of the
# sender, the LB process and the ksoftirqd threads (the kernel charges softirq
# work to the task it interrupts, so forwarding done in our processes' context
# is in their time), per delivered packet. It misses softirq work that lands
# on other processes; it is the figure to read on a loaded machine.
#
# Usage: nfq-throughput.sh [options]        (root)
#   --quick            CI smoke: 1 repetition, short trials, configs sender,kernel,floor,lb-1q,lb-fp,nft-floor
#                      unless --configs is given (< ~90 s)
#   --reps N           repetitions (default 5)
#   --build DIR        build directory (default: SCTPLB_BUILD_DIR or <source>/build)
#   --associations N   associations the sender cycles over (default 1000)
#   --configs LIST     subset/order, e.g. floor,lb-1q (default sender,kernel,floor,floor-pv,lb-1q,lb-2q,lb-fp,nft-floor)
#   --cost-rate R      offered packets/s of the cost trial (default 100000; 0: no cost trial)
#   --sender-cpu C     CPU of the sender (default 0)
#   --lb-cpus LIST     CPUs of nfq_floor / sctplb lb (taskset list, default 1)
#   --nice N           niceness of the sender and the LB process (default -10: on a
#                      shared machine they then lose less of their CPU to other work;
#                      0 = leave the priority alone)
#   --results FILE     also write one line per measured cell (key=value)
#   --verbose          print every trial
#   help               this text
#
# Topology (namespaces named tput<PID>{s,l,k}, built by nfq-bench-lib.sh):
#   sender (sctp_blast, 16 client addresses = 8 two-path clients)
#     --veth--> lb (NOTRACK, mangle PREROUTING rule of the config, fwmark 1/2 ->
#               table 5001/5002 -> sink k1/k2, unmarked -> blackhole)
#     --veth l1/l2--> sink (raw PREROUTING counts and drops)
# Lossless rate: one trial at the sender's full rate gives the saturated
# delivery D; then a short bisection of the offered rate in [0, min(offered,
# 1.1 D)] finds the highest rate with >= 99.9 % delivered. When the full rate
# is already lossless the sender was the limit and the figure is a lower bound.
set -eu

# ---- options -----------------------------------------------------------------
reps=5
quick=0
verbose=0
associations=1000
configs=""
sender_cpu=0
lb_cpus=1
niceness=-10
cost_rate=100000
results_file=""
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${SCTPLB_BUILD_DIR:-$top/build}
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; reps=1 ;;
        --reps) reps=$2; shift ;;
        --build) build=$2; shift ;;
        --associations) associations=$2; shift ;;
        --configs) configs=$2; shift ;;
        --sender-cpu) sender_cpu=$2; shift ;;
        --lb-cpus) lb_cpus=$2; shift ;;
        --nice) niceness=$2; shift ;;
        --cost-rate) cost_rate=$2; shift ;;
        --results) results_file=$2; shift ;;
        --verbose) verbose=1 ;;
        help | -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "nfq-throughput: unknown option '$1' (try help)" >&2; exit 2 ;;
    esac
    shift
done
case "$reps" in '' | *[!0-9]* | 0) echo "nfq-throughput: --reps wants a positive number" >&2; exit 2 ;; esac
case "$cost_rate" in '' | *[!0-9]*) echo "nfq-throughput: --cost-rate wants packets/s (0: none)" >&2; exit 2 ;; esac
if [ -z "$configs" ]; then
    if [ $quick -eq 1 ]; then configs=sender,kernel,floor,lb-1q,lb-fp,nft-floor; else configs=sender,kernel,floor,floor-pv,lb-1q,lb-2q,lb-fp,nft-floor; fi
fi

if [ $quick -eq 1 ]; then
    saturation_seconds=1.0 trial_seconds=0.6 search_steps=3 cost_seconds=1.0
else
    saturation_seconds=2.0 trial_seconds=1.2 search_steps=5 cost_seconds=3.0
fi
lossless_fraction=0.999   # delivered/sent for a trial to count as lossless

sctplb=$build/lb/cli/sctplb
floor=$build/tests/bench/nfq-floor/nfq_floor
blast=$build/tests/bench/sctp-blast/sctp_blast
[ "$(id -u)" = 0 ] || { echo "nfq-throughput: needs root (namespaces, iptables)" >&2; exit 1; }
for tool in "$sctplb" "$floor" "$blast"; do
    [ -x "$tool" ] || { echo "nfq-throughput: $tool is missing: build sctplb nfq_floor sctp_blast" >&2; exit 1; }
done
command -v iptables >/dev/null || { echo "nfq-throughput: iptables is missing" >&2; exit 1; }
cpus=$(nproc)
clock_ticks=$(getconf CLK_TCK)
bench_name=nfq-throughput
lb_kill_signal=KILL
# shellcheck source=tests/bench/nfq-bench-lib.sh
. "$(dirname "$0")/nfq-bench-lib.sh"
bench_pins "$sender_cpu" "$lb_cpus" "$niceness"

# ---- topology ------------------------------------------------------------------
bench_topology "tput$$" 10.211 16
# Sink: count and drop at the first hook (no VIP there: no ICMP back).
in_ns "$ns_k" iptables -w -t raw -A PREROUTING -i k1 -p sctp -j DROP
in_ns "$ns_k" iptables -w -t raw -A PREROUTING -i k2 -p sctp -j DROP

blast_args=(--dst $vip --src "$clients" --paths 2 --associations "$associations" --dport 36412 --size 64)
# The associations the sender cycles over, targets 1 and 2 round robin: what
# sctplb imports (lb-*) and what nft-floor's map holds.
"$blast" "${blast_args[@]}" --fwmarks 1,2 --export-associations "$work/associations.json" >/dev/null

# ---- sctplb shared memory: vtag mode with imported associations, else ports mode ----
lb_mode="unavailable"
if "$sctplb" init --help >/dev/null 2>&1; then
    if "$sctplb" assoc --help >/dev/null 2>&1 &&
        "$sctplb" init --shm "$shm" --hash vtag >"$work/init.out" 2>&1; then
        shm_made=1
        "$sctplb" activate --shm "$shm" 1 2 >"$work/activate.out" 2>&1
        if "$sctplb" assoc --shm "$shm" --import "$work/associations.json" >"$work/import.out" 2>&1; then
            lb_mode="vtag, $associations associations imported ($(cat "$work/import.out"))"
        else
            echo "nfq-throughput: import failed ($(cat "$work/import.out")); using ports mode" >&2
            "$sctplb" delete --shm "$shm" >/dev/null 2>&1 || true
            shm_made=0
        fi
    fi
    if [ $shm_made -eq 0 ]; then
        "$sctplb" init --shm "$shm" --hash ports >"$work/init.out" 2>&1
        shm_made=1
        "$sctplb" activate --shm "$shm" 1 2 >"$work/activate.out" 2>&1
        lb_mode="ports (associations pinned on first sight)"
    fi
fi

# ---- measurement helpers -------------------------------------------------------
counted_at=sink  # sink: delivered through the LB; lb: dropped at the LB's door (config sender)
sink_total() {
    if [ "$counted_at" = lb ]; then
        in_ns "$ns_l" iptables -w -t raw -nvxL PREROUTING | awk 'NR > 2 && $3 == "DROP" { sum += $1 } END { print sum + 0 }'
    else
        in_ns "$ns_k" iptables -w -t raw -nvxL PREROUTING | awk 'NR > 2 { sum += $1 } END { print sum + 0 }'
    fi
}
# "queue:id_sequence ..." per bound queue: how packets spread over the queues.
queue_sequences() {
    in_ns "$ns_l" cat /proc/net/netfilter/nfnetlink_queue | awk '{ printf "%s%s:%s", sep, $1, $8; sep = " " }'
}
# busy jiffies and total jiffies of one CPU
cpu_jiffies() {
    awk -v cpu="cpu$1" '$1 == cpu { busy = $2 + $3 + $4 + $7 + $8; total = busy + $5 + $6; print busy, total }' /proc/stat
}
# busy and total jiffies of the whole machine (the "cpu" line sums all CPUs):
# user + nice + system + irq + softirq; steal (another guest's) is left out.
machine_jiffies() {
    awk '$1 == "cpu" { busy = $2 + $3 + $4 + $7 + $8; print busy, busy + $5 + $6 }' /proc/stat
}
# user+system clock ticks of the ksoftirqd threads, summed
ksoftirqd_ticks() {
    local pid sum=0
    for pid in $ksoftirqd_pids; do
        [ -r "/proc/$pid/stat" ] && sum=$((sum + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
    done
    echo $sum
}
ksoftirqd_pids=$(ps -eo pid=,comm= | awk '$2 ~ /^ksoftirqd\// { print $1 }' | tr '\n' ' ')

# One trial: offered RATE (0 = as fast as the sender goes) for SECONDS.
# Sets: t_sent t_delivered t_offered_pps t_delivered_pps t_loss (fraction) t_qdrop t_udrop,
# t_sender_cpu (% of one CPU, from sctp_blast), t_lb_cpu (% of one CPU, the LB process),
# t_machine_us (whole-machine busy CPU microseconds per delivered packet, the
# drain included) and t_machine_busy (% of all CPUs).
trial() {
    local rate=$1 seconds=$2 before after drops_before drops_after out ticks_before ticks_after t0 t1
    local machine_before machine_after soft_before soft_after
    before=$(sink_total)
    drops_before=$(queue_drops)
    soft_before=$(ksoftirqd_ticks)
    ticks_before=$(lb_ticks)
    machine_before=$(machine_jiffies)
    t0=$(now_ns)
    out=$(in_ns "$ns_s" "${pin_sender[@]}" "$blast" "${blast_args[@]}" --pps "$rate" --duration "$seconds")
    t1=$(now_ns)
    ticks_after=$(lb_ticks)
    t_lb_cpu=$(calc "100 * ($ticks_after - $ticks_before) / $clock_ticks / (($t1 - $t0) / 1e9)")
    t_sender_cpu=$(echo "$out" | sed -n 's/.*cpu=\([0-9.]*\)%.*/\1/p')
    sleep 0.15  # let the queue drain into the sink
    machine_after=$(machine_jiffies)
    soft_after=$(ksoftirqd_ticks)
    local lb_ticks_drained
    lb_ticks_drained=$(lb_ticks)
    after=$(sink_total)
    drops_after=$(queue_drops)
    t_sent=$(echo "$out" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
    local elapsed
    elapsed=$(echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
    t_delivered=$((after - before))
    t_offered_pps=$(calc "$t_sent / $elapsed")
    t_delivered_pps=$(calc "$t_delivered / $elapsed")
    t_loss=$(calc "$t_sent > 0 ? 1 - $t_delivered / $t_sent : 1")
    set -- $machine_before $machine_after
    t_machine_us=$(calc "$t_delivered > 0 ? ($3 - $1) / $clock_ticks / $t_delivered * 1e6 : 0")
    t_machine_busy=$(calc "($4 - $2) > 0 ? 100 * ($3 - $1) / ($4 - $2) : 0")
    t_own_us=$(calc "$t_delivered > 0 ? ($t_sender_cpu / 100 * $elapsed + ($lb_ticks_drained - $ticks_before + $soft_after - $soft_before) / $clock_ticks) / $t_delivered * 1e6 : 0")
    set -- $drops_before $drops_after
    t_qdrop=$(($3 - $1))
    t_udrop=$(($4 - $2))
    if [ $verbose -eq 1 ]; then
        printf '    trial rate=%-8s offered=%8.0f delivered=%8.0f pps loss=%.4f%% qdrop=%s udrop=%s cpu sender %s%% lb %.0f%% machine %.0f%% %.2f us/pkt own %.2f us/pkt\n' \
            "$rate" "$t_offered_pps" "$t_delivered_pps" "$(calc "$t_loss * 100")" "$t_qdrop" "$t_udrop" \
            "$t_sender_cpu" "$t_lb_cpu" "$t_machine_busy" "$t_machine_us" "$t_own_us"
    fi
}
passes() { [ "$(calc "$t_loss <= 1 - $lossless_fraction")" = 1 ]; }

start_lb() {  # config
    local config=$1
    case "$config" in
        sender)
            # Before NOTRACK: nothing of the LB's path runs, only the veth receive.
            in_ns "$ns_l" iptables -w -t raw -I PREROUTING 1 -d $vip/32 -p sctp -j DROP
            counted_at=lb
            return 0 ;;
        kernel)
            in_ns "$ns_l" iptables -w -t mangle -A PREROUTING -d $vip/32 -p sctp -j MARK --set-mark 1
            return 0 ;;
        floor | floor-pv)
            local verdicts=()
            [ "$config" = floor ] || verdicts=(--no-batch-verdict)
            in_ns "$ns_l" iptables -w -t mangle -A PREROUTING -d $vip/32 -p sctp -j NFQUEUE --queue-num 2
            bench_start_lb "$work/lb.out" "$floor" --queue 2 --mark 1 "${verdicts[@]}"
            bench_wait_for "$work/lb.out" "bound queue" ;;
        nft-floor)
            in_ns "$ns_l" nft -f "$work/nft-floor.nft" || return 1
            lb_fallback_rule
            return 0 ;;
        lb-1q | lb-2q)
            local queue=2
            if [ "$config" = lb-2q ]; then
                queue=2:3
                in_ns "$ns_l" iptables -w -t mangle -A PREROUTING -d $vip/32 -p sctp -j NFQUEUE --queue-balance 2:3
            else
                in_ns "$ns_l" iptables -w -t mangle -A PREROUTING -d $vip/32 -p sctp -j NFQUEUE --queue-num 2
            fi
            bench_start_lb "$work/lb.out" "$sctplb" lb --shm "$shm" --queue "$queue" --no-fastpath
            bench_wait_for "$work/lb.out" "running:" ;;
        lb-fp)
            fast_path_rules --apply >"$work/rules.out" 2>&1 || { cat "$work/rules.out" >&2; return 1; }
            lb_fallback_rule
            bench_start_lb "$work/lb.out" "$sctplb" lb --shm "$shm" --queue 2 --fastpath
            bench_wait_for "$work/lb.out" "running:" || return 1
            # Every imported association (2 client addresses each) in the kernel's map.
            local i
            for i in $(seq 100); do
                [ "$(fast_path_elements)" -lt $((2 * associations)) ] || return 0
                sleep 0.1
            done
            echo "  lb-fp: only $(fast_path_elements) of $((2 * associations)) elements after 10 s" >&2
            return 1 ;;
    esac
}

# lb-fp's NFQUEUE fallback: only packets the fast path left unmarked go to the daemon.
lb_fallback_rule() {
    in_ns "$ns_l" iptables -w -t mangle -A PREROUTING -d $vip/32 -p sctp -m mark --mark 0/0xffffffff \
        -j NFQUEUE --queue-num 2
}

# nft-floor's table: one map keyed like lb-fp's assoc4 map (client address,
# ports, the server's tag Ts that the client's packets carry: RFC 9260 §8.5),
# with the same elements (each association on both client addresses), and one
# rule. No timeout, no refresh, no VIP or fragment check, no verdict map: the
# least an nftables map fast path can do per packet.
nft_floor_table=tputfloor
write_nft_floor_table() {  # associations.json > nft -f file
    python3 -c '
import json, sys
table, document = sys.argv[1], json.load(open(sys.argv[2]))
elements = ["{} . {} . {} . {} : {}".format(address, a["sport"], a["dport"], a["ts"], a["fwmark"])
            for a in document["associations"] for address in a["addresses"]]
print("table inet " + table + " {")
print("    map m {")
print("        typeof ip saddr . sctp sport . sctp dport . sctp vtag : meta mark")
print("        elements = { " + ",\n            ".join(elements) + " }")
print("    }")
print("    chain prerouting {")
print("        type filter hook prerouting priority -160; policy accept;")
print("        meta mark set ip saddr . sctp sport . sctp dport . sctp vtag map @m")
print("    }")
print("}")' "$nft_floor_table" "$1"
}

# The fast path's nft table only (the routing above is ours): --apply or --delete.
fast_path_rules() {
    in_ns "$ns_l" "$sctplb" rules --shm "$shm" --vip $vip --target 1=$net.1.1 --target 2=$net.2.1 \
        --fastpath-only "$1"
}
fast_path_elements() {
    "$sctplb" stats --shm "$shm" --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["fastpath"]["elements"])' 2>/dev/null || echo 0
}

# "packets batches" the sctplb data path has counted so far (0 0 without sctplb)
lb_batches() {
    "$sctplb" stats --shm "$shm" --json 2>/dev/null |
        awk '{ p = b = 0; if (match($0, /"packets":[0-9]+/)) p = substr($0, RSTART + 10, RLENGTH - 10)
               if (match($0, /"batches":[0-9]+/)) b = substr($0, RSTART + 10, RLENGTH - 10); print p + 0, b + 0 }'
}

stop_lb() {
    bench_stop_lb TERM
    in_ns "$ns_l" iptables -w -t mangle -F PREROUTING
    [ "$1" != lb-fp ] || fast_path_rules --delete >/dev/null 2>&1 || true
    [ "$1" != nft-floor ] || in_ns "$ns_l" nft delete table inet "$nft_floor_table" 2>/dev/null || true
    if [ "$1" = sender ]; then
        in_ns "$ns_l" iptables -w -t raw -D PREROUTING -d $vip/32 -p sctp -j DROP
        counted_at=sink
    fi
}

# Measures one cell; appends a line to $work/cells.
measure() {  # config rep
    local config=$1 rep=$2
    if ! start_lb "$config"; then
        echo "  $config: did not start: $(tail -n 3 "$work/lb.out" 2>/dev/null | tr '\n' ' ')"
        stop_lb "$config"
        return 0
    fi
    local seq_before cpu0_before cpu1_before cpu0_after cpu1_after batches_before="0 0"
    seq_before=$(queue_sequences)
    case "$config" in lb-*) batches_before=$(lb_batches) ;; esac
    # 0. cost at a fixed offered rate that every config sustains.
    local cost_us=- cost_loss=- cost_busy=- cost_own=-
    if [ "$cost_rate" -gt 0 ]; then
        trial "$cost_rate" "$cost_seconds"
        cost_us=$t_machine_us cost_loss=$t_loss cost_busy=$t_machine_busy cost_own=$t_own_us
    fi
    cpu0_before=$(cpu_jiffies "$sender_cpu")
    cpu1_before=$(cpu_jiffies "${lb_cpus%%[,-]*}")
    # 1. saturation: the sender's full rate.
    trial 0 "$saturation_seconds"
    cpu0_after=$(cpu_jiffies "$sender_cpu")
    cpu1_after=$(cpu_jiffies "${lb_cpus%%[,-]*}")
    local sat_offered=$t_offered_pps sat_delivered=$t_delivered_pps sat_loss=$t_loss
    local sat_qdrop=$t_qdrop sat_udrop=$t_udrop sat_sender_cpu=$t_sender_cpu sat_lb_cpu=$t_lb_cpu
    local sat_us=$t_machine_us sat_busy=$t_machine_busy sat_own=$t_own_us
    # Busy share of the two CPUs, all processes (the other load on a shared machine).
    local cpu0_busy cpu1_busy
    set -- $cpu0_before $cpu0_after
    cpu0_busy=$(calc "($4 - $2) > 0 ? 100 * ($3 - $1) / ($4 - $2) : 0")
    set -- $cpu1_before $cpu1_after
    cpu1_busy=$(calc "($4 - $2) > 0 ? 100 * ($3 - $1) / ($4 - $2) : 0")
    local best=0 best_loss=$t_loss best_qdrop=0 best_udrop=0 bound=exact
    if passes; then
        best=$t_delivered_pps best_loss=$t_loss bound=sender-limited
    else
        # 2. bisection of the offered rate: lo passed, hi failed.
        local lo=0 hi rate step
        hi=$(calc "$sat_offered < 1.1 * $sat_delivered ? $sat_offered : 1.1 * $sat_delivered")
        rate=$(calc "0.95 * $sat_delivered")
        for step in $(seq "$search_steps"); do
            trial "$(printf '%.0f' "$rate")" "$trial_seconds"
            # Bounds move to the rate actually offered: a busy sender may fall short of the ask.
            if passes; then
                lo=$t_offered_pps
                if [ "$(calc "$t_delivered_pps > $best")" = 1 ]; then
                    best=$t_delivered_pps best_loss=$t_loss best_qdrop=$t_qdrop best_udrop=$t_udrop
                fi
                rate=$(calc "($lo + $hi) / 2")
            else
                hi=$(calc "$t_offered_pps < $rate ? $t_offered_pps : $rate")
                if [ "$lo" = 0 ]; then rate=$(calc "0.8 * $rate"); else rate=$(calc "($lo + $hi) / 2"); fi
            fi
        done
        [ "$lo" != 0 ] || bound=none-passed
    fi
    local seq_after spread="" avg_batch=-
    seq_after=$(queue_sequences)
    case "$config" in
        lb-*)
            set -- $batches_before $(lb_batches)
            [ $(($4 - $2)) -le 0 ] || avg_batch=$(calc "($3 - $1) / ($4 - $2)") ;;
    esac
    if [ "$config" = lb-2q ]; then
        # share of packets per queue over the cell (id_sequence deltas)
        spread=$(printf '%s\n%s\n' "$seq_before" "$seq_after" | awk '
            NR == 1 { for (i = 1; i <= NF; ++i) { split($i, a, ":"); b[a[1]] = a[2] } }
            NR == 2 { for (i = 1; i <= NF; ++i) { split($i, a, ":"); d[a[1]] = a[2] - b[a[1]]; t += d[a[1]] }
                      for (q in d) { printf "%sq%s=%.0f%%", sep, q, t ? 100 * d[q] / t : 0; sep = "," } }')
    fi
    stop_lb "$config"
    case "$config" in
        floor*) avg_batch=$(sed -n 's/.*avg_batch=\([0-9.]*\).*/\1/p' "$work/lb.out" | tail -n 1) ;;
    esac
    printf '  rep %s %-6s lossless %6.1f kpps (loss %.3f%%, %s) | saturated %6.1f of %6.1f kpps offered, loss %.1f%%, nfq drops queue %s user %s | sender %s%% lb %.0f%% of a CPU, CPUs busy %.0f%%/%.0f%% | machine us/pkt: %s at %s pps (loss %s%%), %.2f saturated | avg batch %s%s\n' \
        "$rep" "$config" "$(calc "$best / 1000")" "$(calc "$best_loss * 100")" "$bound" \
        "$(calc "$sat_delivered / 1000")" "$(calc "$sat_offered / 1000")" "$(calc "$sat_loss * 100")" \
        "$sat_qdrop" "$sat_udrop" "$sat_sender_cpu" "$sat_lb_cpu" "$cpu0_busy" "$cpu1_busy" \
        "$([ "$cost_us" = - ] && echo - || printf '%.2f' "$cost_us")" "$cost_rate" \
        "$([ "$cost_loss" = - ] && echo - || printf '%.3f' "$(calc "$cost_loss * 100")")" "$sat_us" \
        "${avg_batch:--}" "${spread:+ | $spread}"
    echo "config=$config rep=$rep lossless_pps=$best lossless_loss=$best_loss bound=$bound" \
        "lossless_qdrop=$best_qdrop lossless_udrop=$best_udrop sat_offered_pps=$sat_offered" \
        "sat_delivered_pps=$sat_delivered sat_loss=$sat_loss sat_qdrop=$sat_qdrop sat_udrop=$sat_udrop" \
        "sat_sender_cpu=$sat_sender_cpu sat_lb_cpu=$sat_lb_cpu cpu0_busy=$cpu0_busy cpu1_busy=$cpu1_busy" \
        "cost_us=$cost_us cost_loss=$cost_loss cost_busy=$cost_busy cost_own=$cost_own sat_us=$sat_us" \
        "sat_busy=$sat_busy sat_own=$sat_own" \
        "avg_batch=${avg_batch:--} spread=${spread:-}" >>"$work/cells"
}

# ---- run -----------------------------------------------------------------------
IFS=, read -r -a config_list <<<"$configs"
nft_floor_ok=1
for config in "${config_list[@]}"; do
    case "$config" in
        sender | kernel | floor | floor-pv) ;;
        nft-floor)
            command -v nft >/dev/null || { echo "nfq-throughput: nft is missing: nft-floor skipped" >&2; nft_floor_ok=0; continue; }
            write_nft_floor_table "$work/associations.json" >"$work/nft-floor.nft"
            # Check the file loads (and that this nft lists it back) before the first cell.
            if ! { in_ns "$ns_l" nft -f "$work/nft-floor.nft" && in_ns "$ns_l" nft list table inet "$nft_floor_table" >/dev/null &&
                   in_ns "$ns_l" nft delete table inet "$nft_floor_table"; } 2>"$work/nft-floor.err"; then
                echo "nfq-throughput: nft-floor's table does not load: $(head -n 2 "$work/nft-floor.err" | tr '\n' ' '); skipped" >&2
                nft_floor_ok=0
            fi ;;
        lb-1q | lb-2q | lb-fp) [ "$lb_mode" != unavailable ] || { echo "nfq-throughput: 'sctplb init' is missing: $config skipped" >&2; } ;;
        *) echo "nfq-throughput: unknown config '$config'" >&2; exit 2 ;;
    esac
done
started=$(date +%s)
echo "nfq-throughput: $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -r), $cpus CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  sender on CPU $sender_cpu, LB on CPU(s) $lb_cpus, both at nice $niceness; $associations associations, 64-byte packets;" \
    "sctplb hash mode: $lb_mode"
echo "  $reps repetition(s); cost trial ${cost_seconds}s at $cost_rate pps, saturation ${saturation_seconds}s +" \
    "$search_steps bisection trials of ${trial_seconds}s; lossless = >= $(calc "$lossless_fraction * 100")% delivered"
: >"$work/cells"
for rep in $(seq "$reps"); do
    # Rotate the order each repetition so slow drift of the machine spreads evenly.
    n=${#config_list[@]}
    for k in $(seq 0 $((n - 1))); do
        config=${config_list[$(((k + rep - 1) % n))]}
        case "$config" in lb-1q | lb-2q | lb-fp) [ "$lb_mode" != unavailable ] || continue ;; esac
        [ "$config" != nft-floor ] || [ $nft_floor_ok -eq 1 ] || continue
        measure "$config" "$rep"
    done
done

if [ "$lb_mode" != unavailable ]; then
    echo "sctplb counters over the whole run ('sctplb stats', excerpt):"
    "$sctplb" stats --shm "$shm" 2>&1 | grep -Ei 'packets|established|unknown|drop|queue|pinned' | head -n 12 | sed 's/^/  /' || true
fi

# ---- summary -------------------------------------------------------------------
median() {  # config field
    awk -v c="$1" -v f="$2" '{ for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
                                if (v["config"] == c) print v[f] }' "$work/cells" |
        sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
kernel_pps=$(median kernel lossless_pps)
floor_pps=$(median floor lossless_pps)
floor_pv_pps=$(median floor-pv lossless_pps)
kernel_sat=$(median kernel sat_delivered_pps)
floor_sat=$(median floor sat_delivered_pps)
floor_pv_sat=$(median floor-pv sat_delivered_pps)
# ratio A B: A/B with two decimals, "-" when B is missing or zero
ratio() {
    if [ "$2" != nan ] && [ "$1" != nan ] && [ "$(calc "$2 > 0")" = 1 ]; then printf '%.2f' "$(calc "$1 / $2")"; else echo -; fi
}
# Median over repetitions of config A's FIELD divided by config B's in the same
# repetition: the machine's drift between repetitions cancels.
paired_ratio() {  # A B FIELD
    awk -v a="$1" -v b="$2" -v f="$3" '
        { for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
          if (v["config"] == a) x[v["rep"]] = v[f]; if (v["config"] == b) y[v["rep"]] = v[f] }
        END { for (r in x) if ((r in y) && y[r] > 0) print x[r] / y[r] }' "$work/cells" |
        sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.2f\n", a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# Per repetition, config A's FIELD minus the sender config's (the LB's share of
# the machine's cost per packet); with B: the median over repetitions of
# (A - sender) / (B - sender), else the median of A - sender in us.
paired_share() {  # FIELD A [B]
    awk -v f="$1" -v a="$2" -v b="${3:-}" '
        { for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
          if (v[f] == "-" || v[f] == "") next
          if (v["config"] == a) x[v["rep"]] = v[f]; if (v["config"] == b) y[v["rep"]] = v[f]
          if (v["config"] == "sender") s[v["rep"]] = v[f] }
        END { for (r in x) if (r in s) {
                  if (b == "") print x[r] - s[r]
                  else if ((r in y) && y[r] - s[r] > 0) print (x[r] - s[r]) / (y[r] - s[r]) } }' "$work/cells" |
        sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.2f\n", a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# LB process CPU time per delivered packet at saturation, in microseconds: far
# less sensitive to other load than a rate (it is not what the LB was given, but
# what each packet cost it; softirq work is not in it).
awk '{ for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
       us = (v["sat_delivered_pps"] > 0 && v["sat_lb_cpu"] > 0) ? v["sat_lb_cpu"] / 100 / v["sat_delivered_pps"] * 1e6 : 0
       print $0, "lb_us_per_packet=" us }' "$work/cells" >"$work/cells.tmp" && mv "$work/cells.tmp" "$work/cells"
[ -z "$results_file" ] || cp "$work/cells" "$results_file"

echo
echo "Median of $reps. lossless: highest offered rate with >= $(calc "$lossless_fraction * 100")% delivered;" \
    "saturated: delivered at the sender's full rate; LB us/pkt: the LB process's CPU time per packet at saturation."
printf '%-9s %13s %8s %7s %8s %7s | %10s %8s %7s %8s %7s | %10s\n' config "lossless kpps" "loss %" "/floor" "/floor-pv" "/kernel" \
    "sat. kpps" "sat.loss%" "/floor" "/floor-pv" "/kernel" "LB us/pkt"
for config in "${config_list[@]}"; do
    pps=$(median "$config" lossless_pps)
    [ "$pps" != nan ] || continue
    loss=$(median "$config" lossless_loss)
    sat=$(median "$config" sat_delivered_pps)
    sat_loss=$(median "$config" sat_loss)
    us=$(median "$config" lb_us_per_packet)
    limited=$(grep -c "config=$config .*bound=sender-limited" "$work/cells" || true)
    mark=""
    [ $((2 * limited)) -lt "$(grep -c "config=$config " "$work/cells")" ] || mark=">="
    printf '%-9s %13s %8.3f %7s %8s %7s | %10.1f %8.1f %7s %8s %7s | %10s\n' "$config" "$mark$(printf '%.1f' "$(calc "$pps / 1000")")" \
        "$(calc "$loss * 100")" "$(ratio "$pps" "$floor_pps")" "$(ratio "$pps" "$floor_pv_pps")" "$(ratio "$pps" "$kernel_pps")" \
        "$(calc "$sat / 1000")" "$(calc "$sat_loss * 100")" \
        "$(ratio "$sat" "$floor_sat")" "$(ratio "$sat" "$floor_pv_sat")" "$(ratio "$sat" "$kernel_sat")" \
        "$([ "$(calc "$us > 0")" = 1 ] && printf '%.2f' "$us" || echo -)"
done
echo
echo
echo "Cost: whole-machine busy CPU us per delivered packet (all CPUs, all processes: user+nice+system+irq+softirq)"
echo "at $cost_rate pps offered and at saturation; LB share = the config's - the sender's in the same repetition (median)."
echo "own: the same from the CPU time of the sender, the LB process and ksoftirqd only (robust to other load)."
printf '%-9s %8s %8s %8s %8s %8s | %8s %8s %8s %8s %8s\n' "" "@cost:" "machine" "LB" "own" "LB" "@sat:" "machine" "LB" "own" "LB"
printf '%-9s %8s %8s %8s %8s %8s | %8s %8s %8s %8s %8s\n' config "loss%" "us/pkt" "share" "us/pkt" "share" "busy%" \
    "us/pkt" "share" "us/pkt" "share"
us() { [ "$1" = nan ] && echo - || printf '%.2f' "$1"; }
for config in "${config_list[@]}"; do
    grep -q "config=$config " "$work/cells" || continue
    cost=$(median "$config" cost_us)
    printf '%-9s %8s %8s %8s %8s %8s | %8.0f %8s %8s %8s %8s\n' "$config" \
        "$([ "$cost" = nan ] && echo - || printf '%.3f' "$(calc "$(median "$config" cost_loss) * 100")")" \
        "$(us "$cost")" "$(paired_share cost_us "$config")" "$(us "$(median "$config" cost_own)")" \
        "$(paired_share cost_own "$config")" "$(median "$config" sat_busy)" \
        "$(us "$(median "$config" sat_us)")" "$(paired_share sat_us "$config")" \
        "$(us "$(median "$config" sat_own)")" "$(paired_share sat_own "$config")"
done
echo
echo "Paired ratios (median over repetitions of the ratio within one repetition):"
printf '%-9s %14s %14s %14s %14s %16s\n' config "lossless/floor" "lossless/f-pv" "sat./floor" "sat./f-pv" "LB us/pkt /f-pv"
for config in "${config_list[@]}"; do
    case "$config" in sender | kernel | floor | floor-pv) continue ;; esac
    grep -q "config=$config " "$work/cells" || continue
    printf '%-9s %14s %14s %14s %14s %16s\n' "$config" "$(paired_ratio "$config" floor lossless_pps)" \
        "$(paired_ratio "$config" floor-pv lossless_pps)" "$(paired_ratio "$config" floor sat_delivered_pps)" \
        "$(paired_ratio "$config" floor-pv sat_delivered_pps)" "$(paired_ratio "$config" floor-pv lb_us_per_packet)"
done
if grep -q "config=lb-fp " "$work/cells"; then
    echo "Fast path (paired): lb-fp/kernel lossless $(paired_ratio lb-fp kernel lossless_pps)," \
        "saturated $(paired_ratio lb-fp kernel sat_delivered_pps); lb-fp/lb-1q lossless $(paired_ratio lb-fp lb-1q lossless_pps)," \
        "saturated $(paired_ratio lb-fp lb-1q sat_delivered_pps) (aim: lb-fp >= 0.9 x kernel)"
fi
echo
if grep -q "config=sender " "$work/cells"; then
    echo "Figure of merit: LB share per packet, A/B paired within a repetition, median;"
    echo "  machine @$cost_rate pps, machine @saturation, own @$cost_rate pps, own @saturation:"
    merit() { echo "$(paired_share cost_us "$1" "$2") $(paired_share sat_us "$1" "$2") $(paired_share cost_own "$1" "$2") $(paired_share sat_own "$1" "$2")"; }
    if grep -q "config=lb-fp " "$work/cells" && grep -q "config=kernel " "$work/cells"; then
        echo "  fast path lb-fp / kernel MARK: $(merit lb-fp kernel) (aim <= 1.15)"
    fi
    if grep -q "config=nft-floor " "$work/cells"; then
        if grep -q "config=lb-fp " "$work/cells"; then
            echo "  fast path lb-fp / nft-floor (the least an nft map costs): $(merit lb-fp nft-floor)"
        fi
        if grep -q "config=kernel " "$work/cells"; then
            echo "  nft-floor / kernel MARK (an nftables fast path can meet the aim only if this is <= 1.15):" \
                "$(merit nft-floor kernel)"
        fi
    fi
    for base in floor floor-pv; do
        if grep -q "config=lb-1q " "$work/cells" && grep -q "config=$base " "$work/cells"; then
            echo "  NFQUEUE path lb-1q / $base: $(merit lb-1q "$base")"
        fi
    done
    echo "  (machine figures mean nothing when the machine was busy without us: see busy% and the load)"
else
    echo "(no sender config in this run: the cost columns include the sender's own cost)"
fi
echo "('>=': in most repetitions the sender's full rate was already lossless: the figure is the sender's"
echo " limit, a lower bound, and a ratio against it an upper bound. Compare ratios from one run.)"
echo "nfq-throughput: $(($(date +%s) - started)) s, load now $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
