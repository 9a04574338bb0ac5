#include "address.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <utility>

namespace sctpt {

uint16_t Address::port() const {
    if (family() == AF_INET) {
        sockaddr_in v4{};
        std::memcpy(&v4, &storage, sizeof v4);
        return ntohs(v4.sin_port);
    }
    sockaddr_in6 v6{};
    std::memcpy(&v6, &storage, sizeof v6);
    return ntohs(v6.sin6_port);
}

void Address::set_port(uint16_t port) {
    if (family() == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
    } else if (family() == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
    }
}

std::string Address::text() const {
    char text[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text,
                  sizeof text);
    } else if (family() == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        // An IPv6 socket reports IPv4 peers as ::ffff:a.b.c.d: print them as IPv4.
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
        } else {
            inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
        }
    }
    return text;
}

std::optional<Address> parse_address(std::string_view text, uint16_t port) {
    const std::string copy(text);
    Address address;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    if (inet_pton(AF_INET, copy.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return address;
    }
    address.storage = {};
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    if (inet_pton(AF_INET6, copy.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return address;
    }
    return std::nullopt;
}

std::optional<std::vector<Address>> parse_address_list(std::string_view text, uint16_t port,
                                                       std::string& error) {
    std::vector<Address> addresses;
    while (true) {
        const auto comma = text.find(',');
        const auto item = text.substr(0, comma);
        auto address = parse_address(item, port);
        if (!address) {
            // Built in a local string, piece by piece: gcc 12 at -O3 reports a false
            // -Wrestrict inside libstdc++ (GCC bugs 105329, 105651) for `"literal" + std::string` and
            // for appending straight into the caller's string.
            std::string message = "'";
            message += item;
            message += "' is not an IPv4 or IPv6 address";
            error = std::move(message);
            return std::nullopt;
        }
        addresses.push_back(*address);
        if (comma == std::string_view::npos) {
            break;
        }
        text = text.substr(comma + 1);
    }
    return addresses;
}

std::optional<Address> address_from_sockaddr(const void* address, std::size_t length) {
    sa_family_t family = 0;
    if (length < sizeof family) {
        return std::nullopt;
    }
    std::memcpy(&family, static_cast<const char*>(address) + offsetof(sockaddr, sa_family),
                sizeof family);
    Address result;
    if (family == AF_INET && length >= sizeof(sockaddr_in)) {
        std::memcpy(&result.storage, address, sizeof(sockaddr_in));
        return result;
    }
    if (family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
        std::memcpy(&result.storage, address, sizeof(sockaddr_in6));
        return result;
    }
    return std::nullopt;
}

std::vector<std::byte> pack_addresses(const std::vector<Address>& addresses) {
    std::vector<std::byte> packed;
    for (const auto& address : addresses) {
        const auto* first = reinterpret_cast<const std::byte*>(&address.storage);
        packed.insert(packed.end(), first, first + address.length());
    }
    return packed;
}

std::vector<Address> unpack_addresses(const void* packed, int count) {
    std::vector<Address> addresses;
    const auto* cursor = static_cast<const char*>(packed);
    for (int i = 0; i < count; ++i) {
        // The stack wrote whole sockaddrs, so the largest one fits at every position.
        auto address = address_from_sockaddr(cursor, sizeof(sockaddr_in6));
        if (!address) {
            break;
        }
        addresses.push_back(*address);
        cursor += address->length();
    }
    return addresses;
}

int socket_family_for(const std::vector<Address>& addresses) {
    for (const auto& address : addresses) {
        if (address.family() == AF_INET6) {
            return AF_INET6;
        }
    }
    return AF_INET;
}

std::string join_addresses(const std::vector<Address>& addresses) {
    std::string joined;
    for (const auto& address : addresses) {
        if (!joined.empty()) {
            joined += ',';
        }
        joined += address.text();
    }
    return joined;
}

std::vector<std::string> address_texts(const std::vector<Address>& addresses) {
    std::vector<std::string> texts;
    for (const auto& address : addresses) {
        texts.push_back(address.text());
    }
    return texts;
}

}  // namespace sctpt
