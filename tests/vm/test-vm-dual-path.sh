#!/bin/bash
# test-vm-dual-path.sh: the dual-path topology with Linux kernel SCTP endpoints in qemu guests,
# load balanced by sctplb in namespaces of the host (ctest vm.dual-path, label vm; docs/vm.md).
#
#  vm-221 (guest) eth2 192.168.2.221 ─ br2 ─ eth2 .201 ┐ PREFIX-vm201 ┌ eth1 .201 ─ br1 ─ eth1 192.168.1.N  vm-00N
#                                                      └ sctplb lb ───┘                  (guests, VIPs on lo:
#                 eth6 192.168.6.221 ─ br6 ─ eth6 .202 ┐ PREFIX-vm202 ┌ eth4 .202 ─ br4 ─ eth4 192.168.4.N   10.0.0.1 10.0.0.2
#                                                      └ sctplb lb ───┘                   fd00::1:1 fd00::1:2)
#                           vm-201 eth3 192.168.3.201 ─ br3 (association sync) ─ vm-202 eth3 192.168.3.202
# (and fd00:NET::HOST on every link). Bridges and the guests' tap devices live in PREFIX-sw; the
# LBs in PREFIX-vm201 / PREFIX-vm202 (veths are created straight into them: the root namespace
# gets no interface, address or route). The guests boot once (in parallel) and every scenario
# runs in that topology: ports mode (S1 pinning on both paths, S2 failover A->B, S3 deactivate a
# target, S4 IPv4/IPv6 mixed multihoming, S8 IPv6 on both paths with a failover), then vtag mode
# with the two LBs syncing (S5 fixed-port clients 36412<->36412, S6 a client restart), S7 Xcluster
# ovl/sctp's README basic example, S9 plain multihoming (no VIP, no LB) with a failover, S10 the
# ECMP baseline (the LBs replaced by L4-hashed multipath routes: pinning must break), and S11
# SCTP over UDP (RFC 6951) through sctplb set up by the overlay's lb_setup --encap-port.
# Guests run the overlay's `sctplb_test tcase_*` (xcluster-ovl/sctplb) through a serial control
# channel. Exit 0 all passed, 1 a failure, 77 the machine cannot run it (and says why).
# Environment: SCTPLB_BIN, SCTPT_BIN (static sctpt), SCTPLB_VM_DIR (image, cache and run logs;
# default $SCTPLB_BUILD_DIR/vm), SCTPLB_VM_CAPTURE_DIR (save pcaps seen at the LBs there, one
# per scenario and LB), SCTPLB_VM_KEEP=1 (keep the run directory), SCTPLB_VM_ACCEL=tcg|kvm.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
source_dir=${SCTPLB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SCTPLB_BUILD_DIR:=$source_dir/build}"
: "${SCTPLB_BIN:=$SCTPLB_BUILD_DIR/lb/cli/sctplb}"
vmdir=${SCTPLB_VM_DIR:-$SCTPLB_BUILD_DIR/vm}
capture_dir=${SCTPLB_VM_CAPTURE_DIR:-}
t_start=$(date +%s%N)

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, tap devices, iptables)"
for tool in qemu-system-x86_64 python3 ip iptables ip6tables jq; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (./run.sh installs the packages)"
done
[ -x "$SCTPLB_BIN" ] || skip "sctplb not built at $SCTPLB_BIN"
{ [ -n "${SCTPT_BIN:-}" ] && [ -x "$SCTPT_BIN" ]; } ||
	skip "no static sctpt (SCTPT_BIN='${SCTPT_BIN:-}'; needs libsctp.a and libusrsctp.a)"
[ -e /dev/net/tun ] || skip "no /dev/net/tun (tap devices)"
[ -z "$capture_dir" ] || command -v tcpdump >/dev/null || skip "SCTPLB_VM_CAPTURE_DIR needs tcpdump"

topology_name=vm-dual-path
prefix=vm$$
# shellcheck source=../topology/topology-common.sh
. "$source_dir/tests/topology/topology-common.sh"
# shellcheck source=vm-lib.sh
. "$here/vm-lib.sh"

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
say() { echo "--- [$(ms_since "$t_start") ms] $*"; }

# 1. The image (kernel package cached; initramfs rebuilt only when an input changed).
say "image: $vmdir"
t_image=$(date +%s%N)
status=0
SCTPLB_SOURCE_DIR=$source_dir SCTPT_BIN=$SCTPT_BIN SCTPLB_BIN=$SCTPLB_BIN \
	bash "$here/build-image.sh" "$vmdir" || status=$?
[ $status -eq 0 ] || exit $status
image_ms=$(ms_since "$t_image")
sed 's/^/    /' "$vmdir/image.info"

state=$vmdir/run-$prefix
sw=$prefix-sw
lb_a=$prefix-vm201
lb_b=$prefix-vm202
mkdir -p "$state"
chmod 700 "$state"
vm_sock_dir=$(mktemp -d /tmp/sctplb-vm.XXXXXX) # the guests' control sockets
: >"$state/pids"
: >"$state/namespaces"
segments=()

trap vm_suite_cleanup EXIT  # vm-lib.sh: processes, namespaces, segments, sockets, run directory
trap 'exit 1' INT TERM

# 2. Namespaces: the switch (bridges, taps, qemu) and the two LBs.
mac() { printf '02:00:00:%02x:00:%02x' "$1" "$2"; } # mac NET HOST
new_ns() {
	ip netns add "$1"
	echo "$1" >>"$state/namespaces"
	ip netns exec "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 "${@:2}"
	ip -n "$1" link set lo up
}
new_ns "$sw"
ip netns exec "$sw" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
	2>/dev/null || true
for net in 1 2 3 4 6; do
	ip -n "$sw" link add "br$net" type bridge
	ip -n "$sw" link set "br$net" up
