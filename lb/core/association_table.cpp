#include "core/association_table.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <type_traits>

namespace sctplb {

static_assert(std::is_trivially_copyable_v<Association>);
static_assert(std::is_trivially_copyable_v<AssociationTable::IndexSlot>);
static_assert(std::is_trivially_copyable_v<Timeouts>);
// An established packet's decision touches one cache line of its record (the
// one decide_batch() prefetches): a field it reads beyond that line costs a
// second, unprefetched miss per packet at 1M associations (docs/performance.md).
static_assert(offsetof(Association, addresses) + 2 * sizeof(IpAddress) <= 64);
static_assert(offsetof(Association, in_fast_path) < 64 && offsetof(Association, server_initiated) < 64);
static_assert(offsetof(Association, last_seen_ns) + sizeof(std::int64_t) <= 64);

namespace {

constexpr std::uint64_t kMagic = 0x5343'5450'4c42'4153ull;  // "SCTPLBAS"
// Index load is kept at or below 3/4 so linear probing stays short.
constexpr std::uint32_t kIndexEntriesPerAssociation = 4;

constexpr std::size_t align64(std::size_t n) { return (n + 63) & ~std::size_t{63}; }

std::uint32_t next_pow2(std::uint64_t n) {
    std::uint64_t p = 16;
    while (p < n) p <<= 1;
    return static_cast<std::uint32_t>(p);
}

std::int64_t ns(Nanos t) { return t.count(); }

}  // namespace

std::string_view association_state_name(AssociationState state) {
    switch (state) {
        case AssociationState::Free: return "free";
        case AssociationState::HalfOpen: return "half-open";
        case AssociationState::Established: return "established";
        case AssociationState::RestartPending: return "restart-pending";
        case AssociationState::Closing: return "closing";
        case AssociationState::Closed: return "closed";
    }
    return "?";
}


namespace {
struct Layout {
    std::size_t records;
    std::size_t indexes;
    std::size_t ring;
    std::size_t total;
};

Layout layout_for(std::uint32_t capacity, std::uint32_t index_slots, std::uint32_t ring_slots,
                  std::size_t header_size) {
    Layout l{};
    l.records = align64(header_size);
    l.indexes = align64(l.records + std::size_t{capacity} * sizeof(Association));
    l.ring = align64(l.indexes + 3 * std::size_t{index_slots} * sizeof(AssociationTable::IndexSlot));
    l.total = align64(l.ring + std::size_t{ring_slots} * sizeof(std::uint64_t));
    return l;
}

std::uint32_t effective_half_open(const TableLimits& limits) {
    std::uint32_t h = limits.half_open_capacity ? limits.half_open_capacity : limits.capacity / 4;
    return h ? h : 1;
}
}  // namespace

std::size_t AssociationTable::bytes_needed(const TableLimits& limits) {
    const std::uint32_t half_open = effective_half_open(limits);
    return layout_for(limits.capacity,
                      next_pow2(std::uint64_t{limits.capacity} * kIndexEntriesPerAssociation * 4 / 3),
                      2 * half_open, sizeof(Header))
        .total;
}

AssociationTable::AssociationTable(Header* header, Association* records,
                                   std::array<IndexSlot*, kIndexCount> indexes,
                                   std::uint64_t* half_open_ring)
    : header_(header), records_(records), indexes_(indexes), half_open_ring_(half_open_ring) {}

std::optional<AssociationTable> AssociationTable::create(std::span<std::byte> memory,
                                                         const TableLimits& limits,
                                                         const Timeouts& timeouts) {
    if (limits.capacity == 0 || limits.capacity > kMaxCapacity) return std::nullopt;
    if (limits.half_open_capacity > limits.capacity) return std::nullopt;
    if (memory.size() < bytes_needed(limits)) return std::nullopt;
    if (reinterpret_cast<std::uintptr_t>(memory.data()) % 64 != 0) return std::nullopt;

    const std::uint32_t half_open = effective_half_open(limits);
    const std::uint32_t index_slots =
        next_pow2(std::uint64_t{limits.capacity} * kIndexEntriesPerAssociation * 4 / 3);
    const Layout l = layout_for(limits.capacity, index_slots, 2 * half_open, sizeof(Header));
    std::memset(memory.data(), 0, l.total);

    auto* header = new (memory.data()) Header{};
    header->magic = kMagic;
    header->layout_version = kLayoutVersion;
    header->record_size = sizeof(Association);
    header->capacity = limits.capacity;
    header->half_open_capacity = half_open;
    header->index_slots = index_slots;
    header->ring_slots = 2 * half_open;
    header->index_seed = limits.index_seed;
    header->timeouts = timeouts;

    auto* records = reinterpret_cast<Association*>(memory.data() + l.records);
    for (std::uint32_t i = 0; i < limits.capacity; ++i) new (&records[i]) Association{};
    auto* index_base = reinterpret_cast<IndexSlot*>(memory.data() + l.indexes);
    auto* ring = reinterpret_cast<std::uint64_t*>(memory.data() + l.ring);
    AssociationTable table(header, records,
                           {index_base, index_base + index_slots, index_base + 2 * index_slots}, ring);
    table.rebuild_indexes();  // builds the free list
    return table;
}

std::optional<AssociationTable> AssociationTable::attach(std::span<std::byte> memory,
                                                         const char** why) {
    auto fail = [why](const char* reason) -> std::optional<AssociationTable> {
        if (why) *why = reason;
        return std::nullopt;
    };
    if (memory.size() < sizeof(Header)) return fail("too small to hold an association table");
    if (reinterpret_cast<std::uintptr_t>(memory.data()) % 64 != 0) return fail("misaligned");
    auto* header = reinterpret_cast<Header*>(memory.data());
    if (header->magic != kMagic) return fail("no association table here (bad magic)");
    if (header->layout_version != kLayoutVersion || header->record_size != sizeof(Association))
        return fail(kOtherLayout.data());
    // The header comes from memory another process wrote (or a damaged or
    // foreign segment): every field used below as a divisor, a mask, an array
    // bound or a layout size is checked before it is used once.
    const Header& h = *header;
    if (h.capacity == 0 || h.capacity > kMaxCapacity)
        return fail("damaged association table: capacity is 0 or above the limit of 2^26");
    if (h.half_open_capacity == 0 || h.half_open_capacity > h.capacity)
        return fail("damaged association table: half-open capacity is 0 or above the capacity");
    if (h.ring_slots != 2 * h.half_open_capacity)
        return fail("damaged association table: half-open ring size is not twice the half-open capacity");
    // Masks (index_slots - 1) need a power of two; the load guards (3/4 per
    // index) need room for at least one key per association.
    if (!std::has_single_bit(h.index_slots) || h.index_slots < h.capacity)
        return fail("damaged association table: index size is not a power of two at least the capacity");
    for (const std::uint32_t used : h.index_used)
        if (std::uint64_t{used} * 4 > std::uint64_t{h.index_slots} * 3)
            return fail("damaged association table: an index holds more keys than its 3/4 load limit");
    // Counts only out of reach of a writer that died mid-update (its lock's
    // recovery rebuilds them): half_open may briefly exceed live, never the capacity.
    if (h.live > h.capacity || h.half_open > h.capacity)
        return fail("damaged association table: live or half-open count above the capacity");
    if (h.free_head > h.capacity || h.sweep_cursor >= h.capacity)
        return fail("damaged association table: free list head or sweep cursor outside the records");
    if (h.ring_tail < h.ring_head || h.ring_tail - h.ring_head > h.ring_slots)
        return fail("damaged association table: half-open ring positions inconsistent");
    // Every size above fits 32 bits, so the layout (in size_t) cannot overflow.
    const Layout l = layout_for(h.capacity, h.index_slots, h.ring_slots, sizeof(Header));
    if (memory.size() < l.total)
        return fail("damaged association table: its header describes more memory than the table's block");
    auto* records = reinterpret_cast<Association*>(memory.data() + l.records);
    auto* index_base = reinterpret_cast<IndexSlot*>(memory.data() + l.indexes);
    auto* ring = reinterpret_cast<std::uint64_t*>(memory.data() + l.ring);
    const std::uint32_t n = h.index_slots;
    return AssociationTable(header, records, {index_base, index_base + n, index_base + 2 * n}, ring);
}

// ---- index primitives (linear probing, backward-shift deletion) -------------

bool AssociationTable::index_insert(IndexKind kind, const IpAddress& addr, std::uint16_t sport,
                                    std::uint16_t dport, std::uint32_t tag, AssociationId id) {
    const auto k = static_cast<std::size_t>(kind);
    IndexSlot* slots = indexes_[k];
    const std::uint32_t mask = header_->index_slots - 1;
    const std::uint32_t h = key_hash(kind, addr, sport, dport, tag);
    std::uint32_t i = h & mask;
    while (slots[i].record_plus_one != 0) {
        if (slots[i].hash == h && slots[i].record_plus_one == id + 1) return true;  // already there
        i = (i + 1) & mask;
    }
    if (std::uint64_t{header_->index_used[k]} * 4 >= std::uint64_t{header_->index_slots} * 3) {
        ++header_->index_failures;  // the association cannot be found by this key: counted, never silent
        return false;
    }
    slots[i] = IndexSlot{id + 1, h};
    ++header_->index_used[k];
    return true;
}

void AssociationTable::index_erase(IndexKind kind, const IpAddress& addr, std::uint16_t sport,
                                   std::uint16_t dport, std::uint32_t tag, AssociationId id) {
    const auto k = static_cast<std::size_t>(kind);
    IndexSlot* slots = indexes_[k];
    const std::uint32_t mask = header_->index_slots - 1;
    const std::uint32_t h = key_hash(kind, addr, sport, dport, tag);
    std::uint32_t i = h & mask;
    while (slots[i].record_plus_one != 0 &&
           !(slots[i].hash == h && slots[i].record_plus_one == id + 1))
        i = (i + 1) & mask;
    if (slots[i].record_plus_one == 0) return;
    // Backward shift: pull later entries of the cluster into the hole unless
    // their home lies cyclically in (hole, position].
    std::uint32_t hole = i;
    std::uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (slots[j].record_plus_one == 0) break;
        const std::uint32_t home = slots[j].hash & mask;
        const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays) continue;
        slots[hole] = slots[j];
        hole = j;
    }
    slots[hole] = IndexSlot{0, 0};
    --header_->index_used[k];
}

