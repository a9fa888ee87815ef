"""A local model-zoo server for the download tests: files over http on 127.0.0.1, every request recorded."""
from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path


def sha256_prefix(data: bytes, n: int = 8) -> str:
    """The first ``n`` hex digits of the sha256 of ``data`` (the ``-<hash>`` suffix of zoo file names)."""
    return hashlib.sha256(data).hexdigest()[:n]


class ZooServer:
    """Serves ``add()``-ed bytes; ``hits`` lists the paths of every GET, 404s included."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache  # the checkpoint cache the tests point SEGLAB_HOME at
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.hits.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; return its URL."""
        self.files[path] = data
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
