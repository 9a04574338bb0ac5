// The association table: every SCTP association the LB has seen, with its
// tags, client addresses and target, in a fixed-capacity block of memory.
//
// The block holds only trivially copyable data and indices (no pointers), so
// the same table can live in heap memory (replay, tests) or in shared memory
// (the daemon), and survive the daemon's restart. The table never allocates.
//
// Indexes (Ts and Tc chosen at random and independently, RFC 9260 §5.3.1): one entry per client
// address of an association in each of
//   by_ts:   (client address, sport, dport, Ts)  every client -> server packet
//   by_tc:   (client address, sport, dport, Tc)  INIT retransmissions, T-bit packets
//   by_peer: (client address, sport, dport)      restart detection, COOKIE ECHO matching
// (ports, vtag) alone is not unique: with fixed ports the key degenerates to
// Ts, and 32 random bits collide.
//
// Not thread-safe: the caller serialises access (the daemon wraps it in a lock).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "core/ip_address.hpp"
#include "core/nanos.hpp"
#include "core/verdict.hpp"

namespace sctplb {

enum class AssociationState : std::uint8_t {
    Free = 0,
    HalfOpen,        // INIT seen, no COOKIE ECHO yet
    Established,     // COOKIE ECHO seen (or pinned mid-association in ports mode)
    RestartPending,  // established, and an INIT from the same peer asked for a restart (§5.2.2)
    Closing,         // SHUTDOWN ACK from the client (server-initiated shutdown)
    Closed,          // ABORT or SHUTDOWN COMPLETE seen: lingers briefly, then goes
};
std::string_view association_state_name(AssociationState state);

inline constexpr std::size_t kMaxClientAddresses = 8;
inline constexpr std::size_t kMaxServerAddresses = 4;

using AssociationId = std::uint32_t;
inline constexpr AssociationId kNoAssociation = 0xffffffffu;

// Who taught this instance something about an association (the entry itself, or the COOKIE
// ECHO that fixed its server): nobody yet, this instance, or sync peer k (its index in the
// peer list). One byte in the table: 0 nobody, 1 this instance, 2 + k peer k.
class Origin {
public:
    static constexpr Origin none() { return Origin(0); }
    static constexpr Origin local() { return Origin(1); }
    static constexpr Origin peer(std::size_t index) { return Origin(static_cast<std::uint8_t>(2 + index)); }
    [[nodiscard]] constexpr bool is_none() const { return code_ == 0; }
    [[nodiscard]] constexpr bool is_local() const { return code_ == 1; }
    [[nodiscard]] constexpr bool is_peer() const { return code_ >= 2; }
    [[nodiscard]] constexpr std::size_t peer_index() const { return code_ - 2u; }  // when is_peer()
    friend constexpr bool operator==(Origin, Origin) = default;

private:
    constexpr explicit Origin(std::uint8_t code) : code_(code) {}
    std::uint8_t code_;
};

// Associations changed by the data path since the sync last looked: a bounded
// ring of (id, generation), process-local. When it overflows, the sync walks
// the table for records whose sync_version moved (see `overflowed`).
// push() and drain() run under the table lock; `tail_` is atomic only so that
// the draining thread can ask has_entries() without taking that lock.
class ChangeJournal {
public:
    explicit ChangeJournal(std::span<std::uint64_t> storage) : ring_(storage) {}
    void push(AssociationId id, std::uint32_t generation) {
        const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
        if (tail - head_ == ring_.size()) {
            overflowed_ = true;
            return;
        }
        ring_[tail % ring_.size()] = (std::uint64_t{generation} << 32) | id;
        tail_.store(tail + 1, std::memory_order_release);
    }
    // Without the table lock, from the thread that drains: true when entries
    // (or an overflow, which leaves the ring full) wait for drain().
    [[nodiscard]] bool has_entries() const { return tail_.load(std::memory_order_relaxed) != head_; }
    // Calls fn(id, generation) for every entry, oldest first, and empties the ring.
    template <typename Fn>
    void drain(Fn&& fn) {
        for (const std::uint64_t tail = tail_.load(std::memory_order_acquire); head_ != tail; ++head_) {
            const std::uint64_t e = ring_[head_ % ring_.size()];
            fn(static_cast<AssociationId>(e & 0xffffffffu), static_cast<std::uint32_t>(e >> 32));
        }
    }
    // True once entries were lost since the last take_overflow().
    bool take_overflow() { return std::exchange(overflowed_, false); }

private:
    std::span<std::uint64_t> ring_;
    std::uint64_t head_ = 0;
    std::atomic<std::uint64_t> tail_{0};
    bool overflowed_ = false;
};

struct alignas(64) Association {
    // First cache line: everything an established packet's lookup reads and
    // writes (state, ports, tags, target, the fast-path and server-initiated
    // flags, last_seen, the first two addresses); association_table.cpp asserts it.
    AssociationState state = AssociationState::Free;
    std::uint8_t address_count = 0;
    std::uint8_t server_address_count = 0;
    bool old_tags_linger = false;  // after a restart the old Tc/Ts keys still route briefly
    std::uint16_t sport = 0;       // client port
    std::uint16_t dport = 0;       // server port
    std::uint32_t tc = 0;          // client's tag (INIT initiate tag); 0 = unknown
    std::uint32_t ts = 0;          // server's tag (COOKIE ECHO vtag / INIT ACK initiate tag); 0 = unknown
    std::uint32_t fwmark = 0;
    // The kernel forwards this association (the fast path, docs/design.md): its
    // packets no longer reach us, so the kernel's element timeout decides when
    // it is idle and the sweep leaves it alone (the fast-path thread expires it).
    // In the first line (the padding before last_seen_ns): every established
    // packet's expiry check reads it.
    bool in_fast_path = false;
    // Opened by the server (docs/design.md "Server-initiated associations"):
    // the "client" fields hold the peer (its addresses and port), Ts is the
    // server's initiate tag from its INIT, Tc the peer's from its INIT ACK.
    // In the first line: every established packet's decision reads it.
    bool server_initiated = false;
    std::int64_t last_seen_ns = 0;
    std::array<IpAddress, kMaxClientAddresses> addresses{};
    // Colder fields.
    std::uint32_t pending_tc = 0;  // restart pending: the new Tc
    std::uint32_t old_tc = 0;      // lingering keys after a restart
    std::uint32_t old_ts = 0;
    std::uint32_t next_free = 0;   // free list link while Free
    std::uint32_t generation = 0;  // bumped on every reuse of the slot
    std::int64_t created_ns = 0;
    std::int64_t state_since_ns = 0;     // when the current state began
    std::int64_t old_tags_until_ns = 0;  // end of the restart linger
    std::array<IpAddress, kMaxServerAddresses> server_addresses{};
    // Association sync (docs/design.md "The LB tier"). sync_version counts the
    // changes that peers must learn; synced_version is the last one sent (or
    // received). synced_seen_ns is the last_seen_ns last reported to peers.
    std::uint32_t sync_version = 0;
    std::uint32_t synced_version = 0;
    std::int64_t synced_seen_ns = 0;
    Origin learned_from = Origin::local();  // who taught us the entry (never none)
    Origin cookie_by = Origin::none();      // who forwarded the COOKIE ECHO

