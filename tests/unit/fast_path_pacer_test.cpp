// FastPathPacer: how long the fast-path thread pauses between table walks.
#include "core/fast_path_pacer.hpp"

#include <gtest/gtest.h>

namespace sctplb {
namespace {

TEST(FastPathPacer, StartsAtTheShortPause) {
    const FastPathPacer pacer(50, 800);
    EXPECT_EQ(pacer.pause_ms(), 50u);
    EXPECT_EQ(pacer.check_ms(), 50u);
}

TEST(FastPathPacer, QuietPassesDoubleThePauseUpToTheLongest) {
    FastPathPacer pacer(50, 800);
    pacer.pass_done(false);  // the first quiet pass keeps the short pause
    EXPECT_EQ(pacer.pause_ms(), 50u);
    const unsigned expected[] = {100, 200, 400, 800, 800, 800};
    for (unsigned want : expected) {
        pacer.pass_done(false);
        EXPECT_EQ(pacer.pause_ms(), want);
    }
}

TEST(FastPathPacer, APassThatChangedTheMapBringsTheShortPauseBack) {
    FastPathPacer pacer(50, 800);
    for (int i = 0; i < 10; ++i) pacer.pass_done(false);
    ASSERT_EQ(pacer.pause_ms(), 800u);
    pacer.pass_done(true);
    EXPECT_EQ(pacer.pause_ms(), 50u);
    pacer.pass_done(false);  // quiet again: one more short pause first
    EXPECT_EQ(pacer.pause_ms(), 50u);
    pacer.pass_done(false);
    EXPECT_EQ(pacer.pause_ms(), 100u);
}

TEST(FastPathPacer, WakeBringsTheShortPauseBack) {
    FastPathPacer pacer(50, 800);
    for (int i = 0; i < 10; ++i) pacer.pass_done(false);
    pacer.wake();
    EXPECT_EQ(pacer.pause_ms(), 50u);
    pacer.pass_done(false);
    EXPECT_EQ(pacer.pause_ms(), 50u);
}

TEST(FastPathPacer, LongestBelowShortestMeansAFixedPause) {
    FastPathPacer pacer(50, 10);
    for (int i = 0; i < 5; ++i) pacer.pass_done(false);
    EXPECT_EQ(pacer.pause_ms(), 50u);
    const FastPathPacer zero(0, 0);  // a zero pause would spin
    EXPECT_EQ(zero.pause_ms(), 1u);
}

}  // namespace
}  // namespace sctplb
