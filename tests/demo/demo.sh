#!/bin/bash
# demo.sh BUILD_DIR: live failover of a multihomed SCTP association across two load balancers.
#
# In network namespaces (tests/topology/dual-path.sh, the Xcluster dual-path shape): a client
# with one address on net 2 (path A) and one on net 6 (path B); load balancer vm-201 (path A,
# VIP 10.0.0.1) and vm-202 (path B, VIP 10.0.0.2), each running its own `sctplb lb` in `ports`
# mode with the same seed and targets and NO shared state; three direct-server-return servers on
# nets 1 and 4 holding both VIPs. The client sends messages; each line shows the path it took and
# the server that answered. Path A is cut in vm-201: the association fails over to path B, on
# the same server, and no message is lost. Then `sctplb stats` and `sctplb assoc` of both LBs.
# Everything is removed at the end (also on Ctrl-C). Needs root; takes about 20 seconds.
#
# Usage: tests/demo/demo.sh BUILD_DIR   (./run.sh demo builds and calls it)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ] || [ -z "${1:-}" ]; then
	sed -n '2,13p' "$0"
	[ -n "${1:-}" ] && exit 0 || exit 2
fi
SCTPLB_BUILD_DIR=$(cd "$1" && pwd)
export SCTPLB_BUILD_DIR
export SCTPLB_BIN=$SCTPLB_BUILD_DIR/lb/cli/sctplb
export USCTP=$SCTPLB_BUILD_DIR/test-apps/usrsctp/usctp
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"

if [ -t 1 ]; then
	bold=$'\033[1m' dim=$'\033[2m' green=$'\033[32m' cyan=$'\033[36m' yellow=$'\033[33m' red=$'\033[31m' off=$'\033[0m'
else
	bold='' dim='' green='' cyan='' yellow='' red='' off=''
fi
step_number=0
steps=5
step() {
	step_number=$((step_number + 1))
	printf '\n%s[%d/%d] %s%s\n' "$bold" "$step_number" "$steps" "$*" "$off"
}
show() { printf '  %s$ %s%s\n' "$dim" "$*" "$off"; }
indent() { sed 's/^/    /'; }
die() {
	echo "demo: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || {
	echo "demo: needs root (it creates network namespaces, iptables rules and NFQUEUEs);" >&2
	echo "      run: sudo ./run.sh demo" >&2
	exit 2
}
[ -x "$SCTPLB_BIN" ] || die "sctplb is not built in $SCTPLB_BUILD_DIR (./run.sh build)"
[ -x "$USCTP" ] || die "usctp is not built in $SCTPLB_BUILD_DIR (needs libusrsctp-dev)"
for tool in ip nft iptables ip6tables python3; do command -v $tool >/dev/null || die "$tool is not installed"; done
started=$SECONDS

cat <<EOF
${bold}sctplb demo: one multihomed SCTP association, two paths, two load balancers, one server${off}

  client vm-221                 load balancers (sctplb lb, ports mode)        servers (DSR)
  192.168.2.221 ── path A ──► vm-201  VIP 10.0.0.1 ── net 1 ──┐   ┌► vm-001 server-1 (fwmark 1)
                                                              ├───┼► vm-002 server-2 (fwmark 2)
  192.168.6.221 ── path B ──► vm-202  VIP 10.0.0.2 ── net 4 ──┘   └► vm-003 server-3 (fwmark 3)

  SCTP paths are per destination address: one VIP per path, every server holds both.
  The servers answer the client directly (direct server return), each path back through its LB.
  The two sctplb instances share NO state: same seed file, Maglev size and targets, 'ports'
  mode. A new association's server comes from a keyed hash of its ports, so both LBs pick the
  same server for it, and each pins it once seen. (In 'vtag' mode the path-B LB would need the
  INIT, i.e. association sync between LBs, which is not here yet.)
EOF

step "Namespaces, links, routes, sctplb rules and configuration (tests/topology/dual-path.sh up)"
t0=$SECONDS
trap 'echo; echo "${dim}cleaning up: stopping processes, deleting namespaces demo*-*${off}"; tl_cleanup' EXIT
dpt_setup demo --mode ports --clients 1
trap 'echo; echo "${dim}cleaning up: stopping processes, deleting namespaces $tl_prefix-*${off}"; tl_cleanup' EXIT
echo "  namespaces $tl_prefix-{vm221,vm201,vm202,vm001,vm002,vm003,sw} ready in $((SECONDS - t0)) s;"
echo "  usctp servers server-1..3 listen on 10.0.0.1 and 10.0.0.2, port $DP_PORT"
show "ip netns exec $DP_LB201_NS sctplb rules --shm $DP_LB201_SHM --vip 10.0.0.1,fd00::1:1 --target 1=192.168.1.1 ... --apply"
show "ip netns exec $DP_LB_B_NS sctplb rules --shm $DP_LB_B_SHM --vip 10.0.0.2,fd00::1:2 --target 1=192.168.4.1 ... --apply"
show "sctplb init --shm NAME --hash ports --seed-file SEED --M 997; sctplb activate --shm NAME 1 2 3   (both)"
for lb in 201 202; do
	digest=$(tl_json "$(dpt_sctplb $lb show --json)" "d.get('config_digest', d.get('digest', '?'))")
	echo "    vm-$lb: hash ports, targets 1 2 3, config digest $digest"
