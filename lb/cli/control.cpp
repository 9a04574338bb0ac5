// `sctplb init | delete | activate | deactivate | down | show | assoc | stats |
// loglevel | trace`: the control side of the shared-memory segment. The data
// path (`sctplb lb`) reads what these write; none of them needs a restart.
#include "control.hpp"

#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "association_export.hpp"
#include "association_table.hpp"
#include "clock.hpp"
#include "config_digest.hpp"
#include "decider.hpp"
#include "keyed_hash.hpp"
#include "maglev.hpp"
#include "nft_fastpath.hpp"
#include "options.hpp"
#include "seed_file.hpp"
#include "shared_state.hpp"
#include "verdict.hpp"

namespace sctplb::cli {

namespace {

using nlohmann::ordered_json;

constexpr std::string_view kDefaultShm = "sctplb";
constexpr int kExitFailure = 1;
constexpr std::uint64_t kMaxCapacity = 1u << 26;      // AssociationTable's limit
constexpr std::uint64_t kMaxTimeoutSeconds = 7 * 86400;
constexpr std::size_t kLookupExcerpt = 20;
constexpr const char* kKernelQueueFile = "/proc/net/netfilter/nfnetlink_queue";
// Slots read per hold of the table lock: `assoc` and `down` walk a large table in
// pieces, so the data path never waits for the whole table.
constexpr std::uint32_t kSlotsPerLock = 4096;

constexpr OptionSpec kShmSpec{"shm", "NAME", "shared memory name (default sctplb): one per instance"};

// ---- shared plumbing -------------------------------------------------------

// Runtime failure: one line on stderr, exit 1.
int failure(std::string_view command, std::string_view message) {
    usage_error(command, message);  // same one-line format
    return kExitFailure;
}

void print(const std::string& text) { std::fputs(text.c_str(), stdout); }

std::int64_t monotonic_ns() { return monotonic_now().count(); }  // the daemon's `now`

// The parsed command line of one command, or the exit status to return now
// (0 after --help, 2 after a usage error).
struct Parsed {
    std::optional<Options> options;
    std::string shm;
    int exit_status = 0;
};

Parsed parse_command(std::string_view command, std::span<const OptionSpec> specs,
                     std::span<const std::string> args, std::string_view usage, std::string_view description,
                     bool positional_allowed) {
    Parsed parsed;
    std::string error;
    parsed.options = parse_options(specs, args, error);
    if (!parsed.options) {
        parsed.exit_status =
            usage_error(command, error + " (try sctplb " + std::string(command) + " --help)");
        return parsed;
    }
    if (parsed.options->help_requested()) {
        print(format_help(usage, description, specs));
        parsed.options.reset();
        return parsed;
    }
    if (!positional_allowed && !parsed.options->positional().empty()) {
        parsed.exit_status = usage_error(command, "unexpected argument '" + parsed.options->positional().front() + "'");
        parsed.options.reset();
        return parsed;
    }
    parsed.shm = parsed.options->value("shm").value_or(std::string(kDefaultShm));
    if (!valid_shared_memory_name(parsed.shm, error)) {
        parsed.exit_status = usage_error(command, error);
        parsed.options.reset();
    }
    return parsed;
}

std::string_view target_state_name(TargetState state) {
    switch (state) {
        case TargetState::Unused: return "unused";
        case TargetState::Active: return "active";
        case TargetState::Draining: return "draining";
        case TargetState::Down: return "down";
    }
    return "?";
}

std::optional<std::vector<std::uint32_t>> parse_fwmarks(const std::vector<std::string>& words, std::string& error) {
    if (words.empty()) {
        error = "no FWMARK given";
        return std::nullopt;
    }
    std::vector<std::uint32_t> fwmarks;
    for (const std::string& word : words) {
        const auto value = parse_unsigned(word, 1, 0xffffffffu);
        if (!value) {
            error = "'" + word + "' is not a fwmark in 1..4294967295 (decimal or 0x-hex)";
            return std::nullopt;
        }
        const auto fwmark = static_cast<std::uint32_t>(*value);
        if (std::find(fwmarks.begin(), fwmarks.end(), fwmark) != fwmarks.end()) {
            error = "fwmark " + word + " given twice";
            return std::nullopt;
        }
        fwmarks.push_back(fwmark);
    }
    return fwmarks;
}

std::optional<std::uint32_t> slot_of(const TargetSnapshot& targets, std::uint32_t max_targets, std::uint32_t fwmark) {
    for (std::uint32_t i = 0; i < max_targets; ++i)
        if (targets[i].state != TargetState::Unused && targets[i].fwmark == fwmark) return i;
    return std::nullopt;
}

// ---- init ------------------------------------------------------------------

constexpr OptionSpec kInitSpecs[] = {
    {"M", "PRIME", "Maglev table size, a prime >= N (default 997)"},
    {"N", "COUNT", "target slots, 1..256 (default 32)"},
    kShmSpec,
    {"hash", "vtag|ports", "how new associations are balanced (default vtag)"},
    {"seed-file", "FILE", "keyed-hash seed, not readable by group or others (default: random)"},
    {"capacity", "COUNT", "associations the table holds (default 262144)"},
    {"idle-timeout", "SECONDS", "forget an established association idle this long (default 600)"},
    {"half-open-timeout", "SECONDS", "forget an INIT without COOKIE ECHO after this long (default 300)"},
};
constexpr std::string_view kInitUsage =
    "sctplb init [--M=997] [--N=32] [--shm=NAME] [--hash vtag|ports] [--seed-file F]\n"
    "                   [--capacity=262144] [--idle-timeout=S] [--half-open-timeout=S]";
constexpr std::string_view kInitDescription =
    "Creates the shared memory of one sctplb instance (mode 0600): configuration, Maglev\n"
    "tables, counters and the association table. Fails if it exists.\n"
    "Without --seed-file the keyed-hash seed is random: fine for a single LB, but every LB\n"
    "instance of a tier must use the same --seed-file (and the same M and hash mode) so\n"
    "that they send a new association to the same target.";

// Whoever can read the seed can steer INITs to a chosen server.
std::optional<KeyedHash> load_private_seed(const std::string& path, std::string& error) {
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        error = "seed file " + path + " is readable by group or others (mode " + mode + "): run chmod go-r " + path;
        return std::nullopt;
    }
    return load_keyed_hash(path, error);
}

std::optional<KeyedHash> random_seed(std::string& error) {
    std::array<std::byte, 32> seed{};
    std::size_t filled = 0;
    while (filled < seed.size()) {
        const ssize_t got = ::getrandom(seed.data() + filled, seed.size() - filled, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            error = std::string("getrandom: ") + std::strerror(errno);
            return std::nullopt;
        }
        filled += static_cast<std::size_t>(got);
    }
    return KeyedHash::from_seed(seed);
}

}  // namespace

