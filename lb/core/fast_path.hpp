// The fast path's bookkeeping (docs/design.md "The kernel fast path"): which
// associations the kernel may forward on its own, which map elements that
// takes, and what the kernel holds now. No system calls: the I/O layer
// (lb/io/fast_path_service) applies the changes through netlink.
//
// One element per client address of an established association:
//   (client address, sport, dport, Ts) -> the target's fwmark
// Every client -> server packet carries Ts as its verification tag (RFC 9260
// §8.5), so the kernel can mark DATA, SACK, HEARTBEAT... by itself; the packets
// that change an association's state (INIT, COOKIE ECHO, ASCONF, ABORT,
// SHUTDOWN*) and IP fragments still reach the daemon (the rules send them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/association_table.hpp"
#include "core/ip_address.hpp"

namespace sctplb {

// One element's key: a client address of an association, its ports and the
// server's verification tag Ts. Ports and tag in host order.
struct FastPathKey {
    IpAddress client;
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
    std::uint32_t vtag = 0;
    friend bool operator==(const FastPathKey&, const FastPathKey&) = default;
};

struct FastPathKeyHash {
    std::size_t operator()(const FastPathKey& key) const;
};

struct FastPathElement {
    FastPathKey key;
    std::uint32_t fwmark = 0;       // the map's data: the target's mark
    std::uint64_t timeout_ms = 0;   // on add: the element's timeout (0: the map's)
    std::uint64_t expires_ms = 0;   // from a dump: time left before the kernel drops it
};

// Whether the kernel may forward `a`: established (a restart may be pending:
// until it completes, the old tags are the association's), Ts known, and its
// target still takes its packets (`target_serves`: active or draining, not down).
[[nodiscard]] bool fast_path_eligible(const Association& a, bool target_serves);

// Changes for the kernel, planned from the table, applied by the I/O layer,
// then committed back into the ledger with each add's outcome.
struct FastPathBatch {
    std::vector<FastPathKey> remove;
    std::vector<FastPathElement> add;
    std::vector<AssociationId> add_owner;  // add[i] belongs to add_owner[i]
    struct Planned {
        AssociationId id;
        bool wanted;               // false: everything of `id` was removed
        std::uint32_t generation;  // the record as planned
        std::uint32_t ts;
        std::uint16_t sport, dport;
        std::uint32_t fwmark;
        std::uint8_t address_count;
        std::uint8_t kept;         // addresses already installed and kept
    };
    std::vector<Planned> planned;
    [[nodiscard]] bool empty() const { return remove.empty() && add.empty() && planned.empty(); }
    void clear() {
        remove.clear();
        add.clear();
        add_owner.clear();
        planned.clear();
    }
};

// What this process installed in the kernel, per association slot.
class FastPathLedger {
public:
    struct Entry {
        std::uint32_t generation = 0;
        std::uint32_t ts = 0;
        std::uint16_t sport = 0, dport = 0;
        std::uint32_t fwmark = 0;
        std::uint8_t considered = 0;  // record addresses looked at (installed or refused)
        std::uint8_t installed = 0;   // addresses[0..installed) are in the kernel
        std::array<IpAddress, kMaxClientAddresses> addresses{};
    };

    // Compares slot `id` with what is installed and appends to `batch` what
    // makes the kernel match: nothing when it already does. `record` is the
    // table's record (Free when the slot is empty); `wanted` says whether it
    // belongs in the fast path (fast_path_eligible). New elements get
    // `timeout_ms` (0: the map's timeout). An unwanted live record still
    // flagged in_fast_path is planned (as a removal) even when nothing is
    // installed, so that set_fast_path_flags clears its flag.
    void plan(AssociationId id, const Association& record, bool wanted, std::uint64_t timeout_ms,
              FastPathBatch& batch) const;
    // Records the outcome of an applied batch: add_ok[i] for batch.add[i].
    void commit(const FastPathBatch& batch, const std::vector<bool>& add_ok);

    // The kernel held `element` at start and the table has it as `id` (the
    // record's address `address_index`): adopt it instead of re-adding it.
    void adopt(AssociationId id, const Association& record, std::size_t address_index);
    // Forgets `id` without touching the kernel (its elements are gone).
    void forget(AssociationId id);
    // Keeps only the installed addresses whose bit is set in `present` (the
    // others timed out in the kernel: an address idle on this LB, e.g. the
    // other path's, which another LB carries). They are not added again.
    void retain(AssociationId id, std::uint8_t present);

    [[nodiscard]] const Entry* find(AssociationId id) const;
    // find(id) != nullptr, in O(1) without hashing: the walk asks it for every free slot.
    [[nodiscard]] bool tracks(AssociationId id) const { return id < tracked_.size() && tracked_[id]; }
    [[nodiscard]] std::size_t associations() const { return entries_.size(); }
    [[nodiscard]] std::size_t elements() const { return element_count_; }
    // Which association an installed element belongs to; kNoAssociation if none.
    [[nodiscard]] AssociationId owner(const FastPathKey& key) const;
    template <typename Fn>
    void for_each(Fn&& fn) const {
        for (const auto& [id, entry] : entries_) fn(id, entry);
    }

private:
    void drop_keys(const Entry& entry);
    Entry& track(AssociationId id);
    void untrack(AssociationId id);
    std::unordered_map<AssociationId, Entry> entries_;
    std::vector<bool> tracked_;
    std::unordered_map<FastPathKey, AssociationId, FastPathKeyHash> owners_;
    std::size_t element_count_ = 0;
};

// After `batch` was applied and committed to `ledger`: sets each planned
// record's in_fast_path flag to whether the kernel now holds elements of it.
// A plan made for an older occupant of the slot (another generation) is
// skipped. The caller holds the table lock.
void set_fast_path_flags(AssociationTable& table, const FastPathBatch& batch, const FastPathLedger& ledger);

// The kernel's view of one installed association after a dump: when it last
// saw a packet (from the elements' time left), or that all its elements are gone.
struct FastPathActivity {
    AssociationId id;
    bool gone;             // no element left: the kernel found it idle (or lost it)
    std::int64_t seen_ns;  // !gone: latest packet time by the kernel's refreshes
    std::uint8_t present;  // bit i: the entry's installed address i is still in the kernel
};

// When the kernel last refreshed an element that has `expires_ms` left of
// `timeout_ms` (every packet resets it to the full timeout), at `now_ns`.
[[nodiscard]] std::int64_t fast_path_seen_at(std::uint64_t expires_ms, std::uint64_t timeout_ms, std::int64_t now_ns);

// Folds a dump of the kernel's elements into per-association activity for the
// ledger's associations. `now_ns` is the monotonic time of the dump; an element
// with `expires_ms` left of `timeout_ms` was refreshed timeout - expires ago.
[[nodiscard]] std::vector<FastPathActivity> fast_path_activity(const FastPathLedger& ledger,
                                                               std::span<const FastPathElement> dump,
                                                               std::uint64_t timeout_ms, std::int64_t now_ns);

}  // namespace sctplb
