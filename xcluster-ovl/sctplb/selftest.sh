#!/bin/bash
# shellcheck disable=SC2317 # functions run through check and the trap
# selftest.sh: checks the overlay on a host without Xcluster and without kernel SCTP, as root:
# packs it with ./tar, runs the packed sctplb and sctpt in a chroot of the tar (so the copied
# libraries suffice), and runs the packed bin/sctplb_test under busybox sh (or dash) in network
# namespaces of its own (prefix + PID, deleted on exit): VIP setup on a server, two LBs in vtag
# mode with association sync over a link between them (lb_setup, lb_start, sync peers up,
# crash and restart, teardown leaves nothing), path cut/heal, the ctraffic checks on sample
# output, and option errors. The server/client/ctraffic test cases need kernel SCTP: the VM
# suite (tests/vm) runs them in guests.
#
# usage: selftest.sh   (environment as for ./tar: SCTPLB_BIN, SCTPT_BIN, SCTPLB_BUILD_DIR;
#                       SELFTEST_SHELL: the shell for sctplb_test, default busybox sh)
set -u

dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$dir/../.." && pwd)
build_dir=${SCTPLB_BUILD_DIR:-$repo/build}
# A static sctpt where ./tar does not look by default (a -DSCTPT_STATIC=ON build directory).
if [ -z "${SCTPT_BIN:-}" ] && [ ! -x "$build_dir/test-apps/sctpt/sctpt-static" ] &&
	[ ! -x "$build_dir/tests/vm/sctpt-static" ] && [ -x "$repo/build-sctpt-static/test-apps/sctpt/sctpt" ]; then
	export SCTPT_BIN=$repo/build-sctpt-static/test-apps/sctpt/sctpt
fi
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
# The guests' shell: busybox ash (or SELFTEST_SHELL, e.g. dash).
shell=(sh)
if [ -n "${SELFTEST_SHELL:-}" ]; then
	read -r -a shell <<<"$SELFTEST_SHELL"
elif command -v busybox >/dev/null; then
	shell=(busybox sh)
elif command -v dash >/dev/null; then
	shell=(dash)
fi

work=$(mktemp -d /tmp/sctplb-ovl-selftest.XXXXXX)
prefix=ovlst$$
ns_a=$prefix-a
ns_b=$prefix-b
ns_srv=$prefix-srv
shm_a=${prefix}a
shm_b=${prefix}b
failures=0
namespaces=()

cleanup() {
	local ns
	# The test cases stop what they started (by PID file, checking the program name).
	for ns in "$ns_a" "$ns_b"; do
		[ -d "$work/run-$ns" ] || continue
		SCTPLB_RUN_DIR=$work/run-$ns SCTPLB_BIN=$work/root/bin/sctplb \
			ip netns exec "$ns" "${shell[@]}" "$work/root/bin/sctplb_test" tcase_lb_teardown \
			--shm="$(cat "$work/shm-$ns" 2>/dev/null)" >/dev/null 2>&1
	done
	for ns in "${namespaces[@]}"; do ip netns delete "$ns" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@" >"$work/out" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/    /' "$work/out"; fi
}
check_not() { # check_not DESCRIPTION PATTERN COMMAND...: fails, saying PATTERN
	local what=$1 pattern=$2
	shift 2
	if "$@" >"$work/out" 2>&1; then
		fail "$what (succeeded)"
		sed 's/^/    /' "$work/out"
	elif ! grep -q -- "$pattern" "$work/out"; then
		fail "$what (not for '$pattern')"
		sed 's/^/    /' "$work/out"
	else
		pass "$what"
	fi
}
# t NS TCASE...: the packed sctplb_test in NS, with NS's own run directory.
t() {
	local ns=$1
	shift
	SCTPLB_RUN_DIR=$work/run-$ns SCTPLB_CONF_DIR=$work/root/etc/sctplb SCTPLB_BIN=$work/root/bin/sctplb \
		SCTPT_BIN=$work/root/bin/sctpt ip netns exec "$ns" "${shell[@]}" "$work/root/bin/sctplb_test" "$@"
}
new_ns() { ip netns add "$1" && namespaces+=("$1") && ip -n "$1" link set lo up; }

