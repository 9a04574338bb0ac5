// The kernel fast path: an nftables table (family inet) whose maps mark the
// packets of established associations, so they never reach the NFQUEUE.
//
// Per family one dynamic map, keyed (client address, sctp sport, sctp dport,
// sctp vtag) -> fwmark. A VIP packet that hits it gets the target's mark (only
// the bits of the mark mask) in a chain at priority mangle - 10, before the
// iptables mangle rule that queues unmarked packets to the daemon. Control
// chunks, IP fragments and misses still go to the daemon. Everything is built
// with libnftnl + libmnl in netlink batches; the `nft` binary is never run
// (nft 1.0.6 crashes on an IPv6 concatenation with `update`).
//
// Ownership: the table carries the comment "sctplb-fastpath 1"; the current
// settings are the comment of its `prerouting` chain, "sctplb-fastpath 1
// mask=0x.. size=N timeout_ms=M" (a table's userdata cannot be changed once
// the table exists, a chain's is rewritten by every install). The targets
// with a chain are the keys of the `targets` verdict map (the kernel caps
// userdata at 256 bytes, too short for a long list of marks).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fast_path.hpp"
#include "ip_address.hpp"

struct mnl_socket;

namespace sctplb {

// FastPathKey and FastPathElement: lb/core/fast_path.hpp (the daemon's bookkeeping
// plans them without system calls).

// What `sctplb rules --fastpath` installs.
struct FastPathRuleset {
    std::string table;                   // nft table name, family inet
    std::vector<IpAddress> vips;         // v4 and/or v6
    std::vector<std::uint32_t> fwmarks;  // one target chain per fwmark (non-zero, inside mark_mask)
    std::uint32_t mark_mask = 0xffffffffu;
    std::uint32_t map_size = 65536;     // max elements per family map (kernel default is 65535 when unset!)
    std::uint64_t timeout_ms = 600000;  // element timeout AND the refresh timeout of the update rule
};

// What the daemon reads back (from the userdata + the maps).
struct FastPathInfo {
    std::uint32_t mark_mask = 0;
    std::uint32_t map_size = 0;
    std::uint64_t timeout_ms = 0;
    std::vector<std::uint32_t> fwmarks;  // targets with a chain, ascending
};

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

// The nft table name for an sctplb instance tag (`--shm` name): "sctplb" for
// "sctplb", else "sctplb-" + tag.
std::string fastpath_table_name(std::string_view tag);

// --- Encodings, exposed for tests ---------------------------------------

// Longest key: IPv6 address 16 + sport 4 + dport 4 + vtag 4.
inline constexpr std::size_t kFastPathKeyMaxBytes = 28;
using FastPathKeyBytes = std::array<std::uint8_t, kFastPathKeyMaxBytes>;

// The bytes of a map key as the kernel's registers hold a concatenation: each
// field in network byte order, padded with zeros to 4 bytes (ports). IPv4:
// saddr 4 . sport 2+2 . dport 2+2 . vtag 4 = 16 bytes; IPv6: 28 bytes.
// Returns the number of bytes written.
std::size_t encode_fastpath_key(const FastPathKey& key, FastPathKeyBytes& out);
// 16 bytes: IPv4, 28 bytes: IPv6; nullopt for any other length or non-zero padding.
std::optional<FastPathKey> decode_fastpath_key(std::span<const std::uint8_t> bytes);

// "sctplb-fastpath 1 mask=0x%08x size=N timeout_ms=M" (fwmarks are not part of it).
std::string fastpath_settings_text(std::uint32_t mark_mask, std::uint32_t map_size, std::uint64_t timeout_ms);
// Inverse of fastpath_settings_text; fwmarks stay empty. nullopt unless the
// text is exactly in that format.
std::optional<FastPathInfo> parse_fastpath_settings(std::string_view text);
// The comment that marks a table as ours.
inline constexpr std::string_view kFastPathTableComment = "sctplb-fastpath 1";

// One NETLINK_NETFILTER socket (libmnl). Not thread-safe; one per thread.
class NftSession {
public:
    static std::optional<NftSession> open(std::string& error);
    NftSession(NftSession&&) noexcept;
    NftSession& operator=(NftSession&&) noexcept;
    NftSession(const NftSession&) = delete;
    NftSession& operator=(const NftSession&) = delete;
    ~NftSession();

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

    struct Batch;  // netlink batch under construction (nft_fastpath.cpp)

private:
    struct SocketCloser {
        void operator()(mnl_socket* socket) const;
    };
    explicit NftSession(mnl_socket* socket);

    // Sends one batch; fills `errors` (one per message, 0 = no error reported).
    // False when the socket failed.
    bool send_batch(Batch& batch, std::vector<int>& errors, std::string& error);
    // One request (a dump or a get) with a callback per reply message; returns
    // 0 or the errno of the kernel's answer, -1 when the socket failed.
    template <typename OnMessage>
    int request(std::vector<char>& message, OnMessage&& on_message, std::string& error);
    // GETTABLE `name`: request()'s code; `exists` and the table's comment from the answer.
    int read_table(const std::string& name, bool& exists, std::optional<std::string>& comment, std::string& error);
    std::uint32_t next_sequence() { return sequence_++; }

    std::unique_ptr<mnl_socket, SocketCloser> socket_;
    std::uint32_t port_id_ = 0;
    std::uint32_t sequence_ = 1;
    std::vector<char> receive_buffer_;
};

}  // namespace sctplb
