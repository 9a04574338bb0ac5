// sctpt ctraffic: N associations sending paced messages to an echo server; JSON results.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cli.hpp"
#include "commands.hpp"
#include "event_log.hpp"
#include "histogram.hpp"
#include "log.hpp"

namespace sctpt {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

double milliseconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// Nearest-rank percentile of sorted samples.
double percentile(const std::vector<double>& sorted, double percent) {
    if (sorted.empty()) {
        return 0;
    }
    const auto rank = static_cast<std::size_t>(std::ceil(percent / 100.0 * sorted.size()));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

double rounded(double value) { return std::round(value * 1000.0) / 1000.0; }

// SIGUSR1 means "finish now, as if --duration had elapsed": a test stops the traffic when it has
// seen what it waits for, instead of guessing a duration that outlasts it on a slow machine.
// Blocked like SIGINT/SIGTERM (cli.hpp) and taken only by wait_for_signal.
constexpr int stop_signal = SIGUSR1;

enum class Wake { elapsed, terminated, stop };

sigset_t wake_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, stop_signal);
    return signals;
}

void block_stop_signal() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, stop_signal);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

// Sleeps up to `milliseconds` or until SIGINT/SIGTERM (terminated) or SIGUSR1 (stop) arrives.
Wake wait_for_signal(int64_t milliseconds) {
    const sigset_t signals = wake_signals();
    milliseconds = std::max<int64_t>(milliseconds, 0);
    const struct timespec timeout {
        static_cast<time_t>(milliseconds / 1000), static_cast<long>(milliseconds % 1000) * 1'000'000
    };
    while (true) {
        const int result = sigtimedwait(&signals, nullptr, &timeout);
        if (result == stop_signal) {
            return Wake::stop;
        }
        if (result > 0) {
            return Wake::terminated;
        }
        if (result < 0 && errno == EINTR) {
            continue;  // timeout is not updated: a rare longer sleep is harmless here
        }
        return Wake::elapsed;
    }
}

enum class State { connecting, up, closing, closed, lost, failed };

const char* state_name(State state) {
    switch (state) {
        case State::connecting: return "connecting";
        case State::up: return "up";
        case State::closing: return "closing";
        case State::closed: return "closed";
        case State::lost: return "lost";
        case State::failed: return "failed";
    }
    return "?";
}

// One association of the run and everything measured on it. Events arrive on a stack thread;
// the main thread sends and reads, all under `mutex`.
class TrafficAssociation final : public SocketEvents {
public:
    TrafficAssociation(std::size_t index, Clock::time_point start) : index_(index), start_(start) {}

    // The message: "ctraffic CLIENT SEQUENCE" padded to `size` bytes. The echo is "NAME: " + it.
    std::string next_message(std::size_t size) {
        const std::lock_guard lock(mutex);
        std::string message =
            "ctraffic " + std::to_string(index_) + " " + std::to_string(sent_at.size()) + " ";
        if (message.size() < size) {
            message.append(size - message.size(), '.');
        }
        return message;
    }
    void record_sent() {
        if (histogram != nullptr) {
            histogram->record_sent();
        }
        const std::lock_guard lock(mutex);
        event("sent", {{"seq", sent_at.size()}});
        sent_at.push_back(Clock::now());
        echoed_flags.push_back(false);
    }

    // --events: one line with the client index and association id first; under `mutex`.
    void event(std::string_view kind, std::initializer_list<std::pair<const char*, Json>> fields) {
        if (event_log == nullptr) {
            return;
        }
        Json line{{"client", index_}, {"assoc", association}};
        for (const auto& [key, value] : fields) {
            line[key] = value;
        }
        event_log->write(kind, line);
    }

