// The data-path I/O: one NFQUEUE queue over a netlink socket (libmnl).
//
// iptables `-j NFQUEUE --queue-num N` hands each packet to the process bound to
// queue N; the process answers with a verdict (accept/drop) and, for the load
// balancer, an fwmark that policy routing turns into "send to server k".
//
// Batching: one recvmmsg() takes up to `batch` netlink datagrams, the handler
// decides all of them at once, and one sendmsg() carries all verdicts back.
// Nothing is allocated after open(): receive buffers, packet descriptors and
// the verdict buffer are sized from the options once.
//
// Threading: one NfQueue belongs to one thread. Counters are plain integers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sys/socket.h>  // mmsghdr (recvmmsg)
#include <sys/uio.h>     // iovec

struct mnl_socket;

namespace sctplb {

// The most packets one receive call takes (and one verdict batch answers).
inline constexpr std::size_t kMaxNfQueueBatch = 1024;
// The kernel caps the copy range at 65531 (NFQNL_MAX_COPY_RANGE).
inline constexpr std::uint32_t kMaxNfQueueCopyRange = 0xffff - 4;

struct NfQueueOptions {
    std::uint16_t queue = 0;
    // Bytes of each packet copied to user space (NFQA_CFG_PARAMS, copy mode
    // "packet"). The kernel caps it at 65531. The load balancer needs the IP
    // header, the SCTP common header and the first chunks; INIT address lists
    // beyond the range are cut (the parser marks such packets truncated).
    std::uint32_t copy_range = 512;
    // Packets the kernel holds waiting for a verdict (NFQA_CFG_QUEUE_MAXLEN).
    // Beyond it the kernel drops them, or accepts them unmarked with fail_open.
    std::uint32_t max_len = 4096;
    // NFQA_CFG_F_FAIL_OPEN: when the queue is full (or the netlink socket
    // overruns) the kernel ACCEPTS the packet instead of dropping it. Such a
    // packet carries no mark: it is routed by the main table, not balanced.
    // Off by default: for SCTP a wrongly routed packet is an ABORT at a server
    // that does not know the association; a dropped one is just retransmitted.
    bool fail_open = false;
    // Netlink datagrams per recvmmsg() (each normally holds one packet).
    std::size_t batch = 64;
    // SO_RCVBUF(FORCE) of the netlink socket: how much the kernel may queue for
    // us before it reports ENOBUFS and drops (or fail-opens) packets.
    std::uint32_t socket_rcvbuf = 8u << 20;
    // Longest a receive blocks; run() checks its stop flag at least this often.
    std::uint32_t receive_timeout_ms = 200;
    // Send one NFQNL_MSG_VERDICT_BATCH instead of per-packet verdicts for
    // each run of consecutive ids with the same verdict and mark.
    bool use_batch_verdict = true;
};

// GSO (NFQA_CFG_F_GSO) is deliberately NOT requested: the kernel then splits a
// GSO super-packet into wire-sized packets before queueing and completes
// partial checksums, so every QueuedPacket is one real SCTP packet with its own
// common header (SCTP GSO segments each carry one, RFC 9260 §3.1). With GSO the
// payload could be up to 64 KiB of several packets glued together, cut at the
// copy range. The cost, software segmentation, only arises for locally
// generated or GRO-merged traffic, which forwarded SCTP rarely is.

struct QueuedPacket {
    std::uint32_t id = 0;                  // the kernel's packet id, echoed in the verdict
    std::span<const std::byte> payload;    // from the IP header; valid until the next receive
    std::uint32_t wire_length = 0;         // NFQA_CAP_LEN (original length) or payload size
    std::uint16_t hw_protocol = 0;         // EtherType (0x0800 IPv4, 0x86DD IPv6), host order
    std::uint8_t hook = 0;                 // NF_INET_PRE_ROUTING, ...
    std::uint32_t mark = 0;                // the packet's current skb mark (0 when none)
    std::uint32_t in_ifindex = 0;          // NFQA_IFINDEX_INDEV, 0 when none
    std::array<std::uint8_t, 6> src_mac{}; // NFQA_HWADDR (Ethernet source), zero when none
    [[nodiscard]] bool truncated() const { return wire_length > payload.size(); }
};

struct PacketVerdict {
    enum class Action : std::uint8_t { Accept, Drop };
    std::uint32_t id = 0;
    Action action = Action::Accept;
    // NFQA_MARK replaces the WHOLE 32-bit skb mark. To change only some bits,
    // compute the value with apply_mark(packet.mark, mark, mask).
    std::optional<std::uint32_t> mark;
};

// What one send may do with NFQNL_MSG_VERDICT_BATCH, which answers EVERY
// queued packet with an id up to the one it names (io/verdict_runs.hpp).
struct BatchVerdictPolicy {
    bool allowed = true;  // false: one verdict message per packet
    // The oldest id still awaiting a verdict that is not among the verdicts
    // being sent (a packet held back), or none: no batch verdict may name an
    // id at or after it.
    std::optional<std::uint32_t> oldest_pending_id;
};

// The mark to send so that only the bits in `mask` change.
[[nodiscard]] constexpr std::uint32_t apply_mark(std::uint32_t old_mark, std::uint32_t mark,
                                                 std::uint32_t mask) {
    return (old_mark & ~mask) | (mark & mask);
}

struct NfQueueStats {
    std::uint64_t packets = 0;          // packets handed to the handler
    std::uint64_t batches = 0;          // handler calls (receives that returned packets)
    std::uint64_t largest_batch = 0;
    std::uint64_t truncated_packets = 0;  // wire_length > payload (copy range)
    std::uint64_t enobufs = 0;          // receive overruns: the kernel dropped (or fail-opened) packets
    std::uint64_t verdict_messages = 0; // verdict netlink messages sent (batch verdict counts 1)
    std::uint64_t batch_verdict_messages = 0;  // of them NFQNL_MSG_VERDICT_BATCH (a run of >= 2 packets)
    std::uint64_t verdict_errors = 0;   // failed sendmsg() or NLMSG_ERROR answers from the kernel
    std::uint64_t bad_messages = 0;     // unparsable or unexpected messages
    // Datagrams larger than the receive buffer (MSG_TRUNC): their packets are
    // dropped with a verdict of their own. When even the packet id was cut
    // off, the packet stays queued unanswered and batch verdicts are switched
    // off for good (see send_verdicts) so that none ever covers it.
    std::uint64_t truncated_datagrams = 0;
    std::uint64_t unanswered_truncated_datagrams = 0;
};

// The packet id of an NFQNL_MSG_PACKET message from the first bytes of a
// datagram that did not fit the receive buffer (MSG_TRUNC), or nullopt when
// those bytes do not hold a whole NFQA_PACKET_HDR attribute. Every read is
// bounded by `datagram`, never by the lengths the message claims.
[[nodiscard]] std::optional<std::uint32_t> truncated_datagram_packet_id(std::span<const std::byte> datagram);

class NfQueue {
public:
    // Opens a netlink socket, binds `options.queue` and configures it. Every
    // configuration message is acknowledged; a refusal is a failure with a
    // readable text in `error` (EPERM: "queue N is already bound by another
    // process"). Needs CAP_NET_ADMIN in the network namespace.
    [[nodiscard]] static std::optional<NfQueue> open(const NfQueueOptions& options,
                                                     std::string& error);