done
new_ns "$lb_a" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
new_ns "$lb_b" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
links=0
lb_link() { # lb_link NS DEV NET HOST
	local ns=$1 dev=$2 net=$3 host=$4 peer
	links=$((links + 1))
	peer=p${links}n$net
	ip link add "$dev" address "$(mac "$net" "$host")" netns "$ns" type veth peer name "$peer" netns "$sw"
	ip -n "$sw" link set "$peer" master "br$net" up
	ip -n "$ns" addr add "192.168.$net.$host/24" dev "$dev"
	ip -n "$ns" addr add "fd00:$net::$host/64" dev "$dev" nodad
	ip -n "$ns" link set "$dev" up
}
lb_link "$lb_a" eth2 2 201
lb_link "$lb_a" eth1 1 201
lb_link "$lb_a" eth3 3 201
lb_link "$lb_b" eth6 6 202
lb_link "$lb_b" eth4 4 202
lb_link "$lb_b" eth3 3 202

# 3. Guests, booted in parallel. Each gets its config through fw_cfg; vm_setup runs at boot.
vm_choose_accel
for s in 1 2 3; do
	cat >"$state/cfg-vm-00$s" <<-CFG
		VM_NAME=vm-00$s
		VM_NICS="$(mac 1 "$s"),eth1,192.168.1.$s/24,fd00:1::$s/64 $(mac 4 "$s"),eth4,192.168.4.$s/24,fd00:4::$s/64"
		vm_setup() {
			set -e
			sctplb_test tcase_sctp_sysctls
			# Before the server's socket exists (it copies the value): the restart scenario needs
			# a server that holds on to an association through a few seconds of silence.
			echo 30 >/proc/sys/net/sctp/association_max_retrans
			sctplb_test tcase_vip_setup
			# DSR: replies to each client network go back through that path's LB, from its VIP.
			ip route add 192.168.2.0/24 via 192.168.1.201 dev eth1 src 10.0.0.1
			ip route add 192.168.6.0/24 via 192.168.4.202 dev eth4 src 10.0.0.2
			ip -6 route add fd00:2::/64 via fd00:1::201 dev eth1 src fd00::1:1
			ip -6 route add fd00:6::/64 via fd00:4::202 dev eth4 src fd00::1:2
			sctplb_test tcase_server_start --name=server-$s
		}
	CFG
	vm_start "vm-00$s" "$state/cfg-vm-00$s" "1:$(mac 1 "$s")" "4:$(mac 4 "$s")"
done
# The client: one address per network for ordinary clients, and .222-.228 besides for the
# fixed-port clients (each needs its own address set: RFC 9260 section 1.3).
extra=''
for h in 222 223 224 225 226 227 228; do
	extra+="ip addr add 192.168.2.$h/24 dev eth2; ip addr add 192.168.6.$h/24 dev eth6; "
done
cat >"$state/cfg-vm-221" <<CFG
VM_NAME=vm-221
VM_NICS="$(mac 2 221),eth2,192.168.2.221/24,fd00:2::221/64 $(mac 6 221),eth6,192.168.6.221/24,fd00:6::221/64"
vm_setup() {
	set -e
	sctplb_test tcase_sctp_sysctls
	sctplb_test tcase_route 10.0.0.1/32 192.168.2.201
	sctplb_test tcase_route 10.0.0.2/32 192.168.6.202
	sctplb_test tcase_route fd00::1:1/128 fd00:2::201
	sctplb_test tcase_route fd00::1:2/128 fd00:6::202
	$extra
}
CFG
vm_start vm-221 "$state/cfg-vm-221" "2:$(mac 2 221)" "6:$(mac 6 221)"
t_boot=$(date +%s%N)

# 4. The LBs (while the guests boot): rules, shared seed, init, activate, lb. ports mode first.
queue=2
head -c 32 /dev/urandom >"$state/seed"
chmod 600 "$state/seed"
(umask 077 && "$vm_python" -c 'import secrets; print(secrets.token_hex(32))' >"$state/sync.key")
targets_a=() targets_b=()
for s in 1 2 3; do
	targets_a+=(--target "$s=192.168.1.$s" --target "$s=fd00:1::$s")
	targets_b+=(--target "$s=192.168.4.$s" --target "$s=fd00:4::$s")
done
segments=("$prefix-201" "$prefix-202")
# The rules with the kernel fast path (its nft table is sized from the segment: after init).
# Each lb_up starts from an empty map: the previous mode's elements must not be imported.
lb_rules() { # lb_rules K
	local -a vips=(10.0.0.1,fd00::1:1) targets=("${targets_a[@]}")
	[ "$1" = 201 ] || { vips=(10.0.0.2,fd00::1:2); targets=("${targets_b[@]}"); }
	in_ns "$(lb_ns_of "$1")" "$SCTPLB_BIN" rules --shm "$prefix-$1" --vip "${vips[0]}" "${targets[@]}" \
		--fastpath-only --delete >>"$state/rules-$1.log" 2>&1 || true
	in_ns "$(lb_ns_of "$1")" "$SCTPLB_BIN" rules --shm "$prefix-$1" --vip "${vips[0]}" --queue $queue \
		"${targets[@]}" --fastpath --apply >>"$state/rules-$1.log" 2>&1 || die "sctplb rules in vm-$1: $(tail -n 3 "$state/rules-$1.log")"
}

# lb_rules_delete K: everything lb_rules applied (iptables, ip rules and routes, the nft table).
lb_rules_delete() {
	local vips=10.0.0.1,fd00::1:1
	local -a targets=("${targets_a[@]}")
	[ "$1" = 201 ] || { vips=10.0.0.2,fd00::1:2; targets=("${targets_b[@]}"); }
	in_ns "$(lb_ns_of "$1")" "$SCTPLB_BIN" rules --shm "$prefix-$1" --vip "$vips" --queue $queue \
		"${targets[@]}" --fastpath --delete >>"$state/rules-$1.log" 2>&1
}
# targets_csv NET: the servers on NET as the overlay's --target=FWMARK=NEXTHOP,... list.
targets_csv() {
	local s list=''
	for s in 1 2 3; do list+="${list:+,}$s=192.168.$1.$s,$s=fd00:$1::$s"; done
	echo "$list"
}
# lb_tcase K TCASE [options...]: the overlay's sctplb_test (the Xcluster test cases) in LB K's
# namespace, as on Xcluster's vm-201/vm-202; output indented into the test log.
ovl_test=$source_dir/xcluster-ovl/sctplb/default/bin/sctplb_test
lb_tcase() {
	local k=$1 status=0
	shift
	mkdir -p "$state/run-$k"
	in_ns "$(lb_ns_of "$k")" env SCTPLB_BIN="$SCTPLB_BIN" SCTPLB_RUN_DIR="$state/run-$k" \
		SCTPLB_CONF_DIR="$state" sh "$ovl_test" "$@" >"$state/last.out" 2>&1 || status=$?
	sed "s/^/    | vm-$k: /" "$state/last.out"
	return $status
}

