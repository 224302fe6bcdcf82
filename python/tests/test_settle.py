"""The package settles as `settle run` does, checks as `settle check` does, explains as
`settle explain` does."""

import csv
import datetime
import decimal
import io
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import settle
from conftest import ROOT, run

SAMPLES = [
    ("policies/dezhou/employee_inpatient.settle", "examples/claims/dezhou_employee.csv"),
    ("policies/dezhou/resident_inpatient.settle", "examples/claims/dezhou_resident.csv"),
    ("policies/taiyuan/two_diseases_outpatient.settle", "examples/claims/taiyuan_two_diseases.csv"),
    ("policies/huangyuan/outpatient_chronic.settle", "examples/claims/huangyuan_chronic.csv"),
    ("policies/out-of-area/non_referred.settle", "examples/claims/out_of_area.csv"),
    ("policies/shandong/resident_base.settle", "examples/claims/shandong_resident.csv"),
    ("policies/weihai/resident.settle", "examples/claims/weihai_resident.csv"),
    ("examples/japan/kogaku_household.settle", "examples/claims/japan_household.csv"),
    ("examples/japan/kogaku_category_u.settle", "examples/claims/japan_kogaku.csv"),
    ("examples/medicare/part_a_inpatient.settle", "examples/claims/medicare_part_a.csv"),
]


def text(value: object) -> str:
    """A cell of a settled table as `settle run` writes it in CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        # Money has two decimals; a rate is written without trailing zeros.
        return str(value) if value.as_tuple().exponent == -2 else format(value.normalize(), "f")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def rows_of(table: pa.Table, line_offset: int) -> list:
    """Every row as the texts of its cells, `line` moved by `line_offset`."""
    names = table.column_names
    out = []
    for record in table.to_pylist():
        cells = [text(record[n]) for n in names]
        cells[0] = str(int(cells[0]) + line_offset)
        out.append(cells)
    return out


def settle_run(policy: str, claims: str, *extra: str) -> list:
    """`settle run`'s CSV rows (the header first)."""
    done = run("run", policy, "--claims", claims, *extra)
    return list(csv.reader(io.StringIO(done.stdout)))


def read_text(path) -> pa.Table:
    """A CSV file with every column read as text, cells as written."""
    names = next(csv.reader(open(path, encoding="utf-8-sig")))
    options = pacsv.ConvertOptions(column_types={n: pa.string() for n in names})
    return pacsv.read_csv(path, convert_options=options)


@pytest.mark.parametrize("backend", ["jit", "interp"])
@pytest.mark.parametrize("policy_path,claims", SAMPLES)
def test_sample_claims_settle_as_settle_run(policy_path, claims, backend):
    policy = settle.Policy.load(ROOT / policy_path)
    expected = settle_run(policy_path, claims)
    assert expected[0] == policy.output_columns
    out = policy.settler(backend).settle(read_text(ROOT / claims))
    assert out.column_names == policy.output_columns
    assert out.schema == policy.output_schema
    # A batch's rows count from 1; a CSV file's from its header's line 1.
    assert rows_of(out, 1) == expected[1:]


def test_a_pandas_frame_with_typed_columns_settles_as_settle_run():
    pd = pytest.importorskip("pandas")
    policy_path, claims = SAMPLES[0]
    policy = settle.Policy.load(ROOT / policy_path)
    types = dict(policy.input_fields)
    dates = [n for n, t in types.items() if t == "date"]
    text_fields = {n: str for n, t in types.items() if t not in ("date", "money", "rate", "int")}
    frame = pd.read_csv(ROOT / claims, dtype=text_fields, parse_dates=dates, keep_default_na=False)
    assert frame[dates[0]].dtype.kind == "M"
    out = policy.settler().settle(frame)
    assert rows_of(out, 1) == settle_run(policy_path, claims)[1:]


