// usctp: a small SCTP echo server and client on the user-space stack usrsctp.
//
// The host kernel has no SCTP, so test associations come from usrsctp, which runs SCTP over a raw
// IP socket (or over UDP, RFC 6951). One usrsctp stack owns all SCTP traffic of its network
// namespace, so run the server and each client in their own namespaces.
//
//   usctp server --addr A[,B...] --port P [--name NAME]
//   usctp client --addr R1[,R2...] --laddr L1[,L2...] --port P [--lport Q] [--count N] ...
//
// The server binds only the given addresses (sctp_bindx), so its INIT ACK lists exactly those
// (the VIPs), and echoes every message back prefixed with "NAME: ". The client binds exactly the
// given local addresses, connects to all remote addresses (sctp_connectx), sends N messages, prints
// each echo and ends with a graceful SHUTDOWN (or an ABORT with --abort).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <usrsctp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point program_start = Clock::now();

std::mutex output_mutex;

// Every line carries the seconds since start, to line it up with a capture.
void say(const char* format, ...) __attribute__((format(printf, 1, 2)));
void say(const char* format, ...) {
    const std::lock_guard lock(output_mutex);
    const double seconds = std::chrono::duration<double>(Clock::now() - program_start).count();
    std::fprintf(stdout, "[%8.3f] ", seconds);
    va_list arguments;
    va_start(arguments, format);
    std::vfprintf(stdout, format, arguments);
    va_end(arguments);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

void complain(const char* format, ...) __attribute__((format(printf, 1, 2)));
void complain(const char* format, ...) {
    const std::lock_guard lock(output_mutex);
    std::fputs("usctp: error: ", stderr);
    va_list arguments;
    va_start(arguments, format);
    std::vfprintf(stderr, format, arguments);
    va_end(arguments);
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

// usrsctp's own diagnostics (SCTP_PRINTF), shown only with --debug.
void usrsctp_debug_printer(const char* format, ...) {
    const std::lock_guard lock(output_mutex);
    std::fputs("usrsctp: ", stderr);
    va_list arguments;
    va_start(arguments, format);
    std::vfprintf(stderr, format, arguments);
    va_end(arguments);
    std::fflush(stderr);
}

// ---------------------------------------------------------------------------------------------
// Addresses

struct Address {
    sockaddr_storage storage{};
    std::string text;

    [[nodiscard]] int family() const { return storage.ss_family; }
    [[nodiscard]] socklen_t length() const {
        return family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    }
    [[nodiscard]] sockaddr* raw() { return reinterpret_cast<sockaddr*>(&storage); }
};

std::optional<Address> parse_address(std::string_view text, uint16_t port) {
    Address address;
    address.text = std::string(text);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    if (inet_pton(AF_INET, address.text.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return address;
    }
    address.storage = {};
    if (inet_pton(AF_INET6, address.text.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return address;
    }
    return std::nullopt;
}

std::optional<std::vector<Address>> parse_address_list(std::string_view text, uint16_t port) {
    std::vector<Address> addresses;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const auto item = text.substr(0, comma);
        auto address = parse_address(item, port);
        if (!address) {
            complain("'%.*s' is not an IPv4 or IPv6 address", static_cast<int>(item.size()),
                     item.data());
            return std::nullopt;
        }
        addresses.push_back(*address);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    }
    if (addresses.empty()) {
        complain("empty address list");
        return std::nullopt;
    }
    return addresses;
}

// sctp_bindx and sctp_connectx take the addresses packed back to back, each as long as its family
// needs (RFC 6458 §9.1, §9.9), not as an array of sockaddr_storage.
std::vector<std::byte> pack_addresses(const std::vector<Address>& addresses) {
    std::vector<std::byte> packed;
    for (const auto& address : addresses) {
        const auto* first = reinterpret_cast<const std::byte*>(&address.storage);
        packed.insert(packed.end(), first, first + address.length());
    }
    return packed;
}

int socket_family_for(const std::vector<Address>& addresses) {
    for (const auto& address : addresses) {
        if (address.family() == AF_INET6) {
            return AF_INET6;
        }
    }
    return AF_INET;
}

std::string format_address(const sockaddr* address) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (address->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text,
                  sizeof text);
    } else if (address->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text,
                  sizeof text);
    }
    return text;
}

