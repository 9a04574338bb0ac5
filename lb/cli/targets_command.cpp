// `sctplb activate | deactivate | down`: change the state of targets (one small
// option table each, one shared run) and republish the Maglev table.
#include "cli/control.hpp"

#include <algorithm>

#include "cli/control_common.hpp"
#include "io/shared_state.hpp"
#include "io/target_control.hpp"

namespace sctplb::cli {

namespace {
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

constexpr OptionSpec kActivateSpecs[] = {
    kShmSpec,
    {"index", "I", "slot for the one FWMARK (0..N-1): display only, as nfqlb's --index"},
    {"weight", "W", "Maglev weight 1..100: W times a weight-1 target's share (default 1; kept on re-activation)"},
};
constexpr std::string_view kActivateUsage = "sctplb activate [--shm=NAME] [--index=I] [--weight=W] FWMARK...";
constexpr std::string_view kActivateDescription =
    "Adds targets (or makes draining/down ones active again): new associations are\n"
    "balanced over every active target with Maglev. The Maglev table depends on the set of\n"
    "active fwmarks and their weights only, never on the order or slot of activation;\n"
    "--index only chooses the slot shown by show and stats. --weight on an active target\n"
    "changes where new associations go; live ones stay pinned to their target.";

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
// forgets their associations (change_target_state).
int set_target_state(std::string_view command, std::span<const std::string> args, TargetState new_state,
                     std::string_view usage, std::string_view description) {
    auto parsed = parse_command(command, kTargetSpecs, args, usage, description, true);
    if (!parsed.options) return parsed.exit_status;
    std::string error;
    const auto fwmarks = parse_fwmarks(parsed.options->positional(), error);
    if (!fwmarks) return usage_error(command, error);
    auto state = open_segment(command, parsed.shm);
    if (!state) return kExitFailure;
    const auto change = change_target_state(*state, *fwmarks, new_state, kSlotsPerLock, {}, error);
    if (!change) return failure(command, error);
    std::string out;
    for (const std::uint32_t fwmark : *fwmarks)
        out += "fwmark " + std::to_string(fwmark) + ": " + std::string(target_state_name(new_state)) + "\n";
    if (new_state == TargetState::Down) out += std::to_string(change->forgotten) + " associations forgotten\n";
    out += "config digest " + change->digest + "\n";
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
        const auto value = parse_unsigned(*text, 0, kMaxTargetSlots - 1);
        if (!value) return usage_error(kCommand, "--index: '" + *text + "' is not a slot in 0.." + std::to_string(kMaxTargetSlots - 1));
        if (fwmarks->size() != 1) return usage_error(kCommand, "--index goes with exactly one FWMARK");
        index = static_cast<std::uint32_t>(*value);
    }
    std::optional<std::uint32_t> weight;
    if (const auto text = parsed.options->value("weight")) {
        const auto value = parse_unsigned(*text, 1, kMaglevMaxWeight);
        if (!value) {
            // One line; the limit keeps Maglev's M well above the sum of weights.
            std::string message = "--weight: '";
            message += *text;
            message += "' is not a weight in 1..";
            message += std::to_string(kMaglevMaxWeight);
            message += " (Maglev's table must stay much larger than the sum of weights)";
            return usage_error(kCommand, message);
        }
        weight = static_cast<std::uint32_t>(*value);
    }
    auto state = open_segment(kCommand, parsed.shm);
    if (!state) return kExitFailure;
    SharedHeader& h = state->header();
    std::string out;
    {
        const ConfigLock config(*state);
        if (index && *index >= h.max_targets)
            return failure(kCommand, "--index " + std::to_string(*index) + ": this segment has slots 0.." +
                                         std::to_string(h.max_targets - 1));
        // Plan on a copy, so a failure leaves the targets as they were.
        const TargetSnapshot before = read_targets(h);
        TargetSnapshot plan = before;
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
            // An existing target keeps its weight unless --weight says otherwise.
            const bool existing = plan[*slot].state != TargetState::Unused && plan[*slot].fwmark == fwmark;
            const std::uint32_t new_weight = weight ? *weight : existing ? plan[*slot].weight : 1;
            plan[*slot] = TargetSlot{fwmark, TargetState::Active, new_weight};
            out += "fwmark " + std::to_string(fwmark) + ": active in slot " + std::to_string(*slot);
            out += ", weight ";
            out += std::to_string(new_weight);
            out += "\n";
        }
        write_targets(h, plan);
        if (!state->publish_targets(error)) {
            // E.g. weights summing to more than M: nothing was published, so
            // the targets go back to what the published table was built from.
            write_targets(h, before);
            return failure(kCommand, error);
        }
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
}  // namespace sctplb::cli
