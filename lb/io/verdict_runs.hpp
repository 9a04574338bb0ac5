// Grouping NFQUEUE verdicts into runs that one netlink message can answer.
//
// NFQNL_MSG_VERDICT_BATCH names one packet id and gives the same verdict (and
// NFQA_MARK, when present) to EVERY packet still queued in that queue with an
// id up to and including it (the kernel's nfqnl_recv_verdict_batch walks the
// queue's list, in id order, until the first id after the one named). So a
// run of verdicts may be sent as one batch verdict only when:
//   - its ids are consecutive: a gap may be a packet still queued elsewhere
//     (held back), which the batch verdict would answer with this run's mark;
//   - its verdicts are identical (action and mark);
//   - every queued packet with a smaller id has been answered: the verdicts
//     are sent in ascending id order (earlier messages of one sendmsg are
//     processed first), and no packet outside them awaits a verdict with an id
//     before the run's last (`oldest_pending_id`: the oldest held packet).
// A run of one stays a normal NFQNL_MSG_VERDICT.
//
// Pure functions, no system calls: tested without netlink
// (tests/unit/verdict_runs_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "io/nfqueue.hpp"  // PacketVerdict, BatchVerdictPolicy

namespace sctplb {

// Packet ids wrap at 2^32; the kernel compares them as nfq_id_after does:
// `a` comes before `b` when the signed distance is negative.
[[nodiscard]] constexpr bool packet_id_before(std::uint32_t a, std::uint32_t b) {
    return static_cast<std::int32_t>(a - b) < 0;
}

struct VerdictRun {
    std::size_t first = 0;  // index of its first verdict
    std::size_t count = 0;  // verdicts in it, >= 1
    bool batch = false;     // one NFQNL_MSG_VERDICT_BATCH naming the last id (count >= 2)
};

// True when `a` and `b` are answered alike (same action, same mark or both none).
[[nodiscard]] inline bool same_verdict(const PacketVerdict& a, const PacketVerdict& b) {
    return a.action == b.action && a.mark == b.mark;
}

// True when every id comes after the one before it (wrapping): the only order
// in which a batch verdict cannot cover a verdict sent after it.
[[nodiscard]] inline bool ids_ascending(std::span<const PacketVerdict> verdicts) {
    for (std::size_t i = 1; i < verdicts.size(); ++i)
        if (!packet_id_before(verdicts[i - 1].id, verdicts[i].id)) return false;
    return true;
}

// Calls each(const VerdictRun&) for the runs of `verdicts`, in order; together
// they cover every verdict exactly once. Runs are maximal: consecutive ids and
// the same verdict. A run is batched only when the policy allows it, the
// verdicts are in ascending id order and the run ends before the oldest
// pending id.
template <typename Each>
void for_each_verdict_run(std::span<const PacketVerdict> verdicts, const BatchVerdictPolicy& policy, Each&& each) {
    const bool may_batch = policy.allowed && ids_ascending(verdicts);
    std::size_t first = 0;
    while (first < verdicts.size()) {
        std::size_t end = first + 1;
        while (end < verdicts.size() && verdicts[end].id == verdicts[end - 1].id + 1 &&
               same_verdict(verdicts[end], verdicts[first]))
            ++end;
        const std::uint32_t last_id = verdicts[end - 1].id;
        const bool before_pending =
            !policy.oldest_pending_id || packet_id_before(last_id, *policy.oldest_pending_id);
        each(VerdictRun{first, end - first, may_batch && end - first >= 2 && before_pending});
        first = end;
    }
}

}  // namespace sctplb
