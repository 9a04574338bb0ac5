// sctpt --events: the line format (schema, escaping), the start record, and time order of the
// lines of several writer threads.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "event_log.hpp"

namespace sctpt {
namespace {

using Json = nlohmann::json;

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream input(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(input, line);) {
        lines.push_back(line);
    }
    return lines;
}

class EventLogFile : public ::testing::Test {
protected:
    std::string path = (std::filesystem::temp_directory_path() /
                        ("sctpt-event-log-test-" + std::to_string(::getpid()) + ".jsonl"))
                           .string();
    void TearDown() override { std::filesystem::remove(path); }
};

TEST(EventLogFormat, TimeHasMicrosecondsAndFieldsFollowTheKind) {
    EventLog::Fields fields;
    fields["client"] = 3;
    fields["rtt_ms"] = 1.25;
    fields["path"] = "10.0.0.2";
    EXPECT_EQ(EventLog::format_line(12.3456789, "echo", fields),
              R"({"t":12.345679,"event":"echo","client":3,"rtt_ms":1.25,"path":"10.0.0.2"})");
    EXPECT_EQ(EventLog::format_line(0, "marker", EventLog::Fields::object()),
              R"({"t":0.000000,"event":"marker"})");
}

TEST(EventLogFormat, EscapesQuotesControlCharactersAndInvalidUtf8) {
    // A server name comes from the network: quotes, a newline and bytes that are not UTF-8.
    EventLog::Fields fields;
    fields["server"] = std::string("a\"b\\c\nd\xff\xfe");
    const std::string line = EventLog::format_line(1, "echo", fields);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    const Json parsed = Json::parse(line);  // throws (fails the test) if not JSON
    const std::string server = parsed["server"].get<std::string>();
    EXPECT_EQ(server.substr(0, 7), "a\"b\\c\nd");
    EXPECT_EQ(server.substr(7), "\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD twice
}

TEST_F(EventLogFile, StartsWithTheStartRecordAndKeepsTimeOrderAcrossThreads) {
    {
        EventLog log;
        std::string error;
        EventLog::Fields start_fields;
        start_fields["command"] = "ctraffic";
        ASSERT_TRUE(log.open(path, EventLog::Clock::now(), start_fields, error)) << error;
        std::vector<std::thread> writers;
        for (int thread = 0; thread < 4; ++thread) {
            writers.emplace_back([&log, thread] {
                for (int i = 0; i < 2000; ++i) {
                    EventLog::Fields fields;
                    fields["client"] = thread;
                    fields["seq"] = i;
                    log.write("sent", fields);
                }
            });
        }
        for (auto& writer : writers) {
            writer.join();
        }
    }  // the destructor flushes
    const auto lines = lines_of(path);
    ASSERT_EQ(lines.size(), 1u + 4 * 2000);
    const Json start = Json::parse(lines[0]);
    EXPECT_EQ(start["event"], "start");
    EXPECT_EQ(start["t"], 0.0);
    EXPECT_EQ(start["schema"], 1);
    EXPECT_EQ(start["command"], "ctraffic");
    ASSERT_TRUE(start["wall_unix"].is_number_float());
    EXPECT_GT(start["wall_unix"].get<double>(), 1.6e9);
    ASSERT_TRUE(start["wall"].is_string());
    EXPECT_EQ(start["wall"].get<std::string>().back(), 'Z');
    double last = 0;
    std::vector<int> next_seq(4, 0);
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const Json event = Json::parse(lines[i]);
        const double t = event["t"].get<double>();
        EXPECT_GE(t, last) << "line " << i + 1;
        last = t;
        const int client = event["client"].get<int>();
        EXPECT_EQ(event["seq"].get<int>(), next_seq[client]++) << "line " << i + 1;
    }
}

TEST_F(EventLogFile, LinesAppendedByAScriptSurviveBetweenFlushes) {
    EventLog log;
    std::string error;
    ASSERT_TRUE(log.open(path, EventLog::Clock::now(), EventLog::Fields::object(), error)) << error;
    log.write("sent", EventLog::Fields{{"seq", 0}});
    log.flush();
    std::ofstream(path, std::ios::app) << R"({"event":"marker","wall_unix":1.5,"label":"cut"})" << '\n';
    log.write("sent", EventLog::Fields{{"seq", 1}});
    log.flush();
    const auto lines = lines_of(path);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(Json::parse(lines[2])["label"], "cut");
    EXPECT_EQ(Json::parse(lines[3])["seq"], 1);
}

TEST(EventLogOpen, AnUnwritablePathIsAClearError) {
    EventLog log;
    std::string error;
    EXPECT_FALSE(log.open("/nonexistent-directory/events.jsonl", EventLog::Clock::now(),
                          EventLog::Fields::object(), error));
    EXPECT_NE(error.find("/nonexistent-directory/events.jsonl"), std::string::npos) << error;
    EXPECT_FALSE(log.is_open());
    log.write("sent", EventLog::Fields::object());  // a closed log ignores writes
}

}  // namespace
}  // namespace sctpt
