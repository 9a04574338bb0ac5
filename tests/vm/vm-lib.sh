# shellcheck shell=bash
# shellcheck disable=SC2154 # prefix, state, vmdir, sw: set by the sourcing script
# vm-lib.sh: qemu guests of the VM suite on bridges in a namespace of the test (tests/vm).
# Sourced after tests/topology/topology-common.sh (record, ours, stop_pids, in_ns, log, die).
#
#   vm_start NAME CONFIG-FILE NET:MAC...   boot a guest: one virtio NIC per NET, a tap device
#                                           t<NAME><NET> on bridge br<NET> of namespace $sw
#   vm_wait_ready NAME... [--timeout S]    until each prints SCTPLB-VM-READY; fails on
#                                           SCTPLB-VM-FAILED, a panic, qemu gone, or the timeout
#   vm_run NAME [--timeout S] COMMAND       one shell line in the guest (serial control channel);
#                                           fails at once when the guest is dead or stuck
#   vm_alive NAME                           its qemu still runs and it printed no death marker
#   vm_until SECONDS COMMAND...             until COMMAND succeeds, at most SECONDS of wall time
# vm_start reads vm_initrd (default $vmdir/initramfs.gz) and vm_mem (MB, default 128): a test may
# set them, e.g. for one call (`vm_mem=256 vm_start ...`).
# Files per guest in $state/NAME.{console,cfg,qemu.log}, its control socket in $vm_sock_dir
# (short: a unix socket path has at most 107 bytes); qemu's PID is recorded as vm-NAME.

vm_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm_accel=()
# The interpreter itself, not a version-manager shim on PATH (~90 ms more per start: machine.md).
vm_python=python3
[ ! -x /usr/bin/python3 ] || vm_python=/usr/bin/python3

# TCG unless the CPU flags show hardware virtualisation (a paravirtual /dev/kvm alone cannot
# boot a stock kernel: machine.md); then KVM, qemu falling back to TCG when KVM fails to start.
# SCTPLB_VM_ACCEL=tcg|kvm forces one.
vm_choose_accel() {
	vm_accel=(-accel tcg)
	if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then vm_accel=(-accel kvm -accel tcg); fi
	[ -z "${SCTPLB_VM_ACCEL:-}" ] || vm_accel=(-accel "$SCTPLB_VM_ACCEL")
	log "accelerator: ${vm_accel[*]}"
}

