#include "histogram.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

namespace sctpt {
namespace {

std::size_t object_length(uint32_t buckets) {
    return sizeof(HistogramHeader) + std::size_t{buckets} * sizeof(std::atomic<uint64_t>);
}

std::string object_path(const std::string& name) {
    std::string path = "/";
    path += name;
    return path;
}

// "shared memory 'NAME' " then `what`.
std::string about(const std::string& name, const char* what) {
    std::string text = "shared memory '";
    text += name;
    text += "' ";
    text += what;
    return text;
}

bool valid_name(const std::string& name, std::string& error) {
    if (name.empty() || name.size() > 200 || name.find('/') != std::string::npos) {
        error = "--shm: '";
        error += name;
        error += "' is not a shared memory name (1-200 characters, no '/')";
        return false;
    }
    return true;
}

std::string describe_errno(const char* what, const std::string& name) {
    std::string text = what;
    text += " shared memory '";
    text += name;
    text += "': ";
    text += std::strerror(errno);
    return text;
}

}  // namespace

uint32_t histogram_bucket(uint64_t rtt_us, uint32_t buckets, uint32_t interval_us) {
    if (buckets == 0) {
        return 0;
    }
    const uint64_t index = interval_us == 0 ? buckets - 1 : rtt_us / interval_us;
    return index >= buckets ? buckets - 1 : static_cast<uint32_t>(index);
}

SharedHistogram::~SharedHistogram() { munmap(map_, length_); }

bool SharedHistogram::exists(const std::string& name) {
    struct stat status {};
    const int fd = shm_open(object_path(name).c_str(), O_RDONLY, 0);
    if (fd < 0) {
        return false;
    }
    const bool ok = fstat(fd, &status) == 0 && status.st_size > 0;
    close(fd);
    return ok;
}

std::unique_ptr<SharedHistogram> SharedHistogram::create(const std::string& name, uint32_t buckets,
                                                         uint32_t interval_us, std::string& error) {
    if (!valid_name(name, error)) {
        return nullptr;
    }
    const std::size_t length = object_length(buckets);
    // A fresh object: a ctraffic that still maps the old one keeps writing there, unseen.
    shm_unlink(object_path(name).c_str());
    const int fd = shm_open(object_path(name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        error = describe_errno("cannot create", name);
        return nullptr;
    }
    void* map = MAP_FAILED;
    if (ftruncate(fd, static_cast<off_t>(length)) == 0) {
        map = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (map == MAP_FAILED) {
        error = describe_errno("cannot size or map", name);
        close(fd);
        shm_unlink(object_path(name).c_str());
        return nullptr;
    }
    close(fd);
    auto* header = new (map) HistogramHeader{};
    for (uint32_t i = 0; i < buckets; ++i) {
        new (reinterpret_cast<std::atomic<uint64_t>*>(header + 1) + i) std::atomic<uint64_t>(0);
    }
    header->version = histogram_version;
    header->buckets = buckets;
    header->interval_us.store(interval_us);
    std::atomic_thread_fence(std::memory_order_release);
    header->magic = histogram_magic;  // last: readers never see a half-made header as valid
    return std::unique_ptr<SharedHistogram>(new SharedHistogram(map, length));
}

std::unique_ptr<SharedHistogram> SharedHistogram::open(const std::string& name, bool writable,
                                                       std::string& error) {
    if (!valid_name(name, error)) {
        return nullptr;
    }
    const int fd = shm_open(object_path(name).c_str(), writable ? O_RDWR : O_RDONLY, 0);
    if (fd < 0) {
        error = describe_errno("cannot open", name);
        if (errno == ENOENT) {
            error += " (create it with 'sctpt stats --shm ";
            error += name;
            error += " init')";
        }
        return nullptr;
    }
    struct stat status {};
    if (fstat(fd, &status) != 0 || static_cast<std::size_t>(status.st_size) < sizeof(HistogramHeader)) {
        close(fd);
        error = about(name, "is not an sctpt histogram (too short)");
        return nullptr;
    }
    const auto length = static_cast<std::size_t>(status.st_size);
    void* map = mmap(nullptr, length, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        error = describe_errno("cannot map", name);
        return nullptr;
    }
    const auto* header = static_cast<const HistogramHeader*>(map);
    if (header->magic != histogram_magic || header->version != histogram_version ||
        header->buckets == 0 || header->buckets > max_histogram_buckets ||
        object_length(header->buckets) > length) {
        munmap(map, length);
        error = about(name, "is not an sctpt histogram (of this version)");
        return nullptr;
    }
    return std::unique_ptr<SharedHistogram>(new SharedHistogram(map, length));
}

void SharedHistogram::clear(uint32_t interval_us) {
    header_->sent.store(0);
    header_->received.store(0);
    header_->max_rtt_us.store(0);
    header_->interval_us.store(interval_us);
    for (uint32_t i = 0; i < header_->buckets; ++i) {
        buckets_[i].store(0);
    }
}

void SharedHistogram::record_rtt(uint64_t rtt_us) {
    header_->received.fetch_add(1, std::memory_order_relaxed);
    uint64_t max = header_->max_rtt_us.load(std::memory_order_relaxed);
    while (rtt_us > max &&
           !header_->max_rtt_us.compare_exchange_weak(max, rtt_us, std::memory_order_relaxed)) {
    }
    const uint32_t index =
        histogram_bucket(rtt_us, header_->buckets, header_->interval_us.load(std::memory_order_relaxed));
    buckets_[index].fetch_add(1, std::memory_order_relaxed);
}

std::string SharedHistogram::text() const {
    const uint32_t interval = header_->interval_us.load();
    std::string out;
    const uint64_t max_us = header_->max_rtt_us.load();
    char head[160];
    std::snprintf(head, sizeof head, "sent      %llu\nreceived  %llu\nmax_rtt   %.1f ms\ninterval  %u us\n",
                  static_cast<unsigned long long>(header_->sent.load()),
                  static_cast<unsigned long long>(header_->received.load()),
                  static_cast<double>(max_us) / 1000.0, interval);
    out += head;
    uint64_t largest = 1;
    for (uint32_t i = 0; i < header_->buckets; ++i) {
        largest = std::max(largest, buckets_[i].load());
    }
    for (uint32_t i = 0; i < header_->buckets; ++i) {
        const uint64_t count = buckets_[i].load();
        char line[96];
        const uint64_t low = uint64_t{i} * interval;
        if (i + 1 < header_->buckets) {
            std::snprintf(line, sizeof line, "%8llu-%-8llu us %10llu |",
                          static_cast<unsigned long long>(low),
                          static_cast<unsigned long long>(low + interval),
                          static_cast<unsigned long long>(count));
        } else {
            std::snprintf(line, sizeof line, "%8llu+%-8s us %10llu |",
                          static_cast<unsigned long long>(low), "",
                          static_cast<unsigned long long>(count));
        }
        out += line;
        out.append(static_cast<std::size_t>(count * 60 / largest), '=');
        out += '\n';
    }
    return out;
}

std::string SharedHistogram::json() const {
    std::string out = "{\"sent\": ";
    out += std::to_string(header_->sent.load());
    out += ", \"received\": ";
    out += std::to_string(header_->received.load());
    out += ", \"max_rtt_us\": ";
    out += std::to_string(header_->max_rtt_us.load());
    out += ", \"buckets\": ";
    out += std::to_string(header_->buckets);
    out += ", \"interval_us\": ";
    out += std::to_string(header_->interval_us.load());
    out += ", \"histogram\": [";
    for (uint32_t i = 0; i < header_->buckets; ++i) {
        out += i == 0 ? "" : ", ";
        out += std::to_string(buckets_[i].load());
    }
    out += "]}";
    return out;
}

}  // namespace sctpt
