// The kernel's NFQUEUE counters, as /proc/net/netfilter/nfnetlink_queue shows them
// to the reader's network namespace (`sctplb stats`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sctplb::cli {

inline constexpr const char* kKernelQueueFile = "/proc/net/netfilter/nfnetlink_queue";

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

// kKernelQueueFile parsed; nullopt when it cannot be read.
[[nodiscard]] std::optional<std::vector<KernelQueueStats>> read_kernel_queue_stats();

// The name `ip netns` gives the network namespace of process `pid`, or "" when it has none.
[[nodiscard]] std::string netns_name_of(std::int32_t pid);

// A running daemon whose queues this namespace's nfnetlink_queue file does not list.
[[nodiscard]] bool queues_in_other_namespace(const std::optional<std::vector<KernelQueueStats>>& kernel,
                                             const std::vector<std::uint32_t>& our_queues, std::int32_t daemon_pid);

}  // namespace sctplb::cli
