#!/bin/bash
# Integration test of `sctplb rules` (lb/io/rules.*) in a namespace of its own:
#
#   --apply (IPv4 + IPv6 VIPs, two targets, SCTP over UDP) creates the NOTRACK and
#   NFQUEUE rules, the target tables, the fwmark rules and the VIP blackhole;
#   marked VIP packets route to their target, unmarked ones hit the blackhole,
#   other marked traffic is untouched; --apply again adds nothing; --targets-only
#   adds and removes one target and nothing shared; --delete
#   removes exactly our objects and leaves look-alike rules of the user (same
#   match without our comment/protocol, a route in our table) in place; a failing
#   --apply rolls back what it added; --delete keeps an ip rule whose table still routes another
#   destination; two instances (different VIPs, one fwmark): the same table-base is refused, a
#   shared table (made by hand) keeps its rule on --delete, distinct table-bases share nothing;
#   bad input exits 2. --fastpath adds the nft table (made
#   through netlink, sized and timed from the segment) and the mark match on the NFQUEUE rules;
#   --targets-only --fastpath adds and removes one target chain; --delete removes the table and
#   leaves the user's nft tables alone; --fastpath without a segment is refused.
#
# Usage: test-rules.sh [help]   (root; SCTPLB_BIN = the sctplb binary)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
    sed -n '2,19p' "$0"
    exit 0
fi

skip() { echo "SKIP: $*"; exit 77; }  # ctest: SKIP_RETURN_CODE 77
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, iptables)"
command -v iptables >/dev/null || skip "iptables is not installed"
command -v ip6tables >/dev/null || skip "ip6tables is not installed"
command -v ip >/dev/null || skip "iproute2 is not installed"

bin=${SCTPLB_BIN:-${SCTPLB_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}/lb/cli/sctplb}
[ -x "$bin" ] || skip "no sctplb binary at $bin (set SCTPLB_BIN)"
"$bin" rules --help >/dev/null 2>&1 || skip "$bin has no 'rules' command yet"

ns=rules$$
work=$(mktemp -d /tmp/test-rules.XXXXXX)
pids=()  # nothing runs in the background; kept for the common cleanup shape
failures=0