// ---------------------------------------------------------------------------------------------
// Command line

struct StackOptions {
    uint32_t heartbeat_interval_ms = 1000;
    uint32_t rto_min_ms = 200;
    uint32_t rto_max_ms = 1000;
    uint32_t rto_initial_ms = 500;
    uint32_t path_max_retrans = 2;
    uint32_t init_max_retrans = 8;
    // Below the minimum RTO, so a delayed SACK never triggers a spurious retransmission.
    uint32_t sack_delay_ms = 50;
    uint16_t udp_encapsulation_port = 0;  // 0: raw IP; otherwise RFC 6951 on this UDP port
    bool debug = false;
};

struct ServerOptions {
    std::string addresses;
    uint16_t port = 0;
    std::string name = "server";
};

struct ClientOptions {
    std::string remote_addresses;
    std::string local_addresses;
    uint16_t port = 0;
    uint16_t local_port = 0;
    uint32_t count = 5;
    uint32_t interval_ms = 1000;
    std::string primary;              // remote address to make primary ...
    uint32_t primary_after = 0;       // ... after this many messages
    std::string add_local;            // local address to add (ASCONF Add-IP) ...
    uint32_t add_local_after = 0;     // ... after this many messages
    std::string remove_local;         // local address to remove (ASCONF Delete-IP) ...
    uint32_t remove_local_after = 0;  // ... after this many messages
    uint32_t echo_wait_ms = 5000;
    bool abort_at_end = false;
};

void print_usage(FILE* stream) {
    std::fputs(
        "usage:\n"
        "  usctp server --addr A[,B...] --port P [--name NAME] [stack options]\n"
        "  usctp client --addr R1[,R2...] --laddr L1[,L2...] --port P [--lport Q]\n"
        "               [--count N] [--interval-ms T] [--echo-wait-ms W]\n"
        "               [--primary R --primary-after K] [--add-laddr L --add-laddr-after K]\n"
        "               [--del-laddr L --del-laddr-after K]\n"
        "               [--abort] [stack options]\n"
        "  usctp help\n"
        "stack options (defaults are short test timers):\n"
        "  --hb-interval-ms MS (1000)  --rto-min-ms MS (200)  --rto-max-ms MS (1000)\n"
        "  --rto-initial-ms MS (500)   --path-max-retrans N (2)  --init-max-retrans N (8)\n"
        "  --sack-delay-ms MS (50)\n"
        "  --udp-encap PORT  SCTP over UDP (RFC 6951) on this local and remote port\n"
        "  --debug           show usrsctp's own diagnostics\n"
        "The server echoes each message as \"NAME: message\". The client sends N messages\n"
        "\"message I\", prints each echo, optionally makes R its primary path or adds the local\n"
        "address L (ASCONF Add-IP) or removes one (Delete-IP) after K messages, and ends with\n"
        "SHUTDOWN (ABORT with --abort).\n"
        "Exit status: 0 success, 1 failure, 2 usage error.\n",
        stream);
}

template <typename Number>
bool parse_number(std::string_view text, Number& value) {
    const auto* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    return error == std::errc{} && stop == end;
}

// Parses "--name value" pairs; returns false (after a message) on anything unknown.
class ArgumentReader {
public:
    ArgumentReader(int argc, char** argv) : arguments_(argv + 2, argv + argc) {}

    template <typename Handler>
    bool each(Handler&& handle) {
        for (std::size_t i = 0; i < arguments_.size(); ++i) {
            const std::string_view name = arguments_[i];
            if (name == "--debug" || name == "--abort") {
                if (!handle(name, std::string_view{})) {
                    return false;
                }
                continue;
            }
            if (i + 1 >= arguments_.size()) {
                complain("%s needs a value", arguments_[i]);
                return false;
            }
            if (!handle(name, std::string_view{arguments_[i + 1]})) {
                return false;
            }
            ++i;
        }
        return true;
    }

private:
    std::vector<char*> arguments_;
};

