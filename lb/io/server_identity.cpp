#include "io/server_identity.hpp"

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <algorithm>
#include <ctime>

#include <libmnl/libmnl.h>

namespace sctplb {

std::optional<std::uint32_t> match_server(const std::vector<ServerNextHop>& servers,
                                          const std::vector<Neighbour>& neighbours, std::uint32_t ifindex,
                                          const MacAddress& mac) {
    for (const Neighbour& n : neighbours) {
        if (n.mac != mac || n.ifindex != ifindex) continue;
        for (const ServerNextHop& s : servers)
            if (s.nexthop == n.address) return s.fwmark;
    }
    return std::nullopt;
}

namespace {

struct DumpContext {
    std::vector<Neighbour>* out;
};

int on_attribute(const nlattr* attribute, void* data) {
    auto* table = static_cast<const nlattr**>(data);
    const auto type = mnl_attr_get_type(attribute);
    if (type <= NDA_MAX) table[type] = attribute;
    return MNL_CB_OK;
}

int on_neighbour(const nlmsghdr* header, void* data) {
    auto* context = static_cast<DumpContext*>(data);
    if (header->nlmsg_type != RTM_NEWNEIGH) return MNL_CB_OK;
    const auto* message = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(header));
    if (message->ndm_state & (NUD_FAILED | NUD_INCOMPLETE | NUD_NOARP)) return MNL_CB_OK;
    Neighbour n;
    n.ifindex = static_cast<std::uint32_t>(message->ndm_ifindex);
    std::array<const nlattr*, NDA_MAX + 1> table{};
    mnl_attr_parse(header, sizeof(ndmsg), on_attribute, table.data());
    const nlattr* dst = table[NDA_DST];
    const nlattr* lladdr = table[NDA_LLADDR];
    const bool have_address = dst != nullptr && (mnl_attr_get_payload_len(dst) == 4 || mnl_attr_get_payload_len(dst) == 16);
    const bool have_mac = lladdr != nullptr && mnl_attr_get_payload_len(lladdr) == 6;
    if (have_address) {
        const auto length = mnl_attr_get_payload_len(dst);
        const auto* bytes = static_cast<const std::uint8_t*>(mnl_attr_get_payload(dst));
        std::array<std::uint8_t, 16> raw{};
        std::memcpy(raw.data(), bytes, length);
        n.address = length == 4 ? IpAddress::v4((std::uint32_t{raw[0]} << 24) | (std::uint32_t{raw[1]} << 16) |
                                                (std::uint32_t{raw[2]} << 8) | raw[3])
                                : IpAddress::v6(raw);
    }
    if (have_mac) std::memcpy(n.mac.data(), mnl_attr_get_payload(lladdr), 6);
    if (have_address && have_mac) context->out->push_back(n);
    return MNL_CB_OK;
}

}  // namespace

std::vector<Neighbour> read_neighbours(std::string& error) {
    std::vector<Neighbour> out;
    mnl_socket* socket = mnl_socket_open(NETLINK_ROUTE);
    if (socket == nullptr || mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
        error = "rtnetlink: ";
        error += std::strerror(errno);
        if (socket != nullptr) mnl_socket_close(socket);
        return out;
    }
    std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE * 4);
    nlmsghdr* request = mnl_nlmsg_put_header(buffer.data());
    request->nlmsg_type = RTM_GETNEIGH;
    request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    const std::uint32_t sequence = static_cast<std::uint32_t>(std::time(nullptr));
    request->nlmsg_seq = sequence;
    auto* message = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(request, sizeof(ndmsg)));
    message->ndm_family = AF_UNSPEC;
    const std::uint32_t port = mnl_socket_get_portid(socket);
    if (mnl_socket_sendto(socket, request, request->nlmsg_len) < 0) {
        error = "rtnetlink send: ";
        error += std::strerror(errno);
        mnl_socket_close(socket);
        return out;
    }
    DumpContext context{&out};
    for (;;) {
        const ssize_t n = mnl_socket_recvfrom(socket, buffer.data(), buffer.size());
        if (n <= 0) {
            error = "rtnetlink receive: ";
            error += std::strerror(errno);
            break;
        }
        const int status = mnl_cb_run(buffer.data(), static_cast<std::size_t>(n), sequence, port, on_neighbour, &context);
        if (status <= MNL_CB_STOP) break;
    }
    mnl_socket_close(socket);
    return out;
}

ServerIdentity::ServerIdentity(std::vector<ServerNextHop> servers, Reader reader)
    : servers_(std::move(servers)), reader_(std::move(reader)) {
    if (!reader_)
        reader_ = [] {
            std::string error;
            return read_neighbours(error);
        };
}

bool ServerIdentity::missed_recently(std::uint32_t ifindex, const MacAddress& mac, Nanos now) const {
    for (const Miss& m : misses_)
        if (m.ifindex == ifindex && m.mac == mac && now - m.at < std::chrono::milliseconds(100)) return true;
    return false;
}

std::optional<std::uint32_t> ServerIdentity::identify(std::uint32_t ifindex, const MacAddress& mac, Nanos now) {
    if (auto fwmark = match_server(servers_, neighbours_, ifindex, mac)) return fwmark;
    if (missed_recently(ifindex, mac, now)) return std::nullopt;
    constexpr int kBurst = 8;
    constexpr Nanos kRefill = std::chrono::milliseconds(10);
    if (now > refilled_) {
        const auto earned = (now - refilled_) / kRefill;
        if (earned > 0) {
            tokens_ = static_cast<int>(std::min<std::int64_t>(kBurst, tokens_ + earned));
            refilled_ += earned * kRefill;
        }
    }
    if (tokens_ <= 0) return std::nullopt;
    neighbours_ = reader_();
    auto fwmark = match_server(servers_, neighbours_, ifindex, mac);
    if (!fwmark) {
        --tokens_;  // only reads that found nothing cost: a real server's first INIT is free
        misses_[next_miss_] = Miss{ifindex, mac, now};
        next_miss_ = (next_miss_ + 1) % misses_.size();
    }
    return fwmark;
}

}  // namespace sctplb
