"""Configuration of ``python -m pushi``: defaults, file, environment, flags.

Sources, lowest precedence first:

1. defaults: host ``127.0.0.1``, port ``8080``, store ``sqlite:///`` + the
   absolute path of ``./pushi.db``;
2. a JSON config file, named by ``--config FILE`` or ``PUSHI_CONFIG``;
3. environment variables: ``APP_HOST``/``APP_PORT`` and
   ``SERVER_HOST``/``SERVER_PORT`` (the original pushi's names; here the
   WebSocket and HTTP API share one listener, so both set the same
   host/port and ``SERVER_*`` wins over ``APP_*``), then ``PUSHI_HOST``,
   ``PUSHI_PORT`` and ``PUSHI_STORE`` which win over both;
   ``PUSHI_APP_ID``, ``PUSHI_APP_KEY`` and ``PUSHI_APP_SECRET`` (all three
   together) add one app;
4. command-line flags.

Empty environment variables count as unset.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Mapping

from pushi.apps import App

__all__ = [
    "load_config",
    "parse_port",
    "default_store",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "OPTION_KEYS",
    "FILE_KEYS",
    "TLS_KEYS",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

#: Engine options passed through to ``pushi.Server(**options)``; all are
#: non-negative integers (seconds for ``activity_timeout``, else bytes or a count).
OPTION_KEYS: tuple[str, ...] = (
    "activity_timeout",
    "max_message_bytes",
    "max_output_bytes",
    "max_body_bytes",
    "max_connections",
)

#: TLS: the listener speaks wss:// and https:// when both are set.
TLS_KEYS: tuple[str, ...] = ("tls_cert", "tls_key")

#: Keys a config file may hold.
FILE_KEYS: tuple[str, ...] = ("host", "port", "store", "apps", "admin_token") + OPTION_KEYS + TLS_KEYS

# The original pushi's TLS variables (APP_* for its HTTP app, SERVER_* for
# its WebSocket server; one listener serves both here), lowest precedence
# first, then ours: (switch, key file, certificate file).
_TLS_VARS = (("APP_SSL", "APP_SSL_KEY", "APP_SSL_CER"),
             ("SERVER_SSL", "SERVER_SSL_KEY", "SERVER_SSL_CER"),
             (None, "PUSHI_TLS_KEY", "PUSHI_TLS_CERT"))

# Environment variables for the listener, lowest precedence first.
_HOST_VARS = ("APP_HOST", "SERVER_HOST", "PUSHI_HOST")
_PORT_VARS = ("APP_PORT", "SERVER_PORT", "PUSHI_PORT")
_APP_VARS = ("PUSHI_APP_ID", "PUSHI_APP_KEY", "PUSHI_APP_SECRET")


def default_store() -> str:
    """``sqlite:///`` followed by the absolute path of ``./pushi.db``."""
    return "sqlite:///" + os.path.abspath("pushi.db")


def parse_port(value: Any, source: str = "port") -> int:
    """`value` as a TCP port (an integer 0..65535, or its decimal string).

    Raises ValueError naming `source` (a flag, variable or file key) otherwise.
    """
    port: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        port = int(value.strip())
    if port is None or not 0 <= port <= 65535:
        raise ValueError(f"{source}: invalid port {value!r} (expected an integer 0..65535)")
    return port


