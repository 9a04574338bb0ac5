// KeyedHash: determinism per seed, independence across seeds, seed validation,
// fingerprints, and the byte encoding every LB instance must agree on.
#include "core/keyed_hash.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace sctplb {
namespace {

std::vector<std::byte> bytes_of(std::string_view text) {
    std::vector<std::byte> out;
    for (const char c : text) {
        out.push_back(static_cast<std::byte>(c));
    }
    return out;
}

const std::vector<std::byte> kSeedA = bytes_of("0123456789abcdef-seed-A");
const std::vector<std::byte> kSeedB = bytes_of("0123456789abcdef-seed-B");  // one byte differs

// Inputs that exercise every hash entry point.
struct HashOutputs {
    std::uint64_t bytes_empty;
    std::uint64_t bytes_short;
    std::uint64_t bytes_long;
    std::uint64_t single;
    std::uint64_t pair;
};

HashOutputs outputs_of(const KeyedHash& hash) {
    const std::vector<std::byte> long_input(300, std::byte{0x5a});
    const std::vector<std::byte> short_input = bytes_of("abc");
    return {hash(std::span<const std::byte>{}), hash(short_input), hash(long_input),
            hash.hash_u64(0x1122334455667788), hash.hash_u64_pair(36412, 0xdeadbeef)};
}

TEST(KeyedHash, SameSeedGivesSameOutputs) {
    const KeyedHash first(kSeedA);
    const KeyedHash second(kSeedA);
    const HashOutputs a = outputs_of(first);
    const HashOutputs b = outputs_of(second);
    EXPECT_EQ(a.bytes_empty, b.bytes_empty);
    EXPECT_EQ(a.bytes_short, b.bytes_short);
    EXPECT_EQ(a.bytes_long, b.bytes_long);
    EXPECT_EQ(a.single, b.single);
    EXPECT_EQ(a.pair, b.pair);
    EXPECT_EQ(first.fingerprint(), second.fingerprint());
}

TEST(KeyedHash, DefaultConstructorUsesTheBuiltinSeed) {
    const auto builtin = std::as_bytes(
        std::span(KeyedHash::kBuiltinSeed.data(), KeyedHash::kBuiltinSeed.size()));
    const KeyedHash from_builtin(builtin);
    const KeyedHash by_default;
    EXPECT_EQ(by_default.fingerprint(), from_builtin.fingerprint());
    EXPECT_EQ(by_default.hash_u64_pair(1, 2), from_builtin.hash_u64_pair(1, 2));
    EXPECT_NE(by_default.fingerprint(), KeyedHash(kSeedA).fingerprint());
}

TEST(KeyedHash, DifferentSeedGivesDifferentOutputs) {
    const HashOutputs a = outputs_of(KeyedHash(kSeedA));
    const HashOutputs b = outputs_of(KeyedHash(kSeedB));
    EXPECT_NE(a.bytes_empty, b.bytes_empty);
    EXPECT_NE(a.bytes_short, b.bytes_short);
    EXPECT_NE(a.bytes_long, b.bytes_long);
    EXPECT_NE(a.single, b.single);
    EXPECT_NE(a.pair, b.pair);
}

TEST(KeyedHash, DifferentSeedDisagreesOnNearlyEveryKey) {
    const KeyedHash a(kSeedA);
    const KeyedHash b(kSeedB);
    int equal = 0;
    for (std::uint64_t key = 0; key < 10'000; ++key) {
        equal += a.hash_u64(key) == b.hash_u64(key) ? 1 : 0;
        equal += a.hash_u64_pair(key, 38412) == b.hash_u64_pair(key, 38412) ? 1 : 0;
    }
    // Independent 64-bit outputs agree with probability 2^-64 per key.
    EXPECT_EQ(equal, 0);
}

TEST(KeyedHash, FromSeedRejectsShortSeeds) {
    const std::vector<std::byte> long_seed(4096, std::byte{0x42});
    struct Case {
        std::size_t size;
        bool accepted;
    };
    for (const Case c : {Case{0, false}, Case{1, false}, Case{KeyedHash::kMinSeedBytes - 1, false},
                         Case{KeyedHash::kMinSeedBytes, true},
                         Case{KeyedHash::kMinSeedBytes + 1, true}, Case{4096, true}}) {
        SCOPED_TRACE(c.size);
        const auto seed = std::span(long_seed).first(c.size);
        const std::optional<KeyedHash> hash = KeyedHash::from_seed(seed);
        ASSERT_EQ(hash.has_value(), c.accepted);
        if (hash) {
            EXPECT_EQ(hash->fingerprint(), KeyedHash(seed).fingerprint());
            EXPECT_EQ(hash->hash_u64(7), KeyedHash(seed).hash_u64(7));
        }
    }
}

TEST(KeyedHash, FingerprintDiffersPerSeedAndIsNotAnOrdinaryHash) {
    const KeyedHash a(kSeedA);
    const KeyedHash b(kSeedB);
    EXPECT_NE(a.fingerprint(), b.fingerprint());
    // The fingerprint is none of the values the data path computes.
    EXPECT_NE(a.fingerprint(), a(std::span<const std::byte>{}));
    EXPECT_NE(a.fingerprint(), a(kSeedA));
    EXPECT_NE(a.fingerprint(), a.hash_u64(0));
    // Seeds that differ only in length (a prefix) are different seeds.
    const auto prefix = std::span(kSeedA).first(KeyedHash::kMinSeedBytes);
    EXPECT_NE(a.fingerprint(), KeyedHash(prefix).fingerprint());
}

// The pair key is the 16 little-endian bytes of a then b, on every host: LB
// instances on different CPUs must compute the same key hashes.
TEST(KeyedHash, PairHashesLittleEndianBytes) {
    const KeyedHash hash(kSeedA);
    const std::array<std::uint8_t, 16> encoded = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                                                  0xef, 0xbe, 0xad, 0xde, 0x00, 0x00, 0x00, 0x00};
    EXPECT_EQ(hash.hash_u64_pair(0x1122334455667788, 0xdeadbeef), hash(std::as_bytes(std::span(encoded))));
}

