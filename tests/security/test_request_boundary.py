"""What a client may send to ``POST /v1/classify`` and ``/v2/.../infer``: JSON only as application/json
(415 otherwise; V2 also takes no Content-Type at all), one rule for whitespace-only texts, and a decoder that
answers any bytes with a RequestError."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serve_support import live_server, make_app

from nlpops.bundle import Bundle
from nlpops.errors import RequestError
from nlpops.serve.decode import RequestLimits, check_content_type, decode_classify

BODY = b'{"texts": ["my card is lost"]}'
REFUSED = [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
           "multipart/form-data; boundary=x", "application/jsonx", "application/json; charset=latin-1",
           "json", ""]  # fmt: skip
ACCEPTED = ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
            "application/vnd.api+json", "application/json ; charset=\"utf-8\""]  # fmt: skip


def test_classify_refuses_bodies_not_sent_as_json(tiny_bundle: Bundle) -> None:
    with live_server(make_app(tiny_bundle.path)) as url:
        for content_type in REFUSED:
            headers = {} if content_type is None else {"content-type": content_type}
            response = httpx.post(f"{url}/v1/classify", content=BODY, headers=headers)
            assert response.status_code == 415, (content_type, response.text)
            error = response.json()["error"]
            assert error["code"] == "unsupported_media_type" and "application/json" in error["message"]
        for content_type in ACCEPTED:
            response = httpx.post(f"{url}/v1/classify", content=BODY, headers={"content-type": content_type})
            assert response.status_code == 200, (content_type, response.text)


@pytest.mark.parametrize("text", [" ", "\t\n", "\u3000\u00a0 "])
def test_whitespace_only_texts_are_answered_and_empty_ones_refused(tiny_bundle: Bundle, text: str) -> None:
    with live_server(make_app(tiny_bundle.path)) as url:
        answered = httpx.post(f"{url}/v1/classify", json={"texts": [text, "my card"]})
        refused = httpx.post(f"{url}/v1/classify", json={"texts": ["", "my card"]})
    assert answered.status_code == 200 and len(answered.json()["predictions"]) == 2
    assert refused.status_code == 422 and "texts[0]" in refused.json()["error"]["message"]


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["texts", "text", "lang", "return_scores", "x"]), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(
    body=st.one_of(st.binary(max_size=200), _JSONISH.map(lambda v: json.dumps(v).encode())),
    content_type=st.one_of(st.none(), st.sampled_from(REFUSED + ACCEPTED), st.text(max_size=30)),
)
def test_decoder_answers_any_body_with_a_request_error(body: bytes, content_type: str | None) -> None:
    limits = RequestLimits(max_texts_per_request=4, max_chars_per_text=20)
    try:
        check_content_type(content_type)  # what the core does before any decoder
        request = decode_classify(body, limits)
    except RequestError as exc:
        assert exc.http_status in (400, 413, 415, 422) and exc.message and "\n" not in exc.message
        return
    assert content_type is not None and "json" in content_type.lower()
    assert 1 <= len(request.texts) <= 4 and all(isinstance(t, str) and 0 < len(t) <= 20 for t in request.texts)
    assert request.lang is None or (isinstance(request.lang, str) and 0 < len(request.lang) <= 32)


def test_v2_infer_takes_json_or_no_content_type_and_refuses_the_rest(tiny_bundle: Bundle) -> None:
    """The Open Inference Protocol's clients send no Content-Type; a browser's preflight-free types stay 415."""
    name = tiny_bundle.manifest.name
    body = json.dumps(
        {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["my card is lost"]}]}
    ).encode()
    with live_server(make_app(tiny_bundle.path)) as url:
        for content_type in [None, *ACCEPTED]:
            headers = {} if content_type is None else {"content-type": content_type}
            response = httpx.post(f"{url}/v2/models/{name}/infer", content=body, headers=headers)
            assert response.status_code == 200, (content_type, response.text)
        for content_type in [c for c in REFUSED if c is not None]:
            response = httpx.post(f"{url}/v2/models/{name}/infer", content=body, headers={"content-type": content_type})
            assert response.status_code == 415, (content_type, response.text)
            assert "application/json" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", 'The body must be a JSON object like {"texts": ["..."]}, got a list.'),
        (b"null", 'The body must be a JSON object like {"texts": ["..."]}, got null.'),
        (b'"x"', 'The body must be a JSON object like {"texts": ["..."]}, got a string.'),
        (b'{"texts": 3}', '"texts" must be a list of strings, got a number.'),
        (b'{"texts": 2.5}', '"texts" must be a list of strings, got a number.'),
        (b'{"texts": {"a": 1}}', '"texts" must be a list of strings, got an object.'),
        (b'{"texts": ["a"], "lang": true}', '"lang" must be a language code such as "en", got a boolean.'),
        (b'{"texts": ["a"], "return_scores": "yes"}', '"return_scores" must be true or false, got a string.'),
        (b'{"texts": ["a"], "return_scores": null}', '"return_scores" must be true or false, got null.'),
    ],
)
def test_decoder_names_the_json_kind_it_got(body: bytes, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        decode_classify(body, RequestLimits())
    assert caught.value.message == message and caught.value.http_status == 422
