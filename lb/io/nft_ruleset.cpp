// install(): what `sctplb rules --fastpath` puts into the kernel, built as named steps into one atomic batch.
#include "io/nft_ruleset.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <span>

#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/object.h>
#include <libnftnl/set.h>

#include "core/nft_encoding.hpp"
#include "io/nft_messages.hpp"
#include "io/nft_rule_builder.hpp"
#include "io/nft_table_layout.hpp"
#include "core/packet.hpp"  // ChunkType

namespace sctplb::nft {
namespace {

// Chunks that change an association's state go to the daemon (RFC 9260 §3.2
// chunk types; ASCONF: RFC 5061 §4.1).
constexpr std::array<std::uint8_t, 8> kControlChunkTypes = {
    chunk_type_value(ChunkType::Init),        chunk_type_value(ChunkType::InitAck),
    chunk_type_value(ChunkType::CookieEcho),  chunk_type_value(ChunkType::Asconf),
    chunk_type_value(ChunkType::Abort),       chunk_type_value(ChunkType::Shutdown),
    chunk_type_value(ChunkType::ShutdownAck), chunk_type_value(ChunkType::ShutdownComplete),
};
constexpr std::uint8_t kIpv6FragmentHeader = 44;  // RFC 8200 §4.5

constexpr std::uint32_t kAssocFlags = NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL;
constexpr auto kCreate = static_cast<std::uint16_t>(NLM_F_CREATE | NLM_F_ACK);

struct SetDescription {
    std::string name;
    std::uint32_t key_len = 0, data_len = 0, flags = 0, size = 0;
    std::uint64_t timeout_ms = 0;
};

// What the kernel holds under the table's name before the install.
struct ExistingTable {
    bool exists = false;
    std::vector<SetDescription> sets;
    std::vector<std::string> chains;
    std::vector<std::string> counters;
};

// Per family (0: IPv4, 1: IPv6): the assoc map stays, with its elements.
using KeptAssocMaps = std::array<bool, 2>;

// Validate first: the kernel's answer to a bad value names no field. `fwmarks`: the targets, ascending.
bool validate_ruleset(const FastPathRuleset& ruleset, std::vector<std::uint32_t>& fwmarks, std::string& error) {
    const std::string& table = ruleset.table;
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
    fwmarks = ruleset.fwmarks;
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
    return true;
}

// The sets of `table`: request()'s code.
int list_sets(Netlink& netlink, const std::string& table, std::vector<SetDescription>& sets, std::string& error) {
    auto sets_request = get_message(NFT_MSG_GETSET, NLM_F_DUMP, netlink.next_sequence(), [&](nlmsghdr* header) {
        SetPtr object(nftnl_set_alloc());
        nftnl_set_set_str(object.get(), NFTNL_SET_TABLE, table.c_str());
        nftnl_set_nlmsg_build_payload(header, object.get());
    });
    return netlink.request(sets_request, [&](const nlmsghdr* header) {
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
}

// The chain names of `table`: request()'s code.
int list_chains(Netlink& netlink, const std::string& table, std::vector<std::string>& chains, std::string& error) {
    auto chains_request = get_message(NFT_MSG_GETCHAIN, NLM_F_DUMP, netlink.next_sequence(), [](nlmsghdr*) {});
    return netlink.request(chains_request, [&](const nlmsghdr* header) {
        ChainPtr object(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(header, object.get()) < 0) return;
        if (table != nftnl_chain_get_str(object.get(), NFTNL_CHAIN_TABLE)) return;
        chains.emplace_back(nftnl_chain_get_str(object.get(), NFTNL_CHAIN_NAME));
    }, error);
}

// The named counters of `table`: request()'s code.
int list_counters(Netlink& netlink, const std::string& table, std::vector<std::string>& counters,
                  std::string& error) {
    return for_each_counter(netlink, table, [&](nftnl_obj* object) {
        counters.emplace_back(nftnl_obj_get_str(object, NFTNL_OBJ_NAME));
    }, error);
}

// What exists: the table (ours?), its sets, chains and counters.
bool read_existing_table(Netlink& netlink, const std::string& table, ExistingTable& existing, std::string& error) {
    std::optional<std::string> table_comment;
    int code = read_table(netlink, table, existing.exists, table_comment, error);
    if (code < 0) return false;
    if (code != 0 && code != ENOENT) {
        error = "table inet " + table + ": " + errno_text(code);
        return false;
    }
    if (existing.exists && !is_ours(table_comment)) {
        error = "table inet " + table + " exists and is not an sctplb fast-path table: not touched";
        return false;
    }
    if (!existing.exists) return true;
    code = list_sets(netlink, table, existing.sets, error);
    if (code < 0) return false;
    if (code == 0) {
        code = list_chains(netlink, table, existing.chains, error);
        if (code < 0) return false;
    }
    if (code == 0) {
        code = list_counters(netlink, table, existing.counters, error);
        if (code < 0) return false;
    }
    if (code != 0) {
        error = "listing table inet " + table + ": " + errno_text(code);
        return false;
    }
    return true;
}

// An existing assoc map is kept only when it is exactly what we would create.
bool check_kept_assoc_maps(const ExistingTable& existing, const FastPathRuleset& ruleset, KeptAssocMaps& keep,
                           std::string& error) {
    for (int family = 0; family < 2; ++family) {
        const char* map = family == 0 ? kAssoc4Map : kAssoc6Map;
        auto found = std::find_if(existing.sets.begin(), existing.sets.end(),
                                  [&](const SetDescription& s) { return s.name == map; });
        if (found == existing.sets.end()) continue;
        std::uint32_t key_len = family == 0 ? kFastPathKeyBytesIpv4 : kFastPathKeyBytesIpv6;
        if (found->key_len != key_len || found->data_len != 4 || found->flags != kAssocFlags ||
            found->size != ruleset.map_size || found->timeout_ms != ruleset.timeout_ms) {
            error = "table inet " + ruleset.table + ": map " + map + " has size " + std::to_string(found->size) +
                    ", timeout " + std::to_string(found->timeout_ms) + " ms (flags 0x" +
                    std::to_string(found->flags) + ", key " + std::to_string(found->key_len) +
                    " bytes); wanted size " + std::to_string(ruleset.map_size) + ", timeout " +
                    std::to_string(ruleset.timeout_ms) +
                    " ms: it cannot be changed in place; remove the table first (its elements go)";
            return false;
        }
        keep[family] = true;
    }
    return true;
}

// A new table, or everything of the old one but the kept assoc maps goes, in
// dependency order: rules (they reference sets, chains, counters), sets (the
// verdict map's elements reference chains), chains, counters.
void add_table_or_clear_it(Batch& batch, const std::string& table, const ExistingTable& existing,
                           const KeptAssocMaps& keep) {
    if (!existing.exists) {
        add_table(batch, table, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
        return;
    }
    add_flush_rules(batch, table);
    for (const SetDescription& set : existing.sets) {
        if ((set.name == kAssoc4Map && keep[0]) || (set.name == kAssoc6Map && keep[1])) continue;
        SetPtr object = set_object(table, set.name);
        add_set_message(batch, object.get(), NFT_MSG_DELSET, NLM_F_ACK, "delete set " + set.name);
    }
    for (const std::string& chain : existing.chains) add_chain(batch, table, chain, NFT_MSG_DELCHAIN, NLM_F_ACK);
    for (const std::string& counter : existing.counters)
        add_counter(batch, table, counter, NFT_MSG_DELOBJ, NLM_F_ACK);
}

// vips4 / vips6 with their addresses (looked up only past kDirectVipCompareLimit VIPs;
// they also list the VIPs in `nft list table`).
void add_vip_sets(Batch& batch, const FastPathRuleset& ruleset, std::uint32_t& set_id) {
    for (int family = 0; family < 2; ++family) {
        const bool ipv6 = family == 1;
        const std::string name = ipv6 ? kVips6Set : kVips4Set;
        SetPtr object = set_object(ruleset.table, name);
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_TYPE, ipv6 ? kTypeIpv6Address : kTypeIpv4Address);
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_LEN, ipv6 ? 16 : 4);
        nftnl_set_set_u32(object.get(), NFTNL_SET_FLAGS, 0);
        nftnl_set_set_u32(object.get(), NFTNL_SET_ID, set_id++);
        set_set_udata(object.get(), byteorder_udata(kByteorderBig, std::nullopt));
        add_set_message(batch, object.get(), NFT_MSG_NEWSET, kCreate, "set " + name);
        SetPtr elements = set_object(ruleset.table, name);
        std::size_t count = 0;
        for (const IpAddress& vip : ruleset.vips) {
            if (vip.is_v4() == ipv6) continue;
            const auto& bytes = vip.bytes();
            std::span<const std::uint8_t> key(bytes.data() + (ipv6 ? 0 : 12), ipv6 ? 16 : 4);
            add_element_key(elements.get(), key, nullptr, 0);
            ++count;
        }
        if (count > 0)
            add_elements_message(batch, elements.get(), NFT_MSG_NEWSETELEM, kCreate, "elements of set " + name, count);
    }
}

// assoc4 / assoc6, empty (kept ones are left alone).
void add_assoc_maps(Batch& batch, const FastPathRuleset& ruleset, const KeptAssocMaps& keep, std::uint32_t& set_id) {
    for (int family = 0; family < 2; ++family) {
        if (keep[family]) continue;
        const bool ipv6 = family == 1;
        const std::string name = ipv6 ? kAssoc6Map : kAssoc4Map;
        SetPtr object = set_object(ruleset.table, name);
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_TYPE, assoc_key_type(ipv6));
        nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_LEN, ipv6 ? kFastPathKeyBytesIpv6 : kFastPathKeyBytesIpv4);
        nftnl_set_set_u32(object.get(), NFTNL_SET_DATA_TYPE, kTypeMark);
        nftnl_set_set_u32(object.get(), NFTNL_SET_DATA_LEN, 4);
        nftnl_set_set_u32(object.get(), NFTNL_SET_FLAGS, kAssocFlags);
        nftnl_set_set_u32(object.get(), NFTNL_SET_DESC_SIZE, ruleset.map_size);
        nftnl_set_set_u64(object.get(), NFTNL_SET_TIMEOUT, ruleset.timeout_ms);
        nftnl_set_set_u32(object.get(), NFTNL_SET_ID, set_id++);
        set_set_udata(object.get(), assoc_map_udata(ipv6));
        add_set_message(batch, object.get(), NFT_MSG_NEWSET, kCreate, "map " + name);
    }
}

// Per target a counter and a chain; fast4, fast6; prerouting, whose comment holds the settings.
void add_chains_and_counters(Batch& batch, const FastPathRuleset& ruleset, const std::vector<std::uint32_t>& fwmarks) {
    const std::string& table = ruleset.table;
    const std::string settings = fastpath_settings_text(ruleset.mark_mask, ruleset.map_size, ruleset.timeout_ms);
    for (std::uint32_t fwmark : fwmarks) add_counter(batch, table, target_name(fwmark), NFT_MSG_NEWOBJ, kCreate);
    for (std::uint32_t fwmark : fwmarks) add_chain(batch, table, target_name(fwmark), NFT_MSG_NEWCHAIN, kCreate);
    add_chain(batch, table, kFast4Chain, NFT_MSG_NEWCHAIN, kCreate);
    add_chain(batch, table, kFast6Chain, NFT_MSG_NEWCHAIN, kCreate);
    add_chain(batch, table, kPreroutingChain, NFT_MSG_NEWCHAIN, kCreate, &settings);
}

// The verdict map: fwmark -> jump target-<fwmark>.
void add_targets_map(Batch& batch, const std::string& table, const std::vector<std::uint32_t>& fwmarks,
                     std::uint32_t& set_id) {
    SetPtr object = set_object(table, kTargetsMap);
    nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_TYPE, kTypeMark);
    nftnl_set_set_u32(object.get(), NFTNL_SET_KEY_LEN, 4);
    nftnl_set_set_u32(object.get(), NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
    nftnl_set_set_u32(object.get(), NFTNL_SET_FLAGS, NFT_SET_MAP);
    nftnl_set_set_u32(object.get(), NFTNL_SET_ID, set_id++);
    set_set_udata(object.get(), byteorder_udata(kByteorderHost, kByteorderInvalid));
    add_set_message(batch, object.get(), NFT_MSG_NEWSET, kCreate, std::string("map ") + kTargetsMap);
    if (fwmarks.empty()) return;
    SetPtr elements = set_object(table, kTargetsMap);
    for (std::uint32_t fwmark : fwmarks) {
        const auto key = host_u32_bytes(fwmark);
        nftnl_set_elem* element = nftnl_set_elem_alloc();
        nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, key.data(), key.size());
        nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_VERDICT, static_cast<std::uint32_t>(NFT_JUMP));
        nftnl_set_elem_set_str(element, NFTNL_SET_ELEM_CHAIN, target_name(fwmark).c_str());
        nftnl_set_elem_add(elements.get(), element);
    }
    add_elements_message(batch, elements.get(), NFT_MSG_NEWSETELEM, kCreate,
                         std::string("elements of map ") + kTargetsMap, fwmarks.size());
}

