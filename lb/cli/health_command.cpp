// `sctplb health`: probes every target with an SCTP handshake cut short and
// takes targets out (down or drain) after `fall` failures, back in after
// `rise` successes. Its own process, so a slow probe never stalls the data path.
#include "cli/commands.hpp"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <map>
#include <vector>

#include "io/clock.hpp"
#include "cli/control_common.hpp"
#include "io/health_prober.hpp"
#include "io/log.hpp"
#include "io/shared_state.hpp"
#include "io/target_control.hpp"

namespace sctplb::cli {

namespace {

constexpr std::string_view kCommand = "health";

constexpr OptionSpec kSpecs[] = {
    kShmSpec,
    {"target", "FWMARK=ADDR", "probe target FWMARK at ADDR (address or host name; repeat, or a,b,...)", true},
    {"port", "P", "SCTP port the servers serve (default 36412)"},
    {"interval-ms", "MS", "time between the starts of two probe rounds (default 2000)"},
    {"timeout-ms", "MS", "a probe without a reply by then failed (default 1000; below the interval)"},
    {"rise", "N", "consecutive successes that bring a target back (default 2)"},
    {"fall", "N", "consecutive failures that take a target out (default 3)"},
    {"on-fail", "down|drain", "what a failed target becomes (default down)"},
    {"once", "", "one probe round: print each target's result, exit 0 when all succeeded"},
};
constexpr std::string_view kUsage =
    "sctplb health [--shm=NAME] --target FWMARK=ADDR [--target ...] [--port P]\n"
    "                     [--interval-ms MS] [--timeout-ms MS] [--rise N] [--fall N]\n"
    "                     [--on-fail down|drain] [--once]";
constexpr std::string_view kDescription =
    "Probes each target with SCTP over raw IP (no kernel SCTP needed): an INIT to ADDR and the\n"
    "port, sent with SO_MARK FWMARK so the LB's fwmark rules route it to that server; an INIT ACK\n"
    "with our tag is a success (an ABORT then ends the handshake), an ABORT or no reply within the\n"
    "timeout a failure. After --fall failures an active target is set down (its associations are\n"
    "forgotten, as 'sctplb down') or draining (--on-fail drain: live associations stay); after\n"
    "--rise successes a target health took out is activated again. Targets an operator changed\n"
    "are left alone. Transitions are logged and counted; 'sctplb show' lists the health. One\n"
    "health process per shared memory; stops on SIGTERM or SIGINT. See docs/operations.md.";

struct Settings {
    std::vector<ProbeDestination> destinations;
    std::vector<std::string> names;  // ADDR as given
    std::uint16_t port = 36412;
    Nanos interval = std::chrono::milliseconds(2000);
    Nanos timeout = std::chrono::milliseconds(1000);
    HealthThresholds thresholds{};
    TargetState on_fail = TargetState::Down;
};

std::atomic<bool> stop_requested{false};
void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

bool parse_number_option(const Options& options, std::string_view name, std::uint64_t min, std::uint64_t max,
                         std::uint64_t& out, std::string& error) {
    const auto text = options.value(name);
    if (!text) return true;
    const auto value = parse_unsigned(*text, min, max);
    if (!value) {
        error = "--";
        error += name;
        error += ": '" + *text + "' is not a number in " + std::to_string(min) + ".." + std::to_string(max);
        return false;
    }
    out = *value;
    return true;
}

// Usage errors (exit 2) in `error`; a probe address that does not resolve is
// one too (nothing was started).
std::optional<Settings> parse_settings(const Options& options, std::string& error) {
    Settings s;
    for (const std::string& text : options.values("target")) {
        const std::size_t equals = text.find('=');
        const auto fwmark = equals == std::string::npos ? std::nullopt : parse_unsigned(text.substr(0, equals), 1, 0xffffffffu);
        if (!fwmark || equals + 1 >= text.size()) {
            error = "--target: '" + text + "' is not FWMARK=ADDR (fwmark 1..4294967295)";
            return std::nullopt;
        }
        for (const ProbeDestination& d : s.destinations)
            if (d.fwmark == *fwmark) {
                error = "--target: fwmark " + std::to_string(*fwmark) + " given twice";
                return std::nullopt;
            }
        const std::string name = text.substr(equals + 1);
        const auto address = resolve_probe_address(name, error);
        if (!address) {
            error = "--target " + std::to_string(*fwmark) + ": " + error;
            return std::nullopt;
        }
        s.destinations.push_back({static_cast<std::uint32_t>(*fwmark), *address});
        s.names.push_back(name);
    }
    if (s.destinations.empty()) {
        error = "at least one --target FWMARK=ADDR is required";
        return std::nullopt;
    }
    std::uint64_t port = s.port, interval = 2000, timeout = 1000, rise = s.thresholds.rise, fall = s.thresholds.fall;
    if (!parse_number_option(options, "port", 1, 65535, port, error) ||
        !parse_number_option(options, "interval-ms", 10, 3600000, interval, error) ||
        !parse_number_option(options, "timeout-ms", 1, 3600000, timeout, error) ||
        !parse_number_option(options, "rise", 1, 1000, rise, error) ||
        !parse_number_option(options, "fall", 1, 1000, fall, error))
        return std::nullopt;
    if (timeout >= interval && !options.has("once")) {
        error = "--timeout-ms (" + std::to_string(timeout) + ") must be below --interval-ms (" + std::to_string(interval) + ")";
        return std::nullopt;
    }
    s.port = static_cast<std::uint16_t>(port);
    s.interval = std::chrono::milliseconds(interval);
    s.timeout = std::chrono::milliseconds(timeout);
    s.thresholds = {static_cast<std::uint32_t>(rise), static_cast<std::uint32_t>(fall)};
    if (const auto on_fail = options.value("on-fail")) {
        if (*on_fail == "drain")
            s.on_fail = TargetState::Draining;
        else if (*on_fail != "down") {
            error = "--on-fail: '" + *on_fail + "' is neither down nor drain";
            return std::nullopt;
        }
    }
    if (!options.positional().empty()) {
        error = "unexpected argument '" + options.positional().front() + "'";
        return std::nullopt;
    }
    return s;
}

std::int64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int run_once(const Settings& s, HealthProber& prober) {
    const auto outcomes = prober.probe_all(s.destinations, s.port, s.timeout);
    std::string out;
    bool all_ok = true;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        all_ok = all_ok && outcomes[i].result == ProbeResult::Ok;
        out += "fwmark " + std::to_string(s.destinations[i].fwmark) + " " + s.names[i] + ": ";
        out += probe_result_name(outcomes[i].result);
        if (outcomes[i].result == ProbeResult::Ok || outcomes[i].result == ProbeResult::Abort)
            out += " in " + std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(outcomes[i].rtt).count()) + " us";
        if (!outcomes[i].detail.empty()) out += " (" + outcomes[i].detail + ")";
        out += "\n";
    }
    print(out);
    return all_ok ? 0 : kExitFailure;
}

