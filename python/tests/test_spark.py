"""settle on a real standalone Spark cluster: every row as `settle run` writes it.

The cluster (a master and two workers on 127.0.0.1) is started by scripts/spark-cluster.sh and
stopped after the tests, whatever happens. `settle gen` draws the claims (SETTLE_SPARK_CLAIMS,
200,000 by default) for Dezhou's employee inpatient policy; `settle run` settles them once, and
Spark settles them twice: on the whole cluster, then with one worker killed (SIGKILL, with its
executor) while the settling stage runs. Both times every cell of every row, read back from
Spark's Parquet and written as `settle run` writes it, is the text of `settle run`'s CSV.

Without Java or pyspark the tests are skipped, except under CI (`CI` set), where they fail.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import ROOT, run

POLICY = ROOT / "policies" / "dezhou" / "employee_inpatient.settle"
CLAIMS = int(os.environ.get("SETTLE_SPARK_CLAIMS", "200000"))
#: Seconds one Spark job may take before the test fails (a debug build on 2 busy cores).
JOB_TIMEOUT = float(os.environ.get("SETTLE_SPARK_JOB_TIMEOUT", "600"))
CLUSTER = ROOT / "scripts" / "spark-cluster.sh"


def unavailable(why: str) -> None:
    """Fail under CI, where the Spark test must run; skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A master and two workers, started for this module and stopped after it."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        unavailable("pyspark is not installed (scripts/spark-cluster.sh setup)")
    state = tmp_path_factory.mktemp("spark")
    env = {**os.environ, "SPARK_CLUSTER_DIR": str(state), "SETTLE_PY": sys.prefix}
    started = subprocess.run(
        ["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=240
    )
    try:
        if started.returncode != 0:
            unavailable(f"the Spark cluster did not start:\n{started.stderr}")
        info = dict(line.split("=", 1) for line in (state / "cluster.env").read_text().splitlines())
        info["SPARK_CLUSTER_DIR"] = str(state)
        yield info
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop"], env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def spark(cluster: dict[str, str]) -> Iterator[Any]:
    """A session of this process on the cluster. Executors run the packed environment
    SETTLE_SPARK_ARCHIVE (scripts/spark-pack.sh) when it is set, this Python otherwise."""
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    builder = SparkSession.builder
    # A session started in this process takes the executors' Python from PYSPARK_PYTHON
    # (spark.pyspark.python is read by spark-submit only).
    archive = os.environ.get("SETTLE_SPARK_ARCHIVE")
    if archive:
        builder = builder.config("spark.archives", f"{archive}#environment")
        os.environ["PYSPARK_PYTHON"] = "./environment/bin/python"
    else:
        os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        builder.master(cluster["SPARK_MASTER_URL"])
        .appName("settle-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[list[str]]]:
    """The generated claims, and `settle run`'s settlements of them: header and rows by id."""
    folder = tmp_path_factory.mktemp("claims")
    path = folder / "claims.csv"
    run("gen", POLICY, "--count", CLAIMS, "--seed", "21", "--out", path)
    expected = folder / "settlements.csv"
    run("run", POLICY, "--claims", path, "--out", expected)
    with expected.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return path, rows[0], sorted(rows[1:], key=by_id(rows[0]))


def by_id(header: list[str]) -> Any:
    i, line = header.index("id"), header.index("line")
    return lambda row: (row[i], int(row[line]))


def text(value: Any) -> str:
    """A cell as `settle run` writes it in CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def spark_rows(out: Path, header: list[str]) -> list[list[str]]:
    """The settlements Spark wrote to `out` (Parquet), as CSV text, in `settle run`'s column
    order, sorted by id."""
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert table.column_names == header
    columns = [table.column(name).to_pylist() for name in header]
    rows = [[text(v) for v in row] for row in zip(*columns, strict=True)]
    return sorted(rows, key=by_id(header))


def assert_identical(got: list[list[str]], want: list[list[str]], header: list[str]) -> None:
    """Every row and every cell equal; the first differences named by claim and column."""
    assert len(got) == len(want), f"{len(got)} rows from Spark, {len(want)} from settle run"
    differences = [
        f"claim {w[1]}: `{name}` {g[i]!r} on Spark, {w[i]!r} from settle run"
        for g, w in zip(got, want, strict=True)
        for i, name in enumerate(header)
        if g[i] != w[i]
    ]
    assert not differences, f"{len(differences)} cells differ:\n" + "\n".join(differences[:20])


def settle_on_spark(spark: Any, claims: Path, out: Path, partitions: int) -> threading.Thread:
    """Start settling `claims` into `out` (Parquet) on a thread of its own."""
    from settle.spark import read_claims, settle_dataframe

    failure: list[BaseException] = []

    def job() -> None:
        try:
            spark.sparkContext.setJobGroup("settle", "settle the generated claims")
            df = settle_dataframe(read_claims(spark, str(claims)), POLICY, partitions=partitions)
            df.write.mode("overwrite").parquet(str(out))
        except BaseException as e:  # noqa: BLE001 - carried to the test's thread
            failure.append(e)

    thread = threading.Thread(target=job, daemon=True)
    thread.failure = failure  # type: ignore[attr-defined]
    thread.start()
    return thread


def finish(spark: Any, thread: threading.Thread, started: float) -> None:
    thread.join(max(0.0, JOB_TIMEOUT - (time.monotonic() - started)))
    if thread.is_alive():
        spark.sparkContext.cancelJobGroup("settle")
        pytest.fail(f"the Spark job did not finish within {JOB_TIMEOUT} s")
    if thread.failure:  # type: ignore[attr-defined]
        raise thread.failure[0]  # type: ignore[attr-defined]


def rest(spark: Any, path: str) -> Any:
    """The driver's monitoring REST API (`/api/v1/applications/<app>/<path>`)."""
    context = spark.sparkContext
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/{path}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def test_every_row_as_settle_run_writes_it(spark: Any, claims: Any, tmp_path: Path) -> None:
    path, header, want = claims
    out = tmp_path / "settlements.parquet"
    started = time.monotonic()
    finish(spark, settle_on_spark(spark, path, out, partitions=4), started)
    assert_identical(spark_rows(out, header), want, header)


def test_a_worker_killed_mid_job(
    spark: Any, cluster: dict[str, str], claims: Any, tmp_path: Path
) -> None:
    path, header, want = claims
    out = tmp_path / "settlements.parquet"
    partitions = 12  # more than the input's splits: the settling stage is the one of 12 tasks
    started = time.monotonic()
    thread = settle_on_spark(spark, path, out, partitions)
    tracker = spark.sparkContext.statusTracker()
    killed = False
    while thread.is_alive() and not killed and time.monotonic() - started < JOB_TIMEOUT:
        for stage in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage)
            if (
                info
                and info.numTasks == partitions
                and info.numCompletedTasks >= 1
                and info.numActiveTasks >= 1
            ):
                subprocess.run(
                    ["bash", str(CLUSTER), "kill-worker", "1"],
                    env={**os.environ, "SPARK_CLUSTER_DIR": cluster["SPARK_CLUSTER_DIR"]},
                    check=True,
                )
                killed = True
                break
        time.sleep(0.2)
    assert killed, "the settling stage ended before a worker could be killed in it"
    finish(spark, thread, started)
    failed = sum(s["numFailedTasks"] for s in rest(spark, "stages?details=false"))
    lost = [e for e in rest(spark, "allexecutors") if not e["isActive"] and e["id"] != "driver"]
    assert lost, "no executor was lost"
    assert failed >= 1, "no task failed with the killed worker: nothing was retried"
    assert_identical(spark_rows(out, header), want, header)
