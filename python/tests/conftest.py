"""What the tests share: the repository's root and the `settle` command they compare with."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def settle_command() -> Path:
    """The `settle` binary: $SETTLE_BIN, else the workspace's debug build (`cargo build`)."""
    path = Path(os.environ.get("SETTLE_BIN", ROOT / "target" / "debug" / "settle"))
    if not path.exists():
        pytest.fail(f"{path} is missing: build the CLI first (`cargo build`) or set SETTLE_BIN")
    return path


@pytest.fixture(scope="session")
def settle_bin() -> Path:
    return settle_command()


def run(*args: object, check: bool = True) -> subprocess.CompletedProcess:
    """Run `settle` with `args` from the repository's root, capturing its output."""
    return subprocess.run(
        [str(settle_command()), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "NO_COLOR": "1"},
    )
