#include "core/admission.hpp"

#include <xxhash.h>

#include <algorithm>
#include <bit>

#include "core/number_text.hpp"

namespace sctplb {

namespace {
constexpr std::size_t kProbe = 4;
}

bool Cidr::contains(const IpAddress& address) const {
    if (address.is_v4() != network.is_v4()) return false;
    const auto& a = address.bytes();
    const auto& n = network.bytes();
    std::size_t bits = prefix;
    for (std::size_t i = 0; i < 16 && bits > 0; ++i) {
        const std::size_t take = std::min<std::size_t>(bits, 8);
        const auto mask = static_cast<std::uint8_t>(0xff00u >> take);
        if ((a[i] & mask) != (n[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
    const std::size_t slash = text.find('/');
    const auto address = IpAddress::parse(text.substr(0, slash));
    if (!address) return std::nullopt;
    const std::uint32_t family_bits = address->is_v4() ? 32 : 128;
    std::uint32_t length = family_bits;
    if (slash != std::string_view::npos) {
        const auto n = parse_number32(text.substr(slash + 1));
        if (!n || *n > family_bits || text.substr(slash + 1).starts_with("0x")) return std::nullopt;
        length = *n;
    }
    return Cidr{*address, static_cast<std::uint8_t>(address->is_v4() ? 96 + length : length)};
}

AdmissionControl::AdmissionControl(AdmissionConfig config, std::size_t sources)
    : config_(std::move(config)), buckets_(std::bit_ceil(std::max(sources, kProbe))) {
    if (config_.burst == 0) config_.burst = std::max<std::uint32_t>(config_.rate_per_s, 1);
}

AdmissionControl::Decision AdmissionControl::admit(const IpAddress& source, Nanos now) {
    if (!config_.allow.empty() &&
        std::none_of(config_.allow.begin(), config_.allow.end(), [&](const Cidr& c) { return c.contains(source); }))
        return Decision::NotAllowed;
    if (config_.rate_per_s == 0) return Decision::Admit;

    const std::size_t mask = buckets_.size() - 1;
    const std::size_t home = static_cast<std::size_t>(XXH3_64bits(source.bytes().data(), 16)) & mask;
    Bucket* bucket = nullptr;
    Bucket* oldest = &buckets_[home];
    for (std::size_t i = 0; i < kProbe && bucket == nullptr; ++i) {
        Bucket& b = buckets_[(home + i) & mask];
        if (b.used && b.source == source) bucket = &b;
        else if (!b.used || b.last_ns < oldest->last_ns) oldest = &b;
    }
    const std::int64_t full = std::int64_t{config_.burst} * 1000;
    if (bucket == nullptr) {  // a source not seen lately: a full bucket
        bucket = oldest;
        *bucket = Bucket{source, true, full, now.count()};
    }
    // Refill: rate tokens per second, in thousandths, capped at the burst.
    // (Clamped to an hour: no overflow for any rate up to 10^6/s, and a bucket is full by then.)
    const std::int64_t elapsed_ns = std::clamp<std::int64_t>(now.count() - bucket->last_ns, 0, 3'600'000'000'000);
    bucket->tokens_milli = std::min(full, bucket->tokens_milli + elapsed_ns * config_.rate_per_s / 1'000'000);
    bucket->last_ns = now.count();
    if (bucket->tokens_milli < 1000) return Decision::RateLimited;
    bucket->tokens_milli -= 1000;
    return Decision::Admit;
}

}  // namespace sctplb
