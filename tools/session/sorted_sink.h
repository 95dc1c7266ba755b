// Sorting more rows than memory holds: a sink buffers (key, payload) entries up to a shared memory
// bound, spills sorted runs to unlinked temporary files when the bound is reached, and hands the
// entries back in key order by merging its runs. Entries with equal keys come back in the order
// they were pushed (runs are merged oldest first), so the result is what a stable sort of all of
// them would give. Nothing is spilled when everything fits: then it is one in-memory sort.
// SortedSink carries a payload of any size per key; RowSink sorts fixed-size rows, which it
// stores, spills and reads back in blocks (millions of graph launches go through it).
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <queue>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace profilemate::exporter {

// A temporary file that is gone from the directory as soon as it is made: nothing is left behind
// even when the process is killed.
class RunFile {
 public:
  // Throws std::runtime_error naming `dir` when the file cannot be made.
  // `buffered`: through a buffer of stdio's, for reads and writes of single entries; a file read
  // and written in large blocks goes without (its buffer would be memory held for nothing, per run).
  explicit RunFile(const std::string& dir, bool buffered = true);
  void write(const void* data, size_t size);
  // Switches from writing to reading, from the start.
  void rewind();
  // False at the end of the file; throws on a short or failed read.
  bool read(void* data, size_t size);

 private:
  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::string dir_;
  std::unique_ptr<std::FILE, Closer> file_;
};

class SpillingSink {
 public:
  SpillingSink() = default;
  SpillingSink(const SpillingSink&) = delete;
  SpillingSink& operator=(const SpillingSink&) = delete;
  virtual ~SpillingSink() = default;
  // What the sink holds, used or not.
  [[nodiscard]] virtual size_t memory_bytes() const = 0;
  // Writes what the sink holds to disk and gives its memory back (SortMemory::released).
  virtual void spill() = 0;
  // True for a sink whose contents cost more to spill than to keep (GpuTimes): it spills only
  // when no other sink holds a fair share of the bound.
  [[nodiscard]] virtual bool spills_last() const { return false; }
};

// The memory bound all sinks of one conversion share. A sink asks before it grows; past the
// bound, the largest sink spills (see SpillingSink::spills_last). A sink that is itself the one
// to make room spills its entries but keeps its memory for the next ones: a long run reuses the
// same pages instead of freeing and faulting them in again at every run.
class SortMemory {
 public:
  // `spill_dir`: where runs go (the output directory: the disk the user chose for the results).
  SortMemory(std::string spill_dir, size_t limit_bytes) : dir_(std::move(spill_dir)), limit_(limit_bytes) {}
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] size_t limit() const { return limit_; }
  void add(SpillingSink* sink) { sinks_.push_back(sink); }
  // Room for `sink` to grow by `bytes`, after spilling other sinks if need be: false when `sink`
  // is the one to make room (then it spills its entries and goes on in the memory it holds).
  [[nodiscard]] bool reserve(const SpillingSink& sink, size_t bytes);
  // Memory a sink takes past the bound: one block for a sink that holds nothing, so that it can
  // store an entry at all.
  void take(size_t bytes) { used_ += bytes; }
  // How much `sink` may grow by without spilling anything: at most `wanted`, at least `minimum`.
  [[nodiscard]] size_t room(size_t wanted, size_t minimum) const {
    return std::max(minimum, std::min(wanted, limit_ - std::min(limit_, used_.load())));
  }
  // Thread-safe: sinks drain (and give their memory back) on several threads at once.
  void released(size_t bytes) {
    size_t used = used_.load();
    while (!used_.compare_exchange_weak(used, used - std::min(used, bytes))) {
    }
  }
  [[nodiscard]] uint64_t runs_spilled() const { return runs_spilled_; }
  void count_run(uint64_t runs = 1) { runs_spilled_ += runs; }

 private:
  // The sink to spill next: null when none holds anything.
  [[nodiscard]] SpillingSink* largest() const;

  std::string dir_;
  size_t limit_;
  std::atomic<size_t> used_ = 0;
  uint64_t runs_spilled_ = 0;
  std::vector<SpillingSink*> sinks_;  // not owned: each sink outlives its use of the budget
};

