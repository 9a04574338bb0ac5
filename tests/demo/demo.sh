#!/bin/bash
# demo.sh BUILD_DIR: a live multihomed SCTP association balanced by `sctplb lb`, step by step.
#
# In network namespaces (tests/topology/lb-topology.sh): clients with two addresses each (path A
# on 192.168.2.0/24, path B on 192.168.6.0/24), one load balancer running `sctplb lb` on an
# NFQUEUE, and three direct-server-return servers that each hold both VIPs (10.0.0.1 for path
# A, 10.0.0.2 for path B). A client sends messages on path A, switches its primary path to B,
# and every message shows which server answered: always the same one, on both paths. Then
# `sctplb assoc`, more clients spread over the servers, and `sctplb stats`. Everything is removed
# at the end (also on Ctrl-C). Needs root; takes about 15 seconds.
#
# Usage: tests/demo/demo.sh BUILD_DIR   (./run.sh demo builds and calls it)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ] || [ -z "${1:-}" ]; then
	sed -n '2,12p' "$0"
	[ -n "${1:-}" ] && exit 0 || exit 2
fi
SCTPLB_BUILD_DIR=$(cd "$1" && pwd)
export SCTPLB_BUILD_DIR
export SCTPLB_BIN=$SCTPLB_BUILD_DIR/lb/cli/sctplb
export USCTP=$SCTPLB_BUILD_DIR/test-apps/usrsctp/usctp
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/lb-test-lib.sh
. "$script_dir/../topology/lb-test-lib.sh"

if [ -t 1 ]; then
	bold=$'\033[1m' dim=$'\033[2m' green=$'\033[32m' cyan=$'\033[36m' yellow=$'\033[33m' off=$'\033[0m'
else
	bold='' dim='' green='' cyan='' yellow='' off=''
fi
step_number=0
steps=7
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
	echo "demo: needs root (it creates network namespaces, iptables rules and an NFQUEUE);" >&2
	echo "      run: sudo ./run.sh demo" >&2
	exit 2
}
[ -x "$SCTPLB_BIN" ] || die "sctplb is not built in $SCTPLB_BUILD_DIR (./run.sh build)"
[ -x "$USCTP" ] || die "usctp is not built in $SCTPLB_BUILD_DIR (needs libusrsctp-dev)"
for tool in ip nft iptables python3; do command -v $tool >/dev/null || die "$tool is not installed"; done
started=$SECONDS

cat <<EOF
${bold}sctplb demo: one multihomed SCTP association, two paths, one server${off}

  client, 2 addresses          load balancer (namespace)             3 servers (DSR)
  192.168.2.221 ── path A ──┐                                      ┌─► server-1 (fwmark 1)
                            ├─► iptables NFQUEUE 2 ─► sctplb lb ──┼─► server-2 (fwmark 2)
  192.168.6.221 ── path B ──┘   verdict: fwmark N → route to N     └─► server-3 (fwmark 3)

  Path A is addressed to VIP 10.0.0.1, path B to VIP 10.0.0.2; every server holds both VIPs.

  The servers answer the client directly (direct server return). sctplb pins every packet of an
  association, on every path, to one server: a packet reaching another server would be answered
  with an ABORT, which kills the association.
EOF

step "Network namespaces, links, routes (tests/topology/lb-topology.sh up)"
t0=$SECONDS
trap 'echo; echo "${dim}cleaning up: stopping processes, deleting namespaces demo*-*${off}"; lbt_cleanup' EXIT
lbt_setup demo --clients 4
trap 'echo; echo "${dim}cleaning up: stopping processes, deleting namespaces $lbt_prefix-*${off}"; lbt_cleanup' EXIT
echo "  namespaces $lbt_prefix-{c,c2,c3,c4,sw,lb,s1,s2,s3} ready in $((SECONDS - t0)) s; usctp servers server-1..3 listen on both VIPs, port $LB_PORT"

step "The load balancer's configuration (shared memory '$LB_SHM') and its rules"
show "sctplb init --shm $LB_SHM --hash vtag --seed-file SEED    (done by the topology script)"
show "sctplb activate --shm $LB_SHM 1 2 3"
show "sctplb show --shm $LB_SHM"
lbt_sctplb show | indent
show "sctplb rules --shm $LB_SHM --vip 10.0.0.1,10.0.0.2 --queue 2 --target 1=192.168.11.2 --target 2=192.168.12.2 --target 3=192.168.13.2 --apply"
grep -c '^+' "$LB_STATE/rules.log" | sed 's/^/    /; s/$/ rules and routes added, e.g.:/'
grep -E 'NFQUEUE|fwmark 0x1/' "$LB_STATE/rules.log" | sed 's/^+ /    /'

