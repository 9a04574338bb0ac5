# shellcheck shell=bash
# app-m3ua.sh: M3UA with osmo-stp 1.6 (libosmo-sigtran, Debian `osmo-stp`) behind the LBs
# (test-vm-apps.sh, run_app; docs/applications.md).
# Servers (vm-001..003): one osmo-stp each in SG role, `listen m3ua 2905` on exactly the VIPs
# (local-ip 10.0.0.1 and 10.0.0.2), ASPs accepted dynamically (asp-dyn-N), one AS per client
# routing context (an ASPAC's routing context must name a configured AS, xua_asp_fsm.c).
# Clients (vm-221): one osmo-stp per client in ASP role, SCTP client, fixed port 2905 on both
# sides, bound to its own address pair 192.168.2.22N + 192.168.6.22N (local-ip twice) and
# connecting to both VIPs (remote-ip twice); its AS as-N has routing key N, point code 0.(20+N).1 (ITU 3-8-3).
# 6 at the start (N = 1..6), 2 during the drain (N = 7, 8). Each instance's VTY on 127.0.0.N.
# ASP state from the logs: the xUA ASP FSM's state changes (lss7 debug). osmo-stp 1.6 answers
# BEAT but never sends one, and an ASP without SCCP users sends nothing after ASPAC: the
# associations carry no DATA between the handshake and the end (m3ua_idle), so the path A cut
# is judged by SCTP (paths, no ABORT) and by M3UA (no ASP left ASP_ACTIVE), not by DATA.
m3ua_port() { echo 2905; }
m3ua_idle() { echo "osmo-stp 1.6 sends no BEAT and no traffic after ASPAC"; }
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
		echo ' point-code 0.23.1'
		echo ' listen m3ua 2905'
		echo '  accept-asp-connections dynamic-permitted'
		echo '  local-ip 10.0.0.1'
		echo '  local-ip 10.0.0.2'
		for n in 1 2 3 4 5 6 7 8; do
			echo " as as-$n m3ua"
			echo "  routing-key $n 0.$((20 + n)).1"
		done
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
}
m3ua_run() { # m3ua_run N...: start clients, print how many
	local n
	for n in "$@"; do
		g vm-221 "osmo-stp -c /etc/osmocom/m3ua-$n.cfg </dev/null >/var/log/m3ua-$n.log 2>&1 & echo \$! >/tmp/m3ua-$n.pid" >/dev/null || return 1
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
m3ua_check() {
	local clients
	m3ua_states
	clients=$(wc -l <"$state/m3ua-clients")
	if awk -v c="$clients" '$1 ~ /^m3ua-/ && ($2 != 1 || $3 != 0) { bad = 1 } $1 ~ /^server/ { a += $2; d += $3 } END { exit bad || a != c || d != 0 }' "$state/m3ua-states"; then
		pass "m3ua $1: each of $clients client ASPs ASP_ACTIVE once, none ASP_DOWN; servers' ASPs active: $(awk '$1 ~ /^server/ { printf "%s=%s ", $1, $2 }' "$state/m3ua-states")"
	else
		fail "m3ua $1: (name active down inactive) $(tr '\n' ';' <"$state/m3ua-states")"
	fi
}
m3ua_stop() { :; }
