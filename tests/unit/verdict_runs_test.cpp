// Grouping NFQUEUE verdicts into runs (lb/io/verdict_runs.hpp): which runs of
// consecutive ids with the same verdict and mark may be answered by one
// NFQNL_MSG_VERDICT_BATCH, which answers every queued id up to the one it names.
#include "io/verdict_runs.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sctplb {
namespace {

using Action = PacketVerdict::Action;

PacketVerdict accept(std::uint32_t id, std::uint32_t mark) { return {id, Action::Accept, mark}; }
PacketVerdict drop(std::uint32_t id) { return {id, Action::Drop, std::nullopt}; }

// The runs as text, "first+count" with "B" for a batch verdict, e.g. "0+3B 3+1".
std::string runs_of(const std::vector<PacketVerdict>& verdicts, const BatchVerdictPolicy& policy = {}) {
    std::string text;
    std::size_t covered = 0;
    for_each_verdict_run(verdicts, policy, [&](const VerdictRun& run) {
        EXPECT_EQ(run.first, covered) << "runs must cover the verdicts in order, each once";
        EXPECT_GE(run.count, 1u);
        covered = run.first + run.count;
        if (!text.empty()) text += ' ';
        text += std::to_string(run.first) + '+' + std::to_string(run.count) + (run.batch ? "B" : "");
    });
    EXPECT_EQ(covered, verdicts.size());
    return text;
}

struct RunCase {
    const char* name;
    std::vector<PacketVerdict> verdicts;
    BatchVerdictPolicy policy;
    const char* expected;
};

TEST(VerdictRuns, GroupsConsecutiveIdsWithEqualVerdicts) {
    const std::vector<RunCase> cases = {
        {"empty", {}, {}, ""},
        {"one packet stays a normal verdict", {accept(5, 1)}, {}, "0+1"},
        {"one run", {accept(5, 1), accept(6, 1), accept(7, 1)}, {}, "0+3B"},
        {"marks alternate: no run longer than one",
         {accept(1, 1), accept(2, 2), accept(3, 1), accept(4, 2)}, {}, "0+1 1+1 2+1 3+1"},
        {"runs of two marks", {accept(1, 1), accept(2, 1), accept(3, 2), accept(4, 2), accept(5, 2), accept(6, 1)}, {},
         "0+2B 2+3B 5+1"},
        {"a hole (a held packet, id 3) splits a run",
         {accept(1, 1), accept(2, 1), accept(4, 1), accept(5, 1)}, {.allowed = true, .oldest_pending_id = 3},
         "0+2B 2+2"},
        {"a hole without a pending id still splits the run",
         {accept(1, 1), accept(2, 1), accept(4, 1), accept(5, 1)}, {}, "0+2B 2+2B"},
        {"drops group like accepts", {drop(10), drop(11), accept(12, 1), drop(13)}, {}, "0+2B 2+1 3+1"},
        {"the same mark, another action: two runs", {accept(1, 0), accept(2, 0), PacketVerdict{3, Action::Drop, 0u}},
         {}, "0+2B 2+1"},
        {"no mark and mark 0 differ (NFQA_MARK absent keeps the skb mark)",
         {PacketVerdict{1, Action::Accept, std::nullopt}, accept(2, 0)}, {}, "0+1 1+1"},
        {"not allowed: runs stay, none batched", {accept(1, 1), accept(2, 1), accept(3, 1)}, {.allowed = false, .oldest_pending_id = std::nullopt},
         "0+3"},
        {"an older packet is held: nothing after it batched",
         {accept(20, 1), accept(21, 1), accept(22, 2), accept(23, 2)}, {.allowed = true, .oldest_pending_id = 7},
         "0+2 2+2"},
        {"a packet of this batch is held (id 22): runs before it batched, after it not",
         {accept(20, 1), accept(21, 1), accept(23, 1), accept(24, 1)}, {.allowed = true, .oldest_pending_id = 22},
         "0+2B 2+2"},
        {"ids wrap at 2^32: one run", {accept(0xfffffffe, 1), accept(0xffffffff, 1), accept(0, 1), accept(1, 1)}, {},
         "0+4B"},
        {"held id after the wrap: the run before the wrap is batched",
         {accept(0xfffffffe, 1), accept(0xffffffff, 1), accept(1, 1), accept(2, 1)},
         {.allowed = true, .oldest_pending_id = 0}, "0+2B 2+2"},
        {"out of order (released held packets): never a batch verdict",
         {accept(9, 1), accept(10, 1), accept(3, 1), accept(4, 1)}, {}, "0+2 2+2"},
        {"a repeated id is not ascending", {accept(4, 1), accept(5, 1), accept(5, 1)}, {}, "0+2 2+1"},
    };
    for (const RunCase& c : cases) EXPECT_EQ(runs_of(c.verdicts, c.policy), c.expected) << c.name;
}

// The safety property itself, over every sequence of a small alphabet: a
// batch verdict naming id X answers every queued id <= X. Simulate the kernel
// queue (this batch, plus held packets) and check that every packet ends up
// with exactly its own verdict and mark.
TEST(VerdictRuns, BatchVerdictsNeverAnswerAnotherPacket) {
    constexpr std::uint32_t kBase = 0xfffffffa;  // crosses the wrap
    constexpr int kPackets = 7;
    int checked = 0;
    // Per packet: 0 = accept mark 1, 1 = accept mark 2, 2 = drop, 3 = held (no verdict now).
    for (int code = 0; code < 4 * 4 * 4 * 4 * 4 * 4 * 4; ++code) {
        std::vector<PacketVerdict> verdicts;
        std::vector<int> kind(kPackets);
        std::optional<std::uint32_t> oldest_held;
        int c = code;
        for (int i = 0; i < kPackets; ++i, c /= 4) {
            kind[i] = c % 4;
            const std::uint32_t id = kBase + static_cast<std::uint32_t>(i);
            if (kind[i] == 3) {
                if (!oldest_held) oldest_held = id;
                continue;
            }
            verdicts.push_back(kind[i] == 2 ? drop(id) : accept(id, static_cast<std::uint32_t>(kind[i] + 1)));
        }
        // Kernel queue in id order; answered[i]: the verdict packet i got.
        std::vector<std::optional<PacketVerdict>> answered(kPackets);
        auto queued = [&](int i) { return kind[i] == 3 || !answered[i]; };
        for_each_verdict_run(verdicts, {.allowed = true, .oldest_pending_id = oldest_held}, [&](const VerdictRun& run) {
            for (std::size_t k = run.first; k < run.first + run.count; ++k) {
                if (run.batch && k + 1 < run.first + run.count) continue;
                const PacketVerdict& v = verdicts[k];
                for (int i = 0; i < kPackets; ++i) {
                    const std::uint32_t id = kBase + static_cast<std::uint32_t>(i);
                    const bool covered = run.batch ? (queued(i) && !packet_id_before(v.id, id)) : id == v.id;
                    if (!covered) continue;
                    EXPECT_NE(kind[i], 3) << "code " << code << ": a held packet got a verdict";
                    EXPECT_FALSE(answered[i]) << "code " << code << ": packet " << i << " answered twice";
                    answered[i] = v;
                }
            }
        });
        for (int i = 0; i < kPackets; ++i) {
            if (kind[i] == 3) continue;
            ASSERT_TRUE(answered[i]) << "code " << code << ": packet " << i << " unanswered";
            const PacketVerdict own = kind[i] == 2 ? drop(kBase + i) : accept(kBase + i, kind[i] + 1);
            EXPECT_TRUE(same_verdict(*answered[i], own)) << "code " << code << ": packet " << i << " got another verdict";
        }
        ++checked;
    }
    EXPECT_EQ(checked, 4 * 4 * 4 * 4 * 4 * 4 * 4);
}

}  // namespace
}  // namespace sctplb