# --- the tar
check "tar packs the overlay" "$dir/tar" "$work/ovl.tar"
mkdir -p "$work/root"
tar -xf "$work/ovl.tar" -C "$work/root" || { echo "FAIL: cannot unpack"; exit 1; }
for f in bin/sctplb bin/sctpt bin/sctplb_test etc/init.d/32sctplb.rc etc/sctplb/seed etc/sctplb/sync.key; do
	check "tar holds $f" test -s "$work/root/$f"
done
check "seed and key are private" sh -c "[ \"\$(stat -c %a '$work/root/etc/sctplb/seed')\" = 600 ] && [ \"\$(stat -c %a '$work/root/etc/sctplb/sync.key')\" = 600 ]"
check "packed sctplb runs with the packed libraries only (chroot)" chroot "$work/root" /bin/sctplb show --help
check "packed sctpt is static and runs (chroot)" chroot "$work/root" /bin/sctpt help
check_not "tar refuses a missing sctplb" "no sctplb at /nonexistent" env SCTPLB_BIN=/nonexistent "$dir/tar" "$work/bad.tar"
check_not "tar refuses without an output file" "usage:" "$dir/tar"
check "sctplb_test list" "${shell[@]}" "$work/root/bin/sctplb_test" list

# --- option errors
new_ns "$ns_srv" || exit 1
check_not "unknown test case fails" "unknown test case" t "$ns_srv" tcase_no_such_case
check_not "lb_setup without --vip fails" "vip=A.* is required" t "$ns_srv" tcase_lb_setup --target=1=192.168.1.1
check_not "vip_setup refuses extra arguments" "unexpected argument 'extra'" t "$ns_srv" tcase_vip_setup extra

# --- a DSR server's VIPs
check "vip_setup (default VIPs)" t "$ns_srv" tcase_vip_setup
check "VIPs on lo" sh -c "ip -n $ns_srv addr show dev lo | grep -q 'inet 10.0.0.2/32' && ip -n $ns_srv addr show dev lo | grep -q 'inet6 fd00::1:2/128'"
check "arp_ignore=1 arp_announce=2" sh -c "[ \$(ip netns exec $ns_srv cat /proc/sys/net/ipv4/conf/all/arp_ignore) = 1 ] && [ \$(ip netns exec $ns_srv cat /proc/sys/net/ipv4/conf/all/arp_announce) = 2 ]"
check "vip_setup again (idempotent), options before the name" t "$ns_srv" --vip=10.0.0.1 tcase_vip_setup
check "an interface on net 2" sh -c "ip -n $ns_srv link add eth1 type veth peer name e1peer && ip -n $ns_srv link set e1peer up && ip -n $ns_srv link set eth1 up && ip -n $ns_srv addr add 192.168.2.5/24 dev eth1 && ip -n $ns_srv -6 addr add fd00:2::5/64 dev eth1 nodad"
check "tcase_route IPv4" t "$ns_srv" tcase_route 10.0.0.9/32 192.168.2.201
check "tcase_route IPv6" t "$ns_srv" route fd00::1:9/128 fd00:2::201
check "the routes exist" sh -c "ip -n $ns_srv route show 10.0.0.9/32 | grep -q 'via 192.168.2.201' && ip -n $ns_srv -6 route show fd00::1:9/128 | grep -q 'via fd00:2::201'"

