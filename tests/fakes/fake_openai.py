#!/usr/bin/env python3
"""A scripted fake of an OpenAI-compatible upstream, flavoured like OpenRouter.

hermetic's end-to-end tests, benchmarks and ``make demo`` point the router at this
server instead of https://openrouter.ai/api/v1. It speaks the wire format of the
project's docs/references.md sections 1-2 (OpenAI chat completions, OpenRouter errors,
keep-alive comments, ``usage.cost``) and answers each chat request with the next *step* of a script.

In a test::

    from fakes.fake_openai import FakeOpenAI, text, tool_calls, openrouter_error
    with FakeOpenAI(api_key="sk-or-v1-test") as fake:
        fake.script(openrouter_error(429, retry_after=1), text("Hello!"))
        fake.script_for("qwen/qwen3-coder:free", text("from qwen"))
        ...  # point hermetic at fake.url ("http://127.0.0.1:PORT/v1")
        assert fake.requests[0]["headers"]["x-title"] == "hermetic"

As a process (benchmarks, demo, tests of the C binary)::

    python3 tests/fakes/fake_openai.py --port 0 --port-file /tmp/port --script s.json
    python3 tests/fakes/fake_openai.py --responder echo --latency-ms 20

It prints ``listening on http://127.0.0.1:PORT`` and serves until SIGTERM/SIGINT (exit 0).

The script (the contract)
-------------------------
Scripts are FIFO queues: every ``POST /v1/chat/completions`` (also ``/chat/completions``
and ``/api/v1/chat/completions``) takes the next step queued for its ``model``
(``script_for``), else the next step of the shared queue (``script``). With both empty
it answers HTTP 500 ``fake_openai: script exhausted (request N for model M)``, where N
counts chat requests from 1, unless the responder is ``"echo"``, which then answers
``ECHO_TEXT``. There are no rules or matching on the request: order is the contract.

Steps are plain JSON-able dicts with a ``"kind"``; the constructors below build them.
Every step accepts ``first_byte_delay`` (seconds before the status line is sent).

``text(content, **opts)`` -> ``{"kind": "text", "content": ...}``
    An assistant answer; ``finish_reason`` defaults to ``"stop"``.
``tool_calls((id, name, arguments), ..., **opts)`` -> ``{"kind": "tool_calls", ...}``
    ``arguments`` is sent verbatim as the JSON *string* (it may be invalid JSON on
    purpose; a non-string is ``json.dumps``-ed). Content is null unless ``content`` is
    given; ``finish_reason`` defaults to ``"tool_calls"``; ``interleave=True`` streams the
    fragments of several calls round-robin.

Options of ``text`` and ``tool_calls`` (the same step serves ``stream: true`` or not):
    ``finish_reason``   stop|length|tool_calls|content_filter|...
    ``usage``           dict merged over the computed usage: prompt_tokens =
                        len(request body bytes)//4, completion_tokens = len(content +
                        tool names + arguments)//4, total_tokens = their sum, cost = 0.0,
                        prompt_tokens_details.cached_tokens = 0 (with the constructor's
                        ``prompt_cache=(min_tokens, step)``: the prefix shared with an earlier
                        request for the model, as OpenAI's automatic prompt cache counts it),
                        completion_tokens_details.reasoning_tokens = 0
    ``cost``            shorthand for ``usage.cost`` (USD, OpenRouter's credits)
    ``model``           model reported in the answer (default: the request's model)
    ``extra``           dict of extra top-level fields on every chunk / the completion
                        (``system_fingerprint``, ``provider``, ``service_tier`` ...)
    ``chunk_size``      characters per streamed content / arguments piece (default 8)
    ``first_chunk_delay`` seconds between the response headers and the first data event
                        (non-stream: between headers and body)
    ``chunk_delay``     seconds between streamed data events
    ``keepalive``       number of ``: OPENROUTER PROCESSING`` comments sent before the
                        first data event (spread over ``first_chunk_delay``)
    ``keepalive_every`` one more comment after every N data events
    ``crlf``            end SSE lines with CRLF instead of LF
    ``framing``         ``"chunked"`` (default, keep-alive) or ``"close"`` (no length,
                        connection closed at the end)
    ``cut_after``       N: send N data events then close the connection: no [DONE],
                        no usage chunk (non-stream: half of the body, then close)
    ``error_after``     N: after N data events send ``data: {"error": <error>}`` (no
                        choices) and end the stream without [DONE] (non-stream: HTTP 200
                        with body ``{"error": <error>}``); ``error`` defaults to
                        ``{"code": 502, "message": "Provider returned error"}``;
                        ``error_finish_reason=True`` first sends a chunk whose
                        finish_reason is ``"error"``
    ``malformed_after`` N: after N data events send a ``data:`` line of broken JSON, then
                        continue normally (non-stream: the body is cut in half: invalid JSON)

Streams are ``chat.completion.chunk`` events: a role delta first, the content in pieces,
then tool-call fragments (the first per index carries ``index,id,type,function{name,
arguments:""}``, later ones ``index`` and an ``arguments`` piece), a final chunk with
``delta:{}`` and the finish_reason, then, if the request asked for usage
(``stream_options.include_usage`` or OpenRouter's ``usage.include``), a chunk with
``"choices": []`` and the usage (the other chunks then carry ``"usage": null``, like
OpenAI), then ``data: [DONE]``. "Data events" in the options above are these chunks.

``error(status, body, retry_after=None, headers=None)`` -> ``{"kind": "error", ...}``
    An HTTP error answer (JSON body) sent before any generation, stream or not. Bodies:
    ``openrouter_error(code)`` (400/401/402/403/408/429/502/503, OpenRouter's shape and
    typical messages/metadata), ``openai_error(status, message, type, code)``,
    ``context_length_exceeded(style="openai"|"openrouter")``,
    ``content_policy(style="openrouter"|"openai")``.
``hang()`` -> ``{"kind": "hang"}``
    Read the request, never answer; ends when the client disconnects or the fake closes.
``raw(status, body, headers)`` -> ``{"kind": "raw", ...}``
    Exactly this status, headers and body (bytes or str). Content-Length is added unless
    ``headers`` sets Content-Length or Transfer-Encoding (then the connection is closed
    after the body).

User content parts
------------------
Before a step is taken, the content arrays of ``user`` messages are checked as OpenAI
documents them (OpenRouter's list for audio formats; other roles and string contents are not
checked; extra keys such as ``cache_control`` pass):
    ``{"type": "text", "text": str}``
    ``{"type": "image_url", "image_url": {"url", "detail"?}}``: ``url`` http(s), or
        ``data:image/(png|jpeg|gif|webp);base64,<strict base64, not empty>``; ``detail``
        auto|low|high
    ``{"type": "input_audio", "input_audio": {"data", "format"}}``: ``data`` base64 WITHOUT
        a ``data:`` prefix; ``format`` wav|mp3|flac|m4a|ogg|aiff|aac|pcm16|pcm24
    ``{"type": "file", "file": {"filename"?, "file_data"}}`` (``data:application/pdf;base64,
        ...`` or, as OpenRouter takes it, an http(s) URL) or ``{"file": {"file_id"}}``
A malformed part answers 400 in OpenAI's shape ``{"error": {"message", "type":
"invalid_request_error", "param": "messages[1].content[2].image_url.url", "code"}}``, the
request marked ``step: "invalid"`` and no step consumed. Codes and wording: an unknown type
``invalid_value`` "Invalid value: 'x'. Supported values are: 'text', 'image_url',
'input_audio', and 'file'."; a missing field ``missing_required_parameter`` "Missing required
parameter: '<param>'."; a wrong JSON type ``invalid_type`` "Invalid type for '<param>':
expected an object, but got a string instead."; a bad data URL ``invalid_value`` "Invalid
image URL: '<param>'. Expected a base64-encoded data URL with an image MIME type (e.g.
'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got a value without the 'data:' prefix."
(or "... but got an invalid base64-encoded value." / "empty base64-encoded bytes." /
"unsupported MIME type 'x'." / "a value that is not base64-encoded."; for a PDF "Invalid file
data: ..." with an application/pdf MIME type); an image/* type outside the four
``invalid_image_format``; a bad audio format ``invalid_value`` with the supported list;
audio data with a ``data:`` prefix, invalid or empty base64 ``invalid_value``.
``FakeOpenAI(validate_content=False)`` turns the check (and the recording) off.
Every chat request records ``parts``: the decoded parts of the user content arrays, dicts
``message`` (index in messages), ``index`` (in content), ``type``, and: text ``text``,
``bytes``, ``sha256``; image_url ``detail``, ``mime``, ``bytes`` (decoded length),
``sha256`` (of the decoded bytes), or ``url`` (then mime/bytes/sha256 None); input_audio
``format``, ``bytes``, ``sha256``; file ``filename``, ``mime``, ``bytes``, ``sha256``, or
``url`` / ``file_id``. ``fake.requests[-1]["parts"]``; ``[]`` for string contents.

Other endpoints
---------------
``GET /v1/models`` (also ``/models``, ``/api/v1/models``): the models named in scripts
(``script_for``, a step's ``model``) and in ``FakeOpenAI(models=...)``, OpenAI list shape.
``GET /api/v1/key`` (also ``/v1/key``, ``/key``): ``{"data": {...}}``, OpenRouter's key
info; ``fake.key_info`` is merged over ``DEFAULT_KEY_INFO``.
With ``api_key`` set, chat and key requests need ``Authorization: Bearer <api_key>``;
otherwise OpenRouter's 401 ``No auth credentials found`` / ``User not found.``.
Control (no auth, never recorded): ``POST /_fake/script`` with a list of steps or
``{"steps": [...], "model": "m"}``; ``GET /_fake/requests``; ``POST /_fake/reset``.

Rate limits: ``FakeOpenAI(rate_limit=(tpm, rpm))`` (``--tpm``/``--rpm``) enforces an account's
tokens and requests per minute over an exact sliding minute, as OpenAI does and says it does
(tests/fakes/ratelimit.py): a request counts its prompt plus ``max_tokens`` on arrival, one
that does not fit gets OpenAI's 429 (``rate_limit_exceeded``, ``retry-after``) before any step
is taken, and every answer carries ``x-ratelimit-*``. ``GET /_fake/ratelimit`` gives the peak
tokens the window held and the 429s sent.

Long runs (benchmarks, soaks): ``FakeOpenAI(cycle=True)`` (``--cycle``) puts every step
back at the end of its queue after it answered, so a short script repeats for ever;
``keep_requests=N`` (``--keep-requests N``) keeps only the last N recorded requests (the
counters ``fake.chat_count`` and ``fake.usage_totals`` still cover all of them), so memory and
per-request cost stay flat over 10,000 turns.

Recorded requests (``fake.requests``, ``GET /_fake/requests``) are dicts: ``method``,
``path``, ``headers`` (case-insensitive dict, lower-case keys), ``body`` (parsed JSON or
None), ``raw`` (body text), ``time`` (epoch s), ``monotonic`` (CLOCK_MONOTONIC s),
``peer`` ("ip:port" of the client connection), and for chat requests ``n`` (1-based),
``model``, ``stream``, ``parts`` (above) and ``step`` (the kind that answered, or
"exhausted", "echo", "auth", "invalid"). Helpers: ``fake.chat_requests``, ``fake.wait_requests(count, timeout)``,
``fake.remaining`` (steps not consumed), ``fake.reset()``.

A script file (``--script``) is a JSON list of steps, or an object
``{"steps": [...], "models": {"model": [...]}, "key_info": {...}}``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import copy
import hashlib
import itertools
import json
import re
import select
import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import ThreadingHTTPServer
try:
    from fakes.served import Served, TrackedHandler, serve_until_signal
except ImportError:  # run as a script from tests/fakes
    from served import Served, TrackedHandler, serve_until_signal

try:
    from fakes.ratelimit import SlidingLimit
except ImportError:  # run as a script from tests/fakes/
    from ratelimit import SlidingLimit
from urllib.parse import urlsplit

KEEPALIVE_COMMENT = ": OPENROUTER PROCESSING"
ECHO_TEXT = "Hello from fake_openai."
DEFAULT_CHUNK_SIZE = 8
CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions", "/api/v1/chat/completions"})
MODELS_PATHS = frozenset({"/v1/models", "/models", "/api/v1/models"})
KEY_PATHS = frozenset({"/v1/key", "/key", "/api/v1/key"})
DEFAULT_KEY_INFO = {
    "label": "sk-or-v1-fak...e00",
    "limit": None,
    "limit_remaining": None,
    "limit_reset": None,
    "usage": 0.0,
    "usage_daily": 0.0,
    "usage_weekly": 0.0,
    "usage_monthly": 0.0,
    "is_free_tier": True,
    "include_byok_in_limit": False,
}
DEFAULT_STREAM_ERROR = {"code": 502, "message": "Provider returned error"}

# Typical OpenRouter messages and metadata per status (docs/references.md section 2).
_OPENROUTER_DEFAULTS = {
    400: ("Bad Request: invalid or missing params", {}),
    401: ("No auth credentials found", None),
    402: ("This request requires more credits, or fewer max_tokens. You requested up to "
          "4096 tokens, but can only afford 100. To increase, visit "
          "https://openrouter.ai/settings/credits and upgrade to a paid account",
          {"provider_name": None}),
    403: ("Your chosen model requires moderation and your input was flagged",
          {"reasons": ["harassment"], "flagged_input": "...", "provider_name": "Fake",
           "model_slug": "fake/model"}),
    408: ("Request timed out", {}),
    429: ("Rate limit exceeded: free-models-per-min. ",
          {"headers": {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset": "0"}}),
    502: ("Provider returned error", {"provider_name": "Fake", "raw": "upstream error"}),
    503: ("No allowed providers are available for the selected model.", {}),
}

_COMMON_KEYS = frozenset({"kind", "first_byte_delay"})
_ANSWER_KEYS = frozenset({
    "content", "finish_reason", "usage", "cost", "model", "extra", "chunk_size",
    "first_chunk_delay", "chunk_delay", "keepalive", "keepalive_every", "crlf", "framing",
    "cut_after", "error_after", "error", "error_finish_reason", "malformed_after",
})
_STEP_KEYS = {
    "text": _ANSWER_KEYS,
    "tool_calls": _ANSWER_KEYS | {"tool_calls", "interleave"},
    "error": frozenset({"status", "body", "headers", "retry_after"}),
    "raw": frozenset({"status", "body", "headers"}),
    "hang": frozenset(),
}


# ---------------------------------------------------------------------------
# User content parts (OpenAI's chat content array, OpenRouter's audio/PDF parts)
# ---------------------------------------------------------------------------

PART_TYPES = ("text", "image_url", "input_audio", "file")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")
AUDIO_FORMATS = ("wav", "mp3", "flac", "m4a", "ogg", "aiff", "aac", "pcm16", "pcm24")
IMAGE_DETAILS = ("auto", "low", "high")
_IMAGE_EXAMPLE = "data:image/png;base64,aW1nIGJ5dGVzIGhlcmU="
_PDF_EXAMPLE = "data:application/pdf;base64,SGVsbG8sIFdvcmxkIQ=="
_DATA_URL = re.compile(r"data:([^;,]*)((?:;[^;,]*)*),(.*)", re.S)


class PartError(Exception):
    """A malformed content part: OpenAI's 400 invalid_request_error."""

    def __init__(self, message: str, param: str, code: str):
        super().__init__(message)
        self.body = {"error": {"message": message, "type": "invalid_request_error",
                               "param": param, "code": code}}


