// `sctplb init`: creates the shared memory of one instance.
#include "cli/control.hpp"

#include <sys/random.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "cli/control_common.hpp"
#include "core/decider.hpp"
#include "core/keyed_hash.hpp"
#include "core/maglev.hpp"
#include "io/seed_file.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

namespace {

constexpr std::uint64_t kMaxTimeoutSeconds = 7 * 86400;

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
        const auto n = parse_unsigned(*text, 1, kMaxTargetSlots);
        if (!n) return usage_error(kCommand, "--N: '" + *text + "' is not a number in 1.." + std::to_string(kMaxTargetSlots));
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
        const auto capacity = parse_unsigned(*text, 1, AssociationTable::kMaxCapacity);
        if (!capacity)
            return usage_error(kCommand, "--capacity: '" + *text + "' is not a number in 1.." + std::to_string(AssociationTable::kMaxCapacity));
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

}  // namespace sctplb::cli
