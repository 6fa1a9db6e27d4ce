"""Server-side proxy for the Pusher-compatible HTTP API of a pushi server.

A backend uses `Pushi` to publish events, query channels and sign the
private/presence subscriptions its browsers ask for::

    from pushi.client import Pushi

    pushi = Pushi("1234567", "app-key", "app-secret", "http://127.0.0.1:8080")
    pushi.trigger_event("my-channel", {"hello": "world"}, event="greeting")
    body = pushi.authenticate("private-orders", socket_id, None)  # -> {"auth": ...}

Only the standard library is used (``urllib.request``); one short-lived HTTP
connection per call.

Request signing follows the Pusher HTTP API: every API request carries the
query parameters ``auth_key``, ``auth_timestamp`` (seconds), ``auth_version``
(``1.0``), ``body_md5`` (hex MD5 of a non-empty body) and ``auth_signature``,
the hex HMAC-SHA256 of ``"METHOD\\n/path\\nquery"`` under the app secret,
where ``query`` is every other parameter as ``key=value`` (keys lowercased,
sorted, values *not* URL-escaped) joined by ``&``.  `sign_request` and
`signed_query` are module-level so tests and other tools can reuse them.

The same class also speaks the original pushi's REST API (the "classic"
API, what the original ``pushi.API`` client library used), with its methods:
`login`/`logout`, `create_event`, `subscribe`/`unsubscribe`,
`list_subscriptions`, `create_app`, `get_app`, `update_app`, `list_apps`::

    pushi.create_event("news", {"hello": "world"}, event="greeting", persist=True)
    pushi.subscribe("user-1", "news")      # personal-user-1 now aliases news

Those calls use a session instead of signatures: the first one logs in
(``GET /login?app_id&app_key&app_secret``), later ones send the token in
``X-Session-Id``, and a 403 answer (the server forgot the session, e.g. after
a restart) triggers one transparent re-login and retry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import time
import urllib.error
import ssl
import urllib.parse
import urllib.request
from typing import Any, Iterable, Mapping

from pushi.errors import Forbidden, PushiError, error_for_status

__all__ = [
    "Pushi",
    "API",
    "sign_request",
    "signed_query",
    "hmac_sha256_hex",
    "validate_channel_name",
    "validate_socket_id",
    "MAX_CHANNEL_NAME_LENGTH",
]

#: Longest channel name accepted (what the official SDKs and peer servers use).
MAX_CHANNEL_NAME_LENGTH = 200

#: Pusher socket ids: two decimal numbers joined by a dot, e.g. ``123.456``.
_SOCKET_ID_RE = re.compile(r"[0-9]+\.[0-9]+")
#: Pusher channel-name charset (``#`` is reserved for server-side channels).
_CHANNEL_RE = re.compile(r"[A-Za-z0-9_\-=@,.;]+")
#: Characters left unescaped in URL path segments (RFC 3986 unreserved plus
#: the sub-delimiters that occur in channel names).
_PATH_SAFE = "-_.~=@,;"

_ENCRYPTED_PREFIX = "private-encrypted-"
_PRESENCE_PREFIX = "presence-"
_USER_AGENT = "pushi-python-client"


# --------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------


def hmac_sha256_hex(secret: str, message: str) -> str:
    """Hex HMAC-SHA256 of `message` under `secret` (both UTF-8 encoded)."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_request(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """The Pusher ``auth_signature`` for one HTTP API request.

    Signs ``"METHOD\\n<path>\\n<query>"`` where ``<query>`` is every entry of
    `params` except ``auth_signature`` as ``key=value`` with the key
    lowercased, sorted by key, values not URL-escaped, joined by ``&``.
    `path` is the request path exactly as sent (no query string).
    """
    pairs = sorted(
        (str(key).lower(), str(value))
        for key, value in params.items()
        if str(key).lower() != "auth_signature"
    )
    query = "&".join(f"{key}={value}" for key, value in pairs)
    return hmac_sha256_hex(secret, f"{method.upper()}\n{path}\n{query}")


def signed_query(
    key: str,
    secret: str,
    method: str,
    path: str,
    body: bytes,
    params: Mapping[str, str] | None = None,
    timestamp: int | float | None = None,
) -> dict[str, str]:
    """All query parameters of a signed request, ``auth_signature`` included.

    `params` are the request's own parameters (e.g. ``filter_by_prefix``);
    `timestamp` defaults to the current time (whole seconds).  ``body_md5``
    is added only when `body` is non-empty.
    """
    query = {str(k): str(v) for k, v in (params or {}).items()}
    query["auth_key"] = key
    query["auth_timestamp"] = str(int(time.time() if timestamp is None else timestamp))
    query["auth_version"] = "1.0"
    if body:
        query["body_md5"] = hashlib.md5(body, usedforsecurity=False).hexdigest()
    query["auth_signature"] = sign_request(secret, method, path, query)
    return query


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def validate_socket_id(socket_id: str) -> str:
    """Returns `socket_id` if it looks like ``123.456``, else raises ValueError."""
    if not isinstance(socket_id, str) or not _SOCKET_ID_RE.fullmatch(socket_id):
        raise ValueError(f"invalid socket_id {socket_id!r} (expected digits.digits)")
    return socket_id


def validate_channel_name(channel: str) -> str:
    """Returns `channel` if it is a valid client channel name, else raises ValueError.

    Valid names use only ``A-Z a-z 0-9 _ - = @ , . ;`` and are at most
    `MAX_CHANNEL_NAME_LENGTH` characters long.
    """
    if not isinstance(channel, str) or not _CHANNEL_RE.fullmatch(channel):
        raise ValueError(
            f"invalid channel name {channel!r} (allowed characters: A-Z a-z 0-9 _ - = @ , . ;)"
        )
    if len(channel) > MAX_CHANNEL_NAME_LENGTH:
        raise ValueError(
            f"channel name is {len(channel)} characters long (maximum {MAX_CHANNEL_NAME_LENGTH})"
        )
    return channel


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _encode_data(data: Any) -> str:
    """Event data travels as a string: strings as they are, the rest as JSON."""
    return data if isinstance(data, str) else _compact_json(data)


def _info_param(info: str | Iterable[str] | None) -> str | None:
    if info is None or isinstance(info, str):
        return info or None
    joined = ",".join(info)
    return joined or None


def _segment(value: str) -> str:
    """One URL path segment, percent-escaped where needed."""
    return urllib.parse.quote(str(value), safe=_PATH_SAFE)


# --------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------


class Pushi:
    """Client for one app on a pushi (or any Pusher-compatible) server.

    Args:
        app_id: the app's id (the ``/apps/<id>/...`` part of API paths).
        app_key: the app's public key (what browsers put in ``/app/<key>``).
        app_secret: the app's secret; signs API requests and channel auth.
        base_url: ``http://host:port`` or ``https://host:port`` of the server,
            optionally with a path prefix when the server sits behind a
            reverse proxy that passes the prefix through.
        timeout: seconds to wait for connect and for each read.
        encryption_master_key: 32 raw bytes; needed only to authorise
            ``private-encrypted-`` channels (end-to-end encryption).
    """

    def __init__(
        self,
        app_id: str,
        app_key: str,
        app_secret: str,
        base_url: str = "http://127.0.0.1:8080",
        timeout: float = 10.0,
        *,
        encryption_master_key: bytes | None = None,
        ssl_context: "ssl.SSLContext | None" = None,
    ) -> None:
        for name, value in (("app_id", app_id), ("app_key", app_key), ("app_secret", app_secret)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must look like http://host:port, got {base_url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"base_url must not have a query or fragment: {base_url!r}")
        if encryption_master_key is not None:
            if not isinstance(encryption_master_key, (bytes, bytearray)) or len(encryption_master_key) != 32:
                raise ValueError("encryption_master_key must be 32 bytes")
            encryption_master_key = bytes(encryption_master_key)
        if timeout <= 0:
            raise ValueError("timeout must be positive")

        self.app_id: str = app_id
        self.app_key: str = app_key
        self.app_secret: str = app_secret
        self.base_url: str = base_url.rstrip("/")
        self.timeout: float = float(timeout)
        #: TLS settings for https:// base URLs (e.g. a context trusting a
        #: self-signed certificate); None uses the system's defaults.
        self.ssl_context = ssl_context
        self.encryption_master_key: bytes | None = encryption_master_key
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = parts.path.rstrip("/")
        #: The classic API's session token (set by `login`, cleared by
        #: `logout`); None until the first classic call logs in.
        self.token: str | None = None

    def __repr__(self) -> str:
        return f"Pushi(app_id={self.app_id!r}, app_key={self.app_key!r}, base_url={self.base_url!r})"

    # -- publishing --------------------------------------------------------

    def trigger_event(
        self,
        channel: str | list[str],
        data: Any,
        event: str = "message",
        socket_id: str | None = None,
        info: str | list[str] | None = None,
        persist: bool | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Publishes `event` with `data` on one channel or a list of channels.

        `data` is sent as is when it is a string, otherwise JSON-encoded.
        `socket_id` excludes that connection from the recipients; `info`
        (e.g. ``"user_count,subscription_count"``) asks for channel counts
        in the answer.  Returns the server's JSON answer (``{}`` normally).

        This goes through the signed Pusher HTTP API, except for callers of
        the original pushi client: when `persist` or any other keyword
        argument (an extra key for the event envelope) is given, or a bool
        is passed in the fourth position (the original's ``persist``), the
        call is routed to `create_event` (the classic ``POST /events``) and
        returns its answer (``{"result": "success"}``).  `socket_id` and
        `info` cannot be combined with that form.
        """
        if isinstance(socket_id, bool):  # trigger_event(ch, data, event, persist)
            if persist is not None:
                raise TypeError("trigger_event got persist twice")
            socket_id, persist = None, socket_id
        if persist is not None or extra:
            if socket_id is not None or info is not None:
                raise ValueError(
                    "socket_id and info are Pusher API options; they cannot be combined with "
                    "persist or extra keys (the classic POST /events)"
                )
            return self.create_event(
                channel, data, event=event, persist=True if persist is None else persist, **extra
            )
        body: dict[str, Any] = {"name": event, "data": _encode_data(data)}
        if isinstance(channel, str):
            body["channel"] = channel
        else:
            channels = list(channel)
            if not channels or not all(isinstance(c, str) for c in channels):
                raise ValueError("channel must be a string or a non-empty list of strings")
            body["channels"] = channels
        if socket_id is not None:
            body["socket_id"] = validate_socket_id(socket_id)
        info_value = _info_param(info)
        if info_value is not None:
            body["info"] = info_value
        return self._request("POST", f"/apps/{_segment(self.app_id)}/events", body=body)

    def trigger(
        self,
        channels: str | list[str],
        event: str,
        data: Any,
        socket_id: str | None = None,
    ) -> dict[str, Any]:
        """`trigger_event` with the argument order of the official Pusher SDK."""
        return self.trigger_event(channels, data, event=event, socket_id=socket_id)

    def trigger_batch(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Publishes several events in one request.

        Each item is a dict with ``channel``, ``name`` and ``data`` (encoded
        like in `trigger_event`), optionally ``socket_id`` and ``info``.
        """
        batch: list[dict[str, Any]] = []
        for index, item in enumerate(events):
            if not isinstance(item, Mapping):
                raise ValueError(f"batch item {index} is not a dict")
            entry = dict(item)
            for required in ("channel", "name"):
                if not isinstance(entry.get(required), str):
                    raise ValueError(f"batch item {index} needs a string {required!r}")
            entry["data"] = _encode_data(entry.get("data"))
            if entry.get("socket_id") is not None:
                validate_socket_id(entry["socket_id"])
            batch.append(entry)
        if not batch:
            raise ValueError("trigger_batch needs at least one event")
        return self._request("POST", f"/apps/{_segment(self.app_id)}/batch_events", body={"batch": batch})

    def send_to_user(self, user_id: str, event: str, data: Any) -> dict[str, Any]:
        """Publishes `event` to every connection signed in as `user_id`."""
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("user_id must be a non-empty string")
        return self.trigger_event(f"#server-to-user-{user_id}", data, event=event)

    # -- authorisation for browsers ---------------------------------------

    def authenticate(
        self,
        channel: str,
        socket_id: str,
        channel_data: dict[str, Any] | str | None = None,
    ) -> dict[str, str]:
        """The JSON body a browser auth endpoint answers for a subscription.

        Returns ``{"auth": "<key>:<signature>"}``, plus ``"channel_data"``
        (a JSON string) when given, as presence channels require, and
        ``"shared_secret"`` for ``private-encrypted-`` channels.
        """
        validate_socket_id(socket_id)
        validate_channel_name(channel)
        if channel.startswith(_PRESENCE_PREFIX):
            if channel_data is None:
                raise ValueError("presence channels need channel_data with a user_id")
            if isinstance(channel_data, Mapping) and "user_id" not in channel_data:
                raise ValueError("presence channel_data needs a 'user_id'")
        if channel_data is None:
            encoded = None
            to_sign = f"{socket_id}:{channel}"
        else:
            encoded = channel_data if isinstance(channel_data, str) else _compact_json(channel_data)
            to_sign = f"{socket_id}:{channel}:{encoded}"
        result = {"auth": f"{self.app_key}:{hmac_sha256_hex(self.app_secret, to_sign)}"}
        if encoded is not None:
            result["channel_data"] = encoded
        if channel.startswith(_ENCRYPTED_PREFIX):
            if self.encryption_master_key is None:
                raise ValueError(
                    "private-encrypted- channels need an encryption_master_key (32 bytes) in Pushi(...)"
                )
            digest = hashlib.sha256(channel.encode("utf-8") + self.encryption_master_key).digest()
            result["shared_secret"] = base64.b64encode(digest).decode("ascii")
        return result

    def authenticate_user(self, socket_id: str, user_data: dict[str, Any]) -> dict[str, str]:
        """The JSON body answering a ``pusher:signin`` (user authentication).

        `user_data` must have a non-empty string ``id``; returns
        ``{"auth": "<key>:<signature>", "user_data": "<json>"}``.
        """
        validate_socket_id(socket_id)
        if not isinstance(user_data, Mapping):
            raise ValueError("user_data must be a dict")
        user_id = user_data.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("user_data needs a non-empty string 'id'")
        encoded = _compact_json(user_data)
        signature = hmac_sha256_hex(self.app_secret, f"{socket_id}::user::{encoded}")
        return {"auth": f"{self.app_key}:{signature}", "user_data": encoded}

    # -- queries -----------------------------------------------------------

    def channels(
        self,
        prefix: str | None = None,
        info: str | list[str] | None = None,
    ) -> dict[str, Any]:
        """Occupied channels, optionally only those starting with `prefix`.

        ``info="user_count"`` is valid only with a ``presence-`` prefix.
        Returns ``{"channels": {"name": {...}, ...}}``.
        """
        params: dict[str, str] = {}
        if prefix:
            params["filter_by_prefix"] = prefix
        info_value = _info_param(info)
        if info_value is not None:
            params["info"] = info_value
        return self._request("GET", f"/apps/{_segment(self.app_id)}/channels", params=params)

    def channel(self, name: str, info: str | list[str] | None = None) -> dict[str, Any]:
        """State of one channel: ``{"occupied": bool, ...}`` plus requested `info`
        (``user_count``, ``subscription_count``, ``cache``)."""
        params: dict[str, str] = {}
        info_value = _info_param(info)
        if info_value is not None:
            params["info"] = info_value
        path = f"/apps/{_segment(self.app_id)}/channels/{_segment(name)}"
        return self._request("GET", path, params=params)

    def users(self, channel: str) -> dict[str, Any]:
        """Members of a presence channel: ``{"users": [{"id": ...}, ...]}``."""
        path = f"/apps/{_segment(self.app_id)}/channels/{_segment(channel)}/users"
        return self._request("GET", path)

    def terminate_user_connections(self, user_id: str) -> dict[str, Any]:
        """Closes every connection signed in as `user_id`."""
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("user_id must be a non-empty string")
        path = f"/apps/{_segment(self.app_id)}/users/{_segment(user_id)}/terminate_connections"
        return self._request("POST", path)

    # -- the original pushi REST API (session based) ----------------------

    def login(self) -> str:
        """Opens a classic-API session: ``GET /login?app_id&app_key&app_secret``.

        Stores the token in `token` (sent as ``X-Session-Id`` by the classic
        calls) and returns it.  Wrong credentials raise `NotFound`.  Like the
        original client, the credentials travel in the query string: use
        ``https://`` outside a trusted network.
        """
        params = {"app_id": self.app_id, "app_key": self.app_key, "app_secret": self.app_secret}
        answer = self._request("GET", "/login", params=params, signed=False)
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise PushiError(f"login answer has no token: {answer!r}", 200)
        self.token = token
        return token

    def get_token(self) -> str:
        """The current session token, logging in first when there is none."""
        return self.token if self.token is not None else self.login()

    def logout(self) -> dict[str, Any]:
        """Ends the session (``GET /logout``) and forgets the token.

        A later classic call logs in again.  Without a session this does
        nothing and returns ``{"result": "success"}``.
        """
        token, self.token = self.token, None
        if token is None:
            return {"result": "success"}
        return self._request("GET", "/logout", signed=False, headers={"X-Session-Id": token})

    def create_event(
        self,
        channel: str | list[str],
        data: Any,
        event: str = "message",
        persist: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Publishes an event through the classic API (``POST /events``).

        The JSON body is ``{data, event, channel, persist, **extra}``: `data`
        travels as it is (the server JSON-encodes non-strings for the
        sockets), `channel` is a name or a list of names, and the `extra`
        keys ride along in the envelope the sockets receive.  Persisted
        events (the default) reach the sockets with a ``mid`` and a
        ``timestamp`` and are kept in the store for history and the inboxes
        of users subscribed to the channel.  Returns ``{"result": "success"}``.
        """
        if isinstance(channel, str):
            channels: str | list[str] = channel
        else:
            channels = list(channel)
            if not channels or not all(isinstance(c, str) for c in channels):
                raise ValueError("channel must be a string or a non-empty list of strings")
        if not isinstance(event, str) or not event:
            raise ValueError("event must be a non-empty string")
        body = {"data": data, "event": event, "channel": channels, "persist": bool(persist), **extra}
        return self._classic("POST", "/events", body=body)

    def subscribe(self, user_id: str, event: str) -> dict[str, Any]:
        """Subscribes `user_id` to the channel `event` (``POST /subscriptions``).

        The user's personal channel (``personal-<user_id>``) then aliases
        `event`, live personal sockets included, and persisted events on it
        reach the user's inbox.  Idempotent; returns the subscription
        ``{"instance", "user_id", "event"}``.
        """
        _check_name("user_id", user_id)
        _check_name("event", event)
        return self._classic("POST", "/subscriptions", body={"user_id": user_id, "event": event})

    create_subscription = subscribe

    def unsubscribe(self, user_id: str, event: str, force: bool = False) -> dict[str, Any]:
        """Removes a subscription (``DELETE /subscriptions/<user_id>/<event>``).

        Returns the removed subscription; when there was none, returns
        ``{"result": "success"}``, or raises `NotFound` with `force`.
        """
        _check_name("user_id", user_id)
        _check_name("event", event)
        path = f"/subscriptions/{_segment(user_id)}/{_segment(event)}"
        return self._classic("DELETE", path, params={"force": "1"} if force else None)

    delete_subscription = unsubscribe

    def list_subscriptions(
        self, user_id: str | None = None, event: str | None = None
    ) -> list[dict[str, Any]]:
        """The app's subscriptions, optionally only `user_id`'s or `event`'s."""
        params = {k: v for k, v in (("user_id", user_id), ("event", event)) if v is not None}
        answer = self._classic("GET", "/subscriptions", params=params)
        return list(answer.get("subscriptions", []))

    def create_app(self, name: str, admin_token: str) -> dict[str, Any]:
        """Creates an app called `name` (``POST /apps``) and returns it.

        The answer holds the new app's ``ident`` (its id), ``key`` and
        ``secret``.  Unlike the original pushi, whose ``POST /apps`` was
        public, this server requires its admin credential: `admin_token` is
        the server's ``admin_token`` setting, sent as ``X-Admin-Token``; a
        wrong or empty one raises `Forbidden`.  No session is involved.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        headers = {"X-Admin-Token": admin_token} if admin_token else None
        return self._request("POST", "/apps", body={"name": name}, signed=False, headers=headers)

    def get_app(self) -> dict[str, Any]:
        """This app's record (``GET /apps/<app_id>``)."""
        return self._classic("GET", f"/apps/{_segment(self.app_id)}")

    def update_app(self, app_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """Changes this app's settings (``PUT /apps/<app_id>``) and returns the record.

        `fields` go in the JSON body (e.g. ``name="..."``, ``enabled=False``).
        `app_id` is accepted for the original client's signature; a session
        can only change its own app, so another id raises `NotFound`.
        """
        if not fields:
            raise ValueError("update_app needs at least one field")
        target = self.app_id if app_id is None else app_id
        return self._classic("PUT", f"/apps/{_segment(target)}", body=fields)

    def list_apps(self) -> list[dict[str, Any]]:
        """The apps the session sees (``GET /apps``): this app only."""
        return list(self._classic("GET", "/apps").get("apps", []))

    def health(self) -> dict[str, Any]:
        """The server's unsigned health check (``GET /health``)."""
        return self._request("GET", "/health", signed=False)

    # Names used by the official Pusher SDK, for drop-in use.

    def channels_info(
        self, prefix_filter: str | None = None, attributes: list[str] | None = None
    ) -> dict[str, Any]:
        """Alias of `channels` with the official SDK's argument names."""
        return self.channels(prefix_filter, attributes)

    def channel_info(self, channel: str, attributes: list[str] | None = None) -> dict[str, Any]:
        """Alias of `channel` with the official SDK's argument names."""
        return self.channel(channel, attributes)

    def users_info(self, channel: str) -> dict[str, Any]:
        """Alias of `users`."""
        return self.users(channel)

    # -- transport ---------------------------------------------------------

    def _classic(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One classic-API request with the session token, logging in first
        when needed and once more (then retrying) on a 403 answer."""
        token = self.get_token()
        try:
            return self._request(method, path, body, params, signed=False,
                                 headers={"X-Session-Id": token})
        except Forbidden:
            if self.token not in (None, token):
                token = self.token  # another call already logged in again
            else:
                token = self.login()
        return self._request(method, path, body, params, signed=False,
                             headers={"X-Session-Id": token})

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        signed: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Sends one request and returns the decoded JSON answer.

        `path` is already percent-escaped; it is signed exactly as sent.
        `headers` are added to the defaults.
        """
        payload = b"" if body is None else _compact_json(body).encode("utf-8")
        full_path = self._prefix + path
        if signed:
            query = signed_query(self.app_key, self.app_secret, method, full_path, payload, params)
        else:
            query = dict(params or {})
        url = self._origin + full_path
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        all_headers = {"Accept": "application/json", "User-Agent": _USER_AGENT, **(headers or {})}
        if method != "GET":
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            url,
            data=payload if method != "GET" else None,
            method=method,
            headers=all_headers,
        )
        try:
            extra = {"context": self.ssl_context} if self.ssl_context is not None else {}
            with urllib.request.urlopen(request, timeout=self.timeout, **extra) as response:
                status = response.status
                raw = response.read()
        except urllib.error.HTTPError as error:
            try:
                raw = error.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            raise _error_from_body(error.code, raw, error.reason) from None
        except urllib.error.URLError as error:
            raise PushiError(f"cannot reach {self.base_url}: {error.reason}", 0) from error
        except (OSError, http.client.HTTPException) as error:
            reason = str(error) or type(error).__name__
            raise PushiError(f"request to {self.base_url} failed: {reason}", 0) from error
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            snippet = raw[:200].decode("utf-8", "replace")
            raise PushiError(f"answer is not JSON: {snippet!r}", status) from None


def _check_name(what: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")


def _error_from_body(status: int, raw: bytes, reason: Any = None) -> PushiError:
    """The exception for an error answer: the JSON ``"error"`` field (Pusher
    API) or ``"message"`` field (classic API's ``{"result": "error", ...}``),
    else the text."""
    text = raw.decode("utf-8", "replace").strip()
    message = text
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        message = decoded["error"]
    elif (
        isinstance(decoded, dict)
        and decoded.get("result") == "error"
        and isinstance(decoded.get("message"), str)
    ):
        message = decoded["message"]
    if not message:
        message = str(reason or "") or f"HTTP status {status}"
    return error_for_status(status, message)


#: Alias kept for users of the original pushi client (`pushi.API`).
API = Pushi
