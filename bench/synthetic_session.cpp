#include "synthetic_session.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <stdexcept>

#include "log_file.h"
#include "process_facts.h"
#include "profilemate.npb.h"
#include "record_encoder.h"
#include "text.h"

namespace profilemate::bench {

using recorder::LogFile;
using recorder::UniqueFd;

WrittenSession write_synthetic_session(const std::string& dir, const SessionShape& shape) {
  ::mkdir(dir.c_str(), 0700);
  const std::string path = dir + "/process_1.pmlog";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) throw std::runtime_error("cannot create " + path);
  LogFile log(std::move(fd), path, 1 << 20, 0, 0, shape.compress);

  static profilemate_Header header;
  header = profilemate_Header{};
  header.schema_version = profilemate_Schema_SCHEMA_VERSION;
  header.pid = 1;
  header.start_realtime_ns = recorder::realtime_ns();
  recorder::copy_utf8(header.session_id, sizeof header.session_id, "bench");
  log.write_header(header);

  WrittenSession written;
  uint64_t t = 0;
  uint8_t scratch[128];
  for (uint64_t step = 1; written.events < shape.events; ++step) {
    profilemate_SchedulerStep sched = profilemate_SchedulerStep_init_zero;
    sched.step = step;
    sched.t_ns = t;
    sched.schedule_duration_ns = 150'000;
    sched.num_seqs = 1 + step % 200;
    sched.max_num_seqs = 256;
    sched.num_tokens = sched.num_seqs;
    sched.max_tokens = 8192;
    sched.num_decode_seqs = sched.num_seqs;
    sched.num_decode_tokens = sched.num_seqs;
    sched.running_queue_len = sched.num_seqs;
    log.append(profilemate_Record_scheduler_step_tag, &sched);
    profilemate_KvUsage usage = profilemate_KvUsage_init_zero;
    usage.t_ns = t + 160'000;
    usage.step = step;
    usage.used_blocks = static_cast<uint32_t>(step % 30'000);
    usage.total_blocks = 30'000;
    log.append(profilemate_Record_kv_usage_tag, &usage);
    written.events += 2;
    for (uint32_t r = 0; r < shape.replays_per_step && written.events < shape.events; ++r) {
      profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
      replay.exec_id = static_cast<uint32_t>(1 + (step % 67) + uint64_t{r} * 100);
      replay.stream_id = 7;
      replay.thread = 1;
      replay.cpu_enter_ns = t + 200'000 + uint64_t{r} * 150'000;
      replay.cpu_duration_ns = 12'000 + uint64_t{r};
      replay.has_gpu_start_offset_ns = true;
      replay.gpu_start_offset_ns = 30'000;
      replay.has_gpu_duration_ns = true;
      replay.gpu_duration_ns = 140'000 + (step * 7919 + r) % 20'000;
      written.replay_bytes +=
          recorder::encode_record(scratch, sizeof scratch, profilemate_Record_graph_replay_tag, &replay);
      log.append(profilemate_Record_graph_replay_tag, &replay);
      ++written.replays;
      ++written.events;
    }
    profilemate_ForwardPass pass = profilemate_ForwardPass_init_zero;
    pass.t_ns = t + 180'000;
    pass.step = step;
    pass.thread = 1;
    pass.phase = profilemate_Phase_DECODE;
    pass.batch_size = sched.num_seqs;
    pass.num_tokens = sched.num_tokens;
    pass.duration_ns = 6'500'000;
    log.append(profilemate_Record_forward_pass_tag, &pass);
    written.events += 1;
    t += 7'000'000;
  }
  log.write_out();
  written.bytes = log.bytes_written();
  return written;
}

}  // namespace profilemate::bench
