#include "core/hold_queue.hpp"

#include <algorithm>
#include <cstring>

namespace sctplb {

HoldQueue::HoldQueue(std::size_t capacity, std::size_t copy_capacity, Nanos hold_for)
    : copy_capacity_(copy_capacity),
      hold_for_(hold_for),
      ring_(capacity),
      storage_(capacity * copy_capacity),
      free_slots_(capacity),
      free_count_(capacity) {
    // Slot 0 on top: the first holds fill storage from its start.
    for (std::size_t i = 0; i < capacity; ++i) free_slots_[i] = static_cast<std::uint32_t>(capacity - 1 - i);
}

bool HoldQueue::try_hold(std::uint32_t id, std::uint32_t mark, std::span<const std::byte> bytes,
                         std::uint32_t wire_length, Reason reason, Nanos now) {
    if (full()) return false;
    now = std::max(now, last_held_at_);
    last_held_at_ = now;
    const std::uint32_t slot = free_slots_[--free_count_];
    std::byte* const data = storage_.data() + std::size_t{slot} * copy_capacity_;
    const std::size_t length = std::min(bytes.size(), copy_capacity_);
    if (length > 0) std::memcpy(data, bytes.data(), length);

    HeldPacket& entry = ring_[index(count_)];
    entry.id = id;
    entry.mark = mark;
    entry.wire_length = wire_length;
    entry.reason = reason;
    entry.held_at = now;
    entry.deadline = now + hold_for_;
    entry.data_ = data;
    entry.length_ = length;
    entry.slot_ = slot;
    ++count_;
    return true;
}

Nanos HoldQueue::earliest_deadline() const { return count_ > 0 ? ring_[head_].deadline : Nanos::max(); }

}  // namespace sctplb
