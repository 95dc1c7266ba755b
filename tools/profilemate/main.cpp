// The `profilemate` command.
#include <google/protobuf/text_format.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "export_session.h"
#include "pmlog_reader.h"

namespace {

// Exit codes, documented in `profilemate --help` and the README.
constexpr int kExitOk = 0;
constexpr int kExitUnreadable = 1;
constexpr int kExitUsage = 2;
constexpr int kExitOutput = 3;

constexpr const char* kMainHelp = R"(profilemate: what your vLLM server did, step by step

Usage: profilemate <command> [options]

Commands:
  export   convert a session's process logs to CSV files and metadata.json
  dump     print the records of one process log as text

Run 'profilemate <command> --help' for a command's options and examples.

Options:
  -h, --help     show this help
  --version      print the version

Exit codes:
  0  done (damage that was survived, such as a torn last record, is reported as a warning)
  1  the session or a log cannot be read (not a session, unreadable, written by a newer version)
  2  wrong usage
  3  an output file cannot be written
)";

constexpr const char* kExportHelp = R"(Usage: profilemate export SESSION_DIR [--output DIR] [--type csv]

Merges every process log (*.pmlog) of SESSION_DIR and writes, into DIR (default: SESSION_DIR):
  cuda_graph_captures.csv   cuda_graph_usage.csv       cuda_graph_replays.csv
  kv_cache_usage.csv        kv_cache_evictions.csv     moe_expert_selection.csv
  moe_expert_timing.csv     forward_pass_timing.csv    cpu_operations_timing.csv
  batch_utilization.csv     preemption_events.csv      encoder_decoder_timing.csv
  metadata.json
Every file is written, with its header row, even when it has no rows. Columns and units:
docs/csv-reference.md.

A torn last record (a process killed mid-write) or a corrupt record is skipped and reported,
with file and byte offset; everything readable is still converted.

Options:
  -o, --output DIR   where to write (created if missing)
  --type csv         output type (csv is the only one)
  -h, --help         show this help

Examples:
  profilemate export /tmp/vllm_profiling/session_20261127_101500_3fa2c1
  profilemate export ./session -o ./csv
)";

constexpr const char* kDumpHelp = R"(Usage: profilemate dump LOG.pmlog

Prints the header and every readable record of one process log, one per line, in protobuf text
format, followed by what was skipped. For looking inside a log and for bug reports.

Example:
  profilemate dump /tmp/vllm_profiling/session_20261127_101500_3fa2c1/process_4242.pmlog
)";

bool is_help(std::string_view arg) {
  return arg == "-h" || arg == "--help";
}

int usage_error(const std::string& message, const char* command) {
  std::fprintf(stderr, "profilemate: %s\nRun 'profilemate %s--help' for usage.\n", message.c_str(), command);
  return kExitUsage;
}

int run_export(const std::vector<std::string_view>& args) {
  std::string session;
  std::string output;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (is_help(arg)) {
      std::fputs(kExportHelp, stdout);
      return kExitOk;
    }
    if (arg == "-o" || arg == "--output" || arg == "--type") {
      if (i + 1 >= args.size()) return usage_error(std::string(arg) + " needs a value", "export ");
      const std::string_view value = args[++i];
      if (arg == "--type") {
        if (value != "csv")
          return usage_error("unknown export type '" + std::string(value) + "': expected csv", "export ");
      } else {
        output = value;
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return usage_error("unknown option " + std::string(arg), "export ");
    } else if (session.empty()) {
      session = arg;
    } else {
      return usage_error(
          "one session directory at a time (got '" + session + "' and '" + std::string(arg) + "')",
          "export ");
    }
  }
  if (session.empty()) return usage_error("export needs a session directory", "export ");
  if (output.empty()) output = session;

  try {
    const profilemate::exporter::ExportResult result = profilemate::exporter::export_session(session, output);
    for (const std::string& warning : result.warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
    std::printf("Read %llu records from %llu process log(s) in %s\n",
                static_cast<unsigned long long>(result.records),
                static_cast<unsigned long long>(result.processes), session.c_str());
    for (const profilemate::exporter::OutputFile& file : result.files) {
      if (file.name == "metadata.json") {
        std::printf("  %s/%s\n", result.output_dir.c_str(), file.name.c_str());
      } else {
        std::printf("  %s/%s (%llu row%s)\n", result.output_dir.c_str(), file.name.c_str(),
                    static_cast<unsigned long long>(file.rows), file.rows == 1 ? "" : "s");
      }
    }
    return kExitOk;
  } catch (const profilemate::reader::ReadError& error) {
    std::fprintf(stderr, "profilemate: %s\n", error.what());
    return kExitUnreadable;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "profilemate: %s\n", error.what());
    return kExitOutput;
  }
}

int run_dump(const std::vector<std::string_view>& args) {
  if (args.size() == 1 && is_help(args[0])) {
    std::fputs(kDumpHelp, stdout);
    return kExitOk;
  }
  if (args.size() != 1) return usage_error("dump needs exactly one .pmlog file", "dump ");
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
    std::fprintf(stderr, "profilemate: %s\n", error.what());
    return kExitUnreadable;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || is_help(args[0])) {
    std::fputs(kMainHelp, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version") {
    std::printf("profilemate %s (schema %d)\n", PROFILEMATE_VERSION,
                static_cast<int>(profilemate::SCHEMA_VERSION));
    return kExitOk;
  }
  const std::string_view command = args[0];
  args.erase(args.begin());
  if (command == "export") return run_export(args);
  if (command == "dump") return run_dump(args);
  return usage_error("unknown command '" + std::string(command) + "'", "");
}
