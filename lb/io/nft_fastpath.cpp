#include "nft_fastpath.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "packet.hpp"  // ChunkType

namespace sctplb {
namespace {

// Object names inside the table.
constexpr const char* kPreroutingChain = "prerouting";
constexpr const char* kFast4Chain = "fast4";
constexpr const char* kFast6Chain = "fast6";
constexpr const char* kVips4Set = "vips4";
constexpr const char* kVips6Set = "vips6";
constexpr const char* kAssoc4Map = "assoc4";
constexpr const char* kAssoc6Map = "assoc6";
constexpr const char* kTargetsMap = "targets";
constexpr std::string_view kTargetPrefix = "target-";  // chain and counter "target-<fwmark>"

// Priority NF_IP_PRI_MANGLE - 10: before the iptables mangle chain whose
// NFQUEUE rule skips packets that already carry one of our marks.
constexpr std::int32_t kPreroutingPriority = -160;

constexpr std::size_t kIpv4KeyBytes = 16;
constexpr std::size_t kIpv6KeyBytes = 28;

// nft's datatype ids (src/datatype.h of nftables), so that `nft list` prints
// the types: concatenations pack 6 bits per field, the first field highest.
constexpr std::uint32_t kTypeInteger = 4;
constexpr std::uint32_t kTypeIpv4Address = 7;
constexpr std::uint32_t kTypeIpv6Address = 8;
constexpr std::uint32_t kTypeInetService = 13;
constexpr std::uint32_t kTypeMark = 19;
constexpr std::uint32_t kConcatTypeBits = 6;

// nft's userdata values (byteorder enum, expression types, payload protocol
// descriptions and fields) for `typeof ip saddr . sctp sport . sctp dport .
// sctp vtag : meta mark`, as nft 1.0.6 writes them.
constexpr std::uint32_t kByteorderInvalid = 0;
constexpr std::uint32_t kByteorderHost = 1;
constexpr std::uint32_t kByteorderBig = 2;
constexpr std::uint32_t kExprPayload = 7;
constexpr std::uint32_t kExprMeta = 9;
constexpr std::uint32_t kExprConcat = 13;
constexpr std::uint32_t kProtoDescSctp = 10;
constexpr std::uint32_t kProtoDescIp = 12;
constexpr std::uint32_t kProtoDescIp6 = 13;
constexpr std::uint32_t kIpFieldSaddr = 11;
constexpr std::uint32_t kIp6FieldSaddr = 8;
constexpr std::uint32_t kSctpFieldSport = 1;
constexpr std::uint32_t kSctpFieldDport = 2;
constexpr std::uint32_t kSctpFieldVtag = 3;
// Payload userdata attributes: description, field, and (for integer fields) length in bits.
constexpr std::uint8_t kUdataPayloadDesc = 0;
constexpr std::uint8_t kUdataPayloadField = 1;
constexpr std::uint8_t kUdataPayloadBits = 4;
constexpr std::uint8_t kUdataMetaKey = 0;
constexpr std::uint8_t kUdataConcatSubType = 0;
constexpr std::uint8_t kUdataConcatSubData = 1;

// Chunks that change an association's state go to the daemon (RFC 9260 §3.2
// chunk types; ASCONF: RFC 5061 §4.1).
constexpr std::array<std::uint8_t, 8> kControlChunkTypes = {
    chunk_type_value(ChunkType::Init),        chunk_type_value(ChunkType::InitAck),
    chunk_type_value(ChunkType::CookieEcho),  chunk_type_value(ChunkType::Asconf),
    chunk_type_value(ChunkType::Abort),       chunk_type_value(ChunkType::Shutdown),
    chunk_type_value(ChunkType::ShutdownAck), chunk_type_value(ChunkType::ShutdownComplete),
};
constexpr std::uint8_t kIpv6FragmentHeader = 44;  // RFC 8200 §4.5

// Registers: the key in the 32-bit registers from NFT_REG32_00 (7 of them for
// IPv6), the map's data (the mark) in NFT_REG32_07, out of the key's way so
// that the dynset can read the key again.
constexpr std::uint32_t kKeyRegister = NFT_REG32_00;
constexpr std::uint32_t kDataRegister = NFT_REG32_07;
constexpr std::uint32_t kScratchRegister = NFT_REG_1;
constexpr std::uint32_t kSavedMarkRegister = NFT_REG32_08;

// Messages per batch before falling back: a failed batch costs one retry per message.
constexpr std::size_t kMessagesPerBatch = 512;
constexpr std::size_t kReceiveBufferBytes = 1 << 17;
constexpr int kSocketBufferBytes = 4 << 20;

std::string errno_text(int code) { return std::strerror(code); }

// --- libnftnl object ownership ---------------------------------------------
struct TableFree {
    void operator()(nftnl_table* p) const { nftnl_table_free(p); }
};
struct ChainFree {
    void operator()(nftnl_chain* p) const { nftnl_chain_free(p); }
};
struct RuleFree {
    void operator()(nftnl_rule* p) const { nftnl_rule_free(p); }
};
struct SetFree {
    void operator()(nftnl_set* p) const { nftnl_set_free(p); }
};
struct ObjFree {
    void operator()(nftnl_obj* p) const { nftnl_obj_free(p); }
};
struct UdataFree {
    void operator()(nftnl_udata_buf* p) const { nftnl_udata_buf_free(p); }
};
using TablePtr = std::unique_ptr<nftnl_table, TableFree>;
using ChainPtr = std::unique_ptr<nftnl_chain, ChainFree>;
using RulePtr = std::unique_ptr<nftnl_rule, RuleFree>;
using SetPtr = std::unique_ptr<nftnl_set, SetFree>;
using ObjPtr = std::unique_ptr<nftnl_obj, ObjFree>;
using UdataPtr = std::unique_ptr<nftnl_udata_buf, UdataFree>;

std::string target_name(std::uint32_t fwmark) { return std::string(kTargetPrefix) + std::to_string(fwmark); }

std::optional<std::uint32_t> parse_decimal32(std::string_view text) {
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

std::optional<std::uint32_t> fwmark_of_target_name(std::string_view name) {
    if (!name.starts_with(kTargetPrefix)) return std::nullopt;
    return parse_decimal32(name.substr(kTargetPrefix.size()));
}

std::array<std::uint8_t, 4> host_u32_bytes(std::uint32_t value) {
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &value, sizeof value);
    return bytes;
}

// A comment in nft's userdata format (one attribute, NUL-terminated string).
UdataPtr comment_udata(std::uint8_t type, std::string_view text) {
    UdataPtr buffer(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    std::string copy(text);
    nftnl_udata_put_strz(buffer.get(), type, copy.c_str());
    return buffer;
}

// The comment attribute of some userdata, if any.
std::optional<std::string> comment_of_udata(const void* data, std::uint32_t length, std::uint8_t type) {
    struct Found {
        std::uint8_t type;
        std::optional<std::string> text;
    } found{type, std::nullopt};
    auto callback = [](const nftnl_udata* attribute, void* context) -> int {
        auto* found = static_cast<Found*>(context);
        if (nftnl_udata_type(attribute) != found->type) return 0;
        const auto* value = static_cast<const char*>(nftnl_udata_get(attribute));
        std::uint32_t size = nftnl_udata_len(attribute);
        if (size == 0 || value[size - 1] != '\0') return -1;
        found->text = std::string(value, size - 1);
        return 0;
    };
    if (data == nullptr || nftnl_udata_parse(data, length, callback, &found) < 0) return std::nullopt;
    return found.text;
}

// --- set userdata (what nft reads back to print `typeof ...`) --------------
void put_payload_field(nftnl_udata_buf* buffer, std::uint8_t index, std::uint32_t description,
                       std::uint32_t field, std::uint32_t integer_bits) {
    nftnl_udata* field_nest = nftnl_udata_nest_start(buffer, index);
    nftnl_udata_put_u32(buffer, kUdataConcatSubType, kExprPayload);
    nftnl_udata* data_nest = nftnl_udata_nest_start(buffer, kUdataConcatSubData);
    nftnl_udata_put_u32(buffer, kUdataPayloadDesc, description);
    nftnl_udata_put_u32(buffer, kUdataPayloadField, field);
    if (integer_bits != 0) nftnl_udata_put_u32(buffer, kUdataPayloadBits, integer_bits);
    nftnl_udata_nest_end(buffer, data_nest);
    nftnl_udata_nest_end(buffer, field_nest);
}

// `typeof ip[6] saddr . sctp sport . sctp dport . sctp vtag : meta mark`
UdataPtr assoc_map_udata(bool ipv6) {
    UdataPtr buffer(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    nftnl_udata_buf* b = buffer.get();
    nftnl_udata_put_u32(b, NFTNL_UDATA_SET_KEYBYTEORDER, kByteorderInvalid);  // a concatenation has none
    nftnl_udata_put_u32(b, NFTNL_UDATA_SET_DATABYTEORDER, kByteorderHost);
    nftnl_udata* key = nftnl_udata_nest_start(b, NFTNL_UDATA_SET_KEY_TYPEOF);
    nftnl_udata_put_u32(b, NFTNL_UDATA_SET_TYPEOF_EXPR, kExprConcat);
    nftnl_udata* concat = nftnl_udata_nest_start(b, NFTNL_UDATA_SET_TYPEOF_DATA);
    if (ipv6)
        put_payload_field(b, 0, kProtoDescIp6, kIp6FieldSaddr, 0);
    else
        put_payload_field(b, 0, kProtoDescIp, kIpFieldSaddr, 0);
    put_payload_field(b, 1, kProtoDescSctp, kSctpFieldSport, 0);
    put_payload_field(b, 2, kProtoDescSctp, kSctpFieldDport, 0);
    put_payload_field(b, 3, kProtoDescSctp, kSctpFieldVtag, 32);
    nftnl_udata_nest_end(b, concat);
    nftnl_udata_nest_end(b, key);
    nftnl_udata* data = nftnl_udata_nest_start(b, NFTNL_UDATA_SET_DATA_TYPEOF);
    nftnl_udata_put_u32(b, NFTNL_UDATA_SET_TYPEOF_EXPR, kExprMeta);
    nftnl_udata* meta = nftnl_udata_nest_start(b, NFTNL_UDATA_SET_TYPEOF_DATA);
    nftnl_udata_put_u32(b, kUdataMetaKey, NFT_META_MARK);
    nftnl_udata_nest_end(b, meta);
    nftnl_udata_nest_end(b, data);
    nftnl_udata_put_u32(b, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
    return buffer;
}

UdataPtr byteorder_udata(std::uint32_t key_order, std::optional<std::uint32_t> data_order) {
    UdataPtr buffer(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    nftnl_udata_put_u32(buffer.get(), NFTNL_UDATA_SET_KEYBYTEORDER, key_order);
    if (data_order) {
        nftnl_udata_put_u32(buffer.get(), NFTNL_UDATA_SET_DATABYTEORDER, *data_order);
        nftnl_udata_put_u32(buffer.get(), NFTNL_UDATA_SET_DATA_INTERVAL, 0);
    }
    return buffer;
}

std::uint32_t assoc_key_type(bool ipv6) {
    std::uint32_t type = ipv6 ? kTypeIpv6Address : kTypeIpv4Address;
    for (std::uint32_t field : {kTypeInetService, kTypeInetService, kTypeInteger})
        type = (type << kConcatTypeBits) | field;
    return type;
}

// --- rule expressions --------------------------------------------------------
class RuleBuilder {
public:
    RuleBuilder(const std::string& table, const std::string& chain) : rule_(nftnl_rule_alloc()) {
        nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
        nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, table.c_str());
        nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, chain.c_str());
    }
    RuleBuilder& meta_load(std::uint32_t key, std::uint32_t dreg) {
        nftnl_expr* e = add("meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
        return *this;
    }
    RuleBuilder& meta_store(std::uint32_t key, std::uint32_t sreg) {
        nftnl_expr* e = add("meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
        return *this;
    }
    RuleBuilder& cmp(std::uint32_t sreg, std::uint32_t op, std::span<const std::uint8_t> value) {
        nftnl_expr* e = add("cmp");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, value.data(), static_cast<std::uint32_t>(value.size()));
        return *this;
    }
    RuleBuilder& cmp_u8(std::uint32_t sreg, std::uint8_t value) {
        const std::array<std::uint8_t, 1> bytes{value};
        return cmp(sreg, NFT_CMP_EQ, bytes);
    }
    // reg = (reg & mask) ^ xor_value
    RuleBuilder& bitwise(std::uint32_t reg, std::span<const std::uint8_t> mask,
                         std::span<const std::uint8_t> xor_value) {
        nftnl_expr* e = add("bitwise");
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, static_cast<std::uint32_t>(mask.size()));
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask.data(), static_cast<std::uint32_t>(mask.size()));
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor_value.data(), static_cast<std::uint32_t>(xor_value.size()));
        return *this;
    }
    RuleBuilder& payload(std::uint32_t base, std::uint32_t offset, std::uint32_t length, std::uint32_t dreg) {
        nftnl_expr* e = add("payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, length);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
        return *this;
    }
    // A miss ends the rule; with a data register, a hit loads the map's data.
    RuleBuilder& lookup(std::uint32_t sreg, const char* set, std::optional<std::uint32_t> dreg) {
        nftnl_expr* e = add("lookup");
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
        nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
        if (dreg) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, *dreg);
        return *this;
    }
    // `update @set { key timeout T : data }`: refreshes an element's timeout.
    RuleBuilder& dynset_update(std::uint32_t sreg_key, std::uint32_t sreg_data, const char* set,
                               std::uint64_t timeout_ms) {
        nftnl_expr* e = add("dynset");
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg_key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, sreg_data);
        nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
        nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
        return *this;
    }
    // 1 in dreg when the header (IPv6 extension header, SCTP chunk) exists, else 0.
    RuleBuilder& exthdr_present(std::uint32_t op, std::uint8_t type, std::uint32_t dreg) {
        nftnl_expr* e = add("exthdr");
        nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, op);
        nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, type);
        nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OFFSET, 0);
        nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_LEN, 1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_FLAGS, NFT_EXTHDR_F_PRESENT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_DREG, dreg);
        return *this;
    }
    RuleBuilder& verdict(std::int32_t code, const char* chain = nullptr) {
        nftnl_expr* e = add("immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<std::uint32_t>(code));
        if (chain != nullptr) nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
        return *this;
    }
    RuleBuilder& named_counter(const char* name) {
        nftnl_expr* e = add("objref");
        nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
        nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
        return *this;
    }
    RuleBuilder& comment(std::string_view text) {
        UdataPtr udata = comment_udata(NFTNL_UDATA_RULE_COMMENT, text);
        nftnl_rule_set_data(rule_.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(udata.get()),
                            nftnl_udata_buf_len(udata.get()));
        return *this;
    }
    [[nodiscard]] nftnl_rule* get() const { return rule_.get(); }

private:
    nftnl_expr* add(const char* name) {
        nftnl_expr* e = nftnl_expr_alloc(name);
        nftnl_rule_add_expr(rule_.get(), e);  // the rule owns it
        return e;
    }
    RulePtr rule_;
};