    [[nodiscard]] bool has_address(const IpAddress& a) const {
        for (std::size_t i = 0; i < address_count; ++i)
            if (addresses[i] == a) return true;
        return false;
    }
};

struct TableLimits {
    std::uint32_t capacity = 65536;          // associations
    std::uint32_t half_open_capacity = 0;    // 0 = capacity / 4; an INIT flood evicts only these
    std::uint64_t index_seed = 0x5c7b1b5eedull; // keys the index hash (set it from the seed file)
};

struct Timeouts {
    Nanos idle = std::chrono::minutes(10);           // established, no packet (heartbeats: 30 s)
    Nanos half_open = std::chrono::minutes(5);       // cookie lifetime (60 s) + INIT/COOKIE retries
    Nanos closed_linger = std::chrono::seconds(10);  // after ABORT / SHUTDOWN COMPLETE
    Nanos restart_linger = std::chrono::seconds(30); // old Tc/Ts keys after a restart
};

// Paces the incremental sweep (AssociationTable::expire) by elapsed time, not
// by traffic: every call grants the slots due since the previous call, at
// `capacity` slots per `full_pass`, so the cursor goes once round the whole
// table every `full_pass` whether the callers wake every 10 ms (busy) or
// every 200 ms (idle, e.g. with the kernel fast path carrying the traffic).
// An entry whose timeout has passed is visited, and removed, within one full
// pass plus the longest gap between two calls (docs/design.md "Time").
// One pacer serves every thread that sweeps the same table (used under the
// table lock), so the rate is per table, not per thread.
// Per call at most `max_per_call` slots (bounding the lock hold); what is
// granted beyond it, up to one full pass, carries over to the next call.
class SweepPacer {
public:
    static constexpr Nanos kFullPass = std::chrono::seconds(1);

