# shellcheck shell=bash
# shellcheck disable=SC2154 # prefix, state, sw, lb_a, lb_b, queue: set by the sourcing script
# shellcheck disable=SC2034 # image_ms, vm_sock_dir, segments, finished: read by the sourcing script and vm-lib.sh
# vm-dual-topology.sh: the host side of the VM suite's dual-path topology (docs/vm.md), for a
# test that sets prefix, sw, lb_a, lb_b and queue and sources topology-common.sh and vm-lib.sh
# before it calls these (defining them needs neither). Guests attach to the bridges with vm_start.
#
#   dt_environment                   source_dir, SCTPLB_BUILD_DIR, SCTPLB_BIN, SCTPT_BIN, vmdir
#   dt_require TOOL...               exit 77 with the reason unless root, the tools, SCTPLB_BIN,
#                                    SCTPT_BIN (static sctpt) and /dev/net/tun are there
#   mac NET HOST                     the MAC of HOST on NET: 02:00:00:NET:00:HOST (hex)
#   dt_namespaces                    the switch ($sw: bridges br1 br2 br3 br4 br6) and the two
#                                    LB namespaces ($lb_a: eth2 eth1 eth3, $lb_b: eth6 eth4 eth3)
#   dt_lbs_init SERVERS [RULES-OPT...]  both LB segments (vtag mode, shared seed), SERVERS
#                                    (e.g. "1 2 3") activated, `sctplb rules --fastpath --apply`
#                                    for VIP 10.0.0.1 (vm-201, net 1) and 10.0.0.2 (vm-202, net 4)
#   lb_ns_of K / lb_cmd K CMD ARGS   LB K's namespace / one sctplb command on LB K's segment
#   lb_start K                       LB K's daemon with association sync over net 3 and the
#                                    options in the array dt_lb_options (e.g. --server-queue)
#   path_a -A|-D                     path A cut (FORWARD drop at vm-201's client side, v4 and v6)
#   kernel_marked                    "A B": packets each LB's kernel fast path has marked so far
#   ms_since NS / pass / fail / say  the test's report lines (fail counts in $failures)
#   dt_image                         build-image.sh into $vmdir; sets image_ms (exits as it did)
#   dt_run_dir TAG                   $state, the sockets' directory, the pid and namespace lists
#   dt_exit                          EXIT trap: status 0 only when $finished = 1 and no failure
#                                    (a function failures_total, if defined, gives the count);
#                                    then vm_suite_cleanup
#   helper_install                   vm_setup lines that install apps/guest-apps.sh as `apps`
#   dt_server_cfg S [HOOK]           guest config of server vm-00S: VIPs on lo, DSR routes to
#                                    nets 2 (via vm-201, src 10.0.0.1) and 6 (via vm-202, src
#                                    10.0.0.2); HOOK S prints more vm_setup lines
#   dt_client_cfg [HOOK]             guest config of vm-221: routes to the VIPs via the LBs
#   paths_watch / paths_active PORT [ADDRESSES]  every path (guest of all_guests, association,
#                                    peer address [matching ADDRESSES]) of PORT seen active since
#                                    the watch began, none unconfirmed
#   paths_report PORT WHY            fail WHY, list the paths never seen active, keep the detail
#   vip_a_dead PORT                  on vm-221 the path to 10.0.0.1 of every association is dead
#   sctp_counts_mark / sctp_counts_since PREFIX   ABORTs and OOTB packets each guest counted
#                                    since the mark (fail per guest; totals in aborts, ootb)
#   g NAME CMD / snmp NAME / field TEXT NAME   a guest command (60 s); its SCTP counters
#                                    ("aborts N estab N ootb N indata N"); one of them

# dt_environment: where things are, from the environment (ctest sets it) or this checkout:
# source_dir, SCTPLB_BUILD_DIR, SCTPLB_BIN, SCTPT_BIN (the static sctpt), vmdir (SCTPLB_VM_DIR).
dt_environment() {
	source_dir=${SCTPLB_SOURCE_DIR:-$(cd "$dt_here/../.." && pwd)}
	: "${SCTPLB_BUILD_DIR:=$source_dir/build}"
	: "${SCTPLB_BIN:=$SCTPLB_BUILD_DIR/lb/cli/sctplb}"
	: "${SCTPT_BIN:=$SCTPLB_BUILD_DIR/tests/vm/sctpt-static}"
	vmdir=${SCTPLB_VM_DIR:-$SCTPLB_BUILD_DIR/vm}
}
dt_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mac() { printf '02:00:00:%02x:00:%02x' "$1" "$2"; }

