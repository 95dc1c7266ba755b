// A bounded pool of 8-byte-aligned buffers lent to CUPTI for activity records: memory stays
// fixed however long the run; when all are lent out, a request is declined (CUPTI then drops
// records and counts them). The pool also knows which buffers are out, so that the exit can wait
// for those whose records have still to be read.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace profilemate::injection {

class ActivityBuffers {
 public:
  ActivityBuffers(size_t count, size_t bytes);

  // nullptr when every buffer is lent out.
  uint8_t* acquire();
  // CUPTI handed `buffer` back: its records are being read until release().
  void handed_back(uint8_t* buffer);
  // The buffer is free again; one the pool did not lend is ignored.
  void release(uint8_t* buffer);
  [[nodiscard]] size_t buffer_bytes() const { return bytes_; }
  [[nodiscard]] uint64_t declined() const;

  // Lends are numbered in order: the number the next one will get.
  [[nodiscard]] uint64_t next_lend() const;
  // Waits until no buffer is being read and every buffer lent before lend `lent_before` is back
  // (0: only those being read), or, for the latter, until `needed()` says false (asked again at
  // each return: it may take other locks, never this pool's); false when the deadline came first.
  // After a forced flush, CUPTI owes back every buffer lent before it, though its worker may still
  // be on its way with one.
  bool wait_returned(uint64_t lent_before, std::chrono::steady_clock::time_point deadline,
                     const std::function<bool()>& needed);

  // Requests and returns so far, and buffers lent out now: whether CUPTI still deals with us
  // (see BufferTakeoverWatch).
  struct Handovers {
    uint64_t count = 0;
    size_t lent = 0;
  };
  [[nodiscard]] Handovers handovers() const;

 private:
  struct Lent {
    uint8_t* buffer;
    uint64_t lend;
    bool being_read;
  };
  std::vector<Lent>::iterator find_lent(uint8_t* buffer);

  size_t bytes_;
  std::vector<std::unique_ptr<uint64_t[]>> storage_;  // uint64_t: 8-byte alignment
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<uint8_t*> free_;
  std::vector<Lent> lent_;  // a handful: searched linearly
  uint64_t next_lend_ = 0;
  uint64_t declined_ = 0;
  uint64_t handovers_ = 0;
};

}  // namespace profilemate::injection
