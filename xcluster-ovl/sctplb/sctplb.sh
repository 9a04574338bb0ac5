#! /bin/sh
# shellcheck disable=SC2317,SC2154,SC2034
# (cmd_* and test_* run by name; __ variables come from the options, begin/indent are Xcluster
# test library variables)
##
## sctplb.sh --
##
##   Help script for the Xcluster ovl/sctplb: the sctplb load balancer on the "dual-path"
##   network topology, kernel SCTP in every VM.
##
##   servers vm-001..00N (VIPs 10.0.0.1 10.0.0.2 fd00::1:1 fd00::1:2 on lo, sctpt servers)
##   LB vm-201 (path A: VIP 10.0.0.1, fd00::1:1 -> servers on net 1)
##   LB vm-202 (path B: VIP 10.0.0.2, fd00::1:2 -> servers on net 4)
##   routers vm-203 (net 3/2), vm-204 (net 5/6); client vm-221 (net 2 and net 6)
##   LB sync (vtag): 192.168.7.201:7400 <-> 192.168.7.202:7400 on net 7 (--sync-net)
##
## Commands;
##
##   env
##     Print the settings (the __ variables and xcluster_PREFIX).
##
##   build [--src=$SCTPLB_SRC] [--build-dir=$SCTPLB_BUILD_DIR]
##     Configure and build sctplb and a static sctpt for the VMs (-DSCTPT_STATIC=ON, needs
##     libsctp.a and libusrsctp.a). SCTPLB_SRC: the sctplb source tree (default: the tree
##     this overlay sits in, if it does); build dir default $SCTPLB_SRC/build-xcluster, where
##     the overlay's tar looks first.
##
##   test --list
##   test [--xterm] [--no-stop] [options] [test] [ovls...] > logfile
##     Run one test (default: "default"); extra ovls go to xcluster_start.
##     Options (defaults):
##       --nvm=3                servers vm-001..vm-00N
##       --hash=ports|vtag      the LBs' hash (start: ports; failover, lb_crash: vtag)
##       --sync-net=7           Xcluster net of the LBs' association sync; 0 works only when
##                              Xcluster runs in its own netns (user-space net 0 is per VM)
##       --port=36412           the servers' SCTP port
##       --traffic-timeout=120  longest wait for a ctraffic run (xctest's __timeout is 10)
##       --results=DIR          where rcp brings the ctraffic JSON and the logs
##                              ($XCLUSTER_TMP/sctplb-results)
##       --encap-port=9899      the udp test's SCTP over UDP port (RFC 6951)
##
## Tests;
##   start_empty   the cluster: dual-path topology, the sync net on the LBs, no setup
##   start         start_empty, then servers, routes and both LBs (--hash, sync when vtag)
##   default       ports, vtag_sync and failover, one after the other
##   ports         ports hash: 8 multihomed associations, traffic on path A then path B,
##                 every association pinned to one server, spread over at least 2
##   vtag_sync     the same with the vtag hash and the LBs syncing (vm-202 never sees an INIT)
##   failover      path A is cut at vm-201 during traffic: associations fail over to path B
##                 (through vm-202) and lose nothing; vtag with sync unless --hash=ports
##   lb_crash      'kill -9' of the LB on vm-201 during traffic and a restart: the
##                 associations continue from the shared memory
##   ecmp          the baseline without sctplb: the LBs replaced by ECMP routes over the
##                 servers (L4 hash); 16 multihomed associations must break (ABORTs at the
##                 client, out-of-the-blue packets at the servers); then the LBs come back
##                 and the same traffic is pinned
##   multihoming   plain multihoming, no VIP and no LB: a client to vm-001's own two
##                 addresses, path A cut at vm-201 during traffic, failover without loss
##   udp           SCTP over UDP (RFC 6951): encapsulation sysctls on every endpoint, LBs
##                 with --encap-port; pinning on both paths, then path A cut (SCTP and UDP)
##   ipv6          both paths IPv6 (fd00::1:1 and fd00::1:2): pinning, then path A cut
##
## Needs $XCLUSTER and the Xcluster ovls network-topology, iptools and test.
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
	test "$envset" = yes && return 0
	envset=yes
	test -n "$__nvm" || __nvm=3
	test -n "$__port" || __port=36412
	test -n "$__sync_net" || __sync_net=7
	test -n "$__traffic_timeout" || __traffic_timeout=120
	test -n "$__encap_port" || __encap_port=9899
	# The VMs' IPv6 addresses are $PREFIX:192.168.N.M; xcluster_start passes it to them.
	test -n "$xcluster_PREFIX" || xcluster_PREFIX=${PREFIX:-fd00:}
	export xcluster_PREFIX
	if test "$cmd" = env; then
		set | grep -E '^(__[a-z_]+|xcluster_PREFIX)='
		return 0
	fi
	test -n "$XCLUSTER" || die "Not set [\$XCLUSTER]"
	test -x "$XCLUSTER" || die "Not executable [$XCLUSTER]"
	eval "$($XCLUSTER env)"
	test -n "$__results" || __results=${XCLUSTER_TMP:-/tmp/$(id -un)}/sctplb-results
}

