"""Tests of the local Web Push service stand-in, driven by pywebpush's real webpush()."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from py_vapid import Vapid01, Vapid02
from pywebpush import WebPushException, webpush

from tests.pushservice import (
    MAX_EXP_AHEAD,
    PushService,
    Subscription,
    b64url_decode,
    b64url_encode,
    encrypt_payload,
    new_vapid,
    public_key_raw,
    sign_jwt,
    vapid_authorization,
    vapid_private_key_b64,
    vapid_public_key_b64,
)

SUB = "mailto:ops@example.org"
PAYLOAD = json.dumps({"kind": "reply", "thread": 42}).encode()


@pytest.fixture
def service() -> Iterator[PushService]:
    """Run a push service for one test and check it hit no internal error."""
    with PushService(hang_seconds=10) as svc:
        yield svc
    assert svc.errors == []


@pytest.fixture(scope="module")
def vapid() -> Vapid02:
    """Return the application server's VAPID key pair."""
    return new_vapid()


def send(
    info: dict[str, Any],
    vapid_key: Vapid01 | str,
    data: bytes | str | None = PAYLOAD,
    *,
    claims: dict[str, Any] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """Send with pywebpush.webpush() and return the response, also when it raises."""
    options: dict[str, Any] = {
        "ttl": 60,
        "headers": {"Urgency": "normal", "Topic": "reply"},
        "timeout": 5,
    }
    options.update(kwargs)
    try:
        return webpush(
            subscription_info=info,
            data=data,  # type: ignore[arg-type]
            vapid_private_key=vapid_key,
            vapid_claims={"sub": SUB} if claims is None else claims,
            **options,
        )
    except WebPushException as exc:
        assert exc.response is not None
        return exc.response


def good_claims(service: PushService, **changes: Any) -> dict[str, Any]:
    """Return valid VAPID claims for the service; a change to None drops the claim."""
    claims: dict[str, Any] = {"aud": service.origin, "exp": int(time.time()) + 3600, "sub": SUB}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def post_raw(
    sub: Subscription,
    authorization: str | None,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST a hand-built push message (default: valid headers, encrypted body)."""
    sent = {"TTL": "60", "Content-Encoding": "aes128gcm"}
    if authorization is not None:
        sent["Authorization"] = authorization
    sent.update(headers or {})
    data = encrypt_payload(sub.info, PAYLOAD) if body is None else body
    return requests.post(sub.endpoint, data=data, headers=sent, timeout=5)


def test_subscription_info_looks_like_push_subscription_to_json(service: PushService) -> None:
    """info has the browser's toJSON() shape with unpadded base64url keys."""
    sub = service.new_subscription()
    info = sub.info
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", service.origin)
    assert info["endpoint"] == f"{service.origin}/push/{sub.token}"
    assert info["expirationTime"] is None
    assert set(info["keys"]) == {"p256dh", "auth"}
    assert "=" not in info["keys"]["p256dh"] + info["keys"]["auth"]
    p256dh = b64url_decode(info["keys"]["p256dh"])
    assert len(p256dh) == 65 and p256dh[0] == 4
    assert p256dh == public_key_raw(sub.private_key)
    assert len(b64url_decode(info["keys"]["auth"])) == 16


def test_pywebpush_send_is_received_decrypted(service: PushService, vapid: Vapid02) -> None:
    """A correct pywebpush send is accepted with 201 and recorded decrypted."""
    sub = service.new_subscription()
    response = send(sub.info, vapid)
    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{service.origin}/message/")
    [message] = service.wait_for(1)
    assert message.token == sub.token
    assert message.payload == PAYLOAD
    assert message.headers["TTL"] == "60"
    assert message.headers["Urgency"] == "normal"
    assert message.headers["Topic"] == "reply"
    assert message.headers["Content-Encoding"] == "aes128gcm"
    assert message.jwt_claims["aud"] == service.origin
    assert message.jwt_claims["sub"] == SUB
    assert 0 < message.jwt_claims["exp"] - time.time() <= MAX_EXP_AHEAD
    assert service.received_for(sub) == [message]
    assert [a.status for a in service.requests_for(sub)] == [201]
    assert service.rejections == []


def test_pywebpush_sends_rfc8292_vapid_authorization(service: PushService, vapid: Vapid02) -> None:
    """pywebpush 2.5 sends 'vapid t=<jwt>,k=<key>' for both key objects and key strings."""
    sub = service.new_subscription()
    for key in (vapid, vapid_private_key_b64(vapid)):
        response = send(sub.info, key)
        assert response.status_code == 201
        sent = response.request.headers
        assert re.fullmatch(r"vapid t=[\w-]+\.[\w-]+\.[\w-]+,k=[\w-]+", sent["Authorization"])
        assert sent["Authorization"].endswith(f",k={vapid_public_key_b64(vapid)}")
        assert "Crypto-Key" not in sent
    assert len(service.wait_for(2)) == 2


def test_legacy_webpush_scheme_is_rejected(service: PushService) -> None:
    """The draft 'WebPush <jwt>' + Crypto-Key form (a Vapid01 key) is refused with 401."""
    legacy = Vapid01()
    legacy.generate_keys()
    sub = service.new_subscription()
    response = send(sub.info, legacy)
    assert response.request.headers["Authorization"].startswith("WebPush ")
    assert response.request.headers["Crypto-Key"].startswith("p256ecdsa=")
    assert response.status_code == 401
    assert "unsupported scheme 'WebPush'" in response.text
    assert [r.status for r in service.rejections] == [401]
    assert service.received == []


def _swap_claims(token: str, claims: dict[str, Any]) -> str:
    """Replace a JWT's claims while keeping its original signature."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}"


AuthFactory = Callable[[PushService, Vapid02], str | None]
OTHER_KEY = new_vapid()

BAD_AUTH: dict[str, tuple[AuthFactory, int]] = {
    "missing": (lambda s, v: None, 401),
    "bearer scheme": (lambda s, v: f"Bearer {sign_jwt(v.private_key, good_claims(s))}", 401),
    "no k": (lambda s, v: f"vapid t={sign_jwt(v.private_key, good_claims(s))}", 401),
    "no t": (lambda s, v: f"vapid k={vapid_public_key_b64(v)}", 401),
    "k of another key": (
        lambda s, v: vapid_authorization(
            OTHER_KEY.private_key, good_claims(s), public_key=public_key_raw(v.public_key)
        ),
        401,
    ),
    "k not a point": (
        lambda s, v: vapid_authorization(v.private_key, good_claims(s), public_key=b"\x04" * 65),
        401,
    ),
    "claims swapped after signing": (
        lambda s, v: "vapid t={}, k={}".format(
            _swap_claims(
                sign_jwt(v.private_key, good_claims(s)), good_claims(s, sub="mailto:x@y.org")
            ),
            vapid_public_key_b64(v),
        ),
        401,
    ),
    "alg HS256": (
        lambda s, v: vapid_authorization(v.private_key, good_claims(s), header={"alg": "HS256"}),
        401,
    ),
    "not a JWT": (lambda s, v: f"vapid t=abc, k={vapid_public_key_b64(v)}", 401),
    "aud of another port": (
        lambda s, v: vapid_authorization(
            v.private_key, good_claims(s, aud=s.origin.rsplit(":", 1)[0] + ":1")
        ),
        403,
    ),
    "aud with a path": (
        lambda s, v: vapid_authorization(v.private_key, good_claims(s, aud=s.origin + "/")),
        403,
    ),
    "aud https": (
        lambda s, v: vapid_authorization(
            v.private_key, good_claims(s, aud=s.origin.replace("http:", "https:"))
        ),
        403,
    ),
    "exp missing": (
        lambda s, v: vapid_authorization(v.private_key, good_claims(s, exp=None)),
        403,
    ),
    "exp passed": (
        lambda s, v: vapid_authorization(v.private_key, good_claims(s, exp=int(time.time()) - 5)),
        403,
    ),
    "exp over 24h": (
        lambda s, v: vapid_authorization(
            v.private_key, good_claims(s, exp=int(time.time()) + MAX_EXP_AHEAD + 60)
        ),
        403,
    ),
    "sub missing": (
        lambda s, v: vapid_authorization(v.private_key, good_claims(s, sub=None)),
        403,
    ),
    "sub bare address": (
        lambda s, v: vapid_authorization(v.private_key, good_claims(s, sub="ops@example.org")),
        403,
    ),
    "sub http": (
        lambda s, v: vapid_authorization(v.private_key, good_claims(s, sub="http://example.org")),
        403,
    ),
}


@pytest.mark.parametrize("case", list(BAD_AUTH))
def test_bad_vapid_auth_is_rejected(service: PushService, vapid: Vapid02, case: str) -> None:
    """Missing or invalid auth answers 401 and bad claims 403, each recorded as a rejection."""
    factory, status = BAD_AUTH[case]
    sub = service.new_subscription()
    response = post_raw(sub, factory(service, vapid))
    assert response.status_code == status, response.text
    assert response.text.startswith("Unauthorized" if status == 401 else "Forbidden")
    [rejection] = service.rejections
    assert (rejection.token, rejection.status) == (sub.token, status)
    assert rejection.reason == response.text.strip()
    assert service.received == []


@pytest.mark.parametrize("separator", [",", ", ", " , "])
def test_hand_built_vapid_auth_is_accepted(
    service: PushService, vapid: Vapid02, separator: str
) -> None:
    """A valid hand-built header is accepted whatever the whitespace around the comma."""
    sub = service.new_subscription()
    token = sign_jwt(vapid.private_key, good_claims(service))
    auth = f"vapid t={token}{separator}k={vapid_public_key_b64(vapid)}"
    assert post_raw(sub, auth).status_code == 201
    assert service.wait_for(1)[0].payload == PAYLOAD


def test_pywebpush_wrong_aud_is_rejected(service: PushService, vapid: Vapid02) -> None:
    """An aud that is not the endpoint's origin is refused with 403."""
    sub = service.new_subscription()
    response = send(sub.info, vapid, claims={"sub": SUB, "aud": "http://127.0.0.1:1"})
    assert response.status_code == 403
    assert "aud" in response.text


def test_pywebpush_exp_over_24_hours_is_rejected(service: PushService, vapid: Vapid02) -> None:
    """An exp more than 24 hours ahead is refused with 403."""
    sub = service.new_subscription()
    claims = {"sub": SUB, "exp": int(time.time()) + 25 * 3600}
    response = send(sub.info, vapid, claims=claims)
    assert response.status_code == 403
    assert "24 hours" in response.text


def test_restricted_subscription_requires_its_application_server_key(
    service: PushService, vapid: Vapid02
) -> None:
    """A subscription made with applicationServerKey refuses other VAPID keys with 403."""
    sub = service.new_subscription(application_server_key=vapid_public_key_b64(vapid))
    assert send(sub.info, vapid).status_code == 201
    response = send(sub.info, OTHER_KEY)
    assert response.status_code == 403
    assert "applicationServerKey" in response.text


def test_body_encrypted_to_another_subscription_fails_to_decrypt(
    service: PushService, vapid: Vapid02
) -> None:
    """A body encrypted with another subscription's keys answers 400."""
    target, other = service.new_subscription(), service.new_subscription()
    mixed = {"endpoint": target.endpoint, "keys": other.info["keys"]}
    response = send(mixed, vapid)
    assert response.status_code == 400
    assert "decryption failed" in response.text
    assert [r.status for r in service.rejections] == [400]
    assert service.received == []


def test_payload_size_limit_is_4096_encrypted_bytes(service: PushService, vapid: Vapid02) -> None:
    """3993 plaintext bytes fill the 4096-byte body exactly; one more answers 413."""
    sub = service.new_subscription()
    assert send(sub.info, vapid, "x" * 3993).status_code == 201
    response = send(sub.info, vapid, "x" * 3994)
    assert response.status_code == 413
    assert len(response.request.body or b"") == 4097
    assert [m.payload for m in service.received] == [b"x" * 3993]


def test_payloadless_push_is_accepted(service: PushService, vapid: Vapid02) -> None:
    """A push without data (no body, no Content-Encoding) is accepted with an empty payload."""
    sub = service.new_subscription()
    assert send(sub.info, vapid, None).status_code == 201
    assert service.wait_for(1)[0].payload == b""


@pytest.mark.parametrize(
    "headers",
    [
        {"TTL": ""},
        {"TTL": "-1"},
        {"TTL": "soon"},
        {"Urgency": "urgent"},
        {"Topic": "t" * 33},
        {"Topic": "a.b"},
        {"Content-Encoding": "aesgcm"},
    ],
)
def test_bad_headers_answer_400(
    service: PushService, vapid: Vapid02, headers: dict[str, str]
) -> None:
    """Invalid TTL, Urgency, Topic or Content-Encoding answers 400."""
    sub = service.new_subscription()
    auth = vapid_authorization(vapid.private_key, good_claims(service))
    response = post_raw(sub, auth, headers=headers)
    assert response.status_code == 400, response.text
    assert service.received == []


def test_missing_ttl_and_encoding_answer_400(service: PushService, vapid: Vapid02) -> None:
    """A missing TTL, or a body without Content-Encoding, answers 400."""
    sub = service.new_subscription()
    auth = vapid_authorization(vapid.private_key, good_claims(service))
    body = encrypt_payload(sub.info, PAYLOAD)
    for drop in ("TTL", "Content-Encoding"):
        headers = {"Authorization": auth, "TTL": "60", "Content-Encoding": "aes128gcm"}
        del headers[drop]
        response = requests.post(sub.endpoint, data=body, headers=headers, timeout=5)
        assert response.status_code == 400
        assert drop in response.text
    assert post_raw(sub, auth, body=body).status_code == 201


def test_pywebpush_aesgcm_encoding_is_rejected(service: PushService, vapid: Vapid02) -> None:
    """The legacy aesgcm content coding answers 400."""
    sub = service.new_subscription()
    response = send(sub.info, vapid, content_encoding="aesgcm")
    assert response.status_code == 400
    assert "aes128gcm" in response.text


def test_unknown_subscription_answers_404(service: PushService, vapid: Vapid02) -> None:
    """A token the service never issued answers 404."""
    sub = service.new_subscription()
    info = {**sub.info, "endpoint": f"{service.origin}/push/nosuchtoken"}
    assert send(info, vapid).status_code == 404
    [rejection] = service.rejections
    assert rejection.token == "nosuchtoken"


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [("gone", 410), ("not_found", 404), ("too_large", 413), ("error", 500)],
)
def test_failing_behaviours_answer_their_status(
    service: PushService, vapid: Vapid02, behaviour: Any, status: int
) -> None:
    """Each failing behaviour keeps answering its status and receives nothing."""
    sub = service.new_subscription(behaviour)
    assert [send(sub.info, vapid).status_code for _ in range(2)] == [status, status]
    assert [a.status for a in service.requests_for(sub)] == [status, status]
    assert all(a.payload == PAYLOAD for a in service.requests_for(sub))
    assert service.received == []
    assert service.rejections == []


def test_rate_limited_answers_429_with_retry_after(service: PushService, vapid: Vapid02) -> None:
    """rate_limited answers 429 with the configured Retry-After every time."""
    sub = service.new_subscription("rate_limited", retry_after=7)
    for _ in range(2):
        with pytest.raises(WebPushException) as caught:
            webpush(
                subscription_info=sub.info,
                data="hi",
                vapid_private_key=vapid,
                vapid_claims={"sub": SUB},
                ttl=60,
                timeout=5,
            )
        assert caught.value.status_code == 429
        assert caught.value.retry_after == "7"
    assert service.received == []


@pytest.mark.parametrize(("behaviour", "first"), [("rate_limited_once", 429), ("error_once", 500)])
def test_once_behaviours_fail_then_accept(
    service: PushService, vapid: Vapid02, behaviour: Any, first: int
) -> None:
    """*_once behaviours fail the first valid message, then accept the retry with 201."""
    sub = service.new_subscription(behaviour)
    assert send(sub.info, vapid).status_code == first
    assert service.behaviour(sub) == "ok"
    assert send(sub.info, vapid).status_code == 201
    assert [a.status for a in service.requests_for(sub)] == [first, 201]
    assert [m.payload for m in service.wait_for(1)] == [PAYLOAD]


def test_rate_limited_once_uses_service_default_retry_after(vapid: Vapid02) -> None:
    """Without a per-subscription value the service's retry_after is sent."""
    with PushService(retry_after=30) as svc:
        sub = svc.new_subscription("rate_limited_once")
        response = send(sub.info, vapid)
        assert (response.status_code, response.headers["Retry-After"]) == (429, "30")


def test_set_behaviour_changes_answers(service: PushService, vapid: Vapid02) -> None:
    """set_behaviour switches a live subscription between behaviours."""
    sub = service.new_subscription()
    statuses = [send(sub.info, vapid).status_code]
    service.set_behaviour(sub, "gone")
    statuses.append(send(sub.info, vapid).status_code)
    service.set_behaviour(sub.token, "rate_limited", retry_after=3)
    response = send(sub.info, vapid)
    statuses.append(response.status_code)
    assert response.headers["Retry-After"] == "3"
    service.set_behaviour(sub, "ok")
    statuses.append(send(sub.info, vapid).status_code)
    assert statuses == [201, 410, 429, 201]
    assert len(service.received_for(sub)) == 2
    with pytest.raises(ValueError, match="unknown behaviour"):
        service.set_behaviour(sub, "explode")  # type: ignore[arg-type]


def test_hang_is_bounded_by_client_timeout_and_stop_is_prompt(vapid: Vapid02) -> None:
    """A hanging push times the client out, and stop() releases it at once."""
    threads_before = threading.active_count()
    svc = PushService(hang_seconds=60).start()
    sub = svc.new_subscription("hang")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        send(sub.info, vapid, timeout=0.5)
    assert time.monotonic() - started < 3
    assert [a.status for a in svc.requests_for(sub)] == [0]
    stopping = time.monotonic()
    svc.stop()
    assert time.monotonic() - stopping < 1
    svc.stop()
    deadline = time.monotonic() + 2
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() <= threads_before
    assert svc.errors == []


def test_stop_closes_idle_keep_alive_connections(vapid: Vapid02) -> None:
    """stop() returns promptly even while a client keeps a pooled connection open."""
    svc = PushService().start()
    sub = svc.new_subscription()
    with requests.Session() as session:
        assert send(sub.info, vapid, requests_session=session).status_code == 201
        stopping = time.monotonic()
        svc.stop()
        assert time.monotonic() - stopping < 1


def test_keep_alive_connection_is_reused(service: PushService, vapid: Vapid02) -> None:
    """A requests session sends many pushes over one TCP connection."""
    sub = service.new_subscription()
    with requests.Session() as session:
        for _ in range(5):
            assert send(sub.info, vapid, requests_session=session).status_code == 201
    assert service.connections == 1
    for _ in range(2):
        assert send(sub.info, vapid).status_code == 201
    assert service.connections == 3
    assert len(service.wait_for(7)) == 7


def test_concurrent_senders_are_all_recorded(service: PushService, vapid: Vapid02) -> None:
    """Messages from many threads are all received with their own payloads."""
    subs = [service.new_subscription() for _ in range(4)]

    def push(i: int) -> int:
        """Send message i to one of the subscriptions."""
        return send(subs[i % 4].info, vapid, f"message {i}").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(push, range(200)))
    assert statuses == [201] * 200
    payloads = {m.payload for m in service.wait_for(200)}
    assert payloads == {f"message {i}".encode() for i in range(200)}
    assert sum(len(service.received_for(s)) for s in subs) == 200


def test_wait_for_raises_after_timeout(service: PushService) -> None:
    """wait_for raises AssertionError when too few messages arrive."""
    started = time.monotonic()
    with pytest.raises(AssertionError, match="expected 1 push messages"):
        service.wait_for(1, timeout=0.1)
    assert time.monotonic() - started < 1


def test_clear_forgets_records(service: PushService, vapid: Vapid02) -> None:
    """clear() empties the records and the connection count."""
    sub = service.new_subscription()
    send(sub.info, vapid)
    post_raw(sub, None)
    service.clear()
    assert (service.received, service.rejections, service.attempts) == ([], [], [])
    assert service.connections == 0


def test_new_subscription_needs_a_started_service() -> None:
    """Subscriptions need the origin, so the service must be started first."""
    with pytest.raises(RuntimeError, match="not started"):
        PushService().new_subscription()
