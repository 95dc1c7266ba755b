#include "session_reports.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string_view>

#include "distributions.h"
#include "event_labels.h"
#include "units.h"

namespace profilemate::stats {
namespace {

using exporter::Row;
using exporter::SessionStream;
using exporter::TimeKey;

constexpr int kDecimals = 2;

using exporter::ms;
using exporter::us;
constexpr auto pct = exporter::percent;

// metric, unit, count, mean, min, p50, p90, p99, max: one row of a distribution table.
std::vector<Cell> distribution(std::string metric, std::string unit, const Summary& values) {
  std::vector<Cell> row{Cell::text(std::move(metric)), Cell::text(std::move(unit)),
                        Cell::integer(static_cast<int64_t>(values.count))};
  if (values.count == 0) {
    row.resize(9);
    return row;
  }
  row.push_back(Cell::number(values.sum / static_cast<double>(values.count), kDecimals));
  row.push_back(Cell::number(values.min, kDecimals));
  for (const double value : {values.p50, values.p90, values.p99})
    row.push_back(Cell::number(value, kDecimals));
  row.push_back(Cell::number(values.max, kDecimals));
  return row;
}

// A row that only counts: metric, unit, count; the statistics empty.
std::vector<Cell> count_row(std::string metric, std::string unit, uint64_t count) {
  std::vector<Cell> row{Cell::text(std::move(metric)), Cell::text(std::move(unit)),
                        Cell::integer(static_cast<int64_t>(count))};
  row.resize(9);
  return row;
}

Table distribution_table(std::string name, std::string title) {
  return {std::move(name),
          std::move(title),
          {"metric", "unit", "count", "mean", "min", "p50", "p90", "p99", "max"},
          1,
          {},
          {"Percentiles by nearest rank."}};
}

// The three memory budgets of a report run, each for sinks that are filled while another budget's
// sink is drained: a sink that spills while it is being drained would lose its place.
struct Budgets {
  explicit Budgets(const std::string& spill_dir)
      : join(spill_dir, kReportSortMemoryBytes / 2), values(spill_dir, kReportSortMemoryBytes / 2) {}
  exporter::SortMemory join;    // forward passes, for their join with the replays
  exporter::SortMemory values;  // distributions, preempted requests
};

struct DescriptorUse {
  uint64_t captures = 0;
  uint64_t replays = 0;
  uint64_t python_replays = 0;  // counted by the hooks where CUPTI saw none
  size_t gpu_us = 0;            // series in Distributions
  uint64_t steps = 0;           // forward passes during which it was replayed
  uint64_t padded_tokens = 0;
  uint64_t real_tokens = 0;
  uint64_t last_step = UINT64_MAX;
  uint32_t padded_size = 0;
};

// One row of the join of forward passes and graph replays, in time order per process.
struct Moment {
  enum Kind : uint8_t { kForwardPass, kReplay };
  TimeKey at;
  Kind kind = kForwardPass;
  bool has_gpu = false;
  uint32_t number = 0;  // a forward pass's tokens; a replay's exec id
  uint64_t ns = 0;      // a forward pass's end (Unix ns); a replay's GPU time
  [[nodiscard]] const TimeKey& key() const { return at; }
};
using JoinSink = exporter::RowSink<Moment>;

// The forward passes of one process that have started and may still hold a replay. A replay is
// matched, as it comes in time order, to the earliest-started pass that has not ended before it;
// passes that ended before the latest start can match nothing more and leave. So only
// overlapping passes are held, however long the session.
struct OpenPasses {
  struct Pass {
    uint64_t number = 0;  // in the order the passes started, all processes together
    uint64_t end = 0;
    uint32_t tokens = 0;
    bool hit = false;  // a replay ran during it
  };
  std::deque<Pass> passes;
};

// Per batch descriptor, matching each replay to the forward pass it ran in: the replays and the
// forward passes are merged by time in one sorted sink, so neither is held in memory.
class GraphsReport {
 public:
  GraphsReport(const exporter::SessionTables& tables, Distributions& values)
      : tables_(tables), values_(values), all_gpu_us_(values.add_series()) {
    for (const Row<GraphCapture>& row : tables.captures) {
      if (row.event.has_context()) {
        DescriptorUse& use = use_named(exporter::descriptor_name(row.event.context()));
        ++use.captures;
        use.padded_size = row.event.context().num_tokens();
      }
    }
  }

