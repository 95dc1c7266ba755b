#include "csv_files.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "csv_writer.h"
#include "event_labels.h"
#include "helper_thread.h"
#include "parquet_table.h"
#include "units.h"

namespace profilemate::exporter {
namespace {

constexpr int kSecondsDecimals = 6;  // timestamps and second durations: microseconds
constexpr int kMillisDecimals = 3;   // millisecond durations: microseconds
constexpr int kPercentDecimals = 2;

using Key = std::pair<uint32_t, uint32_t>;

// A column's type in typed outputs, briefly.
constexpr ColumnType kInt = ColumnType::kInt64;
constexpr ColumnType kReal = ColumnType::kDouble;
constexpr ColumnType kText = ColumnType::kString;
constexpr ColumnType kBool = ColumnType::kBool;

// One column: its header name, its unit (for the reference), its type in typed outputs, and how it
// writes its one cell from a row's view, to a CsvWriter or to ParquetRows (the same cell
// methods). The writers check that a row has as many cells as the header has names, and
// ParquetRows that each cell is of its column's type.
template <typename Write>
struct Column {
  std::string_view name;
  std::string_view unit;
  ColumnType type;
  Write write;
};
template <typename Write>
Column(std::string_view, std::string_view, ColumnType, Write) -> Column<Write>;

// A file's columns, in order. The cells of a row are written by a fold over the columns, so the
// compiler sees every formatter (no call through a pointer per cell).
template <typename... Writes>
class Columns {
 public:
  explicit Columns(Column<Writes>... columns) : columns_(std::move(columns)...) {}

  [[nodiscard]] std::vector<std::string_view> names() const {
    return std::apply([](const auto&... column) { return std::vector<std::string_view>{column.name...}; },
                      columns_);
  }
  [[nodiscard]] std::vector<ColumnInfo> describe() const {
    return std::apply(
        [](const auto&... column) {
          return std::vector<ColumnInfo>{{column.name, column.unit, column.type}...};
        },
        columns_);
  }
  template <typename Out, typename View>
  void write_row(Out& out, const View& view) const {
    std::apply([&](const auto&... column) { (column.write(out, view), ...); }, columns_);
    out.end_row();
  }

