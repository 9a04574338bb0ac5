#include "io/nfqueue.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <linux/capability.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "core/byte_view.hpp"
#include "io/verdict_runs.hpp"

namespace sctplb {
namespace {

// The kernel caps the copy range at 0xffff minus one attribute header
// (NFQNL_MAX_COPY_RANGE in net/netfilter/nfnetlink_queue.c); 0 also means "all".
constexpr std::uint32_t kMaxCopyRange = kMaxNfQueueCopyRange;
// Netlink header, nfgenmsg and the attributes around the payload (packet
// header, mark, timestamp, interfaces, hardware header, lengths, ...) stay far
// below this.
constexpr std::size_t kMessageOverhead = 1024;
// One verdict message: nlmsghdr 16 + nfgenmsg 4 + verdict header 12 + mark 8.
constexpr std::size_t kVerdictMessageBytes = 64;
constexpr std::size_t kMaxBatch = kMaxNfQueueBatch;
constexpr std::uint16_t kPacketMessageType = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;

static_assert(apply_mark(0x00000100, 0x01, 0xff) == 0x00000101);
static_assert(apply_mark(0xffffffff, 0x00, 0x0000ff00) == 0xffff00ff);
static_assert(apply_mark(0x12345678, 0xabcdef01, 0xffffffff) == 0xabcdef01);
static_assert(apply_mark(0x12345678, 0xabcdef01, 0) == 0x12345678);

constexpr std::size_t round_up(std::size_t value, std::size_t to) {
    return (value + to - 1) / to * to;
}

std::span<const std::byte> attribute_bytes(const nlattr* attribute) {
    return {static_cast<const std::byte*>(mnl_attr_get_payload(attribute)),
            mnl_attr_get_payload_len(attribute)};
}

std::optional<std::uint32_t> attribute_be32(const nlattr* attribute) {
    if (attribute == nullptr) return std::nullopt;
    return ByteView(attribute_bytes(attribute)).be32(0);
}

std::string errno_text(int error) { return std::strerror(error); }

// Netlink headers are in host byte order (netlink(7)); copied, never overlaid.
template <typename T>
std::optional<T> host_order(std::span<const std::byte> bytes, std::size_t offset) {
    if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return std::nullopt;
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

bool has_net_admin() {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
    if (syscall(SYS_capget, &header, data.data()) != 0) return true;  // cannot tell: do not claim
    return (data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32))) != 0;
}

// The netlink port id bound to `queue` in this network namespace, from
// /proc/net/netfilter/nfnetlink_queue ("queue portid total mode range ...").
std::optional<std::uint32_t> queue_owner_port(std::uint16_t queue) {
    std::ifstream file("/proc/net/netfilter/nfnetlink_queue");
    std::string line;
    while (std::getline(file, line)) {
        std::istringstream fields(line);
        unsigned long number = 0, port = 0;
        if (fields >> number >> port && number == queue) return static_cast<std::uint32_t>(port);
    }
    return std::nullopt;
}

std::string refusal_text(std::uint16_t queue, const char* step, int error) {
    std::string text = "NFQUEUE: ";
    if (error == EPERM && !has_net_admin()) {
        text += "binding queue " + std::to_string(queue) + " needs CAP_NET_ADMIN";
    } else if (error == EPERM || error == EBUSY) {
        // The kernel answers EPERM when the queue instance belongs to another
        // netlink socket (nfqnl_recv_config: peer_portid mismatch).
        text += "queue " + std::to_string(queue) + " is already bound by another process";
        if (auto port = queue_owner_port(queue)) {
            text += " (netlink port id " + std::to_string(*port) + ", normally its process id)";
        }
    } else {
        text += std::string(step) + " for queue " + std::to_string(queue) + " failed: " +
                errno_text(error);
    }
    return text;
}

}  // namespace

void NfQueue::SocketCloser::operator()(mnl_socket* socket) const {
    if (socket != nullptr) mnl_socket_close(socket);
}

NfQueue::NfQueue(NfQueue&&) noexcept = default;
NfQueue& NfQueue::operator=(NfQueue&&) noexcept = default;
NfQueue::~NfQueue() = default;

int NfQueue::fd() const { return socket_ ? mnl_socket_get_fd(socket_.get()) : -1; }

