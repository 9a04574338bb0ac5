#!/bin/bash
# lb-topology.sh: one sctplb load balancer in network namespaces, with multihomed usrsctp clients
# and three direct-server-return (DSR) servers. Used by tests/integration/test-lb-*.sh and the demo.
#
#  PREFIX-c   (client 1)  c2 192.168.2.221/24 ─┐  PREFIX-sw           PREFIX-lb
#  PREFIX-c2  (client 2)  c2 192.168.2.222/24 ─┤  br2 (bridge) ────── l2 192.168.2.1/24
#   ...                                        │                       l6 192.168.6.1/24
#  PREFIX-c   (client 1)  c6 192.168.6.221/24 ─┐  br6 (bridge) ──────  │
#  PREFIX-c2  (client 2)  c6 192.168.6.222/24 ─┘                       │ sctplb lb, queue 2
#                                                                      │
#  PREFIX-s1  s0 192.168.11.2/24 + VIPs 10.0.0.1/32 10.0.0.2/32 ─── ls1 192.168.11.1/24  fwmark 1
#  PREFIX-s2  s0 192.168.12.2/24 + VIPs                         ─── ls2 192.168.12.1/24  fwmark 2
#  PREFIX-s3  s0 192.168.13.2/24 + VIPs                         ─── ls3 192.168.13.1/24  fwmark 3
#
# Path A: client 192.168.2.22K <-> VIP 10.0.0.1; path B: client 192.168.6.22K <-> VIP 10.0.0.2.
# Both reach the LB, which queues packets TO the VIPs (sctplb rules --apply) and routes them by
# fwmark to server N. Servers route their replies back through the LB (default route) but the LB
# queues only VIP-bound packets, so replies are forwarded untouched (DSR). The bridges live in
# their own namespace (PREFIX-sw), so br_netfilter never passes bridged frames to the LB's
# iptables rules.
#
# usrsctp quirks handled here (tests/data/README.md): VIPs sit on the servers' veth end (usrsctp
# ignores lo); stateless nft rules fix the IPv4 source address usrsctp writes itself (client and
# server); static neighbours, so no first packet waits for ARP; one usrsctp stack per namespace,
# so every client has its own namespace. Shared memory is not per network namespace: every sctplb
# command gets --shm PREFIX.
#
# State (PIDs, logs, seed file) lives in $LB_TOPOLOGY_STATE_DIR/PREFIX (default /tmp/lb-topology).
# Only namespaces named PREFIX-* and processes recorded there are ever touched.
set -eu

script_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$script_dir/../.." && pwd)
state_root=${LB_TOPOLOGY_STATE_DIR:-/tmp/lb-topology}

usage() {
	cat <<EOF
usage: $0 COMMAND PREFIX [options]
commands:
  up PREFIX [--clients N] [--hash vtag|ports] [--no-targets]
        namespaces, links, addresses, routes, source fixes, static neighbours, counters;
        'sctplb rules --apply' in PREFIX-lb; 'sctplb init' (seed file in the state directory)
        and 'sctplb activate 1 2 3' unless --no-targets. N clients (1..8, default 1).
  down PREFIX        stop every recorded process, delete the PREFIX-* namespaces and the segment
  env PREFIX         print shell variables describing the topology (eval "\$($0 env P)")
  servers PREFIX     start sctpt (usrsctp) servers server-1..3 in PREFIX-s1..s3 (port \$LB_PORT, 36412)
  lb-start PREFIX [sctplb lb options]   start 'sctplb lb --shm PREFIX --queue 2 ...' in PREFIX-lb
                     and wait until the queue is bound (log: STATE/lb.log, appended)
  lb-stop PREFIX [SIGNAL]               stop it (default TERM; KILL for a crash)
  counters PREFIX    SCTP packets each server received per client address: "server-N ADDRESS COUNT"
  pids PREFIX        the recorded processes still running
  help               this text
environment:
  SCTPLB_BIN  the sctplb binary (default: \$SCTPLB_BUILD_DIR/lb/cli/sctplb, else build/)
  SCTPT       the sctpt binary (default: \$SCTPLB_BUILD_DIR/test-apps/sctpt/sctpt)
  SCTPLB_BUILD_DIR   the build directory (default $source_dir/build)
  LB_TOPOLOGY_STATE_DIR  where state goes (default /tmp/lb-topology)
needs: root, iproute2, nftables, iptables (for sctplb rules)
EOF
}

topology_name='lb-topology'
# shellcheck source-path=SCRIPTDIR source=topology-common.sh
. "$script_dir/topology-common.sh"

LB_PORT=${LB_PORT:-36412}
queue=${LB_QUEUE:-2} # "2" or a range "2:3" (sctplb rules --queue-balance, one lb thread each)
vips=(10.0.0.1 10.0.0.2)
servers=(1 2 3)

client_ns() { # client_ns PREFIX K
	if [ "$2" = 1 ]; then echo "$1-c"; else echo "$1-c$2"; fi
}

