#include "event_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace sctpt {
namespace {

// Flushed at this size: one write() of whole lines (an O_APPEND write of whole lines keeps a
// script's appended marker lines intact between ours).
constexpr std::size_t flush_threshold = 64 * 1024;

// Text from the network (a server's name) may not be UTF-8: replace, never throw.
std::string dump(const EventLog::Fields& value) {
    return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

EventLog::~EventLog() {
    flush();
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

std::string EventLog::format_line(double seconds, std::string_view kind, const Fields& fields) {
    char time_text[32];
    std::snprintf(time_text, sizeof time_text, "%.6f", seconds);
    std::string line = "{\"t\":";
    line += time_text;
    line += ",\"event\":";
    line += dump(Fields(std::string(kind)));
    if (fields.is_object() && !fields.empty()) {
        const std::string rest = dump(fields);
        line += ',';
        line.append(rest, 1, rest.size() - 2);  // without the braces
    }
    line += '}';
    return line;
}

bool EventLog::open(const std::string& path, Clock::time_point start, const Fields& fields,
                    std::string& error) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = "--events: cannot create ";
        error += path;
        error += ": ";
        error += std::strerror(errno);
        return false;
    }
    fd_ = fd;
    start_ = start;
    // The wall clock of the start, so that files of several runs line up and a script can
    // place a marker by its own clock (wall_unix).
    const auto wall = std::chrono::system_clock::now() -
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(
                          Clock::now() - start);
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char iso[64];
    std::snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<long long>(micros % 1'000'000));
    char unix_text[32];
    std::snprintf(unix_text, sizeof unix_text, "%lld.%06lld",
                  static_cast<long long>(micros / 1'000'000),
                  static_cast<long long>(micros % 1'000'000));
    Fields start_fields;
    start_fields["schema"] = 1;
    start_fields["wall"] = iso;
    // A number with microsecond precision: parsed from text so it prints exactly.
    start_fields["wall_unix"] = Fields::parse(unix_text);
    for (const auto& [key, value] : fields.items()) {
        start_fields[key] = value;
    }
    const std::lock_guard lock(mutex_);
    buffer_ += format_line(0.0, "start", start_fields);
    buffer_ += '\n';
    flush_locked();
    return true;
}

void EventLog::write(std::string_view kind, const Fields& fields) {
    if (fd_ < 0) {
        return;
    }
    // Stamped under the lock: the lines of all threads are in time order in the file.
    const std::lock_guard lock(mutex_);
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    buffer_ += format_line(seconds, kind, fields);
    buffer_ += '\n';
    if (buffer_.size() >= flush_threshold) {
        flush_locked();
    }
}

void EventLog::flush() {
    const std::lock_guard lock(mutex_);
    flush_locked();
}

void EventLog::flush_locked() {
    if (fd_ < 0 || buffer_.empty()) {
        return;
    }
    std::size_t done = 0;
    while (done < buffer_.size()) {
        const ssize_t written = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            break;  // disk full or gone: the events are lost, the run goes on
        }
        done += static_cast<std::size_t>(written);
    }
    buffer_.clear();
}

}  // namespace sctpt
