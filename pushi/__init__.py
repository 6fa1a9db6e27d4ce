"""pushi: self-hosted realtime push with a native engine.

    import pushi
    with pushi.Server(apps=[pushi.App.generate()]) as server:
        ...
    api = pushi.Pushi(app_id, key, secret, base_url="http://127.0.0.1:8080")
    api.trigger_event("news", {"hello": "world"})

Names are imported lazily so that ``python -m pushi --help`` and the HTTP
client work without loading the C extension.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.7.0"

__all__ = [
    "App", "Server", "Pushi", "API", "PushiError", "BadRequest", "Unauthorized",
    "Forbidden", "NotFound", "PayloadTooLarge", "__version__",
]

_LAZY = {
    "App": ("pushi.apps", "App"),
    "Server": ("pushi.server", "Server"),
    "Pushi": ("pushi.client", "Pushi"),
    "API": ("pushi.client", "API"),
    "PushiError": ("pushi.errors", "PushiError"),
    "BadRequest": ("pushi.errors", "BadRequest"),
    "Unauthorized": ("pushi.errors", "Unauthorized"),
    "Forbidden": ("pushi.errors", "Forbidden"),
    "NotFound": ("pushi.errors", "NotFound"),
    "PayloadTooLarge": ("pushi.errors", "PayloadTooLarge"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pushi' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
