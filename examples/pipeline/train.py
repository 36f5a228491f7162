"""Stage 3: fit a logistic regression by gradient descent."""

import json
import math
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["train"]
data = json.loads(Path("data/features/train.json").read_text())
xs, ys = data["x"], data["y"]
weights = [0.0] * len(xs[0])
for _ in range(params["epochs"]):
    grad = [0.0] * len(weights)
    for x, y in zip(xs, ys, strict=False):
        p = 1 / (1 + math.exp(-sum(w * v for w, v in zip(weights, x, strict=False))))
        for i, v in enumerate(x):
            grad[i] += (p - y) * v
    weights = [
        w - params["learning_rate"] * (g / len(xs) + params["l2"] * w)
        for w, g in zip(weights, grad, strict=False)
    ]
Path("model").mkdir(exist_ok=True)
Path("model/model.json").write_text(json.dumps({"weights": [round(w, 10) for w in weights]}))
print(f"trained {len(weights)} weights for {params['epochs']} epochs")
