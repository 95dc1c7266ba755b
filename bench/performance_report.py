#!/usr/bin/env python3
"""Runs every benchmark behind docs/performance.md in one run and writes that page from what they
printed: each figure next to the baseline measured in the same run, with the machine and commit.
No figure on the page is typed by hand; `scripts/bench.sh` calls this.

    bench/performance_report.py [--build build] [--out docs/performance.md] [--quick] [--vllm-python PY]

--quick runs fewer repetitions (a smoke run; its page says so). --vllm-python: a Python with vLLM's
CPU build, for the real-vLLM section (default: $PROFILEMATE_VLLM_CPU_PYTHON, else the environment
scripts/real_vllm_env.sh --cpu makes, when it exists); without one that section says it was not run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Benchmarks:
    """Google Benchmark results by name without its run settings (`/repeats:5`, `/iterations:500`,
    `/manual_time`, `/real_time`), e.g. "BM_RecordGraphReplay/zstd:1/threads:1"; the median of
    repetitions where there were several, else the single run."""

    _SETTINGS = re.compile(r"/(repeats|iterations):\d+|/manual_time|/real_time")

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}

    def run(self, binary: Path, name_filter: str, repetitions: int | None) -> None:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [
                str(binary),
                f"--benchmark_filter={name_filter}",
                f"--benchmark_out={out.name}",
                "--benchmark_out_format=json",
            ]
            if repetitions is not None:
                command.append(f"--benchmark_repetitions={repetitions}")
            print(f"[bench] {' '.join(command[:2])}", file=sys.stderr, flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            for entry in json.loads(Path(out.name).read_text(encoding="utf-8"))["benchmarks"]:
                name = self._SETTINGS.sub("", entry["run_name"])
                self.entries[(name, entry.get("aggregate_name", ""))] = entry

    def get(self, name: str) -> dict[str, Any]:
        for aggregate in ("median", ""):
            if (name, aggregate) in self.entries:
                entry = self.entries[(name, aggregate)]
                if "error_message" in entry:
                    raise SystemExit(f"performance_report: {name} failed: {entry['error_message']}")
                return entry
        known = sorted({n for n, _ in self.entries})
        raise SystemExit(f"performance_report: no result for {name} (have: {', '.join(known)})")

    def value(self, name: str, field: str) -> float:
        entry = self.get(name)
        if field not in entry:
            raise SystemExit(f"performance_report: {name} has no '{field}' (has {sorted(entry)})")
        return float(entry[field])


def peak_rss_mib(command: Sequence[str]) -> tuple[float, float]:
    """Runs `command` alone in a child process; returns (its peak resident memory in MiB, seconds)."""
    script = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *command], check=True, capture_output=True, text=True)
    kib, seconds = done.stdout.split()
    return int(kib) / 1024, float(seconds)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model or platform.machine()}), {memory_gib:.0f} GiB, {platform.system()}"


def commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def ns(value: float) -> str:
    return f"{value:.1f} ns"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline > 0 else "-"


def stress(build: Path, seconds: float) -> dict[str, float]:
    """The recorder stress program (4 application threads, 250 k replays/s each)."""
    print("[bench] profilemate_recorder_stress", file=sys.stderr, flush=True)
    done = subprocess.run(
        [str(build / "bench" / "profilemate_recorder_stress"), "--seconds", str(seconds)],
        check=True,
        capture_output=True,
        text=True,
    )
    total = re.search(r"total: recorded (\d+), dropped (\d+) \(([\d.]+) %\), (\d+) replays/s", done.stdout)
    writer = re.search(r"writer thread: ([\d.]+) s of CPU while recording \((\d+) ns per recorded event\)", done.stdout)
    if total is None or writer is None:
        raise SystemExit(f"performance_report: cannot read the stress program's summary:\n{done.stdout}")
    return {
        "seconds": seconds,
        "recorded": int(total[1]),
        "dropped": int(total[2]),
        "dropped_pct": float(total[3]),
        "rate": int(total[4]),
        "writer_ns": int(writer[2]),
    }


def session_commands(build: Path, work: Path) -> dict[int, dict[str, float]]:
    """Peak resident memory and time of the converter's commands on a 1 M- and a 10 M-record session
    that the export benchmark writes (the synthetic stream, compressed as the recorder writes it)."""
    figures: dict[int, dict[str, float]] = {}
    for events in (1_000_000, 10_000_000):
        session = work / f"session_{events}"
        environment = dict(os.environ, PROFILEMATE_BENCH_SESSION_DIR=str(session), PROFILEMATE_BENCH_EVENTS=str(events))
        subprocess.run(
            [str(build / "bench" / "profilemate_bench"), "--benchmark_filter=Baseline_ReadSessionBytes/zstd:1"],
            check=True,
            env=environment,
            stdout=subprocess.DEVNULL,
        )
        session = work / f"session_{events}_zstd"  # the compressed log's session: "_zstd" after the name
        cli = str(build / "tools" / "profilemate")
        csv_dir = work / f"csv_{events}"
        export_rss, export_s = peak_rss_mib([cli, "export", str(session), "-o", str(csv_dir)])
        stats_rss, stats_s = peak_rss_mib([cli, "stats", str(session)])
        figures[events] = {
            "bytes": sum(f.stat().st_size for f in session.iterdir()),
            "export_rss": export_rss,
            "export_s": export_s,
            "csv_bytes": tree_bytes(csv_dir),
            "stats_rss": stats_rss,
            "stats_s": stats_s,
        }
        parquet_dir = work / f"parquet_{events}"
        try:
            parquet_rss, parquet_s = peak_rss_mib(
                [cli, "export", str(session), "--type", "parquet", "-o", str(parquet_dir)]
            )
        except subprocess.CalledProcessError:
            print("[bench] this build has no Parquet export: its figures are not measured", file=sys.stderr)
        else:
            figures[events].update(parquet_rss=parquet_rss, parquet_s=parquet_s, parquet_bytes=tree_bytes(parquet_dir))
            if events == 10_000_000:
                figures[events]["duckdb"] = duckdb_load(csv_dir, parquet_dir)
        print(f"[bench] {events} records: export {export_rss:.0f} MiB, stats {stats_rss:.0f} MiB", file=sys.stderr)
    return figures


def tree_bytes(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


def duckdb_load(csv_dir: Path, parquet_dir: Path) -> dict[str, Any] | None:
    """bench/duckdb_load.py's figures, run by the project's virtual environment (scripts/setup.sh
    installs DuckDB there), or None without it."""
    python = ROOT / ".venv" / "bin" / "python"
    if subprocess.run([str(python), "-c", "import duckdb"], capture_output=True, check=False).returncode != 0:
        print(f"[bench] no DuckDB in {python}: loading the tables is not measured", file=sys.stderr)
        return None
    print("[bench] bench/duckdb_load.py", file=sys.stderr, flush=True)
    done = subprocess.run(
        [str(python), str(ROOT / "bench" / "duckdb_load.py"), "--csv", str(csv_dir), "--parquet", str(parquet_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--build", default=str(ROOT / "build"), help="the build directory (default: build)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"), help="the page to write")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and a shorter stress run")
    parser.add_argument("--vllm-python", default=default_vllm_python(), help="Python with vLLM's CPU build")
    options = parser.parse_args()
    build = Path(options.build).resolve()
    bench_binary = build / "bench" / "profilemate_bench"
    repetitions = 2 if options.quick else None

    results = Benchmarks()
    results.run(bench_binary, "-ResidentMemory", repetitions)
    # Alone, so that its "before" reading precedes the recorder's start.
    results.run(bench_binary, "ResidentMemory", None)
    stressed = stress(build, 5 if options.quick else 20)
    with tempfile.TemporaryDirectory(prefix="profilemate_perf_") as work:
        sessions = session_commands(build, Path(work))
    hooks = python_hooks(build)
    real = real_vllm_figures("vllm_ab.py", build, options.vllm_python, options.quick)
    hook_costs = real_vllm_figures("vllm_hook_cost.py", build, options.vllm_python, options.quick)

    page = render(results, stressed, sessions, hooks, real, hook_costs, quick=options.quick)
    Path(options.out).write_text(page, encoding="utf-8")
    print(page)
    print(f"[bench] wrote {options.out}", file=sys.stderr)


def script_figures(script: str, arguments: list[str], environment: dict[str, str] | None = None) -> Any:
    """What bench/<script> wrote with --json, after it ran with `arguments`."""
    figures_json = Path(tempfile.mkstemp(suffix=".json")[1])
    print(f"[bench] bench/{script}", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *arguments, "--json", str(figures_json)],
        check=True,
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    figures = json.loads(figures_json.read_text(encoding="utf-8"))
    figures_json.unlink()
    return figures


def python_hooks(build: Path) -> dict[str, Any]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        str(p)
        for p in (
            build / "pyhooks",
            ROOT / "tests" / "pyhooks" / "standins" / "vllm_2026",
            ROOT / "tests" / "pyhooks" / "standins" / "common",
        )
    )
    return script_figures("pyhooks_bench.py", [], environment)


def default_vllm_python() -> str:
    made = Path.home() / ".cache" / "profilemate" / "vllm-cpu-venv" / "bin" / "python"
    return os.environ.get("PROFILEMATE_VLLM_CPU_PYTHON") or (str(made) if made.exists() else "")


def real_vllm_figures(script: str, build: Path, python: str, quick: bool) -> dict[str, Any] | None:
    """What a real-vLLM benchmark (bench/<script>) measured, or None without vLLM's CPU build."""
    if not python:
        print(f"[bench] no vLLM CPU build (--vllm-python): bench/{script} does not run", file=sys.stderr)
        return None
    arguments = ["--python", python, "--build", str(build)] + (["--runs", "2", "--requests", "8"] if quick else [])
    return script_figures(script, arguments)