// `meta mark set meta mark & ~mask | value`
void set_masked_mark(RuleBuilder& rule, std::uint32_t mask, std::uint32_t value) {
    const auto keep = host_u32_bytes(~mask);
    const auto set = host_u32_bytes(value & mask);
    rule.meta_load(NFT_META_MARK, kScratchRegister).bitwise(kScratchRegister, keep, set).meta_store(NFT_META_MARK, kScratchRegister);
}

// `meta nfproto ipv4|ipv6 meta l4proto sctp`: true already (the prerouting
// rule checked), but nft needs them in the rule to print `ip saddr`, `sctp
// sport` instead of raw offsets.
void match_protocols(RuleBuilder& rule, bool ipv6) {
    rule.meta_load(NFT_META_NFPROTO, kScratchRegister)
        .cmp_u8(kScratchRegister, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4)
        .meta_load(NFT_META_L4PROTO, kScratchRegister)
        .cmp_u8(kScratchRegister, IPPROTO_SCTP);
}

}  // namespace

// --- the pure parts -----------------------------------------------------------

std::string fastpath_table_name(std::string_view tag) {
    if (tag == "sctplb") return "sctplb";
    return "sctplb-" + std::string(tag);
}

std::size_t encode_fastpath_key(const FastPathKey& key, FastPathKeyBytes& out) {
    out.fill(0);
    const auto& address = key.client.bytes();
    std::size_t at = 0;
    if (key.client.is_v4()) {
        std::copy(address.begin() + 12, address.end(), out.begin());
        at = 4;
    } else {
        std::copy(address.begin(), address.end(), out.begin());
        at = 16;
    }
    // Ports: 2 bytes in network order, then 2 zero bytes (register padding).
    out[at] = static_cast<std::uint8_t>(key.sport >> 8);
    out[at + 1] = static_cast<std::uint8_t>(key.sport);
    out[at + 4] = static_cast<std::uint8_t>(key.dport >> 8);
    out[at + 5] = static_cast<std::uint8_t>(key.dport);
    for (int i = 0; i < 4; ++i) out[at + 8 + i] = static_cast<std::uint8_t>(key.vtag >> (24 - 8 * i));
    return at + 12;
}

