// Shared by the control commands (init, delete, activate, ..., trace): the --shm
// option, the one-line runtime failure, and the parse-help-check of a command line.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cli/options.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

inline constexpr std::string_view kDefaultShm = "sctplb";
inline constexpr int kExitFailure = 1;
// Slots read per hold of the table lock: `assoc` and `down` walk a large table in
// pieces, so the data path never waits for the whole table.
inline constexpr std::uint32_t kSlotsPerLock = 4096;

inline constexpr OptionSpec kShmSpec{"shm", "NAME", "shared memory name (default sctplb): one per instance"};

// Runtime failure: one line on stderr, exit 1.
int failure(std::string_view command, std::string_view message);

void print(const std::string& text);

// The segment of --shm; nullopt after printing why not (return kExitFailure then).
std::optional<SharedState> open_segment(std::string_view command, const std::string& shm);

std::int64_t monotonic_ns();  // the daemon's `now`

// The parsed command line of one command, or the exit status to return now
// (0 after --help, 2 after a usage error).
struct Parsed {
    std::optional<Options> options;
    std::string shm;
    int exit_status = 0;
};

Parsed parse_command(std::string_view command, std::span<const OptionSpec> specs,
                     std::span<const std::string> args, std::string_view usage, std::string_view description,
                     bool positional_allowed);

std::string_view target_state_name(TargetState state);

// "  fwmark F  N packets  B bytes": one target's kernel counter (stats, fastpath).
std::string fast_path_target_line(std::uint32_t fwmark, std::uint64_t packets, std::uint64_t bytes);

}  // namespace sctplb::cli
