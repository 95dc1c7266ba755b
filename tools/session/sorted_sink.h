// Sorting more rows than memory holds: a sink buffers (key, payload) entries up to a shared memory
// bound, spills sorted runs to unlinked temporary files when the bound is reached, and hands the
// entries back in key order by merging its runs. Entries with equal keys come back in the order
// they were pushed (runs are merged oldest first), so the result is what a stable sort of all of
// them would give. Nothing is spilled when everything fits: then it is one in-memory sort.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <queue>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace profilemate::exporter {

// A temporary file that is gone from the directory as soon as it is made: nothing is left behind
// even when the process is killed.
class RunFile {
 public:
  // Throws std::runtime_error naming `dir` when the file cannot be made.
  explicit RunFile(const std::string& dir);
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
  [[nodiscard]] virtual size_t memory_bytes() const = 0;
  virtual void spill() = 0;
};

// The memory bound all sinks of one conversion share: past it, the largest sink spills.
class SortMemory {
 public:
  // `spill_dir`: where runs go (the output directory: the disk the user chose for the results).
  SortMemory(std::string spill_dir, size_t limit_bytes) : dir_(std::move(spill_dir)), limit_(limit_bytes) {}
  [[nodiscard]] const std::string& dir() const { return dir_; }
  void add(SpillingSink* sink) { sinks_.push_back(sink); }
  // Called by a sink after it grew by `bytes`.
  void grew(size_t bytes) {
    used_ += bytes;
    if (used_ > limit_) spill_largest();
  }
  void released(size_t bytes) { used_ -= std::min(used_, bytes); }
  [[nodiscard]] uint64_t runs_spilled() const { return runs_spilled_; }
  void count_run() { ++runs_spilled_; }

 private:
  void spill_largest();

  std::string dir_;
  size_t limit_;
  size_t used_ = 0;
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
    const size_t before = memory_bytes();
    refs_.push_back({key, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(payload.size())});
    arena_.insert(arena_.end(), payload.begin(), payload.end());
    ++size_;
    const size_t after = memory_bytes();
    if (after != before) memory_.grew(after - before);  // only when a vector reallocated
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
    if (refs_.empty()) return;
    sort_in_memory();
    RunFile& run = runs_.emplace_back(memory_.dir());
    for (const Ref& ref : refs_) {
      run.write(&ref.key, sizeof ref.key);
      run.write(&ref.size, sizeof ref.size);
      run.write(arena_.data() + ref.offset, ref.size);
    }
    memory_.count_run();
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

  void sort_in_memory() {
    // Offsets grow in push order, so ordering by (key, offset) is a stable sort by key.
    const auto less = [](const Ref& a, const Ref& b) {
      if (a.key < b.key) return true;
      if (b.key < a.key) return false;
      return a.offset < b.offset;
    };
    if (!std::is_sorted(refs_.begin(), refs_.end(), less)) std::sort(refs_.begin(), refs_.end(), less);
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
  std::vector<std::byte> arena_;
  std::vector<RunFile> runs_;
  uint64_t size_ = 0;
};

}  // namespace profilemate::exporter
