// The control commands (init, delete, activate, deactivate, down, show, assoc,
// stats, loglevel, trace), run as functions with their command-line words.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "io/association_export.hpp"
#include "cli/control.hpp"
#include "core/number_text.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {
namespace {

using nlohmann::json;
using RunFunction = int (*)(std::span<const std::string>);

struct Result {
    int status;
    std::string out;
    std::string err;
};

Result run(RunFunction command, std::vector<std::string> args) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int status = command(args);
    std::fflush(stdout);
    std::fflush(stderr);
    Result result{status, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
    return result;
}

std::int64_t monotonic_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

std::size_t line_count(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

class ControlTest : public ::testing::Test {
protected:
    void SetUp() override {
        static int counter = 0;
        const std::string id = std::to_string(getpid()) + "-" + std::to_string(counter++);
        name_ = "sctplb-cli-test-" + id;
        dir_ = std::filesystem::temp_directory_path() / ("sctplb-cli-test-" + id);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override {
        std::string ignored;
        for (const auto& name : created_) SharedState::remove(name, ignored);
        SharedState::remove(name_, ignored);
        std::filesystem::remove_all(dir_);
    }

    std::string shm(const std::string& name) { return "--shm=" + name; }
    std::string shm() { return shm(name_); }

    // A small segment; `extra` adds options.
    void init(const std::string& name, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{shm(name), "--M=97", "--N=4", "--capacity=256"};
        args.insert(args.end(), extra.begin(), extra.end());
        const Result r = run(run_init, args);
        ASSERT_EQ(r.status, 0) << r.err;
        created_.push_back(name);
    }
    void init() { init(name_); }

    SharedState open(const std::string& name) {
        std::string error;
        auto state = SharedState::open(name, error);
        EXPECT_TRUE(state.has_value()) << error;
        return std::move(*state);
    }

    json show_json(const std::string& name) {
        const Result r = run(run_show, {shm(name), "--json"});
        EXPECT_EQ(r.status, 0) << r.err;
        return json::parse(r.out);
    }

    std::string write_file(const std::string& file, const std::string& text, mode_t mode) {
        const std::string path = (dir_ / file).string();
        std::ofstream(path) << text;
        chmod(path.c_str(), mode);
        return path;
    }

    std::string name_;
    std::filesystem::path dir_;
    std::vector<std::string> created_;
};

// ---- the sctplb binary: version ---------------------------------------------

// Runs the sctplb binary with `args` (words without shell metacharacters); stdout and the exit
// status.
Result run_binary(const std::string& args) {
    Result result{-1, "", ""};
    FILE* pipe = ::popen((std::string(SCTPLB_BINARY) + " " + args + " 2>/dev/null").c_str(), "r");
    if (pipe == nullptr) return result;
    char buffer[4096];
    std::size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, got);
    const int status = ::pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

TEST(SctplbBinary, VersionOptionAndCommandPrintTheProjectVersion) {
    for (const char* words : {"--version", "version"}) {
        const Result r = run_binary(words);
        EXPECT_EQ(r.status, 0) << words;
        EXPECT_EQ(r.out, std::string("sctplb ") + SCTPLB_EXPECTED_VERSION + "\n") << words;
    }
    EXPECT_NE(run_binary("--help").out.find("version"), std::string::npos) << "help lists version";
}

// ---- usage errors: exit 2, one line naming the command ---------------------

TEST_F(ControlTest, BadOptionsAreOneLineUsageErrors) {
    init();
    struct Case {
        const char* command_name;
        RunFunction command;
        std::vector<std::string> args;
        const char* message;
    };
    const std::vector<Case> cases = {
        {"init", run_init, {"--M=100"}, "--M: '100' is not a prime"},
        {"init", run_init, {"--M=7", "--N=8"}, "smaller than --N"},
        {"init", run_init, {"--N=0"}, "--N: '0' is not a number in 1..256"},
        {"init", run_init, {"--N=257"}, "--N"},
        {"init", run_init, {"--hash=crc"}, "neither vtag nor ports"},
        {"init", run_init, {"--capacity=0"}, "--capacity"},
        {"init", run_init, {"--idle-timeout=soon"}, "--idle-timeout"},
        {"init", run_init, {"--bogus"}, "unknown option --bogus"},
        {"init", run_init, {"extra"}, "unexpected argument 'extra'"},
        {"init", run_init, {"--shm=a/b"}, "--shm"},
        {"delete", run_delete, {"--force=yes"}, "takes no value"},
        {"activate", run_activate, {shm()}, "no FWMARK given"},
        {"activate", run_activate, {shm(), "0"}, "not a fwmark"},
        {"activate", run_activate, {shm(), "4294967296"}, "not a fwmark"},
        {"activate", run_activate, {shm(), "x"}, "not a fwmark"},
        {"activate", run_activate, {shm(), "1", "1"}, "given twice"},
        {"activate", run_activate, {shm(), "--index=1", "1", "2"}, "exactly one FWMARK"},
        {"activate", run_activate, {shm(), "--index=-1", "1"}, "not a slot"},
        {"activate", run_activate, {shm(), "--weight=0", "1"}, "--weight: '0' is not a weight in 1..100"},
        {"activate", run_activate, {shm(), "--weight=101", "1"}, "--weight: '101' is not a weight in 1..100"},
        {"activate", run_activate, {shm(), "--weight=x", "1"}, "not a weight"},
        {"deactivate", run_deactivate, {shm()}, "no FWMARK given"},
        {"down", run_down, {shm(), "7x"}, "not a fwmark"},
        {"show", run_show, {shm(), "--json=1"}, "takes no value"},
        {"assoc", run_assoc, {shm(), "--json", "--export=f"}, "exclude each other"},
        {"assoc", run_assoc, {shm(), "--import"}, "needs a value"},
        {"stats", run_stats, {shm(), "now"}, "unexpected argument"},
        {"metrics", run_metrics, {shm()}, "--listen ADDR:PORT is required"},
        {"metrics", run_metrics, {shm(), "--listen=127.0.0.1"}, "has no port"},
        {"metrics", run_metrics, {shm(), "--listen=[::1]:0"}, "port 1..65535"},
        {"loglevel", run_loglevel, {shm(), "8"}, "not a level in 0..7"},
        {"loglevel", run_loglevel, {shm(), "1", "2"}, "one LEVEL"},
        {"trace", run_trace, {shm(), "--on", "--off"}, "exclude each other"},
        {"trace", run_trace, {shm(), "--address=nowhere"}, "not an IPv4 or IPv6 address"},
        {"trace", run_trace, {shm(), "--port=65536"}, "not a port"},
    };
    for (const Case& c : cases) {
        const Result r = run(c.command, c.args);
        const std::string what = std::string(c.command_name) + " " + (c.args.empty() ? "" : c.args.back());
        EXPECT_EQ(r.status, 2) << what;
        EXPECT_EQ(line_count(r.err), 1u) << what << ": " << r.err;
        EXPECT_EQ(r.err.rfind("sctplb " + std::string(c.command_name) + ": ", 0), 0u) << what << ": " << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << what << ": " << r.err;
        EXPECT_TRUE(r.out.empty()) << what;
    }
}

TEST_F(ControlTest, EveryCommandHasHelp) {
    const std::vector<std::pair<const char*, RunFunction>> commands = {
        {"init", run_init},   {"delete", run_delete}, {"activate", run_activate}, {"deactivate", run_deactivate},
        {"down", run_down},   {"show", run_show},     {"assoc", run_assoc},       {"stats", run_stats},
        {"loglevel", run_loglevel}, {"trace", run_trace}, {"metrics", run_metrics},
    };
    for (const auto& [name, command] : commands) {
        const Result r = run(command, {"--help"});
        EXPECT_EQ(r.status, 0) << name;
        EXPECT_EQ(r.out.rfind(std::string("Usage: sctplb ") + name, 0), 0u) << name << ": " << r.out;
        EXPECT_NE(r.out.find("--shm NAME"), std::string::npos) << name;
    }
    const Result init_help = run(run_init, {"--help"});
    EXPECT_NE(init_help.out.find("same --seed-file"), std::string::npos) << "tier instances need a shared seed";
}

TEST_F(ControlTest, MissingSegmentIsARuntimeFailure) {
    for (RunFunction command : {run_show, run_assoc, run_stats, run_delete}) {
        const Result r = run(command, {shm()});
        EXPECT_EQ(r.status, 1);
        EXPECT_EQ(line_count(r.err), 1u) << r.err;
        EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
    }
}

// ---- init / delete ------------------------------------------------------------

TEST_F(ControlTest, InitCreatesOnceAndDeleteRemoves) {
    init(name_, {"--hash=ports", "--idle-timeout=120", "--half-open-timeout=90"});
    {
        SharedState state = open(name_);
        EXPECT_EQ(state.header().maglev_m, 97u);
        EXPECT_EQ(state.header().max_targets, 4u);
        EXPECT_EQ(state.header().hash_mode, HashMode::Ports);
        EXPECT_EQ(state.table().capacity(), 256u);
        EXPECT_EQ(state.table().timeouts().idle, std::chrono::seconds(120));
        EXPECT_EQ(state.table().timeouts().half_open, std::chrono::seconds(90));
    }
    const Result again = run(run_init, {shm(), "--M=97", "--N=4", "--capacity=256"});
    EXPECT_EQ(again.status, 1);
    EXPECT_EQ(again.err, "sctplb init: shared memory '" + name_ + "' exists; sctplb delete --shm=" + name_ + " first\n");

    const Result deleted = run(run_delete, {shm()});
    EXPECT_EQ(deleted.status, 0) << deleted.err;
    const Result gone = run(run_delete, {shm()});
    EXPECT_EQ(gone.status, 1);
}

TEST_F(ControlTest, DeleteRefusesWhileTheDaemonRuns) {
    init();
    open(name_).header().daemon_pid.store(getpid());  // this process stands in for sctplb lb
    const Result refused = run(run_delete, {shm()});
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("stop it first or use --force"), std::string::npos) << refused.err;
    EXPECT_EQ(run(run_delete, {shm(), "--force"}).status, 0);
}

TEST_F(ControlTest, RandomSeedsDifferAndASharedSeedFileAgrees) {
    const std::string seed = write_file("seed", "0123456789abcdef0123456789abcdef", 0600);
    const std::string a = name_ + "-a", b = name_ + "-b", c = name_ + "-c", d = name_ + "-d";
    init(a, {"--seed-file=" + seed});
    init(b, {"--seed-file", seed});
    init(c);
    init(d);
    for (const auto& name : {a, b, c, d}) ASSERT_EQ(run(run_activate, {shm(name), "1", "2", "3"}).status, 0);
    EXPECT_EQ(show_json(a)["config_digest"], show_json(b)["config_digest"]);
    EXPECT_EQ(show_json(a)["lookup"], show_json(b)["lookup"]);
    EXPECT_NE(show_json(c)["config_digest"], show_json(d)["config_digest"]) << "random seeds";
    EXPECT_NE(show_json(a)["config_digest"], show_json(c)["config_digest"]);
}

TEST_F(ControlTest, SeedFileReadableByOthersIsRefused) {
    for (const mode_t mode : {0640, 0604}) {
        const std::string seed = write_file("seed-" + std::to_string(mode), "0123456789abcdef0123456789abcdef", mode);
        const Result r = run(run_init, {shm(), "--seed-file=" + seed});
        EXPECT_EQ(r.status, 2) << mode;
        EXPECT_NE(r.err.find("readable by group or others"), std::string::npos) << r.err;
        EXPECT_EQ(run(run_show, {shm()}).status, 1) << "nothing created";
    }
    const std::string short_seed = write_file("short", "tiny", 0600);
    EXPECT_EQ(run(run_init, {shm(), "--seed-file=" + short_seed}).status, 2);
}

// ---- targets ------------------------------------------------------------------

TEST_F(ControlTest, ActivationOrderGivesTheSameDigestAndTable) {
    const std::string a = name_ + "-a", b = name_ + "-b";
    const std::string seed = write_file("seed", "fedcba9876543210fedcba9876543210", 0600);
    init(a, {"--seed-file=" + seed});
    init(b, {"--seed-file=" + seed});
    ASSERT_EQ(run(run_activate, {shm(a), "1", "2", "3"}).status, 0);
    ASSERT_EQ(run(run_activate, {shm(b), "3"}).status, 0);
    ASSERT_EQ(run(run_activate, {shm(b), "--index=3", "1"}).status, 0);
    ASSERT_EQ(run(run_activate, {shm(b), "2"}).status, 0);
    const json show_a = show_json(a), show_b = show_json(b);
    EXPECT_EQ(show_a["config_digest"], show_b["config_digest"]);
    EXPECT_EQ(show_a["lookup"], show_b["lookup"]);
    EXPECT_EQ(show_b["targets"][1]["slot"], 1);  // 2 took the first free slot
    EXPECT_EQ(show_b["targets"][2]["slot"], 3);  // --index=3
    EXPECT_EQ(show_b["targets"][2]["fwmark"], 1);
}

TEST_F(ControlTest, NumbersAreDecimalOrHexInEveryCommand) {
    init();
    // fwmarks as `rules --target` and `--mark-mask` take them: 0x10 is 16.
    ASSERT_EQ(run(run_activate, {shm(), "0x10", "0X11"}).status, 0);
    const json shown = show_json(name_);
    EXPECT_EQ(shown["targets"][0]["fwmark"], 16);
    EXPECT_EQ(shown["targets"][1]["fwmark"], 17);
    EXPECT_EQ(run(run_deactivate, {shm(), "0x10"}).status, 0);
    for (const char* bad : {"0x", "0x1g", "1e3", "0x100000000", " 1"}) {
        const Result refused = run(run_activate, {shm(), bad});
        EXPECT_EQ(refused.status, 2) << bad;  // a usage error
        EXPECT_NE(refused.err.find("(decimal or 0x-hex)"), std::string::npos) << refused.err;
    }
    EXPECT_EQ(parse_number64("18446744073709551615"), std::optional<std::uint64_t>(~std::uint64_t{0}));
    EXPECT_EQ(parse_number64("18446744073709551616"), std::nullopt);
    EXPECT_EQ(parse_number64("0xffffffffffffffff"), std::optional<std::uint64_t>(~std::uint64_t{0}));
}

TEST_F(ControlTest, ActivateRespectsSlots) {
    init();  // N = 4
    ASSERT_EQ(run(run_activate, {shm(), "10", "20", "30", "40"}).status, 0);
    const Result full = run(run_activate, {shm(), "50"});
    EXPECT_EQ(full.status, 1);
    EXPECT_NE(full.err.find("all 4 target slots are in use"), std::string::npos) << full.err;
    const Result moved = run(run_activate, {shm(), "--index=2", "10"});
    EXPECT_EQ(moved.status, 1);
    EXPECT_NE(moved.err.find("already in slot 0"), std::string::npos) << moved.err;
    const Result beyond = run(run_activate, {shm(), "--index=4", "60"});
    EXPECT_EQ(beyond.status, 1);
    EXPECT_NE(beyond.err.find("slots 0..3"), std::string::npos) << beyond.err;
    const Result unknown = run(run_deactivate, {shm(), "99"});
    EXPECT_EQ(unknown.status, 1);
    EXPECT_NE(unknown.err.find("fwmark 99 is not a target"), std::string::npos) << unknown.err;

    // A failed activate changed nothing.
    const json before = show_json(name_);
    EXPECT_EQ(run(run_activate, {shm(), "10", "50"}).status, 1);
    EXPECT_EQ(show_json(name_)["config_digest"], before["config_digest"]);

    // A down target's slot may be reused.
    ASSERT_EQ(run(run_down, {shm(), "40"}).status, 0);
    const Result reused = run(run_activate, {shm(), "50"});
    EXPECT_EQ(reused.status, 0) << reused.err;
    EXPECT_NE(reused.out.find("fwmark 50: active in slot 3"), std::string::npos) << reused.out;
}

// Inserts an established association straight into the table.
void add_association(SharedState& state, std::uint32_t last_octet, std::uint16_t sport, std::uint32_t ts,
                     std::uint32_t fwmark) {
    const TableLock lock(state);
    ASSERT_NE(state.table().insert_established(IpAddress::v4(0xc0000200u | last_octet), sport, 36412, ts, fwmark,
                                               Nanos{monotonic_ns()}),
              kNoAssociation);
}

std::map<std::uint32_t, int> associations_per_fwmark(SharedState& state) {
    std::map<std::uint32_t, int> out;
    const TableLock lock(state);
    state.table().for_each([&](AssociationId, const Association& a) { ++out[a.fwmark]; });
    return out;
}

TEST_F(ControlTest, DeactivateDrainsAndDownForgets) {
    init();
    ASSERT_EQ(run(run_activate, {shm(), "1", "2", "3"}).status, 0);
    SharedState state = open(name_);
    for (std::uint32_t i = 0; i < 6; ++i) add_association(state, 10 + i, static_cast<std::uint16_t>(5000 + i), 0x100 + i, 1 + i % 3);
    ASSERT_EQ(associations_per_fwmark(state), (std::map<std::uint32_t, int>{{1, 2}, {2, 2}, {3, 2}}));

    const Result drained = run(run_deactivate, {shm(), "1"});
    ASSERT_EQ(drained.status, 0) << drained.err;
    EXPECT_EQ(associations_per_fwmark(state), (std::map<std::uint32_t, int>{{1, 2}, {2, 2}, {3, 2}}))
        << "draining keeps every association pinned";
    for (const std::uint32_t fwmark : state.active_maglev()) ASSERT_NE(fwmark, 1u) << "no new association goes to 1";

    const Result down = run(run_down, {shm(), "2"});
    ASSERT_EQ(down.status, 0) << down.err;
    EXPECT_NE(down.out.find("2 associations forgotten"), std::string::npos) << down.out;
    EXPECT_EQ(associations_per_fwmark(state), (std::map<std::uint32_t, int>{{1, 2}, {3, 2}}));
    for (const std::uint32_t fwmark : state.active_maglev()) ASSERT_EQ(fwmark, 3u);

    const json shown = show_json(name_);
    EXPECT_EQ(shown["targets"][0]["state"], "draining");
    EXPECT_EQ(shown["targets"][1]["state"], "down");
    EXPECT_EQ(shown["targets"][2]["state"], "active");
    EXPECT_EQ(shown["targets"][2]["maglev_slots"], 97);
    EXPECT_EQ(shown["targets"][0]["maglev_slots"], 0);

    // Activating a draining or down target makes it active again.
    ASSERT_EQ(run(run_activate, {shm(), "1", "2"}).status, 0);
    std::set<std::uint32_t> owners(state.active_maglev().begin(), state.active_maglev().end());
    EXPECT_EQ(owners, (std::set<std::uint32_t>{1, 2, 3}));
}

// `activate --weight`: the share follows the weight, the digest changes, live
// associations stay where they are, and a re-activation keeps the weight.
TEST_F(ControlTest, ActivateWithAWeight) {
    init();  // M 97, N 4
    ASSERT_EQ(run(run_activate, {shm(), "1", "2", "3"}).status, 0);
    SharedState state = open(name_);
    for (std::uint32_t i = 0; i < 6; ++i) add_association(state, 10 + i, static_cast<std::uint16_t>(5000 + i), 0x100 + i, 1 + i % 3);
    const json equal = show_json(name_);
    EXPECT_EQ(equal["targets"][1]["weight"], 1);

    const Result weighted = run(run_activate, {shm(), "--weight=2", "2"});
    ASSERT_EQ(weighted.status, 0) << weighted.err;
    EXPECT_NE(weighted.out.find("fwmark 2: active in slot 1, weight 2"), std::string::npos) << weighted.out;
    const json shown = show_json(name_);
    EXPECT_NE(shown["config_digest"], equal["config_digest"]);
    EXPECT_EQ(shown["targets"][1]["weight"], 2);
    // Weights 1,2,1 over M 97: 24 whole rounds, so 24..25 slots per unit of weight.
    EXPECT_GE(shown["targets"][1]["maglev_slots"].get<int>(), 48);
    EXPECT_LE(shown["targets"][1]["maglev_slots"].get<int>(), 50);
    EXPECT_EQ(associations_per_fwmark(state), (std::map<std::uint32_t, int>{{1, 2}, {2, 2}, {3, 2}}))
        << "a weight change moves no live association";
    const Result text = run(run_show, {shm()});
    EXPECT_NE(text.out.find("WEIGHT"), std::string::npos) << text.out;

    // Drained and activated again without --weight: the weight stays.
    ASSERT_EQ(run(run_deactivate, {shm(), "2"}).status, 0);
    ASSERT_EQ(run(run_activate, {shm(), "2"}).status, 0);
    EXPECT_EQ(show_json(name_)["config_digest"], shown["config_digest"]);
    // Back to 1: the digest of the equal tier again.
    ASSERT_EQ(run(run_activate, {shm(), "--weight=1", "2"}).status, 0);
    EXPECT_EQ(show_json(name_)["config_digest"], equal["config_digest"]);

    // Weights summing to more than M (100 + 1 + 1 > 97) cannot be published:
    // refused in one line, nothing changes.
    const Result too_much = run(run_activate, {shm(), "--weight=100", "1"});
    EXPECT_EQ(too_much.status, 1);
    EXPECT_EQ(line_count(too_much.err), 1u) << too_much.err;
    EXPECT_NE(too_much.err.find("more than M"), std::string::npos) << too_much.err;
    const json after = show_json(name_);
    EXPECT_EQ(after["config_digest"], equal["config_digest"]);
    EXPECT_EQ(after["targets"][0]["weight"], 1);
}

TEST_F(ControlTest, ShowPrintsConfigurationAndDaemon) {
    init();
    ASSERT_EQ(run(run_activate, {shm(), "7"}).status, 0);
    json shown = show_json(name_);
    EXPECT_EQ(shown["M"], 97);
    EXPECT_EQ(shown["N"], 4);
    EXPECT_EQ(shown["hash"], "vtag");
    EXPECT_EQ(shown["lookup"].size(), 20u);
    for (const auto& slot : shown["lookup"]) EXPECT_EQ(slot, 7);
    EXPECT_TRUE(shown["daemon_pid"].is_null());
    EXPECT_EQ(shown["config_digest"].get<std::string>(), std::string(open(name_).header().config_digest));

    open(name_).header().daemon_pid.store(getpid());
    EXPECT_EQ(show_json(name_)["daemon_pid"], getpid());
    const Result text = run(run_show, {shm()});
    EXPECT_EQ(text.status, 0);
    EXPECT_NE(text.out.find("daemon: pid " + std::to_string(getpid())), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("active"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("100.0%"), std::string::npos) << text.out;
}

// ---- assoc ------------------------------------------------------------------

// A spread of associations exercising every exported field.
std::vector<Association> sample_associations(std::int64_t now) {
    std::vector<Association> out;
    Association half_open{};
    half_open.state = AssociationState::HalfOpen;
    half_open.sport = 40000;
    half_open.dport = 36412;
    half_open.tc = 0xdeadbeef;
    half_open.fwmark = 1;
    half_open.address_count = 2;
    half_open.addresses[0] = *IpAddress::parse("192.0.2.1");
    half_open.addresses[1] = *IpAddress::parse("198.51.100.1");
    half_open.created_ns = half_open.last_seen_ns = half_open.state_since_ns = now - 2'000'000'000;
    out.push_back(half_open);

    Association established{};
    established.state = AssociationState::Established;
    established.sport = 36412;
    established.dport = 36412;
    established.tc = 0x01020304;
    established.ts = 0xa0b0c0d0;
    established.fwmark = 2;
    established.address_count = 3;
    established.addresses[0] = *IpAddress::parse("2001:db8::1");
    established.addresses[1] = *IpAddress::parse("2001:db8:1::1");
    established.addresses[2] = *IpAddress::parse("192.0.2.7");
    established.server_address_count = 2;
    established.server_addresses[0] = *IpAddress::parse("203.0.113.1");
    established.server_addresses[1] = *IpAddress::parse("2001:db8:ff::1");
    established.created_ns = now - 60'000'000'000;
    established.last_seen_ns = now - 1'500'000'000;
    established.state_since_ns = now - 59'000'000'000;
    out.push_back(established);

    Association restart{};
    restart.state = AssociationState::RestartPending;
    restart.sport = 2905;
    restart.dport = 2905;
    restart.tc = 0x11111111;
    restart.ts = 0x22222222;
    restart.pending_tc = 0x33333333;
    restart.old_tags_linger = true;
    restart.old_tc = 0x44444444;
    restart.old_ts = 0x55555555;
    restart.old_tags_until_ns = now + 20'000'000'000;
    restart.fwmark = 3;
    restart.address_count = 1;
    restart.addresses[0] = *IpAddress::parse("192.0.2.9");
    restart.created_ns = now - 300'000'000'000;
    restart.last_seen_ns = now - 100'000'000;
    restart.state_since_ns = now - 1'000'000'000;
    out.push_back(restart);
    return out;
}

void insert_all(SharedState& state, const std::vector<Association>& associations) {
    const TableLock lock(state);
    for (const Association& a : associations) ASSERT_NE(state.table().insert_restored(a), kNoAssociation);
}

// Ordered by client port (unique among the samples).
std::vector<Association> table_contents(SharedState& state) {
    std::map<std::uint16_t, Association> by_port;
    {
        const TableLock lock(state);
        state.table().for_each([&](AssociationId, const Association& a) { by_port[a.sport] = a; });
    }
    std::vector<Association> out;
    for (const auto& [port, a] : by_port) out.push_back(a);
    return out;
}

TEST_F(ControlTest, ExportDeleteInitImportLosesNothing) {
    init();
    SharedState before_state = open(name_);
    insert_all(before_state, sample_associations(monotonic_ns()));
    const std::vector<Association> before = table_contents(before_state);
    ASSERT_EQ(before.size(), 3u);

    const std::string file = (dir_ / "associations.json").string();
    const Result exported = run(run_assoc, {shm(), "--export", file});
    ASSERT_EQ(exported.status, 0) << exported.err;
    EXPECT_EQ(exported.out, "exported 3 associations to " + file + "\n");
    EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));
    struct stat info {};
    ASSERT_EQ(stat(file.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u) << "tags in the file let anyone inject into an association";

    ASSERT_EQ(run(run_delete, {shm()}).status, 0);
    init();
    ASSERT_EQ(run(run_activate, {shm(), "1", "2", "3"}).status, 0);  // an import needs its targets
    const Result imported = run(run_assoc, {shm(), "--import=" + file});
    ASSERT_EQ(imported.status, 0) << imported.err;
    EXPECT_EQ(imported.out, "imported 3, skipped 0\n");

    SharedState after_state = open(name_);
    const std::vector<Association> after = table_contents(after_state);
    ASSERT_EQ(after.size(), before.size());
    const std::int64_t shift = after[0].created_ns - before[0].created_ns;  // time between export and import
    EXPECT_GE(shift, 0);
    EXPECT_LT(shift, 60'000'000'000);
    for (std::size_t i = 0; i < before.size(); ++i) {
        const Association& b = before[i];
        const Association& a = after[i];
        SCOPED_TRACE("association " + std::to_string(i));
        EXPECT_EQ(a.state, b.state);
        EXPECT_EQ(a.sport, b.sport);
        EXPECT_EQ(a.dport, b.dport);
        EXPECT_EQ(a.tc, b.tc);
        EXPECT_EQ(a.ts, b.ts);
        EXPECT_EQ(a.fwmark, b.fwmark);
        EXPECT_EQ(a.address_count, b.address_count);
        EXPECT_EQ(a.addresses, b.addresses);
        EXPECT_EQ(a.server_address_count, b.server_address_count);
        EXPECT_EQ(a.server_addresses, b.server_addresses);
        EXPECT_EQ(a.pending_tc, b.pending_tc);
        EXPECT_EQ(a.old_tags_linger, b.old_tags_linger);
        EXPECT_EQ(a.old_tc, b.old_tc);
        EXPECT_EQ(a.old_ts, b.old_ts);
        // Times move by one shift: ages and idle times are preserved.
        EXPECT_EQ(a.created_ns - b.created_ns, shift);
        EXPECT_EQ(a.last_seen_ns - b.last_seen_ns, shift);
        EXPECT_EQ(a.state_since_ns - b.state_since_ns, shift);
        EXPECT_EQ(a.old_tags_until_ns == 0, b.old_tags_until_ns == 0);
        if (b.old_tags_until_ns != 0) {
            EXPECT_EQ(a.old_tags_until_ns - b.old_tags_until_ns, shift);
        }
    }
    // Imported associations are found by the data path's lookups.
    {
        const TableLock lock(after_state);
        const Nanos now{monotonic_ns()};
        EXPECT_NE(after_state.table().find_by_ts(*IpAddress::parse("2001:db8:1::1"), 36412, 36412, 0xa0b0c0d0, now).id,
                  kNoAssociation);
        EXPECT_NE(after_state.table().find_by_tc(*IpAddress::parse("198.51.100.1"), 40000, 36412, 0xdeadbeef, now).id,
                  kNoAssociation);
    }

    const Result twice = run(run_assoc, {shm(), "--import=" + file});
    EXPECT_EQ(twice.status, 0) << twice.err;
    EXPECT_EQ(twice.out, "imported 0, skipped 3 (already in the table: 3)\n");
    EXPECT_EQ(table_contents(after_state).size(), 3u);
}

TEST_F(ControlTest, ImportIntoASmallerTableReportsWhatDidNotFit) {
    init();
    SharedState source = open(name_);
    for (std::uint32_t i = 0; i < 5; ++i) add_association(source, 20 + i, static_cast<std::uint16_t>(6000 + i), 0x900 + i, 1);
    const std::string file = (dir_ / "five.json").string();
    ASSERT_EQ(run(run_assoc, {shm(), "--export=" + file}).status, 0);

    const std::string small = name_ + "-small";
    ASSERT_EQ(run(run_init, {shm(small), "--M=97", "--N=4", "--capacity=3"}).status, 0);
    created_.push_back(small);
    ASSERT_EQ(run(run_activate, {shm(small), "1"}).status, 0);
    const Result r = run(run_assoc, {shm(small), "--import=" + file});
    EXPECT_EQ(r.status, 1) << "losing associations is a failure";
    EXPECT_EQ(r.out, "imported 3, skipped 2 (table full: 2)\n");
}

TEST_F(ControlTest, ImportRefusesBadDocuments) {
    init();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"not json", "not valid JSON"},
        {R"({"format":"other","version":1})", "not an sctplb association export"},
        {R"({"format":"sctplb-associations","version":2,"exported_monotonic_ns":1,"associations":[]})",
         "export version 2"},
        {R"({"format":"sctplb-associations","version":1,"associations":[]})", "exported_monotonic_ns"},
        {R"({"format":"sctplb-associations","version":1,"exported_monotonic_ns":1,"associations":[{"state":"established"}]})",
         "association 0: \"sport\" is missing"},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const std::string path = write_file("bad" + std::to_string(i), cases[i].first, 0600);
        const Result r = run(run_assoc, {shm(), "--import=" + path});
        EXPECT_EQ(r.status, 1) << cases[i].first;
        EXPECT_EQ(line_count(r.err), 1u) << r.err;
        EXPECT_NE(r.err.find(cases[i].second), std::string::npos) << r.err;
    }
    EXPECT_EQ(run(run_assoc, {shm(), "--import=" + (dir_ / "missing").string()}).status, 1);
}

TEST_F(ControlTest, AssociationFieldsAreCheckedOnImport) {
    std::string error;
    const Association a = sample_associations(1'000'000'000'000)[1];
    json good = json::parse(association_to_json(a).dump());
    ASSERT_TRUE(association_from_json(good, error).has_value()) << error;
    const std::vector<std::pair<std::string, json>> bad_fields = {
        {"sport", 65536},        {"sport", -1},           {"tc", "0x123456789"}, {"ts", 17},
        {"ts", "0xzz"},          {"state", "free"},       {"state", "weird"},    {"addresses", json::array()},
        {"addresses", {"1.2.3.4", "x"}}, {"fwmark", 4294967296LL}, {"old_tags_linger", 1},
        {"server_addresses", {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}},
    };
    for (const auto& [field, value] : bad_fields) {
        json item = good;
        item[field] = value;
        EXPECT_FALSE(association_from_json(item, error).has_value()) << field << " = " << value.dump();
        EXPECT_NE(error.find("\"" + field + "\""), std::string::npos) << error;
    }
}

TEST_F(ControlTest, AssocListsEveryAssociation) {
    init();
    SharedState state = open(name_);
    insert_all(state, sample_associations(monotonic_ns()));
    const Result r = run(run_assoc, {shm(), "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    const json listed = json::parse(r.out);
    ASSERT_EQ(listed["count"], 3);
    bool found = false;
    for (const auto& item : listed["associations"]) {
        if (item["sport"] != 36412) continue;
        found = true;
        EXPECT_EQ(item["ts"], "0xa0b0c0d0");
        EXPECT_EQ(item["tc"], "0x01020304");
        EXPECT_EQ(item["addresses"], json({"2001:db8::1", "2001:db8:1::1", "192.0.2.7"}));
        EXPECT_EQ(item["server_addresses"], json({"203.0.113.1", "2001:db8:ff::1"}));
        EXPECT_EQ(item["fwmark"], 2);
        EXPECT_EQ(item["state"], "established");
        EXPECT_NEAR(item["age_s"].get<double>(), 60.0, 5.0);
        EXPECT_NEAR(item["idle_s"].get<double>(), 1.5, 5.0);
    }
    EXPECT_TRUE(found);
    const Result text = run(run_assoc, {shm()});
    ASSERT_EQ(text.status, 0);
    EXPECT_NE(text.out.find("0xa0b0c0d0"), std::string::npos);
    EXPECT_NE(text.out.find("2001:db8::1,2001:db8:1::1,192.0.2.7"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("3 associations"), std::string::npos);
}

// ---- stats / loglevel / trace -------------------------------------------------

TEST_F(ControlTest, StatsSumsTheThreadSlots) {
    init();
    ASSERT_EQ(run(run_activate, {shm(), "5", "6"}).status, 0);
    SharedState state = open(name_);
    SharedHeader& h = state.header();
    h.threads[0].reasons[static_cast<std::size_t>(Reason::Established)].store(10);
    h.threads[3].reasons[static_cast<std::size_t>(Reason::Established)].store(5);
    h.threads[1].events[static_cast<std::size_t>(Event::Restarted)].store(2);
    h.threads[0].per_target_packets[1].store(7);
    h.threads[2].per_target_packets[1].store(8);
    h.threads[0].packets.store(100);
    h.threads[1].packets.store(23);
    add_association(state, 1, 7000, 0xabc, 5);

    const Result r = run(run_stats, {shm(), "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    const json stats = json::parse(r.out);
    EXPECT_EQ(stats["packets"], 123);
    EXPECT_EQ(stats["reasons"]["established"], 15);
    EXPECT_EQ(stats["reasons"].size(), kReasonCount);
    EXPECT_EQ(stats["events"]["restarted"], 2);
    EXPECT_EQ(stats["events"].size(), kEventCount);
    EXPECT_EQ(stats["targets"][1]["fwmark"], 6);
    EXPECT_EQ(stats["targets"][1]["packets"], 15);
    EXPECT_EQ(stats["table"]["size"], 1);
    EXPECT_EQ(stats["table"]["capacity"], 256);
    EXPECT_TRUE(stats["kernel_queues"].is_null() || stats["kernel_queues"].is_array());

    const Result text = run(run_stats, {shm()});
    ASSERT_EQ(text.status, 0);
    EXPECT_NE(text.out.find("established"), std::string::npos);
    EXPECT_NE(text.out.find("table: 1 of 256"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("kernel queues:"), std::string::npos) << text.out;
}

TEST(KernelQueueStats, ParsesTheProcFormat) {
    // net/netfilter/nfnetlink_queue.c: "%5u %6u %5u %1u %5u %5u %5u %8u %2d\n"
    const std::string text =
        "    2   1234     0 2   128     0     0        5  1\n"
        "    3 4294967295    17 2 65535    42     9 123456789  1\n"
        "garbage line\n";
    const auto queues = parse_kernel_queue_stats(text);
    ASSERT_EQ(queues.size(), 2u);
    EXPECT_EQ(queues[0].queue, 2u);
    EXPECT_EQ(queues[0].peer_portid, 1234u);
    EXPECT_EQ(queues[0].copy_range, 128u);
    EXPECT_EQ(queues[0].id_sequence, 5u);
    EXPECT_EQ(queues[1].queue, 3u);
    EXPECT_EQ(queues[1].queue_total, 17u);
    EXPECT_EQ(queues[1].queue_dropped, 42u);
    EXPECT_EQ(queues[1].user_dropped, 9u);
    EXPECT_EQ(queues[1].id_sequence, 123456789u);
    EXPECT_TRUE(parse_kernel_queue_stats("").empty());
}

TEST_F(ControlTest, LoglevelAndTraceWriteTheControlFields) {
    init();
    SharedState state = open(name_);
    const SharedHeader& h = state.header();
    Result r = run(run_loglevel, {shm(), "7"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(h.log_level.load(), 7);
    r = run(run_loglevel, {shm()});
    EXPECT_EQ(r.out, "log level 7\n");

    EXPECT_EQ(h.trace.enabled.load(), 0u);
    r = run(run_trace, {shm(), "--on", "--address=2001:db8::5", "--port=36412"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_trace(h.trace), (TraceSettings{.enabled = true, .port = 36412,
                                                  .address = *IpAddress::parse("2001:db8::5")}));
    EXPECT_EQ(r.out, "trace on, address 2001:db8::5, port 36412\n");

    r = run(run_trace, {shm(), "--address=any"});  // a filter change keeps it on
    EXPECT_EQ(read_trace(h.trace), (TraceSettings{.enabled = true, .port = 36412, .address = std::nullopt}));
    r = run(run_trace, {shm(), "--off"});
    EXPECT_EQ(h.trace.enabled.load(), 0u);
    EXPECT_EQ(h.trace.port.load(), 36412) << "--off keeps the filter";
    r = run(run_trace, {shm()});
    EXPECT_EQ(r.out, "trace off, any address, port 36412\n");
}

// The table as text, field by field: equal when nothing changed.
std::string table_text(SharedState& state) {
    std::string text;
    for (const Association& a : table_contents(state)) text += association_to_json(a).dump() + "\n";
    return text;
}

TEST_F(ControlTest, ImportRefusesABadRecordBeforeChangingAnything) {
    init();
    ASSERT_EQ(run(run_activate, {shm(), "1", "2", "3"}).status, 0);
    ASSERT_EQ(run(run_deactivate, {shm(), "2"}).status, 0);  // draining: its associations still import
    ASSERT_EQ(run(run_down, {shm(), "3"}).status, 0);
    SharedState state = open(name_);
    add_association(state, 99, 7000, 0x777, 1);
    const std::string before = table_text(state);

    AssociationExport good;
    good.exported_monotonic_ns = monotonic_ns();
    good.associations = sample_associations(good.exported_monotonic_ns);  // fwmarks 1, 2 and 3
    good.associations[2].fwmark = 2;
    const std::vector<std::pair<std::string, std::function<void(Association&)>>> bad = {
        {"\"fwmark\" 0 is not a target fwmark", [](Association& a) { a.fwmark = 0; }},
        {"\"fwmark\" 7 is no target of this segment", [](Association& a) { a.fwmark = 7; }},
        {"\"fwmark\" 3 is a target that is down", [](Association& a) { a.fwmark = 3; }},
        {"\"ts\" is 0 in an established association", [](Association& a) { a.ts = 0; }},
        {"\"tc\" is 0 in a half-open association",
         [](Association& a) {
             a.state = AssociationState::HalfOpen;
             a.tc = 0;
         }},
        {"\"last_seen_ns\"", [&](Association& a) { a.last_seen_ns = good.exported_monotonic_ns + 3'600'000'000'000; }},
    };
    for (const auto& [error, change] : bad) {
        AssociationExport document = good;
        change(document.associations[1]);  // the first two are good: none of them may go in
        const std::string path = write_file("bad.json", export_document(document), 0600);
        const Result r = run(run_assoc, {shm(), "--import=" + path});
        EXPECT_EQ(r.status, 1) << error;
        EXPECT_EQ(line_count(r.err), 1u) << r.err;
        EXPECT_NE(r.err.find(path + ": association 1: " + error), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("nothing imported"), std::string::npos) << r.err;
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(table_text(state), before) << error;
    }
    const std::string path = write_file("good.json", export_document(good), 0600);
    const Result r = run(run_assoc, {shm(), "--import=" + path});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "imported 3, skipped 0\n");
    EXPECT_EQ(table_contents(state).size(), 4u);
}

TEST_F(ControlTest, InitRefusesASegmentLargerThanTheMemoryLimit) {
    SharedState::CreateOptions options;
    options.maglev_m = 97;
    options.max_targets = 4;
    options.table_limits.capacity = 1u << 16;
    const std::size_t needed = SharedState::segment_size(options);
    ASSERT_GT(needed, std::size_t{4} << 20);
    std::string error;
    options.memory_limit = needed - 1;
    EXPECT_FALSE(SharedState::create(name_, options, error).has_value());
    EXPECT_EQ(error, "shared memory '" + name_ + "' needs " + std::to_string(needed >> 20) + " MiB for --capacity 65536, more than the " +
                         std::to_string((needed - 1) >> 20) + " MiB limit: choose a smaller --capacity");
    EXPECT_FALSE(SharedState::open(name_, error).has_value()) << "nothing made";
    options.memory_limit = needed;
    EXPECT_TRUE(SharedState::create(name_, options, error).has_value()) << error;

    // The largest --capacity needs ~33 GiB: refused on a host with less than twice that.
    options.table_limits.capacity = 1u << 26;
    const std::size_t largest = SharedState::segment_size(options);
    EXPECT_GT(largest, std::size_t{32} << 30);
    if (largest <= SharedState::memory_limit()) GTEST_SKIP() << "this host has room for the largest table";
    const std::string other = name_ + "-huge";
    const Result r = run(run_init, {shm(other), "--M=97", "--N=4", "--capacity=67108864"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(line_count(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("needs " + std::to_string(largest >> 20) + " MiB for --capacity 67108864, more than the " +
                         std::to_string(SharedState::memory_limit() >> 20) + " MiB limit (half the physical memory)"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(SharedState::open(other, error).has_value()) << "nothing made";
}

}  // namespace
}  // namespace sctplb::cli
