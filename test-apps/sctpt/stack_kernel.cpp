// The Linux kernel stack (lksctp) through libsctp: sctp_bindx(3), sctp_connectx(3),
// sctp_recvmsg(3), sctp_send(3) and the socket options of sctp(7). Each socket has a reader
// thread that turns received messages and notifications into SocketEvents calls.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stack.hpp"

namespace sctpt {

bool kernel_sctp_available(std::string& why) {
    const int probe = ::socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
    if (probe < 0) {
        why = std::string("socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP): ") + std::strerror(errno);
        return false;
    }
    ::close(probe);
    return true;
}

}  // namespace sctpt

#if SCTPT_HAVE_LIBSCTP

#include <fcntl.h>
#include <netinet/sctp.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

namespace sctpt {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

const char* address_state_name(uint32_t state) {
    switch (state) {
        case SCTP_ADDR_AVAILABLE: return "AVAILABLE";
        case SCTP_ADDR_UNREACHABLE: return "UNREACHABLE";
        case SCTP_ADDR_REMOVED: return "REMOVED";
        case SCTP_ADDR_ADDED: return "ADDED";
        case SCTP_ADDR_MADE_PRIM: return "MADE_PRIM";
        case SCTP_ADDR_CONFIRMED: return "CONFIRMED";
        case SCTP_ADDR_POTENTIALLY_FAILED: return "POTENTIALLY_FAILED";
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

bool set_option(int fd, int option, const void* value, socklen_t length, const char* what,
                std::string& error) {
    if (::setsockopt(fd, IPPROTO_SCTP, option, value, length) != 0) {
        error = errno_text(what);
        return false;
    }
    return true;
}

// Endpoint defaults, inherited by every association of the socket (sctp(7); association id 0
// addresses the endpoint).
bool configure_socket(int fd, const TimerOptions& timers, std::string& error) {
    struct sctp_rtoinfo rto {};
    rto.srto_initial = timers.rto_initial_ms;
    rto.srto_max = timers.rto_max_ms;
    rto.srto_min = timers.rto_min_ms;
    if (!set_option(fd, SCTP_RTOINFO, &rto, sizeof rto, "SCTP_RTOINFO", error)) {
        return false;
    }
    struct sctp_paddrparams path {};
    path.spp_hbinterval = timers.heartbeat_interval_ms;
    path.spp_pathmaxrxt = static_cast<uint16_t>(timers.path_max_retrans);
    path.spp_flags = SPP_HB_ENABLE;
    if (!set_option(fd, SCTP_PEER_ADDR_PARAMS, &path, sizeof path, "SCTP_PEER_ADDR_PARAMS",
                    error)) {
        return false;
    }
    struct sctp_sack_info sack {};
    sack.sack_delay = timers.sack_delay_ms;
    sack.sack_freq = 2;  // RFC 9260 §6.2: acknowledge at least every second packet
    if (!set_option(fd, SCTP_DELAYED_SACK, &sack, sizeof sack, "SCTP_DELAYED_SACK", error)) {
        return false;
    }
    struct sctp_initmsg init {};
    init.sinit_max_attempts = static_cast<uint16_t>(timers.init_max_retrans + 1);
    init.sinit_max_init_timeo = static_cast<uint16_t>(timers.rto_max_ms);
    if (!set_option(fd, SCTP_INITMSG, &init, sizeof init, "SCTP_INITMSG", error)) {
        return false;
    }
    // Send each message at once: Nagle-style bundling would hold small messages until the
    // (delayed) SACK and inflate the measured round trip.
    const int on = 1;
    if (!set_option(fd, SCTP_NODELAY, &on, sizeof on, "SCTP_NODELAY", error)) {
        return false;
    }
    struct sctp_event_subscribe subscribe {};
    subscribe.sctp_data_io_event = 1;  // sctp_sndrcvinfo with every message: the association id
    subscribe.sctp_association_event = 1;
    subscribe.sctp_address_event = 1;
    subscribe.sctp_send_failure_event = 1;
    subscribe.sctp_shutdown_event = 1;
    if (!set_option(fd, SCTP_EVENTS, &subscribe, sizeof subscribe, "SCTP_EVENTS", error)) {
        return false;
    }
    if (timers.udp_encapsulation_port != 0) {
        // RFC 6951 §5: the peer's UDP port. The local one is the sysctl net.sctp.udp_port.
        struct sctp_udpencaps encapsulation {};
        encapsulation.sue_port = htons(timers.udp_encapsulation_port);
        if (!set_option(fd, SCTP_REMOTE_UDP_ENCAPS_PORT, &encapsulation, sizeof encapsulation,
                        "SCTP_REMOTE_UDP_ENCAPS_PORT", error)) {
            return false;
        }
    }
    return true;
}

bool bind_addresses(int fd, const std::vector<Address>& addresses, std::string& error) {
    auto packed = pack_addresses(addresses);
    if (sctp_bindx(fd, reinterpret_cast<sockaddr*>(packed.data()),
                   static_cast<int>(addresses.size()), SCTP_BINDX_ADD_ADDR) != 0) {
        error = errno_text("sctp_bindx " + join_addresses(addresses));
        return false;
    }
    return true;
}

class KernelSocket final : public Socket {
public:
    KernelSocket(int fd, SocketEvents& events) : fd_(fd), events_(events) {}
    ~KernelSocket() override {
        stop_ = true;
        if (reader_.joinable()) {
            reader_.join();
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    KernelSocket(const KernelSocket&) = delete;
    KernelSocket& operator=(const KernelSocket&) = delete;

    void start_reader() {
        reader_ = std::thread([this] { read_loop(); });
    }

    bool send(AssociationId association, std::string_view message, std::string& error) override {
        struct sctp_sndrcvinfo info {};
        info.sinfo_assoc_id = static_cast<sctp_assoc_t>(association);
        if (sctp_send(fd_, message.data(), message.size(), &info, 0) < 0) {
            error = errno_text("sctp_send");
            return false;
        }
        return true;
    }

    bool set_primary(AssociationId association, const Address& peer, std::string& error) override {
        struct sctp_prim request {};
        request.ssp_assoc_id = static_cast<sctp_assoc_t>(association);
        std::memcpy(&request.ssp_addr, &peer.storage, sizeof request.ssp_addr);
        return set_option(fd_, SCTP_PRIMARY_ADDR, &request, sizeof request, "SCTP_PRIMARY_ADDR",
                          error);
    }

    // The kernel sends the ASCONF only with net.sctp.addip_enable=1 (sctp(7)).
    bool change_local_address(const Address& local, bool add, std::string& error) override {
        Address copy = local;
        if (sctp_bindx(fd_, reinterpret_cast<sockaddr*>(&copy.storage), 1,
                       add ? SCTP_BINDX_ADD_ADDR : SCTP_BINDX_REM_ADDR) != 0) {
            error = errno_text(add ? "sctp_bindx add" : "sctp_bindx remove");
            return false;
        }
        return true;
    }

    std::vector<Address> local_addresses(AssociationId association) override {
        struct sockaddr* addresses = nullptr;
        const int count = sctp_getladdrs(fd_, static_cast<sctp_assoc_t>(association), &addresses);
        if (count <= 0) {
            return {};
        }
        auto result = unpack_addresses(addresses, count);
        sctp_freeladdrs(addresses);
        return result;
    }

    std::vector<Address> peer_addresses(AssociationId association) override {
        struct sockaddr* addresses = nullptr;
        const int count = sctp_getpaddrs(fd_, static_cast<sctp_assoc_t>(association), &addresses);
        if (count <= 0) {
            return {};
        }
        auto result = unpack_addresses(addresses, count);
        sctp_freepaddrs(addresses);
        return result;
    }

    // On a one-to-one socket, SHUT_WR starts the SHUTDOWN sequence (sctp(7)).
    void shutdown() override { ::shutdown(fd_, SHUT_WR); }

    void abort() override {
        // SO_LINGER with a zero timeout makes close() send ABORT (RFC 6458 §8.1.4).
        struct linger abort_on_close {
            1, 0
        };
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
        stop_ = true;
        if (reader_.joinable()) {
            reader_.join();
        }
        ::close(fd_);
        fd_ = -1;
    }

private:
    void read_loop() {
        std::vector<char> buffer(65536);
        // Messages longer than one read arrive in pieces; MSG_EOR marks the last (sctp(7)).
        std::map<sctp_assoc_t, std::string> partial;
        while (!stop_) {
            struct pollfd readable {
                fd_, POLLIN, 0
            };
            const int ready = ::poll(&readable, 1, 100);
            if (ready <= 0) {
                continue;
            }
            sockaddr_storage from{};
            socklen_t from_length = sizeof from;
            struct sctp_sndrcvinfo info {};
            int flags = 0;
            const int length =
                sctp_recvmsg(fd_, buffer.data(), buffer.size(), reinterpret_cast<sockaddr*>(&from),
                             &from_length, &info, &flags);
            if (length < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                break;
            }
            if (length == 0) {
                break;  // one-to-one: the association has ended
            }
            const std::string_view piece(buffer.data(), static_cast<std::size_t>(length));
            if ((flags & MSG_NOTIFICATION) != 0) {
                dispatch_notification(piece);
                continue;
            }
            auto& message = partial[info.sinfo_assoc_id];
            message.append(piece);
            if ((flags & MSG_EOR) != 0) {
                const auto sender = address_from_sockaddr(&from, from_length);
                events_.on_message(static_cast<AssociationId>(info.sinfo_assoc_id), message,
                                   sender.value_or(Address{}));
                partial.erase(info.sinfo_assoc_id);
            }
        }
        events_.on_end_of_stream();
    }

    void dispatch_notification(std::string_view data) {
        union sctp_notification notification {};
        std::memcpy(&notification, data.data(), std::min(data.size(), sizeof notification));
        switch (notification.sn_header.sn_type) {
            case SCTP_ASSOC_CHANGE: {
                const auto& change = notification.sn_assoc_change;
                events_.on_association_change(static_cast<AssociationId>(change.sac_assoc_id),
                                              association_change_from(change.sac_state),
                                              change.sac_error);
                break;
            }
            case SCTP_PEER_ADDR_CHANGE: {
                const auto& change = notification.sn_paddr_change;
                sockaddr_storage peer{};
                std::memcpy(&peer, &change.spc_aaddr, sizeof peer);
                const auto address = address_from_sockaddr(&peer, sizeof peer);
                events_.on_peer_address_change(
                    static_cast<AssociationId>(change.spc_assoc_id), address.value_or(Address{}),
                    address_state_name(change.spc_state), change.spc_error);
                break;
            }
            case SCTP_SHUTDOWN_EVENT:
                events_.on_peer_shutdown(
                    static_cast<AssociationId>(notification.sn_shutdown_event.sse_assoc_id));
                break;
            case SCTP_SEND_FAILED:
                events_.on_send_failed(
                    static_cast<AssociationId>(notification.sn_send_failed.ssf_assoc_id),
                    notification.sn_send_failed.ssf_error);
                break;
            default: break;
        }
    }

    int fd_;
    SocketEvents& events_;
    std::atomic<bool> stop_{false};
    std::thread reader_;
};

class KernelStack final : public Stack {
public:
    explicit KernelStack(const TimerOptions& timers) : timers_(timers) {}

    [[nodiscard]] std::string_view name() const override { return "kernel"; }

    std::unique_ptr<Socket> listen(const std::vector<Address>& addresses, SocketEvents& events,
                                   std::string& error) override {
        // One-to-many style (sctp(7)): one socket serves every association.
        const int fd = ::socket(socket_family_for(addresses), SOCK_SEQPACKET, IPPROTO_SCTP);
        if (fd < 0) {
            error = errno_text("socket(SOCK_SEQPACKET, IPPROTO_SCTP)");
            return nullptr;
        }
        auto socket = std::make_unique<KernelSocket>(fd, events);
        if (!configure_socket(fd, timers_, error) || !bind_addresses(fd, addresses, error)) {
            return nullptr;
        }
        if (::listen(fd, 128) != 0) {
            error = errno_text("listen");
            return nullptr;
        }
        socket->start_reader();
        return socket;
    }

    std::unique_ptr<Socket> connect(const std::vector<Address>& locals,
                                    const std::vector<Address>& remotes, SocketEvents& events,
                                    std::string& error) override {
        std::vector<Address> all = remotes;
        all.insert(all.end(), locals.begin(), locals.end());
        // One-to-one style (sctp(7)): this socket is the association.
        const int fd = ::socket(socket_family_for(all), SOCK_STREAM, IPPROTO_SCTP);
        if (fd < 0) {
            error = errno_text("socket(SOCK_STREAM, IPPROTO_SCTP)");
            return nullptr;
        }
        auto socket = std::make_unique<KernelSocket>(fd, events);
        if (!configure_socket(fd, timers_, error) || !bind_addresses(fd, locals, error)) {
            return nullptr;
        }
        // Non-blocking only for the connect: COMM_UP (or CANT_STR_ASSOC) reports the outcome.
        const int file_flags = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, file_flags | O_NONBLOCK);
        auto packed = pack_addresses(remotes);
        sctp_assoc_t association = 0;
        const int connected = sctp_connectx(fd, reinterpret_cast<sockaddr*>(packed.data()),
                                            static_cast<int>(remotes.size()), &association);
        const int connect_errno = errno;
        ::fcntl(fd, F_SETFL, file_flags);
        if (connected != 0 && connect_errno != EINPROGRESS) {
            errno = connect_errno;
            error = errno_text("sctp_connectx " + join_addresses(remotes));
            return nullptr;
        }
        socket->start_reader();
        return socket;
    }

    void finish() override {}

private:
    TimerOptions timers_;
};

}  // namespace

bool kernel_stack_built() { return true; }

std::unique_ptr<Stack> make_kernel_stack(const TimerOptions& timers, std::string& error) {
    std::string why;
    if (!kernel_sctp_available(why)) {
        error = "the kernel has no SCTP (" + why +
                "): load the sctp module (modprobe sctp) or use --stack usrsctp";
        return nullptr;
    }
    return std::make_unique<KernelStack>(timers);
}

}  // namespace sctpt

#else  // !SCTPT_HAVE_LIBSCTP

namespace sctpt {
bool kernel_stack_built() { return false; }
std::unique_ptr<Stack> make_kernel_stack(const TimerOptions&, std::string& error) {
    error = "sctpt was built without libsctp (Debian: libsctp-dev): no kernel stack";
    return nullptr;
}
}  // namespace sctpt

#endif