// What a transition does to the target. Only Active → on_fail and back, and
// only what health itself did is undone: an operator's drain or down stays.
void act(SharedState& state, const Settings& s, std::size_t index, HealthState now_state, const HealthCounter& counter) {
    const SharedHeader& h = state.header();
    HealthEntry& entry = state.header().health.entries[index];
    const std::uint32_t fwmark = s.destinations[index].fwmark;
    const std::string result(probe_result_name(counter.last_result()));
    std::string error;
    if (now_state == HealthState::Down) {
        entry.went_down.fetch_add(1, std::memory_order_relaxed);
        const std::array<std::uint32_t, 1> marks{fwmark};
        const auto change = change_target_state(state, marks, s.on_fail, kSlotsPerLock,
                                                [](TargetState t) { return t == TargetState::Active; }, error);
        if (change) {
            entry.held.store(1, std::memory_order_relaxed);
            log_line(h, kLogWarning, "health: fwmark %" PRIu32 " down after %" PRIu32 " failed probes (last: %s): target %s, %zu associations forgotten, config digest %s",
                     fwmark, counter.failures(), result.c_str(), std::string(target_state_name(s.on_fail)).c_str(),
                     change->forgotten, change->digest.c_str());
        } else {
            log_line(h, kLogWarning, "health: fwmark %" PRIu32 " down after %" PRIu32 " failed probes (last: %s): target %s",
                     fwmark, counter.failures(), result.c_str(), error.empty() ? "not active, left as it is" : error.c_str());
        }
        return;
    }
    entry.went_up.fetch_add(1, std::memory_order_relaxed);
    if (entry.held.load(std::memory_order_relaxed) == 0) {
        log_line(h, kLogNotice, "health: fwmark %" PRIu32 " up after %" PRIu32 " successful probes", fwmark, counter.successes());
        return;
    }
    const std::array<std::uint32_t, 1> marks{fwmark};
    const TargetState held_state = s.on_fail;
    const auto change = change_target_state(state, marks, TargetState::Active, kSlotsPerLock,
                                            [held_state](TargetState t) { return t == held_state; }, error);
    entry.held.store(0, std::memory_order_relaxed);
    if (change)
        log_line(h, kLogNotice, "health: fwmark %" PRIu32 " up after %" PRIu32 " successful probes: target active, config digest %s",
                 fwmark, counter.successes(), change->digest.c_str());
    else
        log_line(h, kLogNotice, "health: fwmark %" PRIu32 " up after %" PRIu32 " successful probes: target %s", fwmark,
                 counter.successes(), error.empty() ? "changed by an operator meanwhile, left as it is" : error.c_str());
}

