// HoldQueue in virtual time: capacity, FIFO order, expiry at the deadline,
// resolving in the middle, slot reuse, and copies independent of the source.
#include "core/hold_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sctplb {
namespace {

using namespace std::chrono_literals;

// Bytes that say which packet they belong to: id in each byte.
std::vector<std::byte> bytes_of(std::uint32_t id, std::size_t length) {
    std::vector<std::byte> b(length);
    for (std::size_t i = 0; i < length; ++i) b[i] = static_cast<std::byte>((id * 31 + i) & 0xff);
    return b;
}

std::vector<std::uint32_t> held_ids(HoldQueue& q) {
    std::vector<std::uint32_t> ids;
    q.retry([&](const HeldPacket& p) {
        ids.push_back(p.id);
        return HoldOutcome::Keep;
    });
    return ids;
}

enum class Op { Hold, Resolve, Expire };

struct Step {
    Op op;
    std::int64_t now_ns = 0;                 // Hold, Expire
    std::vector<std::uint32_t> ids;          // Hold: ids held; Resolve: ids resolved
    bool hold_ok = true;                     // Hold: expected try_hold result for every id
    std::vector<std::uint32_t> popped{};     // Expire: expected ids, in order
    std::vector<std::uint32_t> remaining{};  // after the step, in FIFO order
};

struct Scenario {
    std::string name;
    std::size_t capacity;
    std::int64_t hold_ns;
    std::vector<Step> steps;
};

class HoldQueueScenario : public ::testing::TestWithParam<Scenario> {};

TEST_P(HoldQueueScenario, Runs) {
    const Scenario& s = GetParam();
    HoldQueue q(s.capacity, 64, Nanos(s.hold_ns));
    for (std::size_t n = 0; n < s.steps.size(); ++n) {
        const Step& step = s.steps[n];
        SCOPED_TRACE("step " + std::to_string(n));
        switch (step.op) {
            case Op::Hold:
                for (std::uint32_t id : step.ids) {
                    const auto b = bytes_of(id, 40);
                    EXPECT_EQ(q.try_hold(id, id ^ 0xff00, b, 1000 + id, Reason::UnknownAssociation, Nanos(step.now_ns)),
                              step.hold_ok)
                        << "id " << id;
                }
                break;
            case Op::Resolve: {
                const std::vector<std::uint32_t> before = held_ids(q);
                std::vector<std::uint32_t> visited;
                q.retry([&](const HeldPacket& p) {
                    visited.push_back(p.id);
                    return std::find(step.ids.begin(), step.ids.end(), p.id) != step.ids.end() ? HoldOutcome::Resolved
                                                                                               : HoldOutcome::Keep;
                });
                EXPECT_EQ(visited, before);  // every held packet offered once, oldest first
                break;
            }
            case Op::Expire: {
                std::vector<std::uint32_t> popped;
                const std::size_t count = q.pop_expired(Nanos(step.now_ns), [&](const HeldPacket& p) {
                    EXPECT_LE(p.deadline, Nanos(step.now_ns));
                    popped.push_back(p.id);
                });
                EXPECT_EQ(popped, step.popped);
                EXPECT_EQ(count, popped.size());
                break;
            }
        }
        EXPECT_EQ(held_ids(q), step.remaining);
        EXPECT_EQ(q.size(), step.remaining.size());
        EXPECT_LE(q.size(), q.capacity());
        // Every entry still carries its own bytes, mark and length.
        q.retry([&](const HeldPacket& p) {
            EXPECT_EQ(p.mark, p.id ^ 0xff00);
            EXPECT_EQ(p.wire_length, 1000 + p.id);
            const auto b = bytes_of(p.id, 40);
            EXPECT_TRUE(std::equal(p.bytes().begin(), p.bytes().end(), b.begin(), b.end())) << "id " << p.id;
            return HoldOutcome::Keep;
        });
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, HoldQueueScenario,
    ::testing::Values(
        Scenario{"FullQueueRefuses", 3, 5'000'000,
                 {{Op::Hold, 0, {1, 2, 3}, true, {}, {1, 2, 3}},
                  {Op::Hold, 0, {4, 5}, false, {}, {1, 2, 3}}}},
        Scenario{"FifoOrder", 8, 5'000'000,
                 {{Op::Hold, 10, {7, 3, 9}, true, {}, {7, 3, 9}},
                  {Op::Hold, 20, {1}, true, {}, {7, 3, 9, 1}},
                  {Op::Expire, 5'000'010, {}, true, {7, 3, 9}, {1}},
                  {Op::Expire, 5'000'020, {}, true, {1}, {}}}},
        Scenario{"ExpiryExactlyAtTheDeadline", 4, 5'000'000,
                 {{Op::Hold, 100, {1}, true, {}, {1}},
                  {Op::Hold, 101, {2}, true, {}, {1, 2}},
                  {Op::Expire, 5'000'099, {}, true, {}, {1, 2}},   // 1 ns before: kept
                  {Op::Expire, 5'000'100, {}, true, {1}, {2}},     // at the deadline: expired
                  {Op::Expire, 5'000'100, {}, true, {}, {2}},
                  {Op::Expire, 5'000'101, {}, true, {2}, {}}}},
        Scenario{"ResolveInTheMiddle", 5, 1000,
                 {{Op::Hold, 0, {1, 2, 3, 4, 5}, true, {}, {1, 2, 3, 4, 5}},
                  {Op::Resolve, 0, {2, 4}, true, {}, {1, 3, 5}},
                  {Op::Hold, 10, {6, 7}, true, {}, {1, 3, 5, 6, 7}},
                  {Op::Hold, 10, {8}, false, {}, {1, 3, 5, 6, 7}},
                  {Op::Resolve, 0, {1, 7}, true, {}, {3, 5, 6}},
                  {Op::Expire, 1000, {}, true, {3, 5}, {6}}}},
        Scenario{"SlotsAreReused", 2, 1000,
                 {{Op::Hold, 0, {1, 2}, true, {}, {1, 2}},
                  {Op::Resolve, 0, {1}, true, {}, {2}},
                  {Op::Hold, 1, {3}, true, {}, {2, 3}},
                  {Op::Expire, 1000, {}, true, {2}, {3}},
                  {Op::Hold, 2, {4}, true, {}, {3, 4}},
                  {Op::Resolve, 0, {3, 4}, true, {}, {}},
                  {Op::Hold, 3, {5, 6}, true, {}, {5, 6}},
                  {Op::Hold, 3, {7}, false, {}, {5, 6}}}},
        Scenario{"ClockSteppingBackKeepsDeadlinesInOrder", 3, 100,
                 {{Op::Hold, 50, {1}, true, {}, {1}},
                  {Op::Hold, 10, {2}, true, {}, {1, 2}},  // treated as held at 50
                  {Op::Expire, 149, {}, true, {}, {1, 2}},
                  {Op::Expire, 150, {}, true, {1, 2}, {}}}},
        Scenario{"ZeroCapacityHoldsNothing", 0, 100,
                 {{Op::Hold, 0, {1}, false, {}, {}}, {Op::Expire, 1000, {}, true, {}, {}}}}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return info.param.name; });

TEST(HoldQueue, CopyIsIndependentOfTheSource) {
    HoldQueue q(2, 16, 1ms);
    std::array<std::byte, 8> source{};
    source.fill(std::byte{0xaa});
    ASSERT_TRUE(q.try_hold(1, 0, source, 8, Reason::CookieEchoUnknown, Nanos(0)));
    source.fill(std::byte{0x55});  // the NFQUEUE receive buffer is reused by the next batch
    ASSERT_TRUE(q.try_hold(2, 0, source, 8, Reason::UnknownAssociation, Nanos(0)));
    std::vector<std::byte> first, second;
    Reason first_reason{};
    q.retry([&](const HeldPacket& p) {
        (p.id == 1 ? first : second).assign(p.bytes().begin(), p.bytes().end());
        if (p.id == 1) first_reason = p.reason;
        return HoldOutcome::Keep;
    });
    EXPECT_EQ(first, std::vector<std::byte>(8, std::byte{0xaa}));
    EXPECT_EQ(second, std::vector<std::byte>(8, std::byte{0x55}));
    EXPECT_EQ(first_reason, Reason::CookieEchoUnknown);
}

TEST(HoldQueue, CopyIsCutAtTheCopyCapacityAndKeepsTheWireLength) {
    HoldQueue q(1, 16, 1ms);
    const auto b = bytes_of(9, 40);
    ASSERT_TRUE(q.try_hold(9, 0, b, 1500, Reason::UnknownAssociation, Nanos(0)));
    q.retry([&](const HeldPacket& p) {
        EXPECT_EQ(p.bytes().size(), 16u);
        EXPECT_TRUE(std::equal(p.bytes().begin(), p.bytes().end(), b.begin()));
        EXPECT_EQ(p.wire_length, 1500u);
        return HoldOutcome::Keep;
    });
}

TEST(HoldQueue, EarliestDeadlineFollowsTheOldestHeldPacket) {
    HoldQueue q(4, 16, 5ms);
    EXPECT_EQ(q.earliest_deadline(), Nanos::max());
    const auto b = bytes_of(1, 16);
    ASSERT_TRUE(q.try_hold(1, 0, b, 16, Reason::UnknownAssociation, Nanos(1ms)));
    ASSERT_TRUE(q.try_hold(2, 0, b, 16, Reason::UnknownAssociation, Nanos(2ms)));
    EXPECT_EQ(q.earliest_deadline(), Nanos(6ms));
    q.retry([](const HeldPacket& p) { return p.id == 1 ? HoldOutcome::Resolved : HoldOutcome::Keep; });
    EXPECT_EQ(q.earliest_deadline(), Nanos(7ms));
    std::size_t drained = 0;
    q.drain([&](const HeldPacket&) { ++drained; });
    EXPECT_EQ(drained, 1u);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.earliest_deadline(), Nanos::max());
}

TEST(HoldQueue, ManyWrapsOfTheRingKeepOrderAndSlots) {
    // Hold and resolve in a pattern that walks the ring head around many times.
    HoldQueue q(5, 8, 10ns);
    std::uint32_t next_id = 0;
    std::vector<std::uint32_t> model;  // expected FIFO
    for (int round = 0; round < 200; ++round) {
        while (!q.full()) {
            const auto b = bytes_of(next_id, 8);
            ASSERT_TRUE(q.try_hold(next_id, 0, b, 8, Reason::UnknownAssociation, Nanos(round)));
            model.push_back(next_id++);
        }
        // Resolve every third id, then check order and bytes.
        q.retry([&](const HeldPacket& p) { return p.id % 3 == 0 ? HoldOutcome::Resolved : HoldOutcome::Keep; });
        std::erase_if(model, [](std::uint32_t id) { return id % 3 == 0; });
        ASSERT_EQ(held_ids(q), model);
        q.retry([&](const HeldPacket& p) {
            const auto b = bytes_of(p.id, 8);
            EXPECT_TRUE(std::equal(p.bytes().begin(), p.bytes().end(), b.begin(), b.end()));
            return HoldOutcome::Keep;
        });
        // Expire what the previous rounds left (held before `round`).
        const std::size_t popped = q.pop_expired(Nanos(round - 1 + 10), [&](const HeldPacket& p) {
            ASSERT_FALSE(model.empty());
            EXPECT_EQ(p.id, model.front());
            model.erase(model.begin());
        });
        if (round > 0) {
            EXPECT_GT(popped, 0u);
        }
        ASSERT_EQ(q.size(), model.size());
    }
}

}  // namespace
}  // namespace sctplb
