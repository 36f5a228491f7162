"""Stage 1: split the raw points into train and test sets."""

import csv
import random
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["prepare"]
with open("data/raw/points.csv", newline="") as handle:
    rows = list(csv.reader(handle))
header, rows = rows[0], rows[1:]
random.Random(params["seed"]).shuffle(rows)
cut = int(len(rows) * (1 - params["test_fraction"]))
out = Path("data/prepared")
out.mkdir(parents=True, exist_ok=True)
for name, part in (("train.csv", rows[:cut]), ("test.csv", rows[cut:])):
    with open(out / name, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(part)
print(f"prepared {cut} training and {len(rows) - cut} test rows")