 private:
  std::tuple<Column<Writes>...> columns_;
};

// What a column sees of a row: the session's tables, the process, the time; each file's view adds
// its event.
struct View {
  const SessionTables& tables;
  uint32_t process = 0;
  uint64_t unix_ns = 0;
  [[nodiscard]] const Process& owner() const { return tables.processes[process]; }
};

template <typename Event>
struct EventView : View {
  const Event& event;
};

// Zero means "not known" for steps, thread ids and the like.
void optional_count(auto& out, uint64_t value) {
  if (value == 0) {
    out.empty();
  } else {
    out.integer(value);
  }
}
void optional_ms(auto& out, bool present, uint64_t ns) {
  if (present) {
    out.fixed(ms(ns), kMillisDecimals);
  } else {
    out.empty();
  }
}

// Seconds since the session's start, to the microsecond. In integers, which round as the double
// of SessionTables::seconds() does everywhere but at a tie (half a microsecond); there the
// double's own rounding decides, so that the files stay what they were.
void seconds_since_start(auto& out, const SessionTables& tables, uint64_t unix_ns) {
  if (unix_ns >= tables.start_unix_ns) {
    const uint64_t since = unix_ns - tables.start_unix_ns;
    if (since % 1000 != 500) {
      out.decimal(since / 1000 + (since % 1000 > 500 ? 1 : 0), kSecondsDecimals);
      return;
    }
  }
  out.fixed(tables.seconds(unix_ns), kSecondsDecimals);
}

// Nanoseconds as microseconds: exact, three decimals.
auto& microseconds(auto& out, uint64_t ns) {
  return out.decimal(ns, 3);
}

// Columns every file spells the same way.
auto timestamp(std::string_view name = "timestamp_sec") {
  return Column{name, "s", kReal,
                [](auto& out, const View& v) { seconds_since_start(out, v.tables, v.unix_ns); }};
}
// The host of the row's process: with several hosts' session directories, pids repeat.
auto host() {
  return Column{"host", "", kText, [](auto& out, const View& v) { out.text(v.owner().host()); }};
}
auto pid() {
  return Column{"pid", "", kInt, [](auto& out, const View& v) { out.integer(v.owner().header.pid()); }};
}
auto process_role() {
  return Column{"process_role", "", kText,
                [](auto& out, const View& v) { out.text(v.owner().info.process_role()); }};
}
auto time_unix_ns() {
  return Column{"time_unix_ns", "ns", kInt, [](auto& out, const View& v) { out.unix_ns(v.unix_ns); }};
}
auto step() {
  return Column{"step", "", kInt, [](auto& out, const auto& v) { optional_count(out, v.event.step()); }};
}
// The thread id of the event's thread index.
auto thread_id() {
  return Column{"thread_id", "", kInt,
                [](auto& out, const auto& v) { optional_count(out, v.owner().tid(v.event.thread())); }};
}
auto gpu_ms(std::string_view name) {
  return Column{name, "ms", kReal, [](auto& out, const auto& v) {
                  optional_ms(out, v.event.has_gpu_duration_ns(), v.event.gpu_duration_ns());
                }};
}

// The batch descriptor's columns; `context(v)` is the descriptor or null (empty cells).
template <typename Context>
auto descriptor_columns(Context context) {
  return std::tuple{
      Column{"runtime_mode", "", kText,
             [context](auto& out, const auto& v) {
               const CaptureContext* c = context(v);
               c ? out.text(c->runtime_mode()) : out.empty();
             }},
      Column{"num_tokens", "tokens", kInt,
             [context](auto& out, const auto& v) {
               const CaptureContext* c = context(v);
               c ? out.integer(c->num_tokens()) : out.empty();
             }},
      Column{"num_reqs", "requests", kInt,
             [context](auto& out, const auto& v) {
               const CaptureContext* c = context(v);
               if (c == nullptr) {
                 out.empty();
               } else if (c->has_num_reqs()) {
                 out.integer(c->num_reqs());
               } else {
                 out.placeholder("None");
               }
             }},
      Column{"uniform", "bool", kBool,
             [context](auto& out, const auto& v) {
               const CaptureContext* c = context(v);
               c ? out.boolean(c->uniform()) : out.empty();
             }},
      Column{"has_lora", "bool", kBool,
             [context](auto& out, const auto& v) {
               const CaptureContext* c = context(v);
               c ? out.boolean(c->has_lora()) : out.empty();
             }},
  };
}

std::string_view capture_mode_name(uint32_t mode) {
  switch (mode) {
    case 0: return "global";
    case 1: return "thread_local";
    case 2: return "relaxed";
    default: return "";
  }
}

std::string_view capture_status_name(GraphCapture::Status status) {
  switch (status) {
    case GraphCapture::OK: return "ok";
    case GraphCapture::FAILED: return "failed";
    default: return "";
  }
}

// Formats the rows `sink` drains into `out`, on two threads: blocks of rows go alternately to a
// helper thread and to this one, and are appended in order. `format(batch, rows)` writes the rows
// of a block into a batch writer; it is called on both threads at once. The sink hands rows back
// in pieces of a run's read size; they are gathered into large blocks, so that the threads meet
// a few hundred times for ten million rows, not thousands (each meeting wakes a thread).
template <typename Row, typename Format>
void format_on_two_threads(CsvWriter& out, size_t columns, RowSink<Row>& sink, const Format& format) {
  constexpr size_t kBlockRows = 32768;
  std::vector<Row> block;        // being gathered
  std::vector<Row> helper_rows;  // the helper's block, formatted into helper_batch
  block.reserve(kBlockRows);
  CsvWriter helper_batch(out.path(), columns);
  CsvWriter own_batch(out.path(), columns);
  HelperThread helper;
  bool helper_has_block = false;
  const auto dispatch = [&] {
    if (!helper_has_block) {
      helper.wait();
      std::swap(helper_rows, block);
      // The helper's block comes first: the helper appends it too (a copy off this thread), and
      // this thread touches `out` again only after waiting for it.
      helper.start([&] {
        format(helper_batch, std::span<const Row>(helper_rows));
        out.append(helper_batch);
        helper_batch.clear();
      });
    } else {
      format(own_batch, std::span<const Row>(block));
      helper.wait();
      out.append(own_batch);
      own_batch.clear();
    }
    block.clear();
    helper_has_block = !helper_has_block;
  };
  sink.drain([&](std::span<const Row> rows) {
    while (!rows.empty()) {
      const size_t taken = std::min(kBlockRows - block.size(), rows.size());
      block.insert(block.end(), rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(taken));
      rows = rows.subspan(taken);
      if (block.size() == kBlockRows) dispatch();
    }
  });
  if (!block.empty()) dispatch();
  helper.wait();
}

// The CSV files: one per table, in `dir`.
struct CsvOutput {
  static constexpr bool kTwoThreads = true;  // files of their own: several can be written at once
  const std::string& dir;