    explicit SweepPacer(std::uint32_t capacity, Nanos full_pass = kFullPass, std::size_t max_per_call = 0);
    // How many slots to sweep at `now`; the first call starts the clock and grants none.
    [[nodiscard]] std::size_t budget(Nanos now);
    [[nodiscard]] Nanos full_pass() const { return Nanos{full_pass_ns_}; }
    [[nodiscard]] std::size_t max_per_call() const { return max_per_call_; }

private:
    std::uint64_t capacity_;
    std::int64_t full_pass_ns_;
    std::size_t max_per_call_;
    std::int64_t last_ns_ = 0;
    bool started_ = false;
    std::uint64_t credit_ = 0;  // slots x nanoseconds: capacity per elapsed nanosecond, full_pass_ns per slot
};

class AssociationTable {
public:
    // 3: learned_from and cookie_by share Origin's encoding (learned_from was 0 here, k peer k-1).
    // 4: server_initiated.
    // 5: in_fast_path and server_initiated moved into the record's first cache line.
    static constexpr std::uint32_t kLayoutVersion = 5;
    // The most associations a table holds (TableLimits::capacity); `sctplb create --capacity` too.
    static constexpr std::uint32_t kMaxCapacity = 1u << 26;
    static constexpr std::string_view kOtherLayout = "association table layout version differs from this build";

    // Bytes of memory a table with these limits needs.
    [[nodiscard]] static std::size_t bytes_needed(const TableLimits& limits);
    // Lays out a fresh, empty table in `memory` (at least bytes_needed, 64-byte aligned).
    // Returns nullopt when the memory is too small or the limits are invalid.
    [[nodiscard]] static std::optional<AssociationTable> create(std::span<std::byte> memory,
                                                                const TableLimits& limits,
                                                                const Timeouts& timeouts);
    // Attaches to a table laid out earlier in `memory` (e.g. shared memory after a
    // restart). Returns nullopt, with `why` set, when the layout is not ours
    // (why == kOtherLayout: another build's table, worth exporting with it) or
    // the header is damaged: a field out of range, inconsistent with the
    // others or with the size of `memory` (why names the field).
    [[nodiscard]] static std::optional<AssociationTable> attach(std::span<std::byte> memory,
                                                                const char** why = nullptr);

    // What a lookup found. Lookups do not write: an entry whose time is up
    // (expired, or matched only by an old tag whose restart linger ended) is
    // not `id`, and a time-driven change the entry awaits (that, or a restart
    // that never completed) is named in `due`. The sweep (expire) applies such
    // changes; a caller about to change the table (the decider, the sync
    // merge, an import) applies them first with settle(), so that it neither
    // reads a stale state nor inserts beside an expired entry.
    struct Found {
        AssociationId id = kNoAssociation;   // the live association, or kNoAssociation
        AssociationId due = kNoAssociation;  // the matching entry awaiting maintenance, or kNoAssociation
    };
    [[nodiscard]] Found find_by_ts(const IpAddress& addr, std::uint16_t sport, std::uint16_t dport,
                                   std::uint32_t ts, Nanos now) const;
    [[nodiscard]] Found find_by_tc(const IpAddress& addr, std::uint16_t sport, std::uint16_t dport,
                                   std::uint32_t tc, Nanos now) const;
    // Any live association of this peer address and port pair.
    [[nodiscard]] Found find_by_peer(const IpAddress& addr, std::uint16_t sport, std::uint16_t dport,
                                     Nanos now) const;
    // Applies what `found.due` awaits (the maintenance a sweep would do to that
    // entry). Returns the expiry event when the entry went, for the caller
    // to count (or not: an import's removals are not the data path's counts).
    std::optional<Event> settle(const Found& found, Nanos now);

