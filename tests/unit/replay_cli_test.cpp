// `sctplb replay` end to end: the built binary over captures written here.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/packet_builder.hpp"

namespace {

using namespace sctplb::test;
using json = nlohmann::ordered_json;  // keeps key order, which is part of the output format

// ---------------------------------------------------------------- packets
// (the builders are tests/support/packet_builder.hpp)

// DATA with TSN `tsn` on stream 0 and 4 bytes of user data.
Bytes data_tsn(std::uint32_t tsn) { return data_chunk(4, 0x03, true, {.tsn = tsn, .stream = 0}); }

// Ethernet + IPv4 (DF) + SCTP common header (§3.1) + chunks. The checksum is left
// zero: the LB never checks it (the servers do).
Bytes sctp_frame(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport,
                 std::uint32_t vtag, const Bytes& chunks) {
    return ethernet(kEtherTypeIpv4, ipv4(sctp(chunks, vtag, sport, dport), {.src = src, .dst = dst, .fragment = 0x4000}));
}

Bytes arp_frame() {
    return bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06,
                  0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01});
}

struct TimedFrame {
    std::int64_t ns;  // since the capture start
    Bytes frame;
};

void write_pcap(const std::string& path, const std::vector<TimedFrame>& frames, int link_type = DLT_EN10MB) {
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(link_type, 65535, PCAP_TSTAMP_PRECISION_NANO);
    ASSERT_NE(dead, nullptr);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
    constexpr std::int64_t kStart = 1'700'000'000LL * 1'000'000'000LL;
    for (const auto& f : frames) {
        pcap_pkthdr header{};
        const std::int64_t t = kStart + f.ns;
        header.ts.tv_sec = t / 1'000'000'000;
        header.ts.tv_usec = t % 1'000'000'000;
        header.caplen = header.len = static_cast<bpf_u_int32>(f.frame.size());
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, reinterpret_cast<const u_char*>(f.frame.data()));
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

// ------------------------------------------------------------- the scenario

constexpr const char* kClientA = "192.168.2.221";
constexpr const char* kClientB = "192.168.3.221";
constexpr const char* kVip1 = "10.0.0.1";
constexpr const char* kVip2 = "10.0.0.2";
constexpr std::uint16_t kPort = 36412;  // S1AP: the same port on both sides
constexpr std::uint32_t kTc = 0x11223344;
constexpr std::uint32_t kTs = 0x55667788;
constexpr std::int64_t kMs = 1'000'000;

// A multihomed association as a DSR load balancer sees it: INIT on path A,
// COOKIE ECHO and DATA on path A, then HEARTBEAT and DATA on path B (other
// source address, same ports and vtag). With `with_init_ack` the capture also
// holds the server's INIT ACK and a SACK (taken on a router).
std::vector<TimedFrame> multihomed_association(bool with_init_ack) {
    std::vector<TimedFrame> frames;
    frames.push_back({0, sctp_frame(kClientA, kVip1, kPort, kPort, 0,
                                    init_chunk(kTc, v4_param(kClientA) + v4_param(kClientB)))});
    if (with_init_ack) {
        const Bytes cookie = param(kParamStateCookie, bytes({0xc0, 0x01, 0xc0, 0x01}));
        frames.push_back({1 * kMs, sctp_frame(kVip1, kClientA, kPort, kPort, kTc,
                                              init_chunk(kTs, v4_param(kVip1) + v4_param(kVip2) + cookie, sctplb::ChunkType::InitAck))});
    }
    frames.push_back({1 * kMs + 500, arp_frame()});
    frames.push_back({2 * kMs, sctp_frame(kClientA, kVip1, kPort, kPort, kTs,
                                          cookie_echo_chunk(bytes({0xc0, 0x01, 0xc0, 0x01})))});
    frames.push_back({3 * kMs, sctp_frame(kClientA, kVip1, kPort, kPort, kTs, data_tsn(1000))});
    frames.push_back({4 * kMs, sctp_frame(kClientB, kVip2, kPort, kPort, kTs, heartbeat_chunk())});
    frames.push_back({5 * kMs, sctp_frame(kClientB, kVip2, kPort, kPort, kTs, data_tsn(1001))});
    if (with_init_ack)
        frames.push_back({6 * kMs, sctp_frame(kVip2, kClientB, kPort, kPort, kTc, sack_chunk(1001))});
    return frames;
}

// ---------------------------------------------------------------- running

struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
    [[nodiscard]] std::vector<std::string> out_lines() const { return lines(out); }
    [[nodiscard]] std::vector<std::string> err_lines() const { return lines(err); }
    static std::vector<std::string> lines(const std::string& text) {
        std::vector<std::string> result;
        std::istringstream stream(text);
        for (std::string line; std::getline(stream, line);) result.push_back(line);
        return result;
    }
};

