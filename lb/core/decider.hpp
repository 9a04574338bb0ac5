// decide(): which server gets this packet. The pinning rules of
// docs/design.md (RFC 9260 §5.1, §5.2.2, §8.5.1; RFC 5061 §4) in one place.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>
#include <optional>

#include "core/admission.hpp"
#include "core/association_table.hpp"
#include "core/fragment_table.hpp"
#include "core/keyed_hash.hpp"
#include "core/packet.hpp"
#include "core/verdict.hpp"

namespace sctplb {

enum class HashMode : std::uint8_t {
    Vtag,   // new associations keyed on (sport, dport, Tc); unknown packets dropped
    Ports,  // nfqlb's stateless choice on (sport, dport); every association still pinned
};
std::string_view hash_mode_name(HashMode mode);
std::optional<HashMode> parse_hash_mode(std::string_view text);

// Direction relative to the VIPs. The daemon only sees VIP traffic and passes
// In; an INIT ACK is recognised as server -> client whatever is passed.
enum class Direction : std::uint8_t {
    In,          // client -> VIP
    Out,         // VIP -> client
    Other,       // neither
    FromServer,  // VIP -> peer, routed through the LB by a server (its outbound INIT)
};
std::string_view direction_name(Direction direction);

struct DeciderConfig {
    HashMode mode = HashMode::Vtag;
    // An unknown-association verdict may still change (the data path holds
    // such packets awaiting the sync): a first fragment's later fragments then
    // wait for its final verdict instead of following the drop.
    bool unknown_may_resolve = false;
};

class Decider {
public:
    Decider(const DeciderConfig& config, const KeyedHash& hash, AssociationTable& table)
        : config_(config), hash_(hash), table_(table) {}

    // Non-first IP fragments follow their first fragment's verdict when a
    // fragment table is given (else they are dropped as ip-fragment).
    void set_fragment_table(FragmentTable* fragments) { fragments_ = fragments; }
    // INITs that would create an association pass admission control first (nullptr: none).
    void set_admission(AdmissionControl* admission) { admission_ = admission; }

    // `maglev` is the current lookup table (fwmark per slot).
    Verdict decide(const ParsedPacket& packet, Direction direction,
                   std::span<const std::uint32_t> maglev, Nanos now, Counters& counters);

    // A packet from the server side with a VIP source (the server's policy
    // routing sends its outbound INITs through the LB). `server_fwmark` is the
    // target the data path identified as the sender (kNoTarget: none, e.g. a
    // VIP-source INIT from the client side): only then is anything recorded.
    Verdict decide_from_server(const ParsedPacket& packet, std::uint32_t server_fwmark, Nanos now,
                               Counters& counters);

    // Decides a batch (e.g. one recvmmsg worth), prefetching the association
    // of every established-looking packet first so that the cache misses of
    // the batch overlap. Same verdicts as decide() packet by packet.
    void decide_batch(std::span<const ParsedPacket* const> packets, std::span<const Direction> directions,
                      std::span<const std::uint32_t> maglev, Nanos now, Counters& counters,
                      std::span<Verdict> verdicts);

    // The Maglev key of a new association in this mode (exposed for tests).
    [[nodiscard]] std::uint64_t init_key(std::uint16_t sport, std::uint16_t dport,
                                         std::uint32_t initiate_tag) const;
    [[nodiscard]] std::uint64_t ports_key(std::uint16_t sport, std::uint16_t dport) const;

    [[nodiscard]] const DeciderConfig& config() const { return config_; }

private:
    Verdict decide_in(const ParsedPacket& p, std::span<const std::uint32_t> maglev, Nanos now,
                      Counters& counters);
    Verdict decide_init(const ParsedPacket& p, std::span<const std::uint32_t> maglev, Nanos now,
                        Counters& counters);
    Verdict decide_cookie_echo(const ParsedPacket& p, std::span<const std::uint32_t> maglev,
                               Nanos now, Counters& counters);
    Verdict learn_init_ack(const ParsedPacket& p, Nanos now, Counters& counters);
    Verdict server_init(const ParsedPacket& p, std::uint32_t server_fwmark, Nanos now, Counters& counters);
    // The peer's INIT ACK to a VIP for an association its server opened; nullopt: none.
    std::optional<Verdict> init_ack_to_server(const ParsedPacket& p, Nanos now, Counters& counters);
    Verdict unknown(const ParsedPacket& p, std::span<const std::uint32_t> maglev, Nanos now,
                    Counters& counters, Reason drop_reason);
    Verdict forward(AssociationId id, Reason reason);
    // decide_batch()'s common case: a plain established packet (see decider.cpp)
    // found by its Ts key with the hash the batch computed for the prefetch,
    // the full key matched on the record: its association's fwmark (the
    // caller forwards and counts it). nullopt: not that case, decide() it.
    std::optional<std::uint32_t> plain_established_fwmark(const ParsedPacket& p, std::uint32_t slot_hash,
                                                          Nanos now);
    // The live association a lookup found, after applying the time-driven
    // change it saw due (an expired entry goes now, counted, so that what the
    // decision inserts next never sits beside it).
    AssociationId settled(const AssociationTable::Found& found, Nanos now, Counters& counters);
    Verdict decide_fragment(const ParsedPacket& p, Nanos now);
    // nullopt: admitted; else the drop verdict.
    std::optional<Verdict> refuse_new_association(const ParsedPacket& init, Nanos now);
    Verdict decide_icmp_error(const ParsedPacket& p, std::span<const std::uint32_t> maglev, Nanos now,
                              Counters& counters);
    // The Maglev target of a new association (an INIT), by the mode's key.
    [[nodiscard]] std::uint32_t new_association_target(const ParsedPacket& init,
                                                       std::span<const std::uint32_t> maglev) const;

    DeciderConfig config_;
    const KeyedHash& hash_;
    AssociationTable& table_;
    FragmentTable* fragments_ = nullptr;
    AdmissionControl* admission_ = nullptr;
};

// A drop because the association is not (yet) in the table: in vtag mode a
// peer's sync record may resolve it within milliseconds (held, then decided again).
[[nodiscard]] constexpr bool dropped_as_unknown(const Verdict& v) {
    return v.action == Action::Drop &&
           (v.reason == Reason::UnknownAssociation || v.reason == Reason::CookieEchoUnknown ||
            v.reason == Reason::PeerInitAckUnknown);
}

// Parse failures map to drop reasons one to one.
Reason reason_for_parse_status(ParseStatus status);

}  // namespace sctplb
