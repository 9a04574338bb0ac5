// `sctplb assoc`: list, export or import the associations.
#include "cli/control.hpp"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "io/association_export.hpp"
#include "core/association_table.hpp"
#include "cli/control_common.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

namespace {

using nlohmann::ordered_json;

constexpr OptionSpec kAssocSpecs[] = {
    kShmSpec,
    {"json", "", "one JSON object"},
    {"export", "FILE", "write every association to FILE (layout-independent JSON)"},
    {"import", "FILE", "add the associations of an export to this table"},
};
constexpr std::string_view kAssocUsage = "sctplb assoc [--shm=NAME] [--json | --export FILE | --import FILE]";
constexpr std::string_view kAssocDescription =
    "Lists every live association: ports, tags Tc and Ts, client and server addresses,\n"
    "target fwmark, state, age and idle time.\n"
    "--export and --import move the table across an upgrade that changes the shared-memory\n"
    "layout: export with the old sctplb, delete, init and import with the new one. Ages and\n"
    "idle times are kept.";

std::vector<Association> snapshot(SharedState& state) {
    std::vector<Association> records;
    const std::uint32_t capacity = state.table().capacity();
    for (std::uint32_t begin = 0; begin < capacity; begin += kSlotsPerLock) {
        const TableLock lock(state);
        state.table().for_each_in(begin, begin + kSlotsPerLock,
                                  [&](AssociationId, const Association& a) { records.push_back(a); });
    }
    return records;
}

double seconds_since(std::int64_t then_ns, std::int64_t now_ns) {
    return then_ns == 0 ? 0.0 : static_cast<double>(now_ns - then_ns) / 1e9;
}

template <std::size_t N>
std::string joined(const std::array<IpAddress, N>& addresses, std::size_t count) {
    std::string out;
    for (std::size_t i = 0; i < count && i < N; ++i) {
        if (i) out += ',';
        out += addresses[i].to_string();  // piece by piece: gcc 12 -O3 -Wrestrict
    }
    return out.empty() ? "-" : out;
}

int assoc_export(std::string_view command, SharedState& state, const std::string& path) {
    AssociationExport exported;
    exported.associations = snapshot(state);
    exported.exported_monotonic_ns = monotonic_ns();
    std::string error;
    if (!write_export_file(path, exported, error)) return failure(command, error);
    print("exported " + std::to_string(exported.associations.size()) + " associations to " + path + "\n");
    return 0;
}

int assoc_import(std::string_view command, SharedState& state, const std::string& path) {
    std::string error;
    auto exported = read_export_file(path, state.table().capacity(), error);
    if (!exported) return failure(command, error);
    std::size_t imported = 0;
    std::map<std::string, std::size_t> skipped;
    {
        const TableLock lock(state);
        AssociationTable& table = state.table();
        // All or nothing: every record is checked against the targets before
        // the first goes in (under the table lock: `down` changes the targets
        // before it forgets their associations under that lock).
        if (const auto why = import_refusal(*exported, read_targets(state.header()), table.timeouts().restart_linger)) {
            std::string message = path + ": ";
            message += *why;
            return failure(command, message + "; nothing imported");
        }
        const std::int64_t now = monotonic_ns();
        for (Association a : exported->associations) {
            rebase_times(a, exported->exported_monotonic_ns, now);
            // One association per peer address and port pair: importing twice adds nothing.
            const AssociationTable::Found found = table.find_by_peer(a.addresses[0], a.sport, a.dport, Nanos{now});
            table.settle(found, Nanos{now});  // an expired entry goes (not the data path's counts)
            if (found.id != kNoAssociation) {
                ++skipped["already in the table"];
                continue;
            }
            if (table.size() >= table.capacity()) {
                ++skipped["table full"];
                continue;
            }
            if (table.insert_restored(a) == kNoAssociation) {
                ++skipped["refused by the table"];
                continue;
            }
            ++imported;
        }
    }
    std::size_t skipped_total = 0;
    std::string reasons;
    for (const auto& [reason, count] : skipped) {
        skipped_total += count;
        reasons += (reasons.empty() ? "" : ", ") + reason + ": " + std::to_string(count);
    }
    std::string out = "imported " + std::to_string(imported) + ", skipped " + std::to_string(skipped_total);
    if (!reasons.empty()) out += " (" + reasons + ")";
    print(out + "\n");
    return skipped.contains("table full") || skipped.contains("refused by the table") ? kExitFailure : 0;
}

}  // namespace

