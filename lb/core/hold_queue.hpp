// The packets one data-path thread holds back: a client -> server packet with
// an unknown vtag may belong to an association another LB instance has just
// created and is about to sync to us (issue 5, "hold for sync"). Its NFQUEUE
// verdict is deferred up to a deadline; the thread decides it again whenever
// the sync applied records, and drops it at the deadline. Never guessed: a
// wrong server ABORTs the association (RFC 9260 §8.4 rule 8).
//
// A bounded FIFO. All memory (entries and a copy of each packet's bytes, up to
// the copy range) is allocated by the constructor; nothing afterwards.
// Deadlines are `held_at + hold duration`, non-decreasing in hold order, so
// the oldest entry always expires first. Not thread-safe: one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/association_table.hpp"  // Nanos
#include "core/verdict.hpp"

namespace sctplb {

class HoldQueue;

struct HeldPacket {
    std::uint32_t id = 0;           // the NFQUEUE packet id its verdict must name
    std::uint32_t mark = 0;         // the skb mark it arrived with (apply_mark keeps other bits)
    std::uint32_t wire_length = 0;  // its length on the wire (the copy may be shorter)
    Reason reason = Reason::UnknownAssociation;  // the drop reason that made us hold it
    Nanos held_at{0};
    Nanos deadline{0};              // expired when now >= deadline
    [[nodiscard]] std::span<const std::byte> bytes() const { return {data_, length_}; }

private:
    friend class HoldQueue;
    const std::byte* data_ = nullptr;  // into the queue's storage; stable while held
    std::size_t length_ = 0;
    std::uint32_t slot_ = 0;
};

// What a retry callback says about one held packet.
enum class HoldOutcome : std::uint8_t {
    Keep,      // still unknown: stays held, in order
    Resolved,  // the caller gave it its verdict: the entry is freed
};

class HoldQueue {
public:
    // `capacity` packets of at most `copy_capacity` bytes each, held for
    // `hold_for` each. Allocates everything now.
    HoldQueue(std::size_t capacity, std::size_t copy_capacity, Nanos hold_for);

    // Holds a copy of `bytes` (cut to copy_capacity) until now + hold_for.
    // False when full: the caller decides now (drops, counts hold-overflow).
    // A `now` earlier than the previous hold's is treated as that one, so
    // deadlines stay in FIFO order even with a clock that steps back.
    bool try_hold(std::uint32_t id, std::uint32_t mark, std::span<const std::byte> bytes,
                  std::uint32_t wire_length, Reason reason, Nanos now);

    // Calls decide(const HeldPacket&) -> HoldOutcome for every held packet,
    // oldest first; frees the Resolved ones and keeps the others in order.
    // `decide` must not call back into this queue.
    template <typename Decide>
    void retry(Decide&& decide) {
        std::size_t kept = 0;
        const std::size_t count = count_;
        for (std::size_t k = 0; k < count; ++k) {
            HeldPacket& entry = ring_[index(k)];
            if (decide(static_cast<const HeldPacket&>(entry)) == HoldOutcome::Resolved) {
                release(entry);
            } else {
                if (kept != k) ring_[index(kept)] = entry;
                ++kept;
            }
        }
        count_ = kept;
    }

    // Calls expired(const HeldPacket&) for every packet whose deadline is at
    // or before `now`, oldest first, and frees them. Returns how many.
    template <typename Expired>
    std::size_t pop_expired(Nanos now, Expired&& expired) {
        std::size_t popped = 0;
        while (count_ > 0 && ring_[head_].deadline <= now) {
            HeldPacket& entry = ring_[head_];
            expired(static_cast<const HeldPacket&>(entry));
            release(entry);
            head_ = (head_ + 1) % ring_.size();
            --count_;
            ++popped;
        }
        return popped;
    }

    // Frees every held packet, oldest first, after calling each(const HeldPacket&)
    // (at stop: the caller sends each its drop verdict).
    template <typename Each>
    void drain(Each&& each) {
        while (count_ > 0) {
            HeldPacket& entry = ring_[head_];
            each(static_cast<const HeldPacket&>(entry));
            release(entry);
            head_ = (head_ + 1) % ring_.size();
            --count_;
        }
    }

    [[nodiscard]] std::size_t size() const { return count_; }
    [[nodiscard]] std::size_t capacity() const { return ring_.size(); }
    [[nodiscard]] bool empty() const { return count_ == 0; }
    [[nodiscard]] bool full() const { return count_ == ring_.size(); }
    [[nodiscard]] std::size_t copy_capacity() const { return copy_capacity_; }
    [[nodiscard]] Nanos hold_for() const { return hold_for_; }
    // The oldest held packet's NFQUEUE id, none when empty. Packets are held
    // in the order the kernel queued them, so it is also the smallest id
    // (wrapping) still awaiting a verdict from this queue's holder.
    [[nodiscard]] std::optional<std::uint32_t> oldest_id() const {
        if (count_ == 0) return std::nullopt;
        return ring_[head_].id;
    }
    // The oldest packet's deadline; meaningless when empty (returns Nanos::max()).
    [[nodiscard]] Nanos earliest_deadline() const;

private:
    [[nodiscard]] std::size_t index(std::size_t k) const { return (head_ + k) % ring_.size(); }
    void release(const HeldPacket& entry) { free_slots_[free_count_++] = entry.slot_; }

    std::size_t copy_capacity_;
    Nanos hold_for_;
    std::vector<HeldPacket> ring_;           // FIFO of entries, `count_` from `head_`
    std::size_t head_ = 0;
    std::size_t count_ = 0;
    std::vector<std::byte> storage_;         // capacity * copy_capacity bytes
    std::vector<std::uint32_t> free_slots_;  // stack of free storage slots
    std::size_t free_count_ = 0;
    Nanos last_held_at_{Nanos::min()};
};

}  // namespace sctplb
