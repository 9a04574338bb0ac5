// The association-sync key file and HMAC-SHA256 (OpenSSL libcrypto).
//
// File format: one key per line as hex digits (at least 32, i.e. 128 bits;
// `openssl rand -hex 32` makes a 256-bit one), '#' starts a comment, blank
// lines are ignored. One or two keys: the first signs, either verifies — so a
// tier rotates keys without a flag day (add the new key second everywhere,
// then make it first everywhere, then remove the old one). The file must not
// be open to group or others (chmod 600).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/sync_wire.hpp"

namespace sctplb {

inline constexpr std::size_t kMinSyncKeyBytes = 16;
inline constexpr std::size_t kMaxSyncKeyBytes = 64;
inline constexpr std::size_t kMaxSyncKeys = 2;

class SyncKeyring final : public SyncAuthenticator {
public:
    // Parses key-file text; nullopt with a one-line `error` (naming the line).
    static std::optional<SyncKeyring> parse(std::string_view text, std::string& error);
    // Reads and parses `path` (refused when open to group or others).
    static std::optional<SyncKeyring> load(const std::string& path, std::string& error);

    [[nodiscard]] std::uint32_t signing_key_id() const override { return keys_.front().id; }
    void sign(std::span<const std::byte> data, std::span<std::byte, kSyncMacSize> mac) const override;
    [[nodiscard]] Check check(std::uint32_t key_id, std::span<const std::byte> data,
                              std::span<const std::byte, kSyncMacSize> mac) const override;
    [[nodiscard]] std::size_t size() const { return keys_.size(); }
    [[nodiscard]] std::uint32_t key_id(std::size_t i) const { return keys_[i].id; }

    // First 4 bytes of SHA-256 of the key, big-endian: names a key on the wire
    // without revealing it.
    static std::uint32_t id_of(std::span<const std::uint8_t> key);

private:
    struct Key {
        std::uint32_t id;
        std::vector<std::uint8_t> bytes;
    };
    std::vector<Key> keys_;
};

}  // namespace sctplb