lb_ns_of() { if [ "$1" = 201 ]; then echo "$lb_a"; else echo "$lb_b"; fi; }
lb_up() { # lb_up MODE [sync]: (re)initialise both segments and start both LBs
	local mode=$1 sync=${2:-} k other pids=()
	for k in 201 202; do
		"$SCTPLB_BIN" delete --shm "$prefix-$k" --force >/dev/null 2>&1 || true
		"$SCTPLB_BIN" init --shm "$prefix-$k" --hash "$mode" --seed-file "$state/seed" --M 997 \
			--capacity 4096 >>"$state/init.log" || die "sctplb init $k"
		"$SCTPLB_BIN" activate --shm "$prefix-$k" 1 2 3 >>"$state/init.log" || die "sctplb activate $k"
		lb_rules $k
	done
	for k in 201 202; do
		local -a opts=()
		other=202
		[ $k = 201 ] || other=201
		[ -z "$sync" ] || opts=(--sync-listen "192.168.3.$k:7400" --sync-peer "192.168.3.$other:7400"
			--sync-key "$state/sync.key")
		# In parallel: with sync, each waits for its peer at start.
		start_lb "lb-$k" "$(lb_ns_of $k)" "$prefix-$k" "$state/lb-$k.log" " in vm-$k" "${opts[@]}" &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k" || die "an LB did not start"; done
}
lb_down() { stop_recorded TERM 3 'lb-*'; }
lb_cmd() { local k=$1; shift; in_ns "$(lb_ns_of "$k")" "$SCTPLB_BIN" "$1" --shm "$prefix-$k" "${@:2}"; }
lb_up ports

say "guests booting (${vm_accel[*]})"
vm_wait_ready vm-001 vm-002 vm-003 vm-221 --timeout 150
boot_ms=$(ms_since "$t_boot")
say "4 guests ready in $boot_ms ms (image $image_ms ms)"

# Captures, one per scenario and LB (client side: both directions of the path pass there).
capture_n=0
cap_pids=()
capture_start() { # capture_start NAME
	[ -n "$capture_dir" ] || return 0
	local name=$1 k dev pid
	capture_n=$((capture_n + 1))
	mkdir -p "$capture_dir"
	cap_pids=()
	for k in 201 202; do
		dev=eth2
		[ $k = 201 ] || dev=eth6
		: >"$state/tcpdump-$k.log"
		ip netns exec "$(lb_ns_of $k)" tcpdump -n -i "$dev" -U -s 0 \
			-w "$capture_dir/$(printf %02d $capture_n)-$name-lb$k.pcap" 'sctp or udp port 9899' 2>"$state/tcpdump-$k.log" &
		pid=$!
		record "tcpdump-$k" "$pid"
		cap_pids+=("$pid")
		wait_for_line "$state/tcpdump-$k.log" "listening on" 300 || log "tcpdump in vm-$k did not start in 30 s"
	done
}
capture_stop() {
	[ -n "$capture_dir" ] || return 0
	# Time for the last SHUTDOWN COMPLETE to reach the capture. Not a condition any check reads:
	# the captures are only kept for people and for fixtures made by hand.
	sleep 0.3
	stop_recorded INT 2 'tcpdump-*'
}

# guest NAME COMMAND...: run in a guest, output indented into the test log.
guest() {
	local name=$1 status=0
	shift
	vm_run "$name" --timeout 90 "$@" >"$state/last.out" 2>&1 || status=$?
	sed 's/^/    | /' "$state/last.out"
	return $status
}
client_json() { vm_run vm-221 --timeout 20 "cat $1" >"$state/ct.json" 2>/dev/null; }
servers_in() { jq -r '[.associations[].servers | keys[]] | unique | join(" ")' "$state/ct.json" 2>/dev/null; }
failovers_in() { jq -r '.totals.failovers' "$state/ct.json" 2>/dev/null; }
# no_failover SCENARIO FILE: pinning on both paths means no path was ever declared dead. (A short
# run can end before a dropping path is declared dead: the kernel retransmits on the other path.
# The LBs' counters, lb_check, are the sharper test.)
no_failover() {
	local n
	client_json "$2" || { fail "$1: cannot read $2"; return; }
	n=$(failovers_in)
	if [ "$n" = 0 ]; then
		pass "$1: no path failover reported by the client"
	else
		fail "$1: $n path failovers: a path was dropped (ctraffic: $state/ct.json)"
	fi
}
# lb_check SCENARIO K JQ-CONDITION WHAT: a condition on 'sctplb stats --json' of LB K.
lb_check() {
	lb_cmd "$2" stats --json >"$state/stats-$2.json" 2>&1 || { fail "$1: sctplb stats on vm-$2"; return; }
	if jq -e "$3" "$state/stats-$2.json" >/dev/null; then
		pass "$1: vm-$2 $4"
	else
		fail "$1: vm-$2 not: $4 ($(jq -c '{targets: [.targets[] | {fwmark, packets}], sync: (.sync != null), reasons: (.reasons | with_entries(select(.value > 0))), events: (.events | with_entries(select(.value > 0)))}' "$state/stats-$2.json"))"
		cp "$state/stats-$2.json" "$state/stats-$2-failed-$(date +%s%N).json"
	fi
}
targets_used='[.targets[] | select(.packets > 0)] | length >= 2'

port=36412
ct_common=(--port "$port" --rate 10 --echo-wait 3000 --connect-timeout 5000)

# Every guest reports kernel SCTP and its server.
for s in 1 2 3; do
	if vm_run "vm-00$s" --timeout 20 'grep -q listening /var/log/sctpt-server.log && test -d /proc/sys/net/sctp' >/dev/null; then
		:
	else
		fail "server in vm-00$s is not listening on kernel SCTP"
	fi
done