std::optional<NfQueue> NfQueue::open(const NfQueueOptions& requested, std::string& error) {
    NfQueueOptions options = requested;
    if (options.copy_range == 0 || options.copy_range > kMaxCopyRange) options.copy_range = kMaxCopyRange;
    if (options.batch == 0 || options.batch > kMaxBatch) {
        error = "NFQUEUE: batch must be 1.." + std::to_string(kMaxBatch);
        return std::nullopt;
    }
    if (options.receive_timeout_ms == 0) {  // SO_RCVTIMEO 0 would block forever
        error = "NFQUEUE: receive timeout must be at least 1 ms";
        return std::nullopt;
    }
    if (options.max_len == 0) {
        error = "NFQUEUE: queue length must be at least 1";
        return std::nullopt;
    }

    NfQueue queue;
    queue.options_ = options;
    queue.socket_.reset(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
    if (!queue.socket_) {
        error = "NFQUEUE: netlink socket: " + errno_text(errno);
        return std::nullopt;
    }
    if (mnl_socket_bind(queue.socket_.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
        error = "NFQUEUE: netlink bind: " + errno_text(errno);
        return std::nullopt;
    }
    queue.port_id_ = mnl_socket_get_portid(queue.socket_.get());
    const int fd = queue.fd();

    // SO_RCVBUFFORCE passes rmem_max when we have CAP_NET_ADMIN; else the
    // plain option, silently capped by net.core.rmem_max.
    const int rcvbuf = static_cast<int>(std::min<std::uint32_t>(options.socket_rcvbuf, 1u << 30));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    // A receive timeout bounds every wait, so a stop flag is seen even when a
    // signal handler was installed with SA_RESTART (socket calls with a
    // timeout are not restarted past it, signal(7)).
    if (!queue.set_receive_timeout_ms(options.receive_timeout_ms)) {
        error = queue.last_error_;
        return std::nullopt;
    }

    // All buffers, once.
    queue.slot_size_ = round_up(options.copy_range + kMessageOverhead, 64);
    queue.receive_buffers_.resize(options.batch * queue.slot_size_);
    queue.receive_iovecs_.resize(options.batch);
    queue.receive_headers_.resize(options.batch);
    for (std::size_t i = 0; i < options.batch; ++i) {
        queue.receive_iovecs_[i].iov_base = queue.receive_buffers_.data() + i * queue.slot_size_;
        queue.receive_iovecs_[i].iov_len = queue.slot_size_;
        msghdr& header = queue.receive_headers_[i].msg_hdr;
        header = msghdr{};
        header.msg_iov = &queue.receive_iovecs_[i];
        header.msg_iovlen = 1;
    }
    // One datagram normally carries one packet (the kernel unicasts each
    // queued packet on its own); room for twice that, excess is requeued.
    queue.packets_.resize(options.batch * 2);
    queue.verdicts_.resize(options.batch * 2);
    // Also holds the four configuration messages (~130 bytes).
    queue.send_buffer_.resize(std::max<std::size_t>(options.batch * 2 * kVerdictMessageBytes, 512));

    if (!queue.configure(error)) return std::nullopt;
    return queue;
}

// Sends the configuration as separate messages, each with NLM_F_ACK, and reads
// every acknowledgement: without that a refused bind goes unnoticed and the
// process runs unbound (with --queue-bypass the traffic then passes
// unbalanced).
bool NfQueue::configure(std::string& error) {
    const std::uint16_t number = options_.queue;
    const std::uint32_t first_seq = static_cast<std::uint32_t>(time(nullptr));
    struct Step {
        const char* what;
        std::uint32_t seq;
        bool acknowledged;
    };
    std::array<Step, 4> steps{{{"bind", first_seq, false},
                               {"setting the copy range", first_seq + 1, false},
                               {"setting the queue length", first_seq + 2, false},
                               {"setting the flags", first_seq + 3, false}}};

    std::byte* const buffer = send_buffer_.data();
    std::size_t length = 0;
    auto start_message = [&](std::uint32_t seq) {
        auto* message = nfq_nlmsg_put(reinterpret_cast<char*>(buffer + length), NFQNL_MSG_CONFIG, number);
        message->nlmsg_flags |= NLM_F_ACK;
        message->nlmsg_seq = seq;
        return message;
    };
    // Since Linux 3.8 a bind is per queue for every family: no PF_(UN)BIND.
    nlmsghdr* message = start_message(steps[0].seq);
    nfq_nlmsg_cfg_put_cmd(message, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
    length += NLMSG_ALIGN(message->nlmsg_len);
    message = start_message(steps[1].seq);
    nfq_nlmsg_cfg_put_params(message, NFQNL_COPY_PACKET, static_cast<int>(options_.copy_range));
    length += NLMSG_ALIGN(message->nlmsg_len);
    message = start_message(steps[2].seq);
    nfq_nlmsg_cfg_put_qmaxlen(message, options_.max_len);
    length += NLMSG_ALIGN(message->nlmsg_len);
    message = start_message(steps[3].seq);
    // GSO off on purpose (see the header); fail-open as asked.
    const std::uint32_t flags = options_.fail_open ? NFQA_CFG_F_FAIL_OPEN : 0;
    mnl_attr_put_u32(message, NFQA_CFG_FLAGS, htonl(flags));
    mnl_attr_put_u32(message, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
    length += NLMSG_ALIGN(message->nlmsg_len);

    if (mnl_socket_sendto(socket_.get(), buffer, length) < 0) {
        error = "NFQUEUE: sending the configuration: " + errno_text(errno);
        return false;
    }

    // Packets may be queued to us between the bind and the copy-range
    // message, still in "copy nothing" mode. Such a packet is answered
    // NF_REPEAT: the hook runs again and queues it anew, now with payload.
    std::span<std::byte> receive_area(receive_buffers_.data(), slot_size_);
    std::size_t pending = steps.size();
    while (pending > 0) {
        const ssize_t received = mnl_socket_recvfrom(socket_.get(), receive_area.data(), receive_area.size());
        if (received < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                error = "NFQUEUE: no acknowledgement from the kernel for queue " + std::to_string(number);
            } else {
                error = "NFQUEUE: reading the configuration acknowledgements: " + errno_text(errno);
            }
            return false;
        }
        int remaining = static_cast<int>(received);
        const auto* header = reinterpret_cast<const nlmsghdr*>(receive_area.data());
        while (mnl_nlmsg_ok(header, remaining)) {
            if (header->nlmsg_type == NLMSG_ERROR &&
                header->nlmsg_len >= mnl_nlmsg_size(sizeof(nlmsgerr))) {
                const auto* answer = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
                for (Step& step : steps) {
                    if (step.seq != header->nlmsg_seq || step.acknowledged) continue;
                    if (answer->error != 0) {
                        error = refusal_text(number, step.what, -answer->error);
                        return false;
                    }
                    step.acknowledged = true;
                    --pending;
                }
            } else if (header->nlmsg_type == kPacketMessageType) {
                std::array<nlattr*, NFQA_MAX + 1> attributes{};
                if (nfq_nlmsg_parse(header, attributes.data()) == MNL_CB_OK &&
                    attributes[NFQA_PACKET_HDR] != nullptr) {
                    if (auto id = attribute_be32(attributes[NFQA_PACKET_HDR])) requeue(*id);
                }
            }
            header = mnl_nlmsg_next(header, &remaining);
        }
    }
    return true;
}

bool NfQueue::set_receive_timeout_ms(std::uint32_t milliseconds) {
    milliseconds = std::max<std::uint32_t>(milliseconds, 1);  // SO_RCVTIMEO 0 would block forever
    if (milliseconds == receive_timeout_ms_) return true;
    timeval timeout{};
    timeout.tv_sec = milliseconds / 1000;
    timeout.tv_usec = static_cast<suseconds_t>(milliseconds % 1000) * 1000;
    if (setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) {
        last_error_ = "NFQUEUE: SO_RCVTIMEO: " + errno_text(errno);
        return false;
    }
    receive_timeout_ms_ = milliseconds;
    return true;
}

void NfQueue::requeue(std::uint32_t id) {
    auto* message = nfq_nlmsg_put(reinterpret_cast<char*>(send_buffer_.data()), NFQNL_MSG_VERDICT, options_.queue);
    nfq_nlmsg_verdict_put(message, static_cast<int>(id), NF_REPEAT);
    send_buffer(message->nlmsg_len);
}

bool NfQueue::send_buffer(std::size_t length) {
    // The kernel handles a netlink send synchronously; only a transient
    // shortage of memory or a signal makes it fail: retry a few times.
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (mnl_socket_sendto(socket_.get(), send_buffer_.data(), length) >= 0) return true;
        if (errno != EINTR && errno != ENOBUFS && errno != EAGAIN) break;
    }
    ++stats_.verdict_errors;
    last_error_ = "NFQUEUE: sending verdicts: " + errno_text(errno);
    return false;
}

NfQueue::ReceiveStatus NfQueue::receive() {
    packet_count_ = 0;
    const int received = recvmmsg(fd(), receive_headers_.data(), static_cast<unsigned>(options_.batch),
                                  MSG_WAITFORONE, nullptr);
    if (received < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) return ReceiveStatus::Timeout;
        if (error == EINTR) return ReceiveStatus::Interrupted;
        if (error == ENOBUFS) {
            // Our receive buffer overflowed: the kernel dropped (or with
            // fail-open accepted unmarked) the packets it could not send us.
            ++stats_.enobufs;
            return ReceiveStatus::Overrun;
        }
        last_error_ = "NFQUEUE: receive: " + errno_text(error);
        return ReceiveStatus::Error;
    }
    for (int i = 0; i < received; ++i) {
        const mmsghdr& header = receive_headers_[static_cast<std::size_t>(i)];
        if ((header.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
            // Should not happen with the slot size chosen from the copy
            // range; if it does, the packet gets its own verdict.
            drop_truncated({static_cast<const std::byte*>(header.msg_hdr.msg_iov->iov_base), header.msg_len});
            continue;
        }
        parse_datagram({static_cast<const std::byte*>(header.msg_hdr.msg_iov->iov_base), header.msg_len});
    }
    if (packet_count_ == 0) return ReceiveStatus::Timeout;  // only acks or errors arrived
    ++stats_.batches;
    stats_.packets += packet_count_;
    stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, packet_count_);
    for (std::size_t i = 0; i < packet_count_; ++i) {
        verdicts_[i] = PacketVerdict{packets_[i].id, PacketVerdict::Action::Accept, std::nullopt};
    }
    return ReceiveStatus::Packets;
}

void NfQueue::parse_datagram(std::span<const std::byte> datagram) {
    int remaining = static_cast<int>(datagram.size());
    const auto* header = reinterpret_cast<const nlmsghdr*>(datagram.data());
    for (; mnl_nlmsg_ok(header, remaining); header = mnl_nlmsg_next(header, &remaining)) {
        if (header->nlmsg_type == NLMSG_ERROR) {
            // Verdicts are sent without NLM_F_ACK: an answer is always an error
            // (an unknown packet id, for example).
            if (header->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) {
                ++stats_.bad_messages;
            } else if (static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header))->error != 0) {
                ++stats_.verdict_errors;
            }
            continue;
        }
        if (header->nlmsg_type != kPacketMessageType) {
            ++stats_.bad_messages;
            continue;
        }
        std::array<nlattr*, NFQA_MAX + 1> attributes{};
        if (nfq_nlmsg_parse(header, attributes.data()) != MNL_CB_OK ||
            attributes[NFQA_PACKET_HDR] == nullptr) {
            ++stats_.bad_messages;
            continue;
        }
        // struct nfqnl_msg_packet_hdr: packet_id (be32), hw_protocol (be16), hook (u8).
        const ByteView packet_header(attribute_bytes(attributes[NFQA_PACKET_HDR]));
        const auto id = packet_header.be32(0);
        if (!id) {
            ++stats_.bad_messages;
            continue;
        }
        if (packet_count_ == packets_.size()) {
            // More packets in this batch than we have room for: send it
            // through the hook again (NF_REPEAT) rather than leave it stuck.
            ++stats_.bad_messages;
            requeue(*id);
            continue;
        }
        QueuedPacket& packet = packets_[packet_count_++];
        packet.id = *id;
        packet.hw_protocol = packet_header.be16(4).value_or(0);
        packet.hook = packet_header.u8(6).value_or(0);
        packet.payload = attributes[NFQA_PAYLOAD] != nullptr ? attribute_bytes(attributes[NFQA_PAYLOAD])
                                                             : std::span<const std::byte>{};
        const auto captured = attribute_be32(attributes[NFQA_CAP_LEN]);
        packet.wire_length = captured.value_or(static_cast<std::uint32_t>(packet.payload.size()));
        packet.mark = attribute_be32(attributes[NFQA_MARK]).value_or(0);
        packet.in_ifindex = attribute_be32(attributes[NFQA_IFINDEX_INDEV]).value_or(0);
        // struct nfqnl_msg_packet_hw: hw_addrlen (be16), pad (16), hw_addr[8].
        packet.src_mac = {};
        if (attributes[NFQA_HWADDR] != nullptr) {
            const ByteView hw(attribute_bytes(attributes[NFQA_HWADDR]));
            if (hw.be16(0).value_or(0) == 6)
                for (std::size_t i = 0; i < 6; ++i) packet.src_mac[i] = hw.u8(4 + i).value_or(0);
        }
        if (packet.truncated()) ++stats_.truncated_packets;
    }
}