dt_mk_ns() { # dt_mk_ns NS SYSCTL...
	ip netns add "$1"
	echo "$1" >>"$state/namespaces"
	ip netns exec "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 "${@:2}"
	ip -n "$1" link set lo up
}

dt_namespaces() {
	local veth_n=0 spec ns host nets net
	dt_mk_ns "$sw"
	ip netns exec "$sw" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 2>/dev/null || true
	for net in 1 2 3 4 6; do ip -n "$sw" link add "br$net" type bridge && ip -n "$sw" link set "br$net" up; done
	for spec in "$lb_a 201 2 1 3" "$lb_b 202 6 4 3"; do
		read -r ns host nets <<<"$spec"
		dt_mk_ns "$ns" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
		for net in $nets; do
			veth_n=$((veth_n + 1))
			ip link add "eth$net" address "$(mac "$net" "$host")" netns "$ns" type veth peer name "v$veth_n" netns "$sw"
			ip -n "$sw" link set "v$veth_n" master "br$net" up
			ip -n "$ns" addr add "192.168.$net.$host/24" dev "eth$net"
			ip -n "$ns" addr add "fd00:$net::$host/64" dev "eth$net" nodad
			ip -n "$ns" link set "eth$net" up
		done
	done
}

lb_ns_of() { if [ "$1" = 201 ]; then echo "$lb_a"; else echo "$lb_b"; fi; }
lb_cmd() { local k=$1; shift; in_ns "$(lb_ns_of "$k")" "$SCTPLB_BIN" "$1" --shm "$prefix-$k" "${@:2}"; }

dt_lb_options=()
lb_start() { # lb_start K: the daemon of LB K (its segment kept: a restart after kill -9 too)
	local k=$1 other=201
	[ "$k" = 202 ] || other=202
	start_lb "lb-$k" "$(lb_ns_of "$k")" "$prefix-$k" "$state/lb-$k.log" " in vm-$k" \
		--sync-listen "192.168.3.$k:7400" --sync-peer "192.168.3.$other:7400" --sync-key "$state/sync.key" \
		"${dt_lb_options[@]}"
}

dt_lbs_init() {
	local servers=$1 k net vip s
	shift
	local -a targets
	(umask 077 && head -c 32 /dev/urandom >"$state/seed")
	(umask 077 && "$vm_python" -c 'import secrets; print(secrets.token_hex(32))' >"$state/sync.key")
	for k in 201 202; do
		net=1 vip=10.0.0.1
		[ $k = 201 ] || { net=4; vip=10.0.0.2; }
		targets=()
		for s in $servers; do targets+=(--target "$s=192.168.$net.$s"); done
		"$SCTPLB_BIN" init --shm "$prefix-$k" --hash vtag --seed-file "$state/seed" --M 997 --capacity 4096 >>"$state/init.log" ||
			die "sctplb init $k"
		# shellcheck disable=SC2086 # a list of fwmarks
		"$SCTPLB_BIN" activate --shm "$prefix-$k" $servers >>"$state/init.log" || die "sctplb activate $k"
		in_ns "$(lb_ns_of $k)" "$SCTPLB_BIN" rules --shm "$prefix-$k" --vip "$vip" --queue "$queue" \
			"${targets[@]}" --fastpath "$@" --apply >>"$state/rules-$k.log" 2>&1 ||
			die "sctplb rules in vm-$k: $(tail -n 3 "$state/rules-$k.log")"
	done
}

path_a() { # path_a -A|-D: path A (client side of vm-201) dropped in both directions, IPv4 and IPv6
	local tool dir
	for tool in iptables ip6tables; do
		for dir in -i -o; do in_ns "$lb_a" "$tool" -w "$1" FORWARD "$dir" eth2 -p sctp -j DROP; done
	done
}

kernel_marked() {
	local k
	for k in 201 202; do lb_cmd $k stats --json 2>/dev/null | jq '[.fastpath.targets[]?.packets] | add // 0'; done |
		tr '\n' ' ' | sed 's/ $//'
}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
failures=0
finished=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
say() { echo "--- [$(ms_since "$t_start") ms] $*"; }