// Entries 0..n-1 for our targets; a target health held out before (a
// previous run) stays held, so this run can bring it back.
void publish_entries(SharedHealth& health, const Settings& s) {
    std::map<std::uint32_t, std::uint8_t> held;
    const std::uint32_t old_count = std::min(health.entry_count.load(std::memory_order_acquire), kMaxTargetSlots);
    for (std::uint32_t i = 0; i < old_count; ++i)
        held[health.entries[i].fwmark.load(std::memory_order_relaxed)] = health.entries[i].held.load(std::memory_order_relaxed);
    health.entry_count.store(0, std::memory_order_release);
    for (std::size_t i = 0; i < s.destinations.size(); ++i) {
        HealthEntry& e = health.entries[i];
        const std::uint32_t fwmark = s.destinations[i].fwmark;
        e.fwmark.store(fwmark, std::memory_order_relaxed);
        e.state.store(HealthState::Unknown, std::memory_order_relaxed);
        e.last_result.store(ProbeResult::None, std::memory_order_relaxed);
        e.held.store(held.count(fwmark) ? held[fwmark] : 0, std::memory_order_relaxed);
        e.last_probe_unix_ns.store(0, std::memory_order_relaxed);
        e.last_rtt_ns.store(0, std::memory_order_relaxed);
        for (auto* counter : {&e.probes_ok, &e.probes_failed, &e.went_up, &e.went_down})
            counter->store(0, std::memory_order_relaxed);
    }
    health.entry_count.store(static_cast<std::uint32_t>(s.destinations.size()), std::memory_order_release);
}

// Sleeps until `until` (monotonic) or a stop signal.
void sleep_until(Nanos until) {
    while (!stop_requested.load(std::memory_order_relaxed)) {
        const Nanos left = until - monotonic_now();
        if (left <= Nanos{0}) return;
        const timespec ts{static_cast<time_t>(left.count() / 1000000000), static_cast<long>(left.count() % 1000000000)};
        nanosleep(&ts, nullptr);  // EINTR on a signal (no SA_RESTART)
    }
}

}  // namespace

int run_health(std::span<const std::string> args) {
    auto parsed = parse_command(kCommand, kSpecs, args, kUsage, kDescription, true);
    if (!parsed.options) return parsed.exit_status;
    std::string error;
    const auto settings = parse_settings(*parsed.options, error);
    if (!settings) return usage_error(kCommand, error);
    auto prober = HealthProber::open(settings->destinations, error);
    if (!prober) return failure(kCommand, error);
    if (parsed.options->has("once")) return run_once(*settings, *prober);

    auto state = open_segment(kCommand, parsed.shm);
    if (!state) return kExitFailure;
    {
        const TargetSnapshot targets = read_targets(state->header());
        for (const ProbeDestination& d : settings->destinations) {
            const bool known = std::any_of(targets.begin(), targets.begin() + state->header().max_targets, [&](const TargetSlot& t) {
                return t.state != TargetState::Unused && t.fwmark == d.fwmark;
            });
            if (!known) return failure(kCommand, "fwmark " + std::to_string(d.fwmark) + " is not a target (sctplb activate it first)");
        }
    }
    if (!state->claim_health(error)) return failure(kCommand, error);
    struct sigaction action{};
    action.sa_handler = on_signal;  // no SA_RESTART: the sleep ends at once
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);

    SharedHeader& h = state->header();
    SharedHealth& health = h.health;
    publish_entries(health, *settings);
    std::vector<HealthCounter> counters(settings->destinations.size(), HealthCounter(settings->thresholds));
    log_line(h, kLogNotice, "health: probing %zu targets on port %u every %lld ms (timeout %lld ms, rise %" PRIu32 ", fall %" PRIu32 ", on failure %s)",
             settings->destinations.size(), unsigned{settings->port},
             static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(settings->interval).count()),
             static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(settings->timeout).count()),
             settings->thresholds.rise, settings->thresholds.fall, std::string(target_state_name(settings->on_fail)).c_str());
    Nanos next = monotonic_now();
    while (!stop_requested.load(std::memory_order_relaxed)) {
        const auto outcomes = prober->probe_all(settings->destinations, settings->port, settings->timeout);
        const Nanos now = monotonic_now();
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            HealthEntry& e = health.entries[i];
            const ProbeOutcome& o = outcomes[i];
            const auto transition = counters[i].record(o.result, now);
            if (o.result == ProbeResult::Ok) {
                e.probes_ok.fetch_add(1, std::memory_order_relaxed);
                e.last_rtt_ns.store(o.rtt.count(), std::memory_order_relaxed);
            } else {
                e.probes_failed.fetch_add(1, std::memory_order_relaxed);
                log_line(h, kLogInfo, "health: fwmark %" PRIu32 " probe %s%s%s", settings->destinations[i].fwmark,
                         std::string(probe_result_name(o.result)).c_str(), o.detail.empty() ? "" : ": ", o.detail.c_str());
            }
            e.last_result.store(o.result, std::memory_order_relaxed);
            e.last_probe_unix_ns.store(realtime_ns(), std::memory_order_relaxed);
            if (!transition) continue;
            e.state.store(*transition, std::memory_order_relaxed);
            if (*transition != HealthState::Unknown) act(*state, *settings, i, *transition, counters[i]);
        }
        next += settings->interval;
        if (next < monotonic_now()) next = monotonic_now();  // a round overran: no burst to catch up
        sleep_until(next);
    }
    log_line(h, kLogNotice, "health: stopped");
    state->release_health();
    return 0;
}

}  // namespace sctplb::cli
