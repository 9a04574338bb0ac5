#!/bin/bash
# test-vm-apps.sh: real SCTP applications from Debian behind sctplb (ctest vm.apps, label vm;
# docs/applications.md). The dual-path topology of test-vm-dual-path.sh, kernel SCTP in qemu
# guests, both LBs in vtag mode with association sync and the kernel fast path; three DSR
# servers (vm-001..003, VIPs 10.0.0.1 via vm-201 and 10.0.0.2 via vm-202 on lo) and one client
# guest (vm-221, address pairs 192.168.2.22N/192.168.6.22N). The guests boot once; each
# application is one scenario, run_app APP, with the same checks:
#   spread    every association reaches exactly one server, with both client addresses, every
#             path seen active at both ends (paths_watch); the associations use at least two servers
#   path A    cut at vm-201 (FORWARD drop) until every client has declared VIP A's path dead
#             (longer than the heartbeat failover), DATA still reaches the servers on path B,
#             then healed: every path active again, no reconnect
#   drain     `sctplb deactivate` of the busiest server on both LBs: its associations stay, the
#             new associations avoid it
#   lb kill   both LB daemons kill -9 for 5 s (the fast path carries the associations), restarted
#   always    no ABORT and no out-of-the-blue packet on any guest, no reconnect in the app's logs
# and prints one JSON line {application, associations, servers, aborts, ootb, reconnects}.
# An application is a file tests/vm/apps/app-NAME.sh defining NAME_setup_server (in vm_setup
# of each server), NAME_setup_client, NAME_start (the first clients), NAME_start_drain (the
# clients started during the drain), NAME_port, NAME_reconnects, NAME_check (its own answers),
# NAME_stop (after the scenario was judged), and optionally NAME_prepare, NAME_ready and
# NAME_idle (prints why the application sends no DATA of its own: the cut's DATA check is skipped).
# Exit 0 all passed, 1 a failure, 77 the machine cannot run it (and says why).
# Environment: as test-vm-dual-path.sh (SCTPLB_BIN, SCTPT_BIN, SCTPLB_VM_DIR, SCTPLB_VM_KEEP,
# SCTPLB_VM_ACCEL); SCTPLB_VM_APPS="lksctp diameter m3ua" (the scenarios to run, in order).
set -eu
# A failing command inside $(...) fails the substitution too (bash does not pass set -e into
# command substitutions by default: a dead guest read as "0 reconnects").
shopt -s inherit_errexit
[ -z "${SCTPLB_VM_TRACE_ERR:-}" ] || { set -E; trap 'echo "ERR ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND" >&2' ERR; }
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=vm-dual-topology.sh
. "$here/vm-dual-topology.sh"
dt_environment
apps=${SCTPLB_VM_APPS:-lksctp diameter m3ua}
t_start=$(date +%s%N)
dt_require qemu-system-x86_64 python3 ip iptables ip6tables jq openssl

topology_name=vm-apps
prefix=va$$
# shellcheck source=../topology/topology-common.sh
. "$source_dir/tests/topology/topology-common.sh"
# shellcheck source=vm-lib.sh
. "$here/vm-lib.sh"
for app in $apps; do
	[ -f "$here/apps/app-$app.sh" ] || { echo "no application $app ($here/apps/app-$app.sh)"; exit 1; }
	# shellcheck source=/dev/null
	. "$here/apps/app-$app.sh"
done

# fail: counted in this shell and in $state/failed (a fail in a subshell or a pipeline would be
# lost from the counter alone); dt_exit takes the larger count (failures_total).
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
	[ -z "${state:-}" ] || [ ! -d "$state" ] || echo "$*" >>"$state/failed"
}
failures_total() { local f=0; [ ! -s "$state/failed" ] || f=$(wc -l <"$state/failed"); echo $((f > failures ? f : failures)); }

# The request/answer counters the applications' test clients keep (diameter's echo, m3ua's ping):
# a client line "NAME sent S answered A bad B expired E pending P oldest_ms O maxrtt_ms M ...",
# a server line "NAME WORD N" (WORD: what the app calls the server's answers).
# requests_flowing PREV NOW: every client answered more than in PREV, no answer bad (another's
# data, a duplicate) or expired, none waiting longer than 20 s (a path failover takes RTOs of
# 1-5 s; SCTP loses nothing on the way).
requests_flowing() {
	awk 'FILENAME == ARGV[1] { if ($2 == "sent") prev[$1] = $5; next }
		$2 == "sent" { if ($7 != 0 || $9 != 0 || $13 > 20000 || $5 <= prev[$1] + 0) bad = 1 }
		END { exit bad }' "$1" "$2"
}
# requests_complete NOW WORD: the clients stopped; every request answered, nothing bad, expired
# or pending, and the servers answered exactly as many as the clients received.
requests_complete() {
	awk -v word="$2" '$2 == "sent" { if ($5 != $3 || $7 != 0 || $9 != 0 || $11 != 0) bad = 1; got += $5 }
		$2 == word { served += $3 }
		END { exit bad || got != served || got == 0 }' "$1"
}

