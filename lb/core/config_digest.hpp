// A short digest of the configuration that decides where new associations go,
// so LB instances of one tier can check that they would build the same Maglev
// table (e.g. exchanged over association sync, or printed by the CLI).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/keyed_hash.hpp"
#include "core/maglev.hpp"

namespace sctplb {

// 16 lowercase hex digits (64 bits) over, in this order:
//   - a format label ("sctplb/config-digest/v1"), changed whenever the fields
//     below or the Maglev population change meaning;
//   - M, the Maglev table size;
//   - the seed fingerprint (KeyedHash::fingerprint(), never the seed);
//   - the hash mode name (e.g. hash_mode_name(HashMode::Vtag)), length-prefixed;
//   - the active fwmarks, count-prefixed and sorted ascending, so the digest
//     does not depend on activation order (duplicates are kept: such a set is
//     invalid and must not digest like the valid one);
//   - only when some weight is not 1: the weights, count-prefixed, in the
//     order of the sorted fwmarks. So a tier of weight-1 targets (the same
//     Maglev table as before weights existed) keeps the digest it had, and
//     instances of a rolling upgrade still agree.
// Integers are little-endian. The digest is unkeyed XXH3-64: it detects
// accidental mismatches, it does not authenticate anything.
[[nodiscard]] std::string config_digest(std::uint32_t m, const KeyedHash& hash,
                                        std::string_view hash_mode_name,
                                        std::span<const std::uint32_t> active_fwmarks);
// With weights (a name of its own, so `{}` stays unambiguous).
[[nodiscard]] std::string config_digest_weighted(std::uint32_t m, const KeyedHash& hash,
                                                 std::string_view hash_mode_name,
                                                 std::span<const MaglevTarget> active_targets);

}  // namespace sctplb
