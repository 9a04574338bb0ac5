// `sctplb stats`: counters, packets per target, table fill, kernel queue drops,
// the fast path and the association sync.
#include "cli/control.hpp"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/control_common.hpp"
#include "cli/kernel_queues.hpp"
#include "io/shared_state.hpp"
#include "cli/stats_json.hpp"
#include "cli/stats_readers.hpp"
#include "core/verdict.hpp"

namespace sctplb::cli {

namespace {
constexpr OptionSpec kStatsSpecs[] = {kShmSpec, {"json", "", "one JSON object"}};
constexpr std::string_view kStatsUsage = "sctplb stats [--shm=NAME] [--json]";
constexpr std::string_view kStatsDescription =
    "Shows every reason and event counter (summed over the data-path threads), packets per\n"
    "target, the association table's fill, and the kernel's drops per NFQUEUE from\n"
    "/proc/net/netfilter/nfnetlink_queue (queue-dropped: the queue was full, raise --qlength;\n"
    "user-dropped: the socket buffer was full).";

using nlohmann::ordered_json;
}  // namespace

int run_stats(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "stats";
    auto parsed = parse_command(kCommand, kStatsSpecs, args, kStatsUsage, kStatsDescription, false);
    if (!parsed.options) return parsed.exit_status;
    auto state = open_segment(kCommand, parsed.shm);
    if (!state) return kExitFailure;
    const SharedHeader& h = state->header();
    const Totals totals = sum_counters(h);
    const TargetSnapshot all_targets = read_targets(state->header());  // consistent, without the config lock
    const std::vector<TargetSlot> targets(all_targets.begin(), all_targets.begin() + h.max_targets);
    const TableFill fill = read_table_fill(*state);
    const auto& [size, capacity, half_open, half_open_capacity, index_failures] = fill;
    const std::vector<std::uint32_t> our_queues = served_queues(h);
    const auto kernel = read_kernel_queue_stats();
    const auto ours = [&](std::uint32_t queue) {
        return std::find(our_queues.begin(), our_queues.end(), queue) != our_queues.end();
    };
    const std::int32_t daemon_pid = h.daemon_pid.load();
    const bool queues_hidden = queues_in_other_namespace(kernel, our_queues, daemon_pid);

    if (parsed.options->has("json")) {
        ordered_json out;
        out["packets"] = totals.packets;
        out["batches"] = totals.batches;
        out["enobufs"] = totals.enobufs;
        ordered_json reasons = ordered_json::object();
        for (std::size_t i = 0; i < kReasonCount; ++i)
            reasons[std::string(reason_name(static_cast<Reason>(i)))] = totals.reasons[i];
        out["reasons"] = std::move(reasons);
        ordered_json events = ordered_json::object();
        for (std::size_t i = 0; i < kEventCount; ++i)
            events[std::string(event_name(static_cast<Event>(i)))] = totals.events[i];
        out["events"] = std::move(events);
        ordered_json per_target = ordered_json::array();
        for (std::uint32_t i = 0; i < targets.size(); ++i) {
            if (targets[i].state == TargetState::Unused && totals.per_target[i] == 0) continue;
            per_target.push_back(ordered_json{{"slot", i},
                                              {"fwmark", targets[i].fwmark},
                                              {"state", target_state_name(targets[i].state)},
                                              {"packets", totals.per_target[i]}});
        }
        out["targets"] = std::move(per_target);
        out["table"] = ordered_json{{"size", size},
                                    {"capacity", capacity},
                                    {"half_open", half_open},
                                    {"half_open_capacity", half_open_capacity},
                                    {"index_failures", index_failures}};
        out["sync"] = sync_json(h, monotonic_ns());
        out["fastpath"] = fast_path_json(h, parsed.shm, monotonic_ns());
        if (kernel) {
            ordered_json queues = ordered_json::array();
            for (const auto& q : *kernel)
                queues.push_back(ordered_json{{"queue", q.queue},
                                              {"ours", ours(q.queue)},
                                              {"peer_portid", q.peer_portid},
                                              {"queue_total", q.queue_total},
                                              {"copy_range", q.copy_range},
                                              {"queue_dropped", q.queue_dropped},
                                              {"user_dropped", q.user_dropped},
                                              {"id_sequence", q.id_sequence}});
            out["kernel_queues"] = std::move(queues);
            out["kernel_queues_visible"] = !queues_hidden;
        } else {
            out["kernel_queues"] = nullptr;
        }
        print(out.dump() + "\n");
        return 0;
    }

    char line[256];
    std::string out;
    std::snprintf(line, sizeof line, "packets %" PRIu64 "  batches %" PRIu64 "  enobufs %" PRIu64 "\n", totals.packets,
                  totals.batches, totals.enobufs);
    out += line;
    out += "reasons:\n";
    for (std::size_t i = 0; i < kReasonCount; ++i) {
        std::snprintf(line, sizeof line, "  %-24s %" PRIu64 "\n",
                      std::string(reason_name(static_cast<Reason>(i))).c_str(), totals.reasons[i]);
        out += line;
    }
    out += "events:\n";
    for (std::size_t i = 0; i < kEventCount; ++i) {
        std::snprintf(line, sizeof line, "  %-24s %" PRIu64 "\n", std::string(event_name(static_cast<Event>(i))).c_str(),
                      totals.events[i]);
        out += line;
    }
    out += "packets per target:\n";
    for (std::uint32_t i = 0; i < targets.size(); ++i) {
        if (targets[i].state == TargetState::Unused && totals.per_target[i] == 0) continue;
        std::snprintf(line, sizeof line, "  slot %-3" PRIu32 " fwmark %-10" PRIu32 " %-8s %" PRIu64 "\n", i,
                      targets[i].fwmark, std::string(target_state_name(targets[i].state)).c_str(),
                      totals.per_target[i]);
        out += line;
    }
    std::snprintf(line, sizeof line,
                  "table: %" PRIu32 " of %" PRIu32 " associations (%.1f%%), half-open %" PRIu32 " of %" PRIu32
                  ", index failures %" PRIu64 "\n",
                  size, capacity, capacity ? 100.0 * size / capacity : 0.0, half_open, half_open_capacity, index_failures);
    out += line;
    if (!kernel) {
        out += std::string("kernel queues: not available (") + kKernelQueueFile + " missing)\n";
    } else if (queues_hidden) {
        const std::string netns = netns_name_of(daemon_pid);
        out += "kernel queues: not visible from this network namespace (the daemon, pid ";
        out += std::to_string(daemon_pid);
        out += ", runs in another): run stats in the daemon's, e.g. ip netns exec ";
        out += netns.empty() ? std::string("NS") : netns;
        out += " sctplb stats --shm ";
        out += parsed.shm;
        out += "\n";
    } else if (kernel->empty()) {
        out += "kernel queues: none bound\n";
    } else {
        out += "kernel queues:\n";
        for (const auto& q : *kernel) {
            std::snprintf(line, sizeof line,
                          "  queue %-5" PRIu32 "%s waiting %" PRIu32 "  queue-dropped %" PRIu32 "  user-dropped %" PRIu32
                          "  copy %" PRIu32 "\n",
                          q.queue, ours(q.queue) ? " (ours)" : "       ", q.queue_total, q.queue_dropped,
                          q.user_dropped, q.copy_range);
            out += line;
        }
    }
    const ordered_json fast_path = fast_path_json(h, parsed.shm, monotonic_ns());
    if (!fast_path["enabled"].get<bool>()) {
        out += "fastpath: off\n";
    } else {
        std::snprintf(line, sizeof line,
                      "fastpath: nft table inet %s, %" PRIu64 " associations in the kernel (%" PRIu64
                      " elements of %" PRIu64 "), timeout %" PRIu64 " ms\n",
                      fast_path["table"].get<std::string>().c_str(), fast_path["associations"].get<std::uint64_t>(),
                      fast_path["elements"].get<std::uint64_t>(), fast_path["map_size"].get<std::uint64_t>(),
                      fast_path["timeout_ms"].get<std::uint64_t>());
        out += line;
    }
    if (fast_path["targets"].is_array()) {
        out += "fastpath packets per target (marked by the kernel):\n";
        for (const auto& t : fast_path["targets"])
            out += fast_path_target_line(t["fwmark"].get<std::uint32_t>(), t["packets"].get<std::uint64_t>(),
                                         t["bytes"].get<std::uint64_t>());
    }
    // The sync section, from the same object as --json (one source of truth).
    const ordered_json sync = sync_json(h, monotonic_ns());
    if (sync.is_null()) {
        out += "sync: off\n";
    } else {
        out += "sync: listen " + sync["listen"].get<std::string>() + "  epoch " + std::to_string(sync["epoch"].get<std::uint64_t>()) +
               (sync["ready"].get<bool>() ? "  ready\n" : "  WAITING for peers' tables\n");
        for (const auto& [key, value] : sync.items()) {
            if (!value.is_number()) continue;
            if (key == "epoch") continue;
            out += "  " + key + std::string(key.size() < 24 ? 24 - key.size() : 1, ' ') + value.dump() + "\n";
        }
        out += "  rejected:";
        for (const auto& [key, value] : sync["rejected"].items()) out += " " + key + " " + value.dump();
        out += "\n";
        for (const auto& peer : sync["peers"]) {
            out += "  peer " + peer["address"].get<std::string>() + "  " + peer["state"].get<std::string>();
            out += "  last heard " + (peer["last_heard_ms"].is_null() ? std::string("never") : peer["last_heard_ms"].dump() + " ms ago");
            out += "  unacked " + peer["unacked"].dump() + "  lag " + peer["lag_ms"].dump() + " ms";
            if (!peer["digest_match"].is_null())
                out += peer["digest_match"].get<bool>() ? "  config digest matches"
                                                          : "  CONFIG DIGEST MISMATCH (" + peer["digest"].get<std::string>() + ")";
            out += "\n";
        }
    }
    print(out);
    return 0;
}
}  // namespace sctplb::cli
