// The fast path's bookkeeping (lb/core/fast_path): which associations the
// kernel may forward, which elements that takes, and how a dump of the
// kernel's elements becomes packet times and idleness.
#include "core/fast_path.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "core/association_table.hpp"
#include "support/table_fixture.hpp"

namespace sctplb {
namespace {

const IpAddress kA = IpAddress::v4(0xc0a80164);  // 192.168.1.100
const IpAddress kB = IpAddress::v4(0xc0a80264);  // 192.168.2.100
const IpAddress kC = *IpAddress::parse("fd00::100");

Association established(std::uint32_t generation = 1) {
    Association a{};
    a.state = AssociationState::Established;
    a.sport = 36412;
    a.dport = 36412;
    a.tc = 0x11111111;
    a.ts = 0x22222222;
    a.fwmark = 2;
    a.generation = generation;
    a.addresses[0] = kA;
    a.addresses[1] = kB;
    a.address_count = 2;
    return a;
}

std::vector<bool> all_ok(const FastPathBatch& batch) { return std::vector<bool>(batch.add.size(), true); }

struct EligibilityCase {
    const char* name;
    AssociationState state;
    std::uint32_t ts;
    bool target_serves;
    bool eligible;
};

TEST(FastPath, EligibleOnlyWhenEstablishedWithTsAndServingTarget) {
    const EligibilityCase cases[] = {
        {"established", AssociationState::Established, 0x22222222, true, true},
        {"restart pending keeps its old tags", AssociationState::RestartPending, 0x22222222, true, true},
        {"half-open", AssociationState::HalfOpen, 0x22222222, true, false},
        {"Ts unknown", AssociationState::Established, 0, true, false},
        {"target down", AssociationState::Established, 0x22222222, false, false},
        {"closing", AssociationState::Closing, 0x22222222, true, false},
        {"closed", AssociationState::Closed, 0x22222222, true, false},
    };
    for (const auto& c : cases) {
        Association a = established();
        a.state = c.state;
        a.ts = c.ts;
        EXPECT_EQ(fast_path_eligible(a, c.target_serves), c.eligible) << c.name;
    }
}

TEST(FastPath, OneElementPerClientAddressThenNothing) {
    FastPathLedger ledger;
    FastPathBatch batch;
    const Association a = established();
    ledger.plan(7, a, true, 0, batch);
    ASSERT_EQ(batch.add.size(), 2u);
    EXPECT_TRUE(batch.remove.empty());
    EXPECT_EQ(batch.add[0].key, (FastPathKey{kA, 36412, 36412, 0x22222222}));
    EXPECT_EQ(batch.add[1].key, (FastPathKey{kB, 36412, 36412, 0x22222222}));
    EXPECT_EQ(batch.add[1].fwmark, 2u);
    ledger.commit(batch, all_ok(batch));
    EXPECT_EQ(ledger.elements(), 2u);
    EXPECT_EQ(ledger.owner({kB, 36412, 36412, 0x22222222}), 7u);

    FastPathBatch again;
    ledger.plan(7, a, true, 0, again);
    EXPECT_TRUE(again.empty()) << "an unchanged association costs nothing";
}

TEST(FastPath, AddedAddressGetsOnlyItsElement) {
    FastPathLedger ledger;
    FastPathBatch batch;
    Association a = established();
    ledger.plan(3, a, true, 0, batch);
    ledger.commit(batch, all_ok(batch));
    a.addresses[2] = kC;  // ASCONF Add IP
    a.address_count = 3;
    FastPathBatch more;
    ledger.plan(3, a, true, 0, more);
    ASSERT_EQ(more.add.size(), 1u);
    EXPECT_EQ(more.add[0].key.client, kC);
    EXPECT_TRUE(more.remove.empty());
    ledger.commit(more, all_ok(more));
    EXPECT_EQ(ledger.elements(), 3u);
}

TEST(FastPath, RekeyRemovesOldElementsAndAddsNew) {
    FastPathLedger ledger;
    FastPathBatch batch;
    Association a = established();
    ledger.plan(3, a, true, 0, batch);
    ledger.commit(batch, all_ok(batch));
    a.ts = 0x33333333;  // the restart completed: new Ts
    FastPathBatch rekey;
    ledger.plan(3, a, true, 0, rekey);
    ASSERT_EQ(rekey.remove.size(), 2u);
    EXPECT_EQ(rekey.remove[0].vtag, 0x22222222u);
    ASSERT_EQ(rekey.add.size(), 2u);
    EXPECT_EQ(rekey.add[0].key.vtag, 0x33333333u);
    ledger.commit(rekey, all_ok(rekey));
    EXPECT_EQ(ledger.elements(), 2u);
    EXPECT_EQ(ledger.owner({kA, 36412, 36412, 0x22222222}), kNoAssociation);
    EXPECT_EQ(ledger.owner({kA, 36412, 36412, 0x33333333}), 3u);
}

TEST(FastPath, SlotReusedOrUnwantedRemovesEverything) {
    FastPathLedger ledger;
    FastPathBatch batch;
    const Association a = established(1);
    ledger.plan(3, a, true, 0, batch);
    ledger.commit(batch, all_ok(batch));

    Association other = established(2);  // same slot, another association
    other.fwmark = 3;
    other.addresses[0] = kC;
    other.address_count = 1;
    FastPathBatch reuse;
    ledger.plan(3, other, true, 0, reuse);
    EXPECT_EQ(reuse.remove.size(), 2u);
    ASSERT_EQ(reuse.add.size(), 1u);
    EXPECT_EQ(reuse.add[0].fwmark, 3u);
    ledger.commit(reuse, all_ok(reuse));

    FastPathBatch closed;
    ledger.plan(3, other, false, 0, closed);
    ASSERT_EQ(closed.remove.size(), 1u);
    EXPECT_EQ(closed.remove[0].client, kC);
    ledger.commit(closed, all_ok(closed));
    EXPECT_EQ(ledger.associations(), 0u);
    EXPECT_EQ(ledger.elements(), 0u);
}

TEST(FastPath, RefusedAddIsNotInstalledAndNotRetriedUntilTheRecordChanges) {
    FastPathLedger ledger;
    FastPathBatch batch;
    Association a = established();
    ledger.plan(5, a, true, 0, batch);
    ledger.commit(batch, {true, false});  // the kernel refused the second (map full)
    EXPECT_EQ(ledger.elements(), 1u);
    EXPECT_EQ(ledger.owner({kB, 36412, 36412, 0x22222222}), kNoAssociation);
    FastPathBatch again;
    ledger.plan(5, a, true, 0, again);
    EXPECT_TRUE(again.empty());
    // Removing it later removes only what is installed.
    FastPathBatch gone;
    ledger.plan(5, a, false, 0, gone);
    ASSERT_EQ(gone.remove.size(), 1u);
    EXPECT_EQ(gone.remove[0].client, kA);
}

TEST(FastPath, AdoptedElementsAreNotAddedAgain) {
    FastPathLedger ledger;
    const Association a = established();
    ledger.adopt(9, a, 1);  // the kernel held the element of kB at start
    EXPECT_EQ(ledger.elements(), 1u);
    FastPathBatch batch;
    ledger.plan(9, a, true, 0, batch);
    ASSERT_EQ(batch.add.size(), 1u) << "only what the kernel lacks";
    EXPECT_EQ(batch.add[0].key.client, kA);
    EXPECT_TRUE(batch.remove.empty());
    ledger.commit(batch, all_ok(batch));
    EXPECT_EQ(ledger.elements(), 2u);
    FastPathBatch again;
    ledger.plan(9, a, true, 0, again);
    EXPECT_TRUE(again.empty());
}

TEST(FastPath, ActivityFromTimeLeftAndGoneWhenNoElementRemains) {
    FastPathLedger ledger;
    FastPathBatch batch;
    ledger.plan(1, established(), true, 0, batch);
    Association b = established();
    b.sport = 5000;
    ledger.plan(2, b, true, 0, batch);
    ledger.commit(batch, all_ok(batch));

    const std::uint64_t timeout_ms = 10'000;
    const std::int64_t now = 100'000'000'000;  // 100 s
    // Association 1: one element refreshed 2 s ago, the other 7 s ago; association 2: none left.
    const std::vector<FastPathElement> dump{
        {{kA, 36412, 36412, 0x22222222}, 2, 0, 8'000},
        {{kB, 36412, 36412, 0x22222222}, 2, 0, 3'000},
        {{kC, 1, 2, 3}, 9, 0, 9'000},  // not ours: ignored
    };
    auto activity = fast_path_activity(ledger, dump, timeout_ms, now);
    std::sort(activity.begin(), activity.end(), [](auto& x, auto& y) { return x.id < y.id; });
    ASSERT_EQ(activity.size(), 2u);
    EXPECT_EQ(activity[0].id, 1u);
    EXPECT_FALSE(activity[0].gone);
    EXPECT_EQ(activity[0].seen_ns, now - 2'000'000'000) << "the latest refresh of any of its elements";
    EXPECT_EQ(activity[0].present, 0b11);
    EXPECT_EQ(activity[1].id, 2u);
    EXPECT_TRUE(activity[1].gone);
}

// An address idle on this LB (the other path's, which another LB carries)
// times out in the kernel: the ledger follows the kernel and does not add it
// back while the association lives on.
TEST(FastPath, ElementTimedOutAloneLeavesTheLedgerAndIsNotReAdded) {
    FastPathLedger ledger;
    FastPathBatch batch;
    const Association a = established();
    ledger.plan(1, a, true, 0, batch);
    ledger.commit(batch, all_ok(batch));
    const std::vector<FastPathElement> dump{{{kA, 36412, 36412, 0x22222222}, 2, 0, 9'000}};
    const auto activity = fast_path_activity(ledger, dump, 10'000, 50'000'000'000);
    ASSERT_EQ(activity.size(), 1u);
    EXPECT_FALSE(activity[0].gone);
    EXPECT_EQ(activity[0].present, 0b01);
    ledger.retain(1, activity[0].present);
    EXPECT_EQ(ledger.elements(), 1u);
    EXPECT_EQ(ledger.owner({kB, 36412, 36412, 0x22222222}), kNoAssociation);
    FastPathBatch again;
    ledger.plan(1, a, true, 0, again);
    EXPECT_TRUE(again.empty());
    FastPathBatch closed;
    ledger.plan(1, a, false, 0, closed);
    ASSERT_EQ(closed.remove.size(), 1u) << "only what the kernel still holds";
    EXPECT_EQ(closed.remove[0].client, kA);
}

// The table leaves an association the kernel forwards to the fast path's
// idleness; without the flag the sweep expires it as before.
TEST(FastPath, SweepDoesNotExpireAnAssociationInTheFastPath) {
    Timeouts timeouts;
    timeouts.idle = std::chrono::seconds(10);
    TableLimits limits;
    limits.capacity = 64;
    test::HeapTable table(limits, timeouts);  // aborts if the table cannot be created
    Counters counters;
    const AssociationId fast = table->insert_established(kA, 1, 2, 0xaaaa, 1, Nanos{0});
    const AssociationId slow = table->insert_established(kB, 1, 2, 0xbbbb, 1, Nanos{0});
    ASSERT_NE(fast, kNoAssociation);
    ASSERT_NE(slow, kNoAssociation);
    table->set_in_fast_path(fast, true);
    table->expire(Nanos{std::chrono::seconds(60)}, 64, counters);
    EXPECT_EQ(table->at(fast).state, AssociationState::Established);
    EXPECT_EQ(table->at(slow).state, AssociationState::Free);
    EXPECT_EQ(table->clear_fast_path_flags(), 1u);
    table->expire(Nanos{std::chrono::seconds(61)}, 64, counters);
    EXPECT_EQ(table->at(fast).state, AssociationState::Free);
    EXPECT_EQ(counters.of(Event::ExpiredIdle), 2u);
}


// The fast-path thread's cycle for one slot: plan, (kernel applies), commit, flags.
void plan_apply_commit(FastPathLedger& ledger, AssociationTable& table, AssociationId id) {
    FastPathBatch batch;
    const Association& a = table.at(id);
    ledger.plan(id, a, fast_path_eligible(a, true), 0, batch);
    ledger.commit(batch, all_ok(batch));
    set_fast_path_flags(table, batch, ledger);
}

// Issue item 5 (a): a closed association kept in_fast_path = true (the removal
// was planned as generation 0 and its flag update skipped), so `sctplb assoc`
// showed it as forwarded by the kernel after its elements were gone.
TEST(FastPath, ClosedAssociationLeavesTheFastPathAndThenExpires) {
    Timeouts timeouts;
    timeouts.closed_linger = std::chrono::seconds(10);
    test::HeapTable t(TableLimits{.capacity = 64}, timeouts);
    AssociationTable& table = *t;
    FastPathLedger ledger;
    Counters counters;
    const AssociationId id = table.insert_established(kA, 1, 2, 0xaaaa, 1, Nanos{0});
    ASSERT_NE(id, kNoAssociation);
    ASSERT_NE(table.at(id).generation, 0u);
    plan_apply_commit(ledger, table, id);
    EXPECT_TRUE(table.at(id).in_fast_path);
    EXPECT_EQ(ledger.elements(), 1u);

    table.set_state(id, AssociationState::Closed, Nanos{std::chrono::seconds(1)});
    plan_apply_commit(ledger, table, id);
    EXPECT_EQ(ledger.elements(), 0u);
    EXPECT_FALSE(table.at(id).in_fast_path);

    table.expire(Nanos{std::chrono::seconds(12)}, 64, counters);
    EXPECT_EQ(table.at(id).state, AssociationState::Free);
    EXPECT_EQ(counters.of(Event::ExpiredClosed), 1u);
}

// A live record flagged in_fast_path that this ledger never installed (a flag
// left behind by an earlier daemon) loses the flag on the walk's next plan.
TEST(FastPath, StaleFlagWithoutLedgerEntryIsCleared) {
    test::HeapTable t(TableLimits{.capacity = 64}, Timeouts{.idle = std::chrono::seconds(10)});
    AssociationTable& table = *t;
    FastPathLedger ledger;
    Counters counters;
    const AssociationId id = table.insert_established(kA, 1, 2, 0xaaaa, 1, Nanos{0});
    table.set_state(id, AssociationState::Closing, Nanos{0});  // not eligible
    table.set_in_fast_path(id, true);
    plan_apply_commit(ledger, table, id);
    EXPECT_FALSE(table.at(id).in_fast_path);
    table.expire(Nanos{std::chrono::seconds(60)}, 64, counters);
    EXPECT_EQ(table.at(id).state, AssociationState::Free);
}

// A removal planned for an earlier occupant of the slot leaves the new one's flag alone.
TEST(FastPath, FlagsOfAnotherGenerationAreLeftAlone) {
    test::HeapTable t(TableLimits{.capacity = 64}, Timeouts{});
    AssociationTable& table = *t;
    FastPathLedger ledger;
    const AssociationId id = table.insert_established(kA, 1, 2, 0xaaaa, 1, Nanos{0});
    FastPathBatch batch;
    Association old = table.at(id);
    old.generation -= 1;
    old.state = AssociationState::Closed;
    old.in_fast_path = true;
    ledger.plan(id, old, false, 0, batch);
    table.set_in_fast_path(id, true);
    ledger.commit(batch, all_ok(batch));
    set_fast_path_flags(table, batch, ledger);
    EXPECT_TRUE(table.at(id).in_fast_path);
}

}  // namespace
}  // namespace sctplb
