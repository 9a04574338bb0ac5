// An IPv4 or IPv6 address held in 16 bytes; IPv4 is stored IPv4-mapped
// (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) so that both families share one key type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sctplb {

class IpAddress {
public:
    constexpr IpAddress() = default;

    static constexpr IpAddress v4(std::uint32_t host_order) {
        IpAddress a;
        a.bytes_[10] = 0xff;
        a.bytes_[11] = 0xff;
        a.bytes_[12] = static_cast<std::uint8_t>(host_order >> 24);
        a.bytes_[13] = static_cast<std::uint8_t>(host_order >> 16);
        a.bytes_[14] = static_cast<std::uint8_t>(host_order >> 8);
        a.bytes_[15] = static_cast<std::uint8_t>(host_order);
        return a;
    }
    static constexpr IpAddress v6(const std::array<std::uint8_t, 16>& bytes) {
        IpAddress a;
        a.bytes_ = bytes;
        return a;
    }

    // "192.0.2.1" or "2001:db8::1"; nullopt when it is neither.
    static std::optional<IpAddress> parse(std::string_view text);
    [[nodiscard]] std::string to_string() const;

    [[nodiscard]] constexpr bool is_v4() const {
        for (int i = 0; i < 10; ++i)
            if (bytes_[i] != 0) return false;
        return bytes_[10] == 0xff && bytes_[11] == 0xff;
    }
    // 0.0.0.0 or :: — the wildcard of RFC 5061 §4.2.
    [[nodiscard]] constexpr bool is_unspecified() const {
        if (is_v4()) return bytes_[12] == 0 && bytes_[13] == 0 && bytes_[14] == 0 && bytes_[15] == 0;
        for (auto b : bytes_)
            if (b != 0) return false;
        return true;
    }
    [[nodiscard]] constexpr const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

    // Two 64-bit compares: this runs for every address of an association on
    // every lookup (a byte-wise array compare was a fifth of a decision).
    friend bool operator==(const IpAddress& a, const IpAddress& b) {
        std::uint64_t a0, a1, b0, b1;
        std::memcpy(&a0, a.bytes_.data(), 8);
        std::memcpy(&a1, a.bytes_.data() + 8, 8);
        std::memcpy(&b0, b.bytes_.data(), 8);
        std::memcpy(&b1, b.bytes_.data() + 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }

private:
    std::array<std::uint8_t, 16> bytes_{};
};

}  // namespace sctplb
