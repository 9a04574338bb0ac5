#! /bin/sh
# shellcheck disable=SC2317,SC2154,SC2034
# (cmd_* and test_* run by name; __ variables come from the options, begin/start/indent are
# Xcluster test library variables)
##
## sctplb.sh -- the Xcluster overlay "sctplb": experiments and tests with the sctplb load
##   balancer on Xcluster's "dual-path" network topology, kernel SCTP everywhere.
##
##   servers vm-001..00N (VIPs 10.0.0.1 10.0.0.2 fd00::1:1 fd00::1:2 on lo, sctpt servers)
##   LB vm-201 (path A: VIP 10.0.0.1, fd00::1:1 -> servers on net 1)
##   LB vm-202 (path B: VIP 10.0.0.2, fd00::1:2 -> servers on net 4)
##   routers vm-203 (net 3/2), vm-204 (net 5/6); client vm-221 (net 2 and net 6)
##   LB sync (vtag mode) over net 0: 192.168.0.201:7400 <-> 192.168.0.202:7400
##
## Commands:
##
##   env
##     Print the settings (the __ variables).
##
##   test --list
##   test [--xterm] [--no-stop] [--nvm=3] [--mode=ports|vtag] [test...] > logfile
##     Run tests (default: ports vtag_sync failover). --no-stop leaves the cluster running.
##
## Tests:
##   start        the cluster and the whole setup (servers, routes, both LBs); --mode=ports
##                (default) or vtag (then with association sync between the LBs)
##   ports        ports mode: 8 multihomed associations, traffic on path A then path B,
##                every association pinned to one server, spread over at least 2
##   vtag_sync    the same in vtag mode with the LBs syncing (path B's LB never sees the INIT)
##   failover     path A is cut at vm-201 during traffic: associations fail over to path B
##                (through vm-202) and lose nothing; vtag mode with sync unless --mode=ports
##   lb_crash     'kill -9' of the LB on vm-201 during traffic and a restart: the associations
##                continue from the shared memory
##
## Needs Xcluster ($XCLUSTER) with the ovls network-topology, iptools and test.
##

prg=$(basename "$0")
dir=$(cd "$(dirname "$0")" && pwd)
me=$dir/$prg
tmp=/tmp/${prg}_$$

die() {
	echo "ERROR: $*" >&2
	rm -rf "$tmp"
	exit 1
}
help() {
	grep '^##' "$0" | cut -c3-
	rm -rf "$tmp"
	exit 0
}
test -n "$1" || help
echo "$1" | grep -qi '^help\|^-h' && help

log() { echo "$prg: $*" >&2; }

cmd_env() {
	test -n "$__nvm" || __nvm=3
	test -n "$__port" || __port=36412
	if test "$cmd" = env; then
		set | grep -E '^__[a-z_]+='
		return 0
	fi
	test -n "$XCLUSTER" || die "Not set [\$XCLUSTER]"
	test -x "$XCLUSTER" || die "Not executable [$XCLUSTER]"
	eval "$($XCLUSTER env)"
}

cmd_test() {
	if test "$__list" = yes; then
		grep '^test_' "$me" | cut -d'(' -f1 | sed -e 's,test_,,'
		return 0
	fi
	cmd_env
	start=starts
	test "$__xterm" = yes && start=start
	rm -f "$XCLUSTER_TMP/cdrom.iso"
	if test -n "$1"; then
		for t in "$@"; do
			"test_$t"
		done
	else
		for t in ports vtag_sync failover; do
			"test_$t"
		done
	fi
	now=$(date +%s)
	tlog "Xcluster test ended. Total time $((now - begin)) sec"
}

# Addresses of the dual-path topology (ovl/network-topology/dual-path).
v6() { echo "${PREFIX:-1000::1}:$1"; }
servers() { seq 1 "$__nvm"; }

# targets NET: sctplb targets of an LB whose servers are on NET (1 for vm-201, 4 for vm-202).
targets() {
	tg=''
	for n in $(servers); do
		tg="$tg --target=$n=192.168.$1.$n --target=$n=$(v6 "192.168.$1.$n")"
	done
	echo "$tg"
}

