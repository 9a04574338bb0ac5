#!/bin/bash
# dual-path.sh: the Xcluster "dual-path" network topology in network namespaces: multihomed
# usrsctp clients, one load balancer per path (or one carrying both), three direct-server-return
# servers with one VIP per path. Used by tests/integration/test-dual-*.sh and tests/demo/demo.sh.
#
#  clients vm-221.. (PREFIX-vm221, ...)       LBs                       servers vm-001..003
#                                                                        (PREFIX-vm001..003)
#  eth2 192.168.2.22K fd00:2::22K ─ net 2 ─ eth2 .201 ┐ PREFIX-vm201 ┌ eth1 .201 ─ net 1 ─ eth1 192.168.1.N fd00:1::N
#                                                     └ sctplb lb ───┘                   + VIPs 10.0.0.1 10.0.0.2
#  eth6 192.168.6.22K fd00:6::22K ─ net 6 ─ eth6 .202 ┐ PREFIX-vm202 ┌ eth4 .202 ─ net 4 ─ eth4 192.168.4.N fd00:4::N
#                                                     └ sctplb lb ───┘                   + fd00::1:1 fd00::1:2
#                          vm-201 eth3 192.168.3.201 fd00:3::201 ─ net 3 (sync) ─ vm-202 eth3 192.168.3.202 fd00:3::202
#
# --lbs-per-path 2 (the LB tier behind ECMP routers, IPv4): a router per path (PREFIX-rtA on nets
# 2, 5 and 1; PREFIX-rtB on nets 6, 7 and 4, each .210) takes the clients' packets and spreads
# them over two LBs with a multipath route to the path's VIP (`nexthop via .201 nexthop via .203`
# on net 5 for path A; .202 and .204 on net 7 for path B), hashed on L4
# (fib_multipath_hash_policy=1; a fixed fib_multipath_hash_seed where the kernel has it, so a run
# spreads the same client addresses the same way). The LBs' fronts are on nets 5 and 7, their
# backs on nets 1 and 4 as before; servers answer through the router of the path; net 3 joins all
# four LBs (sync full mesh). `withdraw PREFIX K` removes LB K's next hop, as a router does when a
# health check (BFD) fails; `lb-counters` shows what each LB forwarded per client address.
# Path A: client net-2 address <-> VIP 10.0.0.1 (fd00::1:1), through vm-201, to the server's net-1
# address. Path B: client net-6 address <-> VIP 10.0.0.2 (fd00::1:2), through vm-202, to net 4.
# Each LB queues only packets TO its VIPs (sctplb rules --apply) and routes them by fwmark N to
# server N; servers answer directly (DSR): their route to net 2 goes via vm-201's net-1 address
# and to net 6 via vm-202's net-4 address, where the replies are merely forwarded.
# --single-lb: vm-201 has all four networks (eth2, eth6, eth1, eth4) and carries both paths with
# one sctplb instance; path B still enters on eth6 and leaves on eth4 (a second `sctplb rules`
# set, tables 6000+ and priority 9000, routes VIP B to the servers' net-4 addresses).
# Bridges live in their own namespace (PREFIX-sw): br_netfilter never sees bridged frames.
#
# usrsctp quirks handled here (tests/data/README.md): VIPs on a veth end (usrsctp ignores lo);
# stateless nft rules put the IPv4 source address a kernel would choose (usrsctp writes the header
# itself); `src` hints on routes for IPv6 and UDP; static neighbours (no first packet waits for
# ARP/ND); no DAD; one usrsctp stack per namespace, so one namespace per client.
#
# Two LBs run the same --seed-file, M, hash mode and fwmarks. In `ports` mode both pick the same
# server for any packet of an association (the hash is on the ports only) without sharing state.
# In `vtag` mode the LB of path B never sees the INIT: without sync it drops path-B packets of
# associations it has not learned. `up --sync` makes a shared sync key (0600, in the state
# directory) and `lb-start` then runs each LB with --sync-listen on its net-3 address (port 7400),
# the other LB as --sync-peer and that key: the LBs tell each other every association, so vtag
# mode works with two LBs. (--single-lb also works for vtag: one LB sees both paths.)
#
# State (PIDs, logs, seed) lives in $DUAL_PATH_STATE_DIR/PREFIX (default /tmp/dual-path). Only
# namespaces named PREFIX-* and processes recorded there are ever touched.
set -eu

script_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$script_dir/../.." && pwd)
state_root=${DUAL_PATH_STATE_DIR:-/tmp/dual-path}