bool AssociationTable::index_address(AssociationId id, const IpAddress& addr) {
    const Association& a = records_[id];
    bool ok = index_insert(IndexKind::Peer, addr, a.sport, a.dport, 0, id);
    if (a.tc) ok = index_insert(IndexKind::Tc, addr, a.sport, a.dport, a.tc, id) && ok;
    if (a.ts) ok = index_insert(IndexKind::Ts, addr, a.sport, a.dport, a.ts, id) && ok;
    if (a.old_tags_linger) {
        if (a.old_tc) ok = index_insert(IndexKind::Tc, addr, a.sport, a.dport, a.old_tc, id) && ok;
        if (a.old_ts) ok = index_insert(IndexKind::Ts, addr, a.sport, a.dport, a.old_ts, id) && ok;
    }
    return ok;
}

bool AssociationTable::index_room_for_new() const {
    // New entries stop at 5/8 of every index: the rest is kept for what live
    // associations still add (Ts, restarts, ASCONF addresses), so a flood of
    // many-address INITs cannot leave an established association unfindable.
    for (const std::uint32_t used : header_->index_used)
        if (std::uint64_t{used} * 8 >= std::uint64_t{header_->index_slots} * 5) return false;
    return true;
}

void AssociationTable::unindex_address(AssociationId id, const IpAddress& addr) {
    const Association& a = records_[id];
    index_erase(IndexKind::Peer, addr, a.sport, a.dport, 0, id);
    if (a.tc) index_erase(IndexKind::Tc, addr, a.sport, a.dport, a.tc, id);
    if (a.ts) index_erase(IndexKind::Ts, addr, a.sport, a.dport, a.ts, id);
    if (a.old_tags_linger) {
        if (a.old_tc) index_erase(IndexKind::Tc, addr, a.sport, a.dport, a.old_tc, id);
        if (a.old_ts) index_erase(IndexKind::Ts, addr, a.sport, a.dport, a.old_ts, id);
    }
}

