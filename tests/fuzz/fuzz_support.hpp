// Helpers shared by the fuzz targets: a table in heap memory, a bounded reader
// over the fuzzer's bytes, and the association-table invariants every target
// checks. Header-only so that each target (libFuzzer or replay) compiles it in.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/association_table.hpp"
#include "support/address.hpp"
#include "support/table_fixture.hpp"
#include "core/verdict.hpp"

namespace sctplb::fuzz {

// An invariant broke: say which (the fuzzer keeps the input), then crash.
[[noreturn]] inline void invariant_failed(const char* what) {
    std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
    __builtin_trap();
}
#define SCTPLB_FUZZ_CHECK(condition) \
    do {                             \
        if (!(condition)) ::sctplb::fuzz::invariant_failed(#condition); \
    } while (false)

// Consumes the fuzzer's bytes front to back; reads past the end yield 0 / empty.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
    [[nodiscard]] bool empty() const { return offset_ >= bytes_.size(); }
    std::uint8_t u8() { return empty() ? 0 : bytes_[offset_++]; }
    std::uint16_t be16() {
        const std::uint16_t high = u8();
        return static_cast<std::uint16_t>((high << 8) | u8());
    }
    // Up to `length` bytes (fewer at the end of the input).
    std::span<const std::uint8_t> take(std::size_t length) {
        const std::size_t n = std::min(length, bytes_.size() - std::min(offset_, bytes_.size()));
        const auto out = bytes_.subspan(std::min(offset_, bytes_.size()), n);
        offset_ += n;
        return out;
    }

private:
    std::span<const std::uint8_t> bytes_;
    std::size_t offset_ = 0;
};

// Virtual-time steps a control byte picks from: nothing, packet spacing,
// retransmission timers, and past each table timeout (Timeouts defaults:
// closed 10 s, restart 30 s, half-open 5 min, idle 10 min).
inline constexpr std::array<std::chrono::nanoseconds, 8> kClockSteps{
    std::chrono::nanoseconds(0),  std::chrono::microseconds(1), std::chrono::milliseconds(1),
    std::chrono::milliseconds(50), std::chrono::seconds(1),     std::chrono::seconds(31),
    std::chrono::seconds(301),     std::chrono::seconds(601),
};
// A plausible wall-clock start (captures are from 2026); times never go below it.
inline constexpr std::chrono::nanoseconds kStartTime = std::chrono::seconds(1'790'000'000);

// The sync key of sync_fuzz and its seeds (a key file's text).
inline constexpr std::string_view kSyncKeyText =
    "f022f022f022f022f022f022f022f022f022f022f022f022f022f022f022f022\n";

// The VIPs of the decide and pcap targets and of their seeds (the captures' VIPs).
inline const std::array<IpAddress, 4> kVips{test::ip("10.0.0.1"), test::ip("10.0.0.2"), test::ip("fd00::1:1"),
                                            test::ip("fd00::1:2")};

// An association table in (64-byte aligned) heap memory, as replay and tests use.
using HeapTable = test::HeapTable;

// Counts and bounds that must hold after any sequence of operations.
inline void check_table(const AssociationTable& table) {
    SCTPLB_FUZZ_CHECK(table.size() <= table.capacity());
    SCTPLB_FUZZ_CHECK(table.half_open_count() <= table.half_open_capacity());
    std::uint32_t live = 0, half_open = 0;
    table.for_each([&](AssociationId id, const Association& a) {
        SCTPLB_FUZZ_CHECK(id < table.capacity());
        SCTPLB_FUZZ_CHECK(a.address_count >= 1 && a.address_count <= kMaxClientAddresses);
        SCTPLB_FUZZ_CHECK(a.server_address_count <= kMaxServerAddresses);
        ++live;
        if (a.state == AssociationState::HalfOpen) ++half_open;
    });
    SCTPLB_FUZZ_CHECK(live == table.size());
    SCTPLB_FUZZ_CHECK(half_open == table.half_open_count());
}

// rebuild_indexes() (run after a writer died mid-update) must not change what
// the lookups find: samples up to `samples` live associations and looks each up
// by every index before and after (lookups do not write: both passes see
// the same table). A full sweep at the same `now` first removes what is due:
// a lookup stops at the first entry of its key, and an expired one beside a
// live one (a closed association lingering beside its successor) would
// otherwise answer "none" before a rebuild and the live one after it.
inline void check_rebuild_keeps_lookups(AssociationTable& table, std::chrono::nanoseconds now,
                                        std::size_t samples = 8) {
    Counters swept;
    table.expire(now, table.capacity(), swept);
    struct Key {
        IpAddress address;
        std::uint16_t sport, dport;
        std::uint32_t tc, ts;
    };
    std::vector<Key> keys;
    table.for_each([&](AssociationId, const Association& a) {
        if (keys.size() < samples) keys.push_back(Key{a.addresses[a.address_count - 1], a.sport, a.dport, a.tc, a.ts});
    });
    struct Found {
        AssociationId by_ts, by_tc, by_peer;
        bool operator==(const Found&) const = default;
    };
    auto look_up = [&] {
        std::vector<Found> found;
        for (const Key& k : keys)
            found.push_back(Found{table.find_by_ts(k.address, k.sport, k.dport, k.ts, now).id,
                                  table.find_by_tc(k.address, k.sport, k.dport, k.tc, now).id,
                                  table.find_by_peer(k.address, k.sport, k.dport, now).id});
        return found;
    };
    const std::vector<Found> before = look_up();
    const std::uint32_t live = table.size(), half_open = table.half_open_count();
    table.rebuild_indexes();
    SCTPLB_FUZZ_CHECK(table.size() == live);
    SCTPLB_FUZZ_CHECK(table.half_open_count() == half_open);
    const std::vector<Found> after = look_up();
    // Two live associations may share a key: an INIT from any source may list
    // another association's addresses with its ports and Tc (see
    // tests/fuzz/crashes/README.md), and a closed association lingers beside
    // its successor. Which of them a lookup returns then depends on the index
    // order, which a rebuild changes. So: found before iff found after, and a
    // different answer must still be a live association of that peer.
    auto same_peer = [&](AssociationId id, const Key& k) {
        const Association& a = table.at(id);
        return a.state != AssociationState::Free && a.sport == k.sport && a.dport == k.dport &&
               a.has_address(k.address);
    };
    auto equivalent = [&](AssociationId x, AssociationId y, const Key& k) {
        if (x == y) return true;
        return x != kNoAssociation && y != kNoAssociation && same_peer(x, k) && same_peer(y, k);
    };
    for (std::size_t i = 0; i < keys.size(); ++i) {
        SCTPLB_FUZZ_CHECK(equivalent(before[i].by_ts, after[i].by_ts, keys[i]));
        SCTPLB_FUZZ_CHECK(equivalent(before[i].by_tc, after[i].by_tc, keys[i]));
        SCTPLB_FUZZ_CHECK(equivalent(before[i].by_peer, after[i].by_peer, keys[i]));
    }
    check_table(table);
}

}  // namespace sctplb::fuzz
