// The readers shared by `sctplb stats` and `sctplb metrics` (stats_readers.hpp).
#include "cli/stats_readers.hpp"

#include "cli/control_common.hpp"

namespace sctplb::cli {

Totals sum_counters(const SharedHeader& h) {
    Totals t;
    std::vector<const ThreadCounters*> slots;
    for (const ThreadCounters& slot : h.threads) slots.push_back(&slot);
    slots.push_back(&h.sync.decisions);
    slots.push_back(&h.fast_path.decisions);
    for (const ThreadCounters* slot_pointer : slots) {
        const ThreadCounters& slot = *slot_pointer;
        for (std::size_t i = 0; i < kReasonCount; ++i) t.reasons[i] += slot.reasons[i].load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < kEventCount; ++i) t.events[i] += slot.events[i].load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < kMaxTargetSlots; ++i)
            t.per_target[i] += slot.per_target_packets[i].load(std::memory_order_relaxed);
        t.packets += slot.packets.load(std::memory_order_relaxed);
        t.batches += slot.batches.load(std::memory_order_relaxed);
        t.enobufs += slot.enobufs.load(std::memory_order_relaxed);
    }
    return t;
}

TableFill read_table_fill(SharedState& state) {
    TableFill fill;
    const TableLock lock(state);
    fill.size = state.table().size();
    fill.capacity = state.table().capacity();
    fill.half_open = state.table().half_open_count();
    fill.half_open_capacity = state.table().half_open_capacity();
    fill.index_failures = state.table().index_failures();
    return fill;
}

std::array<std::uint64_t, kAssociationStateCount> count_associations_by_state(SharedState& state) {
    std::array<std::uint64_t, kAssociationStateCount> counts{};
    const std::uint32_t capacity = state.table().capacity();
    for (std::uint32_t begin = 0; begin < capacity; begin += kSlotsPerLock) {
        const TableLock lock(state);
        state.table().for_each_in(begin, begin + kSlotsPerLock, [&](AssociationId, const Association& a) {
            const auto index = static_cast<std::size_t>(a.state);
            if (index < counts.size()) ++counts[index];
        });
    }
    return counts;
}

std::vector<std::uint32_t> served_queues(const SharedHeader& h) {
    std::vector<std::uint32_t> queues;
    for (const ThreadCounters& slot : h.threads)
        if (slot.in_use.load(std::memory_order_acquire) != 0) queues.push_back(slot.queue.load());
    return queues;
}

}  // namespace sctplb::cli
