#include "io/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "io/shared_state.hpp"

namespace sctplb {

namespace {

std::mutex log_mutex;

bool enabled(const SharedHeader& header, std::int32_t level) {
    return level <= header.log_level.load(std::memory_order_relaxed);
}

void write_line(const timespec& when, const char* text, int length) {
    tm local{};
    localtime_r(&when.tv_sec, &local);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
    const std::lock_guard lock(log_mutex);
    std::fprintf(stderr, "%s.%03ld sctplb[%d]: %.*s\n", stamp, when.tv_nsec / 1'000'000, getpid(), length, text);
}

}  // namespace

void log_line(const SharedHeader& header, std::int32_t level, const char* format, ...) {
    if (!enabled(header, level)) return;
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    write_line(now, text, static_cast<int>(std::strlen(text)));
}

void DeferredLog::add(std::int32_t level, const char* format, ...) {
    if (!enabled(header_, level)) return;
    char text[512];  // the same limit as log_line
    va_list args;
    va_start(args, format);
    const int n = std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (n < 0) return;
    const std::size_t length = std::min<std::size_t>(static_cast<std::size_t>(n), sizeof text - 1);
    Line line{{}, text_.size(), length};
    clock_gettime(CLOCK_REALTIME, &line.when);
    text_.append(text, length);
    lines_.push_back(line);
}

void DeferredLog::flush() {
    for (const Line& line : lines_) write_line(line.when, text_.data() + line.offset, static_cast<int>(line.length));
    lines_.clear();
    text_.clear();
}

}  // namespace sctplb
