#include "cli/sequence_diagram.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <string_view>
#include <utility>

#include "cli/svg_writer.hpp"
#include "io/association_export.hpp"

namespace sctplb::cli {

void DiagramRecorder::offer(DiagramPacket packet) {
    if (selection_.vtag && !vtag_association_ && !names_tag(packet)) {
        wait(std::move(packet));
        return;
    }
    if (!selected(packet)) return;
    if (selection_.vtag && packet.association != 0 && !vtag_association_) {
        // The tag's association is known now: its earlier packets come first.
        vtag_association_ = packet.association;
        if (const auto found = waiting_.find(packet.association); found != waiting_.end())
            for (DiagramPacket& earlier : found->second) keep(std::move(earlier));
        waiting_.clear();
        std::stable_sort(packets_.begin(), packets_.end(),
                         [](const DiagramPacket& a, const DiagramPacket& b) { return a.number < b.number; });
    }
    keep(std::move(packet));
}

void DiagramRecorder::keep(DiagramPacket packet) {
    ++matched_;
    if (packets_.size() < selection_.max_packets) packets_.push_back(std::move(packet));
}

bool DiagramRecorder::names_tag(const DiagramPacket& packet) const {
    const std::uint32_t tag = *selection_.vtag;
    return packet.vtag == tag || packet.tc == tag || packet.ts == tag;
}

// Before a packet names the chosen tag its association is unknown: an INIT
// carries only Tc, and Ts shows first in the INIT ACK or the COOKIE ECHO
// (RFC 9260 §5.1). Each association's first packets wait, within bounds.
void DiagramRecorder::wait(DiagramPacket packet) {
    if (packet.association == 0) return;
    const auto found = waiting_.find(packet.association);
    if (found == waiting_.end()) {
        if (waiting_.size() < kWaitingAssociations) waiting_[packet.association].push_back(std::move(packet));
    } else if (found->second.size() < kWaitingPackets) {
        found->second.push_back(std::move(packet));
    }
}

bool DiagramRecorder::selected(const DiagramPacket& packet) const {
    if (selection_.association) return packet.association == *selection_.association;
    if (!selection_.vtag) return true;
    // By tag: the packets naming it, and every packet of its association,
    // even after a restart (RFC 9260 §5.2.2) changed both tags.
    return (vtag_association_ && packet.association == *vtag_association_) || names_tag(packet);
}

std::map<std::uint32_t, const DiagramPacket*> last_packet_of_each_association(
    const std::vector<DiagramPacket>& packets) {
    std::map<std::uint32_t, const DiagramPacket*> last;
    for (const DiagramPacket& p : packets)
        if (p.association != 0) last[p.association] = &p;
    return last;
}

namespace {

// Layout, in px; labels are monospace.
constexpr int kFontSize = 11;
constexpr double kTimeColumn = 130;   // frame number, time, association
constexpr double kLaneGap = 260;
constexpr double kFirstLane = kTimeColumn + 120;
constexpr double kLaneBoxWidth = 220;
constexpr double kHeaderTop = 56;     // lane boxes
constexpr double kHeaderHeight = 40;
constexpr double kFirstRow = kHeaderTop + kHeaderHeight + 40;
constexpr double kRowHeight = 38;
constexpr double kLegendLine = 17;

constexpr std::string_view kDropRed = "#cf222e";
constexpr std::string_view kAcceptGreen = "#1a7f37";
constexpr std::string_view kMuted = "#57606a";
constexpr std::string_view kLifeline = "#8c959f";
// One colour per path (client address, VIP); no red or green, which mean drop and accept.
constexpr std::array<std::string_view, 8> kPathColours = {"#0550ae", "#8250df", "#bc4c00", "#1b7c83",
                                                          "#bf3989", "#6f4e37", "#0a3069", "#7d4e00"};

std::string seconds(std::int64_t ns) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6f s", static_cast<double>(ns) / 1e9);
    return text;
}

std::string endpoint(const std::string& address, std::uint16_t port) {
    // [v6]:port as in URLs (RFC 3986 §3.2.2): the colons of the address stay readable.
    const bool v6 = address.find(':') != std::string::npos;
    std::string text;
    if (v6) text += '[';
    text += address;
    if (v6) text += ']';
    text += ':';
    text += std::to_string(port);
    return text;
}

// The lanes, left to right: clients in the order they appear, the LB, servers by fwmark.
struct Lanes {
    std::vector<std::string> clients;
    std::vector<std::uint32_t> servers;

