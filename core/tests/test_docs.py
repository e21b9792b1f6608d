"""/api (Swagger UI) and /api/redoc render with no internet: every script, stylesheet and icon
they load is served by this service (drf-spectacular-sidecar), none comes from a CDN."""

import re
import urllib.request
from urllib.parse import urljoin, urlsplit

import pytest

ASSET = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "scripts"),
    [
        ("/api", {"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}),
        ("/api/redoc", {"redoc.standalone.js"}),
    ],
)
def test_the_docs_page_loads_every_asset_from_the_service(live_server, path, scripts):
    status, content_type, body = _get(live_server.url + path)
    assert status == 200
    assert content_type.startswith("text/html")

    assets = [urljoin(live_server.url + path, href) for href in ASSET.findall(body.decode())]
    assert {urlsplit(url).netloc for url in assets} == {urlsplit(live_server.url).netloc}
    assert scripts <= {url.rsplit("/", 1)[-1] for url in assets}
    for url in assets:
        asset_status, _, asset = _get(url)
        assert asset_status == 200, url
        assert len(asset) > 100, url
    bundles = [url for url in assets if url.endswith(".js")]
    assert all(b"function" in _get(url)[2] for url in bundles)