# static_neighbours NS1 DEV1 NS2 DEV2 "ADDRESSES OF NS2" "ADDRESSES OF NS1"
static_neighbours() {
	local ns1=$1 dev1=$2 ns2=$3 dev2=$4 addresses2=$5 addresses1=$6 mac1 mac2 address
	mac1=$(in_ns "$ns1" cat "/sys/class/net/$dev1/address")
	mac2=$(in_ns "$ns2" cat "/sys/class/net/$dev2/address")
	for address in $addresses2; do
		in_ns "$ns1" ip neigh replace "$address" lladdr "$mac2" dev "$dev1" nud permanent
	done
	for address in $addresses1; do
		in_ns "$ns2" ip neigh replace "$address" lladdr "$mac1" dev "$dev2" nud permanent
	done
}

new_namespace() {
	local ns=$1
	ip netns add "$ns"
	echo "$ns" >>"$state/namespaces"
	in_ns "$ns" ip link set lo up
	# Before any interface exists, so every interface inherits it: DSR is asymmetric and a
	# multihomed client's paths leave by other interfaces than the reverse route.
	in_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

cmd_up() {
	local clients=1 hash=vtag activate_targets=yes k s ns
	while [ $# -gt 0 ]; do
		case $1 in
		--clients) clients=${2:?--clients needs N}; shift 2 ;;
		--hash) hash=${2:?--hash needs vtag or ports}; shift 2 ;;
		--no-targets) activate_targets=no; shift ;;
		*) die "up: unknown option '$1'" ;;
		esac
	done
	case $clients in [1-8]) ;; *) die "--clients wants 1..8" ;; esac
	new_state ip nft iptables
	echo "$clients" >"$state/clients"

	local lb=$prefix-lb sw=$prefix-sw
	new_namespace "$sw"
	new_namespace "$lb"
	for s in "${servers[@]}"; do new_namespace "$prefix-s$s"; done
	for k in $(seq 1 "$clients"); do new_namespace "$(client_ns "$prefix" "$k")"; done

	# Switch: one bridge per client network. Nothing in this namespace filters.
	in_ns "$sw" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
	for net in 2 6; do
		in_ns "$sw" ip link add "br$net" type bridge
		in_ns "$sw" ip link set "br$net" up
		ip link add "l$net" netns "$lb" type veth peer name "lb$net" netns "$sw"
		in_ns "$sw" ip link set "lb$net" master "br$net" up
	done

	# LB: forwards; VIP packets are queued and routed by fwmark (sctplb rules, below).
	in_ns "$lb" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$lb" ip addr add 192.168.2.1/24 dev l2
	in_ns "$lb" ip addr add 192.168.6.1/24 dev l6
	in_ns "$lb" ip link set l2 up
	in_ns "$lb" ip link set l6 up

	for s in "${servers[@]}"; do
		ns=$prefix-s$s
		ip link add "ls$s" netns "$lb" type veth peer name s0 netns "$ns"
		in_ns "$lb" ip addr add "192.168.1$s.1/24" dev "ls$s"
		in_ns "$lb" ip link set "ls$s" up
		in_ns "$ns" ip addr add "192.168.1$s.2/24" dev s0
		# usrsctp ignores lo: the VIPs sit on the veth end.
		in_ns "$ns" ip addr add 10.0.0.1/32 dev s0
		in_ns "$ns" ip addr add 10.0.0.2/32 dev s0
		in_ns "$ns" ip link set s0 up
		in_ns "$ns" ip route add default via "192.168.1$s.1" dev s0
		static_neighbours "$ns" s0 "$lb" "ls$s" "192.168.1$s.1" "192.168.1$s.2"
		# usrsctp writes the IPv4 header itself and picks the source without routing: put the
		# VIP of each path, statelessly (the SCTP checksum does not cover the IP header).
		in_ns "$ns" nft -f - <<-EOF
			table ip lbtopo_source {
				chain postrouting {
					type filter hook postrouting priority 0; policy accept;
					ip protocol sctp ip daddr 192.168.2.0/24 ip saddr != 10.0.0.1 ip saddr set 10.0.0.1
					ip protocol sctp ip daddr 192.168.6.0/24 ip saddr != 10.0.0.2 ip saddr set 10.0.0.2
				}
			}
		EOF
	done

	local count_rules='' a6
	for k in $(seq 1 "$clients"); do
		ns=$(client_ns "$prefix" "$k")
		a2=192.168.2.$((220 + k))
		a6=192.168.6.$((220 + k))
		count_rules+="ip saddr $a2 ip protocol sctp counter"$'\n'"ip saddr $a6 ip protocol sctp counter"$'\n'
		for net in 2 6; do
			ip link add "c$net" netns "$ns" type veth peer name "c${k}n$net" netns "$sw"
			in_ns "$sw" ip link set "c${k}n$net" master "br$net" up
		done
		in_ns "$ns" ip addr add "$a2/24" dev c2
		in_ns "$ns" ip addr add "$a6/24" dev c6
		in_ns "$ns" ip link set c2 up
		in_ns "$ns" ip link set c6 up
		in_ns "$ns" ip route add 10.0.0.1/32 via 192.168.2.1 src "$a2"
		in_ns "$ns" ip route add 10.0.0.2/32 via 192.168.6.1 src "$a6"
		static_neighbours "$ns" c2 "$lb" l2 "192.168.2.1" "$a2"
		static_neighbours "$ns" c6 "$lb" l6 "192.168.6.1" "$a6"
		in_ns "$ns" nft -f - <<-EOF
			table ip lbtopo_source {
				chain postrouting {
					type filter hook postrouting priority 0; policy accept;
					oifname "c2" ip protocol sctp ip saddr != $a2 ip saddr set $a2
					oifname "c6" ip protocol sctp ip saddr != $a6 ip saddr set $a6
				}
			}
		EOF
	done

	# Per server, SCTP packets received from each client address: shows that every packet of an
	# association, on both paths, reaches one server.
	for s in "${servers[@]}"; do
		in_ns "$prefix-s$s" nft -f - <<-EOF
			table ip lbtopo_count {
				chain prerouting {
					type filter hook prerouting priority -300; policy accept;
					$count_rules
				}
			}
		EOF
	done

	# LB_MARK_MASK: the fwmark bits sctplb owns (give sctplb lb the same --mark-mask).
	in_ns "$lb" "$SCTPLB_BIN" rules --shm "$prefix" --vip "$(IFS=,; echo "${vips[*]}")" --queue "$queue" \
		${LB_MARK_MASK:+--mark-mask "$LB_MARK_MASK"} \
		--target 1=192.168.11.2 --target 2=192.168.12.2 --target 3=192.168.13.2 --apply >"$state/rules.log"

	if [ "$activate_targets" = yes ]; then
		head -c 32 /dev/urandom >"$state/seed"
		chmod 600 "$state/seed"
		"$SCTPLB_BIN" init --shm "$prefix" --hash "$hash" --seed-file "$state/seed" --capacity 4096 \
			>"$state/init.log"
		echo "$SCTPLB_BIN" >"$state/shm"
		"$SCTPLB_BIN" activate --shm "$prefix" 1 2 3 >>"$state/init.log"
	fi
}

