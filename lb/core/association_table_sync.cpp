// The association table's mutations that only the association sync makes
// (lb/core/sync_merge.cpp, sync_engine.cpp): a peer's newer view replaces
// ours, a peer's packet times, and the sync's own bookkeeping. Apart from the
// data path's mutations (association_table.cpp) so that each reads alone.
#include "core/association_table.hpp"

namespace sctplb {

bool AssociationTable::replace_restored(AssociationId id, const Association& fields) {
    if (fields.state == AssociationState::Free || fields.address_count == 0 ||
        fields.address_count > kMaxClientAddresses || fields.server_address_count > kMaxServerAddresses)
        return false;
    if (records_[id].state == AssociationState::Free) return false;
    if (fields.state == AssociationState::HalfOpen && records_[id].state != AssociationState::HalfOpen &&
        header_->half_open >= header_->half_open_capacity && !evict_oldest_half_open())
        return false;
    Association& a = records_[id];
    unindex_all(id);
    const std::uint32_t generation = a.generation;
    const AssociationState before = a.state;
    const bool in_fast_path = a.in_fast_path;  // ours, not the peer's
    a = fields;
    a.generation = generation;
    a.in_fast_path = in_fast_path;
    a.next_free = 0;
    a.state = before;  // counted by set_state_counted below
    set_state_counted(a, fields.state);
    for (std::size_t i = 0; i < a.address_count; ++i) index_address(id, a.addresses[i]);
    if (a.state == AssociationState::HalfOpen && before != AssociationState::HalfOpen) push_half_open(id);
    return true;
}

void AssociationTable::touch_at_least(AssociationId id, std::int64_t seen_ns) {
    Association& a = records_[id];
    if (seen_ns > a.last_seen_ns) a.last_seen_ns = seen_ns;
    // The peer that told us knows it already: report only what we see later.
    if (seen_ns > a.synced_seen_ns) a.synced_seen_ns = seen_ns;
}

void AssociationTable::mark_synced(AssociationId id) {
    Association& a = records_[id];
    a.synced_version = a.sync_version;
    a.synced_seen_ns = a.last_seen_ns;
}

void AssociationTable::set_sync_origin(AssociationId id, Origin learned_from, Origin cookie_by,
                                       std::uint32_t sync_version) {
    Association& a = records_[id];
    a.learned_from = learned_from;
    a.cookie_by = cookie_by;
    a.sync_version = a.synced_version = sync_version;
    a.synced_seen_ns = a.last_seen_ns;
}

}  // namespace sctplb
