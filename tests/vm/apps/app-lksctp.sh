# shellcheck shell=bash
# app-lksctp.sh: lksctp-tools' sctp_darn as clients of sctpt servers (test-vm-apps.sh, run_app).
# Six clients on the fixed port 36412 (192.168.2.22N + 192.168.6.22N, N = 1..6: each its own
# address pair, RFC 9260 section 1.3), sctp_bindx-bound to both, sctp_connectx to both VIPs,
# sending a line every 0.2 s; during the drain six more from 192.168.2.227/.6.227, ports
# 40001-40006. The servers are the overlay's sctpt (tcase_server_start, bound to the VIPs).
# sctp_darn never reads (the servers' echoes stay queued): closing it ABORTs (Linux SCTP aborts
# an association closed with unread data), so the clients run until the scenario has been judged.
lksctp_port() { echo 36412; }
lksctp_setup_server() { echo "sctplb_test tcase_server_start --vip=10.0.0.1,10.0.0.2 --name=server-$1"; }
lksctp_setup_client() { :; }
# lksctp_clients "ID HA HB LPORT"...: start one sctp_darn per spec, print how many.
lksctp_clients() {
	local spec count=$#
	for spec in "$@"; do
		# shellcheck disable=SC2086 # the spec's words are the arguments
		set -- $spec
		g vm-221 "apps darn $1 $2 $3 $4 36412 10.0.0.1 10.0.0.2" >/dev/null || return 1
	done
	echo "$count"
}
lksctp_start() { lksctp_clients "1 192.168.2.221 192.168.6.221 36412" "2 192.168.2.222 192.168.6.222 36412" \
	"3 192.168.2.223 192.168.6.223 36412" "4 192.168.2.224 192.168.6.224 36412" \
	"5 192.168.2.225 192.168.6.225 36412" "6 192.168.2.226 192.168.6.226 36412"; }
lksctp_start_drain() { lksctp_clients "11 192.168.2.227 192.168.6.227 40001" "12 192.168.2.227 192.168.6.227 40002" \
	"13 192.168.2.227 192.168.6.227 40003" "14 192.168.2.227 192.168.6.227 40004" \
	"15 192.168.2.227 192.168.6.227 40005" "16 192.168.2.227 192.168.6.227 40006"; }
# Reconnects: a client's new connections beyond its first, and associations it found gone.
lksctp_reconnects() {
	g vm-221 "apps darn_count 1 2 3 4 5 6 11 12 13 14 15 16" >"$state/darn-count"
	awk '{ r += ($2 > 1 ? $2 - 1 : 0) + $3 } END { print r + 0 }' "$state/darn-count"
}
lksctp_check() { # the clients' own word: one connection each, no error
	g vm-221 "apps darn_count 1 2 3 4 5 6 $([ "$1" = spread ] || [ "$1" = cut ] || echo 11 12 13 14 15 16)" >"$state/darn-count"
	if awk '$2 != 1 || $3 != 0 || $4 != 0 { bad = 1 } END { exit bad }' "$state/darn-count"; then
		pass "lksctp $1: every sctp_darn client reports one connection, none lost, no error"
	else
		fail "lksctp $1: sctp_darn logs (id new gone errors): $(tr '\n' ';' <"$state/darn-count")"
	fi
}
# After the scenario: the clients end (each ABORTs: unread data), their associations with them.
lksctp_stop() {
	g vm-221 'touch /tmp/darn-1.stop /tmp/darn-2.stop /tmp/darn-3.stop /tmp/darn-4.stop /tmp/darn-5.stop /tmp/darn-6.stop /tmp/darn-11.stop /tmp/darn-12.stop /tmp/darn-13.stop /tmp/darn-14.stop /tmp/darn-15.stop /tmp/darn-16.stop' >/dev/null
	vm_until 30 g vm-221 '! pidof sctp_darn' >/dev/null || fail "lksctp: sctp_darn clients still running 30 s after their stop"
}