std::string shell_quote(const std::string& word) {
    std::string out = "'";
    for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

class ReplayCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("sctplb-replay-cli-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    [[nodiscard]] std::string file(const std::string& name) const { return (dir_ / name).string(); }

    // Runs `sctplb ARGS...`, capturing stdout and stderr apart.
    RunResult run(const std::vector<std::string>& args) const {
        const std::string err_path = file("stderr.txt");
        std::string command = shell_quote(SCTPLB_BINARY);
        // Not `" " + shell_quote(arg)`: gcc 12 at -O3 reports a false -Wrestrict inside
        // libstdc++ for that (GCC bugs 105329, 105651).
        for (const auto& arg : args) {
            command += ' ';
            command += shell_quote(arg);
        }
        command += " 2>" + shell_quote(err_path);
        RunResult result;
        FILE* pipe = ::popen(command.c_str(), "r");
        if (pipe == nullptr) return result;
        char buffer[4096];
        std::size_t got;
        while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, got);
        const int status = ::pclose(pipe);
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        std::ifstream err(err_path);
        result.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
        return result;
    }

    // A usage error: exit 2, nothing on stdout, exactly one "sctplb replay: ..." line on stderr.
    void expect_usage_error(const std::vector<std::string>& args, const std::string& mentions = "") const {
        std::string joined;
        for (const auto& a : args) joined += a + " ";
        SCOPED_TRACE(joined);
        const RunResult r = run(args);
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_EQ(r.out, "");
        const auto lines = r.err_lines();
        ASSERT_EQ(lines.size(), 1u) << r.err;
        EXPECT_EQ(lines[0].rfind(args.empty() || args[0] != "replay" ? "sctplb: " : "sctplb replay: ", 0), 0u)
            << lines[0];
        if (!mentions.empty()) {
            EXPECT_NE(lines[0].find(mentions), std::string::npos) << lines[0];
        }
    }

    std::string scenario_pcap(bool with_init_ack) {
        const std::string path = file(with_init_ack ? "router-view.pcap" : "dsr-view.pcap");
        write_pcap(path, multihomed_association(with_init_ack));
        return path;
    }

    std::filesystem::path dir_;
};

std::vector<json> parse_json_lines(const RunResult& r) {
    std::vector<json> objects;
    for (const auto& line : r.out_lines()) {
        EXPECT_TRUE(json::accept(line)) << line;
        if (json::accept(line)) objects.push_back(json::parse(line));
    }
    return objects;
}

std::vector<std::string> keys_of(const json& object) {
    std::vector<std::string> keys;
    for (auto it = object.begin(); it != object.end(); ++it) keys.push_back(it.key());
    return keys;
}

// ------------------------------------------------------------------- tests

