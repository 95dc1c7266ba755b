// A synthetic vLLM-like workload recorded through the recorder's C ABI: an "EngineCore" process
// that schedules steps and a forked "Worker_TP0" that captures and replays CUDA graphs. It
// exercises every event kind with simulated (not measured) timings, and stands in for a real
// profiled run where there is no GPU. Deterministic for a given --seed, apart from wall times.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "profilemate/recorder.h"

namespace {

struct Options {
  uint32_t steps = 1000;
  uint32_t seed = 1;
  uint32_t kv_blocks = 4096;
};

constexpr std::array<uint32_t, 8> kCaptureSizes = {1, 2, 4, 8, 16, 32, 64, 128};
constexpr uint32_t kMoeLayers = 4;
constexpr uint32_t kExperts = 8;
constexpr uint32_t kMaxNumSeqs = 64;
constexpr uint32_t kMaxTokens = 2048;

// Simulated log-time clock: starts now and advances by simulated durations, without sleeping.
class SimClock {
 public:
  SimClock() : now_(pm_now()) {}
  uint64_t now() const { return now_; }
  uint64_t advance(uint64_t ns) { return now_ += ns; }

 private:
  uint64_t now_;
};

// Portable draws from mt19937 (the standard distributions differ between libraries).
class Draw {
 public:
  explicit Draw(uint32_t seed) : engine_(seed) {}
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(engine_() % n); }
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + engine_() % (hi - lo + 1); }

 private:
  std::mt19937 engine_;
};

template <typename Event>
void record(uint32_t kind, const Event& event) {
  pm_record(kind, &event);
}

void announce(const char* role) {
  profilemate_ProcessInfo info = profilemate_ProcessInfo_init_zero;
  info.t_ns = pm_now();
  pm_copy_string(info.process_role, sizeof info.process_role, role);
  pm_copy_string(info.vllm_version, sizeof info.vllm_version, "synthetic");
  record(profilemate_Record_process_info_tag, info);
}

void patch(const char* component, const char* target, bool applied, const char* reason) {
  profilemate_PatchStatus status = profilemate_PatchStatus_init_zero;
  status.t_ns = pm_now();
  pm_copy_string(status.component, sizeof status.component, component);
  pm_copy_string(status.target, sizeof status.target, target);
  status.applied = applied;
  pm_copy_string(status.reason, sizeof status.reason, reason);
  record(profilemate_Record_patch_status_tag, status);
}

// The simulation runs about a thousand times faster than a real server, whose steps take
// milliseconds: let the writer catch up now and then, as those gaps would, instead of
// overflowing the buffers (which would be dropped and counted).
void pace(uint32_t step) {
  if (step % 50 == 0) pm_flush(1000);
}

uint32_t padded_size(uint32_t tokens) {
  for (const uint32_t size : kCaptureSizes) {
    if (tokens <= size) return size;
  }
  return 0;  // larger than every graph: runs eagerly
}