    // Batching: a data path that has several packets at hand hides memory
    // latency by prefetching every packet's index slot, then its record, before
    // deciding any of them. Both are hints; neither changes the table.
    [[nodiscard]] std::uint32_t prefetch_ts_slot(const IpAddress& addr, std::uint16_t sport,
                                                 std::uint16_t dport, std::uint32_t ts) const;
    void prefetch_ts_record(std::uint32_t slot_hash) const;
    // find_by_ts() given the index hash prefetch_ts_slot() returned for the
    // same key: a batch hashes each key once. The full key is still matched
    // on the record.
    [[nodiscard]] Found find_by_ts_hashed(std::uint32_t slot_hash, const IpAddress& addr,
                                          std::uint16_t sport, std::uint16_t dport, std::uint32_t ts,
                                          Nanos now) const;

    // A new half-open association (INIT seen). Evicts the oldest half-open entry when
    // the half-open share is full; kNoAssociation when the table is full.
    AssociationId insert_half_open(std::span<const IpAddress> addresses, std::uint16_t sport,
                                   std::uint16_t dport, std::uint32_t tc, std::uint32_t fwmark,
                                   Nanos now, Counters& counters);
    // A new half-open association opened by a server (its INIT from a VIP seen):
    // `peer` is the INIT's destination, `peer_port` its destination port,
    // `server_port` its source port, `server_tag` its initiate tag (the vtag of
    // every peer -> VIP packet), `vip` its source. Tc stays unknown until the
    // peer's INIT ACK (set_tc). Respects the half-open share like an INIT.
    AssociationId insert_server_initiated(const IpAddress& peer, std::uint16_t peer_port,
                                          std::uint16_t server_port, std::uint32_t server_tag,
                                          const IpAddress& vip, std::uint32_t fwmark, Nanos now,
                                          Counters& counters);
    // A new established association pinned mid-stream (ports mode), keyed by Ts only.
    AssociationId insert_established(const IpAddress& address, std::uint16_t sport,
                                     std::uint16_t dport, std::uint32_t ts, std::uint32_t fwmark,
                                     Nanos now);

    // Re-creates an association from an export (`sctplb assoc --import`) or a
    // sync peer: state, tags, target, addresses and times as given.
    // kNoAssociation when full or when the record is not a live association.
    AssociationId insert_restored(const Association& fields);
    // The same, counting evictions of half-open entries (a half-open record
    // respects the half-open share, evicting the oldest).
    AssociationId insert_restored(const Association& fields, Counters& counters);

    // Sync only (association_table_sync.cpp).
    // Replaces a live association's fields with `fields` (a sync peer's newer
    // view): tags, state, addresses, target, times; the slot keeps its
    // generation. Not journaled. False when `fields` is not a live association.
    bool replace_restored(AssociationId id, const Association& fields);
    // last_seen_ns = max(last_seen_ns, seen_ns): another instance saw a packet
    // (and knows it: synced_seen_ns moves too).
    void touch_at_least(AssociationId id, std::int64_t seen_ns);
    // Sync bookkeeping (not journaled): the record is known to peers as it is now.
    void mark_synced(AssociationId id);
    void set_sync_origin(AssociationId id, Origin learned_from, Origin cookie_by, std::uint32_t sync_version);

