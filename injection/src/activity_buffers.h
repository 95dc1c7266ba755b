// A bounded pool of 8-byte-aligned buffers lent to CUPTI for activity records: memory stays
// fixed however long the run; when all are lent out, a request is declined (CUPTI then drops
// records and counts them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace profilemate::injection {

class ActivityBuffers {
 public:
  ActivityBuffers(size_t count, size_t bytes);

  // nullptr when every buffer is lent out.
  uint8_t* acquire();
  void release(uint8_t* buffer);
  [[nodiscard]] size_t buffer_bytes() const { return bytes_; }
  [[nodiscard]] uint64_t declined() const;

  // Requests and returns so far, and buffers lent out now: whether CUPTI still deals with us
  // (see BufferTakeoverWatch).
  struct Handovers {
    uint64_t count = 0;
    size_t lent = 0;
  };
  [[nodiscard]] Handovers handovers() const;

 private:
  size_t bytes_;
  std::vector<std::unique_ptr<uint64_t[]>> storage_;  // uint64_t: 8-byte alignment
  mutable std::mutex mutex_;
  std::vector<uint8_t*> free_;
  uint64_t declined_ = 0;
  uint64_t handovers_ = 0;
};

}  // namespace profilemate::injection
