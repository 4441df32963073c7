"""A real Prometheus server for the tests: started on a free localhost port with a temporary data
directory, history backfilled with `promtool tsdb create-blocks-from openmetrics`, optional scrape
targets, stopped at the end. Debian's `prometheus` package provides both programs (`.ci/run`
installs it); without them the tests that need a server are skipped, saying why."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

AVAILABLE = shutil.which("prometheus") is not None and shutil.which("promtool") is not None
MISSING = "needs the prometheus and promtool programs (Debian: apt-get install prometheus; .ci/run installs them)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def openmetrics(metric: str, times: np.ndarray, columns: dict[str, np.ndarray]) -> str:
    """OpenMetrics text of gauge `metric`: one series per `columns` key (its label text, e.g.
    'instance="a",core="0"'), a sample at each of `times` (Unix seconds)."""
    lines = [f"# HELP {metric} generated for a test\n", f"# TYPE {metric} gauge\n"]
    for labels, values in columns.items():
        lines.extend(f"{metric}{{{labels}}} {value!r} {t:.3f}\n" for t, value in zip(times.tolist(), values.tolist()))
    return "".join(lines)


class PrometheusServer:
    def __init__(self, root: Path, history: str = "", scrape: list[str] = (), scrape_interval: str = "1s",
                 basic_auth: tuple[str, str] | None = None, tls: tuple[Path, Path] | None = None):
        """`basic_auth`: (user, bcrypt hash of the password) the server then asks every request for;
        `tls`: (certificate, key) files it then serves https with."""
        self.root = Path(root)
        self.data = self.root / "data"
        self.data.mkdir(parents=True)
        if history:
            source = self.root / "history.om"
            source.write_text(history + "# EOF\n")
            subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(self.data)],
                           check=True, capture_output=True)
        targets = ", ".join(f"'{t}'" for t in scrape)
        config = self.root / "prometheus.yml"
        config.write_text(f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n"
                          + (f"scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [{targets}]\n"
                             if scrape else "scrape_configs: []\n"))
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log = open(self.root / "prometheus.log", "wb")
        arguments = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.data}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=30d"]
        web = ""
        if basic_auth is not None:
            web += f"basic_auth_users:\n  {basic_auth[0]}: '{basic_auth[1]}'\n"
        if tls is not None:
            web += f"tls_server_config:\n  cert_file: {tls[0]}\n  key_file: {tls[1]}\n"
        if web:
            (self.root / "web.yml").write_text(web)
            arguments.append(f"--web.config.file={self.root / 'web.yml'}")
        self.ready_status = 401 if basic_auth is not None else 200  # the readiness probe carries no login
        self.process = subprocess.Popen(arguments, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.root / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1, context=_unverified()) as answer:
                    if answer.status == self.ready_status:
                        return
            except urllib.error.HTTPError as error:
                if error.code == self.ready_status:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus did not become ready in 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()


def _unverified():
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def self_signed_certificate(folder: Path) -> tuple[Path, Path] | None:
    """(certificate, key) for 127.0.0.1 made by openssl, or None without openssl."""
    if shutil.which("openssl") is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key
