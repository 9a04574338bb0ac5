// The health checker's sockets (`sctplb health`): raw IPPROTO_SCTP sockets
// (IPv4, IPv6) that send each target's probe INIT with SO_MARK = its fwmark
// (so the LB's fwmark rules route a probe to a VIP to that server, as they
// route its client packets), read the replies, and ABORT what answered. No
// kernel SCTP is needed on the LB: the kernel delivers the replies to raw
// sockets (and, having no SCTP, also answers them with an ICMP protocol
// unreachable: harmless, the ABORT has ended the handshake anyway).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/health_probe.hpp"
#include "core/ip_address.hpp"
#include "core/nanos.hpp"

namespace sctplb {

struct ProbeDestination {
    std::uint32_t fwmark = 0;
    IpAddress address;  // what the probe is sent to (the server's own address or a VIP)
};

struct ProbeOutcome {
    ProbeResult result = ProbeResult::None;
    Nanos rtt{0};        // INIT → reply, for Ok and Abort
    std::string detail;  // SendError: why
};

// Resolves a probe address: an IPv4/IPv6 literal or a host name
// (getaddrinfo, first address). nullopt with a one-line `error` naming `text`.
std::optional<IpAddress> resolve_probe_address(const std::string& text, std::string& error);

class HealthProber {
public:
    // Opens the raw sockets the destinations need. nullopt with a one-line
    // `error` (e.g. not root: raw sockets and SO_MARK need CAP_NET_RAW/ADMIN).
    static std::optional<HealthProber> open(const std::vector<ProbeDestination>& destinations, std::string& error);

    // One round: a probe to every destination at once (port `port`), then
    // replies until each has one or `timeout` passed. Results in the order
    // of `destinations`.
    std::vector<ProbeOutcome> probe_all(const std::vector<ProbeDestination>& destinations, std::uint16_t port,
                                        Nanos timeout);

    HealthProber(HealthProber&& other) noexcept;
    HealthProber& operator=(HealthProber&&) = delete;
    HealthProber(const HealthProber&) = delete;
    ~HealthProber();

private:
    HealthProber() = default;
    int v4_ = -1;  // raw sockets, -1 when no destination of that family
    int v6_ = -1;
};

}  // namespace sctplb
