// `sctplb lb`: the data path. Binds the NFQUEUE(s), decides every packet and
// returns it with an fwmark, until SIGTERM or SIGINT.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cerrno>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "cli/commands.hpp"
#include "core/admission.hpp"
#include "io/data_path.hpp"
#include "io/fast_path_service.hpp"
#include "io/nft_fastpath.hpp"
#include "core/number_text.hpp"
#include "cli/options.hpp"
#include "io/rules.hpp"
#include "io/shared_state.hpp"
#include "io/sync_service.hpp"

namespace sctplb::cli {
namespace {

constexpr std::string_view kCommand = "lb";

constexpr OptionSpec kSpecs[] = {
    {"shm", "NAME", "shared memory made by 'sctplb init' (default sctplb)"},
    {"queue", "Q|Q1:Q2", "NFQUEUE number, or a range served by one thread each (default 2)"},
    {"qlength", "N", "kernel queue length (default 4096)"},
    {"copy", "BYTES", "bytes of each packet copied to user space (default 512: INIT parameters fit)"},
    {"mark-mask", "M", "only these fwmark bits are set (default 0xffffffff)"},
    {"encap-port", "P", "also balance SCTP over UDP on this port (RFC 6951; default off)"},
    {"fail-open", "", "when the queue is full the kernel passes packets UNMARKED (not balanced)"},
    {"batch", "N", "packets per receive (default 64)"},
    {"log", "LEVEL", "log level 0..7 (default 5, notice); change later with 'sctplb loglevel'"},
    {"sync-listen", "ADDR:PORT", "association sync: receive from peers here (UDP; [IPv6]:PORT)"},
    {"sync-peer", "ADDR:PORT", "association sync: a peer's --sync-listen (repeat, or a,b,...; at most 8)", true},
    {"sync-key", "FILE", "association sync: key file, 1 or 2 lines of hex (openssl rand -hex 32), mode 600"},
    {"sync-wait-ms", "MS", "at start, wait up to MS for the peers' tables before reading the queue (default 2000)"},
    {"hold-ms", "MS", "hold early IP fragments, and with sync unknown-vtag packets, up to MS (default 5; 0 = off)"},
    {"hold-max", "N", "at most N packets held per queue thread (default 1024)"},
    {"init-allow", "CIDR", "new associations only from these sources (repeat, or a,b,...; default any)", true},
    {"init-rate", "N[/BURST]", "at most N new associations per second per source, bursts of BURST (default off)"},
    {"server-queue", "Q", "server-initiated associations: the NFQUEUE of the servers' outbound INITs ('sctplb rules --server-init')"},
    {"server", "FWMARK=NEXTHOP[@DEV]", "a server that may open associations from the VIPs, as 'rules --target' (repeat, or a,b,...)", true},
    {"fastpath", "", "require the kernel fast path (default: used when 'sctplb rules --fastpath' installed it)"},
    {"no-fastpath", "", "never use the kernel fast path: empties its maps, every packet comes to the daemon"},
};

// The help line of --sync-peer above says "at most 8".
static_assert(kMaxSyncPeers == 8);

constexpr std::string_view kUsage = "sctplb lb [options]";
constexpr std::string_view kDescription =
    "Runs the data path: every packet queued by the iptables NFQUEUE rules\n"
    "(see 'sctplb rules') is decided and returned with the fwmark of its\n"
    "target. Associations live in the shared memory, so a restarted daemon\n"
    "continues them. Stops on SIGTERM or SIGINT; SIGHUP is ignored (logged).\n"
    "With --sync-listen/--sync-peer/--sync-key, instances of one tier tell each\n"
    "other every association (docs/operations.md \"Association sync\").\n"
    "When 'sctplb rules --fastpath' installed its nft table, established\n"
    "associations are forwarded by the kernel (docs/operations.md \"The kernel\n"
    "fast path\"); --no-fastpath turns that off.";

// What the options set, before the segment is opened.
struct LbSettings {
    DataPathOptions data_path;
    std::optional<std::int32_t> log_level;
    std::optional<SyncServiceOptions> sync;
    std::optional<std::uint32_t> sync_wait_ms;
    FastPathServiceOptions fast_path;
};

// A number in [min, max]; a bad one is "--NAME wants BEFOREmin..maxAFTER, not 'TEXT'".
struct NumberOption {
    std::string_view name;
    std::uint64_t min;
    std::uint64_t max;
    std::string_view before;
    std::string_view after;
    void (*store)(LbSettings& settings, std::uint64_t value);
};

constexpr std::uint64_t kMaxQueueLength = 1u << 20;
constexpr std::uint64_t kMaxCopyRange = kMaxNfQueueCopyRange;
constexpr std::uint64_t kMaxBatch = kMaxNfQueueBatch;
constexpr std::uint64_t kMaxLogLevel = kLogDebug;
constexpr std::uint64_t kMaxSyncWaitMs = 600'000;
constexpr std::uint64_t kMaxHoldMs = 1000;
constexpr std::uint64_t kMaxHold = 65536;        // each held packet keeps up to --copy bytes: bounded memory
constexpr std::uint64_t kMaxInitRate = 1'000'000;

constexpr NumberOption kNumbers[] = {
    {"qlength", 1, kMaxQueueLength, "", "",
     [](LbSettings& s, std::uint64_t n) { s.data_path.queue_length = static_cast<std::uint32_t>(n); }},
    {"copy", 64, kMaxCopyRange, "", " bytes",
     [](LbSettings& s, std::uint64_t n) { s.data_path.copy_range = static_cast<std::uint32_t>(n); }},
    {"encap-port", 1, 65535, "", "",
     [](LbSettings& s, std::uint64_t n) { s.data_path.encapsulation_port = static_cast<std::uint16_t>(n); }},
    {"batch", 1, kMaxBatch, "", "", [](LbSettings& s, std::uint64_t n) { s.data_path.batch = n; }},
    {"log", 0, kMaxLogLevel, "a level ", "",
     [](LbSettings& s, std::uint64_t n) { s.log_level = static_cast<std::int32_t>(n); }},
    {"sync-wait-ms", 0, kMaxSyncWaitMs, "", "",
     [](LbSettings& s, std::uint64_t n) { s.sync_wait_ms = static_cast<std::uint32_t>(n); }},
    {"hold-ms", 0, kMaxHoldMs, "", "",
     [](LbSettings& s, std::uint64_t n) { s.data_path.hold_ms = static_cast<std::uint32_t>(n); }},
    {"hold-max", 1, kMaxHold, "", "",
     [](LbSettings& s, std::uint64_t n) { s.data_path.hold_max = static_cast<std::uint32_t>(n); }},
};

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

// SIGHUP is what service managers send for "reload". There is nothing to
// reload: targets and settings live in the shared memory and take effect when
// the commands change them, and the log is stderr (the journal's). So it is
// ignored, and said so. The line is formatted before the handler is installed:
// only write(2) is async-signal-safe here (signal-safety(7)).
char hangup_line[160];
std::size_t hangup_line_length = 0;

void on_hangup(int) {
    const int saved_errno = errno;
    [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, hangup_line, hangup_line_length);
    errno = saved_errno;
}

// The usage error of the first wrong option, or nullopt with `settings` filled in.
std::optional<std::string> parse_settings(const Options& options, LbSettings& settings) {
    DataPathOptions& dp = settings.data_path;
    std::string error;
    if (auto q = options.value("queue")) {
        std::uint16_t first = 0, last = 0;
        if (!parse_queue_range(*q, first, last) || last - first + 1u > kMaxDataPathThreads) {
            std::string message = "--queue wants Q or Q1:Q2 (0..65535, at most ";
            message += std::to_string(kMaxDataPathThreads);
            message += " queues), not '";
            return message + *q + "'";
        }
        dp.queues.clear();
        for (std::uint32_t queue = first; queue <= last; ++queue) dp.queues.push_back(static_cast<std::uint16_t>(queue));
    }
    if (auto q = options.value("server-queue")) {
        std::uint16_t first = 0, last = 0;
        if (!parse_queue_range(*q, first, last) || first != last)
            return "--server-queue wants one queue number (0..65535), not '" + *q + "'";
        if (std::find(dp.queues.begin(), dp.queues.end(), first) != dp.queues.end())
            return "--server-queue must not be one of --queue";
        if (dp.queues.size() + 1 > kMaxDataPathThreads) return "--server-queue: too many queues";
        dp.server_queue = first;
        dp.queues.push_back(first);
        for (const std::string& text : options.values("server")) {
            auto target = parse_rule_target(text, error);
            if (!target) return "--server: " + error;
            dp.servers.push_back(ServerNextHop{target->fwmark, target->nexthop});
        }
        if (dp.servers.empty()) return "--server-queue needs at least one --server FWMARK=NEXTHOP";
    } else if (!options.values("server").empty()) {
        return "--server needs --server-queue";
    }
    if (auto v = options.value("mark-mask")) {
        auto m = parse_number32(*v);
        if (!m || *m == 0) return "--mark-mask wants a non-zero 32-bit number (e.g. 0xff), not '" + *v + "'";
        dp.mark_mask = *m;
    }
    // Association sync: all of listen, peer(s) and key, or none.
    const auto listen = options.value("sync-listen");
    const auto peers = options.values("sync-peer");
    const auto key = options.value("sync-key");
    const bool sync = listen || !peers.empty() || key;
    if (!sync && options.has("sync-wait-ms"))
        return "--sync-wait-ms needs the association sync (--sync-listen, --sync-peer, --sync-key)";
    for (const NumberOption& number : kNumbers) {
        const auto v = options.value(number.name);
        if (!v) continue;
        const auto n = parse_unsigned(*v, number.min, number.max);
        if (!n) {
            std::string message = "--";
            message += number.name;
            message += " wants ";
            message += number.before;
            message += std::to_string(number.min) + ".." + std::to_string(number.max);
            message += number.after;
            return message + ", not '" + *v + "'";
        }
        number.store(settings, *n);
    }
    dp.fail_open = options.has("fail-open");

    if (sync) {
        if (!listen || peers.empty() || !key)
            return "association sync needs --sync-listen, --sync-peer and --sync-key together";
        SyncServiceOptions so;
        auto endpoint = parse_sync_endpoint(*listen, error);
        if (!endpoint) return "--sync-listen: " + error;
        so.listen = std::move(*endpoint);
        for (const std::string& text : peers) {
            auto peer = parse_sync_endpoint(text, error);
            if (!peer) return "--sync-peer: " + error;
            so.peers.push_back(std::move(*peer));
        }
        if (so.peers.size() > kMaxSyncPeers) {
            std::string message = "at most ";
            message += std::to_string(kMaxSyncPeers);
            return message + " --sync-peer addresses";
        }
        so.key_file = *key;
        if (settings.sync_wait_ms) so.startup_wait_ms = *settings.sync_wait_ms;
        settings.sync = std::move(so);
    }
    for (const std::string& text : options.values("init-allow")) {
        auto cidr = parse_cidr(text);
        if (!cidr) return "--init-allow wants ADDRESS[/PREFIX] (e.g. 192.0.2.0/24, 2001:db8::/32), not '" + text + "'";
        dp.admission.allow.push_back(*cidr);
    }
    if (auto v = options.value("init-rate")) {
        const std::size_t slash = v->find('/');
        auto rate = parse_unsigned(v->substr(0, slash), 1, kMaxInitRate);
        auto burst = slash == std::string::npos ? std::optional<std::uint64_t>{0} : parse_unsigned(v->substr(slash + 1), 1, kMaxInitRate);
        if (!rate || !burst) {
            std::string message = "--init-rate wants N or N/BURST (1..";
            message += std::to_string(kMaxInitRate);
            return message + "), not '" + *v + "'";
        }
        dp.admission.rate_per_s = static_cast<std::uint32_t>(*rate);
        dp.admission.burst = static_cast<std::uint32_t>(*burst);
    }

    if (options.has("fastpath") && options.has("no-fastpath"))
        return "--fastpath and --no-fastpath exclude each other";
    settings.fast_path.mode = options.has("fastpath")      ? FastPathMode::On
                              : options.has("no-fastpath") ? FastPathMode::Off
                                                           : FastPathMode::Auto;
    return std::nullopt;
}

}  // namespace

int run_lb(std::span<const std::string> args) {
    int parse_status = 0;
    const auto options = parse_or_help(kCommand, kSpecs, args, kUsage, kDescription, parse_status);
    if (!options) return parse_status;
    std::string error;
    if (!options->positional().empty()) return usage_error(kCommand, "unexpected argument '" + options->positional()[0] + "'");

    LbSettings settings;
    if (const auto why = parse_settings(*options, settings)) return usage_error(kCommand, *why);

    const std::string shm = options->value("shm").value_or("sctplb");
    settings.fast_path.table = fastpath_table_name(shm);
    auto state = SharedState::open(shm, error);
    if (!state) {
        std::fprintf(stderr, "sctplb lb: %s\n", error.c_str());
        return 1;
    }
    // Before anything touches the kernel (fast-path maps, queues): a second
    // daemon would reconcile the first one's maps and, on exit, unregister it.
    if (!state->claim_data_path(error)) {
        std::fprintf(stderr, "sctplb lb: %s\n", error.c_str());
        return 1;
    }
    struct ReleaseDataPath {
        SharedState& state;
        ~ReleaseDataPath() { state.release_data_path(); }
    } release_data_path{*state};
    if (settings.log_level) state->header().log_level.store(*settings.log_level);
    if (settings.data_path.copy_range < 512)
        std::fprintf(stderr,
                     "sctplb lb: warning: --copy %u may cut INIT address parameters; packets from the "
                     "addresses cut off are then dropped as unknown (counted as init-truncated)\n",
                     settings.data_path.copy_range);

    // No SA_RESTART: a blocked receive returns EINTR and the loop sees the flag.
    struct sigaction action{};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
    const int hangup_chars = std::snprintf(hangup_line, sizeof hangup_line,
                                           "sctplb[%d]: SIGHUP ignored: nothing to reload (targets and settings are "
                                           "read from the shared memory; stop with SIGTERM)\n",
                                           static_cast<int>(getpid()));
    hangup_line_length = hangup_chars > 0 ? std::min<std::size_t>(static_cast<std::size_t>(hangup_chars), sizeof hangup_line - 1) : 0;
    struct sigaction hangup{};
    hangup.sa_handler = on_hangup;
    sigemptyset(&hangup.sa_mask);
    hangup.sa_flags = SA_RESTART;  // nothing to wake up for
    sigaction(SIGHUP, &hangup, nullptr);

    // The fast path before the queues: its start reconciles the kernel's map
    // with the table (associations known only to the kernel are imported).
    auto fast_path = FastPathService::start(*state, settings.fast_path, error);
    if (!fast_path && !error.empty()) {
        std::fprintf(stderr, "sctplb lb: %s\n", error.c_str());
        return 1;
    }
    std::atomic<bool> fast_path_stop{false};
    std::thread fast_path_thread;
    if (fast_path) fast_path_thread = std::thread([&] { fast_path->run(fast_path_stop); });
    struct JoinFastPath {
        std::atomic<bool>& stop;
        std::thread& thread;
        ~JoinFastPath() {
            stop.store(true);
            if (thread.joinable()) thread.join();
        }
    } join_fast_path{fast_path_stop, fast_path_thread};

    if (!settings.sync) return run_data_path(*state, settings.data_path, stop_requested);

    // Key file and socket first: a bad key or a taken address is an error now, not later.
    auto sync = SyncService::start(*state, *settings.sync, error);
    if (!sync) {
        std::fprintf(stderr, "sctplb lb: %s\n", error.c_str());
        return 1;
    }
    DataPathSync data_path_sync;
    std::atomic<bool> sync_stop{false};
    std::thread sync_thread([&] { sync->run(sync_stop, data_path_sync.ready, data_path_sync.applied_generation); });
    const int status = run_data_path(*state, settings.data_path, stop_requested, &data_path_sync);
    sync_stop.store(true);
    sync_thread.join();
    return status;
}

}  // namespace sctplb::cli