// `Key`: trivially copyable, ordered by operator<.
template <typename Key>
class SortedSink final : public SpillingSink {
  static_assert(std::is_trivially_copyable_v<Key>);

 public:
  explicit SortedSink(SortMemory& memory) : memory_(memory) { memory_.add(this); }

  void push(const Key& key, std::span<const std::byte> payload) {
    if (ordered_ && !refs_.empty() && key < refs_.back().key) ordered_ = false;
    if (refs_.size() == refs_.capacity() || arena_.capacity() - arena_.size() < payload.size()) {
      make_room(payload.size());
    }
    refs_.push_back({key, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(payload.size())});
    arena_.insert(arena_.end(), payload.begin(), payload.end());
    ++size_;
  }
  template <typename Pod>
  void push_pod(const Key& key, const Pod& pod) {
    static_assert(std::is_trivially_copyable_v<Pod>);
    push(key, std::as_bytes(std::span(&pod, 1)));
  }

  [[nodiscard]] uint64_t size() const { return size_; }
  [[nodiscard]] size_t memory_bytes() const override {
    return refs_.capacity() * sizeof(Ref) + arena_.capacity();
  }

  void spill() override {
    write_run();
    release();
  }

  // Calls visit(key, payload) for every entry, in order, and empties the sink. The payload's
  // bytes are valid during the call only.
  template <typename Visit>
  void drain(Visit&& visit) {
    sort_in_memory();
    if (runs_.empty()) {
      for (const Ref& ref : refs_) visit(ref.key, std::span(arena_.data() + ref.offset, ref.size));
    } else {
      merge(visit);
    }
    runs_.clear();
    release();
    size_ = 0;
  }

 private:
  struct Ref {
    Key key;
    uint32_t offset;
    uint32_t size;
  };
  // One run being merged: its current entry.
  struct Cursor {
    Key key{};
    std::vector<std::byte> payload;
    RunFile* file = nullptr;  // null: the in-memory rest
    size_t next_ref = 0;
    size_t order = 0;  // runs are older the lower this is: equal keys come from older runs first
  };

  // Before a push that does not fit: grows both vectors as far as the bound allows, or writes
  // the entries out and reuses the memory. Entries that came in order need no long runs: they
  // leave the memory to the sinks that do.
  void make_room(size_t payload_bytes) {
    constexpr size_t kMinRefs = 1024;
    constexpr size_t kMinArena = 64 << 10;
    const bool long_enough = ordered_ && memory_bytes() >= memory_.limit() / 16;
    const size_t refs = std::max(kMinRefs, refs_.capacity() * 2);
    const size_t arena = std::max({kMinArena, arena_.capacity() * 2, arena_.size() + payload_bytes});
    const size_t wanted = (refs - refs_.capacity()) * sizeof(Ref) + (arena - arena_.capacity());
    if (!long_enough && memory_.reserve(*this, wanted)) {
      refs_.reserve(refs);
      arena_.reserve(arena);
      return;
    }
    write_run();
    if (refs_.capacity() > 0 && arena_.capacity() >= payload_bytes) return;
    // Nothing was held, or the payload is larger than all of it: past the bound by this entry.
    const size_t before = memory_bytes();
    refs_.reserve(std::max(kMinRefs, refs_.capacity()));
    arena_.reserve(std::max({kMinArena, arena_.capacity(), payload_bytes}));
    memory_.take(memory_bytes() - before);
  }

  // Writes the entries to a run of their own, keeping the memory.
  void write_run() {
    if (refs_.empty()) return;
    sort_in_memory();
    RunFile& run = runs_.emplace_back(memory_.dir());
    for (const Ref& ref : refs_) {
      run.write(&ref.key, sizeof ref.key);
      run.write(&ref.size, sizeof ref.size);
      run.write(arena_.data() + ref.offset, ref.size);
    }
    memory_.count_run();
    refs_.clear();
    arena_.clear();
  }

  void sort_in_memory() {
    // Offsets grow in push order, so ordering by (key, offset) is a stable sort by key.
    const auto less = [](const Ref& a, const Ref& b) {
      if (a.key < b.key) return true;
      if (b.key < a.key) return false;
      return a.offset < b.offset;
    };
    if (!ordered_) std::sort(refs_.begin(), refs_.end(), less);
    ordered_ = true;
  }

