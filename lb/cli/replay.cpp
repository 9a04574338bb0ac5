// `sctplb replay`: the daemon's decision code over a capture file, clocked by
// the capture's timestamps, so a trace of a real association shows which
// server every packet would have reached and why.
#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/association_table.hpp"
#include "cli/commands.hpp"
#include "core/decider.hpp"
#include "core/keyed_hash.hpp"
#include "core/maglev.hpp"
#include "core/number_text.hpp"
#include "cli/options.hpp"
#include "core/packet.hpp"
#include "cli/sequence_diagram.hpp"
#include "io/pcap_input.hpp"
#include "io/seed_file.hpp"

namespace sctplb::cli {

namespace {

constexpr std::string_view kCommand = "replay";
constexpr std::uint64_t kDefaultTargets = 3;
constexpr std::uint64_t kMaxReplayFwmarks = 65536;  // --targets N: fwmarks 1..N (no shared target slots here)
constexpr std::uint32_t kReplayTableCapacity = 65536;
constexpr std::size_t kExpireBudget = 64;  // slots swept per packet, as the daemon does per batch

constexpr OptionSpec kSpecs[] = {
    {"pcap", "FILE", "capture to replay (pcap or pcapng; - reads stdin)"},
    {"vip", "ADDR[,ADDR...]", "virtual addresses: to a VIP is in, from a VIP is out"},
    {"targets", "N", "targets with fwmarks 1..N (default 3)"},
    {"fwmarks", "F1,F2,...", "the targets' fwmarks instead of --targets"},
    {"weights", "W1,W2,...", "Maglev weights 1..100, one per target in the order above (default all 1)"},
    {"hash", "vtag|ports", "how new associations are balanced (default vtag)"},
    {"M", "PRIME", "Maglev table size, prime, >= targets (default 997)"},
    {"seed-file", "FILE", "keyed-hash seed (not world-readable); default: the built-in seed"},
    {"encap-port", "PORT", "UDP port of SCTP over UDP, RFC 6951 (default 0: off)"},
    {"server-inits", "FWMARK", "an INIT from a VIP is a server's (as the LB's --server-queue saw it), sent by FWMARK"},
    {"json", "", "one JSON object per packet, then a summary object"},
    {"diagram", "OUT.svg", "also draw the packets as an SVG sequence diagram, with each decision"},
    {"diagram-packets", "N", "draw the first N packets to or from a VIP (1..10000, default 200)"},
    {"diagram-association", "VTAG|INDEX", "draw one association: a tag (0x...) or its number (#N, printed after the summary)"},
};

constexpr std::string_view kUsage =
    "sctplb replay --pcap FILE --vip ADDR[,ADDR...] [--targets N | --fwmarks 1,2,3] [--weights 1,2,1]\n"
    "                     [--hash vtag|ports] [--M 997] [--seed-file F] [--encap-port P]\n"
    "                     [--server-inits FWMARK] [--json]\n"
    "                     [--diagram OUT.svg [--diagram-packets N] [--diagram-association VTAG|INDEX]]";
constexpr std::string_view kDescription =
    "Runs every packet of a capture through the daemon's decision code (same Maglev table,\n"
    "association table and rules), with the capture's timestamps as the clock, and prints\n"
    "the verdict of each packet and a summary of counters and associations, with each\n"
    "target's share of the new associations beside its weight's share.\n"
    "With --diagram it also draws the packets as a sequence diagram: one arrow per packet\n"
    "from its source lane to its destination lane (client addresses, sctplb's VIPs, the\n"
    "targets), labelled with its chunks and path, and sctplb's verdict and reason beside\n"
    "every client packet; dropped packets end at the LB lane with a red cross.";

struct ReplayConfig {
    std::string pcap_path;
    std::vector<IpAddress> vips;
    std::vector<MaglevTarget> targets;  // weight 1 unless --weights
    HashMode mode = HashMode::Vtag;
    std::uint32_t maglev_size = kMaglevDefaultM;
    std::optional<std::string> seed_file;
    std::uint16_t encapsulation_port = 0;
    // Server-initiated associations: a capture does not say which server sent
    // a VIP-source INIT (the daemon knows it by MAC); this does. nullopt: such
    // INITs are server -> client packets, nothing is recorded.
    std::optional<std::uint32_t> server_inits;
    bool json = false;
    std::optional<std::string> diagram_path;
    DiagramSelection diagram_selection;
};

// --diagram-association: "0x..." is a verification tag (as replay prints tags),
// a decimal number the association's index.
bool parse_diagram_association(const std::string& text, DiagramSelection& selection, std::string& error) {
    const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    // Tag 0 is every INIT's (RFC 9260 §8.5.1): it names no association.
    if (const auto value = parse_unsigned(text, 1, hex ? 0xffffffffu : kDiagramMaxPackets)) {
        if (hex)
            selection.vtag = static_cast<std::uint32_t>(*value);
        else
            selection.association = static_cast<std::uint32_t>(*value);
        return true;
    }
    error = "--diagram-association: '";
    error += text;
    error += "' is neither a non-zero tag (0x...) nor an association number (1..";
    error += std::to_string(kDiagramMaxPackets);
    error += ')';
    return false;
}

bool parse_diagram_options(const Options& options, ReplayConfig& config, std::string& error) {
    if (const auto path = options.value("diagram")) {
        if (path->empty()) {
            error = "--diagram: needs a file name";
            return false;
        }
        config.diagram_path = *path;
    }
    for (const char* option : {"diagram-packets", "diagram-association"}) {
        if (options.has(option) && !config.diagram_path) {
            error = "--";
            error += option;
            error += " needs --diagram OUT.svg";
            return false;
        }
    }
    if (const auto text = options.value("diagram-packets")) {
        const auto packets = parse_unsigned(*text, 1, kDiagramMaxPackets);
        if (!packets) {
            error = "--diagram-packets: must be 1..";
            error += std::to_string(kDiagramMaxPackets);
            return false;
        }
        config.diagram_selection.max_packets = static_cast<std::size_t>(*packets);
    }
    if (const auto text = options.value("diagram-association"))
        return parse_diagram_association(*text, config.diagram_selection, error);
    return true;
}

// Parses and validates everything; nullopt with `error` set on the first mistake.
std::optional<ReplayConfig> make_config(const Options& options, std::string& error) {
    ReplayConfig config;
    if (!options.positional().empty()) {
        error = "unexpected argument '" + options.positional().front() + "'";
        return std::nullopt;
    }
    const auto pcap = options.value("pcap");
    if (!pcap || pcap->empty()) {
        error = "--pcap FILE is required";
        return std::nullopt;
    }
    config.pcap_path = *pcap;

    const auto vip = options.value("vip");
    if (!vip) {
        error = "--vip ADDR[,ADDR...] is required";
        return std::nullopt;
    }
    if (!parse_address_list(*vip, "vip", config.vips, error)) return std::nullopt;

    if (options.has("targets") && options.has("fwmarks")) {
        error = "--targets and --fwmarks exclude each other";
        return std::nullopt;
    }
    if (const auto list = options.value("fwmarks")) {
        for (std::string_view text : split_list(*list)) {
            const auto fwmark = parse_unsigned(text, 1, 0xffffffffu);
            if (!fwmark) {
                error = "--fwmarks: '" + std::string(text) + "' is not a fwmark in 1..4294967295";
                return std::nullopt;
            }
            const auto mark = static_cast<std::uint32_t>(*fwmark);
            if (std::any_of(config.targets.begin(), config.targets.end(),
                            [&](const MaglevTarget& t) { return t.fwmark == mark; })) {
                error = "--fwmarks: " + std::to_string(mark) + " given twice";
                return std::nullopt;
            }
            config.targets.push_back({mark, 1});
        }
    } else {
        std::uint64_t targets = kDefaultTargets;
        if (const auto text = options.value("targets")) {
            const auto parsed = parse_unsigned(*text, 1, kMaxReplayFwmarks);
            if (!parsed) {
                error = "--targets: '" + *text + "' is not a number in 1.." + std::to_string(kMaxReplayFwmarks);
                return std::nullopt;
            }
            targets = *parsed;
        }
        for (std::uint64_t mark = 1; mark <= targets; ++mark)
            config.targets.push_back({static_cast<std::uint32_t>(mark), 1});
    }

    if (const auto list = options.value("weights")) {
        const auto texts = split_list(*list);
        if (texts.size() != config.targets.size()) {
            error = "--weights: ";
            error += std::to_string(texts.size());
            error += " weights for ";
            error += std::to_string(config.targets.size());
            error += " targets";
            return std::nullopt;
        }
        for (std::size_t i = 0; i < texts.size(); ++i) {
            const auto weight = parse_unsigned(texts[i], 1, kMaglevMaxWeight);
            if (!weight) {
                error = "--weights: '";
                error += texts[i];
                error += "' is not a weight in 1..";
                error += std::to_string(kMaglevMaxWeight);
                error += " (Maglev's table must stay much larger than the sum of weights)";
                return std::nullopt;
            }
            config.targets[i].weight = static_cast<std::uint32_t>(*weight);
        }
    }

    if (const auto text = options.value("hash")) {
        const auto mode = parse_hash_mode(*text);
        if (!mode) {
            error = "--hash: '" + *text + "' is neither vtag nor ports";
            return std::nullopt;
        }
        config.mode = *mode;
    }

    if (const auto text = options.value("M")) {
        const auto m = parse_unsigned(*text, 2, kMaglevMaxM);
        if (!m || !is_prime(static_cast<std::uint32_t>(*m))) {
            error = "--M: '" + *text + "' is not a prime in 2.." + std::to_string(kMaglevMaxM);
            return std::nullopt;
        }
        config.maglev_size = static_cast<std::uint32_t>(*m);
    }
    std::uint64_t weight_sum = 0;
    for (const MaglevTarget& target : config.targets) weight_sum += target.weight;
    if (config.maglev_size < weight_sum) {
        error = "--M ";
        error += std::to_string(config.maglev_size);
        error += " is smaller than the sum of the targets' weights, ";
        error += std::to_string(weight_sum);
        return std::nullopt;
    }

    if (const auto text = options.value("seed-file")) config.seed_file = *text;

    if (const auto text = options.value("encap-port")) {
        const auto port = parse_unsigned(*text, 0, 65535);
        if (!port) {
            error = "--encap-port: '" + *text + "' is not a port in 0..65535";
            return std::nullopt;
        }
        config.encapsulation_port = static_cast<std::uint16_t>(*port);
    }
    if (const auto text = options.value("server-inits")) {
        const auto fwmark = parse_number32(*text);
        if (!fwmark || *fwmark == 0) {
            error = "--server-inits: '" + *text + "' is not a non-zero fwmark";
            return std::nullopt;
        }
        config.server_inits = *fwmark;
    }
    config.json = options.has("json");
    if (!parse_diagram_options(options, config, error)) return std::nullopt;
    return config;
}

// Memory for the association table: 64-byte aligned as create() requires.
struct AlignedFree {
    void operator()(std::byte* memory) const { std::free(memory); }
};
using TableMemory = std::unique_ptr<std::byte, AlignedFree>;

TableMemory allocate_table_memory(std::size_t bytes) {
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    return TableMemory(static_cast<std::byte*>(std::aligned_alloc(64, rounded)));
}

bool contains(const std::vector<IpAddress>& addresses, const IpAddress& address) {
    return std::find(addresses.begin(), addresses.end(), address) != addresses.end();
}

// The parse got as far as the SCTP common header: ports and vtag are real.
bool has_sctp_header(ParseStatus status) {
    switch (status) {
        case ParseStatus::Ok:
        case ParseStatus::NoChunks:
        case ParseStatus::BadChunkLength:
        case ParseStatus::TooManyChunks:
        case ParseStatus::BadInit:
        case ParseStatus::BadParameter:
        case ParseStatus::TooManyParameters:
        case ParseStatus::InitBundled:
            return true;
        default:
            return false;
    }
}

std::string hex32(std::uint32_t value) {
    char text[11];
    std::snprintf(text, sizeof text, "0x%08" PRIx32, value);
    return text;
}

std::vector<std::string> chunk_names(const ParsedPacket& packet) {
    std::vector<std::string> names;
    const std::size_t kept = std::min<std::size_t>(packet.chunk_count, kMaxChunkTypesKept);
    for (std::size_t i = 0; i < kept; ++i) {
        const std::uint8_t type = packet.chunk_types[i];
        const std::string_view name = chunk_type_name(type);
        if (name == "UNKNOWN") {
            char text[5];
            std::snprintf(text, sizeof text, "0x%02x", type);
            names.emplace_back(text);
        } else {
            names.emplace_back(name);
        }
    }
    if (packet.chunk_count > kept) names.push_back("+" + std::to_string(packet.chunk_count - kept));
    return names;
}

// One replayed packet, ready to print.
struct Row {
    const CapturedPacket& captured;
    const ParsedPacket& parsed;
    Direction direction;
    Verdict verdict;
    std::chrono::nanoseconds offset;  // since the first packet
};

void print_json_row(const Row& row) {
    using nlohmann::ordered_json;
    const ParsedPacket& p = row.parsed;
    const bool addresses = p.ip_version != 0;
    const bool sctp = has_sctp_header(p.status);
    ordered_json line;
    line["n"] = row.captured.number;
    line["dir"] = direction_name(row.direction);
    line["verdict"] = action_name(row.verdict.action);
    line["fwmark"] = row.verdict.action == Action::AcceptMarked ? ordered_json(row.verdict.fwmark)
                                                                 : ordered_json(nullptr);
    line["reason"] = reason_name(row.verdict.reason);
    line["src"] = addresses ? ordered_json(p.src.to_string()) : ordered_json(nullptr);
    line["dst"] = addresses ? ordered_json(p.dst.to_string()) : ordered_json(nullptr);
    line["sport"] = sctp ? ordered_json(p.sport) : ordered_json(nullptr);
    line["dport"] = sctp ? ordered_json(p.dport) : ordered_json(nullptr);
    line["vtag"] = sctp ? ordered_json(hex32(p.vtag)) : ordered_json(nullptr);
    line["chunks"] = sctp ? ordered_json(chunk_names(p)) : ordered_json(nullptr);
    const std::string text = line.dump() + "\n";
    std::fputs(text.c_str(), stdout);
}

constexpr int kAddressWidth = 15;  // an IPv4 address; IPv6 rows grow wider

// Columns: N TIME DIR SOURCE -> DESTINATION PORTS VTAG VERDICT FWMARK REASON CHUNKS.
// CHUNKS comes last because its width varies.
void print_text_header() {
    std::printf("%6s %12s %-5s %*s    %-*s  %-14s  %-10s  %-7s  %-6s  %-20s  %s\n", "N", "TIME(s)",
                "DIR", kAddressWidth, "SOURCE", kAddressWidth, "DESTINATION", "PORTS", "VTAG",
                "VERDICT", "FWMARK", "REASON", "CHUNKS");
}

void print_text_row(const Row& row) {
    const ParsedPacket& p = row.parsed;
    const bool addresses = p.ip_version != 0;
    const bool sctp = has_sctp_header(p.status);
    std::string chunks;
    if (sctp) {
        for (const auto& name : chunk_names(p)) chunks += (chunks.empty() ? "" : ",") + name;
    } else if (!row.captured.is_ip) {
        chunks = "(not IP)";
    }
    if (p.truncated || row.captured.captured_length < row.captured.wire_length)
        chunks += " (captured " + std::to_string(row.captured.captured_length) + " of " +
                  std::to_string(row.captured.wire_length) + " bytes)";
    const std::string ports =
        sctp ? std::to_string(p.sport) + " -> " + std::to_string(p.dport) : std::string("-");
    const std::string fwmark = row.verdict.action == Action::AcceptMarked
                                   ? std::to_string(row.verdict.fwmark)
                                   : std::string("-");
    const double seconds = static_cast<double>(row.offset.count()) / 1e9;
    std::printf("%6" PRIu64 " %12.6f %-5s %*s -> %-*s  %-14s  %-10s  %-7s  %-6s  %-20s  %s\n",
                row.captured.number, seconds, std::string(direction_name(row.direction)).c_str(),
                kAddressWidth, addresses ? p.src.to_string().c_str() : "-", kAddressWidth,
                addresses ? p.dst.to_string().c_str() : "-", ports.c_str(),
                sctp ? hex32(p.vtag).c_str() : "-",
                std::string(action_name(row.verdict.action)).c_str(), fwmark.c_str(),
                std::string(reason_name(row.verdict.reason)).c_str(), chunks.c_str());
}

template <typename Fn>
void for_each_counter(const Counters& counters, Fn&& fn) {
    for (std::size_t i = 0; i < kReasonCount; ++i)
        fn(reason_name(static_cast<Reason>(i)), counters.reasons[i]);
    for (std::size_t i = 0; i < kEventCount; ++i)
        fn(event_name(static_cast<Event>(i)), counters.events[i]);
}

std::vector<std::string> address_strings(const Association& a) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < a.address_count && i < a.addresses.size(); ++i)
        out.push_back(a.addresses[i].to_string());
    return out;
}