test_start() {
	test -n "$__mode" || __mode=ports
	tlog "=== sctplb: start (mode $__mode)"
	export TOPOLOGY=dual-path
	export __image="$XCLUSTER_HOME/hd.img"
	echo "$XOVLS" | grep -q private-reg && unset XOVLS
	# shellcheck disable=SC1090 # Xcluster's file
	. "$($XCLUSTER ovld network-topology)/$TOPOLOGY/Envsettings"
	export __nvm
	xcluster_start network-topology iptools sctplb

	for n in $(servers); do
		otc "$n" sctp_sysctls vip_setup "server_start --port=$__port"
	done
	# Each path's router sends its VIPs to its LB; the client reaches VIP B on net 6.
	otc 203 "route 10.0.0.1/32 192.168.3.201" "route fd00::1:1/128 $(v6 192.168.3.201)"
	otc 204 "route 10.0.0.2/32 192.168.5.202" "route fd00::1:2/128 $(v6 192.168.5.202)"
	otc 221 sctp_sysctls rp_filter_off "route 10.0.0.2/32 192.168.6.204" \
		"route fd00::1:2/128 $(v6 192.168.6.204)"

	sync_a='' sync_b=''
	if test "$__mode" = vtag; then
		# In vtag mode vm-202 never sees an INIT: the LBs tell each other every association.
		sync_a='--sync-listen=192.168.0.201:7400 --sync-peer=192.168.0.202:7400'
		sync_b='--sync-listen=192.168.0.202:7400 --sync-peer=192.168.0.201:7400'
	fi
	otc 201 "lb_setup --mode=$__mode --vip=10.0.0.1,fd00::1:1 $(targets 1) $sync_a"
	otc 202 "lb_setup --mode=$__mode --vip=10.0.0.2,fd00::1:2 $(targets 4) $sync_b"
	# Together: with sync, each waits up to 2 s for the other's table at start.
	rsh 201 sctplb_test tcase_lb_start &
	pid_a=$!
	otc 202 lb_start
	wait "$pid_a" || tdie "lb_start on vm-201"
}

# traffic: 8 multihomed associations from vm-221 over both VIPs, path A first, then path B
# as primary after 20 messages (pinning on both paths).
traffic_args='--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 8 --rate 10'
traffic_args="$traffic_args --primary 10.0.0.2 --primary-after 20"

check_pinning() {
	otc 221 "ctraffic --min-servers=2 $traffic_args --duration 4 --port $__port"
	otc 201 "sctplb stats"
	otc 202 "sctplb stats"
}

test_ports() {
	tlog "=== sctplb: ports mode, two LBs without sync"
	__mode=ports
	test_start
	check_pinning
	xcluster_stop
}

test_vtag_sync() {
	tlog "=== sctplb: vtag mode, two LBs with association sync"
	__mode=vtag
	test_start
	check_pinning
	otc 202 "sctplb assoc"
	xcluster_stop
}

test_failover() {
	test -n "$__mode" || __mode=vtag
	tlog "=== sctplb: failover from path A to path B ($__mode mode)"
	test_start
	otc 221 "ctraffic_start --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 4 --rate 10 --duration 10 --port $__port"
	otc 221 ctraffic_running
	otc 201 path_cut
	otc 221 "ctraffic_wait --min-failovers=1 --timeout=60"
	otc 201 path_heal
	otc 202 "sctplb stats"
	xcluster_stop
}

test_lb_crash() {
	tlog "=== sctplb: kill -9 and restart of the LB on vm-201 during traffic ($__mode mode)"
	test_start
	otc 221 "ctraffic_start --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 4 --rate 10 --duration 8 --port $__port"
	otc 221 ctraffic_running
	otc 201 "lb_stop --signal=KILL"
	sleep 1 # the LB stays dead for a while (the scenario, not a wait)
	otc 201 lb_start
	otc 221 "ctraffic_wait --timeout=60"
	xcluster_stop
}

# Xcluster's test library (tlog, tcase, tdie, otc, rsh, xcluster_start, xcluster_stop).
if test -n "$XCLUSTER" && test -x "$XCLUSTER"; then
	# shellcheck disable=SC1090,SC1091
	. "$($XCLUSTER ovld test)/default/usr/lib/xctest"
fi
indent=''

# Get the command
cmd=$1
shift
grep -q "^cmd_$cmd()" "$0" || die "Invalid command [$cmd]"

while echo "$1" | grep -q '^--'; do
	if echo "$1" | grep -q =; then
		o=$(echo "$1" | cut -d= -f1 | sed -e 's,-,_,g')
		v=$(echo "$1" | cut -d= -f2-)
		eval "$o=\"\$v\""
	else
		o=$(echo "$1" | sed -e 's,-,_,g')
		eval "$o=yes"
	fi
	shift
done
unset o v

# Execute command
trap "die Interrupted" INT TERM
"cmd_$cmd" "$@"
status=$?
rm -rf "$tmp"
exit $status