std::optional<FastPathKey> decode_fastpath_key(std::span<const std::uint8_t> bytes) {
    FastPathKey key;
    std::size_t at = 0;
    if (bytes.size() == kIpv4KeyBytes) {
        key.client = IpAddress::v4((std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
                                   (std::uint32_t{bytes[2]} << 8) | bytes[3]);
        at = 4;
    } else if (bytes.size() == kIpv6KeyBytes) {
        std::array<std::uint8_t, 16> address{};
        std::copy(bytes.begin(), bytes.begin() + 16, address.begin());
        key.client = IpAddress::v6(address);
        at = 16;
    } else {
        return std::nullopt;
    }
    if (bytes[at + 2] != 0 || bytes[at + 3] != 0 || bytes[at + 6] != 0 || bytes[at + 7] != 0) return std::nullopt;
    key.sport = static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
    key.dport = static_cast<std::uint16_t>((bytes[at + 4] << 8) | bytes[at + 5]);
    key.vtag = (std::uint32_t{bytes[at + 8]} << 24) | (std::uint32_t{bytes[at + 9]} << 16) |
               (std::uint32_t{bytes[at + 10]} << 8) | bytes[at + 11];
    return key;
}

std::string fastpath_settings_text(std::uint32_t mark_mask, std::uint32_t map_size, std::uint64_t timeout_ms) {
    char text[128];
    std::snprintf(text, sizeof text, "%.*s mask=0x%08x size=%u timeout_ms=%llu",
                  static_cast<int>(kFastPathTableComment.size()), kFastPathTableComment.data(), mark_mask,
                  map_size, static_cast<unsigned long long>(timeout_ms));
    return text;
}

std::optional<FastPathInfo> parse_fastpath_settings(std::string_view text) {
    if (!text.starts_with(kFastPathTableComment)) return std::nullopt;
    text.remove_prefix(kFastPathTableComment.size());
    // Exactly " mask=0x<8 hex> size=<dec> timeout_ms=<dec>".
    auto take = [&text](std::string_view name) -> std::optional<std::string_view> {
        if (!text.starts_with(' ')) return std::nullopt;
        text.remove_prefix(1);
        if (!text.starts_with(name)) return std::nullopt;
        text.remove_prefix(name.size());
        std::size_t end = text.find(' ');
        std::string_view value = text.substr(0, end);
        text.remove_prefix(value.size());
        if (value.empty()) return std::nullopt;
        return value;
    };
    auto mask = take("mask=0x");
    auto size = take("size=");
    auto timeout = take("timeout_ms=");
    if (!mask || !size || !timeout || !text.empty() || mask->size() != 8) return std::nullopt;
    FastPathInfo info;
    auto [mask_end, mask_ec] = std::from_chars(mask->data(), mask->data() + mask->size(), info.mark_mask, 16);
    auto [size_end, size_ec] = std::from_chars(size->data(), size->data() + size->size(), info.map_size);
    auto [timeout_end, timeout_ec] =
        std::from_chars(timeout->data(), timeout->data() + timeout->size(), info.timeout_ms);
    if (mask_ec != std::errc() || mask_end != mask->data() + mask->size() || size_ec != std::errc() ||
        size_end != size->data() + size->size() || timeout_ec != std::errc() ||
        timeout_end != timeout->data() + timeout->size())
        return std::nullopt;
    return info;
}

// --- the netlink batch ---------------------------------------------------------

// BEGIN, messages, END in one buffer; every message has its own sequence
// number so that the kernel's errors can be matched to it.
struct NftSession::Batch {
    explicit Batch(std::uint32_t first_sequence) : begin_sequence(first_sequence), next_sequence(first_sequence) {
        auto* header = nftnl_batch_begin(room(256), next_sequence++);
        commit(header);
    }
    // A message header at the tail, `bytes` of room for it.
    nlmsghdr* header(std::uint16_t type, std::uint16_t flags, std::string label, std::size_t bytes = 16384) {
        sequences.push_back(next_sequence);
        labels.push_back(std::move(label));
        return nftnl_nlmsg_build_hdr(room(bytes), type, NFPROTO_INET, flags, next_sequence++);
    }
    void commit(nlmsghdr* header) { used += NLMSG_ALIGN(header->nlmsg_len); }
    void finish() { commit(nftnl_batch_end(room(256), next_sequence++)); }
    [[nodiscard]] std::size_t messages() const { return sequences.size(); }

    // libnftnl writes without bounds: `bytes` must cover the largest message.
    char* room(std::size_t bytes) {
        if (buffer.size() < used + bytes) buffer.resize(std::max(buffer.size() * 2, used + bytes));
        std::fill_n(buffer.begin() + static_cast<std::ptrdiff_t>(used), bytes, 0);
        return buffer.data() + used;
    }

    std::vector<char> buffer;
    std::size_t used = 0;
    std::uint32_t begin_sequence;
    std::uint32_t next_sequence;
    std::vector<std::uint32_t> sequences;
    std::vector<std::string> labels;
};

namespace {

void add_table(NftSession::Batch& batch, const std::string& table, std::uint16_t type, std::uint16_t flags) {
    TablePtr object(nftnl_table_alloc());
    nftnl_table_set_u32(object.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    nftnl_table_set_str(object.get(), NFTNL_TABLE_NAME, table.c_str());
    if (type == NFT_MSG_NEWTABLE) {
        UdataPtr comment = comment_udata(NFTNL_UDATA_TABLE_COMMENT, kFastPathTableComment);
        nftnl_table_set_data(object.get(), NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(comment.get()),
                             nftnl_udata_buf_len(comment.get()));
    }
    nlmsghdr* header = batch.header(type, flags, "table " + table);
    nftnl_table_nlmsg_build_payload(header, object.get());
    batch.commit(header);
}

void add_chain(NftSession::Batch& batch, const std::string& table, const std::string& name, std::uint16_t type,
               std::uint16_t flags, const std::string* comment = nullptr) {
    ChainPtr object(nftnl_chain_alloc());
    nftnl_chain_set_u32(object.get(), NFTNL_CHAIN_FAMILY, NFPROTO_INET);
    nftnl_chain_set_str(object.get(), NFTNL_CHAIN_TABLE, table.c_str());
    nftnl_chain_set_str(object.get(), NFTNL_CHAIN_NAME, name.c_str());
    if (comment != nullptr) {
        // The base chain: filter hook prerouting priority mangle - 10; policy accept.
        nftnl_chain_set_u32(object.get(), NFTNL_CHAIN_HOOKNUM, NF_INET_PRE_ROUTING);
        nftnl_chain_set_s32(object.get(), NFTNL_CHAIN_PRIO, kPreroutingPriority);
        nftnl_chain_set_str(object.get(), NFTNL_CHAIN_TYPE, "filter");
        nftnl_chain_set_u32(object.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
        UdataPtr udata = comment_udata(NFTNL_UDATA_CHAIN_COMMENT, *comment);
        nftnl_chain_set_data(object.get(), NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(udata.get()),
                             nftnl_udata_buf_len(udata.get()));
    }
    nlmsghdr* header = batch.header(type, flags, "chain " + name);
    nftnl_chain_nlmsg_build_payload(header, object.get());
    batch.commit(header);
}

void add_rule(NftSession::Batch& batch, const RuleBuilder& rule, const std::string& chain) {
    nlmsghdr* header = batch.header(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, "rule in " + chain);
    nftnl_rule_nlmsg_build_payload(header, rule.get());
    batch.commit(header);
}

void add_counter(NftSession::Batch& batch, const std::string& table, const std::string& name, std::uint16_t type,
                 std::uint16_t flags) {
    ObjPtr object(nftnl_obj_alloc());
    nftnl_obj_set_u32(object.get(), NFTNL_OBJ_FAMILY, NFPROTO_INET);
    nftnl_obj_set_str(object.get(), NFTNL_OBJ_TABLE, table.c_str());
    nftnl_obj_set_str(object.get(), NFTNL_OBJ_NAME, name.c_str());
    nftnl_obj_set_u32(object.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
    if (type == NFT_MSG_NEWOBJ) {
        // The kernel wants the data attribute of a new object.
        nftnl_obj_set_u64(object.get(), NFTNL_OBJ_CTR_PKTS, 0);
        nftnl_obj_set_u64(object.get(), NFTNL_OBJ_CTR_BYTES, 0);
    }
    nlmsghdr* header = batch.header(type, flags, "counter " + name);
    nftnl_obj_nlmsg_build_payload(header, object.get());
    batch.commit(header);
}

SetPtr set_object(const std::string& table, const std::string& name) {
    SetPtr object(nftnl_set_alloc());
    nftnl_set_set_u32(object.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_set_str(object.get(), NFTNL_SET_TABLE, table.c_str());
    nftnl_set_set_str(object.get(), NFTNL_SET_NAME, name.c_str());
    return object;
}

void add_set_message(NftSession::Batch& batch, nftnl_set* object, std::uint16_t type, std::uint16_t flags,
                     std::string label) {
    nlmsghdr* header = batch.header(type, flags, std::move(label));
    nftnl_set_nlmsg_build_payload(header, object);
    batch.commit(header);
}

void add_elements_message(NftSession::Batch& batch, nftnl_set* object, std::uint16_t type, std::uint16_t flags,
                          std::string label, std::size_t elements) {
    // An element: key up to 28 bytes, data, timeout, verdict chain name, nests.
    nlmsghdr* header = batch.header(type, flags, std::move(label), 1024 + (128 + NFT_CHAIN_MAXNAMELEN) * elements);
    nftnl_set_elems_nlmsg_build_payload(header, object);
    batch.commit(header);
}

void add_element_key(nftnl_set* set, std::span<const std::uint8_t> key, const std::uint32_t* data,
                     std::uint64_t timeout_ms) {
    nftnl_set_elem* element = nftnl_set_elem_alloc();
    nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), static_cast<std::uint32_t>(key.size()));
    if (data != nullptr) nftnl_set_elem_set(element, NFTNL_SET_ELEM_DATA, data, sizeof *data);
    if (timeout_ms != 0) nftnl_set_elem_set_u64(element, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
    nftnl_set_elem_add(set, element);  // the set owns it
}

const char* assoc_map_of(const FastPathKey& key) { return key.client.is_v4() ? kAssoc4Map : kAssoc6Map; }

struct SetDescription {
    std::string name;
    std::uint32_t key_len = 0, data_len = 0, flags = 0, size = 0;
    std::uint64_t timeout_ms = 0;
};

bool is_ours(const std::optional<std::string>& comment) { return comment && *comment == kFastPathTableComment; }

}  // namespace

// --- the session -----------------------------------------------------------------

void NftSession::SocketCloser::operator()(mnl_socket* socket) const { mnl_socket_close(socket); }

NftSession::NftSession(mnl_socket* socket)
    : socket_(socket), port_id_(mnl_socket_get_portid(socket)), receive_buffer_(kReceiveBufferBytes) {}
NftSession::NftSession(NftSession&&) noexcept = default;
NftSession& NftSession::operator=(NftSession&&) noexcept = default;
NftSession::~NftSession() = default;

std::optional<NftSession> NftSession::open(std::string& error) {
    mnl_socket* socket = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (socket == nullptr) {
        error = "netlink socket: " + errno_text(errno);
        return std::nullopt;
    }
    if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
        error = "netlink bind: " + errno_text(errno);
        mnl_socket_close(socket);
        return std::nullopt;
    }
    int fd = mnl_socket_get_fd(socket);
    // Acks without the echoed request, and room for many error reports
    // (best effort: without CAP_NET_ADMIN the FORCE variants fail, the defaults stay).
    int on = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
    int bytes = kSocketBufferBytes;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    return NftSession(socket);
}

bool NftSession::send_batch(Batch& batch, std::vector<int>& errors, std::string& error) {
    const std::uint32_t begin_sequence = batch.begin_sequence;
    batch.finish();
    sequence_ = batch.next_sequence;
    errors.assign(batch.messages(), 0);
    if (mnl_socket_sendto(socket_.get(), batch.buffer.data(), batch.used) < 0) {
        error = "netlink send: " + errno_text(errno);
        return false;
    }
    // The kernel handles a batch inside sendmsg(): every report is queued by now.
    int fd = mnl_socket_get_fd(socket_.get());
    for (;;) {
        pollfd poll_fd{fd, POLLIN, 0};
        int ready = ::poll(&poll_fd, 1, 0);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        ssize_t length = ::recv(fd, receive_buffer_.data(), receive_buffer_.size(), MSG_DONTWAIT);
        if (length < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ENOBUFS) {
                // Reports were lost: no message can be trusted to have worked.
                for (int& e : errors)
                    if (e == 0) e = ENOBUFS;
                continue;
            }
            error = "netlink receive: " + errno_text(errno);
            return false;
        }
        auto* header = reinterpret_cast<const nlmsghdr*>(receive_buffer_.data());  // our buffer, netlink framing
        int remaining = static_cast<int>(length);
        while (mnl_nlmsg_ok(header, remaining)) {
            if (header->nlmsg_type == NLMSG_ERROR &&
                header->nlmsg_len >= mnl_nlmsg_size(sizeof(nlmsgerr))) {
                const auto* report = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
                int code = -report->error;
                std::uint32_t sequence = header->nlmsg_seq;
                if (sequence == begin_sequence && code != 0) {
                    for (int& e : errors) e = code;  // the batch as a whole was refused
                } else if (!batch.sequences.empty() && sequence >= batch.sequences.front() &&
                           sequence <= batch.sequences.back()) {
                    errors[sequence - batch.sequences.front()] = code;
                }
            }
            header = mnl_nlmsg_next(header, &remaining);
        }
    }
    return true;
}

template <typename OnMessage>
int NftSession::request(std::vector<char>& message, OnMessage&& on_message, std::string& error) {
    auto* request_header = reinterpret_cast<nlmsghdr*>(message.data());  // built by libnftnl in our buffer
    const std::uint32_t sequence = request_header->nlmsg_seq;
    if (mnl_socket_sendto(socket_.get(), request_header, request_header->nlmsg_len) < 0) {
        error = "netlink send: " + errno_text(errno);
        return -1;
    }
    for (;;) {
        ssize_t length = mnl_socket_recvfrom(socket_.get(), receive_buffer_.data(), receive_buffer_.size());
        if (length < 0) {
            if (errno == EINTR) continue;
            error = "netlink receive: " + errno_text(errno);
            return -1;
        }
        auto* header = reinterpret_cast<const nlmsghdr*>(receive_buffer_.data());
        int remaining = static_cast<int>(length);
        while (mnl_nlmsg_ok(header, remaining)) {
            if (header->nlmsg_seq == sequence && header->nlmsg_pid == port_id_) {
                if (header->nlmsg_type == NLMSG_ERROR) {
                    if (header->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) return EPROTO;
                    return -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header))->error;
                }
                if (header->nlmsg_type == NLMSG_DONE) {
                    int code = 0;
                    if (header->nlmsg_len >= mnl_nlmsg_size(sizeof code))
                        std::memcpy(&code, mnl_nlmsg_get_payload(header), sizeof code);
                    return -code;
                }
                on_message(header);
            }
            header = mnl_nlmsg_next(header, &remaining);
        }
    }
}

