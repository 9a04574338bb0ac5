// The sending side both raw-socket SCTP senders share (sctp_blast, sctp_setups):
// one IPPROTO_RAW socket, a batch of packet slots handed to sendmmsg, the pacing
// schedule and the closing CPU figure.
#pragma once

#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

namespace sctplb::bench {

class RawSender {
public:
    RawSender() = default;
    RawSender(const RawSender&) = delete;
    RawSender& operator=(const RawSender&) = delete;
    ~RawSender() {
        if (fd_ >= 0) close(fd_);
    }

    // Opens the socket; says why not on stderr under `tool`'s name.
    bool open(const char* tool) {
        // IPPROTO_RAW implies IP_HDRINCL: the caller writes the source address of each packet.
        fd_ = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
        if (fd_ < 0) {
            std::fprintf(stderr, "%s: raw socket: %s (needs CAP_NET_RAW)\n", tool, std::strerror(errno));
            return false;
        }
        const int sndbuf = 4 << 20;
        setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);  // best effort
        prctl(PR_SET_TIMERSLACK, 1UL);  // paced sends wake on time, not 50 µs late
        return true;
    }

    // `batch` slots of `slot_bytes` each, every one `slot_bytes` long until set_length().
    void prepare(std::size_t batch, std::size_t slot_bytes, in_addr destination) {
        slot_bytes_ = slot_bytes;
        buffers_.assign(batch * slot_bytes, std::byte{0});
        iovecs_.resize(batch);
        messages_.resize(batch);
        destination_ = sockaddr_in{};
        destination_.sin_family = AF_INET;
        destination_.sin_addr = destination;
        for (std::size_t i = 0; i < batch; ++i) {
            iovecs_[i] = iovec{&buffers_[i * slot_bytes], slot_bytes};
            messages_[i].msg_hdr = msghdr{};
            messages_[i].msg_hdr.msg_name = &destination_;
            messages_[i].msg_hdr.msg_namelen = sizeof destination_;
            messages_[i].msg_hdr.msg_iov = &iovecs_[i];
            messages_[i].msg_hdr.msg_iovlen = 1;
        }
    }

    std::byte* slot(std::size_t i) { return &buffers_[i * slot_bytes_]; }
    void set_length(std::size_t i, std::size_t length) { iovecs_[i].iov_len = length; }

    // Sends slots 0 .. count - 1.
    void send(std::size_t count) {
        std::size_t done = 0;
        while (done < count) {
            const int r = sendmmsg(fd_, messages_.data() + done, static_cast<unsigned>(count - done), 0);
            if (r > 0) {
                done += static_cast<std::size_t>(r);
                sent_ += static_cast<std::uint64_t>(r);
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            // ENOBUFS and the like: that packet is lost at the sender; count it, go on.
            last_errno_ = errno;
            ++errors_;
            ++done;
        }
    }

    std::uint64_t sent() const { return sent_; }
    std::uint64_t errors() const { return errors_; }

    // After the report line: the last send error, when there was one.
    void report_errors(const char* tool) const {
        if (errors_) std::fprintf(stderr, "%s: last send error: %s\n", tool, std::strerror(last_errno_));
    }

private:
    int fd_ = -1;
    std::size_t slot_bytes_ = 0;
    std::vector<std::byte> buffers_;
    std::vector<iovec> iovecs_;
    std::vector<mmsghdr> messages_;
    sockaddr_in destination_{};
    std::uint64_t sent_ = 0, errors_ = 0;
    int last_errno_ = 0;
};

// Pacing at `rate` items/s: item number `base + k` is due at start + k / rate.
class Pacer {
public:
    Pacer(double rate, std::int64_t start_ns) : rate_(rate), start_ns_(start_ns) {}

    // When item `count` is still ahead of `now_ns`: the time it is due. Behind
    // by more than max_lag_ns (preempted on a busy machine): the schedule
    // restarts at now rather than catch up with a burst that could overflow a
    // queue the steady rate would not.
    std::optional<std::int64_t> ahead(std::uint64_t count, std::int64_t now_ns) {
        const auto due = start_ns_ + static_cast<std::int64_t>(static_cast<double>(count - base_) * 1e9 / rate_);
        if (due > now_ns) return due;
        if (now_ns - due > kMaxLagNs) {
            start_ns_ = now_ns;
            base_ = count;
        }
        return std::nullopt;
    }

private:
    static constexpr std::int64_t kMaxLagNs = 5'000'000;
    double rate_;
    std::int64_t start_ns_;
    std::uint64_t base_ = 0;
};

// CPU time of this process over `seconds` of wall time, in % of one CPU: ~100 %
// at full rate means the sender was the limit; much less means it lost its CPU
// to someone else.
inline double cpu_percent(double seconds) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    return seconds > 0 ? 100.0 * cpu_seconds / seconds : 0.0;
}

}  // namespace sctplb::bench
