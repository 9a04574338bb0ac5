#include "core/sync_engine.hpp"

#include <algorithm>

namespace sctplb {

namespace {
constexpr std::size_t kJournalEntries = 1u << 16;
}

std::string_view sync_counter_name(SyncCounter counter) {
    switch (counter) {
#define SCTPLB_SYNC_COUNTER_NAME(id, name) \
    case SyncCounter::id: return name;
        SCTPLB_SYNC_COUNTERS(SCTPLB_SYNC_COUNTER_NAME)
#undef SCTPLB_SYNC_COUNTER_NAME
    }
    return "?";
}

std::string_view peer_state_name(PeerState state) {
    switch (state) {
        case PeerState::Unknown: return "unknown";
        case PeerState::Up: return "up";
        case PeerState::Down: return "down";
        case PeerState::AuthFailing: return "authentication failing";
    }
    return "?";
}

WindowCheck check_and_record(SyncReplayWindow& w, std::uint64_t epoch, std::uint64_t sequence) {
    constexpr std::uint64_t kSize = SyncReplayWindow::kSize;
    const auto bit = [&](std::uint64_t back) -> std::uint64_t& { return w.seen[back / 64]; };
    const auto mask = [](std::uint64_t back) { return std::uint64_t{1} << (back % 64); };
    if (epoch < w.epoch || sequence == 0) return WindowCheck::TooOld;
    if (epoch > w.epoch) {  // the sender (re)started: a new stream
        w.epoch = epoch;
        w.highest = sequence;
        w.seen.fill(0);
        bit(0) |= mask(0);
        return WindowCheck::Fresh;
    }
    if (sequence > w.highest) {
        const std::uint64_t shift = sequence - w.highest;
        if (shift >= kSize) {
            w.seen.fill(0);
        } else {
            // Move every "received" bit `shift` places further back.
            std::array<std::uint64_t, kSize / 64> moved{};
            for (std::uint64_t back = 0; back + shift < kSize; ++back)
                if (w.seen[back / 64] & mask(back)) moved[(back + shift) / 64] |= mask(back + shift);
            w.seen = moved;
        }
        w.highest = sequence;
        bit(0) |= mask(0);
        return WindowCheck::Fresh;
    }
    const std::uint64_t back = w.highest - sequence;
    if (back >= kSize) return WindowCheck::TooOld;
    if (bit(back) & mask(back)) return WindowCheck::Duplicate;
    bit(back) |= mask(back);
    return WindowCheck::Fresh;
}

SyncEngine::SyncEngine(const SyncEngineOptions& options, AssociationTable& table, const SyncAuthenticator& auth,
                       std::span<SyncReplayWindow> windows, Nanos now)
    : options_(options),
      table_(table),
      auth_(auth),
      windows_(windows),
      peers_(options.peer_count),
      journal_storage_(kJournalEntries),
      journal_(journal_storage_),
      started_(now),
      request_nonce_((options.instance ^ (options.epoch * 0x9e3779b97f4a7c15ull)) | 1),
      ready_(options.peer_count == 0) {
    if (options_.seen_report_interval <= Nanos{0})
        options_.seen_report_interval = std::max<Nanos>(table.timeouts().idle / 8, std::chrono::seconds(1));
    digest_.fill('0');
}

SyncHeader SyncEngine::header(SyncType type, std::uint16_t flags) const {
    SyncHeader h;
    h.type = type;
    h.flags = flags;
    h.key_id = auth_.signing_key_id();
    h.instance = options_.instance;
    h.epoch = options_.epoch;
    h.digest = digest_;
    return h;
}

void SyncEngine::send(std::size_t peer, SyncMessageWriter& writer, bool reliable, Nanos now) {
    Peer& p = peers_[peer];
    const std::uint64_t sequence = p.next_sequence++;
    const auto bytes = writer.finish(sequence, auth_);
    outgoing_.push_back(Outgoing{peer, std::vector<std::byte>(bytes.begin(), bytes.end())});
    if (reliable) p.unacked.push_back(Pending{sequence, outgoing_.back().bytes, now, now, 0});
    p.last_sent = now;
    stats_.count(SyncCounter::MessagesSent);
}

bool SyncEngine::broadcast_to(std::size_t peer) const {
    // A lost peer gets the whole table when it is back; until then nothing.
    return !peers_[peer].needs_dump;
}

// ---- sending local changes --------------------------------------------------

void SyncEngine::queue_record(const Association& a, Nanos now) {
    if (broadcast_count_ > 0 && broadcast_.room() < sync_record_size(a)) flush_records(now);
    if (broadcast_count_ == 0) {
        broadcast_.begin(header(SyncType::Records));
        broadcast_.put_u16(0);
    }
    put_sync_record(broadcast_, a, now);
    ++broadcast_count_;
}

void SyncEngine::flush_records(Nanos now) {
    if (broadcast_count_ == 0) return;
    broadcast_.patch_u16(0, broadcast_count_);
    for (std::size_t peer = 0; peer < peers_.size(); ++peer) {
        if (!broadcast_to(peer)) continue;
        send(peer, broadcast_, true, now);
        stats_.count(SyncCounter::RecordsSent, broadcast_count_);
    }
    broadcast_count_ = 0;
}

void SyncEngine::collect(Nanos now) {
    if (peers_.empty()) return;
    const auto report = [&](AssociationId id) {
        const Association& a = table_.at(id);
        if (a.state == AssociationState::Free) return;
        if (std::find(down_fwmarks_.begin(), down_fwmarks_.end(), a.fwmark) != down_fwmarks_.end()) {
            // Pinned to a target that is down here: `down` forgot its
            // associations, and one a peer taught meanwhile goes the same way.
            table_.remove(id);
            return;
        }
        const bool changed = a.sync_version != a.synced_version;
        // Idle here may be busy elsewhere: last-seen travels, local expiry never does.
        const bool seen = a.last_seen_ns - a.synced_seen_ns >= options_.seen_report_interval.count();
        if (!changed && !seen) return;
        queue_record(a, now);
        table_.mark_synced(id);
    };
    journal_.drain([&](AssociationId id, std::uint32_t generation) {
        if (id < table_.capacity() && table_.at(id).generation == generation) report(id);
    });
    if (journal_.take_overflow()) overflow_scan_left_ = table_.capacity();
    // The walk finds changes the journal lost, and last-seen to report.
    const std::uint32_t capacity = table_.capacity();
    std::size_t budget = options_.scan_slots_per_tick;
    if (overflow_scan_left_ > 0) budget = std::max<std::size_t>(budget, overflow_scan_left_ / 8 + 1);
    for (std::size_t n = 0; n < budget && n < capacity; ++n) {
        report(scan_cursor_);
        scan_cursor_ = (scan_cursor_ + 1) % capacity;
        if (overflow_scan_left_ > 0) --overflow_scan_left_;
    }
    flush_records(now);
}

// ---- receiving ----------------------------------------------------------------

void SyncEngine::on_datagram(std::size_t peer, std::span<const std::byte> datagram, Nanos now, Counters& counters) {
    if (peer >= peers_.size()) {
        stats_.count(SyncRejection::NotAPeer);
        return;
    }
    SyncMessage message;
    const SyncRejection rejection = open_sync_message(datagram, auth_, message);
    Peer& p = peers_[peer];
    if (rejection != SyncRejection::None) {
        stats_.count(rejection);
        if (rejection == SyncRejection::Forged || rejection == SyncRejection::Unauthenticated) {
            ++p.status.auth_failures;
            p.status.last_auth_failure = now;
            if (p.status.state != PeerState::Up) p.status.state = PeerState::AuthFailing;
        }
        return;
    }
    SyncReplayWindow& window = windows_[peer];
    const std::uint64_t previous_epoch = window.epoch;
    const WindowCheck fresh = check_and_record(window, message.header.epoch, message.header.sequence);
    if (fresh != WindowCheck::Fresh) {
        stats_.count(SyncRejection::Replayed);
        // A retransmission whose acknowledgement was lost looks the same as a
        // replay: acknowledge again (harmless), apply nothing.
        const bool reliable = message.header.type == SyncType::Records || message.header.type == SyncType::TableEnd;
        if (fresh == WindowCheck::Duplicate && reliable && message.header.epoch == p.acks_epoch)
            p.acks_due.push_back(message.header.sequence);
        return;
    }
    if (previous_epoch != 0 && message.header.epoch > previous_epoch) stats_.count(SyncCounter::PeerRestarts);
    stats_.count(SyncCounter::MessagesReceived);
    handle(peer, message, now, counters);
}

void SyncEngine::handle(std::size_t peer, const SyncMessage& m, Nanos now, Counters& counters) {
    Peer& p = peers_[peer];
    SyncPeerStatus& s = p.status;
    s.last_heard = now;
    s.instance = m.header.instance;
    s.epoch = m.header.epoch;
    s.digest = m.header.digest;
    s.digest_known = true;
    s.digest_match = m.header.digest == digest_;
    if (!s.digest_match) stats_.count(SyncCounter::DigestMismatches);
    if (s.state != PeerState::Up) {
        s.state = PeerState::Up;
        if (p.needs_dump && !p.dumping) start_dump(peer, 0);
    }
    if (p.acks_epoch != m.header.epoch) {
        p.acks_epoch = m.header.epoch;
        p.acks_due.clear();
    }
    switch (m.header.type) {
        case SyncType::Records:
            apply_records(peer, m, now, counters);
            break;
        case SyncType::Ack:
            handle_ack(peer, m.body, now);
            break;
        case SyncType::TableRequest:
            if (const auto nonce = read_be64(m.body, 0)) {
                if (!p.dumping || p.dump_nonce != *nonce) start_dump(peer, *nonce);
            } else {
                stats_.count(SyncRejection::Malformed);
            }
            break;
        case SyncType::TableEnd:
            p.acks_due.push_back(m.header.sequence);
            if (const auto nonce = read_be64(m.body, 0); nonce && *nonce == request_nonce_) s.table_received = true;
            break;
        case SyncType::Keepalive:
            break;
    }
}

void SyncEngine::apply_records(std::size_t peer, const SyncMessage& m, Nanos now, Counters& counters) {
    // Validate the whole body first: a malformed message changes nothing.
    if (!for_each_sync_record(m.body, now, [](const SyncRecord&) {})) {
        stats_.count(SyncRejection::Malformed);
        return;
    }
    Peer& p = peers_[peer];
    p.acks_due.push_back(m.header.sequence);
    const MergeContext context{Origin::peer(peer), p.status.instance < options_.instance,
                               down_fwmarks_};
    const bool dump = (m.header.flags & kSyncFlagDump) != 0;
    for_each_sync_record(m.body, now, [&](const SyncRecord& record) {
        if (dump) stats_.count(SyncCounter::TableRecordsReceived);
        switch (merge_sync_record(table_, record, context, now, counters)) {
            case MergeOutcome::Inserted:
                stats_.count(SyncCounter::RecordsInserted);
                stats_.count(SyncCounter::RecordsApplied);
                break;
            case MergeOutcome::Updated:
                stats_.count(SyncCounter::RecordsUpdated);
                stats_.count(SyncCounter::RecordsApplied);
                break;
            case MergeOutcome::Refreshed:
                stats_.count(SyncCounter::RecordsApplied);
                break;
            case MergeOutcome::Ignored:
            case MergeOutcome::Invalid:
                stats_.count(SyncCounter::RecordsIgnored);
                break;
            case MergeOutcome::TableFull:
                stats_.count(SyncCounter::RecordsTableFull);
                break;
        }
    });
    ++applied_generation_;
}

void SyncEngine::handle_ack(std::size_t peer, ByteView body, Nanos now) {
    Peer& p = peers_[peer];
    const auto epoch = read_be64(body, 0);
    const auto count = body.be16(8);
    if (!epoch || !count || body.size() != 10 + 8 * std::size_t{*count}) {
        stats_.count(SyncRejection::Malformed);
        return;
    }
    if (*epoch != options_.epoch) return;  // acknowledges an earlier run of ours
    for (std::size_t i = 0; i < *count; ++i) {
        const std::uint64_t sequence = *read_be64(body, 10 + 8 * i);
        const auto it = std::find_if(p.unacked.begin(), p.unacked.end(),
                                     [&](const Pending& pending) { return pending.sequence == sequence; });
        if (it == p.unacked.end()) continue;
        p.status.rtt = now - it->first_sent;
        p.unacked.erase(it);
        stats_.count(SyncCounter::AcksReceived);
    }
}

// ---- table transfers ----------------------------------------------------------

void SyncEngine::start_dump(std::size_t peer, std::uint64_t nonce) {
    Peer& p = peers_[peer];
    p.dumping = true;
    p.dump_nonce = nonce;
    p.dump_cursor = 0;
    p.dump_records = 0;
    p.needs_dump = false;
    stats_.count(SyncCounter::TableDumpsServed);
}

void SyncEngine::continue_dump(std::size_t peer, Nanos now) {
    Peer& p = peers_[peer];
    const std::uint32_t capacity = table_.capacity();
    std::size_t budget = options_.dump_slots_per_tick;
    std::uint16_t count = 0;
    const auto flush = [&] {
        if (count == 0) return;
        scratch_.patch_u16(0, count);
        send(peer, scratch_, true, now);
        stats_.count(SyncCounter::RecordsSent, count);
        count = 0;
    };
    while (budget-- > 0 && p.dump_cursor < capacity && p.unacked.size() < options_.max_unacked) {
        const Association& a = table_.at(p.dump_cursor);
        if (a.state != AssociationState::Free) {
            if (count > 0 && scratch_.room() < sync_record_size(a)) flush();
            if (count == 0) {
                scratch_.begin(header(SyncType::Records, kSyncFlagDump));
                scratch_.put_u16(0);
            }
            put_sync_record(scratch_, a, now);
            ++count;
            ++p.dump_records;
        }
        ++p.dump_cursor;
    }
    flush();
    if (p.dump_cursor >= capacity) {
        scratch_.begin(header(SyncType::TableEnd));
        scratch_.put_u64(p.dump_nonce);
        scratch_.put_u32(p.dump_records);
        send(peer, scratch_, true, now);
        p.dumping = false;
    }
}

// ---- time ---------------------------------------------------------------------

void SyncEngine::lose_peer(std::size_t peer) {
    Peer& p = peers_[peer];
    p.status.state = PeerState::Down;
    stats_.count(SyncCounter::PeersLost);
    stats_.count(SyncCounter::BacklogDropped, p.unacked.size());
    p.unacked.clear();
    p.dumping = false;
    p.needs_dump = true;
}

void SyncEngine::flush_acks(std::size_t peer, Nanos now) {
    Peer& p = peers_[peer];
    std::size_t done = 0;
    while (done < p.acks_due.size()) {
        const std::size_t n = std::min(kSyncMaxAcksPerMessage, p.acks_due.size() - done);
        scratch_.begin(header(SyncType::Ack));
        scratch_.put_u64(p.acks_epoch);
        scratch_.put_u16(static_cast<std::uint16_t>(n));
        for (std::size_t i = 0; i < n; ++i) scratch_.put_u64(p.acks_due[done + i]);
        send(peer, scratch_, false, now);
        stats_.count(SyncCounter::AcksSent, n);
        done += n;
    }
    p.acks_due.clear();
}

bool SyncEngine::busy() const {
    if (!ready_ || overflow_scan_left_ > 0) return true;
    return std::any_of(peers_.begin(), peers_.end(),
                       [](const Peer& p) { return p.dumping || !p.acks_due.empty() || !p.unacked.empty(); });
}

void SyncEngine::tick(Nanos now) {
    for (std::size_t peer = 0; peer < peers_.size(); ++peer) {
        Peer& p = peers_[peer];
        SyncPeerStatus& s = p.status;
        flush_acks(peer, now);
        if (s.state == PeerState::Up && now - s.last_heard > options_.peer_down_after) lose_peer(peer);
        // Silent for authentic messages: "authentication failing" while its
        // datagrams keep failing, "down" once they stop too.
        const bool failing = s.last_auth_failure >= Nanos{0} && now - s.last_auth_failure <= options_.peer_down_after;
        if (s.state == PeerState::Down && failing) s.state = PeerState::AuthFailing;
        if (s.state == PeerState::AuthFailing && !failing) s.state = PeerState::Down;
        for (Pending& pending : p.unacked) {
            if (now - pending.last_sent < options_.retransmit_after) continue;
            if (pending.retransmits >= options_.max_retransmits) {
                lose_peer(peer);
                break;
            }
            ++pending.retransmits;
            pending.last_sent = now;
            outgoing_.push_back(Outgoing{peer, pending.bytes});
            stats_.count(SyncCounter::Retransmits);
            stats_.count(SyncCounter::MessagesSent);
        }
        if (p.dumping) continue_dump(peer, now);
        if (!ready_ && !s.table_received && (p.last_table_request < Nanos{0} ||
                                             now - p.last_table_request >= options_.table_request_interval)) {
            scratch_.begin(header(SyncType::TableRequest));
            scratch_.put_u64(request_nonce_);
            send(peer, scratch_, false, now);
            p.last_table_request = now;
            stats_.count(SyncCounter::TableRequestsSent);
        }
        if (p.last_sent < Nanos{0} || now - p.last_sent >= options_.keepalive_interval) {
            scratch_.begin(header(SyncType::Keepalive));
            scratch_.put_u32(table_.size());
            scratch_.put_u8(ready_ ? 1 : 0);
            send(peer, scratch_, false, now);
        }
        s.unacked = p.unacked.size();
        s.lag = p.unacked.empty() ? Nanos{0} : now - p.unacked.front().first_sent;
    }
    if (!ready_) {
        const bool all = std::all_of(peers_.begin(), peers_.end(), [](const Peer& p) { return p.status.table_received; });
        if (all || now - started_ >= options_.startup_wait) {
            ready_ = true;
            for (std::size_t peer = 0; peer < peers_.size(); ++peer)
                if (!peers_[peer].status.table_received) silent_at_startup_.push_back(peer);
        }
    }
}

}  // namespace sctplb
