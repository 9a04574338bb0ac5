// What lives inside an sctplb fast-path table: the names of its objects, its hook priority, nft's type ids.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sctplb::nft {

// Object names inside the table.
inline constexpr const char* kPreroutingChain = "prerouting";
inline constexpr const char* kFast4Chain = "fast4";
inline constexpr const char* kFast6Chain = "fast6";
inline constexpr const char* kVips4Set = "vips4";
inline constexpr const char* kVips6Set = "vips6";
inline constexpr const char* kAssoc4Map = "assoc4";
inline constexpr const char* kAssoc6Map = "assoc6";
inline constexpr const char* kTargetsMap = "targets";
inline constexpr std::string_view kTargetPrefix = "target-";  // chain and counter "target-<fwmark>"

// Priority NF_IP_PRI_MANGLE - 10: before the iptables mangle chain whose
// NFQUEUE rule skips packets that already carry one of our marks.
inline constexpr std::int32_t kPreroutingPriority = -160;

// nft's datatype ids (src/datatype.h of nftables), so that `nft list` prints
// the types: concatenations pack 6 bits per field, the first field highest.
inline constexpr std::uint32_t kTypeInteger = 4;
inline constexpr std::uint32_t kTypeIpv4Address = 7;
inline constexpr std::uint32_t kTypeIpv6Address = 8;
inline constexpr std::uint32_t kTypeInetService = 13;
inline constexpr std::uint32_t kTypeMark = 19;
inline constexpr std::uint32_t kConcatTypeBits = 6;

// `ip[6] saddr . sctp sport . sctp dport . sctp vtag` as nft's concatenated type.
inline std::uint32_t assoc_key_type(bool ipv6) {
    std::uint32_t type = ipv6 ? kTypeIpv6Address : kTypeIpv4Address;
    for (std::uint32_t field : {kTypeInetService, kTypeInetService, kTypeInteger})
        type = (type << kConcatTypeBits) | field;
    return type;
}

inline std::string target_name(std::uint32_t fwmark) { return std::string(kTargetPrefix) + std::to_string(fwmark); }

inline std::optional<std::uint32_t> fwmark_of_target_name(std::string_view name) {
    if (!name.starts_with(kTargetPrefix)) return std::nullopt;
    name.remove_prefix(kTargetPrefix.size());
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
    if (ec != std::errc() || end != name.data() + name.size() || name.empty()) return std::nullopt;
    return value;
}

}  // namespace sctplb::nft
