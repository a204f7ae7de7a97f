"""A real local HTTP server that serves recorded responses ("recordings").

Used by the tests and by ``bevaka demo``: every source's URL can be pointed at it, so the
whole crawler runs offline against real HTTP.

Layout: ``<dir>/<key>/routes.yaml`` plus the recorded bodies next to it::

    entry: /eu_portal/search          # the source's url in the demo = base_url + entry
    options: {detail_url: "/eu_portal/topicDetails/{identifier}.json"}
    routes:
      - path: /eu_portal/search        # fnmatch patterns allowed: /vinnova/rounds/*
        method: POST                   # default GET
        query: {pageNumber: "2"}       # optional: only when these query params are equal
        file: search-page2.json
        content_type: application/json
        status: 200                    # default 200
        headers: {X-WP-TotalPages: "2"}  # optional extra response headers
        hang: false                    # true: never answer (until the server stops)

Option values starting with "/" get the server's base URL prefixed. Bodies may contain the
placeholder ``{base}``, replaced by the server's base URL. Unmatched paths answer 404.
Files are read at request time, so a test may edit a recording between two crawls.
Every answer carries an ``ETag`` (a hash of the body) and honours ``If-None-Match`` with
``304 Not Modified``, so conditional requests can be exercised.
"""

from __future__ import annotations

import fnmatch
import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import yaml

from config.schema import SourceEntry, SourcesFile

DEFAULT_RECORDINGS = Path(__file__).resolve().parent / "recordings"
HANG_LIMIT_SECONDS = 120.0


@dataclass(frozen=True)
class Route:
    path: str
    file: str
    directory: Path
    method: str = "GET"
    query: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    hang: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    def matches(self, method: str, path: str, query: dict[str, str]) -> bool:
        if method != self.method:
            return False
        if not fnmatch.fnmatchcase(path, self.path):
            return False
        return all(query.get(k) == v for k, v in self.query.items())


@dataclass(frozen=True)
class Recording:
    """The recorded responses of one source."""

    key: str
    directory: Path
    entry: str
    options: dict[str, Any]
    routes: list[Route]


class RecordingError(ValueError):
    """A routes.yaml that cannot be used."""


def load_recording(directory: Path) -> Recording:
    """Read ``<directory>/routes.yaml``."""
    path = directory / "routes.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RecordingError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("routes"), list):
        raise RecordingError(f"{path}: expected a mapping with a 'routes' list")
    unknown = set(data) - {"entry", "options", "routes"}
    if unknown:
        raise RecordingError(f"{path}: unknown keys {sorted(unknown)}")
    routes = []
    allowed = {"path", "method", "query", "file", "content_type", "status", "hang", "headers"}
    for index, raw in enumerate(data["routes"]):
        if not isinstance(raw, dict) or "path" not in raw or "file" not in raw:
            raise RecordingError(f"{path}: routes[{index}] needs 'path' and 'file'")
        extra = set(raw) - allowed
        if extra:
            raise RecordingError(f"{path}: routes[{index}]: unknown keys {sorted(extra)}")
        if not (directory / raw["file"]).is_file():
            raise RecordingError(f"{path}: routes[{index}]: no file {raw['file']!r}")
        routes.append(
            Route(
                path=str(raw["path"]),
                file=str(raw["file"]),
                directory=directory,
                method=str(raw.get("method", "GET")).upper(),
                query={str(k): str(v) for k, v in (raw.get("query") or {}).items()},
                content_type=str(raw.get("content_type", "text/html; charset=utf-8")),
                status=int(raw.get("status", 200)),
                hang=bool(raw.get("hang", False)),
                headers=tuple((str(k), str(v)) for k, v in (raw.get("headers") or {}).items()),
            )
        )
    return Recording(
        key=directory.name,
        directory=directory,
        entry=str(data.get("entry") or (routes[0].path if routes else "/")),
        options=dict(data.get("options") or {}),
        routes=routes,
    )