int run_init(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "init";
    auto parsed = parse_command(kCommand, kInitSpecs, args, kInitUsage, kInitDescription, false);
    if (!parsed.options) return parsed.exit_status;
    const Options& options = *parsed.options;

    SharedState::CreateOptions create;
    if (const auto text = options.value("M")) {
        const auto m = parse_unsigned(*text, 2, kMaglevMaxM);
        if (!m || !is_prime(static_cast<std::uint32_t>(*m)))
            return usage_error(kCommand, "--M: '" + *text + "' is not a prime in 2.." + std::to_string(kMaglevMaxM));
        create.maglev_m = static_cast<std::uint32_t>(*m);
    }
    if (const auto text = options.value("N")) {
        const auto n = parse_unsigned(*text, 1, kMaxTargets);
        if (!n) return usage_error(kCommand, "--N: '" + *text + "' is not a number in 1.." + std::to_string(kMaxTargets));
        create.max_targets = static_cast<std::uint32_t>(*n);
    }
    if (create.maglev_m < create.max_targets)
        return usage_error(kCommand, "--M " + std::to_string(create.maglev_m) + " is smaller than --N " +
                                         std::to_string(create.max_targets));
    if (const auto text = options.value("hash")) {
        const auto mode = parse_hash_mode(*text);
        if (!mode) return usage_error(kCommand, "--hash: '" + *text + "' is neither vtag nor ports");
        create.hash_mode = *mode;
    }
    if (const auto text = options.value("capacity")) {
        const auto capacity = parse_unsigned(*text, 1, kMaxCapacity);
        if (!capacity)
            return usage_error(kCommand, "--capacity: '" + *text + "' is not a number in 1.." + std::to_string(kMaxCapacity));
        create.table_limits.capacity = static_cast<std::uint32_t>(*capacity);
    }
    for (const auto& [name, timeout] : {std::pair{"idle-timeout", &create.timeouts.idle},
                                        std::pair{"half-open-timeout", &create.timeouts.half_open}}) {
        if (const auto text = options.value(name)) {
            const auto seconds = parse_unsigned(*text, 1, kMaxTimeoutSeconds);
            if (!seconds)
                return usage_error(kCommand, std::string("--") + name + ": '" + *text + "' is not a number of seconds in 1.." +
                                                 std::to_string(kMaxTimeoutSeconds));
            *timeout = std::chrono::seconds(*seconds);
        }
    }
    std::string error;
    std::optional<KeyedHash> hash;
    if (const auto path = options.value("seed-file")) {
        hash = load_private_seed(*path, error);
        if (!hash) return usage_error(kCommand, error);
    } else {
        hash = random_seed(error);
        if (!hash) return failure(kCommand, error);
    }
    create.hash = *hash;
    // The index hash is keyed too, so clients cannot aim collisions at one bucket.
    create.table_limits.index_seed = hash->hash_u64(0x7461626c'65696478ull);  // "tableidx"

    auto state = SharedState::create(parsed.shm, create, error);
    if (!state) return failure(kCommand, error);
    const SharedHeader& h = state->header();
    char line[256];
    std::snprintf(line, sizeof line,
                  "created shared memory '%s': M %" PRIu32 ", N %" PRIu32 ", hash %s, capacity %" PRIu32
                  " associations, %.1f MiB%s\n",
                  parsed.shm.c_str(), h.maglev_m, h.max_targets, std::string(hash_mode_name(h.hash_mode)).c_str(),
                  state->table().capacity(), static_cast<double>(h.segment_size) / (1024.0 * 1024.0),
                  options.has("seed-file") ? "" : ", random seed");
    print(line);
    return 0;
}

// ---- delete ----------------------------------------------------------------

namespace {
constexpr OptionSpec kDeleteSpecs[] = {
    kShmSpec,
    {"force", "", "delete even while an sctplb lb uses it"},
};
constexpr std::string_view kDeleteUsage = "sctplb delete [--shm=NAME] [--force]";
constexpr std::string_view kDeleteDescription =
    "Removes the shared memory: its configuration and every association in it.\n"
    "Refused while a running sctplb lb uses it, unless --force.";
}  // namespace

int run_delete(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "delete";
    auto parsed = parse_command(kCommand, kDeleteSpecs, args, kDeleteUsage, kDeleteDescription, false);
    if (!parsed.options) return parsed.exit_status;
    std::string error;
    if (!parsed.options->has("force")) {
        // An unreadable segment (other layout) may still be deleted.
        if (auto state = SharedState::open(parsed.shm, error)) {
            const std::int32_t pid = state->header().daemon_pid.load();
            if (data_path_alive(pid))
                return failure(kCommand, "sctplb lb (pid " + std::to_string(pid) + ") uses shared memory '" +
                                             parsed.shm + "'; stop it first or use --force");
        }
    }
    if (!SharedState::remove(parsed.shm, error)) return failure(kCommand, error);
    print("deleted shared memory '" + parsed.shm + "'\n");
    return 0;
}

// ---- activate / deactivate / down -------------------------------------------

namespace {

constexpr OptionSpec kActivateSpecs[] = {
    kShmSpec,
    {"index", "I", "slot for the one FWMARK (0..N-1): display only, as nfqlb's --index"},
};
constexpr std::string_view kActivateUsage = "sctplb activate [--shm=NAME] [--index=I] FWMARK...";
constexpr std::string_view kActivateDescription =
    "Adds targets (or makes draining/down ones active again): new associations are\n"
    "balanced over every active target with Maglev. The Maglev table depends on the set of\n"
    "active fwmarks only, never on the order or slot of activation; --index only chooses\n"
    "the slot shown by show and stats.";

constexpr OptionSpec kTargetSpecs[] = {kShmSpec};
constexpr std::string_view kDeactivateUsage = "sctplb deactivate [--shm=NAME] FWMARK...";
constexpr std::string_view kDeactivateDescription =
    "Drains targets: no new associations go there; their live associations stay pinned\n"
    "until they end. Takes effect in a running sctplb lb at once.";
constexpr std::string_view kDownUsage = "sctplb down [--shm=NAME] FWMARK...";
constexpr std::string_view kDownDescription =
    "Takes dead targets out: no new associations go there and their associations are\n"
    "forgotten, so their packets are dropped as unknown and the clients re-establish\n"
    "elsewhere (a packet sent to another server would be answered with an ABORT).";

// Changes the state of existing targets, then republishes. `down` also
// forgets their associations.
int set_target_state(std::string_view command, std::span<const std::string> args, TargetState new_state,
                     std::string_view usage, std::string_view description) {
    auto parsed = parse_command(command, kTargetSpecs, args, usage, description, true);
    if (!parsed.options) return parsed.exit_status;
    std::string error;
    const auto fwmarks = parse_fwmarks(parsed.options->positional(), error);
    if (!fwmarks) return usage_error(command, error);
    auto state = SharedState::open(parsed.shm, error);
    if (!state) return failure(command, error);
    SharedHeader& h = state->header();
    std::size_t forgotten = 0;
    std::string digest;
    {
        const ConfigLock config(*state);
        TargetSnapshot targets = read_targets(h);
        std::vector<std::uint32_t> slots;
        for (const std::uint32_t fwmark : *fwmarks) {
            const auto slot = slot_of(targets, h.max_targets, fwmark);
            if (!slot) return failure(command, "fwmark " + std::to_string(fwmark) + " is not a target (see sctplb show)");
            slots.push_back(*slot);
        }
        for (const std::uint32_t slot : slots) targets[slot].state = new_state;
        write_targets(h, targets);
        if (!state->publish_targets(error)) return failure(command, error);
        digest = h.config_digest;  // under the lock: another CLI may publish right after
        if (new_state == TargetState::Down) {
            // After the publish: no new association can pick these targets any more.
            // In pieces, so the data path is never held up for the whole table.
            const std::uint32_t capacity = state->table().capacity();
            for (std::uint32_t begin = 0; begin < capacity; begin += kSlotsPerLock) {
                const TableLock lock(*state);
                std::vector<AssociationId> doomed;
                state->table().for_each_in(begin, begin + kSlotsPerLock, [&](AssociationId id, const Association& a) {
                    if (std::find(fwmarks->begin(), fwmarks->end(), a.fwmark) != fwmarks->end()) doomed.push_back(id);
                });
                for (const AssociationId id : doomed) state->table().remove(id);
                forgotten += doomed.size();
            }
        }
    }
    std::string out;
    for (const std::uint32_t fwmark : *fwmarks)
        out += "fwmark " + std::to_string(fwmark) + ": " + std::string(target_state_name(new_state)) + "\n";
    if (new_state == TargetState::Down) out += std::to_string(forgotten) + " associations forgotten\n";
    out += "config digest " + digest + "\n";
    print(out);
    return 0;
}

}  // namespace

int run_activate(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "activate";
    auto parsed = parse_command(kCommand, kActivateSpecs, args, kActivateUsage, kActivateDescription, true);
    if (!parsed.options) return parsed.exit_status;
    std::string error;
    const auto fwmarks = parse_fwmarks(parsed.options->positional(), error);
    if (!fwmarks) return usage_error(kCommand, error);
    std::optional<std::uint32_t> index;
    if (const auto text = parsed.options->value("index")) {
        const auto value = parse_unsigned(*text, 0, kMaxTargets - 1);
        if (!value) return usage_error(kCommand, "--index: '" + *text + "' is not a slot in 0.." + std::to_string(kMaxTargets - 1));
        if (fwmarks->size() != 1) return usage_error(kCommand, "--index goes with exactly one FWMARK");
        index = static_cast<std::uint32_t>(*value);
    }
    auto state = SharedState::open(parsed.shm, error);
    if (!state) return failure(kCommand, error);
    SharedHeader& h = state->header();
    std::string out;
    {
        const ConfigLock config(*state);
        if (index && *index >= h.max_targets)
            return failure(kCommand, "--index " + std::to_string(*index) + ": this segment has slots 0.." +
                                         std::to_string(h.max_targets - 1));
        // Plan on a copy, so a failure leaves the targets as they were.
        TargetSnapshot plan = read_targets(h);
        for (const std::uint32_t fwmark : *fwmarks) {
            std::optional<std::uint32_t> slot;
            for (std::uint32_t i = 0; i < h.max_targets; ++i)
                if (plan[i].state != TargetState::Unused && plan[i].fwmark == fwmark) slot = i;
            if (slot && index && *slot != *index)
                return failure(kCommand, "fwmark " + std::to_string(fwmark) + " is already in slot " + std::to_string(*slot));
            if (!slot && index) {
                // A down target's associations are gone: its slot may be reused.
                if (plan[*index].state != TargetState::Unused && plan[*index].state != TargetState::Down)
                    return failure(kCommand, "slot " + std::to_string(*index) + " holds fwmark " +
                                                 std::to_string(plan[*index].fwmark) + " (" +
                                                 std::string(target_state_name(plan[*index].state)) + ")");
                slot = index;
            }
            for (std::uint32_t i = 0; !slot && i < h.max_targets; ++i)
                if (plan[i].state == TargetState::Unused) slot = i;
            for (std::uint32_t i = 0; !slot && i < h.max_targets; ++i)
                if (plan[i].state == TargetState::Down) slot = i;
            if (!slot)
                return failure(kCommand, "all " + std::to_string(h.max_targets) +
                                             " target slots are in use (sctplb init --N sets the number)");
            plan[*slot] = TargetSlot{fwmark, TargetState::Active};
            out += "fwmark " + std::to_string(fwmark) + ": active in slot " + std::to_string(*slot) + "\n";
        }
        write_targets(h, plan);
        if (!state->publish_targets(error)) return failure(kCommand, error);
        out += "config digest " + std::string(h.config_digest) + "\n";  // under the lock: ours, not a later one
    }
    print(out);
    return 0;
}

int run_deactivate(std::span<const std::string> args) {
    return set_target_state("deactivate", args, TargetState::Draining, kDeactivateUsage, kDeactivateDescription);
}

int run_down(std::span<const std::string> args) {
    return set_target_state("down", args, TargetState::Down, kDownUsage, kDownDescription);
}

// ---- show ------------------------------------------------------------------

namespace {
constexpr OptionSpec kShowSpecs[] = {kShmSpec, {"json", "", "one JSON object"}};
constexpr std::string_view kShowUsage = "sctplb show [--shm=NAME] [--json]";
constexpr std::string_view kShowDescription =
    "Shows the configuration: Maglev M and N, hash mode, config digest (equal on every LB\n"
    "instance that balances alike), targets with their state and Maglev share, the first\n"
    "slots of the lookup table, and the running sctplb lb.";
}  // namespace

int run_show(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "show";
    auto parsed = parse_command(kCommand, kShowSpecs, args, kShowUsage, kShowDescription, false);
    if (!parsed.options) return parsed.exit_status;
    std::string error;
    auto state = SharedState::open(parsed.shm, error);
    if (!state) return failure(kCommand, error);
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
        ordered_json list = ordered_json::array();
        for (std::uint32_t i = 0; i < targets.size(); ++i) {
            if (targets[i].state == TargetState::Unused) continue;
            const std::size_t slots = targets[i].state == TargetState::Active ? share[targets[i].fwmark] : 0;
            list.push_back(ordered_json{{"slot", i},
                                        {"fwmark", targets[i].fwmark},
                                        {"state", target_state_name(targets[i].state)},
                                        {"maglev_slots", slots}});
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
    out += "targets:\n";
    std::snprintf(line, sizeof line, "  %4s  %10s  %-8s  %8s  %6s\n", "SLOT", "FWMARK", "STATE", "SLOTS", "SHARE");
    out += line;
    bool any = false;
    for (std::uint32_t i = 0; i < targets.size(); ++i) {
        if (targets[i].state == TargetState::Unused) continue;
        any = true;
        const std::size_t slots = targets[i].state == TargetState::Active ? share[targets[i].fwmark] : 0;
        std::snprintf(line, sizeof line, "  %4" PRIu32 "  %10" PRIu32 "  %-8s  %8zu  %5.1f%%\n", i, targets[i].fwmark,
                      std::string(target_state_name(targets[i].state)).c_str(), slots,
                      100.0 * static_cast<double>(slots) / static_cast<double>(lookup.size()));
        out += line;
    }
    if (!any) out += "  (none: sctplb activate FWMARK...)\n";
    out += "lookup (first " + std::to_string(excerpt) + " of " + std::to_string(lookup.size()) + " slots):";
    for (std::size_t i = 0; i < excerpt; ++i) out += " " + std::to_string(lookup[i]);
    out += "\n";
    print(out);
    return 0;
}

// ---- assoc -----------------------------------------------------------------

namespace {
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
    for (std::size_t i = 0; i < count && i < N; ++i) out += (i ? "," : "") + addresses[i].to_string();
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
    std::string error;
    auto state = SharedState::open(parsed.shm, error);
    if (!state) return failure(kCommand, error);
    if (const auto path = options.value("export")) return assoc_export(kCommand, *state, *path);
    if (const auto path = options.value("import")) return assoc_import(kCommand, *state, *path);

    const std::vector<Association> records = snapshot(*state);
    const std::int64_t now = monotonic_ns();
    // Which instance taught us the association: "local", or the sync peer's address.
    const auto learned = [&](const Association& a) -> std::string {
        if (a.learned_from == 0) return "local";
        const SyncPeerShared& peer = state->header().sync.peers[(a.learned_from - 1) % kMaxSyncPeers];
        const std::string address(peer.address, strnlen(peer.address, sizeof peer.address));
        return address.empty() ? "peer " + std::to_string(a.learned_from) : address;
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
    std::snprintf(line, sizeof line, "%5s %5s  %-10s  %-10s  %10s  %-15s  %8s  %8s  %-21s  %-8s  %s  %s\n", "SPORT",
                  "DPORT", "TC", "TS", "FWMARK", "STATE", "AGE(s)", "IDLE(s)", "LEARNED", "FASTPATH", "CLIENT", "SERVER");
    out += line;
    for (const Association& a : records) {
        std::snprintf(line, sizeof line, "%5u %5u  %-10s  %-10s  %10" PRIu32 "  %-15s  %8.1f  %8.1f  %-21s  %-8s  ",
                      static_cast<unsigned>(a.sport), static_cast<unsigned>(a.dport), tag_hex(a.tc).c_str(),
                      tag_hex(a.ts).c_str(), a.fwmark, std::string(association_state_name(a.state)).c_str(),
                      seconds_since(a.created_ns, now), seconds_since(a.last_seen_ns, now), learned(a).c_str(),
                      a.in_fast_path ? "kernel" : "-");
        out += line + joined(a.addresses, a.address_count) + "  " +
               joined(a.server_addresses, a.server_address_count) + "\n";
    }
    out += std::to_string(records.size()) + " associations\n";
    print(out);
    return 0;
}

// ---- stats -----------------------------------------------------------------

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

namespace {
constexpr OptionSpec kStatsSpecs[] = {kShmSpec, {"json", "", "one JSON object"}};
constexpr std::string_view kStatsUsage = "sctplb stats [--shm=NAME] [--json]";
constexpr std::string_view kStatsDescription =
    "Shows every reason and event counter (summed over the data-path threads), packets per\n"
    "target, the association table's fill, and the kernel's drops per NFQUEUE from\n"
    "/proc/net/netfilter/nfnetlink_queue (queue-dropped: the queue was full, raise --qlength;\n"
    "user-dropped: the socket buffer was full).";

struct Totals {
    std::array<std::uint64_t, kReasonCount> reasons{};
    std::array<std::uint64_t, kEventCount> events{};
    std::array<std::uint64_t, kMaxTargets> per_target{};
    std::uint64_t packets = 0, batches = 0, enobufs = 0;
};

std::string peer_digest(const SyncPeerShared& peer) {
    std::string digest;
    for (const auto& part : peer.digest_chars) {
        const std::uint64_t v = part.load(std::memory_order_relaxed);
        for (int shift = 56; shift >= 0; shift -= 8) digest.push_back(static_cast<char>((v >> shift) & 0xff));
    }
    return digest;
}

std::string hex64(std::uint64_t v) {
    char text[17];
    std::snprintf(text, sizeof text, "%016" PRIx64, v);
    return text;
}

// The "sync" object of `stats --json`; null when the running (or last) daemon had no sync.
ordered_json sync_json(const SharedHeader& h, std::int64_t now) {
    const SyncShared& s = h.sync;
    if (s.enabled.load(std::memory_order_acquire) == 0) return nullptr;
    ordered_json out;
    out["listen"] = std::string(s.listen, strnlen(s.listen, sizeof s.listen));
    out["instance"] = hex64(s.instance.load());
    out["epoch"] = s.epoch.load();
    out["ready"] = s.ready.load() != 0;
    for (std::size_t i = 0; i < kSyncCounterCount; ++i)
        out[std::string(sync_counter_name(static_cast<SyncCounter>(i)))] = s.counters[i].load(std::memory_order_relaxed);
    ordered_json rejected = ordered_json::object();
    for (std::size_t i = 1; i < kSyncRejectionCount; ++i)
        rejected[std::string(sync_rejection_name(static_cast<SyncRejection>(i)))] = s.rejected[i].load(std::memory_order_relaxed);
    out["rejected"] = std::move(rejected);
    ordered_json peers = ordered_json::array();
    const std::uint32_t count = std::min<std::uint32_t>(s.peer_count.load(), kMaxSyncPeers);
    for (std::uint32_t i = 0; i < count; ++i) {
        const SyncPeerShared& p = s.peers[i];
        const std::int64_t heard = p.last_heard_ns.load();
        const std::uint32_t digest = p.digest.load();
        peers.push_back(ordered_json{
            {"address", std::string(p.address, strnlen(p.address, sizeof p.address))},
            {"state", peer_state_name(static_cast<PeerState>(p.state.load()))},
            {"instance", hex64(p.instance.load())},
            {"epoch", p.epoch.load()},
            {"digest", digest == 0 ? ordered_json(nullptr) : ordered_json(peer_digest(p))},
            {"digest_match", digest == 0 ? ordered_json(nullptr) : ordered_json(digest == 1)},
            {"last_heard_ms", heard < 0 ? ordered_json(nullptr) : ordered_json((now - heard) / 1'000'000)},
            {"unacked", p.unacked.load()},
            {"lag_ms", p.lag_ns.load() / 1'000'000},
            {"rtt_us", p.rtt_ns.load() / 1'000},
            {"table_received", p.table_received.load() != 0}});
    }
    out["peers"] = std::move(peers);
    return out;
}

// "  fwmark F  N packets  B bytes": one target's kernel counter (stats, fastpath).
std::string fast_path_target_line(std::uint32_t fwmark, std::uint64_t packets, std::uint64_t bytes) {
    char line[128];
    std::snprintf(line, sizeof line, "  fwmark %-10" PRIu32 " %" PRIu64 " packets  %" PRIu64 " bytes\n", fwmark, packets,
                  bytes);
    return line;
}

// The kernel fast path: the daemon's view (shared memory) and the kernel's
// per-target counters, read through netlink (needs CAP_NET_ADMIN).
ordered_json fast_path_json(const SharedHeader& h, const std::string& shm, std::int64_t now) {
    const FastPathShared& f = h.fast_path;
    const bool enabled = f.enabled.load(std::memory_order_acquire) != 0 && h.daemon_pid.load() != 0;
    ordered_json out;
    out["enabled"] = enabled;
    out["table"] = fastpath_table_name(shm);
    out["associations"] = f.associations.load();
    out["elements"] = f.elements.load();
    out["timeout_ms"] = f.timeout_ms.load();
    out["map_size"] = f.map_size.load();
    const std::int64_t pass = f.last_pass_ns.load();
    out["last_pass_ms"] = pass == 0 ? ordered_json(nullptr) : ordered_json((now - pass) / 1'000'000);
    std::string error;
    std::vector<FastPathTargetCounter> counters;
    auto nft = NftSession::open(error);
    if (nft && nft->counters(out["table"].get<std::string>(), counters, error)) {
        ordered_json targets = ordered_json::array();
        for (const FastPathTargetCounter& c : counters)
            targets.push_back(ordered_json{{"fwmark", c.fwmark}, {"packets", c.packets}, {"bytes", c.bytes}});
        out["targets"] = std::move(targets);
    } else {
        out["targets"] = nullptr;
        out["targets_error"] = error;
    }
    return out;
}

Totals sum_counters(const SharedHeader& h) {
    Totals t;
    std::vector<const ThreadCounters*> slots;
    for (const ThreadCounters& slot : h.threads) slots.push_back(&slot);
    slots.push_back(&h.sync.decisions);
    slots.push_back(&h.fast_path.decisions);
    for (const ThreadCounters* slot_pointer : slots) {
        const ThreadCounters& slot = *slot_pointer;
        for (std::size_t i = 0; i < kReasonCount; ++i) t.reasons[i] += slot.reasons[i].load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < kEventCount; ++i) t.events[i] += slot.events[i].load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < kMaxTargets; ++i)
            t.per_target[i] += slot.per_target_packets[i].load(std::memory_order_relaxed);
        t.packets += slot.packets.load(std::memory_order_relaxed);
        t.batches += slot.batches.load(std::memory_order_relaxed);
        t.enobufs += slot.enobufs.load(std::memory_order_relaxed);
    }
    return t;
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
}  // namespace

int run_stats(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "stats";
    auto parsed = parse_command(kCommand, kStatsSpecs, args, kStatsUsage, kStatsDescription, false);
    if (!parsed.options) return parsed.exit_status;
    std::string error;
    auto state = SharedState::open(parsed.shm, error);
    if (!state) return failure(kCommand, error);
    const SharedHeader& h = state->header();
    const Totals totals = sum_counters(h);
    const TargetSnapshot all_targets = read_targets(state->header());  // consistent, without the config lock
    const std::vector<TargetSlot> targets(all_targets.begin(), all_targets.begin() + h.max_targets);
    std::uint32_t size = 0, capacity = 0, half_open = 0, half_open_capacity = 0;
    std::uint64_t index_failures = 0;
    {
        const TableLock lock(*state);
        size = state->table().size();
        capacity = state->table().capacity();
        half_open = state->table().half_open_count();
        half_open_capacity = state->table().half_open_capacity();
        index_failures = state->table().index_failures();
    }
    std::vector<std::uint32_t> our_queues;
    for (const ThreadCounters& slot : h.threads)
        if (slot.in_use.load(std::memory_order_acquire) != 0) our_queues.push_back(slot.queue.load());
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

// ---- fastpath ------------------------------------------------------------------

namespace {
constexpr OptionSpec kFastPathSpecs[] = {kShmSpec, {"json", "", "one JSON object"}};
constexpr std::string_view kFastPathUsage = "sctplb fastpath [--shm=NAME] [--json]";
constexpr std::string_view kFastPathDescription =
    "Lists what the kernel holds for the fast path (nft table 'inet sctplb' or 'sctplb-NAME'):\n"
    "every map element (client address, ports, Ts -> fwmark, time left before it expires) and\n"
    "the packets the kernel marked per target. Read through netlink (needs CAP_NET_ADMIN).";
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

// ---- loglevel / trace ---------------------------------------------------------

namespace {
constexpr OptionSpec kLoglevelSpecs[] = {kShmSpec};
constexpr std::string_view kLoglevelUsage = "sctplb loglevel [--shm=NAME] [LEVEL]";
constexpr std::string_view kLoglevelDescription =
    "Sets the running daemon's log level, syslog-like: 0 emerg .. 3 err, 4 warning, 5 notice,\n"
    "6 info, 7 debug. Without LEVEL prints the current one.";

constexpr OptionSpec kTraceSpecs[] = {
    kShmSpec,
    {"on", "", "start tracing every decision that matches the filter"},
    {"off", "", "stop tracing"},
    {"address", "A", "only packets from or to address A ('any' clears the filter)"},
    {"port", "P", "only packets with source or destination port P (0 = any)"},
};
constexpr std::string_view kTraceUsage = "sctplb trace [--shm=NAME] [--on | --off] [--address A] [--port P]";
constexpr std::string_view kTraceDescription =
    "Switches the per-packet decision trace of the running daemon (logged at any log level).\n"
    "Without options prints the current setting.";

std::string trace_setting(const TraceSettings& trace) {
    std::string out = trace.enabled ? "trace on" : "trace off";
    out += trace.address ? ", address " + trace.address->to_string() : ", any address";
    out += trace.port ? ", port " + std::to_string(trace.port) : ", any port";
    return out + "\n";
}
}  // namespace

int run_loglevel(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "loglevel";
    auto parsed = parse_command(kCommand, kLoglevelSpecs, args, kLoglevelUsage, kLoglevelDescription, true);
    if (!parsed.options) return parsed.exit_status;
    const auto& words = parsed.options->positional();
    if (words.size() > 1) return usage_error(kCommand, "one LEVEL please");
    std::optional<std::int32_t> level;
    if (!words.empty()) {
        const auto value = parse_unsigned(words.front(), 0, 7);
        if (!value) return usage_error(kCommand, "'" + words.front() + "' is not a level in 0..7");
        level = static_cast<std::int32_t>(*value);
    }
    std::string error;
    auto state = SharedState::open(parsed.shm, error);
    if (!state) return failure(kCommand, error);
    if (level) state->header().log_level.store(*level, std::memory_order_relaxed);
    print("log level " + std::to_string(state->header().log_level.load()) + "\n");
    return 0;
}

int run_trace(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "trace";
    auto parsed = parse_command(kCommand, kTraceSpecs, args, kTraceUsage, kTraceDescription, false);
    if (!parsed.options) return parsed.exit_status;
    const Options& options = *parsed.options;
    if (options.has("on") && options.has("off")) return usage_error(kCommand, "--on and --off exclude each other");
    std::optional<std::optional<IpAddress>> address;  // outer: given; inner: nullopt = any
    if (const auto text = options.value("address")) {
        if (*text == "any") {
            address.emplace(std::nullopt);
        } else {
            const auto parsed_address = IpAddress::parse(*text);
            if (!parsed_address) return usage_error(kCommand, "--address: '" + *text + "' is not an IPv4 or IPv6 address");
            address.emplace(*parsed_address);
        }
    }
    std::optional<std::uint16_t> port;
    if (const auto text = options.value("port")) {
        const auto value = parse_unsigned(*text, 0, 65535);
        if (!value) return usage_error(kCommand, "--port: '" + *text + "' is not a port in 0..65535");
        port = static_cast<std::uint16_t>(*value);
    }
    std::string error;
    auto state = SharedState::open(parsed.shm, error);
    if (!state) return failure(kCommand, error);
    SharedHeader& h = state->header();
    const bool changes = options.has("on") || options.has("off") || address || port;
    TraceSettings trace;
    {
        // The config lock makes us the only writer of the trace seqlock.
        const ConfigLock config(*state);
        trace = read_trace(h.trace);
        if (changes) {
            if (options.has("on")) trace.enabled = true;
            if (options.has("off")) trace.enabled = false;
            if (address) trace.address = *address;
            if (port) trace.port = *port;
            write_trace(h.trace, trace);
        }
    }
    print(trace_setting(trace));
    return 0;
}

}  // namespace sctplb::cli