void run_worker(const Options& options) {
  announce("Worker_TP0");
  SimClock clock;
  Draw draw(options.seed * 7919u + 1);
  const uint32_t thread = pm_thread();

  // Capture one FULL and one PIECEWISE graph per size, largest first as vLLM does.
  std::vector<uint32_t> exec_of_size(kCaptureSizes.back() + 1, 0);
  uint32_t next_id = 1;
  // NOLINTNEXTLINE(modernize-loop-convert): a reverse walk
  for (auto size = kCaptureSizes.rbegin(); size != kCaptureSizes.rend(); ++size) {
    for (const char* mode : {"FULL", "PIECEWISE"}) {
      profilemate_GraphCapture capture = profilemate_GraphCapture_init_zero;
      capture.graph_id = next_id;
      capture.thread = thread;
      capture.stream_id = 7;
      capture.begin_ns = clock.now();
      capture.duration_ns = draw.between(2'000'000, 9'000'000);
      capture.node_count = std::strcmp(mode, "FULL") == 0 ? 412 : 36;
      capture.status = profilemate_GraphCapture_Status_OK;
      capture.has_context = true;
      pm_copy_string(capture.context.runtime_mode, sizeof capture.context.runtime_mode, mode);
      capture.context.num_tokens = *size;
      capture.context.has_num_reqs = std::strcmp(mode, "FULL") == 0;
      capture.context.num_reqs = *size;
      capture.context.uniform = std::strcmp(mode, "FULL") == 0;
      std::snprintf(capture.context.wrapper, sizeof capture.context.wrapper, "CUDAGraphWrapper#%s", mode);
      record(profilemate_Record_graph_capture_tag, capture);
      clock.advance(capture.duration_ns);

      profilemate_GraphInstantiate inst = profilemate_GraphInstantiate_init_zero;
      inst.graph_id = next_id;
      inst.exec_id = next_id + 1000;
      inst.thread = thread;
      inst.t_ns = clock.now();
      inst.duration_ns = draw.between(300'000, 900'000);
      record(profilemate_Record_graph_instantiate_tag, inst);
      clock.advance(inst.duration_ns);
      if (std::strcmp(mode, "FULL") == 0) exec_of_size[*size] = inst.exec_id;
      ++next_id;
    }
  }

  std::array<std::array<uint32_t, kExperts>, kMoeLayers> expert_counts{};
  for (uint32_t step = 1; step <= options.steps; ++step) {
    const bool prefill = step % 25 == 1;
    const uint32_t num_seqs = 1 + draw.below(prefill ? 8 : 96);
    const uint32_t tokens = prefill ? num_seqs * (64 + draw.below(400)) : num_seqs;
    const uint32_t graph_size = prefill ? 0 : padded_size(tokens);
    const uint64_t start = clock.now();

    if (graph_size != 0) {
      profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
      replay.exec_id = exec_of_size[graph_size];
      replay.stream_id = 7;
      replay.thread = thread;
      replay.cpu_enter_ns = clock.advance(draw.between(20'000, 60'000));
      replay.cpu_duration_ns = draw.between(8'000, 30'000);
      replay.has_gpu_start_offset_ns = true;
      replay.gpu_start_offset_ns = static_cast<int64_t>(draw.between(5'000, 40'000));
      replay.has_gpu_duration_ns = true;
      replay.gpu_duration_ns = 3'000'000 + graph_size * 40'000 + draw.between(0, 500'000);
      record(profilemate_Record_graph_replay_tag, replay);
    } else {
      // Eager step: MoE layers run in Python and are timed one by one.
      for (uint32_t layer = 0; layer < kMoeLayers; ++layer) {
        profilemate_MoeLayerTiming timing = profilemate_MoeLayerTiming_init_zero;
        timing.t_ns = clock.now();
        timing.step = step;
        timing.thread = thread;
        timing.layer = layer;
        timing.num_tokens = tokens;
        timing.duration_ns = draw.between(200'000, 900'000);
        record(profilemate_Record_moe_timing_tag, timing);
        clock.advance(timing.duration_ns);
      }
    }
    for (uint32_t layer = 0; layer < kMoeLayers; ++layer) {
      // Skewed routing: expert (layer + k) mod 8 is hot.
      for (uint32_t token = 0; token < std::min(tokens, 64u); ++token) {
        ++expert_counts[layer][draw.below(4) == 0 ? (layer + 3) % kExperts : draw.below(kExperts)];
      }
    }
    if (step % 50 == 0 || step == options.steps) {
      for (uint32_t layer = 0; layer < kMoeLayers; ++layer) {
        profilemate_MoeExpertCounts counts = profilemate_MoeExpertCounts_init_zero;
        counts.t_ns = clock.now();
        counts.step = step;
        counts.layer = layer;
        counts.counts_count = kExperts;
        std::copy(expert_counts[layer].begin(), expert_counts[layer].end(), counts.counts);
        record(profilemate_Record_moe_expert_counts_tag, counts);
        expert_counts[layer].fill(0);
      }
    }
    if (step % 40 == 0) {
      profilemate_EncoderTiming encoder = profilemate_EncoderTiming_init_zero;
      encoder.t_ns = clock.now();
      encoder.step = step;
      encoder.thread = thread;
      pm_copy_string(encoder.component, sizeof encoder.component, "vision_encoder");
      encoder.duration_ns = draw.between(1'000'000, 4'000'000);
      pm_copy_string(encoder.context, sizeof encoder.context, "images=1");
      record(profilemate_Record_encoder_timing_tag, encoder);
    }

    profilemate_ForwardPass pass = profilemate_ForwardPass_init_zero;
    pass.t_ns = start;
    pass.step = step;
    pass.thread = thread;
    pass.phase = prefill ? profilemate_Phase_PREFILL : profilemate_Phase_DECODE;
    pass.batch_size = num_seqs;
    pass.num_tokens = tokens;
    pass.duration_ns =
        clock.advance(prefill ? draw.between(20'000'000, 45'000'000) : draw.between(4'000'000, 9'000'000)) -
        start;
    pass.has_gpu_duration_ns = true;
    pass.gpu_duration_ns = pass.duration_ns - draw.between(100'000, 900'000);
    record(profilemate_Record_forward_pass_tag, pass);

    profilemate_CpuOperation op = profilemate_CpuOperation_init_zero;
    op.t_ns = clock.now();
    op.step = step;
    op.thread = thread;
    pm_copy_string(op.operation, sizeof op.operation, "sample_tokens");
    op.duration_ns = draw.between(100'000, 400'000);
    std::snprintf(op.context, sizeof op.context, "num_seqs=%u", num_seqs);
    record(profilemate_Record_cpu_operation_tag, op);
    clock.advance(op.duration_ns);
    pace(step);
  }
}

