// Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4, "Pseudocode 1").
//
// Targets are identified by fwmark. A target's permutation derives from
// (seed, fwmark) only and targets are filled in ascending fwmark order, so
// every LB instance with the same seed, M, active set and weights builds the
// identical table whatever the order in which targets were activated.
//
// Weights (§3.4 leaves the method open): in each round of the population a
// target of weight w takes w turns in a row, each claiming one slot, so its
// share of the M slots is w / (sum of weights) give or take w slots (the last,
// partial round). With every weight 1 this is exactly Pseudocode 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/keyed_hash.hpp"

namespace sctplb {

inline constexpr std::uint32_t kMaglevDefaultM = 997;      // as nfqlb
inline constexpr std::uint32_t kMaglevMaxM = 1'000'003;   // > 655373
inline constexpr std::uint32_t kNoTarget = 0;             // slot value when no target is active
// Weights are 1..kMaglevMaxWeight. A target's share is off by at most its
// weight in slots, i.e. weight / M of the traffic, so M must stay well above
// the sum of weights: 100 allows a 1:100 spread of servers while the largest
// tier (256 targets, all of weight 100: sum 25,600) still gets 39 slots per
// unit of weight at the largest M. A weight above that is more likely a typo.
inline constexpr std::uint32_t kMaglevMaxWeight = 100;

struct MaglevTarget {
    std::uint32_t fwmark = 0;
    std::uint32_t weight = 1;
};

[[nodiscard]] bool is_prime(std::uint32_t n);

// Fills `table` (its size is M, which must be prime) with the fwmark owning
// each slot; every slot gets kNoTarget when `active_fwmarks` is empty.
// `active_fwmarks` need not be sorted; duplicates and 0 are not allowed
// (returns false and leaves `table` untouched). Allocates O(N) scratch: this
// runs on configuration changes, never per packet. Every target has weight 1.
bool maglev_populate(const KeyedHash& hash, std::span<const std::uint32_t> active_fwmarks,
                     std::span<std::uint32_t> table);

// The same with weights (a name of its own, so `{}` stays unambiguous): each
// weight in 1..kMaglevMaxWeight and their sum at most M (every target gets a
// slot); false otherwise, `table` untouched. All weights 1: the table above.
bool maglev_populate_weighted(const KeyedHash& hash, std::span<const MaglevTarget> active_targets,
                              std::span<std::uint32_t> table);

// Slot lookup: the data path's one load.
[[nodiscard]] inline std::uint32_t maglev_lookup(std::span<const std::uint32_t> table,
                                                 std::uint64_t key_hash) {
    return table[key_hash % table.size()];
}

}  // namespace sctplb