usage() {
	cat <<EOF
usage: $0 COMMAND PREFIX [options]
commands:
  up PREFIX [--mode ports|vtag] [--single-lb] [--clients N] [--ipv6|--mixed] [--encap-port P]
            [--no-targets] [--sync] [--fastpath] [--idle-timeout S] [--mark-mask M] [--server-queue Q]
            [--lbs-per-path 1|2]
        namespaces, links, addresses (always IPv4 and IPv6), routes, source fixes, static
        neighbours, per-server counters; 'sctplb init' (one seed file shared by both LBs),
        'activate 1 2 3' and 'sctplb rules --apply' on each LB. Mode default ports; N clients
        1..16 (default 1). --ipv6: clients and servers use the IPv6 VIPs; --mixed: path A IPv4, path B
        IPv6 (the default is IPv4 on both). --encap-port: SCTP over UDP (RFC 6951) is queued too
        and the servers run with --udp-encap P. --sync (two LBs only): a shared sync key file
        (0600) for association sync over net 3, used by lb-start. --fastpath (two LBs only): the
        rules include the kernel fast path's nft table. --idle-timeout: the segments' (default 600
        s); --mark-mask: of the rules and of every lb-start (default 0xffffffff). --lbs-per-path 2
        (IPv4): four LBs, vm-201 and vm-203 on path A, vm-202 and vm-204 on path B, behind an ECMP
        router per path; with --sync every LB peers with the three others.
  down PREFIX          stop every recorded process, delete the PREFIX-* namespaces and segments
  env PREFIX           shell variables describing the topology (eval "\$($0 env P)")
  servers PREFIX       start sctpt (usrsctp) servers server-1..3 in PREFIX-vm001..003 on both VIPs
  lb-start PREFIX [--only K] [sctplb lb options]
                       start 'sctplb lb' in each LB namespace (or only LB K), wait until each
                       has bound its queue; after 'up --sync' with --sync-listen 192.168.3.K:7400,
                       --sync-peer (every other LB) and --sync-key
  lb-stop PREFIX [SIGNAL [K]]          stop them, or only LB K (default TERM; KILL = kill -9)
  sctplb PREFIX K COMMAND [args]       an sctplb control command on LB K's segment, in its
                       namespace (K: 201 202, or 201 with --single-lb, or 201..204)
  counters PREFIX      packets each server received per client address: "server-N ADDRESS COUNT"
  lb-counters PREFIX   (--lbs-per-path 2) packets each LB forwarded per client address:
                       "vm-K ADDRESS COUNT"
  withdraw PREFIX K    (--lbs-per-path 2) remove LB K's next hop from its path's multipath route
  cut-path-a PREFIX    drop forwarded SCTP (and UDP encap) on vm-201's client side, in and out,
                       IPv4 (iptables) and IPv6 (ip6tables)
  heal-path-a PREFIX   remove that drop
  pids PREFIX          recorded processes still running
  help                 this text
environment:
  SCTPLB_BIN, SCTPT, SCTPLB_BUILD_DIR (default $source_dir/build), DUAL_PATH_STATE_DIR,
  DUAL_PATH_PORT (server port, default 36412)
needs: root, iproute2, nftables, iptables, ip6tables
EOF
}

topology_name='dual-path'
# shellcheck source-path=SCRIPTDIR source=topology-common.sh
. "$script_dir/topology-common.sh"

port=${DUAL_PATH_PORT:-36412}
queue=2
servers=(1 2 3)

client_ns() { echo "$prefix-vm$((220 + $1))"; }
server_ns() { echo "$prefix-vm00$1"; }
lb_ns() { echo "$prefix-vm$1"; }
setting() { cat "$state/$1" 2>/dev/null || echo "${2:-}"; }

# Setup is batched: one `ip -batch` for every veth (created straight into its namespaces), one per
# namespace for addresses, routes and neighbours. MAC addresses are fixed (02:00:00:0NET:00:HOST),
# so static neighbour entries need no lookup.
declare -A batch=()
root_batch=''
add() { # add NS IP-COMMAND...: queue one `ip` command for namespace NS
	local ns=$1
	shift
	batch[$ns]+="$*"$'\n'
}
mac() { printf '02:00:00:%02x:00:%02x' "$1" "$2"; } # mac NET HOST

new_namespace() {
	local ns=$1
	ip netns add "$ns"
	echo "$ns" >>"$state/namespaces"
	# Before any interface exists, so every interface inherits them: DSR is asymmetric (no
	# reverse-path filter) and nothing waits for duplicate address detection.
	in_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 "${@:2}"
	add "$ns" link set lo up
}

