"""The recording mirror: a real HTTP server on 127.0.0.1 serving routes.yaml recordings."""

from __future__ import annotations

import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from config.schema import SourceEntry, SourcesFile
from crawler.mirror import Mirror, RecordingError, load_recording, mirrored_sources


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    src = tmp_path / "rec" / "demo_src"
    src.mkdir(parents=True)
    (src / "routes.yaml").write_text(
        textwrap.dedent(
            """
            entry: /demo_src/search
            options: {detail_url: "/demo_src/d/{id}.json", page_size: 5}
            routes:
              - path: /demo_src/search
                method: POST
                query: {page: "2"}
                file: p2.json
                content_type: application/json
              - path: /demo_src/search
                method: POST
                file: p1.json
                content_type: application/json
              - path: /demo_src/d/*
                file: detail.html
              - path: /demo_src/broken
                file: p1.json
                status: 500
            """
        ),
        encoding="utf-8",
    )
    (src / "p1.json").write_text('{"page": 1, "next": "{base}/demo_src/d/1.json"}')
    (src / "p2.json").write_text('{"page": 2}')
    (src / "detail.html").write_text("<h1>Detalj</h1>")
    return tmp_path / "rec"


def _fetch(url: str, method: str = "GET", headers: dict | None = None):
    request = urllib.request.Request(url, method=method, data=b"x" if method == "POST" else None)
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_routes_match_method_query_and_pattern(recordings: Path):
    with Mirror(recordings) as mirror:
        base = mirror.base_url
        status, body, _ = _fetch(base + "/demo_src/search?page=2", "POST")
        assert (status, body) == (200, '{"page": 2}')
        status, body, _ = _fetch(base + "/demo_src/search?page=1", "POST")
        assert status == 200
        assert body == '{"page": 1, "next": "' + base + '/demo_src/d/1.json"}'
        assert _fetch(base + "/demo_src/d/77.json")[1] == "<h1>Detalj</h1>"
        assert _fetch(base + "/demo_src/search")[0] == 404  # GET is not recorded
        assert _fetch(base + "/nothing")[0] == 404
        assert _fetch(base + "/demo_src/broken")[0] == 500


def test_etag_gives_not_modified(recordings: Path):
    with Mirror(recordings) as mirror:
        status, _, headers = _fetch(mirror.base_url + "/demo_src/d/1.json")
        assert status == 200
        etag = headers["ETag"]
        status, body, _ = _fetch(
            mirror.base_url + "/demo_src/d/1.json", headers={"If-None-Match": etag}
        )
        assert (status, body) == (304, "")


def test_mirrored_sources_points_recorded_sources_at_the_mirror(recordings: Path):
    sources = SourcesFile(
        sources=[
            SourceEntry(
                key="demo_src",
                name="Demo",
                kind="listing",
                url="https://example.org/x",
                enabled=False,
            ),
            SourceEntry(key="other", name="Other", kind="feed", url="https://example.org/feed"),
        ]
    )
    out = mirrored_sources(sources, "http://127.0.0.1:9", recordings)
    demo, other = out.sources
    assert demo.url == "http://127.0.0.1:9/demo_src/search"
    assert demo.enabled is True
    assert demo.options == {"detail_url": "http://127.0.0.1:9/demo_src/d/{id}.json", "page_size": 5}
    assert other.enabled is False
    assert other.url == "https://example.org/feed"


def test_bad_recording_is_refused(tmp_path: Path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "routes.yaml").write_text("routes:\n  - path: /x\n    file: missing.json\n")
    with pytest.raises(RecordingError, match="missing.json"):
        load_recording(bad)
