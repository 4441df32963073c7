"""Delivering alert events to a webhook without ever holding up scoring.

Write-ahead spool: `submit` appends the event's body to a JSON-lines spool file (one line, flushed
and fsynced) and returns; a background thread posts the spool's events in order, each with a
timeout and a few retries with exponential backoff, and removes an event from the spool
(atomically rewritten) once the receiver has taken it (HTTP 2xx). When an event still fails, the
thread waits (30 s, doubling to 5 min) before it tries that event again, so later events keep
their order; what is left when the run ends stays in the spool for the next run to send first. So a dead receiver costs scoring nothing, no event is lost (a run killed after a
delivery and before the spool's rewrite sends that one event again: at least once, with the same
fingerprint), and a receiver that fails twice then succeeds gets each event exactly once.
A refusal that retrying cannot fix (HTTP 400, 413, 422: the body itself) moves the event to
`SPOOL.rejected.jsonl` beside the spool, with a warning, so that one bad event does not hold up
the rest forever.

Header values (`Name: value`, e.g. an Authorization token) are sent, never printed: messages name
the header, not its value, and a URL's user:password part is masked.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

from jepawatch._version import __version__
from jepawatch.atomic import atomic_write_text, ensure_dir, remove_stale_temporaries
from jepawatch.errors import ConfigError

TIMEOUT_SECONDS = 5.0
RETRIES = 3  # after the first try
BACKOFF_SECONDS = 0.5  # doubled after each failed try
PAUSE_SECONDS = (30.0, 300.0)  # after an event still failed: first pause, longest pause
REFUSED = (400, 413, 422)  # the receiver cannot take this body: retrying will not help


def parse_headers(values: list[str] | None) -> dict[str, str]:
    """['Name: value', ...] -> {Name: value}; a malformed one is a one-line error that shows no value."""
    headers = {}
    for i, value in enumerate(values or [], 1):
        name, sep, content = value.partition(":")
        if not sep or not name.strip() or any(c in name.strip() for c in " \t\r\n") or "\n" in content or "\r" in content:
            raise ConfigError(f"--webhook-header number {i} is not of the form 'Name: value' on one line "
                              "(its value is not shown)")
        headers[name.strip()] = content.strip()
    return headers


def check_url(url: str) -> str:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigError(f"--webhook {redact_url(url)!r} has a port that is not a number") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--webhook {redact_url(url)!r} is not an http:// or https:// URL")
    return url


def redact_url(url: str) -> str:
    """scheme://host[:port]/... : no user, password, path or query (where webhook tokens live)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, "/..." if parts.path not in ("", "/") or parts.query else "", "", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx is then raised as an HTTPError


_OPENER = urllib.request.build_opener(_NoRedirect)


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