template <typename Number>
bool read_number(std::string_view name, std::string_view value, Number& target) {
    if (!parse_number(value, target)) {
        complain("%.*s: '%.*s' is not a valid number", static_cast<int>(name.size()), name.data(),
                 static_cast<int>(value.size()), value.data());
        return false;
    }
    return true;
}

// Returns std::nullopt if the name is not a stack option, else whether the value was valid.
std::optional<bool> read_stack_option(std::string_view name, std::string_view value,
                                      StackOptions& stack) {
    if (name == "--hb-interval-ms") {
        return read_number(name, value, stack.heartbeat_interval_ms);
    }
    if (name == "--rto-min-ms") {
        return read_number(name, value, stack.rto_min_ms);
    }
    if (name == "--rto-max-ms") {
        return read_number(name, value, stack.rto_max_ms);
    }
    if (name == "--rto-initial-ms") {
        return read_number(name, value, stack.rto_initial_ms);
    }
    if (name == "--path-max-retrans") {
        return read_number(name, value, stack.path_max_retrans);
    }
    if (name == "--init-max-retrans") {
        return read_number(name, value, stack.init_max_retrans);
    }
    if (name == "--sack-delay-ms") {
        return read_number(name, value, stack.sack_delay_ms);
    }
    if (name == "--udp-encap") {
        return read_number(name, value, stack.udp_encapsulation_port);
    }
    if (name == "--debug") {
        stack.debug = true;
        return true;
    }
    return std::nullopt;
}

bool unknown_option(std::string_view name) {
    complain("unknown option '%.*s' (see 'usctp help')", static_cast<int>(name.size()),
             name.data());
    return false;
}

// ---------------------------------------------------------------------------------------------
// The usrsctp stack

// One endpoint's state, shared between the main thread and usrsctp's receive thread.
struct Endpoint {
    bool is_server = false;
    std::string name;
    struct socket* sock = nullptr;

    std::mutex mutex;
    std::condition_variable changed;
    bool up = false;
    bool ended = false;   // SHUTDOWN COMPLETE, COMM_LOST or CANT_STR_ASSOC
    bool failed = false;  // the association was lost or never came up
    uint32_t echoes_received = 0;

    template <typename Predicate>
    bool wait_for(std::chrono::milliseconds timeout, Predicate predicate) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, predicate);
    }

    template <typename Reader>
    auto read(Reader reader) {
        const std::lock_guard lock(mutex);
        return reader();
    }

    void update(auto change) {
        {
            const std::lock_guard lock(mutex);
            change();
        }
        changed.notify_all();
    }
};

const char* association_state_name(uint16_t state) {
    switch (state) {
        case SCTP_COMM_UP: return "COMM_UP";
        case SCTP_COMM_LOST: return "COMM_LOST";
        case SCTP_RESTART: return "RESTART";
        case SCTP_SHUTDOWN_COMP: return "SHUTDOWN_COMP";
        case SCTP_CANT_STR_ASSOC: return "CANT_STR_ASSOC";
        default: return "unknown";
    }
}

const char* address_state_name(uint32_t state) {
    switch (state) {
        case SCTP_ADDR_AVAILABLE: return "AVAILABLE";
        case SCTP_ADDR_UNREACHABLE: return "UNREACHABLE";
        case SCTP_ADDR_REMOVED: return "REMOVED";
        case SCTP_ADDR_ADDED: return "ADDED";
        case SCTP_ADDR_MADE_PRIM: return "MADE_PRIM";
        case SCTP_ADDR_CONFIRMED: return "CONFIRMED";
        default: return "unknown";
    }
}