    [[nodiscard]] std::size_t count() const { return clients.size() + 1 + servers.size(); }
    [[nodiscard]] double client_x(const std::string& client) const {
        const auto at = std::find(clients.begin(), clients.end(), client) - clients.begin();
        return kFirstLane + static_cast<double>(at) * kLaneGap;
    }
    [[nodiscard]] double lb_x() const { return kFirstLane + static_cast<double>(clients.size()) * kLaneGap; }
    [[nodiscard]] double server_x(std::uint32_t fwmark) const {
        const auto at = std::find(servers.begin(), servers.end(), fwmark) - servers.begin();
        return lb_x() + static_cast<double>(at + 1) * kLaneGap;
    }
};

Lanes lanes_of(const std::vector<DiagramPacket>& packets) {
    Lanes lanes;
    for (const DiagramPacket& p : packets) {
        if (std::find(lanes.clients.begin(), lanes.clients.end(), p.client) == lanes.clients.end())
            lanes.clients.push_back(p.client);
        if (p.server && std::find(lanes.servers.begin(), lanes.servers.end(), *p.server) == lanes.servers.end())
            lanes.servers.push_back(*p.server);
    }
    std::sort(lanes.servers.begin(), lanes.servers.end());
    return lanes;
}

// A path is one (client address, VIP) pair: SCTP multihoming runs an association over several.
class PathColours {
public:
    std::string_view of(const DiagramPacket& p) {
        const auto key = std::make_pair(p.client, p.vip);
        auto found = std::find(paths_.begin(), paths_.end(), key);
        if (found == paths_.end()) {
            paths_.push_back(key);
            found = paths_.end() - 1;
        }
        return kPathColours[static_cast<std::size_t>(found - paths_.begin()) % kPathColours.size()];
    }
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& paths() const { return paths_; }

private:
    std::vector<std::pair<std::string, std::string>> paths_;
};

void draw_lane(SvgWriter& svg, double x, double bottom, std::string_view kind, std::string_view name,
               std::string_view fill) {
    svg.begin_group("lane");
    svg.line(x, kHeaderTop + kHeaderHeight, x, bottom, {.stroke = kLifeline, .width = 1, .dash = "4 4"});
    svg.rect(x - kLaneBoxWidth / 2, kHeaderTop, kLaneBoxWidth, kHeaderHeight, fill, "#57606a");
    svg.text(x, kHeaderTop + 16, kind, {.fill = kMuted, .size = kFontSize, .anchor = "middle"});
    svg.text(x, kHeaderTop + 32, name, {.size = 12, .bold = true, .anchor = "middle"});
    svg.end_group();
}

void draw_cross(SvgWriter& svg, double x, double y) {
    const LineStyle red{.stroke = kDropRed, .width = 2.5};
    svg.line(x - 5, y - 5, x + 5, y + 5, red);
    svg.line(x - 5, y + 5, x + 5, y - 5, red);
}

void draw_arrow(SvgWriter& svg, double from, double to, double y, std::string_view colour) {
    svg.line(from, y, to, y, {.stroke = colour, .width = 1.6});
    const double back = to > from ? -9 : 9;
    svg.triangle(to, y, to + back, y - 4, to + back, y + 4, colour);
}

void draw_packet(SvgWriter& svg, const Lanes& lanes, const DiagramPacket& p, double y, std::string_view colour) {
    const double client = lanes.client_x(p.client);
    const double lb = lanes.lb_x();
    const double server = p.server ? lanes.server_x(*p.server) : lb;
    const bool to_vip = p.direction == DiagramDirection::ToVip;

    svg.begin_group("packet");
    svg.text(8, y - 4, seconds(p.offset_ns), {.size = kFontSize});
    std::string frame = "frame ";
    frame += std::to_string(p.number);
    if (p.association != 0) {
        frame += "  #";
        frame += std::to_string(p.association);
    }
    svg.text(8, y + 10, frame, {.fill = kMuted, .size = 10});

    std::string label = p.chunks;
    label += "  ";
    label += to_vip ? endpoint(p.client, p.client_port) : endpoint(p.vip, p.server_port);
    label += " -> ";
    label += to_vip ? endpoint(p.vip, p.server_port) : endpoint(p.client, p.client_port);
    label += "  vtag ";
    label += tag_hex(p.vtag);
    svg.text(std::min(client, server) + 8, y - 7, label, {.fill = colour, .size = kFontSize, .halo = true});

    if (to_vip && p.dropped) {
        draw_arrow(svg, client, lb - 8, y, colour);
        draw_cross(svg, lb, y);
    } else if (to_vip) {
        draw_arrow(svg, client, server, y, colour);
    } else {
        draw_arrow(svg, server, client, y, colour);
    }
    // The decision beside the LB lane, where it was taken: bold for client packets.
    const TextStyle decision{.fill = !to_vip ? kMuted : p.dropped ? kDropRed : kAcceptGreen,
                             .size = kFontSize,
                             .bold = to_vip};
    svg.text(lb + 10, y + 15, p.decision, decision);
    svg.end_group();
}

void draw_legend(SvgWriter& svg, double top, const PathColours& colours,
                 const std::map<std::uint32_t, const DiagramPacket*>& associations) {
    svg.begin_group("legend");
    double y = top;
    svg.text(8, y, "Legend", {.size = 12, .bold = true});
    for (std::size_t i = 0; i < colours.paths().size(); ++i) {
        y += kLegendLine;
        const std::string_view colour = kPathColours[i % kPathColours.size()];
        svg.line(8, y - 4, 48, y - 4, {.stroke = colour, .width = 2});
        std::string text = "path ";
        text += colours.paths()[i].first;
        text += " <-> ";
        text += colours.paths()[i].second;
        svg.text(56, y, text, {.fill = colour, .size = kFontSize});
    }
    y += kLegendLine;
    draw_cross(svg, 28, y - 4);
    svg.text(56, y, "dropped by the LB (the arrow ends at the LB lane)", {.size = kFontSize});
    y += kLegendLine;
    svg.text(56, y, "beside the LB lane: sctplb's verdict, fwmark and reason for a client packet (as replay prints them)",
             {.fill = kAcceptGreen, .size = kFontSize, .bold = true});
    y += kLegendLine;
    svg.text(56, y, "grey: a VIP's packet to a client, passed unmarked; drawn from its association's server when known",
             {.fill = kMuted, .size = kFontSize});
    for (const auto& [index, p] : associations) {
        y += kLegendLine;
        std::string text = "#";
        text += std::to_string(index);
        text += "  ports ";
        text += std::to_string(p->client_port);
        text += " -> ";
        text += std::to_string(p->server_port);
        text += "  Tc ";
        text += tag_hex(p->tc);
        text += "  Ts ";
        text += tag_hex(p->ts);
        if (p->server) {
            text += "  server fwmark ";
            text += std::to_string(*p->server);
        }
        svg.text(56, y, text, {.size = kFontSize});
    }
    svg.end_group();
}

std::size_t legend_lines(const PathColours& colours, std::size_t associations) {
    return 1 + colours.paths().size() + 3 + associations;
}

}  // namespace

