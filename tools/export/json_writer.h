// A small streaming JSON writer with two-space indentation and deterministic output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace profilemate::exporter {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(uint64_t number);
  JsonWriter& value(int64_t number);
  JsonWriter& value(uint32_t number) { return value(uint64_t{number}); }
  JsonWriter& value(int number) { return value(int64_t{number}); }
  JsonWriter& value(bool flag);
  JsonWriter& null();
  JsonWriter& value(double number, int decimals);

  // Shorthand for key(name).value(v).
  template <typename T>
  JsonWriter& field(std::string_view name, T v) {
    return key(name).value(v);
  }

  [[nodiscard]] const std::string& text() const { return out_; }

 private:
  void before_value();
  template <typename Integer>
  JsonWriter& integer(Integer number);
  void newline();
  void escaped(std::string_view text);

  std::string out_;
  std::vector<bool> has_items_;  // per open container
  bool after_key_ = false;
};

}  // namespace profilemate::exporter