namespace {

// A GET request: `flags` NLM_F_DUMP for a list, NLM_F_ACK for one object.
template <typename Fill>
std::vector<char> get_message(std::uint16_t type, std::uint16_t flags, std::uint32_t sequence, Fill&& fill) {
    std::vector<char> message(4096, 0);
    nlmsghdr* header = nftnl_nlmsg_build_hdr(message.data(), type, NFPROTO_INET, flags, sequence);
    fill(header);
    return message;
}

}  // namespace

bool NftSession::remove(std::string_view table, std::string& error, bool* existed) {
    std::string name(table);
    Batch batch(next_sequence());
    add_table(batch, name, NFT_MSG_DELTABLE, NLM_F_ACK);
    std::vector<int> errors;
    if (!send_batch(batch, errors, error)) return false;
    if (existed != nullptr) *existed = errors[0] == 0;
    if (errors[0] == ENOENT) return true;
    if (errors[0] != 0) {
        error = "delete table inet " + name + ": " + errno_text(errors[0]);
        return false;
    }
    return true;
}

int NftSession::read_table(const std::string& name, bool& exists, std::optional<std::string>& comment,
                           std::string& error) {
    auto table_request = get_message(NFT_MSG_GETTABLE, NLM_F_ACK, next_sequence(), [&](nlmsghdr* header) {
        TablePtr object(nftnl_table_alloc());
        nftnl_table_set_str(object.get(), NFTNL_TABLE_NAME, name.c_str());
        nftnl_table_nlmsg_build_payload(header, object.get());
    });
    return request(table_request, [&](const nlmsghdr* header) {
        TablePtr object(nftnl_table_alloc());
        if (nftnl_table_nlmsg_parse(header, object.get()) < 0) return;
        exists = true;
        std::uint32_t length = 0;
        const void* data = nftnl_table_get_data(object.get(), NFTNL_TABLE_USERDATA, &length);
        comment = comment_of_udata(data, length, NFTNL_UDATA_TABLE_COMMENT);
    }, error);
}

