#include "io/sync_key.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <cctype>

#include "core/number_text.hpp"
#include "io/seed_file.hpp"

namespace sctplb {

namespace {


void hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::byte> data, unsigned char (&out)[kSyncMacSize]) {
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), out, &length);
}

}  // namespace

std::uint32_t SyncKeyring::id_of(std::span<const std::uint8_t> key) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(key.data(), key.size(), digest);
    return (std::uint32_t{digest[0]} << 24) | (std::uint32_t{digest[1]} << 16) | (std::uint32_t{digest[2]} << 8) |
           digest[3];
}

std::optional<SyncKeyring> SyncKeyring::parse(std::string_view text, std::string& error) {
    SyncKeyring ring;
    std::size_t line_number = 0;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        ++line_number;
        if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
        if (line.empty()) continue;
        const std::string where = "line " + std::to_string(line_number) + ": ";
        if (line.size() % 2 != 0 || line.size() < 2 * kMinSyncKeyBytes || line.size() > 2 * kMaxSyncKeyBytes) {
            error = where + "a key is " + std::to_string(2 * kMinSyncKeyBytes) + " to " +
                    std::to_string(2 * kMaxSyncKeyBytes) + " hex digits (openssl rand -hex 32), not " +
                    std::to_string(line.size()) + " characters";
            return std::nullopt;
        }
        Key key;
        for (std::size_t i = 0; i < line.size(); i += 2) {
            const auto high = hex_digit(line[i]), low = hex_digit(line[i + 1]);
            if (!high || !low) {
                error = where + "not hex digits";
                return std::nullopt;
            }
            key.bytes.push_back(static_cast<std::uint8_t>(*high * 16 + *low));
        }
        if (ring.keys_.size() == kMaxSyncKeys) {
            error = where + "at most " + std::to_string(kMaxSyncKeys) + " keys (the current and the next)";
            return std::nullopt;
        }
        if (all_zero(std::as_bytes(std::span(key.bytes)))) {
            error = where + "the key is all zero, not a secret (openssl rand -hex 32)";
            return std::nullopt;
        }
        key.id = id_of(key.bytes);
        ring.keys_.push_back(std::move(key));
    }
    if (ring.keys_.empty()) {
        error = "no key (one line of hex digits, e.g. from openssl rand -hex 32)";
        return std::nullopt;
    }
    return ring;
}

std::optional<SyncKeyring> SyncKeyring::load(const std::string& path, std::string& error) {
    // Whoever holds the key can rewrite every LB's association table.
    const auto bytes = read_private_file(path, "sync key file", S_IRWXG | S_IRWXO, 4096, error);
    if (!bytes) return std::nullopt;
    const std::string text(reinterpret_cast<const char*>(bytes->data()), bytes->size());
    auto ring = parse(text, error);
    if (!ring) error = "sync key file " + path + ": " + error;
    return ring;
}

void SyncKeyring::sign(std::span<const std::byte> data, std::span<std::byte, kSyncMacSize> mac) const {
    unsigned char out[kSyncMacSize];
    hmac_sha256(keys_.front().bytes, data, out);
    for (std::size_t i = 0; i < kSyncMacSize; ++i) mac[i] = std::byte{out[i]};
}

SyncAuthenticator::Check SyncKeyring::check(std::uint32_t key_id, std::span<const std::byte> data,
                                            std::span<const std::byte, kSyncMacSize> mac) const {
    for (const Key& key : keys_) {
        if (key.id != key_id) continue;
        unsigned char expected[kSyncMacSize];
        hmac_sha256(key.bytes, data, expected);
        // Constant time: a timing difference must not reveal how much of a forged MAC was right.
        return CRYPTO_memcmp(expected, mac.data(), kSyncMacSize) == 0 ? Check::Ok : Check::Mismatch;
    }
    return Check::UnknownKey;
}

}  // namespace sctplb