// Target chains: meta mark set meta mark & ~MASK | F; counter name "target-F"; accept.
// With the full mask the known-association rule stored the map's value, F, as
// the whole mark already: the chain only counts and accepts.
void add_target_rules(Batch& batch, const FastPathRuleset& ruleset, const std::vector<std::uint32_t>& fwmarks) {
    for (std::uint32_t fwmark : fwmarks) {
        const std::string chain = target_name(fwmark);
        RuleBuilder rule(ruleset.table, chain);
        if (ruleset.mark_mask != 0xffffffffu) set_masked_mark(rule, ruleset.mark_mask, fwmark);
        rule.named_counter(chain.c_str()).verdict(NF_ACCEPT);
        add_rule(batch, rule, chain);
    }
}

// Our mark bits belong to us: clear whatever someone set there.
void add_clear_mark_rule(Batch& batch, const FastPathRuleset& ruleset, const std::string& chain) {
    RuleBuilder rule(ruleset.table, chain);
    set_masked_mark(rule, ruleset.mark_mask, 0);
    add_rule(batch, rule, chain);
}

// IP fragments go to the daemon, which reassembles the key (a non-first
// fragment has no SCTP header).
void add_fragment_rule(Batch& batch, const std::string& table, const std::string& chain, bool ipv6) {
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

// Chunks that change an association's state return to the daemon.
void add_control_chunk_rules(Batch& batch, const std::string& table, const std::string& chain) {
    for (std::uint8_t chunk : kControlChunkTypes) {
        RuleBuilder rule(table, chain);
        rule.exthdr_present(NFT_EXTHDR_OP_SCTP, chunk, kScratchRegister)
            .cmp_u8(kScratchRegister, 1)
            .verdict(NFT_RETURN);
        add_rule(batch, rule, chain);
    }
}

// One rule: the lookup loads the mark (a miss ends the rule, so the update
// below never inserts), the update refreshes the element's timeout, the
// verdict map jumps to the target's chain. The kernel refuses dynset data on a
// verdict map, hence mark data + a second lookup.
void add_known_association_rule(Batch& batch, const FastPathRuleset& ruleset, const std::string& chain, bool ipv6,
                                bool data_first) {
    const char* map = ipv6 ? kAssoc6Map : kAssoc4Map;
    RuleBuilder rule(ruleset.table, chain);
    const std::uint32_t address_registers = ipv6 ? 4 : 1;
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
    rule.payload(NFT_PAYLOAD_NETWORK_HEADER, ipv6 ? 8 : 12, ipv6 ? 16 : 4, kKeyRegister)
        .payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, kKeyRegister + address_registers)
        .payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, kKeyRegister + address_registers + 1)
        .payload(NFT_PAYLOAD_TRANSPORT_HEADER, 4, 4, kKeyRegister + address_registers + 2);
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
}