# S1. Pinning on both paths (ports mode): 8 multihomed associations; after 10 messages each
# makes path B (VIP 10.0.0.2 via vm-202) its primary, so DATA crosses both LBs.
say "S1 pinning on both paths (ports mode)"
capture_start pinning-ports
if guest vm-221 "sctplb_test tcase_ctraffic --min-servers=2 --out=/var/log/ct-s1.json --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 8 --duration 3 --primary 10.0.0.2 --primary-after 10 ${ct_common[*]}"; then
	pass "S1 8 associations, each answered by one server on both paths, $(client_json /var/log/ct-s1.json && servers_in)"
else
	fail "S1 pinning on both paths"
fi
capture_stop
no_failover S1 /var/log/ct-s1.json
lb_check S1 201 "$targets_used" "sent packets to at least two servers"
lb_check S1 202 "($targets_used) and .reasons[\"unknown-association\"] == 0" \
	"(path B) sent packets to at least two servers, none unknown"
for k in 201 202; do
	lb_check S1 $k '.fastpath.enabled and ([.fastpath.targets[].packets] | add) > 0' \
		"forwarded established packets in the kernel fast path (lksctp)"
done

# s2_timeline: S2's event log (ctraffic --events in the guest) with a marker at the host's cut
# (the guest's clock is the host's, read at boot), drawn as $state/s2-timeline.png
# (docs/experiments.md): each association's messages by server and path around the failover.
s2_timeline() {
	local events=$state/s2-events.jsonl
	vm_run vm-221 --timeout 20 "cat /var/log/ct-s2-events.jsonl" >"$events" 2>/dev/null ||
		{ fail "S2 cannot read the event log /var/log/ct-s2-events.jsonl"; return; }
	[ -z "${s2_cut_at:-}" ] ||
		printf '{"event":"marker","wall_unix":%s,"label":"path A cut"}\n' "$s2_cut_at" >>"$events"
	if ! command -v gnuplot >/dev/null; then
		echo "SKIP: S2 timeline picture: gnuplot is not installed (./run.sh installs gnuplot-nox)"
	elif "$SCTPT_BIN" plot "$events" -o "$state/s2-timeline.png" --title "vm.dual-path S2: path A cut, failover to path B" >"$state/s2-plot.log" 2>&1; then
		pass "S2 timeline picture: $state/s2-timeline.png (the run directory stays with SCTPLB_VM_KEEP=1)"
	else
		fail "S2 timeline picture: $(tail -n 1 "$state/s2-plot.log")"
	fi
}
# S2. Failover: path A cut at vm-201 during traffic; the associations continue on path B
# (through vm-202, to the same server: ports mode needs no shared state).
say "S2 failover from path A to path B"
capture_start failover
cut() { # cut -A|-D
	local tool dir
	for tool in iptables ip6tables; do
		for dir in -i -o; do in_ns "$lb_a" "$tool" -w "$1" FORWARD "$dir" eth2 -p sctp -j DROP; done
	done
}
# The cut comes once every association is up and sending (ctraffic_running); path A is
# declared dead ~2.5 s after it (RTO 500 + 1000 + 1000 ms, path_max_retrans 2). The traffic
# runs until every association has reported its failover (running --min-failovers), then
# ctraffic_stop ends it: --duration is only a ceiling, so a slow machine cannot end the
# traffic before the cut (stop_after_failovers).
# stop_after_failovers SCENARIO OUT N: wait (60 s) until ctraffic OUT's running snapshot counts
# N failovers, then stop it (also when that wait failed: ctraffic_wait then tells why).
stop_after_failovers() {
	guest vm-221 "sctplb_test tcase_ctraffic_running --out=$2 --min-failovers=$3 --timeout=60" ||
		fail "$1 no $3 failovers while the traffic ran"
	guest vm-221 "sctplb_test tcase_ctraffic_stop --out=$2" || fail "$1 tcase_ctraffic_stop"
}
if guest vm-221 "sctplb_test tcase_ctraffic_start --out=/var/log/ct-s2.json --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 4 --duration 120 --events /var/log/ct-s2-events.jsonl ${ct_common[*]}"; then
	s2_cut=no
	if guest vm-221 "sctplb_test tcase_ctraffic_running --out=/var/log/ct-s2.json --timeout=60"; then
		s2_cut_at=$EPOCHREALTIME
		cut -A
		s2_cut=yes
		stop_after_failovers S2 /var/log/ct-s2.json 4
	else
		fail "S2 the associations were not up and sending: no cut"
		guest vm-221 "sctplb_test tcase_ctraffic_stop --out=/var/log/ct-s2.json" || true
	fi
	if guest vm-221 "sctplb_test tcase_ctraffic_wait --out=/var/log/ct-s2.json --min-failovers=1 --timeout=60"; then
		pass "S2 4 associations survived the cut of path A without losing a message"
	else
		fail "S2 failover"
	fi
	[ $s2_cut = no ] || cut -D
	s2_timeline
else
	fail "S2 could not start ctraffic"
fi
capture_stop

