#!/bin/bash
# make-captures.sh: record real multihomed SCTP associations (usrsctp over raw IP, or over UDP per
# RFC 6951) in network namespaces, as pcap fixtures for the load balancer's decision code.
#
# Topology (namespaces are created per capture and removed afterwards):
#
#   client ns                      router ns (where the LB sits; tcpdump runs here)   server ns
#   c2 192.168.2.221/24 ---- r2 192.168.2.1/24                                            s0 192.168.100.2/24
#      192.168.2.222 (ASCONF)    fd00:2::1/64                                                fd00:100::2/64
#      fd00:2::221/64                               rs 192.168.100.1/24 ---------------- VIPs 10.0.0.1 10.0.0.2
#   c6 192.168.6.221/24 ---- r6 192.168.6.1/24        fd00:100::1/64                         fd00::1:1 fd00::1:2
#      fd00:6::221/64            fd00:6::1/64
#
# Path A: client 192.168.2.221 <-> VIP 10.0.0.1 (fd00:2::221 <-> fd00::1:1) through r2.
# Path B: client 192.168.6.221 <-> VIP 10.0.0.2 (fd00:6::221 <-> fd00::1:2) through r6.
#
# Run as root. Nothing outside the namespaces this script creates is changed.
set -eu

script_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$script_dir/../.." && pwd)
SCTPT=${SCTPT:-}
OUT_DIR=${OUT_DIR:-$script_dir}
prefix=mkcap$$
ns_client=${prefix}c
ns_router=${prefix}r
ns_server=${prefix}s
work_dir=
started_pids=()
namespaces=()

port=36412
# SCTP, SCTP over UDP, and ICMP errors (not the echo requests that check the topology).
capture_filter='sctp or udp port 9899 or (icmp and icmp[icmptype] != icmp-echo and
	icmp[icmptype] != icmp-echoreply) or (icmp6 and ip6[40] < 128)'

usage() {
	cat <<EOF
usage: $0 COMMAND...
commands (each records one capture into \$OUT_DIR, default $script_dir):
  all              every capture below
  multihomed-v4    IPv4 association on two paths; path A dropped in the router for a while
  multihomed-v6    IPv6 association on two paths; the client switches its primary to path B
  fixed-ports-v4   three sequential associations, client and server port 36412
  restart-v4       client killed (SIGKILL) and restarted with the same addresses and port
  asconf-v4        client adds a local address (ASCONF Add-IP), later removes one (Delete-IP)
  udp-encap-v4     SCTP over UDP (RFC 6951), port 9899
  cookie-echo-path-b-v4  server answers INIT from the other VIP; COOKIE ECHO goes on path B
  init-retransmit-v4     INIT dropped on path A, retransmitted (same Tc) on path B
  summary PCAP...  print link type, associations (Tc, Ts) and packets of captures (tshark)
  help             this text
environment:
  SCTPT    the sctpt binary, with its usrsctp stack (default: the newest
           build*/test-apps/sctpt/sctpt under $source_dir)
  OUT_DIR  where captures go; logs stay in a temporary directory printed at the end
needs: root, iproute2, nftables, tcpdump, ethtool (udp-encap-v4); tshark (package tshark) for
the NAME.txt listings written next to each capture and for the summary command
EOF
}

log() { echo "make-captures: $*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
	local pid ns
	for pid in "${started_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${started_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	started_pids=()
	for ns in "${namespaces[@]}"; do
		# Safety net: anything still running in a namespace this script made was started by it.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			log "stopping leftover process $pid in $ns"
			kill "$pid" 2>/dev/null || true
		done
		ip netns delete "$ns" 2>/dev/null || true
	done
	namespaces=()
}
trap 'cleanup; [ -z "$work_dir" ] || log "logs in $work_dir"' EXIT
trap 'exit 130' INT TERM

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# start_in_ns LOG NS COMMAND...: starts COMMAND in namespace NS in the background and remembers its
# PID for the trap. A simple command with `&` is forked once and `ip netns exec` execs COMMAND, so
# $! is COMMAND's own PID (a shell function here would leave a subshell in between).
start_in_ns() {
	local out=$1 ns=$2
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 &
	last_pid=$!
	started_pids+=("$last_pid")
}

