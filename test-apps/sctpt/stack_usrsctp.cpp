// The usrsctp stack: SCTP in user space over a raw IP socket (or UDP, RFC 6951).
//
// Quirks handled here (tests/data/README.md): usrsctp_init() resets every sysctl, so the timers
// are set after it and before any socket; the delayed SACK is shortened below the minimum RTO;
// only an explicit sctp_bindx may change an association's addresses (auto ASCONF off).
// Quirks it cannot handle (the topology must): usrsctp ignores addresses on lo; it writes IPv4
// headers itself and picks the source address without routing; one stack per network namespace.
#include "stack.hpp"

#if SCTPT_HAVE_USRSCTP

#include <unistd.h>
#include <usrsctp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#include "log.hpp"

namespace sctpt {
namespace {

std::atomic<bool> stack_started{false};

void usrsctp_debug_printer(const char* format, ...) {
    va_list arguments;
    va_start(arguments, format);
    log_vprintf("usrsctp: ", format, arguments);
    va_end(arguments);
}

const char* address_state_name(uint32_t state) {
    switch (state) {
        case SCTP_ADDR_AVAILABLE: return "AVAILABLE";
        case SCTP_ADDR_UNREACHABLE: return "UNREACHABLE";
        case SCTP_ADDR_REMOVED: return "REMOVED";
        case SCTP_ADDR_ADDED: return "ADDED";
        case SCTP_ADDR_MADE_PRIM: return "MADE_PRIM";
        case SCTP_ADDR_CONFIRMED: return "CONFIRMED";
        default: return "UNKNOWN";
    }
}

AssociationChange association_change_from(uint16_t state) {
    switch (state) {
        case SCTP_COMM_UP: return AssociationChange::up;
        case SCTP_COMM_LOST: return AssociationChange::lost;
        case SCTP_RESTART: return AssociationChange::restart;
        case SCTP_SHUTDOWN_COMP: return AssociationChange::shutdown_complete;
        case SCTP_CANT_STR_ASSOC: return AssociationChange::cannot_start;
        default: return AssociationChange::other;
    }
}

void dispatch_notification(SocketEvents& events, const void* data, std::size_t length) {
    union sctp_notification notification {};
    std::memcpy(&notification, data, std::min(length, sizeof notification));
    switch (notification.sn_header.sn_type) {
        case SCTP_ASSOC_CHANGE: {
            const auto& change = notification.sn_assoc_change;
            events.on_association_change(
                change.sac_assoc_id, association_change_from(change.sac_state), change.sac_error);
            break;
        }
        case SCTP_PEER_ADDR_CHANGE: {
            const auto& change = notification.sn_paddr_change;
            const auto address = address_from_sockaddr(&change.spc_aaddr, sizeof change.spc_aaddr);
            events.on_peer_address_change(change.spc_assoc_id, address.value_or(Address{}),
                                          address_state_name(change.spc_state), change.spc_error);
            break;
        }
        case SCTP_SHUTDOWN_EVENT:
            events.on_peer_shutdown(notification.sn_shutdown_event.sse_assoc_id);
            break;
        case SCTP_SEND_FAILED_EVENT:
            events.on_send_failed(notification.sn_send_failed_event.ssfe_assoc_id,
                                  notification.sn_send_failed_event.ssfe_error);
            break;
        default: break;
    }
}

// Runs on usrsctp's receive thread; usrsctp hands over `data` allocated with malloc.
int on_receive(struct socket* /*sock*/, union sctp_sockstore from, void* data, size_t length,
               struct sctp_rcvinfo info, int flags, void* ulp_info) {
    auto& events = *static_cast<SocketEvents*>(ulp_info);
    if (data == nullptr) {
        events.on_end_of_stream();
        return 1;
    }
    if ((flags & MSG_NOTIFICATION) != 0) {
        dispatch_notification(events, data, length);
    } else {
        const auto sender = address_from_sockaddr(&from, sizeof from);
        events.on_message(info.rcv_assoc_id,
                          std::string_view(static_cast<const char*>(data), length),
                          sender.value_or(Address{}));
    }
    std::free(data);
    return 1;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

class UsrsctpSocket final : public Socket {
public:
    explicit UsrsctpSocket(struct socket* sock) : sock_(sock) {}
    ~UsrsctpSocket() override {
        if (sock_ != nullptr) {
            usrsctp_close(sock_);
        }
    }
    UsrsctpSocket(const UsrsctpSocket&) = delete;
    UsrsctpSocket& operator=(const UsrsctpSocket&) = delete;

    bool send(AssociationId association, std::string_view message, std::string& error) override {
        struct sctp_sndinfo send_info {};
        send_info.snd_assoc_id = association;
        if (usrsctp_sendv(sock_, message.data(), message.size(), nullptr, 0, &send_info,
                          sizeof send_info, SCTP_SENDV_SNDINFO, 0) < 0) {
            error = errno_text("send");
            return false;
        }
        return true;
    }

