#!/bin/bash
# test-vm-server-init.sh: server-initiated associations with kernel SCTP behind sctplb (ctest
# vm.server-init, label vm; docs/operations.md "Servers that open associations", docs/vm.md).
# The dual-path topology of the VM suite: two DSR servers (vm-001, vm-002; VIPs 10.0.0.1 via
# vm-201 and 10.0.0.2 via vm-202 on lo), both LBs in vtag mode with association sync, the
# kernel fast path and --server-queue (--server FWMARK=NEXTHOP). The peer, vm-221, runs
# `sctpt server` bound to 192.168.2.221 and 192.168.6.221, port 3868. Server S opens one
# association itself: `sctpt ctraffic` bound to both VIPs, fixed local port 3900+S, connecting
# to both peer addresses. The servers' routes to the peer's networks go through the LBs, so
# the LBs see their INITs without the server-side rules (`sctplb rules --server-side`) of a
# network where servers reach peers directly. Checks:
#   up        every association established, on its own server, both peer addresses, every path
#             active at both ends; both LBs list it with DIR out and the server's fwmark (vm-202
#             by sync); vm-201 counted the servers' INITs and sent the INIT ACKs to them
#   path A    cut at vm-201 (FORWARD drop) until the peer declared the path to 10.0.0.1 dead and
#             each server a failover; the peer's DATA still reaches both servers (via vm-202,
#             which only knows the associations by sync); healed: every path active again
#   lb kill   both LB daemons kill -9 for 5 s: both kernel fast paths keep forwarding; the
#             restarted daemons list the associations on the same servers; DATA flows
#   end       every message echoed (ctraffic, 1 failover at least), clean SHUTDOWN; no ABORT and
#             no out-of-the-blue packet on any guest; one JSON line
#   diameter  freeDiameter on vm-001 and on the peer, each with a ConnectPeer to the other,
#             started together (apps/diameter-connectpeer.sh): one association survives the
#             election (RFC 6733 §5.6.4), on vm-001 only, both LBs list it with the direction
#             of whoever opened it; echo traffic, path A cut; no drop as unknown; no ABORT but
#             the election's losing connection's
# Exit 0 passed, 1 a failure, 77 the machine cannot run it (and says why).
# Environment: as test-vm-dual-path.sh (SCTPLB_BIN, SCTPT_BIN, SCTPLB_VM_DIR, SCTPLB_VM_KEEP,
# SCTPLB_VM_ACCEL, SCTPLB_VM_TRACE_ERR).
set -eu
shopt -s inherit_errexit
[ -z "${SCTPLB_VM_TRACE_ERR:-}" ] || { set -E; trap 'echo "ERR ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND" >&2' ERR; }
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=vm-dual-topology.sh
. "$here/vm-dual-topology.sh"
dt_environment
t_start=$(date +%s%N)
dt_require qemu-system-x86_64 python3 ip iptables ip6tables jq openssl

topology_name=vm-server-init
prefix=vs$$
# shellcheck source=../topology/topology-common.sh
. "$source_dir/tests/topology/topology-common.sh"
# shellcheck source=vm-lib.sh
. "$here/vm-lib.sh"
# shellcheck source=apps/app-diameter.sh
. "$here/apps/app-diameter.sh"
# shellcheck source=apps/diameter-connectpeer.sh
. "$here/apps/diameter-connectpeer.sh"

# The image: the suite's initramfs with the applications appended (pack-apps.sh, as vm.apps packs
# it: the same inputs keep one packed image for both tests).
t_image=$(date +%s%N)
dt_image
m3ua_ping=${SCTPLB_M3UA_PING:-$SCTPLB_BUILD_DIR/test-apps/m3ua-ping/sctplb-m3ua-ping}
[ -x "$m3ua_ping" ] || m3ua_ping=''
SCTPLB_DIAMETER_ECHO=$diameter_echo_fdx SCTPLB_M3UA_PING=$m3ua_ping bash "$here/apps/pack-apps.sh" "$vmdir" || exit $?
image_ms=$(ms_since "$t_image")
vm_initrd=$vmdir/initramfs-apps.gz
vm_mem=160
sw=$prefix-sw
lb_a=$prefix-vm201
lb_b=$prefix-vm202
queue=2
server_queue=7
dt_run_dir vs
trap dt_exit EXIT
trap 'exit 1' INT TERM HUP PIPE

dt_namespaces

