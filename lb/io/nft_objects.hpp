// libnftnl objects of an sctplb table: who frees them, and the userdata (comments, `typeof`) they carry.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;
struct nftnl_obj;
struct nftnl_udata_buf;

namespace sctplb::nft {

struct TableFree {
    void operator()(nftnl_table* p) const;
};
struct ChainFree {
    void operator()(nftnl_chain* p) const;
};
struct RuleFree {
    void operator()(nftnl_rule* p) const;
};
struct SetFree {
    void operator()(nftnl_set* p) const;
};
struct ObjFree {
    void operator()(nftnl_obj* p) const;
};
struct UdataFree {
    void operator()(nftnl_udata_buf* p) const;
};
using TablePtr = std::unique_ptr<nftnl_table, TableFree>;
using ChainPtr = std::unique_ptr<nftnl_chain, ChainFree>;
using RulePtr = std::unique_ptr<nftnl_rule, RuleFree>;
using SetPtr = std::unique_ptr<nftnl_set, SetFree>;
using ObjPtr = std::unique_ptr<nftnl_obj, ObjFree>;
using UdataPtr = std::unique_ptr<nftnl_udata_buf, UdataFree>;

// nft's userdata byteorder values.
inline constexpr std::uint32_t kByteorderInvalid = 0;
inline constexpr std::uint32_t kByteorderHost = 1;
inline constexpr std::uint32_t kByteorderBig = 2;

// A u32 as the kernel holds a mark: host byte order.
std::array<std::uint8_t, 4> host_u32_bytes(std::uint32_t value);

// A comment in nft's userdata format (one attribute, NUL-terminated string).
UdataPtr comment_udata(std::uint8_t type, std::string_view text);
// The comment attribute of some userdata, if any.
std::optional<std::string> comment_of_udata(const void* data, std::uint32_t length, std::uint8_t type);
// `typeof ip[6] saddr . sctp sport . sctp dport . sctp vtag : meta mark`
UdataPtr assoc_map_udata(bool ipv6);
UdataPtr byteorder_udata(std::uint32_t key_order, std::optional<std::uint32_t> data_order);
// A set of `table` named `name`, family inet, nothing else set.
SetPtr set_object(const std::string& table, const std::string& name);
// Sets `udata` as the set's userdata.
void set_set_udata(nftnl_set* set, const UdataPtr& udata);

}  // namespace sctplb::nft