step "Start the data path"
show "ip netns exec $LB_NS sctplb lb --shm $LB_SHM --queue 2"
lbt_lb_start
tail -n 2 "$LB_STATE/lb.log" | indent

count=10
switch_after=5
step "A multihomed client: $count messages, path A first, primary path B from message $((switch_after + 1))"
show "ip netns exec $LB_CLIENT1_NS usctp client --laddr $LB_CLIENT1_ADDRS --addr $LB_VIPS --count $count --primary 10.0.0.2 --primary-after $switch_after"
lbt_client demo 1 --count "$count" --interval-ms 400 --primary 10.0.0.2 --primary-after "$switch_after"
read -r a2 a6 <<<"$(echo "$LB_CLIENT1_ADDRS" | tr , ' ')"
assoc_shown=no
for i in $(seq 1 "$count"); do
	if ! lbt_wait_echoes demo "$i" 10; then
		echo "  ${yellow}message $i: no echo within 10 s${off}"
		break
	fi
	echo_line=$(grep "client: echo via .*: message $i\$" "$lbt_work/demo.log" | head -n 1)
	answered=$(echo "$echo_line" | sed -n 's/.*echo via [^ ]*: \(server-[0-9]*\): .*/\1/p')
	# Which client address the message arrived from, at the server that answered.
	from=$(lbt_server_messages "$answered" | awk -v m="message $i" '$2 " " $3 == m { print $1; exit }')
	case $from in
	"$a2") path="path A  $a2 → 10.0.0.1" ;;
	"$a6") path="path B  $a6 → 10.0.0.2" ;;
	*) path="path ?  $from" ;;
	esac
	[ "$i" = $((switch_after + 1)) ] && echo "  ${cyan}(the client makes 10.0.0.2 its primary path)${off}"
	printf '  message %-3s %s  answered by %s%s%s\n' "$i" "$path" "$green" "$answered" "$off"
	if [ "$i" = $((switch_after + 2)) ] && [ $assoc_shown = no ]; then
		assoc_shown=yes
		echo
		show "sctplb assoc --shm $LB_SHM      (while the association is live)"
		lbt_sctplb assoc | indent
		echo
	fi
done
status=0
lbt_wait demo 20 || status=$?
servers=$(lbt_echo_servers demo | tr '\n' ' ')
if [ "$status" = 0 ] && [ "$(echo $servers | wc -w)" = 1 ]; then
	echo "  ${green}${bold}every message on both paths reached ${servers% }; the association ended with SHUTDOWN COMPLETE${off}"
else
	echo "  ${yellow}client exit status $status; echoes from: $servers${off}"
	tail -n 5 "$lbt_work/demo.log" | indent
fi
packets=$(lbt_counters | awk -v a="$a2" -v b="$a6" '($2 == a || $2 == b) && $3 > 0 { printf "%s %s: %s packets; ", $1, $2, $3 }')
echo "  packets the servers received from this client (nft counters): ${packets:-none}"

step "Three more clients at once: new associations are spread by Maglev over the servers"
for k in 2 3 4; do lbt_client "more$k" "$k" --count 3 --interval-ms 200 --primary 10.0.0.2 --primary-after 1; done
for k in 2 3 4; do
	status=0
	lbt_wait "more$k" 20 || status=$?
	v=LB_CLIENT${k}_ADDRS
	printf '  client %s  %-28s → %s%s%s  (exit %s)\n' "$k" "${!v}" "$green" "$(lbt_echo_servers "more$k" | tr '\n' ' ')" "$off" "$status"
done

step "What the load balancer counted"
show "sctplb stats --shm $LB_SHM      (zero counters left out)"
lbt_sctplb stats | awk '
	/^(reasons|events):/ { section = $1; print "    " $0; next }
	/^  [a-z]/ && section != "" && NF == 2 { if ($2 != 0) print "    " $0; next }
	{ section = ""; print "    " $0 }'
show "sctplb assoc --shm $LB_SHM"
lbt_sctplb assoc | indent

step "Clean up"
echo "  done in $((SECONDS - started)) s"
