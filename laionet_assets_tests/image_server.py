"""A local HTTP server on 127.0.0.1 for download tests: real images, errors, slow and truncated
responses.  Routes:

* ``/img/<name>``: the bytes registered under ``name`` (content type from ``types``);
* ``/status/<code>``: that HTTP status;
* ``/flaky/<n>/<name>``: 503 for the first ``n`` requests of that path, then the image;
* ``/slow/<seconds>/<name>``: the image after a delay;
* ``/truncated/<name>``: a Content-Length larger than the body, then the connection closes;
* ``/redirect/<name>``: 302 to ``/img/<name>``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ImageServer:
    def __init__(self, files: dict[str, bytes], types: dict[str, str] | None = None):
        self.files, self.types = dict(files), dict(types or {})
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code: int, body: bytes, ctype: str = "image/jpeg", length: int | None = None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                server.hits[self.path] += 1
                parts = self.path.strip("/").split("/")
                route, args = parts[0], parts[1:]
                if route == "status":
                    return self._send(int(args[0]), b"error page", "text/html")
                if route == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/img/" + args[0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if route == "flaky":
                    if server.hits[self.path] <= int(args[0]):
                        return self._send(503, b"busy", "text/plain")
                    args = args[1:]
                if route == "slow":
                    time.sleep(float(args[0]))
                    args = args[1:]
                name = args[-1] if args else ""
                if name not in server.files:
                    return self._send(404, b"not found", "text/html")
                body, ctype = server.files[name], server.types.get(name, "image/jpeg")
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
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, route: str) -> str:
        return f"{self.base}/{route.lstrip('/')}"