    bool set_primary(AssociationId association, const Address& peer, std::string& error) override {
        struct sctp_setprim request {};
        std::memcpy(&request.ssp_addr, &peer.storage, sizeof request.ssp_addr);
        request.ssp_assoc_id = association;
        if (usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_PRIMARY_ADDR, &request, sizeof request) !=
            0) {
            error = errno_text("SCTP_PRIMARY_ADDR");
            return false;
        }
        return true;
    }

    bool change_local_address(const Address& local, bool add, std::string& error) override {
        // usrsctp_bindx takes a non-const sockaddr*; it does not write through it.
        Address copy = local;
        if (usrsctp_bindx(sock_, reinterpret_cast<sockaddr*>(&copy.storage), 1,
                          add ? SCTP_BINDX_ADD_ADDR : SCTP_BINDX_REM_ADDR) != 0) {
            error = errno_text(add ? "sctp_bindx add" : "sctp_bindx remove");
            return false;
        }
        return true;
    }

    std::vector<Address> local_addresses(AssociationId association) override {
        struct sockaddr* addresses = nullptr;
        const int count = usrsctp_getladdrs(sock_, association, &addresses);
        if (count <= 0) {
            return {};
        }
        auto result = unpack_addresses(addresses, count);
        usrsctp_freeladdrs(addresses);
        return result;
    }

    std::vector<Address> peer_addresses(AssociationId association) override {
        struct sockaddr* addresses = nullptr;
        const int count = usrsctp_getpaddrs(sock_, association, &addresses);
        if (count <= 0) {
            return {};
        }
        auto result = unpack_addresses(addresses, count);
        usrsctp_freepaddrs(addresses);
        return result;
    }

    void shutdown() override { usrsctp_shutdown(sock_, SHUT_WR); }

    void abort() override {
        // SO_LINGER with a zero timeout makes close() send ABORT (RFC 6458 §8.1.4).
        struct linger abort_on_close {
            1, 0
        };
        usrsctp_setsockopt(sock_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
        usrsctp_close(sock_);
        sock_ = nullptr;
    }

private:
    struct socket* sock_;
};

bool set_option(struct socket* sock, int option, const void* value, socklen_t length,
                const char* what, std::string& error) {
    if (usrsctp_setsockopt(sock, IPPROTO_SCTP, option, value, length) != 0) {
        error = errno_text(what);
        return false;
    }
    return true;
}

bool subscribe_events(struct socket* sock, std::string& error) {
    const int on = 1;
    if (!set_option(sock, SCTP_RECVRCVINFO, &on, sizeof on, "SCTP_RECVRCVINFO", error)) {
        return false;
    }
    // Send each message at once: Nagle-style bundling would hold small messages until the
    // (delayed) SACK and inflate the measured round trip.
    if (!set_option(sock, SCTP_NODELAY, &on, sizeof on, "SCTP_NODELAY", error)) {
        return false;
    }
    for (const uint16_t type :
         {SCTP_ASSOC_CHANGE, SCTP_PEER_ADDR_CHANGE, SCTP_SHUTDOWN_EVENT, SCTP_SEND_FAILED_EVENT}) {
        struct sctp_event event {};
        event.se_assoc_id = SCTP_FUTURE_ASSOC;
        event.se_type = type;
        event.se_on = 1;
        if (!set_option(sock, SCTP_EVENT, &event, sizeof event, "SCTP_EVENT", error)) {
            return false;
        }
    }
    return true;
}

bool bind_addresses(struct socket* sock, const std::vector<Address>& addresses,
                    std::string& error) {
    auto packed = pack_addresses(addresses);
    if (usrsctp_bindx(sock, reinterpret_cast<sockaddr*>(packed.data()),
                      static_cast<int>(addresses.size()), SCTP_BINDX_ADD_ADDR) != 0) {
        error = errno_text(("sctp_bindx " + join_addresses(addresses)).c_str());
        return false;
    }
    return true;
}

class UsrsctpStack final : public Stack {
public:
    explicit UsrsctpStack(const TimerOptions& timers) : timers_(timers) {
        usrsctp_init(timers.udp_encapsulation_port, nullptr,
                     timers.debug ? usrsctp_debug_printer : nullptr);
        // usrsctp_init() resets the sysctls, so these must follow it and precede the sockets.
        usrsctp_sysctl_set_sctp_heartbeat_interval_default(timers.heartbeat_interval_ms);
        usrsctp_sysctl_set_sctp_rto_min_default(timers.rto_min_ms);
        usrsctp_sysctl_set_sctp_rto_max_default(timers.rto_max_ms);
        usrsctp_sysctl_set_sctp_rto_initial_default(timers.rto_initial_ms);
        usrsctp_sysctl_set_sctp_init_rto_max_default(timers.rto_max_ms);
        usrsctp_sysctl_set_sctp_path_rtx_max_default(timers.path_max_retrans);
        usrsctp_sysctl_set_sctp_init_rtx_max_default(timers.init_max_retrans);
        usrsctp_sysctl_set_sctp_delayed_sack_time_default(timers.sack_delay_ms);
        // ASCONF (RFC 5061) needs AUTH (RFC 4895); both on by default, made explicit here.
        usrsctp_sysctl_set_sctp_auth_enable(1);
        usrsctp_sysctl_set_sctp_asconf_enable(1);
        // Only an explicit sctp_bindx() may change the addresses of an association.
        usrsctp_sysctl_set_sctp_auto_asconf(0);
    }

