#!/usr/bin/env bash
# `make demo`: run the example pipeline under mlvc in a fresh workspace (examples/work),
# change a parameter, run it again, and show what mlvc recorded.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/../.venv/bin"
work="$here/work"
rm -rf "$work"
cp -r "$here/pipeline" "$work"
cd "$work"
git init -q . && git add -A
git -c user.name=demo -c user.email=demo@example.com commit -qm "example pipeline"
export PATH="$bin:$PATH"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
run_id() { python -c 'import json,sys; print(json.load(sys.stdin)["run_id"])'; }
pipeline() {
  say mlvc run -- python prepare.py
  say mlvc run -- python featurize.py
  printf '\n\033[1m$ mlvc run -- python train.py\033[0m\n'
  train=$(mlvc run --json -- python train.py | run_id)
  printf '\n\033[1m$ mlvc run -- python evaluate.py\033[0m\n'
  last=$(mlvc run --json -- python evaluate.py | run_id)
}
say mlvc init
say python make_raw.py
say mlvc add data/raw
pipeline
first_train=$train
say sed -i 's/learning_rate: 0.1/learning_rate: 0.5/' params.yaml
pipeline
say mlvc status
say mlvc show "$last"
say mlvc checkout "$first_train"   # the first model, its metrics and the params it read
say mlvc checkout "$train"         # and back
say mlvc reproduce "$train"        # re-execute from recorded code and data; compare bit for bit
printf '\ndemo workspace: %s\n' "$work"
