#include "number_text.hpp"

namespace sctplb {

std::optional<std::uint8_t> hex_digit(char c) {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
    return std::nullopt;
}

std::optional<std::uint32_t> parse_number32(std::string_view text) {
    int base = 10;
    if (text.starts_with("0x") || text.starts_with("0X")) {
        text.remove_prefix(2);
        base = 16;
    }
    if (text.empty() || text.size() > (base == 16 ? 8u : 10u)) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        const auto digit = hex_digit(c);
        if (!digit || *digit >= base) return std::nullopt;
        value = value * static_cast<std::uint64_t>(base) + *digit;
    }
    if (value > 0xffffffffu) return std::nullopt;
    return static_cast<std::uint32_t>(value);
}

bool parse_queue_range(std::string_view text, std::uint16_t& first, std::uint16_t& last) {
    auto number = [](std::string_view digits) -> std::optional<std::uint16_t> {
        if (digits.empty() || digits.size() > 5) return std::nullopt;
        std::uint32_t value = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') return std::nullopt;
            value = value * 10 + static_cast<std::uint32_t>(c - '0');
        }
        if (value > 65535) return std::nullopt;
        return static_cast<std::uint16_t>(value);
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
