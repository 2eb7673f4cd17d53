#!/usr/bin/env python3
"""A fake Telegram Bot API server (long-poll bot side), faithful to docs/references.md section 4.

hermetic's Telegram tests point the bot at this server instead of https://api.telegram.org.
It serves ``/bot<TOKEN>/<method>`` over plain HTTP on 127.0.0.1, GET with a query string or
POST with ``application/json``, ``application/x-www-form-urlencoded`` or
``multipart/form-data`` (query string and body are merged, the body wins; chunked bodies and
``Expect: 100-continue`` work, as libcurl sends them; an uploaded file is recorded as
``{"filename", "size"}``), and answers with Telegram's envelope::

    {"ok": true, "result": ...}
    {"ok": false, "error_code": 400, "description": "Bad Request: ...",
     "parameters": {"retry_after": 3}}          # parameters only where Telegram sends them

The HTTP status is the ``error_code``. Method names are case-insensitive, as in Telegram.

In a test::

    from fakes.fake_telegram import FakeTelegram
    with FakeTelegram(token="123456:TEST") as tg:
        tg.push_text("/start", chat_id=42)            # a user writes to the bot
        ...  # run hermetic with its Telegram API base URL = tg.url ("http://127.0.0.1:PORT")
        assert tg.wait_sent(42, 1, timeout=10) == ["Hello!"]

As a process (tests of the C binary)::

    python3 tests/fakes/fake_telegram.py --port 0 --port-file /tmp/port --token 123:ABC

It prints ``listening on http://127.0.0.1:PORT`` and serves until SIGTERM/SIGINT (exit 0).

Methods
-------
``getMe``            the bot: ``{"id": <digits before ':' in the token>, "is_bot": true,
                     "first_name", "username", "can_join_groups", ...}``.
``getUpdates``       ``offset`` confirms every update with ``update_id < offset`` (they are
                     forgotten and never returned again); a negative offset returns the last
                     ``-offset`` updates and forgets the earlier ones. ``limit`` 1-100
                     (default 100). ``timeout`` seconds (default 0): the request is held
                     open until an update is queued or the timeout passes (then ``[]``).
                     ``allowed_updates`` (a JSON list; remembered across calls, like
                     Telegram; ``[]`` means all) filters by update type. A second
                     getUpdates while one is held ends the held one with 409 ``Conflict:
                     terminated by other getUpdates request; make sure that only one bot
                     instance is running``. While a webhook is set (``tg.set_webhook``),
                     409 ``Conflict: can't use getUpdates method while webhook is active;
                     use deleteWebhook to delete the webhook first``.
``deleteWebhook``    ``true``; ``drop_pending_updates`` forgets every queued update.
``getWebhookInfo``   ``{"url", "has_custom_certificate": false, "pending_update_count"}``.
``setMyCommands``    ``commands`` (list, or JSON string in a form) checked like Telegram
                     (command 1-32 chars ``[a-z0-9_]``: ``Bad Request: BOT_COMMAND_INVALID``;
                     description 1-256: ``Bad Request: BOT_COMMAND_DESCRIPTION_INVALID``),
                     recorded in ``tg.commands``. ``getMyCommands`` returns them.
``sendMessage``      ``chat_id``, ``text``, ``parse_mode`` (``HTML`` parsed with Telegram's
                     HTML subset, see below; ``Markdown``/``MarkdownV2`` are accepted and
                     the text kept verbatim, no entity parsing), other parameters recorded.
                     Errors, in Telegram's wording: ``Bad Request: chat_id is empty``,
                     ``Bad Request: message text is empty`` (also when nothing but
                     whitespace/tags is left), ``Bad Request: message is too long`` (more
                     than 4096 UTF-16 code units AFTER entity parsing: tags do not count,
                     an astral emoji counts 2), ``Bad Request: can't parse entities: ...``,
                     ``Bad Request: unsupported parse_mode``, ``Bad Request: chat not found``
                     (a chat is known once a user wrote from it, or via ``add_chat``;
                     ``strict_chats=False`` accepts any chat), ``Forbidden: bot was blocked
                     by the user`` (403, ``tg.block(chat_id)``). The result is the Message
                     (``message_id`` increases per chat, shared with incoming messages,
                     ``from`` the bot, ``chat``, ``date``, ``text``, ``entities``).
``editMessageText``  ``chat_id``, ``message_id``, ``text``, ``parse_mode``; ``Bad Request:
                     message to edit not found``; the same text again: ``Bad Request:
                     message is not modified: ...``. The sent message is updated in place
                     (``edit_date`` set).
``sendChatAction``   ``chat_id``, ``action`` (typing, upload_photo, record_voice, ...;
                     otherwise ``Bad Request: wrong parameter action in request``);
                     recorded in ``tg.chat_actions(chat_id)``.
Wrong token: 401 ``Unauthorized``. Unknown method or any other path: 404 ``Not Found``.

HTML parse mode follows tdlib's parser (the one behind the Bot API): tags b strong i em u
ins s strike del code pre a(href) tg-spoiler span(class="tg-spoiler") blockquote
(``expandable``) tg-emoji(emoji-id), ``<pre><code class="language-x">`` gives a ``pre``
entity with ``language``; entities ``&lt; &gt; &amp; &quot;`` and ``&#NNN;`` / ``&#xHH;``
(an unknown ``&word;`` stays literal, as in Telegram). Errors (byte offsets into the UTF-8
text): ``Unsupported start tag "x" at byte offset N`` (also a bare ``<``), ``Unclosed start
tag at byte offset N``, ``Unexpected end tag at byte offset N``, ``Unmatched end tag at
byte offset N, expected "</b>", found "</i>"``, ``Can't find end tag corresponding to start
tag "b"``, ``Tag "span" must have class "tg-spoiler" at byte offset N``, ``Expected equal
sign in declaration of an attribute of the tag "a" at byte offset N``, ``Text contains
invalid Unicode characters after decoding HTML entities, ...`` (``&#xDFDF;``) ... Link URLs
are normalized (``telegram.org`` -> ``http://telegram.org/``) and a link Telegram cannot
parse is dropped silently. Entities come sorted like tdlib's (offset, longer first, type
priority). Text is trimmed of leading/trailing whitespace, like Telegram.

Control surface (in-process methods; HTTP routes under ``/_fake/`` take and give JSON)
------------------------------------------------------------------------------
``push_text(text, chat_id=..., user_id=None, first_name="Ada", username="ada")`` -> the
    Update (``update_id`` increasing, ``message`` with ``message_id``, ``from {id,
    is_bot: false, first_name, username, language_code}``, ``chat {id, first_name,
    username, type: private}``, ``date``, ``text``, ``entities`` of type ``bot_command``
    for ``/cmd`` and ``/cmd@bot``). ``POST /_fake/message`` with the same keys.
``push_voice/push_photo/push_document(chat_id=..., caption=None, ...)``, or
    ``push_media(kind, ...)``: realistic file objects (file_id, file_unique_id, sizes).
    ``POST /_fake/media {"kind": "voice", "chat_id": 42, ...}``.
``push_update(update)``: any Update dict (``update_id`` assigned if missing).
    ``POST /_fake/update``.
``conflict(n=1)``: the next n getUpdates answer 409 (terminated by other getUpdates).
``rate_limit(n=1, retry_after=3, method="sendMessage")``: 429 ``Too Many Requests: retry
    after N`` with ``parameters.retry_after``.
``server_error(n=1, status=502, method=None, html=False)``: 5xx envelope (``Bad Gateway``,
    ...) for the next n requests of that method (None: any method); ``html=True`` answers
    nginx's HTML error page instead, as api.telegram.org does when its backend is down.
``drop(n=1, method=None)``: close the connection without answering.
``drop_after(n=1, method="sendMessage")``: run the method (a sendMessage is accepted and shows
    in ``sent``), then close the connection without answering: a cut after acceptance.
    ``POST /_fake/fault {"kind": "conflict"|"rate_limit"|"server_error"|"drop"|"drop_after",
    "count": n, "method": m, "retry_after": s, "status": code, "html": bool}``. Faults queue
    in order; each request takes the first one that matches its method.
``after_send``: None, or a callable given each accepted sendMessage's Message (a copy) before
    the answer is written (e.g. to SIGKILL the client inside its at-least-once window).
``set_webhook(url)`` / ``add_chat(chat_id)`` / ``block(chat_id)``: ``POST /_fake/webhook``,
    ``/_fake/chat {"chat_id", "blocked"}``.
Observation: ``sent(chat_id)`` (texts in order), ``messages(chat_id)`` (Message dicts),
    ``wait_sent(chat_id, count, timeout)`` (texts; TimeoutError), ``requests`` (dicts:
    ``method`` as sent, ``api_method`` lower-case, ``http_method``, ``params``,
    ``content_type``, ``time``, ``monotonic``, ``status`` of the answer, ``peer``),
    ``calls(method)``, ``wait_requests(count, method=None, timeout)``, ``commands``,
    ``chat_actions(chat_id)``, ``pending`` (updates not confirmed), ``reset()``.
    ``GET /_fake/sent?chat_id=42`` (``{"texts", "messages"}``; without chat_id all chats),
    ``GET /_fake/wait_sent?chat_id=42&count=2&timeout=5`` (408 on timeout),
    ``GET /_fake/requests``, ``GET /_fake/state``, ``POST /_fake/reset``.
Control routes need no token and are never recorded. All methods are thread-safe.
"""

