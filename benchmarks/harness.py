"""Reusable benchmark harness: gunicorn + wrk, standard library only.

Typical use (see benchmarks/run.py):

    settings = Settings(duration=10)
    [bare] = run_scenarios("benchmarks.bare_app:app", [Scenario("bare app", "/")],
                           settings=settings)

    def scenarios(server):  # called once the server answers
        cookie = login(server.base_url, "alex@example.com", "demo-password-2026")
        return [Scenario("plan", "/plan", cookie=cookie, target_ratio=0.2)]

    results = run_scenarios("wsgi:app", scenarios, env={...}, settings=settings)
    print_report(bare, results, settings)

Each scenario gets a preflight request (must answer `expect_status`, so an expired
session that redirects to /login is caught instead of benchmarking the redirect),
a wrk warm-up, then `rounds` measured wrk runs; the median of the rounds is reported.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import html.parser
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


# One-minute load average when this module was imported, i.e. before any wrk.
LOAD_AT_START = os.getloadavg()[0]


class BenchmarkError(Exception):
    """A benchmark could not run (server did not start, wrk failed, ...)."""


class LoginError(BenchmarkError):
    """Signing in through the login form failed."""


# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    duration: int = 10  # seconds per measured wrk round
    warmup: int = 3  # seconds of wrk before the measured rounds (0: none)
    rounds: int = 3
    threads: int = 2
    connections: int = 32
    wrk_timeout: int = 10  # wrk --timeout; timed-out requests are excluded from latency
    workers: int = 2  # gunicorn -w
    startup_timeout: float = 60.0
    # Targets checked for every scenario (the throughput target is per scenario).
    max_p99_over_p50: float = 3.0
    max_worker_rss_mb: float = 100.0


@dataclass
class Scenario:
    """One URL to load. `cookie` is a Cookie header value (see `login`)."""

    name: str
    path: str
    method: str = "GET"
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    target_ratio: float | None = None  # minimum req/s relative to the bare app
    cookie: str | None = None
    # Status the preflight request (no redirect following) must get; None: skip it.
    expect_status: int | None = 200
    # Extra Lua appended to the wrk script (e.g. a request() that varies a header).
    lua: str | None = None
    # For scenarios whose every request differs (a POST needs a fresh idempotency
    # key): the n-th one-off request, as the Lua would send it. The preflight and
    # the query count send these instead of the scenario itself.
    vary: Callable[[int], Scenario] | None = None
    # Which rows of the report this belongs to, e.g. "sqlite" or "postgres, large".
    label: str = ""
    # The scenario this one must hold up to (the same page for another viewer):
    # the report sets their ratios and statements side by side.
    same_as: str | None = None

    def sample(self, n: int) -> Scenario:
        return self.vary(n) if self.vary else self

    def request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.cookie:
            headers["Cookie"] = self.cookie
        return headers


@dataclass
class RoundResult:
    requests_per_sec: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: dict[str, int]


@dataclass
class ScenarioResult:
    scenario: Scenario
    app: str
    rounds: list[RoundResult] = field(default_factory=list)
    worker_rss_mb: list[float] = field(default_factory=list)
    error: str | None = None
    # The bare app's round run just before each of ours (see `benchmark`).
    baseline_rounds: list[RoundResult] = field(default_factory=list)
    # SQL statements of single requests (served by benchmarks/counting_app.py).
    queries: list[int] = field(default_factory=list)

    @property
    def queries_text(self) -> str:
        """ "7", or "7-9" when single requests differ."""
        if not self.queries:
            return "-"
        low, high = min(self.queries), max(self.queries)
        return str(low) if low == high else f"{low}-{high}"

    def _median(self, attr: str) -> float | None:
        if not self.rounds:
            return None
        return statistics.median(getattr(r, attr) for r in self.rounds)

    @property
    def requests_per_sec(self) -> float | None:
        return self._median("requests_per_sec")

    @property
    def p50_ms(self) -> float | None:
        return self._median("p50_ms")

    @property
    def p99_ms(self) -> float | None:
        return self._median("p99_ms")

    @property
    def non_2xx_3xx(self) -> int:
        return sum(r.non_2xx_3xx for r in self.rounds)

    @property
    def socket_errors(self) -> int:
        return sum(sum(r.socket_errors.values()) for r in self.rounds)

    @property
    def timeouts(self) -> int:
        return sum(r.socket_errors.get("timeout", 0) for r in self.rounds)

    @property
    def max_worker_rss_mb(self) -> float | None:
        return max(self.worker_rss_mb) if self.worker_rss_mb else None

    @property
    def failed(self) -> str | None:
        """Why the measurement is not trustworthy, or None."""
        if self.error:
            return self.error
        if self.non_2xx_3xx:
            return f"{self.non_2xx_3xx} non-2xx/3xx responses"
        if self.timeouts:
            return f"{self.timeouts} requests timed out"
        return None

    def ratio_to(self, baseline: ScenarioResult | None) -> float | None:
        """Median of per-round ratios to the paired bare rounds, else ratio of the medians.

        Pairing each round with a bare round run just before it cancels the
        machine's drift over the minutes a benchmark takes (on a shared VM the
        bare app alone varies by ~1.5x between runs).
        """
        if len(self.baseline_rounds) == len(self.rounds) and self.rounds:
            return statistics.median(
                r.requests_per_sec / b.requests_per_sec
                for r, b in zip(self.rounds, self.baseline_rounds, strict=True)
                if b.requests_per_sec
            )
        if baseline is None or not baseline.requests_per_sec or self.requests_per_sec is None:
            return None
        return self.requests_per_sec / baseline.requests_per_sec


# --------------------------------------------------------------------------- server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parens: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (gunicorn workers of a master), from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _ppid(int(entry.name)) == pid:
            children.append(int(entry.name))
    return sorted(children)


def rss_mb(pid: int) -> float | None:
    """Resident set size (VmRSS) of a process in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # reported in kB
    except OSError:
        pass
    return None


