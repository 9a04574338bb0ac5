// Socket addresses for sctpt: parsing, printing and the packed form that sctp_bindx and
// sctp_connectx take (RFC 6458 §9.1, §9.9). Shared by both stacks; no SCTP headers here, because
// <netinet/sctp.h> (lksctp) and <usrsctp.h> define the same names and cannot meet in one file.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sctpt {

struct Address {
    sockaddr_storage storage{};

    [[nodiscard]] int family() const { return storage.ss_family; }
    [[nodiscard]] socklen_t length() const {
        return family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    }
    [[nodiscard]] uint16_t port() const;
    void set_port(uint16_t port);
    [[nodiscard]] std::string text() const;  // the address without the port
    [[nodiscard]] const sockaddr* raw() const {
        return reinterpret_cast<const sockaddr*>(&storage);
    }
};

// "192.0.2.1" or "2001:db8::1" with the given port; std::nullopt for anything else.
std::optional<Address> parse_address(std::string_view text, uint16_t port);

// "A,B,..." (at least one address). On failure, `error` names the bad item.
std::optional<std::vector<Address>> parse_address_list(std::string_view text, uint16_t port,
                                                       std::string& error);

// One sockaddr; std::nullopt unless it is AF_INET or AF_INET6 and fits in `length`.
std::optional<Address> address_from_sockaddr(const void* address, std::size_t length);

// Addresses packed back to back, each as long as its family needs (the sctp_bindx,
// sctp_connectx, sctp_getladdrs format).
std::vector<std::byte> pack_addresses(const std::vector<Address>& addresses);
std::vector<Address> unpack_addresses(const void* packed, int count);

// AF_INET6 if any address is IPv6 (an IPv6 SCTP socket also takes IPv4 addresses), else AF_INET.
int socket_family_for(const std::vector<Address>& addresses);

std::string join_addresses(const std::vector<Address>& addresses);
std::vector<std::string> address_texts(const std::vector<Address>& addresses);

}  // namespace sctpt