def _supported(values) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + (", and " if len(quoted) > 2 else " and ") + quoted[-1]


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), "a value")


def _field(obj: dict, key: str, param: str, want=str):
    value = obj.get(key)
    if value is None:
        raise PartError(f"Missing required parameter: '{param}'.", param,
                        "missing_required_parameter")
    if not isinstance(value, want):
        raise PartError(f"Invalid type for '{param}': expected {_json_type(want())}, but got "
                        f"{_json_type(value)} instead.", param, "invalid_type")
    return value


def _b64(data: str) -> bytes | None:
    """Strict base64 (padding required), else None."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _digest(data: bytes) -> dict:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _data_url(url: str, param: str, what: str, mimes, example: str, invalid: str) -> tuple:
    """(mime, bytes) of ``data:<mime>;base64,<data>`` or PartError in OpenAI's wording."""
    head = (f"{invalid}: '{param}'. Expected a base64-encoded data URL with {what} "
            f"(e.g. '{example}')")
    m = _DATA_URL.fullmatch(url)
    if not url.startswith("data:") or not m:
        raise PartError(f"{head}, but got a value without the 'data:' prefix.", param,
                        "invalid_value")
    mime, params, payload = m.group(1).lower(), m.group(2).lower(), m.group(3)
    if "base64" not in params.split(";"):
        raise PartError(f"{head}, but got a value that is not base64-encoded.", param,
                        "invalid_value")
    if mime not in mimes:
        if mimes is IMAGE_MIMES and mime.startswith("image/"):
            raise PartError("You uploaded an unsupported image. Please make sure your image "
                            "has of one the following formats: ['png', 'jpeg', 'gif', "
                            "'webp'].", param, "invalid_image_format")
        raise PartError(f"{head}, but got unsupported MIME type '{mime}'.", param,
                        "invalid_value")
    data = _b64(payload)
    if data is None:
        raise PartError(f"{head}, but got an invalid base64-encoded value.", param,
                        "invalid_value")
    if not data:
        raise PartError(f"{head}, but got empty base64-encoded bytes.", param, "invalid_value")
    return mime, data