def real_vllm_section(real: dict[str, Any] | None) -> list[str]:
    lines = ["## Real vLLM: ProfileMate off and on (CPU build)", ""]
    if real is None:
        return [*lines, "Not measured in this run: no Python with vLLM's CPU build was given (`--vllm-python`).", ""]
    lines += [
        f"`bench/vllm_ab.py`: the bundled example (`examples/tiny_vllm`, 2-layer Mixtral) and its dense variant "
        f"(2-layer Llama), {real['requests']} requests x {real['max_tokens']} greedy tokens, in one recording process "
        f"per model: every patched vLLM method set to vLLM's own (off) or to ProfileMate's hook (on), alternating "
        f"off, on, on, off, ..., {real['runs']} runs each. off and on: medians over runs of each run's median; "
        "change: the median over adjacent off/on pairs (between processes this machine's speed swings by tens of "
        "percent). CPU: the thread's CPU time per call; process CPU: the whole generation, the recorder's writer "
        f"thread included. Interleaved: {real['runs']} more runs with the setting changed at the start of every "
        "engine step (off, on, on, off, ...); off and on: the medians of those steps; change: the median over "
        "adjacent pairs of steps, which see the same machine. "
        f"Load average (1, 5, 15 min) before {real['load_before']}, after {real['load_after']}.",
        "",
        "| model | figure | off | on | change | spread between runs, off / on |",
        "|---|---|---|---|---|---|",
    ]
    for model, figures in real["models"].items():
        for key, label, unit in (
            ("step_ms", "engine step", "ms"),
            ("schedule_us", "`Scheduler.schedule()`", "µs"),
            ("tokens_per_s", "tokens/s", ""),
            ("step_cpu_ms", "engine step, CPU", "ms"),
            ("schedule_cpu_us", "`Scheduler.schedule()`, CPU", "µs"),
            ("process_cpu_s", "process CPU, whole run", "s"),
            ("step_interleaved_ms", "engine step, interleaved per step", "ms"),
            ("schedule_interleaved_us", "`Scheduler.schedule()`, interleaved per step", "µs"),
        ):
            f = figures[key]
            spread = (
                f"{f['pairs']} pairs of adjacent steps"
                if "pairs" in f
                else f"{f['off_spread_pct']:.0f} % / {f['on_spread_pct']:.0f} %"
            )
            lines.append(
                f"| {model} | {label} | {f['off']:.3f} {unit} | {f['on']:.3f} {unit} | {f['change_pct']:+.1f} % | "
                f"{spread} |"
            )
        lines.append(f"| {model} | greedy token ids on = off | {'yes' if figures['same_ids'] else '**no**'} | | | |")
    return [*lines, ""]


