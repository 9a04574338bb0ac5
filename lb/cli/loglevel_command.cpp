// `sctplb loglevel`: the running daemon's log level.
#include "cli/control.hpp"

#include "cli/control_common.hpp"
#include "io/log.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

namespace {
constexpr OptionSpec kLoglevelSpecs[] = {kShmSpec};
constexpr std::string_view kLoglevelUsage = "sctplb loglevel [--shm=NAME] [LEVEL]";
constexpr std::string_view kLoglevelDescription =
    "Sets the running daemon's log level, syslog-like: 0 emerg .. 3 err, 4 warning, 5 notice,\n"
    "6 info, 7 debug. Without LEVEL prints the current one.";
}  // namespace

int run_loglevel(std::span<const std::string> args) {
    constexpr std::string_view kCommand = "loglevel";
    auto parsed = parse_command(kCommand, kLoglevelSpecs, args, kLoglevelUsage, kLoglevelDescription, true);
    if (!parsed.options) return parsed.exit_status;
    const auto& words = parsed.options->positional();
    if (words.size() > 1) return usage_error(kCommand, "one LEVEL please");
    std::optional<std::int32_t> level;
    if (!words.empty()) {
        const auto value = parse_unsigned(words.front(), 0, kLogDebug);
        if (!value) return usage_error(kCommand, "'" + words.front() + "' is not a level in 0..7");
        level = static_cast<std::int32_t>(*value);
    }
    auto state = open_segment(kCommand, parsed.shm);
    if (!state) return kExitFailure;
    if (level) state->header().log_level.store(*level, std::memory_order_relaxed);
    print("log level " + std::to_string(state->header().log_level.load()) + "\n");
    return 0;
}
}  // namespace sctplb::cli