# 1. The image: the suite's initramfs (build-image.sh) and the applications appended (pack-apps.sh).
t_image=$(date +%s%N)
dt_image
SCTPLB_DIAMETER_ECHO=${diameter_echo_fdx:-} bash "$here/apps/pack-apps.sh" "$vmdir" || exit $?
image_ms=$(ms_since "$t_image")
sed 's/^/    /' "$vmdir/image.info" "$vmdir/apps.info"
vm_initrd=$vmdir/initramfs-apps.gz

sw=$prefix-sw
lb_a=$prefix-vm201
lb_b=$prefix-vm202
queue=2
dt_run_dir va
# The exit status is 0 only when the run reached its closing line with no failure (dt_exit).
trap dt_exit EXIT
trap 'exit 1' INT TERM HUP PIPE

# 2. Namespaces: the switch (bridges, taps, qemu) and the two LBs; nothing in the root namespace.
dt_namespaces

# 3. Guests, booted in parallel: the guest helper (apps/guest-apps.sh) goes in through each
# guest's config, so does each application's configuration (NAME_setup_server/_client).
vm_choose_accel
apps_server_setup() { local app; for app in $apps; do "${app}_setup_server" "$1"; done; }
apps_client_setup() {
	local app h
	for h in 222 223 224 225 226 227 228; do echo "ip addr add 192.168.2.$h/24 dev eth2; ip addr add 192.168.6.$h/24 dev eth6"; done
	for app in $apps; do "${app}_setup_client"; done
}
for s in 1 2 3; do
	dt_server_cfg "$s" apps_server_setup >"$state/cfg-vm-00$s"
	vm_mem=160 vm_start "vm-00$s" "$state/cfg-vm-00$s" "1:$(mac 1 "$s")" "4:$(mac 4 "$s")"
done
dt_client_cfg apps_client_setup >"$state/cfg-vm-221"
vm_mem=256 vm_start vm-221 "$state/cfg-vm-221" "2:$(mac 2 221)" "6:$(mac 6 221)"
t_boot=$(date +%s%N)

# 4. The LBs, while the guests boot: vtag mode, association sync over net 3, kernel fast path.
dt_lbs_init "1 2 3"
lb_start 201 & p1=$!
lb_start 202 & p2=$!
wait $p1 && wait $p2 || die "an LB did not start"

say "guests booting (${vm_accel[*]})"
vm_wait_ready vm-001 vm-002 vm-003 vm-221 --timeout 240
boot_ms=$(ms_since "$t_boot")
say "4 guests ready in $boot_ms ms (image $image_ms ms)"

servers=(vm-001 vm-002 vm-003)
all_guests=(vm-001 vm-002 vm-003 vm-221)

# The association view: "server-S LPORT RPORT ST LADDRS|RADDRS" for every association of the
# application's port on every server, and the client's own.
server_assocs() { local s; for s in 1 2 3; do g "vm-00$s" "apps assocs $1" | sed "s/^/server-$s /"; done; }
# An association's key: its client port and the lowest of its client addresses on net 2 (one
# per association for clients bound to an address pair; all of them for a client bound to none).
# client_keys PORT: the client's associations' keys.
client_keys() { g vm-221 "apps assocs $1" | awk '{ split($4, a, "|"); print $1, a[1] }' | assoc_key_of; }
assoc_key_of() { # stdin "PORT ADDRS" -> "LOWEST-192.168.2-ADDR:PORT [FLAG]"
	awk '{ n = split($2, l, ","); k = ""; six = 0
		for (i = 1; i <= n; i++) { if (l[i] ~ /^192\.168\.2\./ && (k == "" || l[i] < k)) k = l[i]; if (l[i] ~ /^192\.168\.6\./) six = 1 }
		print k ":" $1 ($3 == "" ? "" : " " $3 " " (six ? "both" : "one")) }' | sort
}
# placement PORT: "KEY server-S both|one" for every client association: the server(s) holding
# it, "both" when the server knows client addresses of both networks.
placement() {
	server_assocs "$1" >"$state/server-assocs"
	client_keys "$1" >"$state/client-keys"
	awk '{ split($5, a, "|"); print $3, a[2], $1 }' "$state/server-assocs" | assoc_key_of >"$state/server-keys"
	awk 'FILENAME == ARGV[1] { k[$0] = 1; next } $1 in k' "$state/client-keys" "$state/server-keys"
}
established() { [ "$(g vm-221 "apps assocs $1" | awk '$3 == 3' | wc -l)" -ge "$2" ]; }
indata_of_servers() { local s; for s in "${servers[@]}"; do field "$(snmp "$s")" indata; done | tr '\n' ' '; }

