// NftSession: what the daemon and the CLI ask of the kernel's fast-path table (install, describe, elements, counters).
#include "io/nft_session.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/object.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include "io/nft_messages.hpp"
#include "io/nft_table_layout.hpp"

namespace sctplb {

using namespace nft;  // this file speaks the vocabulary of the nft_* files throughout

namespace {

// Messages per batch before falling back: a failed batch costs one retry per message.
constexpr std::size_t kMessagesPerBatch = 512;

}  // namespace

std::optional<NftSession> NftSession::open(std::string& error) {
    auto netlink = Netlink::open(error);
    if (!netlink) return std::nullopt;
    return NftSession(std::move(*netlink));
}

bool NftSession::remove(std::string_view table, std::string& error, bool* existed) {
    std::string name(table);
    Batch batch(netlink_.next_sequence());
    add_table(batch, name, NFT_MSG_DELTABLE, NLM_F_ACK);
    std::vector<int> errors;
    if (!netlink_.send_batch(batch, errors, error)) return false;
    if (existed != nullptr) *existed = errors[0] == 0;
    if (errors[0] == ENOENT) return true;
    if (errors[0] != 0) {
        error = "delete table inet " + name + ": " + errno_text(errors[0]);
        return false;
    }
    return true;
}

std::optional<FastPathInfo> NftSession::describe(std::string_view table, std::string& error) {
    std::string name(table);
    // The table: ours when it carries our comment.
    std::optional<std::string> table_comment;
    bool table_seen = false;
    int code = read_table(netlink_, name, table_seen, table_comment, error);
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
    auto chain_request = get_message(NFT_MSG_GETCHAIN, NLM_F_ACK, netlink_.next_sequence(), [&](nlmsghdr* header) {
        ChainPtr object(nftnl_chain_alloc());
        nftnl_chain_set_str(object.get(), NFTNL_CHAIN_TABLE, name.c_str());
        nftnl_chain_set_str(object.get(), NFTNL_CHAIN_NAME, kPreroutingChain);
        nftnl_chain_nlmsg_build_payload(header, object.get());
    });
    code = netlink_.request(chain_request, [&](const nlmsghdr* header) {
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
    auto elements_request = get_message(NFT_MSG_GETSETELEM, NLM_F_DUMP, netlink_.next_sequence(), [&](nlmsghdr* header) {
        nftnl_set_elems_nlmsg_build_payload(header, targets.get());
    });
    code = netlink_.request(elements_request, [&](const nlmsghdr* header) {
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
    return nft::install_ruleset(netlink_, ruleset, error);
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
            Batch batch(netlink_.next_sequence());
            for (std::size_t i = 0; i < count; ++i) build(batch, adding, first + i, false);
            if (!netlink_.send_batch(batch, errors, error)) return false;
            if (std::all_of(errors.begin(), errors.end(), [](int e) { return e == 0; })) {
                for (std::size_t i = 0; i < count; ++i) account(adding, first + i, 0);
                continue;
            }
            // The transaction was aborted as a whole: one element per batch.
            for (std::size_t i = 0; i < count; ++i) {
                Batch single(netlink_.next_sequence());
                build(single, adding, first + i, true);
                if (!netlink_.send_batch(single, errors, error)) return false;
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
        auto message = get_message(NFT_MSG_GETSETELEM, NLM_F_DUMP, netlink_.next_sequence(), [&](nlmsghdr* header) {
            nftnl_set_elems_nlmsg_build_payload(header, set.get());
        });
        int code = netlink_.request(message, [&](const nlmsghdr* header) { nftnl_set_elems_nlmsg_parse(header, set.get()); },
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
    Batch batch(netlink_.next_sequence());
    for (const char* map : {kAssoc4Map, kAssoc6Map}) {
        SetPtr set = set_object(name, map);  // no elements: the kernel flushes the set
        add_elements_message(batch, set.get(), NFT_MSG_DELSETELEM, NLM_F_ACK, std::string("flush map ") + map, 0);
    }
    return netlink_.send_batch_checked(batch, "table inet " + name, error);
}

bool NftSession::counters(std::string_view table, std::vector<FastPathTargetCounter>& out, std::string& error) {
    const std::string name(table);
    std::vector<FastPathTargetCounter> found;
    int code = for_each_counter(netlink_, name, [&](nftnl_obj* object) {
        auto fwmark = fwmark_of_target_name(nftnl_obj_get_str(object, NFTNL_OBJ_NAME));
        if (!fwmark) return;
        found.push_back({*fwmark, nftnl_obj_get_u64(object, NFTNL_OBJ_CTR_PKTS),
                         nftnl_obj_get_u64(object, NFTNL_OBJ_CTR_BYTES)});
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