std::string render_sequence_diagram(const DiagramTitle& title, const std::vector<DiagramPacket>& packets) {
    const Lanes lanes = lanes_of(packets);
    PathColours colours;
    for (const DiagramPacket& p : packets) (void)colours.of(p);
    const auto associations = last_packet_of_each_association(packets);

    const double rows_bottom = kFirstRow + static_cast<double>(std::max<std::size_t>(packets.size(), 1)) * kRowHeight;
    const double legend_top = rows_bottom + 24;
    const double height = legend_top + static_cast<double>(legend_lines(colours, associations.size())) * kLegendLine + 16;
    // Room for the widest label to the right of the last lane.
    const double width = std::max(kFirstLane + static_cast<double>(lanes.count() - 1) * kLaneGap + 380, 900.0);
    SvgWriter svg(static_cast<int>(width), static_cast<int>(height));

    std::string heading = "sctplb replay: ";
    heading += title.capture;
    svg.text(8, 20, heading, {.size = 14, .bold = true});
    std::string subheading = title.selection;
    subheading += ": ";
    subheading += std::to_string(packets.size());
    subheading += " drawn of ";
    subheading += std::to_string(title.matched);
    subheading += " to or from a VIP; time since the capture's first packet";
    svg.text(8, 38, subheading, {.fill = kMuted, .size = kFontSize});

    for (const std::string& client : lanes.clients)
        draw_lane(svg, lanes.client_x(client), rows_bottom, "client", client, "#ddf4ff");
    std::string vips;
    for (const std::string& vip : title.vips) {
        if (!vips.empty()) vips += ", ";
        vips += vip;
    }
    draw_lane(svg, lanes.lb_x(), rows_bottom, "sctplb (VIPs)", vips, "#fff8c5");
    for (const std::uint32_t fwmark : lanes.servers) {
        std::string name = "fwmark ";
        name += std::to_string(fwmark);
        draw_lane(svg, lanes.server_x(fwmark), rows_bottom, "server (target)", name, "#dafbe1");
    }

    double y = kFirstRow;
    for (const DiagramPacket& p : packets) {
        draw_packet(svg, lanes, p, y, colours.of(p));
        y += kRowHeight;
    }
    if (packets.empty())
        svg.text(kFirstLane, kFirstRow, "no packet to or from a VIP matched", {.fill = kMuted, .size = kFontSize});
    draw_legend(svg, legend_top, colours, associations);
    return svg.finish();
}

}  // namespace sctplb::cli
