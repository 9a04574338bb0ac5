#!/bin/bash
# demo.sh BUILD_DIR: live failover of multihomed fixed-port SCTP associations across two load
# balancers that sync their association tables.
#
# In network namespaces (tests/topology/dual-path.sh --mode vtag --sync, the Xcluster dual-path
# shape): three clients, each with one address on net 2 (path A) and one on net 6 (path B), all
# with the fixed port pair 36412 <-> 36412 (as S1AP); load balancer vm-201 (path A, VIP
# 10.0.0.1) and vm-202 (path B, VIP 10.0.0.2), each running its own `sctplb lb` in `vtag` mode,
# telling each other every association over net 3 (HMAC-signed UDP); three direct-server-return
# servers on nets 1 and 4 holding both VIPs. Both LBs' tables are shown: each association has
# the same server on both, learned by one from the other. Client 1's messages are shown one by
# one (path taken, server that answered); path A is cut in vm-201 and its association fails over
# to path B, through vm-202, on the same server, with no message lost. Then the sync counters
# and the kernel fast path's: once an association is established each LB puts it into an
# nftables map and the kernel forwards its packets without the daemon. Client 1 records its
# events (sctpt client --events) and the demo ends with a timeline picture of them (sctpt plot,
# gnuplot): BUILD_DIR/demo/timeline.png, next to the events (docs/experiments.md).
# Everything is removed at the end (also on Ctrl-C). Needs root; takes about 20 seconds.
#
# Usage: tests/demo/demo.sh BUILD_DIR   (./run.sh demo builds and calls it)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ] || [ -z "${1:-}" ]; then
	sed -n '2,19p' "$0"
	[ -n "${1:-}" ] && exit 0 || exit 2
fi
SCTPLB_BUILD_DIR=$(cd "$1" && pwd)
export SCTPLB_BUILD_DIR
export SCTPLB_BIN=$SCTPLB_BUILD_DIR/lb/cli/sctplb
export SCTPT=$SCTPLB_BUILD_DIR/test-apps/sctpt/sctpt
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/dual-path-lib.sh
. "$script_dir/../topology/dual-path-lib.sh"

if [ -t 1 ]; then
	bold=$'\033[1m' dim=$'\033[2m' green=$'\033[32m' cyan=$'\033[36m' yellow=$'\033[33m' red=$'\033[31m' off=$'\033[0m'
else
	bold='' dim='' green='' cyan='' yellow='' red='' off=''
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
	echo "demo: needs root (it creates network namespaces, iptables rules and NFQUEUEs);" >&2
	echo "      run: sudo ./run.sh demo" >&2
	exit 2
}
[ -x "$SCTPLB_BIN" ] || die "sctplb is not built in $SCTPLB_BUILD_DIR (./run.sh build)"
[ -x "$SCTPT" ] || die "sctpt is not built in $SCTPLB_BUILD_DIR"
"$SCTPT" help | grep -q "^stacks built in:.* usrsctp" ||
	die "sctpt in $SCTPLB_BUILD_DIR has no usrsctp stack (needs libusrsctp-dev)"
for tool in ip nft iptables ip6tables python3; do command -v $tool >/dev/null || die "$tool is not installed"; done
started=$SECONDS

cat <<END
${bold}sctplb demo: fixed-port multihomed SCTP, two paths, two syncing load balancers${off}

  clients vm-221..223, port 36412   load balancers (sctplb lb, vtag)               servers (DSR), port 36412
  192.168.2.22K ── path A ──► vm-201  VIP 10.0.0.1 ── net 1 ──┐   ┌► vm-001 server-1 (fwmark 1)
                                sync ▲▼ net 3, UDP 7400       ├───┼► vm-002 server-2 (fwmark 2)
  192.168.6.22K ── path B ──► vm-202  VIP 10.0.0.2 ── net 4 ──┘   └► vm-003 server-3 (fwmark 3)

  SCTP paths are per destination address: one VIP per path, every server holds both.
  With fixed ports on both sides a hash of the ports would send every client to one server:
  'vtag' mode balances each new association on its INIT's tag and pins it by (client address,
  ports, tag). Only vm-201 sees the INIT; vm-202 learns each association from vm-201 within
  milliseconds (association sync, HMAC-SHA256 with a shared key), so path B reaches the same
  server. Each association is balanced on its own: other associations may land elsewhere.
  Once established, each LB hands the association to the kernel (an nftables map, the
  'fast path'): DATA, SACK and HEARTBEAT are then marked without leaving the kernel.
END