def content_parts(body: dict) -> list[dict]:
    """Check the content arrays of ``user`` messages as OpenAI (and OpenRouter, for
    ``input_audio`` formats and PDF ``file`` parts) documents them; return the parts
    decoded, or raise PartError. Extra keys on a part (``cache_control``) pass."""
    parts: list[dict] = []
    messages = body.get("messages")
    if not isinstance(messages, list):
        return parts
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            p = f"messages[{i}].content[{j}]"
            if not isinstance(part, dict):
                raise PartError(f"Invalid type for '{p}': expected an object, but got "
                                f"{_json_type(part)} instead.", p, "invalid_type")
            kind = part.get("type")
            if kind is None:
                raise PartError(f"Missing required parameter: '{p}.type'.", f"{p}.type",
                                "missing_required_parameter")
            if kind not in PART_TYPES:
                raise PartError(f"Invalid value: '{kind}'. Supported values are: "
                                f"{_supported(PART_TYPES)}.", f"{p}.type", "invalid_value")
            got = {"message": i, "index": j, "type": kind}
            if kind == "text":
                text = _field(part, "text", f"{p}.text")
                got.update(text=text, **_digest(text.encode()))
            elif kind == "image_url":
                image = _field(part, "image_url", f"{p}.image_url", dict)
                url = _field(image, "url", f"{p}.image_url.url")
                detail = image.get("detail")
                if detail is not None and detail not in IMAGE_DETAILS:
                    raise PartError(f"Invalid value: '{detail}'. Supported values are: "
                                    f"{_supported(IMAGE_DETAILS)}.", f"{p}.image_url.detail",
                                    "invalid_value")
                got["detail"] = detail
                if re.match(r"(?i)https?://", url):
                    got.update(url=url, mime=None, bytes=None, sha256=None)
                else:
                    mime, data = _data_url(url, f"{p}.image_url.url",
                                           "an image MIME type", IMAGE_MIMES, _IMAGE_EXAMPLE,
                                           "Invalid image URL")
                    got.update(mime=mime, **_digest(data))
            elif kind == "input_audio":
                audio = _field(part, "input_audio", f"{p}.input_audio", dict)
                data_b64 = _field(audio, "data", f"{p}.input_audio.data")
                fmt = _field(audio, "format", f"{p}.input_audio.format")
                if fmt not in AUDIO_FORMATS:
                    raise PartError(f"Invalid value: '{fmt}'. Supported values are: "
                                    f"{_supported(AUDIO_FORMATS)}.", f"{p}.input_audio.format",
                                    "invalid_value")
                param = f"{p}.input_audio.data"
                if data_b64.startswith("data:"):
                    raise PartError(f"Invalid '{param}'. Expected base64-encoded audio bytes, "
                                    "but got a data URL (send the base64 without the 'data:' "
                                    "prefix).", param, "invalid_value")
                data = _b64(data_b64)
                if data is None:
                    raise PartError(f"Invalid '{param}'. Expected base64-encoded audio bytes, "
                                    "but got an invalid base64-encoded value.", param,
                                    "invalid_value")
                if not data:
                    raise PartError(f"Invalid '{param}'. Expected base64-encoded audio bytes, "
                                    "but got empty base64-encoded bytes.", param,
                                    "invalid_value")
                got.update(format=fmt, **_digest(data))
            else:
                file = _field(part, "file", f"{p}.file", dict)
                got["filename"] = file.get("filename")
                if file.get("file_data") is None and file.get("file_id") is not None:
                    got.update(file_id=_field(file, "file_id", f"{p}.file.file_id"),
                               mime=None, bytes=None, sha256=None)
                else:
                    file_data = _field(file, "file_data", f"{p}.file.file_data")
                    if re.match(r"(?i)https?://", file_data):  # OpenRouter: a public URL
                        got.update(url=file_data, mime=None, bytes=None, sha256=None)
                    else:
                        mime, data = _data_url(file_data, f"{p}.file.file_data",
                                               "an application/pdf MIME type",
                                               ("application/pdf",), _PDF_EXAMPLE,
                                               "Invalid file data")
                        got.update(mime=mime, **_digest(data))
            parts.append(got)
    return parts


