"""`profilemate export --type parquet`, read back by the engines users have: pyarrow and DuckDB.

The golden session is exported to CSV and to Parquet; every table's Parquet rows must be the CSV's
rows, cell by cell (nulls for empty cells and num_reqs' `None`), and DuckDB's sums and percentiles
over the Parquet files must equal its own over the CSV files. The Arrow types must be the ones
docs/parquet.md states. Two sessions' trees copied into one must read as one table.

A build without Parquet support (PROFILEMATE_PARQUET=OFF, or no pyarrow when it was configured)
must refuse `--type parquet` with a message saying what to install; the read-back tests are then
skipped, unless this Python has pyarrow: then the build should have found it, and that is a
failure (a CI machine configured wrongly must not pass by skipping).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD = Path(os.environ.get("PROFILEMATE_BUILD_DIR", ROOT / "build"))
CLI = BUILD / "tools" / "profilemate"
GOLDEN = HERE.parent / "golden" / "synthetic" / "session"
OTHER_SESSION = HERE.parent / "golden" / "reports" / "session_b"
BUILD_HAS_PARQUET = os.environ.get("PROFILEMATE_BUILD_HAS_PARQUET") == "1"
HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None

if not BUILD_HAS_PARQUET and HAVE_PYARROW:
    pytest.fail(
        "this Python has pyarrow but the build has no Parquet support: reconfigure with -DPROFILEMATE_PARQUET=ON "
        f"-DPROFILEMATE_ARROW_PYTHON=<this python> (build: {BUILD})",
        pytrace=False,
    )
needs_parquet = pytest.mark.skipif(not BUILD_HAS_PARQUET, reason="this build has no Parquet support (no pyarrow)")


def export(session: Path, out: Path, kind: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), "export", str(session), "--type", kind, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The golden session as CSV files and as Parquet datasets."""
    root = tmp_path_factory.mktemp("export")
    for kind in ("csv", "parquet"):
        done = export(GOLDEN, root / kind, kind)
        assert done.returncode == 0, done.stderr
    return root / "csv", root / "parquet"


def documented_types() -> dict[str, set[str]]:
    """docs/parquet.md's type table: the names in the string and bool rows."""
    named: dict[str, set[str]] = {}
    for line in (ROOT / "docs" / "parquet.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| (string|bool)\b[^|]*\| (.*) \|$", line)
        if match:
            named[match.group(1)] = {name.strip() for name in match.group(2).split(",")}
    assert set(named) == {"string", "bool"}, "docs/parquet.md's type table was not found"
    return named


def expected_type(name: str, named: dict[str, set[str]]):
    import pyarrow as pa

    if name in named["string"]:
        return pa.dictionary(pa.int32(), pa.utf8())
    if name in named["bool"]:
        return pa.bool_()
    if re.fullmatch(r".*_(sec|ms|us|pct)|percentage", name):
        return pa.float64()
    return pa.int64()


def csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, list(reader)


def as_csv_cell(value, csv_cell: str) -> str:
    """A Parquet value as the CSV spells it, given the CSV's cell (for its decimals)."""
    if value is None:
        return "None" if csv_cell == "None" else ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        decimals = len(csv_cell.partition(".")[2])
        return f"{value:.{decimals}f}"
    if isinstance(value, str) and csv_cell.startswith("'") and csv_cell[1:] == value:
        return csv_cell  # the CSV's guard against formula injection
    return str(value)