done

step "Start the data path on both load balancers"
show "ip netns exec $DP_LB201_NS sctplb lb --shm $DP_LB201_SHM --queue 2"
show "ip netns exec $DP_LB_B_NS sctplb lb --shm $DP_LB_B_SHM --queue 2"
dpt_lb_start
for lb in 201 202; do tail -n 1 "$DP_STATE/lb-$lb.log" | sed "s/^/    vm-$lb: /"; done

count=14
cut_after=5
a=$(dpt_client_address 1 A)
b=$(dpt_client_address 1 B)
step "A multihomed client: $count messages; path A is cut after message $cut_after"
show "ip netns exec $DP_CLIENT1_NS usctp client --laddr $DP_CLIENT1_ADDRS --addr $DP_VIPS --count $count"
dpt_client demo 1 --count "$count" --interval-ms 300 --echo-wait-ms 8000
server=''
for i in $(seq 1 "$count"); do
	if ! tl_wait_echoes demo "$i" 10; then
		echo "  ${yellow}message $i: no echo within 10 s${off}"
		break
	fi
	echo_line=$(grep "client: echo via .*: message $i\$" "$tl_work/demo.log" | head -n 1)
	answered=$(echo "$echo_line" | sed -n 's/.*echo via [^ ]*: \(server-[0-9]*\): .*/\1/p')
	[ -n "$server" ] || server=$answered
	# The client address the message came from, at the server that answered.
	from=$(tl_server_messages "$answered" | awk -v m="$i" '$3 == m { print $1; exit }')
	case $from in
	"$a") path="path A  $a → 10.0.0.1  via vm-201" ;;
	"$b") path="path B  $b → 10.0.0.2  via vm-202" ;;
	*) path="path ?  $from" ;;
	esac
	printf '  message %-3s %s   answered by %s%s%s\n' "$i" "$path" "$green" "$answered" "$off"
	if [ "$i" = 1 ]; then
		counters=$(dpt_counters)
		on_b=$(dpt_counter "$counters" "$server" "$b")
		echo "  ${dim}(path B is already alive: $server received $on_b packet(s), heartbeat traffic, from $b via vm-202)${off}"
	fi
	if [ "$i" = "$cut_after" ]; then
		echo "  ${red}${bold}✂ cutting path A: iptables + ip6tables FORWARD -i/-o eth2 -p sctp -j DROP in vm-201${off}"
		"$DPT_TOPOLOGY" cut-path-a "$tl_prefix"
		cut_at=$(date +%s.%N)
	fi
	if [ "$i" = $((cut_after + 1)) ]; then
		took=$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$cut_at")
		echo "  ${cyan}(the client retransmitted on path B, to VIP 10.0.0.2; first echo after the cut in $took s)${off}"
	fi
done
status=0
tl_wait demo 30 || status=$?
servers=$(tl_echo_servers demo | tr '\n' ' ')
grep -E 'peer address .* (UNREACHABLE|AVAILABLE)' "$tl_work/demo.log" | sed 's/^\[ *[0-9.]*\] /  client: /; s/client: client: /client: /' || true
if [ "$status" = 0 ] && [ "$(echo $servers | wc -w)" = 1 ] && [ "$(tl_echo_count demo)" = "$count" ]; then
	echo "  ${green}${bold}all $count messages echoed, all by ${servers% }, before and after the cut: no message lost${off}"
else
	echo "  ${yellow}client exit status $status; $(tl_echo_count demo) echoes from: $servers${off}"
	tail -n 5 "$tl_work/demo.log" | indent
fi
packets=$(dpt_counters | awk -v a="$a" -v b="$b" '($2 == a || $2 == b) && $3 > 0 { printf "%s from %s: %s; ", $1, $2, $3 }')
echo "  packets the servers received from this client (nft counters): ${packets:-none}"

step "What each load balancer counted and pinned"
for lb in 201 202; do
	show "ip netns exec $tl_prefix-vm$lb sctplb stats --shm $tl_prefix-$lb      (zero counters left out)"
	dpt_sctplb $lb stats | awk '
		/^(reasons|events):/ { section = $1; print "    " $0; next }
		/^  [a-z]/ && section != "" && NF == 2 { if ($2 != 0) print "    " $0; next }
		{ section = ""; print "    " $0 }'
	show "ip netns exec $tl_prefix-vm$lb sctplb assoc --shm $tl_prefix-$lb"
	dpt_sctplb $lb assoc | indent
done
echo "  ${dim}vm-201 saw the INIT (init-hash); vm-202 first met the association on path B (ports-hash)"
echo "  and pinned it to the same fwmark. vm-201 keeps its entry until the idle timeout: the"
echo "  SHUTDOWN went on path B.${off}"

step "Clean up"
echo "  done in $((SECONDS - started)) s"