  void release() {
    memory_.released(memory_bytes());
    std::vector<Ref>().swap(refs_);
    std::vector<std::byte>().swap(arena_);
  }

  bool advance(Cursor& cursor) {
    if (cursor.file == nullptr) {
      if (cursor.next_ref == refs_.size()) return false;
      const Ref& ref = refs_[cursor.next_ref++];
      cursor.key = ref.key;
      cursor.payload.assign(arena_.begin() + ref.offset, arena_.begin() + ref.offset + ref.size);
      return true;
    }
    uint32_t size = 0;
    if (!cursor.file->read(&cursor.key, sizeof cursor.key)) return false;
    cursor.file->read(&size, sizeof size);
    cursor.payload.resize(size);
    if (size > 0) cursor.file->read(cursor.payload.data(), size);
    return true;
  }

  template <typename Visit>
  void merge(Visit& visit) {
    std::vector<Cursor> cursors(runs_.size() + 1);
    for (size_t i = 0; i < runs_.size(); ++i) {
      runs_[i].rewind();
      cursors[i].file = &runs_[i];
      cursors[i].order = i;
    }
    cursors.back().order = runs_.size();
    const auto later = [&](size_t a, size_t b) {  // the heap's top is the smallest
      if (cursors[b].key < cursors[a].key) return true;
      if (cursors[a].key < cursors[b].key) return false;
      return cursors[a].order > cursors[b].order;
    };
    std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
    for (size_t i = 0; i < cursors.size(); ++i) {
      if (advance(cursors[i])) heap.push(i);
    }
    while (!heap.empty()) {
      const size_t top = heap.top();
      heap.pop();
      visit(cursors[top].key, std::span<const std::byte>(cursors[top].payload));
      if (advance(cursors[top])) heap.push(top);
    }
  }

  SortMemory& memory_;
  std::vector<Ref> refs_;
  bool ordered_ = true;  // refs_ is sorted
  std::vector<std::byte> arena_;
  std::vector<RunFile> runs_;
  uint64_t size_ = 0;
};

// A row type may spill compactly: Row::encode writes a block of rows (sorted, so neighbours are
// alike) into at most kMaxEncodedBytes each and returns the bytes written; Row::decode reads
// them back. Others spill as they are in memory.
template <typename Row>
concept EncodedRow = requires(std::span<const Row> rows, std::span<Row> out, std::byte* bytes) {
  { Row::kMaxEncodedBytes } -> std::convertible_to<size_t>;
  { Row::encode(rows, bytes) } -> std::same_as<size_t>;
  Row::decode(std::span<const std::byte>(), out);
};

// `Row`: trivially copyable, with a key() ordered by operator<. Input that arrives in order (the
// common case: a process writes its records nearly in time order) is never sorted, and runs that
// follow one another are read back one after the other, with no merge.
template <typename Row>
class RowSink final : public SpillingSink {
  static_assert(std::is_trivially_copyable_v<Row>);
  // Rows read back from a run at a time while merging.
  static constexpr size_t kBlockRows = std::max<size_t>(1, (size_t{64} << 10) / sizeof(Row));

 public:
  explicit RowSink(SortMemory& memory) : memory_(memory) { memory_.add(this); }

  void push(const Row& row) {
    if (ordered_ && !rows_.empty() && row.key() < rows_.back().key()) ordered_ = false;
    if (rows_.size() == rows_.capacity()) make_room();
    rows_.push_back(row);
    ++size_;
  }

  [[nodiscard]] uint64_t size() const { return size_; }
  [[nodiscard]] size_t memory_bytes() const override { return rows_.capacity() * sizeof(Row); }

  void spill() override {
    write_run();
    release();
  }

  class Reader;
  // Reads the rows back in order, a block at a time; the sink is empty once the reader is gone.
  // Nothing may be pushed meanwhile.
  Reader read();

  // Calls visit(std::span<const Row>) with consecutive blocks of the rows, in order, and empties
  // the sink. The rows are valid during the call only.
  template <typename Visit>
  void drain(Visit&& visit);

