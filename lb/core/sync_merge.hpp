// Applying a sync peer's view of an association to the local table.
//
// The rules (docs/design.md "The LB tier"):
// - An association is found by any of its client addresses and its ports (the
//   peer index): SCTP allows one association per pair of transport addresses.
// - Same association (a tag in common, or one side's tags are the other's
//   pre-restart tags): the newer view wins — a re-key supersedes the keys it
//   replaced, else the higher sync version, else the later state. Addresses
//   are only ever added (union) and last-seen only moves forward.
// - Different targets for one association: the instance that forwarded the
//   COOKIE ECHO wins (the server it chose is the one holding the
//   association); when both or neither did, the lower instance id (both
//   sides compute the same answer). Counted as sync-conflict.
// - A different association on the same peer address and ports: a closed
//   entry gives way to a live one; between two live ones the younger wins
//   (the older one was replaced by a new INIT the other instance saw).
// - A closed association nobody here knows is kept as closed for the rest of
//   its linger, like a local close; a closed entry is found by its tags (it
//   has left the peer index), so an older view of it loses by version.
// - A record pinned to a target that is down here is ignored.
// - A record still restart-pending past the restart deadline is applied as
//   reverted (each instance reverts on its own clock; see maintain()).
// Nothing here is journaled: peers' views are not sent back to them.
#pragma once

#include <cstdint>
#include <span>

#include "core/association_table.hpp"
#include "core/sync_wire.hpp"
#include "core/verdict.hpp"

namespace sctplb {

enum class MergeOutcome : std::uint8_t {
    Inserted,   // new here
    Updated,    // the peer's view was newer: taken
    Refreshed,  // ours was as new: addresses and last-seen merged
    Ignored,    // nothing to do (a close past its linger or of another association, an older view)
    TableFull,
    Invalid,    // not a live association record
};

struct MergeContext {
    Origin peer = Origin::peer(0);     // the sync peer the record came from
    bool peer_wins_ties = false;       // the peer's instance id is lower than ours
    // Targets that are down here (`sctplb down`): their records are ignored.
    std::span<const std::uint32_t> down_fwmarks{};
};

MergeOutcome merge_sync_record(AssociationTable& table, const SyncRecord& record,
                               const MergeContext& context, Nanos now, Counters& counters);

}  // namespace sctplb
