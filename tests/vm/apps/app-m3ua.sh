# shellcheck shell=bash
# app-m3ua.sh: M3UA with libosmo-sigtran 1.6 (Debian `osmo-stp`, `libosmo-sigtran-dev`) behind the
# LBs (test-vm-apps.sh, run_app; docs/applications.md).
# Servers (vm-001..003): one osmo-stp each in SG role, `listen m3ua 2905` on exactly the VIPs
# (local-ip 10.0.0.1 and 10.0.0.2), every client's ASP pre-configured (asp-N, matched by the
# connection's addresses and ports: every client uses port 2905, its address pair tells them
# apart) in its AS as-N with routing context N and a route to the client's point code: a
# dynamically accepted ASP (asp-dyn-N) is in no AS, so the SG refuses its DATA ("not part of the
# AS", xua_find_as_for_asp) and has no way back to it. The SG has an SCCP instance (named by an
# sccp-timer line) but no SCCP user besides its management (SSN 1).
# Clients (vm-221): one sctplb-m3ua-ping per client (test-apps/m3ua-ping: libosmo-sigtran's ASP
# and SCCP, our SCCP user on SSN 200), SCTP client, fixed port 2905 on both sides, bound to its
# own address pair 192.168.2.22N + 192.168.6.22N (local-ip twice) and connecting to both VIPs
# (remote-ip twice); its AS as-N has routing key N, point code 0.(20+N).1 (ITU 3-8-3). While its
# AS is active it sends a UDT every 500 ms to the SG's point code 0.10.1, SSN 201: the SG's SCCP
# finds no user for it and returns the data in a UDTS (Q.714 routing failure, "unequipped
# user"): M3UA DATA both ways, counted at both ends (m3ua_ping_check).
# 6 at the start (N = 1..6), 2 during the drain (N = 7, 8). Each instance's VTY on 127.0.0.N.
# ASP state from the logs: the xUA ASP FSM's state changes (lss7 debug).
# Without sctplb-m3ua-ping (libosmo-sigtran-dev not installed when built) the clients are osmo-stp
# in ASP role, as before: osmo-stp 1.6 answers BEAT but never sends one, and an ASP without SCCP
# users sends nothing after ASPAC, so the associations carry no DATA (m3ua_idle) and the path A
# cut is judged by SCTP (paths, no ABORT) and by M3UA (no ASP left ASP_ACTIVE), not by DATA.
m3ua_ping_bin=${SCTPLB_M3UA_PING:-$SCTPLB_BUILD_DIR/test-apps/m3ua-ping/sctplb-m3ua-ping}
[ -x "$m3ua_ping_bin" ] || m3ua_ping_bin=''
export SCTPLB_M3UA_PING=$m3ua_ping_bin # packed by pack-apps.sh
m3ua_port() { echo 2905; }
[ -n "$m3ua_ping_bin" ] || m3ua_idle() { echo "no sctplb-m3ua-ping, and osmo-stp 1.6 sends no BEAT and no traffic after ASPAC"; }
# m3ua_file PATH: shell lines (for a guest's vm_setup) writing stdin to PATH.
m3ua_file() { printf "mkdir -p %s\ncat >%s <<'M3UA_EOF'\n%s\nM3UA_EOF\n" "$(dirname "$1")" "$1" "$(cat)"; }
# m3ua_common VTY-ADDRESS: logging (the ASP FSM's state changes are debug) and the VTY.
m3ua_common() {
	cat <<-CONF
		log stderr
		 logging filter all 1
		 logging color 0
		 logging print category 1
		 logging timestamp 1
		 logging level set-all notice
		 logging level lss7 debug
		 logging level lm3ua info
		 logging level linp info
		line vty
		 no login
		 bind $1
	CONF
}
m3ua_setup_server() {
	local n
	{
		m3ua_common 127.0.0.1
		echo 'cs7 instance 0'
		# Not 0.(20+N).1: with 0.23.1 (so until the clients sent DATA) client 3's UDTs to the SG
		# had its own point code and were returned by its own SCCP, never leaving the client.
		echo ' point-code 0.10.1'
		# The SCCP instance (osmo-stp creates one only when its configuration names SCCP): it
		# answers the clients' UDTs to an SSN nobody serves with a UDTS. 60 s is the default.
		echo ' sccp-timer conn_est 60'
		for n in 1 2 3 4 5 6 7 8; do
			echo " asp asp-$n 2905 2905 m3ua"
			echo "  local-ip 10.0.0.1"
			echo "  local-ip 10.0.0.2"
			echo "  remote-ip 192.168.2.$((220 + n))"
			echo "  remote-ip 192.168.6.$((220 + n))"
			echo "  role sg"
			echo "  sctp-role server"
		done
		for n in 1 2 3 4 5 6 7 8; do
			echo " as as-$n m3ua"
			echo "  asp asp-$n"
			echo "  routing-key $n 0.$((20 + n)).1"
		done
		echo ' route-table system'
		for n in 1 2 3 4 5 6 7 8; do echo "  update route 0.$((20 + n)).1 7.255.7 linkset as-$n"; done
		echo ' listen m3ua 2905'
		echo '  accept-asp-connections pre-configured'
		echo '  local-ip 10.0.0.1'
		echo '  local-ip 10.0.0.2'
	} | m3ua_file /etc/osmocom/m3ua-server.cfg
	echo 'osmo-stp -c /etc/osmocom/m3ua-server.cfg </dev/null >/var/log/m3ua-server.log 2>&1 &'
}
m3ua_client_conf() { # m3ua_client_conf N
	m3ua_common "127.0.0.$((10 + $1))"
	cat <<-CONF
		cs7 instance 0
		 point-code 0.$((20 + $1)).1
		 asp asp-$1 2905 2905 m3ua
		  local-ip 192.168.2.$((220 + $1))
		  local-ip 192.168.6.$((220 + $1))
		  remote-ip 10.0.0.1
		  remote-ip 10.0.0.2
		  role asp
		  sctp-role client
		 as as-$1 m3ua
		  asp asp-$1
		  routing-key $1 0.$((20 + $1)).1
	CONF
}
m3ua_setup_client() {
	local n
	for n in 1 2 3 4 5 6 7 8; do m3ua_client_conf "$n" | m3ua_file "/etc/osmocom/m3ua-$n.cfg"; done
}
# The client guest's address pairs 222..228 (diameter_prepare removes them).
m3ua_prepare() {
	g vm-221 'for h in 222 223 224 225 226 227 228; do ip addr add 192.168.2.$h/24 dev eth2; ip addr add 192.168.6.$h/24 dev eth6; done 2>/dev/null; true' >/dev/null
	: >"$state/m3ua-clients"
	: >"$state/m3ua-ping-prev"
}
m3ua_run() { # m3ua_run N...: start clients, print how many
	local n cmd
	for n in "$@"; do
		cmd="osmo-stp -c /etc/osmocom/m3ua-$n.cfg"
		[ -z "$m3ua_ping_bin" ] || cmd="sctplb-m3ua-ping -c /etc/osmocom/m3ua-$n.cfg -n $n -a as-$n -d 0.10.1 -s 201 -o 200 -i 500"
		g vm-221 "$cmd </dev/null >/var/log/m3ua-$n.log 2>&1 & echo \$! >/tmp/m3ua-$n.pid" >/dev/null || return 1
		echo "$n" >>"$state/m3ua-clients"
	done
	echo $#
}
m3ua_start() { m3ua_run 1 2 3 4 5 6; }
m3ua_start_drain() { m3ua_run 7 8; }
# m3ua_states: "NAME ACTIVE DOWN INACTIVE" per instance: how often its ASPs entered ASP_ACTIVE,
# ASP_DOWN and ASP_INACTIVE (the xUA ASP FSM, libosmocore's "State change to X").
m3ua_states() {
	local n names=''
	while read -r n; do names+=" m3ua-$n"; done <"$state/m3ua-clients"
	g vm-221 "for f in $names; do echo \"\$f \$(grep -c -E 'XUA_ASP.*(state_chg|State change) to ASP_ACTIVE$' /var/log/\$f.log) \$(grep -c -E 'XUA_ASP.*(state_chg|State change) to ASP_DOWN$' /var/log/\$f.log) \$(grep -c -E 'XUA_ASP.*(state_chg|State change) to ASP_INACTIVE$' /var/log/\$f.log)\"; done" >"$state/m3ua-states"
	for n in 1 2 3; do
		g "vm-00$n" "echo \"server-$n \$(grep -c -E 'XUA_ASP.*(state_chg|State change) to ASP_ACTIVE$' /var/log/m3ua-server.log) \$(grep -c -E 'XUA_ASP.*(state_chg|State change) to ASP_DOWN$' /var/log/m3ua-server.log) \$(grep -c -E 'XUA_ASP.*(state_chg|State change) to ASP_INACTIVE$' /var/log/m3ua-server.log)\""
	done >>"$state/m3ua-states"
}
# Ready: every client's ASP is ASP_ACTIVE (ASPUP/ASPUP-ACK, ASPAC/ASPAC-ACK done).
m3ua_ready() {
	m3ua_states
	awk '$1 ~ /^m3ua-/ && $2 < 1 { bad = 1 } END { exit bad }' "$state/m3ua-states"
}
# Reconnects: a client ASP that entered ASP_ACTIVE more than once, or went down.
m3ua_reconnects() {
	m3ua_states
	awk '$1 ~ /^m3ua-/ { r += ($2 > 1 ? $2 - 1 : 0) + $3 } END { print r + 0 }' "$state/m3ua-states"
}
# Every client ASP went ASP_ACTIVE once and never ASP_DOWN; the servers saw as many ASPs
# become active as there are clients, none going down.
# m3ua_ping_stats: the ping counters of every client started ("N sent S answered A bad B expired
# E pending P oldest_ms O maxrtt_ms M pcstate C", test-apps/m3ua-ping) and, per server, the UDTs its SCCP
# returned ("server-S returned R": osmo-stp's notice "Unable to find user for SSN=201"), into
# $state/m3ua-ping; fails when a client has no counters.
m3ua_ping_stats() {
	local s
	{
		g vm-221 "for c in $(tr '\n' ' ' <"$state/m3ua-clients"); do cat /tmp/m3ua-ping-\$c.stat 2>/dev/null || echo \$c missing; done" || return 1
		for s in 1 2 3; do
			g "vm-00$s" "echo server-$s returned \$(grep -c 'Unable to find user for SSN=201 ' /var/log/m3ua-server.log)" || return 1
		done
	} >"$state/m3ua-ping"
	! grep -q ' missing$' "$state/m3ua-ping"
}
# m3ua_ping_flowing: every client has more answers than at the last check ($state/m3ua-ping-prev),
# and nothing wrong (requests_flowing).
m3ua_ping_flowing() {
	m3ua_ping_stats || return 1
	requests_flowing "$state/m3ua-ping-prev" "$state/m3ua-ping"
}
# m3ua_ping_complete: the clients stopped sending; every UDT has its UDTS, and the servers
# returned exactly as many as the clients received.
m3ua_ping_complete() {
	m3ua_ping_stats || return 1
	requests_complete "$state/m3ua-ping" returned
}
m3ua_ping_summary() {
	awk '$2 == "sent" { s += $3; a += $5; b += $7 + $9; if ($15 > m) m = $15; p += $17 }
		$2 == "returned" { srv = srv " " $1 "=" $3 }
		END { printf "%d UDTs sent, %d UDTS back (same data), %d bad/expired, max rtt %d ms, %d N-PCSTATE; returned by:%s", s, a, b, m, p, srv }' "$state/m3ua-ping"
}
m3ua_ping_check() {
	[ -n "$m3ua_ping_bin" ] || { echo "NOTE: m3ua $1: no sctplb-m3ua-ping (libosmo-sigtran-dev not installed when built): no DATA checked"; return 0; }
	[ -s "$state/m3ua-ping-prev" ] || : >"$state/m3ua-ping-prev"
	if vm_until 60 m3ua_ping_flowing; then
		pass "m3ua $1: UDTs answered by UDTS through the LBs ($(m3ua_ping_summary))"
	else
		fail "m3ua $1: ping: $(tr '\n' ';' <"$state/m3ua-ping") (previous: $(tr '\n' ';' <"$state/m3ua-ping-prev"))"
	fi
	cp "$state/m3ua-ping" "$state/m3ua-ping-prev"
	if [ "$1" = kill ]; then
		# The last check: the clients stop sending, then every UDT must have its UDTS.
		g vm-221 "touch $(sed 's|^\(.*\)$|/tmp/m3ua-ping-\1.stop|' "$state/m3ua-clients" | tr '\n' ' ')" >/dev/null ||
			fail "m3ua kill: cannot stop the ping clients"
		if vm_until 90 m3ua_ping_complete; then
			pass "m3ua: every UDT got its UDTS ($(m3ua_ping_summary))"
		else
			fail "m3ua: UDTs without their UDTS: $(tr '\n' ';' <"$state/m3ua-ping")"
		fi
	fi
}
m3ua_check() {
	local clients
	m3ua_ping_check "$1"
	m3ua_states
	clients=$(wc -l <"$state/m3ua-clients")
	if awk -v c="$clients" '$1 ~ /^m3ua-/ && ($2 != 1 || $3 != 0) { bad = 1 } $1 ~ /^server/ { a += $2; d += $3 } END { exit bad || a != c || d != 0 }' "$state/m3ua-states"; then
		pass "m3ua $1: each of $clients client ASPs ASP_ACTIVE once, none ASP_DOWN; servers' ASPs active: $(awk '$1 ~ /^server/ { printf "%s=%s ", $1, $2 }' "$state/m3ua-states")"
	else
		fail "m3ua $1: (name active down inactive) $(tr '\n' ';' <"$state/m3ua-states")"
	fi
}
# m3ua_stop: the detail into the run directory (m3ua-detail): each client's own messages, each
# server's M3UA messages received per ASP and UDTs returned.
m3ua_stop() {
	local s
	{
		g vm-221 "grep -H 'sctplb-m3ua-ping' /var/log/m3ua-*.log | grep -v 'UDT every'; true"
		for s in 1 2 3; do
			echo "== server-$s"
			g "vm-00$s" "grep -o 'asp-asp-[0-9]*: xua_srv_conn_cb(): sctp_recvmsg() returned [0-9]* (flags=0x[0-9a-f]*)' /var/log/m3ua-server.log | sort | uniq -c; grep -c 'Unable to find user for SSN=201 ' /var/log/m3ua-server.log"
		done
	} >"$state/m3ua-detail" 2>&1 || true
}
