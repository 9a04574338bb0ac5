// The kernel fast path, the header others include: an nftables table (family inet) whose maps mark the
// packets of established associations, so they never reach the NFQUEUE.
//
// Per family one dynamic map, keyed (client address, sctp sport, sctp dport,
// sctp vtag) -> fwmark. A VIP packet that hits it gets the target's mark (only
// the bits of the mark mask) in a chain at priority mangle - 10, before the
// iptables mangle rule that queues unmarked packets to the daemon. Control
// chunks, IP fragments and misses still go to the daemon. Everything is built
// with libnftnl + libmnl in netlink batches; the `nft` binary is never run
// (nft 1.0.6 crashes on an IPv6 concatenation with `update`).
//
// Ownership: the table carries the comment "sctplb-fastpath 1"; the current
// settings are the comment of its `prerouting` chain, "sctplb-fastpath 1
// mask=0x.. size=N timeout_ms=M" (a table's userdata cannot be changed once
// the table exists, a chain's is rewritten by every install). The targets
// with a chain are the keys of the `targets` verdict map (the kernel caps
// userdata at 256 bytes, too short for a long list of marks).
#pragma once

// Where each part lives:
//   nft_encoding (lb/core)  key bytes, settings comment, table name: pure, no netlink
//   nft_session             NftSession: install, remove, describe, change, dump, flush, counters
//   nft_ruleset             install() as named steps into one batch; FastPathRuleset
//   nft_rule_builder        rule expressions and the registers they use
//   nft_messages            batch messages and get requests for tables, chains, sets, counters
//   nft_objects             libnftnl object ownership and userdata (comments, `typeof`)
//   nft_netlink             the socket, batches with an error per message, requests
//   nft_table_layout        object names, hook priority, nft type ids
#include "core/nft_encoding.hpp"
#include "io/nft_session.hpp"
