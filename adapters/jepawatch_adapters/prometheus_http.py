"""Prometheus' HTTP API, the part jepawatch reads: `query_range`, in chunks, with retries.

- The server is `http://HOST:PORT` or `https://...` (`prometheus://` and `prometheus+https://` say
  the same); a path prefix (a server behind a proxy at `/prometheus`) is kept.
- Credentials never sit in the URL (it is recorded in a bundle and printed): a bearer token from
  JEPAWATCH_PROMETHEUS_TOKEN or `token_file=`, basic auth from JEPAWATCH_PROMETHEUS_USER /
  JEPAWATCH_PROMETHEUS_PASSWORD or `user=` and `password_file=`. TLS: `ca_file=`, `cert_file=` and
  `key_file=` (a client certificate), `insecure=true` (no verification). None is ever printed.
- Prometheus answers at most 11,000 points per series per query: a long range is asked for in
  chunks of `CHUNK_POINTS` steps on one grid (multiples of the step), so chunks meet exactly.
- A 5xx answer, a timeout or a refused connection is tried again after 0.25, 0.5, 1 and 2 s;
  anything else (a bad query, a refused login) is one line saying what is wrong and what to do.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from jepawatch.errors import DataError

CHUNK_POINTS = 10_000  # below Prometheus' 11,000 points per series and query
RETRY_PAUSES = (0.25, 0.5, 1.0, 2.0)
DEFAULT_TIMEOUT = 30.0
SCHEMES = {"http": "http", "https": "https", "prometheus": "http", "prometheus+http": "http",
           "prometheus+https": "https"}
TOKEN_ENV, USER_ENV, PASSWORD_ENV = "JEPAWATCH_PROMETHEUS_TOKEN", "JEPAWATCH_PROMETHEUS_USER", "JEPAWATCH_PROMETHEUS_PASSWORD"


@dataclass
class Connection:
    """Where the server is and how to talk to it (credentials held here, never shown)."""

    base: str  # scheme://host:port[/prefix], without a trailing slash
    timeout: float = DEFAULT_TIMEOUT
    headers: dict = field(default_factory=dict, repr=False)
    tls: ssl.SSLContext | None = field(default=None, repr=False)

    @classmethod
    def from_source(cls, source: str, options: dict) -> "Connection":
        parsed = urllib.parse.urlsplit(source)
        scheme = SCHEMES.get(parsed.scheme.lower())
        if scheme is None:
            raise DataError(f"{source}: a Prometheus server is http://HOST:PORT or https://HOST:PORT")
        if parsed.username or parsed.password:
            raise DataError(f"{_shown(source)}: give credentials in {USER_ENV}/{PASSWORD_ENV} or {TOKEN_ENV} (or "
                            "-o password_file=/-o token_file=), not in the URL, which is recorded and printed")
        try:
            host, port = parsed.hostname, parsed.port
        except ValueError:
            raise DataError(f"{source}: the port is not a number from 1 to 65535") from None
        if not host:
            raise DataError(f"{source}: no server named; write e.g. http://localhost:9090")
        if parsed.query or parsed.fragment:
            raise DataError(f"{source}: give the query with -o query=PROMQL, not in the URL")
        netloc = f"[{host}]" if ":" in host else host
        base = f"{scheme}://{netloc}{f':{port}' if port else ''}{parsed.path.rstrip('/')}"
        return cls(base, _timeout(options.get("timeout")), _auth_headers(options), _tls(scheme, options))

    def get_json(self, path: str, params: dict, what: str) -> dict:
        """GET base/path?params as the API's `data`; retried on 5xx, timeouts and refused connections."""
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        for name, value in self.headers.items():  # credentials never follow a redirect to another host
            request.add_unredirected_header(name, value)
        for attempt, pause in enumerate((*RETRY_PAUSES, None)):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout, context=self.tls) as response:
                    return self._data(response.read(), what)
            except urllib.error.HTTPError as error:
                body = error.read()
                if error.code >= 500 and pause is not None:
                    time.sleep(pause)
                    continue
                raise DataError(self._refusal(error.code, body, what)) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as error:
                reason = getattr(error, "reason", error)
                if isinstance(reason, ssl.SSLError) or pause is None:
                    raise DataError(f"cannot reach Prometheus at {self.base} ({_reason(reason)}) after {attempt + 1} "
                                    "tries; check the address, and that the server runs and answers there") from None
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _data(self, raw: bytes, what: str) -> dict:
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DataError(f"{self.base} did not answer {what} with JSON; is it a Prometheus server (or its "
                            "path prefix missing from the URL)?") from None
        if not isinstance(answer, dict) or answer.get("status") != "success" or not isinstance(answer.get("data"), dict):
            raise DataError(f"{self.base} answered {what} with an error: {_message(answer)}")
        return answer["data"]

    def _refusal(self, code: int, body: bytes, what: str) -> str:
        try:
            message = _message(json.loads(body.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            message = ""
        if code in (401, 403):
            return (f"Prometheus at {self.base} refused the login (HTTP {code}); give a token in {TOKEN_ENV} or a user "
                    f"and password in {USER_ENV} and {PASSWORD_ENV}")
        if code == 404:
            return (f"{self.base} has no Prometheus API (HTTP 404 for /api/v1); check the address and any path prefix "
                    "(a server behind a proxy: http://HOST/prometheus)")
        if code in (400, 422) and message:
            return f"Prometheus refused {what}: {message}"
        return f"Prometheus at {self.base} answered {what} with HTTP {code}" + (f": {message}" if message else "")


def query_range(connection: Connection, query: str, start: float, end: float, step: float, what: str) -> list[dict]:
    """Every series `query` gives on the grid start, start + step, ..., end, asked for in chunks;
    [{"metric": labels, "values": [[time, "value"], ...]}] with one entry per label set."""
    series: dict[tuple, dict] = {}
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, chunk_start + (CHUNK_POINTS - 1) * step)
        data = connection.get_json("/api/v1/query_range", {"query": query, "start": _number(chunk_start),
                                                            "end": _number(chunk_end), "step": _number(step)}, what)
        if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise DataError(f"{what} gives a {data.get('resultType')}, not series over time; query a vector expression")
        for item in data["result"]:
            metric, values = item.get("metric"), item.get("values")
            if not isinstance(metric, dict) or not isinstance(values, list):
                raise DataError(f"{connection.base} answered {what} with a malformed series; is it Prometheus?")
            key = tuple(sorted((str(k), str(v)) for k, v in metric.items()))
            series.setdefault(key, {"metric": dict(key), "values": []})["values"].extend(values)
        chunk_start = chunk_end + step
    return list(series.values())


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _message(answer: object) -> str:
    if isinstance(answer, dict):
        text = " ".join(str(answer.get(k, "")) for k in ("errorType", "error") if answer.get(k))
        return " ".join(text.split())[:300]
    return ""


def _reason(reason: object) -> str:
    text = str(getattr(reason, "strerror", None) or reason)
    return " ".join(text.split())[:200] or type(reason).__name__


def _shown(source: str) -> str:
    """The URL without its user and password."""
    parsed = urllib.parse.urlsplit(source)
    host = parsed.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parsed.scheme, host, parsed.path, "", ""))