# ---------------------------------------------------------------------------
# Step constructors
# ---------------------------------------------------------------------------

def text(content: str, **options) -> dict:
    """A text answer step (see the module docstring for ``options``)."""
    return normalize_step({"kind": "text", "content": content, **options})


def tool_calls(*calls, **options) -> dict:
    """A tool-call answer step; each call is ``(id, name, arguments)`` or a dict."""
    return normalize_step({"kind": "tool_calls", "tool_calls": list(calls), **options})


def error(status: int, body, retry_after=None, headers=None, **options) -> dict:
    """An HTTP error step: ``status`` with JSON ``body`` (dict, or str sent as is)."""
    step = {"kind": "error", "status": status, "body": body, "headers": dict(headers or {}),
            **options}
    if retry_after is not None:
        step["retry_after"] = retry_after
    return normalize_step(step)


def openrouter_error(code: int, message=None, metadata=None, retry_after=None,
                     **options) -> dict:
    """OpenRouter's ``{"error":{"code","message","metadata"}}`` with HTTP status ``code``."""
    default_message, default_metadata = _OPENROUTER_DEFAULTS.get(code, ("Error", {}))
    body = {"code": code, "message": message if message is not None else default_message}
    metadata = metadata if metadata is not None else copy.deepcopy(default_metadata)
    if metadata is not None:
        body["metadata"] = metadata
    return error(code, {"error": body}, retry_after=retry_after, **options)


