# shellcheck shell=bash
# shellcheck disable=SC2154 # topology_name, source_dir, prefix, state: set by the sourcing script
# topology-common.sh: what lb-topology.sh and dual-path.sh share: binaries, the PREFIX check,
# the PID records in $state/pids and stopping only processes that still live in PREFIX-*
# namespaces, deleting the recorded namespaces. Sourced by those scripts (after they set
# topology_name, source_dir and, before any command runs, prefix and state).

log() { echo "$topology_name: $*" >&2; }
die() { log "error: $*"; exit 1; }

build_dir=${SCTPLB_BUILD_DIR:-$source_dir/build}
SCTPLB_BIN=${SCTPLB_BIN:-$build_dir/lb/cli/sctplb}
SCTPT=${SCTPT:-$build_dir/test-apps/sctpt/sctpt}

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

check_prefix() {
	case $1 in
	'' | *[!A-Za-z0-9_]*) die "PREFIX '$1' must be letters, digits and '_'" ;;
	esac
	[ ${#1} -le 24 ] || die "PREFIX '$1' is longer than 24 characters"
}

# record NAME PID: remember a process started in a namespace of this topology.
record() { echo "$2 $1" >>"$state/pids"; }

# running PID: alive and not a zombie waiting for this shell to reap it.
running() {
	[ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# A recorded PID is signalled only while it still lives in one of our namespaces (a PID reused
# by a stranger after the process ended is never touched).
ours() {
	local ns
	running "$1" || return 1
	ns=$(ip netns identify "$1" 2>/dev/null) || return 1
	case $ns in "$prefix"-*) return 0 ;; esac
	return 1
}

# new_state TOOL...: the checks before `up` (root, sctplb, the tools, no PREFIX-* namespace yet),
# then an empty state directory (PID and namespace records).
new_state() {
	local tool
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
	[ -x "$SCTPLB_BIN" ] || die "no sctplb at $SCTPLB_BIN (set SCTPLB_BIN or SCTPLB_BUILD_DIR)"
	for tool in "$@"; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
	! ip netns list | grep -q "^$prefix-" || die "namespaces $prefix-* exist already (down $prefix first)"
	mkdir -p "$state"
	chmod 700 "$state"
	: >"$state/pids"
	: >"$state/namespaces"
}

# wait_for_line FILE PATTERN [SECONDS]: until FILE has a line matching PATTERN (default 10 s of
# wall time, one last look after the deadline: a loaded machine never loses the last try).
wait_for_line() {
	local file=$1 pattern=$2 deadline=$((SECONDS + ${3:-10}))
	until grep -q -- "$pattern" "$file" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || grep -q -- "$pattern" "$file" 2>/dev/null || return 1
		sleep 0.1
	done
}

# stop_pids SIGNAL SECONDS WHAT PID...: SIGNAL each, KILL whichever is still ours after SECONDS
# (saying so, unless WHAT is empty).
stop_pids() {
	local signal=$1 seconds=$2 what=$3 pid tries
	shift 3
	for pid in "$@"; do kill -"$signal" "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		tries=$((seconds * 10))
		while ours "$pid" && [ $tries -gt 0 ]; do
			sleep 0.1
			tries=$((tries - 1))
		done
		if ours "$pid"; then
			[ -z "$what" ] || log "$what $pid ignored SIG$signal for $seconds s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

# stop_recorded [SIGNAL [SECONDS [NAME-PATTERN [WHAT]]]]: stops the recorded processes whose name
# matches (default: all, TERM, KILL after 2 s) and forgets them; the other records are kept.
stop_recorded() {
	local signal=${1:-TERM} seconds=${2:-2} pattern=${3:-*} what=${4:-} pid name
	local -a kept=() victims=()
	[ -f "$state/pids" ] || return 0
	while read -r pid name; do
		# shellcheck disable=SC2254 # the pattern is a glob on purpose
		case $name in
		$pattern) if ours "$pid"; then victims+=("$pid"); fi ;;
		*) kept+=("$pid $name") ;;
		esac
	done <"$state/pids"
	[ ${#victims[@]} -eq 0 ] || stop_pids "$signal" "$seconds" "$what" "${victims[@]}"
	if [ ${#kept[@]} -gt 0 ]; then printf '%s\n' "${kept[@]}" >"$state/pids"; else : >"$state/pids"; fi
}

cmd_pids() {
	local pid name
	[ -f "$state/pids" ] || return 0
	while read -r pid name; do
		if ours "$pid"; then echo "$pid $name"; fi
	done <"$state/pids"
	return 0
}

# delete_namespaces: every recorded PREFIX-* namespace, and anything still running in it.
delete_namespaces() {
	local ns pid
	[ -f "$state/namespaces" ] || return 0
	while read -r ns; do
		case $ns in "$prefix"-*) ;; *) continue ;; esac
		# Safety net: anything still running in a namespace of ours was started for it.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
		ip netns delete "$ns" 2>/dev/null || true
	done <"$state/namespaces"
}

# start_lb RECORD-NAME NS SHM LOG WHERE [sctplb lb options]: 'sctplb lb --shm SHM --queue $queue'
# in NS (output appended to LOG), recorded as RECORD-NAME; waits until it says it is running (has
# bound the queue), dies if it exits or is not running in 10 s of wall time. Sets started_pid.
start_lb() {
	local name=$1 ns=$2 shm=$3 lb_log=$4 where=$5 pid before deadline=$((SECONDS + 10))
	shift 5
	touch "$lb_log"
	before=$(grep -c "running:" "$lb_log" || true)
	# Not through in_ns: $! must be the daemon itself (in NS), not a subshell in the root namespace.
	ip netns exec "$ns" "$SCTPLB_BIN" lb --shm "$shm" --queue "$queue" "$@" >>"$lb_log" 2>&1 &
	pid=$!
	record "$name" "$pid"
	while [ "$(grep -c "running:" "$lb_log" || true)" -le "$before" ]; do
		if ! running "$pid"; then
			wait "$pid" 2>/dev/null || true
			die "sctplb lb$where exited: $(tail -n 3 "$lb_log")"
		fi
		[ $SECONDS -lt $deadline ] || [ "$(grep -c "running:" "$lb_log" || true)" -gt "$before" ] ||
			die "sctplb lb$where did not bind queue $queue in 10 s: $(tail -n 3 "$lb_log")"
		sleep 0.1
	done
	# shellcheck disable=SC2034 # read by the caller
	started_pid=$pid
}

# run_command "COMMAND..." ARGS: help, or COMMAND PREFIX [options]: checks PREFIX, sets prefix and
# state, runs cmd_COMMAND (dashes as underscores) with the options.
run_command() {
	local commands=" $1 " command=${2:-help}
	shift
	case $command in
	help | --help | -h) usage; exit 0 ;;
	esac
	case $commands in
	*" $command "*) ;;
	*) usage >&2; exit 2 ;;
	esac
	prefix=${2:-}
	check_prefix "$prefix"
	state=$state_root/$prefix
	shift 2
	"cmd_${command//-/_}" "$@"
}