def test_state_carried_across_batches_equals_one_batch(tmp_path):
    policy_path = "policies/dezhou/employee_inpatient.settle"
    generated = tmp_path / "claims.csv"
    run("gen", policy_path, "--count", "3000", "--seed", "11", "--out", generated)
    policy = settle.Policy.load(ROOT / policy_path)
    assert policy.settling_order == ["member", "admitted", "id"]
    table = read_text(generated).sort_by([(c, "ascending") for c in policy.settling_order])
    whole = policy.settler().settle(table)
    settler = policy.settler()
    halves = [table.slice(0, 1000), table.slice(1000, 700), table.slice(1700)]
    pieces = pa.concat_tables([settler.settle(h) for h in halves])
    assert pieces.equals(whole)
    # And both are what `settle run` writes for the same claims in the same order.
    sorted_file = tmp_path / "sorted.csv"
    pacsv.write_csv(table, sorted_file)
    assert rows_of(whole, 1) == settle_run(policy_path, sorted_file)[1:]
    assert whole.column("status").to_pylist().count("ok") > 2900


def test_a_policy_with_errors_raises_the_rendered_diagnostics(tmp_path):
    bad = tmp_path / "bad.settle"
    bad.write_text(
        "policy bad\n"
        "input claim { id: text, member: text, date: date, total: money }\n"
        "stage basic (pay: money) { pay = claim.total * claim.date }\n"
        "balance claim.total = basic.pay\n",
        encoding="utf-8",
    )
    with pytest.raises(settle.PolicyError) as caught:
        settle.Policy.load(bad)
    checked = run("check", bad, check=False)
    assert checked.returncode == 1
    assert str(caught.value) == checked.stderr
    diagnostics = caught.value.diagnostics
    assert diagnostics and all(isinstance(d, settle.Diagnostic) for d in diagnostics)
    first = diagnostics[0]
    assert first.code.startswith("settle::") and first.file == str(bad)
    assert first.line == 3 and first.column > 1 and first.help
    assert first.message in checked.stderr


def test_a_policy_that_extends_a_base_loads_it():
    policy = settle.Policy.load(ROOT / "policies/dezhou/resident_inpatient.settle")
    assert ("id", "text") in policy.input_fields
    assert any(t == "money" for _, t in policy.input_fields)


def test_explain_is_the_text_of_settle_explain(tmp_path):
    policy_path, claims = SAMPLES[0]
    table = read_text(ROOT / claims)
    claim = table.slice(0, 1).to_pylist()[0]
    # The claim alone in a JSON Lines file: its line is 1, as for a claim given alone.
    single = tmp_path / "one.jsonl"
    single.write_text(json.dumps(claim) + "\n", encoding="utf-8")
    expected = run("explain", policy_path, "--claims", single, "--claim", claim["id"]).stdout
    policy = settle.Policy.load(ROOT / policy_path)
    assert policy.settler().explain(claim) == expected
    assert policy.settler("interp").explain(claim) == expected


def test_a_missing_column_and_a_bad_cell():
    policy_path, claims = SAMPLES[0]
    policy = settle.Policy.load(ROOT / policy_path)
    table = read_text(ROOT / claims)
    with pytest.raises(ValueError, match="missing column"):
        policy.settler().settle(table.drop_columns([table.column_names[-1]]))
    money = next(n for n, t in policy.input_fields if t == "money")
    cells = table.column(money).to_pylist()
    cells[0] = "12.345"
    bad = table.set_column(table.column_names.index(money), money, pa.array(cells))
    out = policy.settler().settle(bad)
    assert out.column("status")[0].as_py() == "error"
    assert out.column("error")[0].as_py() == (
        f"line 1, field `{money}`: `12.345` has more than two decimals (amounts are exact to the fen)"
    )
    with pytest.raises(TypeError):
        policy.settler().settle([1, 2, 3])
    with pytest.raises(ValueError, match="unknown backend"):
        policy.settler("gpu")