    NfQueue(NfQueue&&) noexcept;
    NfQueue& operator=(NfQueue&&) noexcept;
    NfQueue(const NfQueue&) = delete;
    NfQueue& operator=(const NfQueue&) = delete;
    // Closing the socket releases the queue; packets still waiting are dropped
    // by the kernel.
    ~NfQueue();

    enum class ReceiveStatus : std::uint8_t {
        Packets,      // packets() holds at least one packet
        Timeout,      // nothing within receive_timeout_ms
        Interrupted,  // a signal arrived (EINTR)
        Overrun,      // ENOBUFS: the kernel could not queue to us and dropped (counted)
        Error,        // anything else: last_error() says what
    };

    // Waits up to receive_timeout_ms for packets and receives up to `batch`
    // datagrams. On Packets, packets() holds them and verdicts() is pre-filled
    // with {id, Accept, no mark} for each one, index by index.
    ReceiveStatus receive();
    [[nodiscard]] std::span<const QueuedPacket> packets() const;
    [[nodiscard]] std::span<PacketVerdict> verdicts();

    // Sends verdicts in one sendmsg(), in the order given. Each run of
    // consecutive ids with the same verdict and mark goes as one
    // NFQNL_MSG_VERDICT_BATCH when `policy` allows it (a run of one, or any
    // run when it does not, as one NFQNL_MSG_VERDICT per packet). A batch
    // verdict answers EVERY queued packet with an id up to its own: packets
    // outside `verdicts` still awaiting theirs (held for the sync) must be
    // named in the policy. Returns false (and counts) on failure; after one,
    // batch verdicts stay off (the unanswered packets are still queued).
    bool send_verdicts(std::span<const PacketVerdict> verdicts, const BatchVerdictPolicy& policy = {});