    [[nodiscard]] std::string_view name() const override { return "usrsctp"; }

    std::unique_ptr<Socket> listen(const std::vector<Address>& addresses, SocketEvents& events,
                                   std::string& error) override {
        // One-to-many style (RFC 6458 §3): one socket serves every association.
        struct socket* sock = usrsctp_socket(socket_family_for(addresses), SOCK_SEQPACKET,
                                             IPPROTO_SCTP, on_receive, nullptr, 0, &events);
        if (sock == nullptr) {
            error = errno_text("usrsctp_socket");
            return nullptr;
        }
        auto result = std::make_unique<UsrsctpSocket>(sock);
        if (!subscribe_events(sock, error) || !bind_addresses(sock, addresses, error)) {
            return nullptr;
        }
        if (usrsctp_listen(sock, 128) != 0) {
            error = errno_text("listen");
            return nullptr;
        }
        return result;
    }

    std::unique_ptr<Socket> connect(const std::vector<Address>& locals,
                                    const std::vector<Address>& remotes, SocketEvents& events,
                                    std::string& error) override {
        std::vector<Address> all = remotes;
        all.insert(all.end(), locals.begin(), locals.end());
        // One-to-one style (RFC 6458 §4): this socket is the association.
        struct socket* sock = usrsctp_socket(socket_family_for(all), SOCK_STREAM, IPPROTO_SCTP,
                                             on_receive, nullptr, 0, &events);
        if (sock == nullptr) {
            error = errno_text("usrsctp_socket");
            return nullptr;
        }
        auto result = std::make_unique<UsrsctpSocket>(sock);
        if (!subscribe_events(sock, error)) {
            return nullptr;
        }
        if (timers_.udp_encapsulation_port != 0) {
            // RFC 6951 §5: send to the peer's UDP encapsulation port.
            struct sctp_udpencaps encapsulation {};
            encapsulation.sue_assoc_id = SCTP_FUTURE_ASSOC;
            encapsulation.sue_port = htons(timers_.udp_encapsulation_port);
            if (!set_option(sock, SCTP_REMOTE_UDP_ENCAPS_PORT, &encapsulation, sizeof encapsulation,
                            "SCTP_REMOTE_UDP_ENCAPS_PORT", error)) {
                return nullptr;
            }
        }
        if (!bind_addresses(sock, locals, error)) {
            return nullptr;
        }
        auto packed = pack_addresses(remotes);
        sctp_assoc_t association = 0;
        usrsctp_set_non_blocking(sock, 1);
        const int connected = usrsctp_connectx(sock, reinterpret_cast<sockaddr*>(packed.data()),
                                               static_cast<int>(remotes.size()), &association);
        const int connect_errno = errno;
        usrsctp_set_non_blocking(sock, 0);
        if (connected != 0 && connect_errno != EINPROGRESS) {
            errno = connect_errno;
            error = errno_text(("sctp_connectx " + join_addresses(remotes)).c_str());
            return nullptr;
        }
        return result;
    }

    void finish() override {
        // usrsctp_finish() refuses while associations still exist (e.g. in SHUTDOWN).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (usrsctp_finish() != 0 && std::chrono::steady_clock::now() < deadline) {
            struct timespec pause {
                0, 50'000'000
            };
            nanosleep(&pause, nullptr);
        }
    }

private:
    TimerOptions timers_;
};

}  // namespace

bool usrsctp_stack_built() { return true; }

std::unique_ptr<Stack> make_usrsctp_stack(const TimerOptions& timers, std::string& error) {
    if (stack_started.exchange(true)) {
        error = "usrsctp: only one stack per process";
        return nullptr;
    }
    if (timers.udp_encapsulation_port == 0) {
        // usrsctp would start without its raw sockets and never send a packet: say so now.
        const int probe = ::socket(AF_INET, SOCK_RAW, IPPROTO_SCTP);
        if (probe < 0) {
            error = errno_text(
                "usrsctp needs raw IP sockets (root or CAP_NET_RAW): "
                "socket(AF_INET, SOCK_RAW, IPPROTO_SCTP)");
            return nullptr;
        }
        ::close(probe);
    }
    return std::make_unique<UsrsctpStack>(timers);
}

}  // namespace sctpt

#else  // !SCTPT_HAVE_USRSCTP

namespace sctpt {
bool usrsctp_stack_built() { return false; }
std::unique_ptr<Stack> make_usrsctp_stack(const TimerOptions&, std::string& error) {
    error = "sctpt was built without usrsctp (Debian: libusrsctp-dev)";
    return nullptr;
}
}  // namespace sctpt

#endif