std::optional<std::uint32_t> truncated_datagram_packet_id(std::span<const std::byte> datagram) {
    // struct nlmsghdr: nlmsg_len u32, nlmsg_type u16, ... (16 bytes), then
    // struct nfgenmsg (4 bytes), then attributes: nla_len u16, nla_type u16,
    // payload, padded to 4 (NLA_ALIGN). The kernel puts NFQA_PACKET_HDR first
    // (nfqnl_build_packet_message), so even a short cut keeps it.
    const auto type = host_order<std::uint16_t>(datagram, offsetof(nlmsghdr, nlmsg_type));
    if (!type || *type != kPacketMessageType) return std::nullopt;
    std::size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
    for (;;) {
        const auto length = host_order<std::uint16_t>(datagram, offset);
        const auto attribute = host_order<std::uint16_t>(datagram, offset + 2);
        if (!length || !attribute || *length < NLA_HDRLEN || datagram.size() - offset < *length)
            return std::nullopt;  // cut inside this attribute, or malformed
        if ((*attribute & NLA_TYPE_MASK) == NFQA_PACKET_HDR) {
            // struct nfqnl_msg_packet_hdr starts with packet_id, big endian.
            return ByteView(datagram.subspan(offset + NLA_HDRLEN, *length - NLA_HDRLEN)).be32(0);
        }
        offset += NLA_ALIGN(*length);
    }
}

