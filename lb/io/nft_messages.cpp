// The netlink messages that carry our table's objects: batch additions and deletions, get requests.
#include "io/nft_messages.hpp"

#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "core/nft_encoding.hpp"
#include "io/nft_table_layout.hpp"

namespace sctplb::nft {

void add_table(Batch& batch, const std::string& table, std::uint16_t type, std::uint16_t flags) {
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

void add_chain(Batch& batch, const std::string& table, const std::string& name, std::uint16_t type,
               std::uint16_t flags, const std::string* comment) {
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

void add_flush_rules(Batch& batch, const std::string& table) {
    RulePtr all_rules(nftnl_rule_alloc());
    nftnl_rule_set_u32(all_rules.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
    nftnl_rule_set_str(all_rules.get(), NFTNL_RULE_TABLE, table.c_str());
    nlmsghdr* header = batch.header(NFT_MSG_DELRULE, NLM_F_ACK, "flush rules of table " + table);
    nftnl_rule_nlmsg_build_payload(header, all_rules.get());
    batch.commit(header);
}

void add_rule(Batch& batch, nftnl_rule* rule, const std::string& chain) {
    nlmsghdr* header = batch.header(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, "rule in " + chain);
    nftnl_rule_nlmsg_build_payload(header, rule);
    batch.commit(header);
}

void add_counter(Batch& batch, const std::string& table, const std::string& name, std::uint16_t type,
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


void add_set_message(Batch& batch, nftnl_set* object, std::uint16_t type, std::uint16_t flags,
                     std::string label) {
    nlmsghdr* header = batch.header(type, flags, std::move(label));
    nftnl_set_nlmsg_build_payload(header, object);
    batch.commit(header);
}

void add_elements_message(Batch& batch, nftnl_set* object, std::uint16_t type, std::uint16_t flags,
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


bool is_ours(const std::optional<std::string>& comment) { return comment && *comment == kFastPathTableComment; }

std::vector<char> get_message(std::uint16_t type, std::uint16_t flags, std::uint32_t sequence,
                              const std::function<void(nlmsghdr*)>& fill) {
    std::vector<char> message(4096, 0);
    nlmsghdr* header = nftnl_nlmsg_build_hdr(message.data(), type, NFPROTO_INET, flags, sequence);
    fill(header);
    return message;
}

int read_table(Netlink& netlink, const std::string& name, bool& exists, std::optional<std::string>& comment,
               std::string& error) {
    auto table_request = get_message(NFT_MSG_GETTABLE, NLM_F_ACK, netlink.next_sequence(), [&](nlmsghdr* header) {
        TablePtr object(nftnl_table_alloc());
        nftnl_table_set_str(object.get(), NFTNL_TABLE_NAME, name.c_str());
        nftnl_table_nlmsg_build_payload(header, object.get());
    });
    return netlink.request(table_request, [&](const nlmsghdr* header) {
        TablePtr object(nftnl_table_alloc());
        if (nftnl_table_nlmsg_parse(header, object.get()) < 0) return;
        exists = true;
        std::uint32_t length = 0;
        const void* data = nftnl_table_get_data(object.get(), NFTNL_TABLE_USERDATA, &length);
        comment = comment_of_udata(data, length, NFTNL_UDATA_TABLE_COMMENT);
    }, error);
}

int for_each_counter(Netlink& netlink, const std::string& table, const std::function<void(nftnl_obj*)>& on_counter,
                     std::string& error) {
    auto message = get_message(NFT_MSG_GETOBJ, NLM_F_DUMP, netlink.next_sequence(), [&](nlmsghdr* header) {
        ObjPtr object(nftnl_obj_alloc());
        nftnl_obj_set_str(object.get(), NFTNL_OBJ_TABLE, table.c_str());
        nftnl_obj_set_u32(object.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
        nftnl_obj_nlmsg_build_payload(header, object.get());
    });
    return netlink.request(message, [&](const nlmsghdr* header) {
        ObjPtr object(nftnl_obj_alloc());
        if (nftnl_obj_nlmsg_parse(header, object.get()) < 0) return;
        if (table != nftnl_obj_get_str(object.get(), NFTNL_OBJ_TABLE)) return;
        if (nftnl_obj_get_u32(object.get(), NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER) return;
        on_counter(object.get());
    }, error);
}

}  // namespace sctplb::nft