from __future__ import annotations

import argparse
import email.policy
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlsplit

DEFAULT_TOKEN = "123456789:AAFakeTelegramTokenForHermeticTests00"
MAX_TEXT = 4096
CONFLICT_POLL = ("Conflict: terminated by other getUpdates request; make sure that only one "
                 "bot instance is running")
CONFLICT_WEBHOOK = ("Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message")
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                "upload_voice", "upload_document", "choose_sticker", "find_location",
                "record_video_note", "upload_video_note"}
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class ApiError(Exception):
    """An answer of Telegram's error envelope."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def envelope(self) -> dict:
        body = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


# ---------------------------------------------------------------------------
# Telegram's HTML subset (after tdlib's parse_html)
# ---------------------------------------------------------------------------

_SPACE = " \t\r\n\0\v"
_TAGS = {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
         "tg-emoji", "span", "pre", "code", "blockquote"}
_TYPES = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
          "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
          "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler", "code": "code",
          "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji", "a": "text_link"}


class ParseError(Exception):
    pass


def _decode_entity(text: str, pos: int):
    """tdlib's decode_html_entity: (character, next position) or (None, pos)."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        hexa = end < n and text[end] == "x"
        if hexa:
            end += 1
        digits = "0123456789abcdefABCDEF" if hexa else "0123456789"
        start = end
        while end < n and text[end] in digits:
            end += 1
        if end == start or end - pos >= 10:
            return None, pos
        code = int(text[start:end], 16 if hexa else 10)
        if code == 0 or code >= 0x10FFFF:
            return None, pos
        ch = chr(code)  # a lone surrogate: parse_html refuses the text at the end
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        ch = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(text[pos + 1:end])
        if ch is None:
            return None, pos
    if end < n and text[end] == ";":
        end += 1
    return ch, end