void NfQueue::drop_truncated(std::span<const std::byte> datagram) {
    ++stats_.truncated_datagrams;
    // Dropped, not requeued: NF_REPEAT would queue it anew at the same size,
    // to be cut again. SCTP retransmits a dropped packet.
    if (const auto id = truncated_datagram_packet_id(datagram)) {
        auto* message = nfq_nlmsg_put(reinterpret_cast<char*>(send_buffer_.data()), NFQNL_MSG_VERDICT, options_.queue);
        nfq_nlmsg_verdict_put(message, static_cast<int>(*id), NF_DROP);
        send_buffer(message->nlmsg_len);
        return;
    }
    // Its id is lost: the packet waits in the kernel until the socket closes.
    // A batch verdict answers every queued id up to its own
    // (nfqnl_recv_verdict_batch), so one would accept this packet with another
    // packet's mark; batch verdicts stay off for the life of this socket.
    ++stats_.unanswered_truncated_datagrams;
    unanswered_packet_queued_ = true;
}

std::span<const QueuedPacket> NfQueue::packets() const { return {packets_.data(), packet_count_}; }

std::span<PacketVerdict> NfQueue::verdicts() { return {verdicts_.data(), packet_count_}; }

bool NfQueue::send_verdicts(std::span<const PacketVerdict> verdicts, const BatchVerdictPolicy& policy) {
    if (verdicts.empty()) return true;
    auto kernel_verdict = [](PacketVerdict::Action action) {
        return action == PacketVerdict::Action::Accept ? NF_ACCEPT : NF_DROP;
    };
    // Runs of consecutive ids with the same verdict and mark become one
    // NFQNL_MSG_VERDICT_BATCH each (io/verdict_runs.hpp says when that is
    // safe); a packet we could not identify may still be queued, so then none.
    BatchVerdictPolicy effective = policy;
    effective.allowed = policy.allowed && options_.use_batch_verdict && !unanswered_packet_queued_;
    const std::size_t fit = send_buffer_.size() / kVerdictMessageBytes;
    std::size_t length = 0;
    std::size_t messages = 0;
    bool sent = true;
    auto put = [&](std::uint16_t type, const PacketVerdict& verdict) {
        if (messages > 0 && messages % fit == 0) {  // only when called with more verdicts than a batch
            sent = send_buffer(length) && sent;
            length = 0;
        }
        auto* message = nfq_nlmsg_put(reinterpret_cast<char*>(send_buffer_.data() + length), type, options_.queue);
        nfq_nlmsg_verdict_put(message, static_cast<int>(verdict.id), kernel_verdict(verdict.action));
        if (verdict.mark) nfq_nlmsg_verdict_put_mark(message, *verdict.mark);
        length += NLMSG_ALIGN(message->nlmsg_len);
        ++messages;
    };
    for_each_verdict_run(verdicts, effective, [&](const VerdictRun& run) {
        if (run.batch) {
            // Names the run's last id; the kernel applies the verdict and the
            // mark to every queued id up to it: this run and nothing else.
            put(NFQNL_MSG_VERDICT_BATCH, verdicts[run.first + run.count - 1]);
            ++stats_.batch_verdict_messages;
            return;
        }
        for (std::size_t i = run.first; i < run.first + run.count; ++i) put(NFQNL_MSG_VERDICT, verdicts[i]);
    });
    stats_.verdict_messages += messages;
    sent = send_buffer(length) && sent;
    // A failed send leaves its packets queued unanswered: a later batch
    // verdict would answer them with another packet's mark.
    if (!sent) unanswered_packet_queued_ = true;
    return sent;
}

}  // namespace sctplb