 private:
  struct Run {
    RunFile file;
    uint64_t rows = 0;
    Row first;
    Row last;
  };
  // One source being merged: a block of its rows; `run` null for the in-memory rest.
  struct Cursor {
    Run* run = nullptr;
    uint64_t unread = 0;  // rows still in the file
    std::vector<Row> block;
    std::vector<std::byte> bytes;  // the block encoded (EncodedRow)
    size_t next = 0;
    size_t order = 0;  // lower is older: equal keys come from older sources first
    [[nodiscard]] const Row& row() const { return block[next]; }
  };

  // Before a push that does not fit: grows as far as the bound allows, or writes the rows out
  // and reuses the memory. Rows that came in order need no long runs (their runs are read back
  // one after the other): they leave the memory to the sinks that do.
  void make_room() {
    const size_t capacity = rows_.capacity();
    const bool long_enough = ordered_ && capacity * sizeof(Row) >= memory_.limit() / 8;
    const size_t rows =
        memory_.room(std::max(kBlockRows, capacity) * sizeof(Row), kBlockRows * sizeof(Row)) / sizeof(Row);
    if (!long_enough && memory_.reserve(*this, rows * sizeof(Row))) {
      rows_.reserve(capacity + rows);
    } else if (!rows_.empty()) {
      write_run();
    } else {  // holds nothing: past the bound by one block
      rows_.reserve(kBlockRows);
      memory_.take(memory_bytes());
    }
  }

  // Writes the rows to a run of their own, keeping the memory.
  void write_run() {
    if (rows_.empty()) return;
    sort_in_memory();
    Run& run =
        runs_.emplace_back(Run{RunFile(memory_.dir(), false), rows_.size(), rows_.front(), rows_.back()});
    if constexpr (EncodedRow<Row>) {
      // Block by block, as fill() reads them back: each block's size, then its bytes.
      std::vector<std::byte> bytes(kBlockRows * Row::kMaxEncodedBytes);
      for (size_t at = 0; at < rows_.size(); at += kBlockRows) {
        const auto block = std::span<const Row>(rows_).subspan(at, std::min(kBlockRows, rows_.size() - at));
        const auto size = static_cast<uint32_t>(Row::encode(block, bytes.data()));
        run.file.write(&size, sizeof size);
        run.file.write(bytes.data(), size);
      }
    } else {
      run.file.write(rows_.data(), rows_.size() * sizeof(Row));
    }
    memory_.count_run();
    rows_.clear();
  }

  void sort_in_memory() {
    // Stable, so that rows with equal keys keep their push order.
    if (!ordered_) {
      std::stable_sort(rows_.begin(), rows_.end(),
                       [](const Row& a, const Row& b) { return a.key() < b.key(); });
    }
    ordered_ = true;
  }

  void release() {
    memory_.released(memory_bytes());
    std::vector<Row>().swap(rows_);
  }

  [[nodiscard]] bool runs_follow_one_another() const {
    for (size_t i = 1; i < runs_.size(); ++i) {
      if (runs_[i].first.key() < runs_[i - 1].last.key()) return false;
    }
    return rows_.empty() || !(rows_.front().key() < runs_.back().last.key());
  }

  static void fill(Cursor& cursor) {
    const size_t count = std::min<uint64_t>(kBlockRows, cursor.unread);
    cursor.block.resize(count);
    bool read = true;
    if constexpr (EncodedRow<Row>) {
      uint32_t size = 0;
      read = cursor.run->file.read(&size, sizeof size) && size <= count * Row::kMaxEncodedBytes;
      cursor.bytes.resize(size);
      read = read && cursor.run->file.read(cursor.bytes.data(), size);
      if (read) Row::decode(cursor.bytes, cursor.block);
    } else {
      read = count == 0 || cursor.run->file.read(cursor.block.data(), count * sizeof(Row));
    }
    if (!read) throw std::runtime_error("a sort run ended early: its temporary file is damaged");
    cursor.unread -= count;
    cursor.next = 0;
  }

  // True when the cursor has a row (reading its next block if needed).
  static bool ready(Cursor& cursor) {
    if (cursor.next < cursor.block.size()) return true;
    if (cursor.run == nullptr || cursor.unread == 0) return false;
    fill(cursor);
    return true;
  }

  SortMemory& memory_;
  std::vector<Row> rows_;
  bool ordered_ = true;  // rows_ is sorted
  std::vector<Run> runs_;
  uint64_t size_ = 0;
};

