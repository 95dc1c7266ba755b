// Storage for a process-wide object that must outlive every thread that may still call it
// during exit: constructed on first use, never destroyed.
#pragma once

#include <new>
#include <utility>

namespace profilemate::recorder {

template <typename T>
class NoDestructor {
 public:
  template <typename... Args>
  explicit NoDestructor(Args&&... args) {
    new (storage_) T(std::forward<Args>(args)...);
  }
  T& get() { return *std::launder(reinterpret_cast<T*>(storage_)); }

 private:
  alignas(T) unsigned char storage_[sizeof(T)];
};

}  // namespace profilemate::recorder
