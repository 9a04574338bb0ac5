// KeyedHash: XXH3-64 with a secret derived from the seed (xxHash >= 0.8).
//
// XXH3's output format is frozen since 0.8.0, but XXH3_generateSecret() is in
// xxHash's "experimental" section: every LB instance of a tier must derive the
// same secret, which fingerprint() (and so the config digest) checks.
#define XXH_STATIC_LINKING_ONLY  // XXH3_generateSecret, XXH3_SECRET_SIZE_MIN
#include "core/keyed_hash.hpp"

#include <xxhash.h>

#include <cassert>
#include <cstring>

namespace sctplb {

namespace {

static_assert(KeyedHash::kSecretSize >= XXH3_SECRET_SIZE_MIN);
static_assert(KeyedHash::kBuiltinSeed.size() >= KeyedHash::kMinSeedBytes);

// Pads hash_u64's key to 16 bytes (see hash_u64). Any fixed value works.
constexpr std::uint64_t kSingleValuePad = 0x7363'7470'6c62'3634;  // "sctplb64"

// Prefix of the fingerprint input, so the fingerprint is no hash of the bare secret
// that some other code might also compute.
constexpr std::string_view kFingerprintLabel = "sctplb/seed-fingerprint/v1";

void store_le64(std::byte* out, std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
        out[i] = static_cast<std::byte>(value >> (8 * i));
    }
}

std::span<const std::byte> builtin_seed_bytes() {
    return std::as_bytes(std::span(KeyedHash::kBuiltinSeed.data(), KeyedHash::kBuiltinSeed.size()));
}

}  // namespace

KeyedHash::KeyedHash() : KeyedHash(builtin_seed_bytes()) {}

KeyedHash::KeyedHash(std::span<const std::byte> seed_material) {
    assert(seed_material.size() >= kMinSeedBytes);
    // Only fails for a NULL buffer or a secret below the minimum size, both excluded here.
    [[maybe_unused]] const XXH_errorcode status = XXH3_generateSecret(
        secret_.data(), secret_.size(), seed_material.data(), seed_material.size());
    assert(status == XXH_OK);

    // The fingerprint hashes the label and the derived secret without a key: 64 bits
    // out of 192 secret bytes reveal neither the secret nor the seed, yet two instances
    // with different seeds (or different secret derivations) disagree.
    std::array<std::byte, kFingerprintLabel.size() + kSecretSize> input{};
    std::memcpy(input.data(), kFingerprintLabel.data(), kFingerprintLabel.size());
    std::memcpy(input.data() + kFingerprintLabel.size(), secret_.data(), secret_.size());
    fingerprint_ = XXH3_64bits(input.data(), input.size());
}

std::optional<KeyedHash> KeyedHash::from_seed(std::span<const std::byte> seed_material) {
    if (seed_material.size() < kMinSeedBytes) {
        return std::nullopt;
    }
    return KeyedHash(seed_material);
}

std::uint64_t KeyedHash::operator()(std::span<const std::byte> bytes) const {
    return XXH3_64bits_withSecret(bytes.data(), bytes.size(), secret_.data(), secret_.size());
}

// Why 16 bytes for one value: for 4..8-byte inputs XXH3 only XORs the input with
// one 64-bit secret word and then applies a public bijection, so a single known
// (key, hash) pair would reveal that word. 9..16-byte inputs go through a 128-bit
// multiply-fold of two secret-masked words, which gives nothing away so cheaply.
std::uint64_t KeyedHash::hash_u64(std::uint64_t value) const {
    return hash_u64_pair(value, kSingleValuePad);
}

std::uint64_t KeyedHash::hash_u64_pair(std::uint64_t a, std::uint64_t b) const {
    std::array<std::byte, 16> key{};  // little-endian a then b: the same on every host
    store_le64(key.data(), a);
    store_le64(key.data() + 8, b);
    return XXH3_64bits_withSecret(key.data(), key.size(), secret_.data(), secret_.size());
}

}  // namespace sctplb
