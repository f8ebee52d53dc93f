"""Import Feast without letting it pull torch into the serving process.

Feast 0.67's ``feast.torch_wrapper`` imports torch eagerly whenever it is installed (it is, in the
all-in-one dev environment), only to offer tensor outputs we never ask for. The online side must
not import torch (a test checks ``sys.modules``), so the first Feast import goes through here: with
torch not yet loaded, ``import torch`` is made to fail for that one import (Feast then records
"torch unavailable" and carries on), and the block is lifted straight after, so a later, deliberate
``import torch`` elsewhere in the process still works. If torch is already loaded, nothing is done.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

_lock = threading.Lock()


def import_feast() -> ModuleType:
    """``import feast`` (with the hint to install the serve extra when it is missing)."""
    with _lock:
        if "feast.torch_wrapper" not in sys.modules and "torch" not in sys.modules:
            sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
            try:
                import feast.torch_wrapper  # noqa: F401
            except ImportError as e:
                raise ImportError("feast is not installed: pip install -e '.[serve]'") from e
            finally:
                if sys.modules.get("torch", 0) is None:
                    del sys.modules["torch"]
        try:
            import feast
        except ImportError as e:
            raise ImportError("feast is not installed: pip install -e '.[serve]'") from e
    return feast
