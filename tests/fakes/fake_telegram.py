#!/usr/bin/env python3
"""A fake Telegram Bot API server (long-poll bot side), faithful to docs/references.md section 4.

hermetic's Telegram tests point the bot at this server instead of https://api.telegram.org.
It serves ``/bot<TOKEN>/<method>`` over plain HTTP on 127.0.0.1, GET with a query string or
POST with ``application/json``, ``application/x-www-form-urlencoded`` or
``multipart/form-data`` (query string and body are merged, the body wins; chunked bodies and
``Expect: 100-continue`` work, as libcurl sends them; a multipart part with a filename is a
file, recorded in ``params`` as ``{"filename", "size"}``, its bytes kept for the upload
methods and ``files_sent``), and answers with Telegram's envelope::

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
                     Telegram; ``[]`` means all but chat_member, message_reaction and
                     message_reaction_count) filters by update type. A second
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
``editMessageText``  ``chat_id``, ``message_id``, ``text``, ``parse_mode`` (checked as for
                     sendMessage), ``reply_markup`` (InlineKeyboardMarkup only, else ``Bad
                     Request: REPLY_MARKUP_INVALID``; an edit without it drops the keyboard,
                     as in Telegram); ``Bad Request: message to edit not found``; a user's
                     message: ``Bad Request: message can't be edited``; the same text,
                     entities and keyboard again: ``Bad Request: message is not modified:
                     ...``; a media message: ``Bad Request: there is no text in the message
                     to edit``. The sent message is updated in place (``edit_date`` set),
                     each accepted edit recorded (``edits``, ``versions``).
``editMessageReplyMarkup`` ``chat_id``, ``message_id``, ``reply_markup`` (omitted: removed);
                     the same errors; media messages too.
``editMessageCaption`` ``chat_id``, ``message_id``, ``caption`` (<= 1024), ``parse_mode``,
                     ``reply_markup`` (omitted: removed) of a media message; a text message:
                     ``Bad Request: there is no caption in the message to edit``.
``reply_markup``     on sendMessage, send* and the edits, read as the Bot API reads it (see
                     ``parse_reply_markup``): JSON, an object, ``inline_keyboard`` an Array
                     of Arrays of buttons with ``text`` and exactly one action;
                     ``callback_data`` 1-64 bytes (``BUTTON_DATA_INVALID``; an empty one is
                     no action: ``Text buttons are unallowed in the inline keyboard``);
                     ``style`` danger|success|primary (``BUTTON_STYLE_INVALID``). An inline
                     keyboard shows on the Message as ``reply_markup``.
``sendMessageDraft`` (Bot API 9.3) ``chat_id`` (a private chat, else ``Bad Request:
                     TEXTDRAFT_PEER_INVALID``), ``draft_id`` (non-zero, else ``Bad Request:
                     DRAFT_ID_INVALID``), ``text`` (0-4096 after parsing; empty allowed),
                     ``parse_mode``, ``message_thread_id``; ``true``; recorded in
                     ``drafts(chat)``, not a message. ``disable_method("sendMessageDraft")``
                     makes it 404 ``Not Found``, as an older server.
``answerCallbackQuery`` ``callback_query_id``, ``text`` (<= 200, else ``Bad Request:
                     MESSAGE_TOO_LONG``), ``show_alert``, ``url``, ``cache_time``; ``Bad
                     Request: query is too old and response timeout expired or query ID is
                     invalid`` for an unknown or answered id or ``callback_timeout`` (15 s)
                     after the press; recorded in ``callback_answers``.
``setMessageReaction`` ``chat_id``, ``message_id`` (the bot's or a user's message, else ``Bad
                     Request: message to react not found``), ``reaction`` (``[]`` or omitted
                     removes; JSON/shape errors as the official server words them), ``is_big``;
                     an emoji outside ``REACTION_EMOJI`` or a custom emoji: ``Bad Request:
                     REACTION_INVALID``; two or more: ``Bad Request: REACTIONS_TOO_MANY``.
                     ``reactions(chat, message_id)``, ``reaction_history(...)``.
``message_thread_id`` on sendMessage, sendMessageDraft, send*: recorded on the Message
                     (``message_thread_id``, ``is_topic_message``); with ``strict_topics`` a
                     topic not declared (``add_topic``, or a user's message in it) gives
                     ``Bad Request: message thread not found``.
Flood limits (``flood_limits(...)``, off by default): counted methods (``FLOOD_METHODS``) per
chat; over a limit 429 ``Too Many Requests: retry after N``; a counted call inside an open
window (also one a ``rate_limit`` fault opened) is a violation (``violations``).
``sendChatAction``   ``chat_id``, ``action`` (typing, upload_photo, record_voice, ...;
                     otherwise ``Bad Request: wrong parameter action in request``);
                     recorded in ``tg.chat_actions(chat_id)``.
``getFile``          ``file_id`` -> File ``{"file_id", "file_unique_id", "file_size",
                     "file_path"}`` from the file store (``push_media``, ``add_file``, files
                     the bot sent). ``Bad Request: file_id not specified``, ``Bad Request:
                     invalid file_id`` (unknown), ``Bad Request: file is too big`` (file_size
                     over 20 MB = 20*1024*1024, Telegram's limit for bots).
``sendVoice`` ``sendAudio`` ``sendDocument`` ``sendPhoto``
                     ``chat_id`` (checked as for sendMessage), the file in the part named
                     ``voice``/``audio``/``document``/``photo`` (multipart with a filename),
                     or a string: a file_id from the store (``Bad Request: wrong file
                     identifier/HTTP URL specified`` when unknown, ``Bad Request: type of
                     file mismatch`` when of another kind; sendDocument takes any kind but a
                     photo) or an http(s) URL (not fetched; recorded). ``caption`` (0-1024
                     UTF-16 units after entity parsing, ``parse_mode`` as for sendMessage:
                     ``Bad Request: message caption is too long``, ``can't parse entities``),
                     ``duration``, ``title``, ``performer``; others recorded. Errors: ``Bad
                     Request: there is no voice in the request`` (and audio, document,
                     photo), ``Bad Request: file must be non-empty``, 413 ``Request Entity
                     Too Large`` (an upload over 50 MB; a photo over 10 MB), sendPhoto:
                     ``Bad Request: IMAGE_PROCESS_FAILED`` (not JPEG/PNG/GIF/WebP),
                     ``Bad Request: PHOTO_INVALID_DIMENSIONS`` (width + height > 10000, or
                     ratio > 20). sendVoice shows OGG (``OggS``), MP3 (ID3 or an MPEG frame
                     sync) and M4A (``ftyp``) as a voice message; anything else becomes a
                     document (``shown_as`` "document": the Message has ``document``, not
                     ``voice``). The result is the Message with ``voice{duration, mime_type,
                     file_id, file_unique_id, file_size}``, ``audio{duration, performer?,
                     title?, file_name?, mime_type, ...}``, ``document{file_name?, mime_type
                     (from the file name, else the part's type), ...}`` or ``photo``
                     (PhotoSize list, ascending: 90/320/800/1280 thumbnails below the
                     image's size and the image capped at 2560, dimensions read from the
                     PNG/JPEG/GIF/WebP header), ``caption``, ``caption_entities``, no
                     ``text``. The sent file joins the file store (getFile + download work).
                     The message joins ``messages(chat)`` with ``text`` = caption or ``""``.
Wrong token: 401 ``Unauthorized``. Unknown method or any other path: 404 ``Not Found``.

Downloads: ``GET /file/bot<TOKEN>/<file_path>`` serves the stored bytes (``Content-Type:
application/octet-stream``, ``Content-Length``, ``Accept-Ranges: bytes``; a ``Range:
bytes=a-b`` / ``a-`` / ``-n`` header gets 206 with ``Content-Range``, an unsatisfiable one
416). Wrong token: 401 ``{"ok":false,"error_code":401,"description":"Unauthorized"}``;
unknown path: 404 ``... "Not Found"``. Downloads are not API requests: they are recorded in
``tg.downloads``, not ``tg.requests``.

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
``push_voice/push_audio/push_video_note/push_photo/push_document(chat_id=...,
    caption=None, data=None, **fields)``, or ``push_media(kind, ...)``: realistic file
    objects (``voice{duration, mime_type audio/ogg}``, ``audio{duration, mime_type
    audio/mpeg, file_name}`` (+ ``performer``, ``title`` given as fields),
    ``video_note{duration, length}``, ``document{file_name, mime_type}``, ``photo`` three
    PhotoSizes 90/320/800 wide; each with file_id, file_unique_id, file_size), registered in
    the file store: ``data`` bytes are served (file_size = len), else a stub of the
    reported size with the kind's magic bytes. Photo ``data``: bytes (every size), a list
    (one per size, smallest first: widths 90/320/800 for three, else 90, 180, 270 ...) or a
    dict width -> bytes (height = width * 3 / 4). ``fields`` override the file
    object; a ``file_size`` there is what the message AND getFile report (a lie, whatever
    the bytes). ``POST /_fake/media {"kind": "voice", "chat_id": 42, "data_b64": ...}``
    (``data_b64``: base64, or a list / an object width -> base64 for a photo).
``add_file(file_id, data, file_path=None, file_unique_id=None, size=None, kind="document",
    ext=None)`` -> the File: registers bytes under a file_id; ``file_path`` defaults to
    Telegram's form ``voice/file_N.oga``, ``music/file_N.mp3``, ``photos/file_N.jpg``,
    ``documents/file_N.<ext or pdf>``, ``video_notes/file_N.mp4``; ``size`` overrides the
    reported file_size (the download still serves ``data``). ``file(file_id)``: the entry
    (with ``kind`` and ``data``). ``POST /_fake/file {"file_id", "data_b64", "file_path",
    "file_unique_id", "size", "kind"}``.
``press(chat_id, message_id, data, user_id=None, ...)``: a user presses an inline button
    of a bot message: a ``callback_query`` Update. ``push_text``/``push_media`` take
    ``thread_id``, ``reply_to`` (a message_id: ``reply_to_message``) and ``quote`` (text).
    ``POST /_fake/press``, ``/_fake/topic``, ``/_fake/methods``, ``/_fake/flood``,
    ``/_fake/callbacks``; ``GET /_fake/edits``, ``/_fake/versions``, ``/_fake/drafts``,
    ``/_fake/reactions``, ``/_fake/callbacks``, ``/_fake/flood`` (tests/fakes/README.md).
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
``truncate_download(n=1, after=None)``: the next n downloads send the full Content-Length,
    then only ``after`` bytes (default half the file), then close the connection.
``slow_download(n=1, chunk=4096, delay=0.05, first_byte_delay=0.0)``: the next n downloads
    send ``chunk`` bytes every ``delay`` s (after ``first_byte_delay`` s).
``download_error(n=1, status=502)``: the next n downloads answer nginx's HTML error page.
    ``POST /_fake/fault {"kind": "conflict"|"rate_limit"|"server_error"|"drop"|"drop_after",
    "count": n, "method": m, "retry_after": s, "status": code, "html": bool}``, and
    ``{"kind": "truncate_download"|"slow_download"|"download_error", "count", "after",
    "chunk", "delay", "first_byte_delay", "status"}``. API faults queue in order; each
    request takes the first one that matches its method. Download faults have their own
    queue, taken by downloads only (in order, whatever the file).
``after_send``: None, or a callable given each accepted sendMessage's (and sendVoice's,
    sendAudio's, sendDocument's, sendPhoto's) Message (a copy) before
    the answer is written (e.g. to SIGKILL the client inside its at-least-once window).
``set_webhook(url)`` / ``add_chat(chat_id)`` / ``block(chat_id)``: ``POST /_fake/webhook``,
    ``/_fake/chat {"chat_id", "blocked"}``.
Observation: ``sent(chat_id)`` (texts in order), ``messages(chat_id)`` (Message dicts),
    ``wait_sent(chat_id, count, timeout)`` (texts; TimeoutError), ``requests`` (dicts:
    ``method`` as sent, ``api_method`` lower-case, ``http_method``, ``params``,
    ``content_type``, ``time``, ``monotonic``, ``status`` of the answer, ``peer``),
    ``calls(method)``, ``wait_requests(count, method=None, timeout)``, ``commands``,
    ``chat_actions(chat_id)``, ``pending`` (updates not confirmed), ``reset()``;
    ``files_sent(chat_id)``: dicts ``method`` (sendVoice ...), ``field``, ``source``
    (``upload``|``file_id``|``url``), ``filename``, ``content_type`` (the part's),
    ``data`` (bytes; None for a URL), ``size``, ``caption`` (parsed), ``shown_as``
    (voice|audio|document|photo), ``format`` (voice/audio: ogg|mp3|m4a|None),
    ``message_id``, ``file_id``, ``url``, ``params`` (the others); ``downloads``: dicts
    ``path``, ``file_path``, ``status``, ``bytes`` (body bytes written), ``size``
    (Content-Length), ``range``, ``fault``, ``time``, ``monotonic``, ``peer``;
    ``wait_downloads(count, timeout)``.
    ``GET /_fake/sent?chat_id=42`` (``{"texts", "messages"}``; without chat_id all chats),
    ``GET /_fake/wait_sent?chat_id=42&count=2&timeout=5`` (408 on timeout),
    ``GET /_fake/requests``, ``GET /_fake/state`` (also ``files`` without bytes),
    ``GET /_fake/files_sent?chat_id=42`` (a list, ``data_b64`` for ``data``; without
    chat_id an object per chat), ``GET /_fake/downloads``, ``POST /_fake/reset``.
Control routes need no token and are never recorded. All methods are thread-safe.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.policy
import hashlib
import json
import math
import mimetypes
import re
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from email.parser import BytesParser
from http.server import ThreadingHTTPServer
try:
    from fakes.served import Served, TrackedHandler, serve_until_signal
except ImportError:  # run as a script from tests/fakes
    from served import Served, TrackedHandler, serve_until_signal
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
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024      # getFile: bots download files of up to 20 MB
MAX_UPLOAD = 50 * 1024 * 1024        # sendVoice/sendAudio/sendDocument by multipart
MAX_PHOTO_UPLOAD = 10 * 1024 * 1024  # sendPhoto
TOO_LARGE = "Request Entity Too Large"
# kind -> (file_id prefix, file_path folder, extension, magic of the stub bytes)
_FILE_KINDS = {
    "voice": ("AwACAgIAAxkBAAI", "voice", "oga", b"OggS\x00\x02"),
    "audio": ("CQACAgIAAxkBAAI", "music", "mp3", b"ID3\x04\x00"),
    "photo": ("AgACAgIAAxkBAAI", "photos", "jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
    "document": ("BQACAgIAAxkBAAI", "documents", "pdf", b"%PDF-1.4\n"),
    "video_note": ("DQACAgIAAxkBAAI", "video_notes", "mp4", b"\x00\x00\x00\x18ftypmp42"),
}
# upload method -> (file field, Message field of an accepted upload)
_SENDS = {"sendvoice": ("sendVoice", "voice"), "sendaudio": ("sendAudio", "audio"),
          "senddocument": ("sendDocument", "document"), "sendphoto": ("sendPhoto", "photo")}
_MEDIA_FIELDS = ("voice", "audio", "document", "photo", "video_note")
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
# ReactionTypeEmoji: the 73 emoji the Bot API lists (no U+FE0F variation selectors)
REACTION_EMOJI = (
    "👍", "👎", "❤", "🔥", "🥰", "👏", "😁", "🤔", "🤯", "😱", "🤬", "😢", "🎉", "🤩", "🤮", "💩",
    "🙏", "👌", "🕊", "🤡", "🥱", "🥴", "😍", "🐳", "❤\u200d🔥", "🌚", "🌭", "💯", "🤣", "⚡", "🍌",
    "🏆", "💔", "🤨", "😐", "🍓", "🍾", "💋", "🖕", "😈", "😴", "😭", "🤓", "👻",
    "👨\u200d💻", "👀", "🎃", "🙈", "😇", "😨", "🤝", "✍", "🤗", "🫡", "🎅", "🎄", "☃", "💅",
    "🤪", "🗿", "🆒", "💘", "🙉", "🦄", "😘", "💊", "🙊", "😎", "👾", "🤷\u200d♂", "🤷",
    "🤷\u200d♀", "😡")
BUTTON_STYLES = ("danger", "success", "primary")
_BUTTON_ACTIONS = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                   "copy_text", "callback_game", "pay")
# methods that count against a chat's flood limits (and whose calls inside an open
# retry_after window are violations)
FLOOD_METHODS = {"sendmessage", "editmessagetext", "editmessagereplymarkup", "editmessagecaption",
                 "sendchataction",
                 "setmessagereaction", "sendmessagedraft", "sendvoice", "sendaudio",
                 "senddocument", "sendphoto"}
# getUpdates without allowed_updates (or with []): every type but these three
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}


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
# Files: sniffing uploaded bytes, stub bytes
# ---------------------------------------------------------------------------

def audio_format(data: bytes | None) -> str | None:
    """``ogg``, ``mp3``, ``m4a`` or None: the formats sendVoice shows as a voice message."""
    if not data:
        return None
    if data.startswith(b"OggS"):
        return "ogg"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[4:8] == b"ftyp":
        return "m4a"
    return None


def image_info(data: bytes | None) -> tuple[str, int, int] | None:
    """(``jpeg``|``png``|``gif``|``webp``, width, height) of an image, else None."""
    if not data:
        return None
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return "png", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return "gif", int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        if data[12:16] == b"VP8X" and len(data) >= 30:
            return ("webp", int.from_bytes(data[24:27], "little") + 1,
                    int.from_bytes(data[27:30], "little") + 1)
        if data[12:16] == b"VP8 " and len(data) >= 30:
            return ("webp", int.from_bytes(data[26:28], "little") & 0x3FFF,
                    int.from_bytes(data[28:30], "little") & 0x3FFF)
        if data[12:16] == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return "webp", 512, 512
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return ("jpeg", int.from_bytes(data[i + 7:i + 9], "big"),
                        int.from_bytes(data[i + 5:i + 7], "big"))
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
        return "jpeg", 800, 600  # no frame header in reach: a stub
    return None


def stub_bytes(kind: str, size: int) -> bytes:
    """``size`` bytes starting with the kind's magic (OggS, ID3, JPEG, %PDF, ftyp)."""
    magic = _FILE_KINDS[kind][3]
    return (magic + bytes(max(size - len(magic), 0)))[:max(size, 0)]


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class _Drop(Exception):
    pass


