"""online/ never imports torch, transformers or offline/: import the server in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_server_imports_no_training_stack():
    code = (
        "import sys, json\n"
        "import online.server.app, online.server.command, online.inference.model\n"
        "import fulcrum.core.bundle.loader\n"
        "import online.server.catalogue_follower, online.features.client, online.features.sink\n"
        "from online.server.command import _feature_side\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'offline'))\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
