#!/bin/bash
# test-dual-server-initiated.sh with the kernel fast path on both LBs (see that script).
set -eu
exec bash "$(cd "$(dirname "$0")" && pwd)/test-dual-server-initiated.sh" --fastpath "$@"
