// Text from a log made safe to print on a terminal.
#pragma once

#include <string>
#include <string_view>

namespace profilemate::reader {

// `text` with its control characters written as C escapes (\n, \r, \t, else \ooo in octal, as
// `dump`'s protobuf text format writes them): a request id or a file name holding ESC sequences
// cannot move the cursor, retitle the terminal or hide what follows. Other bytes are unchanged.
std::string printable(std::string_view text);

}  // namespace profilemate::reader
