// The data path's counter slots (lb/io/data_path: assign_counter_slots): a
// restart finds each queue's counts in the slot that last served that queue,
// whatever the order or set of queues it is started with.
#include "io/data_path.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sctplb {
namespace {

std::vector<CounterSlotHistory> fresh(std::size_t n = 16) { return std::vector<CounterSlotHistory>(n); }

std::vector<CounterSlotChoice> assign(const std::vector<CounterSlotHistory>& slots, std::vector<std::uint16_t> queues) {
    return assign_counter_slots(slots, queues);
}

void expect_choice(const CounterSlotChoice& c, std::uint32_t slot, bool carry, const char* what) {
    EXPECT_EQ(c.slot, slot) << what;
    EXPECT_EQ(c.carry, carry) << what;
}

TEST(CounterSlots, FreshSegmentHandsOutSlotsInOrderWithNothingToCarry) {
    const auto c = assign(fresh(), {0, 1});
    ASSERT_EQ(c.size(), 2u);
    expect_choice(c[0], 0, false, "queue 0");
    expect_choice(c[1], 1, false, "queue 1");
}

TEST(CounterSlots, RestartWithTheQueuesInAnotherOrderKeepsEachQueuesCounts) {
    auto slots = fresh();
    slots[0] = {2, true};
    slots[1] = {3, true};
    const auto c = assign(slots, {3, 2});
    ASSERT_EQ(c.size(), 2u);
    expect_choice(c[0], 1, true, "queue 3 in the slot that served 3");
    expect_choice(c[1], 0, true, "queue 2 in the slot that served 2");
}

TEST(CounterSlots, NewQueueTakesAnUnusedSlotAndLeavesTheOldQueuesCountsAlone) {
    auto slots = fresh();
    slots[0] = {2, true};
    slots[1] = {3, true};
    const auto c = assign(slots, {5, 2});
    ASSERT_EQ(c.size(), 2u);
    expect_choice(c[0], 2, false, "queue 5: new, an unused slot");
    expect_choice(c[1], 0, true, "queue 2 carries on");
}

TEST(CounterSlots, QueueZeroFindsItsHistoryAmongUnusedSlotsThatAlsoSayZero) {
    auto slots = fresh(4);
    slots[2] = {0, true};
    slots[1] = {7, true};
    const auto c = assign(slots, {0});
    ASSERT_EQ(c.size(), 1u);
    expect_choice(c[0], 2, true, "queue 0");
}

TEST(CounterSlots, WhenEverySlotHoldsCountsANewQueueReusesOneOfAQueueNotServedNow) {
    std::vector<CounterSlotHistory> slots{{1, true}, {2, true}, {3, true}};
    const auto c = assign(slots, {3, 9});
    ASSERT_EQ(c.size(), 2u);
    expect_choice(c[0], 2, true, "queue 3 carries on");
    EXPECT_FALSE(c[1].carry) << "queue 9 starts from zero";
    EXPECT_NE(c[1].slot, 2u);
}

TEST(CounterSlots, MoreQueuesThanSlotsGetsNone) {
    EXPECT_TRUE(assign(fresh(2), {1, 2, 3}).empty());
}

}  // namespace
}  // namespace sctplb
