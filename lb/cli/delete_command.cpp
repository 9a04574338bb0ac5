// `sctplb delete`: removes the shared memory.
#include "cli/control.hpp"

#include "cli/control_common.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

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
}  // namespace sctplb::cli