// fast4 / fast6, in this order: clear our bits, fragments return, a DATA-first
// known association jumps, control chunks return, any known association jumps.
void add_fast_chain_rules(Batch& batch, const FastPathRuleset& ruleset, bool ipv6) {
    const std::string chain = ipv6 ? kFast6Chain : kFast4Chain;
    add_clear_mark_rule(batch, ruleset, chain);
    add_fragment_rule(batch, ruleset.table, chain, ipv6);
    add_known_association_rule(batch, ruleset, chain, ipv6, true);
    add_control_chunk_rules(batch, ruleset.table, chain);
    add_known_association_rule(batch, ruleset, chain, ipv6, false);
}

// Up to this many VIPs of a family, prerouting compares the destination with
// each (one rule per VIP) instead of looking it up in vips4 / vips6: with one
// VIP the compare cost 11-29 % less of the fast path's share per packet at
// saturation than the set lookup (docs/performance.md section 12). Past a few
// VIPs a packet would pass several rules, and the hash lookup is the better choice.
constexpr std::size_t kDirectVipCompareLimit = 4;

// prerouting: SCTP to a VIP goes through fast4 / fast6.
void add_prerouting_rules(Batch& batch, const FastPathRuleset& ruleset) {
    for (int family = 0; family < 2; ++family) {
        const bool ipv6 = family == 1;
        const std::uint32_t address_length = ipv6 ? 16 : 4;
        // One rule: SCTP whose destination (loaded into the scratch register)
        // passes `match` jumps to fast4 / fast6.
        const auto add_jump_rule = [&](auto&& match) {
            RuleBuilder rule(ruleset.table, kPreroutingChain);
            match_protocols(rule, ipv6);
            rule.payload(NFT_PAYLOAD_NETWORK_HEADER, ipv6 ? 24 : 16, address_length, kScratchRegister);
            match(rule);
            rule.verdict(NFT_JUMP, ipv6 ? kFast6Chain : kFast4Chain);
            add_rule(batch, rule, kPreroutingChain);
        };
        std::vector<std::span<const std::uint8_t>> vips;
        for (const IpAddress& vip : ruleset.vips)
            if (vip.is_v4() != ipv6) vips.emplace_back(vip.bytes().data() + (ipv6 ? 0 : 12), address_length);
        if (vips.size() <= kDirectVipCompareLimit) {
            for (std::span<const std::uint8_t> vip : vips)
                add_jump_rule([&](RuleBuilder& rule) { rule.cmp(kScratchRegister, NFT_CMP_EQ, vip); });
        } else {
            add_jump_rule([&](RuleBuilder& rule) {
                rule.lookup(kScratchRegister, ipv6 ? kVips6Set : kVips4Set, std::nullopt);
            });
        }
    }
}

}  // namespace

bool install_ruleset(Netlink& netlink, const FastPathRuleset& ruleset, std::string& error) {
    std::vector<std::uint32_t> fwmarks;
    if (!validate_ruleset(ruleset, fwmarks, error)) return false;
    ExistingTable existing;
    if (!read_existing_table(netlink, ruleset.table, existing, error)) return false;
    KeptAssocMaps keep{false, false};
    if (!check_kept_assoc_maps(existing, ruleset, keep, error)) return false;

    Batch batch(netlink.next_sequence());
    std::uint32_t set_id = 1;
    add_table_or_clear_it(batch, ruleset.table, existing, keep);
    add_vip_sets(batch, ruleset, set_id);
    add_assoc_maps(batch, ruleset, keep, set_id);
    add_chains_and_counters(batch, ruleset, fwmarks);
    add_targets_map(batch, ruleset.table, fwmarks, set_id);
    add_target_rules(batch, ruleset, fwmarks);
    add_fast_chain_rules(batch, ruleset, false);
    add_fast_chain_rules(batch, ruleset, true);
    add_prerouting_rules(batch, ruleset);
    return netlink.send_batch_checked(batch, "install table inet " + ruleset.table, error);
}

}  // namespace sctplb::nft