fp_shm=rulesfp$$
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    "$bin" delete --shm "$fp_shm" --force >/dev/null 2>&1 || true
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
in_ns() { ip netns exec "$ns" "$@"; }
check() {  # check DESCRIPTION COMMAND...: passes when the command succeeds
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# Everything of ours: iptables rules with our comment, ip rules and routes with protocol 132.
ours() {
    {
        for t in raw mangle; do
            in_ns iptables -t "$t" -S PREROUTING | grep -F -- '--comment "sctplb:t1"' || true
            in_ns ip6tables -t "$t" -S PREROUTING | grep -F -- '--comment "sctplb:t1"' || true
        done
        for f in -4 -6; do
            in_ns ip -N "$f" rule show | grep -E ' proto 132( |$)' || true
            for table in 5000 5001 5002 5003; do
                in_ns ip "$f" route show table "$table" proto 132 2>/dev/null | sed "s/^/table $table: /" || true
            done
        done
    } | sort
}

# --- namespace: one veth pair inside it carries the nexthops -------------------
ip netns add "$ns"
in_ns ip link set lo up
in_ns ip link add name r0 type veth peer name r1
in_ns ip link set r0 up
in_ns ip link set r1 up
in_ns ip addr add 192.168.77.1/24 dev r0
in_ns ip addr add fd00:77::1/64 dev r0 nodad
in_ns sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

args=(--vip 10.77.0.1,2001:db8:77::1 --target 1=192.168.77.2,1=fd00:77::2
      --target 2=192.168.77.3 --target 2=fd00:77::3 --encap-port 9899 --shm t1)

# --- print ------------------------------------------------------------------
"$bin" rules "${args[@]}" >"$work/print" 2>"$work/print.err"
printed=$(wc -l <"$work/print")
check "print lists commands ($printed lines)" test "$printed" -gt 20
check "print needs no root state (no stderr)" test ! -s "$work/print.err"

# --- apply ------------------------------------------------------------------
in_ns "$bin" rules "${args[@]}" --apply >"$work/apply1" 2>&1 || { cat "$work/apply1"; fail "--apply exits 0"; }
added=$(grep -c '^+ ' "$work/apply1" || true)
check "--apply adds every printed command ($added of $printed)" test "$added" = "$printed"
check "applied commands are the printed ones" diff <(sed -n 's/^+ //p' "$work/apply1") "$work/print"
ours >"$work/ours1"
in_ns iptables -t raw -S PREROUTING >"$work/raw4"
in_ns ip6tables -t mangle -S PREROUTING >"$work/mangle6"
check "IPv4 NOTRACK for SCTP to the VIP" \
    grep -qF -- '-A PREROUTING -d 10.77.0.1/32 -p sctp -m comment --comment "sctplb:t1" -j NOTRACK' "$work/raw4"
check "IPv4 NOTRACK for SCTP over UDP from the VIP" \
    grep -qE -- '-s 10.77.0.1/32 -p udp .*--sport 9899 .*sctplb:t1' "$work/raw4"
check "IPv6 NFQUEUE for SCTP to the VIP" \
    grep -qE -- '-d 2001:db8:77::1/128 -p sctp .*sctplb:t1.* -j NFQUEUE --queue-num 2' "$work/mangle6"
check "IPv6 NFQUEUE for SCTP over UDP" \
    grep -qE -- '-d 2001:db8:77::1/128 -p udp .*--dport 9899 .*-j NFQUEUE --queue-num 2' "$work/mangle6"
check "fwmark rules for both families" \
    test "$(grep -cE 'fwmark 0x[12](/0xffffffff)? lookup 500[12] proto 132' "$work/ours1")" = 4
check "VIP blackhole rules" test "$(grep -c 'pref 10001\|^10001:' "$work/ours1")" = 2
check "table 5001 holds only the VIP routes" \
    test "$(in_ns ip -4 route show table 5001 | tr -s ' ')" = "10.77.0.1 via 192.168.77.2 dev r0 proto 132 "
check "table 5000 blackholes the IPv6 VIP" \
    grep -q '^table 5000: blackhole 2001:db8:77::1' "$work/ours1"

# --- routing behaves as designed ------------------------------------------------
route_get() { in_ns ip "$@" 2>&1 || true; }
check "mark 1 routes the IPv4 VIP to target 1" \
    grep -q 'via 192.168.77.2 .*table 5001' <<<"$(route_get route get 10.77.0.1 from 192.168.77.9 iif r1 mark 1)"
check "mark 2 routes the IPv6 VIP to target 2" \
    grep -q 'via fd00:77::3 .*table 5002' <<<"$(route_get -6 route get 2001:db8:77::1 mark 2)"
check "an unmarked IPv4 VIP packet hits the blackhole" \
    grep -q 'Invalid argument' <<<"$(route_get route get 10.77.0.1 from 192.168.77.9 iif r1)"
check "an unknown mark on the IPv6 VIP hits the blackhole" \
    grep -q 'Invalid argument' <<<"$(route_get -6 route get 2001:db8:77::1 mark 9)"
check "marked traffic to other addresses is not ours" \
    bash -c '! grep -q "table 500" <<<"$1"' _ "$(route_get route get 192.168.77.50 mark 1)"

# --- apply again: nothing new -------------------------------------------------------
in_ns "$bin" rules "${args[@]}" --apply >"$work/apply2" 2>&1 || fail "second --apply exits 0"
check "second --apply adds nothing" test "$(grep -c '^+ ' "$work/apply2" || true)" = 0
check "second --apply finds everything present" test "$(grep -c '^= ' "$work/apply2" || true)" = "$printed"
ours >"$work/ours2"
check "no duplicates after the second --apply" diff "$work/ours1" "$work/ours2"

# --- one target more, then less: --targets-only leaves the shared objects alone ------
t3=(--vip 10.77.0.1,2001:db8:77::1 --target 3=192.168.77.4,3=fd00:77::4 --shm t1 --targets-only)
in_ns "$bin" rules "${t3[@]}" --apply >"$work/t3-add" 2>&1 || fail "--targets-only --apply exits 0"
check "--targets-only --apply adds target 3's 2 routes and 2 rules" \
    test "$(grep -c '^+ ' "$work/t3-add" || true)" = 4
check "mark 3 now routes the IPv4 VIP to target 3" \
    grep -q 'via 192.168.77.4 .*table 5003' <<<"$(route_get route get 10.77.0.1 mark 3)"
in_ns "$bin" rules "${t3[@]}" --delete >"$work/t3-del" 2>&1 || fail "--targets-only --delete exits 0"
check "--targets-only --delete removes target 3 only" \
    test "$(grep -c '^- ' "$work/t3-del" || true)" = 4
check "everything else is as applied" diff "$work/ours1" <(ours)

# --- the user's look-alikes ---------------------------------------------------------
in_ns iptables -t mangle -A PREROUTING -d 10.77.0.1/32 -p sctp -j NFQUEUE --queue-num 2
in_ns iptables -t raw -A PREROUTING -d 10.77.0.1/32 -p sctp -m comment --comment "sctplb:other" -j NOTRACK
in_ns ip -4 rule add pref 10000 fwmark 0x1/0xffffffff table 5001
in_ns ip -4 route add 10.88.0.0/24 via 192.168.77.2 table 5001
in_ns ip -6 route add blackhole 2001:db8:88::/64 table 5000
in_ns iptables-save >"$work/user-before-delete"

# --- delete ---------------------------------------------------------------------
# The user's routes in tables 5001 (IPv4) and 5000 (IPv6) still go through our IPv4 fwmark 1 rule
# and our IPv6 VIP rule: those two are kept, named on a "kept:" line each.
in_ns "$bin" rules "${args[@]}" --delete >"$work/delete" 2>&1 || { cat "$work/delete"; fail "--delete exits 0"; }
check "--delete removes every object but 2 ($printed)" \
    test "$(grep -c '^- ' "$work/delete" || true)" = "$((printed - 2))"
check "--delete keeps the IPv4 fwmark 1 rule: table 5001 routes the user's 10.88.0.0/24" \
    grep -qx 'kept: ip -4 rule add pref 10000 fwmark 0x1/0xffffffff table 5001 protocol 132 (table 5001 still routes 10.88.0.0/24 for another instance)' "$work/delete"
check "--delete keeps the IPv6 VIP rule: table 5000 blackholes the user's 2001:db8:88::/64" \
    grep -qx 'kept: ip -6 rule add pref 10001 to 2001:db8:77::1/128 table 5000 protocol 132 (table 5000 still routes 2001:db8:88::/64 for another instance)' "$work/delete"
check "--delete says how many it kept" grep -qx 'sctplb rules: .* removed, 2 kept for another instance' "$work/delete"
check "of ours only the 2 kept rules are left" test "$(ours | wc -l)" = 2
check "the user's NFQUEUE rule without our comment stays" \
    in_ns iptables -t mangle -C PREROUTING -d 10.77.0.1/32 -p sctp -j NFQUEUE --queue-num 2
check "another instance's NOTRACK rule stays" \
    in_ns iptables -t raw -C PREROUTING -d 10.77.0.1/32 -p sctp -m comment --comment "sctplb:other" -j NOTRACK
check "the user's identical ip rule without our protocol stays" \
    grep -qE '^10000:.*fwmark 0x1(/0xffffffff)? lookup 5001 *$' <<<"$(in_ns ip -4 rule show)"
check "the user's route in our table 5001 stays" \
    grep -q '10.88.0.0/24 via 192.168.77.2' <<<"$(in_ns ip -4 route show table 5001)"
check "the user's IPv6 blackhole in our table 5000 stays" \
    grep -q 'blackhole 2001:db8:88::/64' <<<"$(in_ns ip -6 route show table 5000)"
in_ns ip -4 route del 10.88.0.0/24 via 192.168.77.2 table 5001
in_ns ip -6 route del blackhole 2001:db8:88::/64 table 5000
in_ns "$bin" rules "${args[@]}" --delete >"$work/delete2" 2>&1 || fail "second --delete exits 0"
check "once the user's routes are gone, a second --delete removes the 2 kept rules" \
    test "$(grep -c '^- ' "$work/delete2" || true)" = 2
check "none of ours is left" test ! -s <(ours)
in_ns "$bin" rules "${args[@]}" --delete >"$work/delete3" 2>&1 || fail "third --delete exits 0"
check "a third --delete finds nothing" test "$(grep -c '^- \|^kept: ' "$work/delete3" || true)" = 0

# --- a failing apply rolls back ---------------------------------------------------
# Target 2's nexthop is off-link: its route fails after the NOTRACK rules and target 1's route.
set +e
in_ns "$bin" rules --vip 10.77.0.1 --target 1=192.168.77.2 --target 2=10.123.0.1 --shm t1 --apply \
    >"$work/rollback" 2>"$work/rollback.err"
status=$?
set -e
check "failing --apply exits 1" test "$status" = 1
check "failing --apply names the command and its error" \
    grep -q 'failed: ip -4 route add 10.77.0.1/32 via 10.123.0.1 table 5002 proto 132 .*: .*' "$work/rollback.err"
check "failing --apply rolled back what it added" test "$(grep -c '^! ' "$work/rollback" || true)" = 3
check "nothing of ours remains after the rollback" test ! -s <(ours)

# --- two instances in one namespace, different VIPs, the same fwmark ---------------
# The routing tables record who uses them: a table of ours routing a destination that is no VIP
# of ours belongs to another instance too.
inst_a=(--vip 10.77.0.1 --target 1=192.168.77.2 --shm ia)
inst_b=(--vip 10.77.0.5 --target 1=192.168.77.3 --shm ib)
# (a) the same table-base: the second --apply is refused before it makes anything.
in_ns "$bin" rules "${inst_a[@]}" --apply >"$work/ia" 2>&1 || { cat "$work/ia"; fail "instance a --apply exits 0"; }
set +e
in_ns "$bin" rules "${inst_b[@]}" --apply >"$work/ib-same" 2>"$work/ib-same.err"
status=$?
set -e
check "(a) the second instance with the same table-base is refused (exit $status): $(cat "$work/ib-same.err")" \
    bash -c '[ "$1" = 1 ] && [ "$(wc -l <"$2")" = 1 ] &&
             grep -q "refused: table 500[01] (IPv4) already routes 10.77.0.1,.*--table-base" "$2"' \
    _ "$status" "$work/ib-same.err"
check "(a) the refused --apply made nothing" test ! -s "$work/ib-same"
# (b) an older version let b share a's fwmark 1 rule and table 5001: b's route sits in a's table.
in_ns ip -4 route add 10.77.0.5/32 via 192.168.77.3 table 5001 proto 132
check "(b) the shared fwmark rule is a's (an older b found it present)" \
    test "$(in_ns ip -N -4 rule show | grep -cE 'fwmark 0x1(/0xffffffff)? lookup 5001 proto 132')" = 1
in_ns "$bin" rules "${inst_a[@]}" --delete >"$work/ia-shared" 2>&1 || { cat "$work/ia-shared"; fail "(b) a --delete exits 0"; }
check "(b) --delete of a keeps the fwmark rule b needs, and says why" \
    grep -qx 'kept: ip -4 rule add pref 10000 fwmark 0x1/0xffffffff table 5001 protocol 132 (table 5001 still routes 10.77.0.5 for another instance)' "$work/ia-shared"
check "(b) mark 1 still routes b's VIP to b's target" \
    grep -q 'via 192.168.77.3 .*table 5001' <<<"$(route_get route get 10.77.0.5 from 192.168.77.9 iif r1 mark 1)"
check "(b) a's own routes are gone" \
    bash -c '! grep -q "10.77.0.1" <<<"$1"' _ "$(in_ns ip -4 route show table all)"
in_ns ip -4 route del 10.77.0.5/32 via 192.168.77.3 table 5001 proto 132
in_ns "$bin" rules "${inst_a[@]}" --delete >"$work/ia-alone" 2>&1 || fail "(b) a's second --delete exits 0"
check "(b) alone again, a's --delete removes the rule" test ! -s <(in_ns ip -N -4 rule show | grep ' proto 132')
# (c) distinct table-bases: both apply; deleting a leaves b's rule and route.
in_ns "$bin" rules "${inst_a[@]}" --apply >"$work/ia" 2>&1 || { cat "$work/ia"; fail "instance a --apply exits 0"; }
in_ns "$bin" rules "${inst_b[@]}" --table-base 6000 --apply >"$work/ib" 2>&1 || { cat "$work/ib"; fail "instance b with --table-base 6000 --apply exits 0"; }
check "(c) with distinct tables both apply" \
    test "$(in_ns ip -N -4 rule show | grep -cE 'fwmark 0x1(/0xffffffff)? lookup [56]001 proto 132')" = 2
in_ns "$bin" rules "${inst_a[@]}" --delete >"$work/ia-del" 2>&1 || fail "instance a --delete exits 0"
check "(c) deleting a keeps nothing" bash -c '! grep -q "^kept: " "$1"' _ "$work/ia-del"
check "(c) deleting a leaves b's ip rule" \
    grep -qE 'fwmark 0x1(/0xffffffff)? lookup 6001 proto 132' <<<"$(in_ns ip -N -4 rule show)"
check "(c) deleting a leaves b's route" \
    grep -q '10.77.0.5 via 192.168.77.3' <<<"$(in_ns ip -4 route show table 6001)"
check "(c) and removes a's own" bash -c '! grep -q "lookup 500[01] proto 132" <<<"$1"' _ "$(in_ns ip -N -4 rule show)"
in_ns "$bin" rules "${inst_b[@]}" --table-base 6000 --delete >/dev/null 2>&1 || fail "instance b --delete exits 0"

# --- the kernel fast path -----------------------------------------------------------
fp_args=(--vip 10.77.0.1,2001:db8:77::1 --target 1=192.168.77.2,1=fd00:77::2 --target 2=192.168.77.3
         --target 2=fd00:77::3 --shm "$fp_shm" --mark-mask 0xff)
set +e
in_ns "$bin" rules "${fp_args[@]}" --fastpath --apply >"$work/fp-noshm" 2>&1
status=$?
set -e
check "--fastpath without the segment is refused (exit $status): $(tail -n 1 "$work/fp-noshm")" \
    grep -q "sctplb init --shm=$fp_shm" "$work/fp-noshm"
"$bin" init --shm "$fp_shm" --capacity 1000 --idle-timeout 30 >/dev/null
in_ns nft add table inet mine
in_ns "$bin" rules "${fp_args[@]}" --fastpath --apply >"$work/fp-apply" 2>&1 || { cat "$work/fp-apply"; fail "--fastpath --apply exits 0"; }
in_ns "$bin" fastpath --shm "$fp_shm" --json >"$work/fp.json" 2>&1 || fail "sctplb fastpath exits 0"
check "the nft table is sized and timed from the segment: $(head -c 200 "$work/fp.json")" \
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not (d["map_size"] == 8000 and d["timeout_ms"] == 30000 and d["mark_mask"] == 0xff and [t["fwmark"] for t in d["targets"]] == [1, 2] and d["elements"] == []))' "$work/fp.json"
check "nft lists the table" bash -c 'ip netns exec "$1" nft list table inet "sctplb-$2" >/dev/null' _ "$ns" "$fp_shm"
check "the IPv4 NFQUEUE rule queues only packets without our mark bits" \
    grep -qE -- '-d 10.77.0.1/32 -p sctp -m mark --mark 0x0/0xff .*-j NFQUEUE' <<<"$(in_ns iptables -t mangle -S PREROUTING)"
