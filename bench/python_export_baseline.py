"""The obvious Python converter, as a baseline for the export benchmark.

Debian's python3-protobuf and the csv module: reads a process log record by record and writes
its graph replays as CSV rows (the columns of cuda_graph_replays.csv that need no other record).
Prints one line: records read, replay rows written, seconds, records/s.

Usage: /usr/bin/python3 python_export_baseline.py PROTO_FILE LOG OUT_CSV [MAX_RECORDS]
"""

import csv
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def load_schema(proto_file: Path):
    """Generates profilemate_pb2 with protoc --python_out into a temporary directory."""
    out = tempfile.mkdtemp(prefix="profilemate_pb2_")
    subprocess.run(
        ["protoc", f"-I{proto_file.parent}", f"--python_out={out}", str(proto_file)],
        check=True,
    )
    sys.path.insert(0, out)
    return importlib.import_module(proto_file.stem + "_pb2")


def frames(data: bytes):
    """Yields each record's bytes: a varint length, then the encoded Record."""
    pos = 0
    end = len(data)
    while pos < end:
        size = 0
        shift = 0
        while True:
            byte = data[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        yield data[pos : pos + size]
        pos += size


def main() -> None:
    proto_file, log, out_csv = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    max_records = int(sys.argv[4]) if len(sys.argv) > 4 else None
    pb = load_schema(proto_file)
    began = time.perf_counter()
    data = log.read_bytes()
    records = 0
    rows = 0
    header = None
    with out_csv.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "timestamp_sec",
                "pid",
                "time_unix_ns",
                "thread",
                "stream_id",
                "exec_id",
                "cpu_launch_us",
                "gpu_start_unix_ns",
                "gpu_duration_us",
                "launch_to_gpu_start_us",
            ]
        )
        for frame in frames(data):
            record = pb.Record.FromString(frame)
            records += 1
            if header is None:
                header = record.header
                start = header.start_realtime_ns
                continue
            if record.WhichOneof("event") == "graph_replay":
                r = record.graph_replay
                when = start + r.cpu_enter_ns
                has_gpu = r.HasField("gpu_duration_ns")
                writer.writerow(
                    [
                        f"{(when - start) * 1e-9:.6f}",
                        header.pid,
                        when,
                        r.thread,
                        r.stream_id,
                        r.exec_id,
                        f"{r.cpu_duration_ns * 1e-3:.3f}",
                        when + r.gpu_start_offset_ns if has_gpu else "",
                        f"{r.gpu_duration_ns * 1e-3:.3f}" if has_gpu else "",
                        f"{r.gpu_start_offset_ns * 1e-3:.3f}" if has_gpu else "",
                    ]
                )
                rows += 1
            if max_records is not None and records >= max_records:
                break
    seconds = time.perf_counter() - began
    print(f"{records} {rows} {seconds:.3f} {records / seconds:.0f}")


if __name__ == "__main__":
    main()