# link NS DEV NET HOST V4/LEN V6/LEN: a veth from DEV in NS (MAC from NET and HOST) to bridge
# brNET in the switch namespace, with one IPv4 and one IPv6 address.
link_count=0
link() {
	local ns=$1 dev=$2 net=$3 host=$4 peer
	link_count=$((link_count + 1))
	peer=p${link_count}n$net
	root_batch+="link add $dev address $(mac "$net" "$host") netns $ns type veth peer name $peer netns $sw"$'\n'
	add "$sw" link set "$peer" master "br$net" up
	add "$ns" link set "$dev" up
	add "$ns" addr add "$5" dev "$dev"
	add "$ns" addr add "$6" dev "$dev" nodad
}

# neighbours NS DEV NET HOST ADDRESS...: NS reaches these addresses of HOST on DEV (net NET).
neighbours() {
	local ns=$1 dev=$2 net=$3 host=$4 address
	shift 4
	for address in "$@"; do
		add "$ns" neigh replace "$address" lladdr "$(mac "$net" "$host")" dev "$dev" nud permanent
	done
}

# The LB (201 or 202) that carries path B.
lb_b() { if [ "$(setting single no)" = yes ]; then echo 201; else echo 202; fi; }
lbs() {
	if [ "$(setting single no)" = yes ]; then
		echo 201
	elif [ "$(setting per-path 1)" = 2 ]; then
		echo 201 202 203 204
	else
		echo 201 202
	fi
}
# path_lbs A|B: the LBs carrying that path. lb_path K: the path LB K carries (A or B; with
# --single-lb vm-201 carries both and is named A).
path_lbs() {
	local k
	if [ "$(setting single no)" = yes ]; then echo 201; return; fi
	for k in $(lbs); do [ "$(lb_path "$k")" != "$1" ] || echo "$k"; done
}
lb_path() { case $1 in 201 | 203) echo A ;; *) echo B ;; esac; }
router_ns() { echo "$prefix-rt$1"; }
# What the clients and servers of a path talk to on nets 2/1 (A) and 6/4 (B): the path's router
# (host .210) in the tier, else its LB.
front_host() {
	if [ "$(setting per-path 1)" = 2 ]; then echo 210; elif [ "$1" = A ]; then echo 201; else lb_b; fi
}
front_ns() {
	if [ "$(setting per-path 1)" = 2 ]; then router_ns "$1"; elif [ "$1" = A ]; then lb_ns 201; else lb_ns "$(lb_b)"; fi
}

# ecmp_nexthops PATH: the multipath route's next hops to PATH's LBs not withdrawn (ip words).
ecmp_nexthops() {
	local path=$1 net=5 k
	[ "$path" = A ] || net=7
	for k in $(path_lbs "$path"); do
		grep -qx "$k" "$state/withdrawn" 2>/dev/null || printf 'nexthop via 192.168.%s.%s dev eth%s ' "$net" "$k" "$net"
	done
}

# ecmp_router PATH CLIENT-NET FRONT-NET SERVER-NET VIP: PATH's router (.210 on the three nets),
# forwarding, with a multipath route to VIP over the path's LBs. Linux hashes a forwarded packet
# on its L4 header with policy 1 (addresses, protocol and ports; the flow dissector reads SCTP's
# ports), so with fixed ports on both sides the client addresses alone spread the associations.
# The hash seed is random per boot unless fixed (net.ipv4.fib_multipath_hash_seed, Linux 6.11+):
# fixed here, so a run is repeatable.
ecmp_router() {
	local path=$1 client_net=$2 front_net=$3 server_net=$4 vip=$5 ns k
	ns=$(router_ns "$path")
	new_namespace "$ns" net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
	[ ! -e /proc/sys/net/ipv4/fib_multipath_hash_seed ] ||
		in_ns "$ns" sysctl -qw net.ipv4.fib_multipath_hash_seed=19
	link "$ns" "eth$client_net" "$client_net" 210 "192.168.$client_net.210/24" "fd00:$client_net::210/64"
	link "$ns" "eth$front_net" "$front_net" 210 "192.168.$front_net.210/24" "fd00:$front_net::210/64"
	link "$ns" "eth$server_net" "$server_net" 210 "192.168.$server_net.210/24" "fd00:$server_net::210/64"
	for k in $(path_lbs "$path"); do neighbours "$ns" "eth$front_net" "$front_net" "$k" "192.168.$front_net.$k"; done
	# shellcheck disable=SC2046 # the next hops are ip words
	add "$ns" route add "$vip/32" $(ecmp_nexthops "$path")
}