def hook_cost_section(costs: dict[str, Any] | None) -> list[str]:
    lines = ["## Real vLLM: the time each hook adds (CPU build)", ""]
    if costs is None:
        return [*lines, "Not measured in this run: no Python with vLLM's CPU build was given (`--vllm-python`).", ""]
    lines += [
        "`bench/vllm_hook_cost.py`: the same example in one recording process. Each patched method is timed twice "
        "per call, around ProfileMate's hook and around vLLM's method inside it; the difference is the hook's own "
        "time, free of vLLM's (hundreds of µs for a layer, swinging with the machine). Runs with the hooks "
        f"alternate with runs of a bare pass-through under the same two timers ({costs['runs']} each); added: the "
        "hook's median minus the bare one. vLLM's method inside: its median per call in the runs with the hook and "
        "in the bare ones (other runs: it moves with the machine as the engine step does, by several percent). "
        "Inside vLLM a hook runs with the caches cold from vLLM's own work, so "
        "its lines cost several times what they cost in the loop of the table above. "
        f"Load average before {costs['load_before']}, after {costs['load_after']}.",
        "",
        "| model | hook | calls per step | added per call | added per engine step | vLLM's method inside it, bare / "
        "hooked |",
        "|---|---|---|---|---|---|",
    ]
    for model, figures in costs["models"].items():
        for row in figures["rows"]:
            if row["added_per_step_us"] < 0.5:  # the rare calls (preemptions, frees): see the script's output
                continue
            lines.append(
                f"| {model} | `{row['hook']}` | {row['calls_per_step']:.2f} | {row['added_ns'] / 1e3:+.1f} µs | "
                f"{row['added_per_step_us']:+.1f} µs | "
                f"{row['vllm_bare_ns'] / 1e3:.1f} / {row['vllm_hook_ns'] / 1e3:.1f} µs |"
            )
        share = 100 * figures["total_per_step_us"] / figures["step_us"]
        lines.append(
            f"| {model} | **all hooks** | | | **{figures['total_per_step_us']:+.1f} µs = {share:.1f} % of the "
            f"{figures['step_us'] / 1e3:.2f} ms engine step** | |"
        )
    return [*lines, ""]


