// The daemon's log: one line on stderr per message, when its level is enabled
// in the shared log level (`--log`, `sctplb loglevel`).
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sctplb {

struct SharedHeader;

// Syslog-like levels.
enum LogLevel : std::int32_t {
    kLogError = 3,
    kLogWarning = 4,
    kLogNotice = 5,
    kLogInfo = 6,
    kLogDebug = 7,
};

// "HH:MM:SS.mmm sctplb[PID]: text", serialised between threads.
__attribute__((format(printf, 3, 4))) void log_line(const SharedHeader& header, std::int32_t level,
                                                    const char* format, ...);

// Lines formatted while the table lock is held and written once it is
// released: stderr may block (a full pipe, a stopped terminal), and a writer
// blocked under the lock would stall every queue. Declare it BEFORE the lock
// in the same scope: destroyed after the lock, it writes its lines then.
// Each line keeps the time it was added. The buffers keep their capacity, so
// a long-lived one (one per worker) stops allocating once warm.
class DeferredLog {
public:
    explicit DeferredLog(const SharedHeader& header) : header_(header) {}
    ~DeferredLog() { flush(); }
    DeferredLog(const DeferredLog&) = delete;
    DeferredLog& operator=(const DeferredLog&) = delete;

    // Formats now (when `level` is enabled), writes at flush().
    __attribute__((format(printf, 3, 4))) void add(std::int32_t level, const char* format, ...);
    // Writes the lines collected so far, in order, and forgets them.
    void flush();

private:
    struct Line {
        timespec when;
        std::size_t offset;
        std::size_t length;
    };
    const SharedHeader& header_;
    std::string text_;
    std::vector<Line> lines_;
};

}  // namespace sctplb
