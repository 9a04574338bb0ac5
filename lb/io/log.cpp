#include "log.hpp"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "shared_state.hpp"

namespace sctplb {

namespace {
std::mutex log_mutex;
}

void log_line(const SharedHeader& header, std::int32_t level, const char* format, ...) {
    if (level > header.log_level.load(std::memory_order_relaxed)) return;
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm local{};
    localtime_r(&ts.tv_sec, &local);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
    const std::lock_guard lock(log_mutex);
    std::fprintf(stderr, "%s.%03ld sctplb[%d]: %s\n", stamp, ts.tv_nsec / 1'000'000, getpid(), text);
}

}  // namespace sctplb
