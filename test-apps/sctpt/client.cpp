// sctpt client: one multihomed association. Messages come from stdin (one per line), or --size
// (one padded message), or --count ("message 1" ... "message N", one every --interval); echoes go
// to stdout, events to stderr. Optional path steps before message K: a new primary path, ASCONF
// Add-IP / Delete-IP of a local address (RFC 5061). Ends with SHUTDOWN, or ABORT with --abort.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "cli.hpp"
#include "commands.hpp"
#include "event_log.hpp"
#include "log.hpp"

namespace sctpt {
namespace {

class InteractiveClient final : public SocketEvents {
public:
    // With --size the echo is checked, not printed (it is N bytes of padding).
    // --verbose also notes each echo with the address it came from ("echo via A: NAME: text").
    InteractiveClient(std::string one_message, bool verbose)
        : one_message_(std::move(one_message)), verbose_(verbose) {}

    void on_message(AssociationId, std::string_view message, const Address& from) override {
        if (event_log_ != nullptr) {
            record_echo(message, from);
        }
        if (verbose_) {
            note("echo via %s: %.*s", from.text().c_str(), static_cast<int>(message.size()),
                 message.data());
        }
        if (one_message_.empty()) {
            print_line(std::string(message));
        } else {
            note("received %zu bytes", message.size());
        }
        update([&] {
            ++echoes_;
            // The server echoes "NAME: " + message.
            if (!one_message_.empty() && message.ends_with(one_message_)) {
                ++matching_echoes_;
            }
        });
    }

    void on_association_change(AssociationId association, AssociationChange change,
                               unsigned error) override {
        note("association %u: %s (error %u)", association, association_change_name(change), error);
        event(association, "assoc", {{"change", association_change_name(change)}, {"error", error}});
        update([&] {
            switch (change) {
                case AssociationChange::up:
                case AssociationChange::restart:
                    up_ = true;
                    association_ = association;
                    break;
                case AssociationChange::shutdown_complete: ended_ = true; break;
                case AssociationChange::lost:
                case AssociationChange::cannot_start:
                    ended_ = true;
                    failed_ = true;
                    break;
                case AssociationChange::other: break;
            }
        });
    }

    void on_peer_address_change(AssociationId association, const Address& address,
                                std::string_view state, unsigned error) override {
        note("association %u: peer address %s %.*s (error %u)", association, address.text().c_str(),
             static_cast<int>(state.size()), state.data(), error);
        event(association, "peer_addr",
              {{"address", address.text()}, {"state", std::string(state)}, {"error", error}});
        if (state == "UNREACHABLE") {
            // Traffic to this peer address moves to another path (as ctraffic counts failovers).
            event(association, "failover", {{"from", address.text()}});
        }
    }

    void on_send_failed(AssociationId association, unsigned error) override {
        event(association, "send_failed", {{"error", error}});
    }

    // --events: the log every event goes to; set before the association starts.
    void set_event_log(EventLog* log) { event_log_ = log; }

    // Message `sequence` (1, 2, ...) is being sent: logged, and remembered for its echo's RTT.
    void record_sent(AssociationId association, uint64_t sequence, const std::string& message) {
        if (event_log_ == nullptr) {
            return;
        }
        {
            const std::lock_guard lock(mutex_);
            pending_[message].push_back({sequence, std::chrono::steady_clock::now()});
        }
        event(association, "sent", {{"seq", sequence}});
    }

    void on_peer_shutdown(AssociationId association) override {
        note("association %u: peer sent SHUTDOWN", association);
    }

    void on_end_of_stream() override {
        update([&] { ended_ = true; });
    }

    template <typename Predicate>
    bool wait_for(std::chrono::milliseconds timeout, Predicate predicate) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return predicate(*this); });
    }

    // Read under the lock, from the main thread.
    template <typename Reader>
    auto read(Reader reader) {
        const std::lock_guard lock(mutex_);
        return reader(*this);
    }

    bool up_ = false;
    bool ended_ = false;
    bool failed_ = false;
    AssociationId association_ = 0;
    uint64_t echoes_ = 0;
    uint64_t matching_echoes_ = 0;

