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
loss = 0.0
for x, y in zip(xs, ys, strict=False):
    p = 1 / (1 + math.exp(-sum(w * v for w, v in zip(weights, x, strict=False))))
    p = min(max(p, 1e-12), 1 - 1e-12)
    loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
Path("model").mkdir(exist_ok=True)
Path("model/model.json").write_text(json.dumps({"weights": [round(w, 10) for w in weights]}))
train_metrics = {"train_loss": round(loss / len(xs), 6), "epochs": params["epochs"]}
Path("train_metrics.json").write_text(json.dumps(train_metrics, indent=2) + "\n")
print(f"trained {len(weights)} weights for {params['epochs']} epochs")
