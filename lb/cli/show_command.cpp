// `sctplb show`: configuration, targets, Maglev excerpt, config digest.
#include "cli/control.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>

#include <nlohmann/json.hpp>

#include "cli/control_common.hpp"
#include "core/decider.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

namespace {

using nlohmann::ordered_json;

constexpr std::size_t kLookupExcerpt = 20;

std::int64_t realtime_now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// "1.5s" since the last probe, "-" when none.
std::string probe_age(const HealthView* v) {
    if (v == nullptr || v->last_probe_unix_ns == 0) return "-";
    char text[32];
    std::snprintf(text, sizeof text, "%.1fs", static_cast<double>(std::max<std::int64_t>(0, realtime_now_ns() - v->last_probe_unix_ns)) / 1e9);
    return text;
}

// One target's health (null when no health process probes it).
ordered_json health_json(const HealthView* v) {
    if (v == nullptr) return nullptr;
    return ordered_json{{"state", health_state_name(v->state)},
                        {"last_result", probe_result_name(v->last_result)},
                        {"last_probe_unix_ns", v->last_probe_unix_ns},
                        {"last_rtt_ns", v->last_rtt_ns},
                        {"held", v->held},
                        {"probes_ok", v->probes_ok},
                        {"probes_failed", v->probes_failed},
                        {"went_up", v->went_up},
                        {"went_down", v->went_down}};
}

constexpr OptionSpec kShowSpecs[] = {kShmSpec, {"json", "", "one JSON object"}};
constexpr std::string_view kShowUsage = "sctplb show [--shm=NAME] [--json]";
constexpr std::string_view kShowDescription =
    "Shows the configuration: Maglev M and N, hash mode, config digest (equal on every LB\n"
    "instance that balances alike), targets with their state, weight and Maglev share, the first\n"
    "slots of the lookup table, the running sctplb lb, and each target's health with its last\n"
    "probe result and time (sctplb health).";
}  // namespace

int run_show(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "show";
    auto parsed = parse_command(kCommand, kShowSpecs, args, kShowUsage, kShowDescription, false);
    if (!parsed.options) return parsed.exit_status;
    auto state = open_segment(kCommand, parsed.shm);
    if (!state) return kExitFailure;
    const SharedHeader& h = state->header();

    // A consistent snapshot: writers hold the config lock.
    std::vector<TargetSlot> targets;
    std::vector<std::uint32_t> lookup;
    std::string digest;
    std::uint64_t generation = 0;
    {
        const ConfigLock config(*state);
        const TargetSnapshot all = read_targets(state->header());
        targets.assign(all.begin(), all.begin() + h.max_targets);
        const auto active = state->active_maglev();
        lookup.assign(active.begin(), active.end());
        digest = h.config_digest;
        generation = h.config_generation.load();
    }
    std::map<std::uint32_t, std::size_t> share;
    for (const std::uint32_t fwmark : lookup) ++share[fwmark];
    const std::int32_t pid = h.daemon_pid.load();
    const bool running = data_path_alive(pid);
    const std::size_t excerpt = std::min(kLookupExcerpt, lookup.size());
    const HealthReport health = read_health(h);
    const auto health_of = [&](std::uint32_t fwmark) -> const HealthView* {
        for (const HealthView& v : health.entries)
            if (v.fwmark == fwmark) return &v;
        return nullptr;
    };

    if (parsed.options->has("json")) {
        ordered_json out;
        out["shm"] = parsed.shm;
        out["layout_version"] = h.layout_version;
        out["M"] = h.maglev_m;
        out["N"] = h.max_targets;
        out["hash"] = hash_mode_name(h.hash_mode);
        out["config_digest"] = digest;
        out["config_generation"] = generation;
        out["daemon_pid"] = running ? ordered_json(pid) : ordered_json(nullptr);
        out["health_pid"] = health.pid != 0 ? ordered_json(health.pid) : ordered_json(nullptr);
        ordered_json list = ordered_json::array();
        for (std::uint32_t i = 0; i < targets.size(); ++i) {
            if (targets[i].state == TargetState::Unused) continue;
            const std::size_t slots = targets[i].state == TargetState::Active ? share[targets[i].fwmark] : 0;
            list.push_back(ordered_json{{"slot", i},
                                        {"fwmark", targets[i].fwmark},
                                        {"state", target_state_name(targets[i].state)},
                                        {"weight", targets[i].weight},
                                        {"maglev_slots", slots},
                                        {"health", health_json(health_of(targets[i].fwmark))}});
        }
        out["targets"] = std::move(list);
        out["lookup"] = std::vector<std::uint32_t>(lookup.begin(), lookup.begin() + static_cast<std::ptrdiff_t>(excerpt));
        print(out.dump() + "\n");
        return 0;
    }

    char line[512];
    std::string out;
    std::snprintf(line, sizeof line,
                  "shared memory '%s' (layout %" PRIu32 ")\nM %" PRIu32 "  N %" PRIu32
                  "  hash %s  config digest %s  generation %" PRIu64 "\n",
                  parsed.shm.c_str(), h.layout_version, h.maglev_m, h.max_targets,
                  std::string(hash_mode_name(h.hash_mode)).c_str(), digest.c_str(), generation);
    out += line;
    out += running ? "daemon: pid " + std::to_string(pid) + "\n" : std::string("daemon: not running\n");
    out += health.pid != 0 ? "health: pid " + std::to_string(health.pid) + "\n" : std::string("health: not running\n");
    out += "targets:\n";
    std::snprintf(line, sizeof line, "  %4s  %10s  %-8s  %6s  %8s  %6s  %-7s  %-10s  %s\n", "SLOT", "FWMARK", "STATE",
                  "WEIGHT", "SLOTS", "SHARE", "HEALTH", "LAST", "AGE");
    out += line;
    bool any = false;
    for (std::uint32_t i = 0; i < targets.size(); ++i) {
        if (targets[i].state == TargetState::Unused) continue;
        any = true;
        const std::size_t slots = targets[i].state == TargetState::Active ? share[targets[i].fwmark] : 0;
        const HealthView* v = health_of(targets[i].fwmark);
        std::snprintf(line, sizeof line, "  %4" PRIu32 "  %10" PRIu32 "  %-8s  %6" PRIu32 "  %8zu  %5.1f%%  %-7s  %-10s  %s\n",
                      i, targets[i].fwmark, std::string(target_state_name(targets[i].state)).c_str(), targets[i].weight,
                      slots, 100.0 * static_cast<double>(slots) / static_cast<double>(lookup.size()),
                      v ? std::string(health_state_name(v->state)).c_str() : "-",
                      v ? std::string(probe_result_name(v->last_result)).c_str() : "-", probe_age(v).c_str());
        out += line;
    }
    if (!any) out += "  (none: sctplb activate FWMARK...)\n";
    out += "lookup (first " + std::to_string(excerpt) + " of " + std::to_string(lookup.size()) + " slots):";
    for (std::size_t i = 0; i < excerpt; ++i) out += " " + std::to_string(lookup[i]);
    out += "\n";
    print(out);
    return 0;
}
}  // namespace sctplb::cli
