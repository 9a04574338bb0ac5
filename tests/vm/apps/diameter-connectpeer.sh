# shellcheck shell=bash
# shellcheck disable=SC2154 # state, servers, all_guests, failures: set by test-vm-server-init.sh
# diameter-connectpeer.sh: the Diameter phase of vm.server-init (tests/vm/test-vm-server-init.sh,
# docs/vm.md): two Diameter nodes that each have a ConnectPeer to the other, started together,
# so that two connections race: one from the server behind the VIPs out to the peer, one from
# the peer in to the VIPs. RFC 6733 section 5.6.4: a node that receives a CER while its own CER
# is unanswered compares Origin-Hosts; the higher one wins, keeps the connection the other node
# opened and closes its own (the loser answers the incoming CER with DIAMETER_ELECTION_LOST and
# waits for the CEA on its own). Exactly one association per pair of nodes is left.
# Sourced after app-diameter.sh (diameter_common, diameter_files_tls, diameter_echo_conf,
# file_lines). The nodes:
#   server  vm-001 only: diameter.sctplb.test (the pool identity of app-diameter), ListenOn both
#           VIPs, port 3868; ConnectPeer peer.sctplb.test at 192.168.2.221 and 192.168.6.221,
#           port 3869; the echo server (sctplb_echo.fdx "server vm-001")
#   peer    vm-221: peer.sctplb.test, ListenOn its two addresses, port 3869; ConnectPeer
#           diameter.sctplb.test at 10.0.0.1 and 10.0.0.2, port 3868; the echo client
#           (a request every 500 ms to diameter.sctplb.test)
# The peer's port differs from the server's so that an association shows who opened it: at the
# server, local port 3868 = the peer's connection (the LBs list it DIR in), remote port 3869 =
# the server's (DIR out).
# "peer" sorts after "diameter": when both CERs cross, the peer wins and the server's connection
# survives (DIR out). When one connection reached OPEN before the other node connected, that
# node does not connect at all and either direction can be the one left: the checks accept both
# and require the LBs' direction to match the guests'.
# One Diameter node serves the identity: vm-002 is deactivated on both LBs for the phase, so the
# peer's connection to the VIPs reaches vm-001 (docs/operations.md "Diameter peers that connect
# both ways").
dcp_server_port=3868
dcp_peer_port=3869

# dcp_server_setup S (dt_server_cfg hook): vm_setup lines of server S (freeDiameter on vm-001).
dcp_server_setup() {
	[ "$1" = 1 ] || return 0
	diameter_files_tls
	{
		diameter_common diameter
		echo 'ListenOn = "10.0.0.1";'
		echo 'ListenOn = "10.0.0.2";'
		echo "ConnectPeer = \"peer.sctplb.test\" { ConnectTo = \"192.168.2.221\"; ConnectTo = \"192.168.6.221\"; No_TLS; Port = $dcp_peer_port; };"
		diameter_echo_conf "server vm-001"
	} | file_lines /etc/freeDiameter/server.conf
}
# dcp_peer_setup (dt_client_cfg hook): vm_setup lines of the peer vm-221.
dcp_peer_setup() {
	diameter_files_tls
	{
		diameter_common peer | sed "s/^Port = 3868;/Port = $dcp_peer_port;/"
		echo 'ListenOn = "192.168.2.221";'
		echo 'ListenOn = "192.168.6.221";'
		echo "ConnectPeer = \"diameter.sctplb.test\" { ConnectTo = \"10.0.0.1\"; ConnectTo = \"10.0.0.2\"; No_TLS; Port = $dcp_server_port; };"
		diameter_echo_conf "client peer diameter.sctplb.test sctplb.test 500"
	} | file_lines /etc/freeDiameter/peer.conf
}