    // Changes how long receive() blocks (SO_RCVTIMEO), at least 1 ms. Only
    // calls setsockopt() when the value changes; no allocation. False (and
    // last_error()) when the kernel refuses.
    bool set_receive_timeout_ms(std::uint32_t milliseconds);
    [[nodiscard]] std::uint32_t receive_timeout_ms() const { return receive_timeout_ms_; }

    // Receives, calls handler(std::span<const QueuedPacket>, std::span<PacketVerdict>)
    // once per batch, sends the verdicts. Returns the number of packets handled,
    // 0 on timeout or signal, -1 on a fatal error (see last_error()).
    template <typename Handler>
    long process_batch(Handler&& handler) {
        switch (receive()) {
            case ReceiveStatus::Packets: break;
            case ReceiveStatus::Timeout:
            case ReceiveStatus::Interrupted:
            case ReceiveStatus::Overrun: return 0;
            case ReceiveStatus::Error: return -1;
        }
        const auto received = packets();
        const auto out = verdicts();
        handler(received, out);
        send_verdicts(out);
        return static_cast<long>(received.size());
    }

    // Loops until `stop` is set (checked at least every receive_timeout_ms and
    // after every signal: the receive returns EINTR when the signal handler was
    // installed without SA_RESTART, and always times out otherwise). Returns
    // false on a fatal receive error.
    template <typename Handler>
    bool run(const std::atomic<bool>& stop, Handler&& handler) {
        while (!stop.load(std::memory_order_relaxed)) {
            if (process_batch(handler) < 0) return false;
        }
        return true;
    }

    [[nodiscard]] int fd() const;
    [[nodiscard]] const NfQueueStats& stats() const { return stats_; }
    [[nodiscard]] const NfQueueOptions& options() const { return options_; }
    [[nodiscard]] const std::string& last_error() const { return last_error_; }

private:
    struct SocketCloser {
        void operator()(mnl_socket* socket) const;
    };

    NfQueue() = default;
    bool configure(std::string& error);
    void parse_datagram(std::span<const std::byte> datagram);
    bool send_buffer(std::size_t length);
    void requeue(std::uint32_t id);  // NF_REPEAT: the hook runs again and queues it anew
    void drop_truncated(std::span<const std::byte> datagram);  // a MSG_TRUNC datagram's packet

    NfQueueOptions options_{};
    std::unique_ptr<mnl_socket, SocketCloser> socket_;
    std::uint32_t port_id_ = 0;
    std::size_t slot_size_ = 0;                    // bytes per receive buffer
    std::vector<std::byte> receive_buffers_;        // batch * slot_size_
    std::vector<iovec> receive_iovecs_;             // batch
    std::vector<mmsghdr> receive_headers_;          // batch
    std::vector<QueuedPacket> packets_;             // capacity batch (a datagram may hold more)
    std::vector<PacketVerdict> verdicts_;
    std::size_t packet_count_ = 0;
    std::uint32_t receive_timeout_ms_ = 0;          // what SO_RCVTIMEO is now
    std::vector<std::byte> send_buffer_;
    NfQueueStats stats_{};
    // A packet is queued that we could not identify: no batch verdict may be sent.
    bool unanswered_packet_queued_ = false;
    std::string last_error_;
};

}  // namespace sctplb
