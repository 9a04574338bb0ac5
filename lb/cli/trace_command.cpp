// `sctplb trace`: the running daemon's per-packet decision trace.
#include "cli/control.hpp"

#include "cli/control_common.hpp"
#include "core/ip_address.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

namespace {
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
    auto state = open_segment(kCommand, parsed.shm);
    if (!state) return kExitFailure;
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