class GunicornServer:
    """`gunicorn -w N -k sync -b 127.0.0.1:PORT module:app` as a subprocess.

    Use as a context manager; the server is stopped (and its process group killed
    if it does not stop in time) on exit.
    """

    def __init__(
        self,
        app: str,
        env: Mapping[str, str] | None = None,
        *,
        workers: int = 2,
        cwd: Path | str = REPO_ROOT,
        port: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.app = app
        self.env = {**os.environ, **(env or {})}
        self.workers = workers
        self.cwd = Path(cwd)
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._logdir = tempfile.TemporaryDirectory(prefix="bench-gunicorn-")
        self.log_path = Path(self._logdir.name) / "gunicorn.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(self.workers),
            "-k",
            "sync",
            "-b",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
            self.app,
        ]
        with open(self.log_path, "wb") as log:
            # Own session/process group: a stuck server can be killed as a whole.
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_answers()
        except BaseException:
            self.stop()
            raise

    def _wait_until_answers(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchmarkError(
                    f"gunicorn {self.app} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
                return  # any HTTP answer (even 302/404/500) means it is serving
            except OSError:
                time.sleep(0.1)
            finally:
                conn.close()
        raise BenchmarkError(
            f"gunicorn {self.app} did not answer within {self.startup_timeout:.0f}s:\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # graceful: master stops its workers
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        # Whatever is left in the server's own process group (stuck workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def worker_pids(self) -> list[int]:
        return child_pids(self.proc.pid) if self.proc else []

    def worker_rss_mb(self) -> list[float]:
        return [m for m in (rss_mb(p) for p in self.worker_pids()) if m is not None]

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> GunicornServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._logdir.cleanup()


# --------------------------------------------------------------------------- wrk


_LUA_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_./:;,=+*&%@!?()")


def lua_string(value: str) -> str:
    """A Lua string literal; everything but plain ASCII becomes a \\ddd byte escape."""
    out = [chr(b) if chr(b) in _LUA_SAFE else f"\\{b:03d}" for b in value.encode()]
    return '"' + "".join(out) + '"'


def wrk_script(scenario: Scenario) -> str | None:
    """Lua for wrk's -s: method, body and headers (Cookie, CSRF token...)."""
    headers = scenario.request_headers()
    if (
        scenario.method.upper() == "GET"
        and scenario.body is None
        and not headers
        and not scenario.lua
    ):
        return None
    lines = [f"wrk.method = {lua_string(scenario.method.upper())}"]
    if scenario.body is not None:
        lines.append(f"wrk.body = {lua_string(scenario.body)}")
    for name, value in headers.items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    if scenario.lua:
        lines.append(scenario.lua)
    return "\n".join(lines) + "\n"


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LATENCY_RE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)


def parse_wrk(output: str) -> RoundResult:
    """Parse `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not rps:
        raise BenchmarkError(f"cannot parse wrk output:\n{output}")
    latency = {int(p): float(v) * _UNIT_MS[u] for p, v, u in _LATENCY_RE.findall(output)}
    if 50 not in latency or 99 not in latency:
        raise BenchmarkError(f"wrk output has no latency distribution (--latency?):\n{output}")
    requests = re.search(r"^\s*(\d+) requests in", output, re.M)
    non_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = {}
    if errors:
        socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
        )
    return RoundResult(
        requests_per_sec=float(rps.group(1)),
        p50_ms=latency[50],
        p99_ms=latency[99],
        requests=int(requests.group(1)) if requests else 0,
        non_2xx_3xx=int(non_ok.group(1)) if non_ok else 0,
        socket_errors=socket_errors,
    )


def run_wrk(url: str, settings: Settings, duration: int, script: str | None = None) -> RoundResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchmarkError("wrk not found (apt-get install wrk; `make bench` does it)")
    cmd = [
        wrk,
        f"-t{settings.threads}",
        f"-c{settings.connections}",
        f"-d{duration}s",
        f"--timeout={settings.wrk_timeout}s",
        "--latency",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        if script:
            script_path = Path(tmp) / "scenario.lua"
            script_path.write_text(script)
            cmd += ["-s", str(script_path)]
        cmd.append(url)
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=duration + settings.wrk_timeout + 60
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchmarkError(f"wrk did not finish: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise BenchmarkError(f"wrk exited with {proc.returncode}: {proc.stderr or proc.stdout}")
    return parse_wrk(proc.stdout)


# --------------------------------------------------------------------------- HTTP client


@dataclass
class Response:
    status: int
    url: str  # final URL, after redirects
    headers: http.client.HTTPMessage
    text: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # Client follows redirects itself, to see every Set-Cookie


class Client:
    """A tiny stdlib HTTP client with a cookie jar, for signing in and discovering URLs.

    Cookies are kept by name regardless of their Secure flag, so it also works
    against an app that marks its session cookie Secure while served over http.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies: dict[str, str] = {}
        # No proxies: the server is on loopback.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)

    def url(self, path_or_url: str) -> str:
        return urllib.parse.urljoin(self.base_url + "/", path_or_url)

    def cookie_header(self) -> str:
        """Value for a `Cookie:` header carrying every cookie the client holds."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def _store_cookies(self, headers: http.client.HTTPMessage) -> None:
        for header in headers.get_all("Set-Cookie") or []:
            first, *attrs = header.split(";")
            name, _, value = first.strip().partition("=")
            attrs_lower = [a.strip().lower() for a in attrs]
            deleted = "max-age=0" in attrs_lower or any(
                a.startswith("expires=") and "1970" in a for a in attrs_lower
            )
            if deleted:
                self.cookies.pop(name, None)
            elif name:
                self.cookies[name] = value

    def request(
        self,
        method: str,
        path_or_url: str,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        follow_redirects: bool = True,
        max_redirects: int = 10,
    ) -> Response:
        url = self.url(path_or_url)
        method = method.upper()
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        for _ in range(max_redirects + 1):
            req = urllib.request.Request(url, data=body, method=method)
            for name, value in (headers or {}).items():
                req.add_header(name, value)
            if body is not None:
                req.add_header("Content-Type", "application/x-www-form-urlencoded")
            if self.cookies:
                req.add_header("Cookie", self.cookie_header())
            try:
                with self._opener.open(req, timeout=30) as resp:
                    status, resp_headers, raw = resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as err:  # 3xx (not followed), 4xx, 5xx
                status, resp_headers, raw = err.code, err.headers, err.read()
            self._store_cookies(resp_headers)
            location = resp_headers.get("Location")
            if follow_redirects and status in (301, 302, 303, 307, 308) and location:
                url = urllib.parse.urljoin(url, location)
                if status in (301, 302, 303):  # as browsers do: continue with a GET
                    method, body = "GET", None
                continue
            charset = resp_headers.get_content_charset() or "utf-8"
            return Response(status, url, resp_headers, raw.decode(charset, errors="replace"))
        raise BenchmarkError(f"more than {max_redirects} redirects from {path_or_url}")

    def get(self, path_or_url: str, **kwargs: object) -> Response:
        return self.request("GET", path_or_url, **kwargs)  # type: ignore[arg-type]

    def post_form(self, path_or_url: str, data: Mapping[str, str], **kwargs: object) -> Response:
        return self.request("POST", path_or_url, data, **kwargs)  # type: ignore[arg-type]

    def final_path(self, path: str) -> str:
        """Path (+ query) a GET of `path` ends up on after redirects."""
        return path_of(self.get(path).url)


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --------------------------------------------------------------------------- HTML helpers


class _PageParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.meta: dict[str, str] = {}
        self._form: dict | None = None
        self._link: list | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get")}
            self._form["inputs"] = []
            self.forms.append(self._form)
        elif tag in ("input", "button", "select", "textarea") and self._form is not None:
            self._form["inputs"].append({"tag": tag, **a})
        elif tag == "meta" and "name" in a:
            self.meta[a["name"]] = a.get("content", "")
        elif tag == "a" and "href" in a:
            self._link = [a["href"], ""]
            self.links.append(("", ""))  # placeholder, filled at </a>

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "a" and self._link is not None:
            self.links[-1] = (self._link[0], " ".join(self._link[1].split()))
            self._link = None


def parse_page(text: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(text)
    parser.close()
    return parser


def find_csrf_token(text: str) -> str | None:
    """`<meta name="csrf-token" content=...>` or a hidden `csrf_token` input."""
    page = parse_page(text)
    if page.meta.get("csrf-token"):
        return page.meta["csrf-token"]
    for form in page.forms:
        for inp in form["inputs"]:
            if inp.get("name") == "csrf_token" and inp.get("value"):
                return inp["value"]
    return None


def find_link(text: str, pattern: str | re.Pattern[str], base_url: str = "") -> str | None:
    """First link whose href or text matches `pattern` (regex), as a path."""
    regex = re.compile(pattern, re.I) if isinstance(pattern, str) else pattern
    for href, label in parse_page(text).links:
        if href and (regex.search(href) or regex.search(label)):
            return path_of(urllib.parse.urljoin(base_url or "http://x/", href))
    return None


def login_client(
    base_url: str,
    email: str,
    password: str,
    login_path: str = "/login",
    totp_secret: str | None = None,
) -> Client:
    """Sign in through the HTML form at `login_path`; return the signed-in Client.

    Submits every hidden input of the form holding a password field (csrf_token,
    next, ...), the email/password fields, and the form's named submit button.
    When the app then asks for a second factor (a form with a `code` field, as
    clinicians and administrators get), it is answered with the current TOTP code
    of `totp_secret`, as the user's authenticator app would.
    """
    client = Client(base_url)
    page = client.get(login_path)
    if page.status != 200:
        raise LoginError(f"GET {login_path} answered {page.status}")
    forms = [f for f in parse_page(page.text).forms if _has_password(f)]
    if not forms:
        raise LoginError(f"no form with a password field on {page.url}")
    form = forms[0]
    fields = _form_fields(form, page.text)
    email_field, password_field = "email", "password"
    for inp in form["inputs"]:
        name, kind = inp.get("name"), inp.get("type", "text").lower()
        if not name:
            continue
        if kind == "password":
            password_field = name
        elif kind == "email" or name in ("email", "username", "login"):
            email_field = name
    fields[email_field] = email
    fields[password_field] = password
    action = urllib.parse.urljoin(page.url, form["action"] or page.url)
    resp = client.post_form(action, fields)
    if resp.status >= 400 or path_of(resp.url) == path_of(page.url):
        raise LoginError(
            f"signing in as {email} failed: ended on {path_of(resp.url)} ({resp.status})"
        )
    code_forms = [f for f in parse_page(resp.text).forms if _has_code_field(f)]
    if code_forms:
        resp = _second_step(client, resp, code_forms[0], email, totp_secret)
    ended = path_of(resp.url)
    if ended == login_path or ended.startswith(login_path.rstrip("/") + "/"):
        # Still inside sign-in (e.g. "set up your authenticator"): not signed in.
        raise LoginError(f"signing in as {email} did not finish: ended on {ended}")
    return client


def _form_fields(form: dict, text: str) -> dict[str, str]:
    """The hidden inputs, the first named submit button and the CSRF token of `form`."""
    fields: dict[str, str] = {}
    for inp in form["inputs"]:
        name, kind = inp.get("name"), inp.get("type", "text").lower()
        if not name:
            continue
        if kind == "hidden" or (kind == "submit" and "submit" not in fields):
            fields[name] = inp.get("value", "")
    token = find_csrf_token(text)
    if token and "csrf_token" not in fields:
        fields["csrf_token"] = token
    return fields


def _has_code_field(form: dict) -> bool:
    return any(
        inp.get("name") == "code" and inp.get("type", "text").lower() != "hidden"
        for inp in form["inputs"]
    )


def _second_step(
    client: Client, page: Response, form: dict, email: str, totp_secret: str | None
) -> Response:
    """Answer the sign-in's code step with the authenticator's code; the page it ends on."""
    if totp_secret is None:
        raise LoginError(f"{email} must enter a code after the password: give its TOTP secret")
    fields = _form_fields(form, page.text)
    fields["code"] = totp_code(totp_secret, account=email)
    action = urllib.parse.urljoin(page.url, form["action"] or page.url)
    resp = client.post_form(action, fields)
    if resp.status >= 400 or path_of(resp.url) == path_of(page.url):
        raise LoginError(
            f"the code step for {email} failed: ended on {path_of(resp.url)} ({resp.status})"
        )
    return resp


TOTP_STEP_SECONDS = 30
# The last time step whose code each account was given: the app accepts a code
# only for a step newer than the last one it accepted (a code works once), so a
# second sign-in within the same 30 s (another database, `--large`) takes the
# next step's code, which the app accepts for clock drift, or waits for it.
_last_totp_step: dict[str, int] = {}


def totp_code(secret: str, account: str = "", now: float | None = None) -> str:
    """A 6-digit RFC 6238 code (SHA-1, 30 s) for a base32 `secret`, never for a step
    already used for `account` in this process."""
    current = int((time.time() if now is None else now) // TOTP_STEP_SECONDS)
    step = max(current, _last_totp_step.get(account, current - 1) + 1)
    if step > current + 1 and now is None:
        # Two steps ahead would be refused: wait until it is one step ahead.
        time.sleep((step - 1) * TOTP_STEP_SECONDS - time.time() + 0.1)
    _last_totp_step[account] = step
    return _hotp(secret, step)


def _hotp(secret: str, counter: int) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _has_password(form: dict) -> bool:
    return any(inp.get("type", "").lower() == "password" for inp in form["inputs"])


def login(
    base_url: str,
    email: str,
    password: str,
    login_path: str = "/login",
    totp_secret: str | None = None,
) -> str:
    """Sign in; return the `Cookie:` header value of the signed-in session."""
    return login_client(base_url, email, password, login_path, totp_secret).cookie_header()


def final_url(base_url: str, path: str, cookie: str | None = None) -> str:
    """Path a GET of `path` (with an optional Cookie header) ends on after redirects."""
    client = Client(base_url)
    headers = {"Cookie": cookie} if cookie else None
    return path_of(client.get(path, headers=headers).url)


# --------------------------------------------------------------------------- running


COUNT_QUERIES_HEADER = "X-Bench-Count-Queries"  # see benchmarks/counting_app.py
QUERIES_HEADER = "X-Bench-Queries"


def count_queries(server: GunicornServer, scenario: Scenario, requests: int = 5) -> list[int]:
    """Statements each of `requests` single requests ran; [] if the app does not count.

    Each must answer `expect_status` (when set), like the preflight.
    """
    counts = []
    for n in range(requests):
        one = scenario.sample(1000 + n)
        one = replace(one, headers={**one.headers, COUNT_QUERIES_HEADER: "1"})
        resp = _raw_request(server, one)
        if one.expect_status is not None and resp.status != one.expect_status:
            raise BenchmarkError(
                f"counting queries: {one.method} {one.path} answered {resp.status},"
                f" not {one.expect_status}: {resp.text[:200]}"
            )
        value = resp.headers.get(QUERIES_HEADER)
        if value is None:
            return []
        counts.append(int(value))
    return counts


def preflight(server: GunicornServer, scenario: Scenario) -> None:
    """Send what wrk will send, once, without following redirects; the status must
    be `expect_status` (catches e.g. a dead session that redirects to /login)."""
    scenario = scenario.sample(0)
    if scenario.expect_status is None:
        return
    resp = _raw_request(server, scenario)
    if resp.status != scenario.expect_status:
        where = resp.headers.get("Location")
        raise BenchmarkError(
            f"preflight {scenario.method} {scenario.path}: expected {scenario.expect_status}, "
            f"got {resp.status}" + (f" -> {where}" if where else "")
        )


def _raw_request(server: GunicornServer, scenario: Scenario) -> Response:
    """Send the scenario's exact body/headers (what wrk will send)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            scenario.method.upper(),
            scenario.path,
            body=scenario.body.encode() if scenario.body is not None else None,
            headers=scenario.request_headers(),
        )
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        return Response(resp.status, server.base_url + scenario.path, resp.headers, text)
    finally:
        conn.close()


def benchmark(
    server: GunicornServer,
    scenario: Scenario,
    settings: Settings,
    baseline_url: str | None = None,
) -> ScenarioResult:
    """wrk rounds of one scenario; with `baseline_url`, each preceded by a bare round."""
    result = ScenarioResult(scenario=scenario, app=server.app)
    try:
        preflight(server, scenario)
        url = server.base_url + scenario.path
        script = wrk_script(scenario)
        if settings.warmup > 0:
            run_wrk(url, settings, settings.warmup, script)
        # Warm, as a page is under load (kept copies made, sessions fresh).
        result.queries = count_queries(server, scenario)
        for _ in range(settings.rounds):
            if baseline_url:
                result.baseline_rounds.append(run_wrk(baseline_url, settings, settings.duration))
            result.rounds.append(run_wrk(url, settings, settings.duration, script))
            # RSS after load is what counts; keep the round with the largest worker.
            rss = server.worker_rss_mb()
            if max(rss, default=0) > max(result.worker_rss_mb, default=0):
                result.worker_rss_mb = rss
    except BenchmarkError as exc:
        result.error = str(exc)
    return result


ScenarioSource = Sequence[Scenario] | Callable[[GunicornServer], Sequence[Scenario]]


def run_scenarios(
    app: str,
    scenarios: ScenarioSource,
    *,
    env: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    cwd: Path | str = REPO_ROOT,
    log: Callable[[str], None] = print,
    baseline_url: str | None = None,
) -> list[ScenarioResult]:
    """Serve `app` ("module:app") with gunicorn and benchmark each scenario.

    `scenarios` is a list, or a function called with the running server (to sign
    in, fetch CSRF tokens, discover URLs) that returns the list. With
    `baseline_url` (a bare app served alongside), every round is paired with a
    bare round just before it.
    """
    settings = settings or Settings()
    results: list[ScenarioResult] = []
    try:
        with GunicornServer(
            app, env, workers=settings.workers, cwd=cwd, startup_timeout=settings.startup_timeout
        ) as server:
            try:
                todo = scenarios(server) if callable(scenarios) else scenarios
            except Exception as exc:  # a broken factory is reported, not fatal
                return [ScenarioResult(Scenario(f"{app} setup", "/"), app, error=repr(exc))]
            for scenario in todo:
                log(f"  {scenario.name}: {scenario.method} {scenario.path}")
                results.append(benchmark(server, scenario, settings, baseline_url))
    except BenchmarkError as exc:
        results.append(ScenarioResult(Scenario(f"{app} server", "/"), app, error=str(exc)))
    return results


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def checks(
    result: ScenarioResult, baseline: ScenarioResult | None, settings: Settings
) -> list[tuple[str, bool]]:
    """(description, met) for every target that applies to `result`."""
    if result.failed:
        return []
    out: list[tuple[str, bool]] = []
    ratio = result.ratio_to(baseline)
    if result.scenario.target_ratio is not None and ratio is not None:
        out.append(
            (
                f"throughput {ratio:.2f}x bare >= {result.scenario.target_ratio:.2f}x",
                ratio >= result.scenario.target_ratio,
            )
        )
    p50, p99 = result.p50_ms, result.p99_ms
    if p50 is not None and p99 is not None:
        limit = settings.max_p99_over_p50 * p50
        out.append(
            (
                f"p99 {p99:.1f} ms <= {settings.max_p99_over_p50:g} x p50 ({limit:.1f} ms)",
                p99 <= limit,
            )
        )
    rss = result.max_worker_rss_mb
    if rss is not None:
        out.append(
            (
                f"RSS {rss:.0f} MiB/worker <= {settings.max_worker_rss_mb:g} MiB",
                rss <= settings.max_worker_rss_mb,
            )
        )
    return out


def print_report(
    baseline: ScenarioResult | None,
    results: Sequence[ScenarioResult],
    settings: Settings,
    out: Callable[[str], None] = print,
) -> bool:
    """Print the results table and target checks; return True if anything failed."""
    rows = ([baseline] if baseline else []) + list(results)
    name_w = max([len(r.scenario.name) for r in rows] + [8])
    out(
        f"{'scenario':<{name_w}}  {'req/s':>9}  {'ratio':>5}  {'p50 ms':>7}  {'p99 ms':>7}"
        f"  {'non2xx':>6}  {'sockerr':>7}  {'RSS MiB':>7}"
    )
    for r in rows:
        out(
            f"{r.scenario.name:<{name_w}}  {_fmt(r.requests_per_sec):>9}"
            f"  {_fmt(r.ratio_to(baseline), '.2f'):>5}  {_fmt(r.p50_ms, '.2f'):>7}"
            f"  {_fmt(r.p99_ms, '.2f'):>7}  {r.non_2xx_3xx:>6}  {r.socket_errors:>7}"
            f"  {_fmt(r.max_worker_rss_mb, '.0f'):>7}"
        )
    paired = [r for r in results if r.baseline_rounds and len(r.baseline_rounds) == len(r.rounds)]
    if paired:
        out("")
        out("ratio of each round to the bare round just before it:")
        for r in paired:
            ratios = "  ".join(
                f"{x.requests_per_sec / b.requests_per_sec:.3f}"
                for x, b in zip(r.rounds, r.baseline_rounds, strict=True)
                if b.requests_per_sec
            )
            out(f"  {r.scenario.name:<{name_w}}  {ratios}")
    out("")
    out(
        f"targets ({settings.rounds} rounds x {settings.duration}s, median; "
        f"wrk -t{settings.threads} -c{settings.connections}; gunicorn -w {settings.workers} sync):"
    )
    # The load when the run began: afterwards it mostly measures the run itself.
    load1 = LOAD_AT_START
    cpus = os.cpu_count() or 1
    if load1 > cpus:
        out(
            f"  note    load average {load1:.1f} on {cpus} cores when the run began:"
            " other work skews these numbers"
        )
    any_failed = False
    for r in rows:
        if r.failed:
            any_failed = True
            out(f"  FAILED  {r.scenario.name}: {r.failed}")
            continue
        if r.socket_errors:
            kinds = {}
            for rnd in r.rounds:
                for kind, n in rnd.socket_errors.items():
                    kinds[kind] = kinds.get(kind, 0) + n
            detail = ", ".join(f"{k} {n}" for k, n in kinds.items() if n)
            out(f"  note    {r.scenario.name}: wrk socket errors ({detail})")
        for text, met in checks(r, baseline, settings):
            # The baseline's own numbers are context (what this machine can do at best).
            verdict = "info " if r is baseline else "PASS " if met else "BELOW"
            out(f"  {verdict}   {r.scenario.name}: {text}")
    return any_failed
