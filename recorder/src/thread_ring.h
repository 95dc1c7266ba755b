// Single-producer single-consumer byte ring of variable-size entries: the recording thread
// pushes, the writer thread consumes. Positions grow monotonically; the capacity is a power of
// two so an offset is a mask. Push never blocks: a full ring rejects the entry.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace profilemate::recorder {

class ThreadRing {
 public:
  struct EntryHeader {
    uint32_t kind;
    uint32_t size;
  };
  static constexpr uint32_t kWrapMarker = 0xffffffffu;

  // `memory` must be 8-byte aligned and `capacity` a power of two; the ring does not own it.
  void attach(std::byte* memory, uint64_t capacity) {
    memory_ = memory;
    capacity_ = capacity;
    reset();
  }
  // Only while neither side is running (start, after fork).
  void reset() {
    head_.store(0, std::memory_order_relaxed);
    tail_.store(0, std::memory_order_relaxed);
  }

  [[nodiscard]] uint64_t capacity() const { return capacity_; }
  [[nodiscard]] uint64_t used() const {
    return head_.load(std::memory_order_relaxed) - tail_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
  }

  // Producer side. Returns false (and changes nothing) when the entry does not fit.
  bool push(uint32_t kind, const void* payload, uint32_t size) {
    const uint64_t need = sizeof(EntryHeader) + align8(size);
    uint64_t head = head_.load(std::memory_order_relaxed);
    const uint64_t tail = tail_.load(std::memory_order_acquire);
    uint64_t offset = head & (capacity_ - 1);
    const uint64_t to_end = capacity_ - offset;
    const uint64_t total = need <= to_end ? need : to_end + need;
    if (capacity_ - (head - tail) < total) return false;
    if (need > to_end) {
      write_header(offset, {kWrapMarker, 0});
      head += to_end;
      offset = 0;
    }
    write_header(offset, {kind, size});
    std::memcpy(memory_ + offset + sizeof(EntryHeader), payload, size);
    head_.store(head + need, std::memory_order_release);
    return true;
  }

  // Consumer side: calls visit(kind, payload, size) for every entry, then frees them.
  template <typename Visit>
  uint64_t consume(Visit&& visit) {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    uint64_t count = 0;
    while (tail != head) {
      const uint64_t offset = tail & (capacity_ - 1);
      EntryHeader header;
      std::memcpy(&header, memory_ + offset, sizeof header);
      if (header.kind == kWrapMarker) {
        tail += capacity_ - offset;
        continue;
      }
      visit(header.kind, static_cast<const void*>(memory_ + offset + sizeof(EntryHeader)), header.size);
      tail += sizeof(EntryHeader) + align8(header.size);
      ++count;
    }
    tail_.store(tail, std::memory_order_release);
    return count;
  }

 private:
  static constexpr uint64_t align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
  void write_header(uint64_t offset, EntryHeader header) {
    std::memcpy(memory_ + offset, &header, sizeof header);
  }

  // Each index on its own cache line: the two threads never write the same line.
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
  alignas(64) std::byte* memory_ = nullptr;
  uint64_t capacity_ = 0;
};

}  // namespace profilemate::recorder