# dcp_assocs GUEST: "LPORT RPORT LADDRS|RADDRS" of GUEST's established (state 3) Diameter
# associations between the two nodes (one of the two ports at either end: the phase runs after
# the sctpt associations on port 3868 closed).
dcp_assocs() {
	g "$1" "apps assocs $dcp_server_port; apps assocs $dcp_peer_port" |
		awk '$3 == 3 { print $1, $2, $4 }' | sort -u
}
# dcp_direction: "in" when vm-001's one association is the peer's connection (local port 3868),
# "out" when it is its own (remote port 3869).
dcp_direction() { dcp_assocs vm-001 | awk -v s="$dcp_server_port" '{ print ($1 == s ? "in" : "out") }'; }
# dcp_lb_view K: "DIRECTION FWMARK PEER-ADDRESSES" of LB K's established Diameter associations.
dcp_lb_view() {
	lb_cmd "$1" assoc --json | jq -r --argjson s "$dcp_server_port" --argjson p "$dcp_peer_port" '.associations[]
		| select(.state == "established" and ((.direction == "in" and .dport == $s) or (.direction == "out" and .sport == $p)))
		| "\(.direction) \(.fwmark) \(.addresses | sort | join(","))"'
}
# dcp_counts: "NAME OPENED LEFT CEA DWA DWA-BAD ID-REFUSED CEA-BAD" of both nodes (apps fd_count).
dcp_counts() { g vm-001 "apps fd_count server"; g vm-221 "apps fd_count peer"; }
# dcp_settled: each node OPEN once and never left; one association between them on vm-001 and
# on vm-221, none on vm-002.
dcp_settled() {
	dcp_counts >"$state/dcp-counts" || return 1
	awk '$2 != 1 || $3 != 0 { bad = 1 } END { exit bad }' "$state/dcp-counts" || return 1
	[ "$(dcp_assocs vm-001 | wc -l)" = 1 ] && [ "$(dcp_assocs vm-221 | wc -l)" = 1 ] && [ -z "$(dcp_assocs vm-002)" ]
}
# dcp_echo: the peer's echo counters "sent S answered A bad B expired E pending P oldest_ms O ...".
dcp_echo() { g vm-221 "cat /tmp/echo-peer.stat"; }
# dcp_echo_grew BEFORE: the peer got more answers than BEFORE (an answered count), none bad or
# expired.
dcp_echo_grew() {
	dcp_echo | awk -v b="$1" '{ exit !($5 > b && $7 == 0 && $9 == 0) }'
}
dcp_answered() { dcp_echo | awk '{ print $5 }'; }
# dcp_reasons: the counts of the reasons the phase watches, summed over both LBs, one line.
dcp_reason_names=(server-init init-hash init-ack-to-server init-ack-unknown server-init-spoofed server-init-conflict server-not-init unknown-association cookie-echo-unknown)
dcp_reasons() {
	local r k n
	for r in "${dcp_reason_names[@]}"; do
		n=0
		for k in 201 202; do n=$((n + $(reason $k "$r"))); done
		printf '%s=%s ' "$r" "$n"
	done
}
# dcp_delta BEFORE AFTER NAME: how much reason NAME grew between two dcp_reasons lines.
dcp_delta() {
	local b a
	b=$(tr ' ' '\n' <<<"$1" | awk -F= -v n="$3" '$1 == n { print $2 }')
	a=$(tr ' ' '\n' <<<"$2" | awk -F= -v n="$3" '$1 == n { print $2 }')
	echo $((a - b))
}
# The addresses paths_active (vm-dual-topology.sh) judges in this phase: the VIPs (at vm-221)
# and the peer's two (at vm-001). freeDiameter 1.2.1 binds its connecting socket to no address,
# so a connection from the server also lists vm-001's own addresses (192.168.1.1, 192.168.4.1),
# which the peer has no route to: those paths stay unconfirmed, harmlessly (RFC 9260 §5.4: an
# unconfirmed address gets no DATA).
dcp_path_addresses='^(10[.]0[.]0[.][12]|192[.]168[.][26][.]221)$'
# dcp_logs: both nodes' freeDiameter logs into the run directory (dcp-server.log, dcp-peer.log).
dcp_logs() {
	g vm-001 "cat /var/log/server.log" >"$state/dcp-server.log" 2>&1 || true
	g vm-221 "cat /var/log/peer.log" >"$state/dcp-peer.log" 2>&1 || true
}
# dcp_hold_inits -A|-D: both LBs drop (-A) or stop dropping (-D) the nodes' SCTP INITs to each
# other's Diameter port (FORWARD, after the LB recorded them).
dcp_hold_inits() {
	local k port
	for k in 201 202; do
		for port in "$dcp_server_port" "$dcp_peer_port"; do
			in_ns "$(lb_ns_of $k)" iptables -w "$1" FORWARD -p sctp -m sctp --dport "$port" --chunk-types any INIT -j DROP
		done
	done
}
# dcp_listening: both freeDiameterd initialized (listening).
dcp_listening() {
	g vm-001 "grep -q 'daemon initialized' /var/log/server.log" && g vm-221 "grep -q 'daemon initialized' /var/log/peer.log"
}
