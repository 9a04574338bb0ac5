#include "core/fast_path.hpp"

#include <algorithm>
#include <cstring>

namespace sctplb {

std::size_t FastPathKeyHash::operator()(const FastPathKey& key) const {
    // Off the packet path (the ledger), so a simple mix is enough.
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, key.client.bytes().data(), 8);
    std::memcpy(&b, key.client.bytes().data() + 8, 8);
    std::uint64_t h = a * 0x9e3779b97f4a7c15ull;
    h ^= (b + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
    h ^= ((std::uint64_t{key.sport} << 48) | (std::uint64_t{key.dport} << 32) | key.vtag) * 0x94d049bb133111ebull;
    return static_cast<std::size_t>(h ^ (h >> 31));
}

bool fast_path_eligible(const Association& a, bool target_serves) {
    const bool established =
        a.state == AssociationState::Established || a.state == AssociationState::RestartPending;
    return established && target_serves && a.ts != 0 && a.fwmark != 0 && a.address_count > 0;
}

namespace {
bool installed_has(const FastPathLedger::Entry& entry, const IpAddress& address) {
    for (std::size_t i = 0; i < entry.installed; ++i)
        if (entry.addresses[i] == address) return true;
    return false;
}
}  // namespace

void FastPathLedger::plan(AssociationId id, const Association& record, bool wanted, std::uint64_t timeout_ms,
                          FastPathBatch& batch) const {
    const auto it = entries_.find(id);
    const Entry* entry = it == entries_.end() ? nullptr : &it->second;
    if (!wanted) {
        // A record flagged as forwarded by the kernel that the ledger does not
        // track (e.g. a flag left by an earlier daemon) gets an empty removal
        // too: set_fast_path_flags then clears the flag, or the sweep would
        // skip the record for ever.
        const bool stale_flag = record.state != AssociationState::Free && record.in_fast_path;
        if (entry == nullptr && !stale_flag) return;
        if (entry != nullptr)
            for (std::size_t i = 0; i < entry->installed; ++i)
                batch.remove.push_back({entry->addresses[i], entry->sport, entry->dport, entry->ts});
        // Planned with the record's generation: set_fast_path_flags skips plans
        // made for another generation, and a removal planned as generation 0
        // never cleared the flag of the (still live, e.g. Closed) record.
        batch.planned.push_back({id, false, record.generation, 0, 0, 0, 0, 0, 0});
        return;
    }
    // The same association under the same keys: only addresses added since
    // (they only grow, appended in order) need elements.
    const bool same = entry != nullptr && entry->generation == record.generation && entry->ts == record.ts &&
                      entry->sport == record.sport && entry->dport == record.dport &&
                      entry->fwmark == record.fwmark;
    std::uint8_t kept = 0;
    std::size_t first_new = 0;
    if (same) {
        if (entry->considered >= record.address_count) return;
        kept = entry->installed;
        first_new = entry->considered;
    } else if (entry != nullptr) {
        for (std::size_t i = 0; i < entry->installed; ++i)
            batch.remove.push_back({entry->addresses[i], entry->sport, entry->dport, entry->ts});
    }
    for (std::size_t i = first_new; i < record.address_count; ++i) {
        if (same && installed_has(*entry, record.addresses[i])) continue;  // adopted at start
        batch.add.push_back({{record.addresses[i], record.sport, record.dport, record.ts}, record.fwmark, timeout_ms, 0});
        batch.add_owner.push_back(id);
    }
    batch.planned.push_back({id, true, record.generation, record.ts, record.sport, record.dport, record.fwmark,
                             record.address_count, kept});
}

FastPathLedger::Entry& FastPathLedger::track(AssociationId id) {
    if (id >= tracked_.size()) tracked_.resize(std::size_t{id} + 1, false);
    tracked_[id] = true;
    return entries_[id];
}

void FastPathLedger::untrack(AssociationId id) {
    entries_.erase(id);
    if (id < tracked_.size()) tracked_[id] = false;
}

void FastPathLedger::drop_keys(const Entry& entry) {
    for (std::size_t i = 0; i < entry.installed; ++i) {
        owners_.erase({entry.addresses[i], entry.sport, entry.dport, entry.ts});
        --element_count_;
    }
}

void FastPathLedger::commit(const FastPathBatch& batch, const std::vector<bool>& add_ok) {
    std::size_t next_add = 0;
    for (const FastPathBatch::Planned& p : batch.planned) {
        auto it = entries_.find(p.id);
        if (!p.wanted) {
            if (it != entries_.end()) {
                drop_keys(it->second);
                untrack(p.id);
            }
            continue;
        }
        Entry fresh;
        Entry& entry = it == entries_.end() ? track(p.id) : it->second;
        if (p.kept == 0) {
            drop_keys(entry);
            entry = fresh;
        } else {
            entry.installed = p.kept;
        }
        entry.generation = p.generation;
        entry.ts = p.ts;
        entry.sport = p.sport;
        entry.dport = p.dport;
        entry.fwmark = p.fwmark;
        entry.considered = p.address_count;
        // This id's adds, in order (plan appends them contiguously).
        while (next_add < batch.add.size() && batch.add_owner[next_add] != p.id) ++next_add;
        for (; next_add < batch.add.size() && batch.add_owner[next_add] == p.id; ++next_add) {
            if (next_add >= add_ok.size() || !add_ok[next_add]) continue;
            const FastPathKey& key = batch.add[next_add].key;
            if (installed_has(entry, key.client) || entry.installed >= kMaxClientAddresses) continue;
            entry.addresses[entry.installed++] = key.client;
            owners_[key] = p.id;
            ++element_count_;
        }
        if (entry.installed == 0 && entry.considered == 0) untrack(p.id);
    }
}

void FastPathLedger::adopt(AssociationId id, const Association& record, std::size_t address_index) {
    if (address_index >= record.address_count) return;
    auto it = entries_.find(id);
    Entry* entry = it == entries_.end() ? nullptr : &it->second;
    const bool same = entry != nullptr && entry->generation == record.generation && entry->ts == record.ts &&
                      entry->fwmark == record.fwmark;
    if (entry != nullptr && !same) {
        drop_keys(*entry);
        untrack(id);
        entry = nullptr;
    }
    if (entry == nullptr) {
        Entry& fresh = track(id);
        fresh.generation = record.generation;
        fresh.ts = record.ts;
        fresh.sport = record.sport;
        fresh.dport = record.dport;
        fresh.fwmark = record.fwmark;
        entry = &fresh;
    }
    const IpAddress& address = record.addresses[address_index];
    if (installed_has(*entry, address)) return;
    entry->addresses[entry->installed++] = address;
    owners_[{address, record.sport, record.dport, record.ts}] = id;
    ++element_count_;
    // Addresses the kernel lacks are added by the next plan: mark as considered
    // only what was adopted, so plan() looks at the rest.
    entry->considered = 0;
}

void FastPathLedger::forget(AssociationId id) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    drop_keys(it->second);
    untrack(id);
}

