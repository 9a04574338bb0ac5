// Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4, "Pseudocode 1").
//
// Targets are identified by fwmark. A target's permutation derives from
// (seed, fwmark) only and targets are filled in ascending fwmark order, so
// every LB instance with the same seed, M and active set builds the identical
// table whatever the order in which targets were activated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "keyed_hash.hpp"

namespace sctplb {

inline constexpr std::uint32_t kMaglevDefaultM = 997;      // as nfqlb
inline constexpr std::uint32_t kMaglevMaxM = 1'000'003;   // > 655373
inline constexpr std::uint32_t kNoTarget = 0;             // slot value when no target is active

[[nodiscard]] bool is_prime(std::uint32_t n);

// Fills `table` (its size is M, which must be prime) with the fwmark owning
// each slot; every slot gets kNoTarget when `active_fwmarks` is empty.
// `active_fwmarks` need not be sorted; duplicates and 0 are not allowed
// (returns false and leaves `table` untouched). Allocates O(N) scratch: this
// runs on configuration changes, never per packet.
bool maglev_populate(const KeyedHash& hash, std::span<const std::uint32_t> active_fwmarks,
                     std::span<std::uint32_t> table);

// Slot lookup: the data path's one load.
[[nodiscard]] inline std::uint32_t maglev_lookup(std::span<const std::uint32_t> table,
                                                 std::uint64_t key_hash) {
    return table[key_hash % table.size()];
}

}  // namespace sctplb