  // The forward passes, in time order, kept for the join.
  void forward_pass(const Row<ForwardPass>& row, JoinSink& passes) {
    passes.push(Moment{TimeKey{row.unix_ns, row.process}, Moment::kForwardPass, false, row.event.num_tokens(),
                       row.unix_ns + row.event.duration_ns()});
    ++forward_passes_;
  }
  // Then the replays, in time order, merged with the passes as they come: both streams are in
  // time order, so nothing but the passes needs keeping. At equal times a pass comes first.
  void join(JoinSink& passes, exporter::RowSink<exporter::ReplayRow>& replays) {
    JoinSink::Reader pass_reader = passes.read();
    std::span<const Moment> block = pass_reader.next();
    size_t at = 0;
    const auto passes_until = [&](const TimeKey* key) {  // null: all that are left
      while (!block.empty()) {
        if (at == block.size()) {
          block = pass_reader.next();
          at = 0;
        } else if (key != nullptr && *key < block[at].at) {
          return;
        } else {
          moment(block[at++]);
        }
      }
    };
    SessionStream::drain_replays(replays, [&](const exporter::ReplayRow& replay) {
      const TimeKey key = replay.key();
      passes_until(&key);
      moment(Moment{key, Moment::kReplay, replay.has_gpu, replay.exec_id, replay.gpu_ns});
      ++replays_;
    });
    passes_until(nullptr);
    for (auto& [process, open] : open_) close_ended(open.passes, UINT64_MAX);
  }

  // Once the distributions are finished.
  Table table() {
    // Replays counted by the Python hooks stand in for CUPTI's only where CUPTI saw none: a process
    // with both counted each replay twice (as cuda_graph_usage.csv, which keeps CUPTI's rows).
    std::set<uint32_t> cupti_processes;
    for (const auto& [exec, usage] : tables_.exec_usage) cupti_processes.insert(exec.first);
    for (const auto& [key, counted] : tables_.descriptor_replays) {
      if (cupti_processes.contains(key.first)) continue;
      use_named(exporter::descriptor_name(counted.descriptor)).python_replays += counted.replays;
    }

    Table table{"graphs",
                "CUDA graphs per vLLM batch descriptor",
                {"descriptor", "captures", "replays", "replay_pct", "steps", "hit_rate_pct", "padding_pct",
                 "gpu_total_ms", "gpu_mean_us", "gpu_p50_us", "gpu_p99_us"},
                1,
                {},
                {}};
    DescriptorUse all;
    all.gpu_us = all_gpu_us_;
    uint64_t total_replays = 0;
    for (const auto& [name, use] : uses_) total_replays += use.replays + use.python_replays;
    const auto size = static_cast<double>(forward_passes_);
    const auto row_of = [&](const std::string& name, const DescriptorUse& use) {
      const uint64_t replays = use.replays + use.python_replays;
      std::vector<Cell> row{
          Cell::text(name), Cell::integer(static_cast<int64_t>(use.captures)),
          Cell::integer(static_cast<int64_t>(replays)),
          Cell::number(pct(static_cast<double>(replays), static_cast<double>(total_replays)), 1)};
      if (use.replays > 0 && size > 0) {
        row.push_back(Cell::integer(static_cast<int64_t>(use.steps)));
        row.push_back(Cell::number(pct(static_cast<double>(use.steps), size), 1));
        row.push_back(Cell::number(pct(static_cast<double>(use.padded_tokens - use.real_tokens),
                                       static_cast<double>(use.padded_tokens)),
                                   1));
      } else {
        row.resize(7);
      }
      const Summary& gpu = values_[use.gpu_us];
      if (gpu.count == 0) {
        row.resize(11);
      } else {
        row.push_back(Cell::number(gpu.sum * 1e-3, 3));
        row.push_back(Cell::number(gpu.sum / static_cast<double>(gpu.count), 1));
        row.push_back(Cell::number(gpu.p50, 1));
        row.push_back(Cell::number(gpu.p99, 1));
      }
      table.rows.push_back(std::move(row));
    };
    std::vector<std::pair<std::string, const DescriptorUse*>> ordered;
    for (const auto& [name, use] : uses_) {
      ordered.emplace_back(name, &use);
      all.captures += use.captures;
      all.replays += use.replays;
      all.python_replays += use.python_replays;
      all.padded_tokens += use.padded_tokens;
      all.real_tokens += use.real_tokens;
    }
    all.steps = hit_passes_;
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
      return a.second->replays + a.second->python_replays > b.second->replays + b.second->python_replays;
    });
    if (!uses_.empty()) row_of("(all)", all);
    for (const auto& [name, use] : ordered) row_of(name, *use);

