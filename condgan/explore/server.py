"""HTTP plumbing for `condgan explore`: GET / (the page), /api/info, /api/sample, /api/interpolate.

Answers are JSON; a request the explorer refuses is a 400 with `{"error": message}` and anything unexpected a
500 with a one-line message (the traceback goes to the terminal, never to the page). The server binds
127.0.0.1 only and answers only requests addressed to that host (a page elsewhere cannot reach it through a
DNS name pointing here).
"""
from __future__ import annotations

import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import CondganError, UsageError
from .app import Explorer
from .page import PAGE

HOST = "127.0.0.1"
LOCAL_NAMES = ("127.0.0.1", "localhost")


class _Handler(BaseHTTPRequestHandler):
    server: "ExplorerServer"
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value, allow_nan=False, default=str).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in LOCAL_NAMES:
            self._json(403, {"error": f"This explorer answers requests to {HOST} only."})
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        explorer = self.server.explorer
        try:
            if url.path in ("/", "/index.html"):
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif url.path == "/api/info":
                self._json(200, _finite(explorer.info()))
            elif url.path == "/api/sample":
                self._json(200, explorer.sample(query))
            elif url.path == "/api/interpolate":
                self._json(200, explorer.interpolate(query))
            else:
                self._json(404, {"error": f"No page '{url.path[:80]}' here; the explorer is at /."})
        except CondganError as e:  # the user's request: say what is wrong with it
            self._json(400, {"error": " ".join(str(e).split())})
        except (BrokenPipeError, ConnectionResetError):  # the page went away (a newer request superseded it)
            pass
        except Exception as e:  # a bug: one line to the page, the traceback to the terminal
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"The explorer failed on this request ({type(e).__name__}); see the "
                                      "terminal running condgan explore."})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # one line per image request would bury the URL and any real error in the terminal


def _finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: such numbers become null (the page shows a dash)."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C does not wait for a generation in progress

    def __init__(self, explorer: Explorer, port: int):
        self.explorer = explorer
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


def make_server(explorer: Explorer, port: int = 0) -> ExplorerServer:
    """A server for `explorer` on 127.0.0.1:`port` (0: a free port the system picks; see `.url`)."""
    try:
        return ExplorerServer(explorer, port)
    except OSError as e:
        raise UsageError(f"Cannot listen on {HOST}:{port} ({e.strerror or e}); pick another with --port.") from None


def serve(path: str | Path, port: int, device, precision: str | None = None) -> None:
    """Load G_ema from `path`, print the page's address and serve until Ctrl-C."""
    explorer = Explorer.open(path, device, precision)
    server = make_server(explorer, port)
    s = explorer.sampler
    print(f"condgan explore: {path} (step {s.step:,}, {s.num_classes} classes, {s.resolution} px, on {s.device})\n"
          f"Open {server.url} — Ctrl-C stops it.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