def load_recordings(directory: Path, keys: list[str] | None = None) -> dict[str, Recording]:
    """Every ``<directory>/<key>/routes.yaml`` (only the given keys when set)."""
    out: dict[str, Recording] = {}
    if not directory.is_dir():
        return out
    for child in sorted(directory.iterdir()):
        if not (child / "routes.yaml").is_file():
            continue
        if keys is not None and child.name not in keys:
            continue
        out[child.name] = load_recording(child)
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _MirrorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        return  # keep test output quiet

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        mirror = self.server.mirror
        mirror.requests.append((self.command, self.path, dict(self.headers.items())))
        route = mirror.find(self.command, parts.path, query)
        if route is None:
            self._send(404, b"not recorded\n", "text/plain; charset=utf-8", etag=None)
            return
        if route.hang:
            mirror.stopping.wait(HANG_LIMIT_SECONDS)
            self.close_connection = True
            return
        body = (route.directory / route.file).read_bytes()
        body = body.replace(b"{base}", mirror.base_url.encode("ascii"))
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if route.status == 200 and self.headers.get("If-None-Match") == etag:
            self._send(304, b"", route.content_type, etag=etag)
            return
        self._send(route.status, body, route.content_type, etag=etag, headers=route.headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        etag: str | None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if etag:
            self.send_header("ETag", etag)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer
    do_HEAD = _answer


class _MirrorServer(ThreadingHTTPServer):
    daemon_threads = True
    mirror: Mirror


class LocalHTTPServer:
    """An HTTP server on 127.0.0.1 on a free port, answering from a background thread; a
    context manager. A subclass builds its server in :meth:`make_server`; ``stopping`` is
    set while it stops (handlers that wait on purpose give up then)."""

    thread_name = "local-http"

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def make_server(self) -> ThreadingHTTPServer:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.thread_name} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self.stopping.clear()
        self._server = self.make_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Mirror(LocalHTTPServer):
    """Serve recordings on 127.0.0.1 on a free port, in a background thread.

    >>> with Mirror(Path("tests/files")) as mirror:
    ...     url = mirror.base_url + "/eu_portal/search"
    """

    thread_name = "mirror"

    def __init__(self, directory: Path = DEFAULT_RECORDINGS, keys: list[str] | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.recordings = load_recordings(self.directory, keys)
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def make_server(self) -> ThreadingHTTPServer:
        server = _MirrorServer(("127.0.0.1", 0), _Handler)
        server.mirror = self
        return server

    def find(self, method: str, path: str, query: dict[str, str]) -> Route | None:
        for recording in self.recordings.values():
            for route in recording.routes:
                if route.matches(method, path, query):
                    return route
        return None

    def sources(self, sources: SourcesFile) -> SourcesFile:
        """``sources`` pointed at this mirror (see :func:`mirrored_sources`)."""
        return mirrored_sources(sources, self.base_url, self.directory)


def _mirror_options(options: dict[str, Any], base_url: str) -> dict[str, Any]:
    return {
        k: (base_url + v if isinstance(v, str) and v.startswith("/") else v)
        for k, v in options.items()
    }


def mirrored_entry(entry: SourceEntry, recording: Recording, base_url: str) -> SourceEntry:
    """One source entry pointed at the mirror: url = base_url + entry, options merged."""
    data = entry.model_dump()
    data["url"] = base_url + recording.entry
    data["urls"] = []
    data["enabled"] = True
    data["options"] = {**entry.options, **_mirror_options(recording.options, base_url)}
    return SourceEntry.model_validate(data)


def mirrored_sources(
    sources: SourcesFile, base_url: str, recordings_dir: Path = DEFAULT_RECORDINGS
) -> SourcesFile:
    """Every source with a recording points at the mirror and is enabled; every other
    source is disabled (so nothing reaches the internet)."""
    recordings = load_recordings(Path(recordings_dir))
    entries = []
    for entry in sources.sources:
        recording = recordings.get(entry.key)
        if recording is not None:
            entries.append(mirrored_entry(entry, recording, base_url))
        else:
            entries.append(entry.model_copy(update={"enabled": False}))
    return SourcesFile(sources=entries)
