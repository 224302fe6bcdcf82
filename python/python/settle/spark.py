"""Settle a Spark DataFrame of claims with a settle policy, on any Spark cluster.

`settle_dataframe` partitions the claims by member, so that each member's year-to-date state
stays with one task, and settles each partition's Arrow batches with one
`settle.Settler` (`mapInArrow`). The rows are those `settle run` writes for the same claims.

How a partition is settled:

* The claims are repartitioned by the member, read as `settle` reads a member (without the
  spaces around it, so that ``m1`` and ``" m1"`` are one member on one task), and sorted within
  each partition by that member, then by the `order` columns.
* Batches are handed to the settler cut at member boundaries: the rows of a partition's last
  member in a batch wait for the next batch. The settler therefore sees each member's claims
  whole, in one call, and orders them by the policy's date and the claim id itself, as
  `settle run` does: the result does not depend on Spark's batch size or on how the input was
  sorted.
* The policy's text (and the files it `extends`) is read on the driver and travels in the
  task's closure; each Python worker loads and compiles it once.

What differs from one `settle run` over the same claims, by construction:

* `line` is a column of the input (by default the one named ``line``), which
  ``python -m settle.spark`` adds when it reads a file: a Spark DataFrame has no line numbers.
  Without it the output's `line` is null.
* A claim id seen before is reported as a duplicate only when both claims are of the same
  member (they are on one task); `settle run` compares every claim of the file.
* A policy whose totals span members (groups) must be partitioned by the group's key: pass
  that column as `member`.

Command line (the output is a directory of Parquet or CSV part files)::

    python -m settle.spark --policy P --input claims.csv --output DIR --master spark://HOST:7077
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["PolicySources", "settle_dataframe", "main"]

#: The column that carries the partitioning key between Spark and the settling function.
_KEY = "__settle_member_key"

#: What `settle` trims from both ends of a field: Unicode's White_Space characters and the
#: byte order mark (docs/running.md, "Spaces"), as a Java regular expression for Spark.
_TRIM = r"(?U)^[\s\x{FEFF}]+|[\s\x{FEFF}]+$"

_EXTENDS = re.compile(r'^\s*extends\s+"((?:[^"\\]|\\.)*)"', re.MULTILINE)


class PolicySources:
    """A policy's text and the text of every file it extends, to load where the files are not.

    The files are found by following each ``extends "..."`` line from the policy file; the
    driver then loads the policy from a copy of exactly these files, so a file that the scan
    missed fails on the driver, before any task runs.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read the policy at `path` and the files it extends, transitively."""
        main = Path(path).resolve()
        files: dict[Path, str] = {}
        pending = [main]
        while pending:
            file = pending.pop()
            if file in files:
                continue
            text = file.read_text(encoding="utf-8")
            files[file] = text
            pending.extend((file.parent / m.group(1)).resolve() for m in _EXTENDS.finditer(text))
        root = Path(os.path.commonpath([f.parent for f in files]))
        #: Each file's text by its path relative to the files' common folder.
        self.files: dict[str, str] = {str(f.relative_to(root)): t for f, t in files.items()}
        #: The policy file's path relative to that folder.
        self.main: str = str(main.relative_to(root))
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        #: A digest of every file's name and text: two equal digests are the same policy.
        self.digest: str = digest.hexdigest()

    def stage(self) -> Path:
        """Write the files into a new temporary folder; return the policy file's path there."""
        root = Path(tempfile.mkdtemp(prefix=f"settle-policy-{self.digest[:12]}-"))
        for name, text in self.files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return root / self.main

    def load(self):  # -> settle.Policy
        """Load the policy from a staged copy of its files, once per process."""
        policy = _LOADED.get(self.digest)
        if policy is None:
            import settle

            policy = settle.Policy.load(str(self.stage()))
            _LOADED[self.digest] = policy
        return policy


#: Policies loaded (and compiled) in this process, by `PolicySources.digest`.
_LOADED: dict[str, object] = {}


def _output_schema(policy) -> pa.Schema:
    """The Arrow schema of the settlements, with `line` nullable (it comes from the input)."""
    schema = policy.output_schema
    at = schema.get_field_index("line")
    return schema.set(at, pa.field("line", pa.int64(), nullable=True))


