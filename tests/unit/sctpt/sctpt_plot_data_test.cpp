// sctpt plot's events -> series: lanes, messages at their send time, lost messages, path
// changes, markers (file and --marker), several files on one axis, and the errors.
#include <string>

#include <gtest/gtest.h>

#include "plot_data.hpp"

namespace sctpt {
namespace {

const std::string start_line =
    R"({"t":0.000000,"event":"start","schema":1,"wall_unix":1000.5,"command":"ctraffic"})" "\n";

TEST(PlotData, EchoesBecomeMessagesAtTheirSendTimeAndUnansweredOnesAreLost) {
    const std::string text = start_line +
        R"({"t":0.1,"event":"assoc","client":1,"assoc":7,"change":"COMM_UP","error":0})" "\n"
        R"({"t":0.2,"event":"sent","client":1,"assoc":7,"seq":0})" "\n"
        R"({"t":0.3,"event":"sent","client":0,"assoc":8,"seq":0})" "\n"
        R"({"t":0.25,"event":"echo","client":1,"assoc":7,"seq":0,"rtt_ms":50,"server":"s-2","path":"10.0.0.1"})" "\n"
        R"({"t":0.9,"event":"echo","client":0,"assoc":8,"seq":0,"rtt_ms":600,"server":"s-1","path":"10.0.0.2"})" "\n"
        R"({"t":1.0,"event":"sent","client":1,"assoc":7,"seq":1})" "\n";
    TimelineBuilder builder;
    std::string error;
    ASSERT_TRUE(builder.add_file("run.jsonl", text, error)) << error;
    const Timeline timeline = builder.build();
    ASSERT_EQ(timeline.lanes.size(), 2u);  // in client order, one file: no file name
    EXPECT_EQ(timeline.lanes[0], "client 0");
    EXPECT_EQ(timeline.lanes[1], "client 1");
    ASSERT_EQ(timeline.servers, (std::vector<std::string>{"s-2", "s-1"}));
    ASSERT_EQ(timeline.paths, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
    ASSERT_EQ(timeline.messages.size(), 2u);
    EXPECT_DOUBLE_EQ(timeline.messages[0].t, 0.2);  // the send time, not the echo's
    EXPECT_EQ(timeline.messages[0].lane, 1u);
    EXPECT_EQ(timeline.messages[0].server, 0u);
    EXPECT_DOUBLE_EQ(timeline.messages[1].t, 0.3);
    EXPECT_EQ(timeline.messages[1].path, 1u);
    EXPECT_DOUBLE_EQ(timeline.messages[1].rtt_ms, 600);
    ASSERT_EQ(timeline.lost.size(), 1u);
    EXPECT_DOUBLE_EQ(timeline.lost[0].t, 1.0);
    EXPECT_EQ(timeline.lost[0].lane, 1u);
    ASSERT_EQ(timeline.instants.size(), 1u);
    EXPECT_EQ(timeline.instants[0].kind, InstantKind::assoc_up);
    EXPECT_DOUBLE_EQ(timeline.end, 1.0);
}

TEST(PlotData, PathUpOnlyAfterPathDownAndFailoverKeepsTheAddress) {
    const std::string text = start_line +
        R"({"t":0.1,"event":"peer_addr","client":0,"assoc":1,"address":"10.0.0.1","state":"AVAILABLE","error":0})" "\n"
        R"({"t":2.0,"event":"peer_addr","client":0,"assoc":1,"address":"10.0.0.1","state":"UNREACHABLE","error":0})" "\n"
        R"({"t":2.0,"event":"failover","client":0,"assoc":1,"from":"10.0.0.1"})" "\n"
        R"({"t":5.0,"event":"peer_addr","client":0,"assoc":1,"address":"10.0.0.1","state":"AVAILABLE","error":0})" "\n"
        R"({"t":6.0,"event":"assoc","client":0,"assoc":1,"change":"RESTART","error":0})" "\n";
    TimelineBuilder builder;
    std::string error;
    ASSERT_TRUE(builder.add_file("a", text, error)) << error;
    const auto instants = builder.build().instants;
    ASSERT_EQ(instants.size(), 4u);
    EXPECT_EQ(instants[0].kind, InstantKind::path_down);
    EXPECT_EQ(instants[0].detail, "10.0.0.1");
    EXPECT_EQ(instants[1].kind, InstantKind::failover);
    EXPECT_EQ(instants[1].detail, "10.0.0.1");
    EXPECT_EQ(instants[2].kind, InstantKind::path_up);
    EXPECT_DOUBLE_EQ(instants[2].t, 5.0);
    EXPECT_EQ(instants[3].kind, InstantKind::assoc_restart);
}

TEST(PlotData, MarkersFromTheFileByTimeOrWallClockAndFromTheCommandLine) {
    const std::string text = start_line +
        R"({"event":"marker","wall_unix":1003.0,"label":"path A cut"})" "\n"
        R"({"t":1.25,"event":"marker","label":"drain"})" "\n";
    TimelineBuilder builder;
    std::string error;
    ASSERT_TRUE(builder.add_marker("4=LB restart", error)) << error;
    ASSERT_TRUE(builder.add_file("a", text, error)) << error;
    const auto markers = builder.build().markers;
    ASSERT_EQ(markers.size(), 3u);  // in time order
    EXPECT_DOUBLE_EQ(markers[0].t, 1.25);
    EXPECT_EQ(markers[0].label, "drain");
    EXPECT_DOUBLE_EQ(markers[1].t, 2.5);
    EXPECT_EQ(markers[1].label, "path A cut");
    EXPECT_DOUBLE_EQ(markers[2].t, 4.0);
    EXPECT_EQ(markers[2].label, "LB restart");
    for (const char* bad : {"cut", "=cut", "x=cut", "-1=cut"}) {
        EXPECT_FALSE(builder.add_marker(bad, error)) << bad;
        EXPECT_NE(error.find("T=LABEL"), std::string::npos) << error;
    }
}

TEST(PlotData, SeveralFilesLineUpByTheirStartClock) {
    const std::string first = start_line +
        R"({"t":1.0,"event":"sent","client":0,"assoc":1,"seq":0})" "\n";
    const std::string second =
        R"({"t":0,"event":"start","wall_unix":1002.5})" "\n"
        R"({"t":1.0,"event":"sent","client":0,"assoc":1,"seq":0})" "\n";
    TimelineBuilder builder;
    std::string error;
    ASSERT_TRUE(builder.add_file("/tmp/lb-a.jsonl", first, error)) << error;
    ASSERT_TRUE(builder.add_file("/tmp/lb-b.jsonl", second, error)) << error;
    const Timeline timeline = builder.build();
    ASSERT_EQ(timeline.lanes, (std::vector<std::string>{"lb-a client 0", "lb-b client 0"}));
    ASSERT_EQ(timeline.lost.size(), 2u);
    EXPECT_DOUBLE_EQ(timeline.lost[0].t, 1.0);
    EXPECT_DOUBLE_EQ(timeline.lost[1].t, 3.0);  // started 2 s later
}

TEST(PlotData, BadFilesGiveTheFileTheLineAndWhy) {
    struct Case {
        const char* what;
        std::string text;
        std::string error;
    };
    const Case cases[] = {
        {"empty", "", "f: empty (no events)"},
        {"blank lines only", "\n  \n", "f: empty (no events)"},
        {"not JSON", start_line + "{\"t\":1,\"event\n", "f:2: not a JSON object"},
        {"an array", start_line + "[1,2]\n", "f:2: not a JSON object"},
        {"no start", R"({"t":1,"event":"sent","client":0,"seq":0})" "\n", "f:1: the first record must be"},
        {"no kind", start_line + R"({"t":1})" "\n", "f:2: no text \"event\""},
        {"echo without rtt", start_line +
             R"({"t":1,"event":"echo","client":0,"seq":0,"server":"s","path":"p"})" "\n",
         "f:2: echo record with no number \"rtt_ms\""},
        {"negative client", start_line + R"({"t":1,"event":"sent","client":-1,"seq":0})" "\n",
         "f:2: sent record with no non-negative integer \"client\""},
    };
    for (const auto& bad : cases) {
        TimelineBuilder builder;
        std::string error;
        EXPECT_FALSE(builder.add_file("f", bad.text, error)) << bad.what;
        EXPECT_EQ(error.substr(0, bad.error.size()), bad.error) << bad.what << ": " << error;
    }
}

TEST(PlotData, UnknownKindsOfALaterSchemaAreSkipped) {
    const std::string text = start_line +
        R"({"t":1,"event":"something_new","x":1})" "\n"
        R"({"t":2,"event":"primary_set","client":0,"assoc":1,"address":"10.0.0.2"})" "\n";
    TimelineBuilder builder;
    std::string error;
    ASSERT_TRUE(builder.add_file("f", text, error)) << error;
    const Timeline timeline = builder.build();
    EXPECT_TRUE(timeline.lanes.empty());
    EXPECT_DOUBLE_EQ(timeline.end, 2.0);
}

}  // namespace
}  // namespace sctpt