    if (replays_ > 0 && forward_passes_ > 0) {
      table.notes.emplace_back(std::to_string(forward_passes_) +
                               " forward passes: " + std::to_string(all.steps) + " replayed a graph, " +
                               std::to_string(forward_passes_ - hit_passes_) +
                               " ran without one (largest: " + std::to_string(largest_eager_) + " tokens).");
    }
    table.notes.emplace_back(
        "steps: forward passes that replayed the graph; hit_rate_pct: their share of all forward passes;");
    table.notes.emplace_back(
        "padding_pct: padded tokens the graph computed for nothing, of all it computed in those steps.");
    if (all.python_replays > 0) {
      table.notes.emplace_back(
          "Replays counted by the Python hooks (no CUPTI in that process) have no GPU time.");
    }
    return table;
  }

 private:
  void moment(const Moment& moment) {
    std::deque<OpenPasses::Pass>& open = open_[moment.at.process].passes;
    close_ended(open, moment.at.unix_ns);
    if (moment.kind == Moment::kForwardPass) {
      open.push_back({next_pass_++, moment.ns, moment.number, false});
    } else {
      add_replay(moment, moment.at.process, open.empty() ? nullptr : &open.front());
    }
  }

  // What a replay of an executable graph counts towards, and the capture that labelled it.
  struct Graph {
    DescriptorUse* use = nullptr;
    const GraphCapture* capture = nullptr;  // null: unlabelled
  };

  DescriptorUse& use_named(const std::string& name) {
    const auto [it, added] = uses_.try_emplace(name);
    if (added) it->second.gpu_us = values_.add_series();
    return it->second;
  }

  Graph& graph_of(uint32_t process, uint32_t exec_id) {
    const auto [it, added] = graphs_.try_emplace({process, exec_id});
    if (added) {
      const auto origin = origins_.find({process, exec_id});
      const GraphCapture* capture = origin == origins_.end() ? nullptr : origin->second.capture;
      if (capture == nullptr || !capture->has_context()) capture = nullptr;
      it->second = {
          &use_named(capture != nullptr ? exporter::descriptor_name(capture->context()) : "(unlabelled)"),
          capture};
    }
    return it->second;
  }

  void add_replay(const Moment& replay, uint32_t process, OpenPasses::Pass* pass) {
    const Graph& graph = graph_of(process, replay.number);
    DescriptorUse& use = *graph.use;
    ++use.replays;
    if (replay.has_gpu) {
      values_.add(use.gpu_us, us(replay.ns));
      values_.add(all_gpu_us_, us(replay.ns));
    }
    if (pass != nullptr && use.last_step != pass->number) {  // count each forward pass once per descriptor
      use.last_step = pass->number;
      pass->hit = true;
      ++use.steps;
      use.real_tokens += pass->tokens;
      use.padded_tokens += graph.capture != nullptr
                               ? std::max(graph.capture->context().num_tokens(), pass->tokens)
                               : pass->tokens;
    }
  }

  // Lets go of the passes that ended before `unix_ns`: no later replay can fall in them.
  void close_ended(std::deque<OpenPasses::Pass>& open, uint64_t unix_ns) {
    while (!open.empty() && open.front().end < unix_ns) {
      if (open.front().hit) {
        ++hit_passes_;
      } else {
        largest_eager_ = std::max(largest_eager_, open.front().tokens);
      }
      open.pop_front();
    }
  }

