// Addresses written in tests as text. A literal that does not parse is a bug in the test:
// it stops the program with the text rather than testing with a zero address.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/ip_address.hpp"

namespace sctplb::test {

inline IpAddress ip(std::string_view text) {
    const auto parsed = IpAddress::parse(text);
    if (!parsed) {
        std::fprintf(stderr, "test address does not parse: '%.*s'\n", static_cast<int>(text.size()), text.data());
        std::abort();
    }
    return *parsed;
}

}  // namespace sctplb::test