  // Writes the rows `feed` passes to its callback (each turned into a view) to the file `name`.
  template <typename Cols, typename Feed>
  OutputFile write(std::string_view name, const Cols& columns, Feed&& feed) const {
    CsvWriter out(dir + "/" + std::string(name), columns.names());
    feed([&](const auto& view) { columns.write_row(out, view); });
    out.close();
    return {std::string(name), out.rows()};
  }
  // Writes the rows `sink` drains, formatted on two threads: `format(rows, out_of)` writes a block
  // of them, each to out_of(its process).
  template <typename Cols, typename Row, typename Format>
  OutputFile write_blocks(std::string_view name, const Cols& columns, RowSink<Row>& sink,
                          const Format& format) const {
    CsvWriter out(dir + "/" + std::string(name), columns.names());
    format_on_two_threads(out, columns.names().size(), sink,
                          [&](CsvWriter& batch, std::span<const Row> rows) {
                            format(rows, [&batch](uint32_t /*process*/) -> CsvWriter& { return batch; });
                          });
    out.close();
    return {std::string(name), out.rows()};
  }
};

// The Parquet datasets: one per table, `dir`/<the CSV file's name without .csv>.
struct ParquetOutput {
  static constexpr bool kTwoThreads = false;  // Arrow's encoding has threads of its own
  const std::string& dir;
  const SessionTables& tables;