  const exporter::SessionTables& tables_;
  Distributions& values_;
  const std::map<std::pair<uint32_t, uint32_t>, exporter::ExecOrigin> origins_ =
      exporter::exec_origins(tables_);
  std::map<std::string, DescriptorUse> uses_;
  std::map<std::pair<uint32_t, uint32_t>, Graph> graphs_;  // (process, exec id)
  std::map<uint32_t, OpenPasses> open_;                    // by process
  size_t all_gpu_us_;
  uint64_t forward_passes_ = 0;
  uint64_t replays_ = 0;
  uint64_t next_pass_ = 0;
  uint64_t hit_passes_ = 0;
  uint32_t largest_eager_ = 0;
};
// Scheduler steps and forward passes: distributions of what each step and pass reports.
class StepsReport {
 public:
  StepsReport(const exporter::SessionTables& tables, Distributions& values)
      : values_(values), tables_(tables) {
    for (size_t& series :
         {std::ref(token_util_), std::ref(seq_util_), std::ref(tokens_), std::ref(seqs_), std::ref(running_),
          std::ref(waiting_), std::ref(schedule_us_), std::ref(forward_ms_), std::ref(forward_gpu_ms_)})
      series = values.add_series();
  }

  void step(uint32_t process, const SchedulerStep& step) {
    Engine& engine = engines_[process];
    ++engine.steps;
    engine.tokens += step.num_tokens();
    if (step.max_tokens() > 0) values_.add(token_util_, pct(step.num_tokens(), step.max_tokens()));
    if (step.max_num_seqs() > 0) values_.add(seq_util_, pct(step.num_seqs(), step.max_num_seqs()));
    values_.add(tokens_, step.num_tokens());
    values_.add(seqs_, step.num_seqs());
    values_.add(running_, step.running_queue_len());
    values_.add(waiting_, step.waiting_queue_len());
    values_.add(schedule_us_, us(step.schedule_duration_ns()));
    ++phases_[exporter::phase_name(exporter::step_phase(step))];
  }
  void forward_pass(const ForwardPass& pass) {
    values_.add(forward_ms_, ms(pass.duration_ns()));
    if (pass.has_gpu_duration_ns()) values_.add(forward_gpu_ms_, ms(pass.gpu_duration_ns()));
  }

  [[nodiscard]] Table table() const {
    Table table = distribution_table("steps", "Scheduler steps and forward passes");
    table.rows.push_back(distribution("token_utilization", "%", values_[token_util_]));
    table.rows.push_back(distribution("seq_utilization", "%", values_[seq_util_]));
    table.rows.push_back(distribution("tokens_per_step", "tokens", values_[tokens_]));
    table.rows.push_back(distribution("seqs_per_step", "requests", values_[seqs_]));
    table.rows.push_back(distribution("running_queue", "requests", values_[running_]));
    table.rows.push_back(distribution("waiting_queue", "requests", values_[waiting_]));
    table.rows.push_back(distribution("schedule_time", "us", values_[schedule_us_]));
    table.rows.push_back(distribution("forward_cpu_time", "ms", values_[forward_ms_]));
    table.rows.push_back(distribution("forward_gpu_time", "ms", values_[forward_gpu_ms_]));
    for (const std::string_view phase : {"prefill", "decode", "mixed", "idle"}) {
      const auto count = phases_.find(phase);
      table.rows.push_back(
          count_row("steps_" + std::string(phase), "steps", count == phases_.end() ? 0 : count->second));
    }
    add_engines(table);
    table.notes.emplace_back(
        "Utilization is against the live scheduler's limits (max_num_seqs, the token budget).");
    return table;
  }

 private:
  Distributions& values_;
  size_t token_util_ = 0, seq_util_ = 0, tokens_ = 0, seqs_ = 0, running_ = 0, waiting_ = 0, schedule_us_ = 0,
         forward_ms_ = 0, forward_gpu_ms_ = 0;
  std::map<std::string_view, uint64_t> phases_;
  struct Engine {
    uint64_t steps = 0;
    uint64_t tokens = 0;
  };
  std::map<uint32_t, Engine> engines_;  // by process: each scheduler is an engine (a DP rank)
  const exporter::SessionTables& tables_;