std::optional<FastPathInfo> NftSession::describe(std::string_view table, std::string& error) {
    std::string name(table);
    // The table: ours when it carries our comment.
    std::optional<std::string> table_comment;
    bool table_seen = false;
    int code = read_table(name, table_seen, table_comment, error);
    if (code < 0) return std::nullopt;
    if (code != 0 || !table_seen) {
        error = "table inet " + name + ": " + (code != 0 ? errno_text(code) : std::string("no answer"));
        return std::nullopt;
    }
    if (!is_ours(table_comment)) {
        error = "table inet " + name + " is not an sctplb fast-path table (no comment \"" +
                std::string(kFastPathTableComment) + "\")";
        return std::nullopt;
    }
    // The settings: the base chain's comment.
    std::optional<std::string> settings;
    auto chain_request = get_message(NFT_MSG_GETCHAIN, NLM_F_ACK, next_sequence(), [&](nlmsghdr* header) {
        ChainPtr object(nftnl_chain_alloc());
        nftnl_chain_set_str(object.get(), NFTNL_CHAIN_TABLE, name.c_str());
        nftnl_chain_set_str(object.get(), NFTNL_CHAIN_NAME, kPreroutingChain);
        nftnl_chain_nlmsg_build_payload(header, object.get());
    });
    code = request(chain_request, [&](const nlmsghdr* header) {
        ChainPtr object(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(header, object.get()) < 0) return;
        std::uint32_t length = 0;
        const void* data = nftnl_chain_get_data(object.get(), NFTNL_CHAIN_USERDATA, &length);
        settings = comment_of_udata(data, length, NFTNL_UDATA_CHAIN_COMMENT);
    }, error);
    if (code < 0) return std::nullopt;
    std::optional<FastPathInfo> info;
    if (code == 0 && settings) info = parse_fastpath_settings(*settings);
    if (!info) {
        error = "table inet " + name + ": chain " + kPreroutingChain + " has no valid sctplb settings comment" +
                (code != 0 ? " (" + errno_text(code) + ")" : std::string());
        return std::nullopt;
    }
    // The targets: keys of the verdict map.
    SetPtr targets = set_object(name, kTargetsMap);
    auto elements_request = get_message(NFT_MSG_GETSETELEM, NLM_F_DUMP, next_sequence(), [&](nlmsghdr* header) {
        nftnl_set_elems_nlmsg_build_payload(header, targets.get());
    });
    code = request(elements_request, [&](const nlmsghdr* header) {
        nftnl_set_elems_nlmsg_parse(header, targets.get());
    }, error);
    if (code < 0) return std::nullopt;
    if (code != 0) {
        error = "table inet " + name + ": map " + kTargetsMap + ": " + errno_text(code);
        return std::nullopt;
    }
    nftnl_set_elem_foreach(targets.get(), [](nftnl_set_elem* element, void* context) -> int {
        std::uint32_t length = 0;
        const void* key = nftnl_set_elem_get(element, NFTNL_SET_ELEM_KEY, &length);
        if (key == nullptr || length != sizeof(std::uint32_t)) return 0;
        std::uint32_t fwmark = 0;
        std::memcpy(&fwmark, key, sizeof fwmark);
        static_cast<FastPathInfo*>(context)->fwmarks.push_back(fwmark);
        return 0;
    }, &*info);
    std::sort(info->fwmarks.begin(), info->fwmarks.end());
    return info;
}