stop_pid() {
	local pid=$1 signal=${2:-TERM}
	kill -"$signal" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

# Once reaped, a PID may be reused: drop it so the trap never signals a stranger.
forget_pid() {
	local pid=$1
	local kept=()
	local p
	for p in "${started_pids[@]}"; do
		[ "$p" = "$pid" ] || kept+=("$p")
	done
	started_pids=("${kept[@]}")
}

wait_for_line() {
	local file=$1 pattern=$2 tries=100
	while ! grep -q "$pattern" "$file" 2>/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || die "timed out waiting for '$pattern' in $file"
		sleep 0.1
	done
}

new_namespace() {
	local ns=$1
	ip netns add "$ns"
	namespaces+=("$ns")
	in_ns "$ns" ip link set lo up
	# Before any interface exists, so every interface inherits these defaults.
	in_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# topology [no]: "no" leaves the server's IPv4 source address as usrsctp picks it.
topology() {
	local fix_server_source=${1:-yes}
	new_namespace "$ns_client"
	new_namespace "$ns_router"
	new_namespace "$ns_server"
	in_ns "$ns_router" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

	ip link add c2 netns "$ns_client" type veth peer name r2 netns "$ns_router"
	ip link add c6 netns "$ns_client" type veth peer name r6 netns "$ns_router"
	ip link add s0 netns "$ns_server" type veth peer name rs netns "$ns_router"

	# Client: one interface per path; 192.168.2.222 is spare, for the ASCONF capture.
	in_ns "$ns_client" ip addr add 192.168.2.221/24 dev c2
	in_ns "$ns_client" ip addr add 192.168.2.222/24 dev c2
	in_ns "$ns_client" ip addr add fd00:2::221/64 dev c2 nodad
	in_ns "$ns_client" ip addr add 192.168.6.221/24 dev c6
	in_ns "$ns_client" ip addr add fd00:6::221/64 dev c6 nodad
	in_ns "$ns_client" ip link set c2 up
	in_ns "$ns_client" ip link set c6 up
	# Where the kernel picks the source address (IPv6, and UDP for RFC 6951), the src hints keep
	# each path on its own addresses.
	in_ns "$ns_client" ip route add 10.0.0.1/32 via 192.168.2.1 src 192.168.2.221
	in_ns "$ns_client" ip route add 10.0.0.2/32 via 192.168.6.1 src 192.168.6.221
	in_ns "$ns_client" ip -6 route add fd00::1:1/128 via fd00:2::1 src fd00:2::221
	in_ns "$ns_client" ip -6 route add fd00::1:2/128 via fd00:6::1 src fd00:6::221

	# Router: forwards both paths to the server.
	in_ns "$ns_router" ip addr add 192.168.2.1/24 dev r2
	in_ns "$ns_router" ip addr add fd00:2::1/64 dev r2 nodad
	in_ns "$ns_router" ip addr add 192.168.6.1/24 dev r6
	in_ns "$ns_router" ip addr add fd00:6::1/64 dev r6 nodad
	in_ns "$ns_router" ip addr add 192.168.100.1/24 dev rs
	in_ns "$ns_router" ip addr add fd00:100::1/64 dev rs nodad
	for dev in r2 r6 rs; do in_ns "$ns_router" ip link set "$dev" up; done
	in_ns "$ns_router" ip route add 10.0.0.0/24 via 192.168.100.2
	in_ns "$ns_router" ip -6 route add fd00::1:0/112 via fd00:100::2

	# Server: the VIPs sit on the veth end (usrsctp ignores addresses on lo).
	in_ns "$ns_server" ip addr add 192.168.100.2/24 dev s0
	in_ns "$ns_server" ip addr add fd00:100::2/64 dev s0 nodad
	in_ns "$ns_server" ip addr add 10.0.0.1/32 dev s0
	in_ns "$ns_server" ip addr add 10.0.0.2/32 dev s0
	in_ns "$ns_server" ip addr add fd00::1:1/128 dev s0 nodad
	in_ns "$ns_server" ip addr add fd00::1:2/128 dev s0 nodad
	in_ns "$ns_server" ip link set s0 up
	in_ns "$ns_server" ip route add 192.168.2.0/24 via 192.168.100.1 src 10.0.0.1
	in_ns "$ns_server" ip route add 192.168.6.0/24 via 192.168.100.1 src 10.0.0.2
	in_ns "$ns_server" ip -6 route add fd00:2::/64 via fd00:100::1 src fd00::1:1
	in_ns "$ns_server" ip -6 route add fd00:6::/64 via fd00:100::1 src fd00::1:2

	# usrsctp writes IPv4 headers itself and picks the source address without routing (it used
	# the last bound address on every path). Fix the source per path, statelessly (the SCTP
	# checksum does not cover the IP header), as the kernel would with routes with src hints.
	[ "$fix_server_source" = no ] || in_ns "$ns_server" nft -f - <<-EOF
		table ip usrsctp_source {
			chain postrouting {
				type filter hook postrouting priority 0; policy accept;
				ip protocol sctp ip daddr 192.168.2.0/24 ip saddr != 10.0.0.1 counter ip saddr set 10.0.0.1
				ip protocol sctp ip daddr 192.168.6.0/24 ip saddr != 10.0.0.2 counter ip saddr set 10.0.0.2
			}
		}
	EOF
	in_ns "$ns_client" nft -f - <<-EOF
		table ip usrsctp_source {
			chain postrouting {
				type filter hook postrouting priority 0; policy accept;
				oifname "c2" ip protocol sctp ip saddr != 192.168.2.0/24 counter ip saddr set 192.168.2.221
				oifname "c6" ip protocol sctp ip saddr != 192.168.6.0/24 counter ip saddr set 192.168.6.221
			}
		}
	EOF

	# Static neighbours: no packet of a capture waits for ARP or neighbour discovery (an INIT
	# held back 1 s by a lost neighbour solicitation looks like a lost INIT).
	static_neighbours "$ns_client" c2 "$ns_router" r2 "192.168.2.1 fd00:2::1" \
		"192.168.2.221 192.168.2.222 fd00:2::221"
	static_neighbours "$ns_client" c6 "$ns_router" r6 "192.168.6.1 fd00:6::1" \
		"192.168.6.221 fd00:6::221"
	static_neighbours "$ns_server" s0 "$ns_router" rs "192.168.100.1 fd00:100::1" \
		"192.168.100.2 fd00:100::2"
}

# static_neighbours NS1 DEV1 NS2 DEV2 "ADDRESSES OF NS2" "ADDRESSES OF NS1": for a veth pair.
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

# rule_handle IFACE: the handle of the client's source rewrite rule for IFACE.
rule_handle() {
	in_ns "$ns_client" nft -a list chain ip usrsctp_source postrouting |
		sed -n "s/.*oifname \"$1\".* # handle \([0-9]*\)$/\1/p"
}

# Path A cut in the router (both directions), as a broken link would. tcpdump sees the packets
# as they enter the router, before the forward hook drops them.
drop_path_a() {
	in_ns "$ns_router" nft -f - <<-EOF
		table inet cut_path_a {
			chain forward {
				type filter hook forward priority 0; policy accept;
				iifname "r2" counter drop
				oifname "r2" counter drop
			}
		}
	EOF
}
restore_path_a() {
	log "path A drops (client to server, server to client):"
	in_ns "$ns_router" nft list table inet cut_path_a | grep counter >&2
	in_ns "$ns_router" nft delete table inet cut_path_a
}

# capture_start NAME IFACE [tcpdump options]: -i any records only packets entering the router
# (-Q in), so each forwarded packet appears once, as it arrives from the client or the server.
# Immediate mode with full-size snapshots leaves room for only a few packets in the default
# 2 MB ring: -B 65536 (KiB) keeps a burst (handshake, first DATA, heartbeats) from being dropped.
capture_start() {
	local name=$1 iface=$2
	shift 2
	capture_file=$work_dir/$name.pcap
	local direction=()
	[ "$iface" = any ] && direction=(-Q in)
	start_in_ns "$work_dir/$name.tcpdump.log" "$ns_router" \
		tcpdump -U --immediate-mode -B 65536 -n -s 0 -i "$iface" "${direction[@]}" "$@" -w "$capture_file" "$capture_filter"
	capture_pid=$last_pid
	wait_for_line "$work_dir/$name.tcpdump.log" "listening on"
}

capture_stop() {
	local name=$1
	sleep 1
	stop_pid "$capture_pid" TERM
	cat "$work_dir/$name.tcpdump.log" >&2
	grep -q "^0 packets dropped by kernel" "$work_dir/$name.tcpdump.log" ||
		die "tcpdump lost packets: $name is incomplete"
	cp "$capture_file" "$OUT_DIR/$name.pcap"
	log "wrote $OUT_DIR/$name.pcap"
	if command -v tshark >/dev/null; then
		summary "$OUT_DIR/$name.pcap" >"$OUT_DIR/$name.txt"
		log "wrote $OUT_DIR/$name.txt"
	fi
}

server_start() {
	local addresses=$1
	shift
	start_in_ns "$work_dir/server.log" "$ns_server" \
		"$SCTPT" server --stack usrsctp --verbose --addr "$addresses" --port "$port" --name server "$@"
	server_pid=$last_pid
	wait_for_line "$work_dir/server.log" "listening on"
}

# The client as every capture runs it: usrsctp, a line per message sent and echo received, up to
# 30 s to come up (then the usual options: --port and the rest).
client_command=(client --stack usrsctp --verbose --connect-timeout 30000)

# client LOG [sctpt client options]: runs one client to completion in the client namespace.
client() {
	local log_file=$1
	shift
	if ! timeout 60 ip netns exec "$ns_client" "$SCTPT" "${client_command[@]}" --port "$port" "$@" \
		>"$log_file" 2>&1; then
		cat "$log_file" >&2
		die "client failed (log $log_file)"
	fi
	cat "$log_file" >&2
}

finish() {
	log "source address rewrites (client, server):"
	in_ns "$ns_client" nft list table ip usrsctp_source | grep counter >&2 || true
	in_ns "$ns_server" nft list table ip usrsctp_source 2>/dev/null | grep counter >&2 || true
	stop_pid "$server_pid" TERM
	cat "$work_dir/server.log" >&2
	capture_stop "$1"
	cleanup
}

record_multihomed_v4() {
	topology
	capture_start multihomed-v4 any
	server_start 10.0.0.1,10.0.0.2
	# 18 messages, 0.5 s apart; path A (the primary) is cut from ~1.6 s to ~5.6 s, so DATA is
	# retransmitted on path B, path A is declared unreachable and later comes back.
	start_in_ns "$work_dir/client.log" "$ns_client" "$SCTPT" "${client_command[@]}" --port "$port" \
		--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --count 18 \
		--interval 500 --echo-wait 8000
	local client_pid=$last_pid
	sleep 1.6
	drop_path_a
	log "path A cut"
	sleep 4
	restore_path_a
	log "path A restored"
	local status=0
	wait "$client_pid" || status=$?
	forget_pid "$client_pid"
	[ "$status" = 0 ] || { cat "$work_dir/client.log" >&2; die "client failed"; }
	cat "$work_dir/client.log" >&2
	finish multihomed-v4
}

record_multihomed_v6() {
	topology
	capture_start multihomed-v6 rs
	server_start fd00::1:1,fd00::1:2
	client "$work_dir/client.log" --addr fd00::1:1,fd00::1:2 --laddr fd00:2::221,fd00:6::221 \
		--count 8 --interval 500 --primary fd00::1:2 --primary-after 4
	finish multihomed-v6
}

record_fixed_ports_v4() {
	topology
	capture_start fixed-ports-v4 rs
	server_start 10.0.0.1,10.0.0.2
	local round
	for round in 1 2 3; do
		client "$work_dir/client$round.log" --addr 10.0.0.1,10.0.0.2 \
			--laddr 192.168.2.221,192.168.6.221 --lport "$port" --count 3 --interval 400 \
			--primary 10.0.0.2 --primary-after 2
	done
	finish fixed-ports-v4
}

record_restart_v4() {
	topology
	capture_start restart-v4 any -y LINUX_SLL
	server_start 10.0.0.1,10.0.0.2
	# The first client dies without a word (SIGKILL: usrsctp is in user space, nothing is sent).
	start_in_ns "$work_dir/client-killed.log" "$ns_client" "$SCTPT" "${client_command[@]}" --port "$port" \
		--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --lport "$port" \
		--count 100 --interval 400
	local killed_pid=$last_pid
	wait_for_line "$work_dir/client-killed.log" "echo via .*message 3"
	stop_pid "$killed_pid" KILL
	cat "$work_dir/client-killed.log" >&2
	log "first client killed"
	sleep 0.5
	# Same addresses and port: an INIT for an association the server still has (RFC 9260 §5.2.2).
	client "$work_dir/client-restarted.log" --addr 10.0.0.1,10.0.0.2 \
		--laddr 192.168.2.221,192.168.6.221 --lport "$port" --count 4 --interval 400
	grep -q "RESTART" "$work_dir/server.log" || log "warning: the server reported no RESTART"
	finish restart-v4
}

record_asconf_v4() {
	topology
	capture_start asconf-v4 any
	server_start 10.0.0.1,10.0.0.2
	# After 3 messages the client adds 192.168.2.222 (ASCONF Add-IP); after 5 it makes path B
	# primary; after 6 it removes 192.168.2.221 (ASCONF Delete-IP, sent on path B so that the
	# ASCONF-ACK does not go to the removed address). From then on path A runs from 192.168.2.222,
	# an address the LB knows only from the ASCONF.
	start_in_ns "$work_dir/client.log" "$ns_client" "$SCTPT" "${client_command[@]}" --port "$port" \
		--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --count 10 \
		--interval 500 --add-laddr 192.168.2.222 --add-laddr-after 3 \
		--primary 10.0.0.2 --primary-after 5 --del-laddr 192.168.2.221 --del-laddr-after 6
	local client_pid=$last_pid
	# usrsctp sources path A from a wrong address that the rule rewrites (to 192.168.2.221). Once
	# the server has taken 192.168.2.222 into the association, rewrite to that address instead, as
	# a kernel could choose it; this also keeps the rewrite from reviving the removed address.
	wait_for_line "$work_dir/server.log" "192.168.2.222 CONFIRMED"
	in_ns "$ns_client" nft replace rule ip usrsctp_source postrouting handle "$(rule_handle c2)" \
		oifname c2 ip protocol sctp ip saddr != 192.168.2.222 counter ip saddr set 192.168.2.222
	log "path A source is now 192.168.2.222"
	local status=0
	wait "$client_pid" || status=$?
	forget_pid "$client_pid"
	cat "$work_dir/client.log" >&2
	[ "$status" = 0 ] || die "client failed"
	finish asconf-v4
}

record_udp_encap_v4() {
	topology
	capture_start udp-encap-v4 rs
	# veth leaves UDP checksums to "hardware" that never computes them: compute them in software,
	# so the capture carries valid UDP checksums as a real wire would.
	command -v ethtool >/dev/null || die "udp-encap-v4 needs ethtool (package ethtool)"
	in_ns "$ns_client" ethtool -K c2 tx off >/dev/null
	in_ns "$ns_client" ethtool -K c6 tx off >/dev/null
	in_ns "$ns_server" ethtool -K s0 tx off >/dev/null
	server_start 10.0.0.1,10.0.0.2 --udp-encap 9899
	client "$work_dir/client.log" --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 \
		--count 6 --interval 500 --primary 10.0.0.2 --primary-after 3 --udp-encap 9899
	finish udp-encap-v4
}

record_cookie_echo_path_b_v4() {
	# usrsctp's own IPv4 source choice on the server: it answers the INIT sent to 10.0.0.1 from
	# 10.0.0.2, so the client sends COOKIE ECHO to 10.0.0.2, on path B (RFC 9260 §5.1: to the
	# source of the INIT ACK). A kernel server answers from the INIT's destination.
	topology no
	capture_start cookie-echo-path-b-v4 rs
	server_start 10.0.0.1,10.0.0.2
	client "$work_dir/client.log" --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 \
		--count 3 --interval 500
	finish cookie-echo-path-b-v4
}

record_init_retransmit_v4() {
	topology
	capture_start init-retransmit-v4 any
	# The router drops every INIT arriving on path A (first chunk type 1 right after the 12-byte
	# common header): the client retransmits the INIT, same Tc, to 10.0.0.2 on path B.
	in_ns "$ns_router" nft -f - <<-EOF
		table inet drop_init_a {
			chain forward {
				type filter hook forward priority 0; policy accept;
				iifname "r2" meta l4proto sctp @th,96,8 1 counter drop
			}
		}
	EOF
	server_start 10.0.0.1,10.0.0.2
	client "$work_dir/client.log" --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 \
		--count 3 --interval 500
	log "INITs dropped on path A:"
	in_ns "$ns_router" nft list table inet drop_init_a | grep counter >&2
	finish init-retransmit-v4
}

# summary PCAP...: link type, packet count, associations (one per INIT: Tc from the INIT, Ts from
# the INIT ACK that follows it) and one line per packet, with
# the path (A: client 192.168.2.22x / fd00:2::221, B: client 192.168.6.221 / fd00:6::221).
summary() {
	local pcap
	for pcap in "$@"; do
		local link_type packets
		link_type=$(capinfos -T -r -E "$pcap" | cut -f2)
		packets=$(capinfos -T -r -c "$pcap" | cut -f2)
		echo "== $(basename "$pcap"): link type $link_type, $packets packets, $(stat -c %s "$pcap") bytes"
		tshark -n -r "$pcap" -o sctp.relative_tsns:FALSE --disable-protocol s1ap -T fields \
			-E separator='|' -e frame.number -e frame.time_relative -e ip.src -e ipv6.src \
			-e ip.dst -e ipv6.dst -e udp.srcport -e sctp.srcport -e sctp.dstport \
			-e sctp.verification_tag -e sctp.init_initiate_tag -e sctp.initack_initiate_tag \
			-e _ws.col.Info 2>/dev/null |
			awk -F'|' '
			function path(a, b) {
				if (a ~ /^192\.168\.2\.|^fd00:2::/ || b ~ /^192\.168\.2\.|^fd00:2::/) return "A"
				if (a ~ /^192\.168\.6\.|^fd00:6::/ || b ~ /^192\.168\.6\.|^fd00:6::/) return "B"
				return "?"
			}
			{
				src = $3 $4; dst = $5 $6; p = path(src, dst)
				line[NR] = sprintf("%4d %7.3f %s %s:%s > %s:%s%s vtag %s  %s", $1, $2, p, src, $8,
					dst, $9, ($7 != "" ? " (udp " $7 ")" : ""), $10, $13)
				if ($11 != "" && ($11 in seen)) retransmitted = retransmitted " " $1
				else if ($11 != "") { n++; seen[$11] = 1; tc[n] = $11; init_frame[n] = $1 }
				if ($12 != "") { ts[n] = $12; initack_frame[n] = $1 }
				if (p == "B") pathb = pathb (pathb == "" ? "" : ",") $1
			}
			END {
				for (i = 1; i <= n; i++)
					printf "association %d: Tc %s (INIT frame %s), Ts %s (INIT ACK frame %s)\n",
						i, tc[i], init_frame[i], ts[i], initack_frame[i]
				if (retransmitted != "") print "INIT retransmissions (same Tc), frames:" retransmitted
				print "path B frames: " pathb
				for (i = 1; i <= NR; i++) print line[i]
			}'
	done
}

find_sctpt() {
	if [ -z "$SCTPT" ]; then
		SCTPT=$(ls -t "$source_dir"/build*/test-apps/sctpt/sctpt 2>/dev/null | head -n 1 || true)
	fi
	[ -n "$SCTPT" ] && [ -x "$SCTPT" ] || die "sctpt not found: build it (target sctpt) or set SCTPT"
	"$SCTPT" help | grep -q "^stacks built in:.* usrsctp" ||
		die "$SCTPT has no usrsctp stack: build it with libusrsctp-dev installed"
	[ "$(id -u)" = 0 ] || die "run as root"
	mkdir -p "$OUT_DIR"
	work_dir=$(mktemp -d "/tmp/$prefix.XXXXXX")
}

[ $# -gt 0 ] || { usage >&2; exit 2; }
if [ "$1" = summary ]; then
	shift
	summary "$@"
	exit 0
fi
for command in "$@"; do
	case $command in
	help | -h | --help) usage; exit 0 ;;
	all | multihomed-v4 | multihomed-v6 | fixed-ports-v4 | restart-v4 | asconf-v4 | udp-encap-v4 | \
		cookie-echo-path-b-v4 | init-retransmit-v4) ;;
	*) usage >&2; exit 2 ;;
	esac
done
find_sctpt
for command in "$@"; do
	case $command in
	all)
		for each in multihomed_v4 multihomed_v6 fixed_ports_v4 restart_v4 asconf_v4 \
			udp_encap_v4 cookie_echo_path_b_v4 init_retransmit_v4; do
			"record_$each"
		done
		;;
	*) "record_${command//-/_}" ;;
	esac
done