# Guests, booted in parallel; the guest helper of vm.apps (apps snmp|assocs|paths) goes in
# through each guest's config (dt_server_cfg, dt_client_cfg).
vm_choose_accel
servers=(1 2)
peer_port=3868
for s in "${servers[@]}"; do
	dt_server_cfg "$s" dcp_server_setup >"$state/cfg-vm-00$s"
	vm_start "vm-00$s" "$state/cfg-vm-00$s" "1:$(mac 1 "$s")" "4:$(mac 4 "$s")"
done
dt_client_cfg dcp_peer_setup >"$state/cfg-vm-221"
vm_start vm-221 "$state/cfg-vm-221" "2:$(mac 2 221)" "6:$(mac 6 221)"
t_boot=$(date +%s%N)

# The LBs, while the guests boot: vtag mode, sync, fast path, the servers' INITs on queue 7,
# each server known by its next hop on the LB's server network (--server FWMARK=NEXTHOP).
lbs_start() { # both daemons, in parallel (with sync, each waits for its peer's table)
	local k net s list p201 p202
	for k in 201 202; do
		net=1
		[ $k = 201 ] || net=4
		list=$(for s in "${servers[@]}"; do printf '%s=192.168.%s.%s,' "$s" "$net" "$s"; done)
		dt_lb_options=(--server-queue "$server_queue" --server "${list%,}")
		lb_start $k &
		if [ $k = 201 ]; then p201=$!; else p202=$!; fi
	done
	dt_lb_options=()
	wait "$p201" && wait "$p202"
}
dt_lbs_init "${servers[*]}" --server-queue "$server_queue"
lbs_start || die "an LB did not start"

all_guests=(vm-001 vm-002 vm-221)
say "guests booting (${vm_accel[*]})"
vm_wait_ready "${all_guests[@]}" --timeout 240
boot_ms=$(ms_since "$t_boot")
say "3 guests ready in $boot_ms ms (image $image_ms ms)"

# lb_view K: "SERVER-PORT FWMARK DIRECTION PEER-ADDRESSES" of LB K's live associations with the peer.
lb_view() {
	lb_cmd "$1" assoc --json | jq -r --argjson p "$peer_port" '.associations[] | select(.sport == $p and .state != "closed")
		| "\(.dport) \(.fwmark) \(.direction) \(.addresses | sort | join(","))"' | sort
}
wanted_view=$(for s in "${servers[@]}"; do echo "$((3900 + s)) $s out 192.168.2.221,192.168.6.221"; done)
lb_knows() { [ "$(lb_view "$1")" = "$wanted_view" ]; }
# placement: "SERVER-PORT vm-00S" for every association a server holds with the peer's port
# in state 3 (ESTABLISHED), and the peer's own "SERVER-PORT vm-221 PEER-ADDRESSES".
placement() {
	local s
	for s in "${servers[@]}"; do g "vm-00$s" "apps assocs $peer_port" | awk -v n="vm-00$s" '$3 == 3 { print $1, n }'; done
	g vm-221 "apps assocs $peer_port" | awk '$3 == 3 { split($4, a, "|"); n = split(a[2], r, ",")
		if (n == 2 && r[1] > r[2]) a[2] = r[2] "," r[1]; print $2, "vm-221", a[2] }'
}
wanted_placement=$(for s in "${servers[@]}"; do echo "$((3900 + s)) vm-00$s"; echo "$((3900 + s)) vm-221 10.0.0.1,10.0.0.2"; done | sort)
placed() { [ "$(placement | sort)" = "$wanted_placement" ]; }
indata_of_servers() { local s; for s in "${servers[@]}"; do field "$(snmp "vm-00$s")" indata; done | tr '\n' ' '; }
# indata_grew BEFORE: every server counted more DATA chunks than in BEFORE.
indata_grew() {
	local now i=1 b n
	now=$(indata_of_servers)
	for s in "${servers[@]}"; do
		b=$(cut -d' ' -f$i <<<"$1")
		n=$(cut -d' ' -f$i <<<"$now")
		[ "$n" -gt "$b" ] || return 1
		i=$((i + 1))
	done
}
reason() { lb_cmd "$1" stats --json | jq --arg r "$2" '.reasons[$r] // 0'; }

sctp_counts_mark

