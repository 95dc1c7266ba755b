#include "session_reports.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "event_labels.h"
#include "percentile.h"
#include "units.h"

namespace profilemate::stats {
namespace {

using exporter::Row;
using exporter::SessionData;

constexpr int kDecimals = 2;

using exporter::ms;
using exporter::us;
constexpr auto pct = exporter::percent;

// metric, unit, count, mean, min, p50, p90, p99, max: one row of a distribution table.
std::vector<Cell> distribution(std::string metric, std::string unit, std::vector<double> values) {
  std::vector<Cell> row{Cell::text(std::move(metric)), Cell::text(std::move(unit)),
                        Cell::integer(static_cast<int64_t>(values.size()))};
  if (values.empty()) {
    row.resize(9);
    return row;
  }
  double sum = 0;
  for (const double v : values) sum += v;
  const double low = *std::min_element(values.begin(), values.end());
  const double high = *std::max_element(values.begin(), values.end());
  row.push_back(Cell::number(sum / static_cast<double>(values.size()), kDecimals));
  row.push_back(Cell::number(low, kDecimals));
  for (const double fraction : {0.50, 0.90, 0.99}) {
    row.push_back(Cell::number(exporter::nearest_rank(values, fraction), kDecimals));
  }
  row.push_back(Cell::number(high, kDecimals));
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

struct DescriptorUse {
  uint64_t captures = 0;
  uint64_t replays = 0;
  uint64_t python_replays = 0;  // counted by the hooks where CUPTI saw none
  std::vector<double> gpu_us;
  uint64_t steps = 0;  // forward passes during which it was replayed
  uint64_t padded_tokens = 0;
  uint64_t real_tokens = 0;
  size_t last_step = SIZE_MAX;
  uint32_t padded_size = 0;
};

// The forward pass (index into data.forward_passes) running in `process` at `unix_ns`, if any.
class ForwardPassFinder {
 public:
  explicit ForwardPassFinder(const SessionData& data) : data_(data) {
    for (size_t i = 0; i < data.forward_passes.size(); ++i) {
      by_process_[data.forward_passes[i].process].push_back(i);
    }
  }

  // Calls must come in time order per process (replays are sorted by time).
  std::optional<size_t> at(uint32_t process, uint64_t unix_ns) {
    const auto found = by_process_.find(process);
    if (found == by_process_.end()) return std::nullopt;
    const std::vector<size_t>& passes = found->second;
    size_t& cursor = cursors_[process];
    while (cursor < passes.size() && end_of(passes[cursor]) < unix_ns) ++cursor;
    if (cursor < passes.size() && data_.forward_passes[passes[cursor]].unix_ns <= unix_ns)
      return passes[cursor];
    return std::nullopt;
  }

 private:
  [[nodiscard]] uint64_t end_of(size_t pass) const {
    const Row<ForwardPass>& row = data_.forward_passes[pass];
    return row.unix_ns + row.event.duration_ns();
  }

  const SessionData& data_;
  std::map<uint32_t, std::vector<size_t>> by_process_;
  std::map<uint32_t, size_t> cursors_;
};

Table graphs_report(const SessionData& data) {
  std::map<std::string, DescriptorUse> uses;
  for (const Row<GraphCapture>& row : data.captures) {
    if (row.event.has_context()) {
      DescriptorUse& use = uses[exporter::descriptor_name(row.event.context())];
      ++use.captures;
      use.padded_size = row.event.context().num_tokens();
    }
  }
  const auto origins = exporter::exec_origins(data);
  ForwardPassFinder finder(data);
  std::vector<bool> hit(data.forward_passes.size(), false);
  for (const exporter::ReplayRow& replay : data.replays) {
    const auto origin = origins.find({replay.process, replay.exec_id});
    const GraphCapture* capture = origin == origins.end() ? nullptr : origin->second.capture;
    const bool labelled = capture != nullptr && capture->has_context();
    DescriptorUse& use = uses[labelled ? exporter::descriptor_name(capture->context()) : "(unlabelled)"];
    ++use.replays;
    if (replay.has_gpu) use.gpu_us.push_back(us(replay.gpu_ns));
    const std::optional<size_t> step = finder.at(replay.process, replay.unix_ns);
    if (step && use.last_step != *step) {  // count each forward pass once per descriptor
      use.last_step = *step;
      hit[*step] = true;
      ++use.steps;
      const uint32_t real = data.forward_passes[*step].event.num_tokens();
      use.real_tokens += real;
      use.padded_tokens += labelled ? std::max(capture->context().num_tokens(), real) : real;
    }
  }
  // Replays counted by the Python hooks stand in for CUPTI's only where CUPTI saw none: a process
  // with both counted each replay twice (as cuda_graph_usage.csv, which keeps CUPTI's rows).
  std::set<uint32_t> cupti_processes;
  for (const auto& [exec, usage] : data.exec_usage) cupti_processes.insert(exec.first);
  for (const auto& [key, counted] : data.descriptor_replays) {
    if (cupti_processes.contains(key.first)) continue;
    uses[exporter::descriptor_name(counted.descriptor)].python_replays += counted.replays;
  }

  Table table{"graphs",
              "CUDA graphs per vLLM batch descriptor",
              {"descriptor", "captures", "replays", "replay_pct", "steps", "hit_rate_pct", "padding_pct",
               "gpu_total_ms", "gpu_mean_us", "gpu_p50_us", "gpu_p99_us"},
              1,
              {},
              {}};
  DescriptorUse all;
  uint64_t total_replays = 0;
  for (const auto& [name, use] : uses) total_replays += use.replays + use.python_replays;
  const auto size = static_cast<double>(data.forward_passes.size());
  const auto row_of = [&](const std::string& name, DescriptorUse& use) {
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
    if (use.gpu_us.empty()) {
      row.resize(11);
    } else {
      double total = 0;
      for (const double v : use.gpu_us) total += v;
      row.push_back(Cell::number(total * 1e-3, 3));
      row.push_back(Cell::number(total / static_cast<double>(use.gpu_us.size()), 1));
      row.push_back(Cell::number(exporter::nearest_rank(use.gpu_us, 0.50), 1));
      row.push_back(Cell::number(exporter::nearest_rank(use.gpu_us, 0.99), 1));
    }
    table.rows.push_back(std::move(row));
  };
  std::vector<std::pair<std::string, DescriptorUse*>> ordered;
  for (auto& [name, use] : uses) {
    ordered.emplace_back(name, &use);
    all.captures += use.captures;
    all.replays += use.replays;
    all.python_replays += use.python_replays;
    all.gpu_us.insert(all.gpu_us.end(), use.gpu_us.begin(), use.gpu_us.end());
    all.padded_tokens += use.padded_tokens;
    all.real_tokens += use.real_tokens;
  }
  all.steps = static_cast<uint64_t>(std::count(hit.begin(), hit.end(), true));
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return a.second->replays + a.second->python_replays > b.second->replays + b.second->python_replays;
  });
  if (!uses.empty()) row_of("(all)", all);
  for (auto& [name, use] : ordered) row_of(name, *use);