cmd_up() {
	local clients=1 mode=ports single=no family=ipv4 encap='' activate_targets=yes sync=no fastpath=no
	local idle_timeout=600 mark_mask=0xffffffff server_queue='' per_path=1
	sw=$prefix-sw # the switch namespace: every network's bridge
	while [ $# -gt 0 ]; do
		case $1 in
		--mode) mode=${2:?--mode needs ports or vtag}; shift 2 ;;
		--single-lb) single=yes; shift ;;
		--clients) clients=${2:?--clients needs N}; shift 2 ;;
		--ipv6) family=ipv6; shift ;;
		--mixed) family=mixed; shift ;;
		--encap-port) encap=${2:?--encap-port needs a port}; shift 2 ;;
		--no-targets) activate_targets=no; shift ;;
		--sync) sync=yes; shift ;;
		--fastpath) fastpath=yes; shift ;;
		--idle-timeout) idle_timeout=${2:?--idle-timeout needs seconds}; shift 2 ;;
		--mark-mask) mark_mask=${2:?--mark-mask needs a mask}; shift 2 ;;
		--server-queue) server_queue=${2:?--server-queue needs a queue number}; shift 2 ;;
		--lbs-per-path) per_path=${2:?--lbs-per-path needs 1 or 2}; shift 2 ;;
		*) die "up: unknown option '$1'" ;;
		esac
	done
	case $per_path in 1) ;; 2) ;; *) die "--lbs-per-path wants 1 or 2" ;; esac
	[ "$per_path" = 1 ] || { [ "$single" = no ] && [ "$family" = ipv4 ]; } ||
		die "--lbs-per-path 2 is IPv4 with an LB per path (not --single-lb, --ipv6, --mixed)"
	[ "$sync" = no ] || [ "$single" = no ] || die "--sync needs two LBs (not --single-lb)"
	# (--single-lb splits the VIPs over two rule sets; the daemon fills only its own table.)
	[ "$fastpath" = no ] || [ "$single" = no ] || die "--fastpath needs two LBs (not --single-lb)"
	case $mode in ports | vtag) ;; *) die "--mode wants ports or vtag" ;; esac
	case $clients in [1-9] | 1[0-6]) ;; *) die "--clients wants 1..16" ;; esac
	new_state ip nft iptables ip6tables
	echo "$clients" >"$state/clients"
	echo "$mode" >"$state/mode"
	echo "$single" >"$state/single"
	echo "$family" >"$state/family"
	echo "$encap" >"$state/encap"
	echo "$sync" >"$state/sync"
	echo "$fastpath" >"$state/fastpath"
	echo "$mark_mask" >"$state/mark-mask"
	echo "$per_path" >"$state/per-path"
	echo "$SCTPLB_BIN" >"$state/sctplb"

	local a=201 b k s ns net host
	b=$(lb_b)
	new_namespace "$sw"
	local -a nets=(1 2 4 6)
	[ "$single" = yes ] || nets+=(3)
	[ "$per_path" = 1 ] || nets+=(5 7)
	for net in "${nets[@]}"; do printf 'link add br%s type bridge\nlink set br%s up\n' "$net" "$net"; done |
		ip -n "$sw" -batch - || die "cannot create the bridges"
	in_ns "$sw" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
		2>/dev/null || true

	# Load balancers: vm-201 on nets 2 and 1; vm-202 on nets 6 and 4 (or vm-201 on all four).
	for k in $(lbs); do
		new_namespace "$(lb_ns "$k")" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	done
	if [ "$per_path" = 2 ]; then
		# The tier: LBs of path A between net 5 (their router) and net 1, of path B between
		# net 7 and net 4; the routers carry the clients' nets and the servers' answers.
		for k in $(path_lbs A); do
			link "$(lb_ns "$k")" eth5 5 "$k" "192.168.5.$k/24" "fd00:5::$k/64"
			link "$(lb_ns "$k")" eth1 1 "$k" "192.168.1.$k/24" "fd00:1::$k/64"
		done
		for k in $(path_lbs B); do
			link "$(lb_ns "$k")" eth7 7 "$k" "192.168.7.$k/24" "fd00:7::$k/64"
			link "$(lb_ns "$k")" eth4 4 "$k" "192.168.4.$k/24" "fd00:4::$k/64"
		done
		ecmp_router A 2 5 1 10.0.0.1
		ecmp_router B 6 7 4 10.0.0.2
	else
		link "$(lb_ns $a)" eth2 2 $a 192.168.2.$a/24 fd00:2::$a/64
		link "$(lb_ns $a)" eth1 1 $a 192.168.1.$a/24 fd00:1::$a/64
		link "$(lb_ns "$b")" eth6 6 "$b" "192.168.6.$b/24" "fd00:6::$b/64"
		link "$(lb_ns "$b")" eth4 4 "$b" "192.168.4.$b/24" "fd00:4::$b/64"
	fi
	if [ "$single" = no ]; then
		# Net 3 joins the LBs only: association sync (UDP, sync_port), a full mesh.
		local other
		for k in $(lbs); do
			link "$(lb_ns "$k")" eth3 3 "$k" "192.168.3.$k/24" "fd00:3::$k/64"
			for other in $(lbs); do
				[ "$other" = "$k" ] || neighbours "$(lb_ns "$k")" eth3 3 "$other" "192.168.3.$other" "fd00:3::$other"
			done
		done
	fi

	# Servers: net 1 and net 4; both VIPs of both families on eth1 (usrsctp ignores lo).
	local count_rules='' fa fb
	fa=$(front_host A)
	fb=$(front_host B)
	for k in $(seq 1 "$clients"); do
		count_rules+="ip saddr 192.168.2.$((220 + k)) counter"$'\n'"ip saddr 192.168.6.$((220 + k)) counter"$'\n'
		count_rules+="ip6 saddr fd00:2::$((220 + k)) counter"$'\n'"ip6 saddr fd00:6::$((220 + k)) counter"$'\n'
	done
	for s in "${servers[@]}"; do
		ns=$(server_ns "$s")
		new_namespace "$ns"
		link "$ns" eth1 1 "$s" "192.168.1.$s/24" "fd00:1::$s/64"
		link "$ns" eth4 4 "$s" "192.168.4.$s/24" "fd00:4::$s/64"
		add "$ns" addr add 10.0.0.1/32 dev eth1
		add "$ns" addr add 10.0.0.2/32 dev eth1
		add "$ns" addr add fd00::1:1/128 dev eth1 nodad
		add "$ns" addr add fd00::1:2/128 dev eth1 nodad
		# Replies go straight back (DSR), each path through its own LB (or router), from that
		# path's VIP.
		add "$ns" route add 192.168.2.0/24 via "192.168.1.$fa" dev eth1 src 10.0.0.1
		add "$ns" route add 192.168.6.0/24 via "192.168.4.$fb" dev eth4 src 10.0.0.2
		add "$ns" route add fd00:2::/64 via "fd00:1::$fa" dev eth1 src fd00::1:1
		add "$ns" route add fd00:6::/64 via "fd00:4::$fb" dev eth4 src fd00::1:2
		neighbours "$ns" eth1 1 "$fa" "192.168.1.$fa" "fd00:1::$fa"
		neighbours "$ns" eth4 4 "$fb" "192.168.4.$fb" "fd00:4::$fb"
		for k in $(path_lbs A); do neighbours "$(lb_ns "$k")" eth1 1 "$s" "192.168.1.$s" "fd00:1::$s"; done
		for k in $(path_lbs B); do neighbours "$(lb_ns "$k")" eth4 4 "$s" "192.168.4.$s" "fd00:4::$s"; done
	done

	# Clients: one namespace each (one usrsctp stack per namespace).
	local a2 a6 v2 v6
	for k in $(seq 1 "$clients"); do
		ns=$(client_ns "$k")
		host=$((220 + k))
		a2=192.168.2.$host
		a6=192.168.6.$host
		v2=fd00:2::$host
		v6=fd00:6::$host
		new_namespace "$ns"
		link "$ns" eth2 2 "$host" "$a2/24" "$v2/64"
		link "$ns" eth6 6 "$host" "$a6/24" "$v6/64"
		add "$ns" route add 10.0.0.1/32 via "192.168.2.$fa" src "$a2"
		add "$ns" route add 10.0.0.2/32 via "192.168.6.$fb" src "$a6"
		add "$ns" route add fd00::1:1/128 via "fd00:2::$fa" src "$v2"
		add "$ns" route add fd00::1:2/128 via "fd00:6::$fb" src "$v6"
		neighbours "$ns" eth2 2 "$fa" "192.168.2.$fa" "fd00:2::$fa"
		neighbours "$ns" eth6 6 "$fb" "192.168.6.$fb" "fd00:6::$fb"
		neighbours "$(front_ns A)" eth2 2 "$host" "$a2" "$v2"
		neighbours "$(front_ns B)" eth6 6 "$host" "$a6" "$v6"
	done

	# Every veth, then each namespace's addresses, routes and neighbours (and bridge ports).
	printf '%s' "$root_batch" | ip -batch - || die "ip -batch failed creating the links"
	for ns in "${!batch[@]}"; do
		[ -n "${batch[$ns]}" ] || continue
		printf '%s' "${batch[$ns]}" | ip -n "$ns" -batch - || die "ip -batch failed in $ns"
	done

	for s in "${servers[@]}"; do
		# usrsctp writes the IPv4 header and picks the source without routing: put the VIP of
		# each path, statelessly (the SCTP checksum does not cover the IP header). And count
		# what each server receives from each client address.
		in_ns "$(server_ns "$s")" nft -f - <<-EOF
			table ip dualpath_source {
				chain postrouting {
					type filter hook postrouting priority 0; policy accept;
					ip protocol sctp ip daddr 192.168.2.0/24 ip saddr != 10.0.0.1 ip saddr set 10.0.0.1
					ip protocol sctp ip daddr 192.168.6.0/24 ip saddr != 10.0.0.2 ip saddr set 10.0.0.2
				}
			}
			table inet dualpath_count {
				chain prerouting {
					type filter hook prerouting priority -300; policy accept;
					$count_rules
				}
			}
		EOF
	done
	if [ "$per_path" = 2 ]; then
		# What each LB of the tier forwarded (routed on after its verdict) per client address.
		for k in $(lbs); do
			in_ns "$(lb_ns "$k")" nft -f - <<-EOF
				table inet dualpath_count {
					chain forward {
						type filter hook forward priority -300; policy accept;
						$count_rules
					}
				}
			EOF
		done
	fi
	for k in $(seq 1 "$clients"); do
		a2=192.168.2.$((220 + k))
		a6=192.168.6.$((220 + k))
		in_ns "$(client_ns "$k")" nft -f - <<-EOF
			table ip dualpath_source {
				chain postrouting {
					type filter hook postrouting priority 0; policy accept;
					oifname "eth2" ip protocol sctp ip saddr != $a2 ip saddr set $a2
					oifname "eth6" ip protocol sctp ip saddr != $a6 ip saddr set $a6
				}
			}
		EOF
	done

	# sctplb: one instance per LB namespace, one shared memory segment each (shared memory is not
	# per network namespace), the same seed, M, mode and fwmarks.
	# (Segments first: 'sctplb rules --fastpath' sizes its kernel map from the segment.)
	head -c 32 /dev/urandom >"$state/seed"
	chmod 600 "$state/seed"
	if [ "$sync" = yes ]; then
		# The shared sync key (sctplb refuses a key file that group or others may read).
		(umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$state/sync.key") ||
			die "cannot make the sync key"
	fi
	for k in $(lbs); do
		"$SCTPLB_BIN" init --shm "$prefix-$k" --hash "$mode" --seed-file "$state/seed" --M 997 \
			--capacity 4096 --idle-timeout "$idle_timeout" >>"$state/init.log"
		echo "$prefix-$k" >>"$state/segments"
		if [ "$activate_targets" = yes ]; then
			"$SCTPLB_BIN" activate --shm "$prefix-$k" 1 2 3 >>"$state/init.log"
		fi
	done

	local -a encap_option=(--mark-mask "$mark_mask")
	[ -z "$encap" ] || encap_option+=(--encap-port "$encap")
	[ "$fastpath" = no ] || encap_option+=(--fastpath)
	if [ -n "$server_queue" ]; then
		encap_option+=(--server-queue "$server_queue")
		echo "$server_queue" >"$state/server-queue"
	fi
	local targets_a=() targets_b=()
	for s in "${servers[@]}"; do
		targets_a+=(--target "$s=192.168.1.$s" --target "$s=fd00:1::$s")
		targets_b+=(--target "$s=192.168.4.$s" --target "$s=fd00:4::$s")
	done
	if [ "$single" = yes ]; then
		in_ns "$(lb_ns 201)" "$SCTPLB_BIN" rules --shm "$prefix-201" --vip 10.0.0.1,fd00::1:1 --queue $queue \
			"${encap_option[@]}" "${targets_a[@]}" --apply >"$state/rules-201.log"
		# Path B leaves towards net 4: its own tables, consulted first; VIP A misses there.
		in_ns "$(lb_ns 201)" "$SCTPLB_BIN" rules --shm "$prefix-201b" --vip 10.0.0.2,fd00::1:2 --queue $queue \
			--table-base 6000 --priority 9000 "${encap_option[@]}" "${targets_b[@]}" --apply >>"$state/rules-201.log"
	else
		for k in $(path_lbs A); do
			in_ns "$(lb_ns "$k")" "$SCTPLB_BIN" rules --shm "$prefix-$k" --vip 10.0.0.1,fd00::1:1 --queue $queue \
				"${encap_option[@]}" "${targets_a[@]}" --apply >"$state/rules-$k.log"
		done
		for k in $(path_lbs B); do
			in_ns "$(lb_ns "$k")" "$SCTPLB_BIN" rules --shm "$prefix-$k" --vip 10.0.0.2,fd00::1:2 --queue $queue \
				"${encap_option[@]}" "${targets_b[@]}" --apply >"$state/rules-$k.log"
		done
	fi
}

