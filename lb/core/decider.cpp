#include "core/decider.hpp"

#include <algorithm>

#include "core/maglev.hpp"

namespace sctplb {

std::string_view action_name(Action action) {
    return action == Action::Drop ? "drop" : "accept";
}

std::string_view reason_name(Reason reason) {
    switch (reason) {
#define SCTPLB_REASON_NAME(id, name) \
    case Reason::id: return name;
        SCTPLB_REASONS(SCTPLB_REASON_NAME)
#undef SCTPLB_REASON_NAME
    }
    return "?";
}

std::string_view event_name(Event event) {
    switch (event) {
#define SCTPLB_EVENT_NAME(id, name) \
    case Event::id: return name;
        SCTPLB_EVENTS(SCTPLB_EVENT_NAME)
#undef SCTPLB_EVENT_NAME
    }
    return "?";
}

std::string_view hash_mode_name(HashMode mode) { return mode == HashMode::Vtag ? "vtag" : "ports"; }

std::optional<HashMode> parse_hash_mode(std::string_view text) {
    if (text == "vtag") return HashMode::Vtag;
    if (text == "ports") return HashMode::Ports;
    return std::nullopt;
}

std::string_view direction_name(Direction direction) {
    switch (direction) {
        case Direction::In: return "in";
        case Direction::Out: return "out";
        case Direction::Other: return "other";
        case Direction::FromServer: return "from-server";
    }
    return "?";
}

Reason reason_for_parse_status(ParseStatus status) {
    switch (status) {
        case ParseStatus::Ok: return Reason::Established;  // not a failure; never used as such
        case ParseStatus::NotIp: return Reason::NotIp;
        case ParseStatus::BadIpHeader: return Reason::BadIpHeader;
        case ParseStatus::IpFragment: return Reason::IpFragment;
        case ParseStatus::ExtensionChainTooLong:
        case ParseStatus::BadExtensionHeader: return Reason::BadExtensionHeader;
        case ParseStatus::NotSctp: return Reason::NotSctp;
        case ParseStatus::BadUdpHeader: return Reason::BadUdpHeader;
        case ParseStatus::BadSctpHeader: return Reason::BadSctpHeader;
        case ParseStatus::NoChunks:
        case ParseStatus::BadChunkLength: return Reason::BadChunk;
        case ParseStatus::TooManyChunks: return Reason::TooManyChunks;
        case ParseStatus::BadInit: return Reason::BadInit;
        case ParseStatus::BadParameter:
        case ParseStatus::TooManyParameters: return Reason::BadParameter;
        case ParseStatus::InitBundled: return Reason::InitBundled;
    }
    return Reason::NotIp;
}

namespace {
constexpr Verdict accept_unmarked(Reason reason) { return Verdict{Action::AcceptUnmarked, reason, 0}; }
constexpr Verdict drop(Reason reason) { return Verdict{Action::Drop, reason, 0}; }
}  // namespace

std::uint64_t Decider::init_key(std::uint16_t sport, std::uint16_t dport,
                                std::uint32_t initiate_tag) const {
    // Identical for every retransmission of an INIT, on any path and on every
    // LB instance with the same seed, and as random as Tc.
    return hash_.hash_u64_pair((std::uint64_t{sport} << 16) | dport, initiate_tag);
}

std::uint64_t Decider::ports_key(std::uint16_t sport, std::uint16_t dport) const {
    return hash_.hash_u64((std::uint64_t{sport} << 16) | dport);
}

std::uint32_t Decider::new_association_target(const ParsedPacket& init,
                                             std::span<const std::uint32_t> maglev) const {
    return maglev_lookup(maglev, config_.mode == HashMode::Vtag
                                     ? init_key(init.sport, init.dport, init.init.initiate_tag)
                                     : ports_key(init.sport, init.dport));
}

Verdict Decider::forward(AssociationId id, Reason reason) {
    return Verdict{Action::AcceptMarked, reason, table_.at(id).fwmark};
}

Verdict Decider::decide(const ParsedPacket& p, Direction direction,
                        std::span<const std::uint32_t> maglev, Nanos now, Counters& counters) {
    Verdict v;
    if (direction == Direction::Other) {
        v = accept_unmarked(Reason::NotForVip);
    } else if (direction == Direction::FromServer) {
        return decide_from_server(p, kNoTarget, now, counters);  // no sender identified
    } else if (p.status == ParseStatus::IpFragment && fragments_ != nullptr) {
        v = decide_fragment(p, now);
    } else if (p.ok() && p.icmp_error) {
        v = decide_icmp_error(p, maglev, now, counters);
    } else if (p.status == ParseStatus::NotSctp) {
        v = accept_unmarked(Reason::NotSctp);
    } else if (!p.ok()) {
        v = drop(reason_for_parse_status(p.status));
    } else {
        if (p.truncated) counters.count(Event::TruncatedPacket);
        if (p.has_init && p.init.host_name_seen) counters.count(Event::HostNameIgnored);
        // An INIT ACK always travels server -> client, whatever the caller knew.
        if (direction == Direction::Out || p.has_init_ack) {
            if (!p.has_init_ack) {
                v = accept_unmarked(Reason::ServerToClient);
            } else if (auto to_server = direction == Direction::In ? init_ack_to_server(p, now, counters)
                                                                  : std::nullopt) {
                v = *to_server;
            } else {
                v = learn_init_ack(p, now, counters);
                // An INIT ACK *to* a VIP answers a server's INIT (design.md,
                // server-initiated). Unknown here, that INIT may have left
                // through another LB whose sync record is still on its way:
                // never forwarded unmarked, held for the sync, then dropped.
                if (direction == Direction::In && v.reason == Reason::InitAckUnknown)
                    v = drop(Reason::PeerInitAckUnknown);
            }
        } else
            v = decide_in(p, maglev, now, counters);
    }
    // The other fragments of this packet go the same way. Not while the
    // verdict may still change (a packet held awaiting the sync): they wait too.
    const bool final_verdict = !(config_.unknown_may_resolve && dropped_as_unknown(v));
    if (fragments_ != nullptr && p.fragment.present && p.fragment.first && final_verdict)
        fragments_->record(p, v, now, counters);
    counters.count(v.reason);
    return v;
}

std::optional<Verdict> Decider::refuse_new_association(const ParsedPacket& init, Nanos now) {
    if (admission_ == nullptr) return std::nullopt;
    switch (admission_->admit(init.src, now)) {
        case AdmissionControl::Decision::Admit: return std::nullopt;
        case AdmissionControl::Decision::NotAllowed: return drop(Reason::InitNotAllowed);
        case AdmissionControl::Decision::RateLimited: return drop(Reason::InitRateLimited);
    }
    return std::nullopt;
}

AssociationId Decider::settled(const AssociationTable::Found& found, Nanos now, Counters& counters) {
    if (found.due != kNoAssociation) [[unlikely]]
        if (const auto expired = table_.settle(found, now)) counters.count(*expired);
    return found.id;
}

Verdict Decider::decide_fragment(const ParsedPacket& p, Nanos now) {
    const auto first = fragments_->find(p, now);
    if (!first) return drop(Reason::IpFragment);  // not seen (yet): the data path holds it a while
    if (first->action == Action::Drop) return drop(Reason::FragmentOfDropped);
    return Verdict{first->action, Reason::FragmentFollows, first->fwmark};
}

Verdict Decider::decide_icmp_error(const ParsedPacket& p, std::span<const std::uint32_t> maglev, Nanos now,
                                   Counters& counters) {
    // The quoted packet went VIP -> client, so its vtag is the client's tag Tc
    // (RFC 9260 §8.5) and its destination the client: the by-Tc key with the
    // ports turned round. "Fragmentation needed" / "packet too big" then reach
    // the server that sent the packet, and path MTU discovery works through
    // DSR (RFC 1191, RFC 8201).
    const IcmpQuote& q = p.icmp;
    const AssociationId id = settled(table_.find_by_tc(q.dst, q.dport, q.sport, q.vtag, now), now, counters);
    if (id != kNoAssociation) return forward(id, Reason::IcmpError);
    if (config_.mode == HashMode::Ports) {
        // nfqlb's stateless promise: the ports hash, not pinned (an error creates nothing).
        const std::uint32_t fwmark = maglev_lookup(maglev, ports_key(q.dport, q.sport));
        if (fwmark != kNoTarget) return Verdict{Action::AcceptMarked, Reason::IcmpError, fwmark};
    }
    return drop(Reason::IcmpUnknown);
}

namespace {
// What decide_batch() does for a packet before deciding it, chosen once when
// the packet enters the pipeline.
enum class BatchLookup : std::uint8_t {
    None,              // decide() it, nothing prefetched
    ByTs,              // decide() it; decide_in() looks it up by Ts first: prefetched
    PlainEstablished,  // prefetched, and forward_plain_established() may decide it
};

BatchLookup batch_lookup(const ParsedPacket& p, Direction direction) {
    // Every packet decide_in() looks up by Ts first (the common case).
    const bool by_ts = direction == Direction::In && p.ok() && p.vtag != 0 && !p.t_bit && !p.has_init &&
                       !p.has_init_ack;
    if (!by_ts) return BatchLookup::None;
    // A client -> VIP packet that decide_in() routes by (source, ports, Ts) and
    // forwards without changing anything but last_seen: none of the chunks that
    // change an association (INIT, COOKIE ECHO, ABORT, SHUTDOWN ACK/COMPLETE,
    // ASCONF), no T bit (RFC 9260 §8.5.1: routed by Tc), nothing to count beside
    // the verdict (truncation), no fragment whose verdict is recorded.
    const bool plain = !p.icmp_error && !p.truncated && p.chunk_count != 0 && !p.has_cookie_echo &&
                       !p.has_abort && !p.has_shutdown_ack && !p.has_shutdown_complete && !p.has_asconf &&
                       !p.fragment.present;
    return plain ? BatchLookup::PlainEstablished : BatchLookup::ByTs;
}
}  // namespace

// Defined before decide_batch() and inline, so that its loop makes no call for
// the common case (the table's lookup path is inline too).
inline std::optional<std::uint32_t> Decider::plain_established_fwmark(const ParsedPacket& p,
                                                                      std::uint32_t slot_hash, Nanos now) {
    const AssociationTable::Found found =
        table_.find_by_ts_hashed(slot_hash, p.src, p.sport, p.dport, p.vtag, now);
    // Unknown (drop or ports-mode pin) or awaiting maintenance: decide() settles it.
    if (found.id == kNoAssociation || found.due != kNoAssociation) return std::nullopt;
    const Association& a = table_.at(found.id);
    // A server-initiated half-open entry is established by this packet (decide_in).
    if (a.state == AssociationState::HalfOpen && a.server_initiated) return std::nullopt;
    table_.touch(found.id, now);
    return a.fwmark;
}

void Decider::decide_batch(std::span<const ParsedPacket* const> packets,
                           std::span<const Direction> directions, std::span<const std::uint32_t> maglev,
                           Nanos now, Counters& counters, std::span<Verdict> verdicts) {
    // A software pipeline over the batch: packet i + 2D has its key hashed and
    // its index slot prefetched, packet i + D its slot read (arrived by now)
    // and its record prefetched, packet i is decided. Each miss then hides
    // behind D decisions, and only ~2D lines are in flight (a whole batch of
    // prefetches at once overflows the core's miss buffers and stalls).
    constexpr std::size_t kDistance = 8;
    constexpr std::size_t kRing = 32;  // > 2D: a packet's hash lives from its prefetch to its decision
    std::array<std::uint32_t, kRing> slot_hash{};
    std::array<BatchLookup, kRing> lookup{};
    // The plain established forwards are counted once per batch: a counter
    // written per packet may alias the record's last_seen write, so the
    // compiler cannot keep it in a register.
    std::uint64_t established = 0;
    const std::size_t n = packets.size();
    for (std::size_t i = 0; i < n + 2 * kDistance; ++i) {
        if (i < n) {
            const ParsedPacket& p = *packets[i];
            lookup[i % kRing] = batch_lookup(p, directions[i]);
            if (lookup[i % kRing] != BatchLookup::None)
                slot_hash[i % kRing] = table_.prefetch_ts_slot(p.src, p.sport, p.dport, p.vtag);
        }
        if (i >= kDistance && i - kDistance < n && lookup[(i - kDistance) % kRing] != BatchLookup::None)
            table_.prefetch_ts_record(slot_hash[(i - kDistance) % kRing]);
        if (i < 2 * kDistance) continue;
        const std::size_t j = i - 2 * kDistance;
        const ParsedPacket& p = *packets[j];
        // The verdict is written straight into verdicts[j] (not built in a
        // std::optional<Verdict> on the stack and copied).
        std::optional<std::uint32_t> fwmark;
        if (lookup[j % kRing] == BatchLookup::PlainEstablished)
            fwmark = plain_established_fwmark(p, slot_hash[j % kRing], now);
        if (fwmark) {
            ++established;
            verdicts[j] = Verdict{Action::AcceptMarked, Reason::Established, *fwmark};
        } else {
            verdicts[j] = decide(p, directions[j], maglev, now, counters);
        }
    }
    counters.count(Reason::Established, established);
}

Verdict Decider::decide_in(const ParsedPacket& p, std::span<const std::uint32_t> maglev, Nanos now,
                           Counters& counters) {
    if (p.chunk_count == 0) return drop(Reason::Truncated);  // cut before the first chunk
    if (p.has_init) return decide_init(p, maglev, now, counters);
    if (p.has_cookie_echo) return decide_cookie_echo(p, maglev, now, counters);

    // RFC 9260 §8.5.1: ABORT and SHUTDOWN COMPLETE with the T bit carry the
    // receiver's own tag reflected: for client -> server that is Tc.
    if (p.t_bit) {
        const AssociationId id = settled(table_.find_by_tc(p.src, p.sport, p.dport, p.vtag, now), now, counters);
        if (id == kNoAssociation) return unknown(p, maglev, now, counters, Reason::UnknownAssociation);
        table_.touch(id, now);
        if (p.has_abort || p.has_shutdown_complete) {
            table_.set_state(id, AssociationState::Closed, now);
            counters.count(Event::Closed);
        }
        return forward(id, Reason::TBit);
    }

    AssociationId id = settled(table_.find_by_ts(p.src, p.sport, p.dport, p.vtag, now), now, counters);
    // RFC 5061 §4.1.1: an ASCONF may come from the address it adds; its Address
    // Parameter names an address the association already has.
    if (id == kNoAssociation && p.has_asconf && p.asconf.has_lookup_address)
        id = settled(table_.find_by_ts(p.asconf.lookup_address, p.sport, p.dport, p.vtag, now), now, counters);
    if (id == kNoAssociation) return unknown(p, maglev, now, counters, Reason::UnknownAssociation);
    table_.touch(id, now);
    // A server-initiated association: the server's COOKIE ECHO left directly,
    // so the peer's COOKIE ACK (or anything after it) is the first sign here.
    if (table_.at(id).server_initiated && table_.at(id).state == AssociationState::HalfOpen &&
        !(p.has_abort || p.has_shutdown_complete))
        table_.establish(id, now);

    Reason reason = Reason::Established;
    if (p.has_asconf) {
        // The LB cannot verify AUTH (RFC 4895): ASCONF may add addresses, never
        // remove them. A wildcard Add-IP means the packet's source (RFC 5061 §4.2).
        reason = Reason::Asconf;
        if (!table_.add_address(id, p.src)) counters.count(Event::AddressesOverflowed);
        for (std::size_t i = 0; i < p.asconf.added_count; ++i) {
            const IpAddress& added = p.asconf.added[i].is_unspecified() ? p.src : p.asconf.added[i];
            const bool known = table_.at(id).has_address(added);
            if (!table_.add_address(id, added))
                counters.count(Event::AddressesOverflowed);
            else if (!known)
                counters.count(Event::AsconfAddressAdded);
        }
        if (p.asconf.added_overflowed) counters.count(Event::AddressesOverflowed);
        for (std::size_t i = 0; i < p.asconf.deleted_count; ++i) counters.count(Event::AsconfDeleteIgnored);
    }
    if (p.has_abort || p.has_shutdown_complete) {
        table_.set_state(id, AssociationState::Closed, now);
        counters.count(Event::Closed);
    } else if (p.has_shutdown_ack && table_.at(id).state != AssociationState::Closed) {
        table_.set_state(id, AssociationState::Closing, now);
    }
    return forward(id, reason);
}

Verdict Decider::decide_init(const ParsedPacket& p, std::span<const std::uint32_t> maglev, Nanos now,
                             Counters& counters) {
    // RFC 9260 §8.5.1: a packet carrying INIT must have a zero verification tag.
    if (p.vtag != 0) return drop(Reason::InitBadVtag);
    const std::uint32_t tc = p.init.initiate_tag;
    if (p.init.addresses_overflowed) counters.count(Event::AddressesOverflowed);
    // Cut by a capture or NFQUEUE copy range: the address parameters after the
    // cut are unknown, so packets from those addresses will be dropped as
    // unknown. Balanced all the same (the INIT's own key is complete).
    if (p.truncated) counters.count(Event::InitTruncated);

    // An INIT retransmission carries the same Tc, maybe on another path.
    AssociationId id = settled(table_.find_by_tc(p.src, p.sport, p.dport, tc, now), now, counters);
    if (id != kNoAssociation && table_.at(id).state == AssociationState::HalfOpen) {
        table_.touch(id, now);
        for (std::size_t i = 0; i < p.init.address_count; ++i)
            if (!table_.add_address(id, p.init.addresses[i])) counters.count(Event::AddressesOverflowed);
        return forward(id, Reason::InitRetransmit);
    }

    // An INIT from the peer of a live association (same address and ports):
    // RFC 9260 §5.2.2 restart. The association keeps its server.
    id = settled(table_.find_by_peer(p.src, p.sport, p.dport, now), now, counters);
    if (id != kNoAssociation) {
        const AssociationState state = table_.at(id).state;
        if (state == AssociationState::HalfOpen && table_.at(id).server_initiated) {
            // §5.2.1 INIT collision: the peer opens the association its server
            // is opening; the server's stack resolves it, so it goes there.
            table_.touch(id, now);
            return forward(id, Reason::InitRestart);
        }
        if (state == AssociationState::HalfOpen) {
            // The client gave up on its earlier attempt and started anew (new Tc):
            // the new INIT is balanced as any new association would be.
            if (auto refused = refuse_new_association(p, now)) return *refused;
            const std::uint32_t fwmark = new_association_target(p, maglev);
            if (fwmark == kNoTarget) return drop(Reason::NoTarget);
            table_.replace_half_open(id, tc, fwmark, now);
            counters.count(Event::ReplacedHalfOpen);
            return forward(id, Reason::InitHash);
        }
        table_.mark_restart_pending(id, tc, now);
        return forward(id, Reason::InitRestart);
    }
    // An INIT listing an address of a live association with the same ports
    // (from another source address): one peer cannot have two associations
    // (RFC 9260 §5.2.1); the server decides (a restart with new addresses is
    // refused, §5.2.2). Routed like a restart of that association, and no
    // second entry is made under the same keys.
    for (std::size_t i = 0; i < p.init.address_count; ++i) {
        id = settled(table_.find_by_peer(p.init.addresses[i], p.sport, p.dport, now), now, counters);
        if (id == kNoAssociation) continue;
        if (table_.at(id).state != AssociationState::HalfOpen) table_.mark_restart_pending(id, tc, now);
        return forward(id, Reason::InitRestart);
    }

    if (auto refused = refuse_new_association(p, now)) return *refused;
    const std::uint32_t fwmark = new_association_target(p, maglev);
    if (fwmark == kNoTarget) return drop(Reason::NoTarget);

    // RFC 9260 §5.1.2: the source address plus every address parameter.
    std::array<IpAddress, kMaxAddresses + 1> addresses{};
    std::size_t count = 0;
    addresses[count++] = p.src;
    for (std::size_t i = 0; i < p.init.address_count; ++i) addresses[count++] = p.init.addresses[i];
    id = table_.insert_half_open(std::span(addresses.data(), count), p.sport, p.dport, tc, fwmark, now,
                                 counters);
    if (id == kNoAssociation) return drop(Reason::TableFull);
    return forward(id, Reason::InitHash);
}

Verdict Decider::decide_cookie_echo(const ParsedPacket& p, std::span<const std::uint32_t> maglev,
                                    Nanos now, Counters& counters) {
    // The COOKIE ECHO is the first packet with Ts; it may come on another path
    // than the INIT. By (address, ports, Ts) first: an INIT ACK seen, or a
    // retransmitted COOKIE ECHO.
    AssociationId id = settled(table_.find_by_ts(p.src, p.sport, p.dport, p.vtag, now), now, counters);
    if (id != kNoAssociation) {
        table_.touch(id, now);
        const AssociationState state = table_.at(id).state;
        if (state == AssociationState::HalfOpen) {
            table_.establish(id, now);
            return forward(id, Reason::CookieEcho);
        }
        if (state == AssociationState::RestartPending && table_.at(id).ts != p.vtag) {
            table_.complete_restart(id, p.vtag, now);
            counters.count(Event::Restarted);
            return forward(id, Reason::CookieEchoRestart);
        }
        return forward(id, Reason::CookieEcho);
    }
    // Else the half-open or restart-pending entry of this peer.
    id = settled(table_.find_by_peer(p.src, p.sport, p.dport, now), now, counters);
    if (id != kNoAssociation) {
        const AssociationState state = table_.at(id).state;
        if (state == AssociationState::HalfOpen) {
            table_.touch(id, now);
            table_.set_ts(id, p.vtag);
            table_.establish(id, now);
            return forward(id, Reason::CookieEchoMatched);
        }
        if (state == AssociationState::RestartPending) {
            table_.touch(id, now);
            table_.complete_restart(id, p.vtag, now);
            counters.count(Event::Restarted);
            return forward(id, Reason::CookieEchoRestart);
        }
        // An established association's COOKIE ECHO with an unknown tag is
        // not ours to guess (§5.2.4 cases B-D are for the server to decide).
    }
    return unknown(p, maglev, now, counters, Reason::CookieEchoUnknown);
}

Verdict Decider::learn_init_ack(const ParsedPacket& p, Nanos now, Counters& counters) {
    // INIT ACK, server -> client: vtag = Tc, initiate tag = Ts. The client is the destination.
    const AssociationId id = settled(table_.find_by_tc(p.dst, p.dport, p.sport, p.vtag, now), now, counters);
    if (id == kNoAssociation) return accept_unmarked(Reason::InitAckUnknown);
    const Association& a = table_.at(id);
    if (a.state == AssociationState::HalfOpen) {
        table_.set_ts(id, p.init.initiate_tag);
        counters.count(Event::TsLearned);
    }
    table_.add_server_address(id, p.src);
    for (std::size_t i = 0; i < p.init.address_count; ++i) table_.add_server_address(id, p.init.addresses[i]);
    return accept_unmarked(Reason::InitAckLearned);
}

Verdict Decider::decide_from_server(const ParsedPacket& p, std::uint32_t server_fwmark, Nanos now,
                                    Counters& counters) {
    Verdict v;
    if (server_fwmark == kNoTarget)
        v = drop(Reason::ServerInitSpoofed);  // not from a configured server: creates nothing
    else if (!p.ok())
        v = drop(reason_for_parse_status(p.status));
    else if (!p.has_init)
        v = drop(Reason::ServerNotInit);
    else
        v = server_init(p, server_fwmark, now, counters);
    counters.count(v.reason);
    return v;
}

Verdict Decider::server_init(const ParsedPacket& p, std::uint32_t server_fwmark, Nanos now,
                             Counters& counters) {
    // The server's INIT: VIP:server port -> peer:peer port, initiate tag = the
    // tag the peer will put in every packet to the VIPs (RFC 9260 §5.1, §8.5).
    // In the table the peer plays the client: keys (peer, peer port, server port, tag).
    if (p.vtag != 0) return drop(Reason::InitBadVtag);
    const std::uint32_t tag = p.init.initiate_tag;
    const std::uint16_t peer_port = p.dport;
    const std::uint16_t server_port = p.sport;
    // A retransmission carries the same tag, maybe to another peer address.
    AssociationId id = settled(table_.find_by_peer(p.dst, peer_port, server_port, now), now, counters);
    if (id == kNoAssociation) {
        // The INIT may go to a peer address learned from an earlier INIT ACK
        // only under the same tag: found by Ts from any address of the entry.
        id = settled(table_.find_by_ts(p.dst, peer_port, server_port, tag, now), now, counters);
    }
    if (id != kNoAssociation) {
        const Association& a = table_.at(id);
        // One peer address and port pair to one VIP port is one association
        // (RFC 9260 §2.4): only its own server may restart it.
        if (a.fwmark != server_fwmark) return drop(Reason::ServerInitConflict);
        table_.touch(id, now);
        if (a.ts == tag) return accept_unmarked(Reason::ServerInitRetransmit);
        if (a.state == AssociationState::HalfOpen && a.server_initiated) {
            table_.set_ts(id, tag);  // the server gave up its earlier attempt
            return accept_unmarked(Reason::ServerInit);
        }
        if (a.state == AssociationState::HalfOpen) return drop(Reason::ServerInitConflict);
        // §5.2.2: the server restarts (or opens anew after a client-initiated
        // association with the same peer and ports): it keeps its own server.
        table_.restart_server_initiated(id, tag, now);
        table_.add_server_address(id, p.src);
        return accept_unmarked(Reason::ServerInitRestart);
    }
    id = table_.insert_server_initiated(p.dst, peer_port, server_port, tag, p.src, server_fwmark, now, counters);
    if (id == kNoAssociation) return drop(Reason::TableFull);
    return accept_unmarked(Reason::ServerInit);
}

std::optional<Verdict> Decider::init_ack_to_server(const ParsedPacket& p, Nanos now, Counters& counters) {
    // Peer -> VIP INIT ACK: vtag = the server's tag (its INIT's initiate tag),
    // initiate tag = the peer's tag, address parameters = every peer address (§5.1.2).
    AssociationId id = settled(table_.find_by_ts(p.src, p.sport, p.dport, p.vtag, now), now, counters);
    for (std::size_t i = 0; id == kNoAssociation && i < p.init.address_count; ++i)
        id = settled(table_.find_by_ts(p.init.addresses[i], p.sport, p.dport, p.vtag, now), now, counters);
    if (id == kNoAssociation || !table_.at(id).server_initiated) return std::nullopt;
    table_.touch(id, now);
    if (!table_.add_address(id, p.src)) counters.count(Event::AddressesOverflowed);
    for (std::size_t i = 0; i < p.init.address_count; ++i)
        if (!table_.add_address(id, p.init.addresses[i])) counters.count(Event::AddressesOverflowed);
    if (p.init.addresses_overflowed) counters.count(Event::AddressesOverflowed);
    if (table_.at(id).ts == p.vtag) table_.set_tc(id, p.init.initiate_tag);
    return forward(id, Reason::InitAckToServer);
}

Verdict Decider::unknown(const ParsedPacket& p, std::span<const std::uint32_t> maglev, Nanos now,
                         Counters& counters, Reason drop_reason) {
    // A packet sent to the wrong server makes it ABORT the association
    // (RFC 9260 §8.4 rule 8): in vtag mode, never guess.
    if (config_.mode == HashMode::Vtag) return drop(drop_reason);
    // Ports mode keeps nfqlb's stateless promise (any instance, any path) and
    // pins what it chose, so a later target change does not move it.
    const std::uint32_t fwmark = maglev_lookup(maglev, ports_key(p.sport, p.dport));
    if (fwmark == kNoTarget) return drop(Reason::NoTarget);
    if (!p.t_bit && !(p.has_abort || p.has_shutdown_complete)) {
        // With the table full the packet still goes by the stateless hash, unpinned.
        if (table_.insert_established(p.src, p.sport, p.dport, p.vtag, fwmark, now) == kNoAssociation)
            counters.count(Event::PinFailed);
    }
    return Verdict{Action::AcceptMarked, Reason::PortsHash, fwmark};
}

}  // namespace sctplb
