// Thread-safe output for sctpt: diagnostics on stderr with seconds since start, so they line up
// with a capture; results on stdout.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>

namespace sctpt {

// ovl/sctp's --log levels, syslog-like 0-7: below 5 only errors, 5-6 events (the default, 6),
// 7 also every message.
inline constexpr int log_notice = 5;
inline constexpr int log_debug = 7;
void set_log_level(int level);
int log_level();

// "[   1.234] text" on stderr, at log level 5 and above.
void note(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "sctpt: error: text" on stderr.
void complain(const char* format, ...) __attribute__((format(printf, 1, 2)));
// `prefix` then the formatted text, unchanged, on stderr.
void log_vprintf(const char* prefix, const char* format, va_list arguments);
// A whole line on stdout, flushed.
void print_line(const std::string& line);

double seconds_since_start();

}  // namespace sctpt
