// The round-trip histogram that ctraffic keeps in a POSIX shared memory object and `sctpt stats`
// reads while it runs (the --shm interface of Xcluster's ovl/sctp sctpt; our own layout).
//
// Bucket i counts echoes with RTT in [i*interval, (i+1)*interval) microseconds; the last bucket
// also takes everything above. Counters are lock-free atomics: one writer, any readers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace sctpt {

// ovl/sctp's defaults: object "sctpstats", 16 buckets of 1000 us.
inline constexpr const char* default_histogram_name = "sctpstats";
inline constexpr uint32_t default_histogram_buckets = 16;
inline constexpr uint32_t default_histogram_interval_us = 1000;
inline constexpr uint32_t max_histogram_buckets = 4096;

struct HistogramHeader {
    uint64_t magic;  // histogram_magic: rejects objects written by other programs
    uint32_t version;
    uint32_t buckets;
    std::atomic<uint32_t> interval_us;
    uint32_t reserved;
    std::atomic<uint64_t> sent;
    std::atomic<uint64_t> received;
    std::atomic<uint64_t> max_rtt_us;
};
inline constexpr uint64_t histogram_magic = 0x7473687470746373ULL;  // "sctpthst"
inline constexpr uint32_t histogram_version = 1;

// Which bucket an RTT falls in (pure; unit-tested through the CLI).
uint32_t histogram_bucket(uint64_t rtt_us, uint32_t buckets, uint32_t interval_us);

// A mapping of the object. Names are as for shm_open(3) without the leading '/'.
class SharedHistogram {
public:
    ~SharedHistogram();
    SharedHistogram(const SharedHistogram&) = delete;
    SharedHistogram& operator=(const SharedHistogram&) = delete;

    // Creates (or replaces) the object with zeroed counters.
    static std::unique_ptr<SharedHistogram> create(const std::string& name, uint32_t buckets,
                                                   uint32_t interval_us, std::string& error);
    // Maps an existing object; `writable` for clear and ctraffic.
    static std::unique_ptr<SharedHistogram> open(const std::string& name, bool writable,
                                                 std::string& error);
    static bool exists(const std::string& name);

    // Zeroes every counter and sets the interval (the bucket count is fixed at creation).
    void clear(uint32_t interval_us);
    uint32_t interval_us() const { return header_->interval_us.load(); }
    uint32_t buckets() const { return header_->buckets; }
    void record_sent() { header_->sent.fetch_add(1, std::memory_order_relaxed); }
    void record_rtt(uint64_t rtt_us);

    // "sent/received/max RTT/interval" then one bar per bucket; or one JSON document.
    std::string text() const;
    std::string json() const;

private:
    SharedHistogram(void* map, std::size_t length) : map_(map), length_(length) {
        header_ = static_cast<HistogramHeader*>(map);
        buckets_ = reinterpret_cast<std::atomic<uint64_t>*>(header_ + 1);
    }
    void* map_;
    std::size_t length_;
    HistogramHeader* header_;
    std::atomic<uint64_t>* buckets_;
};

}  // namespace sctpt