# 1. The peer listens; each server opens one association from both VIPs.
t_scenario=$(date +%s%N)
g vm-221 "sctplb_test tcase_server_start --vip=192.168.2.221,192.168.6.221 --port=$peer_port --name=peer" >/dev/null ||
	die "the peer's sctpt server did not start"
ct_out=/var/log/ct-server-init.json
for s in "${servers[@]}"; do
	g "vm-00$s" "sctplb_test tcase_ctraffic_start --out=$ct_out --addr 192.168.2.221,192.168.6.221 --laddr 10.0.0.1,10.0.0.2 --clients 1 --lport-fixed $((3900 + s)) --port $peer_port --rate 10 --duration 300 --echo-wait 3000 --connect-timeout 30000" >/dev/null ||
		fail "vm-00$s: tcase_ctraffic_start"
done
say "servers connecting out"
for s in "${servers[@]}"; do
	if g "vm-00$s" "sctplb_test tcase_ctraffic_running --out=$ct_out --timeout=90" >/dev/null; then
		pass "vm-00$s opened its association from 10.0.0.1,10.0.0.2:$((3900 + s)) to the peer and sends"
	else
		fail "vm-00$s: its association did not come up: $(g "vm-00$s" "tail -n 5 $ct_out.log" | tr '\n' ';')"
	fi
done
if vm_until 60 placed; then
	pass "each association established on its own server only, the peer sees both VIPs in each"
else
	fail "placement: '$(placement | sort | tr '\n' ';')', wanted '$(tr '\n' ';' <<<"$wanted_placement")'"
fi
paths_watch
if vm_until 90 paths_active "$peer_port"; then
	pass "every path seen active at both ends (/proc/net/sctp/remaddr state 2)"
else
	paths_report "$peer_port" "not every path active in 90 s"
fi
for k in 201 202; do
	if vm_until 30 lb_knows "$k"; then
		pass "vm-$k lists both associations as server-initiated (DIR out) on their servers' fwmarks with both peer addresses"
	else
		fail "vm-$k lists '$(lb_view "$k" | tr '\n' ';')', wanted '$(tr '\n' ';' <<<"$wanted_view")'"
	fi
