// The bytes and texts an sctplb nft table holds: map keys, the settings comment, the table name.
#include "core/nft_encoding.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace sctplb {

std::string fastpath_table_name(std::string_view tag) {
    if (tag == "sctplb") return "sctplb";
    return "sctplb-" + std::string(tag);
}

std::size_t encode_fastpath_key(const FastPathKey& key, FastPathKeyBytes& out) {
    out.fill(0);
    const auto& address = key.client.bytes();
    std::size_t at = 0;
    if (key.client.is_v4()) {
        std::copy(address.begin() + 12, address.end(), out.begin());
        at = 4;
    } else {
        std::copy(address.begin(), address.end(), out.begin());
        at = 16;
    }
    // Ports: 2 bytes in network order, then 2 zero bytes (register padding).
    out[at] = static_cast<std::uint8_t>(key.sport >> 8);
    out[at + 1] = static_cast<std::uint8_t>(key.sport);
    out[at + 4] = static_cast<std::uint8_t>(key.dport >> 8);
    out[at + 5] = static_cast<std::uint8_t>(key.dport);
    for (int i = 0; i < 4; ++i) out[at + 8 + i] = static_cast<std::uint8_t>(key.vtag >> (24 - 8 * i));
    return at + 12;
}

std::optional<FastPathKey> decode_fastpath_key(std::span<const std::uint8_t> bytes) {
    FastPathKey key;
    std::size_t at = 0;
    if (bytes.size() == kFastPathKeyBytesIpv4) {
        key.client = IpAddress::v4((std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
                                   (std::uint32_t{bytes[2]} << 8) | bytes[3]);
        at = 4;
    } else if (bytes.size() == kFastPathKeyBytesIpv6) {
        std::array<std::uint8_t, 16> address{};
        std::copy(bytes.begin(), bytes.begin() + 16, address.begin());
        key.client = IpAddress::v6(address);
        at = 16;
    } else {
        return std::nullopt;
    }
    if (bytes[at + 2] != 0 || bytes[at + 3] != 0 || bytes[at + 6] != 0 || bytes[at + 7] != 0) return std::nullopt;
    key.sport = static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
    key.dport = static_cast<std::uint16_t>((bytes[at + 4] << 8) | bytes[at + 5]);
    key.vtag = (std::uint32_t{bytes[at + 8]} << 24) | (std::uint32_t{bytes[at + 9]} << 16) |
               (std::uint32_t{bytes[at + 10]} << 8) | bytes[at + 11];
    return key;
}

std::string fastpath_settings_text(std::uint32_t mark_mask, std::uint32_t map_size, std::uint64_t timeout_ms) {
    char text[128];
    std::snprintf(text, sizeof text, "%.*s mask=0x%08x size=%u timeout_ms=%llu",
                  static_cast<int>(kFastPathTableComment.size()), kFastPathTableComment.data(), mark_mask,
                  map_size, static_cast<unsigned long long>(timeout_ms));
    return text;
}

std::optional<FastPathInfo> parse_fastpath_settings(std::string_view text) {
    if (!text.starts_with(kFastPathTableComment)) return std::nullopt;
    text.remove_prefix(kFastPathTableComment.size());
    // Exactly " mask=0x<8 hex> size=<dec> timeout_ms=<dec>".
    auto take = [&text](std::string_view name) -> std::optional<std::string_view> {
        if (!text.starts_with(' ')) return std::nullopt;
        text.remove_prefix(1);
        if (!text.starts_with(name)) return std::nullopt;
        text.remove_prefix(name.size());
        std::size_t end = text.find(' ');
        std::string_view value = text.substr(0, end);
        text.remove_prefix(value.size());
        if (value.empty()) return std::nullopt;
        return value;
    };
    auto mask = take("mask=0x");
    auto size = take("size=");
    auto timeout = take("timeout_ms=");
    if (!mask || !size || !timeout || !text.empty() || mask->size() != 8) return std::nullopt;
    FastPathInfo info;
    auto [mask_end, mask_ec] = std::from_chars(mask->data(), mask->data() + mask->size(), info.mark_mask, 16);
    auto [size_end, size_ec] = std::from_chars(size->data(), size->data() + size->size(), info.map_size);
    auto [timeout_end, timeout_ec] =
        std::from_chars(timeout->data(), timeout->data() + timeout->size(), info.timeout_ms);
    if (mask_ec != std::errc() || mask_end != mask->data() + mask->size() || size_ec != std::errc() ||
        size_end != size->data() + size->size() || timeout_ec != std::errc() ||
        timeout_end != timeout->data() + timeout->size())
        return std::nullopt;
    return info;
}

}  // namespace sctplb
