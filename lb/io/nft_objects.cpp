// libnftnl objects of an sctplb table: who frees them, and the userdata (comments, `typeof`) they carry.
#include "io/nft_objects.hpp"

#include <cstring>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libnftnl/chain.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

namespace sctplb::nft {
namespace {

// nft's userdata values (expression types, payload protocol
// descriptions and fields) for `typeof ip saddr . sctp sport . sctp dport .
// sctp vtag : meta mark`, as nft 1.0.6 writes them.
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

}  // namespace

void TableFree::operator()(nftnl_table* p) const { nftnl_table_free(p); }
void ChainFree::operator()(nftnl_chain* p) const { nftnl_chain_free(p); }
void RuleFree::operator()(nftnl_rule* p) const { nftnl_rule_free(p); }
void SetFree::operator()(nftnl_set* p) const { nftnl_set_free(p); }
void ObjFree::operator()(nftnl_obj* p) const { nftnl_obj_free(p); }
void UdataFree::operator()(nftnl_udata_buf* p) const { nftnl_udata_buf_free(p); }

std::array<std::uint8_t, 4> host_u32_bytes(std::uint32_t value) {
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &value, sizeof value);
    return bytes;
}

UdataPtr comment_udata(std::uint8_t type, std::string_view text) {
    UdataPtr buffer(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    std::string copy(text);
    nftnl_udata_put_strz(buffer.get(), type, copy.c_str());
    return buffer;
}

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

SetPtr set_object(const std::string& table, const std::string& name) {
    SetPtr object(nftnl_set_alloc());
    nftnl_set_set_u32(object.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_set_str(object.get(), NFTNL_SET_TABLE, table.c_str());
    nftnl_set_set_str(object.get(), NFTNL_SET_NAME, name.c_str());
    return object;
}

void set_set_udata(nftnl_set* set, const UdataPtr& udata) {
    nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(udata.get()), nftnl_udata_buf_len(udata.get()));
}

}  // namespace sctplb::nft