class _Upload(dict):
    """A multipart part with a filename: recorded in ``params`` as ``{"filename", "size"}``;
    the bytes and the part's Content-Type are kept aside for the upload methods."""

    def __init__(self, filename: str, data: bytes, content_type: str | None):
        super().__init__(filename=filename, size=len(data))
        self.data = data
        self.content_type = content_type


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
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.18.0"  # what api.telegram.org answers with
    server: _Server

    @property
    def fake(self) -> "FakeTelegram":
        return self.server.fake

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
                    params[name] = (_Upload(filename, payload, part.get("Content-Type"))
                                    if filename is not None
                                    else payload.decode("utf-8", "replace"))
        return params

    def _dispatch(self):
        parts = urlsplit(self.path)
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            return self._send(400, {"ok": False, "error_code": 400, "description": "Bad Request"})
        if parts.path.startswith("/_fake/"):
            return self._control(parts.path, parts.query, raw)
        download = _FILE_PATH.match(parts.path)
        if download and self.command == "GET":
            return self._download(parts.path, download.group(1), download.group(2))
        m = _PATH.match(parts.path)
        record = {"method": m.group(2) if m else None,
                  "api_method": m.group(2).lower() if m else None,
                  "http_method": self.command, "path": parts.path, "params": {},
                  "content_type": self.headers.get("Content-Type"), "time": time.time(),
                  "monotonic": time.monotonic(), "peer": "%s:%s" % self.client_address[:2],
                  "status": None}
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

    def _download(self, path: str, token: str, file_path: str):
        """GET /file/bot<TOKEN>/<file_path>: the bytes, as Telegram's nginx serves them."""
        fake = self.fake
        record = {"path": path, "file_path": file_path, "status": None, "bytes": 0,
                  "size": None, "range": self.headers.get("Range"), "fault": None,
                  "time": time.time(), "monotonic": time.monotonic(),
                  "peer": "%s:%s" % self.client_address[:2]}
        fake._record_download(record)
        if token != fake.token:
            fake._finish(record, 401)
            return self._send(401, ApiError(401, "Unauthorized").envelope())
        data = fake._file_data(file_path)
        if data is None:
            fake._finish(record, 404)
            return self._send(404, ApiError(404, "Not Found").envelope())
        fault = fake._take_download_fault()
        if fault:
            record["fault"] = fault["kind"]
        if fault and fault["kind"] == "download_error":
            fake._finish(record, fault["status"])
            return self._send_html(fault["status"], REASONS.get(fault["status"], "Error"))
        status, start, end = 200, 0, len(data)
        if record["range"]:
            m = _RANGE.match(record["range"].strip())
            first = int(m.group(1)) if m and m.group(1) else None
            last = int(m.group(2)) if m and m.group(2) else None
            if first is None and last is not None:       # bytes=-N: the last N bytes
                first, last = max(len(data) - last, 0), len(data) - 1
            if not m or first is None or first >= len(data) or (last is not None
                                                                and last < first):
                fake._finish(record, 416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            status, start = 206, first
            end = min(last + 1, len(data)) if last is not None else len(data)
        body = data[start:end]
        record["size"] = len(body)
        fake._finish(record, status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        limit, chunk, delay = len(body), 65536, 0.0
        if fault and fault["kind"] == "truncate_download":
            limit = min(len(body) // 2 if fault["after"] is None else fault["after"], len(body))
        elif fault and fault["kind"] == "slow_download":
            chunk, delay = max(fault["chunk"], 1), fault["delay"]
            if fault["first_byte_delay"] and fake._stop.wait(fault["first_byte_delay"]):
                limit = 0
        sent = 0
        try:
            while sent < limit:
                piece = body[sent:min(sent + chunk, limit)]
                # Counted before it is written, so that a client holding the bytes sees
                # them counted; a write that fails takes the count back.
                fake._count_download(record, sent + len(piece))
                try:
                    self.wfile.write(piece)
                    self.wfile.flush()
                except OSError:
                    fake._count_download(record, sent)
                    raise
                sent += len(piece)
                if delay and sent < limit and fake._stop.wait(delay):
                    break
        except OSError:
            self.close_connection = True
            return None
        if sent < len(body):  # cut: Content-Length promised more than was sent
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
            if self.command == "GET" and path == "/_fake/files_sent":
                def jsonable(f):
                    data = f.pop("data")
                    return {**f, "data_b64": None if data is None
                            else base64.b64encode(data).decode()}
                if "chat_id" in q:
                    return self._send(200, [jsonable(f) for f in
                                            fake.files_sent(_chat_key(q["chat_id"]))])
                with fake._lock:
                    chats = list(fake._files_sent)
                return self._send(200, {str(c): [jsonable(f) for f in fake.files_sent(c)]
                                        for c in chats})
            if self.command == "GET" and path == "/_fake/downloads":
                return self._send(200, fake.downloads)
            if self.command == "GET" and path in ("/_fake/edits", "/_fake/versions"):
                cid = _chat_key(q["chat_id"])
                if path == "/_fake/versions":
                    return self._send(200, fake.versions(cid, int(q["message_id"])))
                mid = int(q["message_id"]) if "message_id" in q else None
                return self._send(200, fake.edits(cid, mid))
            if self.command == "GET" and path == "/_fake/drafts":
                return self._send(200, fake.drafts(_chat_key(q["chat_id"])))
            if self.command == "GET" and path == "/_fake/reactions":
                cid, mid = _chat_key(q["chat_id"]), int(q["message_id"])
                return self._send(200, {"reactions": fake.reactions(cid, mid),
                                        "history": fake.reaction_history(cid, mid)})
            if self.command == "GET" and path == "/_fake/callbacks":
                return self._send(200, {"queries": fake.callback_queries,
                                        "answers": fake.callback_answers,
                                        "unanswered": fake.unanswered_callbacks()})
            if self.command == "GET" and path == "/_fake/flood":
                return self._send(200, fake.flood_stats())
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
                if "data_b64" in data:
                    raw_data = data.pop("data_b64")
                    if isinstance(raw_data, dict):
                        data["data"] = {int(w): _b64(v)
                                        for w, v in raw_data.items()}
                    elif isinstance(raw_data, list):
                        data["data"] = [_b64(v) for v in raw_data]
                    else:
                        data["data"] = _b64(raw_data)
                return self._send(200, fake.push_media(**data))
            if path == "/_fake/file":
                raw_data = data.pop("data_b64", None)
                return self._send(200, fake.add_file(
                    data.pop("file_id"),
                    None if raw_data is None else _b64(raw_data), **data))
            if path == "/_fake/update":
                return self._send(200, fake.push_update(data.get("update", data)))
            if path == "/_fake/fault":
                fake.fault(**data)
                return self._send(200, {"ok": True})
            if path == "/_fake/webhook":
                fake.set_webhook(data.get("url", ""))
                return self._send(200, {"ok": True})
            if path == "/_fake/press":
                return self._send(200, fake.press(**data))
            if path == "/_fake/callbacks":
                fake.callback_timeout = float(data["timeout"])
                return self._send(200, {"ok": True})
            if path == "/_fake/flood":
                fake.flood_limits(**data)
                return self._send(200, fake.flood_stats())
            if path == "/_fake/topic":
                if "strict" in data:
                    fake.strict_topics = bool(data["strict"])
                if "thread_id" in data:
                    fake.add_topic(data["chat_id"], data["thread_id"])
                return self._send(200, {"ok": True})
            if path == "/_fake/methods":
                fake.disable_method(*data.get("disable", []))
                fake.enable_method(*data.get("enable", []))
                return self._send(200, {"ok": True})
            if path == "/_fake/chat":
                fake.add_chat(data["chat_id"])
                if "blocked" in data:
                    fake.block(data["chat_id"], bool(data["blocked"]))
                return self._send(200, {"ok": True})
        except (TypeError, KeyError, ValueError, binascii.Error) as e:
            return self._send(400, {"ok": False, "description": f"{type(e).__name__}: {e}"})
        return self._send(404, {"ok": False, "description": f"no control route {path}"})


def _b64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


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


def _wanted(update: dict, allowed: set) -> bool:
    """getUpdates' allowed_updates filter; empty: every type but ``_NOT_BY_DEFAULT``."""
    kinds = set(update) - {"update_id"}
    if allowed:
        return bool(allowed & kinds)
    return not kinds or bool(kinds - _NOT_BY_DEFAULT)


def _button_error(what: str) -> ApiError:
    return bad_request(f"can't parse inline keyboard button: {what}")


def _check_button(button) -> dict:
    """An InlineKeyboardButton as the Bot API reads it (text + exactly one action)."""
    if not isinstance(button, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise _button_error('Can\'t find field "text"')
    if not isinstance(button["text"], str):
        raise _button_error('Field "text" must be of type String')
    # an empty callback_data is no action at all (Telegram: "Text buttons are unallowed")
    actions = [k for k in _BUTTON_ACTIONS if k in button
               and not (k == "callback_data" and button[k] == "")]
    if not actions:
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise _button_error("exactly one of the optional fields must be used")
    if "callback_data" in actions:
        data = button["callback_data"]
        if not isinstance(data, str):
            raise _button_error('Field "callback_data" must be of type String')
        if not 1 <= len(data.encode("utf-8")) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in actions and (not isinstance(button["url"], str) or not button["url"]):
        raise _button_error('Field "url" must be of type String')
    if "style" in button and button["style"] not in BUTTON_STYLES:
        raise bad_request("BUTTON_STYLE_INVALID")
    return button


def parse_reply_markup(value, inline_only: bool = False) -> dict | None:
    """``reply_markup`` (a dict, or a JSON string in a form) checked as the Bot API does;
    None when absent. ``inline_only``: editMessageText/editMessageReplyMarkup take only an
    InlineKeyboardMarkup."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request("can't parse reply keyboard markup JSON object") from None  # noqa: RSE102
    if not isinstance(value, dict):
        raise bad_request("object expected as reply markup")
    if "inline_keyboard" in value:
        rows = value["inline_keyboard"]
        if not isinstance(rows, list):
            raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be '
                              "an Array")
        for row in rows:
            if not isinstance(row, list):
                raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must '
                                  "be an Array of Arrays")
            for button in row:
                _check_button(button)
        return {"inline_keyboard": rows}
    if inline_only:
        raise bad_request("REPLY_MARKUP_INVALID")
    if "keyboard" in value:
        rows = value["keyboard"]
        if not isinstance(rows, list):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
        if any(not isinstance(row, list) for row in rows):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array '
                              "of Arrays")
        return dict(value)
    if "remove_keyboard" in value or "force_reply" in value:
        return dict(value)
    return None


def callback_data_of(markup: dict | None) -> list[str]:
    """Every callback_data of an InlineKeyboardMarkup, in reading order."""
    return [b["callback_data"] for row in (markup or {}).get("inline_keyboard", [])
            for b in row if isinstance(b, dict) and b.get("callback_data")]


def _reaction_list(params) -> list[dict]:
    """``reaction`` read as the official server reads it (before the chat and message)."""
    value = params.get("reaction")
    if value is None or value == "" or value == "null":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request("can't parse reaction types JSON object") from None  # noqa: RSE102
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("expected an Array of ReactionType")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("can't parse ReactionType: expected an Object")
        if "type" not in item:
            raise bad_request('can\'t parse ReactionType: Can\'t find field "type"')
        if item["type"] == "emoji":
            if "emoji" not in item:
                raise bad_request('can\'t parse ReactionType: Can\'t find field "emoji"')
            if not item["emoji"]:
                raise bad_request("invalid reaction type specified")
        elif item["type"] != "custom_emoji":
            raise bad_request("can't parse ReactionType: invalid reaction type specified")
        out.append(dict(item))
    return out


# ---------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------

class FakeTelegram(Served):
    """A fake Telegram Bot API on 127.0.0.1; see the module docstring.

    Use as a context manager (``with FakeTelegram() as tg:``) or ``start()``/``close()``.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0,
                 bot_username: str = "hermetic_test_bot", bot_first_name: str = "Hermetic",
                 chats=(), strict_chats: bool = True, verbose: bool = False,
                 strict_topics: bool = False, callback_timeout: float = 15.0):
        self.token = token
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.strict_chats = strict_chats
        self.strict_topics = strict_topics        # unknown message_thread_id -> 400
        self.callback_timeout = callback_timeout  # s to answer a callback query
        self.verbose = verbose
        self._initial_chats = [_chat_key(c) for c in chats]
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle -----------------------------------------------------------

    @property
    def host(self) -> str:
        return self._server.server_address[0]

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

    def _closing(self):
        """Held long polls end."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()


    def reset(self):
        """Forget updates, faults, sent messages, requests, commands, files, downloads; keep
        the token."""
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
            self._files: dict = {}         # file_id -> {"file_id", "file_unique_id", ...}
            self._paths: dict = {}         # file_path -> file_id
            self._file_seq = 0
            self._files_sent: dict = {}    # chat -> [upload records]
            self._downloads: list[dict] = []
            self._dl_faults: list[dict] = []
            self._inbox: dict = {}         # chat -> {message_id: Message} users sent
            self._versions: dict = {}      # (chat, message_id) -> [send/edit records]
            self._drafts: dict = {}        # chat -> [draft records]
            self._reactions: dict = {}     # (chat, message_id) -> {"current", "history"}
            self._queries: dict = {}       # callback_query id -> record
            self._answers: list[dict] = []
            self._query_seq = 0
            self._topics: dict = {}        # chat -> {thread ids}
            self._disabled: set = set()    # method names (lower case) answering 404
            self._flood: dict | None = None
            self._flood_state: dict = {}   # chat -> {"tokens", "last", "minute"}
            self._flood_global: deque = deque()
            self._windows: dict = {}       # chat -> monotonic end of its retry_after window
            self._violations: list[dict] = []
            self._flood_limited = 0
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
                  title=None, thread_id=None, reply_to=None, quote=None) -> dict:
        chat_id = _chat_key(chat_id)
        user = self._user(chat_id, user_id, first_name, username)
        if chat_type == "private":
            chat = {"id": chat_id, "first_name": first_name, "type": "private"}
            if username:
                chat["username"] = username
        else:
            chat = {"id": chat_id, "title": title or "Group", "type": chat_type}
        with self._lock:
            quoted = None
            if reply_to is not None:
                quoted = self._find_message(chat_id, int(reply_to))
                if quoted is None:
                    raise ValueError(f"reply_to: no message {reply_to} in chat {chat_id}")
            self._chats[chat_id] = chat
            mid = self._msg_ids.get(chat_id, 0) + 1
            self._msg_ids[chat_id] = mid
            message = {"message_id": mid}
            if thread_id is not None:
                message["message_thread_id"] = int(thread_id)
            message.update({"from": user, "chat": chat,
                            "date": int(date if date is not None else time.time())})
            if thread_id is not None:
                message["is_topic_message"] = True
                self._topics.setdefault(chat_id, set()).add(int(thread_id))
            if quoted is not None:
                message["reply_to_message"] = {k: v for k, v in quoted.items()
                                               if k != "reply_to_message"}
                if quote is not None:
                    source = quoted.get("text") or quoted.get("caption") or ""
                    at = source.find(quote)
                    if not quote or at < 0:
                        raise ValueError(f"quote {quote!r} is not in message {reply_to}")
                    message["quote"] = {"text": quote, "position": utf16_len(source[:at]),
                                        "is_manual": True}
            elif quote is not None:
                raise ValueError("quote needs reply_to")
            self._inbox.setdefault(chat_id, {})[mid] = message
        return message

    def push_text(self, text: str, chat_id=1001, user_id=None, first_name: str = "Ada",
                  username: str | None = "ada", date=None, chat_type: str = "private",
                  title: str | None = None, thread_id: int | None = None,
                  reply_to: int | None = None, quote: str | None = None,
                  forward_origin: dict | None = None) -> dict:
        """A user writes ``text`` to the bot in a private chat (or, with ``chat_type``
        ``group``/``supergroup``/``channel`` and a negative ``chat_id``, in that chat; pass
        ``user_id`` then); returns the Update. ``thread_id``: the message is in that topic
        (``message_thread_id``, ``is_topic_message``; the topic becomes known).
        ``reply_to``: the message_id (the bot's or a user's) it replies to, sent as
        ``reply_to_message``; ``quote``: a part of that message's text, sent as ``quote``
        (TextQuote ``{text, position, is_manual}``). ``forward_origin``: the message is a
        forward (MessageOrigin, e.g. ``{"type": "hidden_user", "sender_user_name": "Eve",
        "date": 0}``); ``text`` is then the original's."""
        message = self._incoming(chat_id, user_id, first_name, username, date, chat_type,
                                 title, thread_id, reply_to, quote)
        if forward_origin is not None:
            message["forward_origin"] = forward_origin
        message["text"] = text
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        return self.push_update({"message": message})

    def push_media(self, kind: str, chat_id=1001, user_id=None, first_name: str = "Ada",
                   username: str | None = "ada", caption: str | None = None, date=None,
                   data=None, thread_id: int | None = None, reply_to: int | None = None,
                   **fields) -> dict:
        """A voice note, audio file, video note, photo or document from a user; returns the
        Update. The file is registered in the file store (``getFile`` and downloads work):
        with ``data`` (bytes) its ``file_size`` is ``len(data)``, else a stub of the
        reported size. For a photo ``data`` may be one bytes object (every size), a list
        with one per size (smallest first) or a dict width -> bytes. ``fields`` are merged
        over the file object (over every PhotoSize); a ``file_size`` there is reported by
        the message AND by getFile, whatever the bytes (a lie, to test a client's cap)."""
        if kind not in _FILE_KINDS:
            raise ValueError(f"unknown media kind {kind!r} ({', '.join(_FILE_KINDS)})")
        message = self._incoming(chat_id, user_id, first_name, username, date,
                                 thread_id=thread_id, reply_to=reply_to)
        uid = f"{message['chat']['id']}_{message['message_id']}"
        prefix = _FILE_KINDS[kind][0]
        if kind == "photo":
            if isinstance(data, dict):
                sizes = sorted((int(w), d) for w, d in data.items())
            elif isinstance(data, (list, tuple)):
                widths = (90, 320, 800) if len(data) == 3 else [
                    90 * (i + 1) for i in range(len(data))]
                sizes = list(zip(widths, data))
            else:
                sizes = [(w, data) for w in (90, 320, 800)]
            message["photo"] = []
            for w, d in sizes:
                size = {"file_id": f"{prefix}{uid}s{w}", "file_unique_id": f"AQAD{uid}{w}",
                        "file_size": len(d) if d is not None else w * 40, "width": w,
                        "height": w * 3 // 4, **fields}
                self._register(size, kind, d)
                message["photo"].append(size)
        else:
            size = len(data) if data is not None else None
            if kind == "voice":
                obj = {"duration": 3, "mime_type": "audio/ogg", "file_size": size or 12345}
            elif kind == "audio":
                obj = {"duration": 30, "mime_type": "audio/mpeg", "file_name": "audio.mp3",
                       "file_size": size or 480000}
            elif kind == "video_note":
                obj = {"duration": 5, "length": 240, "file_size": size or 204800}
            else:
                obj = {"file_name": "report.pdf", "mime_type": "application/pdf",
                       "file_size": size or 54321}
            short = {"voice": "voice", "audio": "audio", "video_note": "vnote",
                     "document": "doc"}[kind]
            obj.update(file_id=f"{prefix}{uid}{short}", file_unique_id=f"AgAD{uid}{kind[0]}")
            obj.update(fields)
            self._register(obj, kind, data)
            message[kind] = obj
        if caption is not None:
            message["caption"] = caption
            entities = command_entities(caption)
            if entities:
                message["caption_entities"] = entities
        return self.push_update({"message": message})

    def _register(self, obj: dict, kind: str, data):
        """File-store entry for a file object of a message (push_media, uploads)."""
        name = obj.get("file_name")
        ext = name.rsplit(".", 1)[-1] if name and "." in name else None
        self.add_file(obj["file_id"], data, file_unique_id=obj["file_unique_id"],
                      size=obj.get("file_size"), kind=kind, ext=ext)

    def push_voice(self, **kw) -> dict:
        return self.push_media("voice", **kw)

    def push_photo(self, **kw) -> dict:
        return self.push_media("photo", **kw)

    def push_document(self, **kw) -> dict:
        return self.push_media("document", **kw)

    def push_audio(self, **kw) -> dict:
        return self.push_media("audio", **kw)

    def push_video_note(self, **kw) -> dict:
        return self.push_media("video_note", **kw)

    # -- the file store ------------------------------------------------------

    def add_file(self, file_id: str, data: bytes | None, file_path: str | None = None,
                 file_unique_id: str | None = None, size: int | None = None,
                 kind: str = "document", ext: str | None = None) -> dict:
        """Register ``data`` under ``file_id`` for getFile and downloads; returns the File.
        ``file_path`` defaults to Telegram's form for the kind (``voice/file_12.oga``,
        ``music/file_4.mp3``, ``photos/file_3.jpg``, ``documents/file_7.pdf`` (``ext``
        from a file name), ``video_notes/file_2.mp4``); ``size`` overrides the
        ``file_size`` getFile reports (a lie: downloads serve ``data`` as it is);
        ``data=None`` stores a stub of ``size`` bytes (12345 when no size) with the
        kind's magic; a stub over 20 MB is cut to 1 KiB (getFile refuses it anyway)."""
        if kind not in _FILE_KINDS:
            raise ValueError(f"unknown file kind {kind!r} ({', '.join(_FILE_KINDS)})")
        if data is not None and not isinstance(data, (bytes, bytearray)):
            raise TypeError("file data is bytes")
        if data is None:
            want = 12345 if size is None else int(size)
            data = stub_bytes(kind, want if want <= MAX_DOWNLOAD else 1024)
            size = want
        data = bytes(data)
        with self._lock:
            old = self._files.get(file_id)
            if file_path is None:
                if old is not None:
                    file_path = old["file_path"]
                else:
                    self._file_seq += 1
                    _, folder, default_ext, _ = _FILE_KINDS[kind]
                    file_path = f"{folder}/file_{self._file_seq}.{ext or default_ext}"
            if old is not None:
                self._paths.pop(old["file_path"], None)
            entry = {"file_id": file_id,
                     "file_unique_id": file_unique_id or (old or {}).get("file_unique_id")
                     or "AgAD" + hashlib.sha256(file_id.encode()).hexdigest()[:12],
                     "file_size": len(data) if size is None else int(size),
                     "file_path": file_path, "kind": kind, "data": data}
            self._files[file_id] = entry
            self._paths[file_path] = file_id
            return self._file_object(entry)

    @staticmethod
    def _file_object(entry: dict) -> dict:
        return {k: entry[k] for k in ("file_id", "file_unique_id", "file_size", "file_path")}

    def file(self, file_id: str) -> dict | None:
        """The store's entry: File fields plus ``kind`` and ``data`` (bytes), or None."""
        with self._lock:
            entry = self._files.get(file_id)
            return dict(entry) if entry else None

    def _file_data(self, file_path: str) -> bytes | None:
        with self._lock:
            file_id = self._paths.get(file_path)
            return self._files[file_id]["data"] if file_id else None

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
              retry_after: int = 3, status: int = 502, html: bool = False,
              after: int | None = None, chunk: int = 4096, delay: float = 0.05,
              first_byte_delay: float = 0.0):
        """Queue a fault; see ``conflict``, ``rate_limit``, ``server_error``, ``drop``, and
        for file downloads ``truncate_download``, ``slow_download``, ``download_error``."""
        if kind in ("truncate_download", "slow_download", "download_error"):
            if kind == "download_error" and not 400 <= int(status) <= 599:
                raise ValueError("download_error status must be 4xx or 5xx")
            with self._lock:
                self._dl_faults.append({
                    "kind": kind, "count": int(count), "status": int(status),
                    "after": None if after is None else int(after), "chunk": int(chunk),
                    "delay": float(delay), "first_byte_delay": float(first_byte_delay)})
            return
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

    def truncate_download(self, n: int = 1, after: int | None = None):
        """The next n file downloads send the full Content-Length, then only ``after``
        bytes (default: half the file), then close the connection."""
        self.fault("truncate_download", n, after=after)

    def slow_download(self, n: int = 1, chunk: int = 4096, delay: float = 0.05,
                      first_byte_delay: float = 0.0):
        """The next n file downloads wait ``first_byte_delay`` s after the headers, then
        send ``chunk`` bytes every ``delay`` s."""
        self.fault("slow_download", n, chunk=chunk, delay=delay,
                   first_byte_delay=first_byte_delay)

    def download_error(self, n: int = 1, status: int = 502):
        """The next n file downloads answer nginx's HTML error page with ``status``."""
        self.fault("download_error", n, status=status)

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

    def add_topic(self, chat_id, thread_id: int):
        """Declare a topic (``message_thread_id``) of a chat; with ``strict_topics`` any other
        thread id answers 400 ``message thread not found``."""
        with self._lock:
            cid = _chat_key(chat_id)
            self._chats.setdefault(cid, {"id": cid, "type": "private"})
            self._topics.setdefault(cid, set()).add(int(thread_id))

    def disable_method(self, *methods: str):
        """These methods answer 404 ``Not Found``, as on a server that predates them (e.g.
        ``sendMessageDraft`` before Bot API 9.3)."""
        with self._lock:
            self._disabled.update(m.lower() for m in methods)

    def enable_method(self, *methods: str):
        with self._lock:
            self._disabled.difference_update(m.lower() for m in methods)

    def flood_limits(self, per_chat_per_s: float = 1.0, burst: int = 3,
                     group_per_min: int | None = 20, retry_after: int | None = None,
                     global_per_s: float | None = 30, enabled: bool = True):
        """Enforce Telegram's flood limits (off by default). Per chat: a token bucket of
        ``burst`` calls refilled at ``per_chat_per_s``; in a group (negative id or a
        group/supergroup chat) also at most ``group_per_min`` calls in any 60 s; over all
        chats ``global_per_s`` calls in any 1 s. Counted methods: ``FLOOD_METHODS``. Over a
        limit: 429 ``Too Many Requests: retry after N`` (``parameters.retry_after`` N: the
        time until the limit allows a call, at least 1, or ``retry_after`` when given), and
        the chat's window stays shut for N s: a counted call inside it is a violation
        (``violations``) and gets 429 with the remaining seconds. ``enabled=False``: off."""
        with self._lock:
            self._flood = None if not enabled else {
                "per_chat_per_s": float(per_chat_per_s), "burst": max(int(burst), 1),
                "group_per_min": None if group_per_min is None else int(group_per_min),
                "retry_after": None if retry_after is None else int(retry_after),
                "global_per_s": None if global_per_s is None else float(global_per_s)}
            self._flood_state = {}
            self._flood_global = deque()

    def press(self, chat_id, message_id: int, data: str, user_id=None,
              first_name: str = "Ada", username: str | None = "ada",
              check: bool = True) -> dict:
        """A user presses the inline button with ``callback_data`` ``data`` under the bot's
        message: queues (and returns) a ``callback_query`` Update ``{id, from, message,
        chat_instance, data}``. ``check``: the button must be on the message's current
        keyboard (ValueError otherwise)."""
        cid = _chat_key(chat_id)
        with self._lock:
            message = self._find_sent(cid, int(message_id))
            if message is None:
                raise ValueError(f"press: the bot sent no message {message_id} to chat {cid}")
            if check and data not in callback_data_of(message.get("reply_markup")):
                raise ValueError(f"press: no button {data!r} on message {message_id}: "
                                 f"{callback_data_of(message.get('reply_markup'))!r}")
            self._query_seq += 1
            qid = str(1740000000000000000 + self.bot_id % 100000 * 100000 + self._query_seq)
            user = self._user(cid, user_id, first_name, username)
            instance = int(hashlib.sha256(f"{self.bot_id}:{cid}".encode()).hexdigest()[:15], 16)
            query = {"id": qid, "from": user, "message": json.loads(json.dumps(message)),
                     "chat_instance": str(-instance), "data": data}
            self._queries[qid] = {"id": qid, "chat_id": cid, "message_id": int(message_id),
                                  "data": data, "user_id": user["id"], "time": time.time(),
                                  "monotonic": time.monotonic(), "answered": False}
        return self.push_update({"callback_query": query})

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

    def files_sent(self, chat_id) -> list[dict]:
        """Files the bot sent to ``chat_id`` (sendVoice/sendAudio/sendDocument/sendPhoto that
        were accepted), in order: ``method``, ``field``, ``source`` (``upload``|``file_id``|
        ``url``), ``filename``, ``content_type``, ``data`` (bytes, None for a URL),
        ``size``, ``caption``, ``shown_as``, ``format`` (voice: ogg|mp3|m4a|None),
        ``message_id``, ``file_id``, ``url``, ``params`` (the other parameters)."""
        with self._lock:
            return [dict(f) for f in self._files_sent.get(_chat_key(chat_id), [])]

    @property
    def downloads(self) -> list[dict]:
        """File downloads in order: ``path``, ``file_path``, ``status`` (0 before the
        headers), ``bytes`` (body bytes written), ``size`` (Content-Length), ``range``
        (the Range header), ``fault``, ``time``, ``monotonic``, ``peer``."""
        with self._lock:
            return [dict(d) for d in self._downloads]

    def wait_downloads(self, count: int, timeout: float = 5.0) -> list[dict]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._downloads) >= count, timeout):
                raise TimeoutError(f"fake_telegram: {len(self._downloads)} of {count} "
                                   f"downloads after {timeout} s")
            return [dict(d) for d in self._downloads]

    def versions(self, chat_id, message_id: int) -> list[dict]:
        """Every state of a bot message: the send, then each accepted edit. Records:
        ``message_id``, ``method`` (sendMessage, editMessageText, editMessageReplyMarkup,
        sendVoice ...), ``text``, ``entities``, ``parse_mode``, ``reply_markup``,
        ``message_thread_id``, ``time``, ``monotonic``, ``since_previous`` (s since the
        previous version; None for the send)."""
        with self._lock:
            return [dict(v) for v in self._versions.get((_chat_key(chat_id), int(message_id)),
                                                        [])]

    def edits(self, chat_id, message_id: int | None = None) -> list[dict]:
        """Accepted edits (editMessageText, editMessageReplyMarkup) of the bot's messages in
        a chat (or of one message), in order; records as in ``versions``."""
        cid = _chat_key(chat_id)
        with self._lock:
            out = [dict(v) for (c, mid), vs in self._versions.items() if c == cid
                   and (message_id is None or mid == int(message_id))
                   for v in vs if v["method"].startswith("edit")]
        return sorted(out, key=lambda v: v["monotonic"])

    def drafts(self, chat_id) -> list[dict]:
        """Accepted sendMessageDraft calls to a chat: ``draft_id``, ``text`` (parsed),
        ``entities``, ``parse_mode``, ``message_thread_id``, ``time``, ``monotonic``."""
        with self._lock:
            return [dict(d) for d in self._drafts.get(_chat_key(chat_id), [])]

    def reactions(self, chat_id, message_id: int) -> list[str]:
        """The bot's current reaction emoji on a message (``[]`` when none or removed)."""
        with self._lock:
            entry = self._reactions.get((_chat_key(chat_id), int(message_id)))
            return [r.get("emoji") or r.get("custom_emoji_id") for r in entry["current"]] \
                if entry else []

    def reaction_history(self, chat_id, message_id: int) -> list[dict]:
        """Accepted setMessageReaction calls on a message: ``reaction`` (ReactionType list),
        ``is_big``, ``time``, ``monotonic``."""
        with self._lock:
            entry = self._reactions.get((_chat_key(chat_id), int(message_id)))
            return [dict(h) for h in entry["history"]] if entry else []

    @property
    def callback_queries(self) -> list[dict]:
        """Pressed buttons: ``id``, ``chat_id``, ``message_id``, ``data``, ``user_id``,
        ``time``, ``monotonic``, ``answered``."""
        with self._lock:
            return [dict(q) for q in self._queries.values()]

    @property
    def callback_answers(self) -> list[dict]:
        """Accepted answerCallbackQuery calls: ``callback_query_id``, ``text``,
        ``show_alert``, ``url``, ``cache_time``, ``data`` (of the query), ``after`` (s since
        the press), ``time``, ``monotonic``."""
        with self._lock:
            return [dict(a) for a in self._answers]

    def unanswered_callbacks(self) -> list[dict]:
        """Pressed queries never answered (in time): ``[]`` when every press was answered."""
        return [q for q in self.callback_queries if not q["answered"]]

    def wait_callback_answers(self, count: int, timeout: float = 5.0) -> list[dict]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._answers) >= count, timeout):
                raise TimeoutError(f"fake_telegram: {len(self._answers)} of {count} callback "
                                   f"answers after {timeout} s")
            return [dict(a) for a in self._answers]

    @property
    def violations(self) -> int:
        """Counted calls a client made to a chat inside an open retry_after window (a 429's,
        from ``flood_limits`` or a ``rate_limit`` fault): what a well-behaved client keeps
        at 0."""
        with self._lock:
            return len(self._violations)

    def flood_stats(self) -> dict:
        """``enabled``, ``config``, ``violations`` (count), ``violation_calls`` (``method``,
        ``chat_id``, ``remaining`` s, ``monotonic``), ``limited`` (429s the limits gave),
        ``windows`` (chat -> seconds still shut)."""
        now = time.monotonic()
        with self._lock:
            return {"enabled": self._flood is not None, "config": dict(self._flood or {}),
                    "violations": len(self._violations),
                    "violation_calls": [dict(v) for v in self._violations],
                    "limited": self._flood_limited,
                    "windows": {str(c): round(u - now, 3) for c, u in self._windows.items()
                                if u > now}}

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
                    "files": {fid: {k: v for k, v in f.items() if k != "data"}
                              for fid, f in self._files.items()},
                    "download_faults": [dict(f) for f in self._dl_faults],
                    "chat_actions": {str(k): v for k, v in self._actions.items()},
                    "drafts": {str(k): [dict(d) for d in v] for k, v in self._drafts.items()},
                    "callback_queries": [dict(q) for q in self._queries.values()],
                    "callback_answers": [dict(a) for a in self._answers],
                    "topics": {str(k): sorted(v) for k, v in self._topics.items()},
                    "strict_topics": self.strict_topics,
                    "disabled_methods": sorted(self._disabled),
                    "flood": dict(self._flood) if self._flood else None,
                    "violations": len(self._violations),
                    "sent": {str(k): [m["text"] for m in v] for k, v in self._sent.items()}}

    # -- used by the handler -------------------------------------------------

    def _record(self, record: dict):
        with self._lock:
            self._requests.append(record)
            self._lock.notify_all()

    def _finish(self, record: dict, status: int):
        with self._lock:
            record["status"] = status

    def _record_download(self, record: dict):
        with self._lock:
            self._downloads.append(record)
            self._lock.notify_all()

    def _count_download(self, record: dict, sent: int):
        with self._lock:
            record["bytes"] = sent

    def _take_download_fault(self):
        with self._lock:
            if not self._dl_faults:
                return None
            f = self._dl_faults[0]
            f["count"] -= 1
            if f["count"] <= 0:
                self._dl_faults.pop(0)
            return dict(f)

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

    def _find_sent(self, cid, mid: int) -> dict | None:
        """The bot's message (under the lock)."""
        for message in self._sent.get(cid, []):
            if message["message_id"] == mid:
                return message
        return None

    def _find_message(self, cid, mid: int) -> dict | None:
        """A message of the chat, the bot's or a user's (under the lock)."""
        return self._find_sent(cid, mid) or self._inbox.get(cid, {}).get(mid)

    def _version(self, cid, message: dict, method: str, parse_mode):
        """Record a state of a bot message (under the lock)."""
        versions = self._versions.setdefault((cid, message["message_id"]), [])
        now = time.monotonic()
        versions.append({
            "message_id": message["message_id"], "method": method,
            "text": message.get("text", message.get("caption", "")),
            "entities": list(message.get("entities", message.get("caption_entities", []))),
            "parse_mode": parse_mode or None,
            "reply_markup": message.get("reply_markup"),
            "message_thread_id": message.get("message_thread_id"),
            "time": time.time(), "monotonic": now,
            "since_previous": round(now - versions[-1]["monotonic"], 6) if versions else None})

    def _thread_id(self, params, cid) -> int | None:
        """``message_thread_id``: None when absent; 400 for an unknown topic when strict."""
        tid = _int(params, "message_thread_id", 0)
        if not tid:
            return None
        with self._lock:
            if self.strict_topics and tid not in self._topics.get(cid, set()):
                raise bad_request("message thread not found")
        return tid

    def _is_group(self, cid) -> bool:
        chat = self._chats.get(cid) or {}
        return (isinstance(cid, int) and cid < 0) or chat.get("type") in ("group",
                                                                            "supergroup")

    def _flood_window(self, method: str, params: dict, record: dict):
        """A counted call inside its chat's open retry_after window: a violation (and, when
        the limits are on, 429 again with the time left)."""
        if method not in FLOOD_METHODS or params.get("chat_id") in (None, ""):
            return
        try:
            cid = _chat_key(params["chat_id"])
        except ApiError:
            return
        now = time.monotonic()
        with self._lock:
            until = self._windows.get(cid)
            if until is None or now >= until:
                return
            left = until - now
            self._violations.append({"method": record.get("method"), "chat_id": cid,
                                     "remaining": round(left, 3), "monotonic": now})
            record["flood_violation"] = True
            if self._flood is not None:
                ra = max(1, math.ceil(left))
                raise ApiError(429, f"Too Many Requests: retry after {ra}", {"retry_after": ra})

    def _open_window(self, method: str, params: dict, retry_after: int):
        if method not in FLOOD_METHODS or params.get("chat_id") in (None, ""):
            return
        try:
            cid = _chat_key(params["chat_id"])
        except ApiError:
            return
        with self._lock:
            self._windows[cid] = time.monotonic() + retry_after

    def _flood_take(self, method: str, params: dict, record: dict):
        """Spend one call of the chat's budget, or 429 and shut the chat's window."""
        if method not in FLOOD_METHODS or params.get("chat_id") in (None, ""):
            return
        try:
            cid = _chat_key(params["chat_id"])
        except ApiError:
            return
        now = time.monotonic()
        with self._lock:
            cfg = self._flood
            if cfg is None:
                return
            st = self._flood_state.setdefault(cid, {"tokens": float(cfg["burst"]), "last": now,
                                                    "minute": deque()})
            rate = cfg["per_chat_per_s"]
            st["tokens"] = min(float(cfg["burst"]), st["tokens"] + (now - st["last"]) * rate)
            st["last"] = now
            wait = 0.0
            if st["tokens"] < 1:
                wait = (1 - st["tokens"]) / rate if rate > 0 else 60.0
            if cfg["group_per_min"] is not None and self._is_group(cid):
                while st["minute"] and st["minute"][0] <= now - 60:
                    st["minute"].popleft()
                if len(st["minute"]) >= cfg["group_per_min"]:
                    wait = max(wait, st["minute"][0] + 60 - now)
            glob = self._flood_global
            if cfg["global_per_s"] is not None:
                while glob and glob[0] <= now - 1:
                    glob.popleft()
                if len(glob) >= cfg["global_per_s"]:
                    wait = max(wait, glob[0] + 1 - now)
            if wait > 0:
                ra = cfg["retry_after"] or max(1, math.ceil(wait))
                self._windows[cid] = now + ra
                self._flood_limited += 1
                record["flood_limited"] = True
                raise ApiError(429, f"Too Many Requests: retry after {ra}", {"retry_after": ra})
            st["tokens"] -= 1
            st["minute"].append(now)
            glob.append(now)

    def _call(self, method: str, params: dict, record: dict):
        handler = _METHODS.get(method)
        with self._lock:
            disabled = method in self._disabled
        if handler is None or disabled:
            raise ApiError(404, "Not Found")
        self._flood_window(method, params, record)
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
                self._open_window(method, params, ra)
                raise ApiError(429, f"Too Many Requests: retry after {ra}", {"retry_after": ra})
            if kind == "server_error":
                error = ApiError(fault["status"], REASONS.get(fault["status"], "Server Error"))
                error.html = fault["html"]
                raise error
            if kind == "drop_after":
                handler(self, params)  # Telegram took it; the answer is lost on the way
            raise _Drop()
        self._flood_take(method, params, record)
        result = handler(self, params)
        if (method == "sendmessage" or method in _SENDS) and self.after_send is not None:
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
                ready = [u for u in self._updates if _wanted(u, wanted)]
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
    def _format(params, allow_empty: bool = False) -> tuple[str, list[dict]]:
        text = params.get("text")
        if text is None:
            if allow_empty:
                return "", []
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
        if not text and not allow_empty:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        return text, entities

    def _outgoing(self, params, cid) -> dict:
        """What sendMessage and send* add to the Message: ``message_thread_id`` +
        ``is_topic_message`` and an inline ``reply_markup``; the markup as sent."""
        tid = self._thread_id(params, cid)
        markup = parse_reply_markup(params.get("reply_markup"))
        extra = {}
        if tid is not None:
            extra["message_thread_id"] = tid
            extra["is_topic_message"] = True
        if markup and "inline_keyboard" in markup:
            extra["reply_markup"] = markup
        return extra

    def _send_message(self, params):
        cid, chat = self._chat(params)
        text, entities = self._format(params)
        extra = self._outgoing(params, cid)
        with self._lock:
            mid = self._msg_ids.get(cid, 0) + 1
            self._msg_ids[cid] = mid
            message = {"message_id": mid, "from": self._bot_user(), "chat": chat,
                       "date": int(time.time()), "text": text}
            if "message_thread_id" in extra:
                message = {"message_id": mid, "message_thread_id": extra["message_thread_id"],
                           **{k: v for k, v in message.items() if k != "message_id"},
                           "is_topic_message": True}
            if entities:
                message["entities"] = entities
            if "reply_markup" in extra:
                message["reply_markup"] = extra["reply_markup"]
            reply = self._reply_to(params, cid)
            if reply is not None:
                message["reply_to_message"] = reply
            self._sent.setdefault(cid, []).append(message)
            self._version(cid, message, "sendMessage", params.get("parse_mode"))
            self._lock.notify_all()
            return json.loads(json.dumps(message))

    def _reply_to(self, params, cid) -> dict | None:
        """reply_parameters (Bot API 7.0) of a send (under the lock): the replied message
        without its own reply, or the Bot API's refusal when it is unknown and
        allow_sending_without_reply is not set."""
        rp = params.get("reply_parameters")
        if isinstance(rp, str):
            try:
                rp = json.loads(rp)
            except ValueError:
                raise bad_request("can't parse reply parameters JSON object")
        if rp is None:
            return None
        if not isinstance(rp, dict) or not isinstance(rp.get("message_id"), int):
            raise bad_request("message to be replied not found")
        quoted = self._find_sent(cid, rp["message_id"]) or self._find_message(cid, rp["message_id"])
        if quoted is None:
            if rp.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return {k: v for k, v in quoted.items() if k != "reply_to_message"}

    def _edited(self, cid, message: dict, method: str, parse_mode) -> dict:
        """Finish an accepted edit (under the lock)."""
        message["edit_date"] = int(time.time())
        self._version(cid, message, method, parse_mode)
        self._lock.notify_all()
        return json.loads(json.dumps(message))

    def _sent_to_edit(self, cid, mid) -> dict:
        """The bot's message mid in chat cid (under the lock), or the Bot API's refusal: a
        user's message can't be edited, an unknown one is not found."""
        message = self._find_sent(cid, mid)
        if message is None:
            if mid in self._inbox.get(cid, {}):
                raise bad_request("message can't be edited")
            raise bad_request("message to edit not found")
        return message

    def _message_to_edit(self, params) -> tuple:
        cid, _ = self._chat(params)
        mid = _int(params, "message_id")
        if mid is None:
            raise bad_request("message identifier is not specified")
        return cid, mid

    def _edit_message_text(self, params):
        cid, mid = self._message_to_edit(params)
        text, entities = self._format(params)
        markup = parse_reply_markup(params.get("reply_markup"), inline_only=True)
        with self._lock:
            message = self._sent_to_edit(cid, mid)
            if any(f in message for f in _MEDIA_FIELDS):
                raise bad_request("there is no text in the message to edit")
            if (message["text"] == text and message.get("entities", []) == entities
                    and message.get("reply_markup") == markup):
                raise bad_request(NOT_MODIFIED[len("Bad Request: "):])
            message["text"] = text
            message.pop("entities", None)
            if entities:
                message["entities"] = entities
            message.pop("reply_markup", None)  # an edit without reply_markup drops the keyboard
            if markup:
                message["reply_markup"] = markup
            return self._edited(cid, message, "editMessageText", params.get("parse_mode"))

    def _edit_message_caption(self, params):
        """editMessageCaption: ``caption`` (empty or absent: removed), ``parse_mode``,
        ``reply_markup`` (omitted: removed) of a media message; a text message: ``Bad Request:
        there is no caption in the message to edit``; over 1024 characters: ``message caption
        is too long``."""
        cid, mid = self._message_to_edit(params)
        caption, entities = self._format({"text": params.get("caption") or "",
                                          "parse_mode": params.get("parse_mode")},
                                         allow_empty=True)
        if utf16_len(caption) > 1024:
            raise bad_request("message caption is too long")
        markup = parse_reply_markup(params.get("reply_markup"), inline_only=True)
        with self._lock:
            message = self._sent_to_edit(cid, mid)
            if not any(f in message for f in _MEDIA_FIELDS):
                raise bad_request("there is no caption in the message to edit")
            if (message.get("caption", "") == caption
                    and message.get("caption_entities", []) == entities
                    and message.get("reply_markup") == markup):
                raise bad_request(NOT_MODIFIED[len("Bad Request: "):])
            for k in ("caption", "caption_entities", "reply_markup"):
                message.pop(k, None)
            if caption:
                message["caption"] = caption
                if entities:
                    message["caption_entities"] = entities
            message["text"] = caption
            if markup:
                message["reply_markup"] = markup
            return self._edited(cid, message, "editMessageCaption", params.get("parse_mode"))

    def _edit_message_reply_markup(self, params):
        cid, mid = self._message_to_edit(params)
        markup = parse_reply_markup(params.get("reply_markup"), inline_only=True)
        with self._lock:
            message = self._sent_to_edit(cid, mid)
            if message.get("reply_markup") == markup:
                raise bad_request(NOT_MODIFIED[len("Bad Request: "):])
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            last = self._versions.get((cid, mid), [{}])[-1].get("parse_mode")
            return self._edited(cid, message, "editMessageReplyMarkup", last)

    def _send_message_draft(self, params):
        cid, chat = self._chat(params)
        if chat.get("type", "private") != "private" or (isinstance(cid, int) and cid < 0):
            raise bad_request("TEXTDRAFT_PEER_INVALID")
        draft_id = _int(params, "draft_id", 0)
        if not draft_id:
            raise bad_request("DRAFT_ID_INVALID")
        tid = self._thread_id(params, cid)
        text, entities = self._format(params, allow_empty=True)
        with self._lock:
            self._drafts.setdefault(cid, []).append({
                "draft_id": draft_id, "text": text, "entities": entities,
                "parse_mode": params.get("parse_mode") or None, "message_thread_id": tid,
                "time": time.time(), "monotonic": time.monotonic()})
            self._lock.notify_all()
        return True

    def _answer_callback_query(self, params):
        qid = str(params.get("callback_query_id") or "")
        text = params.get("text")
        now = time.monotonic()
        with self._lock:
            query = self._queries.get(qid)
            if (query is None or query["answered"]
                    or now - query["monotonic"] > self.callback_timeout):
                raise bad_request(QUERY_INVALID)
            if text is not None and len(str(text)) > 200:
                raise bad_request("MESSAGE_TOO_LONG")
            query["answered"] = True
            self._answers.append({
                "callback_query_id": qid, "text": None if text is None else str(text),
                "show_alert": _bool(params, "show_alert"), "url": params.get("url"),
                "cache_time": _int(params, "cache_time"), "data": query["data"],
                "after": round(now - query["monotonic"], 6), "time": time.time(),
                "monotonic": now})
            self._lock.notify_all()
        return True

    def _set_message_reaction(self, params):
        reaction = _reaction_list(params)
        cid, _ = self._chat(params)
        mid = _int(params, "message_id", 0)
        with self._lock:
            if mid <= 0 or self._find_message(cid, mid) is None:
                raise bad_request("message to react not found")
        for r in reaction:
            if r["type"] != "emoji" or r["emoji"] not in REACTION_EMOJI:
                raise bad_request("REACTION_INVALID")
        if len(reaction) > 1:
            raise bad_request("REACTIONS_TOO_MANY")
        with self._lock:
            entry = self._reactions.setdefault((cid, mid), {"current": [], "history": []})
            entry["current"] = reaction
            entry["history"].append({"reaction": reaction, "is_big": _bool(params, "is_big"),
                                     "time": time.time(), "monotonic": time.monotonic()})
            self._lock.notify_all()
        return True

    def _get_file(self, params):
        file_id = params.get("file_id")
        if file_id is None or file_id == "":
            raise bad_request("file_id not specified")
        with self._lock:
            entry = self._files.get(str(file_id))
            if entry is None:
                raise bad_request("invalid file_id")
            if entry["file_size"] > MAX_DOWNLOAD:
                raise bad_request("file is too big")
            return self._file_object(entry)

    @staticmethod
    def _caption(params) -> tuple[str, list[dict]]:
        """A caption parsed like a message text: 0-1024 UTF-16 units after entities."""
        caption = params.get("caption")
        if caption is None or caption == "":
            return "", []
        caption = str(caption)
        mode = params.get("parse_mode") or ""
        entities: list[dict] = []
        if mode.lower() == "html":
            try:
                caption, entities = parse_html(caption)
            except ParseError as e:
                raise bad_request(f"can't parse entities: {e}") from None  # noqa: RSE102
        elif mode.lower() not in ("", "markdown", "markdownv2"):
            raise bad_request("unsupported parse_mode")
        caption, entities = _trim(caption, entities)
        if utf16_len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return caption, entities

    def _send_file(self, params, api_method: str):
        """sendVoice / sendAudio / sendDocument / sendPhoto."""
        method, field = _SENDS[api_method]
        cid, chat = self._chat(params)
        extra = self._outgoing(params, cid)
        value = params.get(field)
        if value is None or value == "":
            raise bad_request(f"there is no {field} in the request")
        url = stored = None
        if isinstance(value, _Upload):
            source, data = "upload", value.data
            filename, ctype = value.get("filename") or "", value.content_type
            if not data:
                raise bad_request("file must be non-empty")
            if len(data) > (MAX_PHOTO_UPLOAD if field == "photo" else MAX_UPLOAD):
                raise ApiError(413, TOO_LARGE)
        elif isinstance(value, str) and re.match(r"(?i)https?://", value):
            source, data, filename, ctype, url = "url", None, value.rsplit("/", 1)[-1], None, value
        else:
            stored = self.file(str(value)) if isinstance(value, str) else None
            if stored is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            if stored["kind"] != field and not (field == "document"
                                                and stored["kind"] != "photo"):
                raise bad_request("type of file mismatch")
            source, data, filename, ctype = "file_id", stored["data"], "", None
        caption, entities = self._caption(params)
        fmt = audio_format(data) if field in ("voice", "audio") else None
        image = image_info(data) if field == "photo" and data is not None else None
        if field == "photo" and source == "upload":
            if image is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            if image[1] + image[2] > 10000 or min(image[1], image[2]) < 1 or max(
                    image[1], image[2]) > 20 * min(image[1], image[2]):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
        shown_as = field
        if field == "voice" and source == "upload" and fmt is None:
            shown_as = "document"  # Telegram: not OGG/Opus, MP3 or M4A -> a file
        with self._lock:
            mid = self._msg_ids.get(cid, 0) + 1
            self._msg_ids[cid] = mid
        uid = f"{cid}_{mid}"
        prefix = _FILE_KINDS[shown_as][0]
        size = len(data) if data is not None else 0
        if stored is not None and stored["kind"] == shown_as:
            obj = {"file_id": stored["file_id"], "file_unique_id": stored["file_unique_id"],
                   "file_size": stored["file_size"]}
        else:
            obj = {"file_id": f"{prefix}{uid}{shown_as[:3]}", "file_unique_id": f"AgAD{uid}o",
                   "file_size": size}
        mimes = {"ogg": "audio/ogg", "mp3": "audio/mpeg", "m4a": "audio/mp4"}
        if shown_as == "voice":
            obj = {"duration": _int(params, "duration", 0), "mime_type": mimes.get(fmt,
                                                                                 "audio/ogg"),
                   **obj}
        elif shown_as == "audio":
            obj = {"duration": _int(params, "duration", 0),
                   **({"performer": str(params["performer"])} if params.get("performer")
                      else {}),
                   **({"title": str(params["title"])} if params.get("title") else {}),
                   **({"file_name": filename} if filename else {}),
                   "mime_type": mimes.get(fmt) or (ctype or "audio/mpeg").split(";")[0], **obj}
        elif shown_as == "document":
            ctype_base = (ctype or "").split(";")[0].strip().lower()
            mime = (mimetypes.guess_type(filename)[0] if filename else None) or (
                ctype_base if ctype_base not in ("", "application/octet-stream") else None)
            obj = {**({"file_name": filename} if filename else {}),
                   "mime_type": mime or "application/octet-stream", **obj}
        if stored is None or stored["kind"] != shown_as:
            if shown_as == "photo":
                w, h = (image[1], image[2]) if image else (800, 600)
                sizes = []
                for limit in (90, 320, 800, 1280):
                    if max(w, h) > limit:
                        k = limit / max(w, h)
                        sizes.append((max(int(w * k), 1), max(int(h * k), 1)))
                k = min(1.0, 2560 / max(w, h))
                sizes.append((max(int(w * k), 1), max(int(h * k), 1)))
                obj = []
                for i, (sw, sh) in enumerate(sizes):
                    last = i == len(sizes) - 1
                    fsize = size if last else max(size * sw * sh // (w * h), 1)
                    ps = {"file_id": f"{prefix}{uid}s{sw}", "file_unique_id": f"AQAD{uid}{sw}",
                          "file_size": fsize, "width": sw, "height": sh}
                    self.add_file(ps["file_id"], data if last and data is not None else None,
                                  file_unique_id=ps["file_unique_id"], size=fsize, kind="photo")
                    obj.append(ps)
            else:
                self._register(obj, shown_as, data if data is not None else b"")
        elif shown_as == "photo":
            obj = [{**obj, "width": 800, "height": 600}]
        message = {"message_id": mid, "from": self._bot_user(), "chat": chat,
                   "date": int(time.time()), shown_as: obj}
        if "message_thread_id" in extra:
            message = {"message_id": mid, "message_thread_id": extra["message_thread_id"],
                       **{k: v for k, v in message.items() if k != "message_id"},
                       "is_topic_message": True}
        if caption:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        if "reply_markup" in extra:
            message["reply_markup"] = extra["reply_markup"]
        record = {"method": method, "field": field, "source": source, "filename": filename,
                  "content_type": ctype, "data": data, "size": None if data is None else size,
                  "caption": caption, "shown_as": shown_as, "format": fmt,
                  "message_id": mid, "file_id": (obj[-1] if isinstance(obj, list)
                                                 else obj)["file_id"],
                  "url": url, "params": {k: v for k, v in params.items() if k != field}}
        with self._lock:
            self._sent.setdefault(cid, []).append({**message, "text": caption})
            self._version(cid, self._sent[cid][-1], method, params.get("parse_mode"))
            self._files_sent.setdefault(cid, []).append(record)
            self._lock.notify_all()
        return message

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
    "getme": FakeTelegram._get_me,
    "getupdates": FakeTelegram._get_updates,
    "deletewebhook": FakeTelegram._delete_webhook,
    "getwebhookinfo": FakeTelegram._get_webhook_info,
    "setmycommands": FakeTelegram._set_my_commands,
    "getmycommands": FakeTelegram._get_my_commands,
    "sendmessage": FakeTelegram._send_message,
    "editmessagetext": FakeTelegram._edit_message_text,
    "sendchataction": FakeTelegram._send_chat_action,
    "editmessagereplymarkup": FakeTelegram._edit_message_reply_markup,
    "editmessagecaption": FakeTelegram._edit_message_caption,
    "sendmessagedraft": FakeTelegram._send_message_draft,
    "answercallbackquery": FakeTelegram._answer_callback_query,
    "setmessagereaction": FakeTelegram._set_message_reaction,
    "getfile": FakeTelegram._get_file,
    "sendvoice": lambda self, params: self._send_file(params, "sendvoice"),
    "sendaudio": lambda self, params: self._send_file(params, "sendaudio"),
    "senddocument": lambda self, params: self._send_file(params, "senddocument"),
    "sendphoto": lambda self, params: self._send_file(params, "sendphoto"),
}


# ---------------------------------------------------------------------------
# Process mode
# ---------------------------------------------------------------------------

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
    serve_until_signal(fake, fake.url, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