dt_image() {
	local t status=0
	say "image: $vmdir"
	t=$(date +%s%N)
	SCTPLB_SOURCE_DIR=$source_dir SCTPT_BIN=$SCTPT_BIN SCTPLB_BIN=$SCTPLB_BIN \
		bash "$vm_here/build-image.sh" "$vmdir" || status=$?
	[ $status -eq 0 ] || exit $status
	image_ms=$(ms_since "$t")
}

dt_run_dir() {
	state=$vmdir/run-$prefix
	mkdir -p "$state"
	chmod 700 "$state"
	vm_sock_dir=$(mktemp -d "/tmp/sctplb-$1.XXXXXX")
	: >"$state/pids"
	: >"$state/namespaces"
	segments=("$prefix-201" "$prefix-202")
}

# Whatever ended the run early (an exit 0 somewhere, a signal the trap saw as status 0) fails it.
dt_exit() {
	local status=$?
	set +e
	! declare -F failures_total >/dev/null || failures=$(failures_total)
	if [ "$status" -eq 0 ] && { [ "$finished" != 1 ] || [ "$failures" -ne 0 ]; }; then
		echo "FAIL: exiting with status 0 but the run did not finish ($failures failure(s)): status 1"
		status=1
	fi
	(exit "$status")
	vm_suite_cleanup
}

helper_install() {
	printf "cat >/usr/bin/apps <<'APPS_EOF'\n%s\nAPPS_EOF\nchmod 755 /usr/bin/apps\n" "$(cat "$vm_here/apps/guest-apps.sh")"
}

dt_server_cfg() {
	local s=$1 hook=${2:-}
	echo "VM_NAME=vm-00$s"
	echo "VM_NICS=\"$(mac 1 "$s"),eth1,192.168.1.$s/24,fd00:1::$s/64 $(mac 4 "$s"),eth4,192.168.4.$s/24,fd00:4::$s/64\""
	echo "vm_setup() {"
	echo "set -e"
	helper_install
	echo "sctplb_test tcase_sctp_sysctls"
	echo "sctplb_test tcase_vip_setup --vip=10.0.0.1,10.0.0.2"
	echo "ip route add 192.168.2.0/24 via 192.168.1.201 dev eth1 src 10.0.0.1"
	echo "ip route add 192.168.6.0/24 via 192.168.4.202 dev eth4 src 10.0.0.2"
	[ -z "$hook" ] || "$hook" "$s"
	echo "}"
}

dt_client_cfg() {
	local hook=${1:-}
	echo "VM_NAME=vm-221"
	echo "VM_NICS=\"$(mac 2 221),eth2,192.168.2.221/24,fd00:2::221/64 $(mac 6 221),eth6,192.168.6.221/24,fd00:6::221/64\""
	echo "vm_setup() {"
	echo "set -e"
	helper_install
	echo "sctplb_test tcase_sctp_sysctls"
	echo "sctplb_test tcase_route 10.0.0.1/32 192.168.2.201"
	echo "sctplb_test tcase_route 10.0.0.2/32 192.168.6.202"
	[ -z "$hook" ] || "$hook"
	echo "}"
}

g() { vm_run "$1" --timeout 60 "$2"; }
snmp() { g "$1" "apps snmp"; }
field() { awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' <<<"$1"; }

dt_require() {
	local tool
	skip() { echo "SKIP: $*"; exit 77; }
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, tap devices, iptables)"
	for tool in "$@"; do
		command -v "$tool" >/dev/null || skip "$tool is not installed (./run.sh installs the packages)"
	done
	[ -x "$SCTPLB_BIN" ] || skip "sctplb not built at $SCTPLB_BIN"
	[ -x "$SCTPT_BIN" ] || skip "no static sctpt (SCTPT_BIN='$SCTPT_BIN'; needs libsctp.a and libusrsctp.a)"
	[ -e /dev/net/tun ] || skip "no /dev/net/tun (tap devices)"
}