def openai_error(status: int, message: str, type: str = "invalid_request_error",  # noqa: A002
                 code=None, param=None, retry_after=None, **options) -> dict:
    """OpenAI's ``{"error":{"message","type","param","code"}}`` with HTTP ``status``."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return error(status, body, retry_after=retry_after, **options)


def context_length_exceeded(max_context: int = 8192, requested: int = 10000,
                            style: str = "openai", **options) -> dict:
    """HTTP 400 context-window error, OpenAI's (``context_length_exceeded``) or OpenRouter's."""
    if style == "openai":
        return openai_error(
            400,
            f"This model's maximum context length is {max_context} tokens. However, your "
            f"messages resulted in {requested} tokens. Please reduce the length of the messages.",
            param="messages", code="context_length_exceeded", **options)
    if style == "openrouter":
        return openrouter_error(
            400,
            f"This endpoint's maximum context length is {max_context} tokens. However, you "
            f"requested about {requested} tokens ({requested} of text input). Please reduce "
            "the length of either one, or use the \"middle-out\" transform to compress your "
            "prompt automatically.",
            metadata={}, **options)
    raise ValueError(f"unknown style {style!r}")


def content_policy(style: str = "openrouter", reasons=("harassment",),
                   flagged_input: str = "...", model: str = "fake/model", **options) -> dict:
    """Content-policy refusal: OpenRouter's 403 moderation error or OpenAI's 400."""
    if style == "openrouter":
        return openrouter_error(
            403,
            f"{model} requires moderation on OpenRouter. Your input was flagged for "
            f"\"{', '.join(reasons)}\"",
            metadata={"reasons": list(reasons), "flagged_input": flagged_input,
                      "provider_name": "Fake", "model_slug": model},
            **options)
    if style == "openai":
        return openai_error(
            400,
            "Your request was rejected as a result of our safety system. Your prompt may "
            "contain text that is not allowed by our safety system.",
            code="content_policy_violation", **options)
    raise ValueError(f"unknown style {style!r}")


def hang() -> dict:
    """A step that never answers (until the client disconnects or the fake closes)."""
    return normalize_step({"kind": "hang"})


def raw(status: int, body=b"", headers=None, **options) -> dict:
    """A step answering exactly ``status``, ``headers`` and ``body`` (bytes or str)."""
    return normalize_step({"kind": "raw", "status": status, "body": body,
                           "headers": dict(headers or {}), **options})


def normalize_step(step) -> dict:
    """Validate a step dict (as built above or read from JSON); return a normalized copy."""
    if not isinstance(step, dict):
        raise ValueError(f"a step must be a dict, got {step!r}")
    kind = step.get("kind")
    if kind not in _STEP_KEYS:
        raise ValueError(f"unknown step kind {kind!r} (one of {sorted(_STEP_KEYS)})")
    unknown = set(step) - _STEP_KEYS[kind] - _COMMON_KEYS
    if unknown:
        raise ValueError(f"unknown keys for a {kind} step: {sorted(unknown)}")
    out = copy.deepcopy(step)
    if kind == "tool_calls":
        if not out.get("tool_calls"):
            raise ValueError("a tool_calls step needs at least one call")
        out["tool_calls"] = [_normalize_call(c) for c in out["tool_calls"]]
    if kind in ("error", "raw") and not isinstance(out.get("status"), int):
        raise ValueError(f"a {kind} step needs an integer status")
    if kind == "error" and "retry_after" in out:
        out.setdefault("headers", {})["Retry-After"] = str(out.pop("retry_after"))
    if out.get("framing", "chunked") not in ("chunked", "close"):
        raise ValueError("framing must be 'chunked' or 'close'")
    return out


def _normalize_call(call) -> dict:
    """One tool call as ``{"id", "name", "arguments"}`` with ``arguments`` a string."""
    if isinstance(call, dict):
        call_id, name, arguments = call.get("id"), call.get("name"), call.get("arguments")
    elif isinstance(call, (list, tuple)) and len(call) == 3:
        call_id, name, arguments = call
    else:
        raise ValueError(f"a tool call is (id, name, arguments) or a dict, got {call!r}")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise ValueError(f"tool call id and name must be strings: {call!r}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": call_id, "name": name, "arguments": arguments}


# ---------------------------------------------------------------------------
# Rendering a step into OpenAI objects
# ---------------------------------------------------------------------------

def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _pieces(s: str, size: int) -> list[str]:
    return [s[i:i + size] for i in range(0, len(s), size)]


class _Reply:
    """What a step's rendering needs to know about the request it answers."""

    def __init__(self, n: int, body: dict, raw_body: bytes, step: dict):
        self.step = step
        self.id = f"gen-fake-{n:06d}"
        self.created = int(time.time())
        self.model = step.get("model") or body.get("model") or "fake-model"
        self.stream = body.get("stream") is True
        self.include_usage = (_dict(body.get("stream_options")).get("include_usage") is True
                              or _dict(body.get("usage")).get("include") is True)
        self.prompt_bytes = len(raw_body)
        self.calls = step.get("tool_calls") or []
        default_reason = "tool_calls" if step["kind"] == "tool_calls" else "stop"
        self.finish_reason = step.get("finish_reason", default_reason)
        self.cached_tokens = 0

    def usage(self) -> dict:
        """The computed usage with the step's ``cost`` and ``usage`` merged over it."""
        produced = len(self.step.get("content") or "") + sum(
            len(c["name"]) + len(c["arguments"]) for c in self.calls)
        usage = {"prompt_tokens": self.prompt_bytes // 4, "completion_tokens": produced // 4,
                 "total_tokens": 0, "cost": self.step.get("cost", 0.0),
                 "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
                 "completion_tokens_details": {"reasoning_tokens": 0}}
        given = self.step.get("usage") or {}
        for key, value in given.items():
            if isinstance(value, dict) and isinstance(usage.get(key), dict):
                usage[key] = {**usage[key], **value}
            else:
                usage[key] = value
        if "total_tokens" not in given:
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return usage

    def _base(self, obj: str) -> dict:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model,
                **self.step.get("extra", {})}

    def completion(self) -> dict:
        """The non-streamed ``chat.completion`` object."""
        message = {"role": "assistant", "content": self.step.get("content")}
        if self.calls:
            message["tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in self.calls]
        return {**self._base("chat.completion"),
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": self.finish_reason}],
                "usage": self.usage()}

    def chunk(self, delta: dict, finish_reason=None) -> dict:
        """One ``chat.completion.chunk`` with a single choice."""
        chunk = {**self._base("chat.completion.chunk"),
                 "choices": [{"index": 0, "delta": delta, "logprobs": None,
                              "finish_reason": finish_reason}]}
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def stream_events(self) -> list[dict]:
        """All data events of the stream, before ``[DONE]``."""
        size = max(1, int(self.step.get("chunk_size", DEFAULT_CHUNK_SIZE)))
        content = self.step.get("content")
        events = [self.chunk({"role": "assistant",
                              "content": "" if content is not None else None})]
        events += [self.chunk({"content": p}) for p in _pieces(content or "", size)]
        events += [self.chunk({"tool_calls": [f]})
                   for f in _tool_call_fragments(self.calls, size,
                                                 self.step.get("interleave", False))]
        events.append(self.chunk({}, self.finish_reason))
        if self.include_usage:
            events.append({**self._base("chat.completion.chunk"), "choices": [],
                           "usage": self.usage()})
        return events


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _tool_call_fragments(calls: list[dict], size: int, interleave: bool) -> list[dict]:
    """Tool-call deltas keyed by index: a head per call, then its arguments pieces."""
    per_call = []
    for index, call in enumerate(calls):
        head = {"index": index, "id": call["id"], "type": "function",
                "function": {"name": call["name"], "arguments": ""}}
        per_call.append([head] + [{"index": index, "function": {"arguments": p}}
                                  for p in _pieces(call["arguments"], size)])
    if not interleave:
        return [f for fragments in per_call for f in fragments]
    return [f for group in itertools.zip_longest(*per_call) for f in group if f is not None]


# ---------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------

class Headers(dict):
    """A JSON-serialisable header dict with case-insensitive lookups (lower-case keys)."""

    def __init__(self, items=()):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)


class _Aborted(Exception):
    """The fake is closing: drop the connection without finishing the answer."""