TEST_F(ReplayCliTest, EveryPathOfTheAssociationGoesToOneTargetInBothHashModes) {
    for (bool with_init_ack : {false, true}) {
        for (const char* mode : {"vtag", "ports"}) {
            SCOPED_TRACE(std::string(mode) + (with_init_ack ? " with INIT ACK" : " DSR view"));
            const std::string pcap = scenario_pcap(with_init_ack);
            const RunResult r = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2",
                                     "--targets", "7", "--M", "101", "--hash", mode, "--json"});
            ASSERT_EQ(r.exit_code, 0) << r.err;
            EXPECT_EQ(r.err, "");
            const auto objects = parse_json_lines(r);
            const std::size_t packets = multihomed_association(with_init_ack).size();
            ASSERT_EQ(objects.size(), packets + 1);

            std::set<std::uint32_t> in_fwmarks;
            std::size_t in_lines = 0;
            for (std::size_t i = 0; i < packets; ++i) {
                const json& line = objects[i];
                SCOPED_TRACE(line.dump());
                EXPECT_EQ(keys_of(line),
                          (std::vector<std::string>{"n", "dir", "verdict", "fwmark", "reason", "src", "dst",
                                                    "sport", "dport", "vtag", "chunks"}));
                EXPECT_EQ(line["n"], i + 1);
                if (line["dir"] == "in") {
                    ++in_lines;
                    EXPECT_EQ(line["verdict"], "accept");
                    ASSERT_TRUE(line["fwmark"].is_number());
                    in_fwmarks.insert(line["fwmark"].get<std::uint32_t>());
                    EXPECT_EQ(line["sport"], kPort);
                    EXPECT_EQ(line["dport"], kPort);
                } else if (line["dir"] == "out") {
                    EXPECT_EQ(line["verdict"], "accept");
                    EXPECT_TRUE(line["fwmark"].is_null());
                } else {
                    // The ARP frame: counted, nothing parsed.
                    EXPECT_EQ(line["dir"], "other");
                    EXPECT_TRUE(line["src"].is_null());
                    EXPECT_TRUE(line["vtag"].is_null());
                    EXPECT_TRUE(line["chunks"].is_null());
                }
            }
            EXPECT_EQ(in_lines, 5u);
            ASSERT_EQ(in_fwmarks.size(), 1u);
            const std::uint32_t fwmark = *in_fwmarks.begin();
            EXPECT_GE(fwmark, 1u);
            EXPECT_LE(fwmark, 7u);

            EXPECT_EQ(objects[0]["reason"], "init-hash");
            EXPECT_EQ(objects[0]["vtag"], "0x00000000");
            EXPECT_EQ(objects[0]["chunks"], json::array({"INIT"}));
            EXPECT_EQ(objects[0]["src"], "192.168.2.221");
            EXPECT_EQ(objects[0]["dst"], "10.0.0.1");

            const json& summary = objects.back()["summary"];
            EXPECT_EQ(keys_of(objects.back()), std::vector<std::string>{"summary"});
            EXPECT_EQ(summary["packets"], packets);
            EXPECT_EQ(summary["counters"]["init-hash"], 1);
            EXPECT_EQ(summary["counters"]["unknown-association"], 0);
            EXPECT_TRUE(summary["counters"].contains("expired-idle"));
            ASSERT_EQ(summary["associations"].size(), 1u);
            const json& association = summary["associations"][0];
            EXPECT_EQ(keys_of(association), (std::vector<std::string>{"sport", "dport", "tc", "ts", "fwmark",
                                                                      "addresses", "state"}));
            EXPECT_EQ(association["tc"], "0x11223344");
            EXPECT_EQ(association["ts"], "0x55667788");
            EXPECT_EQ(association["fwmark"], fwmark);
            EXPECT_EQ(association["state"], "established");
            const auto addresses = association["addresses"].get<std::vector<std::string>>();
            EXPECT_EQ(std::set<std::string>(addresses.begin(), addresses.end()),
                      (std::set<std::string>{"192.168.2.221", "192.168.3.221"}));
        }
    }
}

TEST_F(ReplayCliTest, OptionEqualsValueFormGivesTheSameOutput) {
    const std::string pcap = scenario_pcap(false);
    const RunResult spaced = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2", "--fwmarks",
                                  "10,20,30", "--hash", "ports", "--M", "13", "--json"});
    const RunResult equals = run({"replay", "--pcap=" + pcap, "--vip=10.0.0.1,10.0.0.2",
                                  "--fwmarks=10,20,30", "--hash=ports", "--M=13", "--json"});
    ASSERT_EQ(spaced.exit_code, 0) << spaced.err;
    ASSERT_EQ(equals.exit_code, 0) << equals.err;
    EXPECT_EQ(spaced.out, equals.out);
    for (const auto& line : parse_json_lines(spaced)) {
        if (line.contains("fwmark") && line["fwmark"].is_number()) {
            const auto mark = line["fwmark"].get<std::uint32_t>();
            EXPECT_TRUE(mark == 10 || mark == 20 || mark == 30) << mark;
        }
    }
}