vips_for_family() {
	case $(setting family ipv4) in
	ipv4) echo 10.0.0.1,10.0.0.2 ;;
	ipv6) echo fd00::1:1,fd00::1:2 ;;
	mixed) echo 10.0.0.1,fd00::1:2 ;;
	esac
}
client_addresses() { # K -> "A,B"
	local k=$1
	case $(setting family ipv4) in
	ipv4) echo "192.168.2.$((220 + k)),192.168.6.$((220 + k))" ;;
	ipv6) echo "fd00:2::$((220 + k)),fd00:6::$((220 + k))" ;;
	mixed) echo "192.168.2.$((220 + k)),fd00:6::$((220 + k))" ;;
	esac
}

encap_args() {
	local encap
	encap=$(setting encap)
	[ -z "$encap" ] || echo "--udp-encap $encap"
}

cmd_servers() {
	local s pid
	[ -x "$SCTPT" ] || die "no sctpt at $SCTPT (set SCTPT or SCTPLB_BUILD_DIR)"
	for s in "${servers[@]}"; do
		# shellcheck disable=SC2046
		# ip netns exec directly (not the in_ns function): $! is then the server's own PID.
		ip netns exec "$(server_ns "$s")" "$SCTPT" server --stack usrsctp --verbose \
			--addr "$(vips_for_family)" --port "$port" --name "server-$s" $(encap_args) >"$state/server-$s.log" 2>&1 &
		pid=$!
		record "server-$s" "$pid"
	done
	for s in "${servers[@]}"; do
		wait_for_line "$state/server-$s.log" "listening" ||
			die "server-$s did not start: $(cat "$state/server-$s.log")"
	done
}