  template <typename Cols, typename Feed>
  OutputFile write(std::string_view name, const Cols& columns, Feed&& feed) const {
    ParquetTable table(dir, table_name(name), columns.describe(), tables);
    feed([&](const auto& view) { columns.write_row(table.rows(view.process), view); });
    return table.close();
  }
  // On one thread: the rows are gathered column by column, and Arrow encodes a row group at once.
  template <typename Cols, typename Row, typename Format>
  OutputFile write_blocks(std::string_view name, const Cols& columns, RowSink<Row>& sink,
                          const Format& format) const {
    ParquetTable table(dir, table_name(name), columns.describe(), tables);
    sink.drain([&](std::span<const Row> rows) {
      format(rows, [&table](uint32_t process) -> ParquetRows& { return table.rows(process); });
    });
    return table.close();
  }
  static std::string table_name(std::string_view file) {
    return std::string(file.substr(0, file.rfind(".csv")));
  }
};

// ----- cuda_graph_captures.csv

struct CaptureView : EventView<GraphCapture> {
  const GraphInstantiate* instantiation = nullptr;
};

auto capture_columns() {
  const auto label = [](const CaptureView& v) {
    return v.event.has_context() ? &v.event.context() : nullptr;
  };
  return std::apply(
      [](auto... descriptor) {
        return Columns(
            descriptor..., timestamp("capture_time_sec"), host(), pid(), process_role(), time_unix_ns(),
            thread_id(),
            Column{"stream_id", "", kInt,
                   [](auto& out, const CaptureView& v) { out.integer(v.event.stream_id()); }},
            Column{"graph_id", "", kInt,
                   [](auto& out, const CaptureView& v) { out.integer(v.event.graph_id()); }},
            Column{"exec_id", "", kInt,
                   [](auto& out, const CaptureView& v) {
                     v.instantiation ? out.integer(v.instantiation->exec_id()) : out.empty();
                   }},
            Column{"node_count", "nodes", kInt,
                   [](auto& out, const CaptureView& v) { out.integer(v.event.node_count()); }},
            Column{
                "capture_mode", "", kText,
                [](auto& out, const CaptureView& v) { out.text(capture_mode_name(v.event.capture_mode())); }},
            Column{"status", "", kText,
                   [](auto& out, const CaptureView& v) { out.text(capture_status_name(v.event.status())); }},
            Column{"capture_duration_ms", "ms", kReal,
                   [](auto& out, const CaptureView& v) {
                     out.fixed(ms(v.event.duration_ns()), kMillisDecimals);
                   }},
            Column{"instantiate_ms", "ms", kReal,
                   [](auto& out, const CaptureView& v) {
                     optional_ms(out, v.instantiation != nullptr,
                                 v.instantiation ? v.instantiation->duration_ns() : 0);
                   }},
            Column{"wrapper", "", kText, [](auto& out, const CaptureView& v) {
                     out.text(v.event.has_context() ? v.event.context().wrapper() : "");
                   }});
      },
      descriptor_columns(label));
}

OutputFile graph_captures(const SessionTables& t, const auto& output) {
  return output.write("cuda_graph_captures.csv", capture_columns(), [&](const auto& write) {
    for (const Row<GraphCapture>& row : t.captures) {
      const auto inst = t.instantiations.find({row.process, row.event.graph_id()});
      write(CaptureView{{{t, row.process, row.unix_ns}, row.event},
                        inst == t.instantiations.end() ? nullptr : &inst->second.event});
    }
  });
}

// ----- cuda_graph_replays.csv

struct ReplayView : View {
  const ReplayRow& replay;
  const ExecOrigin& origin;
  uint32_t tid = 0;  // of replay.thread
  [[nodiscard]] const CaptureContext* label() const {
    return origin.capture != nullptr && origin.capture->has_context() ? &origin.capture->context() : nullptr;
  }
};

auto replay_columns() {
  const auto label = [](const ReplayView& v) { return v.label(); };
  auto [runtime_mode, num_tokens, num_reqs, uniform, has_lora] = descriptor_columns(label);
  return Columns(
      timestamp(), host(), pid(), process_role(), time_unix_ns(),
      Column{"thread_id", "", kInt, [](auto& out, const ReplayView& v) { optional_count(out, v.tid); }},
      Column{"stream_id", "", kInt, [](auto& out, const ReplayView& v) { out.integer(v.replay.stream_id); }},
      Column{"exec_id", "", kInt, [](auto& out, const ReplayView& v) { out.integer(v.replay.exec_id); }},
      Column{"graph_id", "", kInt,
             [](auto& out, const ReplayView& v) { optional_count(out, v.origin.graph_id); }},
      runtime_mode, num_tokens, num_reqs,
      Column{"cpu_launch_us", "us", kReal,
             [](auto& out, const ReplayView& v) { microseconds(out, v.replay.cpu_ns); }},
      Column{"gpu_start_unix_ns", "ns", kInt,
             [](auto& out, const ReplayView& v) {
               v.replay.has_gpu ? out.unix_ns(static_cast<uint64_t>(static_cast<int64_t>(v.replay.unix_ns) +
                                                                    v.replay.gpu_offset_ns))
                                : out.empty();
             }},
      Column{"gpu_duration_us", "us", kReal,
             [](auto& out, const ReplayView& v) {
               v.replay.has_gpu ? microseconds(out, v.replay.gpu_ns) : out.empty();
             }},
      Column{"launch_to_gpu_start_us", "us", kReal, [](auto& out, const ReplayView& v) {
               v.replay.has_gpu ? out.signed_decimal(v.replay.gpu_offset_ns, 3) : out.empty();
             }});
}

OutputFile graph_replays(SessionStream& session, const auto& output) {
  const SessionTables& t = session.tables;
  const std::map<Key, ExecOrigin> origins = exec_origins(t);
  ExecTable<const ExecOrigin*> origin_of;  // looked up for every row
  for (const auto& [exec, origin] : origins) origin_of(exec.first, exec.second) = &origin;
  const auto columns = replay_columns();
  const ExecOrigin unknown;
  return output.write_blocks(
      "cuda_graph_replays.csv", columns, session.replays,
      [&](std::span<const ReplayRow> rows, const auto& out_of) {
        uint64_t thread_key = UINT64_MAX;  // (process, thread) of `tid`
        uint32_t tid = 0;
        for (const ReplayRow& replay : rows) {
          const ExecOrigin* const* origin = origin_of.find(replay.process, replay.exec_id);
          if (const uint64_t key = uint64_t{replay.process} << 32 | replay.thread; key != thread_key) {
            thread_key = key;
            tid = t.processes[replay.process].tid(replay.thread);
          }
          columns.write_row(out_of(replay.process),
                            ReplayView{{t, replay.process, replay.unix_ns},
                                       replay,
                                       origin != nullptr && *origin != nullptr ? **origin : unknown,
                                       tid});
        }
      });
}

// ----- cuda_graph_usage.csv

// One line per executable graph CUPTI saw (instantiated, replayed, or both), or per batch
// descriptor the Python hooks counted in a process where CUPTI recorded no replay.
struct UsageLine {
  Key exec;
  const ExecOrigin* origin = nullptr;
  const ExecGraphUsage* usage = nullptr;
  const DescriptorUsage* counted = nullptr;
  uint64_t gpu_p50_ns = 0;
  uint64_t gpu_p99_ns = 0;
  [[nodiscard]] uint64_t replays() const {
    return usage != nullptr ? usage->replays : counted != nullptr ? counted->replays : 0;
  }
};

struct UsageView : View {
  const UsageLine& line;
  [[nodiscard]] bool python() const { return line.counted != nullptr; }
  [[nodiscard]] bool has_gpu() const { return line.usage != nullptr && line.usage->gpu_replays > 0; }
  [[nodiscard]] bool cupti_replayed() const { return !python() && line.replays() > 0; }
  [[nodiscard]] const CaptureContext* label() const {
    if (python()) return &line.counted->descriptor;
    const GraphCapture* capture = line.origin != nullptr ? line.origin->capture : nullptr;
    return capture != nullptr && capture->has_context() ? &capture->context() : nullptr;
  }
};

// A GPU-time statistic: empty without GPU time.
template <typename Value>
auto gpu_stat(std::string_view name, std::string_view unit, Value value) {
  return Column{name, unit, kReal, [value](auto& out, const UsageView& v) {
                  v.has_gpu() ? out.fixed(value(*v.line.usage, v.line), kMillisDecimals) : out.empty();
                }};
}
// A first/last replay time: empty without CUPTI replays.
template <typename Value>
auto replay_time(std::string_view name, Value value) {
  return Column{name, "s", kReal, [value](auto& out, const UsageView& v) {
                  v.cupti_replayed() ? out.fixed(v.tables.seconds(value(*v.line.usage)), kSecondsDecimals)
                                     : out.empty();
                }};
}

auto usage_columns() {
  const auto label = [](const UsageView& v) { return v.label(); };
  return std::apply(
      [](auto... descriptor) {
        return Columns(
            descriptor...,
            Column{"replay_count", "replays", kInt,
                   [](auto& out, const UsageView& v) { out.integer(v.line.replays()); }},
            host(), pid(), process_role(),
            Column{"exec_id", "", kInt,
                   [](auto& out, const UsageView& v) {
                     v.python() ? out.empty() : out.integer(v.line.exec.second);
                   }},
            Column{"graph_id", "", kInt,
                   [](auto& out, const UsageView& v) {
                     optional_count(out, v.line.origin != nullptr ? v.line.origin->graph_id : 0);
                   }},
            Column{"gpu_replays", "replays", kInt,
                   [](auto& out, const UsageView& v) {
                     out.integer(v.line.usage != nullptr ? v.line.usage->gpu_replays : 0);
                   }},
            gpu_stat("gpu_time_total_ms", "ms",
                     [](const ExecGraphUsage& u, const UsageLine&) { return ms(u.gpu_ns_total); }),
            gpu_stat("gpu_time_mean_us", "us",
                     [](const ExecGraphUsage& u, const UsageLine&) {
                       return us(u.gpu_ns_total) / static_cast<double>(u.gpu_replays);
                     }),
            gpu_stat("gpu_time_p50_us", "us",
                     [](const ExecGraphUsage&, const UsageLine& l) { return us(l.gpu_p50_ns); }),
            gpu_stat("gpu_time_p99_us", "us",
                     [](const ExecGraphUsage&, const UsageLine& l) { return us(l.gpu_p99_ns); }),
            gpu_stat("gpu_time_max_us", "us",
                     [](const ExecGraphUsage& u, const UsageLine&) { return us(u.gpu_ns_max); }),
            Column{"cpu_launch_mean_us", "us", kReal,
                   [](auto& out, const UsageView& v) {
                     v.cupti_replayed()
                         ? out.fixed(us(v.line.usage->cpu_ns_total) / static_cast<double>(v.line.replays()),
                                     kMillisDecimals)
                         : out.empty();
                   }},
            replay_time("first_replay_sec", [](const ExecGraphUsage& u) { return u.first_unix_ns; }),
            replay_time("last_replay_sec", [](const ExecGraphUsage& u) { return u.last_unix_ns; }),
            Column{"replay_source", "", kText,
                   [](auto& out, const UsageView& v) { out.text(v.python() ? "python" : "cupti"); }});
      },
      descriptor_columns(label));
}

OutputFile graph_usage(SessionStream& session, const auto& output) {
  const SessionTables& t = session.tables;
  const std::map<Key, ExecOrigin> origins = exec_origins(t);
  std::map<Key, UsageLine> graphs;
  std::set<uint32_t> cupti_processes;
  for (const auto& [exec, origin] : origins) graphs[exec] = {exec, &origin};
  for (const auto& [exec, usage] : t.exec_usage) {
    UsageLine& line = graphs[exec];
    line.exec = exec;
    line.usage = &usage;
    cupti_processes.insert(exec.first);
  }
  for (const auto& [exec, gpu] : session.gpu_times.percentiles()) {
    graphs[exec].gpu_p50_ns = gpu.p50_ns;
    graphs[exec].gpu_p99_ns = gpu.p99_ns;
  }
  std::vector<UsageLine> ordered;
  ordered.reserve(graphs.size() + t.descriptor_replays.size());
  for (const auto& [key, line] : graphs) ordered.push_back(line);
  for (const auto& [key, counted] : t.descriptor_replays) {
    if (!cupti_processes.contains(key.first)) ordered.push_back({{key.first, 0}, nullptr, nullptr, &counted});
  }
  // Most replayed first, as the predecessor sorted it.
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const UsageLine& a, const UsageLine& b) { return a.replays() > b.replays(); });
  return output.write("cuda_graph_usage.csv", usage_columns(), [&](const auto& write) {
    for (const UsageLine& line : ordered) write(UsageView{{t, line.exec.first, 0}, line});
  });
}

