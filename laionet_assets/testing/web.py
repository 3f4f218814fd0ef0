"""A local HTTP server on 127.0.0.1 for download tests: real images, errors, slow and truncated
responses.  Routes:

* ``/img/<name>``: the bytes registered under ``name`` (content type from ``types``);
* ``/status/<code>``: that HTTP status;
* ``/flaky/<n>/<name>``: 503 for the first ``n`` requests of that path, then the image;
* ``/slow/<seconds>/<name>``: the image after a delay;
* ``/hang/<name>``: no answer until the server stops (longer than any client's timeout);
* ``/truncated/<name>``: a Content-Length larger than the body, then the connection closes;
* ``/redirect/<name>``: 302 to ``/img/<name>``;
* ``/to?<url>``: 302 to ``url`` (any scheme, any host: where a hostile page would send a client);
* ``/drip/<seconds>/<name>``: the headers, then one byte of the image every ``seconds``;
* ``/gzip/<name>``: the image gzip-compressed, with ``Content-Encoding: gzip``;
* ``/robots/<header>/<name>``: the image with ``X-Robots-Tag: <header>`` (percent-decoded);
* ``/malformed``: a status line followed by 600 kB that is no HTTP header;
* with ``folder``, any other path: the file at that path below the folder (the demo's web).
"""

from __future__ import annotations

import gzip
import io
import mimetypes
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def crafted_images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    jpeg = encode(rgb, "JPEG")
    return {
        "rgb.jpg": jpeg,
        "cmyk.jpg": encode(rgb.convert("CMYK"), "JPEG"),
        "palette.png": encode(rgb.convert("P"), "PNG"),
        "rgba.png": encode(rgb.convert("RGBA"), "PNG"),
        "gray16.png": encode(Image.fromarray((np.arange(400, dtype=np.uint16).reshape(20, 20) * 150)), "PNG"),
        "one_by_one.png": encode(Image.new("RGB", (1, 1)), "PNG"),
        "nine_by_eleven.png": encode(Image.new("RGB", (9, 11)), "PNG"),
        "ten_by_ten.png": encode(Image.new("RGB", (10, 10)), "PNG"),
        "cut.jpg": jpeg[: len(jpeg) // 2],
        "page.html": b"<!DOCTYPE html><html><body>Not an image</body></html>",
        "garbage.jpg": b"\xff\xd8\xff" + bytes(200),
    }


# What downloads from this server must be allowed to reach (it serves on loopback only).
LOOPBACK = ["127.0.0.1"]

ROUTES = (
    "img",
    "status",
    "redirect",
    "loop",
    "to",
    "flaky",
    "slow",
    "hang",
    "drip",
    "gzip",
    "robots",
    "malformed",
    "unsized",
    "truncated",
)


class ImageServer:
    """The server; ``url(route)`` is a full URL on it, ``hits`` counts requests per path."""

    def __init__(
        self, files: dict[str, bytes] | None = None, types: dict[str, str] | None = None, folder=None
    ):
        self.files, self.types = dict(files or {}), dict(types or {})
        self.folder = Path(folder).resolve() if folder is not None else None
        self.hits: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.holding, self.served = None, 0
        self.held, self.released = threading.Event(), threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # as web servers do (nginx's tcp_nodelay): headers and body are two writes, and Nagle's
            # algorithm would hold the body for the client's delayed ACK on a kept-alive connection
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def handle(self):
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):  # a client that stopped reading (size cap)
                    pass

            def _send(self, code: int, body: bytes, ctype: str = "image/jpeg", length: int | None = None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def _send_file(self, folder: Path, path: str):
                target = (folder / path.split("?")[0].lstrip("/")).resolve()
                if not target.is_relative_to(folder) or not target.is_file():
                    return self._send(404, b"not found", "text/html")
                ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                return self._send(200, target.read_bytes(), ctype)

            def do_GET(self):
                with server.lock:
                    server.hits[self.path] += 1
                    server.served += 1
                    held = server.holding is not None and server.served > server.holding
                if held:  # answered once the test releases it (or the server stops)
                    server.held.set()
                    server.released.wait()
                if self.path.startswith("/to?"):
                    self.send_response(302)
                    self.send_header("Location", unquote(self.path[len("/to?") :]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                parts = self.path.strip("/").split("/")
                route, args = parts[0], parts[1:]
                if route == "malformed":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n" + b"\x01not a header " * 40_000 + b"\r\n\r\n")
                    self.close_connection = True
                    return None
                if server.folder is not None and route not in ROUTES:
                    return self._send_file(server.folder, self.path)
                if route == "status":
                    return self._send(int(args[0]), b"error page", "text/html")
                if route in ("redirect", "loop"):  # loop: a redirect to itself, for ever
                    self.send_response(302)
                    self.send_header("Location", self.path if route == "loop" else "/img/" + args[0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if route == "flaky":
                    if server.hits[self.path] <= int(args[0]):
                        return self._send(503, b"busy", "text/plain")
                    args = args[1:]
                if route == "hang":
                    server.stopping.wait(600)
                    return self._send(503, b"stopped", "text/plain")
                if route == "slow":
                    time.sleep(float(args[0]))
                    args = args[1:]
                name = args[-1] if args else ""
                if name not in server.files:
                    return self._send(404, b"not found", "text/html")
                body, ctype = server.files[name], server.types.get(name, "image/jpeg")
                if route == "unsized":  # no Content-Length: the body ends when the connection closes
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                    return None
                if route == "drip":
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for i in range(len(body)):
                        if server.stopping.wait(float(args[0])):
                            break
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                    self.close_connection = True
                    return None
                if route == "gzip":
                    packed = gzip.compress(body)
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(packed)))
                    self.end_headers()
                    self.wfile.write(packed)
                    return None
                if route == "robots":
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    self.send_header("X-Robots-Tag", unquote(args[0]))
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return None
                if route == "truncated":
                    self._send(200, body[: len(body) // 2], ctype, length=len(body))
                    self.close_connection = True
                    return None
                return self._send(200, body, ctype)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ImageServer":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def hold_after(self, requests: int) -> None:
        """Answer the next ``requests`` requests, then hold every later one until ``release``;
        ``held`` is set once one is held."""
        with self.lock:
            self.holding, self.served = requests, 0
        self.held.clear()
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def url(self, route: str) -> str:
        return f"{self.base}/{route.lstrip('/')}"