# S3. Deactivate target 2 on both LBs while associations run: the live ones stay (all
# messages echoed), new ones never reach server-2 (12 of them: all 12 on one of the two
# remaining servers by chance would fail min-servers=2 once in 2048 runs).
say "S3 deactivate a target"
capture_start deactivate
if guest vm-221 "sctplb_test tcase_ctraffic_start --out=/var/log/ct-s3-live.json --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 6 --duration 120 ${ct_common[*]}"; then
	# The deactivation comes while the live associations are up and sending (until
	# ctraffic_stop after the new associations' run; 120 s is only a ceiling),
	# and once vm-202 has pinned each of them too. Ports mode keeps no shared state: vm-202
	# meets an association mid-stream (path B heartbeats) and pins the target the ports hash
	# gives at that moment. Met only after the deactivation, a server-2 association would hash
	# elsewhere and be ABORTed there (docs/design.md, "What is deliberately not done"; vtag
	# mode with sync has no such window). So the precondition of "live ones stay" in ports
	# mode is "every LB has seen them": wait for exactly that.
	guest vm-221 "sctplb_test tcase_ctraffic_running --out=/var/log/ct-s3-live.json --timeout=60" ||
		fail "S3 the live associations were not up and sending before the deactivation"
	s3_ports=$(vm_run vm-221 --timeout 20 "awk 'NR > 1 && \$12 != $port { print \$12 }' /proc/net/sctp/assocs" 2>/dev/null | sort -u | tr '\n' ' ')
	# s3_pinned_on_b: vm-202 holds a live entry of path B (192.168.6.221) for every live port.
	s3_pinned_on_b() {
		local held
		held=$(lb_cmd 202 assoc --json 2>/dev/null | jq -r '.associations[] | select(.state != "closed" and (.addresses | index("192.168.6.221"))) | .sport' | sort -u | tr '\n' ' ')
		local p
		for p in $s3_ports; do case " $held " in *" $p "*) ;; *) return 1 ;; esac; done
	}
	if [ "$(echo "$s3_ports" | wc -w)" -ne 6 ]; then
		fail "S3 the client has $(echo "$s3_ports" | wc -w) live associations, not 6: '$s3_ports'"
	elif ! vm_until 30 s3_pinned_on_b; then
		fail "S3 vm-202 did not pin every live association (ports $s3_ports) within 30 s"
	fi
	if ! { lb_cmd 201 deactivate 2 && lb_cmd 202 deactivate 2; } >/dev/null; then fail "S3 sctplb deactivate"; fi
	if guest vm-221 "sctplb_test tcase_ctraffic --min-servers=2 --out=/var/log/ct-s3-new.json --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 12 --duration 1.5 --primary 10.0.0.2 --primary-after 5 ${ct_common[*]}"; then
		client_json /var/log/ct-s3-new.json
		used=$(servers_in)
		case " $used " in
		*" server-2 "*) fail "S3 a new association reached the deactivated server-2 ($used)" ;;
		*) pass "S3 new associations avoid the deactivated target ($used)" ;;
		esac
	else
		fail "S3 new associations after deactivate"
	fi
	guest vm-221 "sctplb_test tcase_ctraffic_stop --out=/var/log/ct-s3-live.json" || fail "S3 tcase_ctraffic_stop"
	if guest vm-221 "sctplb_test tcase_ctraffic_wait --out=/var/log/ct-s3-live.json --timeout=60"; then
		client_json /var/log/ct-s3-live.json
		pass "S3 live associations kept during the drain (servers: $(servers_in))"
	else
		fail "S3 live associations during the drain"
	fi
	if ! { lb_cmd 201 activate 2 && lb_cmd 202 activate 2; } >/dev/null; then fail "S3 sctplb activate"; fi
else
	fail "S3 could not start ctraffic"
fi
capture_stop

# S4. IPv4/IPv6 mixed multihoming: path A IPv4 (10.0.0.1), path B IPv6 (fd00::1:2).
say "S4 IPv4/IPv6 mixed multihoming"
# Packets vm-202's kernel marked so far: in S4 its path (B) carries IPv6 only (the map assoc6).
kernel_marked() { lb_cmd "$1" stats --json 2>/dev/null | jq '[.fastpath.targets[]?.packets] | add // 0'; }
s4_marked_before=$(kernel_marked 202)
capture_start mixed
if guest vm-221 "sctplb_test tcase_ctraffic --min-servers=2 --out=/var/log/ct-s4.json --addr 10.0.0.1,fd00::1:2 --laddr 192.168.2.221,fd00:6::221 --clients 8 --duration 3 --primary fd00::1:2 --primary-after 10 ${ct_common[*]}"; then
	pass "S4 mixed IPv4/IPv6 associations pinned on both paths, $(client_json /var/log/ct-s4.json && servers_in)"
else
	fail "S4 mixed multihoming"
fi
capture_stop
no_failover S4 /var/log/ct-s4.json
s4_marked=$(($(kernel_marked 202) - s4_marked_before))
if [ "$s4_marked" -gt 0 ]; then
	pass "S4: vm-202's kernel fast path forwarded $s4_marked IPv6 packets (path B, lksctp)"
else
	fail "S4: vm-202's kernel fast path forwarded no IPv6 packet"
fi
# failover_run SCENARIO OUT CUT-OPTIONS N CTRAFFIC-ARGS: ctraffic in the background on vm-221
# (OUT; give it --duration 120, a ceiling), path A cut at vm-201 by the overlay's tcase_path_cut
# CUT-OPTIONS once every association sends, the traffic stopped once N failovers were reported
# (stop_after_failovers), healed after its end. Returns 0 when every message came back, each
# association from one server, with at least one failover (the client JSON then in
# $state/ct.json); otherwise says why.
failover_run() {
	local scn=$1 out=$2 cut_options=$3 failovers=$4 cut=no status=1
	if ! guest vm-221 "sctplb_test tcase_ctraffic_start --out=$out $5"; then
		fail "$scn could not start ctraffic"
		return 1
	fi
	if guest vm-221 "sctplb_test tcase_ctraffic_running --out=$out --timeout=60"; then
		# shellcheck disable=SC2086 # options, words without spaces
		if lb_tcase 201 tcase_path_cut $cut_options; then cut=yes; else fail "$scn tcase_path_cut on vm-201"; fi
	else
		fail "$scn the associations were not up and sending: no cut"
	fi
	if [ $cut = yes ]; then
		stop_after_failovers "$scn" "$out" "$failovers"
	else
		guest vm-221 "sctplb_test tcase_ctraffic_stop --out=$out" || true
	fi
	if guest vm-221 "sctplb_test tcase_ctraffic_wait --out=$out --min-failovers=1 --timeout=60"; then
		client_json "$out"
		status=0
	fi
	[ $cut = no ] || lb_tcase 201 tcase_path_heal || fail "$scn tcase_path_heal on vm-201"
	return $status
}

# S8. IPv6 on both paths (fd00::1:1 via vm-201, fd00::1:2 via vm-202): DATA on path A, path B
# carries heartbeats (a wrong server there would ABORT); then path A is cut at vm-201 by the
# overlay's tcase_path_cut (ip6tables too) and DATA moves to path B: the same server, no loss.
say "S8 IPv6 on both paths: pinning and failover"
capture_start ipv6
s8_args="--addr fd00::1:1,fd00::1:2 --laddr fd00:2::221,fd00:6::221"
s8_marked_before=$(kernel_marked 202)
if failover_run S8 /var/log/ct-s8.json '' 4 "$s8_args --clients 4 --duration 120 ${ct_common[*]}"; then
	pass "S8 4 IPv6 associations, each answered by one server ($(servers_in)), survived the cut of path A without losing a message ($(failovers_in) failovers)"