class _SSE:
    """Writes SSE lines, as HTTP chunks or close-delimited."""

    def __init__(self, wfile, chunked: bool, crlf: bool):
        self.wfile, self.chunked = wfile, chunked
        self.eol = "\r\n" if crlf else "\n"

    def _write(self, s: str):
        data = s.encode()
        if self.chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(data)

    def data(self, payload: str):
        self._write(f"data: {payload}{self.eol}{self.eol}")

    def comment(self):
        self._write(f"{KEEPALIVE_COMMENT}{self.eol}{self.eol}")

    def end(self):
        if self.chunked:
            self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, fake: "FakeOpenAI"):
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) or self.fake.closing:
            return  # client went away, or we are shutting down: not worth a traceback
        super().handle_error(request, client_address)


class _Handler(TrackedHandler):
    _rl_headers: dict = {}  # the account's x-ratelimit-* for this answer (ratelimit.py)
    protocol_version = "HTTP/1.1"
    server_version = "fake_openai/1"
    disable_nagle_algorithm = True
    server: _Server

    # -- plumbing ------------------------------------------------------------

    @property
    def fake(self) -> "FakeOpenAI":
        return self.server.fake

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's name)
        if self.fake.verbose:
            sys.stderr.write(f"fake_openai: {self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _wait(self, seconds: float):
        """Sleep, unless the fake closes meanwhile (then abort the answer)."""
        if seconds and seconds > 0 and self.fake._stop.wait(seconds):
            raise _Aborted()

    def _send(self, status: int, body, headers=None, content_type="application/json"):
        if not isinstance(body, (bytes, str)):
            body = _dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        self.wfile.write(body)

    # -- dispatch ------------------------------------------------------------

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        path = urlsplit(self.path).path
        try:
            raw_body = self._read_body()
        except ValueError:
            self.close_connection = True
            return self._send(400, {"error": {"code": 400, "message": "bad request framing"}})
        try:
            if path.startswith("/_fake/"):
                return self._control(path, raw_body)
            record = self.fake._record(self, path, raw_body)
            if self.command == "POST" and path in CHAT_PATHS:
                return self._chat(record, raw_body)
            if self.command == "GET" and path in MODELS_PATHS:
                return self._send(200, self.fake._models_list())
            if self.command == "GET" and path in KEY_PATHS:
                if not self._auth_failed():
                    self._send(200, {"data": {**DEFAULT_KEY_INFO, **self.fake.key_info}})
                return None
            return self._send(404, {"error": {
                "message": f"fake_openai: no route for {self.command} {path}",
                "type": "invalid_request_error", "param": None, "code": "not_found"}})
        except _Aborted:
            self.close_connection = True
            return None

    def _auth_failed(self, record: dict | None = None) -> bool:
        """Answer OpenRouter's 401 and return True unless the bearer key is right. The record's
        step is marked before the answer leaves, so a client that reads the recorded requests
        right after its 401 sees it."""
        key = self.fake.api_key
        if key is None:
            return False
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            message = "No auth credentials found"
        elif token.strip() != key:
            message = "User not found."
        else:
            return False
        if record is not None:
            self.fake._mark(record, "auth")
        self._send(401, {"error": {"code": 401, "message": message}})
        return True

    def _control(self, path: str, raw_body: bytes):
        if self.command == "GET" and path == "/_fake/requests":
            return self._send(200, self.fake.requests)
        if self.command == "GET" and path == "/_fake/ratelimit":
            lim = self.fake.limit
            return self._send(200, {"peak_tokens": lim.peak_tokens, "refused": lim.refused,
                                    "admitted": lim.admitted} if lim else None)
        if self.command == "POST" and path == "/_fake/reset":
            self.fake.reset()
            return self._send(200, {"ok": True})
        if self.command == "POST" and path == "/_fake/script":
            try:
                self.fake._script_json(json.loads(raw_body or b"null"))
            except ValueError as e:
                return self._send(400, {"error": {"code": 400, "message": str(e)}})
            return self._send(200, {"ok": True, "remaining": self.fake.remaining})
        return self._send(404, {"error": {"code": 404, "message": f"no control route {path}"}})

    # -- chat completions ----------------------------------------------------

    def _chat(self, record: dict, raw_body: bytes):
        body = record["body"]
        if not isinstance(body, dict):
            self.fake._mark(record, "invalid")
            return self._send(400, {"error": {
                "code": 400, "message": "fake_openai: request body is not a JSON object"}})
        if self._auth_failed(record):
            return None
        if self.fake.validate_content:
            try:
                self.fake._set_parts(record, content_parts(body))
            except PartError as e:
                self.fake._mark(record, "invalid")
                return self._send(400, e.body)
        self._rl_headers, entry = {}, None
        if self.fake.limit:
            asked = len(raw_body) // 4 + int(body.get("max_tokens") or
                                             body.get("max_completion_tokens") or 0)
            entry, answer = self.fake.limit.admit(str(record["model"]), asked)
            if entry is None:
                self.fake._mark(record, "rate_limited")
                return self._send(*answer)
            self._rl_headers = answer
        step = self.fake._next_step(record)
        if step is None:
            return self._send(500, {"error": {
                "message": f"fake_openai: script exhausted (request {record['n']} for "
                           f"model {record['model']})",
                "type": "server_error", "param": None, "code": "script_exhausted"}})
        self._wait(self.fake.latency + step.get("first_byte_delay", 0))
        kind = step["kind"]
        if kind == "error":
            return self._send(step["status"], step["body"], step.get("headers"))
        if kind == "raw":
            return self._raw(step)
        if kind == "hang":
            return self._hang()
        reply = _Reply(record["n"], body, raw_body, step)
        reply.cached_tokens = record["cached_tokens"] = self.fake._prefix(record, raw_body)
        self.fake._count_usage(record["model"], reply.usage())
        if entry is not None:
            self.fake.limit.settle(entry, int(reply.usage().get("total_tokens") or 0))
        return self._stream(reply) if reply.stream else self._complete(reply)

    def _raw(self, step: dict):
        headers = step.get("headers") or {}
        body = step.get("body") or b""
        body = body.encode() if isinstance(body, str) else body
        framed = {k.lower() for k in headers} & {"content-length", "transfer-encoding"}
        self.send_response(step["status"])
        for key, value in headers.items():
            self.send_header(key, str(value))
        if not framed:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = self.close_connection or bool(framed)

    def _hang(self):
        """Wait for the client to disconnect, or the fake to close; never answer."""
        conn = self.connection
        while not self.fake._stop.wait(0.05):
            readable, _, _ = select.select([conn], [], [], 0)
            if readable:
                try:
                    if not conn.recv(1, socket.MSG_PEEK):
                        break
                except OSError:
                    break
        self.close_connection = True

    def _complete(self, reply: _Reply):
        step = reply.step
        if "error_after" in step:
            body = _dumps({"error": step.get("error", DEFAULT_STREAM_ERROR)}).encode()
        else:
            body = _dumps(reply.completion()).encode()
        if "malformed_after" in step:
            body = body[:len(body) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in self._rl_headers.items():
            self.send_header(key, value)
        self.end_headers()
        self._wait(step.get("first_chunk_delay", 0))
        if "cut_after" in step:
            self.wfile.write(body[:len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def _stream(self, reply: _Reply):
        step = reply.step
        chunked = step.get("framing", "chunked") == "chunked" and self.request_version == "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding" if chunked else "Connection",
                         "chunked" if chunked else "close")
        for key, value in self._rl_headers.items():
            self.send_header(key, value)
        self.end_headers()
        sse = _SSE(self.wfile, chunked, step.get("crlf", False))
        self._pre_first_chunk(sse, step.get("keepalive", 0), step.get("first_chunk_delay", 0))
        events = reply.stream_events()
        every = step.get("keepalive_every", 0)
        for sent in range(len(events) + 1):
            if sent == step.get("cut_after"):
                self.close_connection = True
                return
            if sent == step.get("error_after"):
                return self._stream_error(sse, reply)
            if sent == step.get("malformed_after"):
                sse.data('{"id":"' + reply.id + '","choices":[{"index":0,"delta":{"content":"')
            if sent == len(events):
                break
            if sent:
                self._wait(step.get("chunk_delay", 0))
            sse.data(_dumps(events[sent]))
            if every and (sent + 1) % every == 0:
                sse.comment()
        sse.data("[DONE]")
        sse.end()

    def _pre_first_chunk(self, sse: _SSE, keepalives: int, delay: float):
        """Keep-alive comments spread over the delay before the first data event."""
        for _ in range(keepalives):
            sse.comment()
            self._wait(delay / keepalives)
        if not keepalives:
            self._wait(delay)

    def _stream_error(self, sse: _SSE, reply: _Reply):
        """OpenRouter's mid-stream error: an event with ``error`` and no choices, then end."""
        if reply.step.get("error_finish_reason"):
            sse.data(_dumps(reply.chunk({}, "error")))
        sse.data(_dumps({"error": reply.step.get("error", DEFAULT_STREAM_ERROR)}))
        sse.end()
        self.close_connection = True


# ---------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------

class FakeOpenAI(Served):
    """A scripted OpenAI-compatible upstream on 127.0.0.1; see the module docstring.

    Use as a context manager (``with FakeOpenAI() as fake:``) or call ``start()`` and
    ``close()``. All methods are thread-safe.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 responder: str = "script", latency: float = 0.0, models=(),
                 key_info: dict | None = None, verbose: bool = False, cycle: bool = False,
                 keep_requests: int | None = None, tls: tuple[str, str] | None = None,
                 validate_content: bool = True, prompt_cache: tuple[int, int] | None = None,
                 rate_limit: tuple[int | None, int | None] | None = None):
        if responder not in ("script", "echo"):
            raise ValueError("responder must be 'script' or 'echo'")
        self.api_key = api_key
        self.responder = responder
        self.latency = latency
        self.key_info = dict(key_info or {})
        self.verbose = verbose
        self._fixed_models = list(models)
        self.cycle = cycle
        self.validate_content = validate_content
        # OpenAI's automatic prompt caching: (minimum prefix tokens, increment); None = off.
        self.prompt_cache = prompt_cache
        # (tpm, rpm): an account's limit enforced and reported as OpenAI does (ratelimit.py)
        self.limit = SlidingLimit(*rate_limit) if rate_limit else None
        self._bodies: dict[str, collections.deque] = {}
        self._keep = keep_requests
        self._totals: dict[str, dict] = {}
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._shared: collections.deque = collections.deque()
        self._per_model: dict[str, collections.deque] = {}
        self._models: list[str] = []
        self._requests = collections.deque(maxlen=keep_requests)
        self._chat_count = 0
        self._server = _Server((host, port), self)
        self.tls = tls is not None
        if tls:
            # HTTPS with the given (certfile, keyfile); the handshake runs on the first read in
            # the connection's own thread, so a client that never speaks blocks nobody.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle -----------------------------------------------------------

    @property
    def host(self) -> str:
        return self._server.server_address[0]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path; ``https`` when serving TLS)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI base URL: ``http://127.0.0.1:PORT/v1``."""
        return self.base_url + "/v1"

    @property
    def closing(self) -> bool:
        return self._stop.is_set()

    def _closing(self):
        """Ends hanging/slow answers."""
        self._stop.set()


    # -- scripting -----------------------------------------------------------

    def script(self, *steps) -> "FakeOpenAI":
        """Append steps to the shared FIFO queue."""
        return self._enqueue(None, steps)

    def script_for(self, model: str, *steps) -> "FakeOpenAI":
        """Append steps to the queue of requests whose ``model`` is ``model``."""
        return self._enqueue(model, steps)

    def _enqueue(self, model, steps) -> "FakeOpenAI":
        normalized = [normalize_step(s) for s in steps]
        with self._lock:
            queue = self._shared if model is None else self._per_model.setdefault(
                model, collections.deque())
            queue.extend(normalized)
            for name in [model] + [s.get("model") for s in normalized]:
                if name and name not in self._models:
                    self._models.append(name)
        return self

    def _script_json(self, data):
        """Queue steps given as JSON: a list, or ``{"steps": [...], "model": m}``."""
        if isinstance(data, list):
            data = {"steps": data}
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ValueError('expected a list of steps or {"steps": [...], "model": ...}')
        if set(data) - {"steps", "model"}:
            raise ValueError(f"unknown keys {sorted(set(data) - {'steps', 'model'})}")
        self._enqueue(data.get("model"), data["steps"])

    def load_script_file(self, path: str) -> "FakeOpenAI":
        """Load a script file: a list of steps or ``{"steps", "models", "key_info"}``."""
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, list):
            data = {"steps": data}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a list of steps or an object")
        unknown = set(data) - {"steps", "models", "key_info"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        self.script(*data.get("steps", []))
        for model, steps in data.get("models", {}).items():
            self.script_for(model, *steps)
        self.key_info.update(data.get("key_info", {}))
        return self

    def reset(self):
        """Forget all queued steps, recorded requests and scripted model names."""
        with self._lock:
            self._shared.clear()
            self._per_model.clear()
            self._requests.clear()
            self._totals.clear()
            self._bodies.clear()
            self._chat_count = 0
            self._models = list(self._fixed_models)

    @property
    def remaining(self) -> int:
        """Steps not consumed yet (all queues)."""
        with self._lock:
            return len(self._shared) + sum(len(q) for q in self._per_model.values())

    # -- observation ---------------------------------------------------------

    @property
    def requests(self) -> list[dict]:
        """A snapshot of the recorded requests (control requests excluded)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    @property
    def chat_requests(self) -> list[dict]:
        """The recorded chat-completion requests only."""
        return [r for r in self.requests if "n" in r]

    @property
    def chat_count(self) -> int:
        """Chat requests received since the last reset (also those no longer kept)."""
        with self._lock:
            return self._chat_count

    @property
    def usage_totals(self) -> dict:
        """Per requested model: ``{"calls", "prompt_tokens", "completion_tokens"}`` as answered
        (the computed usage of every text/tool_calls answer, ``usage`` overrides included)."""
        with self._lock:
            return {m: dict(t) for m, t in self._totals.items()}

    def _prefix(self, record: dict, raw: bytes) -> int:
        """Sets ``record["prefix_bytes"]``, the bytes this body shares from its start with the
        previous chat body for the same model, and ``record["cache_prefix_bytes"]``, the
        longest prefix it shares with any of the last 64 bodies for the model (what a caching
        provider could read, whichever session the earlier body was of); returns the prompt
        tokens a provider with automatic prompt caching (OpenAI: prefixes of 1,024 tokens and
        more, cached in steps of 128; ``prompt_cache``) reads from its cache: that prefix at 4
        bytes a token, or 0 when the cache is off."""
        def shared(a: bytes, b: bytes) -> int:
            lo, hi = 0, min(len(a), len(b))
            while lo < hi:  # the longest equal prefix, by halving (slices compare in C)
                mid = (lo + hi + 1) // 2
                if a[:mid] == b[:mid]:
                    lo = mid
                else:
                    hi = mid - 1
            return lo

        with self._lock:
            seen = self._bodies.setdefault(str(record.get("model")),
                                           collections.deque(maxlen=64))
            record["prefix_bytes"] = shared(seen[-1], raw) if seen else 0
            best = max((shared(b, raw) for b in seen), default=0)
            record["cache_prefix_bytes"] = best
            seen.append(raw)
        if not self.prompt_cache:
            return 0
        least, step = self.prompt_cache
        tokens = best // 4
        return 0 if tokens < least else tokens - (tokens - least) % step

    def _count_usage(self, model, usage: dict):
        with self._lock:
            t = self._totals.setdefault(str(model), {"calls": 0, "prompt_tokens": 0,
                                                     "completion_tokens": 0})
            t["calls"] += 1
            t["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            t["completion_tokens"] += int(usage.get("completion_tokens") or 0)

    def wait_requests(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Wait until ``count`` requests were recorded; raise TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"fake_openai: {len(self._requests)} of {count} requests "
                                   f"after {timeout} s")
        return self.requests

    # -- used by the handler -------------------------------------------------

    def _record(self, handler: _Handler, path: str, raw_body: bytes) -> dict:
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        record = {"method": handler.command, "path": path,
                  "headers": Headers(handler.headers.items()), "body": body,
                  "raw": raw_body.decode("utf-8", "replace"), "time": time.time(),
                  "monotonic": time.monotonic(),
                  "peer": "%s:%s" % handler.client_address[:2]}
        with self._lock:
            if handler.command == "POST" and path in CHAT_PATHS:
                self._chat_count += 1
                record.update(n=self._chat_count, step=None, parts=[],
                              model=_dict(body).get("model"),
                              stream=_dict(body).get("stream") is True)
            self._requests.append(record)
            self._lock.notify_all()
        return record

    def _set_parts(self, record: dict, parts: list[dict]):
        with self._lock:
            record["parts"] = parts

    def _mark(self, record: dict, step_kind: str):
        with self._lock:
            record["step"] = step_kind

    def _next_step(self, record: dict) -> dict | None:
        """Pop the step answering ``record``: its model's queue, then the shared one."""
        with self._lock:
            model = record["model"]
            queue = self._per_model.get(model) if isinstance(model, str) else None
            if queue:
                step = queue.popleft()
                if self.cycle:
                    queue.append(step)
            elif self._shared:
                step = self._shared.popleft()
                if self.cycle:
                    self._shared.append(step)
            elif self.responder == "echo":
                step = {"kind": "text", "content": ECHO_TEXT}
                record["step"] = "echo"
                return step
            else:
                record["step"] = "exhausted"
                return None
            record["step"] = step["kind"]
            return step

    def _models_list(self) -> dict:
        with self._lock:
            names = list(self._models)
        return {"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "fake_openai"}
            for m in names]}


# ---------------------------------------------------------------------------
# Script mode
# ---------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--script", help="JSON script file (list of steps or object)")
    parser.add_argument("--port-file", help="write the bound port here (atomically)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay before every chat answer")
    parser.add_argument("--responder", choices=("script", "echo"), default="script",
                        help="echo: answer a fixed text when the script is empty")
    parser.add_argument("--api-key", help="require Authorization: Bearer API_KEY")
    parser.add_argument("--tpm", type=int, default=None,
                        help="enforce tokens per minute as OpenAI does (429, x-ratelimit-*)")
    parser.add_argument("--rpm", type=int, default=None, help="enforce requests per minute")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    parser.add_argument("--cycle", action="store_true",
                        help="repeat the script for ever (each step goes back to its queue)")
    parser.add_argument("--keep-requests", type=int, default=None, metavar="N",
                        help="record only the last N requests (long runs)")
    args = parser.parse_args(argv)

    fake = FakeOpenAI(args.host, args.port, api_key=args.api_key, responder=args.responder,
                      latency=args.latency_ms / 1000.0, verbose=args.verbose, cycle=args.cycle,
                      keep_requests=args.keep_requests,
                      rate_limit=(args.tpm, args.rpm) if args.tpm or args.rpm else None)
    if args.script:
        try:
            fake.load_script_file(args.script)
        except (OSError, ValueError) as e:
            parser.error(f"--script: {e}")
    serve_until_signal(fake, fake.base_url, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
