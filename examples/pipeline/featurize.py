"""Stage 2: turn prepared rows into feature vectors (optionally with interactions)."""

import csv
import json
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["featurize"]


def features(row: list[str]) -> list[float]:
    x = [float(v) for v in row[:3]]
    if params["interactions"]:
        x += [x[0] * x[1], x[1] * x[2], x[0] * x[2]]
    return [1.0, *x]


out = Path("data/features")
out.mkdir(parents=True, exist_ok=True)
for name in ("train", "test"):
    with open(f"data/prepared/{name}.csv", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    data = {"x": [features(r) for r in rows], "y": [int(r[3]) for r in rows]}
    (out / f"{name}.json").write_text(json.dumps(data))
print(f"featurized with interactions={params['interactions']}")
