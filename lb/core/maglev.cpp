// Maglev table population (Eisenbud et al., NSDI 2016, §3.4, Pseudocode 1).
#include "core/maglev.hpp"

#include <algorithm>
#include <vector>

namespace sctplb {

namespace {

// Domain separation: offset and skip come from two unrelated keyed hashes of the
// fwmark (the paper's h1 and h2), and neither equals any data-path key hash.
constexpr std::uint64_t kOffsetDomain = 0x6d61676c'65762f6f;  // "maglev/o"
constexpr std::uint64_t kSkipDomain = 0x6d61676c'65762f73;    // "maglev/s"

// One target's walk through its permutation: permutation[j] = (offset + j * skip) mod M.
// skip is in [1, M-1] and M is prime, so the walk visits every slot once in M steps.
struct PermutationCursor {
    std::uint32_t position;
    std::uint32_t skip;

    void advance(std::uint32_t m) {
        position += skip;  // both < M <= kMaglevMaxM: no overflow
        if (position >= m) {
            position -= m;
        }
    }
};

}  // namespace

bool is_prime(std::uint32_t n) {
    if (n < 2) {
        return false;
    }
    if (n < 4) {
        return true;
    }
    if (n % 2 == 0 || n % 3 == 0) {
        return false;
    }
    // Every prime above 3 is 6k +- 1.
    for (std::uint64_t d = 5; d * d <= n; d += 6) {
        if (n % d == 0 || n % (d + 2) == 0) {
            return false;
        }
    }
    return true;
}

bool maglev_populate(const KeyedHash& hash, std::span<const std::uint32_t> active_fwmarks,
                     std::span<std::uint32_t> table) {
    std::vector<MaglevTarget> targets;
    targets.reserve(active_fwmarks.size());
    for (const std::uint32_t fwmark : active_fwmarks) {
        targets.push_back({fwmark, 1});
    }
    return maglev_populate_weighted(hash, targets, table);
}

bool maglev_populate_weighted(const KeyedHash& hash, std::span<const MaglevTarget> active_targets,
                     std::span<std::uint32_t> table) {
    if (table.size() > kMaglevMaxM) {
        return false;
    }
    const auto m = static_cast<std::uint32_t>(table.size());
    if (!is_prime(m)) {
        return false;
    }

    // Fill in ascending fwmark order so the table depends on the set, not on the
    // order in which targets were activated.
    std::vector<MaglevTarget> targets(active_targets.begin(), active_targets.end());
    std::sort(targets.begin(), targets.end(),
              [](const MaglevTarget& a, const MaglevTarget& b) { return a.fwmark < b.fwmark; });
    // 0 marks an empty slot (kNoTarget), so it cannot name a target.
    if (!targets.empty() && targets.front().fwmark == kNoTarget) {
        return false;
    }
    const auto same_fwmark = [](const MaglevTarget& a, const MaglevTarget& b) { return a.fwmark == b.fwmark; };
    if (std::adjacent_find(targets.begin(), targets.end(), same_fwmark) != targets.end()) {
        return false;
    }
    // Every target must get at least one slot: the weights must fit in M.
    std::uint64_t weight_sum = 0;
    for (const MaglevTarget& target : targets) {
        if (target.weight < 1 || target.weight > kMaglevMaxWeight) {
            return false;
        }
        weight_sum += target.weight;
    }
    if (weight_sum > m) {
        return false;
    }

    std::fill(table.begin(), table.end(), kNoTarget);
    if (targets.empty()) {
        return true;
    }

    std::vector<PermutationCursor> cursors;
    cursors.reserve(targets.size());
    for (const MaglevTarget& target : targets) {
        const auto offset = static_cast<std::uint32_t>(hash.hash_u64_pair(kOffsetDomain, target.fwmark) % m);
        // m == 2 gives skip 1; otherwise skip is in [1, m-1].
        const auto skip = static_cast<std::uint32_t>(hash.hash_u64_pair(kSkipDomain, target.fwmark) % (m - 1) + 1);
        cursors.push_back({offset, skip});
    }

    // Pseudocode 1 with weights: targets take turns, a target of weight w
    // taking w turns per round; each turn claims the next slot of the target's
    // permutation not yet taken. Every turn claims exactly one slot, so after
    // k rounds target i holds k * w_i slots, and the loop ends after exactly M
    // claims. The table itself records which slots are taken (kNoTarget = free).
    std::uint32_t filled = 0;
    for (;;) {
        for (std::size_t i = 0; i < targets.size(); ++i) {
            PermutationCursor& cursor = cursors[i];
            for (std::uint32_t turn = 0; turn < targets[i].weight; ++turn) {
                while (table[cursor.position] != kNoTarget) {
                    cursor.advance(m);
                }
                table[cursor.position] = targets[i].fwmark;
                cursor.advance(m);
                if (++filled == m) {
                    return true;
                }
            }
        }
    }
}

}  // namespace sctplb
