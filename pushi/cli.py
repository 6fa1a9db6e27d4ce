"""Command line of pushi: ``python -m pushi serve`` and ``python -m pushi app ...``.

Nothing here imports the C extension at module level, so ``--help`` works
before the engine is built; the server and the store are imported by the
commands that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from types import FrameType
from typing import Any, Callable, Mapping, NoReturn, Sequence, TextIO

from pushi.config import OPTION_KEYS, load_config, parse_port

__all__ = ["main", "build_parser"]

PROG = "pushi"

_ENVIRONMENT_HELP = """\
configuration (lowest precedence first):
  defaults          host 127.0.0.1, port 8080, store sqlite:///<cwd>/pushi.db
  config file       JSON, from --config FILE or PUSHI_CONFIG; keys: host, port,
                    store, apps (list of {"id", "key", "secret", "name",
                    "client_events", ...}), activity_timeout,
                    max_message_bytes, max_output_bytes, max_body_bytes,
                    max_connections
  environment       APP_HOST/APP_PORT, then SERVER_HOST/SERVER_PORT (names of
                    the original pushi; WebSocket and HTTP API share one
                    listener here), then PUSHI_HOST, PUSHI_PORT, PUSHI_STORE;
                    PUSHI_APP_ID + PUSHI_APP_KEY + PUSHI_APP_SECRET add an app
  flags             --host, --port, --store, ...

store URLs:
  sqlite:///PATH    embedded SQLite file (default ./pushi.db)
  mongodb://H:P/DB  MongoDB (collections compatible with the original pushi)
  memory:           in memory, lost on exit
"""

_MAIN_EPILOG = """\
examples:
  python -m pushi serve                      run with ./pushi.db, create an app if none
  python -m pushi serve --port 6001 --store memory:
  python -m pushi app create chat --client-events
  python -m pushi app list
  python -m pushi app delete 1234567