// Hands a RowSink's rows back in order: the in-memory rows as they are when nothing was spilled,
// the runs one after the other when they follow one another, else a merge of the runs and the
// in-memory rest.
template <typename Row>
class RowSink<Row>::Reader {
 public:
  explicit Reader(RowSink& sink) : sink_(sink) {
    sink_.sort_in_memory();
    if (sink_.runs_.empty()) {
      mode_ = Mode::kMemory;
    } else if (sink_.runs_follow_one_another()) {
      mode_ = Mode::kConcatenate;
    } else {
      mode_ = Mode::kMerge;
      start_merge();
    }
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() {
    if (mode_ == Mode::kMerge) sink_.rows_ = std::move(cursors_.back().block);  // released below
    sink_.runs_.clear();
    sink_.release();
    sink_.size_ = 0;
  }

  // The next rows in order (empty at the end), valid until the next call.
  std::span<const Row> next() {
    switch (mode_) {
      case Mode::kMemory: return memory_rest();
      case Mode::kConcatenate: {
        while (run_ < sink_.runs_.size()) {
          if (cursor_.run != &sink_.runs_[run_]) {
            cursor_.run = &sink_.runs_[run_];
            cursor_.run->file.rewind();
            cursor_.unread = cursor_.run->rows;
          }
          if (cursor_.unread > 0) {
            fill(cursor_);
            return cursor_.block;
          }
          ++run_;
        }
        return memory_rest();
      }
      case Mode::kMerge: return merged();
    }
    return {};
  }

 private:
  enum class Mode { kMemory, kConcatenate, kMerge };
  using Cursor = typename RowSink::Cursor;

  std::span<const Row> memory_rest() {
    if (memory_done_) return {};
    memory_done_ = true;
    return sink_.rows_;
  }

  void start_merge() {
    cursors_.resize(sink_.runs_.size() + 1);
    for (size_t i = 0; i < sink_.runs_.size(); ++i) {
      sink_.runs_[i].file.rewind();
      cursors_[i].run = &sink_.runs_[i];
      cursors_[i].unread = sink_.runs_[i].rows;
      cursors_[i].order = i;
    }
    cursors_.back().block = std::move(sink_.rows_);  // the in-memory rest, youngest
    cursors_.back().order = sink_.runs_.size();
    for (size_t i = 0; i < cursors_.size(); ++i) {
      if (ready(cursors_[i])) heap_.push_back(i);
    }
    std::make_heap(heap_.begin(), heap_.end(), later());
    out_.reserve(kBlockRows);
  }

  // Orders the heap so that its top is the smallest row (the oldest source at equal keys).
  auto later() const {
    return [this](size_t a, size_t b) {
      const Row& row_a = cursors_[a].row();
      const Row& row_b = cursors_[b].row();
      if (row_b.key() < row_a.key()) return true;
      if (row_a.key() < row_b.key()) return false;
      return cursors_[a].order > cursors_[b].order;
    };
  }

  std::span<const Row> merged() {
    out_.clear();
    while (!heap_.empty() && out_.size() < kBlockRows) {
      std::pop_heap(heap_.begin(), heap_.end(), later());
      const size_t top = heap_.back();
      out_.push_back(cursors_[top].row());
      ++cursors_[top].next;
      if (ready(cursors_[top])) {
        std::push_heap(heap_.begin(), heap_.end(), later());
      } else {
        heap_.pop_back();
      }
    }
    return out_;
  }

  RowSink& sink_;
  Mode mode_ = Mode::kMemory;
  bool memory_done_ = false;
  size_t run_ = 0;  // kConcatenate: the run being read
  Cursor cursor_;
  std::vector<Cursor> cursors_;  // kMerge: one per run, and the in-memory rest last
  std::vector<size_t> heap_;
  std::vector<Row> out_;
};

template <typename Row>
typename RowSink<Row>::Reader RowSink<Row>::read() {
  return Reader(*this);
}

template <typename Row>
template <typename Visit>
void RowSink<Row>::drain(Visit&& visit) {
  Reader reader(*this);
  for (std::span<const Row> rows = reader.next(); !rows.empty(); rows = reader.next()) visit(rows);
}

}  // namespace profilemate::exporter
