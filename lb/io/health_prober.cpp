#include "io/health_prober.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "io/clock.hpp"

namespace sctplb {

namespace {

constexpr int kProtocolSctp = 132;
constexpr std::size_t kReceiveBuffer = 65536;

std::string errno_text(int error) { return std::strerror(error); }

std::uint32_t random32() {
    std::uint32_t value = 0;
    while (value == 0)
        if (::getrandom(&value, sizeof value, 0) != sizeof value) value = 0;
    return value;
}

// An ephemeral port (RFC 6335 dynamic range) per probe: a late reply to an
// earlier probe never matches a later one (nor does its tag).
std::uint16_t random_port() { return static_cast<std::uint16_t>(49152 + random32() % 16384); }

sockaddr_storage socket_address(const IpAddress& address, socklen_t& length) {
    sockaddr_storage storage{};
    if (address.is_v4()) {
        auto* in = reinterpret_cast<sockaddr_in*>(&storage);
        in->sin_family = AF_INET;
        std::memcpy(&in->sin_addr, address.bytes().data() + 12, 4);
        length = sizeof(sockaddr_in);
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
        in6->sin6_family = AF_INET6;
        std::memcpy(&in6->sin6_addr, address.bytes().data(), 16);
        length = sizeof(sockaddr_in6);
    }
    return storage;
}

int open_raw(int family, std::string& error) {
    const int fd = ::socket(family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, kProtocolSctp);
    if (fd < 0) {
        error = std::string(family == AF_INET ? "raw IPv4" : "raw IPv6") + " SCTP socket: " + errno_text(errno) +
                " (sctplb health needs root: CAP_NET_RAW and CAP_NET_ADMIN)";
        return -1;
    }
    return fd;
}

struct Pending {
    ProbeInit probe;
    Nanos sent{0};
    bool done = false;
};

}  // namespace

std::optional<IpAddress> resolve_probe_address(const std::string& text, std::string& error) {
    if (const auto literal = IpAddress::parse(text)) return literal;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_RAW;
    hints.ai_protocol = kProtocolSctp;
    addrinfo* found = nullptr;
    const int status = ::getaddrinfo(text.c_str(), nullptr, &hints, &found);
    if (status != 0 || found == nullptr) {
        error = "probe address '" + text + "' does not resolve: " +
                (status == EAI_SYSTEM ? errno_text(errno) : std::string(::gai_strerror(status)));
        return std::nullopt;
    }
    std::optional<IpAddress> address;
    if (found->ai_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(found->ai_addr);
        address = IpAddress::v4(ntohl(in->sin_addr.s_addr));
    } else if (found->ai_family == AF_INET6) {
        std::array<std::uint8_t, 16> bytes{};
        std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(found->ai_addr)->sin6_addr, 16);
        address = IpAddress::v6(bytes);
    }
    ::freeaddrinfo(found);
    if (!address) error = "probe address '" + text + "' resolves to neither IPv4 nor IPv6";
    return address;
}

std::optional<HealthProber> HealthProber::open(const std::vector<ProbeDestination>& destinations,
                                               std::string& error) {
    HealthProber prober;
    for (const ProbeDestination& d : destinations) {
        int& fd = d.address.is_v4() ? prober.v4_ : prober.v6_;
        if (fd >= 0) continue;
        fd = open_raw(d.address.is_v4() ? AF_INET : AF_INET6, error);
        if (fd < 0) return std::nullopt;
        // Checked once here, so a missing CAP_NET_ADMIN is a start-up error, not a probe failure.
        const int mark = static_cast<int>(d.fwmark);
        if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
            error = "SO_MARK: " + errno_text(errno) + " (sctplb health needs CAP_NET_ADMIN)";
            return std::nullopt;
        }
    }
    return prober;
}

HealthProber::HealthProber(HealthProber&& other) noexcept
    : v4_(std::exchange(other.v4_, -1)), v6_(std::exchange(other.v6_, -1)) {}

