// The netlink transport of nf_tables: one socket, batches with an error per message, dump and get requests.
#include "io/nft_netlink.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>

namespace sctplb::nft {
namespace {

constexpr std::size_t kReceiveBufferBytes = 1 << 17;
constexpr int kSocketBufferBytes = 4 << 20;

}  // namespace

std::string errno_text(int code) { return std::strerror(code); }

Batch::Batch(std::uint32_t first_sequence) : begin_sequence(first_sequence), next_sequence(first_sequence) {
    auto* header = nftnl_batch_begin(room(256), next_sequence++);
    commit(header);
}

nlmsghdr* Batch::header(std::uint16_t type, std::uint16_t flags, std::string label, std::size_t bytes) {
    sequences.push_back(next_sequence);
    labels.push_back(std::move(label));
    return nftnl_nlmsg_build_hdr(room(bytes), type, NFPROTO_INET, flags, next_sequence++);
}

void Batch::commit(nlmsghdr* header) { used += NLMSG_ALIGN(header->nlmsg_len); }

void Batch::finish() { commit(nftnl_batch_end(room(256), next_sequence++)); }

char* Batch::room(std::size_t bytes) {
    if (buffer.size() < used + bytes) buffer.resize(std::max(buffer.size() * 2, used + bytes));
    std::fill_n(buffer.begin() + static_cast<std::ptrdiff_t>(used), bytes, 0);
    return buffer.data() + used;
}

void Netlink::SocketCloser::operator()(mnl_socket* socket) const { mnl_socket_close(socket); }

Netlink::Netlink(mnl_socket* socket)
    : socket_(socket), port_id_(mnl_socket_get_portid(socket)), receive_buffer_(kReceiveBufferBytes) {}
Netlink::Netlink(Netlink&&) noexcept = default;
Netlink& Netlink::operator=(Netlink&&) noexcept = default;
Netlink::~Netlink() = default;

std::optional<Netlink> Netlink::open(std::string& error) {
    mnl_socket* socket = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (socket == nullptr) {
        error = "netlink socket: " + errno_text(errno);
        return std::nullopt;
    }
    if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
        error = "netlink bind: " + errno_text(errno);
        mnl_socket_close(socket);
        return std::nullopt;
    }
    int fd = mnl_socket_get_fd(socket);
    // Acks without the echoed request, and room for many error reports
    // (best effort: without CAP_NET_ADMIN the FORCE variants fail, the defaults stay).
    int on = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
    int bytes = kSocketBufferBytes;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    return Netlink(socket);
}

bool Netlink::send_batch(Batch& batch, std::vector<int>& errors, std::string& error) {
    const std::uint32_t begin_sequence = batch.begin_sequence;
    batch.finish();
    sequence_ = batch.next_sequence;
    errors.assign(batch.messages(), 0);
    if (mnl_socket_sendto(socket_.get(), batch.buffer.data(), batch.used) < 0) {
        error = "netlink send: " + errno_text(errno);
        return false;
    }
    // The kernel handles a batch inside sendmsg(): every report is queued by now.
    int fd = mnl_socket_get_fd(socket_.get());
    for (;;) {
        pollfd poll_fd{fd, POLLIN, 0};
        int ready = ::poll(&poll_fd, 1, 0);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        ssize_t length = ::recv(fd, receive_buffer_.data(), receive_buffer_.size(), MSG_DONTWAIT);
        if (length < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ENOBUFS) {
                // Reports were lost: no message can be trusted to have worked.
                for (int& e : errors)
                    if (e == 0) e = ENOBUFS;
                continue;
            }
            error = "netlink receive: " + errno_text(errno);
            return false;
        }
        auto* header = reinterpret_cast<const nlmsghdr*>(receive_buffer_.data());  // our buffer, netlink framing
        int remaining = static_cast<int>(length);
        while (mnl_nlmsg_ok(header, remaining)) {
            if (header->nlmsg_type == NLMSG_ERROR &&
                header->nlmsg_len >= mnl_nlmsg_size(sizeof(nlmsgerr))) {
                const auto* report = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
                int code = -report->error;
                std::uint32_t sequence = header->nlmsg_seq;
                if (sequence == begin_sequence && code != 0) {
                    for (int& e : errors) e = code;  // the batch as a whole was refused
                } else if (!batch.sequences.empty() && sequence >= batch.sequences.front() &&
                           sequence <= batch.sequences.back()) {
                    errors[sequence - batch.sequences.front()] = code;
                }
            }
            header = mnl_nlmsg_next(header, &remaining);
        }
    }
    return true;
}

bool Netlink::send_batch_checked(Batch& batch, const std::string& context, std::string& error) {
    std::vector<int> errors;
    if (!send_batch(batch, errors, error)) return false;
    for (std::size_t i = 0; i < errors.size(); ++i) {
        if (errors[i] != 0) {
            error = context + ": " + batch.labels[i] + ": " + errno_text(errors[i]);
            return false;
        }
    }
    return true;
}

int Netlink::request(std::vector<char>& message, const std::function<void(const nlmsghdr*)>& on_message,
                     std::string& error) {
    auto* request_header = reinterpret_cast<nlmsghdr*>(message.data());  // built by libnftnl in our buffer
    const std::uint32_t sequence = request_header->nlmsg_seq;
    if (mnl_socket_sendto(socket_.get(), request_header, request_header->nlmsg_len) < 0) {
        error = "netlink send: " + errno_text(errno);
        return -1;
    }
    for (;;) {
        ssize_t length = mnl_socket_recvfrom(socket_.get(), receive_buffer_.data(), receive_buffer_.size());
        if (length < 0) {
            if (errno == EINTR) continue;
            error = "netlink receive: " + errno_text(errno);
            return -1;
        }
        auto* header = reinterpret_cast<const nlmsghdr*>(receive_buffer_.data());
        int remaining = static_cast<int>(length);
        while (mnl_nlmsg_ok(header, remaining)) {
            if (header->nlmsg_seq == sequence && header->nlmsg_pid == port_id_) {
                if (header->nlmsg_type == NLMSG_ERROR) {
                    if (header->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) return EPROTO;
                    return -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header))->error;
                }
                if (header->nlmsg_type == NLMSG_DONE) {
                    int code = 0;
                    if (header->nlmsg_len >= mnl_nlmsg_size(sizeof code))
                        std::memcpy(&code, mnl_nlmsg_get_payload(header), sizeof code);
                    return -code;
                }
                on_message(header);
            }
            header = mnl_nlmsg_next(header, &remaining);
        }
    }
}

}  // namespace sctplb::nft
