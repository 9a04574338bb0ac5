// sctpt --events FILE: one JSON object per line (JSON Lines) for every message sent or echoed,
// every SCTP notification and failover, so an experiment can be drawn on a timeline
// (sctpt plot) or read by a script. Schema: docs/experiments.md.
#pragma once

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace sctpt {

class EventLog {
public:
    using Clock = std::chrono::steady_clock;
    using Fields = nlohmann::ordered_json;

    EventLog() = default;
    ~EventLog();  // flushes
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    // Creates (truncates) `path`, opened for appending so that a script may add "marker" lines
    // while the run goes on, and writes the "start" record: t 0, the wall clock of `start` and
    // `fields` (command, stack, ...). False with `error` set if the file cannot be opened.
    bool open(const std::string& path, Clock::time_point start, const Fields& fields,
              std::string& error);
    bool is_open() const { return fd_ >= 0; }

    // One line {"t":SECONDS,"event":KIND,...fields}, t the seconds since the start (6 decimals),
    // taken now. Thread-safe, and the file's lines are in time order. Buffered: the line reaches
    // the file on flush() or when the buffer is full. Does nothing unless open.
    void write(std::string_view kind, const Fields& fields);
    void flush();

    // The line write() adds, without the trailing newline (exposed for the unit tests).
    static std::string format_line(double seconds, std::string_view kind, const Fields& fields);

private:
    void flush_locked();
    std::mutex mutex_;
    int fd_ = -1;
    std::string buffer_;
    Clock::time_point start_{};
};

}  // namespace sctpt