def parse_html(text: str) -> tuple[str, list[dict]]:
    """Telegram's HTML parse mode: (plain text, entities) or ParseError(description)."""
    n = len(text)

    def at(i):
        return text[i] if i < n else "\0"

    def byte_offset(i):
        return len(text[:i].encode("utf-8", "surrogatepass"))

    out: list[str] = []
    u16 = 0
    nested: list[dict] = []
    entities: list[dict] = []
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            ch, nxt = _decode_entity(text, i)
            if ch is not None:
                out.append(ch)
                u16 += utf16_len(ch)
                i = nxt
                continue
        if c != "<":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = i
        i += 1
        if at(i) != "/":
            start = i
            while at(i) not in _SPACE and at(i) != ">":
                i += 1
            if i >= n:
                raise ParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            tag = text[start:i].lower()
            if tag not in _TAGS:
                raise ParseError(f'Unsupported start tag "{tag}" at byte offset '
                                 f"{byte_offset(begin)}")
            argument = ""
            while at(i) != ">":
                while i < n and at(i) in _SPACE:
                    i += 1
                if at(i) == ">":
                    break
                attr_start = i
                while at(i) not in _SPACE and at(i) not in "=>":
                    i += 1
                attr = text[attr_start:i]
                if not attr:
                    raise ParseError(f'Empty attribute name in the tag "{tag}" at byte offset '
                                     f"{byte_offset(begin)}")
                while i < n and at(i) in _SPACE:
                    i += 1
                if at(i) != "=":
                    if tag == "blockquote" and attr.lower() == "expandable":
                        argument = "expandable"
                        continue
                    raise ParseError("Expected equal sign in declaration of an attribute of "
                                     f'the tag "{tag}" at byte offset {byte_offset(begin)}')
                i += 1
                while i < n and at(i) in _SPACE:
                    i += 1
                if i >= n:
                    raise ParseError(f'Unclosed start tag "{tag}" at byte offset '
                                     f"{byte_offset(begin)}")
                if at(i) not in "'\"":
                    token_start = i
                    while at(i).isascii() and (at(i).isalnum() or at(i) in ".-"):
                        i += 1
                    value = text[token_start:i].lower()
                    if at(i) not in _SPACE and at(i) != ">":
                        raise ParseError("Unexpected end of name token at byte offset "
                                         f"{byte_offset(token_start)}")
                else:
                    quote = text[i]
                    i += 1
                    chars = []
                    while i < n and text[i] != quote:
                        if text[i] == "&":
                            ch, nxt = _decode_entity(text, i)
                            if ch is not None:
                                chars.append(ch)
                                i = nxt
                                continue
                        chars.append(text[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(chars)
                if i >= n:
                    raise ParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                attr = attr.lower()
                if tag == "a" and attr == "href":
                    argument = value
                elif tag == "code" and attr == "class" and value.startswith("language-"):
                    argument = value[9:]
                elif tag == "span" and attr == "class" and value.startswith("tg-"):
                    argument = value[3:]
                elif tag == "tg-emoji" and attr == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise ParseError('Tag "span" must have class "tg-spoiler" at byte offset '
                                 f"{byte_offset(begin)}")
            nested.append({"tag": tag, "argument": argument, "offset": u16,
                           "text_at": len(out)})
            i += 1
        else:
            if not nested:
                raise ParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            i += 1
            while at(i) not in _SPACE and at(i) != ">":
                i += 1
            end_name = text[begin + 2:i].lower()
            while i < n and at(i) in _SPACE:
                i += 1
            if at(i) != ">":
                raise ParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            i += 1
            top = nested.pop()
            if end_name and end_name != top["tag"]:
                raise ParseError(f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                                 f'expected "</{top["tag"]}>", found "</{end_name}>"')
            length = u16 - top["offset"]
            if length <= 0:
                continue
            entity = {"type": _TYPES[top["tag"]], "offset": top["offset"], "length": length}
            tag, arg = top["tag"], top["argument"]
            if tag == "a":
                url = _check_url(arg or "".join(out[top["text_at"]:]))
                if url is None:
                    continue  # Telegram drops a link it cannot parse, silently
                entity["url"] = url
            elif tag == "pre":
                last = entities[-1] if entities else None
                if (last and last["type"] == "code" and last["offset"] == entity["offset"]
                        and last["length"] == length and last.get("_language")):
                    entities.pop()
                    entity["language"] = last["_language"]
            elif tag == "code" and arg:
                last = entities[-1] if entities else None
                if (last and last["type"] == "pre" and "language" not in last
                        and last["offset"] == entity["offset"] and last["length"] == length):
                    last["language"] = arg  # <code class="language-x"><pre>...</pre></code>
                    continue
                entity["_language"] = arg
            elif tag == "blockquote" and arg == "expandable":
                entity["type"] = "expandable_blockquote"
            elif tag == "tg-emoji":
                entity["custom_emoji_id"] = arg
            entities.append(entity)
    if nested:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1]["tag"]}"')
    plain = "".join(out)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in plain):
        raise ParseError("Text contains invalid Unicode characters after decoding HTML "
                         "entities, check for unmatched surrogate code units")
    for e in entities:
        e.pop("_language", None)
    # tdlib's order: offset, longer first, then its type priority
    entities.sort(key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50)
                                 - ("language" in e)))
    return plain, entities


_PRIORITY = {"blockquote": 0, "expandable_blockquote": 0, "pre": 11, "code": 20,
             "text_link": 49, "bold": 90, "italic": 91, "underline": 92, "strikethrough": 93,
             "spoiler": 94, "custom_emoji": 99}


def _check_url(url: str) -> str | None:
    """A rough tdlib check_url: None for what Telegram would drop, else the normalized URL
    (``telegram.org`` -> ``http://telegram.org/``)."""
    if not url or any(c.isspace() for c in url):
        return None
    if url.startswith("tg:"):
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    scheme = scheme.lower()
    if scheme not in ("http", "https", "ftp", "ton", "tonsite"):
        return None
    cut = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0],
              default=len(rest))
    host = rest[:cut].rsplit("@", 1)[-1].split(":", 1)[0]
    if "." not in host.strip(".") and host != "localhost":
        return None
    if cut == len(rest) or rest[cut] != "/":
        rest = rest[:cut] + "/" + rest[cut:]
    return f"{scheme}://{rest}"


def _trim(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Strip leading/trailing whitespace as Telegram does, keeping entities in place."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[:len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    kept = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            kept.append({**e, "offset": start, "length": end - start})
    return stripped, kept


_COMMAND = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def command_entities(text: str) -> list[dict]:
    """``bot_command`` entities for ``/cmd`` and ``/cmd@botname`` (UTF-16 offsets)."""
    return [{"type": "bot_command", "offset": utf16_len(text[:m.start()]),
             "length": utf16_len(m.group())} for m in _COMMAND.finditer(text)]


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class _Drop(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, fake: "FakeTelegram"):
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) or self.fake.closing:
            return
        super().handle_error(request, client_address)


