// Which server sent a packet that arrived from the server side: the packet's
// source MAC and input interface against the kernel's neighbour entries of the
// targets' next hops (the same FWMARK=NEXTHOP[@DEV] as `sctplb rules --target`).
// docs/design.md "Server-initiated associations".
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "core/nanos.hpp"

namespace sctplb {

struct ServerNextHop {
    std::uint32_t fwmark = 0;
    IpAddress nexthop;
};

using MacAddress = std::array<std::uint8_t, 6>;

// One neighbour entry: an address reachable on an interface at a MAC.
struct Neighbour {
    IpAddress address;
    std::uint32_t ifindex = 0;
    MacAddress mac{};
};

// Pure: the fwmark of the server whose next hop has this MAC on this interface.
[[nodiscard]] std::optional<std::uint32_t> match_server(const std::vector<ServerNextHop>& servers,
                                                        const std::vector<Neighbour>& neighbours,
                                                        std::uint32_t ifindex, const MacAddress& mac);

// The kernel's neighbour table (IPv4 ARP and IPv6 ND entries with a MAC,
// not FAILED/INCOMPLETE), read over rtnetlink. Empty with `error` on failure.
[[nodiscard]] std::vector<Neighbour> read_neighbours(std::string& error);

// Identifies servers, re-reading the neighbour table when a MAC is not known.
// The table is re-read for a sender that did not miss in the last 100 ms: a
// second server whose ARP entry appeared just after the last read (two servers
// opening associations at once) is found at once, not refused as spoofed until
// its INIT retransmission. Reads that miss are rate-limited by a token bucket
// (8, one more every 10 ms), so a flood of spoofed MACs does not turn into a
// netlink flood. The reader is injected for tests.
class ServerIdentity {
public:
    using Reader = std::function<std::vector<Neighbour>()>;
    explicit ServerIdentity(std::vector<ServerNextHop> servers, Reader reader = nullptr);
    [[nodiscard]] std::optional<std::uint32_t> identify(std::uint32_t ifindex, const MacAddress& mac, Nanos now);
    [[nodiscard]] bool empty() const { return servers_.empty(); }

private:
    struct Miss {
        std::uint32_t ifindex = 0;
        MacAddress mac{};
        Nanos at{-1'000'000'000'000};
    };
    [[nodiscard]] bool missed_recently(std::uint32_t ifindex, const MacAddress& mac, Nanos now) const;

    std::vector<ServerNextHop> servers_;
    Reader reader_;
    std::vector<Neighbour> neighbours_;
    std::array<Miss, 16> misses_{};  // the latest senders not found, oldest overwritten
    std::size_t next_miss_ = 0;
    int tokens_ = 8;
    Nanos refilled_{0};
};

}  // namespace sctplb