// ----- time series of the Python hooks' events

// Writes the time-ordered rows of `sink` under `columns`.
template <typename Event, typename Cols>
OutputFile event_file(SessionStream& session, SortedSink<TimeKey>& sink, const auto& output,
                      std::string_view name, const Cols& columns) {
  return output.write(name, columns, [&](const auto& write) {
    SessionStream::drain_events<Event>(sink, [&](const Row<Event>& row) {
      write(EventView<Event>{{session.tables, row.process, row.unix_ns}, row.event});
    });
  });
}

using KvView = EventView<KvUsage>;
auto kv_usage_columns() {
  return Columns(timestamp(),
                 Column{"usage_pct", "%", kReal,
                        [](auto& out, const KvView& v) {
                          out.fixed(percent(v.event.used_blocks(), v.event.total_blocks()), kPercentDecimals);
                        }},
                 Column{"num_blocks", "blocks", kInt,
                        [](auto& out, const KvView& v) { out.integer(v.event.used_blocks()); }},
                 Column{"total_blocks", "blocks", kInt,
                        [](auto& out, const KvView& v) { out.integer(v.event.total_blocks()); }},
                 host(), pid(), process_role(), time_unix_ns(), step());
}

using EvictionView = EventView<KvEviction>;
auto kv_eviction_columns() {
  return Columns(
      timestamp(),
      Column{
          "lifetime_sec", "s", kReal,
          [](auto& out, const EvictionView& v) { out.fixed(sec(v.event.lifetime_ns()), kSecondsDecimals); }},
      Column{"idle_sec", "s", kReal,
             [](auto& out, const EvictionView& v) { out.fixed(sec(v.event.idle_ns()), kSecondsDecimals); }},
      host(), pid(), process_role(), time_unix_ns(), step(),
      Column{"block_id", "", kInt,
             [](auto& out, const EvictionView& v) { out.integer(v.event.block_id()); }});
}

