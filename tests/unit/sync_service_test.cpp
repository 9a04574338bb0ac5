// SyncService's instance id (lb/io/sync_service.hpp): getrandom(2) retried a
// bounded number of times, then a clear error; never a busy loop.
#include "io/sync_service.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include <sys/random.h>

namespace sctplb {
namespace {

int calls = 0;
int fail_times = 0;       // calls that fail before one succeeds
int failure_errno = 0;

ssize_t scripted_random(void* buffer, std::size_t length, unsigned int) {
    ++calls;
    if (calls <= fail_times) {
        errno = failure_errno;
        return -1;
    }
    std::memset(buffer, 0xab, length);
    return static_cast<ssize_t>(length);
}

ssize_t short_read_random(void* buffer, std::size_t length, unsigned int) {
    ++calls;
    std::memset(buffer, 0xcd, length / 2);
    return static_cast<ssize_t>(length / 2);
}

void script(int failures, int error_number) {
    calls = 0;
    fail_times = failures;
    failure_errno = error_number;
}

TEST(SyncInstanceId, InterruptedReadsAreRetried) {
    script(3, EINTR);
    std::string error;
    const auto id = random_instance_id(error, scripted_random);
    ASSERT_TRUE(id.has_value()) << error;
    EXPECT_EQ(*id, 0xababababababababull);
    EXPECT_EQ(calls, 4);
}

TEST(SyncInstanceId, EndlessEintrGivesUpWithAnError) {
    script(1'000'000, EINTR);
    std::string error;
    EXPECT_FALSE(random_instance_id(error, scripted_random).has_value());
    EXPECT_EQ(calls, kRandomAttempts);
    EXPECT_NE(error.find("getrandom"), std::string::npos) << error;
    EXPECT_NE(error.find(std::strerror(EINTR)), std::string::npos) << error;
}

TEST(SyncInstanceId, EndlessEagainGivesUpWithAnError) {
    script(1'000'000, EAGAIN);
    std::string error;
    EXPECT_FALSE(random_instance_id(error, scripted_random).has_value());
    EXPECT_EQ(calls, kRandomAttempts);
}

TEST(SyncInstanceId, OtherErrorsAreNotRetried) {
    script(1'000'000, ENOSYS);
    std::string error;
    EXPECT_FALSE(random_instance_id(error, scripted_random).has_value());
    EXPECT_EQ(calls, 1);
    EXPECT_NE(error.find(std::strerror(ENOSYS)), std::string::npos) << error;
}

TEST(SyncInstanceId, ShortReadsAreBoundedToo) {
    calls = 0;
    std::string error;
    EXPECT_FALSE(random_instance_id(error, short_read_random).has_value());
    EXPECT_EQ(calls, kRandomAttempts);
}

TEST(SyncInstanceId, TheRealGetrandomWorks) {
    std::string error;
    EXPECT_TRUE(random_instance_id(error, ::getrandom).has_value()) << error;
}

}  // namespace
}  // namespace sctplb
