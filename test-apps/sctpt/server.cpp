// sctpt server: binds exactly the given addresses and echoes every message as "NAME: message".
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <mutex>
#include <set>

#include "cli.hpp"
#include "commands.hpp"
#include "log.hpp"

namespace sctpt {
namespace {

class EchoServer final : public SocketEvents {
public:
    EchoServer(std::string name, bool verbose) : name_(std::move(name)), verbose_(verbose) {}

    void attach(Socket* socket) { socket_ = socket; }

    void on_message(AssociationId association, std::string_view message,
                    const Address& from) override {
        if (verbose_) {
            note("association %u: from %s: %.*s", association, from.text().c_str(),
                 static_cast<int>(message.size()), message.data());
        }
        Socket* socket = socket_;
        if (socket == nullptr) {
            return;  // only before listen() returned: cannot happen after COMM_UP
        }
        std::string reply = name_ + ": ";
        reply.append(message);
        std::string error;
        if (socket->send(association, reply, error)) {
            echoed_.fetch_add(1);
        } else {
            complain("echo to association %u: %s", association, error.c_str());
        }
    }

    void on_association_change(AssociationId association, AssociationChange change,
                               unsigned error) override {
        note("association %u: %s (error %u)", association, association_change_name(change), error);
        const std::lock_guard lock(mutex_);
        if (change == AssociationChange::up) {
            associations_.insert(association);
        }
    }

    void on_peer_address_change(AssociationId association, const Address& address,
                                std::string_view state, unsigned error) override {
        note("association %u: peer address %s %.*s (error %u)", association, address.text().c_str(),
             static_cast<int>(state.size()), state.data(), error);
    }

    void on_peer_shutdown(AssociationId association) override {
        note("association %u: peer sent SHUTDOWN", association);
    }

    std::size_t associations_seen() {
        const std::lock_guard lock(mutex_);
        return associations_.size();
    }
    uint64_t echoed() const { return echoed_.load(); }

private:
    std::string name_;
    bool verbose_;
    std::atomic<Socket*> socket_{nullptr};
    std::atomic<uint64_t> echoed_{0};
    std::mutex mutex_;
    std::set<AssociationId> associations_;
};

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
        return "server";
    }
    return name;
}

}  // namespace

int run_server(int argc, char** argv) {
    StackChoice choice;
    std::string addresses_text;
    uint16_t port = 6000;
    std::string name;
    bool verbose = false;
    int level = 6;
    OptionTable table("server", "An echo server on exactly the given addresses (the VIPs).");
    table.text("--addr", addresses_text, "A[,B...]");
    table.number("--port", port, "P");
    table.text("--name", name, "NAME");
    table.flag("--verbose", verbose);
    add_log_option(table, level);
    add_stack_options(table, choice);
    std::string error;
    if (!table.parse(argc, argv, 2, error)) {
        return usage_error(error);
    }
    if (table.help_requested()) {
        return table.print_help();
    }
    if (!validate_stack_options(choice, error) || !apply_log_option(level, error)) {
        return usage_error(error);
    }
    verbose = verbose || level >= log_debug;
    if (addresses_text.empty()) {
        return usage_error("server needs --addr A[,B...]");
    }
    if (port == 0) {
        return usage_error("--port must not be 0");
    }
    const auto addresses = parse_address_list(addresses_text, port, error);
    if (!addresses) {
        return usage_error("--addr: " + error);
    }
    if (name.empty()) {
        name = host_name();
    }

    block_termination_signals();
    auto stack = open_stack(choice, error);
    if (!stack) {
        complain("%s", error.c_str());
        return exit_failure;
    }
    EchoServer server(name, verbose);
    {
        auto socket = stack->listen(*addresses, server, error);
        if (!socket) {
            complain("%s", error.c_str());
            return exit_failure;
        }
        server.attach(socket.get());
        note("%s: listening on %s port %u (%.*s stack)", name.c_str(),
             join_addresses(*addresses).c_str(), port, static_cast<int>(stack->name().size()),
             stack->name().data());
        while (sleep_unless_terminated(1000)) {
        }
        note("%s: stopping: %zu associations, %" PRIu64 " messages echoed", name.c_str(),
             server.associations_seen(), server.echoed());
        server.attach(nullptr);
    }
    stack->finish();
    return exit_success;
}

}  // namespace sctpt
