"""Versioned static assets and the stylesheet bundle: one request, every rule, in order."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pytest

from portal.pwa import assets
from portal.pwa import views as pwa_views

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = "css/portal.css"
SOURCES = assets.BUNDLES[BUNDLE]


def stylesheets(html: str) -> list[str]:
    return re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)


def url_of(app, filename: str) -> str:
    with app.test_request_context():
        return assets.asset_url(filename)


@pytest.fixture()
def static_copy(app, tmp_path, monkeypatch):
    """The app serving a private copy of static/, free to edit."""
    folder = tmp_path / "static"
    shutil.copytree(ROOT / "static", folder)
    monkeypatch.setattr(app, "static_folder", str(folder))
    return folder


def test_every_page_links_exactly_the_one_bundled_stylesheet(app, client, demo):
    bundle_url = url_of(app, BUNDLE)
    assert re.fullmatch(r"/static/css/portal\.[0-9a-f]{10}\.css", bundle_url)
    for path in ("/login", "/offline"):
        assert stylesheets(client.get(path).get_data(as_text=True)) == [bundle_url], path
    alex = demo.login("alex@example.com")
    for path in (f"/p/{demo.alex}/plan", f"/p/{demo.alex}/"):
        html = alex.get(path, follow_redirects=True).get_data(as_text=True)
        assert stylesheets(html) == [bundle_url], path


def test_the_bundle_holds_every_source_in_declared_order(app, client):
    response = client.get(url_of(app, BUNDLE))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert SOURCES[0] == "css/app.css"  # the base the features' files override
    at = 0
    for source in SOURCES:
        rules = (ROOT / "static" / source).read_text("utf-8").strip()
        found = body.find(f"/* {source} */\n{rules}\n", at)
        assert found >= at, f"{source} missing or out of order"
        at = found + len(rules)
    assert len(body) < sum((ROOT / "static" / s).stat().st_size for s in SOURCES) + 200


def test_every_stylesheet_is_in_a_bundle_and_can_be_joined():
    """A stylesheet left out of BUNDLES would reach no page (base.html links only the bundle)."""
    on_disk = {p.relative_to(ROOT / "static").as_posix() for p in (ROOT / "static").rglob("*.css")}
    bundled = [source for sources in assets.BUNDLES.values() for source in sources]
    assert sorted(bundled) == sorted(on_disk)
    for name, sources in assets.BUNDLES.items():
        assert not (ROOT / "static" / name).exists(), f"{name} would hide a real file"
        for source in sources:
            # Same folder: relative url()s resolve as they did. No @import/@charset:
            # only valid at a stylesheet's top, they would be dropped mid-bundle.
            assert Path(source).parent == Path(name).parent, source
            assert not re.search(r"@(import|charset)\b", (ROOT / "static" / source).read_text())


def test_the_bundle_is_served_immutable_as_css(app, client):
    url = url_of(app, BUNDLE)
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cache_control = response.cache_control
    assert cache_control.immutable and cache_control.public
    assert cache_control.max_age == assets.YEAR
    digest = url.rsplit(".", 2)[1]
    assert response.headers["ETag"] == f'"{digest}"'
    again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_a_name_from_another_deploy_gets_current_content_revalidated(app, client):
    """A page from before a deploy still gets styles, never kept a year under a wrong name."""
    current = client.get(url_of(app, BUNDLE)).data
    stale = client.get("/static/css/portal.0123456789.css")
    assert stale.status_code == 200
    assert stale.data == current
    assert stale.cache_control.no_cache and not stale.cache_control.immutable
    assert client.get("/static/css/nothing.0123456789.css").status_code == 404


def test_per_file_urls_still_work(app, client):
    """By design: an open tab or a saved page from before the bundle still has its links."""
    for source in SOURCES:
        with client.get(url_of(app, source)) as response:
            assert response.status_code == 200, source
            assert response.mimetype == "text/css"
            assert response.cache_control.immutable
            assert response.data == (ROOT / "static" / source).read_bytes()
    with client.get("/static/css/goals.0123456789.css") as old:
        assert old.status_code == 200 and old.cache_control.no_cache


def test_a_changed_source_changes_the_bundle_url_and_the_worker(app, client, static_copy):
    first_url = url_of(app, BUNDLE)
    with app.test_request_context():
        _, first_version = pwa_views.worker_script()
    assert first_url == url_of(app, BUNDLE)

    goals = static_copy / "css" / "goals.css"
    goals.write_text(goals.read_text() + ".new-rule { color: red; }\n")
    # Built once per worker: a running worker keeps its bundle (a deploy restarts it)...
    assert url_of(app, BUNDLE) == first_url
    # ...while a fresh worker, as after the deploy, builds the new one.
    assets._served.clear()
    assets._texts.clear()
    second_url = url_of(app, BUNDLE)
    assert second_url != first_url
    assert ".new-rule { color: red; }" in client.get(second_url).get_data(as_text=True)
    with app.test_request_context():
        _, second_version = pwa_views.worker_script()
    assert second_version != first_version


def test_while_debugging_an_edit_shows_on_the_next_page(app, static_copy, monkeypatch):
    monkeypatch.setattr(app, "debug", True)
    first = url_of(app, BUNDLE)
    account = static_copy / "css" / "account.css"
    account.write_text(account.read_text() + ".edited { color: blue; }\n")
    assert url_of(app, BUNDLE) != first


def test_the_bundle_is_joined_once_per_worker(app, client, static_copy):
    url = url_of(app, BUNDLE)
    body = client.get(url).data
    # The sources are not read again: with one gone, the worker still serves the bundle.
    (static_copy / "css" / "decisions.css").unlink()
    assert url_of(app, BUNDLE) == url
    assert client.get(url).data == body


def test_the_worker_precaches_the_bundle_the_pages_link(app, client):
    body = client.get("/sw.js").get_data(as_text=True)
    shell = json.loads(re.search(r"const CC_SHELL = (\[.*\]);", body)[1])
    bundle_url = url_of(app, BUNDLE)
    assert bundle_url in shell
    # Nothing links the separate files any more: precaching them would be waste.
    assert [url for url in shell if url.endswith(".css")] == [bundle_url]


@pytest.mark.parametrize("name", [BUNDLE, "js/app.js"])
def test_text_assets_are_gzipped_for_browsers_that_accept_it(app, client, name):
    url = url_of(app, name)
    plain = client.get(url)
    assert "Content-Encoding" not in plain.headers
    squeezed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert squeezed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(squeezed.data) == plain.data
    assert len(squeezed.data) < len(plain.data) / 2
    for response in (plain, squeezed):
        assert "Accept-Encoding" in response.vary
        assert response.cache_control.immutable
    # Two representations, two ETags: a cache never answers one with the other.
    assert plain.headers["ETag"] != squeezed.headers["ETag"]
    refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers


def test_pages_are_not_compressed(demo):
    """HTML carries the CSRF token beside what the user typed: compressed, BREACH reads it."""
    alex = demo.login("alex@example.com")
    response = alex.get(f"/p/{demo.alex}/plan", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers


def test_versioned_names_stay_inside_static(client, static_copy):
    (static_copy.parent / "secret.css").write_text(".secret { color: red; }")
    (static_copy.parent / "secret.png").write_bytes(b"not a picture")
    for path in (
        "/static/css/../../secret.0123456789.css",
        "/static/css/..%2f..%2fsecret.0123456789.css",
        "/static/../secret.0123456789.png",
        "/static/css/%2e%2e/%2e%2e/secret.0123456789.png",
    ):
        with client.get(path) as response:
            assert response.status_code == 404, path
            assert b"secret" not in response.data
    # A spelling with `./` is no second name for a file, and no second entry in the memo.
    with client.get("/static/css/./app.0123456789.css") as response:
        assert response.status_code == 404
    assert not any("./" in name for _, name in assets._texts)
