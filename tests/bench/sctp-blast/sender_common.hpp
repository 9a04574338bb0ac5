// Helpers shared by the raw-socket SCTP senders of the benchmarks
// (sctp_blast, sctp_setups): option parsing, tags, the monotonic clock, the
// IPv4 + SCTP headers and the INIT chunk both write. The raw socket, batching,
// pacing and the closing report are in raw_sender.hpp.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/bytes.hpp"
#include "support/parse_number.hpp"

namespace sctplb::bench {

using sctplb::test::parse_number;

// A non-negative decimal number.
inline std::optional<double> parse_double(std::string_view text) {
    if (text.empty() || text.size() > 30) return std::nullopt;
    const std::string copy(text);
    char* end = nullptr;
    const double value = std::strtod(copy.c_str(), &end);
    if (end != copy.c_str() + copy.size() || !(value >= 0)) return std::nullopt;
    return value;
}

inline std::vector<std::string_view> split_commas(std::string_view text) {
    std::vector<std::string_view> parts;
    while (true) {
        const auto comma = text.find(',');
        parts.push_back(text.substr(0, comma));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return parts;
}

inline std::optional<in_addr> parse_ipv4(std::string_view text) {
    const std::string copy(text);
    in_addr address{};
    if (inet_pton(AF_INET, copy.c_str(), &address) != 1) return std::nullopt;
    return address;
}

inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// A tag is never 0: 0 is reserved for INIT (RFC 9260 §3.3.2, Initiate Tag).
inline std::uint32_t nonzero_tag(std::uint64_t x) {
    const auto tag = static_cast<std::uint32_t>(splitmix64(x));
    return tag != 0 ? tag : 1;
}

inline std::int64_t monotonic_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

inline void sleep_until(std::int64_t deadline_ns) {
    timespec until{static_cast<time_t>(deadline_ns / 1'000'000'000), static_cast<long>(deadline_ns % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
    }
}

// ---- options both senders take ----------------------------------------------------

// What every sender needs; a tool's Options derives from it (and sets its own
// sport_base default).
struct SenderOptions {
    in_addr destination{};
    bool have_destination = false;
    std::vector<in_addr> sources;
    std::uint16_t dport = 36412;
    std::uint16_t sport_base = 1024;
    double duration = 1.0;
    std::size_t batch = 64;
    std::uint64_t seed = 1;
};

enum class OptionResult { taken, bad, unknown };

// `out` = the number in `value` when it is within [min, max].
template <typename Number>
OptionResult take_number(std::string_view value, Number& out, Number min, Number max) {
    const auto v = parse_number<Number>(value);
    if (!v || *v < min || *v > max) return OptionResult::bad;
    out = *v;
    return OptionResult::taken;
}

// --dst, --src, --dport, --sport-base, --duration, --batch, --seed.
inline OptionResult parse_sender_option(std::string_view name, std::string_view value, SenderOptions& o) {
    if (name == "--dst") {
        const auto address = parse_ipv4(value);
        if (!address) return OptionResult::bad;
        o.destination = *address;
        o.have_destination = true;
        return OptionResult::taken;
    }
    if (name == "--src") {
        o.sources.clear();
        for (const auto part : split_commas(value)) {
            const auto address = parse_ipv4(part);
            if (!address) return OptionResult::bad;
            o.sources.push_back(*address);
        }
        return OptionResult::taken;
    }
    if (name == "--dport") return take_number<std::uint16_t>(value, o.dport, 1, 65535);
    if (name == "--sport-base") return take_number<std::uint16_t>(value, o.sport_base, 1, 65535);
    if (name == "--batch") return take_number<std::size_t>(value, o.batch, 1, 1024);
    if (name == "--seed") {
        const auto v = parse_number<std::uint64_t>(value);
        if (!v) return OptionResult::bad;
        o.seed = *v;
        return OptionResult::taken;
    }
    if (name == "--duration") {
        const auto v = parse_double(value);
        if (!v || *v <= 0) return OptionResult::bad;
        o.duration = *v;
        return OptionResult::taken;
    }
    return OptionResult::unknown;
}

// The option loop both senders share: help, flags (`flag(name)` says whether it
// took one), then "--name value" pairs offered to `option(name, value)`.
// Returns an error text, or nothing when the command line is good.
template <typename Flag, typename Option>
std::optional<std::string> parse_command_line(int argc, char** argv, const SenderOptions& o, bool& help, Flag flag,
                                              Option option) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view name = argv[i];
        if (name == "--help" || name == "-h" || name == "help") {
            help = true;
            return std::nullopt;
        }
        if (flag(name)) continue;
        if (i + 1 >= argc) return "option " + std::string(name) + " needs a value";
        const std::string_view value = argv[++i];
        const OptionResult result = option(name, value);
        if (result == OptionResult::bad) return "bad value '" + std::string(value) + "' for " + std::string(name);
        if (result == OptionResult::unknown) return "unknown option " + std::string(name);
    }
    if (!o.have_destination) return std::string("--dst is required");
    if (o.sources.empty()) return std::string("--src is required");
    return std::nullopt;
}

// ---- packets ------------------------------------------------------------------------

constexpr std::size_t kIpHeaderBytes = 20;
constexpr std::size_t kCommonHeaderBytes = 12;
constexpr std::size_t kInitChunkBytes = 20;  // RFC 9260 §3.3.2, no parameters
constexpr std::uint8_t kIpProtocolSctp = 132;
constexpr std::uint8_t kChunkInit = 1;  // RFC 9260 §3.2

// Zeroes `length` bytes at `p` and writes what every packet of a run shares:
// the IPv4 header but its source, and the SCTP destination port.
inline void write_ipv4_sctp(std::byte* p, std::size_t length, in_addr destination, std::uint16_t dport) {
    using sctplb::test::store16;
    std::memset(p, 0, length);
    p[0] = std::byte{0x45};                                 // IPv4, 20-byte header
    store16(p + 2, static_cast<std::uint16_t>(length));      // total length
    store16(p + 6, 0x4000);                                 // DF; id 0: the kernel fills it
    p[8] = std::byte{64};                                   // TTL
    p[9] = std::byte{kIpProtocolSctp};
    std::memcpy(p + 16, &destination, 4);                   // network order already
    store16(p + kIpHeaderBytes + 2, dport);
}

// An INIT chunk without parameters (§3.3.2) at `chunk`, 10 streams each way.
inline void write_init_chunk(std::byte* chunk, std::uint32_t initiate_tag, std::uint32_t initial_tsn) {
    using sctplb::test::store16;
    using sctplb::test::store32;
    chunk[0] = std::byte{kChunkInit};
    store16(chunk + 2, static_cast<std::uint16_t>(kInitChunkBytes));
    store32(chunk + 4, initiate_tag);
    store32(chunk + 8, 65536);  // a_rwnd
    store16(chunk + 12, 10);    // outbound streams
    store16(chunk + 14, 10);    // inbound streams
    store32(chunk + 16, initial_tsn);
}

}  // namespace sctplb::bench
