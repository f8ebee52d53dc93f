"""Platt and isotonic recalibration: fitted maps, their torch (ONNX-exportable) forms."""

from pathlib import Path

import numpy as np
import pytest
import torch

from offline.ranking.calibration import Calibrator, fit_calibrator
from offline.ranking.calibration_module import CalibrationModule


def test_isotonic_module_interpolates_like_numpy_hand_worked():
    # knots (0, 0), (1, 0.5), (2, 1): f(0.5) = 0.25, f(1.5) = 0.75; clipped outside: f(-1) = 0, f(3) = 1
    cal = Calibrator("isotonic", knots_x=(0.0, 1.0, 2.0), knots_y=(0.0, 0.5, 1.0))
    z = np.array([-1.0, 0.5, 1.5, 3.0])
    assert cal.predict(z) == pytest.approx([0.0, 0.25, 0.75, 1.0])
    with torch.no_grad():
        out = CalibrationModule(cal)(torch.tensor(z, dtype=torch.float32)).numpy()
    assert out == pytest.approx([0.0, 0.25, 0.75, 1.0], abs=1e-6)


def test_platt_module_matches_predict():
    # a = 2, b = -1: f(0.5) = sigmoid(0) = 0.5 ; f(0) = sigmoid(-1) = 0.268941
    cal = Calibrator("platt", a=2.0, b=-1.0)
    assert cal.predict(np.array([0.5, 0.0])) == pytest.approx([0.5, 0.268941], abs=1e-6)
    with torch.no_grad():
        out = CalibrationModule(cal)(torch.tensor([0.5, 0.0])).numpy()
        assert out == pytest.approx([0.5, 0.268941], abs=1e-6)


def test_platt_fit_recovers_the_generating_map():
    rng = np.random.default_rng(0)
    z = rng.normal(size=20_000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-(2.0 * z - 1.0)))).astype(int)
    cal = fit_calibrator("platt", z, y)
    assert cal.a == pytest.approx(2.0, abs=0.15)
    assert cal.b == pytest.approx(-1.0, abs=0.1)


def test_isotonic_fit_is_monotone_and_its_module_agrees():
    rng = np.random.default_rng(1)
    z = rng.normal(size=5_000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(int)
    cal = fit_calibrator("isotonic", z, y)
    grid = np.linspace(-4, 4, 200)
    p = cal.predict(grid)
    assert np.all(np.diff(p) >= -1e-12) and p.min() >= 0 and p.max() <= 1
    with torch.no_grad():
        t = CalibrationModule(cal)(torch.tensor(grid, dtype=torch.float32)).numpy()
    assert np.abs(t - p).max() < 1e-4  # float32 sum over the segments vs float64 np.interp


def test_none_and_errors():
    assert fit_calibrator("none", np.zeros(3), np.array([0, 1, 0])).predict(np.array([0.0]))[
        0
    ] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="both classes"):
        fit_calibrator("platt", np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="calibration kind"):
        fit_calibrator("beta", np.zeros(3), np.array([0, 1, 0]))


def test_calibration_imports_no_torch_and_no_cycle():
    # the numpy side stands alone (no torch, no import of the torch module); the torch module
    # imports the numpy side: one direction only
    import subprocess
    import sys

    probe = ("import sys; import offline.ranking.calibration as c; "
             "print(sorted(m for m in sys.modules if m == 'torch' or m.endswith('calibration_module')))")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    source = (root / "offline" / "ranking" / "calibration.py").read_text()
    assert "calibration_module" not in source.split('"""', 2)[2]  # not even a deferred import