    // Fast path (not journaled): whether the kernel forwards the association,
    // and the kernel's last packet time, last_seen_ns = max(last_seen_ns, seen_ns)
    // (reported to sync peers like a packet seen here).
    void set_in_fast_path(AssociationId id, bool in_fast_path) { records_[id].in_fast_path = in_fast_path; }
    void note_seen(AssociationId id, std::int64_t seen_ns) {
        if (seen_ns > records_[id].last_seen_ns) records_[id].last_seen_ns = seen_ns;
    }
    // Clears every in_fast_path flag (a daemon started without the fast path):
    // the sweep then expires idle associations again. Returns how many it cleared.
    std::size_t clear_fast_path_flags();

    // Local changes are journaled here (nullptr: not at all). Process-local.
    void set_journal(ChangeJournal* journal) { journal_ = journal; }

    // Mutations of a live association.
    void touch(AssociationId id, Nanos now);
    bool add_address(AssociationId id, const IpAddress& addr);  // false: full (counted by caller)
    void add_server_address(AssociationId id, const IpAddress& addr);
    void set_ts(AssociationId id, std::uint32_t ts);            // learn/replace Ts (re-indexes)
    void set_tc(AssociationId id, std::uint32_t tc);            // learn/replace Tc (re-indexes)
    // A server restarts the association it opened (a new INIT, new tag, §5.2.2):
    // Ts is the new tag at once, Tc unknown until the peer's INIT ACK, the old
    // keys linger (restart_linger) for packets in flight.
    void restart_server_initiated(AssociationId id, std::uint32_t new_ts, Nanos now);
    void establish(AssociationId id, Nanos now);                 // HalfOpen -> Established
    // A half-open entry gets a new INIT (new Tc) from the same peer: re-keyed in place.
    void replace_half_open(AssociationId id, std::uint32_t tc, std::uint32_t fwmark, Nanos now);
    void mark_restart_pending(AssociationId id, std::uint32_t new_tc, Nanos now);
    // Completes a restart: new Tc (the pending one) and new Ts; old keys linger.
    void complete_restart(AssociationId id, std::uint32_t new_ts, Nanos now);
    void set_state(AssociationId id, AssociationState state, Nanos now);
    void remove(AssociationId id);

    // Incremental sweep of up to `budget` slots for expired entries; returns how
    // many went. The cursor is shared by every caller; a SweepPacer says how
    // many slots are due.
    std::size_t expire(Nanos now, std::size_t budget, Counters& counters);
    // Rebuilds the indexes from the association records (after a writer died mid-update).
    void rebuild_indexes();

    [[nodiscard]] const Association& at(AssociationId id) const { return records_[id]; }
    [[nodiscard]] std::uint32_t capacity() const { return header_->capacity; }
    [[nodiscard]] std::uint32_t size() const { return header_->live; }
    [[nodiscard]] std::uint32_t half_open_count() const { return header_->half_open; }
    [[nodiscard]] std::uint32_t half_open_capacity() const { return header_->half_open_capacity; }
    [[nodiscard]] const Timeouts& timeouts() const { return header_->timeouts; }
    // Keys an index had no room for: an association not findable by every key.
    // New entries stop at 5/8 of an index so that this stays 0 in practice.
    [[nodiscard]] std::uint64_t index_failures() const { return header_->index_failures; }

    template <typename Fn>
    void for_each(Fn&& fn) const {
        for_each_in(0, header_->capacity, fn);
    }
    // The live associations among slots [begin, end): lets a reader walk a large
    // table in pieces, releasing the lock between them.
    template <typename Fn>
    void for_each_in(std::uint32_t begin, std::uint32_t end, Fn&& fn) const {
        if (end > header_->capacity) end = header_->capacity;
        for (std::uint32_t i = begin; i < end; ++i)
            if (records_[i].state != AssociationState::Free) fn(i, records_[i]);
    }