# --- two LBs, vtag mode, association sync over net 3 (a veth between them)
new_ns "$ns_a" && new_ns "$ns_b" || exit 1
echo "$shm_a" >"$work/shm-$ns_a"
echo "$shm_b" >"$work/shm-$ns_b"
ip link add eth3 netns "$ns_a" type veth peer name eth3 netns "$ns_b" || exit 1
for k in a:201 b:202; do
	ns=$prefix-${k%%:*}
	h=${k#*:}
	ip -n "$ns" link set eth3 up
	ip -n "$ns" addr add "192.168.3.$h/24" dev eth3
	ip -n "$ns" link add eth1 type veth peer name e1peer # no dummy module on every host
	ip -n "$ns" link set e1peer up
	ip -n "$ns" link set eth1 up
	ip -n "$ns" addr add "192.168.1.$h/24" dev eth1
	ip -n "$ns" -6 addr add "fd00:1::$h/64" dev eth1 nodad
done
targets='--target=1=192.168.1.1 --target=1=fd00:1::1 --target=2=192.168.1.2,2=fd00:1::2 --target=3=192.168.1.3,3=fd00:1::3'
# shellcheck disable=SC2086
check "lb_setup on A (vtag, sync)" t "$ns_a" tcase_lb_setup --hash=vtag --vip=10.0.0.1,fd00::1:1 $targets \
	--shm="$shm_a" --sync-listen=192.168.3.201:7400 --sync-peer=192.168.3.202:7400
# shellcheck disable=SC2086
check "lb_setup on B (vtag, sync)" t "$ns_b" --hash=vtag tcase_lb_setup --vip=10.0.0.1,fd00::1:1 $targets \
	--shm="$shm_b" --sync-listen=192.168.3.202:7400 --sync-peer=192.168.3.201:7400
check "forwarding on, rp_filter off" sh -c "[ \$(ip netns exec $ns_a cat /proc/sys/net/ipv4/ip_forward) = 1 ] && [ \$(ip netns exec $ns_a cat /proc/sys/net/ipv4/conf/all/rp_filter) = 0 ]"
check "NFQUEUE rule (IPv4)" sh -c "ip netns exec $ns_a iptables -t mangle -S PREROUTING | grep -q 'sctplb:$shm_a.*NFQUEUE --queue-num 2'"
check "NFQUEUE rule (IPv6)" sh -c "ip netns exec $ns_a ip6tables -t mangle -S PREROUTING | grep -q 'sctplb:$shm_a.*NFQUEUE --queue-num 2'"
check "fwmark 2 routes the VIP to server 2" sh -c "ip -n $ns_a route get 10.0.0.1 mark 2 | grep -q 'via 192.168.1.2'"
check "fwmark 3 routes the IPv6 VIP to server 3" sh -c "ip -n $ns_a -6 route get fd00::1:1 mark 3 | grep -q 'via fd00:1::3'"
check "targets 1 2 3 active, vtag mode" sh -c "$work/root/bin/sctplb show --shm $shm_a --json | python3 -c '
import json, sys
show = json.load(sys.stdin)
assert show[\"hash\"] == \"vtag\", show[\"hash\"]
assert sorted(t[\"fwmark\"] for t in show[\"targets\"] if t[\"state\"] == \"active\") == [1, 2, 3], show[\"targets\"]
'"
check "A and B have the same config digest (one seed file)" sh -c "
	a=\$($work/root/bin/sctplb show --shm $shm_a | grep -i digest); b=\$($work/root/bin/sctplb show --shm $shm_b | grep -i digest)
	[ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ]"
check "lb_start on A" t "$ns_a" tcase_lb_start --shm="$shm_a" --log="$work/lb-a.log"
check "lb_start on B" t "$ns_b" tcase_lb_start --shm="$shm_b" --log="$work/lb-b.log"
check_not "a second lb_start on A is refused" "runs already" t "$ns_a" tcase_lb_start --shm="$shm_a" --log="$work/lb-a.log"
sleep 1
check "A's sync peer B is up with the same digest (sctplb stats)" sh -c "$work/root/bin/sctplb stats --shm $shm_a --json | python3 -c '
import json, sys
peers = json.load(sys.stdin)[\"sync\"][\"peers\"]
assert [(p[\"address\"], p[\"state\"], p[\"digest_match\"]) for p in peers] == [(\"192.168.3.202:7400\", \"up\", True)], peers
'"
check "tcase_sctplb stats" t "$ns_a" tcase_sctplb --shm="$shm_a" stats
check "lb_stop --signal=KILL (a crash)" t "$ns_a" tcase_lb_stop --shm="$shm_a" --signal=KILL
check "no daemon on A" sh -c "! grep -qs . /proc/\$(cat $work/run-$ns_a/$shm_a.pid 2>/dev/null || echo 0)/comm"
check "lb_start on A again (segment kept)" t "$ns_a" tcase_lb_start --shm="$shm_a" --log="$work/lb-a.log"
check "lb_teardown on A" t "$ns_a" tcase_lb_teardown --shm="$shm_a"
check "teardown left no rule, route or segment" sh -c "
	! ip netns exec $ns_a iptables-save | grep -q sctplb: && ! ip netns exec $ns_a ip6tables-save | grep -q sctplb: &&
	! ip -n $ns_a rule | grep -q 'proto 132\|protocol 132' && ! $work/root/bin/sctplb show --shm $shm_a"
check "lb_teardown on B" t "$ns_b" tcase_lb_teardown --shm="$shm_b"

# --- SCTP over UDP: lb_setup --encap-port passes it to 'sctplb rules' and 'sctplb lb'
# shellcheck disable=SC2086
check "lb_setup --encap-port=9899 on A" t "$ns_a" tcase_lb_setup --vip=10.0.0.1,fd00::1:1 $targets --shm="$shm_a" --encap-port=9899
check "UDP to the VIP's port 9899 is queued (IPv4, IPv6)" sh -c "
	ip netns exec $ns_a iptables -t mangle -S PREROUTING | grep -q -- '-d 10.0.0.1/32 -p udp .*--dport 9899 .*NFQUEUE' &&
	ip netns exec $ns_a ip6tables -t mangle -S PREROUTING | grep -q -- '-d fd00::1:1/128 -p udp .*--dport 9899 .*NFQUEUE'"
check "the lb options keep --encap-port 9899" grep -q -- '--encap-port 9899' "$work/run-$ns_a/$shm_a.lb"
check "lb_start with --encap-port" t "$ns_a" tcase_lb_start --shm="$shm_a" --log="$work/lb-a-udp.log"
check "lb_teardown (encap)" t "$ns_a" tcase_lb_teardown --shm="$shm_a"
check "no UDP rule left" sh -c "! ip netns exec $ns_a iptables-save | grep -q 9899 && ! ip netns exec $ns_a ip6tables-save | grep -q 9899"
check_not "lb_setup --encap-port=x fails" "wants a port" t "$ns_a" tcase_lb_setup --vip=10.0.0.1 --target=1=192.168.1.1 --shm="$shm_a" --encap-port=x

# --- ECMP instead of sctplb (the baseline)
# shellcheck disable=SC2086
check "ecmp_setup" t "$ns_a" tcase_ecmp_setup --vip=10.0.0.1,fd00::1:1 $targets
check "the VIPs over the three servers, L4 hash" sh -c "
	[ \$(ip -n $ns_a route show 10.0.0.1 | grep -c nexthop) = 3 ] && [ \$(ip -n $ns_a -6 route show fd00::1:1 | grep -c nexthop) = 3 ] &&
	[ \$(ip netns exec $ns_a cat /proc/sys/net/ipv4/fib_multipath_hash_policy) = 1 ] &&
	[ \$(ip netns exec $ns_a cat /proc/sys/net/ipv6/fib_multipath_hash_policy) = 1 ]"
check "ecmp_teardown" t "$ns_a" tcase_ecmp_teardown --vip=10.0.0.1,fd00::1:1
check "no VIP route left" sh -c "[ -z \"\$(ip -n $ns_a route show 10.0.0.1)\" ] && [ -z \"\$(ip -n $ns_a -6 route show fd00::1:1)\" ]"

# --- path cut / heal on an LB
check "path_cut" t "$ns_a" tcase_path_cut
check "FORWARD drops SCTP, both families" sh -c "ip netns exec $ns_a iptables -S FORWARD | grep -q -- '-p sctp .*path-cut.*DROP' && ip netns exec $ns_a ip6tables -S FORWARD | grep -q -- '-p sctp .*path-cut.*DROP'"
check "and UDP to and from 9899 (SCTP over UDP), both families" sh -c "for t in iptables ip6tables; do
	ip netns exec $ns_a \$t -S FORWARD | grep -q -- '--dport 9899 .*path-cut.*DROP' &&
	ip netns exec $ns_a \$t -S FORWARD | grep -q -- '--sport 9899 .*path-cut.*DROP' || exit 1; done"
check "path_cut again" t "$ns_a" tcase_path_cut
check "path_cut twice adds nothing" sh -c "[ \$(ip netns exec $ns_a iptables -S FORWARD | grep -c path-cut) = 3 ]"
check "path_cut --encap-port=9900 adds that port" t "$ns_a" tcase_path_cut --encap-port=9900
check "five drops" sh -c "[ \$(ip netns exec $ns_a ip6tables -S FORWARD | grep -c path-cut) = 5 ]"
check "path_heal" t "$ns_a" tcase_path_heal
check "no drop left" sh -c "! ip netns exec $ns_a iptables -S FORWARD | grep -q path-cut && ! ip netns exec $ns_a ip6tables -S FORWARD | grep -q path-cut"

# --- the ctraffic checks on sample output (the shape 'sctpt ctraffic' prints, dump(2))
sample() { # sample STATUS SERVERS-OF-ASSOC1 SERVERS-OF-ASSOC2 FAILOVERS
	python3 - "$2" "$3" "$4" >"$work/ct.json" <<-'EOF'
		import json, sys
		def servers(spec): return {name: 5 for name in spec.split(",") if name}
		assocs = [{"client": i, "state": "closed", "sent": 5, "echoed": 5, "lost": 0,
		           "rtt_ms": {"p50": 1, "p99": 2, "max": 3}, "servers": servers(s),
		           "echo_sources": {"10.0.0.1": 5}, "failovers": int(sys.argv[3]) if i == 0 else 0,
		           "path_events": []} for i, s in enumerate(sys.argv[1:3])]
		total = {}
		for a in assocs:
		    for k in a["servers"]: total[k] = total.get(k, 0) + 5
		print(json.dumps({"running": False, "associations": assocs,
		                  "totals": {"associations": 2, "came_up": 2, "sent": 10, "echoed": 10,
		                             "lost": 0, "servers": total}}, indent=2))
	EOF
	echo "$1" >"$work/ct.json.status"
	: >"$work/ct.json.log"
}
ctwait() { t "$ns_srv" tcase_ctraffic_wait --out="$work/ct.json" "$@"; }
sample 0 server-1 server-2 0
check "ctraffic: pinned, 2 servers" ctwait --min-servers=2
check_not "ctraffic: 3 servers wanted" "only 2 servers answered" ctwait --min-servers=3
sample 0 server-1,server-2 server-2 0
check_not "ctraffic: an association answered by two servers" "pinning broken" ctwait
sample 0 server-1 "" 0
check_not "ctraffic: an association answered by none" "pinning broken" ctwait
sample 1 server-1 server-1 0
check_not "ctraffic: sctpt failed" "sctpt ctraffic failed (status 1)" ctwait
sample 0 server-3 server-3 2
check "ctraffic: failovers counted" ctwait --min-failovers=2
check_not "ctraffic: failovers wanted" "only 2 failovers" ctwait --min-failovers=3

# --- the ctraffic checks on real 'sctpt ctraffic' output: usrsctp endpoints through the
# namespace dual-path topology (tests/topology/dual-path.sh), when sctpt has its usrsctp stack
sctpt_usr=${SCTPT:-$build_dir/test-apps/sctpt/sctpt}
dual=$repo/tests/topology/dual-path.sh
if [ -x "$sctpt_usr" ] && "$sctpt_usr" help | grep -q "^stacks built in:.* usrsctp" && [ -x "$dual" ]; then
	dp=${prefix}dp
	dp_env=(env "SCTPLB_BIN=$work/root/bin/sctplb" "SCTPT=$sctpt_usr" "DUAL_PATH_STATE_DIR=$work/dual")
	dual_down() { "${dp_env[@]}" "$dual" lb-stop "$dp" >/dev/null 2>&1; "${dp_env[@]}" "$dual" down "$dp" >/dev/null 2>&1; }
	trap 'dual_down; cleanup' EXIT
	if "${dp_env[@]}" "$dual" up "$dp" --mode ports >"$work/dual.log" 2>&1 &&
		"${dp_env[@]}" "$dual" servers "$dp" >>"$work/dual.log" 2>&1 &&
		"${dp_env[@]}" "$dual" lb-start "$dp" >>"$work/dual.log" 2>&1; then
		timeout 60 ip netns exec "$dp-vm221" "$sctpt_usr" ctraffic --stack usrsctp --port 36412 \
			--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 8 --rate 10 \
			--duration 2 --primary 10.0.0.2 --primary-after 10 >"$work/ct.json" 2>"$work/ct.json.log"
		echo $? >"$work/ct.json.status"
		check "ctraffic (real usrsctp run, 8 associations): pinned, 2 servers or more" ctwait --min-servers=2
		check "the checks agree with the JSON" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["associations"]) == 8 and all(len(a["servers"]) == 1 for a in d["associations"])
assert len(d["totals"]["servers"]) >= 2' "$work/ct.json"
	else
		fail "dual-path topology did not come up"
		sed 's/^/    /' "$work/dual.log"
	fi
	dual_down
else
	echo "SKIP: ctraffic on real output (no sctpt with usrsctp in $build_dir)"
fi

echo "shell: ${shell[*]}"
if [ $failures -eq 0 ]; then echo "selftest: all passed"; exit 0; fi
echo "selftest: $failures failed"
exit 1