bool NftSession::install(const FastPathRuleset& ruleset, std::string& error) {
    const std::string& table = ruleset.table;
    // Validate first: the kernel's answer to a bad value names no field.
    if (table.empty() || table.size() >= NFT_NAME_MAXLEN) {
        error = "fast path: table name must have 1 to " + std::to_string(NFT_NAME_MAXLEN - 1) + " characters";
        return false;
    }
    if (ruleset.mark_mask == 0) {
        error = "fast path: the mark mask is 0";
        return false;
    }
    if (ruleset.map_size == 0 || ruleset.timeout_ms == 0) {
        error = "fast path: map size and timeout must be positive";
        return false;
    }
    std::vector<std::uint32_t> fwmarks = ruleset.fwmarks;
    std::sort(fwmarks.begin(), fwmarks.end());
    if (std::adjacent_find(fwmarks.begin(), fwmarks.end()) != fwmarks.end()) {
        error = "fast path: an fwmark is listed twice";
        return false;
    }
    for (std::uint32_t fwmark : fwmarks) {
        if (fwmark == 0 || (fwmark & ~ruleset.mark_mask) != 0) {
            char text[96];
            std::snprintf(text, sizeof text, "fast path: fwmark 0x%x is 0 or outside the mark mask 0x%x", fwmark,
                          ruleset.mark_mask);
            error = text;
            return false;
        }
    }

    // What exists: the table (ours?), its sets, chains and counters.
    std::optional<std::string> table_comment;
    bool table_exists = false;
    int code = read_table(table, table_exists, table_comment, error);
    if (code < 0) return false;
    if (code != 0 && code != ENOENT) {
        error = "table inet " + table + ": " + errno_text(code);
        return false;
    }
    if (table_exists && !is_ours(table_comment)) {
        error = "table inet " + table + " exists and is not an sctplb fast-path table: not touched";
        return false;
    }

    std::vector<SetDescription> sets;
    std::vector<std::string> chains;
    std::vector<std::string> counters;
    if (table_exists) {
        auto sets_request = get_message(NFT_MSG_GETSET, NLM_F_DUMP, next_sequence(), [&](nlmsghdr* header) {
            SetPtr object(nftnl_set_alloc());
            nftnl_set_set_str(object.get(), NFTNL_SET_TABLE, table.c_str());
            nftnl_set_nlmsg_build_payload(header, object.get());
        });
        code = request(sets_request, [&](const nlmsghdr* header) {
            SetPtr object(nftnl_set_alloc());
            if (nftnl_set_nlmsg_parse(header, object.get()) < 0) return;
            if (table != nftnl_set_get_str(object.get(), NFTNL_SET_TABLE)) return;
            SetDescription set;
            set.name = nftnl_set_get_str(object.get(), NFTNL_SET_NAME);
            set.key_len = nftnl_set_get_u32(object.get(), NFTNL_SET_KEY_LEN);
            set.data_len = nftnl_set_get_u32(object.get(), NFTNL_SET_DATA_LEN);
            set.flags = nftnl_set_get_u32(object.get(), NFTNL_SET_FLAGS);
            set.size = nftnl_set_get_u32(object.get(), NFTNL_SET_DESC_SIZE);
            set.timeout_ms = nftnl_set_get_u64(object.get(), NFTNL_SET_TIMEOUT);
            sets.push_back(std::move(set));
        }, error);
        if (code < 0) return false;
        if (code == 0) {
            auto chains_request = get_message(NFT_MSG_GETCHAIN, NLM_F_DUMP, next_sequence(), [](nlmsghdr*) {});
            code = request(chains_request, [&](const nlmsghdr* header) {
                ChainPtr object(nftnl_chain_alloc());
                if (nftnl_chain_nlmsg_parse(header, object.get()) < 0) return;
                if (table != nftnl_chain_get_str(object.get(), NFTNL_CHAIN_TABLE)) return;
                chains.emplace_back(nftnl_chain_get_str(object.get(), NFTNL_CHAIN_NAME));
            }, error);
            if (code < 0) return false;
        }
        if (code == 0) {
            auto objects_request = get_message(NFT_MSG_GETOBJ, NLM_F_DUMP, next_sequence(), [&](nlmsghdr* header) {
                ObjPtr object(nftnl_obj_alloc());
                nftnl_obj_set_str(object.get(), NFTNL_OBJ_TABLE, table.c_str());
                nftnl_obj_set_u32(object.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
                nftnl_obj_nlmsg_build_payload(header, object.get());
            });
            code = request(objects_request, [&](const nlmsghdr* header) {
                ObjPtr object(nftnl_obj_alloc());
                if (nftnl_obj_nlmsg_parse(header, object.get()) < 0) return;
                if (table != nftnl_obj_get_str(object.get(), NFTNL_OBJ_TABLE)) return;
                if (nftnl_obj_get_u32(object.get(), NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER) return;
                counters.emplace_back(nftnl_obj_get_str(object.get(), NFTNL_OBJ_NAME));
            }, error);
            if (code < 0) return false;
        }
        if (code != 0) {
            error = "listing table inet " + table + ": " + errno_text(code);
            return false;
        }
    }

    // An existing assoc map is kept only when it is exactly what we would create.
    const std::uint32_t assoc_flags = NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL;
    bool keep_assoc[2] = {false, false};
    for (int family = 0; family < 2; ++family) {
        const char* map = family == 0 ? kAssoc4Map : kAssoc6Map;
        auto existing = std::find_if(sets.begin(), sets.end(), [&](const SetDescription& s) { return s.name == map; });
        if (existing == sets.end()) continue;
        std::uint32_t key_len = family == 0 ? kIpv4KeyBytes : kIpv6KeyBytes;
        if (existing->key_len != key_len || existing->data_len != 4 || existing->flags != assoc_flags ||
            existing->size != ruleset.map_size || existing->timeout_ms != ruleset.timeout_ms) {
            error = "table inet " + table + ": map " + map + " has size " + std::to_string(existing->size) +
                    ", timeout " + std::to_string(existing->timeout_ms) + " ms (flags 0x" +
                    std::to_string(existing->flags) + ", key " + std::to_string(existing->key_len) +
                    " bytes); wanted size " + std::to_string(ruleset.map_size) + ", timeout " +
                    std::to_string(ruleset.timeout_ms) +
                    " ms: it cannot be changed in place; remove the table first (its elements go)";
            return false;
        }
        keep_assoc[family] = true;
    }

    Batch batch(next_sequence());
    const auto create = static_cast<std::uint16_t>(NLM_F_CREATE | NLM_F_ACK);
    if (!table_exists) {
        add_table(batch, table, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    } else {
        // Everything but the assoc maps goes, in dependency order: rules
        // (they reference sets, chains, counters), sets (the verdict map's
        // elements reference chains), chains, counters.
        RulePtr all_rules(nftnl_rule_alloc());
        nftnl_rule_set_u32(all_rules.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
        nftnl_rule_set_str(all_rules.get(), NFTNL_RULE_TABLE, table.c_str());
        nlmsghdr* header = batch.header(NFT_MSG_DELRULE, NLM_F_ACK, "flush rules of table " + table);
        nftnl_rule_nlmsg_build_payload(header, all_rules.get());
        batch.commit(header);
        for (const SetDescription& set : sets) {
            if ((set.name == kAssoc4Map && keep_assoc[0]) || (set.name == kAssoc6Map && keep_assoc[1])) continue;
            SetPtr object = set_object(table, set.name);
            add_set_message(batch, object.get(), NFT_MSG_DELSET, NLM_F_ACK, "delete set " + set.name);
        }
        for (const std::string& chain : chains) add_chain(batch, table, chain, NFT_MSG_DELCHAIN, NLM_F_ACK);
        for (const std::string& counter : counters) add_counter(batch, table, counter, NFT_MSG_DELOBJ, NLM_F_ACK);
    }

    std::uint32_t set_id = 1;
    // VIP sets.
    for (int family = 0; family < 2; ++family) {
        const bool ipv6 = family == 1;
        const std::string name = ipv6 ? kVips6Set : kVips4Set;
        SetPtr object = set_object(table, name);
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_TYPE, ipv6 ? kTypeIpv6Address : kTypeIpv4Address);
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_LEN, ipv6 ? 16 : 4);
        nftnl_set_set_u32(object.get(), NFTNL_SET_FLAGS, 0);
        nftnl_set_set_u32(object.get(), NFTNL_SET_ID, set_id++);
        UdataPtr udata = byteorder_udata(kByteorderBig, std::nullopt);
        nftnl_set_set_data(object.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(udata.get()),
                           nftnl_udata_buf_len(udata.get()));
        add_set_message(batch, object.get(), NFT_MSG_NEWSET, create, "set " + name);
        SetPtr elements = set_object(table, name);
        std::size_t count = 0;
        for (const IpAddress& vip : ruleset.vips) {
            if (vip.is_v4() == ipv6) continue;
            const auto& bytes = vip.bytes();
            std::span<const std::uint8_t> key(bytes.data() + (ipv6 ? 0 : 12), ipv6 ? 16 : 4);
            add_element_key(elements.get(), key, nullptr, 0);
            ++count;
        }
        if (count > 0)
            add_elements_message(batch, elements.get(), NFT_MSG_NEWSETELEM, create, "elements of set " + name, count);
    }
    // Assoc maps (kept ones are left alone).
    for (int family = 0; family < 2; ++family) {
        if (keep_assoc[family]) continue;
        const bool ipv6 = family == 1;
        const std::string name = ipv6 ? kAssoc6Map : kAssoc4Map;
        SetPtr object = set_object(table, name);
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_TYPE, assoc_key_type(ipv6));
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_LEN, ipv6 ? kIpv6KeyBytes : kIpv4KeyBytes);
        nftnl_set_set_u32(object.get(), NFTNL_SET_DATA_TYPE, kTypeMark);
        nftnl_set_set_u32(object.get(), NFTNL_SET_DATA_LEN, 4);
        nftnl_set_set_u32(object.get(), NFTNL_SET_FLAGS, assoc_flags);
        nftnl_set_set_u32(object.get(), NFTNL_SET_DESC_SIZE, ruleset.map_size);
        nftnl_set_set_u64(object.get(), NFTNL_SET_TIMEOUT, ruleset.timeout_ms);
        nftnl_set_set_u32(object.get(), NFTNL_SET_ID, set_id++);
        UdataPtr udata = assoc_map_udata(ipv6);
        nftnl_set_set_data(object.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(udata.get()),
                           nftnl_udata_buf_len(udata.get()));
        add_set_message(batch, object.get(), NFT_MSG_NEWSET, create, "map " + name);
    }
    // Per target: a counter and a chain that sets the masked mark.
    const std::string settings = fastpath_settings_text(ruleset.mark_mask, ruleset.map_size, ruleset.timeout_ms);
    for (std::uint32_t fwmark : fwmarks) add_counter(batch, table, target_name(fwmark), NFT_MSG_NEWOBJ, create);
    for (std::uint32_t fwmark : fwmarks) add_chain(batch, table, target_name(fwmark), NFT_MSG_NEWCHAIN, create);
    add_chain(batch, table, kFast4Chain, NFT_MSG_NEWCHAIN, create);
    add_chain(batch, table, kFast6Chain, NFT_MSG_NEWCHAIN, create);
    add_chain(batch, table, kPreroutingChain, NFT_MSG_NEWCHAIN, create, &settings);
    // The verdict map: fwmark -> jump target-<fwmark>.
    {
        SetPtr object = set_object(table, kTargetsMap);
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_TYPE, kTypeMark);
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_LEN, 4);
        nftnl_set_set_u32(object.get(), NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
        nftnl_set_set_u32(object.get(), NFTNL_SET_FLAGS, NFT_SET_MAP);
        nftnl_set_set_u32(object.get(), NFTNL_SET_ID, set_id++);
        UdataPtr udata = byteorder_udata(kByteorderHost, kByteorderInvalid);
        nftnl_set_set_data(object.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(udata.get()),
                           nftnl_udata_buf_len(udata.get()));
        add_set_message(batch, object.get(), NFT_MSG_NEWSET, create, std::string("map ") + kTargetsMap);
        if (!fwmarks.empty()) {
            SetPtr elements = set_object(table, kTargetsMap);
            std::vector<std::string> chain_names;
            for (std::uint32_t fwmark : fwmarks) {
                const auto key = host_u32_bytes(fwmark);
                nftnl_set_elem* element = nftnl_set_elem_alloc();
                nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), key.size());
                nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_VERDICT, static_cast<std::uint32_t>(NFT_JUMP));
                nftnl_set_elem_set_str(element, NFTNL_SET_ELEM_CHAIN, target_name(fwmark).c_str());
                nftnl_set_elem_add(elements.get(), element);
            }
            add_elements_message(batch, elements.get(), NFT_MSG_NEWSETELEM, create,
                                 std::string("elements of map ") + kTargetsMap, fwmarks.size());
        }
    }
    // Target chains: meta mark set meta mark & ~MASK | F; counter name "target-F"; accept.
    for (std::uint32_t fwmark : fwmarks) {
        const std::string chain = target_name(fwmark);
        RuleBuilder rule(table, chain);
        set_masked_mark(rule, ruleset.mark_mask, fwmark);
        rule.named_counter(chain.c_str()).verdict(NF_ACCEPT);
        add_rule(batch, rule, chain);
    }
    // fast4 / fast6.
    for (int family = 0; family < 2; ++family) {
        const bool ipv6 = family == 1;
        const std::string chain = ipv6 ? kFast6Chain : kFast4Chain;
        {
            // Our mark bits belong to us: clear whatever someone set there.
            RuleBuilder rule(table, chain);
            set_masked_mark(rule, ruleset.mark_mask, 0);
            add_rule(batch, rule, chain);
        }
        {
            // IP fragments go to the daemon, which reassembles the key
            // (a non-first fragment has no SCTP header).
            RuleBuilder rule(table, chain);
            if (ipv6) {
                rule.exthdr_present(NFT_EXTHDR_OP_IPV6, kIpv6FragmentHeader, kScratchRegister).cmp_u8(kScratchRegister, 1);
            } else {
                // ip frag-off & 0x3fff != 0: MF set or a fragment offset (RFC 791).
                const std::array<std::uint8_t, 2> mask{0x3f, 0xff};
                const std::array<std::uint8_t, 2> zero{0, 0};
                // (`meta nfproto ipv4` lets nft print `ip frag-off`.)
                rule.meta_load(NFT_META_NFPROTO, kScratchRegister).cmp_u8(kScratchRegister, NFPROTO_IPV4);
                rule.payload(NFT_PAYLOAD_NETWORK_HEADER, 6, 2, kScratchRegister)
                    .bitwise(kScratchRegister, mask, zero)
                    .cmp(kScratchRegister, NFT_CMP_NEQ, zero);
            }
            rule.verdict(NFT_RETURN);
            add_rule(batch, rule, chain);
        }
        const auto add_known_association_rule = [&](bool data_first) {
            // One rule: the lookup loads the mark (a miss ends the rule, so the
            // update below never inserts), the update refreshes the element's
            // timeout, the verdict map jumps to the target's chain. The kernel
            // refuses dynset data on a verdict map, hence mark data + a second lookup.
            const char* map = ipv6 ? kAssoc6Map : kAssoc4Map;
            RuleBuilder rule(table, chain);
            const std::uint32_t address_registers = ipv6 ? 4 : 1;
            auto load_key = [&] {
                rule.payload(NFT_PAYLOAD_NETWORK_HEADER, ipv6 ? 8 : 12, ipv6 ? 16 : 4, kKeyRegister)
                    .payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, kKeyRegister + address_registers)
                    .payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, kKeyRegister + address_registers + 1)
                    .payload(NFT_PAYLOAD_TRANSPORT_HEADER, 4, 4, kKeyRegister + address_registers + 2);
            };
            const bool partial_mask = ruleset.mark_mask != 0xffffffffu;
            match_protocols(rule, ipv6);
            if (data_first) {
                // The first chunk is DATA: control chunks come before DATA
                // (RFC 9260 §6.10) and ABORT is never bundled with DATA
                // (§3.3.7), so no chunk the daemon must see follows, and the
                // per-type checks below are skipped for the common packet.
                rule.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 12, 1, kScratchRegister).cmp_u8(kScratchRegister, 0);
            }
            // The packet's mark (our bits already cleared), restored below.
            if (partial_mask) rule.meta_load(NFT_META_MARK, kSavedMarkRegister);
            load_key();
            // The mark travels from the lookup to the update and the verdict
            // map through the packet's mark, not straight through a register:
            // `nft list` (1.0.6) aborts on a lookup keyed by a map's result.
            rule.lookup(kKeyRegister, map, kDataRegister)
                .meta_store(NFT_META_MARK, kDataRegister)
                .meta_load(NFT_META_MARK, kDataRegister);
            // The key registers still hold the key (the kernel and nft agree).
            rule.dynset_update(kKeyRegister, kDataRegister, map, ruleset.timeout_ms);
            // The target's chain sets our bits; the others are the packet's own.
            if (partial_mask) rule.meta_store(NFT_META_MARK, kSavedMarkRegister);
            rule.lookup(kDataRegister, kTargetsMap, NFT_REG_VERDICT);
            rule.comment(data_first ? (partial_mask ? "DATA first, known association: refresh, jump to the target "
                                                      "(the mark carries it, the packet's own bits are restored)"
                                                    : "DATA first, known association: refresh, jump to the target")
                       : partial_mask ? "known association: refresh, jump to the target (the mark carries it, "
                                        "the packet's own bits are restored)"
                                      : "known association: refresh, jump to the target");
            add_rule(batch, rule, chain);
        };
        add_known_association_rule(true);
        for (std::uint8_t chunk : kControlChunkTypes) {
            RuleBuilder rule(table, chain);
            rule.exthdr_present(NFT_EXTHDR_OP_SCTP, chunk, kScratchRegister)
                .cmp_u8(kScratchRegister, 1)
                .verdict(NFT_RETURN);
            add_rule(batch, rule, chain);
        }
        add_known_association_rule(false);
    }
    // prerouting: SCTP to a VIP goes through fast4 / fast6.
    for (int family = 0; family < 2; ++family) {
        const bool ipv6 = family == 1;
        RuleBuilder rule(table, kPreroutingChain);
        match_protocols(rule, ipv6);
        rule.payload(NFT_PAYLOAD_NETWORK_HEADER, ipv6 ? 24 : 16, ipv6 ? 16 : 4, kScratchRegister)
            .lookup(kScratchRegister, ipv6 ? kVips6Set : kVips4Set, std::nullopt)
            .verdict(NFT_JUMP, ipv6 ? kFast6Chain : kFast4Chain);
        add_rule(batch, rule, kPreroutingChain);
    }

    std::vector<int> errors;
    if (!send_batch(batch, errors, error)) return false;
    for (std::size_t i = 0; i < errors.size(); ++i) {
        if (errors[i] != 0) {
            error = "install table inet " + table + ": " + batch.labels[i] + ": " + errno_text(errors[i]);
            return false;
        }
    }
    return true;
}

