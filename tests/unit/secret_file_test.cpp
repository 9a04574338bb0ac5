// Secret files (the keyed-hash seed, the sync key) are refused unless they are
// private to the user running sctplb: regular, owned by that user, not open to
// others, not all zero. A FIFO planted in their place must never hang a command.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "io/seed_file.hpp"
#include "io/sync_key.hpp"

namespace sctplb {
namespace {

class SecretFile : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/sctplb-secret-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& bytes, mode_t mode = 0600) {
        const std::string path = dir_ + "/" + name;
        std::ofstream(path, std::ios::binary) << bytes;
        ::chmod(path.c_str(), mode);
        return path;
    }

    std::string dir_;
};

TEST_F(SecretFile, GoodSeedIsRead) {
    std::string error;
    const auto path = write("seed", std::string(32, '\x5a'));
    EXPECT_TRUE(load_keyed_hash(path, error)) << error;
}

TEST_F(SecretFile, AllZeroSeedIsRefused) {
    std::string error;
    const auto path = write("seed", std::string(32, '\0'));
    EXPECT_FALSE(load_keyed_hash(path, error));
    EXPECT_NE(error.find("all bytes are zero"), std::string::npos) << error;
}

TEST_F(SecretFile, AllZeroSyncKeyIsRefused) {
    std::string error;
    const auto path = write("key", std::string(64, '0') + "\n");
    EXPECT_FALSE(SyncKeyring::load(path, error));
    EXPECT_NE(error.find("all zero"), std::string::npos) << error;
    // One zero key beside a good one is still refused: the first key signs.
    const auto two = write("key2", std::string(64, 'a') + "\n" + std::string(64, '0') + "\n");
    EXPECT_FALSE(SyncKeyring::load(two, error));
}

TEST_F(SecretFile, FileOfAnotherUserIsRefused) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user (chown)";
    std::string error;
    const auto path = write("seed", std::string(32, '\x5a'));
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
    EXPECT_FALSE(load_keyed_hash(path, error));
    EXPECT_NE(error.find("owned by uid 65534"), std::string::npos) << error;
    const auto key = write("key", std::string(64, 'a') + "\n");
    ASSERT_EQ(::chown(key.c_str(), 65534, 65534), 0);
    EXPECT_FALSE(SyncKeyring::load(key, error));
    EXPECT_NE(error.find("owned by uid 65534"), std::string::npos) << error;
}

TEST_F(SecretFile, FifoIsRefusedWithoutWaitingForAWriter) {
    const std::string path = dir_ + "/fifo";
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    auto attempt = std::async(std::launch::async, [&] {
        std::string error;
        const bool loaded = load_keyed_hash(path, error).has_value();
        return std::make_pair(loaded, error);
    });
    if (attempt.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
        // Unblock the reader (open(2) of a FIFO waits for a writer), then fail.
        const int writer = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
        if (writer >= 0) ::close(writer);
        attempt.wait();
        FAIL() << "reading a FIFO as the seed file blocked";
    }
    const auto [loaded, error] = attempt.get();
    EXPECT_FALSE(loaded);
    EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
}

}  // namespace
}  // namespace sctplb