cmd_servers() {
	local s ns pid
	[ -x "$SCTPT" ] || die "no sctpt at $SCTPT (set SCTPT or SCTPLB_BUILD_DIR)"
	for s in "${servers[@]}"; do
		ns=$prefix-s$s
		ip netns exec "$ns" "$SCTPT" server --stack usrsctp --verbose --addr 10.0.0.1,10.0.0.2 \
			--port "$LB_PORT" --name "server-$s" >"$state/server-$s.log" 2>&1 &
		pid=$!
		record "server-$s" "$pid"
	done
	for s in "${servers[@]}"; do
		wait_for_line "$state/server-$s.log" "listening" || die "server-$s did not start: $(cat "$state/server-$s.log")"
	done
}

cmd_lb_start() {
	start_lb lb "$prefix-lb" "$prefix" "$state/lb.log" "" "$@"
	echo "$started_pid"
}

cmd_lb_stop() { stop_recorded "${1:-TERM}" 3 lb "sctplb lb"; }

cmd_counters() {
	local s
	for s in "${servers[@]}"; do
		in_ns "$prefix-s$s" nft list chain ip lbtopo_count prerouting |
			sed -n "s/.*ip saddr \([0-9.]*\) .*counter packets \([0-9]*\) .*/server-$s \1 \2/p"
	done
}

cmd_env() {
	local clients k
	clients=$(cat "$state/clients" 2>/dev/null || echo 1)
	cat <<EOF
LB_PREFIX=$prefix
LB_STATE=$state
LB_NS=$prefix-lb
LB_SHM=$prefix
LB_QUEUE=$queue
LB_VIPS=$(IFS=,; echo "${vips[*]}")
LB_PORT=$LB_PORT
LB_CLIENTS=$clients
LB_SERVERS="${servers[*]}"
EOF
	for k in $(seq 1 "$clients"); do
		echo "LB_CLIENT${k}_NS=$(client_ns "$prefix" "$k")"
		echo "LB_CLIENT${k}_ADDRS=192.168.2.$((220 + k)),192.168.6.$((220 + k))"
	done
	for k in "${servers[@]}"; do
		echo "LB_SERVER${k}_NS=$prefix-s$k"
	done
}

cmd_down() {
	stop_recorded
	delete_namespaces
	if [ -f "$state/shm" ]; then
		# The binary that made the segment (the caller's environment may differ).
		local bin
		bin=$(cat "$state/shm")
		[ -x "$bin" ] || bin=$SCTPLB_BIN
		"$bin" delete --shm "$prefix" --force >/dev/null 2>&1 || rm -f "/dev/shm/$prefix"
	fi
	rm -rf "$state"
}

run_command "up down env servers lb-start lb-stop counters pids" "$@"
