// Numbers as users type them on the command line: decimal or 0x-hex, and
// NFQUEUE numbers or ranges. Pure parsing, shared by every command so all
// accept exactly the same spellings.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sctplb {

// The value of one hex digit (0-9, a-f, A-F).
[[nodiscard]] std::optional<std::uint8_t> hex_digit(char c);
// Decimal or 0x-hex number (no sign, no spaces, no trailing text): every
// number of every command is spelled the same way.
[[nodiscard]] std::optional<std::uint64_t> parse_number64(std::string_view text);
// The same, at most 0xffffffff.
[[nodiscard]] std::optional<std::uint32_t> parse_number32(std::string_view text);
// "Q" or "Q1:Q2" (Q1 <= Q2), each 0..65535.
[[nodiscard]] bool parse_queue_range(std::string_view text, std::uint16_t& first, std::uint16_t& last);

}  // namespace sctplb
