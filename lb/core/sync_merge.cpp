#include "core/sync_merge.hpp"

#include <algorithm>

namespace sctplb {

namespace {

int state_rank(AssociationState state) {
    switch (state) {
        case AssociationState::Free: return 0;
        case AssociationState::HalfOpen: return 1;
        case AssociationState::Established: return 2;
        case AssociationState::RestartPending: return 3;
        case AssociationState::Closing: return 4;
        case AssociationState::Closed: return 5;
    }
    return 0;
}

// `a` names one of b's tags (current, pending or pre-restart).
bool names_a_tag_of(const Association& a, const Association& b) {
    const bool tc = a.tc != 0 && (a.tc == b.tc || a.tc == b.pending_tc || (b.old_tags_linger && a.tc == b.old_tc));
    const bool ts = a.ts != 0 && (a.ts == b.ts || (b.old_tags_linger && a.ts == b.old_ts));
    return tc || ts;
}

// `newer` is `older` after a restart (RFC 9260 §5.2.4 case A): its
// pre-restart tags are older's tags, and its tags changed.
bool rekeyed_from(const Association& newer, const Association& older) {
    if (!newer.old_tags_linger) return false;
    const bool tc = newer.old_tc != 0 && newer.old_tc == older.tc && newer.tc != older.tc;
    const bool ts = newer.old_ts != 0 && newer.old_ts == older.ts && newer.ts != older.ts;
    return tc || ts;
}

void add_missing_addresses(Association& into, const Association& from) {
    for (std::size_t i = 0; i < from.address_count && into.address_count < kMaxClientAddresses; ++i)
        if (!into.has_address(from.addresses[i])) into.addresses[into.address_count++] = from.addresses[i];
    for (std::size_t i = 0; i < from.server_address_count; ++i) {
        const auto end = into.server_addresses.begin() + into.server_address_count;
        if (std::find(into.server_addresses.begin(), end, from.server_addresses[i]) == end &&
            into.server_address_count < kMaxServerAddresses)
            into.server_addresses[into.server_address_count++] = from.server_addresses[i];
    }
}

}  // namespace

MergeOutcome merge_sync_record(AssociationTable& table, const SyncRecord& record,
                               const MergeContext& context, Nanos now, Counters& counters) {
    Association remote = record.fields;
    if (remote.state == AssociationState::Free || remote.address_count == 0 ||
        remote.address_count > kMaxClientAddresses || remote.server_address_count > kMaxServerAddresses)
        return MergeOutcome::Invalid;
    // `sctplb down` here forgot this target's associations: a peer that has
    // not run its own `down` yet must not teach them back (a restart INIT of
    // the same client would then keep the dead server, RFC 9260 §5.2.2).
    if (std::find(context.down_fwmarks.begin(), context.down_fwmarks.end(), remote.fwmark) !=
        context.down_fwmarks.end())
        return MergeOutcome::Ignored;
    // A restart that never completed (RFC 9260 §5.2.2) goes back to
    // established on every instance by its own clock: the deadline travels
    // (state_since as an age) and is the same everywhere. A view still
    // restart-pending past it (a peer whose sweep has not reached the entry,
    // a table transfer) is applied as reverted, so it cannot bring the
    // finished restart back here: it would outrank our reverted entry.
    if (remote.state == AssociationState::RestartPending &&
        now.count() - remote.state_since_ns > table.timeouts().half_open.count()) {
        remote.state = AssociationState::Established;
        remote.pending_tc = 0;
        remote.state_since_ns = now.count();
    }
    const Origin remote_cookie = record.cookie_authority ? context.peer : Origin::none();

    // The peer's view as a record of ours: learned from that peer, and known
    // to it as it is (never echoed back).
    Association learned = remote;
    learned.learned_from = context.peer;
    learned.cookie_by = remote_cookie;
    learned.synced_version = learned.sync_version;
    learned.synced_seen_ns = learned.last_seen_ns;

    // Settled before anything is inserted beside an expired entry.
    const auto settled = [&](const AssociationTable::Found& found) {
        if (const auto expired = table.settle(found, now)) counters.count(*expired);
        return found.id;
    };
    AssociationId id = kNoAssociation;
    for (std::size_t i = 0; i < remote.address_count && id == kNoAssociation; ++i)
        id = settled(table.find_by_peer(remote.addresses[i], remote.sport, remote.dport, now));
    // A closed entry has left the peer index (a new association of the same
    // peer starts beside it, RFC 9260 §5.1) but keeps its tags until its
    // linger ends: a view of the same association from before the close
    // finds it there and loses by version, instead of coming back beside it.
    for (std::size_t i = 0; i < remote.address_count && id == kNoAssociation; ++i) {
        id = settled(table.find_by_ts(remote.addresses[i], remote.sport, remote.dport, remote.ts, now));
        if (id == kNoAssociation)
            id = settled(table.find_by_tc(remote.addresses[i], remote.sport, remote.dport, remote.tc, now));
    }
    if (id == kNoAssociation) {
        // A close nobody here knew of is kept as a closed entry for the rest
        // of its linger, as on the instance that saw the ABORT or SHUTDOWN
        // COMPLETE (an aborted association never comes back, RFC 9260
        // §9.1): the views that preceded it, which can still arrive after it
        // (each unacknowledged message is resent on its own timer, beside a
        // table transfer), then find it and lose by version. Past its
        // linger there is nothing left to protect.
        if (remote.state == AssociationState::Closed &&
            now.count() - remote.state_since_ns > table.timeouts().closed_linger.count())
            return MergeOutcome::Ignored;
        return table.insert_restored(learned, counters) == kNoAssociation ? MergeOutcome::TableFull
                                                                           : MergeOutcome::Inserted;
    }

    const Association local = table.at(id);
    if (!names_a_tag_of(local, remote) && !names_a_tag_of(remote, local)) {
        // Another association of the same peer address and ports.
        if (remote.state == AssociationState::Closed) return MergeOutcome::Ignored;
        if (local.state != AssociationState::Closed && remote.created_ns <= local.created_ns)
            return MergeOutcome::Ignored;
        return table.replace_restored(id, learned) ? MergeOutcome::Updated : MergeOutcome::Invalid;
    }

    bool remote_newer;
    if (rekeyed_from(remote, local))
        remote_newer = true;
    else if (rekeyed_from(local, remote))
        remote_newer = false;
    else if (remote.sync_version != local.sync_version)
        remote_newer = remote.sync_version > local.sync_version;
    else
        remote_newer = state_rank(remote.state) > state_rank(local.state);

    // The target: one association, one server.
    std::uint32_t fwmark = local.fwmark;
    Origin cookie_by = local.cookie_by;
    if (remote.fwmark != local.fwmark) {
        counters.count(Event::SyncConflict);
        const bool remote_authority = !remote_cookie.is_none();
        const bool local_authority = !local.cookie_by.is_none();
        const bool take_remote =
            remote_authority != local_authority ? remote_authority : context.peer_wins_ties;
        if (take_remote) {
            fwmark = remote.fwmark;
            cookie_by = remote_cookie;
        }
    } else if (cookie_by.is_none()) {
        cookie_by = remote_cookie;
    }

    Association merged = remote_newer ? learned : local;
    add_missing_addresses(merged, remote_newer ? local : remote);
    merged.fwmark = fwmark;
    merged.cookie_by = cookie_by;
    merged.learned_from = local.learned_from;
    merged.created_ns = std::min(local.created_ns, remote.created_ns);
    merged.last_seen_ns = std::max(local.last_seen_ns, remote.last_seen_ns);
    if (remote_newer) {
        merged.sync_version = merged.synced_version = std::max(local.sync_version, remote.sync_version);
        merged.synced_seen_ns = remote.last_seen_ns;
    }
    const bool same_shape = merged.address_count == local.address_count &&
                            merged.server_address_count == local.server_address_count &&
                            merged.fwmark == local.fwmark && merged.cookie_by == local.cookie_by;
    if (!remote_newer && same_shape) {
        table.touch_at_least(id, remote.last_seen_ns);
        return MergeOutcome::Refreshed;
    }
    if (!table.replace_restored(id, merged)) return MergeOutcome::Invalid;
    return remote_newer ? MergeOutcome::Updated : MergeOutcome::Refreshed;
}

}  // namespace sctplb