sync_port=7400
sync_options() { # sync_options K: the sctplb lb sync options of LB K (none without 'up --sync')
	local other peers=''
	[ "$(setting sync no)" = yes ] || return 0
	for other in $(lbs); do [ "$other" = "$1" ] || peers+=" --sync-peer 192.168.3.$other:$sync_port"; done
	echo "--sync-listen 192.168.3.$1:$sync_port$peers --sync-key $state/sync.key"
}

# server_queue_options K: LB K's --server-queue and --server options (none without 'up --server-queue').
server_queue_options() {
	local q net=1 s list=''
	q=$(setting server-queue)
	[ -n "$q" ] || return 0
	[ "$(lb_path "$1")" = A ] || net=4
	for s in "${servers[@]}"; do list+="${list:+,}$s=192.168.$net.$s,$s=fd00:$net::$s"; done
	[ "$(setting single no)" = no ] || list+=",$(for s in "${servers[@]}"; do printf '%s=192.168.4.%s,' "$s" "$s"; done | sed 's/,$//')"
	echo "--server-queue $q --server $list"
}

# one_lb K: K if it is an LB of this topology (else dies).
one_lb() {
	case " $(lbs) " in *" $1 "*) echo "$1" ;; *) die "there is no LB vm-$1 in this topology" ;; esac
}