    void on_message(AssociationId, std::string_view message, const Address& from) override {
        const auto now = Clock::now();
        const std::lock_guard lock(mutex);
        const auto separator = message.find(": ");
        if (separator == std::string_view::npos) {
            ++unexpected;
            return;
        }
        const std::string server(message.substr(0, separator));
        std::string_view body = message.substr(separator + 2);
        std::size_t client = 0;
        std::size_t sequence = 0;
        if (std::sscanf(std::string(body.substr(0, 64)).c_str(), "ctraffic %zu %zu", &client,
                        &sequence) != 2 ||
            client != index_ || sequence >= sent_at.size() || echoed_flags[sequence]) {
            ++unexpected;
            event("unexpected", {{"path", from.text()}});
            return;
        }
        echoed_flags[sequence] = true;
        ++echoed;
        rtt_ms.push_back(milliseconds_between(sent_at[sequence], now));
        event("echo", {{"seq", sequence},
                       {"rtt_ms", std::round(rtt_ms.back() * 1000.0) / 1000.0},
                       {"server", server},
                       {"path", from.text()}});
        if (histogram != nullptr) {
            histogram->record_rtt(static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(now - sent_at[sequence]).count()));
        }
        ++servers[server];
        ++echo_sources[from.text()];
        changed.notify_all();
    }

    void on_association_change(AssociationId id, AssociationChange change,
                               unsigned error) override {
        const std::lock_guard lock(mutex);
        events.push_back(Json{{"t", rounded(seconds_now())},
                              {"event", association_change_name(change)},
                              {"error", error}});
        if (change == AssociationChange::up) {
            association = id;
        }
        event("assoc", {{"change", association_change_name(change)}, {"error", error}});
        switch (change) {
            case AssociationChange::up:
                association = id;
                state = State::up;
                break;
            case AssociationChange::restart: ++restarts; break;
            case AssociationChange::shutdown_complete: state = State::closed; break;
            case AssociationChange::lost:
                state = state == State::connecting ? State::failed : State::lost;
                break;
            case AssociationChange::cannot_start: state = State::failed; break;
            case AssociationChange::other: break;
        }
        changed.notify_all();
    }

    void on_peer_address_change(AssociationId, const Address& address, std::string_view state_text,
                                unsigned error) override {
        const std::lock_guard lock(mutex);
        event("peer_addr",
              {{"address", address.text()}, {"state", std::string(state_text)}, {"error", error}});
        if (state_text == "UNREACHABLE") {
            ++failovers;  // traffic to this peer address moves to another path
            event("failover", {{"from", address.text()}});
        }
        path_events.push_back(Json{{"t", rounded(seconds_now())},
                                   {"address", address.text()},
                                   {"state", std::string(state_text)},
                                   {"error", error}});
    }

    void on_send_failed(AssociationId, unsigned error) override {
        const std::lock_guard lock(mutex);
        ++send_failures;
        event("send_failed", {{"error", error}});
        errors.push_back("send failed (error " + std::to_string(error) + ")");
    }

    void on_end_of_stream() override {
        const std::lock_guard lock(mutex);
        if (state == State::up || state == State::closing) {
            state = State::closed;
        }
        changed.notify_all();
    }

    // Messages without an echo after `echo_wait` count as lost; all of them once `final`.
    Json to_json(Clock::time_point now, std::chrono::milliseconds echo_wait, bool final) {
        const std::lock_guard lock(mutex);
        uint64_t lost = 0;
        for (std::size_t i = 0; i < sent_at.size(); ++i) {
            if (!echoed_flags[i] && (final || now - sent_at[i] > echo_wait)) {
                ++lost;
            }
        }
        auto sorted = rtt_ms;
        std::sort(sorted.begin(), sorted.end());
        Json servers_json = Json::object();
        for (const auto& [name, count] : servers) {
            servers_json[name] = count;
        }
        Json sources_json = Json::object();
        for (const auto& [address, count] : echo_sources) {
            sources_json[address] = count;
        }
        Json result{
            {"client", index_},
            {"state", state_name(state)},
            {"association_id", association},
            {"local", {{"addresses", address_texts(local_addresses)}, {"port", local_port}}},
            {"remote", {{"addresses", address_texts(remote_addresses)}, {"port", remote_port}}},
            {"sent", sent_at.size()},
            {"echoed", echoed},
            {"lost", lost},
            {"unexpected", unexpected},
            {"rtt_ms",
             {{"p50", rounded(percentile(sorted, 50))},
              {"p99", rounded(percentile(sorted, 99))},
              {"max", rounded(sorted.empty() ? 0 : sorted.back())}}},
            {"servers", servers_json},
            {"echo_sources", sources_json},
            {"failovers", failovers},
            {"path_events", path_events},
            {"association_events", events},
            {"restarts", restarts},
            {"errors", errors},
        };
        return result;
    }

    double seconds_now() const {
        return std::chrono::duration<double>(Clock::now() - start_).count();
    }

    std::mutex mutex;
    std::condition_variable changed;
    State state = State::connecting;
    AssociationId association = 0;
    std::vector<Address> local_addresses;
    std::vector<Address> remote_addresses;
    uint16_t local_port = 0;
    uint16_t remote_port = 0;
    std::vector<Clock::time_point> sent_at;
    std::vector<bool> echoed_flags;
    uint64_t echoed = 0;
    uint64_t unexpected = 0;
    uint64_t failovers = 0;
    uint64_t restarts = 0;
    uint64_t send_failures = 0;
    std::vector<double> rtt_ms;
    std::map<std::string, uint64_t> servers;
    std::map<std::string, uint64_t> echo_sources;
    Json path_events = Json::array();
    Json events = Json::array();
    std::vector<std::string> errors;
    std::unique_ptr<Socket> socket;
    SharedHistogram* histogram = nullptr;  // --shm; shared by every association
    EventLog* event_log = nullptr;         // --events; shared by every association

