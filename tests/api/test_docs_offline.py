"""The API's documentation pages work without internet: Swagger UI (/api/docs/) and ReDoc
(/api/redoc/) load every script, style and icon from Finch itself, never from a CDN."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

DOC_PAGES = ("/api/docs/", "/api/redoc/")


class AssetLinks(HTMLParser):
    """The URLs a page loads: <script src>, <link href>, <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def assets_of(html: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", DOC_PAGES)
def test_a_docs_page_loads_its_assets_from_this_server(client: Client, page: str) -> None:
    # When the docs page is fetched (anyone may)
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    urls = assets_of(html)

    # Then it loads scripts, and every asset URL is same-origin (no scheme, no host) ...
    assert any(url.endswith(".js") for url in urls), urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        assert "cdn" not in url and "@latest" not in url
    # ... and each is a static file Finch has and serves
    for url in (url for url in urls if url.startswith("/static/")):
        assert finders.find(urlsplit(url).path.removeprefix("/static/")), f"{url} is not a static file"
        assert client.get(url).status_code == 200, url
    # Nor does an inline script fetch a bundle from a CDN
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