using MoeView = EventView<MoeLayerTiming>;
auto moe_timing_columns() {
  return Columns(
      timestamp(),
      Column{"layer_idx", "", kInt, [](auto& out, const MoeView& v) { out.integer(v.event.layer()); }},
      Column{"num_tokens", "tokens", kInt,
             [](auto& out, const MoeView& v) { out.integer(v.event.num_tokens()); }},
      Column{"duration_ms", "ms", kReal,
             [](auto& out, const MoeView& v) { out.fixed(ms(v.event.duration_ns()), kMillisDecimals); }},
      host(), pid(), process_role(), time_unix_ns(), step(), thread_id(), gpu_ms("gpu_duration_ms"));
}

using PassView = EventView<ForwardPass>;
auto forward_pass_columns() {
  return Columns(
      timestamp(),
      Column{"phase", "", kText, [](auto& out, const PassView& v) { out.text(phase_name(v.event.phase())); }},
      Column{"batch_size", "requests", kInt,
             [](auto& out, const PassView& v) { out.integer(v.event.batch_size()); }},
      Column{"num_tokens", "tokens", kInt,
             [](auto& out, const PassView& v) { out.integer(v.event.num_tokens()); }},
      Column{"forward_time_ms", "ms", kReal,
             [](auto& out, const PassView& v) { out.fixed(ms(v.event.duration_ns()), kMillisDecimals); }},
      Column{"throughput_tokens_per_sec", "tokens/s", kReal,
             [](auto& out, const PassView& v) {
               const double seconds = sec(v.event.duration_ns());
               out.fixed(seconds > 0 ? v.event.num_tokens() / seconds : 0.0, 1);
             }},
      host(), pid(), process_role(), time_unix_ns(), step(), thread_id(), gpu_ms("gpu_time_ms"));
}

// cpu_operations_timing.csv and encoder_decoder_timing.csv share one shape: a named duration.
template <typename Event, typename Name>
auto named_duration_columns(std::string_view name_column, Name name) {
  using V = EventView<Event>;
  return std::tuple{
      timestamp(),
      Column{name_column, "", kText, [name](auto& out, const V& v) { out.text(name(v.event)); }},
      Column{"duration_ms", "ms", kReal,
             [](auto& out, const V& v) { out.fixed(ms(v.event.duration_ns()), kMillisDecimals); }},
      Column{"context", "", kText, [](auto& out, const V& v) { out.text(v.event.context()); }},
      host(),
      pid(),
      process_role(),
      time_unix_ns(),
      step(),
      thread_id()};
}
auto cpu_operation_columns() {
  return std::apply(
      [](auto... columns) { return Columns(columns...); },
      named_duration_columns<CpuOperation>(
          "operation", [](const CpuOperation& op) -> const std::string& { return op.operation(); }));
}
auto encoder_columns() {
  // The encoder's events are timed on the GPU too.
  return std::apply(
      [](auto... columns) { return Columns(columns..., gpu_ms("gpu_time_ms")); },
      named_duration_columns<EncoderTiming>(
          "component", [](const EncoderTiming& e) -> const std::string& { return e.component(); }));
}

