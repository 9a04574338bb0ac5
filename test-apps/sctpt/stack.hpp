// The two SCTP stacks sctpt runs on, behind one interface: the Linux kernel (lksctp, libsctp) and
// usrsctp (user-space SCTP over raw IP). Events arrive on a stack thread through SocketEvents.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "address.hpp"

namespace sctpt {

using AssociationId = uint32_t;

// Defaults are short test timers: a path fails after ~1-2 s, not the RFC's minutes.
struct TimerOptions {
    uint32_t heartbeat_interval_ms = 1000;
    uint32_t rto_min_ms = 200;
    uint32_t rto_max_ms = 1000;
    uint32_t rto_initial_ms = 500;
    uint32_t path_max_retrans = 2;
    uint32_t init_max_retrans = 8;
    // Below the minimum RTO, so a delayed SACK never triggers a spurious retransmission
    // (usrsctp's default 200 ms equals rto_min and did).
    uint32_t sack_delay_ms = 50;
    uint16_t udp_encapsulation_port = 0;  // 0: SCTP over IP; else RFC 6951 on this UDP port
    bool debug = false;
};

enum class AssociationChange { up, restart, lost, shutdown_complete, cannot_start, other };
const char* association_change_name(AssociationChange change);

// Called on a stack thread (usrsctp's receive thread, or the kernel stack's reader thread of the
// socket). Implementations synchronise themselves.
class SocketEvents {
public:
    virtual ~SocketEvents() = default;
    virtual void on_message(AssociationId association, std::string_view message,
                            const Address& from) = 0;
    virtual void on_association_change(AssociationId association, AssociationChange change,
                                       unsigned error) = 0;
    // SCTP_PEER_ADDR_CHANGE (RFC 6458 §6.1.2); state is "AVAILABLE", "UNREACHABLE", ...
    virtual void on_peer_address_change(AssociationId association, const Address& address,
                                        std::string_view state, unsigned error) = 0;
    virtual void on_peer_shutdown(AssociationId /*association*/) {}
    virtual void on_send_failed(AssociationId /*association*/, unsigned /*error*/) {}
    // Nothing more will be read from this socket (one-to-one: the association is gone).
    virtual void on_end_of_stream() {}
};

class Socket {
public:
    virtual ~Socket() = default;  // closes the socket; no event arrives after it returns
    // One-to-many sockets send on `association`; one-to-one sockets ignore it.
    virtual bool send(AssociationId association, std::string_view message, std::string& error) = 0;
    virtual bool set_primary(AssociationId association, const Address& peer,
                             std::string& error) = 0;
    // Adds (add) or removes a local address of the live association: sctp_bindx sends ASCONF
    // Add-IP or Delete-IP (RFC 5061 §4.1). One-to-one sockets only.
    virtual bool change_local_address(const Address& local, bool add, std::string& error) = 0;
    // With ports. Empty if the stack cannot tell.
    virtual std::vector<Address> local_addresses(AssociationId association) = 0;
    virtual std::vector<Address> peer_addresses(AssociationId association) = 0;
    // Graceful end: SHUTDOWN (RFC 9260 §9.2); SHUTDOWN_COMP follows as an association change.
    virtual void shutdown() = 0;
    // Association ends now with ABORT (SO_LINGER 0, RFC 6458 §8.1.4).
    virtual void abort() = 0;
};

class Stack {
public:
    virtual ~Stack() = default;
    [[nodiscard]] virtual std::string_view name() const = 0;
    // A one-to-many socket bound to exactly `addresses` (sctp_bindx), listening. `events` must
    // outlive the socket.
    virtual std::unique_ptr<Socket> listen(const std::vector<Address>& addresses,
                                           SocketEvents& events, std::string& error) = 0;
    // A one-to-one socket bound to exactly `locals` (their port, 0: ephemeral), connecting to
    // all `remotes` (sctp_connectx) without waiting: COMM_UP or CANT_STR_ASSOC follow as events.
    virtual std::unique_ptr<Socket> connect(const std::vector<Address>& locals,
                                            const std::vector<Address>& remotes,
                                            SocketEvents& events, std::string& error) = 0;
    // Call after every socket is gone: waits (bounded) for the stack to wind down.
    virtual void finish() = 0;
};

// Whether socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) works; if not, `why` says what failed.
bool kernel_sctp_available(std::string& why);

// Each returns nullptr with `error` set when the stack is not available (not built in, or no
// kernel SCTP). usrsctp: one stack per process; call once.
std::unique_ptr<Stack> make_kernel_stack(const TimerOptions& timers, std::string& error);
std::unique_ptr<Stack> make_usrsctp_stack(const TimerOptions& timers, std::string& error);
bool kernel_stack_built();
bool usrsctp_stack_built();

}  // namespace sctpt
