// A whole number from command-line text, for the benchmark tools (sctp_blast, sctp_setups,
// nfq_floor, nfq_marker): one spelling for all of them, decimal or hexadecimal with "0x".
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace sctplb::test {

template <typename Number>
std::optional<Number> parse_number(std::string_view text) {
    Number value{};
    int base = 10;
    if (text.starts_with("0x")) {
        text.remove_prefix(2);
        base = 16;
    }
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (error != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

}  // namespace sctplb::test
