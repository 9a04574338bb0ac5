#!/bin/bash
# The kernel fast path scenarios a and b of test-fastpath.sh with IPv6 clients, servers and VIPs (the
# map assoc6: IPv6 concatenated keys, which nft 1.0.6's command line cannot even build).
# Usage: test-fastpath-ipv6.sh [help]   (root; SCTPLB_BIN, SCTPLB_BUILD_DIR as set by ctest)
if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,4p' "$0"
	exit 0
fi
exec "$(cd "$(dirname "$0")" && pwd)/test-fastpath.sh" --ipv6
