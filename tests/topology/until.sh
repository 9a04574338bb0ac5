# shellcheck shell=bash
# until.sh: tl_until, the one way a test waits for a condition. Sourced by test-common.sh (the
# namespace tests) and tests/vm/vm-lib.sh (the VM suite).
#
# tl_until SECONDS COMMAND...: runs COMMAND until it succeeds; returns 1 when SECONDS of wall time
# have passed without success. Never a fixed sleep or count standing in for a condition: a test
# must give the same answer on an idle and on a loaded machine. COMMAND is run once more after the
# deadline, so a slow machine never loses the last try.
tl_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		if [ $SECONDS -ge $deadline ]; then
			"$@"
			return
		fi
		sleep 0.1
	done
}
