// Thread-safe output for sctpt: diagnostics on stderr with seconds since start, so they line up
// with a capture; results on stdout.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>

namespace sctpt {

// "[   1.234] text" on stderr.
void note(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "sctpt: error: text" on stderr.
void complain(const char* format, ...) __attribute__((format(printf, 1, 2)));
// `prefix` then the formatted text, unchanged, on stderr.
void log_vprintf(const char* prefix, const char* format, va_list arguments);
// A whole line on stdout, flushed.
void print_line(const std::string& line);

double seconds_since_start();

}  // namespace sctpt