# run_app APP: one application's scenario (see the header).
run_app() {
	local app=$1 port n used busiest s k before after t_app
	t_app=$(date +%s%N)
	port=$("${app}_port")
	say "$app: start (port $port)"
	! declare -F "${app}_prepare" >/dev/null || "${app}_prepare"
	sctp_counts_mark
	n=$("${app}_start") || { fail "$app: the clients did not start"; return; }
	if ! vm_until 120 established "$port" "$n"; then
		fail "$app: $n associations not established in 120 s: $(g vm-221 "apps assocs $port" | tr '\n' ';')"
		return
	fi
	if declare -F "${app}_ready" >/dev/null && ! vm_until 180 "${app}_ready"; then
		fail "$app: not ready in 180 s"
	fi
	# Spread: one server per association, both client addresses known to it, every path active.
	paths_watch
	vm_until 60 paths_active "$port" || paths_report "$port" "$app: not every path active on every guest in 60 s"
	placement "$port" >"$state/placement-$app"
	local keys placed dup one
	keys=$(wc -l <"$state/client-keys")
	placed=$(awk '{ print $1 }' "$state/placement-$app" | sort -u | wc -l)
	dup=$(awk '{ print $1 }' "$state/placement-$app" | sort | uniq -d | wc -l)
	one=$(grep -c ' one$' "$state/placement-$app" || true)
	used=$(awk '{ print $2 }' "$state/placement-$app" | sort -u | tr '\n' ' ')
	if [ "$keys" -ge "$n" ] && [ "$placed" = "$keys" ] && [ "$dup" = 0 ] && [ "$one" = 0 ] &&
		[ "$(wc -w <<<"$used")" -ge 2 ]; then
		pass "$app: $keys associations, each on exactly one server with both paths ($used)"
	else
		fail "$app: spread: $keys client associations, $placed placed, $dup on two servers, $one with one path, servers '$used' ($state/placement-$app)"
	fi
	"${app}_check" spread

	# Path A cut until every client declared VIP A's path dead; DATA still reaches the servers.
	say "$app: path A cut"
	before=$(indata_of_servers)
	path_a -A
	if vm_until 90 vip_a_dead "$port"; then
		pass "$app: every association declared the path to 10.0.0.1 dead (failover to path B)"
	else
		fail "$app: the path to 10.0.0.1 was not declared dead everywhere in 90 s"
	fi
	# indata_grew: every server holding associations counted more DATA since the cut.
	indata_grew() {
		local now i=0 b
		now=$(indata_of_servers)
		for s in 1 2 3; do
			b=$(cut -d' ' -f$s <<<"$before")
			i=$(cut -d' ' -f$s <<<"$now")
			if grep -q " server-$s " "$state/placement-$app"; then [ "$i" -gt "$b" ] || return 1; fi
		done
	}
	if declare -F "${app}_idle" >/dev/null; then
		echo "SKIP: $app: no DATA check during the cut ($("${app}_idle"))"
	elif vm_until 60 indata_grew; then
		pass "$app: DATA still reached every server holding associations (path B) during the cut"
	else
		fail "$app: no DATA reached the servers during the cut"
	fi
	path_a -D
	paths_watch
	if vm_until 90 paths_active "$port"; then pass "$app: path A healed, every path active again"; else paths_report "$port" "$app: path A did not come back in 90 s"; fi
	"${app}_check" cut

	# Drain: deactivate the busiest server; its associations stay, new ones avoid it.
	busiest=$(awk '{ print $2 }' "$state/placement-$app" | sort | uniq -c | sort -rn | awk 'NR == 1 { sub("server-", "", $2); print $2 }')
	say "$app: drain server-$busiest"
	lb_cmd 201 deactivate "$busiest" >/dev/null && lb_cmd 202 deactivate "$busiest" >/dev/null || fail "$app: sctplb deactivate"
	local n2
	drained=$busiest
	n2=$("${app}_start_drain") || fail "$app: the drain clients did not start"
	vm_until 120 established "$port" $((n + n2)) || fail "$app: the drain clients did not connect in 120 s"
	if declare -F "${app}_ready" >/dev/null && ! vm_until 180 "${app}_ready"; then
		fail "$app: the drain clients not ready in 180 s"
	fi
	paths_watch
	vm_until 60 paths_active "$port" || paths_report "$port" "$app: not every path active after the drain clients came"
	placement "$port" >"$state/placement-$app-drain"
	local old_kept new_on_drained new_total
	old_kept=$(awk -v s="server-$busiest" '$2 == s { print $1 }' "$state/placement-$app" | while read -r key; do grep -c "^$key server-$busiest " "$state/placement-$app-drain"; done | grep -c '^1$' || true)
	new_total=$(($(wc -l <"$state/placement-$app-drain") - $(wc -l <"$state/placement-$app")))
	new_on_drained=$(comm -13 "$state/placement-$app" "$state/placement-$app-drain" | grep -c " server-$busiest " || true)
	if [ "$old_kept" = "$(grep -c " server-$busiest " "$state/placement-$app")" ] && [ "$new_total" -ge "$n2" ] && [ "$new_on_drained" = 0 ]; then
		pass "$app: drain: server-$busiest kept its $old_kept associations, $new_total new ones avoided it ($(comm -13 "$state/placement-$app" "$state/placement-$app-drain" | awk '{ print $2 }' | sort | uniq -c | tr '\n' ' '))"
	else
		fail "$app: drain: server-$busiest kept $old_kept, $new_total new, $new_on_drained of them on it"
	fi
	lb_cmd 201 activate "$busiest" >/dev/null && lb_cmd 202 activate "$busiest" >/dev/null || fail "$app: sctplb activate"
	"${app}_check" drain

	# Both LB daemons killed (kill -9) for 5 s: the kernel fast path carries the associations.
	say "$app: both LBs kill -9 for 5 s"
	local pid marked_before marked_after
	marked_before=$(kernel_marked)
	for k in 201 202; do
		pid=$(awk -v n="lb-$k" '$2 == n { p = $1 } END { print p }' "$state/pids")
		kill -9 "$pid" 2>/dev/null || fail "$app: cannot kill lb-$k ($pid)"
	done
	# The scenario is "5 s without LB daemons" (not a wait for a condition).
	sleep 5
	lb_start 201 & p1=$!
	lb_start 202 & p2=$!
	wait $p1 && wait $p2 || fail "$app: an LB did not restart"
	marked_after=$(kernel_marked)
	if [ "${marked_after% *}" -gt "${marked_before% *}" ] && [ "${marked_after#* }" -gt "${marked_before#* }" ]; then
		pass "$app: both kernel fast paths kept forwarding (packets marked by vm-201 vm-202: $marked_before -> $marked_after)"
	else
		fail "$app: a fast path forwarded nothing while the LBs were down ($marked_before -> $marked_after)"
	fi
	placement "$port" >"$state/placement-$app-kill"
	if cmp -s "$state/placement-$app-drain" "$state/placement-$app-kill"; then
		pass "$app: every association ($(wc -l <"$state/placement-$app-kill")) kept its server through the LB kill"
	else
		fail "$app: associations changed through the LB kill: $(diff "$state/placement-$app-drain" "$state/placement-$app-kill" | tr '\n' ';')"
	fi
	paths_watch
	vm_until 60 paths_active "$port" || paths_report "$port" "$app: not every path active after the LB restart"
	"${app}_check" kill

	# No ABORT, no out-of-the-blue packet anywhere; no reconnect in the application's logs.
	local aborts=0 ootb=0 reconnects
	sctp_counts_since "$app: " || true  # its fail lines count
	reconnects=$("${app}_reconnects")
	[ "$reconnects" = 0 ] || fail "$app: $reconnects reconnects in the application's logs"
	[ "$aborts" != 0 ] || [ "$ootb" != 0 ] || [ "$reconnects" != 0 ] || pass "$app: no ABORT, no out-of-the-blue packet, no reconnect"
	jq -cn --arg app "$app" --argjson assocs "$(wc -l <"$state/placement-$app-kill")" \
		--arg servers "$(awk '{ print $2 }' "$state/placement-$app-kill" | sort | uniq -c | awk '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $2, $1 }')" \
		--argjson aborts "$aborts" --argjson ootb "$ootb" --argjson reconnects "$reconnects" --argjson ms "$(ms_since "$t_app")" \
		'{application: $app, associations: $assocs, servers: ($servers | split(",") | map(split("=") | {(.[0]): (.[1] | tonumber)}) | add), aborts: $aborts, out_of_the_blue: $ootb, reconnects: $reconnects, ms: $ms}'
	"${app}_stop"
}

# guest_logs: the guests' logs (/var/log: the applications', vm-setup's) into the run directory.
guest_logs() {
	local gname
	for gname in "${all_guests[@]}"; do
		g "$gname" 'for f in /var/log/*.log; do echo "=== $f"; tail -n 200 "$f"; done' >"$state/$gname.logs" 2>&1 || true
	done
}
for app in $apps; do
	before=$failures
	run_app "$app"
	[ "$failures" = "$before" ] || guest_logs
done
for gname in "${all_guests[@]}"; do vm_alive "$gname" || fail "guest $gname died"; done
failures=$(failures_total)
say "done in $(ms_since "$t_start") ms (image $image_ms ms, boot $boot_ms ms); $failures failure(s)"
finished=1
[ "$failures" -eq 0 ]