private:
    std::size_t index_;
    Clock::time_point start_;
};

struct Settings {
    std::size_t clients = 1;
    double rate = 10;
    double duration_s = 10;
    std::size_t size = 0;
    uint32_t echo_wait_ms = 2000;
    uint32_t connect_timeout_ms = 10000;
    std::string stats_file;
    std::string stack_name;
};

Json report(std::vector<std::unique_ptr<TrafficAssociation>>& associations,
            const Settings& settings, Clock::time_point start, bool final, bool interrupted,
            bool stopped) {
    const auto now = Clock::now();
    Json list = Json::array();
    uint64_t sent = 0, echoed = 0, lost = 0, failovers = 0;
    std::size_t came_up = 0;
    std::map<std::string, uint64_t> servers;
    for (auto& association : associations) {
        auto entry =
            association->to_json(now, std::chrono::milliseconds(settings.echo_wait_ms), final);
        sent += entry["sent"].get<uint64_t>();
        echoed += entry["echoed"].get<uint64_t>();
        lost += entry["lost"].get<uint64_t>();
        failovers += entry["failovers"].get<uint64_t>();
        const auto state = entry["state"].get<std::string>();
        if (state != "failed" && state != "connecting") {
            ++came_up;
        }
        for (const auto& [name, count] : entry["servers"].items()) {
            servers[name] += count.get<uint64_t>();
        }
        list.push_back(std::move(entry));
    }
    Json servers_json = Json::object();
    for (const auto& [name, count] : servers) {
        servers_json[name] = count;
    }
    return Json{
        {"command", "ctraffic"},
        {"stack", settings.stack_name},
        {"pid", static_cast<int64_t>(getpid())},
        {"running", !final},
        {"interrupted", interrupted},
        {"stopped", stopped},
        {"elapsed_s", rounded(std::chrono::duration<double>(now - start).count())},
        {"clients", settings.clients},
        {"rate", settings.rate},
        {"duration_s", settings.duration_s},
        {"associations", list},
        {"totals",
         {{"associations", associations.size()},
          {"came_up", came_up},
          {"sent", sent},
          {"echoed", echoed},
          {"lost", lost},
          {"failovers", failovers},
          {"servers", servers_json}}},
    };
}

void write_stats(const std::string& path, const Json& snapshot) {
    const std::string temporary = path + ".tmp";
    FILE* file = std::fopen(temporary.c_str(), "w");
    if (file == nullptr) {
        return;
    }
    const std::string text = snapshot.dump() + "\n";
    const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
    if (std::fclose(file) == 0 && written) {
        std::rename(temporary.c_str(), path.c_str());  // readers see whole snapshots only
    } else {
        std::remove(temporary.c_str());
    }
}

// "L1,L2;L3,L4" -> sets of addresses.
std::optional<std::vector<std::vector<Address>>> parse_address_sets(std::string_view text,
                                                                    uint16_t port,
                                                                    std::string& error) {
    std::vector<std::vector<Address>> sets;
    while (true) {
        const auto semicolon = text.find(';');
        auto set = parse_address_list(text.substr(0, semicolon), port, error);
        if (!set) {
            return std::nullopt;
        }
        sets.push_back(std::move(*set));
        if (semicolon == std::string_view::npos) {
            return sets;
        }
        text = text.substr(semicolon + 1);
    }
}

}  // namespace