using StepView = EventView<SchedulerStep>;
template <typename Value>
auto step_count(std::string_view name, std::string_view unit, Value value) {
  return Column{name, unit, kInt, [value](auto& out, const StepView& v) { out.integer(value(v.event)); }};
}
auto batch_columns() {
  return Columns(
      timestamp(), step_count("num_seqs", "requests", [](const SchedulerStep& s) { return s.num_seqs(); }),
      step_count("max_num_seqs", "requests", [](const SchedulerStep& s) { return s.max_num_seqs(); }),
      Column{"seq_utilization_pct", "%", kReal,
             [](auto& out, const StepView& v) {
               out.fixed(percent(v.event.num_seqs(), v.event.max_num_seqs()), kPercentDecimals);
             }},
      step_count("num_tokens", "tokens", [](const SchedulerStep& s) { return s.num_tokens(); }),
      step_count("max_tokens", "tokens", [](const SchedulerStep& s) { return s.max_tokens(); }),
      Column{"token_utilization_pct", "%", kReal,
             [](auto& out, const StepView& v) {
               out.fixed(percent(v.event.num_tokens(), v.event.max_tokens()), kPercentDecimals);
             }},
      Column{"phase", "", kText,
             [](auto& out, const StepView& v) { out.text(phase_name(step_phase(v.event))); }},
      step_count("running_queue_len", "requests",
                 [](const SchedulerStep& s) { return s.running_queue_len(); }),
      step_count("waiting_queue_len", "requests",
                 [](const SchedulerStep& s) { return s.waiting_queue_len(); }),
      host(), pid(), process_role(), time_unix_ns(), step(),
      step_count("num_prefill_seqs", "requests", [](const SchedulerStep& s) { return s.num_prefill_seqs(); }),
      step_count("num_decode_seqs", "requests", [](const SchedulerStep& s) { return s.num_decode_seqs(); }),
      step_count("num_prefill_tokens", "tokens",
                 [](const SchedulerStep& s) { return s.num_prefill_tokens(); }),
      step_count("num_decode_tokens", "tokens", [](const SchedulerStep& s) { return s.num_decode_tokens(); }),
      Column{"kv_usage_pct", "%", kReal,
             [](auto& out, const StepView& v) {
               v.event.has_kv_usage_pct() ? out.fixed(v.event.kv_usage_pct(), kPercentDecimals) : out.empty();
             }},
      Column{"schedule_time_ms", "ms", kReal, [](auto& out, const StepView& v) {
               out.fixed(ms(v.event.schedule_duration_ns()), kMillisDecimals);
             }});
}

using PreemptionView = EventView<Preemption>;
auto preemption_columns() {
  return Columns(
      timestamp(),
      Column{"request_id", "", kText,
             [](auto& out, const PreemptionView& v) { out.text(v.event.request_id()); }},
      Column{"event", "", kText, [](auto& out, const PreemptionView& v) { out.text(v.event.event()); }},
      Column{"reason", "", kText, [](auto& out, const PreemptionView& v) { out.text(v.event.reason()); }},
      Column{
          "running_time_sec", "s", kReal,
          [](auto& out, const PreemptionView& v) { out.fixed(sec(v.event.running_ns()), kSecondsDecimals); }},
      Column{"extra_info", "", kText,
             [](auto& out, const PreemptionView& v) { out.text(v.event.extra_info()); }},
      host(), pid(), process_role(), time_unix_ns(), step(),
      Column{"computed_tokens_lost", "tokens", kInt,
             [](auto& out, const PreemptionView& v) { out.integer(v.event.computed_tokens_lost()); }},
      Column{"blocks_freed", "blocks", kInt,
             [](auto& out, const PreemptionView& v) { out.integer(v.event.blocks_freed()); }},
      Column{"kv_usage_before_pct", "%", kReal,
             [](auto& out, const PreemptionView& v) {
               v.event.has_kv_usage_before_pct() ? out.fixed(v.event.kv_usage_before_pct(), kPercentDecimals)
                                                 : out.empty();
             }},
      Column{"tokens_found_in_cache", "tokens", kInt,
             [](auto& out, const PreemptionView& v) {
               v.event.has_tokens_found_in_cache() ? out.integer(tokens_found_in_cache(v.event))
                                                   : out.empty();
             }},
      Column{"tokens_recomputed", "tokens", kInt, [](auto& out, const PreemptionView& v) {
               v.event.has_tokens_found_in_cache()
                   ? out.integer(v.event.computed_tokens_lost() - tokens_found_in_cache(v.event))
                   : out.empty();
             }});
}

