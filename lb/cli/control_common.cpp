// Shared plumbing of the control commands (control_common.hpp).
#include "cli/control_common.hpp"

#include <cinttypes>
#include <cstdio>

#include "io/clock.hpp"

namespace sctplb::cli {

int failure(std::string_view command, std::string_view message) {
    usage_error(command, message);  // same one-line format
    return kExitFailure;
}

void print(const std::string& text) { std::fputs(text.c_str(), stdout); }

std::optional<SharedState> open_segment(std::string_view command, const std::string& shm) {
    std::string error;
    auto state = SharedState::open(shm, error);
    if (!state) failure(command, error);
    return state;
}

std::int64_t monotonic_ns() { return monotonic_now().count(); }

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

std::string fast_path_target_line(std::uint32_t fwmark, std::uint64_t packets, std::uint64_t bytes) {
    char line[128];
    std::snprintf(line, sizeof line, "  fwmark %-10" PRIu32 " %" PRIu64 " packets  %" PRIu64 " bytes\n", fwmark, packets,
                  bytes);
    return line;
}

}  // namespace sctplb::cli