done
# Where vm-202 learned them: by sync from vm-201 ("192.168.3.201:7400"), or "local" when an INIT
# retransmission to the peer's second address went through vm-202 itself (slow guests).
learned_202=$(lb_cmd 202 assoc --json | jq -r --argjson p "$peer_port" '[.associations[] | select(.sport == $p) | .learned] | unique | join(",")')
echo "vm-202 learned the associations from: $learned_202"
inits=$(($(reason 201 server-init) + $(reason 202 server-init)))
acks=$(($(reason 201 init-ack-to-server) + $(reason 202 init-ack-to-server)))
refused=0
for k in 201 202; do for r in server-init-spoofed server-init-conflict server-not-init; do refused=$((refused + $(reason $k $r))); done; done
if [ "$inits" -ge ${#servers[@]} ] && [ "$acks" -ge ${#servers[@]} ] && [ "$refused" = 0 ]; then
	pass "the LBs recorded $inits server INITs and sent $acks INIT ACKs to the servers, refused none"
else
	fail "the LBs counted $inits server INITs, $acks INIT ACKs to a server, $refused refused (spoofed/conflict/not-init)"
fi
in_fast_path() {
	[ "$(lb_cmd 201 assoc --json | jq --argjson p "$peer_port" '[.associations[] | select(.sport == $p and .fastpath)] | length')" = ${#servers[@]} ]
}
if vm_until 30 in_fast_path; then
	pass "vm-201 handed both associations to the kernel fast path"
else
	fail "vm-201's fast path does not hold both associations: $(lb_cmd 201 assoc | tr '\n' ';')"
fi

# 2. Path A cut until the peer declared the path to 10.0.0.1 dead; traffic on path B (vm-202).
say "path A cut at vm-201"
path_a -A
for s in "${servers[@]}"; do
	g "vm-00$s" "sctplb_test tcase_ctraffic_running --out=$ct_out --min-failovers=1 --timeout=90" >/dev/null ||
		fail "vm-00$s: no failover reported by ctraffic in 90 s"
done
if vm_until 90 vip_a_dead "$peer_port"; then
	pass "the peer declared the path to 10.0.0.1 of every association dead"
else
	fail "the peer did not declare the path to 10.0.0.1 dead in 90 s: $(g vm-221 "apps paths $peer_port" | tr '\n' ' ')"
fi
before=$(indata_of_servers)
if vm_until 60 indata_grew "$before"; then
	pass "the peer's DATA still reaches both servers through vm-202 (DATA chunks $before-> $(indata_of_servers))"
else
	fail "no DATA reached a server during the cut ($before-> $(indata_of_servers))"
fi
path_a -D
paths_watch
if vm_until 90 paths_active "$peer_port"; then pass "path A healed, every path active again"; else paths_report "$peer_port" "path A did not come back in 90 s"; fi

# 3. Both LB daemons killed (kill -9) for 5 s: the kernel fast paths carry the associations.
say "both LBs kill -9 for 5 s"
marked_before=$(kernel_marked)
for k in 201 202; do
	pid=$(awk -v n="lb-$k" '$2 == n { p = $1 } END { print p }' "$state/pids")
	kill -9 "$pid" 2>/dev/null || fail "cannot kill lb-$k ($pid)"
done
# The scenario is "5 s without LB daemons" (not a wait for a condition).
sleep 5
lbs_start || fail "an LB did not restart"
marked_after=$(kernel_marked)
if [ "${marked_after% *}" -gt "${marked_before% *}" ] && [ "${marked_after#* }" -gt "${marked_before#* }" ]; then
	pass "both kernel fast paths kept forwarding (packets marked by vm-201 vm-202: $marked_before -> $marked_after)"
else
	fail "a fast path forwarded nothing while the LBs were down ($marked_before -> $marked_after)"
fi
for k in 201 202; do
	if lb_knows "$k"; then
		pass "restarted vm-$k keeps both associations on their servers (DIR out)"
	else
		fail "restarted vm-$k lists '$(lb_view "$k" | tr '\n' ';')'"
	fi
done
before=$(indata_of_servers)
vm_until 60 indata_grew "$before" || fail "no DATA reached a server after the LB restart"
placed || fail "placement changed through the LB kill: $(placement | sort | tr '\n' ';')"
paths_watch
vm_until 60 paths_active "$peer_port" || paths_report "$peer_port" "not every path active after the LB restart"

# 4. The end: every message echoed, a clean SHUTDOWN; no ABORT, no out-of-the-blue packet.
failovers=0
for s in "${servers[@]}"; do
	g "vm-00$s" "sctplb_test tcase_ctraffic_stop --out=$ct_out" >/dev/null || fail "vm-00$s: tcase_ctraffic_stop"
done
for s in "${servers[@]}"; do
	if g "vm-00$s" "sctplb_test tcase_ctraffic_wait --out=$ct_out --min-failovers=1 --timeout=60" >/dev/null; then
		report=$(g "vm-00$s" "cat $ct_out")
		echo "$report" >"$state/ct-vm-00$s.json"
		line=$(jq -r '.associations[0] | "\(.sent) \(.echoed) \(.lost) \(.state) \(.servers | keys | join(",")) \(.echo_sources | keys | sort | join(",")) \(.failovers)"' <<<"$report")
		read -r sent echoed lost st names sources fo <<<"$line"
		failovers=$((failovers + fo))
		if [ "$sent" -gt 0 ] && [ "$echoed" = "$sent" ] && [ "$lost" = 0 ] && [ "$st" = closed ] && [ "$names" = peer ] &&
			[ "$sources" = 192.168.2.221,192.168.6.221 ]; then
			pass "vm-00$s: $echoed of $sent messages echoed by the peer from both its addresses, $fo failover(s), clean SHUTDOWN"
		else
			fail "vm-00$s: sent $sent echoed $echoed lost $lost state $st answered by '$names' from '$sources'"
		fi
	else
		fail "vm-00$s: ctraffic failed: $(g "vm-00$s" "tail -n 5 $ct_out.log" | tr '\n' ';')"
	fi
done
sctp_counts_since "" || true  # its fail lines count
[ "$aborts" != 0 ] || [ "$ootb" != 0 ] || pass "no ABORT, no out-of-the-blue packet on any guest"
for gname in "${all_guests[@]}"; do vm_alive "$gname" || fail "guest $gname died"; done
jq -cn --argjson assocs ${#servers[@]} --arg servers "${servers[*]}" --argjson failovers "$failovers" --argjson aborts "$aborts" --argjson ootb "$ootb" \
	--argjson inits "$inits" --argjson acks "$acks" --argjson ms "$(ms_since "$t_scenario")" \
	--arg marked "$marked_before -> $marked_after" --arg learned "$learned_202" \
	'{scenario: "server-init", associations: $assocs, servers: ($servers | split(" ") | map({("server-" + .): 1}) | add), server_inits: $inits,
	  init_acks_to_servers: $acks, vm202_learned_from: $learned, failovers: $failovers, fastpath_marked: $marked, aborts: $aborts, out_of_the_blue: $ootb, ms: $ms}'
# 5. Diameter: freeDiameter on vm-001 (diameter.sctplb.test behind the VIPs) and on the peer
# (peer.sctplb.test), each with a ConnectPeer to the other, started together: the connections
# race, the election (RFC 6733 §5.6.4) leaves one (apps/diameter-connectpeer.sh). vm-002 is
# deactivated so that the peer's connection to the VIPs reaches the one Diameter node.
say "diameter: both nodes connect to each other"
t_diameter=$(date +%s%N)
for k in 201 202; do lb_cmd $k deactivate 2 >/dev/null || fail "vm-$k: sctplb deactivate 2"; done
sctp_counts_mark
reasons_before=$(dcp_reasons)
# An INIT that reaches a node whose freeDiameterd is not listening yet is answered with an ABORT
# (RFC 9260 §8.4 rule 8; seen: the guests start freeDiameterd up to 2 s apart under TCG). The
# LBs drop INITs until both listen: the stacks retransmit them (§5.1, T1-init), both
# connections are then under way together.
dcp_hold_inits -A
g vm-001 "apps fd_start server" >/dev/null & p_server=$!
g vm-221 "apps fd_start peer" >/dev/null & p_peer=$!
wait "$p_server" && wait "$p_peer" || fail "diameter: freeDiameterd did not start"
vm_until 60 dcp_listening || fail "diameter: freeDiameterd not initialized on both nodes in 60 s"
dcp_hold_inits -D
if vm_until 120 dcp_settled; then
	pass "diameter: each node OPEN once, one association between them, on vm-001 only ($(tr '\n' ';' <"$state/dcp-counts"))"
else
	fail "diameter: not settled: (name opened left cea dwa dwa-bad id-refused cea-bad) $(tr '\n' ';' <"$state/dcp-counts") vm-001 '$(dcp_assocs vm-001 | tr '\n' ';')' vm-221 '$(dcp_assocs vm-221 | tr '\n' ';')' vm-002 '$(dcp_assocs vm-002 | tr '\n' ';')'"
fi
dia_dir=$(dcp_direction)
# Who connected: the LBs counted the server's INIT (server-init) and the peer's (init-hash);
# the logs say whether the CERs crossed (an election) or one node was OPEN before the other
# connected.
elections=$( { g vm-001 "grep -c -e 'Election' -e 'ELECTION_LOST' /var/log/server.log" || true; g vm-221 "grep -c -e 'Election' -e 'ELECTION_LOST' /var/log/peer.log" || true; } | awk '{ n += $1 } END { print n + 0 }')
reasons_settled=$(dcp_reasons)
server_inits=$(dcp_delta "$reasons_before" "$reasons_settled" server-init)
peer_inits=$(dcp_delta "$reasons_before" "$reasons_settled" init-hash)
echo "diameter: survivor DIR $dia_dir; INITs seen by the LBs: server $server_inits, peer $peer_inits; election lines in the logs: $elections"
if [ "$server_inits" -ge 1 ] && [ "$peer_inits" -ge 1 ]; then
	pass "diameter: both nodes connected (the LBs saw $server_inits server INIT(s) and $peer_inits peer INIT(s)); one association left, DIR $dia_dir"
else
	echo "NOTE: diameter: no race this time: one node was OPEN before the other connected (server INITs $server_inits, peer INITs $peer_inits)"
fi
if [ "$elections" -gt 0 ] && [ "$dia_dir" != out ]; then
	fail "diameter: the CERs crossed, the election must keep the server's connection (peer.sctplb.test wins and keeps what the other opened), DIR is '$dia_dir'"
fi
case $dia_dir in
out) dia_port=$dcp_peer_port ;;
in) dia_port=$dcp_server_port ;;
*) dia_port=$dcp_server_port; fail "diameter: no single association on vm-001 ('$dia_dir')" ;;
esac
wanted_dia_view="$dia_dir 1 192.168.2.221,192.168.6.221"
dia_lb_knows() { [ "$(dcp_lb_view "$1")" = "$wanted_dia_view" ]; }
for k in 201 202; do
	if vm_until 30 dia_lb_knows "$k"; then
		pass "diameter: vm-$k lists the survivor only, DIR $dia_dir, on vm-001's fwmark, both peer addresses"
	else
		fail "diameter: vm-$k lists '$(dcp_lb_view "$k" | tr '\n' ';')', wanted '$wanted_dia_view'"
	fi
done
paths_watch
if vm_until 90 paths_active "$dia_port" "$dcp_path_addresses"; then
	pass "diameter: every path between the VIPs and the peer's addresses seen active at both ends"
else
	paths_report "$dia_port" "diameter: not every VIP path active in 90 s"
fi
dia_echo_check() { # dia_echo_check WHEN
	local before
	before=$(dcp_answered) || before=0
	if vm_until 60 dcp_echo_grew "$before"; then
		pass "diameter $1: the peer's echo requests answered by vm-001 ($(dcp_echo))"
	else
		fail "diameter $1: echo: '$(dcp_echo)' (answered before: $before)"
	fi
}
[ -z "$diameter_echo_fdx" ] || dia_echo_check settled

say "diameter: path A cut at vm-201"
path_a -A
if vm_until 90 vip_a_dead "$dia_port"; then
	pass "diameter: the peer declared the path to 10.0.0.1 dead"
else
	fail "diameter: the peer did not declare the path to 10.0.0.1 dead in 90 s: $(g vm-221 "apps paths $dia_port" | tr '\n' ' ')"
fi
[ -z "$diameter_echo_fdx" ] || dia_echo_check "path B"
path_a -D
paths_watch
if vm_until 90 paths_active "$dia_port" "$dcp_path_addresses"; then pass "diameter: path A healed, every VIP path active again"; else paths_report "$dia_port" "diameter: path A did not come back in 90 s"; fi
if dcp_settled; then
	pass "diameter: still one association on vm-001, no node left OPEN ($(tr '\n' ';' <"$state/dcp-counts"))"
else
	fail "diameter: after the cut: $(tr '\n' ';' <"$state/dcp-counts") vm-001 '$(dcp_assocs vm-001 | tr '\n' ';')'"
fi
reasons_after=$(dcp_reasons)
refused=''
for r in server-init-spoofed server-init-conflict server-not-init unknown-association cookie-echo-unknown; do
	n=$(dcp_delta "$reasons_before" "$reasons_after" "$r")
	[ "$n" = 0 ] || refused+="$r=$n "
done
if [ -z "$refused" ]; then
	pass "diameter: the LBs dropped nothing as spoofed, conflicting or unknown"
else
	fail "diameter: the LBs dropped: $refused"
fi
# ABORTs and out-of-the-blue packets since the phase began. After an election one is the
# protocol's own: the winner closes the connection it opened (I-Disc) while the loser's CEA
# ELECTION_LOST may still be unread on it, and Linux aborts a socket closed with unread data
# (the loser's late packets then arrive out of the blue). So: with an election, at most one
# ABORT on each of the two Diameter nodes (the survivor was checked alive above); without one,
# none; on vm-002 (deactivated: the LBs send it nothing) never anything.
election_aborts() { if [ "$elections" = 0 ] || [ "$1" = vm-002 ]; then echo 0; else echo 1; fi; }
if sctp_counts_since "diameter: " election_aborts; then
	pass "diameter: ABORTs $aborts, out-of-the-blue packets $ootb on the guests: at most the election's losing connection"
fi
for k in 201 202; do lb_cmd $k activate 2 >/dev/null || fail "vm-$k: sctplb activate 2"; done
dcp_logs
jq -cn --arg dir "$dia_dir" --argjson server_inits "$server_inits" --argjson peer_inits "$peer_inits" --argjson elections "$elections" \
	--arg reasons "$(dcp_reasons)" --argjson aborts "$aborts" --argjson ootb "$ootb" --argjson ms "$(ms_since "$t_diameter")" \
	'{scenario: "diameter-connectpeer", survivor_direction: $dir, server_inits: $server_inits, peer_inits: $peer_inits,
	  election_log_lines: $elections, lb_reasons: $reasons, aborts: $aborts, out_of_the_blue: $ootb, ms: $ms}'
say "done in $(ms_since "$t_start") ms (image $image_ms ms, boot $boot_ms ms); $failures failure(s)"
finished=1
[ "$failures" -eq 0 ]
