#!/usr/bin/env python3
"""Times DuckDB loading one export's tables, from its CSV files or from its Parquet tree, into
in-memory tables (a benchmark, not a test: it prints JSON for bench/performance_report.py).

    bench/duckdb_load.py --csv CSV_DIR --parquet PARQUET_DIR [--repeats 3]

Each repeat loads every table from CSV, then from Parquet, in a fresh in-memory database; the
figures are the medians over repeats. The row counts of each table must agree between the two,
or the script fails: a faster load of different data would mean nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import duckdb


def load_csv(directory: Path) -> tuple[float, dict[str, int]]:
    connection = duckdb.connect()
    rows: dict[str, int] = {}
    start = time.perf_counter()
    for path in sorted(directory.glob("*.csv")):
        table = path.stem
        connection.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, header = true)", [str(path)])
        rows[table] = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    seconds = time.perf_counter() - start
    connection.close()
    return seconds, rows


def load_parquet(directory: Path) -> tuple[float, dict[str, int]]:
    connection = duckdb.connect()
    rows: dict[str, int] = {}
    start = time.perf_counter()
    for path in sorted(p for p in directory.iterdir() if p.is_dir()):
        table = path.name
        pattern = str(path / "**" / "*.parquet")
        connection.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_parquet(?, hive_partitioning = true)", [pattern]
        )
        rows[table] = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    seconds = time.perf_counter() - start
    connection.close()
    return seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--csv", required=True, type=Path, help="an export's CSV directory")
    parser.add_argument("--parquet", required=True, type=Path, help="the same session's Parquet tree")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    csv_seconds, parquet_seconds = [], []
    for _ in range(options.repeats):
        seconds, csv_rows = load_csv(options.csv)
        csv_seconds.append(seconds)
        seconds, parquet_rows = load_parquet(options.parquet)
        parquet_seconds.append(seconds)
        if csv_rows != parquet_rows:
            raise SystemExit(f"duckdb_load: the row counts differ: CSV {csv_rows}, Parquet {parquet_rows}")
    print(
        json.dumps(
            {
                "duckdb_version": duckdb.__version__,
                "repeats": options.repeats,
                "rows": sum(csv_rows.values()),
                "csv_s": statistics.median(csv_seconds),
                "parquet_s": statistics.median(parquet_seconds),
            }
        )
    )


if __name__ == "__main__":
    main()
