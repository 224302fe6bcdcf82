#!/usr/bin/env bash
# Pack the Python environment Spark executors settle in, as Spark's Python package management
# documents it: a venv holding the settle wheel, pyarrow and pandas, packed by venv-pack, and
# given to spark-submit with `--archives FILE#environment` (see docs/spark.md).
#
#   scripts/spark-pack.sh [OUT]      default target/spark/settle-env.tar.gz
#
# SETTLE_WHEEL_PROFILE=release (default) or dev: the cargo profile the wheel is built with.
# The executors need the same Python (3.9 or later) at the same path as this machine's
# python3: venv-pack keeps the venv's link to its interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/spark/settle-env.tar.gz}"
py="${SETTLE_PY:-$PWD/target/py}"
env="$PWD/target/spark-env"
wheels="$PWD/target/wheels"

mkdir -p "$(dirname "$out")" "$wheels"
rm -f "$wheels"/settle-*.whl
"$py/bin/maturin" build --quiet --profile "${SETTLE_WHEEL_PROFILE:-release}" \
    --manifest-path python/Cargo.toml --out "$wheels"
python3 -m venv --clear "$env"
"$env/bin/pip" install --quiet --disable-pip-version-check "$wheels"/settle-*.whl pandas
"$py/bin/venv-pack" --quiet --force --prefix "$env" --output "$out"
echo "$out"
