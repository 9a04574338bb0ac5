# shellcheck shell=bash
# app-diameter.sh: freeDiameter (freeDiameterd 1.2.1 from Debian) behind the LBs
# (test-vm-apps.sh, run_app; docs/applications.md).
# Servers (vm-001..003): one Diameter identity for the pool, diameter.sctplb.test, realm
# sctplb.test, bound to exactly the VIPs 10.0.0.1 and 10.0.0.2 (ListenOn), port 3868, SCTP only,
# Tw 6 s; acl_wl admits the clients (*.sctplb.test, no TLS: ALLOW_IPSEC). Which server answered
# is seen in the guests' /proc/net/sctp/assocs. Clients (vm-221): client-N.sctplb.test, one
# ConnectPeer = the pool identity over both VIPs (ConnectTo 10.0.0.1 and 10.0.0.2), No_TLS,
# Tc 2 s, Tw 6 s: 8 at the start (N = 1..8), 3 more during the drain; all on the client's
# first address pair (192.168.2.221, 192.168.6.221: diameter_prepare removes the others, see
# below), each listening on its own port 3860+N.
# Why one pool identity (seen here, docs/applications.md): a freeDiameter initiator checks that
# the CEA's Origin-Host is the peer it connected to (p_ce.c), and a Diameter node keeps one
# connection per peer: with distinct server identities and one ConnectPeer per server, the LB's
# placements that do not match fail their CER/CEA, and a CER of a client a server already has
# OPEN ("Invalid state to receive a new connection attempt", DIAMETER_UNABLE_TO_COMPLY) broke
# the open connection too: 36 reconnects, 108 ABORTs in one run.
# freeDiameter 1.2.1 (Debian 12) binds its client sockets to no address (sctp_bindx of the
# ListenOn addresses came in 1.5.0): every client association carries every address of the
# client guest; ListenOn only places the listening socket. Seen with the client guest's 8
# address pairs: a path A cut then ABORTed every association (8 of 8, "Connection reset by
# peer"): the server's retransmissions tried the client's other net-2 addresses one after the
# other, all behind the cut, and reached freeDiameter's association limit of 4 retransmissions
# before a net-6 path. Hence one address per network on a freeDiameter 1.2.1 client host.
# Its SCTP options are compiled in
# (ADJUST_RTX_PARAMS): RTO min 1 s, max 5 s, association max retransmissions 4, heartbeat 6 s
# per association, whatever the sysctls say.
# dbg_msg_dumps logs every message in full on one line (CER/CEA, DWR/DWA with Result-Code).
# Application traffic: Debian ships no test_app.fdx, so our own extension sctplb_echo.fdx
# (test-apps/diameter-echo, built when libfreediameter-dev is installed; pack-apps.sh packs it)
# runs a vendor-specific echo application: each client sends one Sctplb-Echo-Request every
# 500 ms (a sequence number) to the pool identity, each server answers 2001 + the sequence
# number + its guest name; /tmp/echo-NAME.stat in each guest counts them (diameter_echo_*).
diameter_port() { echo 3868; }
diameter_tls() { # the throwaway credentials freeDiameter insists on (TLS_Cred), once per run
	[ -s "$state/fd-cert.pem" ] && return
	# freeDiameter checks that its certificate names its Identity: one wildcard for all.
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=*.sctplb.test' \
		-addext 'subjectAltName=DNS:*.sctplb.test' \
		-keyout "$state/fd-key.pem" -out "$state/fd-cert.pem" 2>/dev/null || die "openssl req"
	# PKCS#3 DH parameters (freeDiameter would generate them at every start, slowly under TCG;
	# -dsaparam writes X9.42, which gnutls refuses): made once, kept in the VM cache.
	if [ ! -s "$vmdir/cache/fd-dh.pem" ]; then
		openssl dhparam -out "$vmdir/cache/fd-dh.pem.new" 1024 2>/dev/null || die "openssl dhparam"
		mv "$vmdir/cache/fd-dh.pem.new" "$vmdir/cache/fd-dh.pem"
	fi
	cp "$vmdir/cache/fd-dh.pem" "$state/fd-dh.pem"
}
# diameter_common IDENTITY: the configuration lines every instance shares.
diameter_common() {
	cat <<-CONF
		Identity = "$1.sctplb.test";
		Realm = "sctplb.test";
		Port = 3868;
		SecPort = 0;
		No_TCP;
		No_IPv6;
		TwTimer = 6;
		TcTimer = 2;
		TLS_Cred = "/etc/freeDiameter/cert.pem", "/etc/freeDiameter/key.pem";
		TLS_CA = "/etc/freeDiameter/cert.pem";
		TLS_DH_File = "/etc/freeDiameter/dh.pem";
		LoadExtension = "/usr/lib/freeDiameter/dbg_msg_dumps.fdx" : "0x2044";
	CONF
}
# The echo extension, when built (without it the scenario runs the base protocol only).
diameter_echo_fdx=${SCTPLB_DIAMETER_ECHO:-$SCTPLB_BUILD_DIR/test-apps/diameter-echo/sctplb_echo.fdx}
[ -s "$diameter_echo_fdx" ] || diameter_echo_fdx=''
diameter_echo_conf() { [ -z "$diameter_echo_fdx" ] || echo "LoadExtension = \"/usr/lib/freeDiameter/sctplb_echo.fdx\" : \"$1\";"; }
# file_lines PATH: shell lines (for a guest's vm_setup) writing stdin to PATH.
file_lines() { printf "mkdir -p %s\ncat >%s <<'FD_EOF'\n%s\nFD_EOF\n" "$(dirname "$1")" "$1" "$(cat)"; }
diameter_files_tls() {
	diameter_tls
	file_lines /etc/freeDiameter/cert.pem <"$state/fd-cert.pem"
	file_lines /etc/freeDiameter/key.pem <"$state/fd-key.pem"
	file_lines /etc/freeDiameter/dh.pem <"$state/fd-dh.pem"
}
diameter_setup_server() {
	diameter_files_tls
	{
		diameter_common diameter
		echo 'ListenOn = "10.0.0.1";'
		echo 'ListenOn = "10.0.0.2";'
		echo 'LoadExtension = "/usr/lib/freeDiameter/acl_wl.fdx" : "/etc/freeDiameter/acl_wl.conf";'
		diameter_echo_conf "server vm-00$1"
	} | file_lines /etc/freeDiameter/server.conf
	echo 'ALLOW_IPSEC *.sctplb.test' | file_lines /etc/freeDiameter/acl_wl.conf
	echo "apps fd_start server"
}
# diameter_client_conf N: client-N's configuration.
diameter_client_conf() {
	diameter_common "client-$1" | sed "s/^Port = 3868;/Port = $((3860 + $1));/"
	echo 'ListenOn = "192.168.2.221";'
	echo 'ListenOn = "192.168.6.221";'
	echo 'ConnectPeer = "diameter.sctplb.test" { ConnectTo = "10.0.0.1"; ConnectTo = "10.0.0.2"; No_TLS; Port = 3868; };'
	diameter_echo_conf "client client-$1 diameter.sctplb.test sctplb.test 500"
}
diameter_setup_client() {
	local n
	diameter_files_tls
	for n in 1 2 3 4 5 6 7 8 9 10 11; do diameter_client_conf "$n" | file_lines "/etc/freeDiameter/client-$n.conf"; done
}
# diameter_run N...: start clients, print how many. Called in $(...): the clients started are
# remembered in a file, not a variable.
diameter_run() {
	local n
	for n in "$@"; do
		g vm-221 "apps fd_start client-$n" >/dev/null || return 1
		echo "client-$n" >>"$state/fd-clients"
	done
	echo $#
}
# Before the scenario's baseline: the client guest keeps one address per network (the others,
# for the fixed-port lksctp clients, would be in every freeDiameter 1.2.1 association).
diameter_prepare() {
	g vm-221 'for h in 222 223 224 225 226 227 228; do ip addr del 192.168.2.$h/24 dev eth2; ip addr del 192.168.6.$h/24 dev eth6; done 2>/dev/null; true' >/dev/null
}
diameter_start() { diameter_run 1 2 3 4 5 6 7 8; }
diameter_start_drain() { diameter_run 9 10 11; }
# diameter_opens: "NAME OPENED CLOSED" per instance: transitions into and out of STATE_OPEN.
diameter_opens() {
	local n
	g vm-221 "apps fd_count $(tr '\n' ' ' <"$state/fd-clients")" >"$state/fd-count"
	for n in 1 2 3; do g "vm-00$n" "apps fd_count server" | sed "s/^server/server-$n/"; done >>"$state/fd-count"
}
# Ready: every client started has its peer OPEN.
diameter_ready() {
	diameter_opens
	awk '$1 ~ /^client/ && $2 < 1 { bad = 1 } END { exit bad }' "$state/fd-count"
}
# Reconnects: a client that entered STATE_OPEN more than once, or left it.
diameter_reconnects() {
	diameter_opens
	awk '$1 ~ /^client/ { r += ($2 > 1 ? $2 - 1 : 0) + $3 } END { print r + 0 }' "$state/fd-count"
}
# diameter_answers: no peer left STATE_OPEN, no DWA other than 2001, no CEA refused; every
# client entered OPEN once after one CEA 2001 and has had a DWA 2001 since (Tw 6 s after OPEN)
# unless the echo application runs: a watchdog is sent only after Tw without traffic
# (RFC 3539 section 3.4.1), and the echo requests leave none.
diameter_answers() {
	diameter_opens
	awk -v echo="$([ -n "$diameter_echo_fdx" ] && echo 1 || echo 0)" '$3 != 0 || $6 != 0 || $7 != 0 || $8 != 0 ||
		($1 ~ /^client/ && ($2 != 1 || $4 != 1 || ($5 < 1 && !echo))) { bad = 1 } END { exit bad }' "$state/fd-count"
}
# diameter_echo_stats: the echo counters of every client started and every server, one line
# each ("NAME sent S answered A bad B expired E pending P oldest_ms O maxrtt_ms M", servers
# "NAME answered N"), into $state/echo-stats; fails when a client has no counters.
diameter_echo_stats() {
	local c
	{
		g vm-221 "for c in $(tr '\n' ' ' <"$state/fd-clients"); do cat /tmp/echo-\$c.stat 2>/dev/null || echo \$c missing; done" || return 1
		for c in 1 2 3; do g "vm-00$c" "cat /tmp/echo-vm-00$c.stat 2>/dev/null || echo vm-00$c missing" || return 1; done
	} >"$state/echo-stats"
	! grep -q ' missing$' "$state/echo-stats"
}
# diameter_echo_flowing: every client answered more requests than at the last check
# ($state/echo-prev), and nothing wrong (requests_flowing).
diameter_echo_flowing() {
	diameter_echo_stats || return 1
	requests_flowing "$state/echo-prev" "$state/echo-stats"
}
# diameter_echo_complete: the clients stopped sending; every request answered, the servers
# answered as many as the clients received.
diameter_echo_complete() {
	diameter_echo_stats || return 1
	requests_complete "$state/echo-stats" answered
}
diameter_echo_summary() {
	awk '$2 == "sent" { s += $3; a += $5; b += $7 + $9; if ($15 > m) m = $15 }
		$2 == "answered" { srv = srv " " $1 "=" $3 }
		END { printf "%d requests, %d answered (2001, same sequence), %d bad/expired, max rtt %d ms; served:%s", s, a, b, m, srv }' "$state/echo-stats"
}
diameter_echo_check() {
	[ -n "$diameter_echo_fdx" ] || { echo "NOTE: diameter $1: no sctplb_echo.fdx (libfreediameter-dev not installed when built): no application requests checked"; return 0; }
	[ -s "$state/echo-prev" ] || : >"$state/echo-prev"
	if vm_until 60 diameter_echo_flowing; then
		pass "diameter $1: echo requests answered ($(diameter_echo_summary))"
	else
		fail "diameter $1: echo: $(tr '\n' ';' <"$state/echo-stats") (previous: $(tr '\n' ';' <"$state/echo-prev"))"
	fi
	cp "$state/echo-stats" "$state/echo-prev"
	if [ "$1" = kill ]; then
		# The last check: the clients stop sending, then every request must have its answer.
		g vm-221 "touch $(sed 's|^\(.*\)$|/tmp/echo-\1.stop|' "$state/fd-clients" | tr '\n' ' ')" >/dev/null ||
			fail "diameter kill: cannot stop the echo clients"
		if vm_until 90 diameter_echo_complete; then
			pass "diameter: every echo request got its answer ($(diameter_echo_summary))"
		else
			fail "diameter: echo requests without their answer: $(tr '\n' ';' <"$state/echo-stats")"
		fi
	fi
}
diameter_check() {
	diameter_echo_check "$1"
	if vm_until 60 diameter_answers; then
		pass "diameter $1: each client one CER/CEA (2001), OPEN since, every DWA 2001 if any ($(awk '$1 ~ /^client/ { o += $2; c += $4; d += $5 } $1 ~ /^server/ { so += $2; sd += $5 } END { printf "clients: %d OPEN, %d CEA, %d DWA; servers: %d OPEN, %d DWA", o, c, d, so, sd }' "$state/fd-count"))"
	else
		fail "diameter $1: (name opened left cea-2001 dwa-2001 dwa-other id-refused cea-other) $(tr '\n' ';' <"$state/fd-count")"
	fi
}
diameter_stop() { :; }
