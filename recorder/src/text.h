// Copying text into the fixed-size string fields of nanopb structs.
#pragma once

#include <cstddef>
#include <string_view>

namespace profilemate::recorder {

// Copies at most capacity-1 bytes and a NUL into `dst`. Proto3 readers reject strings that are
// not UTF-8, so invalid bytes become '?' and a cut never splits a character.
void copy_utf8(char* dst, size_t capacity, std::string_view src);

}  // namespace profilemate::recorder
