// Whether ProfileMate records in this process: the same decision as the Python side makes.
#pragma once

#include <string>
#include <vector>

namespace profilemate::injection {

using GetEnv = char* (*)(const char*);  // std::getenv, or a test double

struct Activation {
  bool on = false;
  std::string reason;  // which rule decided, for diagnostics
};

// In order: PROFILEMATE_ENABLE (1 on, anything else off) overrides everything;
// VLLM_ENABLE_PROFILING (1 on, anything else off), the predecessor's switch;
// PROFILEMATE_SESSION_DIR set (a process joining a session, e.g. a vLLM worker) on;
// a vLLM-looking command line on; otherwise off.
Activation decide_activation(GetEnv getenv, const std::vector<std::string>& argv);

// vllm.entrypoints.*, `vllm serve` (or another vllm subcommand), `-m vllm...`, or --model together
// with anything naming vllm.
bool looks_like_vllm(const std::vector<std::string>& argv);

// /proc/self/cmdline split into arguments.
std::vector<std::string> own_command_line();

}  // namespace profilemate::injection