_PATH = re.compile(r"^/bot([^/]*)/([^/]*)/?$")
_FILE_PATH = re.compile(r"^/file/bot([^/]*)/(.+)$")
DOWNLOAD_MAX = 20 * 1024 * 1024  # what the cloud Bot API lets bots download
UPLOAD_MAX = 50 * 1024 * 1024
PHOTO_UPLOAD_MAX = 10 * 1024 * 1024
CAPTION_MAX = 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.18.0"  # what api.telegram.org answers with
    server: _Server

    @property
    def fake(self) -> "FakeTelegram":
        return self.server.fake

    def setup(self):
        super().setup()
        self.fake._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.fake._track(self.connection, False)

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002
        if self.fake.verbose:
            sys.stderr.write(f"fake_telegram: {self.address_string()} {format % args}\n")

    def _send(self, status: int, body):
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_html(self, status: int, reason: str):
        data = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
                f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0"
                "</center>\r\n</body>\r\n</html>\r\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

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

    def _params(self, query: str, raw: bytes) -> dict:
        params: dict = dict(parse_qsl(query, keep_blank_values=True))
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if raw and ctype == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                raise bad_request("can't parse JSON object") from None  # noqa: RSE102
            if not isinstance(body, dict):
                raise bad_request("can't parse JSON object")
            params.update(body)
        elif raw and ctype == "application/x-www-form-urlencoded":
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        elif raw and ctype == "multipart/form-data":
            head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
            message = BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name:
                    payload = part.get_payload(decode=True) or b""
                    filename = part.get_filename()
                    params[name] = ({"filename": filename, "size": len(payload)} if filename
                                    else payload.decode("utf-8", "replace"))
                    if filename:
                        self._files[name] = {"filename": filename, "data": payload,
                                             "content_type": part.get_content_type()}
        return params

    def _dispatch(self):
        parts = urlsplit(self.path)
        self._files = {}
        if self.command == "GET" and parts.path.startswith("/file/bot"):
            return self._download(parts.path)
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            return self._send(400, {"ok": False, "error_code": 400, "description": "Bad Request"})
        if parts.path.startswith("/_fake/"):
            return self._control(parts.path, parts.query, raw)
        m = _PATH.match(parts.path)
        record = {"method": m.group(2) if m else None,
                  "api_method": m.group(2).lower() if m else None,
                  "http_method": self.command, "path": parts.path, "params": {},
                  "content_type": self.headers.get("Content-Type"), "time": time.time(),
                  "monotonic": time.monotonic(), "peer": "%s:%s" % self.client_address[:2],
                  "status": None, "thread": threading.get_ident()}
        try:
            params_error = None
            try:
                record["params"] = self._params(parts.query, raw)
            except ApiError as e:
                params_error = e
            self.fake._record(record)
            if not m:
                raise ApiError(404, "Not Found")
            if m.group(1) != self.fake.token:
                raise ApiError(401, "Unauthorized")
            if params_error:
                raise params_error
            record["files"] = self._files
            result = self.fake._call(record["api_method"], record["params"], record)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as e:
            status, body = e.code, e.envelope()
            if getattr(e, "html", False):
                self.fake._finish(record, status)
                return self._send_html(status, e.description)
        except _Drop:
            self.fake._finish(record, 0)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        self.fake._finish(record, status)
        return self._send(status, body)

    def _download(self, path: str):
        """GET /file/bot<token>/<file_path>: the file's bytes (404 for a wrong token or an
        unknown path, as api.telegram.org answers both)."""
        fake = self.fake
        m = _FILE_PATH.match(path)
        data = None
        if m and m.group(1) == fake.token:
            data = fake._file_bytes(m.group(2))
        cut = fake._take_download_fault() if data is not None else None
        with fake._lock:
            fake._downloads.append({"path": path, "status": 200 if data is not None else 404,
                                    "bytes": (len(data) if cut is None else min(cut, len(data)))
                                    if data is not None else 0})
            fake._lock.notify_all()
        if data is None:
            return self._send(404, {"ok": False, "error_code": 404,
                                    "description": "Not Found"})
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if cut is None:
            self.wfile.write(data)
            return None
        self.wfile.write(data[:cut])  # then the connection ends before Content-Length
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return None

    def _control(self, path: str, query: str, raw: bytes):
        fake = self.fake
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return self._send(400, {"ok": False, "description": "body is not JSON"})
        try:
            if self.command == "GET" and path == "/_fake/requests":
                return self._send(200, fake.requests)
            if self.command == "GET" and path == "/_fake/state":
                return self._send(200, fake.state())
            if self.command == "GET" and path == "/_fake/sent":
                if "chat_id" in q:
                    cid = _chat_key(q["chat_id"])
                    return self._send(200, {"texts": fake.sent(cid),
                                            "messages": fake.messages(cid)})
                return self._send(200, fake.all_sent())
            if self.command == "GET" and path == "/_fake/wait_sent":
                cid = _chat_key(q["chat_id"])
                try:
                    texts = fake.wait_sent(cid, int(q.get("count", 1)),
                                           float(q.get("timeout", 5)))
                except TimeoutError as e:
                    return self._send(408, {"ok": False, "description": str(e),
                                            "texts": fake.sent(cid)})
                return self._send(200, {"texts": texts})
            if self.command != "POST":
                return self._send(404, {"ok": False, "description": f"no control route {path}"})
            if path == "/_fake/reset":
                fake.reset()
                return self._send(200, {"ok": True})
            if path == "/_fake/message":
                return self._send(200, fake.push_text(**data))
            if path == "/_fake/media":
                return self._send(200, fake.push_media(**data))
            if path == "/_fake/update":
                return self._send(200, fake.push_update(data.get("update", data)))
            if path == "/_fake/fault":
                fake.fault(**data)
                return self._send(200, {"ok": True})
            if path == "/_fake/webhook":
                fake.set_webhook(data.get("url", ""))
                return self._send(200, {"ok": True})
            if path == "/_fake/chat":
                fake.add_chat(data["chat_id"])
                if "blocked" in data:
                    fake.block(data["chat_id"], bool(data["blocked"]))
                return self._send(200, {"ok": True})
        except (TypeError, KeyError, ValueError) as e:
            return self._send(400, {"ok": False, "description": f"{type(e).__name__}: {e}"})
        return self._send(404, {"ok": False, "description": f"no control route {path}"})


def _chat_key(chat_id):
    """Chat ids as Telegram takes them: an integer (also given as a string) or '@name'."""
    if isinstance(chat_id, bool):
        raise bad_request("chat not found")
    if isinstance(chat_id, int):
        return chat_id
    s = str(chat_id).strip()
    try:
        return int(s)
    except ValueError:
        return s


