// The bytes and texts an sctplb nft table holds: map keys, the settings comment, the table name (no system calls).
//
// Pure, so that tests reach it without netlink; lb/io/nft_* puts them into the kernel.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/fast_path.hpp"

namespace sctplb {

// What the daemon reads back (from the userdata + the maps).
struct FastPathInfo {
    std::uint32_t mark_mask = 0;
    std::uint32_t map_size = 0;
    std::uint64_t timeout_ms = 0;
    std::vector<std::uint32_t> fwmarks;  // targets with a chain, ascending
};

// The nft table name for an sctplb instance tag (`--shm` name): "sctplb" for
// "sctplb", else "sctplb-" + tag.
std::string fastpath_table_name(std::string_view tag);

// Key lengths: IPv4 address 4 + sport 4 + dport 4 + vtag 4; IPv6 address 16 + the same 12.
inline constexpr std::size_t kFastPathKeyBytesIpv4 = 16;
inline constexpr std::size_t kFastPathKeyBytesIpv6 = 28;
inline constexpr std::size_t kFastPathKeyMaxBytes = kFastPathKeyBytesIpv6;
using FastPathKeyBytes = std::array<std::uint8_t, kFastPathKeyMaxBytes>;

// The bytes of a map key as the kernel's registers hold a concatenation: each
// field in network byte order, padded with zeros to 4 bytes (ports). IPv4:
// saddr 4 . sport 2+2 . dport 2+2 . vtag 4 = 16 bytes; IPv6: 28 bytes.
// Returns the number of bytes written.
std::size_t encode_fastpath_key(const FastPathKey& key, FastPathKeyBytes& out);
// 16 bytes: IPv4, 28 bytes: IPv6; nullopt for any other length or non-zero padding.
std::optional<FastPathKey> decode_fastpath_key(std::span<const std::uint8_t> bytes);

// The comment that marks a table as ours.
inline constexpr std::string_view kFastPathTableComment = "sctplb-fastpath 1";
// "sctplb-fastpath 1 mask=0x%08x size=N timeout_ms=M" (fwmarks are not part of it).
std::string fastpath_settings_text(std::uint32_t mark_mask, std::uint32_t map_size, std::uint64_t timeout_ms);
// Inverse of fastpath_settings_text; fwmarks stay empty. nullopt unless the
// text is exactly in that format.
std::optional<FastPathInfo> parse_fastpath_settings(std::string_view text);

}  // namespace sctplb