# The sctplb source tree: SCTPLB_SRC, else the tree this overlay sits in.
sctplb_src() {
	if test -n "$SCTPLB_SRC"; then
		echo "$SCTPLB_SRC"
	elif grep -qs 'project(sctplb' "$dir/../../CMakeLists.txt"; then
		(cd "$dir/../.." && pwd)
	fi
}

cmd_build() {
	src=${__src:-$(sctplb_src)}
	test -n "$src" || die "Not in the sctplb tree: set SCTPLB_SRC (or --src=) to the sctplb source"
	test -r "$src/CMakeLists.txt" || die "No CMakeLists.txt in [$src]"
	build=${__build_dir:-${SCTPLB_BUILD_DIR:-$src/build-xcluster}}
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSCTPT_STATIC=ON \
		-DSCTPLB_BUILD_TESTS=OFF -DSCTPLB_BUILD_BENCHMARKS=OFF >&2 || die "cmake configure"
	cmake --build "$build" --target sctplb sctpt >&2 || die "cmake build"
	log "built: $build/lb/cli/sctplb $build/test-apps/sctpt/sctpt (./tar finds them)"
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
	hash_opt=$__hash
	t=default
	if test -n "$1"; then
		t=$1
		shift
	fi
	grep -q "^test_$t()" "$me" || die "Invalid test [$t] (test --list)"
	"test_$t" "$@"
	now=$(date +%s)
	tlog "Xcluster test ended. Total time $((now - begin)) sec"
}

# Addresses of the dual-path topology (ovl/network-topology/dual-path).
v6() { echo "$xcluster_PREFIX:$1"; }
servers() { seq 1 "$__nvm"; }

# targets NET: sctplb targets of an LB whose servers are on NET (1 for vm-201, 4 for vm-202).
targets() {
	tg=''
	for n in $(servers); do
		tg="$tg --target=$n=192.168.$1.$n --target=$n=$(v6 "192.168.$1.$n")"
	done
	echo "$tg"
}

#   test start_empty [ovls...]
test_start_empty() {
	export TOPOLOGY=dual-path
	export __image="$XCLUSTER_HOME/hd.img"
	echo "$XOVLS" | grep -q private-reg && unset XOVLS
	# shellcheck disable=SC1090 # Xcluster's file
	. "$($XCLUSTER ovld network-topology)/$TOPOLOGY/Envsettings"
	# The LBs share only net 0, and with user-space networking (Xcluster in the main netns)
	# each VM's net 0 is a qemu user network of its own: the sync gets a net of its own.
	case $__sync_net in '' | *[!0-9]*) die "--sync-net is a number" ;; esac
	if test "$__sync_net" = 0; then
		ip link show xcbr1 >/dev/null 2>&1 ||
			die "--sync-net=0 needs Xcluster in its own netns (xc nsadd); net 0 is per VM otherwise"
	else
		export __nets201="$__nets201,$__sync_net" __nets202="$__nets202,$__sync_net"
		if ip netns id 2>/dev/null | grep -q _xcluster && ! ip link show "xcbr$__sync_net" >/dev/null 2>&1; then
			$XCLUSTER br_setup "$__sync_net" || tdie "br_setup $__sync_net"
		fi
	fi
	export __nvm
	xcluster_start network-topology iptools sctplb "$@"
	if test "$__sync_net" != 0; then
		otc 201 "net_setup $__sync_net"
		otc 202 "net_setup $__sync_net"
	fi
}