@needs_parquet
def test_every_table_is_the_csv_typed(exported: tuple[Path, Path]) -> None:
    import pyarrow.dataset as ds

    csv_dir, parquet_dir = exported
    named = documented_types()
    tables = sorted(p.stem for p in csv_dir.glob("*.csv"))
    assert len(tables) == 12
    assert sorted(p.name for p in parquet_dir.iterdir()) == tables, "one dataset per CSV file"
    for table in tables:
        header, rows = csv_rows(csv_dir / f"{table}.csv")
        files = list((parquet_dir / table).glob("session=*/hostname=*/part-0.parquet"))
        assert files, f"{table}: no file in the session=/hostname= layout"
        data = ds.dataset(parquet_dir / table, format="parquet").to_table()
        assert data.column_names == [*header, "session_id"], table
        for field in data.schema:
            assert field.type == expected_type(field.name, named), f"{table}.{field.name}: {field.type}"
        assert data.num_rows == len(rows), table
        assert set(data.column("session_id").to_pylist()) <= {GOLDEN.name}, table
        # One host and session here: one partition, in the CSV's order.
        columns = [data.column(name).to_pylist() for name in header]
        for at, row in enumerate(rows):
            got = [as_csv_cell(column[at], cell) for column, cell in zip(columns, row, strict=True)]
            assert got == row, f"{table} row {at + 1}"


@needs_parquet
def test_duckdb_sums_and_percentiles_equal_the_csv(exported: tuple[Path, Path]) -> None:
    import duckdb

    csv_dir, parquet_dir = exported
    checks = {
        "cuda_graph_replays": ["cpu_launch_us", "gpu_duration_us", "num_tokens"],
        "cuda_graph_usage": ["replay_count", "gpu_time_total_ms"],
        "batch_utilization": ["num_tokens", "schedule_time_ms", "num_seqs"],
        "forward_pass_timing": ["forward_time_ms", "num_tokens"],
        "moe_expert_selection": ["activation_count"],
        "kv_cache_usage": ["usage_pct", "num_blocks"],
    }
    connection = duckdb.connect()
    for table, columns in checks.items():
        aggregates = ", ".join(
            f"count({c}), sum({c}), quantile_disc({c}, 0.5), quantile_disc({c}, 0.99), max({c})" for c in columns
        )
        parquet = connection.execute(
            f"SELECT count(*), {aggregates} FROM read_parquet('{parquet_dir}/{table}/**/*.parquet')"
        ).fetchone()
        from_csv = connection.execute(
            f"SELECT count(*), {aggregates} FROM read_csv('{csv_dir}/{table}.csv', header = true)"
        ).fetchone()
        assert parquet[0] > 0, f"{table}: no rows to compare"
        assert parquet == pytest.approx(from_csv, rel=1e-12), table


@needs_parquet
def test_a_query_across_two_sessions_copied_into_one_tree(tmp_path: Path) -> None:
    import duckdb
    import pyarrow.dataset as ds

    tree = tmp_path / "tree"
    counts = {}
    for session in (GOLDEN, OTHER_SESSION):
        done = export(session, tmp_path / session.name, "parquet")
        assert done.returncode == 0, done.stderr
        shutil.copytree(tmp_path / session.name, tree, dirs_exist_ok=True)
        counts[session.name] = ds.dataset(tmp_path / session.name / "cuda_graph_usage", format="parquet").count_rows()
    got = duckdb.sql(
        f"SELECT session, hostname, session_id, count(*), sum(replay_count) "
        f"FROM read_parquet('{tree}/cuda_graph_usage/**/*.parquet', hive_partitioning = true) "
        f"GROUP BY ALL ORDER BY session"
    ).fetchall()
    assert [(row[0], row[2], row[3]) for row in got] == [(name, name, counts[name]) for name in sorted(counts)]
    assert all(row[1] == "vm" and row[4] > 0 for row in got), got
    # pyarrow's reading of the same tree, the partition keys as columns.
    dataset = ds.dataset(tree / "cuda_graph_usage", format="parquet", partitioning="hive")
    assert set(dataset.to_table(columns=["session"]).column("session").to_pylist()) == set(counts)


@pytest.mark.skipif(BUILD_HAS_PARQUET, reason="this build has Parquet support")
def test_a_build_without_parquet_says_what_to_install(tmp_path: Path) -> None:
    done = export(GOLDEN, tmp_path / "out", "parquet")
    assert done.returncode == 2, done.stderr
    assert "without Parquet support" in done.stderr and "pip install pyarrow" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists(), "nothing written"
