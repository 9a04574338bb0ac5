// The association table's lookup path, inline: decide_batch() hashes,
// prefetches, finds and touches an established packet's association without a
// call across translation units (docs/performance.md, issue #19 item 4). Only
// association_table.hpp includes this file.
#pragma once

#include <cstring>

namespace sctplb {

namespace index_hash {
// 64x64 -> 128-bit multiply folded to 64 bits (the "mum" of wyhash): a fast,
// well-mixing step. With the secret index seed in every input word the slot of
// a key cannot be predicted by a client; this spreads index keys, it is not a
// MAC. (The target choice uses the XXH3 KeyedHash.)
[[nodiscard]] inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) {
    const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
[[nodiscard]] inline std::uint64_t load64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
}  // namespace index_hash

inline std::uint32_t AssociationTable::key_hash(IndexKind kind, const IpAddress& addr, std::uint16_t sport,
                                                std::uint16_t dport, std::uint32_t tag) const {
    const std::uint64_t seed = header_->index_seed;
    const std::uint64_t w0 = index_hash::load64(addr.bytes().data());
    const std::uint64_t w1 = index_hash::load64(addr.bytes().data() + 8);
    const std::uint64_t w2 = (std::uint64_t{sport} << 48) | (std::uint64_t{dport} << 32) | tag;
    const std::uint64_t w3 = static_cast<std::uint64_t>(kind);
    const std::uint64_t h = index_hash::mum(w0 ^ seed ^ 0xa0761d6478bd642full, w1 ^ 0xe7037ed1a0b428dbull) ^
                            index_hash::mum(w2 ^ seed ^ 0x8ebc6af09c88c6e3ull, w3 ^ 0x589965cc75374cc3ull);
    return static_cast<std::uint32_t>(index_hash::mum(h, seed ^ 0x1d8e4e27c47d124full));
}

inline bool AssociationTable::matches(IndexKind kind, const Association& a, const IpAddress& addr,
                                      std::uint16_t sport, std::uint16_t dport, std::uint32_t tag, bool old_tags) {
    if (a.state == AssociationState::Free || a.sport != sport || a.dport != dport) return false;
    const bool lingering = old_tags && a.old_tags_linger;
    switch (kind) {
        case IndexKind::Ts:
            if (a.ts != tag && !(lingering && a.old_ts == tag)) return false;
            break;
        case IndexKind::Tc:
            if (a.tc != tag && !(lingering && a.old_tc == tag)) return false;
            break;
        case IndexKind::Peer:
            if (a.state == AssociationState::Closed) return false;
            break;
    }
    return a.has_address(addr);
}

inline AssociationTable::Found AssociationTable::find(IndexKind kind, std::uint32_t h, const IpAddress& addr,
                                                      std::uint16_t sport, std::uint16_t dport, std::uint32_t tag,
                                                      Nanos now) const {
    const IndexSlot* slots = indexes_[static_cast<std::size_t>(kind)];
    const std::uint32_t mask = header_->index_slots - 1;
    for (std::uint32_t i = h & mask; slots[i].record_plus_one != 0; i = (i + 1) & mask) {
        if (slots[i].hash != h) continue;
        const AssociationId id = slots[i].record_plus_one - 1;
        const Association& a = records_[id];
        if (!matches(kind, a, addr, sport, dport, tag)) continue;
        // What maintain() would do to it, without doing it: the caller that
        // changes the table settles it; the sweep does otherwise.
        const std::int64_t now_ns = now.count();
        const bool linger_over = a.old_tags_linger && now_ns > a.old_tags_until_ns;
        const bool restart_over = a.state == AssociationState::RestartPending &&
                                  now_ns - a.state_since_ns > header_->timeouts.half_open.count();
        if (expiry_due(a, now)) return Found{kNoAssociation, id};
        if (!linger_over && !restart_over) return Found{id, kNoAssociation};
        // An old tag whose linger ended no longer routes.
        const bool live = !linger_over || matches(kind, a, addr, sport, dport, tag, false);
        return Found{live ? id : kNoAssociation, id};
    }
    return Found{};
}

inline std::uint32_t AssociationTable::prefetch_ts_slot(const IpAddress& addr, std::uint16_t sport,
                                                      std::uint16_t dport, std::uint32_t ts) const {
    const std::uint32_t h = key_hash(IndexKind::Ts, addr, sport, dport, ts);
    __builtin_prefetch(&indexes_[0][h & (header_->index_slots - 1)]);
    return h;
}

// Always inline: gcc 12 infers that a function whose only effect is a
// prefetch is pure, and then deletes the call (its result is unused) before
// it would inline it; inline from the start, the prefetch stays.
[[gnu::always_inline]] inline void AssociationTable::prefetch_ts_record(std::uint32_t slot_hash) const {
    // Linear probing leaves a key past its home slot when the home is taken
    // (about one lookup in six at the Ts index's usual load): follow the probe
    // run as find() will, within the cache line prefetch_ts_slot() fetched, so
    // that those lookups do not pay their record's miss unhidden.
    constexpr std::uint32_t kSlotsPerLine = 64 / sizeof(IndexSlot);
    static_assert(64 % sizeof(IndexSlot) == 0);
    const IndexSlot* slots = indexes_[0];  // 64-byte aligned (layout_for)
    for (std::uint32_t i = slot_hash & (header_->index_slots - 1); slots[i].record_plus_one != 0; ++i) {
        if (slots[i].hash == slot_hash) {
            __builtin_prefetch(&records_[slots[i].record_plus_one - 1], 1);
            return;
        }
        if ((i + 1) % kSlotsPerLine == 0) return;  // the next line was not prefetched: stop
    }
}

inline AssociationTable::Found AssociationTable::find_by_ts(const IpAddress& addr, std::uint16_t sport,
                                                            std::uint16_t dport, std::uint32_t ts, Nanos now) const {
    if (ts == 0) return Found{};
    return find(IndexKind::Ts, key_hash(IndexKind::Ts, addr, sport, dport, ts), addr, sport, dport, ts, now);
}

inline AssociationTable::Found AssociationTable::find_by_ts_hashed(std::uint32_t slot_hash, const IpAddress& addr,
                                                                   std::uint16_t sport, std::uint16_t dport,
                                                                   std::uint32_t ts, Nanos now) const {
    if (ts == 0) return Found{};
    return find(IndexKind::Ts, slot_hash, addr, sport, dport, ts, now);
}

inline AssociationTable::Found AssociationTable::find_by_tc(const IpAddress& addr, std::uint16_t sport,
                                                            std::uint16_t dport, std::uint32_t tc, Nanos now) const {
    if (tc == 0) return Found{};
    return find(IndexKind::Tc, key_hash(IndexKind::Tc, addr, sport, dport, tc), addr, sport, dport, tc, now);
}

inline AssociationTable::Found AssociationTable::find_by_peer(const IpAddress& addr, std::uint16_t sport,
                                                              std::uint16_t dport, Nanos now) const {
    return find(IndexKind::Peer, key_hash(IndexKind::Peer, addr, sport, dport, 0), addr, sport, dport, 0, now);
}

// ---- time -------------------------------------------------------------------

inline std::optional<Event> AssociationTable::expiry_due(const Association& a, Nanos now) const {
    const Timeouts& t = header_->timeouts;
    const std::int64_t now_ns = now.count();
    switch (a.state) {
        case AssociationState::Free:
            return std::nullopt;
        case AssociationState::HalfOpen:
            if (now_ns - a.last_seen_ns > t.half_open.count()) return Event::ExpiredHalfOpen;
            return std::nullopt;
        case AssociationState::RestartPending:  // reverts to established (maintain), then as that
        case AssociationState::Established:
        case AssociationState::Closing:
            // The kernel forwards it: idle is what the kernel's element timeout says.
            if (a.in_fast_path) return std::nullopt;
            if (now_ns - a.last_seen_ns > t.idle.count()) return Event::ExpiredIdle;
            return std::nullopt;
        case AssociationState::Closed:
            if (now_ns - a.state_since_ns > t.closed_linger.count()) return Event::ExpiredClosed;
            return std::nullopt;
    }
    return std::nullopt;
}


inline void AssociationTable::touch(AssociationId id, Nanos now) { records_[id].last_seen_ns = now.count(); }

}  // namespace sctplb