HealthProber::~HealthProber() {
    if (v4_ >= 0) ::close(v4_);
    if (v6_ >= 0) ::close(v6_);
}

std::vector<ProbeOutcome> HealthProber::probe_all(const std::vector<ProbeDestination>& destinations,
                                                  std::uint16_t port, Nanos timeout) {
    std::vector<ProbeOutcome> outcomes(destinations.size());
    std::vector<Pending> pending(destinations.size());
    std::byte buffer[kReceiveBuffer];
    // Drop what queued up between rounds (late replies, other SCTP traffic to us).
    for (const int fd : {v4_, v6_})
        while (fd >= 0 && ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
        }
    std::size_t open = 0;
    for (std::size_t i = 0; i < destinations.size(); ++i) {
        const ProbeDestination& d = destinations[i];
        Pending& p = pending[i];
        p.probe = ProbeInit{random_port(), port, random32(), random32()};
        const int fd = d.address.is_v4() ? v4_ : v6_;
        const int mark = static_cast<int>(d.fwmark);
        socklen_t length = 0;
        const sockaddr_storage to = socket_address(d.address, length);
        const auto packet = build_probe_init(p.probe);
        p.sent = monotonic_now();
        if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0 ||
            ::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<const sockaddr*>(&to), length) < 0) {
            outcomes[i] = {ProbeResult::SendError, Nanos{0}, errno_text(errno)};
            p.done = true;
            continue;
        }
        ++open;
    }
    const Nanos deadline = monotonic_now() + timeout;
    while (open > 0) {
        const Nanos now = monotonic_now();
        if (now >= deadline) break;
        pollfd fds[2] = {{v4_, POLLIN, 0}, {v6_, POLLIN, 0}};
        const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
        if (::poll(fds, 2, static_cast<int>(wait_ms)) <= 0) continue;
        for (const pollfd& f : fds) {
            if (f.fd < 0 || !(f.revents & POLLIN)) continue;
            for (;;) {
                const ssize_t got = ::recv(f.fd, buffer, sizeof buffer, MSG_DONTWAIT);
                if (got <= 0) break;
                std::span<const std::byte> sctp(buffer, static_cast<std::size_t>(got));
                if (f.fd == v4_) {  // IPv4 raw sockets deliver the IP header, IPv6 ones do not
                    const std::size_t header = (std::to_integer<std::size_t>(buffer[0]) & 0x0f) * 4;
                    if (header < 20 || header > sctp.size()) continue;
                    sctp = sctp.subspan(header);
                }
                for (std::size_t i = 0; i < destinations.size(); ++i) {
                    Pending& p = pending[i];
                    if (p.done) continue;
                    const ProbeReply reply = judge_probe_reply(sctp, p.probe);
                    if (reply.kind == ProbeReplyKind::Unrelated) continue;
                    p.done = true;
                    --open;
                    outcomes[i].rtt = monotonic_now() - p.sent;
                    if (reply.kind == ProbeReplyKind::Abort) {
                        outcomes[i].result = ProbeResult::Abort;
                        break;
                    }
                    outcomes[i].result = ProbeResult::Ok;
                    // End the handshake: the server's tag, T bit clear (§8.5.1). Best effort.
                    const int mark = static_cast<int>(destinations[i].fwmark);
                    socklen_t length = 0;
                    const sockaddr_storage to = socket_address(destinations[i].address, length);
                    const auto abort = build_probe_abort(p.probe, reply.peer_tag);
                    if (::setsockopt(f.fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0)
                        (void)::sendto(f.fd, abort.data(), abort.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                                       length);
                    break;
                }
            }
        }
    }
    for (std::size_t i = 0; i < destinations.size(); ++i)
        if (!pending[i].done) outcomes[i].result = ProbeResult::Timeout;
    return outcomes;
}

}  // namespace sctplb