bool NftSession::change(std::string_view table, std::span<const FastPathKey> remove,
                        std::span<const FastPathElement> add, FastPathChangeResult& result, std::string& error) {
    const std::string name(table);
    // One message per element so that the kernel reports each one's error.
    auto build = [&](Batch& batch, bool adding, std::size_t index, bool ack) {
        const FastPathKey& key = adding ? add[index].key : remove[index];
        FastPathKeyBytes bytes{};
        const std::size_t length = encode_fastpath_key(key, bytes);
        SetPtr set = set_object(name, assoc_map_of(key));
        if (adding)
            add_element_key(set.get(), std::span(bytes.data(), length), &add[index].fwmark, add[index].timeout_ms);
        else
            add_element_key(set.get(), std::span(bytes.data(), length), nullptr, 0);
        // No NLM_F_EXCL: re-adding an identical element is fine; another
        // fwmark for the same key is refused by the kernel all the same.
        auto flags = static_cast<std::uint16_t>((adding ? NLM_F_CREATE : 0) | (ack ? NLM_F_ACK : 0));
        add_elements_message(batch, set.get(), adding ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, flags,
                             adding ? "add element" : "delete element", 1);
    };
    result.add_ok.assign(add.size(), false);
    auto account = [&](bool adding, std::size_t index, int code) {
        if (adding) {
            if (code == 0) {
                ++result.added;
                result.add_ok[index] = true;
            } else {
                ++result.add_failed;
                result.last_errno = code;
            }
        } else if (code == 0) {
            ++result.removed;
        } else if (code == ENOENT) {
            ++result.remove_absent;
        } else {
            ++result.remove_failed;
            result.last_errno = code;
        }
    };
    std::vector<int> errors;
    for (bool adding : {false, true}) {
        const std::size_t total = adding ? add.size() : remove.size();
        for (std::size_t first = 0; first < total; first += kMessagesPerBatch) {
            const std::size_t count = std::min(kMessagesPerBatch, total - first);
            Batch batch(next_sequence());
            for (std::size_t i = 0; i < count; ++i) build(batch, adding, first + i, false);
            if (!send_batch(batch, errors, error)) return false;
            if (std::all_of(errors.begin(), errors.end(), [](int e) { return e == 0; })) {
                for (std::size_t i = 0; i < count; ++i) account(adding, first + i, 0);
                continue;
            }
            // The transaction was aborted as a whole: one element per batch.
            for (std::size_t i = 0; i < count; ++i) {
                Batch single(next_sequence());
                build(single, adding, first + i, true);
                if (!send_batch(single, errors, error)) return false;
                account(adding, first + i, errors[0]);
            }
        }
    }
    return true;
}