cmd_lb_start() {
	local k selected status=0
	local -a starters=()
	selected=$(lbs)
	if [ "${1:-}" = --only ]; then
		selected=$(one_lb "${2:?--only needs an LB (201, 202, ...)}")
		shift 2
	fi
	# In parallel: with sync, an LB waits (--sync-wait-ms) for its peer's table at start.
	for k in $selected; do
		# shellcheck disable=SC2046 # sync_options is a list of words without spaces inside
		start_lb "lb-$k" "$(lb_ns "$k")" "$prefix-$k" "$state/lb-$k.log" " in vm-$k" $(sync_options "$k") \
			--mark-mask "$(setting mark-mask 0xffffffff)" $(server_queue_options "$k") "$@" &
		starters+=($!)
	done
	for k in "${starters[@]}"; do wait "$k" || status=1; done
	return $status
}

cmd_lb_stop() {
	local pattern='lb-*'
	[ -z "${2:-}" ] || pattern=lb-$(one_lb "$2")
	stop_recorded "${1:-TERM}" 3 "$pattern"
}

cmd_sctplb() {
	local k=${1:?sctplb needs an LB (201, 202, ...)} command=${2:?sctplb needs a command}
	shift 2
	one_lb "$k" >/dev/null
	in_ns "$(lb_ns "$k")" "$SCTPLB_BIN" "$command" --shm "$prefix-$k" "$@"
}

# per_address_counts NS CHAIN NAME: "NAME ADDRESS COUNT" for each counter of the dualpath_count
# chain in NS.
per_address_counts() {
	in_ns "$1" nft list chain inet dualpath_count "$2" |
		sed -n "s/.*ip6\{0,1\} saddr \([0-9a-f:.]*\) counter packets \([0-9]*\) .*/$3 \1 \2/p"
}
cmd_counters() {
	local s
	for s in "${servers[@]}"; do per_address_counts "$(server_ns "$s")" prerouting "server-$s"; done
}
cmd_lb_counters() {
	local k
	[ "$(setting per-path 1)" = 2 ] || die "lb-counters needs 'up --lbs-per-path 2'"
	for k in $(lbs); do per_address_counts "$(lb_ns "$k")" forward "vm-$k"; done
}

