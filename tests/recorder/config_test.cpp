#include "config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace profilemate::recorder {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kNames) ::unsetenv(name);
  }
  void TearDown() override { SetUp(); }
  static constexpr const char* kNames[] = {
      "PROFILEMATE_SESSION_DIR", "VLLM_PROFILING_DIR",      "PROFILEMATE_FLUSH_MS",
      "PROFILEMATE_BUFFER_MB",   "PROFILEMATE_MAX_THREADS", "PROFILEMATE_PROCESS_ROLE",
      "PROFILEMATE_MAX_LOG_MB",  "PROFILEMATE_COMPRESSION", "VLLM_PROFILING_SESSION_ID"};
};

TEST_F(ConfigTest, DefaultsMatchTheDocumentation) {
  const Config config = Config::from_environment();
  EXPECT_EQ(config.session_dir, "");
  EXPECT_EQ(config.profiling_dir, "/tmp/vllm_profiling");
  EXPECT_EQ(config.flush_interval_ms, 200u);
  EXPECT_EQ(config.budget_bytes, 32ull << 20);
  EXPECT_EQ(config.max_threads, 48u);
  EXPECT_EQ(config.max_log_bytes, 8192ull << 20);
  EXPECT_TRUE(config.compress) << "zstd by default";
}

TEST_F(ConfigTest, ReadsEverySetting) {
  ::setenv("PROFILEMATE_SESSION_DIR", "/x/s", 1);
  ::setenv("VLLM_PROFILING_DIR", "/x", 1);
  ::setenv("PROFILEMATE_FLUSH_MS", "50", 1);
  ::setenv("PROFILEMATE_BUFFER_MB", "8", 1);
  ::setenv("PROFILEMATE_MAX_THREADS", "4", 1);
  ::setenv("PROFILEMATE_PROCESS_ROLE", "EngineCore", 1);
  ::setenv("PROFILEMATE_MAX_LOG_MB", "0", 1);
  ::setenv("PROFILEMATE_COMPRESSION", "none", 1);
  const Config config = Config::from_environment();
  EXPECT_EQ(config.session_dir, "/x/s");
  EXPECT_EQ(config.profiling_dir, "/x");
  EXPECT_EQ(config.flush_interval_ms, 50u);
  EXPECT_EQ(config.budget_bytes, 8ull << 20);
  EXPECT_EQ(config.max_threads, 4u);
  EXPECT_EQ(config.process_role, "EngineCore");
  EXPECT_EQ(config.max_log_bytes, 0u) << "0 lifts the limit";
  EXPECT_FALSE(config.compress);
}

TEST_F(ConfigTest, ASessionIdAloneNamesADirectoryUnderTheProfilingDir) {
  // What a Ray actor or a headless node gets: VLLM_ variables only.
  ::setenv("VLLM_PROFILING_DIR", "/x", 1);
  ::setenv("VLLM_PROFILING_SESSION_ID", "run-7.a_b", 1);
  EXPECT_EQ(Config::from_environment().session_dir, "/x/run-7.a_b");
  EXPECT_EQ(Config::from_environment().session_dir_setting, "VLLM_PROFILING_DIR/VLLM_PROFILING_SESSION_ID")
      << "a refusal names the variables the user set";
  ::setenv("PROFILEMATE_SESSION_DIR", "/y/s", 1);
  EXPECT_EQ(Config::from_environment().session_dir, "/y/s") << "the session directory wins";
  EXPECT_EQ(Config::from_environment().session_dir_setting, "PROFILEMATE_SESSION_DIR");
}

TEST_F(ConfigTest, ASessionIdThatIsNotAPlainNameIsIgnored) {
  for (const char* bad : {"../up", "a/b", ".", "..", "sp ace", "a\nb"}) {
    ::setenv("VLLM_PROFILING_SESSION_ID", bad, 1);
    EXPECT_EQ(Config::from_environment().session_dir, "") << bad;
  }
  ::setenv("VLLM_PROFILING_SESSION_ID", std::string(64, 'a').c_str(), 1);
  EXPECT_EQ(Config::from_environment().session_dir, "") << "longer than the header holds";
}

TEST_F(ConfigTest, MalformedOrOutOfRangeValuesKeepTheDefault) {
  for (const char* bad : {"abc", "10ms", "-5", "5", "999999"}) {
    ::setenv("PROFILEMATE_FLUSH_MS", bad, 1);
    EXPECT_EQ(Config::from_environment().flush_interval_ms, 200u) << bad;
  }
  for (const char* bad : {"ZSTD", "gzip", "0"}) {
    ::setenv("PROFILEMATE_COMPRESSION", bad, 1);
    EXPECT_TRUE(Config::from_environment().compress) << bad;
  }
}

TEST_F(ConfigTest, ThreadBuffersAndTheWriterBufferStayWithinTheBudget) {
  for (const uint32_t threads : {1u, 7u, 48u, 100u}) {
    Config config;
    config.max_threads = threads;
    const uint64_t each = config.thread_buffer_bytes();
    EXPECT_EQ(each & (each - 1), 0u) << "power of two for " << threads << " threads";
    EXPECT_LE(each * threads + Config::kWriterBufferBytes, config.budget_bytes) << threads << " threads";
  }
}

}  // namespace
}  // namespace profilemate::recorder