TEST_F(ReplayCliTest, UnknownMidAssociationPacketIsDroppedInVtagModeAndPinnedInPortsMode) {
    const std::string pcap = file("unknown.pcap");
    write_pcap(pcap, {{0, sctp_frame(kClientA, kVip1, kPort, kPort, 0x0badcafe, data_tsn(7))},
                      {kMs, sctp_frame(kClientB, kVip1, kPort, kPort, 0x0badcafe, data_tsn(8))}});
    const RunResult vtag = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1", "--json"});
    ASSERT_EQ(vtag.exit_code, 0) << vtag.err;
    auto objects = parse_json_lines(vtag);
    ASSERT_EQ(objects.size(), 3u);
    EXPECT_EQ(objects[0]["verdict"], "drop");
    EXPECT_EQ(objects[0]["reason"], "unknown-association");
    EXPECT_TRUE(objects[0]["fwmark"].is_null());
    EXPECT_EQ(objects[2]["summary"]["counters"]["unknown-association"], 2);

    const RunResult ports = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1", "--hash", "ports", "--json"});
    ASSERT_EQ(ports.exit_code, 0) << ports.err;
    objects = parse_json_lines(ports);
    ASSERT_EQ(objects.size(), 3u);
    EXPECT_EQ(objects[0]["verdict"], "accept");
    EXPECT_EQ(objects[0]["reason"], "ports-hash");
    EXPECT_TRUE(objects[0]["fwmark"].is_number());
}

TEST_F(ReplayCliTest, TimeoutsRunOnCaptureTime) {
    // The association idles past the 10-minute idle timeout in capture time:
    // the next DATA finds nothing (vtag mode never guesses).
    auto frames = multihomed_association(false);
    const std::int64_t eleven_minutes = 11LL * 60 * 1000 * kMs;
    frames.push_back({eleven_minutes, sctp_frame(kClientA, kVip1, kPort, kPort, kTs, data_tsn(1002))});
    const std::string pcap = file("idle.pcap");
    write_pcap(pcap, frames);
    const RunResult r = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto objects = parse_json_lines(r);
    ASSERT_EQ(objects.size(), frames.size() + 1);
    EXPECT_EQ(objects[frames.size() - 2]["verdict"], "accept");
    EXPECT_EQ(objects[frames.size() - 1]["verdict"], "drop");
    EXPECT_EQ(objects[frames.size() - 1]["reason"], "unknown-association");
    EXPECT_EQ(objects.back()["summary"]["counters"]["expired-idle"], 1);
    EXPECT_EQ(objects.back()["summary"]["associations"].size(), 0u);
}

TEST_F(ReplayCliTest, TextOutputHasATableAndASummary) {
    const std::string pcap = scenario_pcap(true);
    const RunResult r = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto lines = r.out_lines();
    ASSERT_GT(lines.size(), 9u);
    EXPECT_NE(lines[0].find("VERDICT"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("init-hash"), std::string::npos) << lines[1];
    EXPECT_NE(lines[1].find("192.168.2.221"), std::string::npos) << lines[1];
    EXPECT_NE(r.out.find("init-ack-learned"), std::string::npos);
    EXPECT_NE(r.out.find("packets: 8"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("192.168.2.221, 192.168.3.221"), std::string::npos) << r.out;
    // Only non-zero counters are listed.
    EXPECT_EQ(r.out.find("table-full"), std::string::npos) << r.out;
}

TEST_F(ReplayCliTest, HelpListsOptionsAndCommands) {
    const RunResult replay_help = run({"replay", "--help"});
    EXPECT_EQ(replay_help.exit_code, 0);
    EXPECT_EQ(replay_help.err, "");
    for (const char* option : {"--pcap", "--vip", "--targets", "--fwmarks", "--hash", "--M", "--seed-file",
                               "--encap-port", "--json", "--diagram", "--diagram-packets", "--diagram-association"})
        EXPECT_NE(replay_help.out.find(option), std::string::npos) << option;

    const RunResult top_help = run({"--help"});
    EXPECT_EQ(top_help.exit_code, 0);
    EXPECT_NE(top_help.out.find("replay"), std::string::npos) << top_help.out;
}

TEST_F(ReplayCliTest, UsageErrorsAreOneLineAndExitTwo) {
    const std::string pcap = scenario_pcap(false);
    const std::string vip = "10.0.0.1";
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--bogus"}, "--bogus");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--json=yes"}, "--json");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--hash"}, "--hash");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--hash", "random"}, "random");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--M", "1000"}, "1000");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--M", "7", "--targets", "8"}, "7");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--targets", "0"}, "--targets");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--targets", "3", "--fwmarks", "1,2"});
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--fwmarks", "1,2,1"}, "twice");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--fwmarks", "1,,2"}, "--fwmarks");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--encap-port", "70000"}, "70000");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--weights", "1,2"}, "2 weights for 3 targets");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--weights", "1,0,1"}, "'0' is not a weight in 1..100");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--weights", "1,101,1"}, "'101' is not a weight");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--M", "5", "--weights", "1,4,1"}, "sum of the targets' weights");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", "10.0.0.300"}, "10.0.0.300");
    expect_usage_error({"replay", "--pcap", pcap}, "--vip");
    expect_usage_error({"replay", "--vip", vip}, "--pcap");
    expect_usage_error({"replay", "--pcap", pcap, "--pcap", pcap, "--vip", vip}, "twice");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "stray"}, "stray");
    expect_usage_error({"replay", "--pcap", file("missing.pcap"), "--vip", vip}, "missing.pcap");
    expect_usage_error({"frobnicate"}, "frobnicate");
    expect_usage_error({});
}

