# shellcheck shell=bash
# lb-test-lib.sh: helpers for tests/integration/test-lb-*.sh on top of lb-topology.sh; the helpers
# every test library shares (tl_pass/tl_fail/tl_finish, tl_wait, tl_echo_*, tl_json, ...) come
# from test-common.sh. Source it (bash); it sets no traps itself: call lbt_setup, which installs an
# EXIT trap that stops every client started here and brings the topology down.
#
# Provides: lbt_check_requirements, lbt_setup PREFIX_BASE [up options], lbt_lb_start/lbt_lb_stop,
# lbt_sctplb ARGS (with --shm), lbt_client NAME K [sctpt client options], lbt_stat,
# lbt_stats_reached BEFORE GOAL... and lbt_stats_settled (for tl_until), lbt_counters, lbt_counter COUNTERS SERVER
# ADDRESS; lbt_python. LBT_KEEP_LOGS=1 keeps the logs.

# shellcheck source-path=SCRIPTDIR source=test-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/test-common.sh"
LBT_TOPOLOGY=$tl_lib_dir/lb-topology.sh
# shellcheck disable=SC2034 # read by test-common.sh
tl_topology=$LBT_TOPOLOGY
tl_state_var=LB_STATE
tl_keep_logs=${LBT_KEEP_LOGS:-}

# The interpreter for checks run in a loop: /usr/bin/python3 starts in ~12 ms, a version-manager
# shim first on PATH in ~90 ms (docs: /work/shared/notes/machine.md, "Things that bit us").
lbt_python=/usr/bin/python3
[ -x "$lbt_python" ] || lbt_python=python3

# lbt_check_requirements: SKIP (exit 77) when this machine cannot run the tests.
lbt_check_requirements() { tl_check_requirements lbtcheck ip nft iptables python3; }
# lbt_setup NAME [up options]: topology PREFIX = NAME + $$, servers started, lb not started.
lbt_setup() { tl_setup "$@"; }

lbt_lb_start() { "$LBT_TOPOLOGY" lb-start "$tl_prefix" "$@" >/dev/null; }
lbt_lb_stop() { "$LBT_TOPOLOGY" lb-stop "$tl_prefix" "$@"; }
# lbt_sctplb COMMAND ARGS: an sctplb control command in the LB namespace (where `stats` finds the
# kernel's queue figures), on this topology's segment.
lbt_sctplb() {
	local command=$1
	shift
	ip netns exec "$LB_NS" "$SCTPLB_BIN" "$command" --shm "$tl_prefix" "$@"
}

# lbt_client NAME K [sctpt client options]: starts a multihomed sctpt client (usrsctp, --verbose:
# a line per message sent and echo received, which tl_echo_* read) in client K's namespace (both
# local addresses, both VIPs) in the background; output in $tl_work/NAME.log. It waits up to 30 s
# for the association to come up.
lbt_client() {
	local name=$1 k=$2 ns addrs
	shift 2
	ns=LB_CLIENT${k}_NS
	addrs=LB_CLIENT${k}_ADDRS
	# The log exists before the background job opens it: tl_echo_count on a missing file prints
	# nothing, and tl_wait_echoes then returned at once, as if the echoes had come.
	: >"$tl_work/$name.log"
	tl_spawn "$name" "${!ns}" "$SCTPT" client --stack usrsctp --verbose --connect-timeout 30000 \
		--addr "$LB_VIPS" --laddr "${!addrs}" --port "$LB_PORT" "$@"
}

# "server-N ADDRESS COUNT" lines: SCTP packets each server received per client address.
lbt_counters() { "$LBT_TOPOLOGY" counters "$tl_prefix"; }
# lbt_stat STATS_JSON NAME: a reason or event counter of `sctplb stats --json` (0 when absent).
lbt_stat() { tl_json "$1" "d['reasons'].get('$2', d['events'].get('$2', 0))"; }
# lbt_stats_reached BEFORE_JSON GOAL...: reads `sctplb stats --json` into lbt_stats_now and
# succeeds when every GOAL "NAME[+NAME...]=N" holds: those reason/event counters rose by at least
# N together since BEFORE_JSON. The daemon publishes its counters after each batch or every 200 ms,
# so a test waits for the counts it expects (tl_until SECONDS lbt_stats_reached ...) and then
# judges lbt_stats_now, never a snapshot taken after a guessed sleep. One sctplb and one fast
# python start per try.
lbt_stats_reached() {
	local before=$1
	shift
	lbt_stats_now=$(lbt_sctplb stats --json) || return 1
	"$lbt_python" - "$before" "$lbt_stats_now" "$@" <<-'EOF'
		import json, sys
		def count(d, name): return d['reasons'].get(name, d['events'].get(name, 0))
		before, now = json.loads(sys.argv[1]), json.loads(sys.argv[2])
		for goal in sys.argv[3:]:
		    names, want = goal.rsplit('=', 1)
		    if sum(count(now, n) - count(before, n) for n in names.split('+')) < int(want):
		        sys.exit(1)
	EOF
}
# lbt_stats_settled: reads `sctplb stats --json` into lbt_stats_now and succeeds when the daemon
# has published a decision for every packet the kernel queued to its queues (its packet count
# covers the queues' id sequences less their drops), so a check of a count that must stay 0
# reads the final figure. The kernel's sequence starts at each bind while the daemon's count
# carries over a restart: after a restart this only gets easier to meet. For tl_until.
lbt_stats_settled() {
	lbt_stats_now=$(lbt_sctplb stats --json) || return 1
	"$lbt_python" -c 'import json, sys; d = json.loads(sys.argv[1]); queues = [q for q in d["kernel_queues"] or [] if q["ours"]]
sys.exit(not (queues and d["packets"] >= sum(q["id_sequence"] - q["queue_dropped"] - q["user_dropped"] for q in queues)))' "$lbt_stats_now"
}
# lbt_counter COUNTERS SERVER ADDRESS (empty when the server has no counter for that address)
lbt_counter() { echo "$1" | awk -v s="$2" -v a="$3" '$1 == s && $2 == a { print $3 }'; }
