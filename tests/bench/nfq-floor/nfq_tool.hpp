// Shared bits of the NFQUEUE tools: options, signals, counters.
#pragma once

#include <atomic>
#include <string>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string_view>

#include "io/nfqueue.hpp"
#include "support/parse_number.hpp"

namespace nfq_tool {

inline std::atomic<bool> stop_requested{false};

inline void request_stop(int) { stop_requested.store(true); }

// Without SA_RESTART the blocked receive returns EINTR at once; the socket's
// receive timeout would catch it within receive_timeout_ms anyway.
inline void install_stop_handlers() {
    struct sigaction action{};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
}

// One number syntax for every benchmark tool (tests/support/parse_number.hpp).
using sctplb::test::parse_number;

inline double now_seconds() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Parses the options shared by both tools; returns false on an unknown one.
inline bool parse_queue_option(std::string_view name, std::string_view value, sctplb::NfQueueOptions& options) {
    if (name == "--queue") {
        auto v = parse_number<std::uint16_t>(value);
        if (!v) return false;
        options.queue = *v;
    } else if (name == "--copy-range") {
        auto v = parse_number<std::uint32_t>(value);
        if (!v) return false;
        options.copy_range = *v;
    } else if (name == "--queue-len") {
        auto v = parse_number<std::uint32_t>(value);
        if (!v) return false;
        options.max_len = *v;
    } else if (name == "--batch") {
        auto v = parse_number<std::size_t>(value);
        if (!v) return false;
        options.batch = *v;
    } else if (name == "--rcvbuf") {
        auto v = parse_number<std::uint32_t>(value);
        if (!v) return false;
        options.socket_rcvbuf = *v;
    } else {
        return false;
    }
    return true;
}

inline constexpr const char* kQueueOptionsHelp =
    "  --queue N         NFQUEUE number (default 0)\n"
    "  --copy-range N    bytes copied per packet (default 512)\n"
    "  --queue-len N     kernel queue length (default 4096)\n"
    "  --batch N         datagrams per recvmmsg (default 64)\n"
    "  --rcvbuf BYTES    netlink socket receive buffer (default 8 MiB)\n"
    "  --fail-open       accept packets unmarked when the queue is full\n"
    "  --no-batch-verdict  one verdict message per packet\n";

inline void print_stats(const char* program, const sctplb::NfQueueStats& stats, double first_packet,
                        double last_packet) {
    const double seconds = stats.packets > 1 ? last_packet - first_packet : 0.0;
    std::printf(
        "%s: packets=%llu batches=%llu avg_batch=%.1f largest_batch=%llu truncated=%llu enobufs=%llu "
        "verdict_messages=%llu verdict_errors=%llu bad_messages=%llu seconds=%.3f pps=%.0f\n",
        program, static_cast<unsigned long long>(stats.packets),
        static_cast<unsigned long long>(stats.batches),
        stats.batches ? static_cast<double>(stats.packets) / static_cast<double>(stats.batches) : 0.0,
        static_cast<unsigned long long>(stats.largest_batch),
        static_cast<unsigned long long>(stats.truncated_packets),
        static_cast<unsigned long long>(stats.enobufs),
        static_cast<unsigned long long>(stats.verdict_messages),
        static_cast<unsigned long long>(stats.verdict_errors),
        static_cast<unsigned long long>(stats.bad_messages), seconds,
        seconds > 0 ? static_cast<double>(stats.packets) / seconds : 0.0);
    std::fflush(stdout);
}

// Installs the stop handlers and binds the queue; prints "PROGRAM: bound queue Q"
// or the error (nullopt: exit 1).
inline std::optional<sctplb::NfQueue> open_queue(const char* program, const sctplb::NfQueueOptions& options) {
    install_stop_handlers();
    std::string error;
    auto queue = sctplb::NfQueue::open(options, error);
    if (!queue) {
        std::fprintf(stderr, "%s: %s\n", program, error.c_str());
        return std::nullopt;
    }
    std::printf("%s: bound queue %u\n", program, static_cast<unsigned>(options.queue));
    std::fflush(stdout);
    return queue;
}

}  // namespace nfq_tool