#   test [--hash=ports|vtag] start [ovls...]
test_start() {
	hash=${__hash:-ports}
	tlog "=== sctplb: start (hash $hash)"
	test_start_empty "$@"

	for n in $(servers); do
		otc "$n" sctp_sysctls vip_setup "server_start --port=$__port"
	done
	# Each path's router sends its VIPs to its LB; the client reaches VIP B on net 6.
	otc 203 "route 10.0.0.1/32 192.168.3.201" "route fd00::1:1/128 $(v6 192.168.3.201)"
	otc 204 "route 10.0.0.2/32 192.168.5.202" "route fd00::1:2/128 $(v6 192.168.5.202)"
	otc 221 sctp_sysctls rp_filter_off "route 10.0.0.2/32 192.168.6.204" \
		"route fd00::1:2/128 $(v6 192.168.6.204)"
	lbs_start "$hash"
}

# lbs_start HASH [lb_setup options...]: both LBs set up and started (sync when vtag).
lbs_start() {
	hash=$1
	shift
	sync_a='' sync_b=''
	if test "$hash" = vtag; then
		# With the vtag hash vm-202 never sees an INIT: the LBs tell each other every association.
		sync_a="--sync-listen=192.168.$__sync_net.201:7400 --sync-peer=192.168.$__sync_net.202:7400"
		sync_b="--sync-listen=192.168.$__sync_net.202:7400 --sync-peer=192.168.$__sync_net.201:7400"
	fi
	otc 201 "lb_setup --hash=$hash --vip=10.0.0.1,fd00::1:1 $(targets 1) $sync_a $*"
	otc 202 "lb_setup --hash=$hash --vip=10.0.0.2,fd00::1:2 $(targets 4) $sync_b $*"
	# Together: with sync, each waits up to 2 s for the other's table at start.
	rsh 201 sctplb_test tcase_lb_start &
	pid_a=$!
	otc 202 lb_start
	wait "$pid_a" || tdie "lb_start on vm-201"
}

#   test default [ovls...]
test_default() {
	test_ports "$@"
	test_vtag_sync "$@"
	test_failover "$@"
}

# results NAME: the client's ctraffic JSON and log, and both LBs' logs, to $__results/NAME.
results() {
	rd=$__results/$1
	mkdir -p "$rd" || tdie "cannot make $rd"
	for f in sctpt-ctraffic.json sctpt-ctraffic.json.log; do
		rcp 221 "/var/log/$f" "$rd/$f" || tlog "rcp vm-221:/var/log/$f failed"
	done
	for vm in 201 202; do
		rcp "$vm" /var/log/sctplb.log "$rd/sctplb-vm-$vm.log" || tlog "rcp vm-$vm:/var/log/sctplb.log failed"
	done
	tlog "results in $rd"
}

# traffic: 8 multihomed associations from vm-221 over both VIPs, path A first, then path B
# as primary after 20 messages (pinning on both paths).
traffic_args='--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 8 --rate 10'
traffic_args="$traffic_args --primary 10.0.0.2 --primary-after 20"

check_pinning() {
	otc 221 "ctraffic --min-servers=2 --timeout=$__traffic_timeout $traffic_args --duration 4 --port $__port"
	otc 201 "sctplb stats"
	otc 202 "sctplb stats"
}

