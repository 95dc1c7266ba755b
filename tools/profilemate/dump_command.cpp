// `profilemate dump`: every record of one process log, as text.
#include <google/protobuf/text_format.h>

#include <cstdio>
#include <string>

#include "cli.h"
#include "pmlog_reader.h"

namespace profilemate::cli {
namespace {

constexpr const char* kDumpHelp = R"(Usage: profilemate dump LOG.pmlog

Prints the header and every readable record of one process log, one per line, in protobuf text
format, followed by what was skipped. For looking inside a log and for bug reports.

Example:
  profilemate dump /tmp/vllm_profiling/session_20261127_101500_3fa2c1/process_4242.pmlog
)";

}  // namespace

int run_dump(const Args& args) {
  if (args.size() == 1 && is_help(args[0])) {
    std::fputs(kDumpHelp, stdout);
    return kExitOk;
  }
  if (args.size() != 1) return usage_error("dump needs exactly one .pmlog file", "dump");
  const std::string path(args[0]);
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  const auto print = [&printer](const google::protobuf::Message& message) {
    std::string text;
    printer.PrintToString(message, &text);
    std::printf("%s\n", text.c_str());
  };
  try {
    profilemate::Header header;
    bool header_printed = false;
    const auto stats = profilemate::reader::read_log(path, header, [&](profilemate::Record& record) {
      if (!header_printed) {
        profilemate::Record wrapper;
        *wrapper.mutable_header() = header;
        print(wrapper);
        header_printed = true;
      }
      print(record);
    });
    if (!header_printed) {
      profilemate::Record wrapper;
      *wrapper.mutable_header() = header;
      print(wrapper);
    }
    std::printf("# %llu records, %llu unknown, torn tail %llu bytes, %zu corrupt span(s)\n",
                static_cast<unsigned long long>(stats.records),
                static_cast<unsigned long long>(stats.unknown_records),
                static_cast<unsigned long long>(stats.torn_tail_bytes), stats.corrupt.size());
    for (const auto& span : stats.corrupt) {
      std::printf("# corrupt at byte offset %llu (%s): skipped %llu bytes\n",
                  static_cast<unsigned long long>(span.offset), span.reason.c_str(),
                  static_cast<unsigned long long>(span.skipped_bytes));
    }
    return kExitOk;
  } catch (const profilemate::reader::ReadError& error) {
    print_error(error.what());
    return kExitUnreadable;
  }
}

}  // namespace profilemate::cli
