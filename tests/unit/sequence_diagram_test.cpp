// The sequence diagram of `sctplb replay --diagram`: lanes, arrows, escaping,
// the bound and the association filter, checked on the SVG text.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "cli/sequence_diagram.hpp"
#include "cli/svg_writer.hpp"

namespace {

using sctplb::cli::DiagramDirection;
using sctplb::cli::DiagramPacket;
using sctplb::cli::DiagramRecorder;
using sctplb::cli::DiagramSelection;
using sctplb::cli::DiagramTitle;
using sctplb::cli::render_sequence_diagram;

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

DiagramPacket to_vip(std::uint64_t number, const char* client, const char* chunks, std::uint32_t fwmark,
                     const char* reason, std::uint32_t association = 1) {
    DiagramPacket p;
    p.number = number;
    p.offset_ns = static_cast<std::int64_t>(number) * 1'000'000;
    p.direction = DiagramDirection::ToVip;
    p.client = client;
    p.vip = "10.0.0.1";
    p.client_port = 53506;
    p.server_port = 36412;
    p.vtag = 0xf4eb64fb;
    p.chunks = chunks;
    p.decision = "accept  fwmark ";
    p.decision += std::to_string(fwmark);
    p.decision += "  ";
    p.decision += reason;
    p.server = fwmark;
    p.association = association;
    p.tc = 0x40b49043;
    p.ts = 0xf4eb64fb;
    return p;
}

DiagramPacket dropped(std::uint64_t number, const char* client) {
    DiagramPacket p = to_vip(number, client, "DATA", 0, "", 0);
    p.decision = "drop  unknown-association";
    p.dropped = true;
    p.server.reset();
    p.tc = p.ts = 0;
    p.vtag = 0x0badcafe;
    return p;
}

DiagramPacket from_vip(std::uint64_t number, const char* client, const char* chunks, std::uint32_t server) {
    DiagramPacket p = to_vip(number, client, chunks, server, "");
    p.direction = DiagramDirection::FromVip;
    p.decision = "accept  server-to-client";
    p.vtag = 0x40b49043;
    return p;
}

std::string render(const std::vector<DiagramPacket>& packets) {
    return render_sequence_diagram(
        DiagramTitle{.capture = "c.pcap", .vips = {"10.0.0.1", "10.0.0.2"}, .matched = packets.size(),
                     .selection = "first 200 packets"},
        packets);
}

TEST(SequenceDiagram, OneLanePerClientAddressTheLbAndEachServer) {
    const std::string svg = render({to_vip(1, "192.168.2.221", "INIT", 2, "init-hash"),
                                    from_vip(2, "192.168.2.221", "INIT_ACK", 2),
                                    to_vip(3, "192.168.6.221", "HEARTBEAT_ACK", 2, "established"),
                                    to_vip(4, "192.168.9.9", "INIT", 3, "init-hash", 2)});
    EXPECT_EQ(count(svg, "<g class=\"lane\">"), 3u + 1u + 2u);
    for (const char* name : {">192.168.2.221<", ">192.168.6.221<", ">192.168.9.9<", ">10.0.0.1, 10.0.0.2<",
                             ">fwmark 2<", ">fwmark 3<"})
        EXPECT_EQ(count(svg, name), 1u) << name;
    EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
    EXPECT_EQ(count(svg, "</svg>"), 1u);
}

TEST(SequenceDiagram, OneArrowPerPacketWithItsDecisionAndDropsEndInACross) {
    const std::string svg = render({to_vip(1, "192.168.2.221", "INIT", 2, "init-hash"),
                                    dropped(2, "192.168.2.221"),
                                    from_vip(3, "192.168.2.221", "SACK", 2)});
    EXPECT_EQ(count(svg, "<g class=\"packet\">"), 3u);
    EXPECT_EQ(count(svg, "<polygon"), 3u);  // one arrow head per packet
    EXPECT_EQ(count(svg, ">accept  fwmark 2  init-hash<"), 1u);
    EXPECT_EQ(count(svg, ">drop  unknown-association<"), 1u);
    EXPECT_EQ(count(svg, ">accept  server-to-client<"), 1u);
    EXPECT_EQ(count(svg, "stroke=\"#cf222e\" stroke-width=\"2.5\""), 2u + 2u);  // the drop's cross + the legend's
    EXPECT_NE(svg.find(">INIT  192.168.2.221:53506 -&gt; 10.0.0.1:36412  vtag 0xf4eb64fb<"), std::string::npos);
    EXPECT_NE(svg.find(">SACK  10.0.0.1:36412 -&gt; 192.168.2.221:53506  vtag 0x40b49043<"), std::string::npos);
    EXPECT_NE(svg.find(">0.001000 s<"), std::string::npos);
    EXPECT_NE(svg.find(">#1  ports 53506 -&gt; 36412  Tc 0x40b49043  Ts 0xf4eb64fb  server fwmark 2<"),
              std::string::npos);
}

TEST(SequenceDiagram, EachPathHasItsOwnColourInTheLegend) {
    DiagramPacket path_b = to_vip(2, "192.168.6.221", "DATA", 2, "established");
    path_b.vip = "10.0.0.2";
    const std::string svg = render({to_vip(1, "192.168.2.221", "DATA", 2, "established"), path_b});
    EXPECT_NE(svg.find("fill=\"#0550ae\" font-size=\"11\">path 192.168.2.221 &lt;-&gt; 10.0.0.1<"),
              std::string::npos);
    EXPECT_NE(svg.find("fill=\"#8250df\" font-size=\"11\">path 192.168.6.221 &lt;-&gt; 10.0.0.2<"),
              std::string::npos);
}

TEST(SequenceDiagram, LabelsAreEscaped) {
    DiagramPacket p = to_vip(1, "192.168.2.221", "<&>\"'", 1, "<script>");
    p.client = "<&>";
    const std::string svg =
        render_sequence_diagram(DiagramTitle{.capture = "a<b>&c.pcap", .vips = {"10.0.0.1"}, .matched = 1,
                                             .selection = "first 1 packets"},
                                {p});
    EXPECT_EQ(svg.find("<&>"), std::string::npos);
    EXPECT_EQ(svg.find("<script>"), std::string::npos);
    EXPECT_NE(svg.find("&lt;&amp;&gt;&quot;&apos;"), std::string::npos);
    EXPECT_NE(svg.find("a&lt;b&gt;&amp;c.pcap"), std::string::npos);
    EXPECT_EQ(sctplb::cli::xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
}

TEST(SequenceDiagram, RecorderKeepsTheFirstNAndCountsTheRest) {
    DiagramRecorder recorder(DiagramSelection{.max_packets = 3});
    for (std::uint64_t n = 1; n <= 10; ++n) recorder.offer(to_vip(n, "192.168.2.221", "DATA", 1, "established"));
    ASSERT_EQ(recorder.packets().size(), 3u);
    EXPECT_EQ(recorder.packets().front().number, 1u);
    EXPECT_EQ(recorder.packets().back().number, 3u);
    EXPECT_EQ(recorder.matched(), 10u);
    EXPECT_EQ(count(render(recorder.packets()), "<g class=\"packet\">"), 3u);
}

TEST(SequenceDiagram, RecorderSelectsOneAssociationByNumberOrByEitherTag) {
    std::vector<DiagramPacket> offered;
    for (std::uint64_t n = 1; n <= 6; ++n) offered.push_back(to_vip(n, "192.168.2.221", "DATA", 1, "established", n % 2 + 1));
    offered[1].tc = 0x11111111;  // association 1 (odd numbers): its packets 2, 4, 6
    offered[1].ts = 0x22222222;
    offered[3].tc = offered[3].ts = 0x33333333;  // after a restart: new tags, same association
    offered[3].vtag = 0x33333333;
    offered.push_back(dropped(7, "192.168.2.221"));  // no association, but its vtag
    offered.back().vtag = 0x22222222;

    DiagramRecorder by_number(DiagramSelection{.association = 1});
    DiagramRecorder by_tc(DiagramSelection{.vtag = 0x11111111});
    DiagramRecorder by_ts(DiagramSelection{.vtag = 0x22222222});
    for (const DiagramPacket& p : offered) {
        by_number.offer(p);
        by_tc.offer(p);
        by_ts.offer(p);
    }
    auto numbers = [](const DiagramRecorder& r) {
        std::vector<std::uint64_t> out;
        for (const DiagramPacket& p : r.packets()) out.push_back(p.number);
        return out;
    };
    EXPECT_EQ(numbers(by_number), (std::vector<std::uint64_t>{2, 4, 6}));
    EXPECT_EQ(numbers(by_tc), (std::vector<std::uint64_t>{2, 4, 6}));
    EXPECT_EQ(numbers(by_ts), (std::vector<std::uint64_t>{2, 4, 6, 7}));
}

TEST(SequenceDiagram, ByServerTagTheInitBeforeItIsDrawnToo) {
    // An INIT names only Tc; Ts shows first in the COOKIE ECHO (DSR view).
    DiagramPacket init = to_vip(1, "192.168.2.221", "INIT", 1, "init-hash", 5);
    init.vtag = 0;
    init.ts = 0;
    DiagramPacket other = to_vip(2, "192.168.9.9", "INIT", 2, "init-hash", 6);
    other.vtag = other.ts = 0;
    other.tc = 0x77777777;
    const DiagramPacket cookie_echo = to_vip(3, "192.168.2.221", "COOKIE_ECHO", 1, "cookie-echo-matched", 5);
    DiagramRecorder by_ts(DiagramSelection{.vtag = cookie_echo.ts});
    for (const DiagramPacket& p : {init, other, cookie_echo}) by_ts.offer(p);
    ASSERT_EQ(by_ts.packets().size(), 2u);
    EXPECT_EQ(by_ts.packets()[0].number, 1u);
    EXPECT_EQ(by_ts.packets()[1].number, 3u);
    EXPECT_EQ(by_ts.matched(), 2u);
}

TEST(SequenceDiagram, NothingMatchedStillGivesADocument) {
    const std::string svg = render({});
    EXPECT_EQ(count(svg, "<g class=\"packet\">"), 0u);
    EXPECT_NE(svg.find("no packet to or from a VIP matched"), std::string::npos);
    EXPECT_EQ(count(svg, "</svg>"), 1u);
}

}  // namespace