void AssociationTable::unindex_all(AssociationId id) {
    const Association& a = records_[id];
    for (std::size_t i = 0; i < a.address_count; ++i) unindex_address(id, a.addresses[i]);
}

// ---- time -------------------------------------------------------------------

std::optional<Event> AssociationTable::maintain(AssociationId id, Nanos now) {
    Association& a = records_[id];
    const std::int64_t now_ns = ns(now);
    if (a.old_tags_linger && now_ns > a.old_tags_until_ns) drop_old_tags(id);
    // A restart that never completed: the association goes on as it was.
    // Not journaled: every sync peer holds the same deadline (state_since
    // travels as an age) and reverts by its own clock; a peer's stale
    // restart-pending view is applied as reverted (sync_merge.cpp).
    if (a.state == AssociationState::RestartPending && now_ns - a.state_since_ns > ns(header_->timeouts.half_open)) {
        a.pending_tc = 0;
        set_state_counted(a, AssociationState::Established);
        a.state_since_ns = now_ns;
    }
    return expiry_due(a, now);
}

std::optional<Event> AssociationTable::settle(const Found& found, Nanos now) {
    if (found.due == kNoAssociation) return std::nullopt;
    const std::optional<Event> expired = maintain(found.due, now);
    if (expired) remove(found.due);
    return expired;
}