void handle_notification(Endpoint& endpoint, const void* data, std::size_t length) {
    union sctp_notification notification {};
    std::memcpy(&notification, data, std::min(length, sizeof notification));
    switch (notification.sn_header.sn_type) {
        case SCTP_ASSOC_CHANGE: {
            const auto& change = notification.sn_assoc_change;
            say("%s: association %u: %s (streams out %u in %u, error %u)", endpoint.name.c_str(),
                change.sac_assoc_id, association_state_name(change.sac_state),
                change.sac_outbound_streams, change.sac_inbound_streams, change.sac_error);
            endpoint.update([&] {
                switch (change.sac_state) {
                    case SCTP_COMM_UP:
                    case SCTP_RESTART: endpoint.up = true; break;
                    case SCTP_SHUTDOWN_COMP: endpoint.ended = true; break;
                    case SCTP_COMM_LOST:
                    case SCTP_CANT_STR_ASSOC:
                        endpoint.ended = true;
                        endpoint.failed = true;
                        break;
                    default: break;
                }
            });
            break;
        }
        case SCTP_PEER_ADDR_CHANGE: {
            const auto& change = notification.sn_paddr_change;
            say("%s: association %u: peer address %s %s (error %u)", endpoint.name.c_str(),
                change.spc_assoc_id,
                format_address(reinterpret_cast<const sockaddr*>(&change.spc_aaddr)).c_str(),
                address_state_name(change.spc_state), change.spc_error);
            break;
        }
        case SCTP_SHUTDOWN_EVENT:
            say("%s: association %u: peer sent SHUTDOWN", endpoint.name.c_str(),
                notification.sn_shutdown_event.sse_assoc_id);
            break;
        case SCTP_REMOTE_ERROR:
            say("%s: association %u: peer reported error cause %u", endpoint.name.c_str(),
                notification.sn_remote_error.sre_assoc_id,
                ntohs(notification.sn_remote_error.sre_error));
            break;
        case SCTP_SEND_FAILED_EVENT:
            say("%s: association %u: send failed (error %u)", endpoint.name.c_str(),
                notification.sn_send_failed_event.ssfe_assoc_id,
                notification.sn_send_failed_event.ssfe_error);
            break;
        default:
            say("%s: notification type %u", endpoint.name.c_str(), notification.sn_header.sn_type);
            break;
    }
}

// Runs on usrsctp's receive thread. usrsctp hands over `data` (allocated with malloc).
int on_receive(struct socket* sock, union sctp_sockstore from, void* data, size_t length,
               struct sctp_rcvinfo info, int flags, void* ulp_info) {
    auto& endpoint = *static_cast<Endpoint*>(ulp_info);
    if (data == nullptr) {
        // The socket was shut down for reading: nothing more will arrive.
        endpoint.update([&] { endpoint.ended = true; });
        return 1;
    }
    if ((flags & MSG_NOTIFICATION) != 0) {
        handle_notification(endpoint, data, length);
    } else {
        const std::string_view text(static_cast<const char*>(data), length);
        const std::string peer = format_address(&from.sa);
        if (endpoint.is_server) {
            say("%s: association %u: from %s: %.*s", endpoint.name.c_str(), info.rcv_assoc_id,
                peer.c_str(), static_cast<int>(text.size()), text.data());
            std::string reply = endpoint.name + ": ";
            reply.append(text);
            struct sctp_sndinfo send_info {};
            send_info.snd_sid = info.rcv_sid;
            send_info.snd_ppid = info.rcv_ppid;
            send_info.snd_assoc_id = info.rcv_assoc_id;
            if (usrsctp_sendv(sock, reply.data(), reply.size(), nullptr, 0, &send_info,
                              sizeof send_info, SCTP_SENDV_SNDINFO, 0) < 0) {
                complain("echo to association %u failed: %s", info.rcv_assoc_id,
                         std::strerror(errno));
            }
        } else {
            say("%s: echo via %s: %.*s", endpoint.name.c_str(), peer.c_str(),
                static_cast<int>(text.size()), text.data());
            endpoint.update([&] { ++endpoint.echoes_received; });
        }
    }
    std::free(data);
    return 1;
}