vm_start() {
	local name=$1 cfg=$2 spec net mac tap pid
	shift 2
	local -a netargs=()
	for spec in "$@"; do
		net=${spec%%:*}
		mac=${spec#*:}
		tap=t${name#vm-}n$net
		ip -n "$sw" tuntap add dev "$tap" mode tap || die "cannot create tap $tap"
		ip -n "$sw" link set "$tap" master "br$net" up || die "cannot attach $tap to br$net"
		netargs+=(-netdev "tap,id=n$net,ifname=$tap,script=no,downscript=no"
			-device "virtio-net-pci,netdev=n$net,mac=$mac")
	done
	cp "$cfg" "$state/$name.cfg"
	: >"$state/$name.console"
	# Not through in_ns: $! is qemu itself, living in the switch namespace (its taps are there).
	# no_timer_check: under software emulation on a loaded host the kernel's boot-time check
	# that the IO-APIC timer ticks (timer_irq_works) can miss its window and panic ("IO-APIC +
	# timer doesn't work!"); the emulated timer works, it is only slow to be scheduled.
	ip netns exec "$sw" qemu-system-x86_64 "${vm_accel[@]}" -nodefaults -no-user-config -display none -m "${vm_mem:-128}" \
		-no-reboot -kernel "$vmdir/vmlinuz" -initrd "${vm_initrd:-$vmdir/initramfs.gz}" \
		-append "console=ttyS0 panic=-1 quiet no_timer_check" \
		-serial "file:$state/$name.console" \
		-chardev "socket,id=ctl,path=$vm_sock_dir/$name.ctl,server=on,wait=off" -serial chardev:ctl \
		-fw_cfg "name=opt/sctplb/config,file=$state/$name.cfg" \
		"${netargs[@]}" >"$state/$name.qemu.log" 2>&1 &
	pid=$!
	record "vm-$name" "$pid"
	echo "$pid" >"$state/$name.pid"
}

vm_alive() {
	local name=$1
	running "$(cat "$state/$name.pid")" &&
		! grep -qE 'SCTPLB-VM-FAILED|Kernel panic|end Kernel panic' "$state/$name.console" 2>/dev/null
}

vm_dump() { # vm_dump NAME: why a guest is not well, for the test log
	local name=$1
	echo "----- $name console (last 30 lines) -----"
	tail -n 30 "$state/$name.console" 2>/dev/null
	echo "----- $name qemu -----"
	cat "$state/$name.qemu.log" 2>/dev/null
}

# vm_until SECONDS COMMAND...: tl_until of tests/topology/until.sh (the way a test waits for a
# condition, with a wall-clock deadline).
# shellcheck source=../topology/until.sh
. "$vm_here/../topology/until.sh"
vm_until() { tl_until "$@"; }

# vm_wait_ready: one wall-clock deadline for all the guests (they boot in parallel).
vm_wait_ready() {
	local timeout=120 name deadline
	local -a names=()
	while [ $# -gt 0 ]; do
		case $1 in
		--timeout) timeout=$2; shift 2 ;;
		*) names+=("$1"); shift ;;
		esac
	done
	deadline=$((SECONDS + timeout))
	for name in "${names[@]}"; do
		until grep -q "SCTPLB-VM-READY $name" "$state/$name.console" 2>/dev/null; do
			if ! vm_alive "$name"; then
				vm_dump "$name"
				die "guest $name died before it was ready"
			fi
			if [ $SECONDS -ge $deadline ]; then
				grep -q "SCTPLB-VM-READY $name" "$state/$name.console" 2>/dev/null && break
				vm_dump "$name"
				die "guest $name not ready in $timeout s"
			fi
			sleep 0.2
		done
	done
}

vm_run() {
	local name=$1 timeout=60 status=0
	shift
	if [ "${1:-}" = --timeout ]; then
		timeout=$2
		shift 2
	fi
	# A dead guest fails at once (not after the timeout of every later command), and so does one
	# that let a command run out of time: its control loop is still busy with that command.
	if ! vm_alive "$name"; then
		[ -e "$state/$name.dead" ] || vm_dump "$name" >&2
		: >"$state/$name.dead"
		echo "vm_run: guest $name is dead: not asked: $*" >&2
		return 125
	fi
	if [ -e "$state/$name.stuck" ]; then
		echo "vm_run: guest $name did not answer an earlier command ($(cat "$state/$name.stuck")): not asked: $*" >&2
		return 124
	fi
	"$vm_python" "$vm_here/vmctl.py" "$vm_sock_dir/$name.ctl" --timeout "$timeout" "$*" || status=$?
	if [ $status -ge 124 ] && ! vm_alive "$name"; then
		vm_dump "$name" >&2
		: >"$state/$name.dead"
		echo "vm_run: guest $name died" >&2
	elif [ $status -eq 124 ]; then
		echo "$*" >"$state/$name.stuck"
	fi
	return $status
}

# vm_suite_cleanup: the EXIT trap of a VM test (`trap vm_suite_cleanup EXIT`): every recorded
# process stopped, the namespaces and the LB segments ($segments) removed, the control sockets'
# directory too; the run directory kept when the test failed ($failures) or SCTPLB_VM_KEEP=1.
vm_suite_cleanup() {
	local status=$? s
	trap - EXIT INT TERM
	stop_recorded TERM 2
	delete_namespaces
	for s in "${segments[@]}"; do "$SCTPLB_BIN" delete --shm "$s" --force >/dev/null 2>&1 || true; done
	rm -rf "$vm_sock_dir"
	if [ "$status" -ne 0 ] || [ "$failures" -ne 0 ] || [ "${SCTPLB_VM_KEEP:-}" = 1 ]; then
		echo "logs kept in $state"
	else
		rm -rf "$state"
	fi
	exit "$status"
}
