#!/bin/bash
# make-lksctp-fixtures.sh CAPTURE_DIR [OUT_DIR]: the lksctp unit-test fixtures (tests/data) from
# the captures of a VM suite run (SCTPLB_VM_CAPTURE_DIR=CAPTURE_DIR ctest -L vm). Path A (vm-201)
# and path B (vm-202) are merged in time order; one association is kept where a scenario ran
# several. With tshark, NAME.txt listings as tests/data/make-captures.sh writes them.
#   lksctp-multihomed-v4  scenario S1 (ports mode): first association, DATA on both paths
#   lksctp-mixed-v4v6     scenario S4: first association, path A IPv4, path B IPv6
#   lksctp-restart-v4     scenario S6 (vtag mode): association, silent client loss, restart
set -eu
here=$(cd "$(dirname "$0")" && pwd)
in=${1:?usage: make-lksctp-fixtures.sh CAPTURE_DIR [OUT_DIR]}
out=${2:-$here/../data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # tcpdump drops privileges to write its file

merged() { # merged SCENARIO: both LBs' captures of a scenario, merged, as a file name
	local a b
	a=$(ls "$in"/*-"$1"-lb201.pcap)
	b=$(ls "$in"/*-"$1"-lb202.pcap)
	python3 "$here/merge-pcaps.py" "$tmp/$1.pcap" "$a" "$b"
	echo "$tmp/$1.pcap"
}
first_association() { # first_association PCAP OUT: the packets of the first INIT's client port
	local port
	port=$(tcpdump -nr "$1" 2>/dev/null | grep -m1 '\[INIT\]' | sed 's/.*\.\([0-9]*\) > .*/\1/')
	[ -n "$port" ] || { echo "no INIT in $1" >&2; exit 1; }
	tcpdump -r "$1" -w "$tmp/one.pcap" "sctp and port $port" 2>/dev/null
	cp "$tmp/one.pcap" "$2"
}
first_association "$(merged pinning-ports)" "$out/lksctp-multihomed-v4.pcap"
first_association "$(merged mixed)" "$out/lksctp-mixed-v4v6.pcap"
cp "$(merged restart)" "$out/lksctp-restart-v4.pcap"
for name in lksctp-multihomed-v4 lksctp-mixed-v4v6 lksctp-restart-v4; do
	chmod 644 "$out/$name.pcap"
	if command -v tshark >/dev/null && [ -x "$here/../data/make-captures.sh" ]; then
		"$here/../data/make-captures.sh" summary "$out/$name.pcap" >"$out/$name.txt"
	fi
	echo "$out/$name.pcap: $(tcpdump -nr "$out/$name.pcap" 2>/dev/null | wc -l) packets"
done