    // The table's first bytes: layout, limits and counts (shared memory safe).
    // Public so that tests can forge damaged headers; attach() checks every
    // field it relies on before using one.
    struct Header {
        std::uint64_t magic;
        std::uint32_t layout_version;
        std::uint32_t record_size;  // sizeof(Association) of the writer
        std::uint32_t capacity;
        std::uint32_t half_open_capacity;
        std::uint32_t index_slots;  // per index, a power of two
        std::uint32_t ring_slots;   // 2 * half_open_capacity
        std::uint64_t index_seed;
        Timeouts timeouts;
        std::uint32_t live;
        std::uint32_t half_open;
        std::uint32_t free_head;  // id + 1 of the first free record, 0 = none
        std::uint32_t sweep_cursor;
        std::uint64_t ring_head;  // FIFO positions, modulo ring_slots
        std::uint64_t ring_tail;
        std::array<std::uint32_t, 3> index_used;
        std::uint64_t index_failures;  // keys that found an index full (see index_failures())
    };
    // An index slot: 0 = empty, else record id + 1, with 32 bits of the key hash.
    struct IndexSlot {
        std::uint32_t record_plus_one;
        std::uint32_t hash;
    };

private:
    enum class IndexKind : std::uint8_t { Ts = 0, Tc = 1, Peer = 2 };
    static constexpr std::size_t kIndexCount = 3;

    AssociationTable(Header* header, Association* records,
                     std::array<IndexSlot*, kIndexCount> indexes, std::uint64_t* half_open_ring);

    [[nodiscard]] std::uint32_t key_hash(IndexKind kind, const IpAddress& addr,
                                                std::uint16_t sport, std::uint16_t dport,
                                                std::uint32_t tag) const;
    // `old_tags`: whether a lingering old tag still routes.
    [[nodiscard]] static bool matches(IndexKind kind, const Association& a, const IpAddress& addr,
                                      std::uint16_t sport, std::uint16_t dport, std::uint32_t tag,
                                      bool old_tags = true);
    // The expiry event when the entry's time is up (it must go), else nullopt. Pure.
    [[nodiscard]] std::optional<Event> expiry_due(const Association& a, Nanos now) const;
    // Applies time-driven changes to one entry; the expiry event when it must go.
    std::optional<Event> maintain(AssociationId id, Nanos now);
    // `h`: key_hash(kind, addr, sport, dport, tag).
    [[nodiscard]] Found find(IndexKind kind, std::uint32_t h, const IpAddress& addr, std::uint16_t sport,
                             std::uint16_t dport, std::uint32_t tag, Nanos now) const;
    bool index_insert(IndexKind kind, const IpAddress& addr, std::uint16_t sport,
                      std::uint16_t dport, std::uint32_t tag, AssociationId id);
    void index_erase(IndexKind kind, const IpAddress& addr, std::uint16_t sport,
                     std::uint16_t dport, std::uint32_t tag, AssociationId id);
    bool index_address(AssociationId id, const IpAddress& addr);  // false: an index is full
    [[nodiscard]] bool index_room_for_new() const;
    void unindex_address(AssociationId id, const IpAddress& addr);
    void unindex_all(AssociationId id);
    void drop_old_tags(AssociationId id);
    AssociationId allocate(Nanos now);
    // allocate() within the half-open share (evicting its oldest) and index room.
    AssociationId allocate_half_open(Nanos now, Counters& counters);
    void push_half_open(AssociationId id);
    [[nodiscard]] bool ring_entry_live(std::uint64_t entry) const;
    void compact_half_open_ring();
    bool evict_oldest_half_open();  // the caller counts Event::HalfOpenEvicted
    // insert_restored(); `evicted`: the oldest half-open entry went to make room.
    AssociationId restore(const Association& fields, bool& evicted);
    void set_state_counted(Association& a, AssociationState state);
    // add_address() without journaling (the caller journals the whole change).
    bool append_address(AssociationId id, const IpAddress& addr);
    // A change peers must learn: bumps sync_version and journals the id.
    void note_change(AssociationId id);

    Header* header_;
    Association* records_;
    std::array<IndexSlot*, kIndexCount> indexes_;
    std::uint64_t* half_open_ring_;  // (generation << 32 | id), FIFO of half-open entries
    ChangeJournal* journal_ = nullptr;
};

}  // namespace sctplb

// The lookup path's definitions (inline, for decide_batch()).
#include "core/association_table_lookup.hpp"