def parquet_section(small: dict[str, Any], large: dict[str, Any]) -> list[str]:
    lines = ["## Parquet export and loading it", ""]
    if "parquet_s" not in large:
        return [*lines, "Not measured in this run: the build has no Parquet export (see docs/parquet.md).", ""]
    mib = 2**20
    lines += [
        "The compressed 10 M-record session of the table above, exported by the command line to CSV and to "
        "Parquet, one after the other.",
        "",
        "| what | Parquet | CSV, the same run | ratio |",
        "|---|---|---|---|",
        f"| wall time of `profilemate export`, 10 M records | {large['parquet_s']:.2f} s | {large['export_s']:.2f} s | "
        f"{ratio(large['parquet_s'], large['export_s'])} |",
        f"| bytes written, 10 M records | {large['parquet_bytes'] / mib:.0f} MiB | "
        f"{large['csv_bytes'] / mib:.0f} MiB | "
        f"{ratio(large['parquet_bytes'], large['csv_bytes'])} |",
        f"| peak resident memory of the export, 1 M / 10 M records | {small['parquet_rss']:.0f} / "
        f"{large['parquet_rss']:.0f} MiB | {small['export_rss']:.0f} / {large['export_rss']:.0f} MiB | "
        f"{ratio(large['parquet_rss'], small['parquet_rss'])} "
        f"(CSV: {ratio(large['export_rss'], small['export_rss'])}) |",
    ]
    duckdb = large.get("duckdb")
    if duckdb is None:
        lines.append("| DuckDB loading every table | not measured: no DuckDB in the project's environment | | |")
    else:
        lines.append(
            f"| DuckDB {duckdb['duckdb_version']} loading every table ({duckdb['rows']:,} rows) into memory, median of "
            f"{duckdb['repeats']} | {duckdb['parquet_s']:.2f} s | {duckdb['csv_s']:.2f} s | "
            f"{ratio(duckdb['parquet_s'], duckdb['csv_s'])} |"
        )
    return [*lines, ""]