private:
    using Fields = std::initializer_list<std::pair<const char*, EventLog::Fields>>;
    void event(AssociationId association, std::string_view kind, Fields fields) {
        if (event_log_ == nullptr) {
            return;
        }
        EventLog::Fields line{{"client", 0}, {"assoc", association}};
        for (const auto& [key, value] : fields) {
            line[key] = value;
        }
        event_log_->write(kind, line);
    }

    // The echo is "NAME: MESSAGE" (server.cpp): NAME is the server that answered; MESSAGE
    // finds the send time (the oldest unanswered copy of the same text).
    void record_echo(std::string_view echo, const Address& from) {
        const auto separator = echo.find(": ");
        const std::string server(echo.substr(0, separator == std::string_view::npos ? 0 : separator));
        const std::string body(separator == std::string_view::npos ? echo : echo.substr(separator + 2));
        const auto now = std::chrono::steady_clock::now();
        std::optional<std::pair<uint64_t, std::chrono::steady_clock::time_point>> sent;
        AssociationId association = 0;
        {
            const std::lock_guard lock(mutex_);
            association = association_;
            if (const auto found = pending_.find(body); found != pending_.end()) {
                sent = found->second.front();
                found->second.pop_front();
                if (found->second.empty()) {
                    pending_.erase(found);
                }
            }
        }
        if (!sent) {
            event(association, "unexpected", {{"path", from.text()}});
            return;
        }
        const double rtt_ms = std::chrono::duration<double, std::milli>(now - sent->second).count();
        event(association, "echo",
              {{"seq", sent->first},
               {"rtt_ms", std::round(rtt_ms * 1000.0) / 1000.0},
               {"server", server},
               {"path", from.text()}});
    }

    EventLog* event_log_ = nullptr;
    std::map<std::string, std::deque<std::pair<uint64_t, std::chrono::steady_clock::time_point>>>
        pending_;  // under mutex_
    std::string one_message_;
    bool verbose_;
    template <typename Change>
    void update(Change change) {
        {
            const std::lock_guard lock(mutex_);
            change();
        }
        changed_.notify_all();
    }

    std::mutex mutex_;
    std::condition_variable changed_;
};

// What the client changes on its association before message K (counted from 0): --primary,
// --add-laddr, --del-laddr.
struct PathSteps {
    std::optional<Address> primary;
    uint64_t primary_after = 0;
    std::optional<Address> add_local;
    uint64_t add_local_after = 0;
    std::optional<Address> remove_local;
    uint64_t remove_local_after = 0;
    uint32_t interval_ms = 0;
    bool failed = false;  // a step was refused: the client then exits 1

    // Runs the steps due before message `index`; false if SIGINT/SIGTERM came meanwhile.
    bool before_message(Socket& socket, AssociationId association, uint64_t index) {
        std::string error;
        if (primary && index == primary_after) {
            if (socket.set_primary(association, *primary, error)) {
                note("primary path is now %s", primary->text().c_str());
            } else {
                complain("%s", error.c_str());
                failed = true;
            }
        }
        if (add_local && index == add_local_after) {
            if (socket.change_local_address(*add_local, true, error)) {
                note("added local address %s", add_local->text().c_str());
            } else {
                complain("%s %s", error.c_str(), add_local->text().c_str());
                failed = true;
            }
        }
        if (remove_local && index == remove_local_after) {
            if (socket.change_local_address(*remove_local, false, error)) {
                note("removed local address %s", remove_local->text().c_str());
                // usrsctp forgets the address at once and answers anything still sent to it
                // with an ABORT. Let the peer acknowledge the ASCONF before new DATA draws an
                // answer (the peer's primary may be the removed address until then).
                return sleep_unless_terminated(std::max<int64_t>(interval_ms / 2, 100));
            }
            complain("%s %s", error.c_str(), remove_local->text().c_str());
            failed = true;
        }
        return true;
    }
};

// --primary R, --add-laddr L, --del-laddr L: parsed with the association's port (R) or the local
// port (L); an empty text means no step.
bool parse_step_address(const std::string& option, const std::string& text, uint16_t port,
                        std::optional<Address>& target, std::string& error) {
    if (text.empty()) {
        return true;
    }
    target = parse_address(text, port);
    if (!target) {
        error = option;
        error += ": '";
        error += text;
        error += "' is not an address";
        return false;
    }
    return true;
}

}  // namespace

