#!/bin/bash
# A local user against an sctplb instance, and a /dev/shm without room (docs/security.md, "Local
# attackers"). Shows:
#  a. a segment an unprivileged user made first (squatting the name before root's `init`) is
#     refused by root's commands and by `sctplb lb` ("belongs to uid 65534"); root deletes it;
#  b. a segment root made but opened to the group (mode 0660) is refused;
#  c. `init` on a /dev/shm without room for the table fails with a one-line error naming the
#     room needed and free, and leaves no segment behind (a private /dev/shm of 1 MiB in a mount
#     namespace of its own);
#  d. a FIFO planted as the seed file makes `init --seed-file` fail at once, not hang.
# Usage: test-local-attacker.sh   (root; SCTPLB_BIN as set by ctest)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,11p' "$0"
	exit 0
fi
script_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../topology/test-common.sh
. "$script_dir/../topology/test-common.sh"
[ "$(id -u)" = 0 ] || tl_skip "needs root (another user's segment, a mount namespace)"
[ -x "$SCTPLB_BIN" ] || tl_skip "sctplb not built at $SCTPLB_BIN"
command -v setpriv >/dev/null || tl_skip "setpriv is not installed (util-linux)"
command -v unshare >/dev/null || tl_skip "unshare is not installed (util-linux)"
nobody=65534
# The unprivileged user must be able to run the binary (a build under a private home may not be).
setpriv --reuid=$nobody --regid=$nobody --clear-groups "$SCTPLB_BIN" --help >/dev/null 2>&1 ||
	tl_skip "uid $nobody cannot run $SCTPLB_BIN (a folder on its path is closed to others)"

shm=lat$$
work=$(mktemp -d /tmp/test-local-attacker.XXXXXX)
cleanup() {
	"$SCTPLB_BIN" delete --shm "$shm" --force >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

tl_say "a: uid $nobody squats the name before root's init"
setpriv --reuid=$nobody --regid=$nobody --clear-groups "$SCTPLB_BIN" init --shm "$shm" --capacity 1024 >/dev/null
for command in "show" "activate 1" "assoc" "lb --queue 7"; do
	status=0
	# shellcheck disable=SC2086 # command and its argument
	timeout 10 "$SCTPLB_BIN" $command --shm "$shm" >"$work/out" 2>&1 || status=$?
	if [ "$status" != 0 ] && [ "$status" != 124 ] && grep -q "belongs to uid $nobody" "$work/out"; then
		tl_pass "a: root's '$command' refuses the squatted segment: $(head -c 140 "$work/out")"
	else
		tl_fail "a: root's '$command' on the squatted segment: exit $status: $(cat "$work/out")"
	fi
done
if "$SCTPLB_BIN" delete --shm "$shm" >"$work/out" 2>&1 && [ ! -e "/dev/shm/$shm" ]; then
	tl_pass "a: root deletes the squatted segment"
else
	tl_fail "a: delete of the squatted segment: $(cat "$work/out")"
fi

tl_say "b: root's segment opened to the group"
"$SCTPLB_BIN" init --shm "$shm" --capacity 1024 >/dev/null
chmod 0660 "/dev/shm/$shm"
if ! "$SCTPLB_BIN" show --shm "$shm" >"$work/out" 2>&1 && grep -q "open to group or others (mode 0660" "$work/out"; then
	tl_pass "b: a segment of mode 0660 is refused: $(head -c 120 "$work/out")"
else
	tl_fail "b: a segment of mode 0660: $(cat "$work/out")"
fi
"$SCTPLB_BIN" delete --shm "$shm" >/dev/null

tl_say "c: init on a /dev/shm of 1 MiB"
status=0
unshare --mount --propagation private sh -c \
	'mount -t tmpfs -o size=1m tmpfs /dev/shm && "$1" init --shm "$2" --capacity 100000; echo "exit $?"; ls /dev/shm' \
	sh "$SCTPLB_BIN" "$shm" >"$work/out" 2>&1 || status=$?
if grep -q "needs [0-9]* MiB, /dev/shm has [0-9]* MiB free" "$work/out" && grep -q "^exit 1$" "$work/out" &&
	! grep -qx "$shm" "$work/out"; then
	tl_pass "c: $(grep -o "shared memory .* MiB free" "$work/out" | head -n 1); no segment left"
else
	tl_fail "c: init on a full /dev/shm: $(cat "$work/out")"
fi

tl_say "d: a FIFO as the seed file"
mkfifo -m 0600 "$work/seed"
status=0
timeout 10 "$SCTPLB_BIN" init --shm "$shm" --seed-file "$work/seed" >"$work/out" 2>&1 || status=$?
if [ "$status" != 0 ] && [ "$status" != 124 ] && grep -q "not a regular file" "$work/out"; then
	tl_pass "d: refused at once: $(head -n 1 "$work/out")"
else
	tl_fail "d: init with a FIFO seed: exit $status (124: it hung): $(cat "$work/out")"
fi

tl_finish