def render(
    results: Benchmarks,
    stressed: dict[str, float],
    sessions: dict[int, dict[str, float]],
    hooks: dict[str, Any],
    real: dict[str, Any] | None,
    hook_costs: dict[str, Any] | None,
    quick: bool,
) -> str:
    clock = results.value("BM_Baseline_ClockGettime/threads:1", "real_time")
    record = {
        (zstd, threads): results.value(f"BM_RecordGraphReplay/zstd:{zstd}/threads:{threads}", "ns_per_event")
        for zstd in (0, 1)
        for threads in (1, 2)
    }
    saturated = results.get("BM_RecordGraphReplay_Saturated/threads:1")
    nanopb = results.value("BM_Baseline_WriterNanopb", "cpu_time")
    memcpy = results.value("BM_Baseline_WriterMemcpy", "cpu_time")
    writer = {zstd: results.value(f"BM_WriterEncodeAndWrite/zstd:{zstd}", "cpu_time") for zstd in (0, 1)}
    log_bytes = {zstd: results.get(f"BM_LogBytesPerGraphReplay/zstd:{zstd}") for zstd in (0, 1)}
    # An inverted rate: seconds per replay.
    replay_off = results.value("BM_Replay_Baseline_NotSubscribed", "ns_per_replay") * 1e9
    replay_on = results.value("BM_Replay_WithProfileMate", "ns_per_replay") * 1e9
    rss = results.get("BM_ResidentMemoryOver10MEvents")
    throughput = results.get("BM_Summary_ExportThroughput")
    events = results.value("BM_ExportTenMillionEvents/zstd:0", "events")
    read_s, export_s = float(throughput["read_s"]), float(throughput["export_s"])
    export_rate = float(throughput["export_Mrec_per_s"]) * 1e6
    export_cpu_rate = float(throughput["export_cpu_Mrec_per_s"]) * 1e6
    zstd_read_s, zstd_export_s = float(throughput["read_s_zstd"]), float(throughput["export_s_zstd"])
    zstd_rate = float(throughput["export_Mrec_per_s_zstd"]) * 1e6
    zstd_cpu_rate = float(throughput["export_cpu_Mrec_per_s_zstd"]) * 1e6
    python_rate = float(throughput["python_Mrec_per_s"]) * 1e6
    small, large = sessions[1_000_000], sessions[10_000_000]

    lines = [
        "# Performance",
        "",
        "<!-- Written by scripts/bench.sh (bench/performance_report.py) from one run: do not edit by hand. -->",
        "",
        f"Measured {datetime.date.today().isoformat()} on commit `{commit()}`: {machine()}, no GPU, shared with",
        "other work (the figures move between runs; compare within a row). Google Benchmark figures are medians",
        "of repetitions; each stands next to a baseline measured in the same run."
        + (" **Quick run: fewer repetitions and a shorter stress run than the published page.**" if quick else ""),
        "",
        "## Recording: the application's side",
        "",
        "| what | figure | baseline in the same run | ratio |",
        "|---|---|---|---|",
        f"| `pm_record` of one graph replay, 1 thread | {ns(record[(1, 1)])} | `clock_gettime(CLOCK_REALTIME)`: "
        f"{ns(clock)} | {ratio(record[(1, 1)], clock)} |",
        f"| the same, 2 threads (per event, per thread) | {ns(record[(1, 2)])} | {ns(clock)} | "
        f"{ratio(record[(1, 2)], clock)} |",
        f"| the same with compression off (`PROFILEMATE_COMPRESSION=none`), 1 / 2 threads | "
        f"{ns(record[(0, 1)])} / {ns(record[(0, 2)])} | compression on: {ns(record[(1, 1)])} / {ns(record[(1, 2)])} | "
        f"{ratio(record[(1, 1)], record[(0, 1)])} / {ratio(record[(1, 2)], record[(0, 2)])} |",
        f"| recording when the buffer is full (dropped and counted; an application thread never waits) | "
        f"{ns(float(saturated['real_time']))} ({float(saturated['dropped_pct']):.0f} % dropped flat out) | | |",
        f"| stress: 4 application threads x 250 k replays/s for {stressed['seconds']:.0f} s | "
        f"{stressed['recorded']:,} recorded, {stressed['dropped']:,} dropped ({stressed['dropped_pct']:.3f} %) | "
        f"achieved {stressed['rate']:,} replays/s | writer: {stressed['writer_ns']} ns per event |",
        f"| resident memory while one thread records 10 M events | {rss['rss_before_MiB']:.1f} MiB before start, "
        f"{rss['rss_at_1M_MiB']:.1f} MiB at 1 M, {rss['rss_at_10M_MiB']:.1f} MiB at 10 M | | |",
        f"| the 4 CUPTI callbacks of a `cudaGraphLaunch` and the join of its GPU record (fake CUPTI) | "
        f"{ns(replay_on)} | nobody subscribed: {ns(replay_off)} | +{ns(replay_on - replay_off)} |",
        "",
        "## The writer thread",
        "",
        "| what | figure | baseline in the same run | ratio |",
        "|---|---|---|---|",
        f"| encode one graph replay and write it, uncompressed (CPU per event) | {ns(writer[0])} | "
        f"nanopb's `pb_encode`, the previous writer: {ns(nanopb)} | {nanopb / writer[0]:.1f}x faster |",
        f"| the same, zstd-compressed | {ns(writer[1])} | copying the event: {ns(memcpy)} | "
        f"{ratio(writer[1], memcpy)} |",
        f"| bytes on disk per graph replay (synthetic replay stream) | "
        f"{float(log_bytes[1]['file_bytes_per_replay']):.2f} compressed | uncompressed: "
        f"{float(log_bytes[0]['file_bytes_per_replay']):.2f} | "
        f"{ratio(float(log_bytes[1]['file_bytes_per_replay']), float(log_bytes[0]['file_bytes_per_replay']))} |",
        "",
        "## The converter",
        "",
        "| what | figure | baseline in the same run | ratio |",
        "|---|---|---|---|",
        f"| `export` (CSV) of a {events / 1e6:.0f} M-event session, in process | {export_s:.2f} s: "
        f"{export_rate / 1e6:.2f} M records/s ({export_cpu_rate / 1e6:.2f} M/s of CPU time, all threads) | "
        f"reading the log's bytes: {read_s:.2f} s | {export_s / read_s:.1f}x the read |",
        f"| the same session written zstd-compressed (the recorder's default; its bytes read in "
        f"{zstd_read_s * 1e3:.0f} ms) | {zstd_export_s:.2f} s: {zstd_rate / 1e6:.2f} M records/s "
        f"({zstd_cpu_rate / 1e6:.2f} M/s of CPU time) | the plain log: {export_s:.2f} s | "
        f"{ratio(zstd_export_s, export_s)} |",
        f"| the same against the obvious Python converter (python3-protobuf + csv) on the same log | "
        f"{export_rate / 1e6:.2f} M records/s | {python_rate / 1e6:.3f} M records/s | "
        f"{export_rate / python_rate:.1f}x faster |",
        f"| peak resident memory of `profilemate export`, 1 M / 10 M records | {small['export_rss']:.0f} / "
        f"{large['export_rss']:.0f} MiB | | {ratio(large['export_rss'], small['export_rss'])} |",
        f"| peak resident memory of `profilemate stats`, 1 M / 10 M records | {small['stats_rss']:.0f} / "
        f"{large['stats_rss']:.0f} MiB | | {ratio(large['stats_rss'], small['stats_rss'])} |",
        f"| wall time of `profilemate export` / `stats`, 10 M records ({large['bytes'] / 2**20:.0f} MiB of "
        "compressed logs) | "
        f"{large['export_s']:.2f} s / {large['stats_s']:.2f} s | | |",
        "",
        *parquet_section(small, large),
        "## Python hooks: added ns per patched call (stand-in vLLM)",
        "",
        f"Each target patched alone; the variants take turns for {hooks['repeats']} rounds of {hooks['calls']} calls, "
        "each figure the median over rounds of its difference from the unpatched call in the same round. "
        "*Predecessor*: "
        "`perf_counter` around the call and a tuple appended to a list (timing only). *Python recorder*: the "
        "same hook recording the same facts into a Python list instead of the native recorder.",
        "",
        "| patched call | unpatched | predecessor | Python recorder | **ProfileMate** |",
        "|---|---|---|---|---|",
    ]
    for row in hooks["rows"]:
        lines.append(
            f"| `{row['call']}` | {row['unpatched_ns']:.0f} | {row['predecessor_added_ns']:+.0f} | "
            f"{row['python_recorder_added_ns']:+.0f} | **{row['profilemate_added_ns']:+.0f}** |"
        )
    lines += ["", *real_vllm_section(real), *hook_cost_section(hook_costs), METHOD]
    return "\n".join(lines) + "\n"