SweepPacer::SweepPacer(std::uint32_t capacity, Nanos full_pass, std::size_t max_per_call)
    : capacity_(capacity),
      full_pass_ns_(std::max<std::int64_t>(1, full_pass.count())),
      // Default: a quarter pass per call. Callers that sweep at least every
      // quarter pass (the data path: at least every 200 ms) never hit it.
      max_per_call_(max_per_call != 0 ? max_per_call : std::max<std::size_t>(64, capacity / 4)) {}

std::size_t SweepPacer::budget(Nanos now) {
    const std::int64_t now_ns = now.count();
    if (!started_ || now_ns <= last_ns_) {
        if (!started_) last_ns_ = now_ns;
        started_ = true;
        return 0;
    }
    // At most one full pass of credit: after a long stall one pass visits everything.
    const std::int64_t elapsed = std::min(now_ns - last_ns_, full_pass_ns_);
    last_ns_ = now_ns;
    const std::uint64_t full_credit = capacity_ * static_cast<std::uint64_t>(full_pass_ns_);
    credit_ = std::min(credit_ + capacity_ * static_cast<std::uint64_t>(elapsed), full_credit);
    const std::uint64_t due = credit_ / static_cast<std::uint64_t>(full_pass_ns_);
    const std::uint64_t granted = std::min<std::uint64_t>(due, max_per_call_);
    credit_ -= granted * static_cast<std::uint64_t>(full_pass_ns_);
    return static_cast<std::size_t>(granted);
}

std::size_t AssociationTable::expire(Nanos now, std::size_t budget, Counters& counters) {
    std::size_t removed = 0;
    const std::uint32_t capacity = header_->capacity;
    for (std::size_t n = 0; n < budget && n < capacity; ++n) {
        const AssociationId id = header_->sweep_cursor;
        header_->sweep_cursor = (id + 1) % capacity;
        if (records_[id].state == AssociationState::Free) continue;
        if (const auto expired = maintain(id, now)) {
            counters.count(*expired);
            remove(id);
            ++removed;
        }
    }
    return removed;
}