  // Steps and tokens per engine, where several processes scheduled (data parallel): named by DP
  // rank where vLLM gave one, else by pid; with several hosts, @host.
  void add_engines(Table& table) const {
    if (engines_.size() < 2) return;
    std::set<std::string_view> hosts;
    for (const auto& [process, engine] : engines_) hosts.insert(tables_.processes[process].host());
    for (const auto& [process, engine] : engines_) {
      const exporter::Process& owner = tables_.processes[process];
      std::string name = owner.info.has_dp_rank() ? "dp" + std::to_string(owner.info.dp_rank())
                                                  : "pid" + std::to_string(owner.header.pid());
      if (hosts.size() > 1) name += "@" + owner.host();
      table.rows.push_back(count_row("steps_" + name, "steps", engine.steps));
      table.rows.push_back(count_row("tokens_" + name, "tokens", engine.tokens));
    }
    table.notes.emplace_back(
        "steps_/tokens_<engine>: each process that scheduled is a data-parallel engine (dpN: vLLM's DP "
        "rank).");
  }
};

// The integer after "key=" in a context string such as "calls=3 hit_tokens=40"; 0 when absent.
uint64_t context_number(std::string_view context, std::string_view key) {
  const std::string needle = std::string(key) + "=";
  const size_t at = context.find(needle);
  if (at == std::string_view::npos || (at > 0 && context[at - 1] != ' ')) return 0;
  uint64_t value = 0;
  for (size_t i = at + needle.size(); i < context.size() && context[i] >= '0' && context[i] <= '9'; ++i) {
    value = value * 10 + static_cast<uint64_t>(context[i] - '0');
  }
  return value;
}

class KvReport {
 public:
  explicit KvReport(Distributions& values)
      : values_(values),
        usage_(values.add_series()),
        lifetime_(values.add_series()),
        idle_(values.add_series()) {}

  void usage(const KvUsage& usage) { values_.add(usage_, pct(usage.used_blocks(), usage.total_blocks())); }
  void eviction(const KvEviction& eviction) {
    ++evictions_;
    values_.add(lifetime_, static_cast<double>(eviction.lifetime_ns()) * 1e-9);
    values_.add(idle_, static_cast<double>(eviction.idle_ns()) * 1e-9);
  }
  void cpu_operation(const CpuOperation& operation) {
    const std::string& context = operation.context();
    if (operation.operation() == "kv_cache_manager.get_computed_blocks") {
      lookups_ += context_number(context, "lookups");
      queried_ += context_number(context, "queried_tokens");
      hits_ += context_number(context, "hit_tokens");
    } else if (operation.operation() == "kv_cache_manager.allocate_slots") {
      allocations_ += context_number(context, "calls");
      failed_ += context_number(context, "failed");
    }
  }

  [[nodiscard]] Table table() const {
    Table table = distribution_table("kv", "KV cache: usage, evictions, prefix cache");
    table.rows.push_back(distribution("kv_usage", "%", values_[usage_]));
    table.rows.push_back(count_row("evictions", "blocks", evictions_));
    table.rows.push_back(distribution("eviction_lifetime", "s", values_[lifetime_]));
    table.rows.push_back(distribution("eviction_idle", "s", values_[idle_]));
    std::vector<Cell> hit_rate = count_row("prefix_cache_hit_rate", "% of tokens", lookups_);
    if (queried_ > 0)
      hit_rate[3] = Cell::number(pct(static_cast<double>(hits_), static_cast<double>(queried_)), kDecimals);
    table.rows.push_back(std::move(hit_rate));
    std::vector<Cell> failures = count_row("failed_allocations", "% of calls", allocations_);
    if (allocations_ > 0) {
      failures[3] =
          Cell::number(pct(static_cast<double>(failed_), static_cast<double>(allocations_)), kDecimals);
    }
    table.rows.push_back(std::move(failures));
    table.notes.emplace_back("kv_usage: used blocks of the usable ones, sampled once per scheduler step.");
    table.notes.emplace_back(
        "prefix_cache_hit_rate: count = lookups, mean = hit tokens of looked-up tokens (vLLM's "
        "prefix_cache_hits / "
        "prefix_cache_queries).");
    table.notes.emplace_back(
        "failed_allocations: count = allocate_slots calls, mean = share that found no room.");
    return table;
  }

