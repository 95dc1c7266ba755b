#include "activation.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace profilemate::injection {
namespace {

std::map<std::string, std::string> g_env;

char* fake_getenv(const char* name) {
  const auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.data();
}

Activation decide(std::map<std::string, std::string> env, const std::vector<std::string>& argv) {
  g_env = std::move(env);
  return decide_activation(&fake_getenv, argv);
}

const std::vector<std::string> kServe = {"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "Qwen/Qwen3-8B"};
const std::vector<std::string> kOther = {"/usr/bin/python3", "train.py", "--epochs", "3"};

TEST(Activation, VllmEnableProfilingDecidesFirstAsInThePredecessor) {
  EXPECT_TRUE(decide({{"VLLM_ENABLE_PROFILING", "1"}}, kOther).on);
  EXPECT_FALSE(decide({{"VLLM_ENABLE_PROFILING", "0"}}, kServe).on);
  EXPECT_FALSE(decide({{"VLLM_ENABLE_PROFILING", "yes"}}, kServe).on) << "only 1 turns it on";
}

TEST(Activation, ProfilemateEnableOverridesEverything) {
  EXPECT_FALSE(decide({{"PROFILEMATE_ENABLE", "0"}, {"VLLM_ENABLE_PROFILING", "1"}}, kServe).on);
  EXPECT_TRUE(decide({{"PROFILEMATE_ENABLE", "1"}, {"VLLM_ENABLE_PROFILING", "0"}}, kOther).on);
}

TEST(Activation, AProcessJoiningASessionRecords) {
  // A vLLM worker started with spawn: its command line is multiprocessing's, not vLLM's.
  const std::vector<std::string> spawned = {"/usr/bin/python3", "-c",
                                            "from multiprocessing.spawn import spawn_main; spawn_main()"};
  EXPECT_TRUE(decide({{"PROFILEMATE_SESSION_DIR", "/tmp/s"}}, spawned).on);
  // A Ray actor or a headless node: only VLLM_ variables reach it.
  EXPECT_TRUE(decide({{"VLLM_PROFILING_SESSION_ID", "run1"}}, spawned).on);
  EXPECT_FALSE(decide({{"VLLM_PROFILING_SESSION_ID", ""}}, spawned).on);
  EXPECT_FALSE(decide({}, spawned).on);
}

TEST(Activation, OffByDefaultForProgramsThatAreNotVllm) {
  const Activation activation = decide({}, kOther);
  EXPECT_FALSE(activation.on);
  EXPECT_FALSE(activation.reason.empty());
}

TEST(Activation, RecognisesTheWaysVllmIsStarted) {
  EXPECT_TRUE(looks_like_vllm(kServe));
  EXPECT_TRUE(looks_like_vllm({"python", "-m", "vllm.entrypoints.openai.api_server", "--model", "m"}));
  EXPECT_TRUE(looks_like_vllm({"python", "-m", "vllm", "serve"}));
  EXPECT_TRUE(looks_like_vllm({"python", "bench_vllm.py", "--model=facebook/opt-125m"}));
  EXPECT_FALSE(looks_like_vllm({"python", "train.py", "--model", "resnet"})) << "--model alone is not vLLM";
  EXPECT_FALSE(looks_like_vllm({"/usr/local/bin/vllm", "--help"}));
  EXPECT_FALSE(looks_like_vllm({}));
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// The cases the Python hooks' decision is checked against too (tests/pyhooks/test_rules_agree.py):
// "expected | NAME=value ... or - | command line".
TEST(Activation, DecidesEveryCaseOfTheTableThePythonHooksAreCheckedAgainst) {
  const std::string path = PROFILEMATE_TEST_SOURCE_DIR "/support/rules/activation_cases.txt";
  std::ifstream table(path);
  ASSERT_TRUE(table) << "cannot read " << path;
  int cases = 0;
  for (std::string line; std::getline(table, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t first = line.find('|');
    const size_t second = line.find('|', first + 1);
    ASSERT_NE(second, std::string::npos) << path << ": not 'expected | environment | command line': " << line;
    std::map<std::string, std::string> env;
    for (const std::string& setting : words(line.substr(first + 1, second - first - 1))) {
      if (setting == "-") continue;
      const size_t equals = setting.find('=');
      env[setting.substr(0, equals)] = equals == std::string::npos ? "" : setting.substr(equals + 1);
    }
    const std::vector<std::string> expected = words(line.substr(0, first));
    ASSERT_EQ(expected.size(), 1u) << path << ": " << line;
    EXPECT_EQ(decide(env, words(line.substr(second + 1))).on, expected[0] == "on") << path << ": " << line;
    ++cases;
  }
  EXPECT_GT(cases, 10) << path << " lost its cases";
}

}  // namespace
}  // namespace profilemate::injection