int run_assoc(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "assoc";
    auto parsed = parse_command(kCommand, kAssocSpecs, args, kAssocUsage, kAssocDescription, false);
    if (!parsed.options) return parsed.exit_status;
    const Options& options = *parsed.options;
    if (static_cast<int>(options.has("json")) + static_cast<int>(options.has("export")) +
            static_cast<int>(options.has("import")) > 1)
        return usage_error(kCommand, "--json, --export and --import exclude each other");
    for (const char* name : {"export", "import"})
        if (options.has(name) && options.value(name)->empty())
            return usage_error(kCommand, std::string("--") + name + " needs a FILE");
    auto state = open_segment(kCommand, parsed.shm);
    if (!state) return kExitFailure;
    if (const auto path = options.value("export")) return assoc_export(kCommand, *state, *path);
    if (const auto path = options.value("import")) return assoc_import(kCommand, *state, *path);

    const std::vector<Association> records = snapshot(*state);
    const std::int64_t now = monotonic_ns();
    // Which instance taught us the association: "local", or the sync peer's address.
    const auto learned = [&](const Association& a) -> std::string {
        if (!a.learned_from.is_peer()) return "local";
        const SyncPeerShared& peer = state->header().sync.peers[a.learned_from.peer_index() % kMaxSyncPeers];
        const std::string address(peer.address, strnlen(peer.address, sizeof peer.address));
        return address.empty() ? "peer " + std::to_string(a.learned_from.peer_index() + 1) : address;
    };
    if (options.has("json")) {
        ordered_json list = ordered_json::array();
        for (const Association& a : records) {
            ordered_json item;
            item["sport"] = a.sport;
            item["dport"] = a.dport;
            item["tc"] = tag_hex(a.tc);
            item["ts"] = tag_hex(a.ts);
            item["addresses"] = ordered_json::array();
            for (std::size_t i = 0; i < a.address_count && i < kMaxClientAddresses; ++i)
                item["addresses"].push_back(a.addresses[i].to_string());
            item["server_addresses"] = ordered_json::array();
            for (std::size_t i = 0; i < a.server_address_count && i < kMaxServerAddresses; ++i)
                item["server_addresses"].push_back(a.server_addresses[i].to_string());
            item["fwmark"] = a.fwmark;
            item["state"] = association_state_name(a.state);
            item["age_s"] = seconds_since(a.created_ns, now);
            item["idle_s"] = seconds_since(a.last_seen_ns, now);
            item["learned"] = learned(a);
            item["fastpath"] = a.in_fast_path;
            // "in": the peer (client) opened it to a VIP; "out": the server did.
            item["direction"] = a.server_initiated ? "out" : "in";
            list.push_back(std::move(item));
        }
        ordered_json out;
        out["count"] = records.size();
        out["associations"] = std::move(list);
        print(out.dump() + "\n");
        return 0;
    }
    char line[256];
    std::string out;
    std::snprintf(line, sizeof line, "%5s %5s  %-10s  %-10s  %10s  %-15s  %8s  %8s  %-21s  %-8s  %-3s  %s  %s\n", "SPORT",
                  "DPORT", "TC", "TS", "FWMARK", "STATE", "AGE(s)", "IDLE(s)", "LEARNED", "FASTPATH", "DIR", "CLIENT",
                  "SERVER");
    out += line;
    for (const Association& a : records) {
        std::snprintf(line, sizeof line, "%5u %5u  %-10s  %-10s  %10" PRIu32 "  %-15s  %8.1f  %8.1f  %-21s  %-8s  %-3s  ",
                      static_cast<unsigned>(a.sport), static_cast<unsigned>(a.dport), tag_hex(a.tc).c_str(),
                      tag_hex(a.ts).c_str(), a.fwmark, std::string(association_state_name(a.state)).c_str(),
                      seconds_since(a.created_ns, now), seconds_since(a.last_seen_ns, now), learned(a).c_str(),
                      a.in_fast_path ? "kernel" : "-", a.server_initiated ? "out" : "in");
        out += line + joined(a.addresses, a.address_count) + "  " +
               joined(a.server_addresses, a.server_address_count) + "\n";
    }
    out += std::to_string(records.size()) + " associations\n";
    print(out);
    return 0;
}
}  // namespace sctplb::cli
