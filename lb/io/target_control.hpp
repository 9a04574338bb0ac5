// Changing the state of existing targets, as `sctplb deactivate | down` and the
// health checker (`sctplb health`) do: under config_mutex, write the slots,
// republish the Maglev table; Down then forgets the targets' associations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "io/shared_state.hpp"

namespace sctplb {

struct TargetChange {
    std::size_t forgotten = 0;  // associations removed (Down only)
    std::string digest;         // the config digest this change published
};

// Sets every fwmark to `new_state`. `allowed` (optional) sees each target's
// current state under the lock and may refuse (then nothing changes and the
// result is nullopt with an empty `error`): the health checker never
// overrides what an operator did meanwhile. A fwmark that is no target is an
// error (one line). Associations are forgotten in pieces of
// `slots_per_lock`, so the data path never waits for the whole table.
std::optional<TargetChange> change_target_state(SharedState& state, std::span<const std::uint32_t> fwmarks,
                                                TargetState new_state, std::uint32_t slots_per_lock,
                                                const std::function<bool(TargetState)>& allowed,
                                                std::string& error);

}  // namespace sctplb