 private:
  Distributions& values_;
  size_t usage_, lifetime_, idle_;
  uint64_t evictions_ = 0, queried_ = 0, hits_ = 0, lookups_ = 0, allocations_ = 0, failed_ = 0;
};

// Preemptions by reason. The distinct requests of each reason are counted exactly without holding
// them: the ids go into a sorted sink by (reason, hash of the id), and only the ids that share a
// hash are compared when the sink is drained.
class PreemptionsReport {
 public:
  PreemptionsReport(Distributions& values, exporter::SortMemory& memory)
      : values_(values), requests_(memory) {}

  void preemption(const Preemption& event) {
    const auto [it, added] = groups_.try_emplace(event.reason());
    Group& group = it->second;
    if (added) {
      group.index = groups_.size() - 1;
      group.usage_before = values_.add_series();
    }
    if (event.has_tokens_found_in_cache()) {  // a resumption
      const uint64_t found = exporter::tokens_found_in_cache(event);
      ++group.resumed;
      group.tokens_found += found;
      group.tokens_recomputed += event.computed_tokens_lost() - found;
      return;
    }
    ++group.count;
    const std::string& request = event.request_id();
    requests_.push({group.index, std::hash<std::string_view>{}(request)},
                   std::as_bytes(std::span(request.data(), request.size())));
    group.tokens_freed += event.computed_tokens_lost();
    group.blocks_freed += event.blocks_freed();
    if (event.has_kv_usage_before_pct()) values_.add(group.usage_before, event.kv_usage_before_pct());
  }

  // Counts the distinct requests; call once.
  void count_requests() {
    std::vector<uint64_t> distinct(groups_.size());
    RequestKey current{UINT64_MAX, 0};
    std::vector<std::string> same_hash;
    requests_.drain([&](const RequestKey& key, std::span<const std::byte> id) {
      if (key.reason != current.reason || key.hash != current.hash) {
        current = key;
        same_hash.clear();
      }
      const std::string_view request(reinterpret_cast<const char*>(id.data()), id.size());
      if (std::find(same_hash.begin(), same_hash.end(), request) != same_hash.end()) return;
      same_hash.emplace_back(request);
      ++distinct[key.reason];
    });
    for (auto& [reason, group] : groups_) group.requests = distinct[group.index];
  }

  [[nodiscard]] Table table() const {
    Table table{"preemptions",
                "Preemptions by cause",
                {"reason", "count", "requests", "tokens_freed", "blocks_freed", "kv_usage_before_p50_pct",
                 "resumed", "tokens_found_in_cache", "tokens_recomputed"},
                1,
                {},
                {"tokens_freed: computed tokens whose KV blocks were released; of those, at the resumptions "
                 "seen, tokens_found_in_cache were still in the prefix cache and tokens_recomputed had to be "
                 "computed again."}};
    for (const auto& [reason, group] : groups_) {
      std::vector<Cell> row{Cell::text(reason), Cell::integer(static_cast<int64_t>(group.count)),
                            Cell::integer(static_cast<int64_t>(group.requests)),
                            Cell::integer(static_cast<int64_t>(group.tokens_freed)),
                            Cell::integer(static_cast<int64_t>(group.blocks_freed))};
      const Summary& before = values_[group.usage_before];
      row.push_back(before.count == 0 ? Cell::none() : Cell::number(before.p50, kDecimals));
      row.push_back(Cell::integer(static_cast<int64_t>(group.resumed)));
      row.push_back(Cell::integer(static_cast<int64_t>(group.tokens_found)));
      row.push_back(Cell::integer(static_cast<int64_t>(group.tokens_recomputed)));
      table.rows.push_back(std::move(row));
    }
    return table;
  }

 private:
  struct Group {
    uint64_t index = 0;  // in the order the reasons were first seen
    uint64_t count = 0;
    uint64_t requests = 0;
    uint64_t tokens_freed = 0;
    uint64_t blocks_freed = 0;
    size_t usage_before = 0;  // series in Distributions
    uint64_t resumed = 0;
    uint64_t tokens_found = 0;
    uint64_t tokens_recomputed = 0;
  };
  struct RequestKey {
    uint64_t reason = 0;
    uint64_t hash = 0;
    bool operator<(const RequestKey& other) const {
      return reason != other.reason ? reason < other.reason : hash < other.hash;
    }
  };