// ---- records ------------------------------------------------------------------

void AssociationTable::set_state_counted(Association& a, AssociationState state) {
    if (a.state == AssociationState::HalfOpen) --header_->half_open;
    if (state == AssociationState::HalfOpen) ++header_->half_open;
    if (a.state == AssociationState::Free && state != AssociationState::Free) ++header_->live;
    if (a.state != AssociationState::Free && state == AssociationState::Free) --header_->live;
    a.state = state;
}

AssociationId AssociationTable::allocate(Nanos now) {
    if (header_->free_head == 0) return kNoAssociation;
    const AssociationId id = header_->free_head - 1;
    Association& a = records_[id];
    header_->free_head = a.next_free;
    const std::uint32_t generation = a.generation + 1;
    a = Association{};
    a.generation = generation;
    a.created_ns = a.last_seen_ns = a.state_since_ns = ns(now);
    return id;
}

void AssociationTable::remove(AssociationId id) {
    Association& a = records_[id];
    if (a.state == AssociationState::Free) return;
    unindex_all(id);
    set_state_counted(a, AssociationState::Free);
    a.address_count = 0;
    a.in_fast_path = false;
    a.next_free = header_->free_head;
    header_->free_head = id + 1;
}

bool AssociationTable::ring_entry_live(std::uint64_t entry) const {
    const auto id = static_cast<AssociationId>(entry & 0xffffffffu);
    const auto generation = static_cast<std::uint32_t>(entry >> 32);
    return id < header_->capacity && records_[id].generation == generation &&
           records_[id].state == AssociationState::HalfOpen;
}

void AssociationTable::compact_half_open_ring() {
    const std::uint64_t slots = header_->ring_slots;
    std::uint64_t write = header_->ring_head;
    for (std::uint64_t read = header_->ring_head; read != header_->ring_tail; ++read) {
        const std::uint64_t entry = half_open_ring_[read % slots];
        if (ring_entry_live(entry)) half_open_ring_[write++ % slots] = entry;
    }
    header_->ring_tail = write;
}

void AssociationTable::push_half_open(AssociationId id) {
    if (header_->ring_tail - header_->ring_head == header_->ring_slots) compact_half_open_ring();
    const std::uint64_t entry = (std::uint64_t{records_[id].generation} << 32) | id;
    half_open_ring_[header_->ring_tail++ % header_->ring_slots] = entry;
}

bool AssociationTable::evict_oldest_half_open() {
    while (header_->ring_head != header_->ring_tail) {
        const std::uint64_t entry = half_open_ring_[header_->ring_head++ % header_->ring_slots];
        if (!ring_entry_live(entry)) continue;
        remove(static_cast<AssociationId>(entry & 0xffffffffu));
        return true;
    }
    return false;
}

AssociationId AssociationTable::allocate_half_open(Nanos now, Counters& counters) {
    // Half-open entries have a share of their own: an INIT flood evicts its own
    // oldest entries, never an established association.
    if (header_->half_open >= header_->half_open_capacity) {
        if (!evict_oldest_half_open()) return kNoAssociation;
        counters.count(Event::HalfOpenEvicted);
    }
    if (!index_room_for_new()) return kNoAssociation;
    return allocate(now);
}

AssociationId AssociationTable::insert_half_open(std::span<const IpAddress> addresses,
                                                 std::uint16_t sport, std::uint16_t dport,
                                                 std::uint32_t tc, std::uint32_t fwmark, Nanos now,
                                                 Counters& counters) {
    const AssociationId id = allocate_half_open(now, counters);
    if (id == kNoAssociation) return kNoAssociation;
    Association& a = records_[id];
    a.sport = sport;
    a.dport = dport;
    a.tc = tc;
    a.fwmark = fwmark;
    set_state_counted(a, AssociationState::HalfOpen);
    for (const IpAddress& addr : addresses)
        if (!append_address(id, addr)) counters.count(Event::AddressesOverflowed);
    if (a.address_count == 0) {  // not even the source could be indexed
        remove(id);
        return kNoAssociation;
    }
    push_half_open(id);
    note_change(id);
    return id;
}

