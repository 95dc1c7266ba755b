#include "activity_buffers.h"

namespace profilemate::injection {

ActivityBuffers::ActivityBuffers(size_t count, size_t bytes) : bytes_(bytes) {
  storage_.reserve(count);
  free_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    storage_.push_back(std::make_unique_for_overwrite<uint64_t[]>((bytes + 7) / 8));
    free_.push_back(reinterpret_cast<uint8_t*>(storage_.back().get()));
  }
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
  return buffer;
}

void ActivityBuffers::release(uint8_t* buffer) {
  if (buffer == nullptr) return;
  const std::lock_guard lock(mutex_);
  ++handovers_;
  free_.push_back(buffer);
}

uint64_t ActivityBuffers::declined() const {
  const std::lock_guard lock(mutex_);
  return declined_;
}

ActivityBuffers::Handovers ActivityBuffers::handovers() const {
  const std::lock_guard lock(mutex_);
  return {handovers_, storage_.size() - free_.size()};
}

}  // namespace profilemate::injection