void set_stack_options(const StackOptions& options) {
    // usrsctp_init() resets the sysctls, so these must follow it and precede the sockets.
    usrsctp_sysctl_set_sctp_heartbeat_interval_default(options.heartbeat_interval_ms);
    usrsctp_sysctl_set_sctp_rto_min_default(options.rto_min_ms);
    usrsctp_sysctl_set_sctp_rto_max_default(options.rto_max_ms);
    usrsctp_sysctl_set_sctp_rto_initial_default(options.rto_initial_ms);
    usrsctp_sysctl_set_sctp_init_rto_max_default(options.rto_max_ms);
    usrsctp_sysctl_set_sctp_path_rtx_max_default(options.path_max_retrans);
    usrsctp_sysctl_set_sctp_init_rtx_max_default(options.init_max_retrans);
    usrsctp_sysctl_set_sctp_delayed_sack_time_default(options.sack_delay_ms);
    // ASCONF (RFC 5061) needs AUTH (RFC 4895); both are on by default, made explicit here.
    usrsctp_sysctl_set_sctp_auth_enable(1);
    usrsctp_sysctl_set_sctp_asconf_enable(1);
    // Only an explicit sctp_bindx() may change the addresses of an association.
    usrsctp_sysctl_set_sctp_auto_asconf(0);
}

void start_stack(const StackOptions& options) {
    // usrsctp's threads inherit this mask, so SIGINT/SIGTERM reach only sigwait in main.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    usrsctp_init(options.udp_encapsulation_port, nullptr,
                 options.debug ? usrsctp_debug_printer : nullptr);
    set_stack_options(options);
}

void stop_stack() {
    // usrsctp_finish() refuses while associations still exist (e.g. in SHUTDOWN): give them time.
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (usrsctp_finish() != 0 && Clock::now() < deadline) {
        struct timespec pause {
            0, 100'000'000
        };
        nanosleep(&pause, nullptr);
    }
}

bool set_socket_option(struct socket* sock, int option, const void* value, socklen_t length,
                       const char* what) {
    if (usrsctp_setsockopt(sock, IPPROTO_SCTP, option, value, length) != 0) {
        complain("%s: %s", what, std::strerror(errno));
        return false;
    }
    return true;
}

bool subscribe_events(struct socket* sock) {
    const int on = 1;
    if (!set_socket_option(sock, SCTP_RECVRCVINFO, &on, sizeof on, "SCTP_RECVRCVINFO")) {
        return false;
    }
    for (const uint16_t type : {SCTP_ASSOC_CHANGE, SCTP_PEER_ADDR_CHANGE, SCTP_SHUTDOWN_EVENT,
                                SCTP_REMOTE_ERROR, SCTP_SEND_FAILED_EVENT}) {
        struct sctp_event event {};
        event.se_assoc_id = SCTP_FUTURE_ASSOC;
        event.se_type = type;
        event.se_on = 1;
        if (!set_socket_option(sock, SCTP_EVENT, &event, sizeof event, "SCTP_EVENT")) {
            return false;
        }
    }
    return true;
}

bool bind_addresses(struct socket* sock, const std::vector<Address>& addresses) {
    auto packed = pack_addresses(addresses);
    if (usrsctp_bindx(sock, reinterpret_cast<sockaddr*>(packed.data()),
                      static_cast<int>(addresses.size()), SCTP_BINDX_ADD_ADDR) != 0) {
        complain("sctp_bindx: %s", std::strerror(errno));
        return false;
    }
    return true;
}

std::string join_addresses(const std::vector<Address>& addresses) {
    std::string joined;
    for (const auto& address : addresses) {
        if (!joined.empty()) {
            joined += ',';
        }
        joined += address.text;
    }
    return joined;
}

// usrsctp returns the addresses packed back to back, each as long as its family needs.
std::string format_packed_addresses(const sockaddr* addresses, int count) {
    std::string joined;
    const auto* cursor = reinterpret_cast<const char*>(addresses);
    for (int i = 0; i < count; ++i) {
        const auto* address = reinterpret_cast<const sockaddr*>(cursor);
        // Not `(i ? "," : "") + text`: gcc 12 at -O3 reports a false
        // -Wrestrict inside libstdc++ (GCC bugs 105329, 105651).
        if (i > 0) {
            joined += ',';
        }
        joined += format_address(address);
        cursor += address->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    }
    return joined;
}

void print_association_addresses(struct socket* sock, sctp_assoc_t association) {
    sockaddr* addresses = nullptr;
    std::string local = "?";
    std::string peer = "?";
    if (const int count = usrsctp_getladdrs(sock, association, &addresses); count > 0) {
        local = format_packed_addresses(addresses, count);
        usrsctp_freeladdrs(addresses);
    }
    if (const int count = usrsctp_getpaddrs(sock, association, &addresses); count > 0) {
        peer = format_packed_addresses(addresses, count);
        usrsctp_freepaddrs(addresses);
    }
    say("client: association %u: local addresses %s, peer addresses %s", association, local.c_str(),
        peer.c_str());
}