METHOD = """## Method

- `pm_record` figures time batches of 4096 accepted events with the writer draining between batches; they
  exclude the timestamp the caller takes (the `clock_gettime` baseline shows what that costs).
- The stress run paces each thread in 1 ms batches; drops there happen when the writer thread does not get
  the CPU in time (on this 2-core machine, shared with builds, it can be descheduled for tens of
  milliseconds); ProfileMate's own threads (CUPTI's buffer callback, the flush thread) wait instead of
  dropping and are not part of it.
- The writer figures encode and write the same replay repeatedly (CPU time per event); the bytes per
  replay come from a synthetic replay stream (`bench/synthetic_session.cpp`), whose regular timestamps
  compress better than a real server's.
- The replay cost subtracts a baseline that lacks the fake CUPTI's own dispatch for a subscriber, so it
  is an upper bound of ProfileMate's part; the cost on a real driver is what `tests/gpu/run_gpu_check.sh`
  measures on a GPU.
- The export figures are wall-clock medians of 3 runs in one process (`BM_ExportTenMillionEvents`), the
  baseline reads the same log into memory and sums its bytes; the CSV files go to the same disk, and
  each timed run starts after `sync` (so that it does not wait for the previous runs' files). The
  export writes whole 4 KiB blocks of its files past the page cache (`O_DIRECT`, where the file system
  takes it): copying the CSV into the cache cost this virtual machine's kernel about as much CPU as
  formatting it, and that cost varied several-fold from run to run. The blocks leave from buffers
  that ask for transparent huge pages: the kernel pins a block's pages for the write and releases
  them when it completes, and a 2 MiB page is one page where 4 KiB pages are 512. The CPU-time rate
  beside each figure moves less than the wall time.
- The command lines' figures (peak resident memory, wall time) are of the compressed logs. Peak resident
  memory is the child's `ru_maxrss`, each command run alone.
- Real vLLM: one process per model records (`VLLM_ENABLE_PROFILING=1`); the engine core runs in it
  (`VLLM_ENABLE_V1_MULTIPROCESSING=0`) with one compute thread (`OMP_NUM_THREADS=1`, unbound:
  OpenMP's spinning threads on a shared machine make run times swing several-fold). After a small
  warm-up generation, every method ProfileMate patched is set back to vLLM's own (off) or to
  ProfileMate's hook (on), for a whole run at a time, then at the start of every engine step in the
  interleaved runs. Wrappers outside ProfileMate's time each engine step and `schedule()` call, and
  `generate()` as a whole (tokens/s). On a shared 2-core machine the run-to-run spread can be
  larger than the 3 % the hooks are meant to stay under: compare the on/off change with the spread
  between runs of the same setting, and with the interleaved figures, whose pairs of adjacent
  steps see the same machine.

Run it again with `scripts/bench.sh` (most of its time goes to the real-vLLM runs); `scripts/bench.sh --quick`
for a smoke run."""


if __name__ == "__main__":
    main()
