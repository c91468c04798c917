"""A loopback status server for the `StatusPoller` tests: real HTTP on 127.0.0.1, port 0.

Each job answers its current body (``set``), or first the scripted responses queued for it
(``script``); an unknown job gets 404. Other paths answer what ``routes`` holds for them.
Every request is recorded with its time and headers.
"""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Reply:
    """One scripted response."""

    code: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """seconds before the status line is sent"""
    trickle: Optional[float] = None
    """if set, the body is sent a byte at a time with this many seconds between bytes"""
    chunked: bool = False
    """send the body without a Content-Length, in chunks"""


@dataclass
class Seen:
    job_id: str
    at: float
    headers: dict[str, str]
    path: str


class StatusServer:
    """A threading HTTP/1.1 server with keep-alive, in a thread of its own; HTTPS if given a
    server-side ``tls`` context, where each connection's handshake runs in its own thread and
    one that fails is counted in ``failed_handshakes``."""

    def __init__(self, prefix: str = "", tls: Optional[ssl.SSLContext] = None) -> None:
        self.prefix = prefix
        self.tls = tls
        self.failed_handshakes: list[str] = []
        self.bodies: dict[str, bytes] = {}
        self.scripts: dict[str, list[Reply]] = defaultdict(list)
        self.requests: list[Seen] = []
        # Replies finished (sent, or refused by a closed connection), after any delay.
        self.answered = 0
        self.routes: dict[str, bytes] = {}
        """bodies for whole paths that are not a job's status (``/about``, say)"""
        self.lock = threading.Lock()
        self.connections = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server.connections += 1

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def finish_request(self, request: Any, client_address: Any) -> None:
                if tls is None:
                    super().finish_request(request, client_address)
                    return
                try:
                    secured = tls.wrap_socket(request, server_side=True)
                except OSError as err:  # ssl.SSLError included
                    with server.lock:
                        server.failed_handshakes.append(str(err))
                    return
                with secured:
                    super().finish_request(secured, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        # `shutdown` waits for the loop's next look at its flag: a short interval keeps each
        # test's teardown short.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}{self.prefix}"

    def set(self, job_id: str, status: str, **fields: Any) -> None:
        with self.lock:
            self.bodies[job_id] = json.dumps({"status": status, **fields}).encode()

    def set_body(self, job_id: str, body: bytes) -> None:
        with self.lock:
            self.bodies[job_id] = body

    def script(self, job_id: str, *replies: Reply) -> None:
        with self.lock:
            self.scripts[job_id].extend(replies)

    def seen(self, job_id: Optional[str] = None) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if job_id is None or r.job_id == job_id]

    def times(self, job_id: str) -> list[float]:
        return [r.at for r in self.seen(job_id)]

    def handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path
        if path.startswith("http://"):
            # The absolute form a client sends to a proxy.
            path = "/" + path.split("/", 3)[3]
        parts = path[len(self.prefix) :].split("/") if path.startswith(self.prefix) else []
        job_id = parts[2] if len(parts) == 4 and parts[1] == "jobs" and parts[3] == "status" else ""
        with self.lock:
            self.requests.append(
                Seen(job_id, time.monotonic(), dict(handler.headers), handler.path)
            )
            queued = self.scripts.get(job_id)
            if not job_id and path in self.routes:
                reply = Reply(body=self.routes[path])
            elif queued:
                reply = queued.pop(0)
            elif job_id in self.bodies:
                reply = Reply(body=self.bodies[job_id])
            else:
                reply = Reply(code=404, body=b'{"detail": "not found"}')
        try:
            self.send(handler, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass
        with self.lock:
            self.answered += 1

    @staticmethod
    def send(handler: http.server.BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        handler.send_response(reply.code)
        handler.send_header("Content-Type", "application/json")
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for start in range(0, len(reply.body), 100):
                chunk = reply.body[start : start + 100]
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
            return
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        if reply.trickle is None:
            handler.wfile.write(reply.body)
            return
        for byte in reply.body:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(reply.trickle)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> StatusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def poller_threads() -> int:
    """The network threads of pollers in this process (they are named ``iqm-poller``)."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                count += comm.read().strip() == "iqm-poller"
        except (FileNotFoundError, ProcessLookupError):
            pass  # the thread ended after the listing: at open, or at read
    return count


def open_sockets() -> int:
    """The sockets this process holds open."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def client_sockets(port: int) -> int:
    """Open TCP sockets of this process connected to ``port`` (the client ends only)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                    count += remote_port == port and fields[9] in ours
        except FileNotFoundError:
            pass
    return count


NETWORK_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def clear_environment(monkeypatch: Any, *extra: str) -> None:
    """Removes the proxy variables (read as requests reads them: these tests talk to loopback)
    and any ``extra`` ones, in both cases."""
    for name in (*NETWORK_VARIABLES, *extra):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def iqm_client(server: StatusServer, **kwargs: Any) -> Any:
    """An ``IQMClient`` of the installed iqm-client release for ``server``'s URL.

    From 29.0 the client asks the server's ``/about`` at construction which station-control
    service it is; the server answers as one matching the installed station-control client.
    The construction's warnings (the server lists no compatible client libraries, the V1 API
    is deprecated) are not what the tests look at.
    """
    import warnings
    from importlib import metadata

    from iqm.iqm_client import IQMClient

    try:
        station_control = metadata.version("iqm-station-control-client")
    except metadata.PackageNotFoundError:
        pass
    else:
        about = {"software_versions": {"iqm-station-control-client": station_control}}
        server.routes[f"{server.prefix}/about"] = json.dumps(about).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return IQMClient(server.url, **kwargs)