def _settle_batches(
    sources: PolicySources,
    backend: str,
    schema: pa.Schema,
    line: str | None,
    batches: Iterable[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """Settle one partition's batches, sorted by member key, with one settler.

    Each batch is cut after its last complete member; the last member's rows are settled with
    the next batch, so that every member's claims reach the settler in one call.
    """
    settler = sources.load().settler(backend=backend)
    pending: pa.Table | None = None

    def settle(table: pa.Table) -> Iterator[pa.RecordBatch]:
        out = settler.settle(table.drop_columns([_KEY]))
        if out.num_rows != table.num_rows:
            raise RuntimeError("the settler did not return one row per claim")
        lines = table.column(line) if line is not None and line in table.column_names else None
        lines = pa.nulls(table.num_rows, pa.int64()) if lines is None else lines.cast(pa.int64())
        out = out.set_column(out.schema.get_field_index("line"), "line", lines)
        yield from out.cast(schema).to_batches()

    for batch in batches:
        table = pa.Table.from_batches([batch])
        if pending is not None:
            table = pa.concat_tables([pending, table])
        if table.num_rows == 0:
            continue
        keys = table.column(_KEY)
        last = keys[table.num_rows - 1]
        # Keys are sorted, nulls first: a null last key means every key of the table is null.
        cut = pc.index(keys, last).as_py() if last.is_valid else 0
        pending = table.slice(cut)
        if cut > 0:
            yield from settle(table.slice(0, cut))
    if pending is not None and pending.num_rows > 0:
        yield from settle(pending)


def settle_dataframe(
    df: DataFrame,
    policy_path: str | os.PathLike[str],
    *,
    backend: str = "jit",
    member: str = "member",
    order: Sequence[str] = ("id",),
    line: str | None = "line",
    partitions: int | None = None,
) -> DataFrame:
    """Settle the claims of `df` with the policy at `policy_path`; return the settlements.

    `df` has a column for each of the policy's input fields (text, as read from CSV, or of the
    field's type); other columns are ignored. The result has the columns `settle run` writes
    (``line``, ``id``, ``member``, ``status``, ``error``, then each output and accumulator),
    typed as the settler types them, one row per claim.

    Args:
        df: the claims.
        policy_path: the policy file, read on the driver (with the files it extends).
        backend: ``"jit"`` or ``"interp"``, as `settle run --backend`.
        member: the column whose claims share year-to-date state: the member, or the key of
            the groups of a policy with group totals.
        order: the columns that order a partition's rows after the member (the settler orders
            each member's claims by the policy's date and id whatever this order is).
        line: the input column that becomes the output's ``line``; None, or a name that `df`
            lacks, leaves ``line`` null.
        partitions: the number of partitions (tasks that settle); None for the cluster's
            cores (``spark.default.parallelism``).

    Raises:
        settle.PolicyError: the policy does not load (on the driver, before any task).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StringType

    sources = PolicySources(policy_path)
    policy = sources.load()
    schema = _output_schema(policy)
    spark_schema = from_arrow_schema(schema)

    key = F.col(member)
    if isinstance(df.schema[member].dataType, StringType):
        key = F.regexp_replace(key, _TRIM, "")
    wanted = {name for name, _ in policy.input_fields}
    if line is not None and line in df.columns:
        wanted.add(line)
    claims = df.select(*[F.col(f"`{c}`") for c in df.columns if c in wanted], key.alias(_KEY))
    partitions = partitions or df.sparkSession.sparkContext.defaultParallelism
    claims = claims.repartition(partitions, _KEY).sortWithinPartitions(_KEY, *order)

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _settle_batches(sources, backend, schema, line, batches)

    return claims.mapInArrow(run, spark_schema)


def with_line_numbers(df: DataFrame, first: int) -> DataFrame:
    """Number the rows of `df` as they are in its files: `first`, `first` + 1, ...

    For a DataFrame just read from a file: its partitions are the file's splits in order, and
    each partition's rows are in file order. One extra job counts each partition's rows.
    """
    from pyspark.sql import functions as F

    mid = F.monotonically_increasing_id()
    numbered = df.withColumn("__settle_row", mid)
    # monotonically_increasing_id holds the partition in its upper 31 bits, the row in the rest.
    part = F.shiftright(F.col("__settle_row"), 33)
    counts = numbered.groupBy(part.alias("p")).count().collect()
    offsets: dict[int, int] = {}
    total = first
    for row in sorted(counts, key=lambda r: r["p"]):
        offsets[row["p"]] = total
        total += row["count"]
    start = F.create_map(*[x for p, o in offsets.items() for x in (F.lit(p), F.lit(o))])
    row_in_part = F.col("__settle_row").bitwiseAND(F.lit((1 << 33) - 1))
    return numbered.withColumn("line", (start[part] + row_in_part).cast("long")).drop(
        "__settle_row"
    )


def read_claims(spark: SparkSession, path: str) -> DataFrame:
    """Read a claims file as `settle run` reads it: CSV (every column as text) or Parquet.

    Rows are numbered in `line` as `settle run` numbers them: from 2 in CSV (line 1 is the
    header; a record must not span lines), from 1 in Parquet.
    """
    if path.endswith(".parquet"):
        return with_line_numbers(spark.read.parquet(path), 1)
    df = spark.read.csv(
        path, header=True, inferSchema=False, escape='"', multiLine=False, encoding="UTF-8"
    )
    return with_line_numbers(df, 2)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m settle.spark``: settle a claims file on Spark into a directory."""
    parser = argparse.ArgumentParser(
        prog="python -m settle.spark", description="Settle a claims file on Spark."
    )
    parser.add_argument("--policy", required=True, help="the .settle policy file")
    parser.add_argument("--input", required=True, help="claims: .csv or .parquet")
    parser.add_argument("--output", required=True, help="the directory of settlements")
    parser.add_argument("--master", help="the Spark master URL (default: spark-submit's)")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--backend", choices=["jit", "interp"], default="jit")
    parser.add_argument("--member", default="member", help="the partitioning column")
    parser.add_argument("--partitions", type=int, help="the number of partitions")
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession

    import settle

    builder = SparkSession.builder.appName("settle")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    started = time.monotonic()
    try:
        claims = read_claims(spark, os.path.abspath(args.input))
        out = settle_dataframe(
            claims,
            args.policy,
            backend=args.backend,
            member=args.member,
            partitions=args.partitions,
        )
        writer = out.write.mode("overwrite")
        if args.format == "csv":
            writer.csv(args.output, header=True, escape='"')
        else:
            writer.parquet(args.output)
    except settle.PolicyError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print(
        f"settled {args.input} into {args.output} in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    # Run as a file (`spark-submit .../settle/spark.py`) or with `python -m`: call the installed
    # module's `main`, so that the functions shipped to executors are `settle.spark`'s, which
    # executors import, rather than copies of this `__main__`.
    from settle.spark import main as _main

    sys.exit(_main())
