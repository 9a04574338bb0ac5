#include "core/ip_address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace sctplb {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    char buf[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (text.find(':') == std::string_view::npos) {
        std::array<std::uint8_t, 4> v4{};
        if (inet_pton(AF_INET, buf, v4.data()) != 1) return std::nullopt;
        return IpAddress::v4((std::uint32_t{v4[0]} << 24) | (std::uint32_t{v4[1]} << 16) |
                             (std::uint32_t{v4[2]} << 8) | v4[3]);
    }
    std::array<std::uint8_t, 16> v6{};
    if (inet_pton(AF_INET6, buf, v6.data()) != 1) return std::nullopt;
    return IpAddress::v6(v6);
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    const char* out = is_v4() ? inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof buf)
                              : inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
    return out ? std::string(out) : std::string("?");
}

}  // namespace sctplb