#   test ports [ovls...]
test_ports() {
	tlog "=== sctplb: ports hash, two LBs without sync"
	__hash=ports
	test_start "$@"
	check_pinning
	results ports
	xcluster_stop
}

#   test vtag_sync [ovls...]
test_vtag_sync() {
	tlog "=== sctplb: vtag hash, two LBs with association sync"
	__hash=vtag
	test_start "$@"
	check_pinning
	otc 202 "sctplb assoc"
	results vtag_sync
	xcluster_stop
}

ctraffic_args='--addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 4 --rate 10'

#   test [--hash=vtag|ports] failover [ovls...]
test_failover() {
	__hash=${hash_opt:-vtag}
	tlog "=== sctplb: failover from path A to path B ($__hash hash)"
	test_start "$@"
	otc 221 "ctraffic_start $ctraffic_args --duration 10 --port $__port"
	otc 221 "ctraffic_running --timeout=$__traffic_timeout"
	otc 201 path_cut
	otc 221 "ctraffic_wait --min-failovers=1 --timeout=$__traffic_timeout"
	otc 201 path_heal
	otc 202 "sctplb stats"
	results failover
	xcluster_stop
}

#   test [--hash=vtag|ports] lb_crash [ovls...]
test_lb_crash() {
	__hash=${hash_opt:-vtag}
	tlog "=== sctplb: kill -9 and restart of the LB on vm-201 during traffic ($__hash hash)"
	test_start "$@"
	otc 221 "ctraffic_start $ctraffic_args --duration 8 --port $__port"
	otc 221 "ctraffic_running --timeout=$__traffic_timeout"
	otc 201 "lb_stop --signal=KILL"
	sleep 1 # the LB stays dead for a while (the scenario, not a wait)
	otc 201 lb_start
	otc 221 "ctraffic_wait --timeout=$__traffic_timeout"
	results lb_crash
	xcluster_stop
}

# ecmp_targets NET: the servers on NET as one --target= list (tcase_ecmp_setup).
ecmp_targets() {
	et=''
	for n in $(servers); do et="$et${et:+,}$n=192.168.$1.$n,$n=$(v6 "192.168.$1.$n")"; done
	echo "--target=$et"
}

#   test ecmp [ovls...]
test_ecmp() {
	__hash=${hash_opt:-ports}
	tlog "=== sctplb: ECMP baseline: pinning breaks without sctplb, holds with it"
	test_start "$@"
	otc 201 lb_teardown "ecmp_setup --vip=10.0.0.1,fd00::1:1 $(ecmp_targets 1)"
	otc 202 lb_teardown "ecmp_setup --vip=10.0.0.2,fd00::1:2 $(ecmp_targets 4)"
	# Each path is hashed on its own 5-tuple: the two paths of an association reach the same
	# server with probability 1/N; all 16 associations keep together with (1/N)^16.
	otc 221 "ctraffic_broken --addr 10.0.0.1,10.0.0.2 --laddr 192.168.2.221,192.168.6.221 --clients 16 --rate 10 --primary 10.0.0.2 --primary-after 5 --duration 2 --port $__port"
	# The servers' halves of the broken associations end on the client's ABORTs, which reach
	# them through the ECMP routes (the INIT's path hashes to that server): before the teardown.
	for n in $(servers); do otc "$n" snmp "no_assoc --timeout=$__traffic_timeout"; done
	results ecmp
	otc 201 "ecmp_teardown --vip=10.0.0.1,fd00::1:1"
	otc 202 "ecmp_teardown --vip=10.0.0.2,fd00::1:2"
	lbs_start "$__hash"
	check_pinning
	xcluster_stop
}