Run 'python -m pushi COMMAND --help' for the options of a command.
"""

_SERVE_DESCRIPTION = """\
Run the pushi server: one listener serving the Pusher WebSocket protocol
(ws://HOST:PORT/app/<key>?protocol=7), the original pushi protocol
(ws://HOST:PORT/<64-character key>), the Pusher HTTP API
(http://HOST:PORT/apps/<id>/...), the original REST API (/login, /events,
/subscriptions, /apps) and /health.

On start it prints the listening URL and, for every app, its id, key, the
WebSocket URL and the HTTP API base.  When neither the store nor the
configuration holds an app, a default app is created and stored, and its
secret is printed once.  SIGINT (Ctrl+C) and SIGTERM stop it cleanly
(exit status 0).
"""

_APP_DESCRIPTION = """\
Manage the apps kept in a store (without a running server).  An app is the
unit of tenancy: browsers connect with its key, backends sign API requests
with its secret.  A running server reads the store when it starts.
"""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line: ``pushi: error: ...``."""

    def error(self, message: str) -> NoReturn:
        hint = f" (see '{self.prog} --help')"
        self.exit(2, f"{PROG}: error: {message}{hint}\n")


def _port_type(value: str) -> int:
    try:
        return parse_port(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {value!r} (expected an integer 0..65535)") from None


def _count_type(value: str) -> int:
    if not value.isdigit() or not value.isascii():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value!r}")
    return int(value)


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help="where apps, history and subscriptions are kept: sqlite:///PATH, "
        "mongodb://HOST:PORT/DB or memory: "
        "(default: PUSHI_STORE, the config file, else sqlite:///<cwd>/pushi.db)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON config file (default: PUSHI_CONFIG)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m pushi``."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description="pushi: a Pusher-compatible realtime server (WebSocket + HTTP API) "
        "with a C engine.",
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = commands.add_parser(
        "serve",
        help="run the server",
        description=_SERVE_DESCRIPTION,
        epilog=_ENVIRONMENT_HELP,
        formatter_class=formatter,
    )
    serve.add_argument(
        "--host",
        metavar="HOST",
        help="address to listen on (default: 127.0.0.1; 0.0.0.0 for every interface)",
    )
    serve.add_argument(
        "--port",
        metavar="PORT",
        type=_port_type,
        help="TCP port for WebSocket and HTTP API (default: 8080; 0 picks a free port)",
    )
    _add_store_options(serve)
    limits = serve.add_argument_group("engine limits (default: the engine's own)")
    option_help = {
        "activity_timeout": "Pusher activity timeout in seconds (told to clients on connect)",
        "max_message_bytes": "largest WebSocket message accepted from a client",
        "max_output_bytes": "most bytes queued for one slow client",
        "max_body_bytes": "largest HTTP request body accepted",
        "max_connections": "most simultaneous connections",
    }
    for name in OPTION_KEYS:
        limits.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            metavar="N",
            type=_count_type,
            help=option_help.get(name, name),
        )
    tls = serve.add_argument_group(
        "TLS (wss:// and https:// on the same listener; also SERVER_SSL=1 with "
        "SERVER_SSL_KEY and SERVER_SSL_CER, as in the original pushi)")
    tls.add_argument("--tls-cert", dest="tls_cert", metavar="FILE",
                     help="PEM certificate chain")
    tls.add_argument("--tls-key", dest="tls_key", metavar="FILE", help="PEM private key")
    serve.add_argument("--admin-token", dest="admin_token", metavar="TOKEN",
                       help="the credential that may create apps over the original REST API "
                       "(POST /apps); also PUSHI_ADMIN_TOKEN; unset: nobody may")
    serve.set_defaults(handler=_cmd_serve)

    app = commands.add_parser(
        "app",
        help="create, list and delete apps in a store",
        description=_APP_DESCRIPTION,
        epilog=_ENVIRONMENT_HELP,
        formatter_class=formatter,
    )
    app_commands = app.add_subparsers(dest="app_command", metavar="ACTION", parser_class=_Parser)

    create = app_commands.add_parser(
        "create",
        help="create an app with random credentials and print it as JSON",
        description="Create an app with a random id, key and secret, save it in the store "
        "and print it as JSON (the only time the secret is shown by this command).",
    )
    create.add_argument("name", metavar="NAME", help="a label for the app")
    create.add_argument(
        "--client-events",
        action="store_true",
        help="let clients send client-* events on private and presence channels",
    )
    _add_store_options(create)
    create.set_defaults(handler=_cmd_app_create)

    list_ = app_commands.add_parser(
        "list",
        help="print the stored apps, one JSON object per line",
        description="Print every app of the store as one JSON object per line.",
    )
    _add_store_options(list_)
    list_.set_defaults(handler=_cmd_app_list)

    delete = app_commands.add_parser(
        "delete",
        help="delete an app by id",
        description="Delete the app with the given id from the store.",
    )
    delete.add_argument("id", metavar="ID", help="the app's id")
    _add_store_options(delete)
    delete.set_defaults(handler=_cmd_app_delete)

    app.set_defaults(handler=None, parser=app)
    parser.set_defaults(handler=None, parser=parser)
    return parser


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


class CommandError(Exception):
    """A failure reported as ``pushi: error: <message>`` with exit status 2."""


def _url_host(host: str) -> str:
    """`host` as written in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _print_apps(out: TextIO, host: str, port: int, apps: Sequence[Any], created: Any,
                tls: bool = False) -> None:
    """Prints id, key, URLs of every app; the secret only of a just-created app."""
    url_host = _url_host(host)
    ws, http = ("wss", "https") if tls else ("ws", "http")
    if not apps:
        print("no apps: create one with 'python -m pushi app create NAME'", file=out)
    for app in apps:
        just_created = created is not None and app.id == created.id
        if just_created:
            print(f'created default app "{app.name}" (its secret is shown only this once):', file=out)
        else:
            print(f'app "{app.name}":', file=out)
        print(f"  id:        {app.id}", file=out)
        print(f"  key:       {app.key}", file=out)
        if just_created:
            print(f"  secret:    {app.secret}", file=out)
        print(f"  websocket: {ws}://{url_host}:{port}/app/{app.key}?protocol=7", file=out)
        print(f"  http api:  {http}://{url_host}:{port}/apps/{app.id}", file=out)


def _cmd_serve(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> int:
    config = load_config(args, environ)
    try:
        from pushi.server import Server
    except ImportError as error:
        raise CommandError(f"cannot load the server ({error}); is the C extension built?") from None

    server = Server(
        host=config["host"],
        port=config["port"],
        store=config["store"],
        apps=config["apps"],
        **config["options"],
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        server.stop()

    previous: dict[int, Any] = {}
    started = False
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, stop)
        server.start()
        started = True
        created = server.create_default_app_if_empty()
        host = config["host"]
        tls = bool(getattr(server, "tls", False))
        scheme = "https" if tls else "http"
        print(f"pushi listening on {scheme}://{_url_host(host)}:{server.port} "
              f"(store: {config['store']})", file=out)
        _print_apps(out, host, server.port, list(server.apps), created, tls)
        print("press Ctrl+C to stop", file=out, flush=True)
        server.serve_forever()
        started = False  # serve_forever stopped the server
    finally:
        if started:
            server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _store_url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    return load_config(args, environ)["store"]


def _import_store() -> Any:
    try:
        import pushi.store as store
    except ImportError as error:
        raise CommandError(f"cannot load the store ({error}); is the C extension built?") from None
    return store


def _cmd_app_create(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> int:
    from pushi.apps import App

    url = _store_url(args, environ)
    store = _import_store()
    app = App.generate(name=args.name, client_events=bool(args.client_events))
    store.save_app(url, app)
    print(json.dumps(app.to_dict()), file=out)
    return 0


def _cmd_app_list(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> int:
    url = _store_url(args, environ)
    store = _import_store()
    for app in store.list_apps(url):
        print(json.dumps(app.to_dict()), file=out)
    return 0


def _cmd_app_delete(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> int:
    url = _store_url(args, environ)
    store = _import_store()
    if not store.delete_app(url, args.id):
        raise CommandError(f"no app with id {args.id!r} in {url}")
    print(f"deleted app {args.id}", file=out)
    return 0


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


Handler = Callable[[argparse.Namespace, Mapping[str, str], TextIO], int]


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Runs the command line; returns the exit status (0 ok, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = args.handler
    if handler is None:
        # `pushi` or `pushi app` without a command: show what is available.
        args.parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args, os.environ if environ is None else environ, sys.stdout)
    except (CommandError, ValueError, OSError, RuntimeError) as error:
        message = str(error) or type(error).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
