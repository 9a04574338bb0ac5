#include "log.hpp"

#include <atomic>
#include <chrono>
#include <mutex>

namespace sctpt {
namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point program_start = Clock::now();
std::mutex output_mutex;
std::atomic<int> level{6};

}  // namespace

double seconds_since_start() {
    return std::chrono::duration<double>(Clock::now() - program_start).count();
}

void set_log_level(int new_level) { level.store(new_level); }
int log_level() { return level.load(); }

void note(const char* format, ...) {
    if (level.load() < log_notice) {
        return;
    }
    const std::lock_guard lock(output_mutex);
    std::fprintf(stderr, "[%8.3f] ", seconds_since_start());
    va_list arguments;
    va_start(arguments, format);
    std::vfprintf(stderr, format, arguments);
    va_end(arguments);
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

void complain(const char* format, ...) {
    const std::lock_guard lock(output_mutex);
    std::fputs("sctpt: error: ", stderr);
    va_list arguments;
    va_start(arguments, format);
    std::vfprintf(stderr, format, arguments);
    va_end(arguments);
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

void log_vprintf(const char* prefix, const char* format, va_list arguments) {
    const std::lock_guard lock(output_mutex);
    std::fputs(prefix, stderr);
    std::vfprintf(stderr, format, arguments);
    std::fflush(stderr);
}

void print_line(const std::string& line) {
    const std::lock_guard lock(output_mutex);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

}  // namespace sctpt
