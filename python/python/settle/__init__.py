"""Settle medical-insurance claims with checked settle policies, from Python.

A policy is checked exactly as ``settle check`` checks it (its ``extends`` bases loaded
relative to it); claims come in as a pyarrow ``RecordBatch`` or ``Table`` (or a pandas
``DataFrame``) whose columns are the policy's input fields, and settlements go out as a pyarrow
``Table`` with the rows and columns ``settle run`` writes. Arrow data crosses into the native
module by the Arrow C data interface, without a copy of any column.

>>> import settle
>>> policy = settle.Policy.load("policies/dezhou/employee_inpatient.settle")
>>> settler = policy.settler()
>>> out = settler.settle(claims)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
from typing import Any, List, Mapping, NamedTuple, Optional, Tuple, Union

import pyarrow as pa

from . import _settle

__all__ = ["Diagnostic", "Policy", "PolicyError", "Settler"]


class Diagnostic(NamedTuple):
    """One problem the checker found, as ``settle check --format json`` reports it."""

    code: str
    """The stable code, such as ``settle::type::mismatch``."""
    message: str
    """What is wrong."""
    file: str
    """The file it is in (a base the policy extends, or the policy)."""
    line: int
    """The line where it starts, from 1."""
    column: int
    """The column where it starts, in characters from 1."""
    help: str
    """What to do about it."""
    severity: str = "error"
    """``error`` or ``warning``."""


class PolicyError(Exception):
    """A policy that does not check: ``str(e)`` is the text ``settle check`` prints for it."""

    def __init__(self, text: str, diagnostics: List[Diagnostic]) -> None:
        super().__init__(text)
        self.text = text
        """The rendered diagnostics, exactly as ``settle check`` prints them."""
        self.diagnostics = diagnostics
        """Every problem found, errors and warnings, sorted by file and position."""

    def __str__(self) -> str:
        return self.text


class Policy:
    """A checked policy. Load one with :meth:`Policy.load`."""

    def __init__(self, inner: Any, path: str, diagnostics: List[Diagnostic]) -> None:
        self._inner = inner
        self.path = path
        """The file it was loaded from."""
        self.diagnostics = diagnostics
        """The warnings the check found (a policy with an error does not load)."""

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Policy":
        """Check the policy file at ``path`` and its bases; raise :class:`PolicyError` if it has
        an error, ``OSError`` if it cannot be read."""
        path = os.fspath(path)
        inner, text, diagnostics = _settle.load(path)
        found = [Diagnostic(*d) for d in diagnostics]
        if inner is None:
            raise PolicyError(text, found)
        return cls(inner, path, found)

    @property
    def name(self) -> str:
        """The policy's name (``policy <name>``)."""
        return self._inner.name

    @property
    def input_fields(self) -> List[Tuple[str, str]]:
        """The input's fields as ``(name, type name)``: ``text``, ``date``, ``money``, ``int``,
        ``bool``, ``rate``, or an enum's name."""
        return self._inner.input_fields

    @property
    def id_field(self) -> str:
        """The input field holding the claim's id."""
        return self._inner.key_fields[0]

    @property
    def member_field(self) -> str:
        """The input field holding the member's id: a member's claims share their running
        totals."""
        return self._inner.key_fields[1]

    @property
    def date_field(self) -> str:
        """The date field that orders a member's claims and decides the medical year and the
        parameters in force."""
        return self._inner.key_fields[2]

    @property
    def group_field(self) -> Optional[str]:
        """The input field keying the policy's group totals (claims sharing it share those
        totals), or ``None`` when it has none."""
        return self._inner.key_fields[3]

    @property
    def settling_order(self) -> List[str]:
        """The columns that order claims as they settle: member, date, id (sort a table by them
        before cutting it into batches for one :class:`Settler`)."""
        return [self.member_field, self.date_field, self.id_field]

    @property
    def enums(self) -> dict:
        """Each enum's variants, by the enum's name."""
        return dict(self._inner.enums)

    @property
    def output_columns(self) -> List[str]:
        """The columns ``settle run`` writes, in order: ``line``, ``id``, ``member``,
        ``status``, ``error``, the stages' outputs, then the accumulators."""
        return self._inner.output_columns

    @property
    def output_schema(self) -> pa.Schema:
        """The Arrow schema of :meth:`Settler.settle`'s tables."""
        return self._inner.output_schema().schema

    @property
    def warnings(self) -> str:
        """The warnings of the check, rendered as ``settle check`` prints them (or empty)."""
        return self._inner.warnings

    def settler(self, backend: str = "jit") -> "Settler":
        """A :class:`Settler` settling with compiled code (``jit``) or the interpreter
        (``interp``). A policy the compiler refuses settles with the interpreter
        (:attr:`Settler.note` says why)."""
        return Settler(self._inner.settler(backend), self)

    def __repr__(self) -> str:
        return f"Policy({self.path!r})"


def _batches(data: Any) -> List[pa.RecordBatch]:
    if isinstance(data, pa.RecordBatch):
        return [data]
    if isinstance(data, pa.Table):
        return data.to_batches()
    if type(data).__module__.split(".")[0] == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False).to_batches()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data).read_all().to_batches()
    raise TypeError(
        f"cannot settle a {type(data).__name__}: give a pyarrow RecordBatch or Table, "
        "or a pandas DataFrame"
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"a claim's value cannot be a {type(value).__name__}")


class Settler:
    """Settles claims batch after batch, keeping each member's (and group's) year-to-date state
    and the claim ids seen between batches.

    Claims are settled as ``settle run`` settles a file: each member's by date, then id, then
    position. A member's claims may be spread over several batches when each batch's come after
    the previous batches' in that order (as when a table sorted by member, date and id is cut
    into batches): the settlements are then those of one batch of them all.
    """

    def __init__(self, inner: Any, policy: Policy) -> None:
        self._inner = inner
        self.policy = policy
        """The policy it settles."""

    @property
    def backend(self) -> str:
        """``jit`` or ``interp``: what settles the claims."""
        return self._inner.backend

    @property
    def note(self) -> Optional[str]:
        """Why compiled code was refused when ``jit`` was asked for; ``None`` otherwise."""
        return self._inner.note

    def settle(self, claims: Any) -> pa.Table:
        """Settle a pyarrow ``RecordBatch`` or ``Table`` (or a pandas ``DataFrame``) of claims.

        Its columns are bound by name to the policy's input fields (others are ignored). Typed
        columns are read as they are: integers, ``decimal128`` money and rates, ``date32`` (or
        timestamps at midnight), ``bool``; text columns (and any other cell) are read as
        ``settle run`` reads a CSV cell. Returns one row per claim, in order, with the columns of
        :attr:`Policy.output_columns`: ``status`` is ``ok`` or ``error`` and ``error`` says why
        (naming the field of a cell that cannot be read); ``line`` counts the rows given to this
        settler from 1. Raises ``ValueError`` when a field's column is missing.
        """
        return pa.Table.from_batches([self._inner.settle(_batches(claims))])

    def settle_batch(self, claims: pa.RecordBatch) -> pa.RecordBatch:
        """:meth:`settle` for one ``RecordBatch``, returning one ``RecordBatch``."""
        return self._inner.settle([claims])

    def explain(self, claim: Mapping[str, Any]) -> str:
        """The text ``settle explain`` prints for ``claim`` (a mapping from the input's field
        names to values: strings, numbers, ``Decimal``, ``date``, ``bool``), explained as the
        only claim of its file. Raises ``ValueError`` if a field cannot be read."""
        return self._inner.explain(json.dumps(dict(claim), default=_json_value))
