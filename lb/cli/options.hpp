// A small command-line option parser shared by the sctplb subcommands.
//
// Accepted forms: `--name value`, `--name=value`, `--flag`, `-h`/`--help`,
// `--` ending the options. Unknown options, missing values, values given to
// flags and options given twice are errors: a typo must never be ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ip_address.hpp"

namespace sctplb::cli {

// Exit status of a usage error (bad option, unreadable file), as the CLI promises.
inline constexpr int kExitUsage = 2;

struct OptionSpec {
    std::string_view name;        // without the leading "--"
    std::string_view value_name;  // e.g. "FILE"; empty: a flag that takes no value
    std::string_view help;        // one line
    bool repeatable = false;      // may be given more than once (see Options::values)
};

class Options;

// `args` are the words after the command name. nullopt with a one-line `error`
// on any mistake. `--help` and `-h` are always accepted.
[[nodiscard]] std::optional<Options> parse_options(std::span<const OptionSpec> specs,
                                                   std::span<const std::string> args,
                                                   std::string& error);

class Options {
public:
    [[nodiscard]] bool has(std::string_view name) const;
    [[nodiscard]] std::optional<std::string> value(std::string_view name) const;
    // Every value of a repeatable option, in order, each split at commas.
    [[nodiscard]] std::vector<std::string> values(std::string_view name) const;
    [[nodiscard]] bool help_requested() const { return help_; }
    [[nodiscard]] const std::vector<std::string>& positional() const { return positional_; }

private:
    friend std::optional<Options> parse_options(std::span<const OptionSpec>,
                                                std::span<const std::string>, std::string&);
    std::vector<std::pair<std::string, std::string>> given_;  // name, value ("" for flags)
    std::vector<std::string> positional_;
    bool help_ = false;
};

// parse_options, then --help: the options, or nullopt with `status` the exit status to
// return now (0 after printing the help, kExitUsage after "sctplb COMMAND: ERROR").
[[nodiscard]] std::optional<Options> parse_or_help(std::string_view command, std::span<const OptionSpec> specs,
                                                   std::span<const std::string> args, std::string_view usage,
                                                   std::string_view description, int& status);

// "Usage: ...\n\nOptions:\n  --name VALUE   help\n..." for `--help`.
[[nodiscard]] std::string format_help(std::string_view usage, std::string_view description,
                                      std::span<const OptionSpec> specs);

// Decimal or 0x-hex integer in [min, max] (no sign, no spaces, no trailing text;
// parse_number64, as every command spells numbers).
[[nodiscard]] std::optional<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t min,
                                                          std::uint64_t max);

// "a,b,c" -> {"a", "b", "c"}; empty items are kept (so callers reject them).
[[nodiscard]] std::vector<std::string_view> split_list(std::string_view text, char separator = ',');

// "A,B,..." IPv4/IPv6 addresses appended to `out`; false with a one-line
// `error` naming `option` on the first bad item.
[[nodiscard]] bool parse_address_list(std::string_view text, std::string_view option,
                                      std::vector<IpAddress>& out, std::string& error);

// Prints "sctplb COMMAND: MESSAGE" as one line on stderr; returns kExitUsage.
int usage_error(std::string_view command, std::string_view message);

}  // namespace sctplb::cli