// ---------------------------------------------------------------------------------------------
// Commands

int run_server(int argc, char** argv) {
    ServerOptions options;
    StackOptions stack;
    const bool parsed =
        ArgumentReader(argc, argv).each([&](std::string_view name, std::string_view value) {
            if (auto stack_option = read_stack_option(name, value, stack)) {
                return *stack_option;
            }
            if (name == "--addr") {
                options.addresses = value;
                return true;
            }
            if (name == "--port") {
                return read_number(name, value, options.port);
            }
            if (name == "--name") {
                options.name = value;
                return true;
            }
            return unknown_option(name);
        });
    if (!parsed) {
        return 2;
    }
    if (options.addresses.empty() || options.port == 0) {
        complain("server needs --addr and --port");
        return 2;
    }
    auto addresses = parse_address_list(options.addresses, options.port);
    if (!addresses) {
        return 2;
    }

    start_stack(stack);
    Endpoint endpoint;
    endpoint.is_server = true;
    endpoint.name = options.name;
    // One-to-many style (RFC 6458 §3): one socket serves every association.
    endpoint.sock = usrsctp_socket(socket_family_for(*addresses), SOCK_SEQPACKET, IPPROTO_SCTP,
                                   on_receive, nullptr, 0, &endpoint);
    if (endpoint.sock == nullptr) {
        complain("usrsctp_socket: %s", std::strerror(errno));
        return 1;
    }
    if (!subscribe_events(endpoint.sock) || !bind_addresses(endpoint.sock, *addresses)) {
        return 1;
    }
    if (usrsctp_listen(endpoint.sock, 16) != 0) {
        complain("listen: %s", std::strerror(errno));
        return 1;
    }
    say("%s: listening on %s port %u%s", endpoint.name.c_str(), join_addresses(*addresses).c_str(),
        options.port, stack.udp_encapsulation_port ? " (also SCTP over UDP)" : "");

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    say("%s: signal %d, closing", endpoint.name.c_str(), signal_number);
    usrsctp_close(endpoint.sock);
    stop_stack();
    return 0;
}

// Sleeps, returning false early if SIGINT or SIGTERM arrives.
bool pause_unless_signalled(uint32_t milliseconds) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    struct timespec timeout {
        static_cast<time_t>(milliseconds / 1000), static_cast<long>(milliseconds % 1000) * 1'000'000
    };
    while (true) {
        const int result = sigtimedwait(&signals, nullptr, &timeout);
        if (result > 0) {
            return false;
        }
        if (result < 0 && errno == EINTR) {
            continue;
        }
        return true;
    }
}