#   test multihoming [ovls...]
test_multihoming() {
	tlog "=== sctplb: plain multihoming, no VIP and no LB, failover from path A to path B"
	test_start_empty "$@"
	otc 1 sctp_sysctls "server_start --port=$__port --vip=192.168.1.1,192.168.4.1"
	otc 221 sctp_sysctls rp_filter_off
	otc 221 "ctraffic_start --addr 192.168.1.1,192.168.4.1 --laddr 192.168.2.221,192.168.6.221 --clients 4 --rate 10 --duration 10 --port $__port"
	otc 221 "ctraffic_running --timeout=$__traffic_timeout"
	otc 201 path_cut
	otc 221 "ctraffic_wait --min-failovers=1 --timeout=$__traffic_timeout"
	otc 201 path_heal
	results multihoming
	xcluster_stop
}

#   test [--hash=ports|vtag] [--encap-port=9899] udp [ovls...]
test_udp() {
	__hash=${hash_opt:-ports}
	tlog "=== sctplb: SCTP over UDP port $__encap_port (RFC 6951) through sctplb ($__hash hash)"
	test_start_empty "$@"
	# Encapsulation before the servers start: a socket copies net.sctp.encap_port when made.
	for n in $(servers); do
		otc "$n" sctp_sysctls "sctp_udp --encap-port=$__encap_port" vip_setup "server_start --port=$__port"
	done
	otc 203 "route 10.0.0.1/32 192.168.3.201" "route fd00::1:1/128 $(v6 192.168.3.201)"
	otc 204 "route 10.0.0.2/32 192.168.5.202" "route fd00::1:2/128 $(v6 192.168.5.202)"
	otc 221 sctp_sysctls "sctp_udp --encap-port=$__encap_port" rp_filter_off \
		"route 10.0.0.2/32 192.168.6.204" "route fd00::1:2/128 $(v6 192.168.6.204)"
	lbs_start "$__hash" "--encap-port=$__encap_port"
	check_pinning
	otc 221 "ctraffic_start $ctraffic_args --duration 10 --port $__port"
	otc 221 "ctraffic_running --timeout=$__traffic_timeout"
	otc 201 "path_cut --encap-port=$__encap_port"
	otc 221 "ctraffic_wait --min-failovers=1 --timeout=$__traffic_timeout"
	otc 201 path_heal
	otc 201 "sctplb stats"
	otc 202 "sctplb stats"
	results udp
	xcluster_stop
}

#   test [--hash=ports|vtag] ipv6 [ovls...]
test_ipv6() {
	__hash=${hash_opt:-ports}
	tlog "=== sctplb: IPv6 on both paths ($__hash hash)"
	test_start "$@"
	v6_args="--addr fd00::1:1,fd00::1:2 --laddr $(v6 192.168.2.221),$(v6 192.168.6.221) --rate 10 --port $__port"
	otc 221 "ctraffic --min-servers=2 --timeout=$__traffic_timeout $v6_args --clients 8 --primary fd00::1:2 --primary-after 20 --duration 4"
	otc 221 "ctraffic_start $v6_args --clients 4 --duration 10"
	otc 221 "ctraffic_running --timeout=$__traffic_timeout"
	otc 201 path_cut
	otc 221 "ctraffic_wait --min-failovers=1 --timeout=$__traffic_timeout"
	otc 201 path_heal
	otc 201 "sctplb stats"
	otc 202 "sctplb stats"
	results ipv6
	xcluster_stop
}

# Xcluster's test library (tlog, tcase, tdie, otc, rsh, rcp, xcluster_start, xcluster_stop).
# It sets __nvm=4 unless set: "X" keeps our default (cmd_env) in force, as Xcluster's
# template-k8s does. Sourced in a function: with "$1" = help it prints its own help.
xctest_load() {
	# shellcheck disable=SC1090,SC1091
	. "$($XCLUSTER ovld test)/default/usr/lib/xctest"
}
if test -n "$XCLUSTER" && test -x "$XCLUSTER"; then
	test -n "$__nvm" || __nvm=X
	xctest_load
	test "$__nvm" = X && unset __nvm
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
case ${__hash:-ports} in ports | vtag) ;; *) die "--hash is ports or vtag, not [$__hash]" ;; esac

# Execute command
trap "die Interrupted" INT TERM
"cmd_$cmd" "$@"
status=$?
rm -rf "$tmp"
exit $status
