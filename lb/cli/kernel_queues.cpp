// The kernel's NFQUEUE counters (/proc/net/netfilter/nfnetlink_queue) and the network
// namespace they belong to.
#include "cli/kernel_queues.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/options.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

std::vector<KernelQueueStats> parse_kernel_queue_stats(std::string_view text) {
    std::vector<KernelQueueStats> out;
    std::istringstream lines{std::string(text)};
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::array<std::uint64_t, 8> v{};
        bool ok = true;
        for (auto& value : v) {
            std::string word;
            if (!(fields >> word)) {
                ok = false;
                break;
            }
            const auto parsed = parse_unsigned(word, 0, 0xffffffffu);
            if (!parsed) {
                ok = false;
                break;
            }
            value = *parsed;
        }
        if (!ok) continue;
        out.push_back(KernelQueueStats{static_cast<std::uint32_t>(v[0]), static_cast<std::uint32_t>(v[1]),
                                       static_cast<std::uint32_t>(v[2]), static_cast<std::uint32_t>(v[3]),
                                       static_cast<std::uint32_t>(v[4]), static_cast<std::uint32_t>(v[5]),
                                       static_cast<std::uint32_t>(v[6]), static_cast<std::uint32_t>(v[7])});
    }
    return out;
}

std::optional<std::vector<KernelQueueStats>> read_kernel_queue_stats() {
    std::ifstream in(kKernelQueueFile);
    if (!in) return std::nullopt;
    std::ostringstream contents;
    contents << in.rdbuf();
    return parse_kernel_queue_stats(contents.str());
}

// The name `ip netns` gives the network namespace of process `pid` (a bind mount under
// /run/netns with the same inode as /proc/PID/ns/net, see ip-netns(8)), or "" when it has none.
std::string netns_name_of(std::int32_t pid) {
    struct stat target {};
    std::string path = "/proc/";
    path += std::to_string(pid);
    path += "/ns/net";
    if (::stat(path.c_str(), &target) != 0) return {};
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/run/netns", error)) {
        struct stat candidate {};
        if (::stat(entry.path().c_str(), &candidate) == 0 && candidate.st_ino == target.st_ino &&
            candidate.st_dev == target.st_dev)
            return entry.path().filename().string();
    }
    return {};
}

// A running daemon whose queues this namespace's nfnetlink_queue file does not list: the file
// shows only the queues of the reader's network namespace, so the daemon runs in another one.
bool queues_in_other_namespace(const std::optional<std::vector<KernelQueueStats>>& kernel,
                               const std::vector<std::uint32_t>& our_queues, std::int32_t daemon_pid) {
    if (!kernel || our_queues.empty() || !data_path_alive(daemon_pid)) return false;
    return std::none_of(kernel->begin(), kernel->end(), [&](const KernelQueueStats& q) {
        return std::find(our_queues.begin(), our_queues.end(), q.queue) != our_queues.end();
    });
}
}  // namespace sctplb::cli
