#!/bin/bash
# test-xctest-driver.sh: runs xcluster-ovl/sctplb/sctplb.sh through Xcluster's real test driver
# (fixture/ovl/test/default/usr/lib/xctest, unchanged, see fixture/PROVENANCE) with a stand-in
# $XCLUSTER, and checks what reaches the VMs. No root, no network, no VMs:
#   - the stand-in $XCLUSTER answers env, ovld, mkcdrom, starts/start, stop, br_setup, cplib and
#     records each call (mkcdrom also the environment the VMs would get);
#   - stand-ins for ssh and scp (first on PATH: xctest's rsh and rcp call them) record each
#     command per VM, answer 'hostname', and check every 'sctplb_test tcase_X --opt...' against
#     the overlay's own sctplb_test: the test case exists and every option is one it takes
#     (a wrong one fails the call, so xctest's otc fails the run, as in a VM).
# Checks: help once, the __nvm default (3) under xctest's 4, --hash and --sync-* on the LBs (no
# --mode), the sync net on both LBs, extra ovls passed to mkcdrom, IPv6 with the PREFIX, long
# waits with their own timeouts, the results brought home with rcp, and that sctplb_test ignores
# an inherited __timeout. With an sctplb build (SCTPLB_BIN): tar uses '$XCLUSTER cplib'.
set -u

src=${SCTPLB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$src/tests/xcluster
ovl=$src/xcluster-ovl/sctplb
fixture=$here/fixture
work=$(mktemp -d /tmp/sctplb-xctest.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() { # expect DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@" >"$work/expect.out" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/    /' "$work/expect.out"; fi
}
calls=$work/calls # "WHO<TAB>words": WHO is xc, xc-env, or vm-N

mkdir -p "$work/bin" "$work/home" "$work/tmp"
# --- the stand-in $XCLUSTER
cat >"$work/bin/xc" <<EOF
#!/bin/sh
printf 'xc\t%s\n' "\$*" >>"$calls"
case \$1 in
env) echo "XCLUSTER_HOME=$work/home; XCLUSTER_TMP=$work/tmp; XCLUSTER_WORKSPACE=$work" ;;
ovld)
	case \$2 in
	test | network-topology) echo "$fixture/ovl/\$2" ;;
	sctplb) echo "$ovl" ;;
	*) echo "stand-in xc: no ovl \$2" >&2; exit 1 ;;
	esac ;;
mkcdrom)
	printf 'xc-env\t__nvm=%s __nrouters=%s __ntesters=%s __nets201=%s __nets202=%s xcluster_PREFIX=%s\n' \
		"\$__nvm" "\$__nrouters" "\$__ntesters" "\$__nets201" "\$__nets202" "\$xcluster_PREFIX" >>"$calls" ;;
cplib)
	for a; do case \$a in --dest=*) d=\${a#--dest=} ;; esac; done
	mkdir -p "\$d/stand-in-cplib" && : >"\$d/stand-in-cplib/marker" ;;
starts | start | stop | br_setup) ;;
*) echo "stand-in xc: unknown command \$1" >&2; exit 1 ;;
esac
EOF
# --- ssh/scp: the VM from xctest's address (192.168.0.VM) or port (12300+VM)
cat >"$work/bin/vm-of" <<'EOF'
#!/bin/sh
# vm-of ARGS...: the VM number of an ssh/scp command line of xctest's rsh/rcp
while test $# -gt 0; do
	case $1 in
	-p | -P) echo $(($2 - 12300)); exit 0 ;;
	root@192.168.0.*) v=${1#root@192.168.0.}; echo "${v%%:*}"; exit 0 ;;
	esac
	shift
done
exit 1
EOF
cat >"$work/bin/ssh" <<EOF
#!/bin/sh
vm=\$("$work/bin/vm-of" "\$@") || { echo "stand-in ssh: no VM in [\$*]" >&2; exit 255; }
while test \$# -gt 0; do case \$1 in root@*) shift; break ;; esac; shift; done
printf 'vm-%s\t%s\n' "\$vm" "\$*" >>"$calls"
case \$1 in
hostname) printf 'vm-%03d\n' "\$vm" ;;
sctplb_test)
	shift
	tc=\$1
	shift
	"$ovl/default/bin/sctplb_test" list | grep -qx "\$tc" || { echo "FAILED: no \$tc in sctplb_test" >&2; exit 1; }
	eval "\$(grep '^known_options=' "$ovl/default/bin/sctplb_test")"
	known=\$known_options
	for a; do
		case \$a in --*=*) o=\${a#--}; o=\${o%%=*} ;; *) break ;; esac
		case " \$known " in *" \$o "*) ;; *) echo "FAILED: \$tc: sctplb_test takes no --\$o" >&2; exit 1 ;; esac
	done
	echo "\$tc: OK" ;;
