"""Write the raw data set: 1,500 labelled points from two noisy Gaussian blobs."""

import csv
import random
from pathlib import Path

rng = random.Random(1234)
out = Path("data/raw")
out.mkdir(parents=True, exist_ok=True)
with open(out / "points.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["x1", "x2", "x3", "label"])
    for _ in range(1500):
        label = rng.random() < 0.5
        centre = 1.0 if label else -1.0
        row = [round(rng.gauss(centre, 1.2), 6) for _ in range(3)]
        writer.writerow([*row, int(label)])
