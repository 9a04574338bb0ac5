// A capture through one decider, as `sctplb replay` runs it: fwmarks 1..3, M = 997, a table of
// 1024, clocked by the capture. For tests that check the verdicts of real associations.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/decider.hpp"
#include "core/maglev.hpp"
#include "core/packet.hpp"
#include "io/pcap_input.hpp"
#include "table_fixture.hpp"

namespace sctplb::test {

struct ReplayedPacket {
    std::uint64_t frame;  // the capture's frame number
    Direction direction;  // In: to a VIP, Out: from a VIP
    ParsedPacket parsed;
    Verdict verdict;
};

struct CaptureReplay {
    std::vector<ReplayedPacket> packets;
    Counters counters;
    std::vector<Association> associations;  // the table at the end
};

// Empty, with `error` set, when the capture cannot be read.
inline std::optional<CaptureReplay> replay_capture(const std::string& path, std::span<const IpAddress> vips,
                                                   HashMode mode, std::uint16_t encap_port, std::string& error) {
    auto input = PcapInput::open(path, error);
    if (!input) return std::nullopt;
    CaptureReplay out;
    HeapTable table(TableLimits{.capacity = 1024}, Timeouts{});
    KeyedHash hash;
    std::vector<std::uint32_t> maglev(997);
    if (!maglev_populate(hash, std::vector<std::uint32_t>{1, 2, 3}, maglev)) {
        error = "maglev_populate failed";
        return std::nullopt;
    }
    Decider decider(DeciderConfig{mode}, hash, *table);
    CapturedPacket captured;
    while (input->next(captured, error) == PcapInput::ReadStatus::Packet) {
        ReplayedPacket r{captured.number, Direction::Other, {}, {}};
        parse_packet(captured.ip, ParseOptions{encap_port}, r.parsed);
        for (const IpAddress& vip : vips) {
            if (r.parsed.dst == vip) r.direction = Direction::In;
            if (r.parsed.src == vip) r.direction = Direction::Out;
        }
        r.verdict = decider.decide(r.parsed, r.direction, maglev, captured.timestamp, out.counters);
        out.packets.push_back(r);
    }
    table->for_each([&](AssociationId, const Association& a) { out.associations.push_back(a); });
    return out;
}

// Tc -> Ts from the INIT ACKs (an INIT ACK carries Tc as its verification tag).
inline std::map<std::uint32_t, std::uint32_t> ts_by_tc(const CaptureReplay& r) {
    std::map<std::uint32_t, std::uint32_t> map;
    for (const auto& p : r.packets)
        if (p.parsed.ok() && p.parsed.has_init_ack) map[p.parsed.vtag] = p.parsed.init.initiate_tag;
    return map;
}

}  // namespace sctplb::test