int run_client(int argc, char** argv) {
    StackChoice choice;
    std::string remotes_text;
    std::string locals_text;
    uint16_t port = 6000;
    uint16_t local_port = 0;
    std::string primary_text;
    std::string add_local_text;
    std::string remove_local_text;
    PathSteps steps;
    uint32_t echo_wait_ms = 2000;
    uint32_t connect_timeout_ms = 10000;
    uint64_t count = 0;
    uint32_t interval_ms = 1000;
    std::size_t size = 0;
    bool abort_at_end = false;
    bool verbose = false;
    int level = 6;
    std::string events_path;
    OptionTable table("client", "One multihomed association: sends stdin lines (or --count messages), prints every echo.");
    table.text("--addr", remotes_text, "R1[,R2...]");
    table.text("--laddr", locals_text, "L1[,L2...]");
    table.number("--port", port, "P");
    table.number("--lport", local_port, "Q");
    table.number("--count", count, "N");
    table.number("--interval", interval_ms, "MS");
    table.text("--primary", primary_text, "R");
    table.number("--primary-after", steps.primary_after, "K");
    table.text("--add-laddr", add_local_text, "L");
    table.number("--add-laddr-after", steps.add_local_after, "K");
    table.text("--del-laddr", remove_local_text, "L");
    table.number("--del-laddr-after", steps.remove_local_after, "K");
    table.number("--echo-wait", echo_wait_ms, "MS");
    table.number("--connect-timeout", connect_timeout_ms, "MS");
    table.number("--size", size, "BYTES");
    table.flag("--abort", abort_at_end);
    table.flag("--verbose", verbose);
    table.text("--events", events_path, "FILE");
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
    if (size > 65000) {
        return usage_error("--size: at most 65000 bytes");
    }
    if (size != 0 && count != 0) {
        return usage_error("--size and --count exclude each other");
    }
    if (remotes_text.empty() || locals_text.empty()) {
        return usage_error("client needs --addr R1[,R2...] and --laddr L1[,L2...]");
    }
    if (port == 0) {
        return usage_error("--port must not be 0");
    }
    const auto remotes = parse_address_list(remotes_text, port, error);
    if (!remotes) {
        return usage_error("--addr: " + error);
    }
    const auto locals = parse_address_list(locals_text, local_port, error);
    if (!locals) {
        return usage_error("--laddr: " + error);
    }
    if (!parse_step_address("--primary", primary_text, port, steps.primary, error) ||
        !parse_step_address("--add-laddr", add_local_text, local_port, steps.add_local, error) ||
        !parse_step_address("--del-laddr", remove_local_text, local_port, steps.remove_local,
                            error)) {
        return usage_error(error);
    }
    steps.interval_ms = interval_ms;

    block_termination_signals();
    auto stack = open_stack(choice, error);
    if (!stack) {
        complain("%s", error.c_str());
        return exit_failure;
    }
    // --size N (ovl/sctp): one message of N bytes instead of stdin, e.g. for MTU tests.
    InteractiveClient client(std::string(size, 'x'), verbose);
    EventLog event_log;
    if (!events_path.empty()) {
        const std::string stack_name(stack->name());
        if (!event_log.open(events_path, std::chrono::steady_clock::now(),
                            EventLog::Fields{{"command", "client"},
                                             {"stack", stack_name},
                                             {"clients", 1},
                                             {"remote", address_texts(*remotes)},
                                             {"port", port}},
                            error)) {
            complain("%s", error.c_str());
            return exit_failure;
        }
        client.set_event_log(&event_log);
    }
    bool interrupted = false;
    uint64_t sent = 0;
    bool clean_end = false;
    {
        auto socket = stack->connect(*locals, *remotes, client, error);
        if (!socket) {
            complain("%s", error.c_str());
            return exit_failure;
        }
        note("connecting from %s port %u to %s port %u (%.*s stack)",
             join_addresses(*locals).c_str(), local_port, join_addresses(*remotes).c_str(), port,
             static_cast<int>(stack->name().size()), stack->name().data());
        if (!client.wait_for(std::chrono::milliseconds(connect_timeout_ms),
                             [](auto& c) { return c.up_ || c.ended_; }) ||
            !client.read([](auto& c) { return c.up_; })) {
            complain("the association did not come up within %u ms", connect_timeout_ms);
            socket.reset();
            stack->finish();
            return exit_failure;
        }
        const AssociationId association = client.read([](auto& c) { return c.association_; });
        const auto local = socket->local_addresses(association);
        const auto peer = socket->peer_addresses(association);
        note("association %u: local %s port %u, peer %s port %u", association,
             join_addresses(local).c_str(), local.empty() ? 0 : local.front().port(),
             join_addresses(peer).c_str(), peer.empty() ? 0 : peer.front().port());

        // Sends one message after the path steps due before it; false ends the sending.
        const auto send_next = [&](const std::string& message) {
            if (!steps.before_message(*socket, association, sent)) {
                interrupted = true;
                return false;
            }
            if (client.read([](auto& c) { return c.ended_; })) {
                complain("the association ended early");
                return false;
            }
            client.record_sent(association, sent + 1, message);
            if (!socket->send(association, message, error)) {
                complain("%s", error.c_str());
                return false;
            }
            ++sent;
            if (verbose) {
                note("sent %s", message.size() > 64 ? "a long message" : message.c_str());
            }
            return true;
        };

        if (size != 0) {
            if (send_next(std::string(size, 'x'))) {
                note("sent %zu bytes", size);
            }
        } else if (count != 0) {
            for (uint64_t index = 1; index <= count; ++index) {
                std::string message = "message ";
                message += std::to_string(index);
                if (!send_next(message)) {
                    break;
                }
                if (index < count && !sleep_unless_terminated(interval_ms)) {
                    interrupted = true;
                    break;
                }
            }
        } else {
            // stdin: one message per line. poll() keeps SIGINT/SIGTERM noticed while idle.
            std::string pending;
            bool input_open = true;
            while (input_open) {
                if (termination_requested()) {
                    interrupted = true;
                    break;
                }
                if (client.read([](auto& c) { return c.ended_; })) {
                    complain("the association ended");
                    break;
                }
                struct pollfd input {
                    STDIN_FILENO, POLLIN, 0
                };
                if (::poll(&input, 1, 100) <= 0) {
                    continue;
                }
                char buffer[4096];
                const ssize_t length = ::read(STDIN_FILENO, buffer, sizeof buffer);
                if (length <= 0) {
                    input_open = false;
                } else {
                    pending.append(buffer, static_cast<std::size_t>(length));
                }
                std::size_t newline;
                while ((newline = pending.find('\n')) != std::string::npos ||
                       (!input_open && !pending.empty())) {
                    const std::size_t end = newline == std::string::npos ? pending.size() : newline;
                    const std::string line = pending.substr(0, end);
                    pending.erase(0, std::min(pending.size(), end + 1));
                    if (line.empty()) {
                        continue;  // SCTP has no empty messages
                    }
                    if (!send_next(line)) {
                        input_open = false;
                        break;
                    }
                }
            }
        }
        client.wait_for(std::chrono::milliseconds(echo_wait_ms),
                        [&](auto& c) { return c.echoes_ >= sent || c.ended_; });
        if (abort_at_end) {
            // The association ends with ABORT (SO_LINGER 0): a clean end by request.
            note("aborting");
            clean_end = !client.read([](auto& c) { return c.ended_; });
            socket->abort();
        } else {
            if (!client.read([](auto& c) { return c.ended_; })) {
                note("shutting down");
                socket->shutdown();
                client.wait_for(std::chrono::seconds(10), [](auto& c) { return c.ended_; });
            }
            clean_end = client.read([](auto& c) { return c.ended_ && !c.failed_; });
        }
    }
    stack->finish();
    event_log.flush();

    const uint64_t echoed =
        client.read([size](auto& c) { return size == 0 ? c.echoes_ : c.matching_echoes_; });
    // With --count every one of the N messages must come back, also when the client was
    // interrupted before sending them all.
    const uint64_t expected = count != 0 ? count : sent;
    note("%llu sent, %llu echoed%s", static_cast<unsigned long long>(sent),
         static_cast<unsigned long long>(echoed), interrupted ? ", interrupted" : "");
    if (echoed < expected) {
        complain("only %llu of %llu messages were echoed", static_cast<unsigned long long>(echoed),
                 static_cast<unsigned long long>(expected));
        return exit_failure;
    }
    if (!clean_end) {
        complain(abort_at_end ? "the association ended before the ABORT"
                              : "the association did not end with SHUTDOWN COMPLETE");
        return exit_failure;
    }
    if (steps.failed) {
        complain("a requested primary or local address change failed");
        return exit_failure;
    }
    return exit_success;
}

}  // namespace sctpt
