"""mlvc: lineage tracking for machine learning, shaped like git.

`import mlvc` costs almost nothing: the API functions load their module on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"
__all__ = ["log_input", "log_metric", "log_output", "log_param", "start_run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mlvc import api

        return getattr(api, name)
    raise AttributeError(f"module 'mlvc' has no attribute {name!r}")
