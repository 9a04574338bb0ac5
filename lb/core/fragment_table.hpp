// What became of the first fragment of each recently fragmented packet, so
// that the other fragments (no SCTP header: RFC 791 §3.2, RFC 8200 §4.5) take
// the same way: same server, or dropped alike.
//
// Keyed by (source, destination, IP Identification, protocol), the key IP
// reassembly itself uses. Fixed capacity, allocated once; an entry lives `ttl`
// (a datagram's fragments arrive within milliseconds of each other; RFC 8200
// gives reassembly 60 s, far more than a forwarding LB should remember).
// Inserting into a full neighbourhood overwrites its oldest entry (counted).
// Not thread-safe: the data path uses it under the table lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/association_table.hpp"
#include "core/packet.hpp"
#include "core/verdict.hpp"

namespace sctplb {

class FragmentTable {
public:
    static constexpr std::size_t kProbe = 8;  // slots searched per key

    // `capacity` is rounded up to a power of two (at least kProbe).
    explicit FragmentTable(std::size_t capacity = 4096, Nanos ttl = std::chrono::seconds(2));

    // Remembers the verdict of a first fragment (p.fragment.present && first).
    void record(const ParsedPacket& first, const Verdict& verdict, Nanos now, Counters& counters);
    // The verdict of the first fragment of this (non-first) fragment, if known.
    [[nodiscard]] std::optional<Verdict> find(const ParsedPacket& fragment, Nanos now) const;

    // Bumped by every record(): a data path holding early fragments retries them.
    [[nodiscard]] std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    [[nodiscard]] std::size_t capacity() const { return slots_.size(); }

private:
    struct Slot {
        IpAddress src{};
        IpAddress dst{};
        std::uint32_t id = 0;
        std::uint8_t protocol = 0;
        bool used = false;
        Verdict verdict{};
        std::int64_t expires_ns = 0;
    };
    [[nodiscard]] std::size_t home(const ParsedPacket& p) const;
    [[nodiscard]] static bool same_key(const Slot& s, const ParsedPacket& p);

    std::vector<Slot> slots_;
    Nanos ttl_;
    std::atomic<std::uint64_t> generation_{0};
};

}  // namespace sctplb