check "the IPv6 one too" \
    grep -qE -- '-d 2001:db8:77::1/128 -p sctp -m mark --mark 0x0/0xff .*-j NFQUEUE' <<<"$(in_ns ip6tables -t mangle -S PREROUTING)"
in_ns "$bin" rules "${fp_args[@]}" --fastpath --apply >"$work/fp-apply2" 2>&1 || fail "second --fastpath --apply exits 0"
check "a second --fastpath --apply adds nothing" test "$(grep -c '^+ ' "$work/fp-apply2" || true)" = 0
fp_t3=(--vip 10.77.0.1,2001:db8:77::1 --target 3=192.168.77.4,3=fd00:77::4 --shm "$fp_shm" --mark-mask 0xff --targets-only --fastpath)
in_ns "$bin" rules "${fp_t3[@]}" --apply >"$work/fp-t3" 2>&1 || { cat "$work/fp-t3"; fail "--targets-only --fastpath --apply exits 0"; }
check "--targets-only --fastpath adds target 3's chain" \
    grep -q 'chain target-3' <<<"$(in_ns nft list table inet "sctplb-$fp_shm")"
in_ns "$bin" rules "${fp_t3[@]}" --delete >"$work/fp-t3-del" 2>&1 || fail "--targets-only --fastpath --delete exits 0"
check "--targets-only --fastpath --delete removes it, the others stay" \
    test "$(in_ns nft list table inet "sctplb-$fp_shm" | grep -c 'chain target-')" = 2