AssociationId AssociationTable::insert_server_initiated(const IpAddress& peer, std::uint16_t peer_port,
                                                        std::uint16_t server_port, std::uint32_t server_tag,
                                                        const IpAddress& vip, std::uint32_t fwmark,
                                                        Nanos now, Counters& counters) {
    const AssociationId id = allocate_half_open(now, counters);
    if (id == kNoAssociation) return kNoAssociation;
    Association& a = records_[id];
    a.sport = peer_port;
    a.dport = server_port;
    a.ts = server_tag;
    a.fwmark = fwmark;
    a.server_initiated = true;
    a.cookie_by = Origin::local();  // the server chose itself: nothing for a sync conflict to undo
    set_state_counted(a, AssociationState::HalfOpen);
    if (!append_address(id, peer)) {
        remove(id);
        return kNoAssociation;
    }
    add_server_address(id, vip);
    push_half_open(id);
    note_change(id);
    return id;
}

AssociationId AssociationTable::insert_established(const IpAddress& address, std::uint16_t sport,
                                                   std::uint16_t dport, std::uint32_t ts,
                                                   std::uint32_t fwmark, Nanos now) {
    const AssociationId id = allocate(now);
    if (id == kNoAssociation) return kNoAssociation;
    Association& a = records_[id];
    a.sport = sport;
    a.dport = dport;
    a.ts = ts;
    a.fwmark = fwmark;
    set_state_counted(a, AssociationState::Established);
    append_address(id, address);
    note_change(id);
    return id;
}

AssociationId AssociationTable::insert_restored(const Association& fields, Counters& counters) {
    bool evicted = false;
    const AssociationId id = restore(fields, evicted);
    if (evicted) counters.count(Event::HalfOpenEvicted);
    return id;
}

AssociationId AssociationTable::insert_restored(const Association& fields) {
    bool evicted = false;
    return restore(fields, evicted);
}

AssociationId AssociationTable::restore(const Association& fields, bool& evicted) {
    if (fields.state == AssociationState::Free || fields.address_count == 0 ||
        fields.address_count > kMaxClientAddresses || fields.server_address_count > kMaxServerAddresses)
        return kNoAssociation;
    // A half-open entry from elsewhere (a sync peer, an import) respects the
    // half-open share like a local INIT: a flood seen by a peer evicts only
    // half-open entries here too.
    if (fields.state == AssociationState::HalfOpen &&
        ((header_->half_open >= header_->half_open_capacity && !(evicted = evict_oldest_half_open())) ||
         !index_room_for_new()))
        return kNoAssociation;
    const AssociationId id = allocate(Nanos{fields.created_ns});
    if (id == kNoAssociation) return kNoAssociation;
    Association& a = records_[id];
    const std::uint32_t generation = a.generation;
    a = fields;
    a.generation = generation;
    a.next_free = 0;
    a.state = AssociationState::Free;  // counted by set_state_counted below
    set_state_counted(a, fields.state);
    for (std::size_t i = 0; i < a.address_count; ++i)
        if (!index_address(id, a.addresses[i])) {  // an index is full: all or nothing
            remove(id);
            return kNoAssociation;
        }
    if (a.state == AssociationState::HalfOpen) push_half_open(id);
    return id;
}


bool AssociationTable::add_address(AssociationId id, const IpAddress& addr) {
    const std::uint8_t before = records_[id].address_count;
    const bool ok = append_address(id, addr);
    if (records_[id].address_count != before) note_change(id);
    return ok;
}

