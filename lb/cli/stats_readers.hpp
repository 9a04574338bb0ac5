// What `sctplb stats` and `sctplb metrics` read from a segment: the counters
// summed over the data-path threads, the table's fill, associations by state,
// the queues this segment's daemon serves. One reader for both commands.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/association_table.hpp"
#include "io/shared_state.hpp"
#include "core/verdict.hpp"

namespace sctplb::cli {

// Every ThreadCounters slot (data-path threads, the sync thread, the fast path) summed.
struct Totals {
    std::array<std::uint64_t, kReasonCount> reasons{};
    std::array<std::uint64_t, kEventCount> events{};
    std::array<std::uint64_t, kMaxTargetSlots> per_target{};
    std::uint64_t packets = 0, batches = 0, enobufs = 0;
};
[[nodiscard]] Totals sum_counters(const SharedHeader& h);

struct TableFill {
    std::uint32_t size = 0, capacity = 0, half_open = 0, half_open_capacity = 0;
    std::uint64_t index_failures = 0;
};
// One short hold of the table lock.
[[nodiscard]] TableFill read_table_fill(SharedState& state);

inline constexpr std::size_t kAssociationStateCount = static_cast<std::size_t>(AssociationState::Closed) + 1;
// Live associations per AssociationState (index Free stays 0), walking the
// table kSlotsPerLock slots per hold of the lock, as `assoc` does.
[[nodiscard]] std::array<std::uint64_t, kAssociationStateCount> count_associations_by_state(SharedState& state);

// The NFQUEUE numbers the running daemon's threads serve.
[[nodiscard]] std::vector<std::uint32_t> served_queues(const SharedHeader& h);

}  // namespace sctplb::cli
