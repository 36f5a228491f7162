#!/usr/bin/env bash
# `make demo`: track the example pipeline with mlvc in a fresh workspace (examples/work).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/../.venv/bin"
work="$here/work"
rm -rf "$work"
cp -r "$here/pipeline" "$work"
cd "$work"
git init -q . && git add -A && git -c user.name=demo -c user.email=demo@example.com commit -qm "example pipeline"
export PATH="$bin:$PATH"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
say mlvc init
say python make_raw.py
say mlvc add data/raw params.yaml -m "raw data and params"
say python prepare.py
say python featurize.py
say python train.py
say python evaluate.py
say mlvc add data/prepared data/features model metrics.json -m "pipeline outputs"
say mlvc status
sed -i 's/learning_rate: 0.1/learning_rate: 0.5/' params.yaml
say python train.py
say python evaluate.py
say mlvc status
say mlvc add params.yaml model metrics.json -m "higher learning rate"
say mlvc status
printf '\ndemo workspace: %s\n' "$work"
