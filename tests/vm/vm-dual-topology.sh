# shellcheck shell=bash
# shellcheck disable=SC2154 # prefix, state, sw, lb_a, lb_b, queue: set by the sourcing script
# vm-dual-topology.sh: the host side of the VM suite's dual-path topology (docs/vm.md), for a
# test that sources topology-common.sh and vm-lib.sh first and sets prefix, state, sw, lb_a,
# lb_b and queue. Guests attach to the bridges with vm_start.
#
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