# Paths under software emulation on a loaded host flap: a heartbeat answered later than the
# RTO (at most 1 s here, tcase_sctp_sysctls) makes Linux mark the path potentially failed
# (state 1) or, after path_max_retrans more, inactive, until the next answer makes it active
# again. "Every path active at one instant on four guests" is then a matter of luck; what the
# checks mean is "every path of every association works through the LBs": each has been seen
# active since the watch began (paths_watch), and none is left unconfirmed (state 3: never
# answered, what a path the LBs drop looks like).
# paths_watch: start a watch (forget what was seen).
paths_watch() { : >"$state/paths-seen"; }
# paths_active PORT [ADDRESSES]: every path (guest, association, peer address) of PORT that
# exists now has been seen active since paths_watch, and none is unconfirmed now; with
# ADDRESSES (an awk regular expression) only the paths to peer addresses that match it.
paths_active() {
	local gname out
	: >"$state/paths-now"
	for gname in "${all_guests[@]}"; do
		out=$(g "$gname" "apps paths $1") || return 1
		[ -z "$out" ] || awk -v g="$gname" -v only="${2:-}" 'only == "" || $2 ~ only { print g, $1, $2, $3 }' <<<"$out" >>"$state/paths-now"
	done
	[ -s "$state/paths-now" ] || return 1
	awk '$4 == 2 { print $1, $2, $3 }' "$state/paths-now" >>"$state/paths-seen"
	awk 'FILENAME == ARGV[1] { seen[$0] = 1; next } $4 == 3 || !(($1 " " $2 " " $3) in seen) { bad = 1 } END { exit bad }' \
		"$state/paths-seen" "$state/paths-now"
}
# paths_report PORT WHY: the failure, the paths not seen active (on stdout), and every guest's
# detail of its paths now (into the run directory).
paths_report() {
	local gname detail
	fail "$2"
	awk 'FILENAME == ARGV[1] { seen[$0] = 1; next } $4 == 3 || !(($1 " " $2 " " $3) in seen) { print "    not seen active: " $1 " association " $2 " peer " $3 " state now " $4 }' \
		"$state/paths-seen" "$state/paths-now" | head -n 12
	detail=$state/paths-$(date +%s)
	for gname in "${all_guests[@]}"; do
		echo "== $gname"
		g "$gname" "apps paths_detail $1" || true
	done >"$detail" 2>&1
	echo "    every guest's paths now: $detail"
}
# vip_a_dead PORT: on vm-221, the path to 10.0.0.1 of every association of PORT is inactive.
vip_a_dead() { local out; out=$(g vm-221 "apps paths $1") && [ -n "$out" ] && ! awk '$2 == "10.0.0.1" && $3 != 0 { f = 1 } END { exit !f }' <<<"$out"; }

# sctp_counts_mark: every guest's (all_guests) SCTP ABORT and out-of-the-blue counts now, the
# baseline of sctp_counts_since.
declare -A dt_base_aborts=() dt_base_ootb=()
sctp_counts_mark() {
	local gname now
	for gname in "${all_guests[@]}"; do
		now=$(snmp "$gname")
		dt_base_aborts[$gname]=$(field "$now" aborts)
		dt_base_ootb[$gname]=$(field "$now" ootb)
	done
}
# sctp_counts_since PREFIX [ALLOWED]: the ABORTs and out-of-the-blue packets each guest counted
# since the mark, a fail line (PREFIX first) for each guest that counted any; the totals in
# aborts, ootb; status 1 if any guest failed. ALLOWED: a function printing how many ABORTs a
# guest (its argument) may count (default 0); a guest within it may count the out-of-the-blue
# stragglers of what it aborted, never stragglers without an ABORT.
sctp_counts_since() {
	local gname now a o allowed status=0
	aborts=0
	ootb=0
	for gname in "${all_guests[@]}"; do
		now=$(snmp "$gname")
		a=$(($(field "$now" aborts) - dt_base_aborts[$gname]))
		o=$(($(field "$now" ootb) - dt_base_ootb[$gname]))
		aborts=$((aborts + a))
		ootb=$((ootb + o))
		allowed=0
		[ -z "${2:-}" ] || allowed=$("$2" "$gname")
		if [ "$a" -gt "$allowed" ] || { [ "$a" = 0 ] && [ "$o" != 0 ]; }; then
			fail "$1$gname counted $a ABORTs and $o out-of-the-blue packets (allowed: $allowed ABORTs)"
			status=1
		fi
	done
	return $status
}
