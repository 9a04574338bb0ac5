// `sctplb lb`: the data path. Binds the NFQUEUE(s), decides every packet and
// returns it with an fwmark, until SIGTERM or SIGINT.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "commands.hpp"
#include "admission.hpp"
#include "data_path.hpp"
#include "fast_path_service.hpp"
#include "log.hpp"
#include "nft_fastpath.hpp"
#include "number_text.hpp"
#include "options.hpp"
#include "shared_state.hpp"
#include "sync_service.hpp"

namespace sctplb::cli {
namespace {

constexpr std::string_view kCommand = "lb";

constexpr std::array kSpecs{
    OptionSpec{"shm", "NAME", "shared memory made by 'sctplb init' (default sctplb)"},
    OptionSpec{"queue", "Q|Q1:Q2", "NFQUEUE number, or a range served by one thread each (default 2)"},
    OptionSpec{"qlength", "N", "kernel queue length (default 4096)"},
    OptionSpec{"copy", "BYTES", "bytes of each packet copied to user space (default 512: INIT parameters fit)"},
    OptionSpec{"mark-mask", "M", "only these fwmark bits are set (default 0xffffffff)"},
    OptionSpec{"encap-port", "P", "also balance SCTP over UDP on this port (RFC 6951; default off)"},
    OptionSpec{"fail-open", "", "when the queue is full the kernel passes packets UNMARKED (not balanced)"},
    OptionSpec{"batch", "N", "packets per receive (default 64)"},
    OptionSpec{"log", "LEVEL", "log level 0..7 (default 5, notice); change later with 'sctplb loglevel'"},
    OptionSpec{"sync-listen", "ADDR:PORT", "association sync: receive from peers here (UDP; [IPv6]:PORT)"},
    OptionSpec{"sync-peer", "ADDR:PORT", "association sync: a peer's --sync-listen (repeat, or a,b,...; at most 8)", true},
    OptionSpec{"sync-key", "FILE", "association sync: key file, 1 or 2 lines of hex (openssl rand -hex 32), mode 600"},
    OptionSpec{"sync-wait-ms", "MS", "at start, wait up to MS for the peers' tables before reading the queue (default 2000)"},
    OptionSpec{"hold-ms", "MS", "hold early IP fragments, and with sync unknown-vtag packets, up to MS (default 5; 0 = off)"},
    OptionSpec{"hold-max", "N", "at most N packets held per queue thread (default 1024)"},
    OptionSpec{"init-allow", "CIDR", "new associations only from these sources (repeat, or a,b,...; default any)", true},
    OptionSpec{"init-rate", "N[/BURST]", "at most N new associations per second per source, bursts of BURST (default off)"},
    OptionSpec{"fastpath", "", "require the kernel fast path (default: used when 'sctplb rules --fastpath' installed it)"},
    OptionSpec{"no-fastpath", "", "never use the kernel fast path: empties its maps, every packet comes to the daemon"},
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

}  // namespace

int run_lb(std::span<const std::string> args) {
    std::string error;
    const auto options = parse_options(kSpecs, args, error);
    if (!options) return usage_error(kCommand, error);
    if (options->help_requested()) {
        std::fputs(format_help("sctplb lb [options]",
                               "Runs the data path: every packet queued by the iptables NFQUEUE rules\n"
                               "(see 'sctplb rules') is decided and returned with the fwmark of its\n"
                               "target. Associations live in the shared memory, so a restarted daemon\n"
                               "continues them. Stops on SIGTERM or SIGINT; SIGHUP is ignored (logged).\n"
                               "With --sync-listen/--sync-peer/--sync-key, instances of one tier tell each\n"
                               "other every association (docs/operations.md \"Association sync\").\n"
                               "When 'sctplb rules --fastpath' installed its nft table, established\n"
                               "associations are forwarded by the kernel (docs/operations.md \"The kernel\n"
                               "fast path\"); --no-fastpath turns that off.",
                               kSpecs)
                       .c_str(),
                   stdout);
        return 0;
    }
    if (!options->positional().empty()) return usage_error(kCommand, "unexpected argument '" + options->positional()[0] + "'");

    DataPathOptions dp;
    if (auto q = options->value("queue")) {
        std::uint16_t first = 0, last = 0;
        if (!parse_queue_range(*q, first, last) || last - first + 1u > kMaxDataPathThreads)
            return usage_error(kCommand, "--queue wants Q or Q1:Q2 (0..65535, at most 16 queues), not '" + *q + "'");
        dp.queues.clear();
        for (std::uint32_t queue = first; queue <= last; ++queue) dp.queues.push_back(static_cast<std::uint16_t>(queue));
    }
    if (auto v = options->value("qlength")) {
        auto n = parse_unsigned(*v, 1, 1u << 20);
        if (!n) return usage_error(kCommand, "--qlength wants 1..1048576, not '" + *v + "'");
        dp.queue_length = static_cast<std::uint32_t>(*n);
    }
    if (auto v = options->value("copy")) {
        auto n = parse_unsigned(*v, 64, 65531);
        if (!n) return usage_error(kCommand, "--copy wants 64..65531 bytes, not '" + *v + "'");
        dp.copy_range = static_cast<std::uint32_t>(*n);
    }
    if (auto v = options->value("mark-mask")) {
        auto m = parse_number32(*v);
        if (!m || *m == 0) return usage_error(kCommand, "--mark-mask wants a non-zero 32-bit number (e.g. 0xff), not '" + *v + "'");
        dp.mark_mask = *m;
    }
    if (auto v = options->value("encap-port")) {
        auto n = parse_unsigned(*v, 1, 65535);
        if (!n) return usage_error(kCommand, "--encap-port wants 1..65535, not '" + *v + "'");
        dp.encapsulation_port = static_cast<std::uint16_t>(*n);
    }
    if (auto v = options->value("batch")) {
        auto n = parse_unsigned(*v, 1, 1024);
        if (!n) return usage_error(kCommand, "--batch wants 1..1024, not '" + *v + "'");
        dp.batch = *n;
    }
    std::optional<std::int32_t> log_level;
    if (auto v = options->value("log")) {
        auto n = parse_unsigned(*v, 0, kLogDebug);
        if (!n) return usage_error(kCommand, "--log wants a level 0..7, not '" + *v + "'");
        log_level = static_cast<std::int32_t>(*n);
    }
    dp.fail_open = options->has("fail-open");

    // Association sync: all of listen, peer(s) and key, or none.
    std::optional<SyncServiceOptions> sync_options;
    const auto listen = options->value("sync-listen");
    const auto peers = options->values("sync-peer");
    const auto key = options->value("sync-key");
    if (listen || !peers.empty() || key) {
        if (!listen || peers.empty() || !key)
            return usage_error(kCommand, "association sync needs --sync-listen, --sync-peer and --sync-key together");
        SyncServiceOptions so;
        auto endpoint = parse_sync_endpoint(*listen, error);
        if (!endpoint) return usage_error(kCommand, "--sync-listen: " + error);
        so.listen = std::move(*endpoint);
        for (const std::string& text : peers) {
            auto peer = parse_sync_endpoint(text, error);
            if (!peer) return usage_error(kCommand, "--sync-peer: " + error);
            so.peers.push_back(std::move(*peer));
        }
        if (so.peers.size() > kMaxSyncPeers) return usage_error(kCommand, "at most 8 --sync-peer addresses");
        so.key_file = *key;
        if (auto v = options->value("sync-wait-ms")) {
            auto n = parse_unsigned(*v, 0, 600000);
            if (!n) return usage_error(kCommand, "--sync-wait-ms wants 0..600000, not '" + *v + "'");
            so.startup_wait_ms = static_cast<std::uint32_t>(*n);
        }
        sync_options = std::move(so);
    } else if (options->has("sync-wait-ms")) {
        return usage_error(kCommand, "--sync-wait-ms needs the association sync (--sync-listen, --sync-peer, --sync-key)");
    }
    if (auto v = options->value("hold-ms")) {
        auto n = parse_unsigned(*v, 0, 1000);
        if (!n) return usage_error(kCommand, "--hold-ms wants 0..1000, not '" + *v + "'");
        dp.hold_ms = static_cast<std::uint32_t>(*n);
    }
    for (const std::string& text : options->values("init-allow")) {
        auto cidr = parse_cidr(text);
        if (!cidr) return usage_error(kCommand, "--init-allow wants ADDRESS[/PREFIX] (e.g. 192.0.2.0/24, 2001:db8::/32), not '" + text + "'");
        dp.admission.allow.push_back(*cidr);
    }
    if (auto v = options->value("init-rate")) {
        const std::size_t slash = v->find('/');
        auto rate = parse_unsigned(v->substr(0, slash), 1, 1'000'000);
        auto burst = slash == std::string::npos ? std::optional<std::uint64_t>{0} : parse_unsigned(v->substr(slash + 1), 1, 1'000'000);
        if (!rate || !burst) return usage_error(kCommand, "--init-rate wants N or N/BURST (1..1000000), not '" + *v + "'");
        dp.admission.rate_per_s = static_cast<std::uint32_t>(*rate);
        dp.admission.burst = static_cast<std::uint32_t>(*burst);
    }
    if (auto v = options->value("hold-max")) {
        // Each held packet keeps a copy of up to --copy bytes: bounded memory.
        auto n = parse_unsigned(*v, 1, 65536);
        if (!n) return usage_error(kCommand, "--hold-max wants 1..65536, not '" + *v + "'");
        dp.hold_max = static_cast<std::uint32_t>(*n);
    }

    if (options->has("fastpath") && options->has("no-fastpath"))
        return usage_error(kCommand, "--fastpath and --no-fastpath exclude each other");
    FastPathServiceOptions fast_path_options;
    fast_path_options.mode = options->has("fastpath")      ? FastPathMode::On
                             : options->has("no-fastpath") ? FastPathMode::Off
                                                           : FastPathMode::Auto;

    const std::string shm = options->value("shm").value_or("sctplb");
    fast_path_options.table = fastpath_table_name(shm);
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
    if (log_level) state->header().log_level.store(*log_level);
    if (dp.copy_range < 512)
        std::fprintf(stderr,
                     "sctplb lb: warning: --copy %u may cut INIT address parameters; packets from the "
                     "addresses cut off are then dropped as unknown (counted as init-truncated)\n",
                     dp.copy_range);

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
    auto fast_path = FastPathService::start(*state, fast_path_options, error);
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

    if (!sync_options) return run_data_path(*state, dp, stop_requested);

    // Key file and socket first: a bad key or a taken address is an error now, not later.
    auto sync = SyncService::start(*state, *sync_options, error);
    if (!sync) {
        std::fprintf(stderr, "sctplb lb: %s\n", error.c_str());
        return 1;
    }
    DataPathSync data_path_sync;
    std::atomic<bool> sync_stop{false};
    std::thread sync_thread([&] { sync->run(sync_stop, data_path_sync.ready, data_path_sync.applied_generation); });
    const int status = run_data_path(*state, dp, stop_requested, &data_path_sync);
    sync_stop.store(true);
    sync_thread.join();
    return status;
}

}  // namespace sctplb::cli