esac
exit 0
EOF
cat >"$work/bin/scp" <<EOF
#!/bin/sh
vm=\$("$work/bin/vm-of" "\$@") || exit 1
for a; do case \$a in root@*:*) remote=\${a#*:} ;; esac; local=\$a; done
printf 'rcp-%s\t%s %s\n' "\$vm" "\$remote" "\$local" >>"$calls"
echo "from vm-\$vm:\$remote" >"\$local"
EOF
chmod +x "$work/bin/"*
export PATH=$work/bin:$PATH XCLUSTER=$work/bin/xc
unset __nvm __hash __mode PREFIX xcluster_PREFIX XCLUSTER_TMP
sctplb_sh=$ovl/sctplb.sh

# --- help, env, list
"$sctplb_sh" help >"$work/help" 2>&1
expect "help prints once" test "$(grep -c '^ *sctplb.sh --' "$work/help")" = 1
"$sctplb_sh" >"$work/help" 2>&1
expect "no command: help once" test "$(grep -c '^ *sctplb.sh --' "$work/help")" = 1
"$sctplb_sh" env >"$work/env" 2>&1
expect "env: __nvm='3' under xctest (its default is 4)" grep -qx "__nvm='3'" "$work/env"
expect "env: xcluster_PREFIX='fd00:'" grep -qx "xcluster_PREFIX='fd00:'" "$work/env"
expect "env: --nvm=5 wins" sh -c "'$sctplb_sh' env --nvm=5 | grep -qx \"__nvm='5'\""
expect "env: __nvm=2 from the environment wins" sh -c "__nvm=2 '$sctplb_sh' env | grep -qx \"__nvm='2'\""
expect "env: no __mode, no __timeout=10 shown as ours" sh -c "! grep -q '^__mode=' '$work/env'"
"$sctplb_sh" test --list >"$work/list" 2>&1
expect "test --list: start_empty start default ports vtag_sync failover lb_crash ecmp multihoming udp ipv6" sh -c \
	"for t in start_empty start default ports vtag_sync failover lb_crash ecmp multihoming udp ipv6; do grep -qx \$t '$work/list' || exit 1; done"
expect "--hash=bogus is refused" sh -c "! '$sctplb_sh' test --hash=bogus start >/dev/null 2>&1"

# --- test --hash=vtag start with extra ovls
: >"$calls"
"$sctplb_sh" test --hash=vtag start extra-a extra-b >"$work/start.log" 2>"$work/start.err"
expect "test start runs through xctest (exit 0)" test $? -eq 0
tail -n 5 "$work/start.err" | sed 's/^/    stderr: /'
expect "mkcdrom: network-topology iptools sctplb and the extra ovls" \
	grep -qP '^xc\tmkcdrom env network-topology iptools sctplb extra-a extra-b test$' "$calls"
expect "starts (not start)" grep -qP '^xc\tstarts$' "$calls"
expect "VMs get __nvm=3, the sync net 7 on both LBs, PREFIX fd00:" grep -qP \
	'^xc-env\t__nvm=3 __nrouters=4 __ntesters=2 __nets201=0,1,3,7 __nets202=0,4,5,7 xcluster_PREFIX=fd00:$' "$calls"
expect "xctest's check_vm asked vm-001..003, not vm-004" sh -c \
	"for v in 1 2 3 201 202 203 204 221 222; do grep -qP \"^vm-\$v\thostname\" '$calls' || exit 1; done; ! grep -qP '^vm-4\t' '$calls'"
expect "net_setup 7 on vm-201 and vm-202" sh -c \
	"grep -qP '^vm-201\tsctplb_test tcase_net_setup 7$' '$calls' && grep -qP '^vm-202\tsctplb_test tcase_net_setup 7$' '$calls'"
expect "vm-201 lb_setup: --hash=vtag, sync on net 7" sh -c "grep -P '^vm-201\tsctplb_test tcase_lb_setup ' '$calls' |
	grep -q -- '--hash=vtag .*--sync-listen=192.168.7.201:7400 --sync-peer=192.168.7.202:7400'"
expect "vm-202 lb_setup: --hash=vtag, sync on net 7" sh -c "grep -P '^vm-202\tsctplb_test tcase_lb_setup ' '$calls' |
	grep -q -- '--hash=vtag .*--sync-listen=192.168.7.202:7400 --sync-peer=192.168.7.201:7400'"
expect "targets with the PREFIX (fd00::192.168.1.3 on vm-201, fd00::192.168.4.1 on vm-202)" sh -c \
	"grep -P '^vm-201\t.*lb_setup' '$calls' | grep -q -- '--target=3=fd00::192.168.1.3' &&
	 grep -P '^vm-202\t.*lb_setup' '$calls' | grep -q -- '--target=1=fd00::192.168.4.1'"
expect "no --mode reaches a VM" sh -c "! grep -P '^vm-' '$calls' | grep -q -- '--mode'"
expect "lb_start on both LBs" sh -c \
	"grep -qP '^vm-201\tsctplb_test tcase_lb_start$' '$calls' && grep -qP '^vm-202\tsctplb_test tcase_lb_start$' '$calls'"
expect "servers on vm-001..003 only" sh -c \
	"for v in 1 2 3; do grep -qP \"^vm-\$v\tsctplb_test tcase_server_start --port=36412\" '$calls' || exit 1; done"
expect "the log has xctest's test cases" grep -q 'TEST CASE: Build cluster' "$work/start.log"

# --- failover (vtag by default): timeouts of its own, results home, stop
: >"$calls"
"$sctplb_sh" test failover >"$work/failover.log" 2>"$work/failover.err"
expect "test failover exits 0" test $? -eq 0
expect "failover: vtag with sync by default" sh -c "grep -P '^vm-201\t.*lb_setup' '$calls' | grep -q -- '--hash=vtag .*--sync-peer='"
expect "ctraffic_running and ctraffic_wait get --timeout=120 (xctest's __timeout is 10)" sh -c \
	"grep -qP '^vm-221\tsctplb_test tcase_ctraffic_running --timeout=120$' '$calls' &&
	 grep -qP '^vm-221\tsctplb_test tcase_ctraffic_wait --min-failovers=1 --timeout=120$' '$calls'"
expect "path cut and healed on vm-201" sh -c \
	"grep -qP '^vm-201\tsctplb_test tcase_path_cut$' '$calls' && grep -qP '^vm-201\tsctplb_test tcase_path_heal$' '$calls'"
expect "rcp brought the ctraffic JSON and the LB logs home" sh -c \
	"grep -q 'from vm-221:/var/log/sctpt-ctraffic.json' '$work/tmp/sctplb-results/failover/sctpt-ctraffic.json' &&
	 grep -q 'from vm-201:/var/log/sctplb.log' '$work/tmp/sctplb-results/failover/sctplb-vm-201.log' &&
	 test -s '$work/tmp/sctplb-results/failover/sctplb-vm-202.log'"
expect "xcluster_stop" grep -qP '^xc\tstop$' "$calls"

# --- ports, --traffic-timeout, --nvm
: >"$calls"
"$sctplb_sh" test --nvm=2 --traffic-timeout=300 ports >"$work/ports.log" 2>"$work/ports.err"
expect "test ports exits 0" test $? -eq 0
expect "ports: --hash=ports and no sync" sh -c "grep -P '^vm-20[12]\t.*lb_setup' '$calls' | grep -q -- '--hash=ports' &&
	! grep -P '^vm-20[12]\t.*lb_setup' '$calls' | grep -q -- '--sync'"
expect "ports: ctraffic gets --min-servers=2 --timeout=300" grep -qP '^vm-221\tsctplb_test tcase_ctraffic --min-servers=2 --timeout=300 ' "$calls"
expect "--nvm=2: servers vm-001..002 only" sh -c "grep -qP '^vm-2\tsctplb_test tcase_server_start' '$calls' && ! grep -qP '^vm-3\t' '$calls'"

# --- default: three tests, each its own cluster
: >"$calls"
"$sctplb_sh" test >"$work/default.log" 2>"$work/default.err"
expect "test (default) exits 0" test $? -eq 0
expect "default: three clusters (ports, vtag_sync, failover)" test "$(grep -cP '^xc\tmkcdrom' "$calls")" = 3

# --- ecmp: the LBs replaced by ECMP routes, the breakage expected, then the LBs back
: >"$calls"
"$sctplb_sh" test ecmp >"$work/ecmp.log" 2>"$work/ecmp.err"
expect "test ecmp exits 0" test $? -eq 0
expect "ecmp: lb_teardown, then ecmp_setup with every server of the path (and the PREFIX) on both LBs" sh -c \
	"grep -A1 -P '^vm-201\tsctplb_test tcase_lb_teardown$' '$calls' | grep -qP '^vm-201\tsctplb_test tcase_ecmp_setup --vip=10.0.0.1,fd00::1:1 --target=1=192.168.1.1,1=fd00::192.168.1.1,2=192.168.1.2,2=fd00::192.168.1.2,3=192.168.1.3,3=fd00::192.168.1.3$' &&
	 grep -A1 -P '^vm-202\tsctplb_test tcase_lb_teardown$' '$calls' | grep -qP '^vm-202\tsctplb_test tcase_ecmp_setup --vip=10.0.0.2,fd00::1:2 --target=1=192.168.4.1,'"
expect "ecmp: the client expects the breakage with 16 associations, path B primary" \
	grep -qP '^vm-221\tsctplb_test tcase_ctraffic_broken --addr 10.0.0.1,10.0.0.2 .*--clients 16 .*--primary 10.0.0.2' "$calls"
expect "ecmp: the servers' SCTP counters, no association left before the routes go, the LBs set up again" sh -c \
	"for v in 1 2 3; do grep -A1 -P \"^vm-\$v\tsctplb_test tcase_snmp$\" '$calls' | grep -qP \"^vm-\$v\tsctplb_test tcase_no_assoc --timeout=120$\" || exit 1; done
	 [ \$(grep -n tcase_no_assoc '$calls' | tail -n 1 | cut -d: -f1) -lt \$(grep -n tcase_ecmp_teardown '$calls' | head -n 1 | cut -d: -f1) ] &&
	 grep -qP '^vm-201\tsctplb_test tcase_ecmp_teardown --vip=10.0.0.1,fd00::1:1$' '$calls' &&
	 test \$(grep -cP '^vm-20[12]\tsctplb_test tcase_lb_setup ' '$calls') = 4 &&
	 grep -qP '^vm-221\tsctplb_test tcase_ctraffic --min-servers=2 ' '$calls'"

# --- multihoming: no VIP, no LB
: >"$calls"
"$sctplb_sh" test multihoming >"$work/mh.log" 2>"$work/mh.err"
expect "test multihoming exits 0" test $? -eq 0
expect "multihoming: a server on vm-001's own addresses, no LB set up, path A cut on vm-201" sh -c \
	"grep -qP '^vm-1\tsctplb_test tcase_server_start --port=36412 --vip=192.168.1.1,192.168.4.1$' '$calls' &&
	 ! grep -q 'tcase_lb_setup' '$calls' && ! grep -qP '^vm-2\tsctplb_test tcase_server_start' '$calls' &&
	 grep -qP '^vm-221\tsctplb_test tcase_ctraffic_start --addr 192.168.1.1,192.168.4.1 --laddr 192.168.2.221,192.168.6.221 ' '$calls' &&
	 grep -qP '^vm-201\tsctplb_test tcase_path_cut$' '$calls' &&
	 grep -qP '^vm-221\tsctplb_test tcase_ctraffic_wait --min-failovers=1 ' '$calls'"

# --- udp: encapsulation sysctls before the servers, --encap-port to the LBs and the cut
: >"$calls"
"$sctplb_sh" test --encap-port=9900 udp >"$work/udp.log" 2>"$work/udp.err"
expect "test udp exits 0" test $? -eq 0
expect "udp: sctp_udp --encap-port=9900 on every server before its server_start, and on the client" sh -c \
	"for v in 1 2 3; do grep -P \"^vm-\$v\t\" '$calls' | grep -A2 'tcase_sctp_udp --encap-port=9900$' | grep -q 'tcase_server_start' || exit 1; done
	 grep -qP '^vm-221\tsctplb_test tcase_sctp_udp --encap-port=9900$' '$calls'"
expect "udp: lb_setup --encap-port=9900 on both LBs" sh -c \
	"grep -P '^vm-201\tsctplb_test tcase_lb_setup ' '$calls' | grep -q -- '--encap-port=9900' &&
	 grep -P '^vm-202\tsctplb_test tcase_lb_setup ' '$calls' | grep -q -- '--encap-port=9900'"
expect "udp: the cut on vm-201 drops the UDP port too" grep -qP '^vm-201\tsctplb_test tcase_path_cut --encap-port=9900$' "$calls"

# --- ipv6: both paths IPv6, with the PREFIX on the client
: >"$calls"
"$sctplb_sh" test ipv6 >"$work/ipv6.log" 2>"$work/ipv6.err"
expect "test ipv6 exits 0" test $? -eq 0
expect "ipv6: traffic to fd00::1:1,fd00::1:2 from fd00::192.168.2.221,fd00::192.168.6.221, then a cut" sh -c \
	"grep -qP '^vm-221\tsctplb_test tcase_ctraffic --min-servers=2 --timeout=120 --addr fd00::1:1,fd00::1:2 --laddr fd00::192.168.2.221,fd00::192.168.6.221 ' '$calls' &&
	 grep -qP '^vm-221\tsctplb_test tcase_ctraffic_start --addr fd00::1:1,fd00::1:2 ' '$calls' &&
	 grep -qP '^vm-201\tsctplb_test tcase_path_cut$' '$calls'"

# --- the sync net 0 without Xcluster's netns: a clear refusal
if ip link show xcbr1 >/dev/null 2>&1; then
	echo "SKIP: --sync-net=0 refusal (this namespace has xcbr1)"
else
	: >"$calls"
	"$sctplb_sh" test --sync-net=0 start >"$work/net0.log" 2>"$work/net0.err"
	expect "--sync-net=0 outside Xcluster's netns fails, saying why" sh -c \
		"grep -q 'needs Xcluster in its own netns' '$work/net0.err' && ! grep -qP '^xc\tmkcdrom' '$calls'"
fi

# --- a wrong test case or option would fail like in a VM (the stand-in's check works)
expect "the stand-in ssh refuses an option sctplb_test does not take" sh -c \
	"! ssh -p 12421 root@127.0.0.1 sctplb_test tcase_lb_setup --mode=vtag 2>/dev/null"

# --- sctplb_test: an inherited __timeout (xctest's 10, Xcluster's profile) does not cut a wait
# short. With it honoured the wait below would fail after 1 s; ignored, it waits its own 120 s
# and the 3 s deadline stops it (124).
timeout 3 env __timeout=1 sh "$ovl/default/bin/sctplb_test" tcase_ctraffic_wait --out="$work/none.json" >/dev/null 2>&1
expect "sctplb_test ignores an inherited __timeout" test $? -eq 124
expect "sctplb_test help once" test "$(sh "$ovl/default/bin/sctplb_test" help | grep -c '^ *sctplb_test --')" = 1

# --- tar with $XCLUSTER: the libraries come from '$XCLUSTER cplib'
bin=${SCTPLB_BIN:-}
sctpt=${SCTPT_BIN:-}
if [ -z "$sctpt" ] && [ -n "${SCTPLB_BUILD_DIR:-}" ] && [ -x "$SCTPLB_BUILD_DIR/tests/vm/sctpt-static" ]; then
	sctpt=$SCTPLB_BUILD_DIR/tests/vm/sctpt-static
fi
if [ -x "$bin" ] && [ -x "$sctpt" ]; then
	: >"$calls"
	SCTPLB_BIN=$bin SCTPT_BIN=$sctpt "$ovl/tar" "$work/ovl.tar" 2>"$work/tar.err"
	expect "tar with \$XCLUSTER exits 0" test $? -eq 0
	expect "tar called '\$XCLUSTER cplib --dest=... .../bin/sctplb'" grep -qP '^xc\tcplib --dest=\S+ \S+/bin/sctplb$' "$calls"
	expect "tar packs what cplib gave, no loader of its own" sh -c \
		"tar -tf '$work/ovl.tar' | grep -q stand-in-cplib/marker && ! tar -tf '$work/ovl.tar' | grep -q 'ld-linux'"
else
	echo "SKIP: tar with \$XCLUSTER cplib (no SCTPLB_BIN and static sctpt)"
fi

if [ $failures -eq 0 ]; then echo "xctest driver: all passed"; exit 0; fi
echo "xctest driver: $failures failed"
exit 1
