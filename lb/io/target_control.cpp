#include "io/target_control.hpp"

#include <algorithm>
#include <vector>

namespace sctplb {

std::optional<TargetChange> change_target_state(SharedState& state, std::span<const std::uint32_t> fwmarks,
                                                TargetState new_state, std::uint32_t slots_per_lock,
                                                const std::function<bool(TargetState)>& allowed,
                                                std::string& error) {
    SharedHeader& h = state.header();
    TargetChange change;
    const ConfigLock config(state);
    TargetSnapshot targets = read_targets(h);
    std::vector<std::uint32_t> slots;
    for (const std::uint32_t fwmark : fwmarks) {
        std::optional<std::uint32_t> slot;
        for (std::uint32_t i = 0; i < h.max_targets && !slot; ++i)
            if (targets[i].state != TargetState::Unused && targets[i].fwmark == fwmark) slot = i;
        if (!slot) {
            error = "fwmark " + std::to_string(fwmark) + " is not a target (see sctplb show)";
            return std::nullopt;
        }
        if (allowed && !allowed(targets[*slot].state)) {
            error.clear();
            return std::nullopt;
        }
        slots.push_back(*slot);
    }
    for (const std::uint32_t slot : slots) targets[slot].state = new_state;
    write_targets(h, targets);
    if (!state.publish_targets(error)) return std::nullopt;
    change.digest = h.config_digest;  // under the lock: another CLI may publish right after
    if (new_state != TargetState::Down) return change;
    // After the publish: no new association can pick these targets any more.
    const std::uint32_t capacity = state.table().capacity();
    for (std::uint32_t begin = 0; begin < capacity; begin += slots_per_lock) {
        const TableLock lock(state);
        std::vector<AssociationId> doomed;
        state.table().for_each_in(begin, begin + slots_per_lock, [&](AssociationId id, const Association& a) {
            if (std::find(fwmarks.begin(), fwmarks.end(), a.fwmark) != fwmarks.end()) doomed.push_back(id);
        });
        for (const AssociationId id : doomed) state.table().remove(id);
        change.forgotten += doomed.size();
    }
    return change;
}

}  // namespace sctplb
