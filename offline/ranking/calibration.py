"""Post-hoc calibration of a head's logits, fitted on the validation slice.

- ``platt``: p = sigmoid(a * z + b), a and b by maximum likelihood (unregularised logistic
  regression on the logit z).
- ``isotonic``: a monotone, piecewise-linear map from z to p (sklearn's IsotonicRegression,
  clipped outside the fitted range).
- ``none``: p = sigmoid(z).

This module is numpy only. The torch form of a fitted map (``CalibrationModule(calibrator)`` in
``calibration_module.py``, built only from ops that export to ONNX: mul/add/sigmoid, min/max, so
the bundle's ranker emits calibrated probabilities) depends on this one, never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


@dataclass(frozen=True)
class Calibrator:
    kind: str
    a: float = 1.0
    b: float = 0.0
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()

    def predict(self, logits: np.ndarray) -> np.ndarray:
        z = np.asarray(logits, dtype=np.float64)
        if self.kind == "isotonic":
            return np.interp(z, np.asarray(self.knots_x), np.asarray(self.knots_y))
        return _sigmoid(self.a * z + self.b)


def fit_calibrator(kind: str, logits: np.ndarray, y: np.ndarray) -> Calibrator:
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if kind == "none":
        return Calibrator("none")
    if len(np.unique(y)) < 2:
        raise ValueError("calibration needs both classes in the validation slice")
    if kind == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(z[:, None], y)
        return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    if kind == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
        iso.fit(z, y)
        kx, ky = _thin_knots(np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float))
        return Calibrator("isotonic", knots_x=tuple(kx.tolist()), knots_y=tuple(ky.tolist()))
    raise ValueError(f"calibration kind {kind!r}: expected one of none, platt, isotonic")


def _thin_knots(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep strictly increasing x, and drop interior knots lying on the line of their neighbours
    (flat runs of a step function), which leaves the interpolated function unchanged."""
    keep = np.concatenate([[True], np.diff(x) > 0])
    x, y = x[keep], y[keep]
    if x.size <= 2:
        return x, y
    interior = np.ones(x.size, dtype=bool)
    interior[[0, -1]] = False
    flat = interior.copy()
    flat[1:-1] = (y[1:-1] == y[:-2]) & (y[1:-1] == y[2:])
    return x[~flat], y[~flat]
