// Reading the keyed-hash seed shared by every LB instance of a tier.
//
// The seed keeps clients from steering their INITs to a chosen server, so a
// seed file others can read is refused rather than used.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/keyed_hash.hpp"

namespace sctplb {

// Upper bound on a seed file: the seed is a few dozen random bytes; anything
// bigger is the wrong file.
inline constexpr std::size_t kMaxSeedFileBytes = 64 * 1024;

// The bytes of `path`. nullopt with a one-line `error` when the file cannot be
// read, is not a regular file, is not owned by the effective user, is readable
// by others (mode o+r), is all zero, is shorter than KeyedHash::kMinSeedBytes or
// longer than kMaxSeedFileBytes.
[[nodiscard]] std::optional<std::vector<std::byte>> read_seed_file(const std::string& path,
                                                                   std::string& error);

// The bytes of a secret file (`what` names it in errors): nullopt with a
// one-line `error` when it cannot be read, is not a regular file (a FIFO is
// refused at once, never waited on), is not owned by the effective user, has
// any of the `forbidden_mode` permission bits, or is longer than max_bytes.
[[nodiscard]] std::optional<std::vector<std::byte>> read_private_file(const std::string& path, std::string_view what,
                                                                    unsigned forbidden_mode, std::size_t max_bytes,
                                                                    std::string& error);

// True when every byte is zero (an all-zero seed or key is no secret).
[[nodiscard]] bool all_zero(std::span<const std::byte> bytes);

// read_seed_file() then KeyedHash::from_seed().
[[nodiscard]] std::optional<KeyedHash> load_keyed_hash(const std::string& path, std::string& error);

}  // namespace sctplb
