"""Every HTML page of the app, as the people who may open it, on a 360 px phone.

The list of pages is not written by hand: it is every GET rule of `app.url_map`,
with its URL arguments taken from the access matrix (which must cover every
route), opened as each relation the matrix says gets a 200. Whatever is not
HTML (JSON, the manifest, the worker script) is left out by its content type.
A page added later is audited without anyone adding it here.
"""

from __future__ import annotations

import json

import pytest
from flask import url_for

from tests.browser.conftest import PHONE, REPO, sign_in, watch
from tests.matrix import ACCOUNTS
from tests.test_access_matrix import CASES

pytestmark = pytest.mark.browser

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# One account per way of seeing the portal (the matrix's other relations see the same templates).
AUDITED_RELATIONS = ("anonymous", "patient", "team", "admin", "caregiver")


def pages_for(live, relation: str) -> list[str]:
    """The URLs of every GET route the matrix says this relation may open."""
    urls = []
    for rule in sorted(live.app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or "GET" not in rule.methods:
            continue
        if rule.rule.endswith(".csv"):
            continue  # a download (the audit report's export), not a page to audit

        cases = [c for c in CASES if c.endpoint == rule.endpoint and c.method == "GET"]
        assert cases, f"GET {rule.rule} ({rule.endpoint}) is not in the access matrix"
        for case in cases:
            if case.expect[relation] != 200:
                continue
            with live.app.test_request_context():
                url = url_for(case.endpoint, **case.args(live))
            if url not in urls:
                urls.append(url)
    return urls


def run_axe(page) -> list[dict]:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (or `make js-deps`)", pytrace=False)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


SMALL_TARGETS = """() => {
  const hidden = (el) => el.closest('.visually-hidden, [hidden]') || !el.getClientRects().length;
  const problems = [];
  const controls = document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]');
  for (const el of controls) {
    if (hidden(el)) continue;
    const style = getComputedStyle(el);
    if (el.matches('a') && style.display === 'inline') continue;  // a link inside running text
    let box = el;
    if (el.matches('input[type=checkbox], input[type=radio]')) {
      box = el.closest('.checkbox, label') || el;  // the label is the target
    }
    const rect = box.getBoundingClientRect();
    if (rect.width < 43.5 || rect.height < 43.5) {
      const size = `${Math.round(rect.width)}x${Math.round(rect.height)}`;
      problems.push(`${size} ${el.outerHTML.slice(0, 90)}`);
    }
  }
  return problems;
}"""


def keyboard_walk(page, steps: int = 25) -> tuple[list[str], int]:
    """Tab through the page: every focused element must show a visible focus style."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    invisible, reached = [], 0
    for _ in range(steps):
        page.keyboard.press("Tab")
        info = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return null;
                const s = getComputedStyle(el);
                const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
                    || s.boxShadow !== 'none';
                return {shown, what: el.outerHTML.slice(0, 80)};
            }"""
        )
        if info is None:
            break
        reached += 1
        if not info["shown"]:
            invisible.append(info["what"])
    return invisible, reached


@pytest.mark.parametrize("relation", AUDITED_RELATIONS)
def test_every_page_is_accessible_and_fits_a_phone(browser, live, relation):
    context = browser.new_context(base_url=live.url, bypass_csp=True, **PHONE)
    errors = watch(context)
    try:
        page = context.new_page()
        if ACCOUNTS[relation]:
            sign_in(page, ACCOUNTS[relation])
        audited, problems = [], []
        for url in pages_for(live, relation):
            response = page.goto(url)
            assert response is not None and response.status == 200, f"{url}: {response.status}"
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            audited.append(url)
            for scheme in ("light", "dark"):
                # Reduced motion: no colour transition is caught half-way by the contrast check.
                page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
                for violation in run_axe(page):
                    problems.append(f"{url} ({scheme}): axe {json.dumps(violation)}")
            page.emulate_media(color_scheme="light")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 360:
                problems.append(f"{url}: scrolls sideways ({width} px wide at 360)")
            for small in page.evaluate(SMALL_TARGETS):
                problems.append(f"{url}: tap target too small: {small}")
            invisible, reached = keyboard_walk(page)
            if reached == 0:
                problems.append(f"{url}: nothing takes keyboard focus")
            for what in invisible:
                problems.append(f"{url}: focus not visible on {what}")
        assert audited, f"no HTML page found for {relation}"
        problems += errors
        assert not problems, f"{len(audited)} pages audited as {relation}:\n" + "\n".join(problems)
    finally:
        context.close()
