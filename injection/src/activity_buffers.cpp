#include "activity_buffers.h"

#include <algorithm>

namespace profilemate::injection {

ActivityBuffers::ActivityBuffers(size_t count, size_t bytes) : bytes_(bytes) {
  storage_.reserve(count);
  free_.reserve(count);
  lent_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    storage_.push_back(std::make_unique_for_overwrite<uint64_t[]>((bytes + 7) / 8));
    free_.push_back(reinterpret_cast<uint8_t*>(storage_.back().get()));
  }
}

std::vector<ActivityBuffers::Lent>::iterator ActivityBuffers::find_lent(uint8_t* buffer) {
  return std::ranges::find(lent_, buffer, &Lent::buffer);
}

uint8_t* ActivityBuffers::acquire() {
  const std::lock_guard lock(mutex_);
  ++handovers_;
  if (free_.empty()) {
    ++declined_;
    return nullptr;
  }
  uint8_t* buffer = free_.back();
  free_.pop_back();
  lent_.push_back({buffer, next_lend_++, false});
  return buffer;
}

void ActivityBuffers::handed_back(uint8_t* buffer) {
  const std::lock_guard lock(mutex_);
  if (const auto it = find_lent(buffer); it != lent_.end()) it->being_read = true;
}

void ActivityBuffers::release(uint8_t* buffer) {
  {
    const std::lock_guard lock(mutex_);
    const auto it = find_lent(buffer);
    if (it == lent_.end()) return;
    lent_.erase(it);
    ++handovers_;
    free_.push_back(buffer);
  }
  returned_.notify_all();
}

uint64_t ActivityBuffers::declined() const {
  const std::lock_guard lock(mutex_);
  return declined_;
}

uint64_t ActivityBuffers::next_lend() const {
  const std::lock_guard lock(mutex_);
  return next_lend_;
}

bool ActivityBuffers::wait_returned(uint64_t lent_before, std::chrono::steady_clock::time_point deadline,
                                    const std::function<bool()>& needed) {
  std::unique_lock lock(mutex_);
  return returned_.wait_until(lock, deadline, [&] {
    if (std::ranges::any_of(lent_, &Lent::being_read)) return false;
    return std::ranges::none_of(lent_, [&](const Lent& out) { return out.lend < lent_before; }) || !needed();
  });
}

ActivityBuffers::Handovers ActivityBuffers::handovers() const {
  const std::lock_guard lock(mutex_);
  return {handovers_, lent_.size()};
}

}  // namespace profilemate::injection
