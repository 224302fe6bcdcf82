"""Type hints for the settle package (see its module docstring)."""

import os
from typing import Any, List, Mapping, NamedTuple, Optional, Tuple, Union

import pyarrow as pa

class Diagnostic(NamedTuple):
    """One problem the checker found."""

    code: str
    message: str
    file: str
    line: int
    column: int
    help: str
    severity: str = ...

class PolicyError(Exception):
    """A policy that does not check: ``str(e)`` is the text ``settle check`` prints."""

    text: str
    diagnostics: List[Diagnostic]
    def __init__(self, text: str, diagnostics: List[Diagnostic]) -> None: ...

class Policy:
    """A checked policy."""

    path: str
    diagnostics: List[Diagnostic]
    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]]) -> Policy:
        """Check a policy file and its bases; raise PolicyError if it has an error."""
    @property
    def name(self) -> str: ...
    @property
    def input_fields(self) -> List[Tuple[str, str]]:
        """The input's fields as (name, type name)."""
    @property
    def id_field(self) -> str: ...
    @property
    def member_field(self) -> str: ...
    @property
    def date_field(self) -> str: ...
    @property
    def group_field(self) -> Optional[str]: ...
    @property
    def settling_order(self) -> List[str]:
        """Member, date, id: the columns that order claims as they settle."""
    @property
    def enums(self) -> dict[str, List[str]]: ...
    @property
    def output_columns(self) -> List[str]:
        """The columns `settle run` writes, in order."""
    @property
    def output_schema(self) -> pa.Schema: ...
    @property
    def warnings(self) -> str: ...
    def settler(self, backend: str = ...) -> Settler:
        """A settler with compiled code (`jit`) or the interpreter (`interp`)."""

class Settler:
    """Settles claims batch after batch, keeping members' and groups' state between them."""

    policy: Policy
    @property
    def backend(self) -> str: ...
    @property
    def note(self) -> Optional[str]: ...
    def settle(self, claims: Any) -> pa.Table:
        """Settle a pyarrow RecordBatch or Table, or a pandas DataFrame, of claims."""
    def settle_batch(self, claims: pa.RecordBatch) -> pa.RecordBatch: ...
    def explain(self, claim: Mapping[str, Any]) -> str:
        """The text `settle explain` prints for one claim."""