def _timeout(text: str | None) -> float:
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise DataError(f"-o timeout={text}: give seconds from 0 to 3600, e.g. timeout=30")
    return value


def _secret(path: str | None, variable: str, what: str) -> str | None:
    if path is None:
        return os.environ.get(variable) or None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError as error:
        raise DataError(f"cannot read the {what} file {path} ({error.strerror}); check -o {what}_file=") from None


def _auth_headers(options: dict) -> dict:
    token = _secret(options.get("token_file"), TOKEN_ENV, "token")
    user = options.get("user") or os.environ.get(USER_ENV)
    password = _secret(options.get("password_file"), PASSWORD_ENV, "password")
    if token and user:
        raise DataError(f"both a bearer token and a user are given for Prometheus; give one ({TOKEN_ENV}, or "
                        f"{USER_ENV} and {PASSWORD_ENV})")
    if token:
        return {"Authorization": f"Bearer {token}"}
    if user:
        pair = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _tls(scheme: str, options: dict) -> ssl.SSLContext | None:
    if scheme != "https":
        if any(options.get(k) for k in ("ca_file", "cert_file", "key_file")) or \
                str(options.get("insecure", "false")).lower() != "false":
            raise DataError("TLS options are for an https:// server; this one is http://")
        return None
    try:
        context = ssl.create_default_context(cafile=options.get("ca_file"))
        if options.get("cert_file"):
            context.load_cert_chain(options["cert_file"], options.get("key_file"))
    except (OSError, ssl.SSLError) as error:
        raise DataError(f"cannot load the TLS files given (-o ca_file/cert_file/key_file): {_reason(error)}") from None
    insecure = str(options.get("insecure", "false")).lower()
    if insecure not in ("true", "false"):
        raise DataError(f"-o insecure={insecure}: give true or false")
    if insecure == "true":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