def _int(params: dict, name: str, default=None):
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f'invalid parameter "{name}"') from None  # noqa: RSE102


def _bool(params: dict, name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _json_list(params: dict, name: str):
    value = params.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None  # noqa: RSE102
    return value


# ---------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------

class FakeTelegram:
    """A fake Telegram Bot API on 127.0.0.1; see the module docstring.

    Use as a context manager (``with FakeTelegram() as tg:``) or ``start()``/``close()``.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0,
                 bot_username: str = "hermetic_test_bot", bot_first_name: str = "Hermetic",
                 chats=(), strict_chats: bool = True, verbose: bool = False):
        self.token = token
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.strict_chats = strict_chats
        self.verbose = verbose
        self._initial_chats = [_chat_key(c) for c in chats]
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._conns: set = set()
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle -----------------------------------------------------------

    @property
    def host(self) -> str:
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The API base URL (what replaces https://api.telegram.org)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """``url + /bot<TOKEN>``: append ``/getMe`` etc."""
        return f"{self.url}/bot{self.token}"

    @property
    def bot_id(self) -> int:
        head = self.token.split(":", 1)[0]
        return int(head) if head.isdigit() else 123456789

    @property
    def closing(self) -> bool:
        return self._stop.is_set()

    def start(self) -> "FakeTelegram":
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name=f"fake_telegram:{self.port}", daemon=True)
            self._thread.start()
        return self

    def close(self):
        """Stop serving: held long polls end, open connections are dropped."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "FakeTelegram":
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def reset(self):
        """Forget updates, faults, sent messages, requests, commands; keep the token."""
        with self._lock:
            self._updates: list[dict] = []
            self._next_update_id = 100000001
            self._faults: list[dict] = []
            self._requests: list[dict] = []
            self._sent: dict = {}
            self._actions: dict = {}
            self._msg_ids: dict = {}
            self._chats: dict = {c: {"id": c, "type": "private"} for c in self._initial_chats}
            self._blocked: set = set()
            self._commands: list = []
            self._allowed: list = []
            self._webhook = ""
            self._poll_gen = 0
            self._file_store: dict = {}
            self._downloads: list = []
            self._download_faults: list = []
            self._files_sent: dict = {}
            self._next_file = 1
            self.after_send = None
            self._lock.notify_all()

    # -- incoming updates ----------------------------------------------------

    def _user(self, chat_id, user_id, first_name, username) -> dict:
        user = {"id": user_id if user_id is not None else chat_id, "is_bot": False,
                "first_name": first_name}
        if username:
            user["username"] = username
        user["language_code"] = "en"
        return user

    def _incoming(self, chat_id, user_id, first_name, username, date, chat_type="private",
                  title=None) -> dict:
        chat_id = _chat_key(chat_id)
        user = self._user(chat_id, user_id, first_name, username)
        if chat_type == "private":
            chat = {"id": chat_id, "first_name": first_name, "type": "private"}
            if username:
                chat["username"] = username
        else:
            chat = {"id": chat_id, "title": title or "Group", "type": chat_type}
        with self._lock:
            self._chats[chat_id] = chat
            mid = self._msg_ids.get(chat_id, 0) + 1
            self._msg_ids[chat_id] = mid
        return {"message_id": mid, "from": user, "chat": chat,
                "date": int(date if date is not None else time.time())}

    def push_text(self, text: str, chat_id=1001, user_id=None, first_name: str = "Ada",
                  username: str | None = "ada", date=None, chat_type: str = "private",
                  title: str | None = None) -> dict:
        """A user writes ``text`` to the bot in a private chat (or, with ``chat_type``
        ``group``/``supergroup``/``channel`` and a negative ``chat_id``, in that chat; pass
        ``user_id`` then); returns the Update."""
        message = self._incoming(chat_id, user_id, first_name, username, date, chat_type,
                                 title)
        message["text"] = text
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        return self.push_update({"message": message})

    def push_media(self, kind: str, chat_id=1001, user_id=None, first_name: str = "Ada",
                   username: str | None = "ada", caption: str | None = None, date=None,
                   data=None, **fields) -> dict:
        """A voice note, audio, video note, photo or document from a user; returns the Update.
        ``data``: the file's bytes, registered for getFile and download (for a photo a list of
        bytes, one per size, smallest first; ``file_size`` is then each one's length);
        ``fields`` override the media object's fields (``file_id``, ``duration``, ...)."""
        message = self._incoming(chat_id, user_id, first_name, username, date)
        uid = f"{message['chat']['id']}_{message['message_id']}"
        sized = {} if data is None or kind == "photo" else {"file_size": len(data)}
        if kind == "voice":
            obj = {"duration": 3, "mime_type": "audio/ogg", "file_id": f"AwACAgIAAxkBAAI{uid}voice",
                   "file_unique_id": f"AgAD{uid}v", "file_size": 12345, **sized, **fields}
        elif kind == "audio":
            obj = {"duration": 30, "mime_type": "audio/mpeg", "file_name": "song.mp3",
                   "performer": "Ada", "title": "Song", "file_id": f"CQACAgIAAxkBAAI{uid}audio",
                   "file_unique_id": f"AgAD{uid}a", "file_size": 54321, **sized, **fields}
        elif kind == "video_note":
            obj = {"duration": 5, "length": 240, "file_id": f"DQACAgIAAxkBAAI{uid}vnote",
                   "file_unique_id": f"AgAD{uid}n", "file_size": 98765, **sized, **fields}
        elif kind == "photo":
            sizes = list(data) if data is not None else [None, None, None]
            widths = (90, 320, 800, 1280, 2560)[:len(sizes)]
            obj = [{"file_id": f"AgACAgIAAxkBAAI{uid}s{w}", "file_unique_id": f"AQAD{uid}{w}",
                    "file_size": len(d) if d is not None else w * 40, "width": w,
                    "height": w * 3 // 4, **fields} for w, d in zip(widths, sizes)]
            for o, d in zip(obj, sizes):
                if d is not None:
                    self.add_file(o["file_id"], d, kind="photo")
        elif kind == "document":
            obj = {"file_name": "report.pdf", "mime_type": "application/pdf",
                   "file_id": f"BQACAgIAAxkBAAI{uid}doc", "file_unique_id": f"AgAD{uid}d",
                   "file_size": 54321, **sized, **fields}
        else:
            raise ValueError(f"unknown media kind {kind!r} (voice, audio, video_note, photo, "
                             "document)")
        if data is not None and kind != "photo" and obj["file_id"] not in self._file_store:
            self.add_file(obj["file_id"], data, kind=kind, size=fields.get("file_size"))
        message[kind] = obj
        if caption is not None:
            message["caption"] = caption
            entities = command_entities(caption)
            if entities:
                message["caption_entities"] = entities
        return self.push_update({"message": message})

    def add_file(self, file_id: str, data: bytes, file_path: str | None = None,
                 kind: str = "document", size: int | None = None):
        """Registers bytes under a file_id for getFile and /file/bot<token>/<file_path>.
        ``file_path`` defaults to Telegram's style ("voice/file_3.oga", "photos/file_4.jpg");
        ``size`` is the file_size getFile reports (to lie about it)."""
        folder, ext = {"voice": ("voice", "oga"), "audio": ("music", "mp3"),
                       "video_note": ("video_notes", "mp4"), "photo": ("photos", "jpg")}.get(
            kind, ("documents", "bin"))
        with self._lock:
            n = self._next_file
            self._next_file += 1
            self._file_store[file_id] = {
                "file_path": file_path or f"{folder}/file_{n}.{ext}", "data": bytes(data),
                "size": len(data) if size is None else size,
                "file_unique_id": f"AgAD{n:04d}u"}

    def truncate_download(self, n: int = 1, after: int = 0):
        """The next n file downloads send the full Content-Length, then only ``after`` bytes,
        then close the connection (a cut transfer)."""
        with self._lock:
            self._download_faults += [after] * n

    @property
    def downloads(self) -> list[dict]:
        """File downloads in order: ``path``, ``status``, ``bytes`` sent."""
        with self._lock:
            return [dict(d) for d in self._downloads]

    def files_sent(self, chat_id) -> list[dict]:
        """Files the bot sent to ``chat_id`` in order: ``method``, ``field``, ``filename``,
        ``content_type``, ``data`` (bytes), ``caption``, ``shown_as`` ("voice" when sendVoice
        got OGG, MP3 or M4A bytes, else "document", as Telegram shows them)."""
        with self._lock:
            return [dict(f) for f in self._files_sent.get(_chat_key(chat_id), [])]

    def _file_bytes(self, file_path: str):
        with self._lock:
            for f in self._file_store.values():
                if f["file_path"] == file_path:
                    return f["data"]
        return None

    def _take_download_fault(self):
        with self._lock:
            return self._download_faults.pop(0) if self._download_faults else None

    def push_voice(self, **kw) -> dict:
        return self.push_media("voice", **kw)

    def push_photo(self, **kw) -> dict:
        return self.push_media("photo", **kw)

    def push_document(self, **kw) -> dict:
        return self.push_media("document", **kw)

    def push_update(self, update: dict) -> dict:
        """Queue any Update dict; ``update_id`` is assigned when missing."""
        if not isinstance(update, dict):
            raise TypeError("an update is a dict")
        with self._lock:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
            self._updates.append(update)
            self._lock.notify_all()
        return update

    @property
    def pending(self) -> list[dict]:
        """Updates queued and not yet confirmed by an offset."""
        with self._lock:
            return [dict(u) for u in self._updates]

    # -- faults and chats ----------------------------------------------------

    def fault(self, kind: str, count: int = 1, method: str | None = None,
              retry_after: int = 3, status: int = 502, html: bool = False):
        """Queue a fault; see ``conflict``, ``rate_limit``, ``server_error``, ``drop``."""
        if kind not in ("conflict", "rate_limit", "server_error", "drop", "drop_after",
                        "bad_entities"):
            raise ValueError(f"unknown fault {kind!r}")
        if kind == "conflict":
            method = "getUpdates"
        elif kind in ("rate_limit", "bad_entities") and method is None:
            method = "sendMessage"
        if kind == "server_error" and not 500 <= int(status) <= 599:
            raise ValueError("server_error status must be 5xx")
        with self._lock:
            self._faults.append({"kind": kind, "count": int(count),
                                 "method": method.lower() if method else None,
                                 "retry_after": int(retry_after), "status": int(status),
                                 "html": bool(html)})

    def conflict(self, n: int = 1):
        self.fault("conflict", n)

    def rate_limit(self, n: int = 1, retry_after: int = 3, method: str = "sendMessage"):
        self.fault("rate_limit", n, method, retry_after=retry_after)

    def server_error(self, n: int = 1, status: int = 502, method: str | None = None,
                     html: bool = False):
        """5xx: Telegram's JSON envelope, or (``html=True``) nginx's HTML error page."""
        self.fault("server_error", n, method, status=status, html=html)

    def drop_after(self, n: int = 1, method: str | None = "sendMessage"):
        self.fault("drop_after", n, method=method)

    def drop(self, n: int = 1, method: str | None = None):
        self.fault("drop", n, method)

    def bad_entities(self, n: int = 1):
        """The next n sendMessage calls WITH a parse_mode answer Telegram's 400 ``can't parse
        entities`` (for a client's plain-text fallback; calls without parse_mode pass)."""
        self.fault("bad_entities", n)

    def set_webhook(self, url: str):
        """Simulate a webhook set elsewhere: getUpdates answers 409 until deleteWebhook."""
        with self._lock:
            self._webhook = url

    def add_chat(self, chat_id):
        with self._lock:
            cid = _chat_key(chat_id)
            self._chats.setdefault(cid, {"id": cid, "type": "private"})

    def block(self, chat_id, blocked: bool = True):
        """The user blocked the bot: sends to the chat answer 403."""
        with self._lock:
            (self._blocked.add if blocked else self._blocked.discard)(_chat_key(chat_id))

    # -- observation ---------------------------------------------------------

    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._requests]

    def calls(self, method: str) -> list[dict]:
        """Recorded requests of one API method (case-insensitive)."""
        return [r for r in self.requests if r["api_method"] == method.lower()]

    def wait_requests(self, count: int, method: str | None = None, timeout: float = 5.0):
        def matching():
            return [r for r in self._requests
                    if method is None or r["api_method"] == method.lower()]
        with self._lock:
            if not self._lock.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"fake_telegram: {len(matching())} of {count} "
                                   f"{method or ''} requests after {timeout} s")
            return [dict(r) for r in matching()]

    def messages(self, chat_id) -> list[dict]:
        with self._lock:
            return [dict(m) for m in self._sent.get(_chat_key(chat_id), [])]

    def sent(self, chat_id) -> list[str]:
        """Texts the bot sent to ``chat_id``, in order (as edited since)."""
        return [m["text"] for m in self.messages(chat_id)]

    def all_sent(self) -> dict:
        with self._lock:
            return {str(k): [m["text"] for m in v] for k, v in self._sent.items()}

    def wait_sent(self, chat_id, count: int = 1, timeout: float = 5.0) -> list[str]:
        cid = _chat_key(chat_id)
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._sent.get(cid, [])) >= count, timeout):
                raise TimeoutError(f"fake_telegram: {len(self._sent.get(cid, []))} of {count} "
                                   f"messages to chat {cid} after {timeout} s: "
                                   f"{[m['text'] for m in self._sent.get(cid, [])]!r}")
            return [m["text"] for m in self._sent[cid]]

    def chat_actions(self, chat_id) -> list[str]:
        with self._lock:
            return list(self._actions.get(_chat_key(chat_id), []))

    @property
    def commands(self) -> list[dict]:
        with self._lock:
            return [dict(c) for c in self._commands]

    def state(self) -> dict:
        with self._lock:
            return {"pending": [dict(u) for u in self._updates], "commands": self._commands,
                    "webhook": self._webhook, "faults": [dict(f) for f in self._faults],
                    "allowed_updates": self._allowed,
                    "chat_actions": {str(k): v for k, v in self._actions.items()},
                    "sent": {str(k): [m["text"] for m in v] for k, v in self._sent.items()}}

    # -- used by the handler -------------------------------------------------

    def _track(self, conn, opened: bool):
        with self._lock:
            (self._conns.add if opened else self._conns.discard)(conn)

    def _record(self, record: dict):
        with self._lock:
            self._requests.append(record)
            self._lock.notify_all()

    def _finish(self, record: dict, status: int):
        with self._lock:
            record["status"] = status

    def _take_fault(self, method: str, params: dict | None = None):
        with self._lock:
            for f in self._faults:
                if f["kind"] == "bad_entities" and not (params or {}).get("parse_mode"):
                    continue
                if f["method"] is None or f["method"] == method:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self._faults.remove(f)
                    return dict(f)
        return None

    def _call(self, method: str, params: dict, record: dict):
        handler = _METHODS.get(method)
        if handler is None:
            raise ApiError(404, "Not Found")
        fault = self._take_fault(method, params)
        if fault:
            kind = fault["kind"]
            if kind == "bad_entities":
                raise ApiError(400, "Bad Request: can't parse entities: Unsupported start tag "
                                    "\"x\" at byte offset 0")
            if kind == "conflict":
                raise ApiError(409, CONFLICT_POLL)
            if kind == "rate_limit":
                ra = fault["retry_after"]
                raise ApiError(429, f"Too Many Requests: retry after {ra}", {"retry_after": ra})
            if kind == "server_error":
                error = ApiError(fault["status"], REASONS.get(fault["status"], "Server Error"))
                error.html = fault["html"]
                raise error
            if kind == "drop_after":
                handler(self, params)  # Telegram took it; the answer is lost on the way
            raise _Drop()
        result = handler(self, params)
        if method == "sendmessage" and self.after_send is not None:
            self.after_send(dict(result))
        return result

    def _bot_user(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name,
                "username": self.bot_username}

    # -- methods -------------------------------------------------------------

    def _get_me(self, params):
        return {**self._bot_user(), "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False,
                "can_connect_to_business": False, "has_main_web_app": False}

    def _get_updates(self, params):
        offset = _int(params, "offset", 0)
        limit = _int(params, "limit", 100)
        limit = 100 if limit <= 0 or limit > 100 else limit
        timeout = max(_int(params, "timeout", 0), 0)
        allowed = _json_list(params, "allowed_updates")
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._webhook:
                raise ApiError(409, CONFLICT_WEBHOOK)
            if isinstance(allowed, list):
                self._allowed = [str(a) for a in allowed]
            if offset < 0:
                self._updates = self._updates[offset:]
                offset = self._updates[0]["update_id"] if self._updates else 0
            elif offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._poll_gen += 1
            gen = self._poll_gen
            while True:
                if self._stop.is_set():
                    raise _Drop()
                if self._poll_gen != gen:
                    raise ApiError(409, CONFLICT_POLL)
                wanted = set(self._allowed)
                ready = [u for u in self._updates
                         if not wanted or wanted & (set(u) - {"update_id"})]
                left = deadline - time.monotonic()
                if ready or left <= 0:
                    return [dict(u) for u in ready[:limit]]
                self._lock.wait(left)

    def _delete_webhook(self, params):
        with self._lock:
            self._webhook = ""
            if _bool(params, "drop_pending_updates"):
                self._updates = []
        return True

    def _get_webhook_info(self, params):
        with self._lock:
            return {"url": self._webhook, "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)}

    def _set_my_commands(self, params):
        commands = _json_list(params, "commands")
        if not isinstance(commands, list):
            raise bad_request("parameter \"commands\" is required")
        clean = []
        for c in commands:
            if not isinstance(c, dict):
                raise bad_request("can't parse BotCommand")
            name = str(c.get("command", "")).lstrip("/")
            desc = str(c.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(desc) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": desc})
        with self._lock:
            self._commands = clean
        return True

    def _get_my_commands(self, params):
        return self.commands

    def _chat(self, params) -> tuple:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        cid = _chat_key(raw)
        with self._lock:
            chat = self._chats.get(cid)
            if chat is None:
                if self.strict_chats or not isinstance(cid, int):
                    raise bad_request("chat not found")
                chat = self._chats[cid] = {"id": cid, "type": "private"}
            if cid in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return cid, dict(chat)

    @staticmethod
    def _format(params) -> tuple[str, list[dict]]:
        text = params.get("text")
        if text is None:
            raise bad_request("message text is empty")
        text = str(text)
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
            raise bad_request("strings must be encoded in UTF-8")
        mode = params.get("parse_mode") or ""
        entities: list[dict] = []
        if mode.lower() == "html":
            try:
                text, entities = parse_html(text)
            except ParseError as e:
                raise bad_request(f"can't parse entities: {e}") from None  # noqa: RSE102
        elif mode.lower() not in ("", "markdown", "markdownv2"):
            raise bad_request("unsupported parse_mode")
        text, entities = _trim(text, entities)
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        return text, entities

    def _send_message(self, params):
        cid, chat = self._chat(params)
        text, entities = self._format(params)
        with self._lock:
            mid = self._msg_ids.get(cid, 0) + 1
            self._msg_ids[cid] = mid
            message = {"message_id": mid, "from": self._bot_user(), "chat": chat,
                       "date": int(time.time()), "text": text}
            if entities:
                message["entities"] = entities
            self._sent.setdefault(cid, []).append(message)
            self._lock.notify_all()
            return dict(message)

    def _edit_message_text(self, params):
        cid, _ = self._chat(params)
        mid = _int(params, "message_id")
        if mid is None:
            raise bad_request("message identifier is not specified")
        text, entities = self._format(params)
        with self._lock:
            for message in self._sent.get(cid, []):
                if message["message_id"] == mid:
                    if message["text"] == text and message.get("entities", []) == entities:
                        raise bad_request(NOT_MODIFIED[len("Bad Request: "):])
                    message["text"] = text
                    message.pop("entities", None)
                    if entities:
                        message["entities"] = entities
                    message["edit_date"] = int(time.time())
                    self._lock.notify_all()
                    return dict(message)
        raise bad_request("message to edit not found")

    def _get_file(self, params):
        file_id = params.get("file_id")
        if not file_id:
            raise bad_request("file_id not specified")
        with self._lock:
            f = self._file_store.get(str(file_id))
        if f is None:
            raise bad_request("invalid file_id")
        if f["size"] > DOWNLOAD_MAX:
            raise bad_request("file is too big")
        return {"file_id": file_id, "file_unique_id": f["file_unique_id"],
                "file_size": f["size"], "file_path": f["file_path"]}

    def _send_file(self, method: str, field: str, params):
        """sendVoice/sendAudio/sendDocument/sendPhoto with a multipart upload (the file's bytes
        are kept) or a file_id/URL string."""
        cid, chat = self._chat(params)
        record = self._current_record()
        upload = (record or {}).get("files", {}).get(field)
        given = params.get(field)
        if upload is None and not (isinstance(given, str) and given):
            raise bad_request(f"there is no {field} in the request")
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > CAPTION_MAX:
            raise bad_request("message caption is too long")
        if upload is not None:
            cap = PHOTO_UPLOAD_MAX if field == "photo" else UPLOAD_MAX
            if len(upload["data"]) > cap:
                raise ApiError(413, "Request Entity Too Large")
            data = upload["data"]
        else:
            data = b""
        shown = field
        if field == "voice" and upload is not None and not (
                data[:4] == b"OggS" or data[:3] == b"ID3" or data[:2] == b"\xff\xfb"
                or data[4:8] == b"ftyp"):
            shown = "document"
        with self._lock:
            mid = self._msg_ids.get(cid, 0) + 1
            self._msg_ids[cid] = mid
            n = self._next_file
            self._next_file += 1
            obj = {"file_id": f"sent{n}", "file_unique_id": f"AgADsent{n}",
                   "file_size": len(data)}
            message = {"message_id": mid, "from": self._bot_user(), "chat": chat,
                       "date": int(time.time()), "text": str(caption or ""),
                       shown: [obj] if shown == "photo" else obj}
            self._files_sent.setdefault(cid, []).append({
                "method": method, "field": field,
                "filename": upload["filename"] if upload else None,
                "content_type": upload["content_type"] if upload else None,
                "data": data, "caption": caption, "shown_as": shown})
            self._lock.notify_all()
            return dict(message)

    def _current_record(self):
        with self._lock:
            mine = threading.get_ident()
            for r in reversed(self._requests):
                if r.get("thread") == mine:
                    return r
        return None

    def _send_chat_action(self, params):
        cid, _ = self._chat(params)
        action = params.get("action")
        if not action:
            raise bad_request("action is empty")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        with self._lock:
            self._actions.setdefault(cid, []).append(action)
        return True


_METHODS = {
    "getfile": FakeTelegram._get_file,
    "sendvoice": lambda self, p: self._send_file("sendVoice", "voice", p),
    "sendaudio": lambda self, p: self._send_file("sendAudio", "audio", p),
    "senddocument": lambda self, p: self._send_file("sendDocument", "document", p),
    "sendphoto": lambda self, p: self._send_file("sendPhoto", "photo", p),
    "getme": FakeTelegram._get_me,
    "getupdates": FakeTelegram._get_updates,
    "deletewebhook": FakeTelegram._delete_webhook,
    "getwebhookinfo": FakeTelegram._get_webhook_info,
    "setmycommands": FakeTelegram._set_my_commands,
    "getmycommands": FakeTelegram._get_my_commands,
    "sendmessage": FakeTelegram._send_message,
    "editmessagetext": FakeTelegram._edit_message_text,
    "sendchataction": FakeTelegram._send_chat_action,
}


# ---------------------------------------------------------------------------
# Process mode
# ---------------------------------------------------------------------------

def _write_port_file(path: str, port: int):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--port-file", help="write the bound port here (atomically)")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default="hermetic_test_bot")
    parser.add_argument("--chat", action="append", default=[],
                        help="a chat the bot may write to before it wrote (repeatable)")
    parser.add_argument("--any-chat", action="store_true",
                        help="sendMessage to any numeric chat id (no 'chat not found')")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    fake = FakeTelegram(args.token, args.host, args.port, bot_username=args.bot_username,
                        chats=args.chat, strict_chats=not args.any_chat, verbose=args.verbose)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    fake.start()
    print(f"listening on {fake.url}", flush=True)
    if args.port_file:
        _write_port_file(args.port_file, fake.port)
    while not stop.wait(1.0):
        pass
    fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