class WebhookDelivery:
    """Posts events' bodies to `url` in order, from the spool at `spool`, in a background thread."""

    def __init__(self, url: str, spool: Path, headers: dict[str, str] | None = None,
                 timeout: float = TIMEOUT_SECONDS, retries: int = RETRIES, backoff: float = BACKOFF_SECONDS,
                 warn: Callable[[str], None] = lambda message: None, pause: tuple[float, float] = PAUSE_SECONDS):
        self.url = check_url(url)
        self.shown_url = redact_url(url)
        self.spool = Path(spool)
        self.headers = {"Content-Type": "application/json", "User-Agent": f"jepawatch/{__version__}", **(headers or {})}
        self.timeout, self.retries, self.backoff, self.pause = timeout, retries, backoff, pause
        self.warn = warn
        self.delivered = 0
        self._messages: list[str] = []  # said by the scoring thread (`messages`), never by this one
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._retry_at = 0.0
        self._pause = pause[0]
        ensure_dir(self.spool.parent)
        with self._spool_lock():
            remove_stale_temporaries(self.spool)  # a rewrite cut short by a kill
        self._thread = threading.Thread(target=self._run, name="jepawatch-webhook", daemon=True)
        self._thread.start()  # the spool left by an earlier run is sent first

    # -- the scoring side: cheap and never blocking on the network ----------------------------
    def submit(self, body: dict) -> None:
        line = json.dumps(body, separators=(",", ":")) + "\n"
        try:
            with self._spool_lock():
                with open(self.spool, "a+b") as f:
                    if f.tell() and (f.seek(-1, os.SEEK_END) or f.read(1) != b"\n"):
                        line = "\n" + line  # a line cut short (disk full, a kill) stays its own line
                    f.write(line.encode())
                    f.flush()
                    os.fsync(f.fileno())
        except OSError as exc:
            self._messages.append(f"an alert event could not be spooled in {self.spool} ({exc.strerror or exc}); "
                                  "it is not delivered")
            return
        self._wake.set()

    def messages(self) -> list[str]:
        """What went wrong with deliveries since the last call (for the caller to warn of)."""
        taken, self._messages = self._messages, []
        return taken

    def close(self, wait_seconds: float | None = None) -> int:
        """Let the thread deliver what it can within `wait_seconds` (default: one request's timeout
        and a second); returns how many events are still spooled for the next run. (A delivery
        still under way then goes on until the process ends; the spool stays consistent.)"""
        self._stop.set()
        self._wake.set()
        self._thread.join(self.timeout + 1.0 if wait_seconds is None else wait_seconds)
        for message in self.messages():
            self.warn(message)
        try:
            left = len(self._pending())
        except OSError:
            left = 0
        if left:
            self.warn(f"{left} alert event(s) could not be delivered to the webhook {self.shown_url} yet; "
                      f"they are kept in {self.spool} and sent first on the next run")
        return left

    # -- the delivering side --------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._deliver()
        except Exception as exc:  # noqa: BLE001 -- the thread must not die with a traceback
            self._messages.append(f"webhook delivery stopped ({type(exc).__name__}); the events wait in {self.spool}")

    def _deliver(self) -> None:
        while True:
            pending = self._pending()
            waiting = time.monotonic() < self._retry_at
            if pending and not waiting:
                outcome = self._post(pending[0]) if _is_json(pending[0]) else "rejected"  # a line cut by a crash
                if outcome == "failed":
                    if self._stop.is_set():
                        return  # closing: the rest waits for the next run, in order
                    self._retry_at = time.monotonic() + self._pause
                    self._pause = min(self._pause * 2, self.pause[1])
                    continue
                self._pause = self.pause[0]
                self._remove_first(pending[0], rejected=outcome == "rejected")
                continue
            if self._stop.is_set():
                return
            self._wake.wait(min(0.5, max(0.01, self._retry_at - time.monotonic())) if waiting else 0.5)
            self._wake.clear()

    def _post(self, line: str) -> str:
        """'sent', 'rejected' (the receiver cannot take this body) or 'failed' (after every retry)."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=line.encode(), headers=self.headers, method="POST")
            try:
                with _OPENER.open(request, timeout=self.timeout) as response:
                    response.read()
                self.delivered += 1
                return "sent"
            except urllib.error.HTTPError as exc:
                if exc.code in REFUSED:
                    self._messages.append(f"the webhook {self.shown_url} refused an alert event (HTTP {exc.code}); "
                                          f"it is kept in {self._rejected_path()}, not sent again")
                    return "rejected"
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                reason = type(getattr(exc, "reason", exc)).__name__
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        self._messages.append(f"the webhook {self.shown_url} did not take an alert event ({reason}); "
                              f"it and any later ones wait in {self.spool}")
        return "failed"

    def _pending(self) -> list[str]:
        with self._spool_lock():
            try:
                text = self.spool.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _remove_first(self, line: str, rejected: bool) -> None:
        """Drop the first event from the spool if it is still `line` (compared without blanks or CRs)."""
        with self._spool_lock():
            lines = [x.strip() for x in self.spool.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
            if lines and lines[0] == line:
                if rejected:
                    with open(self._rejected_path(), "a", encoding="utf-8") as f:
                        f.write(lines[0] + "\n")
                atomic_write_text(self.spool, "".join(x + "\n" for x in lines[1:]))

    def _rejected_path(self) -> Path:
        return self.spool.with_name(self.spool.name + ".rejected.jsonl")

    @contextmanager
    def _spool_lock(self) -> Iterator[None]:
        """One writer of the spool at a time, this thread or another process with the same spool."""
        fd = os.open(self.spool.with_name(self.spool.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