bool NftSession::dump(std::string_view table, std::vector<FastPathElement>& out, std::string& error) {
    const std::string name(table);
    for (const char* map : {kAssoc4Map, kAssoc6Map}) {
        SetPtr set = set_object(name, map);
        auto message = get_message(NFT_MSG_GETSETELEM, NLM_F_DUMP, next_sequence(), [&](nlmsghdr* header) {
            nftnl_set_elems_nlmsg_build_payload(header, set.get());
        });
        int code = request(message, [&](const nlmsghdr* header) { nftnl_set_elems_nlmsg_parse(header, set.get()); },
                           error);
        if (code < 0) return false;
        if (code != 0) {
            error = "table inet " + name + ": map " + map + ": " + errno_text(code);
            return false;
        }
        nftnl_set_elem_foreach(set.get(), [](nftnl_set_elem* element, void* context) -> int {
            std::uint32_t key_length = 0, data_length = 0;
            const void* key = nftnl_set_elem_get(element, NFTNL_SET_ELEM_KEY, &key_length);
            const void* data = nftnl_set_elem_get(element, NFTNL_SET_ELEM_DATA, &data_length);
            if (key == nullptr || data == nullptr || data_length != sizeof(std::uint32_t)) return 0;
            auto decoded = decode_fastpath_key(std::span(static_cast<const std::uint8_t*>(key), key_length));
            if (!decoded) return 0;
            FastPathElement element_out;
            element_out.key = *decoded;
            std::memcpy(&element_out.fwmark, data, sizeof element_out.fwmark);
            if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_TIMEOUT))
                element_out.timeout_ms = nftnl_set_elem_get_u64(element, NFTNL_SET_ELEM_TIMEOUT);
            if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_EXPIRATION))
                element_out.expires_ms = nftnl_set_elem_get_u64(element, NFTNL_SET_ELEM_EXPIRATION);
            static_cast<std::vector<FastPathElement>*>(context)->push_back(element_out);
            return 0;
        }, &out);
    }
    return true;
}

bool NftSession::flush(std::string_view table, std::string& error) {
    const std::string name(table);
    Batch batch(next_sequence());
    for (const char* map : {kAssoc4Map, kAssoc6Map}) {
        SetPtr set = set_object(name, map);  // no elements: the kernel flushes the set
        add_elements_message(batch, set.get(), NFT_MSG_DELSETELEM, NLM_F_ACK, std::string("flush map ") + map, 0);
    }
    std::vector<int> errors;
    if (!send_batch(batch, errors, error)) return false;
    for (std::size_t i = 0; i < errors.size(); ++i) {
        if (errors[i] != 0) {
            error = "table inet " + name + ": " + batch.labels[i] + ": " + errno_text(errors[i]);
            return false;
        }
    }
    return true;
}

bool NftSession::counters(std::string_view table, std::vector<FastPathTargetCounter>& out, std::string& error) {
    const std::string name(table);
    auto message = get_message(NFT_MSG_GETOBJ, NLM_F_DUMP, next_sequence(), [&](nlmsghdr* header) {
        ObjPtr object(nftnl_obj_alloc());
        nftnl_obj_set_str(object.get(), NFTNL_OBJ_TABLE, name.c_str());
        nftnl_obj_set_u32(object.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
        nftnl_obj_nlmsg_build_payload(header, object.get());
    });
    std::vector<FastPathTargetCounter> found;
    int code = request(message, [&](const nlmsghdr* header) {
        ObjPtr object(nftnl_obj_alloc());
        if (nftnl_obj_nlmsg_parse(header, object.get()) < 0) return;
        if (name != nftnl_obj_get_str(object.get(), NFTNL_OBJ_TABLE)) return;
        if (nftnl_obj_get_u32(object.get(), NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER) return;
        auto fwmark = fwmark_of_target_name(nftnl_obj_get_str(object.get(), NFTNL_OBJ_NAME));
        if (!fwmark) return;
        found.push_back({*fwmark, nftnl_obj_get_u64(object.get(), NFTNL_OBJ_CTR_PKTS),
                         nftnl_obj_get_u64(object.get(), NFTNL_OBJ_CTR_BYTES)});
    }, error);
    if (code < 0) return false;
    if (code != 0) {
        error = "table inet " + name + ": counters: " + errno_text(code);
        return false;
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.fwmark < b.fwmark; });
    out.insert(out.end(), found.begin(), found.end());
    return true;
}

}  // namespace sctplb