else
	fail "S8 IPv6 pinning and failover"
fi
capture_stop
s8_marked=$(($(kernel_marked 202) - s8_marked_before))
if [ "$s8_marked" -gt 0 ]; then
	pass "S8: vm-202's kernel fast path forwarded $s8_marked IPv6 packets (path B)"
else
	fail "S8: vm-202's kernel fast path forwarded no IPv6 packet"
fi

# S1-S4, S8 (ports mode): neither LB met a packet it could not place.
for k in 201 202; do
	lb_check S1-S4,S8 $k '.reasons["unknown-association"] == 0 and .reasons["no-target"] == 0 and .reasons["cookie-echo-unknown"] == 0' \
		"placed every packet (no unknown association, no missing target)"
done

# S5. vtag mode with the two LBs syncing over net 3: fixed-port clients (36412 <-> 36412, each
# with its own address pair) spread over the servers; path B's LB never sees an INIT and pins
# by what vm-201 told it.
say "S5 fixed-port clients, vtag mode, LBs syncing"
lb_down
lb_up vtag sync
capture_start fixed-ports-vtag-sync
sets=''
for h in 221 222 223 224 225 226 227 228; do sets+="${sets:+;}192.168.2.$h,192.168.6.$h"; done
if guest vm-221 "sctplb_test tcase_ctraffic --min-servers=2 --out=/var/log/ct-s5.json --addr 10.0.0.1,10.0.0.2 --laddr '$sets' --clients 8 --lport-fixed $port --duration 3 --primary 10.0.0.2 --primary-after 10 ${ct_common[*]}"; then
	pass "S5 8 fixed-port associations spread and pinned on both paths, $(client_json /var/log/ct-s5.json && servers_in)"
else
	fail "S5 fixed-port clients in vtag mode with sync"
fi
capture_stop
no_failover S5 /var/log/ct-s5.json
lb_check S5 201 "($targets_used) and .sync != null" "sent packets to at least two servers, syncing"
for k in 201 202; do
	lb_check S5 $k '.fastpath.enabled and ([.fastpath.targets[].packets] | add) > 0 and .events["fastpath-add-failed"] == 0' \
		"forwarded established packets in the kernel fast path"
done
# vm-202 saw no INIT: it knew every association from vm-201 (else 'unknown-association' drops).
lb_check S5 202 "($targets_used) and .sync != null and .reasons[\"unknown-association\"] == 0 and .reasons[\"init-hash\"] == 0" \
	"(path B, no INIT seen) pinned every packet by synced associations, none unknown"

