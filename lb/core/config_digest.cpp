#include "core/config_digest.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace sctplb {

namespace {

constexpr std::string_view kDigestLabel = "sctplb/config-digest/v1";

void append_le(std::vector<std::byte>& out, std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        out.push_back(static_cast<std::byte>(value >> (8 * i)));
    }
}

void append_text(std::vector<std::byte>& out, std::string_view text) {
    for (const char c : text) {
        out.push_back(static_cast<std::byte>(c));
    }
}

}  // namespace

std::string config_digest(std::uint32_t m, const KeyedHash& hash, std::string_view hash_mode_name,
                          std::span<const std::uint32_t> active_fwmarks) {
    std::vector<MaglevTarget> targets;
    targets.reserve(active_fwmarks.size());
    for (const std::uint32_t fwmark : active_fwmarks) {
        targets.push_back({fwmark, 1});
    }
    return config_digest_weighted(m, hash, hash_mode_name, targets);
}

std::string config_digest_weighted(std::uint32_t m, const KeyedHash& hash, std::string_view hash_mode_name,
                                   std::span<const MaglevTarget> active_targets) {
    std::vector<MaglevTarget> targets(active_targets.begin(), active_targets.end());
    std::sort(targets.begin(), targets.end(), [](const MaglevTarget& a, const MaglevTarget& b) {
        return a.fwmark != b.fwmark ? a.fwmark < b.fwmark : a.weight < b.weight;
    });
    const bool weighted =
        std::any_of(targets.begin(), targets.end(), [](const MaglevTarget& t) { return t.weight != 1; });

    std::vector<std::byte> canonical;
    canonical.reserve(kDigestLabel.size() + 4 + 8 + 8 + hash_mode_name.size() + 16 + 8 * targets.size());
    append_text(canonical, kDigestLabel);
    append_le(canonical, m, 4);
    append_le(canonical, hash.fingerprint(), 8);
    // Length and count prefixes keep adjacent fields from running into each other.
    append_le(canonical, hash_mode_name.size(), 8);
    append_text(canonical, hash_mode_name);
    append_le(canonical, targets.size(), 8);
    for (const MaglevTarget& target : targets) {
        append_le(canonical, target.fwmark, 4);
    }
    if (weighted) {
        append_le(canonical, targets.size(), 8);
        for (const MaglevTarget& target : targets) {
            append_le(canonical, target.weight, 4);
        }
    }

    const std::uint64_t digest = XXH3_64bits(canonical.data(), canonical.size());
    constexpr std::string_view kHexDigits = "0123456789abcdef";
    std::string hex(16, '0');
    for (int i = 0; i < 16; ++i) {
        hex[static_cast<std::size_t>(i)] = kHexDigits[(digest >> (60 - 4 * i)) & 0xf];
    }
    return hex;
}

}  // namespace sctplb