bool AssociationTable::append_address(AssociationId id, const IpAddress& addr) {
    Association& a = records_[id];
    if (a.has_address(addr)) return true;
    if (a.address_count >= kMaxClientAddresses) return false;
    a.addresses[a.address_count++] = addr;
    if (!index_address(id, addr)) {  // an index is full: the address is not taken at all
        unindex_address(id, addr);
        --a.address_count;
        return false;
    }
    return true;
}

void AssociationTable::add_server_address(AssociationId id, const IpAddress& addr) {
    Association& a = records_[id];
    for (std::size_t i = 0; i < a.server_address_count; ++i)
        if (a.server_addresses[i] == addr) return;
    if (a.server_address_count < kMaxServerAddresses) a.server_addresses[a.server_address_count++] = addr;
}

void AssociationTable::set_ts(AssociationId id, std::uint32_t ts) {
    Association& a = records_[id];
    if (a.ts == ts) return;
    for (std::size_t i = 0; i < a.address_count; ++i) {
        if (a.ts) index_erase(IndexKind::Ts, a.addresses[i], a.sport, a.dport, a.ts, id);
        if (ts) index_insert(IndexKind::Ts, a.addresses[i], a.sport, a.dport, ts, id);
    }
    a.ts = ts;
    note_change(id);
}

void AssociationTable::set_tc(AssociationId id, std::uint32_t tc) {
    Association& a = records_[id];
    if (a.tc == tc) return;
    for (std::size_t i = 0; i < a.address_count; ++i) {
        if (a.tc && !(a.old_tags_linger && a.old_tc == a.tc))
            index_erase(IndexKind::Tc, a.addresses[i], a.sport, a.dport, a.tc, id);
        if (tc) index_insert(IndexKind::Tc, a.addresses[i], a.sport, a.dport, tc, id);
    }
    a.tc = tc;
    note_change(id);
}

void AssociationTable::restart_server_initiated(AssociationId id, std::uint32_t new_ts, Nanos now) {
    drop_old_tags(id);
    Association& a = records_[id];
    a.old_tc = a.tc;
    a.old_ts = a.ts;
    a.old_tags_linger = true;
    a.old_tags_until_ns = ns(now) + ns(header_->timeouts.restart_linger);
    a.tc = 0;  // the peer's new tag comes with its INIT ACK
    a.ts = new_ts;
    a.pending_tc = 0;
    for (std::size_t i = 0; i < a.address_count; ++i)
        index_insert(IndexKind::Ts, a.addresses[i], a.sport, a.dport, a.ts, id);
    a.last_seen_ns = ns(now);
    if (a.state == AssociationState::Established) note_change(id);
    set_state(id, AssociationState::Established, now);
}

void AssociationTable::establish(AssociationId id, Nanos now) {
    // Only a COOKIE ECHO establishes: this instance forwarded it, so its
    // target is the one the server knows (sync conflicts resolve to it).
    records_[id].cookie_by = Origin::local();
    set_state(id, AssociationState::Established, now);  // journaled there
}

void AssociationTable::replace_half_open(AssociationId id, std::uint32_t tc, std::uint32_t fwmark,
                                         Nanos now) {
    Association& a = records_[id];
    for (std::size_t i = 0; i < a.address_count; ++i) {
        if (a.tc) index_erase(IndexKind::Tc, a.addresses[i], a.sport, a.dport, a.tc, id);
        if (a.ts) index_erase(IndexKind::Ts, a.addresses[i], a.sport, a.dport, a.ts, id);
        index_insert(IndexKind::Tc, a.addresses[i], a.sport, a.dport, tc, id);
    }
    a.tc = tc;
    a.ts = 0;
    a.fwmark = fwmark;
    a.cookie_by = Origin::none();
    a.last_seen_ns = a.state_since_ns = ns(now);
    note_change(id);
}

void AssociationTable::mark_restart_pending(AssociationId id, std::uint32_t new_tc, Nanos now) {
    Association& a = records_[id];
    a.pending_tc = new_tc;
    if (a.state != AssociationState::RestartPending) {
        set_state_counted(a, AssociationState::RestartPending);
        a.state_since_ns = ns(now);
    }
    a.last_seen_ns = ns(now);
    note_change(id);
}

