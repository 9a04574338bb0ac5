// The control commands: everything that reads or changes a segment made by
// `sctplb init` while `sctplb lb` runs (nfqlb-style names). Each takes the
// words after its name and returns the exit status: 0 ok, 2 usage error
// (one line on stderr), 1 runtime failure (one line on stderr).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sctplb::cli {

int run_init(std::span<const std::string> args);
int run_delete(std::span<const std::string> args);
int run_activate(std::span<const std::string> args);
int run_deactivate(std::span<const std::string> args);
int run_down(std::span<const std::string> args);
int run_show(std::span<const std::string> args);
int run_assoc(std::span<const std::string> args);
int run_stats(std::span<const std::string> args);
int run_fastpath(std::span<const std::string> args);
int run_loglevel(std::span<const std::string> args);
int run_trace(std::span<const std::string> args);

// One line of /proc/net/netfilter/nfnetlink_queue (net/netfilter/nfnetlink_queue.c,
// seq_show: queue_num peer_portid queue_total copy_mode copy_range
// queue_dropped queue_user_dropped id_sequence 1).
struct KernelQueueStats {
    std::uint32_t queue = 0;
    std::uint32_t peer_portid = 0;
    std::uint32_t queue_total = 0;   // packets waiting for a verdict now
    std::uint32_t copy_mode = 0;
    std::uint32_t copy_range = 0;
    std::uint32_t queue_dropped = 0; // queue full (--qlength)
    std::uint32_t user_dropped = 0;  // netlink socket buffer full
    std::uint32_t id_sequence = 0;
};
// Lines that do not have at least the eight numeric columns are skipped.
[[nodiscard]] std::vector<KernelQueueStats> parse_kernel_queue_stats(std::string_view text);

}  // namespace sctplb::cli
