// The "sync" and "fastpath" objects of `sctplb stats --json`, also the source of its text.
#include "cli/stats_json.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "io/nft_fastpath.hpp"
#include "core/sync_engine.hpp"

namespace sctplb::cli {

namespace {

std::string peer_digest(const SyncPeerShared& peer) {
    std::string digest;
    for (const auto& part : peer.digest_chars) {
        const std::uint64_t v = part.load(std::memory_order_relaxed);
        for (int shift = 56; shift >= 0; shift -= 8) digest.push_back(static_cast<char>((v >> shift) & 0xff));
    }
    return digest;
}

std::string hex64(std::uint64_t v) {
    char text[17];
    std::snprintf(text, sizeof text, "%016" PRIx64, v);
    return text;
}


}  // namespace

using nlohmann::ordered_json;

ordered_json sync_json(const SharedHeader& h, std::int64_t now) {
    const SyncShared& s = h.sync;
    if (s.enabled.load(std::memory_order_acquire) == 0) return nullptr;
    ordered_json out;
    out["listen"] = std::string(s.listen, strnlen(s.listen, sizeof s.listen));
    out["instance"] = hex64(s.instance.load());
    out["epoch"] = s.epoch.load();
    out["ready"] = s.ready.load() != 0;
    for (std::size_t i = 0; i < kSyncCounterCount; ++i)
        out[std::string(sync_counter_name(static_cast<SyncCounter>(i)))] = s.counters[i].load(std::memory_order_relaxed);
    ordered_json rejected = ordered_json::object();
    for (std::size_t i = 1; i < kSyncRejectionCount; ++i)
        rejected[std::string(sync_rejection_name(static_cast<SyncRejection>(i)))] = s.rejected[i].load(std::memory_order_relaxed);
    out["rejected"] = std::move(rejected);
    ordered_json peers = ordered_json::array();
    const std::uint32_t count = std::min<std::uint32_t>(s.peer_count.load(), kMaxSyncPeers);
    for (std::uint32_t i = 0; i < count; ++i) {
        const SyncPeerShared& p = s.peers[i];
        const std::int64_t heard = p.last_heard_ns.load();
        const std::uint32_t digest = p.digest.load();
        peers.push_back(ordered_json{
            {"address", std::string(p.address, strnlen(p.address, sizeof p.address))},
            {"state", peer_state_name(static_cast<PeerState>(p.state.load()))},
            {"instance", hex64(p.instance.load())},
            {"epoch", p.epoch.load()},
            {"digest", digest == 0 ? ordered_json(nullptr) : ordered_json(peer_digest(p))},
            {"digest_match", digest == 0 ? ordered_json(nullptr) : ordered_json(digest == 1)},
            {"last_heard_ms", heard < 0 ? ordered_json(nullptr) : ordered_json((now - heard) / 1'000'000)},
            {"unacked", p.unacked.load()},
            {"lag_ms", p.lag_ns.load() / 1'000'000},
            {"rtt_us", p.rtt_ns.load() / 1'000},
            {"table_received", p.table_received.load() != 0}});
    }
    out["peers"] = std::move(peers);
    return out;
}


// The kernel fast path: the daemon's view (shared memory) and the kernel's
// per-target counters, read through netlink (needs CAP_NET_ADMIN).
ordered_json fast_path_json(const SharedHeader& h, const std::string& shm, std::int64_t now) {
    const FastPathShared& f = h.fast_path;
    const bool enabled = f.enabled.load(std::memory_order_acquire) != 0 && h.daemon_pid.load() != 0;
    ordered_json out;
    out["enabled"] = enabled;
    out["table"] = fastpath_table_name(shm);
    out["associations"] = f.associations.load();
    out["elements"] = f.elements.load();
    out["timeout_ms"] = f.timeout_ms.load();
    out["map_size"] = f.map_size.load();
    const std::int64_t pass = f.last_pass_ns.load();
    out["last_pass_ms"] = pass == 0 ? ordered_json(nullptr) : ordered_json((now - pass) / 1'000'000);
    std::string error;
    std::vector<FastPathTargetCounter> counters;
    auto nft = NftSession::open(error);
    if (nft && nft->counters(out["table"].get<std::string>(), counters, error)) {
        ordered_json targets = ordered_json::array();
        for (const FastPathTargetCounter& c : counters)
            targets.push_back(ordered_json{{"fwmark", c.fwmark}, {"packets", c.packets}, {"bytes", c.bytes}});
        out["targets"] = std::move(targets);
    } else {
        out["targets"] = nullptr;
        out["targets_error"] = error;
    }
    return out;
}
}  // namespace sctplb::cli
