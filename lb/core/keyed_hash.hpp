// A fast keyed hash (XXH3 with a secret derived from the seed file).
//
// Every LB instance of a tier reads the same seed file and so computes the
// same hashes; clients, who do not know the seed, cannot steer their INITs to
// a chosen server. XXH3 is not a cryptographic PRF; it is the well-kept fast
// keyed hash the design asks for (see docs/design.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sctplb {

class KeyedHash {
public:
    static constexpr std::size_t kSecretSize = 192;  // >= XXH3_SECRET_SIZE_MIN (136)
    static constexpr std::size_t kMinSeedBytes = 16;
    // Seed of the default constructor (its bytes, without a terminating NUL).
    static constexpr std::string_view kBuiltinSeed = "sctplb built-in seed v1: public, for tests only";

    // The fixed built-in seed kBuiltinSeed: reproducible replays and tests.
    // Not secret: production instances load a seed file.
    KeyedHash();
    // Seed material, e.g. the contents of --seed-file. Precondition: at least
    // kMinSeedBytes (asserted); configuration code uses from_seed() instead.
    explicit KeyedHash(std::span<const std::byte> seed_material);
    // Validating factory for configuration time: nullopt when the seed is
    // shorter than kMinSeedBytes (too little entropy to keep clients guessing).
    [[nodiscard]] static std::optional<KeyedHash> from_seed(std::span<const std::byte> seed_material);

    [[nodiscard]] std::uint64_t operator()(std::span<const std::byte> bytes) const;
    // Convenience for the fixed-width keys of the data path.
    [[nodiscard]] std::uint64_t hash_u64(std::uint64_t value) const;
    [[nodiscard]] std::uint64_t hash_u64_pair(std::uint64_t a, std::uint64_t b) const;

    // A short public fingerprint of the seed (not the seed itself) for config digests.
    // It only lets someone confirm a guessed seed, so seeds must be random bytes.
    [[nodiscard]] std::uint64_t fingerprint() const { return fingerprint_; }

private:
    alignas(64) std::array<std::byte, kSecretSize> secret_{};
    std::uint64_t fingerprint_ = 0;
};

}  // namespace sctplb