# withdraw K: LB K's next hop leaves its path's multipath route (the route is replaced by one over
# the remaining LBs, deleted when none remains), as a router does when a health check of K fails.
cmd_withdraw() {
	local k path vip=10.0.0.1 hops
	[ "$(setting per-path 1)" = 2 ] || die "withdraw needs 'up --lbs-per-path 2'"
	k=$(one_lb "${1:?withdraw needs an LB (201..204)}")
	path=$(lb_path "$k")
	[ "$path" = A ] || vip=10.0.0.2
	grep -qx "$k" "$state/withdrawn" 2>/dev/null || echo "$k" >>"$state/withdrawn"
	hops=$(ecmp_nexthops "$path")
	if [ -n "$hops" ]; then
		# shellcheck disable=SC2086 # the next hops are ip words
		in_ns "$(router_ns "$path")" ip route replace "$vip/32" $hops
	else
		in_ns "$(router_ns "$path")" ip route del "$vip/32"
	fi
}

# The cut drops what path A carries through vm-201: everything forwarded in or out of its
# client-side interface (with --single-lb, path B enters on eth6 and is not touched).
cut_rules() { # cut_rules -A|-D
	local tool encap direction
	[ "$(setting per-path 1)" = 1 ] || die "cut-path-a: not with --lbs-per-path 2 (see withdraw)"
	encap=$(setting encap)
	for tool in iptables ip6tables; do
		for direction in -i -o; do
			in_ns "$(lb_ns 201)" "$tool" -w "$1" FORWARD "$direction" eth2 -p sctp \
				-m comment --comment "dualpath:cut-a" -j DROP
			if [ -n "$encap" ]; then
				in_ns "$(lb_ns 201)" "$tool" -w "$1" FORWARD "$direction" eth2 -p udp -m multiport \
					--ports "$encap" -m comment --comment "dualpath:cut-a" -j DROP
			fi
		done
	done
}
cmd_cut_path_a() {
	[ ! -f "$state/cut" ] || return 0
	cut_rules -A
	touch "$state/cut"
}
cmd_heal_path_a() {
	[ -f "$state/cut" ] || return 0
	cut_rules -D
	rm -f "$state/cut"
}

cmd_env() {
	local clients k lb_b_id
	clients=$(setting clients 1)
	lb_b_id=$(lb_b)
	cat <<EOF
DP_PREFIX=$prefix
DP_STATE=$state
DP_MODE=$(setting mode ports)
DP_SINGLE_LB=$(setting single no)
DP_FAMILY=$(setting family ipv4)
DP_ENCAP_PORT=$(setting encap)
DP_LBS="$(lbs)"
DP_LB_A=201
DP_LB_B=$lb_b_id
DP_LB201_NS=$(lb_ns 201)
DP_LB201_SHM=$prefix-201
DP_LB_B_NS=$(lb_ns "$lb_b_id")
DP_LB_B_SHM=$prefix-$lb_b_id
DP_SYNC=$(setting sync no)
DP_SYNC_KEY=$([ "$(setting sync no)" = no ] || echo "$state/sync.key")
DP_SYNC_PORT=$sync_port
DP_VIPS=$(vips_for_family)
DP_VIP_A=$(vips_for_family | cut -d, -f1)
DP_VIP_B=$(vips_for_family | cut -d, -f2)
DP_PORT=$port
DP_CLIENTS=$clients
DP_SERVERS="${servers[*]}"
DP_LBS_PER_PATH=$(setting per-path 1)
DP_LBS_A="$(path_lbs A | xargs)"
DP_LBS_B="$(path_lbs B | xargs)"
EOF
	for k in $(seq 1 "$clients"); do
		echo "DP_CLIENT${k}_NS=$(client_ns "$k")"
		echo "DP_CLIENT${k}_ADDRS=$(client_addresses "$k")"
	done
	for k in "${servers[@]}"; do echo "DP_SERVER${k}_NS=$(server_ns "$k")"; done
}

cmd_down() {
	local segment bin
	stop_recorded
	delete_namespaces
	if [ -f "$state/segments" ]; then
		bin=$(setting sctplb "$SCTPLB_BIN")
		[ -x "$bin" ] || bin=$SCTPLB_BIN
		while read -r segment; do
			case $segment in "$prefix"-*) ;; *) continue ;; esac
			"$bin" delete --shm "$segment" --force >/dev/null 2>&1 || rm -f "/dev/shm/$segment"
		done <"$state/segments"
	fi
	rm -rf "$state"
}

run_command "up down env servers lb-start lb-stop sctplb counters lb-counters withdraw cut-path-a heal-path-a pids" "$@"