void FastPathLedger::retain(AssociationId id, std::uint8_t present) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& entry = it->second;
    std::uint8_t kept = 0;
    for (std::uint8_t i = 0; i < entry.installed; ++i) {
        const IpAddress address = entry.addresses[i];
        if ((present >> i) & 1u) {
            entry.addresses[kept++] = address;
        } else {
            owners_.erase({address, entry.sport, entry.dport, entry.ts});
            --element_count_;
        }
    }
    entry.installed = kept;
}

const FastPathLedger::Entry* FastPathLedger::find(AssociationId id) const {
    const auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
}

AssociationId FastPathLedger::owner(const FastPathKey& key) const {
    const auto it = owners_.find(key);
    return it == owners_.end() ? kNoAssociation : it->second;
}

void set_fast_path_flags(AssociationTable& table, const FastPathBatch& batch, const FastPathLedger& ledger) {
    for (const FastPathBatch::Planned& p : batch.planned) {
        if (p.id >= table.capacity()) continue;
        const Association& a = table.at(p.id);
        if (a.state == AssociationState::Free || a.generation != p.generation) continue;
        const FastPathLedger::Entry* entry = ledger.find(p.id);
        table.set_in_fast_path(p.id, p.wanted && entry != nullptr && entry->installed > 0);
    }
}

std::int64_t fast_path_seen_at(std::uint64_t expires_ms, std::uint64_t timeout_ms, std::int64_t now_ns) {
    const std::uint64_t left = std::min(expires_ms, timeout_ms);
    return now_ns - static_cast<std::int64_t>((timeout_ms - left) * 1'000'000ull);
}

std::vector<FastPathActivity> fast_path_activity(const FastPathLedger& ledger, std::span<const FastPathElement> dump,
                                                 std::uint64_t timeout_ms, std::int64_t now_ns) {
    struct Seen {
        std::int64_t at;
        std::uint8_t present;
    };
    std::unordered_map<AssociationId, Seen> seen;
    for (const FastPathElement& element : dump) {
        const AssociationId id = ledger.owner(element.key);
        if (id == kNoAssociation) continue;
        const FastPathLedger::Entry* entry = ledger.find(id);
        std::uint8_t bit = 0;
        for (std::uint8_t i = 0; i < entry->installed; ++i)
            if (entry->addresses[i] == element.key.client) bit = static_cast<std::uint8_t>(1u << i);
        const std::int64_t at = fast_path_seen_at(element.expires_ms, timeout_ms, now_ns);
        auto [it, inserted] = seen.emplace(id, Seen{at, bit});
        if (!inserted) {
            it->second.at = std::max(it->second.at, at);
            it->second.present |= bit;
        }
    }
    std::vector<FastPathActivity> out;
    out.reserve(ledger.associations());
    ledger.for_each([&](AssociationId id, const FastPathLedger::Entry& entry) {
        if (entry.installed == 0) return;
        const auto it = seen.find(id);
        out.push_back(it == seen.end() ? FastPathActivity{id, true, 0, 0}
                                       : FastPathActivity{id, false, it->second.at, it->second.present});
    });
    return out;
}

}  // namespace sctplb
