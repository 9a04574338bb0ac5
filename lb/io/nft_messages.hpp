// The netlink messages that carry our table's objects: batch additions and deletions, get requests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/fast_path.hpp"
#include "io/nft_netlink.hpp"
#include "io/nft_objects.hpp"

namespace sctplb::nft {

// Table `table`; a new one carries our comment.
void add_table(Batch& batch, const std::string& table, std::uint16_t type, std::uint16_t flags);
// Chain `name`; with a comment, the base chain (hook prerouting) carrying it.
void add_chain(Batch& batch, const std::string& table, const std::string& name, std::uint16_t type,
               std::uint16_t flags, const std::string* comment = nullptr);
// Named counter `name`.
void add_counter(Batch& batch, const std::string& table, const std::string& name, std::uint16_t type,
                 std::uint16_t flags);
// Every rule of the table goes.
void add_flush_rules(Batch& batch, const std::string& table);
void add_rule(Batch& batch, nftnl_rule* rule, const std::string& chain);
void add_set_message(Batch& batch, nftnl_set* object, std::uint16_t type, std::uint16_t flags, std::string label);
void add_elements_message(Batch& batch, nftnl_set* object, std::uint16_t type, std::uint16_t flags,
                          std::string label, std::size_t elements);
// One element into `set` (which owns it); `data` null for a plain set or a removal, timeout 0 for the map's.
void add_element_key(nftnl_set* set, std::span<const std::uint8_t> key, const std::uint32_t* data,
                     std::uint64_t timeout_ms);
const char* assoc_map_of(const FastPathKey& key);

// A GET request: `flags` NLM_F_DUMP for a list, NLM_F_ACK for one object; `fill` adds the payload.
std::vector<char> get_message(std::uint16_t type, std::uint16_t flags, std::uint32_t sequence,
                              const std::function<void(nlmsghdr*)>& fill);
// GETTABLE `name`: request()'s code; `exists` and the table's comment from the answer.
int read_table(Netlink& netlink, const std::string& name, bool& exists, std::optional<std::string>& comment,
               std::string& error);
// Dumps the named counters of `table`, one call per counter: request()'s code.
int for_each_counter(Netlink& netlink, const std::string& table, const std::function<void(nftnl_obj*)>& on_counter,
                     std::string& error);
bool is_ours(const std::optional<std::string>& comment);

}  // namespace sctplb::nft
