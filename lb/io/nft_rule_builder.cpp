// A rule of our table, expression by expression, in the registers our rules use.
#include "io/nft_rule_builder.hpp"

#include <array>

#include <netinet/in.h>  // before the linux headers: it defines what linux/in.h would

#include <linux/netfilter.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>

#include "io/nft_messages.hpp"

namespace sctplb::nft {

RuleBuilder::RuleBuilder(const std::string& table, const std::string& chain) : rule_(nftnl_rule_alloc()) {
    nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, chain.c_str());
}

RuleBuilder& RuleBuilder::meta_load(std::uint32_t key, std::uint32_t dreg) {
    nftnl_expr* e = add("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
    return *this;
}

RuleBuilder& RuleBuilder::meta_store(std::uint32_t key, std::uint32_t sreg) {
    nftnl_expr* e = add("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
    return *this;
}

RuleBuilder& RuleBuilder::cmp(std::uint32_t sreg, std::uint32_t op, std::span<const std::uint8_t> value) {
    nftnl_expr* e = add("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, value.data(), static_cast<std::uint32_t>(value.size()));
    return *this;
}

RuleBuilder& RuleBuilder::cmp_u8(std::uint32_t sreg, std::uint8_t value) {
    const std::array<std::uint8_t, 1> bytes{value};
    return cmp(sreg, NFT_CMP_EQ, bytes);
}

RuleBuilder& RuleBuilder::bitwise(std::uint32_t reg, std::span<const std::uint8_t> mask,
                     std::span<const std::uint8_t> xor_value) {
    nftnl_expr* e = add("bitwise");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, static_cast<std::uint32_t>(mask.size()));
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask.data(), static_cast<std::uint32_t>(mask.size()));
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor_value.data(), static_cast<std::uint32_t>(xor_value.size()));
    return *this;
}

RuleBuilder& RuleBuilder::payload(std::uint32_t base, std::uint32_t offset, std::uint32_t length,
                                  std::uint32_t dreg) {
    nftnl_expr* e = add("payload");
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, length);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
    return *this;
}

RuleBuilder& RuleBuilder::lookup(std::uint32_t sreg, const char* set, std::optional<std::uint32_t> dreg) {
    nftnl_expr* e = add("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
    if (dreg) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, *dreg);
    return *this;
}

RuleBuilder& RuleBuilder::dynset_update(std::uint32_t sreg_key, std::uint32_t sreg_data, const char* set,
                           std::uint64_t timeout_ms) {
    nftnl_expr* e = add("dynset");
    nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
    nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg_key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, sreg_data);
    nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
    nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
    return *this;
}

RuleBuilder& RuleBuilder::exthdr_present(std::uint32_t op, std::uint8_t type, std::uint32_t dreg) {
    nftnl_expr* e = add("exthdr");
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, op);
    nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, type);
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OFFSET, 0);
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_LEN, 1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_FLAGS, NFT_EXTHDR_F_PRESENT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_DREG, dreg);
    return *this;
}

RuleBuilder& RuleBuilder::verdict(std::int32_t code, const char* chain) {
    nftnl_expr* e = add("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<std::uint32_t>(code));
    if (chain != nullptr) nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
    return *this;
}

RuleBuilder& RuleBuilder::immediate_u32(std::uint32_t dreg, std::uint32_t value) {
    nftnl_expr* e = add("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DATA, value);
    return *this;
}

RuleBuilder& RuleBuilder::named_counter(const char* name) {
    nftnl_expr* e = add("objref");
    nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
    nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
    return *this;
}

RuleBuilder& RuleBuilder::comment(std::string_view text) {
    UdataPtr udata = comment_udata(NFTNL_UDATA_RULE_COMMENT, text);
    nftnl_rule_set_data(rule_.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(udata.get()),
                        nftnl_udata_buf_len(udata.get()));
    return *this;
}

nftnl_expr* RuleBuilder::add(const char* name) {
    nftnl_expr* e = nftnl_expr_alloc(name);
    nftnl_rule_add_expr(rule_.get(), e);  // the rule owns it
    return e;
}

void add_rule(Batch& batch, const RuleBuilder& rule, const std::string& chain) { add_rule(batch, rule.get(), chain); }

void set_masked_mark(RuleBuilder& rule, std::uint32_t mask, std::uint32_t value) {
    if (mask == 0xffffffffu) {
        // The whole mark is ours: a store of the value (2 expressions, not 3,
        // on every packet of the fast path).
        rule.immediate_u32(kScratchRegister, value).meta_store(NFT_META_MARK, kScratchRegister);
        return;
    }
    const auto keep = host_u32_bytes(~mask);
    const auto set = host_u32_bytes(value & mask);
    rule.meta_load(NFT_META_MARK, kScratchRegister).bitwise(kScratchRegister, keep, set).meta_store(NFT_META_MARK, kScratchRegister);
}

void match_protocols(RuleBuilder& rule, bool ipv6) {
    rule.meta_load(NFT_META_NFPROTO, kScratchRegister)
        .cmp_u8(kScratchRegister, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4)
        .meta_load(NFT_META_L4PROTO, kScratchRegister)
        .cmp_u8(kScratchRegister, IPPROTO_SCTP);
}

}  // namespace sctplb::nft
