#include "cli/options.hpp"

#include "core/number_text.hpp"

#include <algorithm>
#include <cstdio>

namespace sctplb::cli {

namespace {

const OptionSpec* find_spec(std::span<const OptionSpec> specs, std::string_view name) {
    for (const auto& spec : specs)
        if (spec.name == name) return &spec;
    return nullptr;
}

// Messages are one line: control characters from the command line would break that.
std::string printable(std::string_view text) {
    std::string out;
    for (char c : text) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out;
}

}  // namespace

bool Options::has(std::string_view name) const {
    return std::any_of(given_.begin(), given_.end(), [&](const auto& g) { return g.first == name; });
}

std::optional<std::string> Options::value(std::string_view name) const {
    for (const auto& [given_name, given_value] : given_)
        if (given_name == name) return given_value;
    return std::nullopt;
}

std::vector<std::string> Options::values(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [given_name, given_value] : given_)
        if (given_name == name)
            for (const std::string_view item : split_list(given_value)) out.emplace_back(item);
    return out;
}

std::optional<Options> parse_options(std::span<const OptionSpec> specs,
                                     std::span<const std::string> args, std::string& error) {
    Options options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--") {
            options.positional_.insert(options.positional_.end(), args.begin() + i + 1, args.end());
            break;
        }
        if (arg == "-h" || arg == "--help") {
            options.help_ = true;
            continue;
        }
        if (!arg.starts_with("--")) {
            if (arg.starts_with("-") && arg.size() > 1) {
                error = "unknown option " + printable(arg) + " (options are spelt --name)";
                return std::nullopt;
            }
            options.positional_.push_back(arg);
            continue;
        }
        const std::string_view body = std::string_view(arg).substr(2);
        const std::size_t equals = body.find('=');
        const std::string_view name = body.substr(0, equals);
        const OptionSpec* spec = find_spec(specs, name);
        if (spec == nullptr) {
            error = "unknown option --" + printable(name);
            return std::nullopt;
        }
        if (options.has(name) && !spec->repeatable) {
            error = "option --" + std::string(name) + " given twice";
            return std::nullopt;
        }
        std::string value;
        if (spec->value_name.empty()) {
            if (equals != std::string_view::npos) {
                error = "option --" + std::string(name) + " takes no value";
                return std::nullopt;
            }
        } else if (equals != std::string_view::npos) {
            value = std::string(body.substr(equals + 1));
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            error = "option --" + std::string(name) + " needs a value " + std::string(spec->value_name);
            return std::nullopt;
        }
        options.given_.emplace_back(std::string(name), std::move(value));
    }
    return options;
}

std::string format_help(std::string_view usage, std::string_view description,
                        std::span<const OptionSpec> specs) {
    std::string out = "Usage: " + std::string(usage) + "\n";
    if (!description.empty()) out += "\n" + std::string(description) + "\n";
    std::vector<std::string> left;
    std::size_t width = std::string_view("-h, --help").size();
    for (const auto& spec : specs) {
        std::string text = "--" + std::string(spec.name);
        // Appended piece by piece, not `" " + std::string(...)`: gcc 12 at -O3 reports a
        // false -Wrestrict inside libstdc++ for that (GCC bugs 105329, 105651).
        if (!spec.value_name.empty()) {
            text += ' ';
            text += spec.value_name;
        }
        width = std::max(width, text.size());
        left.push_back(std::move(text));
    }
    out += "\nOptions:\n";
    for (std::size_t i = 0; i < specs.size(); ++i)
        out += "  " + left[i] + std::string(width - left[i].size() + 2, ' ') +
               std::string(specs[i].help) + "\n";
    out += "  -h, --help" + std::string(width - 10 + 2, ' ') + "show this help\n";
    return out;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t min,
                                            std::uint64_t max) {
    const auto value = parse_number64(text);
    if (!value || *value < min || *value > max) return std::nullopt;
    return value;
}

std::vector<std::string_view> split_list(std::string_view text, char separator) {
    std::vector<std::string_view> items;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = text.find(separator, start);
        items.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return items;
}

std::optional<Options> parse_or_help(std::string_view command, std::span<const OptionSpec> specs,
                                     std::span<const std::string> args, std::string_view usage,
                                     std::string_view description, int& status) {
    std::string error;
    auto options = parse_options(specs, args, error);
    if (!options) {
        status = usage_error(command, error);
        return std::nullopt;
    }
    if (options->help_requested()) {
        std::fputs(format_help(usage, description, specs).c_str(), stdout);
        status = 0;
        return std::nullopt;
    }
    return options;
}

int usage_error(std::string_view command, std::string_view message) {
    std::string line = "sctplb";
    if (!command.empty()) {
        line += ' ';  // not `" " + std::string(command)`: gcc 12 -O3 false -Wrestrict (see above)
        line += command;
    }
    line += ": " + printable(message) + "\n";
    std::fputs(line.c_str(), stderr);
    return kExitUsage;
}

bool parse_address_list(std::string_view text, std::string_view option, std::vector<IpAddress>& out,
                        std::string& error) {
    for (std::string_view item : split_list(text)) {
        const auto address = IpAddress::parse(item);
        if (!address) {
            error = "--" + std::string(option) + ": '" + std::string(item) + "' is not an IPv4 or IPv6 address";
            return false;
        }
        out.push_back(*address);
    }
    return true;
}

}  // namespace sctplb::cli
