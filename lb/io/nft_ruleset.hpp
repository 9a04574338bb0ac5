// install(): what `sctplb rules --fastpath` puts into the kernel, built as named steps into one atomic batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "io/nft_netlink.hpp"

namespace sctplb {

// What `sctplb rules --fastpath` installs.
struct FastPathRuleset {
    std::string table;                   // nft table name, family inet
    std::vector<IpAddress> vips;         // v4 and/or v6
    std::vector<std::uint32_t> fwmarks;  // one target chain per fwmark (non-zero, inside mark_mask)
    std::uint32_t mark_mask = 0xffffffffu;
    std::uint32_t map_size = 65536;     // max elements per family map (kernel default is 65535 when unset!)
    std::uint64_t timeout_ms = 600000;  // element timeout AND the refresh timeout of the update rule
};

namespace nft {

// Creates the whole ruleset in ONE netlink batch (atomic). An existing table
// of ours is rebuilt in that batch except its two assoc maps, whose elements
// are kept; it fails (and changes nothing) when such a map has another size,
// timeout or key, or when the table is not ours.
bool install_ruleset(Netlink& netlink, const FastPathRuleset& ruleset, std::string& error);

}  // namespace nft
}  // namespace sctplb
