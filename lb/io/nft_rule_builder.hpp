// A rule of our table, expression by expression, in the registers our rules use.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <linux/netfilter/nf_tables.h>

#include "io/nft_netlink.hpp"
#include "io/nft_objects.hpp"

struct nftnl_expr;

namespace sctplb::nft {

// Registers: the key in the 32-bit registers from NFT_REG32_00 (7 of them for
// IPv6), the map's data (the mark) in NFT_REG32_07, out of the key's way so
// that the dynset can read the key again.
inline constexpr std::uint32_t kKeyRegister = NFT_REG32_00;
inline constexpr std::uint32_t kDataRegister = NFT_REG32_07;
inline constexpr std::uint32_t kScratchRegister = NFT_REG_1;
inline constexpr std::uint32_t kSavedMarkRegister = NFT_REG32_08;

class RuleBuilder {
public:
    RuleBuilder(const std::string& table, const std::string& chain);
    RuleBuilder& meta_load(std::uint32_t key, std::uint32_t dreg);
    RuleBuilder& meta_store(std::uint32_t key, std::uint32_t sreg);
    RuleBuilder& cmp(std::uint32_t sreg, std::uint32_t op, std::span<const std::uint8_t> value);
    RuleBuilder& cmp_u8(std::uint32_t sreg, std::uint8_t value);
    // reg = (reg & mask) ^ xor_value
    RuleBuilder& bitwise(std::uint32_t reg, std::span<const std::uint8_t> mask,
                         std::span<const std::uint8_t> xor_value);
    RuleBuilder& payload(std::uint32_t base, std::uint32_t offset, std::uint32_t length, std::uint32_t dreg);
    // A miss ends the rule; with a data register, a hit loads the map's data.
    RuleBuilder& lookup(std::uint32_t sreg, const char* set, std::optional<std::uint32_t> dreg);
    // `update @set { key timeout T : data }`: refreshes an element's timeout.
    RuleBuilder& dynset_update(std::uint32_t sreg_key, std::uint32_t sreg_data, const char* set,
                               std::uint64_t timeout_ms);
    // 1 in dreg when the header (IPv6 extension header, SCTP chunk) exists, else 0.
    RuleBuilder& exthdr_present(std::uint32_t op, std::uint8_t type, std::uint32_t dreg);
    RuleBuilder& verdict(std::int32_t code, const char* chain = nullptr);
    RuleBuilder& immediate_u32(std::uint32_t dreg, std::uint32_t value);
    RuleBuilder& named_counter(const char* name);
    RuleBuilder& comment(std::string_view text);
    [[nodiscard]] nftnl_rule* get() const { return rule_.get(); }

private:
    nftnl_expr* add(const char* name);
    RulePtr rule_;
};

// Appends the rule to `chain` in the batch.
void add_rule(Batch& batch, const RuleBuilder& rule, const std::string& chain);
// `meta mark set meta mark & ~mask | value`
void set_masked_mark(RuleBuilder& rule, std::uint32_t mask, std::uint32_t value);
// `meta nfproto ipv4|ipv6 meta l4proto sctp`: true already (the prerouting
// rule checked), but nft needs them in the rule to print `ip saddr`, `sctp
// sport` instead of raw offsets.
void match_protocols(RuleBuilder& rule, bool ipv6);

}  // namespace sctplb::nft
