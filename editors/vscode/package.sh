#!/usr/bin/env bash
# Package the extension into settle-<version>.vsix beside this script. Fetches its packages
# from npm first: vscode-languageclient, and @vscode/vsce 3.9.x (4.x needs a newer Node than
# 20). Needs Node 20 or later and npm.
set -euo pipefail
cd "$(dirname "$0")"

npm install --no-audit --no-fund
npx --no-install vsce package --skip-license --allow-missing-repository
