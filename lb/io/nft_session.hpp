// NftSession: what the daemon and the CLI ask of the kernel's fast-path table (install, describe, elements, counters).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/fast_path.hpp"
#include "core/nft_encoding.hpp"
#include "io/nft_netlink.hpp"
#include "io/nft_ruleset.hpp"

namespace sctplb {

struct FastPathTargetCounter {
    std::uint32_t fwmark = 0;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
};

struct FastPathChangeResult {
    std::size_t added = 0, removed = 0;
    std::size_t add_failed = 0;     // e.g. map full (ENFILE), no chain for the fwmark
    std::size_t remove_absent = 0;  // the kernel had dropped it already (timed out): not an error
    std::size_t remove_failed = 0;  // any other refusal of a removal
    int last_errno = 0;             // errno of the last failed add (or removal), for the log
    std::vector<bool> add_ok;       // per element of `add`, in order: the kernel holds it
};

// One NETLINK_NETFILTER socket (libmnl). Not thread-safe; one per thread.
class NftSession {
public:
    static std::optional<NftSession> open(std::string& error);

    // Creates the whole ruleset in ONE netlink batch (atomic). An existing
    // table of ours is rebuilt in that batch except its two assoc maps, whose
    // elements are kept; it fails (and changes nothing) when such a map has
    // another size, timeout or key, or when the table is not ours.
    bool install(const FastPathRuleset& ruleset, std::string& error);
    // Deletes the table (everything in it). Absent table: true, *existed=false.
    bool remove(std::string_view table, std::string& error, bool* existed = nullptr);
    // nullopt + error when the table is absent or not ours (no/invalid userdata).
    std::optional<FastPathInfo> describe(std::string_view table, std::string& error);

    // Removes `remove` then adds `add`, in as few batches as possible. When a
    // batch fails (one bad element aborts a whole kernel transaction), falls
    // back to one element per batch so that every element gets its own result.
    // Adds never replace an element with a different fwmark (remove it first).
    // Returns false only when the socket itself failed (error set).
    bool change(std::string_view table, std::span<const FastPathKey> remove,
                std::span<const FastPathElement> add, FastPathChangeResult& result, std::string& error);
    // Every element of both maps, with fwmark and expires_ms (appended to out).
    bool dump(std::string_view table, std::vector<FastPathElement>& out, std::string& error);
    // Empties both maps.
    bool flush(std::string_view table, std::string& error);
    // Packets/bytes marked by the fast path, per target (named counters), ascending fwmark.
    bool counters(std::string_view table, std::vector<FastPathTargetCounter>& out, std::string& error);

private:
    explicit NftSession(nft::Netlink netlink) : netlink_(std::move(netlink)) {}

    nft::Netlink netlink_;
};

}  // namespace sctplb