step "Namespaces, links, routes, sctplb rules and configuration (tests/topology/dual-path.sh up --sync)"
t0=$SECONDS
trap 'echo; echo "${dim}cleaning up: stopping processes, deleting namespaces demo*-*${off}"; tl_cleanup' EXIT
clients=3
dpt_setup demo --mode vtag --sync --fastpath --clients $clients
trap 'echo; echo "${dim}cleaning up: stopping processes, deleting namespaces $tl_prefix-*${off}"; tl_cleanup' EXIT
echo "  namespaces $tl_prefix-{vm221,vm222,vm223,vm201,vm202,vm001,vm002,vm003,sw} ready in $((SECONDS - t0)) s;"
echo "  sctpt (usrsctp) servers server-1..3 listen on 10.0.0.1 and 10.0.0.2, port $DP_PORT"
show "ip netns exec $DP_LB201_NS sctplb rules --shm $DP_LB201_SHM --vip 10.0.0.1,fd00::1:1 --target 1=192.168.1.1 ... --apply"
show "ip netns exec $DP_LB_B_NS sctplb rules --shm $DP_LB_B_SHM --vip 10.0.0.2,fd00::1:2 --target 1=192.168.4.1 ... --apply"
show "sctplb init --shm NAME --hash vtag --seed-file SEED --M 997; sctplb activate --shm NAME 1 2 3   (both)"
show "openssl rand -hex 32 >sync.key; chmod 600 sync.key   (one key for both LBs)"

step "Start the data path on both load balancers, syncing over net 3"
for lb in 201 202; do
	other=$((403 - lb))
	show "ip netns exec $tl_prefix-vm$lb sctplb lb --shm $tl_prefix-$lb --queue 2 \\"
	show "    --sync-listen $(dpt_sync_address $lb) --sync-peer $(dpt_sync_address $other) --sync-key sync.key"
done
dpt_lb_start
for lb in 201 202; do
	echo "    vm-$lb: $(dpt_sync_stat $lb "'sync ready %s; ' % s.get('ready') + ', '.join('peer %s %s, config digest %s' % (p['address'], p['state'], 'matches' if p.get('digest_match') else 'DIFFERS') for p in s.get('peers', []))")"
done

count=14
cut_after=5
# Client 1's events and the picture stay after the demo (the work directory does not).
out_dir=$SCTPLB_BUILD_DIR/demo
mkdir -p "$out_dir"
events=$out_dir/client-1-events.jsonl
picture=$out_dir/timeline.png
a=$(dpt_client_address 1 A)
b=$(dpt_client_address 1 B)
step "$clients clients, 36412 -> 36412; client 1 sends $count messages, path A is cut after message $cut_after"
show "ip netns exec $DP_CLIENT1_NS sctpt client --stack usrsctp --laddr $DP_CLIENT1_ADDRS --lport 36412 --addr $DP_VIPS --port 36412 --count $count --events $events"
echo "  ${dim}(clients 2 and 3 likewise, their DATA on path B after two messages)${off}"
dpt_client demo 1 --lport 36412 --count "$count" --interval 300 --echo-wait 8000 --events "$events"
for k in $(seq 2 $clients); do
	dpt_client "other-$k" "$k" --lport 36412 --count "$count" --interval 300 --primary "$DP_VIP_B" --primary-after 2
done
server=''
for i in $(seq 1 "$count"); do
	if ! tl_wait_echoes demo "$i" 10; then
		echo "  ${yellow}message $i: no echo within 10 s${off}"
		break
	fi
	echo_line=$(grep "] echo via .*: message $i\$" "$tl_work/demo.log" | head -n 1)
	answered=$(echo "$echo_line" | sed -n 's/.*echo via [^ ]*: \(server-[0-9]*\): .*/\1/p')
	[ -n "$server" ] || server=$answered
	# The client address the message came from, at the server that answered.
	from=$(tl_server_messages "$answered" | awk -v a="$a" -v b="$b" -v m="$i" '($1 == a || $1 == b) && $3 == m { print $1; exit }')
	case $from in
	"$a") path="path A  $a → 10.0.0.1  via vm-201" ;;
	"$b") path="path B  $b → 10.0.0.2  via vm-202" ;;
	*) path="path ?  $from" ;;
	esac
	printf '  message %-3s %s   answered by %s%s%s\n' "$i" "$path" "$green" "$answered" "$off"
	if [ "$i" = 2 ]; then
		# vm-202 learns the association through the sync: show the tables once it has.
		dpt_wait_pinned 1 "${server#server-}" 5 || true
		for lb in 201 202; do
			show "ip netns exec $tl_prefix-vm$lb sctplb assoc --shm $tl_prefix-$lb"
			dpt_sctplb $lb assoc | indent
		done
		echo "  ${cyan}the same tags and fwmark on both LBs: vm-202 learned them from vm-201 (sync)${off}"
	fi
	if [ "$i" = "$cut_after" ]; then
		echo "  ${red}${bold}✂ cutting path A: iptables + ip6tables FORWARD -i/-o eth2 -p sctp -j DROP in vm-201${off}"
		cut_wall=$EPOCHREALTIME
		dpt_cut_path_a
		cut_at=${EPOCHREALTIME/[^0-9]/}
		# A marker event in client 1's event file, by the wall clock (docs/experiments.md).
		printf '{"event":"marker","wall_unix":%s,"label":"path A cut"}\n' "$cut_wall" >>"$events"
	fi
	if [ "$i" = $((cut_after + 1)) ]; then
		took_ms=$(((${EPOCHREALTIME/[^0-9]/} - cut_at) / 1000))
		took=$((took_ms / 1000)).$((took_ms % 1000 / 100))
		echo "  ${cyan}(the client retransmitted on path B, to VIP 10.0.0.2 through vm-202; first echo after the cut in $took s)${off}"
	fi