int run_client(int argc, char** argv) {
    ClientOptions options;
    StackOptions stack;
    const bool parsed =
        ArgumentReader(argc, argv).each([&](std::string_view name, std::string_view value) {
            if (auto stack_option = read_stack_option(name, value, stack)) {
                return *stack_option;
            }
            if (name == "--addr") {
                options.remote_addresses = value;
                return true;
            }
            if (name == "--laddr") {
                options.local_addresses = value;
                return true;
            }
            if (name == "--port") {
                return read_number(name, value, options.port);
            }
            if (name == "--lport") {
                return read_number(name, value, options.local_port);
            }
            if (name == "--count") {
                return read_number(name, value, options.count);
            }
            if (name == "--interval-ms") {
                return read_number(name, value, options.interval_ms);
            }
            if (name == "--echo-wait-ms") {
                return read_number(name, value, options.echo_wait_ms);
            }
            if (name == "--primary") {
                options.primary = value;
                return true;
            }
            if (name == "--primary-after") {
                return read_number(name, value, options.primary_after);
            }
            if (name == "--add-laddr") {
                options.add_local = value;
                return true;
            }
            if (name == "--add-laddr-after") {
                return read_number(name, value, options.add_local_after);
            }
            if (name == "--del-laddr") {
                options.remove_local = value;
                return true;
            }
            if (name == "--del-laddr-after") {
                return read_number(name, value, options.remove_local_after);
            }
            if (name == "--abort") {
                options.abort_at_end = true;
                return true;
            }
            return unknown_option(name);
        });
    if (!parsed) {
        return 2;
    }
    if (options.remote_addresses.empty() || options.local_addresses.empty() || options.port == 0) {
        complain("client needs --addr, --laddr and --port");
        return 2;
    }
    auto remotes = parse_address_list(options.remote_addresses, options.port);
    auto locals = parse_address_list(options.local_addresses, options.local_port);
    if (!remotes || !locals) {
        return 2;
    }
    std::optional<Address> primary;
    if (!options.primary.empty()) {
        primary = parse_address(options.primary, options.port);
        if (!primary) {
            complain("--primary: '%s' is not an address", options.primary.c_str());
            return 2;
        }
    }
    std::optional<Address> added_local;
    if (!options.add_local.empty()) {
        added_local = parse_address(options.add_local, options.local_port);
        if (!added_local) {
            complain("--add-laddr: '%s' is not an address", options.add_local.c_str());
            return 2;
        }
    }
    std::optional<Address> removed_local;
    if (!options.remove_local.empty()) {
        removed_local = parse_address(options.remove_local, options.local_port);
        if (!removed_local) {
            complain("--del-laddr: '%s' is not an address", options.remove_local.c_str());
            return 2;
        }
    }

    start_stack(stack);
    Endpoint endpoint;
    endpoint.name = "client";
    // One-to-one style (RFC 6458 §4): this socket is the association.
    std::vector<Address> all = *remotes;
    all.insert(all.end(), locals->begin(), locals->end());
    endpoint.sock = usrsctp_socket(socket_family_for(all), SOCK_STREAM, IPPROTO_SCTP, on_receive,
                                   nullptr, 0, &endpoint);
    if (endpoint.sock == nullptr) {
        complain("usrsctp_socket: %s", std::strerror(errno));
        return 1;
    }
    if (!subscribe_events(endpoint.sock)) {
        return 1;
    }
    if (stack.udp_encapsulation_port != 0) {
        // RFC 6951 §5: send to the peer's UDP encapsulation port.
        struct sctp_udpencaps encapsulation {};
        encapsulation.sue_assoc_id = SCTP_FUTURE_ASSOC;
        encapsulation.sue_port = htons(stack.udp_encapsulation_port);
        if (!set_socket_option(endpoint.sock, SCTP_REMOTE_UDP_ENCAPS_PORT, &encapsulation,
                               sizeof encapsulation, "SCTP_REMOTE_UDP_ENCAPS_PORT")) {
            return 1;
        }
    }
    if (!bind_addresses(endpoint.sock, *locals)) {
        return 1;
    }

    auto packed_remotes = pack_addresses(*remotes);
    sctp_assoc_t association = 0;
    if (usrsctp_connectx(endpoint.sock, reinterpret_cast<sockaddr*>(packed_remotes.data()),
                         static_cast<int>(remotes->size()), &association) != 0 &&
        errno != EINPROGRESS) {
        complain("sctp_connectx: %s", std::strerror(errno));
        return 1;
    }
    say("client: connecting from %s port %u to %s port %u", join_addresses(*locals).c_str(),
        options.local_port, join_addresses(*remotes).c_str(), options.port);
    if (!endpoint.wait_for(std::chrono::seconds(30),
                           [&] { return endpoint.up || endpoint.ended; }) ||
        !endpoint.up) {
        complain("the association did not come up");
        usrsctp_close(endpoint.sock);
        stop_stack();
        return 1;
    }
    print_association_addresses(endpoint.sock, association);

    bool interrupted = false;
    bool step_failed = false;  // a primary change or an address change was refused
    uint32_t sent = 0;
    for (uint32_t index = 0; index < options.count && !interrupted; ++index) {
        if (primary && index == options.primary_after) {
            struct sctp_setprim request {};
            std::memcpy(&request.ssp_addr, &primary->storage, sizeof request.ssp_addr);
            request.ssp_assoc_id = association;
            if (set_socket_option(endpoint.sock, SCTP_PRIMARY_ADDR, &request, sizeof request,
                                  "SCTP_PRIMARY_ADDR")) {
                say("client: primary path is now %s", primary->text.c_str());
            } else {
                step_failed = true;
            }
        }
        if (added_local && index == options.add_local_after) {
            // RFC 5061 §4.1: binding an address to a live association sends ASCONF Add-IP.
            if (usrsctp_bindx(endpoint.sock, added_local->raw(), 1, SCTP_BINDX_ADD_ADDR) == 0) {
                say("client: added local address %s", added_local->text.c_str());
            } else {
                complain("sctp_bindx add %s: %s", added_local->text.c_str(), std::strerror(errno));
                step_failed = true;
            }
        }
        if (removed_local && index == options.remove_local_after) {
            // RFC 5061 §4.1: unbinding an address of a live association sends ASCONF Delete-IP.
            if (usrsctp_bindx(endpoint.sock, removed_local->raw(), 1, SCTP_BINDX_REM_ADDR) == 0) {
                say("client: removed local address %s", removed_local->text.c_str());
                // usrsctp forgets the address at once and answers anything still sent to it
                // with an ABORT. Let the peer acknowledge the ASCONF before new DATA draws an
                // answer (the peer's primary may be the removed address until then).
                interrupted = !pause_unless_signalled(std::max(options.interval_ms / 2, 100u));
            } else {
                complain("sctp_bindx remove %s: %s", removed_local->text.c_str(),
                         std::strerror(errno));
                step_failed = true;
            }
        }
        if (endpoint.read([&] { return endpoint.ended; })) {
            complain("the association ended early");
            break;
        }
        const std::string message = "message " + std::to_string(index + 1);
        struct sctp_sndinfo send_info {};
        send_info.snd_assoc_id = association;
        if (usrsctp_sendv(endpoint.sock, message.data(), message.size(), nullptr, 0, &send_info,
                          sizeof send_info, SCTP_SENDV_SNDINFO, 0) < 0) {
            complain("send: %s", std::strerror(errno));
            break;
        }
        ++sent;
        say("client: sent %s", message.c_str());
        if (index + 1 < options.count) {
            interrupted = !pause_unless_signalled(options.interval_ms);
        }
    }

    endpoint.wait_for(std::chrono::milliseconds(options.echo_wait_ms),
                      [&] { return endpoint.echoes_received >= sent || endpoint.ended; });
    const uint32_t echoed = endpoint.read([&] { return endpoint.echoes_received; });
    bool clean_end = false;
    if (options.abort_at_end) {
        // SO_LINGER with a zero timeout makes close() send ABORT (RFC 6458 §8.1.4).
        struct linger abort_on_close {
            1, 0
        };
        usrsctp_setsockopt(endpoint.sock, SOL_SOCKET, SO_LINGER, &abort_on_close,
                           sizeof abort_on_close);
        say("client: aborting");
        usrsctp_close(endpoint.sock);
        clean_end = true;
    } else {
        say("client: shutting down");
        if (usrsctp_shutdown(endpoint.sock, SHUT_WR) != 0) {
            complain("shutdown: %s", std::strerror(errno));
        }
        endpoint.wait_for(std::chrono::seconds(10), [&] { return endpoint.ended; });
        clean_end = endpoint.read([&] { return endpoint.ended && !endpoint.failed; });
        usrsctp_close(endpoint.sock);
    }
    stop_stack();

    say("client: %u sent, %u echoed%s", sent, echoed, interrupted ? ", interrupted" : "");
    if (echoed < options.count) {
        complain("only %u of %u messages were echoed", echoed, options.count);
        return 1;
    }
    if (!clean_end) {
        complain("the association did not end with SHUTDOWN COMPLETE");
        return 1;
    }
    if (step_failed) {
        complain("a requested primary or address change failed");
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string_view command = argc > 1 ? argv[1] : "";
    if (command == "server") {
        return run_server(argc, argv);
    }
    if (command == "client") {
        return run_client(argc, argv);
    }
    if (command == "help" || command == "--help" || command == "-h") {
        print_usage(stdout);
        return 0;
    }
    print_usage(stderr);
    return 2;
}