  uint32_t largest_eager = 0;
  uint64_t eager = 0;
  for (size_t i = 0; i < data.forward_passes.size(); ++i) {
    if (!hit[i]) {
      ++eager;
      largest_eager = std::max(largest_eager, data.forward_passes[i].event.num_tokens());
    }
  }
  if (!data.replays.empty() && !data.forward_passes.empty()) {
    table.notes.emplace_back(std::to_string(data.forward_passes.size()) + " forward passes: " +
                             std::to_string(all.steps) + " replayed a graph, " + std::to_string(eager) +
                             " ran without one (largest: " + std::to_string(largest_eager) + " tokens).");
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

Table steps_report(const SessionData& data) {
  Table table = distribution_table("steps", "Scheduler steps and forward passes");
  std::vector<double> token_util, seq_util, tokens, seqs, running, waiting, schedule_us;
  std::map<std::string_view, uint64_t> phases;
  for (const Row<SchedulerStep>& row : data.steps) {
    const SchedulerStep& step = row.event;
    if (step.max_tokens() > 0) token_util.push_back(pct(step.num_tokens(), step.max_tokens()));
    if (step.max_num_seqs() > 0) seq_util.push_back(pct(step.num_seqs(), step.max_num_seqs()));
    tokens.push_back(step.num_tokens());
    seqs.push_back(step.num_seqs());
    running.push_back(step.running_queue_len());
    waiting.push_back(step.waiting_queue_len());
    schedule_us.push_back(us(step.schedule_duration_ns()));
    ++phases[exporter::phase_name(exporter::step_phase(step))];
  }
  std::vector<double> forward_ms, forward_gpu_ms;
  for (const Row<ForwardPass>& row : data.forward_passes) {
    forward_ms.push_back(ms(row.event.duration_ns()));
    if (row.event.has_gpu_duration_ns()) forward_gpu_ms.push_back(ms(row.event.gpu_duration_ns()));
  }
  table.rows.push_back(distribution("token_utilization", "%", std::move(token_util)));
  table.rows.push_back(distribution("seq_utilization", "%", std::move(seq_util)));
  table.rows.push_back(distribution("tokens_per_step", "tokens", std::move(tokens)));
  table.rows.push_back(distribution("seqs_per_step", "requests", std::move(seqs)));
  table.rows.push_back(distribution("running_queue", "requests", std::move(running)));
  table.rows.push_back(distribution("waiting_queue", "requests", std::move(waiting)));
  table.rows.push_back(distribution("schedule_time", "us", std::move(schedule_us)));
  table.rows.push_back(distribution("forward_cpu_time", "ms", std::move(forward_ms)));
  table.rows.push_back(distribution("forward_gpu_time", "ms", std::move(forward_gpu_ms)));
  for (const std::string_view phase : {"prefill", "decode", "mixed", "idle"}) {
    table.rows.push_back(count_row("steps_" + std::string(phase), "steps", phases[phase]));
  }
  table.notes.emplace_back(
      "Utilization is against the live scheduler's limits (max_num_seqs, the token budget).");
  return table;
}

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

Table kv_report(const SessionData& data) {
  Table table = distribution_table("kv", "KV cache: usage, evictions, prefix cache");
  std::vector<double> usage, lifetime, idle;
  for (const Row<KvUsage>& row : data.kv_usage) {
    usage.push_back(pct(row.event.used_blocks(), row.event.total_blocks()));
  }
  for (const Row<KvEviction>& row : data.kv_evictions) {
    lifetime.push_back(static_cast<double>(row.event.lifetime_ns()) * 1e-9);
    idle.push_back(static_cast<double>(row.event.idle_ns()) * 1e-9);
  }
  uint64_t queried = 0, hits = 0, lookups = 0, allocations = 0, failed = 0;
  for (const Row<CpuOperation>& row : data.cpu_operations) {
    const std::string& context = row.event.context();
    if (row.event.operation() == "kv_cache_manager.get_computed_blocks") {
      lookups += context_number(context, "lookups");
      queried += context_number(context, "queried_tokens");
      hits += context_number(context, "hit_tokens");
    } else if (row.event.operation() == "kv_cache_manager.allocate_slots") {
      allocations += context_number(context, "calls");
      failed += context_number(context, "failed");
    }
  }
  table.rows.push_back(distribution("kv_usage", "%", std::move(usage)));
  table.rows.push_back(count_row("evictions", "blocks", data.kv_evictions.size()));
  table.rows.push_back(distribution("eviction_lifetime", "s", std::move(lifetime)));
  table.rows.push_back(distribution("eviction_idle", "s", std::move(idle)));
  std::vector<Cell> hit_rate = count_row("prefix_cache_hit_rate", "% of tokens", lookups);
  if (queried > 0)
    hit_rate[3] = Cell::number(pct(static_cast<double>(hits), static_cast<double>(queried)), kDecimals);
  table.rows.push_back(std::move(hit_rate));
  std::vector<Cell> failures = count_row("failed_allocations", "% of calls", allocations);
  if (allocations > 0) {
    failures[3] = Cell::number(pct(static_cast<double>(failed), static_cast<double>(allocations)), kDecimals);
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

Table preemptions_report(const SessionData& data) {
  struct Group {
    uint64_t count = 0;
    std::set<std::string> requests;
    uint64_t tokens_freed = 0;
    uint64_t blocks_freed = 0;
    std::vector<double> usage_before;
    uint64_t resumed = 0;
    uint64_t tokens_found = 0;
    uint64_t tokens_recomputed = 0;
  };
  std::map<std::string, Group> groups;  // by reason
  for (const Row<Preemption>& row : data.preemptions) {
    const Preemption& event = row.event;
    Group& group = groups[event.reason()];
    if (event.has_tokens_found_in_cache()) {  // a resumption
      const uint64_t found = exporter::tokens_found_in_cache(event);
      ++group.resumed;
      group.tokens_found += found;
      group.tokens_recomputed += event.computed_tokens_lost() - found;
      continue;
    }
    ++group.count;
    group.requests.insert(event.request_id());
    group.tokens_freed += event.computed_tokens_lost();
    group.blocks_freed += event.blocks_freed();
    if (event.has_kv_usage_before_pct()) group.usage_before.push_back(event.kv_usage_before_pct());
  }
  Table table{"preemptions",
              "Preemptions by cause",
              {"reason", "count", "requests", "tokens_freed", "blocks_freed", "kv_usage_before_p50_pct",
               "resumed", "tokens_found_in_cache", "tokens_recomputed"},
              1,
              {},
              {"tokens_freed: computed tokens whose KV blocks were released; of those, at the resumptions "
               "seen, tokens_found_in_cache were still in the prefix cache and tokens_recomputed had to be "
               "computed again."}};
  for (auto& [reason, group] : groups) {
    std::vector<Cell> row{Cell::text(reason), Cell::integer(static_cast<int64_t>(group.count)),
                          Cell::integer(static_cast<int64_t>(group.requests.size())),
                          Cell::integer(static_cast<int64_t>(group.tokens_freed)),
                          Cell::integer(static_cast<int64_t>(group.blocks_freed))};
    row.push_back(group.usage_before.empty()
                      ? Cell::none()
                      : Cell::number(exporter::nearest_rank(group.usage_before, 0.5), kDecimals));
    row.push_back(Cell::integer(static_cast<int64_t>(group.resumed)));
    row.push_back(Cell::integer(static_cast<int64_t>(group.tokens_found)));
    row.push_back(Cell::integer(static_cast<int64_t>(group.tokens_recomputed)));
    table.rows.push_back(std::move(row));
  }
  return table;
}

Table moe_report(const SessionData& data) {
  Table table{
      "moe",
      "MoE expert load per layer",
      {"pid", "layer", "experts", "selections", "max_over_mean", "min_over_mean", "cv", "hottest_expert"},
      2,
      {},
      {"max_over_mean: 1.00 is a perfect balance; the layer's speed follows its busiest expert.",
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
    std::vector<Cell> row{Cell::integer(data.processes[key.first].header.pid()), Cell::integer(key.second),
                          Cell::integer(static_cast<int64_t>(counts.size())),
                          Cell::integer(static_cast<int64_t>(total))};
    if (mean > 0) {
      row.push_back(Cell::number(static_cast<double>(*hottest) / mean, kDecimals));
      row.push_back(Cell::number(static_cast<double>(*coldest) / mean, kDecimals));
      row.push_back(Cell::number(std::sqrt(variance) / mean, kDecimals));
      row.push_back(Cell::integer(hottest - counts.begin()));
    } else {
      row.resize(8);
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

Table health_report(const SessionData& data) {
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

std::vector<Table> session_reports(const SessionData& data) {
  return {graphs_report(data),      steps_report(data), kv_report(data),
          preemptions_report(data), moe_report(data),   health_report(data)};
}

}  // namespace profilemate::stats
