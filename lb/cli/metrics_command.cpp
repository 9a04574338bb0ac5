// `sctplb metrics`: the segment's counters and states as Prometheus metrics,
// served at http://ADDR:PORT/metrics by prometheus-cpp's pull exposer (civetweb).
// A process of its own that reads the segment afresh on every scrape, so a
// restarted `lb`, or a segment deleted and made again, is simply read again.
#include "cli/control.hpp"

#include <csignal>
#include <exception>
#include <memory>
#include <mutex>

#include <CivetServer.h>
#include <prometheus/exposer.h>

#include "cli/control_common.hpp"
#include "cli/metrics_exposition.hpp"
#include "io/sync_service.hpp"

namespace sctplb::cli {

namespace {
constexpr OptionSpec kMetricsSpecs[] = {
    kShmSpec,
    {"listen", "ADDR:PORT", "serve http://ADDR:PORT/metrics ([IPv6]:PORT; 0.0.0.0 or [::] for every address)"},
};
constexpr std::string_view kMetricsUsage = "sctplb metrics --listen=ADDR:PORT [--shm=NAME]";
constexpr std::string_view kMetricsDescription =
    "Serves what `sctplb stats --json` shows in the Prometheus text exposition format at\n"
    "/metrics, until SIGTERM or SIGINT. The segment is read on every scrape (sctplb_up is 0\n"
    "while it is missing), so `lb` may restart underneath. Run it in the daemon's network\n"
    "namespace: the NFQUEUE drops are read from that namespace's\n"
    "/proc/net/netfilter/nfnetlink_queue. The fast path's kernel counters need CAP_NET_ADMIN.";

// civetweb's own words for why it could not listen ("cannot bind to ...: 98 (Address
// already in use)"); it reports them through log_message before the exposer throws.
std::mutex civetweb_message_mutex;
std::string civetweb_message;

int keep_civetweb_message(const mg_connection*, const char* message) {
    const std::lock_guard lock(civetweb_message_mutex);
    if (civetweb_message.empty() && message != nullptr) civetweb_message = message;
    return 1;  // handled: civetweb prints nothing itself
}

}  // namespace

int run_metrics(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "metrics";
    auto parsed = parse_command(kCommand, kMetricsSpecs, args, kMetricsUsage, kMetricsDescription, false);
    if (!parsed.options) return parsed.exit_status;
    const auto listen = parsed.options->value("listen");
    if (!listen) return usage_error(kCommand, "--listen ADDR:PORT is required (try sctplb metrics --help)");
    std::string error;
    // ADDR:PORT or [IPv6]:PORT, checked as --sync-listen is; civetweb takes the same text.
    if (!parse_sync_endpoint(*listen, error)) return usage_error(kCommand, "--listen " + error);

    // The exposer's threads inherit this mask: SIGTERM and SIGINT reach sigwait only.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    CivetCallbacks callbacks;
    callbacks.log_message = keep_civetweb_message;
    std::unique_ptr<prometheus::Exposer> exposer;
    try {
        exposer = std::make_unique<prometheus::Exposer>(*listen, 2, &callbacks);
    } catch (const std::exception& e) {
        const std::lock_guard lock(civetweb_message_mutex);
        if (!civetweb_message.empty()) return failure(kCommand, civetweb_message);  // names ADDR:PORT and errno
        std::string message = "cannot listen on ";
        message += *listen;
        message += ": ";
        message += e.what();
        return failure(kCommand, message);
    }
    const auto collector = std::make_shared<SegmentCollector>(parsed.shm);
    exposer->RegisterCollectable(collector);
    int signal = 0;
    sigwait(&stop_signals, &signal);
    return 0;
}

}  // namespace sctplb::cli
