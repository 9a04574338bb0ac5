// The daemon's log: one line on stderr per message, when its level is enabled
// in the shared log level (`--log`, `sctplb loglevel`).
#pragma once

#include <cstdint>

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

}  // namespace sctplb