done
status=0
tl_wait demo 30 || status=$?
servers=$(tl_echo_servers demo | tr '\n' ' ')
if [ "$status" = 0 ] && [ "$(echo "$servers" | wc -w)" = 1 ] && [ "$(tl_echo_count demo)" = "$count" ]; then
	echo "  ${green}${bold}all $count messages echoed, all by ${servers% }, before and after the cut: no message lost${off}"
else
	echo "  ${yellow}client exit status $status; $(tl_echo_count demo) echoes from: $servers${off}"
	tail -n 5 "$tl_work/demo.log" | indent
fi
for k in $(seq 2 $clients); do
	status=0
	tl_wait "other-$k" 30 || status=$?
	echo "  client $k: exit $status, $(tl_echo_count "other-$k") of $count echoes, from $(tl_echo_servers "other-$k" | tr '\n' ' ')"
done

step "Packets each server received from each client (nft counters: path A + path B)"
counters=$(dpt_counters)
for k in $(seq 1 $clients); do
	echo "$counters" | awk -v a="$(dpt_client_address "$k" A)" -v b="$(dpt_client_address "$k" B)" -v k="$k" '
		$2 == a { on_a[$1] = $3 } $2 == b { on_b[$1] = $3 }
		END { line = ""; for (s in on_a) if (on_a[s] + on_b[s] > 0) line = line sprintf("%s: %d + %d   ", s, on_a[s], on_b[s]); print "    client " k ": " line }'
done
echo "  ${dim}one server per client, on both paths (after the cut, client 1's path A is silent)${off}"

step "What the load balancers counted"
for lb in 201 202; do
	stats=$(dpt_sctplb $lb stats --json)
	show "ip netns exec $tl_prefix-vm$lb sctplb stats --shm $tl_prefix-$lb --json   (non-zero counters)"
	tl_json "$stats" "'    reasons: ' + ', '.join('%s %s' % kv for kv in d['reasons'].items() if kv[1])"
	tl_json "$stats" "'    events:  ' + (', '.join('%s %s' % kv for kv in d['events'].items() if kv[1]) or 'none')"
	tl_json "$stats" "'    fastpath: %d packets marked by the kernel itself (%s); %d associations in its map now' % (sum(t['packets'] for t in d['fastpath']['targets'] or []), ', '.join('fwmark %d: %d' % (t['fwmark'], t['packets']) for t in d['fastpath']['targets'] or []), d['fastpath']['associations'])"
	dpt_sync_stat $lb "'    sync:    %s messages sent, %s received; %s records sent, %s applied; %s rejected' % (s['messages_sent'], s['messages_received'], s['records_sent'], s['records_applied'], sum(s['rejected'].values()))" "$stats"
done
echo "  ${dim}vm-201 saw every INIT (init-hash) and told vm-202, which routed path B by the synced tags"
echo "  (a path-B packet that outran the sync was held a few ms: events held / hold-resolved);"
echo "  the daemons decided the INITs, COOKIE ECHOs and SHUTDOWNs, the kernel most of the rest.${off}"

step "Timeline of client 1 (sctpt plot: one lane, marks coloured by server, shaped by path)"
show "sctpt plot $events -o $picture --title '...'"
if plot_output=$("$SCTPT" plot "$events" -o "$picture" --title "sctplb demo: client 1, path A cut after message $cut_after" 2>&1); then
	echo "$plot_output" | indent
	echo "  ${green}picture: $picture${off}"
	echo "  ${dim}events (one JSON line each, docs/experiments.md): $events${off}"
else
	echo "$plot_output" | indent
	echo "  ${yellow}no picture; the events are in $events${off}"
fi

step "Clean up"
echo "  done in $((SECONDS - started)) s"