// ----- moe_expert_selection.csv

struct SelectionView : View {
  uint32_t layer = 0;
  size_t expert = 0;
  uint64_t count = 0;
  uint64_t total = 0;
};

auto moe_selection_columns() {
  return Columns(
      Column{"layer_idx", "", kInt, [](auto& out, const SelectionView& v) { out.integer(v.layer); }},
      Column{"expert_id", "", kInt, [](auto& out, const SelectionView& v) { out.integer(v.expert); }},
      Column{"activation_count", "selections", kInt,
             [](auto& out, const SelectionView& v) { out.integer(v.count); }},
      Column{"percentage", "%", kReal,
             [](auto& out, const SelectionView& v) {
               out.fixed(percent(static_cast<double>(v.count), static_cast<double>(v.total)),
                         kPercentDecimals);
             }},
      host(), pid(), process_role());
}

OutputFile moe_selection(const SessionTables& t, const auto& output) {
  return output.write("moe_expert_selection.csv", moe_selection_columns(), [&](const auto& write) {
    for (const auto& [key, counts] : t.expert_counts) {
      uint64_t total = 0;
      for (const uint64_t count : counts) total += count;
      for (size_t expert = 0; expert < counts.size(); ++expert)
        write(SelectionView{{t, key.first, 0}, key.second, expert, counts[expert], total});
    }
  });
}

}  // namespace

std::vector<CsvFileInfo> csv_file_columns() {
  return {
      {"cuda_graph_captures.csv", capture_columns().describe()},
      {"cuda_graph_usage.csv", usage_columns().describe()},
      {"cuda_graph_replays.csv", replay_columns().describe()},
      {"kv_cache_usage.csv", kv_usage_columns().describe()},
      {"kv_cache_evictions.csv", kv_eviction_columns().describe()},
      {"moe_expert_selection.csv", moe_selection_columns().describe()},
      {"moe_expert_timing.csv", moe_timing_columns().describe()},
      {"forward_pass_timing.csv", forward_pass_columns().describe()},
      {"cpu_operations_timing.csv", cpu_operation_columns().describe()},
      {"batch_utilization.csv", batch_columns().describe()},
      {"preemption_events.csv", preemption_columns().describe()},
      {"encoder_decoder_timing.csv", encoder_columns().describe()},
  };
}

namespace {

// Every table, in the order of write_csv_files, through `output`. The event tables drain sinks
// of their own and write files of their own: for CSV, the helper thread writes some of them
// while this one writes the others (the three large ones split between the two).
std::vector<OutputFile> write_tables(SessionStream& session, const auto& output) {
  const SessionTables& t = session.tables;
  std::vector<OutputFile> files(12);
  files[0] = graph_captures(t, output);
  files[1] = graph_usage(session, output);
  files[2] = graph_replays(session, output);
  const auto these = [&] {
    files[3] =
        event_file<KvUsage>(session, session.kv_usage, output, "kv_cache_usage.csv", kv_usage_columns());
    files[7] = event_file<ForwardPass>(session, session.forward_passes, output, "forward_pass_timing.csv",
                                       forward_pass_columns());
    files[8] = event_file<CpuOperation>(session, session.cpu_operations, output, "cpu_operations_timing.csv",
                                        cpu_operation_columns());
  };
  const auto others = [&] {
    files[4] = event_file<KvEviction>(session, session.kv_evictions, output, "kv_cache_evictions.csv",
                                      kv_eviction_columns());
    files[5] = moe_selection(t, output);
    files[6] = event_file<MoeLayerTiming>(session, session.moe_timing, output, "moe_expert_timing.csv",
                                          moe_timing_columns());
    files[9] =
        event_file<SchedulerStep>(session, session.steps, output, "batch_utilization.csv", batch_columns());
    files[10] = event_file<Preemption>(session, session.preemptions, output, "preemption_events.csv",
                                       preemption_columns());
    files[11] = event_file<EncoderTiming>(session, session.encoder_timing, output,
                                          "encoder_decoder_timing.csv", encoder_columns());
  };
  if constexpr (std::remove_cvref_t<decltype(output)>::kTwoThreads) {
    HelperThread helper;
    helper.start(others);
    these();
    helper.wait();
  } else {
    these();
    others();
  }
  return files;
}

}  // namespace

std::vector<OutputFile> write_csv_files(SessionStream& session, const std::string& out_dir) {
  return write_tables(session, CsvOutput{out_dir});
}

std::vector<OutputFile> write_parquet_files(SessionStream& session, const std::string& out_dir) {
  if (!parquet_supported()) throw std::runtime_error(parquet_unsupported_reason());
  return write_tables(session, ParquetOutput{out_dir, session.tables});
}

}  // namespace profilemate::exporter
