#include "core/number_text.hpp"

namespace sctplb {

std::optional<std::uint8_t> hex_digit(char c) {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
    return std::nullopt;
}

std::optional<std::uint64_t> parse_number64(std::string_view text) {
    unsigned base = 10;
    if (text.starts_with("0x") || text.starts_with("0X")) {
        text.remove_prefix(2);
        base = 16;
    }
    if (text.empty() || text.size() > (base == 16 ? 16u : 20u)) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        const auto digit = hex_digit(c);
        if (!digit || *digit >= base) return std::nullopt;
        if (value > (~std::uint64_t{0} - *digit) / base) return std::nullopt;  // would overflow
        value = value * base + *digit;
    }
    return value;
}

std::optional<std::uint32_t> parse_number32(std::string_view text) {
    const auto value = parse_number64(text);
    if (!value || *value > 0xffffffffu) return std::nullopt;
    return static_cast<std::uint32_t>(*value);
}

bool parse_queue_range(std::string_view text, std::uint16_t& first, std::uint16_t& last) {
    auto number = [](std::string_view digits) -> std::optional<std::uint16_t> {
        const auto value = parse_number64(digits);
        if (!value || *value > 65535) return std::nullopt;
        return static_cast<std::uint16_t>(*value);
    };
    const std::size_t colon = text.find(':');
    const auto a = number(text.substr(0, colon));
    const auto b = colon == std::string_view::npos ? a : number(text.substr(colon + 1));
    if (!a || !b || *a > *b) return false;
    first = *a;
    last = *b;
    return true;
}

}  // namespace sctplb
