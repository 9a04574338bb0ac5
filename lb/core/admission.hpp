// Admission control for new associations: which sources may open one (an
// allow-list of prefixes) and how fast one source may (a token bucket per
// source address), so one misbehaving peer cannot fill the half-open share of
// the table. Checked only for an INIT that would create state (a new
// association or a replaced half-open one): retransmissions and restarts of
// known associations pass.
//
// Per-source limits hold against a peer that uses its own address; a flood
// from random spoofed sources meets a fresh bucket per address and is bounded
// by the half-open share instead (association_table.hpp). The bucket table has
// a fixed size; a full neighbourhood forgets its least recently used source.
// Not thread-safe: used under the table lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/association_table.hpp"
#include "core/ip_address.hpp"

namespace sctplb {

struct Cidr {
    IpAddress network{};
    std::uint8_t prefix = 0;  // over the 128-bit form: IPv4 a.b.c.d/n is 96 + n
    [[nodiscard]] bool contains(const IpAddress& address) const;
};
// "10.0.0.0/8", "2001:db8::/32", or a bare address (a host prefix).
std::optional<Cidr> parse_cidr(std::string_view text);

struct AdmissionConfig {
    std::vector<Cidr> allow;        // empty: every source may open associations
    std::uint32_t rate_per_s = 0;   // new associations per second per source; 0 = unlimited
    std::uint32_t burst = 0;        // bucket depth (0: max(rate, 1))
};

class AdmissionControl {
public:
    enum class Decision : std::uint8_t { Admit, NotAllowed, RateLimited };
    explicit AdmissionControl(AdmissionConfig config, std::size_t sources = 4096);

    Decision admit(const IpAddress& source, Nanos now);
    [[nodiscard]] const AdmissionConfig& config() const { return config_; }

private:
    struct Bucket {
        IpAddress source{};
        bool used = false;
        std::int64_t tokens_milli = 0;  // thousandths of a token
        std::int64_t last_ns = 0;
    };
    AdmissionConfig config_;
    std::vector<Bucket> buckets_;
};

}  // namespace sctplb