// `--weights`: the summary sets each target's share of the new associations
// beside its weight's share. 3000 INITs from distinct clients with distinct
// tags (vtag mode hashes the tag), 1 ms apart.
TEST_F(ReplayCliTest, WeightsShowInTheShareOfNewAssociations) {
    std::vector<TimedFrame> frames;
    constexpr int kInits = 3000;
    for (int i = 0; i < kInits; ++i) {
        const std::string client = "192.168." + std::to_string(10 + i / 250) + "." + std::to_string(1 + i % 250);
        frames.push_back({i * kMs, sctp_frame(client.c_str(), kVip1, kPort, kPort, 0,
                                              init_chunk(0x1000 + 7919u * static_cast<std::uint32_t>(i), Bytes{}))});
    }
    const std::string pcap = file("many-inits.pcap");
    write_pcap(pcap, frames);
    struct Case {
        std::vector<std::string> targets;
        std::vector<double> weight_shares;
    };
    for (const Case& c : {Case{{"--targets", "2", "--weights", "1,2"}, {1.0 / 3, 2.0 / 3}},
                          Case{{"--fwmarks", "7,8,9", "--weights", "1,1,3"}, {0.2, 0.2, 0.6}}}) {
        std::vector<std::string> args = {"replay", "--pcap", pcap, "--vip", kVip1, "--json"};
        args.insert(args.end(), c.targets.begin(), c.targets.end());
        SCOPED_TRACE(c.targets.back());
        const RunResult r = run(args);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const json summary = parse_json_lines(r).back()["summary"];
        const json& targets = summary["targets"];
        ASSERT_EQ(targets.size(), c.weight_shares.size());
        for (std::size_t i = 0; i < targets.size(); ++i) {
            const double share = targets[i]["new_share"].get<double>();
            std::printf("weights %s: fwmark %u weight %u share %.3f (weight share %.3f)\n", c.targets.back().c_str(),
                        targets[i]["fwmark"].get<unsigned>(), targets[i]["weight"].get<unsigned>(), share,
                        c.weight_shares[i]);
            EXPECT_NEAR(targets[i]["weight_share"].get<double>(), c.weight_shares[i], 1e-9);
            // Binomial sigma at n=3000 is < 0.9%; slot rounding adds < 0.3%.
            EXPECT_NEAR(share, c.weight_shares[i], 0.04);
        }
    }
    const RunResult text = run({"replay", "--pcap", pcap, "--vip", kVip1, "--targets", "2", "--weights", "1,2"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("targets: new associations against weights"), std::string::npos) << text.out;
}

// `--diagram`: what /usr/bin/python3's XML parser finds in the file: the root
// element and the number of packet groups (one arrow each). Not `python3` on
// PATH, which may be a slow shim.
std::string svg_root_and_packets(const std::string& path) {
    std::string command =
        "/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
        "print(r.tag, sum(1 for g in r.iter(\"{http://www.w3.org/2000/svg}g\") if g.get(\"class\") == \"packet\"))' ";
    command += shell_quote(path);
    command += " 2>&1";
    std::string out;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
        char buffer[512];
        std::size_t got;
        while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
        ::pclose(pipe);
    }
    return out;
}

