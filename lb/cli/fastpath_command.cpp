// `sctplb fastpath`: the kernel fast path's map elements and per-target counters.
#include "cli/control.hpp"

#include <cinttypes>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "io/association_export.hpp"
#include "cli/control_common.hpp"
#include "io/nft_fastpath.hpp"

namespace sctplb::cli {

namespace {
constexpr OptionSpec kFastPathSpecs[] = {kShmSpec, {"json", "", "one JSON object"}};
constexpr std::string_view kFastPathUsage = "sctplb fastpath [--shm=NAME] [--json]";
constexpr std::string_view kFastPathDescription =
    "Lists what the kernel holds for the fast path (nft table 'inet sctplb' or 'sctplb-NAME'):\n"
    "every map element (client address, ports, Ts -> fwmark, time left before it expires) and\n"
    "the packets the kernel marked per target. Read through netlink (needs CAP_NET_ADMIN).";
using nlohmann::ordered_json;

}  // namespace

int run_fastpath(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "fastpath";
    auto parsed = parse_command(kCommand, kFastPathSpecs, args, kFastPathUsage, kFastPathDescription, false);
    if (!parsed.options) return parsed.exit_status;
    const std::string table = fastpath_table_name(parsed.shm);
    std::string error;
    auto nft = NftSession::open(error);
    if (!nft) return failure(kCommand, error);
    const auto info = nft->describe(table, error);
    if (!info) return failure(kCommand, error);
    std::vector<FastPathElement> elements;
    std::vector<FastPathTargetCounter> counters;
    if (!nft->dump(table, elements, error) || !nft->counters(table, counters, error)) return failure(kCommand, error);
    if (parsed.options->has("json")) {
        ordered_json out;
        out["table"] = table;
        out["mark_mask"] = info->mark_mask;
        out["map_size"] = info->map_size;
        out["timeout_ms"] = info->timeout_ms;
        ordered_json list = ordered_json::array();
        for (const FastPathElement& e : elements)
            list.push_back(ordered_json{{"client", e.key.client.to_string()},
                                        {"sport", e.key.sport},
                                        {"dport", e.key.dport},
                                        {"vtag", tag_hex(e.key.vtag)},
                                        {"fwmark", e.fwmark},
                                        {"expires_ms", e.expires_ms}});
        out["elements"] = std::move(list);
        ordered_json targets = ordered_json::array();
        for (const FastPathTargetCounter& c : counters)
            targets.push_back(ordered_json{{"fwmark", c.fwmark}, {"packets", c.packets}, {"bytes", c.bytes}});
        out["targets"] = std::move(targets);
        print(out.dump() + "\n");
        return 0;
    }
    char line[256];
    std::snprintf(line, sizeof line, "nft table inet %s: mark mask 0x%08x, maps of %u elements, timeout %" PRIu64 " ms\n",
                  table.c_str(), info->mark_mask, info->map_size, info->timeout_ms);
    std::string out = line;
    std::snprintf(line, sizeof line, "%-39s %5s %5s  %-10s  %10s  %s\n", "CLIENT", "SPORT", "DPORT", "TS", "FWMARK",
                  "EXPIRES(s)");
    out += line;
    for (const FastPathElement& e : elements) {
        std::snprintf(line, sizeof line, "%-39s %5u %5u  %-10s  %10" PRIu32 "  %.1f\n", e.key.client.to_string().c_str(),
                      static_cast<unsigned>(e.key.sport), static_cast<unsigned>(e.key.dport), tag_hex(e.key.vtag).c_str(),
                      e.fwmark, static_cast<double>(e.expires_ms) / 1000.0);
        out += line;
    }
    out += std::to_string(elements.size()) + " elements\npackets marked by the kernel per target:\n";
    for (const FastPathTargetCounter& c : counters) out += fast_path_target_line(c.fwmark, c.packets, c.bytes);
    print(out);
    return 0;
}
}  // namespace sctplb::cli
