// Export and import files (lb/io/association_export.hpp): written through a
// unique O_EXCL temporary file and a rename, never into a device, FIFO or
// directory, never following a symlink; read only from regular files of a
// size an export of the table can have. Every call that could block runs in
// a child process with a deadline, so a regression fails instead of hanging.
#include "io/association_export.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

namespace sctplb {
namespace {

namespace fs = std::filesystem;

AssociationExport sample_export(std::size_t count = 1) {
    AssociationExport exported;
    exported.exported_monotonic_ns = 5'000'000'000;
    for (std::size_t i = 0; i < count; ++i) {
        Association a{};
        a.state = AssociationState::Established;
        a.sport = static_cast<std::uint16_t>(40000 + i);
        a.dport = 36412;
        a.tc = 0x11223344;
        a.ts = 0x55667788;
        a.fwmark = 2;
        a.addresses[0] = *IpAddress::parse("192.0.2.1");
        a.address_count = 1;
        a.created_ns = a.last_seen_ns = a.state_since_ns = 4'000'000'000;
        exported.associations.push_back(a);
    }
    return exported;
}

struct Outcome {
    bool finished = false;  // false: still running at the deadline (killed)
    bool ok = false;
    std::string error;
};

// Runs `operation` in a child process; gives up (and kills it) after 10 s.
// The child reports its result and error text through a pipe.
Outcome in_child_with_deadline(const std::function<bool(std::string&)>& operation) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return {};
    const pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        std::string error;
        const char ok = operation(error) ? '1' : '0';
        (void)!write(report[1], &ok, 1);
        (void)!write(report[1], error.data(), error.size());
        _exit(0);
    }
    close(report[1]);
    Outcome outcome;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(report[0]);
            return outcome;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    outcome.finished = true;
    std::string text;
    char buffer[512];
    for (ssize_t n; (n = read(report[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
    close(report[0]);
    outcome.ok = !text.empty() && text[0] == '1';
    if (!text.empty()) outcome.error = text.substr(1);
    return outcome;
}

class ExportFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "sctplb-export-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    [[nodiscard]] std::string in_dir(const std::string& name) const { return (dir_ / name).string(); }
    // Names in the directory, sorted: a leftover temporary file shows here.
    [[nodiscard]] std::vector<std::string> listing() const {
        std::vector<std::string> names;
        for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
    static std::string contents(const std::string& path) {
        std::ifstream in(path);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    fs::path dir_;
};

TEST_F(ExportFileTest, WritesOwnerOnlyAndReadsBackLeavingNoTemporaryFile) {
    const std::string file = in_dir("associations.json");
    std::string error;
    ASSERT_TRUE(write_export_file(file, sample_export(3), error)) << error;
    EXPECT_EQ(listing(), std::vector<std::string>{"associations.json"});
    struct stat info {};
    ASSERT_EQ(stat(file.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    const auto back = read_export_file(file, 3, error);
    ASSERT_TRUE(back.has_value()) << error;
    EXPECT_EQ(back->associations.size(), 3u);
    EXPECT_EQ(back->associations[2].sport, 40002);
    // Overwriting an existing regular file works the same way.
    ASSERT_TRUE(write_export_file(file, sample_export(1), error)) << error;
    EXPECT_EQ(listing(), std::vector<std::string>{"associations.json"});
    EXPECT_EQ(read_export_file(file, 3, error)->associations.size(), 1u);
}

TEST_F(ExportFileTest, DeviceTargetIsRefusedAndLeftAlone) {
    struct stat before {};
    ASSERT_EQ(stat("/dev/full", &before), 0);
    ASSERT_TRUE(S_ISCHR(before.st_mode));
    std::string error;
    EXPECT_FALSE(write_export_file("/dev/full", sample_export(), error));
    EXPECT_EQ(error, "/dev/full is not a regular file");
    struct stat after {};
    ASSERT_EQ(stat("/dev/full", &after), 0);
    EXPECT_TRUE(S_ISCHR(after.st_mode));
    EXPECT_EQ(after.st_rdev, before.st_rdev);
    EXPECT_EQ(after.st_ino, before.st_ino) << "the device node must not be replaced";
    for (const auto& entry : fs::directory_iterator("/dev"))
        EXPECT_FALSE(entry.path().filename().string().starts_with(".full.")) << entry.path();
}

TEST_F(ExportFileTest, FifoTargetIsRefusedPromptly) {
    const std::string fifo = in_dir("fifo");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    const Outcome outcome =
        in_child_with_deadline([&](std::string& error) { return write_export_file(fifo, sample_export(), error); });
    ASSERT_TRUE(outcome.finished) << "writing to a FIFO blocked";
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.error, fifo + " is not a regular file");
    struct stat info {};
    ASSERT_EQ(lstat(fifo.c_str(), &info), 0);
    EXPECT_TRUE(S_ISFIFO(info.st_mode));
    EXPECT_EQ(listing(), std::vector<std::string>{"fifo"});
}

TEST_F(ExportFileTest, DirectoryTargetIsRefused) {
    const std::string directory = in_dir("sub");
    ASSERT_TRUE(fs::create_directory(directory));
    std::string error;
    EXPECT_FALSE(write_export_file(directory, sample_export(), error));
    EXPECT_EQ(error, directory + " is not a regular file");
    EXPECT_FALSE(write_export_file(directory + "/", sample_export(), error));
    EXPECT_EQ(error, "'" + directory + "/' names no file");
    EXPECT_TRUE(fs::is_empty(directory));
}

TEST_F(ExportFileTest, SymlinkAtTheTargetIsReplacedNotFollowed) {
    const std::string victim = in_dir("victim");
    std::ofstream(victim) << "keep me";
    const std::string link = in_dir("associations.json");
    ASSERT_EQ(symlink(victim.c_str(), link.c_str()), 0);
    std::string error;
    ASSERT_TRUE(write_export_file(link, sample_export(), error)) << error;
    struct stat info {};
    ASSERT_EQ(lstat(link.c_str(), &info), 0);
    EXPECT_TRUE(S_ISREG(info.st_mode)) << "the rename replaced the link itself";
    EXPECT_EQ(contents(victim), "keep me") << "the link's target is untouched";
    EXPECT_TRUE(read_export_file(link, 1, error).has_value()) << error;
}

TEST_F(ExportFileTest, FailedWriteLeavesNeitherTemporaryFileNorTarget) {
    // A file size limit of 16 bytes makes write(2) fail with EFBIG (the
    // SIGXFSZ it also raises is ignored): the temporary file must go.
    const std::string file = in_dir("associations.json");
    const Outcome outcome = in_child_with_deadline([&](std::string& error) {
        signal(SIGXFSZ, SIG_IGN);
        const rlimit small{16, 16};
        if (setrlimit(RLIMIT_FSIZE, &small) != 0) {
            error = "setrlimit failed";
            return true;
        }
        return write_export_file(file, sample_export(50), error);
    });
    ASSERT_TRUE(outcome.finished);
    EXPECT_FALSE(outcome.ok) << outcome.error;
    EXPECT_NE(outcome.error.find(std::strerror(EFBIG)), std::string::npos) << outcome.error;
    EXPECT_TRUE(listing().empty()) << "left behind: " << listing().front();
}

TEST_F(ExportFileTest, FifoImportIsRefusedPromptly) {
    const std::string fifo = in_dir("fifo");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    const Outcome outcome =
        in_child_with_deadline([&](std::string& error) { return read_export_file(fifo, 16, error).has_value(); });
    ASSERT_TRUE(outcome.finished) << "opening or reading a FIFO blocked";
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.error, fifo + " is not a regular file");
}

TEST_F(ExportFileTest, DirectoryImportIsRefused) {
    std::string error;
    EXPECT_FALSE(read_export_file(dir_.string(), 16, error).has_value());
    EXPECT_EQ(error, dir_.string() + " is not a regular file");
}

TEST_F(ExportFileTest, ImportLargerThanTheTableCanHoldIsRefusedNamingTheLimit) {
    const std::uint32_t capacity = 4;
    const std::size_t limit = export_size_limit(capacity);
    const std::string file = in_dir("huge.json");
    {
        std::ofstream(file) << "{";
        fs::resize_file(file, limit + 1);  // sparse: costs no disk
    }
    std::string error;
    EXPECT_FALSE(read_export_file(file, capacity, error).has_value());
    EXPECT_EQ(error, file + " is " + std::to_string(limit + 1) + " bytes, more than the " + std::to_string(limit) +
                         " bytes an export of a table of 4 associations can take");
    // At the limit it is read (and then judged by its contents).
    fs::resize_file(file, limit);
    EXPECT_FALSE(read_export_file(file, capacity, error).has_value());
    EXPECT_EQ(error, file + ": not valid JSON");
}

TEST_F(ExportFileTest, AFullTableOfTheWidestRecordsFitsTheLimit) {
    // Every field at its widest: the limit must never refuse a real export.
    AssociationExport exported = sample_export(8);
    const IpAddress longest = *IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    for (Association& a : exported.associations) {
        a.state = AssociationState::RestartPending;
        a.addresses.fill(longest);
        a.address_count = kMaxClientAddresses;
        a.server_addresses.fill(longest);
        a.server_address_count = kMaxServerAddresses;
        a.fwmark = 0xffffffffu;
        a.created_ns = a.last_seen_ns = a.state_since_ns = a.old_tags_until_ns = INT64_MIN;
    }
    const std::string file = in_dir("wide.json");
    std::string error;
    ASSERT_TRUE(write_export_file(file, exported, error)) << error;
    EXPECT_LE(fs::file_size(file), export_size_limit(8));
    EXPECT_TRUE(read_export_file(file, 8, error).has_value()) << error;
}

// Targets 1 active, 2 draining, 3 down.
TargetSnapshot import_targets() {
    TargetSnapshot targets{};
    targets[0] = {1, TargetState::Active};
    targets[1] = {2, TargetState::Draining};
    targets[2] = {3, TargetState::Down};
    return targets;
}

TEST(ImportRefusal, EveryRecordNeedsATargetTagsAndPastTimes) {
    constexpr Nanos kLinger = std::chrono::seconds(30);
    const TargetSnapshot targets = import_targets();
    AssociationExport good = sample_export(3);
    good.associations[1].fwmark = 1;
    good.associations[2].state = AssociationState::HalfOpen;
    good.associations[2].ts = 0;
    EXPECT_EQ(import_refusal(good, targets, kLinger), std::nullopt) << "active, draining, half-open without Ts";

    struct Case {
        const char* description;
        std::function<void(Association&)> change;
        std::string error;
    };
    const Case cases[] = {
        {"fwmark 0", [](Association& a) { a.fwmark = 0; }, "association 1: \"fwmark\" 0 is not a target fwmark"},
        {"no such target", [](Association& a) { a.fwmark = 9; },
         "association 1: \"fwmark\" 9 is no target of this segment (sctplb activate it first)"},
        {"down target", [](Association& a) { a.fwmark = 3; }, "association 1: \"fwmark\" 3 is a target that is down"},
        {"half-open without Tc",
         [](Association& a) {
             a.state = AssociationState::HalfOpen;
             a.tc = 0;
         },
         "association 1: \"tc\" is 0 in a half-open association"},
        {"established without Ts", [](Association& a) { a.ts = 0; },
         "association 1: \"ts\" is 0 in an established association"},
        {"restart pending without its Tc",
         [](Association& a) {
             a.state = AssociationState::RestartPending;
             a.pending_tc = 0;
         },
         "association 1: \"pending_tc\" is 0 in a restart-pending association"},
        {"last seen after the export", [](Association& a) { a.last_seen_ns = 5'000'000'001; },
         "association 1: \"last_seen_ns\" 5000000001 is after the export (5000000000): the association would never "
         "expire"},
        {"state since after the export", [](Association& a) { a.state_since_ns = INT64_MAX; },
         "association 1: \"state_since_ns\" 9223372036854775807 is after the export (5000000000): the association "
         "would never expire"},
        {"negative time", [](Association& a) { a.created_ns = INT64_MIN; },
         "association 1: \"created_ns\" -9223372036854775808 is negative"},
        {"old tags lingering past the linger", [](Association& a) { a.old_tags_until_ns = 35'000'000'001; },
         "association 1: \"old_tags_until_ns\" 35000000001 is not in 0..35000000000 (the export plus the restart "
         "linger)"},
    };
    for (const Case& c : cases) {
        AssociationExport bad = good;
        c.change(bad.associations[1]);
        c.change(bad.associations[2]);  // the first bad record is named
        EXPECT_EQ(import_refusal(bad, targets, kLinger), c.error) << c.description;
    }
    // The linger's own deadline is fine.
    AssociationExport lingering = good;
    lingering.associations[0].old_tags_until_ns = 35'000'000'000;
    EXPECT_EQ(import_refusal(lingering, targets, kLinger), std::nullopt);
    AssociationExport negative_stamp = good;
    negative_stamp.exported_monotonic_ns = -1;
    EXPECT_EQ(import_refusal(negative_stamp, targets, kLinger), "\"exported_monotonic_ns\" is negative");
}

}  // namespace
}  // namespace sctplb