std::string default_stats_file(long pid) {
    return std::string(stats_file_prefix) + std::to_string(pid) + stats_file_suffix;
}
int run_ctraffic(int argc, char** argv) {
    StackChoice choice;
    Settings settings;
    std::string remotes_text;
    std::string locals_text;
    uint16_t port = 6000;
    uint16_t fixed_local_port = 0;
    std::string primary_text;
    uint64_t primary_after = 0;
    OptionTable table("ctraffic", "N associations sending R messages/s for D seconds (or until SIGUSR1: finish as if D had elapsed); prints a JSON report.");
    table.text("--addr", remotes_text, "R1[,R2...]");
    table.text("--laddr", locals_text, "SET[;SET...]");
    table.number("--port", port, "P");
    table.number("--lport-fixed", fixed_local_port, "Q");
    table.number("--clients", settings.clients);
    table.decimal("--rate", settings.rate, "R");
    table.decimal("--duration", settings.duration_s, "D");
    table.number("--size", settings.size, "BYTES");
    table.text("--primary", primary_text, "R");
    table.number("--primary-after", primary_after, "K");
    table.number("--echo-wait", settings.echo_wait_ms, "MS");
    table.number("--connect-timeout", settings.connect_timeout_ms, "MS");
    table.text("--stats-file", settings.stats_file, "FILE");
    std::string shm_name;
    table.text("--shm", shm_name, "NAME");
    std::string events_path;
    table.text("--events", events_path, "FILE");
    int level = 6;
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
    if (remotes_text.empty() || locals_text.empty()) {
        return usage_error("ctraffic needs --addr R1[,R2...] and --laddr L1[,L2...][;L3...]");
    }
    if (port == 0) {
        return usage_error("--port must not be 0");
    }
    if (settings.clients == 0 || settings.clients > 10000) {
        return usage_error("--clients must be 1..10000");
    }
    if (settings.rate <= 0 || settings.rate > 100000) {
        return usage_error("--rate must be above 0 and at most 100000 messages/s");
    }
    if (settings.duration_s > 86400) {
        return usage_error("--duration: at most 86400 s");
    }
    if (settings.size > 65000) {
        return usage_error("--size: at most 65000 bytes");
    }
    const auto remotes = parse_address_list(remotes_text, port, error);
    if (!remotes) {
        return usage_error("--addr: " + error);
    }
    const auto local_sets = parse_address_sets(locals_text, fixed_local_port, error);
    if (!local_sets) {
        return usage_error("--laddr: " + error);
    }
    if (fixed_local_port != 0) {
        // RFC 9260 §1.3: two endpoints have at most one association. With one local port,
        // each client needs its own endpoint, i.e. its own local addresses.
        if (local_sets->size() < settings.clients) {
            return usage_error("--lport-fixed: " + std::to_string(settings.clients) +
                               " clients need as many local address sets (--laddr 'A,B;C,D'), "
                               "each with its own addresses; got " +
                               std::to_string(local_sets->size()));
        }
        std::set<std::string> seen;
        for (std::size_t i = 0; i < settings.clients; ++i) {
            for (const auto& address : (*local_sets)[i]) {
                if (!seen.insert(address.text()).second) {
                    return usage_error("--lport-fixed: local address " + address.text() +
                                       " is in two sets; with a fixed port the sets must not "
                                       "share addresses (one association per pair of endpoints)");
                }
            }
        }
    }
    std::optional<Address> primary;
    if (!primary_text.empty()) {
        primary = parse_address(primary_text, port);
        if (!primary) {
            return usage_error("--primary: '" + primary_text + "' is not an address");
        }
    }
    // The RTT histogram in shared memory (ovl/sctp): the object NAME as 'sctpt stats init' made it
    // (its buckets and interval kept, counters zeroed), else a new one with the defaults. Without
    // --shm: "sctpstats" if it exists, as ovl/sctp's README runs 'stats init' then 'ctraffic'.
    std::unique_ptr<SharedHistogram> histogram;
    if (!shm_name.empty() || SharedHistogram::exists(default_histogram_name)) {
        const std::string name = shm_name.empty() ? default_histogram_name : shm_name;
        histogram = SharedHistogram::exists(name)
                        ? SharedHistogram::open(name, true, error)
                        : SharedHistogram::create(name, default_histogram_buckets,
                                                  default_histogram_interval_us, error);
        if (!histogram && !shm_name.empty()) {
            complain("%s", error.c_str());
            return exit_failure;
        }
        if (histogram) {
            histogram->clear(histogram->interval_us());
        } else {
            complain("%s (ignored: no --shm given)", error.c_str());
        }
    }
    const bool default_stats_path = settings.stats_file.empty();
    if (default_stats_path) {
        settings.stats_file = default_stats_file(static_cast<long>(getpid()));
    }

    block_termination_signals();
    block_stop_signal();  // before the stack's threads start: they inherit the mask
    auto stack = open_stack(choice, error);
    if (!stack) {
        complain("%s", error.c_str());
        return exit_failure;
    }
    settings.stack_name = std::string(stack->name());
    const auto start = Clock::now();
    EventLog event_log;
    if (!events_path.empty() &&
        !event_log.open(events_path, start,
                        Json{{"command", "ctraffic"},
                             {"stack", settings.stack_name},
                             {"clients", settings.clients},
                             {"rate", settings.rate},
                             {"remote", address_texts(*remotes)},
                             {"port", port}},
                        error)) {
        complain("%s", error.c_str());
        return exit_failure;
    }
    std::vector<std::unique_ptr<TrafficAssociation>> associations;
    for (std::size_t i = 0; i < settings.clients; ++i) {
        auto association = std::make_unique<TrafficAssociation>(i, start);
        association->histogram = histogram.get();
        association->event_log = &event_log;
        const auto& locals = (*local_sets)[i % local_sets->size()];
        association->remote_addresses = *remotes;
        association->remote_port = port;
        association->local_addresses = locals;
        association->local_port = fixed_local_port;
        association->socket = stack->connect(locals, *remotes, *association, error);
        if (!association->socket) {
            complain("client %zu: %s", i, error.c_str());
            association->state = State::failed;
            association->errors.push_back(error);
        }
        associations.push_back(std::move(association));
    }
    note("ctraffic: %zu associations to %s port %u (%s stack)", settings.clients,
         join_addresses(*remotes).c_str(), port, settings.stack_name.c_str());

    // Wait for every association to come up (or fail). A stop (SIGUSR1) stays pending until the
    // traffic loop takes it: the run then ends as if its duration had elapsed.
    bool interrupted = false;
    bool stopped = false;
    const auto connect_deadline = start + std::chrono::milliseconds(settings.connect_timeout_ms);
    for (auto& association : associations) {
        std::unique_lock lock(association->mutex);
        while (association->state == State::connecting && Clock::now() < connect_deadline) {
            association->changed.wait_for(lock, std::chrono::milliseconds(100));
            lock.unlock();
            interrupted = interrupted || termination_requested();
            lock.lock();
            if (interrupted) {
                break;
            }
        }
        if (association->state == State::connecting) {
            association->state = State::failed;
            association->errors.push_back("did not come up within " +
                                          std::to_string(settings.connect_timeout_ms) + " ms");
        }
    }
    // The addresses and ports the stack really uses.
    for (auto& association : associations) {
        AssociationId id = 0;
        {
            const std::lock_guard lock(association->mutex);
            if (association->state != State::up) {
                continue;
            }
            id = association->association;
        }
        auto local = association->socket->local_addresses(id);
        auto remote = association->socket->peer_addresses(id);
        const std::lock_guard lock(association->mutex);
        if (!local.empty()) {
            association->local_port = local.front().port();
            association->local_addresses = std::move(local);
        }
        if (!remote.empty()) {
            association->remote_port = remote.front().port();
            association->remote_addresses = std::move(remote);
        }
    }

    // Paced sending: association i sends message k at traffic_start + (k + i/N) / rate.
    const auto traffic_start = Clock::now();
    const auto traffic_end =
        traffic_start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(settings.duration_s));
    const double interval_s = 1.0 / settings.rate;
    std::vector<uint64_t> next_message(associations.size(), 0);
    auto due_time = [&](std::size_t i) {
        const double offset = (static_cast<double>(next_message[i]) +
                               static_cast<double>(i) / static_cast<double>(associations.size())) *
                              interval_s;
        return traffic_start +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(offset));
    };
    auto next_stats = traffic_start;
    while (!interrupted && !stopped) {
        const auto now = Clock::now();
        if (now >= next_stats) {
            write_stats(settings.stats_file, report(associations, settings, start, false, false, false));
            event_log.flush();  // a reader (tail -f) sees the run at most a second late
            next_stats = now + std::chrono::seconds(1);
        }
        auto earliest = traffic_end;
        for (std::size_t i = 0; i < associations.size(); ++i) {
            auto& association = *associations[i];
            State state;
            AssociationId id;
            {
                const std::lock_guard lock(association.mutex);
                state = association.state;
                id = association.association;
            }
            if (state != State::up) {
                continue;
            }
            auto due = due_time(i);
            while (due <= now && due < traffic_end) {
                if (primary && next_message[i] == primary_after) {
                    if (association.socket->set_primary(id, *primary, error)) {
                        note("client %zu: primary path is now %s", i, primary->text().c_str());
                        const std::lock_guard lock(association.mutex);
                        association.events.push_back(Json{{"t", rounded(association.seconds_now())},
                                                          {"event", "PRIMARY_SET"},
                                                          {"address", primary->text()}});
                        association.event("primary_set", {{"address", primary->text()}});
                    } else {
                        const std::lock_guard lock(association.mutex);
                        association.errors.push_back(error);
                    }
                }
                const auto message = association.next_message(settings.size);
                association.record_sent();
                if (!association.socket->send(id, message, error)) {
                    const std::lock_guard lock(association.mutex);
                    association.errors.push_back(error);
                }
                ++next_message[i];
                due = due_time(i);
            }
            earliest = std::min(earliest, due);
        }
        if (now >= traffic_end) {
            break;
        }
        earliest = std::min(earliest, next_stats);
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(earliest - now);
        switch (wait_for_signal(std::max<int64_t>(wait.count(), 1))) {
            case Wake::elapsed: break;
            case Wake::terminated: interrupted = true; break;
            case Wake::stop:
                stopped = true;
                event_log.flush();
                note("ctraffic: stop requested (SIGUSR1): no new messages, finishing");
                break;
        }
    }

    // Late echoes, then a graceful end.
    const auto echo_deadline = Clock::now() + std::chrono::milliseconds(settings.echo_wait_ms);
    for (auto& association : associations) {
        std::unique_lock lock(association->mutex);
        association->changed.wait_until(lock, echo_deadline, [&] {
            return association->echoed >= association->sent_at.size() ||
                   association->state != State::up;
        });
    }
    for (auto& association : associations) {
        const std::lock_guard lock(association->mutex);
        if (association->state == State::up) {
            association->state = State::closing;
            association->socket->shutdown();
        }
    }
    const auto close_deadline = Clock::now() + std::chrono::seconds(5);
    for (auto& association : associations) {
        std::unique_lock lock(association->mutex);
        association->changed.wait_until(lock, close_deadline,
                                        [&] { return association->state != State::closing; });
    }
    for (auto& association : associations) {
        association->socket.reset();
    }
    stack->finish();
    event_log.flush();

    const Json result = report(associations, settings, start, true, interrupted, stopped);
    print_line(result.dump(2));
    if (default_stats_path) {
        std::remove(settings.stats_file.c_str());
    } else {
        write_stats(settings.stats_file, result);  // a file the user named keeps the result
    }

    const auto& totals = result["totals"];
    bool success = !interrupted && totals["came_up"] == associations.size() &&
                   totals["lost"] == 0 && totals["echoed"] == totals["sent"];
    for (const auto& association : result["associations"]) {
        if (association["state"] != "closed") {
            success = false;
        }
    }
    if (!success) {
        complain("ctraffic%s: %s of %s messages echoed, %s lost, %s of %zu associations came up",
                 interrupted ? " (interrupted)" : "", totals["echoed"].dump().c_str(),
                 totals["sent"].dump().c_str(), totals["lost"].dump().c_str(),
                 totals["came_up"].dump().c_str(), associations.size());
    }
    return success ? exit_success : exit_failure;
}

}  // namespace sctpt