# S6. Restart (RFC 9260 section 5.2.4.1): the client loses its association without a word
# (its links down, sctpt killed: its ABORT is lost) and comes back with
# the same ports and addresses while the server still holds the old one. Its new INIT
# has new tags; the LBs (vtag mode, syncing) must keep it on the same server.
say "S6 restart: same ports and addresses, new tags, same server"
capture_start restart
# Silence: the client's cables pulled (its two tap devices down in the switch namespace). The
# LBs see nothing of it during the silence (their captures show what the LBs saw), the servers
# never get the client's last ABORT and their retransmissions end at the client's taps.
silence() { # silence down|up
	ip -n "$sw" link set t221n2 "$1"
	ip -n "$sw" link set t221n6 "$1"
}
s6_args="--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 1 --lport-fixed $port ${ct_common[*]}"
# s6_pin K: "TC FWMARK" of the newest established association of the fixed-port client that LB K
# holds (S5's associations of the same ports and addresses may linger in the tables: older).
s6_pin() {
	lb_cmd "$1" assoc --json 2>/dev/null | jq -r --argjson p "$port" '[.associations[] | select(.sport == $p and .state == "established" and (.addresses | index("192.168.2.221")))] | sort_by(.age_s) | .[0] // empty | "\(.tc) \(.fwmark)"'
}
# Both LBs hold it, the same one (vm-202 by sync): the restart's INIT may come on either path.
s6_pinned() {
	s6_a=$(s6_pin 201)
	[ -n "$s6_a" ] && [ "$(s6_pin 202)" = "$s6_a" ]
}
# In the client's kernel, an association of the fixed port (LPORT, column 12), in any state.
s6_assoc="awk '\$12 == $port { found = 1 } END { exit !found }' /proc/net/sctp/assocs"
if guest vm-221 "sctplb_test tcase_ctraffic_start --out=/var/log/ct-s6a.json $s6_args --duration 120"; then
	before=''
	if guest vm-221 "sctplb_test tcase_ctraffic_running --out=/var/log/ct-s6a.json --timeout=60" &&
		vm_until 30 s6_pinned; then
		before=${s6_a#* }
	else
		fail "S6 the association is not up and held by both LBs: $(s6_pin 201) / $(s6_pin 202)"
	fi
	silence down
	# Kill the client, wait until its kernel has dropped the association (its ABORT is lost in
	# the silence), start the new one and wait until its kernel has it (COOKIE-WAIT; its INITs
	# are lost too), then end the silence. Whatever of the server's old association then
	# reaches the client meets the new association (wrong tag: discarded), never an empty port
	# (an out-of-the-blue packet: the client's ABORT would end the old association).
	guest vm-221 "kill -9 \$(pidof sctpt); i=0; while $s6_assoc; do i=\$((i + 1)); [ \$i -lt 200 ] || exit 1; sleep 0.1; done; sctplb_test tcase_ctraffic_start --out=/var/log/ct-s6b.json $s6_args --duration 2 && i=0 && until $s6_assoc; do i=\$((i + 1)); [ \$i -lt 200 ] || exit 1; sleep 0.1; done" ||
		fail "S6 could not restart the client"
	silence up
	if guest vm-221 "sctplb_test tcase_ctraffic_wait --out=/var/log/ct-s6b.json --timeout=40"; then
		client_json /var/log/ct-s6b.json
		after=$(servers_in)
		if [ -n "$before" ] && [ "$after" = "server-$before" ]; then
			pass "S6 the restarted association stayed on server-$before"
		else
			fail "S6 restart moved the association: before fwmark '${before:-?}', after '$after'"
		fi
	else
		fail "S6 the restarted client failed"
	fi
	# The LB's counters say whether the INIT came while it held the association (a restart).
	# The INIT may come on either path (a lost INIT is retransmitted to the other address).
	lb_cmd 201 stats --json >"$state/stats-s6-201.json" 2>/dev/null || true
	lb_cmd 202 stats --json >"$state/stats-s6-202.json" 2>/dev/null || true
	restarts=$(jq -s 'map(.reasons["init-restart"] + .events.restarted) | add' \
		"$state/stats-s6-201.json" "$state/stats-s6-202.json" 2>/dev/null || echo 0)
	if [ "${restarts:-0}" -gt 0 ]; then
		pass "S6 the LBs recognised the restart (init-restart + restarted: $restarts)"
	else
		fail "S6 neither LB counted a restart: $(jq -sc 'map({reasons: (.reasons | with_entries(select(.value > 0))), events: (.events | with_entries(select(.value > 0)))})' "$state/stats-s6-201.json" "$state/stats-s6-202.json")"
	fi
else
	fail "S6 could not start ctraffic"
fi
capture_stop

# S7. Xcluster ovl/sctp's README "Basic example", its sctpt commands verbatim but for the
# addresses (this topology's: the same 192.168.1.1,192.168.4.1 server and .2.221/.6.221 client
# addresses as Xcluster's dual-path): a server on vm-001's own addresses (port 6000, no VIP, not
# load balanced: the LB namespaces route it as Xcluster's vm-201/vm-202 do), and an interactive
# client whose stdin lines come back echoed over a multihomed association of both paths.
say "S7 ovl/sctp README basic example (sctpt --log 6, kernel SCTP)"
s7_server='sctpt server --log 6 --addr 192.168.1.1,192.168.4.1'
s7_client='sctpt client --log 6 --addr 192.168.1.1,192.168.4.1 --laddr 192.168.2.221,192.168.6.221'
if guest vm-001 "$s7_server </dev/null >/var/log/s7-server.log 2>&1 & echo \$! >/tmp/s7-server.pid; i=0; until grep -q listening /var/log/s7-server.log; do i=\$((i + 1)); [ \$i -lt 100 ] || { cat /var/log/s7-server.log; exit 1; }; sleep 0.1; done"; then
	status=0
	guest vm-221 "sctplb_test tcase_route 192.168.1.0/24 192.168.2.201 && sctplb_test tcase_route 192.168.4.0/24 192.168.6.202 && printf 'hello\nfrom ovl/sctp\n' | $s7_client 2>/var/log/s7-client.err; echo client-exit=\$?; cat /var/log/s7-client.err" || status=$?
	out=$(cat "$state/last.out")
	if [ "$status" = 0 ] && grep -q '^client-exit=0$' <<<"$out" && grep -q '^vm-001: hello$' <<<"$out" &&
		grep -q '^vm-001: from ovl/sctp$' <<<"$out"; then
		pass "S7 both stdin lines echoed by the server (name vm-001), clean SHUTDOWN"
	else
		fail "S7 the README client did not get both lines echoed (status $status)"
	fi
	grep -q 'local 192.168.2.221,192.168.6.221 port [0-9]*, peer 192.168.1.1,192.168.4.1 port 6000' <<<"$out" &&
		pass "S7 one association over both paths (both local and both server addresses, port 6000)" ||
		fail "S7 the association did not list both paths"
	guest vm-001 'kill $(cat /tmp/s7-server.pid); cat /var/log/s7-server.log' || true
else
	fail "S7 the README server did not start"
fi

# S9. Plain multihoming, no VIP and no LB: a server on vm-001's own two addresses (port 6001),
# the client's association over both paths (routed by the LB namespaces as routers), path A cut
# at vm-201 by tcase_path_cut during traffic: the association fails over, nothing lost.
say "S9 plain multihoming: vm-001's own addresses, no VIP, no LB"
s9_port=6001
if guest vm-001 "sctplb_test tcase_server_start --port=$s9_port --vip=192.168.1.1,192.168.4.1 --name=plain-001 --log=/var/log/s9-server.log" &&
	guest vm-221 "sctplb_test tcase_route 192.168.1.0/24 192.168.2.201 && sctplb_test tcase_route 192.168.4.0/24 192.168.6.202"; then
	if failover_run S9 /var/log/ct-s9.json '' 4 "--addr 192.168.1.1,192.168.4.1 --laddr 192.168.2.221,192.168.6.221 --clients 4 --duration 120 --port $s9_port --rate 10 --echo-wait 3000 --connect-timeout 5000"; then
		pass "S9 4 associations to 192.168.1.1,192.168.4.1 ($(servers_in)) failed over from path A without losing a message ($(failovers_in) failovers)"
	else
		fail "S9 plain multihoming failover"
	fi
	guest vm-001 "sctplb_test tcase_server_stop --port=$s9_port" || fail "S9 tcase_server_stop"
else
	fail "S9 could not start the server or the client routes"
fi

# S10. The ECMP baseline: what happens without sctplb. The LBs are stopped and their rules
# removed; each LB namespace routes its VIPs over the three servers with an ECMP route hashed on
# L4 (the overlay's tcase_ecmp_setup: fib_multipath_hash_policy=1). Each path of an association
# is hashed on its own 5-tuple (client address, VIP, ports) by a keyed hash: path A and path B
# land on independent, uniformly chosen servers, the same one with probability 1/3. With 16
# associations (16 ephemeral ports) every one of them keeps its paths together with probability
# 3^-16 (about 2e-8): the breakage is certain. It shows as ABORTs at the client (a server
# without the association answers path B's heartbeat or DATA, RFC 9260 section 8.4) and as
# out-of-the-blue packets counted by the servers' stacks.
say "S10 ECMP baseline: LBs replaced by L4-hashed multipath routes"
lb_down
for k in 201 202; do lb_rules_delete $k || fail "S10 sctplb rules --delete on vm-$k"; done
lb_tcase 201 tcase_ecmp_setup --vip=10.0.0.1,fd00::1:1 --target="$(targets_csv 1)" || fail "S10 tcase_ecmp_setup on vm-201"
lb_tcase 202 tcase_ecmp_setup --vip=10.0.0.2,fd00::1:2 --target="$(targets_csv 4)" || fail "S10 tcase_ecmp_setup on vm-202"
# snmp_sum NAME: a counter of /proc/net/sctp/snmp summed over the three servers.
snmp_sum() {
	local s n total=0
	for s in 1 2 3; do
		n=$(vm_run "vm-00$s" --timeout 20 "sctplb_test tcase_snmp" 2>/dev/null | awk -v n="$1" '$1 == n { print $2 }')
		total=$((total + ${n:-0}))
	done
	echo "$total"
}
capture_start ecmp
s10_oob_before=$(snmp_sum SctpOutOfBlues)
if guest vm-221 "sctplb_test tcase_ctraffic_broken --out=/var/log/ct-s10.json --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 16 --duration 2 --primary 10.0.0.2 --primary-after 5 ${ct_common[*]}"; then
	pass "S10 without sctplb pinning broke: $(grep -o 'ABORTs received here during it: [0-9]*; associations [0-9]*, not closed cleanly: [0-9]*' "$state/last.out")"
else
	fail "S10 the ECMP baseline did not show the breakage"
fi
s10_oob=$(($(snmp_sum SctpOutOfBlues) - s10_oob_before))
if [ "$s10_oob" -gt 0 ]; then
	pass "S10 the servers met $s10_oob out-of-the-blue packets (a path reached a server without its association)"
else
	fail "S10 the servers counted no out-of-the-blue packet"
fi
# The servers' halves of the broken associations end when the client ABORTs their heartbeats,
# through the ECMP routes still in place (the path of the INIT hashes to that server): wait for
# none left (tcase_no_assoc), so nothing of S10 reaches S11's LBs.
t_s10=$(date +%s%N)
for s in 1 2 3; do
	guest "vm-00$s" "sctplb_test tcase_no_assoc --timeout=40" || fail "S10 vm-00$s still holds associations after 40 s"
done
say "S10 the servers dropped their halves of the broken associations in $(ms_since "$t_s10") ms"
capture_stop
lb_tcase 201 tcase_ecmp_teardown --vip=10.0.0.1,fd00::1:1 || fail "S10 tcase_ecmp_teardown on vm-201"
lb_tcase 202 tcase_ecmp_teardown --vip=10.0.0.2,fd00::1:2 || fail "S10 tcase_ecmp_teardown on vm-202"

# S11. SCTP over UDP (RFC 6951) through sctplb. The LBs come back, set up as on Xcluster by the
# overlay's tcase_lb_setup --encap-port=9899 (passed to 'sctplb rules' and 'sctplb lb') and
# tcase_lb_start, ports mode; every guest turns encapsulation on (tcase_sctp_udp: net.sctp
# udp_port and encap_port) and the servers restart (sockets copy encap_port). DATA on path A,
# heartbeats on path B, then tcase_path_cut at vm-201 (SCTP and UDP 9899): the associations
# fail over to the same server. The LBs' iptables counters show the traffic came as UDP only.
say "S11 SCTP over UDP (RFC 6951) through sctplb"
encap=9899
for k in 201 202; do
	vips=10.0.0.1,fd00::1:1 net=1
	[ $k = 201 ] || { vips=10.0.0.2,fd00::1:2 net=4; }
	if lb_tcase $k tcase_lb_setup --shm="$prefix-$k" --hash=ports --vip=$vips --target="$(targets_csv $net)" \
		--queue=$queue --seed-file="$state/seed" --encap-port=$encap &&
		lb_tcase $k tcase_lb_start --shm="$prefix-$k" --log="$state/lb-$k.log"; then
		record "lb-$k" "$(cat "$state/run-$k/$prefix-$k.pid")"
	else
		fail "S11 tcase_lb_setup/lb_start --encap-port=$encap on vm-$k"
	fi
done
for s in 1 2 3; do
	guest "vm-00$s" "sctplb_test tcase_sctp_udp --encap-port=$encap && sctplb_test tcase_server_start --name=server-$s" ||
		fail "S11 encapsulation and server restart on vm-00$s"
done
guest vm-221 "sctplb_test tcase_sctp_udp --encap-port=$encap" || fail "S11 encapsulation on vm-221"
# queued K PROTO: packets LB K's NFQUEUE rules (IPv4 and IPv6) took for PROTO (sctp, udp).
queued() {
	{ in_ns "$(lb_ns_of "$1")" iptables-save -c -t mangle; in_ns "$(lb_ns_of "$1")" ip6tables-save -c -t mangle; } |
		awk -v p="-p $2 " '/NFQUEUE/ && index($0, p) { split(substr($1, 2), c, ":"); n += c[1] } END { print n + 0 }'
}
capture_start udp
if failover_run S11 /var/log/ct-s11.json "--encap-port=$encap" 4 "--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 4 --duration 120 ${ct_common[*]}"; then
	pass "S11 4 associations over UDP, each answered by one server ($(servers_in)) on both paths, survived the cut of path A (SCTP and UDP $encap dropped) without losing a message ($(failovers_in) failovers)"
else
	fail "S11 SCTP over UDP pinning and failover"
fi
capture_stop
for k in 201 202; do
	s11_udp=$(queued $k udp) s11_sctp=$(queued $k sctp)
	if [ "$s11_udp" -gt 0 ] && [ "$s11_sctp" = 0 ]; then
		pass "S11 vm-$k queued $s11_udp UDP-encapsulated packets and no plain SCTP one"
	else
		fail "S11 vm-$k queued $s11_udp UDP and $s11_sctp plain SCTP packets (want UDP only)"
	fi
	lb_check S11 $k '([.targets[].packets] | add) > 0 and .reasons["no-target"] == 0' "placed the SCTP over UDP on servers"
done

# The guests are still alive (no panic, no death marker) after all of it.
for g in vm-001 vm-002 vm-003 vm-221; do vm_alive "$g" || fail "guest $g died"; done

total_ms=$(ms_since "$t_start")
say "done in $total_ms ms (image $image_ms ms, boot $boot_ms ms); $failures failure(s)"
[ "$failures" -eq 0 ]
