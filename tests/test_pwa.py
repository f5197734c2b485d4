"""The manifest, the service worker route, the offline page and their headers."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from portal.pwa import views as pwa_views
from portal.pwa.assets import BUNDLES
from tests.conftest import text_of

ROOT = Path(__file__).resolve().parent.parent


def test_manifest_is_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.get_data(as_text=True))
    assert manifest["name"] == "CareCircle"
    assert manifest["short_name"]
    assert manifest["start_url"] == "/"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#0b5e55"
    assert manifest["background_color"].startswith("#")
    icons = {(icon["sizes"], icon["purpose"]): icon for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(icons)
    for icon in manifest["icons"]:
        assert icon["type"] == "image/png"
        with client.get(icon["src"]) as image:
            assert image.status_code == 200
            png = image.data
            assert "immutable" in image.headers["Cache-Control"]
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(png[16:20]), int.from_bytes(png[20:24])
        assert f"{width}x{height}" == icon["sizes"]


def test_service_worker_is_served_from_the_root(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    assert body.endswith((ROOT / "static" / "sw.js").read_text("utf-8"))
    version = re.search(r'const CC_VERSION = "([0-9a-f]{12})";', body)
    assert version is not None
    assert response.headers["ETag"] == f'"{version[1]}"'
    again = client.get("/sw.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_service_worker_precaches_the_versioned_shell(client):
    body = client.get("/sw.js").get_data(as_text=True)
    shell = json.loads(re.search(r"const CC_SHELL = (\[.*\]);", body)[1])
    page = client.get("/login").get_data(as_text=True)
    # The stylesheets and script a page links are exactly the ones precached.
    linked = re.findall(r'(?:href|src)="(/static/(?:css|js)/[^"]+)"', page)
    assert linked and set(linked) <= set(shell)
    assert "/offline" in shell
    for url in shell:
        if url.startswith("/static/"):
            assert re.search(r"\.[0-9a-f]{10}\.[a-z]+$", url), url
        with client.get(url) as response:
            assert response.status_code == 200, url


def test_a_changed_asset_or_worker_gives_a_new_version(app, monkeypatch):
    with app.test_request_context():
        _, first = pwa_views.worker_script()
        monkeypatch.setattr(pwa_views, "worker_source", lambda: "// a new worker\n")
        _, changed_source = pwa_views.worker_script()
        monkeypatch.setattr(pwa_views, "digest_for", lambda name: "0123456789")
        _, changed_assets = pwa_views.worker_script()
    assert len({first, changed_source, changed_assets}) == 3


def test_offline_page_is_public_and_names_no_one(client):
    response = client.get("/offline")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "You are offline" in text_of(response)
    assert 'name="cc-user"' not in response.get_data(as_text=True)


def test_pages_link_manifest_and_carry_the_script_markers(demo):
    client = demo.login("alex@example.com")
    response = client.get(f"/p/{demo.alex}/plan")
    html = response.get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert f'<meta name="cc-user" content="{demo.users["alex@example.com"]}">' in html
    assert "data-offline-banner" in html and "data-queue-status" in html
    assert response.headers["Cache-Control"] == "no-store"


# Budgets on what a phone downloads, gzipped as a server sends text: no framework,
# nothing heavy. Every page links the one stylesheet bundle: its sources count together.
BUDGETS = {
    ("static/js/app.js",): 8,
    ("static/sw.js",): 5,
    tuple(f"static/{source}" for source in BUNDLES["css/portal.css"]): 8,
}


@pytest.mark.parametrize("paths", sorted(BUDGETS), ids=lambda paths: " + ".join(paths))
def test_front_end_files_stay_small(paths):
    body = b"".join((ROOT / path).read_bytes() for path in paths)
    size = len(gzip.compress(body, compresslevel=6))
    assert size < BUDGETS[paths] * 1024, f"{paths}: {size} bytes gzipped, over {BUDGETS[paths]} KB"


def test_templates_have_no_inline_script_style_or_handlers():
    """The pages must work under script-src 'self' and style-src 'self'."""
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        if template.parent.name == "mail":
            continue  # mails are read in mail clients, not served: they need inline styles
        html = template.read_text("utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html):
            offenders.append(f"{template}: inline <script>")
        if re.search(r"<style\b", html):
            offenders.append(f"{template}: <style>")
        if re.search(r"\sstyle=", html):
            offenders.append(f"{template}: style attribute")
        if re.search(r"\son[a-z]+=", html):
            offenders.append(f"{template}: inline event handler")
    assert not offenders, "\n".join(offenders)