def _parse_host(value: Any, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{source}: host must be a non-empty string")
    return value.strip()


def _parse_store(value: Any, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{source}: store must be a non-empty URL (sqlite:///path, mongodb://host:port/db or memory:)")
    return value.strip()


def _parse_option(name: str, value: Any, source: str) -> int:
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{source}: {name} must be a non-negative integer, got {value!r}")
    return value


def _parse_token(value: Any, source: str) -> str:
    if not isinstance(value, str) or not 16 <= len(value) <= 127:
        raise ValueError(f"{source}: the admin token must be a string of 16 to 127 characters")
    return value


def _parse_path(value: Any, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{source}: must be a file path")
    if not os.path.isfile(value):
        raise ValueError(f"{source}: no such file: {value}")
    return os.path.abspath(value)


def _read_file(path: str) -> dict[str, Any]:
    """Loads and checks the JSON config file at `path`."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise ValueError(f"cannot read config file {path!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise ValueError(f"config file {path!r} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path!r} must hold a JSON object")
    for key in data:
        if key not in FILE_KEYS:
            raise ValueError(
                f"config file {path!r}: unknown key {key!r} (known keys: {', '.join(FILE_KEYS)})"
            )
    return data


def _apps_from_file(value: Any, path: str) -> list[App]:
    if not isinstance(value, list):
        raise ValueError(f"config file {path!r}: 'apps' must be a list of app objects")
    apps = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"config file {path!r}: apps[{index}] must be an object")
        try:
            apps.append(App.from_dict(item))
        except (ValueError, TypeError) as error:
            raise ValueError(f"config file {path!r}: apps[{index}]: {error}") from None
    return apps


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value else None


def _arg(args: argparse.Namespace | None, name: str) -> Any:
    return None if args is None else getattr(args, name, None)


def _check_unique(apps: list[App]) -> None:
    for attribute in ("id", "key"):
        seen: set[str] = set()
        for app in apps:
            value = getattr(app, attribute)
            if value in seen:
                raise ValueError(f"two apps share the {attribute} {value!r}")
            seen.add(value)


def load_config(args: argparse.Namespace | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """Merges defaults, config file, environment and flags.

    `args` may lack any attribute (or be None); attributes read are
    ``config``, ``host``, ``port``, ``store`` and the `OPTION_KEYS`, each
    ignored when None.  Returns ``{"host": str, "port": int, "store": str,
    "apps": list[App], "options": dict}`` where ``options`` holds only the
    engine options that were set.  Raises ValueError for an invalid value,
    an unknown config-file key or an incomplete ``PUSHI_APP_*`` set.
    """
    host = DEFAULT_HOST
    port = DEFAULT_PORT
    store = default_store()
    apps: list[App] = []
    options: dict[str, Any] = {}

    # 2. config file
    path = _arg(args, "config") or _env(environ, "PUSHI_CONFIG")
    if path:
        data = _read_file(path)
        source = f"config file {path!r}"
        if "host" in data:
            host = _parse_host(data["host"], source)
        if "port" in data:
            port = parse_port(data["port"], source)
        if "store" in data:
            store = _parse_store(data["store"], source)
        if "apps" in data:
            apps = _apps_from_file(data["apps"], path)
        for name in OPTION_KEYS:
            if name in data:
                options[name] = _parse_option(name, data[name], source)
        for name in TLS_KEYS:
            if name in data:
                options[name] = _parse_path(data[name], f"{source}: {name}")
        if "admin_token" in data:
            options["admin_token"] = _parse_token(data["admin_token"], f"{source}: admin_token")

    # 3. environment
    for switch, key_var, cert_var in _TLS_VARS:
        if switch is not None and _env(environ, switch) in (None, "0", "false", "False"):
            continue
        key, cert = _env(environ, key_var), _env(environ, cert_var)
        if switch is not None and (key is None or cert is None):
            raise ValueError(f"{switch} is set: {key_var} and {cert_var} must name the "
                             "PEM key and certificate files")
        if key is not None:
            options["tls_key"] = _parse_path(key, key_var)
        if cert is not None:
            options["tls_cert"] = _parse_path(cert, cert_var)
    for name in _HOST_VARS:
        value = _env(environ, name)
        if value is not None:
            host = _parse_host(value, name)
    for name in _PORT_VARS:
        value = _env(environ, name)
        if value is not None:
            port = parse_port(value, name)
    value = _env(environ, "PUSHI_STORE")
    if value is not None:
        store = _parse_store(value, "PUSHI_STORE")
    value = _env(environ, "PUSHI_ADMIN_TOKEN")
    if value is not None:
        options["admin_token"] = _parse_token(value, "PUSHI_ADMIN_TOKEN")
    present = [name for name in _APP_VARS if _env(environ, name) is not None]
    if present:
        missing = [name for name in _APP_VARS if name not in present]
        if missing:
            raise ValueError(
                f"{', '.join(present)} set without {', '.join(missing)} "
                "(PUSHI_APP_ID, PUSHI_APP_KEY and PUSHI_APP_SECRET go together)"
            )
        env_app = App(
            id=environ["PUSHI_APP_ID"],
            key=environ["PUSHI_APP_KEY"],
            secret=environ["PUSHI_APP_SECRET"],
        )
        # The environment wins over a file app with the same id.
        apps = [app for app in apps if app.id != env_app.id] + [env_app]

    # 4. flags
    value = _arg(args, "host")
    if value is not None:
        host = _parse_host(value, "--host")
    value = _arg(args, "port")
    if value is not None:
        port = parse_port(value, "--port")
    value = _arg(args, "store")
    if value is not None:
        store = _parse_store(value, "--store")
    for name in OPTION_KEYS:
        value = _arg(args, name)
        if value is not None:
            options[name] = _parse_option(name, value, "--" + name.replace("_", "-"))
    for name in TLS_KEYS:
        value = _arg(args, name)
        if value is not None:
            options[name] = _parse_path(value, "--" + name.replace("_", "-"))
    value = _arg(args, "admin_token")
    if value is not None:
        options["admin_token"] = _parse_token(value, "--admin-token")
    if ("tls_cert" in options) != ("tls_key" in options):
        raise ValueError("TLS needs both a certificate and a key (tls_cert and tls_key)")

    _check_unique(apps)
    return {"host": host, "port": port, "store": store, "apps": apps, "options": options}
