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


# axe in the page, its violations reduced there to what a failure message shows (the
# passes, incomplete and inapplicable results are neither built nor sent back).
AXE_RUN = """([rules, tags]) => axe.run(document, {
  runOnly: rules ? {type: 'rule', values: rules} : {type: 'tag', values: tags},
  resultTypes: ['violations'],
}).then((result) => result.violations.map((v) => ({
  id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target),
})))"""

# The rules of WCAG_TAGS whose outcome depends on colours: text contrast, and links
# told apart from the text around them by colour alone. axe-core's other WCAG 2.1
# A/AA rules read the DOM, ARIA, sizes, fonts, overflow and visibility, none of
# which the dark scheme changes: its CSS sets colours only (DARK_CHANGES checks it
# on every page audited) and no script of the portal asks for the scheme
# (SCRIPTS_ASK_FOR_THE_SCHEME). The page is not reloaded between the two runs
# either, so the dark run need not repeat those rules; it repeats the full set if
# a rule for one scheme ever sets anything but a colour, or a script may look.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
SCRIPTS_ASK_FOR_THE_SCHEME = any(
    "prefers-color-scheme" in script.read_text() for script in (REPO / "static").rglob("*.js")
)

# Every declaration the stylesheets make for a colour scheme only that is not a
# colour: [] while the dark scheme changes colours alone. (A custom property counts
# when its value is a colour; backgrounds are painted, never laid out.)
DARK_CHANGES = """() => {
  const colour = (name, value) => name.startsWith('--')
    ? CSS.supports('color', value)
    : /(^|-)color$/.test(name) || /^background/.test(name) || ['fill', 'stroke'].includes(name);
  const found = [];
  const walk = (rules, schemed) => {
    for (const rule of rules) {
      const here = schemed
        || (rule instanceof CSSMediaRule && /prefers-color-scheme/.test(rule.conditionText));
      if (rule.cssRules) walk(rule.cssRules, here);
      if (rule.styleSheet) {  // an @import, maybe for one scheme
        walk(rule.styleSheet.cssRules, here || /prefers-color-scheme/.test(rule.media.mediaText));
      }
      if (!here || !rule.style) continue;
      for (const name of rule.style) {
        const value = rule.style.getPropertyValue(name).trim();
        if (!colour(name, value)) found.push(`${rule.selectorText} { ${name}: ${value} }`);
      }
    }
  };
  for (const sheet of document.styleSheets) {
    walk(sheet.cssRules, /prefers-color-scheme/.test(sheet.media.mediaText));
  }
  return found;
}"""


def add_axe(context) -> None:
    """Register axe-core once for the context: every page it opens then has `axe`."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (or `make js-deps`)", pytrace=False)
    context.add_init_script(path=str(AXE))


def run_axe(page, rules: list[str] | None = None) -> list[dict]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is (only `rules`, if given)."""
    if not page.evaluate("typeof axe === 'object'"):  # a context without add_axe
        if not AXE.is_file():
            pytest.fail(f"{AXE} is missing: run `npm ci` (or `make js-deps`)", pytrace=False)
        page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN, [rules, WCAG_TAGS])


def run_axe_light_and_dark(page) -> list[tuple[str, dict]]:
    """axe on the page in the light scheme then the dark one: (scheme, violation) pairs.

    Reduced motion: no colour transition is caught half-way by the contrast check.
    The page is left in the light scheme.
    """
    page.emulate_media(color_scheme="light", reduced_motion="reduce")
    found = [("light", violation) for violation in run_axe(page)]
    page.emulate_media(color_scheme="dark", reduced_motion="reduce")
    colours_only = not SCRIPTS_ASK_FOR_THE_SCHEME and not page.evaluate(DARK_CHANGES)
    rules = COLOUR_RULES if colours_only else None
    found += [("dark", violation) for violation in run_axe(page, rules)]
    page.emulate_media(color_scheme="light")
    return found


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


# Records, in the page, where each Tab press left the focus (null: on nothing, or
# out of the page) and whether the focused element shows a focus style, so that
# the presses need no round trip each to look.
TAB_RECORDER = """() => {
  if (!window.__tabs) {
    window.addEventListener('keyup', (event) => {
      if (event.key !== 'Tab') return;
      const el = document.activeElement;
      if (!el || el === document.body) { window.__tabs.push(null); return; }
      const s = getComputedStyle(el);
      const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
          || s.boxShadow !== 'none';
      window.__tabs.push({shown, what: el.outerHTML.slice(0, 80)});
    }, true);
  }
  window.__tabs = [];
  document.activeElement && document.activeElement.blur();
  // About how many presses reach the end: one per element in the tab order, and one more.
  const stops = [...document.querySelectorAll('*')].filter(
    (el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length);
  return stops.length + 1;
}"""


def keyboard_walk(page, steps: int = 25) -> tuple[list[str], int]:
    """Tab through the page: every focused element must show a visible focus style.

    Up to `steps` presses, stopping where the focus leaves the page's elements.
    """
    batch = page.evaluate(TAB_RECORDER)
    presses, stops = 0, []
    while presses < steps:
        for _ in range(min(batch, steps - presses)):
            page.keyboard.press("Tab")
            presses += 1
        stops = page.evaluate("window.__tabs")
        if None in stops:  # (presses after it, out of the page, need not reach it)
            break
        assert len(stops) == presses, f"{presses} Tab presses, {len(stops)} seen by the page"
        batch = 5  # more stops than controls counted: a date field's parts, or a wrap
    invisible, reached = [], 0
    for info in stops[:steps]:
        if info is None:
            break
        reached += 1
        if not info["shown"]:
            invisible.append(info["what"])
    return invisible, reached


@pytest.mark.parametrize("relation", AUDITED_RELATIONS)
def test_every_page_is_accessible_and_fits_a_phone(browser, live, relation):
    context = browser.new_context(base_url=live.url, bypass_csp=True, **PHONE)
    add_axe(context)
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
            for scheme, violation in run_axe_light_and_dark(page):
                problems.append(f"{url} ({scheme}): axe {json.dumps(violation)}")
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
