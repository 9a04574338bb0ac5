#include "core/fragment_table.hpp"

#include <xxhash.h>

#include <array>
#include <bit>
#include <cstring>

namespace sctplb {

FragmentTable::FragmentTable(std::size_t capacity, Nanos ttl)
    : slots_(std::bit_ceil(std::max(capacity, kProbe))), ttl_(ttl) {}

std::size_t FragmentTable::home(const ParsedPacket& p) const {
    std::array<std::uint8_t, 16 + 16 + 4 + 1> key{};
    std::memcpy(key.data(), p.src.bytes().data(), 16);
    std::memcpy(key.data() + 16, p.dst.bytes().data(), 16);
    std::memcpy(key.data() + 32, &p.fragment.id, 4);
    key[36] = p.fragment.protocol;
    return static_cast<std::size_t>(XXH3_64bits(key.data(), key.size())) & (slots_.size() - 1);
}

bool FragmentTable::same_key(const Slot& s, const ParsedPacket& p) {
    return s.used && s.id == p.fragment.id && s.protocol == p.fragment.protocol && s.src == p.src && s.dst == p.dst;
}

void FragmentTable::record(const ParsedPacket& first, const Verdict& verdict, Nanos now, Counters& counters) {
    const std::size_t mask = slots_.size() - 1;
    const std::size_t start = home(first);
    std::size_t victim = start;
    for (std::size_t i = 0; i < kProbe; ++i) {
        Slot& s = slots_[(start + i) & mask];
        // The same packet again (a retransmission reuses the ID only by chance), a free or an expired slot.
        if (same_key(s, first) || !s.used || s.expires_ns <= now.count()) {
            victim = (start + i) & mask;
            break;
        }
        if (s.expires_ns < slots_[victim].expires_ns) victim = (start + i) & mask;
        if (i + 1 == kProbe) counters.count(Event::FragmentEvicted);
    }
    Slot& s = slots_[victim];
    s.src = first.src;
    s.dst = first.dst;
    s.id = first.fragment.id;
    s.protocol = first.fragment.protocol;
    s.used = true;
    s.verdict = verdict;
    s.expires_ns = now.count() + ttl_.count();
    generation_.fetch_add(1, std::memory_order_release);
}

std::optional<Verdict> FragmentTable::find(const ParsedPacket& fragment, Nanos now) const {
    const std::size_t mask = slots_.size() - 1;
    const std::size_t start = home(fragment);
    for (std::size_t i = 0; i < kProbe; ++i) {
        const Slot& s = slots_[(start + i) & mask];
        if (same_key(s, fragment) && s.expires_ns > now.count()) return s.verdict;
    }
    return std::nullopt;
}

}  // namespace sctplb
