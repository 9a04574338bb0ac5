// `sctplb replay --diagram`: a capture as a sequence diagram. Lanes are the
// client addresses, the load balancer (the VIPs) and the servers (targets);
// one arrow per packet, with sctplb's decision beside every client packet.
// Pure text building: the command writes the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sctplb::cli {

enum class DiagramDirection : std::uint8_t {
    ToVip,    // client -> VIP: decided by the LB, forwarded to a target or dropped
    FromVip,  // VIP -> client: a server's answer (DSR: it does not pass the LB's decision)
};

// One packet as the diagram draws it, with the words replay prints.
struct DiagramPacket {
    std::uint64_t number = 0;     // frame number in the capture
    std::int64_t offset_ns = 0;   // since the capture's first packet
    DiagramDirection direction = DiagramDirection::ToVip;
    std::string client;           // the client's address (source of ToVip, destination of FromVip)
    std::string vip;
    std::uint16_t client_port = 0;
    std::uint16_t server_port = 0;
    std::uint32_t vtag = 0;
    std::string chunks;           // "COOKIE_ECHO", "DATA,SACK", ...
    std::string decision;         // "accept fwmark 2 established", "drop unknown-association"
    bool dropped = false;
    // ToVip: the target it went to; FromVip: the server that sent it, when its
    // association is known. nullopt: the arrow ends (or starts) at the LB.
    std::optional<std::uint32_t> server;
    // The association, numbered in the order the capture shows them (1, 2, ...);
    // 0: none known. Its tags as known at this packet (0: not yet).
    std::uint32_t association = 0;
    std::uint32_t tc = 0;
    std::uint32_t ts = 0;
};

inline constexpr std::size_t kDiagramDefaultPackets = 200;
inline constexpr std::size_t kDiagramMaxPackets = 10000;

// Which packets to draw: the first `max_packets` of those offered, or of one association.
struct DiagramSelection {
    std::size_t max_packets = kDiagramDefaultPackets;
    std::optional<std::uint32_t> association{};  // by index
    std::optional<std::uint32_t> vtag{};         // by either of its tags (Tc or Ts)
};

// Collects the packets to draw, in capture order, up to the bound.
class DiagramRecorder {
public:
    explicit DiagramRecorder(DiagramSelection selection) : selection_(selection) {}

    // Keeps `packet` when it is selected and the bound is not reached.
    void offer(DiagramPacket packet);

    [[nodiscard]] const std::vector<DiagramPacket>& packets() const { return packets_; }
    // Offered packets the selection matched, drawn or beyond the bound.
    [[nodiscard]] std::uint64_t matched() const { return matched_; }

private:
    // An association's packets kept until one names the chosen tag: its handshake (an INIT and
    // retransmissions), for at most this many associations at a time.
    static constexpr std::size_t kWaitingPackets = 8;
    static constexpr std::size_t kWaitingAssociations = 4096;

    [[nodiscard]] bool selected(const DiagramPacket& packet) const;
    [[nodiscard]] bool names_tag(const DiagramPacket& packet) const;
    void keep(DiagramPacket packet);
    void wait(DiagramPacket packet);

    DiagramSelection selection_;
    std::optional<std::uint32_t> vtag_association_;  // the association the chosen vtag belongs to
    std::map<std::uint32_t, std::vector<DiagramPacket>> waiting_;
    std::vector<DiagramPacket> packets_;
    std::uint64_t matched_ = 0;
};

// The associations among `packets` by number, each with its last packet (its latest tags).
[[nodiscard]] std::map<std::uint32_t, const DiagramPacket*> last_packet_of_each_association(
    const std::vector<DiagramPacket>& packets);

struct DiagramTitle {
    std::string capture{};             // the capture's name
    std::vector<std::string> vips{};   // the LB lane's label
    std::uint64_t matched = 0;         // packets the selection matched (the drawn ones are the first)
    std::string selection{};           // "first 200 packets", "association #2", ...
};

// The whole SVG document.
[[nodiscard]] std::string render_sequence_diagram(const DiagramTitle& title, const std::vector<DiagramPacket>& packets);

}  // namespace sctplb::cli
