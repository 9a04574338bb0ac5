// The association table's indexes and memory layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/association_table.hpp"
#include "support/table_fixture.hpp"

using namespace sctplb;
using namespace std::chrono_literals;

namespace {

using Memory = test::AlignedBytes;  // tests/support/table_fixture.hpp

TEST(AssociationTable, RejectsBadLimitsAndShortMemory) {
    TableLimits limits{.capacity = 16};
    Memory m(AssociationTable::bytes_needed(limits));
    EXPECT_FALSE(AssociationTable::create(m.span().first(m.size() - 64), limits, {}));
    EXPECT_FALSE(AssociationTable::create(m.span(), TableLimits{.capacity = 0}, {}));
    EXPECT_FALSE(AssociationTable::create(m.span(), TableLimits{.capacity = 16, .half_open_capacity = 17}, {}));
    EXPECT_FALSE(AssociationTable::create(m.span().subspan(8), limits, {}));  // misaligned
    EXPECT_TRUE(AssociationTable::create(m.span(), limits, {}));
}

TEST(AssociationTable, AttachFindsWhatAnotherInstanceWroteAndRefusesForeignMemory) {
    TableLimits limits{.capacity = 32};
    Memory m(AssociationTable::bytes_needed(limits));
    Counters c;
    const IpAddress a = IpAddress::v4(0x01020304), b = IpAddress::v4(0x05060708);
    {
        auto t = AssociationTable::create(m.span(), limits, {});
        const IpAddress addrs[] = {a, b};
        const auto id = t->insert_half_open(addrs, 1, 2, 0x10, 7, 0s, c);
        t->set_ts(id, 0x20);
        t->establish(id, 0s);
    }
    const char* why = nullptr;
    auto t = AssociationTable::attach(m.span(), &why);
    ASSERT_TRUE(t) << why;
    const auto id = t->find_by_ts(b, 1, 2, 0x20, 1s).id;
    ASSERT_NE(id, kNoAssociation);
    EXPECT_EQ(t->at(id).fwmark, 7u);
    EXPECT_EQ(t->size(), 1u);

    m[0] = std::byte{0};
    EXPECT_FALSE(AssociationTable::attach(m.span(), &why));
    EXPECT_NE(std::string(why).find("magic"), std::string::npos);
}

// A corrupt or foreign header must be refused with the field named, never
// trusted: a zero capacity divides by zero, a non-power-of-two index breaks
// the mask, a cursor past the records reads outside them.
TEST(AssociationTable, AttachRefusesDamagedHeaders) {
    using Header = AssociationTable::Header;
    TableLimits limits{.capacity = 64};
    const std::size_t bytes = AssociationTable::bytes_needed(limits);
    struct Case {
        const char* what;
        void (*damage)(Header&);
        const char* message;
    };
    const Case cases[] = {
        {"capacity 0", [](Header& h) { h.capacity = 0; }, "capacity is 0"},
        {"capacity beyond the limit", [](Header& h) { h.capacity = 0x80000000u; }, "capacity is 0"},
        {"capacity beyond the memory", [](Header& h) { h.capacity = 1u << 20; }, "index size"},
        {"half-open capacity 0", [](Header& h) { h.half_open_capacity = 0; }, "half-open capacity"},
        {"half-open capacity above capacity", [](Header& h) { h.half_open_capacity = h.capacity + 1; },
         "half-open capacity"},
        {"ring 0", [](Header& h) { h.ring_slots = 0; }, "half-open ring size"},
        {"index size 0", [](Header& h) { h.index_slots = 0; }, "index size"},
        {"index size not a power of two", [](Header& h) { h.index_slots = 1000; }, "index size"},
        {"index smaller than capacity", [](Header& h) { h.index_slots = 32; }, "index size"},
        {"index larger than the memory", [](Header& h) { h.index_slots = 1u << 24; }, "more memory"},
        {"index overfull", [](Header& h) { h.index_used[1] = h.index_slots; }, "3/4 load limit"},
        {"live above capacity", [](Header& h) { h.live = h.capacity + 1; }, "live or half-open"},
        {"free head outside", [](Header& h) { h.free_head = h.capacity + 1; }, "free list head"},
        {"sweep cursor outside", [](Header& h) { h.sweep_cursor = h.capacity; }, "sweep cursor"},
        {"ring positions reversed", [](Header& h) { h.ring_head = h.ring_tail + 1; }, "ring positions"},
        {"ring overfull", [](Header& h) { h.ring_tail = h.ring_head + h.ring_slots + 1; }, "ring positions"},
    };
    for (const Case& c : cases) {
        Memory m(bytes);
        ASSERT_TRUE(AssociationTable::create(m.span(), limits, {}));
        c.damage(*reinterpret_cast<Header*>(m.data()));
        const char* why = nullptr;
        EXPECT_FALSE(AssociationTable::attach(m.span(), &why)) << c.what;
        ASSERT_NE(why, nullptr) << c.what;
        EXPECT_NE(std::string(why).find(c.message), std::string::npos) << c.what << ": " << why;
        EXPECT_EQ(std::string(why).find('\n'), std::string::npos) << "one line";
    }
    // The undamaged header still attaches, and so does one whose counts a
    // writer that died mid-update left one apart (recovery rebuilds them).
    Memory m(bytes);
    ASSERT_TRUE(AssociationTable::create(m.span(), limits, {}));
    reinterpret_cast<Header*>(m.data())->half_open = 1;
    const char* why = nullptr;
    EXPECT_TRUE(AssociationTable::attach(m.span(), &why)) << why;
    // Another build's layout is told apart from damage.
    reinterpret_cast<Header*>(m.data())->layout_version = AssociationTable::kLayoutVersion + 1;
    EXPECT_FALSE(AssociationTable::attach(m.span(), &why));
    EXPECT_EQ(std::string_view(why), AssociationTable::kOtherLayout);
}

// Property: after any sequence of inserts, tag changes and removals, every
// live association is found under each of its addresses and tags, nothing
// else is, and rebuild_indexes() (crash recovery) preserves exactly that.
TEST(AssociationTable, IndexesStayExactUnderRandomOperations) {
    TableLimits limits{.capacity = 512, .half_open_capacity = 512};
    Memory m(AssociationTable::bytes_needed(limits));
    auto t = *AssociationTable::create(m.span(), limits, Timeouts{.idle = 1000h, .half_open = 1000h});
    Counters c;
    std::mt19937 rng(12345);
    struct Model {
        std::vector<IpAddress> addrs;
        std::uint16_t sport;
        std::uint32_t tc, ts;
    };
    std::map<AssociationId, Model> model;
    auto check = [&] {
        ASSERT_EQ(t.size(), model.size());
        for (const auto& [id, mm] : model) {
            for (const IpAddress& addr : mm.addrs) {
                EXPECT_EQ(t.find_by_tc(addr, mm.sport, 36412, mm.tc, 1s).id, id);
                EXPECT_EQ(t.find_by_peer(addr, mm.sport, 36412, 1s).id, id);
                if (mm.ts) {
                    EXPECT_EQ(t.find_by_ts(addr, mm.sport, 36412, mm.ts, 1s).id, id);
                }
                EXPECT_EQ(t.find_by_ts(addr, mm.sport, 36412, mm.ts ^ 0x80000000u, 1s).id, kNoAssociation);
            }
        }
    };
    std::uint32_t serial = 1;
    for (int step = 0; step < 20000; ++step) {
        const int op = static_cast<int>(rng() % 10);
        if (op < 5 && model.size() < 500) {
            Model mm;
            const std::size_t n = 1 + rng() % 4;
            for (std::size_t i = 0; i < n; ++i) mm.addrs.push_back(IpAddress::v4(0x0A000000 + (serial++)));
            mm.sport = static_cast<std::uint16_t>(1 + rng() % 4);  // few ports: many collisions
            mm.tc = 1 + rng() % 64;                               // few tags: many collisions
            mm.ts = 0;
            const auto id = t.insert_half_open(mm.addrs, mm.sport, 36412, mm.tc, 1, 0s, c);
            ASSERT_NE(id, kNoAssociation);
            model[id] = mm;
        } else if (op < 7 && !model.empty()) {
            auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
            it->second.ts = 1 + rng() % 64;
            t.set_ts(it->first, it->second.ts);
        } else if (op < 8 && !model.empty()) {
            auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
            const IpAddress extra = IpAddress::v4(0x0B000000 + (serial++));
            if (t.add_address(it->first, extra)) it->second.addrs.push_back(extra);
        } else if (!model.empty()) {
            auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
            t.remove(it->first);
            model.erase(it);
        }
        if (step % 2000 == 0) check();
    }
    check();
    t.rebuild_indexes();
    check();
}

TEST(AssociationTable, RestoredAssociationsAreFoundLikeTheOriginals) {
    TableLimits limits{.capacity = 8};
    Memory m1(AssociationTable::bytes_needed(limits)), m2(AssociationTable::bytes_needed(limits));
    auto from = *AssociationTable::create(m1.span(), limits, {});
    auto to = *AssociationTable::create(m2.span(), limits, {});
    Counters c;
    const IpAddress addrs[] = {IpAddress::v4(1), IpAddress::v4(2)};
    const auto id = from.insert_half_open(addrs, 10, 20, 0x30, 4, 5s, c);
    from.set_ts(id, 0x40);
    from.establish(id, 6s);
    from.for_each([&](AssociationId, const Association& a) { EXPECT_NE(to.insert_restored(a), kNoAssociation); });
    const auto copy = to.find_by_ts(IpAddress::v4(2), 10, 20, 0x40, 7s).id;
    ASSERT_NE(copy, kNoAssociation);
    EXPECT_EQ(to.at(copy).fwmark, 4u);
    EXPECT_EQ(to.at(copy).state, AssociationState::Established);
    EXPECT_EQ(to.find_by_tc(IpAddress::v4(1), 10, 20, 0x30, 7s).id, copy);
    EXPECT_EQ(to.size(), 1u);
    Association free_record{};
    EXPECT_EQ(to.insert_restored(free_record), kNoAssociation);
}

TEST(AssociationTable, AddressesBeyondTheLimitAreRefusedNotLost) {
    TableLimits limits{.capacity = 4};
    Memory m(AssociationTable::bytes_needed(limits));
    auto t = *AssociationTable::create(m.span(), limits, {});
    Counters c;
    std::vector<IpAddress> addrs;
    for (std::uint32_t i = 0; i < kMaxClientAddresses + 3; ++i) addrs.push_back(IpAddress::v4(0x0A000001 + i));
    const auto id = t.insert_half_open(addrs, 1, 2, 3, 1, 0s, c);
    EXPECT_EQ(t.at(id).address_count, kMaxClientAddresses);
    EXPECT_EQ(c.of(Event::AddressesOverflowed), 3u);
    EXPECT_EQ(t.find_by_tc(addrs[0], 1, 2, 3, 0s).id, id);
}

TEST(AssociationTable, WalkingInPiecesVisitsEveryAssociationOnce) {
    TableLimits limits{.capacity = 1000, .half_open_capacity = 1000};
    Memory m(AssociationTable::bytes_needed(limits));
    auto t = *AssociationTable::create(m.span(), limits, {});
    Counters c;
    for (std::uint32_t i = 0; i < 700; ++i) {
        const IpAddress a = IpAddress::v4(i + 1);
        t.insert_half_open(std::span(&a, 1), 1, 2, i + 1, 1, 0s, c);
    }
    std::map<AssociationId, int> seen;
    for (std::uint32_t begin = 0; begin < t.capacity(); begin += 64)
        t.for_each_in(begin, begin + 64, [&](AssociationId id, const Association&) { ++seen[id]; });
    EXPECT_EQ(seen.size(), 700u);
    for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
    std::size_t past_the_end = 0;
    t.for_each_in(990, 5000, [&](AssociationId, const Association&) { ++past_the_end; });  // clamped
    EXPECT_LE(past_the_end, 10u);
}

TEST(AssociationTable, ExpireSweepsIncrementally) {
    TableLimits limits{.capacity = 100, .half_open_capacity = 100};
    Memory m(AssociationTable::bytes_needed(limits));
    auto t = *AssociationTable::create(m.span(), limits, Timeouts{.half_open = 10s});
    Counters c;
    for (std::uint32_t i = 0; i < 50; ++i) {
        const IpAddress a = IpAddress::v4(i + 1);
        t.insert_half_open(std::span(&a, 1), 1, 2, i + 1, 1, 0s, c);
    }
    EXPECT_EQ(t.expire(5s, 100, c), 0u);
    std::size_t removed = 0;
    for (int round = 0; round < 10; ++round) removed += t.expire(11s, 10, c);
    EXPECT_EQ(removed, 50u);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(c.of(Event::ExpiredHalfOpen), 50u);
}


TEST(SweepPacer, GrantsCapacityPerFullPassWhateverTheCallRate) {
    for (const auto step : {1ms, 10ms, 200ms}) {
        SweepPacer pacer(262144);
        std::uint64_t granted = pacer.budget(0s);
        EXPECT_EQ(granted, 0u);
        for (Nanos t = step; t <= 10s; t += step) granted += pacer.budget(t);
        // Ten full passes in ten seconds, to within one slot of rounding.
        EXPECT_NEAR(static_cast<double>(granted), 10.0 * 262144, 1.0) << step.count();
    }
}

TEST(SweepPacer, LongStallGrantsOnePassAtMostAndCallsAreCapped) {
    SweepPacer pacer(1000, 1s, 300);
    (void)pacer.budget(0s);
    EXPECT_EQ(pacer.budget(60s), 300u);  // a minute's stall: capped, the rest carries over
    EXPECT_EQ(pacer.budget(60s), 0u);    // no time passed: nothing more
    EXPECT_EQ(pacer.budget(60s + 1ns), 300u);
    EXPECT_EQ(pacer.budget(60s + 2ns), 300u);
    EXPECT_EQ(pacer.budget(60s + 3ns), 100u);  // one pass (1000 slots) of credit, not sixty
    EXPECT_EQ(pacer.budget(60s + 4ns), 0u);
}

// The expiry bound of docs/design.md ("Time"): with the daemon's default
// table (262144 slots), every closed association is removed no later than
// its linger + SweepPacer::kFullPass + the longest gap between two sweeps, and
// never before its linger, whether the sweeps come every 10 ms (traffic),
// every 200 ms (an idle daemon: the receive timeout) or at random gaps, in
// virtual time. (Before the pacer, an idle daemon swept a thousandth of the
// table every 200 ms: a full pass took 200 s.)
TEST(SweepPacer, FullTableExpiresWithinOnePassPlusTheLongestGap) {
    constexpr std::uint32_t kCapacity = 262144;
    const TableLimits limits{.capacity = kCapacity};
    const Timeouts timeouts{.closed_linger = 10s};
    Memory m(AssociationTable::bytes_needed(limits));
    struct Pattern {
        const char* name;
        Nanos min_gap, max_gap;
    };
    for (const Pattern& pattern : {Pattern{"busy", 10ms, 10ms}, Pattern{"idle", 200ms, 200ms},
                                   Pattern{"random", 1ms, 200ms}}) {
        SCOPED_TRACE(pattern.name);
        auto t = *AssociationTable::create(m.span(), limits, timeouts);
        Counters c;
        // Fill the table, closing each association at a time spread over a second.
        std::vector<std::pair<Nanos, AssociationId>> deadlines;  // (linger end, id)
        for (std::uint32_t i = 0; i < kCapacity; ++i) {
            const AssociationId id = t.insert_established(IpAddress::v4(0x0a000000 + i), 1000, 2000, i + 1, 1, 0s);
            if (id == kNoAssociation) break;  // the indexes keep room for live changes
            const Nanos closed_at = 1ms * ((i * 7919u) % 1000);
            t.set_state(id, AssociationState::Closed, closed_at);
            deadlines.emplace_back(closed_at + timeouts.closed_linger, id);
        }
        ASSERT_GT(deadlines.size(), kCapacity / 2);
        // Ids handed out in order: the live ones span the table's first slots
        // and the free ones the rest, which the sweep also walks.
        std::sort(deadlines.begin(), deadlines.end());
        const Nanos bound = SweepPacer::kFullPass + pattern.max_gap;
        SweepPacer pacer(kCapacity);
        std::mt19937_64 random(42);
        std::uniform_int_distribution<std::int64_t> gap(pattern.min_gap.count(), pattern.max_gap.count());
        std::size_t overdue = 0;     // deadlines[0, overdue) are past deadline + bound: checked gone
        std::size_t not_due = 0;     // deadlines[not_due, end) have not passed
        for (Nanos now = 0s; overdue < deadlines.size(); now += Nanos{gap(random)}) {
            t.expire(now, pacer.budget(now), c);
            while (not_due < deadlines.size() && deadlines[not_due].first < now) ++not_due;
            // Never early: every association whose linger has not ended is still there.
            ASSERT_GE(t.size(), deadlines.size() - not_due) << "at " << now.count();
            while (overdue < deadlines.size() && deadlines[overdue].first + bound <= now) {
                ASSERT_EQ(t.at(deadlines[overdue].second).state, AssociationState::Free)
                    << "id " << deadlines[overdue].second << " closed until " << deadlines[overdue].first.count()
                    << " ns, still there at " << now.count() << " ns";
                ++overdue;
            }
            ASSERT_LT(now, 20s);
        }
        EXPECT_EQ(t.size(), 0u);
        EXPECT_EQ(c.of(Event::ExpiredClosed), deadlines.size());
    }
}

}  // namespace
