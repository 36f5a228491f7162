"""Stage 4: score the model on the test set and write metrics.json."""

import json
import math
from pathlib import Path

weights = json.loads(Path("model/model.json").read_text())["weights"]
data = json.loads(Path("data/features/test.json").read_text())
correct, loss = 0, 0.0
for x, y in zip(data["x"], data["y"], strict=False):
    p = 1 / (1 + math.exp(-sum(w * v for w, v in zip(weights, x, strict=False))))
    p = min(max(p, 1e-12), 1 - 1e-12)
    correct += int((p >= 0.5) == bool(y))
    loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
n = len(data["y"])
metrics = {"accuracy": round(correct / n, 6), "log_loss": round(loss / n, 6), "n_test": n}
Path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(f"accuracy {metrics['accuracy']:.3f}")