in_ns "$bin" rules "${fp_args[@]}" --fastpath --delete >"$work/fp-delete" 2>&1 || fail "--fastpath --delete exits 0"
check "--fastpath --delete removes the nft table" bash -c '! ip netns exec "$1" nft list table inet "sctplb-$2" >/dev/null 2>&1' _ "$ns" "$fp_shm"
check "and its iptables rules, ip rules and routes" \
    test "$({ in_ns iptables-save; in_ns ip6tables-save; } | grep -c "sctplb:$fp_shm")$(ours | wc -l)" = 00
check "the user's nft table stays" bash -c 'ip netns exec "$1" nft list table inet mine >/dev/null' _ "$ns"

# --- bad input ----------------------------------------------------------------------
bad() {
    local what=$1; shift
    set +e
    "$bin" rules "$@" >"$work/bad.out" 2>"$work/bad.err"
    local status=$?
    set -e
    if [ "$status" = 2 ] && [ "$(wc -l <"$work/bad.err")" = 1 ] && [ ! -s "$work/bad.out" ]; then
        pass "bad input exits 2 with one line: $what ($(cat "$work/bad.err"))"
    else
        fail "bad input: $what (exit $status): $(cat "$work/bad.err")"
    fi
}
bad "bad address" --vip 10.77.0.300 --target 1=192.168.77.2
bad "fwmark 0" --vip 10.77.0.1 --target 0=192.168.77.2
bad "fwmark outside mask" --vip 10.77.0.1 --target 0x100=192.168.77.2 --mark-mask 0xff
bad "missing --target" --vip 10.77.0.1
bad "missing --vip" --target 1=192.168.77.2
bad "nexthop family" --vip 10.77.0.1 --target 1=fd00:77::2
bad "a target without an IPv6 nexthop" --vip 10.77.0.1,2001:db8:77::1 --target 1=192.168.77.2,1=fd00:77::2 --target 2=192.168.77.3
bad "--apply with --delete" --vip 10.77.0.1 --target 1=192.168.77.2 --apply --delete
bad "--fastpath with --fastpath-only" --vip 10.77.0.1 --target 1=192.168.77.2 --fastpath --fastpath-only

echo
if [ "$failures" -ne 0 ]; then
    echo "test-rules: $failures check(s) failed"
    exit 1
fi
echo "test-rules: all checks passed"