// What svg_root_and_packets prints for an SVG document of `packets` arrows.
std::string svg_with_packets(std::size_t packets) {
    std::string expected = "{http://www.w3.org/2000/svg}svg ";
    expected += std::to_string(packets);
    expected += '\n';
    return expected;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(ReplayCliTest, DiagramDrawsOneArrowPerPacketWithItsDecision) {
    const std::string pcap = std::string(SCTPLB_TEST_DATA_DIR) + "/multihomed-v4.pcap";
    const std::string svg = file("multihomed.svg");
    const RunResult r = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2", "--json", "--diagram", svg});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::size_t to_or_from_vip = 0;
    for (const json& line : parse_json_lines(r))
        if (line.contains("dir") && (line["dir"] == "in" || line["dir"] == "out")) ++to_or_from_vip;
    ASSERT_GT(to_or_from_vip, 50u);
    EXPECT_EQ(svg_root_and_packets(svg), svg_with_packets(to_or_from_vip));
    const std::string text = read_text(svg);
    EXPECT_GT(text.size(), 10'000u);
    EXPECT_LT(text.size(), 1'000'000u);
    for (const char* words : {">accept  fwmark ", "  init-hash<", "  cookie-echo", "  established<", ">INIT  ",
                              ">COOKIE_ECHO  ", ">HEARTBEAT  ", ">192.168.2.221<", ">192.168.6.221<",
                              ">10.0.0.1, 10.0.0.2<"})
        EXPECT_NE(text.find(words), std::string::npos) << words;

    // The bound, and one association by its number or by either tag (tests/data/multihomed-v4.txt).
    const RunResult bounded = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2", "--diagram", svg,
                                   "--diagram-packets", "12"});
    ASSERT_EQ(bounded.exit_code, 0) << bounded.err;
    EXPECT_EQ(svg_root_and_packets(svg), svg_with_packets(12));
    std::string drawn = ": 12 of ";
    drawn += std::to_string(to_or_from_vip);
    drawn += " packets";
    EXPECT_NE(bounded.out.find(drawn), std::string::npos) << bounded.out;
    EXPECT_NE(bounded.out.find("  #1    53506 -> 36412  tc 0x40b49043  ts 0xf4eb64fb"), std::string::npos)
        << bounded.out;
    for (const char* association : {"1", "0x40b49043", "0xf4eb64fb"}) {
        SCOPED_TRACE(association);
        const RunResult one = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2", "--diagram", svg,
                                   "--diagram-association", association});
        ASSERT_EQ(one.exit_code, 0) << one.err;
        EXPECT_EQ(svg_root_and_packets(svg), svg_with_packets(to_or_from_vip));
    }
    const RunResult none = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2", "--diagram", svg,
                                "--diagram-association", "2"});
    ASSERT_EQ(none.exit_code, 0) << none.err;
    EXPECT_EQ(svg_root_and_packets(svg), svg_with_packets(0));
}

TEST_F(ReplayCliTest, DiagramDropsEndAtTheLbWithTheirReason) {
    const std::string pcap = file("unknown.pcap");
    write_pcap(pcap, {{0, sctp_frame(kClientA, kVip1, kPort, kPort, 0x0badcafe, data_tsn(7))}});
    const std::string svg = file("drop.svg");
    const RunResult r = run({"replay", "--pcap", pcap, "--vip", kVip1, "--diagram", svg});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(svg_root_and_packets(svg), svg_with_packets(1));
    const std::string text = read_text(svg);
    EXPECT_NE(text.find(">drop  unknown-association<"), std::string::npos) << text;
    EXPECT_EQ(text.find("server (target)"), std::string::npos) << "a dropped packet reaches no server lane";
}

TEST_F(ReplayCliTest, DiagramOptionErrorsAreOneLine) {
    const std::string pcap = scenario_pcap(false);
    const std::string vip = "10.0.0.1";
    const std::string svg = file("d.svg");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--diagram", svg, "--diagram-packets", "0"},
                       "--diagram-packets: must be 1..10000");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--diagram", svg, "--diagram-packets", "10001"},
                       "--diagram-packets: must be 1..10000");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--diagram-packets", "5"}, "needs --diagram");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--diagram-association", "1"}, "needs --diagram");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--diagram", svg, "--diagram-association", "0x0"},
                       "--diagram-association: '0x0'");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--diagram", svg, "--diagram-association", "abc"},
                       "--diagram-association: 'abc'");
    std::string cannot_write = "cannot write ";
    cannot_write += file("no-dir/d.svg");
    cannot_write += ": No such file or directory";
    expect_usage_error({"replay", "--pcap", pcap, "--vip", vip, "--diagram", file("no-dir/d.svg")}, cannot_write);
    EXPECT_FALSE(std::filesystem::exists(svg));
}