  Distributions& values_;
  std::map<std::string, Group> groups_;  // by reason
  exporter::SortedSink<RequestKey> requests_;
};

Table moe_report(const exporter::SessionTables& data) {
  Table table{
      "moe",
      "MoE expert load per layer and expert-parallel rank",
      {"host", "pid", "ep_rank", "layer", "experts", "selections", "max_over_mean", "min_over_mean", "cv",
       "hottest_expert"},
      4,
      {},
      {"ep_rank: the expert-parallel rank vLLM gave the process (empty where it gave none); each process "
       "counts the experts it holds.",
       "max_over_mean: 1.00 is a perfect balance; the layer's speed follows its busiest expert.",
       "cv: coefficient of variation of the per-expert counts."}};
  for (const auto& [key, counts] : data.expert_counts) {
    if (counts.empty()) continue;
    double total = 0;
    for (const uint64_t count : counts) total += static_cast<double>(count);
    const double mean = total / static_cast<double>(counts.size());
    double variance = 0;
    for (const uint64_t count : counts)
      variance += (static_cast<double>(count) - mean) * (static_cast<double>(count) - mean);
    variance /= static_cast<double>(counts.size());
    const auto hottest = std::max_element(counts.begin(), counts.end());
    const auto coldest = std::min_element(counts.begin(), counts.end());
    const exporter::Process& process = data.processes[key.first];
    std::vector<Cell> row{Cell::text(process.host()),
                          Cell::integer(process.header.pid()),
                          process.info.has_ep_rank() ? Cell::integer(process.info.ep_rank()) : Cell::none(),
                          Cell::integer(key.second),
                          Cell::integer(static_cast<int64_t>(counts.size())),
                          Cell::integer(static_cast<int64_t>(total))};
    if (mean > 0) {
      row.push_back(Cell::number(static_cast<double>(*hottest) / mean, kDecimals));
      row.push_back(Cell::number(static_cast<double>(*coldest) / mean, kDecimals));
      row.push_back(Cell::number(std::sqrt(variance) / mean, kDecimals));
      row.push_back(Cell::integer(hottest - counts.begin()));
    } else {
      row.resize(table.columns.size());
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

// How the join of launches with CUPTI's GPU records went: without it, a join that failed on a
// GPU would only show as replays without GPU time.
std::string gpu_records_note(const exporter::Process& process) {
  const GpuRecordStats& gpu = *process.gpu_records;
  std::string note = "pid " + std::to_string(process.header.pid()) +
                     " GPU records: " + std::to_string(gpu.replays_with_gpu()) + " replays with GPU time, " +
                     std::to_string(gpu.replays_without_gpu()) + " without (" +
                     std::to_string(gpu.late_gpu_times()) + " of them given it late), " +
                     std::to_string(gpu.unmatched_gpu_records()) + " GPU records matched no launch, " +
                     std::to_string(gpu.buffers_declined()) + " activity buffers declined";
  if (gpu.replays_with_gpu() == 0 && gpu.late_gpu_times() == 0 && gpu.replays_without_gpu() > 0)
    note += ": no replay got GPU time";
  return note;
}

Table health_report(const exporter::SessionTables& data) {
  Table table{"health",
              "Recording health per process",
              {"pid", "role", "records", "dropped", "corrupt_spans", "torn_tail_bytes", "notices",
               "patches_applied", "patches_skipped"},
              2,
              {},
              {}};
  std::vector<uint64_t> notices(data.processes.size()), applied(data.processes.size()),
      skipped(data.processes.size());
  for (const Row<Notice>& row : data.notices) {
    ++notices[row.process];
    table.notes.emplace_back("pid " + std::to_string(data.processes[row.process].header.pid()) + " " +
                             row.event.source() + ": " + row.event.message());
  }
  for (const Row<PatchStatus>& row : data.patches) {
    ++(row.event.applied() ? applied : skipped)[row.process];
    if (!row.event.applied()) {
      table.notes.emplace_back("pid " + std::to_string(data.processes[row.process].header.pid()) +
                               " skipped " + row.event.target() + ": " + row.event.reason());
    }
  }
  for (size_t i = 0; i < data.processes.size(); ++i) {
    const exporter::Process& process = data.processes[i];
    uint64_t dropped = 0;
    std::map<std::string_view, uint64_t> dropped_by_reason;
    for (const auto& [key, count] : process.dropped) {
      dropped += count;
      dropped_by_reason[exporter::dropped_reason_name(key.second)] += count;
    }
    for (const auto& [reason, count] : dropped_by_reason) {
      table.notes.emplace_back("pid " + std::to_string(process.header.pid()) + " dropped " +
                               std::to_string(count) + " records: " + std::string(reason));
    }
    if (process.gpu_records) table.notes.push_back(gpu_records_note(process));
    table.rows.push_back({Cell::integer(process.header.pid()), Cell::text(process.info.process_role()),
                          Cell::integer(static_cast<int64_t>(process.stats.records)),
                          Cell::integer(static_cast<int64_t>(dropped)),
                          Cell::integer(static_cast<int64_t>(process.stats.corrupt.size())),
                          Cell::integer(static_cast<int64_t>(process.stats.torn_tail_bytes)),
                          Cell::integer(static_cast<int64_t>(notices[i])),
                          Cell::integer(static_cast<int64_t>(applied[i])),
                          Cell::integer(static_cast<int64_t>(skipped[i]))});
  }
  return table;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& report_catalog() {
  static const std::vector<std::pair<std::string, std::string>> catalog{
      {"graphs", "per batch descriptor: captures, replays, hit rate, padding waste, GPU time"},
      {"steps", "step utilization (tokens, requests), queues, schedule and forward time"},
      {"kv", "KV usage percentiles, evictions, prefix cache hit rate, failed allocations"},
      {"preemptions", "preemptions by cause: requests, tokens freed and recomputed, blocks freed"},
      {"moe", "expert load imbalance per MoE layer"},
      {"health", "records, drops, damage, degradations and skipped patches per process"},
  };
  return catalog;
}

std::vector<Table> session_reports(exporter::SessionStream& session, const std::string& spill_dir) {
  Budgets budgets(spill_dir);
  Distributions values(budgets.values);
  GraphsReport graphs(session.tables, values);
  StepsReport steps(session.tables, values);
  KvReport kv(values);
  PreemptionsReport preemptions(values, budgets.values);
  {
    JoinSink passes(budgets.join);
    SessionStream::drain_events<ForwardPass>(session.forward_passes, [&](const Row<ForwardPass>& row) {
      steps.forward_pass(row.event);
      graphs.forward_pass(row, passes);
    });
    graphs.join(passes, session.replays);
  }
  SessionStream::drain_events<SchedulerStep>(
      session.steps, [&](const Row<SchedulerStep>& row) { steps.step(row.process, row.event); });
  SessionStream::drain_events<KvUsage>(session.kv_usage,
                                       [&](const Row<KvUsage>& row) { kv.usage(row.event); });
  SessionStream::drain_events<KvEviction>(session.kv_evictions,
                                          [&](const Row<KvEviction>& row) { kv.eviction(row.event); });
  SessionStream::drain_events<CpuOperation>(
      session.cpu_operations, [&](const Row<CpuOperation>& row) { kv.cpu_operation(row.event); });
  SessionStream::drain_events<Preemption>(
      session.preemptions, [&](const Row<Preemption>& row) { preemptions.preemption(row.event); });
  preemptions.count_requests();
  values.finish();
  return {graphs.table(),
          steps.table(),
          kv.table(),
          preemptions.table(),
          moe_report(session.tables),
          health_report(session.tables)};
}

std::vector<Table> session_reports(const exporter::RunSource& source, std::vector<std::string>& warnings) {
  // The rows of the session are sorted in a temporary directory: stats writes no files of its own.
  const std::string spill_dir = std::filesystem::temp_directory_path().string();
  exporter::SortMemory memory(spill_dir, kReportSortMemoryBytes);
  SessionStream session(source, memory);
  warnings = session.tables.warnings;
  return session_reports(session, spill_dir);
}

}  // namespace profilemate::stats