void AssociationTable::drop_old_tags(AssociationId id) {
    Association& a = records_[id];
    if (!a.old_tags_linger) return;
    for (std::size_t i = 0; i < a.address_count; ++i) {
        // Keys equal to the live tags stay: they are the live keys.
        if (a.old_tc && a.old_tc != a.tc)
            index_erase(IndexKind::Tc, a.addresses[i], a.sport, a.dport, a.old_tc, id);
        if (a.old_ts && a.old_ts != a.ts)
            index_erase(IndexKind::Ts, a.addresses[i], a.sport, a.dport, a.old_ts, id);
    }
    a.old_tags_linger = false;
    a.old_tc = a.old_ts = 0;
}

void AssociationTable::complete_restart(AssociationId id, std::uint32_t new_ts, Nanos now) {
    drop_old_tags(id);  // a second restart inside the linger: the oldest keys go now
    Association& a = records_[id];
    // RFC 9260 §5.2.4 case A: both tags change; the old keys route a little
    // longer, for packets already in flight.
    a.old_tc = a.tc;
    a.old_ts = a.ts;
    a.old_tags_linger = true;
    a.old_tags_until_ns = ns(now) + ns(header_->timeouts.restart_linger);
    a.tc = a.pending_tc ? a.pending_tc : a.tc;
    a.ts = new_ts;
    a.pending_tc = 0;
    for (std::size_t i = 0; i < a.address_count; ++i) {
        index_insert(IndexKind::Tc, a.addresses[i], a.sport, a.dport, a.tc, id);
        index_insert(IndexKind::Ts, a.addresses[i], a.sport, a.dport, a.ts, id);
    }
    a.cookie_by = Origin::local();  // the restart's COOKIE ECHO went through here
    if (a.state == AssociationState::Established) note_change(id);  // re-keyed without a state change
    set_state(id, AssociationState::Established, now);
}

void AssociationTable::set_state(AssociationId id, AssociationState state, Nanos now) {
    Association& a = records_[id];
    if (a.state == state) return;
    set_state_counted(a, state);
    a.state_since_ns = ns(now);
    note_change(id);
}

void AssociationTable::note_change(AssociationId id) {
    Association& a = records_[id];
    ++a.sync_version;
    if (journal_) journal_->push(id, a.generation);
}

std::size_t AssociationTable::clear_fast_path_flags() {
    std::size_t cleared = 0;
    for (std::uint32_t i = 0; i < header_->capacity; ++i)
        if (records_[i].in_fast_path) {
            records_[i].in_fast_path = false;
            ++cleared;
        }
    return cleared;
}

void AssociationTable::rebuild_indexes() {
    const std::uint32_t capacity = header_->capacity;
    std::memset(static_cast<void*>(indexes_[0]), 0,
                kIndexCount * std::size_t{header_->index_slots} * sizeof(IndexSlot));
    header_->index_used = {0, 0, 0};
    header_->live = header_->half_open = 0;
    header_->free_head = 0;
    header_->ring_head = header_->ring_tail = 0;
    header_->sweep_cursor %= capacity;
    for (std::uint32_t k = capacity; k-- > 0;) {
        Association& a = records_[k];
        if (a.state == AssociationState::Free || a.address_count > kMaxClientAddresses) {
            a.state = AssociationState::Free;
            a.address_count = 0;
            a.next_free = header_->free_head;
            header_->free_head = k + 1;
            continue;
        }
        ++header_->live;
        if (a.state == AssociationState::HalfOpen) ++header_->half_open;
        for (std::size_t i = 0; i < a.address_count; ++i) index_address(k, a.addresses[i]);
    }
    for (std::uint32_t k = 0; k < capacity; ++k)
        if (records_[k].state == AssociationState::HalfOpen && header_->ring_tail < header_->ring_slots)
            push_half_open(k);
}

}  // namespace sctplb
