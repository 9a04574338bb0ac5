# shellcheck shell=bash
# lb-test-lib.sh: helpers for tests/integration/test-lb-*.sh on top of lb-topology.sh; the helpers
# every test library shares (tl_pass/tl_fail/tl_finish, tl_wait, tl_echo_*, tl_json, ...) come
# from test-common.sh. Source it (bash); it sets no traps itself: call lbt_setup, which installs an
# EXIT trap that stops every client started here and brings the topology down.
#
# Provides: lbt_check_requirements, lbt_setup PREFIX_BASE [up options], lbt_lb_start/lbt_lb_stop,
# lbt_sctplb ARGS (with --shm), lbt_client NAME K [usctp client options], lbt_stat, lbt_counters,
# lbt_counter COUNTERS SERVER ADDRESS. LBT_KEEP_LOGS=1 keeps the logs.

# shellcheck source-path=SCRIPTDIR source=test-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/test-common.sh"
LBT_TOPOLOGY=$tl_lib_dir/lb-topology.sh
# shellcheck disable=SC2034 # read by test-common.sh
tl_topology=$LBT_TOPOLOGY
tl_state_var=LB_STATE
tl_keep_logs=${LBT_KEEP_LOGS:-}

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

# lbt_client NAME K [usctp client options]: starts a multihomed client in client K's namespace
# (both local addresses, both VIPs) in the background; output in $tl_work/NAME.log.
lbt_client() {
	local name=$1 k=$2 ns addrs
	shift 2
	ns=LB_CLIENT${k}_NS
	addrs=LB_CLIENT${k}_ADDRS
	tl_spawn "$name" "${!ns}" "$USCTP" client --addr "$LB_VIPS" --laddr "${!addrs}" --port "$LB_PORT" "$@"
}

# "server-N ADDRESS COUNT" lines: SCTP packets each server received per client address.
lbt_counters() { "$LBT_TOPOLOGY" counters "$tl_prefix"; }
# lbt_stat STATS_JSON NAME: a reason or event counter of `sctplb stats --json` (0 when absent).
lbt_stat() { tl_json "$1" "d['reasons'].get('$2', d['events'].get('$2', 0))"; }
# lbt_counter COUNTERS SERVER ADDRESS (empty when the server has no counter for that address)
lbt_counter() { echo "$1" | awk -v s="$2" -v a="$3" '$1 == s && $2 == a { print $3 }'; }