TEST_F(ReplayCliTest, UnsupportedLinkTypeIsAUsageError) {
    const std::string pcap = file("wifi.pcap");
    write_pcap(pcap, {{0, zeros(40)}}, DLT_IEEE802_11);
    expect_usage_error({"replay", "--pcap", pcap, "--vip", "10.0.0.1"}, "not supported");
}

TEST_F(ReplayCliTest, SeedFileMustBePrivateAndLongEnough) {
    const std::string pcap = scenario_pcap(false);
    auto write_seed = [&](const std::string& name, std::size_t bytes, mode_t mode) {
        const std::string path = file(name);
        std::ofstream(path, std::ios::binary) << std::string(bytes, 'k');
        ::chmod(path.c_str(), mode);
        return path;
    };
    const std::string world_readable = write_seed("seed-644", 32, 0644);
    const std::string too_short = write_seed("seed-short", 8, 0600);
    const std::string good = write_seed("seed-good", 32, 0600);
    expect_usage_error({"replay", "--pcap", pcap, "--vip", "10.0.0.1", "--seed-file", world_readable},
                       "readable by others");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", "10.0.0.1", "--seed-file", too_short}, "8 bytes");
    expect_usage_error({"replay", "--pcap", pcap, "--vip", "10.0.0.1", "--seed-file", file("no-seed")},
                       "no-seed");
    const RunResult r = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2", "--seed-file", good,
                             "--targets", "5", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto objects = parse_json_lines(r);
    ASSERT_FALSE(objects.empty());
    EXPECT_EQ(objects.back()["summary"]["associations"].size(), 1u);
}

TEST_F(ReplayCliTest, CaptureCutShortStillPrintsTheSummaryThenFails) {
    const std::string pcap = scenario_pcap(false);
    std::filesystem::resize_file(pcap, std::filesystem::file_size(pcap) - 10);
    const RunResult r = run({"replay", "--pcap", pcap, "--vip", "10.0.0.1,10.0.0.2", "--json"});
    EXPECT_EQ(r.exit_code, 2);
    const auto objects = parse_json_lines(r);
    ASSERT_FALSE(objects.empty());
    EXPECT_TRUE(objects.back().contains("summary"));
    EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
}

}  // namespace

// The "done when": `sctplb replay --json` on a real capture whose
// association uses two paths gives every "in" packet the same fwmark, in
// both hash modes (tests/data/README.md: multihomed-v4 cuts path A for 4 s).
TEST_F(ReplayCliTest, RealTwoPathCaptureKeepsOneFwmarkForEveryInPacket) {
    for (const char* mode : {"vtag", "ports"}) {
        SCOPED_TRACE(mode);
        const RunResult r = run({"replay", "--pcap", std::string(SCTPLB_TEST_DATA_DIR) + "/multihomed-v4.pcap",
                                 "--vip", "10.0.0.1,10.0.0.2", "--hash", mode, "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const auto objects = parse_json_lines(r);
        ASSERT_GT(objects.size(), 50u);
        std::set<std::uint64_t> fwmarks;
        std::set<std::string> sources;
        for (std::size_t i = 0; i + 1 < objects.size(); ++i) {
            const json& line = objects[i];
            if (line["dir"] != "in") continue;
            EXPECT_EQ(line["verdict"], "accept") << line.dump();
            ASSERT_TRUE(line["fwmark"].is_number()) << line.dump();
            fwmarks.insert(line["fwmark"].get<std::uint64_t>());
            sources.insert(line["src"].get<std::string>());
        }
        EXPECT_EQ(fwmarks.size(), 1u);
        EXPECT_EQ(sources, (std::set<std::string>{"192.168.2.221", "192.168.6.221"}));
        const json& summary = objects.back()["summary"];
        ASSERT_EQ(summary["associations"].size(), 1u);
        EXPECT_EQ(summary["associations"][0]["addresses"].size(), 2u);
        EXPECT_EQ(summary["counters"]["unknown-association"], 0);
    }
}