TEST(KeyedHash, PairIsOrderSensitive) {
    const KeyedHash hash;
    EXPECT_NE(hash.hash_u64_pair(1, 2), hash.hash_u64_pair(2, 1));
    EXPECT_NE(hash.hash_u64_pair(0, 0), hash.hash_u64_pair(0, 1));
}

// hash_u64 must not be the 4..8-byte XXH3 path (XOR with one secret word, then a
// public bijection): it is padded to 16 bytes, so it differs from hashing the
// value's 8 bytes alone.
TEST(KeyedHash, SingleValueIsNotTheEightByteHash) {
    const KeyedHash hash;
    const std::array<std::uint8_t, 8> encoded = {1, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_NE(hash.hash_u64(1), hash(std::as_bytes(std::span(encoded))));
}

// Sequential keys (as ports and tags often are) must still spread: each output
// bit is set for about half of them. 20,000 samples: 3 sigma is ~1%.
TEST(KeyedHash, OutputBitsAreBalancedOnSequentialKeys) {
    const KeyedHash hash;
    constexpr int kSamples = 20'000;
    std::array<int, 64> single_set{};
    std::array<int, 64> pair_set{};
    for (std::uint64_t key = 0; key < kSamples; ++key) {
        const std::uint64_t single = hash.hash_u64(key);
        const std::uint64_t pair = hash.hash_u64_pair(36412, key);
        for (int bit = 0; bit < 64; ++bit) {
            single_set[bit] += static_cast<int>((single >> bit) & 1);
            pair_set[bit] += static_cast<int>((pair >> bit) & 1);
        }
    }
    for (int bit = 0; bit < 64; ++bit) {
        SCOPED_TRACE(bit);
        EXPECT_NEAR(single_set[bit], kSamples / 2, kSamples * 0.02);
        EXPECT_NEAR(pair_set[bit], kSamples / 2, kSamples * 0.02);
    }
}

// Known answers for the built-in seed. Every instance of a tier must hash
// alike: if this fails after a libxxhash upgrade (XXH3_generateSecret is
// "experimental" API) or a code change, mixed tiers would disagree — bump the
// config digest label and say so in the release notes.
TEST(KeyedHash, KnownAnswersForTheBuiltinSeed) {
    const KeyedHash hash;
    // Cross-checked with a separate C program calling libxxhash 0.8.1 directly.
    EXPECT_EQ(hash.fingerprint(), 0x1038304d8cc90289u);
    EXPECT_EQ(hash.hash_u64(0), 0x6e4850ab35b8a166u);
    EXPECT_EQ(hash.hash_u64_pair(36412, 0xdeadbeef), 0x23c91725faae9392u);
}

}  // namespace
}  // namespace sctplb