void run_engine_core(const Options& options) {
  announce("EngineCore");
  patch("Scheduler", "vllm.v1.core.sched.scheduler.Scheduler.schedule", true, "");
  patch("KVCacheManager", "vllm.v1.core.kv_cache_manager.KVCacheManager.allocate_slots", true, "");
  patch("BlockPool", "vllm.v1.core.block_pool.BlockPool.get_new_blocks", true, "");
  patch("FusedMoE", "vllm.model_executor.layers.fused_moe.layer.FusedMoE.forward", false,
        "synthetic run: no MoE module imported in this process");
  profilemate_Notice notice = profilemate_Notice_init_zero;
  notice.t_ns = pm_now();
  notice.severity = profilemate_Notice_Severity_INFO;
  pm_copy_string(notice.source, sizeof notice.source, "example");
  pm_copy_string(notice.message, sizeof notice.message,
                 "synthetic workload: simulated timings, no GPU and no vLLM involved");
  record(profilemate_Record_notice_tag, notice);

  SimClock clock;
  Draw draw(options.seed);
  const uint32_t total_blocks = options.kv_blocks;
  uint32_t used_blocks = total_blocks / 16;
  uint32_t running = 0;
  uint32_t waiting = 32;
  for (uint32_t step = 1; step <= options.steps; ++step) {
    const bool prefill = step % 25 == 1;
    running = std::min<uint32_t>(kMaxNumSeqs, running + (prefill ? 8 : 0));
    waiting = waiting > 0 && prefill ? waiting - 1 : waiting + (draw.below(10) == 0 ? 1 : 0);
    const uint32_t num_seqs = std::max<uint32_t>(1, running);
    const uint32_t prefill_tokens = prefill ? 8 * (64 + draw.below(200)) : 0;
    const uint32_t tokens = std::min<uint32_t>(kMaxTokens, prefill_tokens + num_seqs);

    profilemate_SchedulerStep sched = profilemate_SchedulerStep_init_zero;
    sched.step = step;
    sched.t_ns = clock.now();
    sched.schedule_duration_ns = draw.between(80'000, 300'000);
    sched.num_seqs = num_seqs;
    sched.max_num_seqs = kMaxNumSeqs;
    sched.num_tokens = tokens;
    sched.max_tokens = kMaxTokens;
    sched.num_prefill_seqs = prefill ? 8 : 0;
    sched.num_decode_seqs = num_seqs - (prefill ? std::min(8u, num_seqs) : 0);
    sched.num_prefill_tokens = prefill_tokens;
    sched.num_decode_tokens = tokens - std::min(tokens, prefill_tokens);
    sched.running_queue_len = running;
    sched.waiting_queue_len = waiting;
    used_blocks = std::min(total_blocks, used_blocks + (prefill ? 120 : 2));
    sched.has_kv_usage_pct = true;
    sched.kv_usage_pct = 100.0f * static_cast<float>(used_blocks) / static_cast<float>(total_blocks);
    record(profilemate_Record_scheduler_step_tag, sched);
    clock.advance(sched.schedule_duration_ns);

    profilemate_KvUsage usage = profilemate_KvUsage_init_zero;
    usage.t_ns = clock.now();
    usage.step = step;
    usage.used_blocks = used_blocks;
    usage.total_blocks = total_blocks;
    record(profilemate_Record_kv_usage_tag, usage);

    if (used_blocks > total_blocks * 9 / 10) {
      // Near full: evict cached blocks, and preempt the newest request now and then.
      for (int i = 0; i < 4; ++i) {
        profilemate_KvEviction eviction = profilemate_KvEviction_init_zero;
        eviction.t_ns = clock.now();
        eviction.step = step;
        eviction.block_id = draw.below(total_blocks);
        eviction.lifetime_ns = draw.between(500'000'000, 9'000'000'000);
        eviction.idle_ns = eviction.lifetime_ns / (2 + draw.below(6));
        record(profilemate_Record_kv_eviction_tag, eviction);
      }
      used_blocks -= std::min(used_blocks, total_blocks / 10);
      if (running > 4 && draw.below(3) == 0) {
        profilemate_Preemption preemption = profilemate_Preemption_init_zero;
        preemption.t_ns = clock.now();
        preemption.step = step;
        std::snprintf(preemption.request_id, sizeof preemption.request_id, "cmpl-%04u-0", step);
        pm_copy_string(preemption.event, sizeof preemption.event, "preempted");
        pm_copy_string(preemption.reason, sizeof preemption.reason, "kv_cache_full");
        preemption.running_ns = draw.between(100'000'000, 3'000'000'000);
        preemption.computed_tokens_lost = 100 + draw.below(900);
        preemption.blocks_freed = preemption.computed_tokens_lost / 16 + 1;
        preemption.has_kv_usage_before_pct = true;
        preemption.kv_usage_before_pct = sched.kv_usage_pct;
        pm_copy_string(preemption.extra_info, sizeof preemption.extra_info, "policy=fcfs, newest request");
        record(profilemate_Record_preemption_tag, preemption);
        --running;
      }
    }
    clock.advance(draw.between(5'000'000, 9'000'000));  // the worker runs the step meanwhile
    pace(step);
  }
}

int parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--steps" || arg == "--seed" || arg == "--kv-blocks") && i + 1 < argc) {
      const long value = std::strtol(argv[++i], nullptr, 10);
      if (value <= 0) {
        std::fprintf(stderr, "synthetic_vllm: %s needs a positive integer\n", argv[i - 1]);
        return 2;
      }
      (arg == "--steps"  ? options.steps
       : arg == "--seed" ? options.seed
                         : options.kv_blocks) = static_cast<uint32_t>(value);
    } else {
      std::fprintf(stderr,
                   "Usage: synthetic_vllm [--steps N] [--seed S] [--kv-blocks B]\n"
                   "Records a synthetic two-process vLLM-like workload into a ProfileMate session\n"
                   "(PROFILEMATE_SESSION_DIR, or a new one under VLLM_PROFILING_DIR).\n");
      return arg == "-h" || arg == "--help" ? 0 : 2;
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const int status = parse(argc, argv, options); status >= 0) return status;
  if (pm_start() != PM_OK) return 1;
  std::printf("Recording into %s\n", pm_session_dir());
  std::fflush(stdout);
  const pid_t worker = fork();
  if (worker == 0) {
    run_worker(options);
    std::exit(0);  // exit, not _exit: the recorder flushes at exit
  }
  run_engine_core(options);
  int status = 0;
  if (worker > 0) waitpid(worker, &status, 0);
  pm_stop();
  return worker > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