// One target's part of the replay: its weight, its Maglev slots and the new
// associations the capture gave it, so the proportions can be compared.
struct TargetTally {
    std::uint32_t fwmark = 0;
    std::uint32_t weight = 1;
    std::uint64_t slots = 0;
    std::uint64_t new_associations = 0;  // init-hash and ports-hash verdicts
};

std::vector<TargetTally> make_tallies(std::span<const MaglevTarget> targets, std::span<const std::uint32_t> maglev) {
    std::vector<TargetTally> tallies;
    for (const MaglevTarget& t : targets) {
        const auto slots = static_cast<std::uint64_t>(std::count(maglev.begin(), maglev.end(), t.fwmark));
        tallies.push_back({t.fwmark, t.weight, slots, 0});
    }
    return tallies;
}

void count_new_association(std::vector<TargetTally>& tallies, const Verdict& verdict) {
    if (verdict.reason != Reason::InitHash && verdict.reason != Reason::PortsHash) return;
    for (TargetTally& tally : tallies)
        if (tally.fwmark == verdict.fwmark) ++tally.new_associations;
}

double percent(std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

struct TallyTotals {
    std::uint64_t weights = 0;
    std::uint64_t slots = 0;
    std::uint64_t new_associations = 0;
};

TallyTotals totals_of(std::span<const TargetTally> tallies) {
    TallyTotals totals;
    for (const TargetTally& t : tallies) {
        totals.weights += t.weight;
        totals.slots += t.slots;
        totals.new_associations += t.new_associations;
    }
    return totals;
}

void print_json_summary(std::uint64_t packets, const Counters& counters,
                        const AssociationTable& table, std::span<const TargetTally> tallies) {
    using nlohmann::ordered_json;
    ordered_json counter_object = ordered_json::object();
    for_each_counter(counters, [&](std::string_view name, std::uint64_t value) {
        counter_object[std::string(name)] = value;
    });
    ordered_json associations = ordered_json::array();
    table.for_each([&](AssociationId, const Association& a) {
        ordered_json entry;
        entry["sport"] = a.sport;
        entry["dport"] = a.dport;
        entry["tc"] = hex32(a.tc);
        entry["ts"] = hex32(a.ts);
        entry["fwmark"] = a.fwmark;
        entry["addresses"] = address_strings(a);
        entry["state"] = association_state_name(a.state);
        associations.push_back(std::move(entry));
    });
    const TallyTotals totals = totals_of(tallies);
    ordered_json targets = ordered_json::array();
    for (const TargetTally& t : tallies) {
        ordered_json entry;
        entry["fwmark"] = t.fwmark;
        entry["weight"] = t.weight;
        entry["weight_share"] = percent(t.weight, totals.weights) / 100.0;
        entry["maglev_slots"] = t.slots;
        entry["new_associations"] = t.new_associations;
        entry["new_share"] = percent(t.new_associations, totals.new_associations) / 100.0;
        targets.push_back(std::move(entry));
    }
    ordered_json summary;
    summary["packets"] = packets;
    summary["counters"] = std::move(counter_object);
    summary["targets"] = std::move(targets);
    summary["associations"] = std::move(associations);
    ordered_json line;
    line["summary"] = std::move(summary);
    const std::string text = line.dump() + "\n";
    std::fputs(text.c_str(), stdout);
}

void print_text_summary(std::uint64_t packets, const Counters& counters,
                        const AssociationTable& table, std::span<const TargetTally> tallies) {
    std::printf("\npackets: %" PRIu64 "\ncounters (non-zero):\n", packets);
    for_each_counter(counters, [](std::string_view name, std::uint64_t value) {
        if (value != 0)
            std::printf("  %-24s %" PRIu64 "\n", std::string(name).c_str(), value);
    });
    const TallyTotals totals = totals_of(tallies);
    std::printf("targets: new associations against weights\n  %10s  %6s  %6s  %8s  %6s  %7s  %6s\n", "FWMARK",
                "WEIGHT", "SHARE", "SLOTS", "SHARE", "NEW", "SHARE");
    for (const TargetTally& t : tallies)
        std::printf("  %10" PRIu32 "  %6" PRIu32 "  %5.1f%%  %8" PRIu64 "  %5.1f%%  %7" PRIu64 "  %5.1f%%\n", t.fwmark,
                    t.weight, percent(t.weight, totals.weights), t.slots, percent(t.slots, totals.slots),
                    t.new_associations, percent(t.new_associations, totals.new_associations));
    std::printf("associations: %" PRIu32 "\n", table.size());
    table.for_each([](AssociationId, const Association& a) {
        std::string addresses;
        for (const auto& text : address_strings(a)) addresses += (addresses.empty() ? "" : ", ") + text;
        std::printf("  %5u -> %-5u  tc %s  ts %s  fwmark %-6" PRIu32 " %-15s  %s\n",
                    static_cast<unsigned>(a.sport), static_cast<unsigned>(a.dport),
                    hex32(a.tc).c_str(), hex32(a.ts).c_str(), a.fwmark,
                    std::string(association_state_name(a.state)).c_str(), addresses.c_str());
    });
}

// ---------------------------------------------------------------- --diagram

// The association a packet belongs to, looked up after its decision (which may
// have created or re-keyed it). Client -> VIP packets carry Ts, an INIT its Tc
// as initiate tag, a T-bit ABORT or SHUTDOWN COMPLETE Tc (RFC 9260 §8.5.1);
// VIP -> client packets carry Tc. Else any association of the peer and ports.
AssociationId association_of(const AssociationTable& table, const ParsedPacket& p, Direction direction, Nanos now) {
    if (!has_sctp_header(p.status) || p.ip_version == 0) return kNoAssociation;
    const bool to_vip = direction == Direction::In;
    const IpAddress& peer = to_vip ? p.src : p.dst;
    const std::uint16_t peer_port = to_vip ? p.sport : p.dport;
    const std::uint16_t vip_port = to_vip ? p.dport : p.sport;
    AssociationTable::Found found;
    if (to_vip && p.has_init)
        found = table.find_by_tc(peer, peer_port, vip_port, p.init.initiate_tag, now);
    else if (to_vip && !p.t_bit)
        found = table.find_by_ts(peer, peer_port, vip_port, p.vtag, now);
    else
        found = table.find_by_tc(peer, peer_port, vip_port, p.vtag, now);
    if (found.id == kNoAssociation) found = table.find_by_peer(peer, peer_port, vip_port, now);
    return found.id;
}

std::string decision_words(const Verdict& verdict) {
    std::string words(action_name(verdict.action));
    if (verdict.action == Action::AcceptMarked) {
        words += "  fwmark ";
        words += std::to_string(verdict.fwmark);
    }
    words += "  ";
    words += reason_name(verdict.reason);
    return words;
}

// Numbers the associations 1, 2, ... as the capture shows them. A table slot
// is reused with a new generation, so (slot, generation) is one association,
// through restarts too.
class AssociationNumbers {
public:
    std::uint32_t of(AssociationId id, std::uint32_t generation) {
        const auto [at, added] = numbers_.try_emplace({id, generation}, next_);
        if (added) ++next_;
        return at->second;
    }

private:
    std::map<std::pair<AssociationId, std::uint32_t>, std::uint32_t> numbers_;
    std::uint32_t next_ = 1;
};

// Every packet to or from a VIP, offered to the diagram with its decision.
class DiagramCollector {
public:
    explicit DiagramCollector(DiagramSelection selection) : recorder_(selection) {}

    void add(const Row& row, const AssociationTable& table, Nanos now) {
        const ParsedPacket& p = row.parsed;
        if (p.ip_version == 0 || row.direction == Direction::Other) return;
        const bool to_vip = row.direction == Direction::In;
        DiagramPacket packet;
        packet.number = row.captured.number;
        packet.offset_ns = row.offset.count();
        packet.direction = to_vip ? DiagramDirection::ToVip : DiagramDirection::FromVip;
        packet.client = (to_vip ? p.src : p.dst).to_string();
        packet.vip = (to_vip ? p.dst : p.src).to_string();
        if (has_sctp_header(p.status)) {
            packet.client_port = to_vip ? p.sport : p.dport;
            packet.server_port = to_vip ? p.dport : p.sport;
            packet.vtag = p.vtag;
            for (const auto& name : chunk_names(p)) {
                if (!packet.chunks.empty()) packet.chunks += ',';
                packet.chunks += name;
            }
        } else {
            packet.chunks = "(";
            packet.chunks += parse_status_name(p.status);
            packet.chunks += ')';
        }
        packet.decision = decision_words(row.verdict);
        packet.dropped = row.verdict.action == Action::Drop;
        if (p.has_init || p.has_init_ack) (to_vip ? packet.tc : packet.ts) = p.init.initiate_tag;
        const AssociationId id = association_of(table, p, row.direction, now);
        if (id != kNoAssociation) {
            const Association& a = table.at(id);
            packet.association = numbers_.of(id, a.generation);
            packet.tc = a.tc != 0 ? a.tc : packet.tc;
            packet.ts = a.ts != 0 ? a.ts : packet.ts;
            if (a.fwmark != 0 && !(to_vip && packet.dropped)) packet.server = a.fwmark;
            if (!to_vip && p.has_init_ack) packet.tc = p.vtag;
        }
        if (row.verdict.action == Action::AcceptMarked) packet.server = row.verdict.fwmark;
        recorder_.offer(std::move(packet));
    }

    [[nodiscard]] const DiagramRecorder& recorder() const { return recorder_; }

private:
    DiagramRecorder recorder_;
    AssociationNumbers numbers_;
};

struct FileClose {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using OutputFile = std::unique_ptr<std::FILE, FileClose>;

std::string cannot_write(const std::string& path, int error_number) {
    std::string message = "cannot write ";
    message += path;
    message += ": ";
    message += std::strerror(error_number);
    return message;
}

std::string selection_words(const DiagramSelection& selection) {
    std::string words;
    if (selection.association) {
        words = "association #";
        words += std::to_string(*selection.association);
        words += ", ";
    } else if (selection.vtag) {
        words = "the association of tag ";
        words += hex32(*selection.vtag);
        words += ", ";
    }
    words += "first ";
    words += std::to_string(selection.max_packets);
    words += " packets";
    return words;
}

// Draws what the collector kept into `file`; an error message, or "" when written.
std::string write_diagram(const ReplayConfig& config, const DiagramRecorder& recorder, OutputFile file) {
    DiagramTitle title{.capture = config.pcap_path, .matched = recorder.matched(),
                       .selection = selection_words(config.diagram_selection)};
    for (const IpAddress& vip : config.vips) title.vips.push_back(vip.to_string());
    const std::string svg = render_sequence_diagram(title, recorder.packets());
    const bool written = std::fwrite(svg.data(), 1, svg.size(), file.get()) == svg.size();
    const int write_error = errno;
    if (std::fclose(file.release()) != 0 || !written) return cannot_write(*config.diagram_path, written ? errno : write_error);
    return {};
}

// After the text summary: the associations drawn, by the numbers
// --diagram-association takes.
void print_diagram_summary(const ReplayConfig& config, const DiagramRecorder& recorder) {
    std::printf("diagram: %s: %zu of %" PRIu64 " packets to or from a VIP\n", config.diagram_path->c_str(),
                recorder.packets().size(), recorder.matched());
    for (const auto& [index, p] : last_packet_of_each_association(recorder.packets()))
        std::printf("  #%-4" PRIu32 " %5u -> %-5u  tc %s  ts %s\n", index, static_cast<unsigned>(p->client_port),
                    static_cast<unsigned>(p->server_port), hex32(p->tc).c_str(), hex32(p->ts).c_str());
}

int replay(const ReplayConfig& config) {
    std::optional<KeyedHash> hash;
    if (config.seed_file) {
        std::string error;
        hash = load_keyed_hash(*config.seed_file, error);
        if (!hash) return usage_error(kCommand, error);
    } else {
        hash.emplace();  // the fixed built-in seed: replays are reproducible
    }

    std::vector<std::uint32_t> maglev(config.maglev_size);
    if (!maglev_populate_weighted(*hash, config.targets, maglev))
        return usage_error(kCommand, "cannot build the Maglev table from these fwmarks");

    const TableLimits limits{.capacity = kReplayTableCapacity};
    const std::size_t table_bytes = AssociationTable::bytes_needed(limits);
    TableMemory memory = allocate_table_memory(table_bytes);
    if (!memory) return usage_error(kCommand, "out of memory for the association table");
    auto table = AssociationTable::create(std::span(memory.get(), table_bytes), limits, Timeouts{});
    if (!table) return usage_error(kCommand, "cannot lay out the association table");

    std::string error;
    auto input = PcapInput::open(config.pcap_path, error);
    if (!input) return usage_error(kCommand, error);
    OutputFile diagram_file;
    std::optional<DiagramCollector> diagram;
    if (config.diagram_path) {
        diagram_file.reset(std::fopen(config.diagram_path->c_str(), "w"));
        if (!diagram_file) return usage_error(kCommand, cannot_write(*config.diagram_path, errno));
        diagram.emplace(config.diagram_selection);
    }

    std::vector<TargetTally> tallies = make_tallies(config.targets, maglev);
    Decider decider(DeciderConfig{.mode = config.mode}, *hash, *table);
    const ParseOptions parse_options{.encapsulation_port = config.encapsulation_port};
    Counters counters;
    CapturedPacket captured;
    ParsedPacket parsed;
    std::optional<Nanos> first;
    Nanos now{0};
    std::uint64_t packets = 0;

    if (!config.json) print_text_header();
    PcapInput::ReadStatus status;
    while ((status = input->next(captured, error)) == PcapInput::ReadStatus::Packet) {
        ++packets;
        if (!first) first = captured.timestamp;
        // Captures from several interfaces can step back a little; the table's clock must not.
        now = std::max(now, captured.timestamp);
        table->expire(now, kExpireBudget, counters);

        Direction direction = Direction::Other;
        if (captured.is_ip) {
            parse_packet(captured.ip, parse_options, parsed);
        } else {
            parsed = ParsedPacket{};  // status NotIp
        }
        if (parsed.ip_version != 0) {
            if (contains(config.vips, parsed.dst))
                direction = Direction::In;
            else if (contains(config.vips, parsed.src))
                direction = config.server_inits && parsed.has_init ? Direction::FromServer : Direction::Out;
        }
        const Verdict verdict = direction == Direction::FromServer
                                    ? decider.decide_from_server(parsed, *config.server_inits, now, counters)
                                    : decider.decide(parsed, direction, maglev, now, counters);
        count_new_association(tallies, verdict);
        const Row row{captured, parsed, direction, verdict, captured.timestamp - *first};
        if (config.json)
            print_json_row(row);
        else
            print_text_row(row);
        if (diagram) diagram->add(row, *table, now);
    }

    if (config.json)
        print_json_summary(packets, counters, *table, tallies);
    else
        print_text_summary(packets, counters, *table, tallies);
    if (diagram) {
        if (!config.json) print_diagram_summary(config, diagram->recorder());
        std::fflush(stdout);
        const std::string write_error = write_diagram(config, diagram->recorder(), std::move(diagram_file));
        if (!write_error.empty()) return usage_error(kCommand, write_error);
    }
    std::fflush(stdout);
    if (status == PcapInput::ReadStatus::Error)
        return usage_error(kCommand, config.pcap_path + ": " + error);
    return 0;
}

}  // namespace

int run_replay(std::span<const std::string> args) {
    std::string error;
    const auto options = parse_options(kSpecs, args, error);
    if (!options) return usage_error(kCommand, error + " (try sctplb replay --help)");
    if (options->help_requested()) {
        const std::string help = format_help(kUsage, kDescription, kSpecs);
        std::fputs(help.c_str(), stdout);
        return 0;
    }
    const auto config = make_config(*options, error);
    if (!config) return usage_error(kCommand, error);
    return replay(*config);
}

}  // namespace sctplb::cli
