"""The fake Telegram Bot API must be faithful before hermetic's bot is tested against it.

Everything goes over real HTTP on loopback with urllib only. Long polls are only asserted to
return (empty or not), never timed tightly.
"""

import base64
import json
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

TESTS_DIR = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS_DIR))

from conftest import SLOW, wait_port_file  # noqa: E402
from fakes.fake_telegram import (  # noqa: E402
    CONFLICT_POLL, CONFLICT_WEBHOOK, FakeTelegram, parse_html,
)

SCRIPT = TESTS_DIR / "fakes" / "fake_telegram.py"
TOKEN = "424242:AAtestTOKEN"


# -- helpers ----------------------------------------------------------------

def http(url, data=None, content_type=None, timeout=10):
    """(status, parsed JSON body) ; HTTP errors are answers."""
    timeout *= SLOW  # a 50 MB upload on a busy or slow machine
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def api(tg, method, how="json", token=None, http_timeout=60, **params):
    base = f"{tg.url}/bot{token or tg.token}/{method}"
    if how == "json":
        return http(base, json.dumps(params).encode(), "application/json", http_timeout)
    if how == "form":
        enc = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in params.items()}
        return http(base, urllib.parse.urlencode(enc).encode(),
                    "application/x-www-form-urlencoded", http_timeout)
    query = urllib.parse.urlencode(
        {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in params.items()})
    return http(base + ("?" + query if query else ""), timeout=http_timeout)


def ok(answer):
    status, body = answer
    assert status == 200 and body["ok"] is True, answer
    return body["result"]


def err(answer, code, description):
    status, body = answer
    assert status == code, answer
    assert body == {"ok": False, "error_code": code, "description": description}, body


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as fake:
        yield fake


# -- envelope, token, methods ---------------------------------------------------

def test_get_me_in_every_request_style(tg):
    for how in ("json", "form", "get"):
        me = ok(api(tg, "getMe", how))
        assert me["id"] == 424242 and me["is_bot"] is True
        assert me["username"] == "hermetic_test_bot"
    assert ok(api(tg, "GETME"))["id"] == 424242  # method names are case-insensitive
    assert [r["http_method"] for r in tg.calls("getme")] == ["POST", "POST", "GET", "POST"]


def test_multipart_chunked_and_expect_100_continue_bodies(tg):
    tg.add_chat(5)
    boundary = "XyZ"
    parts = [("chat_id", "5"), ("text", "<b>multi é</b>"), ("parse_mode", "HTML")]
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in parts) + f"--{boundary}--\r\n"
    sent = ok(http(f"{tg.api_url}/sendMessage", body.encode(),
                   f"multipart/form-data; boundary={boundary}"))
    assert sent["text"] == "multi é" and sent["entities"][0]["length"] == 7
    # chunked body with Expect: 100-continue, as libcurl sends large POSTs
    payload = json.dumps({"chat_id": 5, "text": "x" * 3000}).encode()
    with socket.create_connection((tg.host, tg.port), timeout=10) as sock:
        sock.sendall(f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                     "Expect: 100-continue\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
        answer = b""
        while b'"ok":true' not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b'{"ok":true,"result":{' in answer
    assert tg.sent(5) == ["multi é", "x" * 3000]


def test_wrong_token_401_and_unknown_method_404(tg):
    err(api(tg, "getMe", token="424242:wrong"), 401, "Unauthorized")
    err(api(tg, "sendMessage", token="1:x", chat_id=1, text="hi"), 401, "Unauthorized")
    err(api(tg, "noSuchMethod"), 404, "Not Found")
    err(http(tg.url + "/"), 404, "Not Found")
    err(http(tg.url + "/getMe"), 404, "Not Found")
    assert [r["status"] for r in tg.requests] == [401, 401, 404, 404, 404]


# -- getUpdates -------------------------------------------------------------------

def test_long_poll_returns_at_once_when_an_update_is_queued(tg):
    update = tg.push_text("hello", chat_id=77, first_name="Bob", username="bob")
    got = ok(api(tg, "getUpdates", timeout=30))  # would hold 30 s if it waited
    assert got == [update]
    m = got[0]["message"]
    assert got[0]["update_id"] > 0 and m["message_id"] == 1 and m["text"] == "hello"
    assert m["from"] == {"id": 77, "is_bot": False, "first_name": "Bob", "username": "bob",
                         "language_code": "en"}
    assert m["chat"] == {"id": 77, "first_name": "Bob", "username": "bob", "type": "private"}
    assert isinstance(m["date"], int) and "entities" not in m


def test_long_poll_wakes_up_on_a_push_and_empties_after_the_timeout(tg):
    assert ok(api(tg, "getUpdates", timeout=1)) == []  # nothing queued: empty after ~1 s
    result = {}
    poller = threading.Thread(target=lambda: result.update(a=api(tg, "getUpdates", timeout=30)))
    poller.start()
    tg.wait_requests(2, method="getUpdates")
    time.sleep(0.1)
    tg.push_text("late")
    poller.join(20)
    assert not poller.is_alive()
    assert [u["message"]["text"] for u in ok(result["a"])] == ["late"]


def test_offset_confirms_and_limit(tg):
    ids = [tg.push_text(f"m{i}")["update_id"] for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [u["update_id"] for u in ok(api(tg, "getUpdates", limit=2))] == ids[:2]
    # not confirmed yet: the same again
    assert [u["update_id"] for u in ok(api(tg, "getUpdates"))] == ids
    assert [u["update_id"] for u in ok(api(tg, "getUpdates", "form", offset=ids[1]))] == ids[1:]
    assert [u["update_id"] for u in ok(api(tg, "getUpdates", "get", offset=ids[0]))] == ids[1:]
    assert ok(api(tg, "getUpdates", offset=ids[2] + 1)) == []
    assert tg.pending == []
    new = tg.push_text("m3")["update_id"]
    assert new > ids[2]
    assert [u["update_id"] for u in ok(api(tg, "getUpdates", offset=ids[0]))] == [new]


def test_negative_offset_and_allowed_updates(tg):
    ids = [tg.push_text(f"m{i}")["update_id"] for i in range(3)]
    assert [u["update_id"] for u in ok(api(tg, "getUpdates", offset=-1))] == ids[2:]
    assert [u["update_id"] for u in tg.pending] == ids[2:]
    tg.push_update({"callback_query": {"id": "1", "data": "x"}})
    assert len(ok(api(tg, "getUpdates", allowed_updates=["message"]))) == 1
    assert len(ok(api(tg, "getUpdates"))) == 1  # remembered, as Telegram does
    assert len(ok(api(tg, "getUpdates", "form", allowed_updates=[]))) == 2


def test_commands_carry_bot_command_entities(tg):
    m = tg.push_text("/start")["message"]
    assert m["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    m = tg.push_text("😀 /model@hermetic_test_bot gpt and /x")["message"]
    assert m["entities"] == [{"type": "bot_command", "offset": 3, "length": 24},
                             {"type": "bot_command", "offset": 36, "length": 2}]
    assert "entities" not in tg.push_text("a/b and http://x/y")["message"]


def test_media_updates(tg):
    voice = tg.push_voice(chat_id=5)["message"]
    assert voice["voice"]["mime_type"] == "audio/ogg" and voice["voice"]["file_id"]
    photo = tg.push_photo(chat_id=5, caption="/describe this")["message"]
    assert len(photo["photo"]) == 3 and photo["caption"] == "/describe this"
    assert photo["caption_entities"][0]["type"] == "bot_command"
    doc = tg.push_document(chat_id=5)["message"]
    assert doc["document"]["file_name"] and "text" not in doc
    assert [voice["message_id"], photo["message_id"], doc["message_id"]] == [1, 2, 3]


def test_second_poller_ends_the_first_with_409(tg):
    result = {}
    first = threading.Thread(target=lambda: result.update(a=api(tg, "getUpdates", timeout=30)))
    first.start()
    tg.wait_requests(1, method="getUpdates")
    time.sleep(0.1)
    second = api(tg, "getUpdates", timeout=0)
    first.join(20)
    err(result["a"], 409, CONFLICT_POLL)
    assert ok(second) == []


def test_injected_409_then_recovery(tg):
    tg.conflict(2)
    tg.push_text("kept")
    err(api(tg, "getUpdates"), 409, CONFLICT_POLL)
    assert ok(api(tg, "sendMessage", chat_id=1001, text="not affected"))
    err(api(tg, "getUpdates"), 409, CONFLICT_POLL)
    assert [u["message"]["text"] for u in ok(api(tg, "getUpdates"))] == ["kept"]


def test_webhook_conflict_and_delete_webhook_drop_pending(tg):
    tg.push_text("one")
    tg.set_webhook("https://example.com/hook")
    err(api(tg, "getUpdates"), 409, CONFLICT_WEBHOOK)
    assert ok(api(tg, "deleteWebhook")) is True
    assert len(ok(api(tg, "getUpdates"))) == 1  # kept without drop_pending_updates
    tg.push_text("two")
    assert ok(api(tg, "getWebhookInfo"))["pending_update_count"] == 2
    assert ok(api(tg, "deleteWebhook", "form", drop_pending_updates="true")) is True
    assert ok(api(tg, "getUpdates")) == [] and tg.pending == []


# -- sendMessage -------------------------------------------------------------------

def test_send_message_records_per_chat_with_increasing_ids(tg):
    tg.push_text("hi", chat_id=10)
    tg.push_text("hi", chat_id=20)
    a = ok(api(tg, "sendMessage", chat_id=10, text="first"))
    b = ok(api(tg, "sendMessage", "form", chat_id="10", text="second"))
    c = ok(api(tg, "sendMessage", "get", chat_id=20, text="other"))
    assert (a["message_id"], b["message_id"], c["message_id"]) == (2, 3, 2)
    assert a["from"]["is_bot"] is True and a["chat"]["id"] == 10 and a["text"] == "first"
    assert tg.sent(10) == ["first", "second"] and tg.sent(20) == ["other"]
    assert tg.wait_sent(10, 2, timeout=1) == ["first", "second"]
    with pytest.raises(TimeoutError):
        tg.wait_sent(20, 2, timeout=0.2)
    sm = tg.calls("sendMessage")
    assert sm[1]["params"] == {"chat_id": "10", "text": "second"}
    assert sm[0]["params"]["chat_id"] == 10 and sm[0]["time"] > 0


def test_send_message_errors(tg):
    tg.push_text("hi", chat_id=10)
    err(api(tg, "sendMessage", chat_id=999, text="x"), 400, "Bad Request: chat not found")
    err(api(tg, "sendMessage", text="x"), 400, "Bad Request: chat_id is empty")
    err(api(tg, "sendMessage", chat_id=10, text=""), 400, "Bad Request: message text is empty")
    err(api(tg, "sendMessage", chat_id=10), 400, "Bad Request: message text is empty")
    err(api(tg, "sendMessage", chat_id=10, text=" \n "), 400,
        "Bad Request: message text is empty")
    err(api(tg, "sendMessage", chat_id=10, text="<b></b>", parse_mode="HTML"), 400,
        "Bad Request: message text is empty")
    err(api(tg, "sendMessage", chat_id=10, text="x", parse_mode="BBCode"), 400,
        "Bad Request: unsupported parse_mode")
    err(api(tg, "sendMessage", chat_id=10, text="\udfdf"), 400,
        "Bad Request: strings must be encoded in UTF-8")
    tg.block(10)
    err(api(tg, "sendMessage", chat_id=10, text="x"), 403,
        "Forbidden: bot was blocked by the user")
    assert tg.sent(10) == []


def test_4096_utf16_code_units_after_entity_parsing(tg):
    tg.add_chat(1)
    emoji = "😀" * 2048                                       # 2048 chars, 4096 UTF-16 units
    assert ok(api(tg, "sendMessage", chat_id=1, text=emoji))["text"] == emoji
    err(api(tg, "sendMessage", chat_id=1, text=emoji + "a"), 400,
        "Bad Request: message is too long")
    err(api(tg, "sendMessage", chat_id=1, text="a" * 4097), 400,
        "Bad Request: message is too long")
    html = "<b>" + "a" * 4000 + "</b><i>" + "&lt;" * 96 + "</i>"  # tags and entities do not count
    sent = ok(api(tg, "sendMessage", chat_id=1, text=html, parse_mode="HTML"))
    assert len(sent["text"]) == 4096 and sent["text"].endswith("<<<")
    err(api(tg, "sendMessage", chat_id=1, text=html + "&amp;", parse_mode="HTML"), 400,
        "Bad Request: message is too long")
    assert len(tg.sent(1)) == 2


def test_good_html_gives_entities(tg):
    tg.add_chat(1)
    text = ('<b>bold</b> <STRONG>s</STRONG> <i>i</i><em>e</em> <u>u</u><ins>n</ins> '
            '<s>s</s><strike>t</strike><del>d</del> <tg-spoiler>x</tg-spoiler>'
            '<span class="tg-spoiler">y</span> <a href="https://example.com/?a=1&amp;b=2">l</a> '
            '<code>c</code> <pre><code class="language-python">print(1)</code></pre>'
            '<blockquote>q</blockquote> 1 &lt; 2 &gt; 0 &amp; &quot;ok&quot; &#128512; &#x41; '
            'AT&T &nbsp;')
    sent = ok(api(tg, "sendMessage", chat_id=1, text=text, parse_mode="HTML"))
    assert sent["text"] == ('bold s ie un std xy l c print(1)q 1 < 2 > 0 & "ok" 😀 A '
                            'AT&T &nbsp;')
    types = [e["type"] for e in sent["entities"]]
    assert types == ["bold", "bold", "italic", "italic", "underline", "underline",
                     "strikethrough", "strikethrough", "strikethrough", "spoiler", "spoiler",
                     "text_link", "code", "pre", "blockquote"]
    link = sent["entities"][11]
    assert link["url"] == "https://example.com/?a=1&b=2" and link["offset"] == 20
    pre = sent["entities"][13]
    assert pre["language"] == "python" and pre["length"] == 8
    # UTF-16 offsets: the emoji counts two
    assert parse_html("😀<b>x</b>")[1] == [{"type": "bold", "offset": 2, "length": 1}]


def test_html_parser_matches_telegram_on_edge_cases():
    assert parse_html("<a>telegram.org</a>") == ("telegram.org", [
        {"type": "text_link", "offset": 0, "length": 12, "url": "http://telegram.org/"}])
    assert parse_html("<a>telegram.org </a>") == ("telegram.org ", [])  # dropped, silently
    assert parse_html("<a href=telegram.org>x</a>")[1][0]["url"] == "http://telegram.org/"
    assert parse_html('<a href="https://t.dog?q">x</a>')[1][0]["url"] == "https://t.dog/?q"
    assert parse_html("<i>a</>&lt🏟") == ("a<🏟", [{"type": "italic", "offset": 0, "length": 1}])
    assert parse_html("&#12345678; &laquo;") == ("&#12345678; &laquo;", [])
    assert parse_html('<i aba = "x">a</i   >')[1] == [
        {"type": "italic", "offset": 0, "length": 1}]
    pre_code = [{"type": "pre", "offset": 0, "length": 1, "language": "fift"}]
    assert parse_html('<pre><code class="language-fift">x</code></pre>')[1] == pre_code
    assert parse_html('<code class="language-fift"><pre>x</pre></code>')[1] == pre_code
    assert [e["type"] for e in parse_html("<pre><code>x</code></pre>")[1]] == ["pre", "code"]
    assert [e["type"] for e in parse_html("<code><i><b> </b></i></code>")[1]] == [
        "code", "bold", "italic"]
    assert parse_html("<blockquote expandable>q</blockquote>")[1][0]["type"] == \
        "expandable_blockquote"


@pytest.mark.parametrize("text,why", [
    ("<br>", 'Unsupported start tag "br" at byte offset 0'),
    ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
    ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<b", "Unclosed start tag at byte offset 0"),
    ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("<a href>x</a>", 'Expected equal sign in declaration of an attribute of the tag "a" at '
                      "byte offset 0"),
    ("é<p>", 'Unsupported start tag "p" at byte offset 2'),
    ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    ('🏟 🏟&lt;<i aba="&lt;>', "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
    ("&#xDFDF;", "Text contains invalid Unicode characters after decoding HTML entities, "
                 "check for unmatched surrogate code units"),
])
def test_bad_html_is_refused_with_cant_parse_entities(tg, text, why):
    tg.add_chat(1)
    err(api(tg, "sendMessage", chat_id=1, text=text, parse_mode="HTML"), 400,
        f"Bad Request: can't parse entities: {why}")
    # without parse_mode the same text is plain and accepted verbatim
    assert ok(api(tg, "sendMessage", chat_id=1, text=text))["text"] == text.strip()


def test_429_with_retry_after_then_recovery(tg):
    tg.add_chat(1)
    tg.rate_limit(2, retry_after=7)
    for _ in range(2):
        status, body = api(tg, "sendMessage", chat_id=1, text="x")
        assert status == 429 and body == {"ok": False, "error_code": 429,
                                          "description": "Too Many Requests: retry after 7",
                                          "parameters": {"retry_after": 7}}
    assert ok(api(tg, "getMe"))  # other methods are not affected
    ok(api(tg, "sendMessage", chat_id=1, text="x"))
    assert tg.sent(1) == ["x"]


def test_server_errors_and_dropped_connections(tg):
    tg.server_error(1, status=502)
    tg.drop(1, method="getUpdates")
    err(api(tg, "getMe"), 502, "Bad Gateway")
    with pytest.raises((urllib.error.URLError, ConnectionError, http_client_errors())):
        api(tg, "getUpdates")
    assert ok(api(tg, "getUpdates")) == []
    tg.server_error(1, status=502, html=True)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{tg.api_url}/getMe", timeout=10)
    assert info.value.code == 502 and b"<title>502 Bad Gateway</title>" in info.value.read()
    assert [r["status"] for r in tg.requests] == [502, 0, 200, 502]


def http_client_errors():
    import http.client
    return http.client.HTTPException


def test_edit_message_text_and_chat_action(tg):
    tg.add_chat(3)
    mid = ok(api(tg, "sendMessage", chat_id=3, text="draft"))["message_id"]
    edited = ok(api(tg, "editMessageText", chat_id=3, message_id=mid, text="<b>final</b>",
                    parse_mode="HTML"))
    assert edited["text"] == "final" and "edit_date" in edited
    assert tg.sent(3) == ["final"]
    status, body = api(tg, "editMessageText", chat_id=3, message_id=mid, text="<b>final</b>",
                       parse_mode="HTML")
    assert status == 400 and body["description"].startswith(
        "Bad Request: message is not modified")
    err(api(tg, "editMessageText", chat_id=3, message_id=99, text="x"), 400,
        "Bad Request: message to edit not found")
    assert ok(api(tg, "sendChatAction", chat_id=3, action="typing")) is True
    err(api(tg, "sendChatAction", chat_id=3, action="dancing"), 400,
        "Bad Request: wrong parameter action in request")
    assert tg.chat_actions(3) == ["typing"]


def test_set_my_commands(tg):
    cmds = [{"command": "start", "description": "Start"}, {"command": "new", "description": "New"}]
    assert ok(api(tg, "setMyCommands", "form", commands=cmds)) is True
    assert tg.commands == cmds and ok(api(tg, "getMyCommands")) == cmds
    err(api(tg, "setMyCommands", commands=[{"command": "Bad-Cmd", "description": "x"}]), 400,
        "Bad Request: BOT_COMMAND_INVALID")
    err(api(tg, "setMyCommands", commands=[{"command": "ok", "description": ""}]), 400,
        "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
    assert tg.commands == cmds


def test_close_ends_a_held_long_poll():
    tg = FakeTelegram(token=TOKEN).start()
    result = {}

    def poll():
        try:
            result["a"] = api(tg, "getUpdates", timeout=30)
        except Exception as e:  # noqa: BLE001 (a dropped connection is the expected end)
            result["a"] = e
    t = threading.Thread(target=poll)
    t.start()
    tg.wait_requests(1)
    tg.close()
    t.join(10)
    assert not t.is_alive()


# -- as a separate process ----------------------------------------------------------

def start_process(tmp_path, *args):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--port", "0",
                             "--port-file", str(port_file), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, wait_port_file(proc, port_file, 10)


def test_process_mode_and_control_routes(tmp_path):
    proc, port = start_process(tmp_path, "--token", TOKEN)
    base = f"http://127.0.0.1:{port}"

    def post(path, body):
        return http(base + path, json.dumps(body).encode(), "application/json")

    class Remote:
        url, token = base, TOKEN
    try:
        assert ok(api(Remote, "getMe"))["id"] == 424242
        status, update = post("/_fake/message", {"chat_id": 9, "text": "/start"})
        assert status == 200 and update["message"]["entities"][0]["type"] == "bot_command"
        assert post("/_fake/media", {"kind": "voice", "chat_id": 9})[0] == 200
        got = ok(api(Remote, "getUpdates", timeout=5))
        assert [("text" in u["message"], "voice" in u["message"]) for u in got] == [
            (True, False), (False, True)]
        assert post("/_fake/fault", {"kind": "rate_limit", "retry_after": 2})[0] == 200
        assert api(Remote, "sendMessage", chat_id=9, text="x")[1]["parameters"] == {
            "retry_after": 2}
        assert post("/_fake/fault", {"kind": "conflict"})[0] == 200
        assert api(Remote, "getUpdates")[0] == 409
        assert post("/_fake/fault", {"kind": "bogus"})[0] == 400
        ok(api(Remote, "sendMessage", chat_id=9, text="<i>hello</i>", parse_mode="HTML"))
        status, body = http(base + "/_fake/wait_sent?chat_id=9&count=1&timeout=5")
        assert status == 200 and body["texts"] == ["hello"]
        assert http(base + "/_fake/wait_sent?chat_id=9&count=2&timeout=0.2")[0] == 408
        status, body = http(base + "/_fake/sent?chat_id=9")
        assert body["messages"][0]["entities"][0]["type"] == "italic"
        assert [r["method"] for r in http(base + "/_fake/requests")[1]] == [
            "getMe", "getUpdates", "sendMessage", "getUpdates", "sendMessage"]
        assert http(base + "/_fake/state")[1]["pending"]  # not confirmed yet
        assert post("/_fake/reset", {})[0] == 200
        assert http(base + "/_fake/requests")[1] == []
        err(api(Remote, "sendMessage", chat_id=9, text="x"), 400, "Bad Request: chat not found")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, errout = proc.communicate(timeout=10)
    assert proc.returncode == 0 and errout == ""
    assert out.startswith(f"listening on {base}")


# -- files: getFile, downloads, uploads -------------------------------------------

OGG = b"OggS\x00\x02" + bytes(200)
PNG_1x1 = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4"
                        "890000000d49444154789c6360000002000154a24f5d0000000049454e44ae"
                        "426082")


def multipart(fields, files):
    """(body, content type): ``fields`` name -> str, ``files`` name -> (filename, ctype, data)."""
    boundary = "----hermeticFakeBoundary7"
    out = b""
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    for name, (filename, ctype, data) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\n')
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        out += head.encode() + b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(tg, method, fields, files, token=None):
    body, ctype = multipart(fields, files)
    # the fake parses a 50 MB multipart body with the email package: 20 s on a slow VM, idle
    return http(f"{tg.url}/bot{token or tg.token}/{method}", body, ctype, timeout=30)


def download(url, headers=None):
    """(status, headers, body) of a GET; HTTP errors are answers."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_get_file_and_download_pushed_media(tg):
    voice = tg.push_voice(chat_id=5, data=OGG)["message"]["voice"]
    assert voice["file_size"] == len(OGG) and voice["mime_type"] == "audio/ogg"
    f = ok(api(tg, "getFile", file_id=voice["file_id"]))
    assert f == {"file_id": voice["file_id"], "file_unique_id": voice["file_unique_id"],
                 "file_size": len(OGG), "file_path": f["file_path"]}
    assert re.fullmatch(r"voice/file_\d+\.oga", f["file_path"])
    status, headers, body = download(f"{tg.url}/file/bot{tg.token}/{f['file_path']}")
    assert (status, body) == (200, OGG)
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Length"] == str(len(OGG))
    assert tg.calls("getFile")[0]["status"] == 200  # getFile is recorded like any method
    d = tg.downloads
    assert [(x["file_path"], x["status"], x["bytes"], x["size"]) for x in d] == [
        (f["file_path"], 200, len(OGG), len(OGG))]
    # without data: a stub of the reported size with the kind's magic
    doc = tg.push_document(chat_id=5)["message"]["document"]
    f = ok(api(tg, "getFile", file_id=doc["file_id"], how="get"))
    assert re.fullmatch(r"documents/file_\d+\.pdf", f["file_path"])
    body = download(f"{tg.url}/file/bot{tg.token}/{f['file_path']}")[2]
    assert len(body) == doc["file_size"] == 54321 and body.startswith(b"%PDF")


def test_photo_sizes_audio_and_video_note(tg):
    sizes = [b"\xff\xd8small", b"\xff\xd8" + bytes(500), b"\xff\xd8" + bytes(5000)]
    photo = tg.push_photo(chat_id=5, data=sizes)["message"]["photo"]
    assert [(p["width"], p["file_size"]) for p in photo] == [
        (90, len(sizes[0])), (320, len(sizes[1])), (800, len(sizes[2]))]
    for p, data in zip(photo, sizes):
        f = ok(api(tg, "getFile", file_id=p["file_id"]))
        assert f["file_path"].startswith("photos/") and f["file_path"].endswith(".jpg")
        assert download(f"{tg.url}/file/bot{tg.token}/{f['file_path']}")[2] == data
    photo = tg.push_photo(chat_id=5, data={1280: b"\xff\xd8big", 90: b"\xff\xd8s"})
    assert [p["width"] for p in photo["message"]["photo"]] == [90, 1280]
    audio = tg.push_audio(chat_id=5, data=b"ID3mp3", title="Song", performer="Ada")
    audio = audio["message"]["audio"]
    assert audio["mime_type"] == "audio/mpeg" and audio["title"] == "Song"
    assert audio["performer"] == "Ada" and audio["file_name"] == "audio.mp3"
    assert ok(api(tg, "getFile", file_id=audio["file_id"]))["file_path"].startswith("music/")
    note = tg.push_video_note(chat_id=5)["message"]["video_note"]
    assert note["length"] == 240 and note["duration"] and "mime_type" not in note
    f = ok(api(tg, "getFile", file_id=note["file_id"]))
    assert f["file_path"].startswith("video_notes/") and f["file_path"].endswith(".mp4")
    with pytest.raises(ValueError):
        tg.push_media("sticker", chat_id=5)


def test_get_file_errors_and_download_errors(tg):
    err(api(tg, "getFile", file_id="nope"), 400, "Bad Request: invalid file_id")
    err(api(tg, "getFile"), 400, "Bad Request: file_id not specified")
    # a file over 20 MB: Telegram refuses getFile for bots
    big = tg.push_voice(chat_id=5, file_size=20 * 1024 * 1024 + 1)["message"]["voice"]
    err(api(tg, "getFile", file_id=big["file_id"]), 400, "Bad Request: file is too big")
    at_cap = tg.add_file("cap", b"x", size=20 * 1024 * 1024)
    assert ok(api(tg, "getFile", file_id="cap"))["file_size"] == 20 * 1024 * 1024
    # size lies: getFile reports it, the download serves the real bytes
    tg.add_file("liar", b"y" * 300, file_path="documents/liar.bin", size=10)
    assert ok(api(tg, "getFile", file_id="liar"))["file_size"] == 10
    assert len(download(f"{tg.url}/file/bot{tg.token}/documents/liar.bin")[2]) == 300
    # wrong token, unknown path
    status, _, body = download(f"{tg.url}/file/bot1:wrong/{at_cap['file_path']}")
    assert status == 401 and json.loads(body) == {"ok": False, "error_code": 401,
                                                  "description": "Unauthorized"}
    status, _, body = download(f"{tg.url}/file/bot{tg.token}/voice/file_999.oga")
    assert status == 404 and json.loads(body)["description"] == "Not Found"
    assert [d["status"] for d in tg.downloads] == [200, 401, 404]
    assert not [r for r in tg.requests if r["path"].startswith("/file/")]  # not API calls


def test_download_range_truncate_slow_and_error(tg):
    data = bytes(range(256)) * 40
    tg.add_file("f1", data, file_path="documents/file_1.bin")
    url = f"{tg.url}/file/bot{tg.token}/documents/file_1.bin"
    status, headers, body = download(url, {"Range": "bytes=100-"})
    assert (status, body) == (206, data[100:])
    assert headers["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    assert download(url, {"Range": "bytes=0-9"})[2] == data[:10]
    assert download(url, {"Range": f"bytes={len(data)}-"})[0] == 416
    # truncated: the full Content-Length, 1000 bytes, then the connection closes
    tg.truncate_download(1, after=1000)
    with socket.create_connection((tg.host, tg.port), timeout=10) as sock:
        sock.sendall(f"GET /file/bot{tg.token}/documents/file_1.bin HTTP/1.1\r\n"
                     "Host: x\r\n\r\n".encode())
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(data)}".encode() in head and body == data[:1000]
    with pytest.raises(Exception):  # urllib sees an IncompleteRead
        tg.truncate_download(1)
        download(url)
    assert [d["fault"] for d in tg.downloads[-2:]] == ["truncate_download"] * 2
    assert tg.downloads[-1]["bytes"] == len(data) // 2
    tg.slow_download(1, chunk=4000, delay=0.05)
    t0 = time.monotonic()
    assert download(url)[2] == data and time.monotonic() - t0 >= 0.09
    tg.download_error(1, status=502)
    status, headers, body = download(url)
    assert status == 502 and b"502 Bad Gateway" in body
    assert download(url)[2] == data  # faults are used up
    assert [d["status"] for d in tg.downloads][-3:] == [200, 502, 200]


def test_send_voice_upload_and_files_sent(tg):
    tg.add_chat(7)
    msg = ok(upload(tg, "sendVoice", {"chat_id": "7", "caption": "<b>hi</b>",
                                      "parse_mode": "HTML", "duration": "4"},
                    {"voice": ("reply.ogg", "audio/ogg", OGG)}))
    assert msg["voice"]["duration"] == 4 and msg["voice"]["mime_type"] == "audio/ogg"
    assert msg["voice"]["file_size"] == len(OGG) and "text" not in msg
    assert msg["caption"] == "hi" and msg["caption_entities"][0]["type"] == "bold"
    sent = tg.files_sent(7)
    assert len(sent) == 1 and sent[0]["data"] == OGG
    assert {k: sent[0][k] for k in ("method", "field", "filename", "content_type", "caption",
                                    "shown_as", "format", "source")} == {
        "method": "sendVoice", "field": "voice", "filename": "reply.ogg",
        "content_type": "audio/ogg", "caption": "hi", "shown_as": "voice", "format": "ogg",
        "source": "upload"}
    assert tg.sent(7) == ["hi"] and tg.messages(7)[0]["voice"] == msg["voice"]
    # the recorded params keep the old shape for a file part
    assert tg.calls("sendVoice")[0]["params"]["voice"] == {"filename": "reply.ogg",
                                                           "size": len(OGG)}
    # what was sent can be fetched back, like on Telegram
    f = ok(api(tg, "getFile", file_id=msg["voice"]["file_id"]))
    assert download(f"{tg.url}/file/bot{tg.token}/{f['file_path']}")[2] == OGG
    # a WAV is not a voice message: Telegram shows it as a file
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)
    msg = ok(upload(tg, "sendVoice", {"chat_id": "7"}, {"voice": ("a.wav", None, wav)}))
    assert "voice" not in msg and msg["document"]["file_name"] == "a.wav"
    assert tg.files_sent(7)[1]["shown_as"] == "document" and tg.sent(7) == ["hi", ""]
    # MP3 and M4A show as voice (Bot API: OGG/Opus, MP3 or M4A)
    msg = ok(upload(tg, "sendVoice", {"chat_id": "7"}, {"voice": ("a.mp3", None, b"ID3x")}))
    assert msg["voice"]["mime_type"] == "audio/mpeg" and tg.files_sent(7)[2]["format"] == "mp3"
    # an existing file_id instead of bytes
    msg = ok(api(tg, "sendVoice", chat_id=7, voice=msg["voice"]["file_id"]))
    assert tg.files_sent(7)[3]["source"] == "file_id" and tg.files_sent(7)[3]["data"] == b"ID3x"


def test_send_document_photo_audio(tg):
    tg.add_chat(7)
    csv = b"a,b\n1,2\n"
    msg = ok(upload(tg, "sendDocument", {"chat_id": "7"},
                    {"document": ("t.csv", "application/octet-stream", csv)}))
    assert msg["document"]["file_name"] == "t.csv" and msg["document"]["file_size"] == len(csv)
    assert msg["document"]["mime_type"] == "text/csv"  # from the name, as Telegram does
    msg = ok(upload(tg, "sendPhoto", {"chat_id": "7", "caption": "look"},
                    {"photo": ("p.png", "image/png", PNG_1x1)}))
    assert msg["photo"][-1]["width"] == 1 and msg["photo"][-1]["height"] == 1
    assert msg["caption"] == "look" and tg.files_sent(7)[1]["shown_as"] == "photo"
    big = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (2000).to_bytes(4, "big") * 2 + bytes(100)
    msg = ok(upload(tg, "sendPhoto", {"chat_id": "7"}, {"photo": ("b.png", None, big)}))
    assert [p["width"] for p in msg["photo"]] == [90, 320, 800, 1280, 2000]
    msg = ok(upload(tg, "sendAudio", {"chat_id": "7", "title": "T", "performer": "P"},
                    {"audio": ("s.mp3", "audio/mpeg", b"ID3song")}))
    assert msg["audio"]["title"] == "T" and msg["audio"]["file_name"] == "s.mp3"
    ok(api(tg, "sendDocument", chat_id=7, document="https://example.com/r.pdf"))
    assert tg.files_sent(7)[-1]["source"] == "url" and tg.files_sent(7)[-1]["data"] is None
    assert [m["message_id"] for m in tg.messages(7)] == [1, 2, 3, 4, 5]
    err(api(tg, "editMessageText", chat_id=7, message_id=1, text="x"), 400,
        "Bad Request: there is no text in the message to edit")


def test_upload_errors(tg):
    tg.add_chat(7)
    for method, field in (("sendVoice", "voice"), ("sendAudio", "audio"),
                          ("sendDocument", "document"), ("sendPhoto", "photo")):
        err(api(tg, method, chat_id=7), 400, f"Bad Request: there is no {field} in the request")
    err(upload(tg, "sendVoice", {}, {"voice": ("a.ogg", None, OGG)}), 400,
        "Bad Request: chat_id is empty")
    err(upload(tg, "sendVoice", {"chat_id": "8"}, {"voice": ("a.ogg", None, OGG)}), 400,
        "Bad Request: chat not found")
    err(upload(tg, "sendVoice", {"chat_id": "7"}, {"voice": ("a.ogg", None, b"")}), 400,
        "Bad Request: file must be non-empty")
    err(upload(tg, "sendVoice", {"chat_id": "7", "caption": "x" * 1025},
               {"voice": ("a.ogg", None, OGG)}), 400, "Bad Request: message caption is too long")
    ok(upload(tg, "sendVoice", {"chat_id": "7", "caption": "<b>" + "x" * 1024 + "</b>",
                                "parse_mode": "HTML"}, {"voice": ("a.ogg", None, OGG)}))
    err(upload(tg, "sendDocument", {"chat_id": "7", "caption": "<b>x", "parse_mode": "HTML"},
               {"document": ("a.txt", None, b"x")}), 400,
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"")
    err(upload(tg, "sendPhoto", {"chat_id": "7"}, {"photo": ("a.png", None, b"not an image")}),
        400, "Bad Request: IMAGE_PROCESS_FAILED")
    err(upload(tg, "sendPhoto", {"chat_id": "7"},
               {"photo": ("a.jpg", None, b"\xff\xd8" + bytes(10 * 1024 * 1024))}),
        413, "Request Entity Too Large")
    err(upload(tg, "sendDocument", {"chat_id": "7"},
               {"document": ("a.bin", None, bytes(50 * 1024 * 1024 + 1))}),
        413, "Request Entity Too Large")
    err(api(tg, "sendDocument", chat_id=7, document="no-such-id"), 400,
        "Bad Request: wrong file identifier/HTTP URL specified")
    photo = tg.push_photo(chat_id=7)["message"]["photo"][0]["file_id"]
    err(api(tg, "sendVoice", chat_id=7, voice=photo), 400, "Bad Request: type of file mismatch")
    tg.block(7)
    err(upload(tg, "sendVoice", {"chat_id": "7"}, {"voice": ("a.ogg", None, OGG)}), 403,
        "Forbidden: bot was blocked by the user")
    assert len(tg.files_sent(7)) == 1 and tg.sent(7) == ["x" * 1024]


def test_faults_and_after_send_apply_to_uploads(tg):
    tg.add_chat(7)
    tg.rate_limit(1, retry_after=2, method="sendVoice")
    status, body = upload(tg, "sendVoice", {"chat_id": "7"}, {"voice": ("a.ogg", None, OGG)})
    assert status == 429 and body["parameters"] == {"retry_after": 2}
    seen = []
    tg.after_send = seen.append
    ok(upload(tg, "sendDocument", {"chat_id": "7"}, {"document": ("a.txt", None, b"x")}))
    assert seen[0]["document"]["file_name"] == "a.txt"


def test_process_mode_file_routes(tmp_path):
    proc, port = start_process(tmp_path, "--token", TOKEN, "--chat", "9")
    base = f"http://127.0.0.1:{port}"

    def post(path, body):
        return http(base + path, json.dumps(body).encode(), "application/json")

    class Remote:
        url, token = base, TOKEN
    try:
        status, f = post("/_fake/file", {"file_id": "F1", "data_b64": "aGVsbG8=",
                                         "kind": "voice"})
        assert status == 200 and f["file_size"] == 5 and f["file_path"].startswith("voice/")
        assert ok(api(Remote, "getFile", file_id="F1")) == f
        assert download(f"{base}/file/bot{TOKEN}/{f['file_path']}")[2] == b"hello"
        status, update = post("/_fake/media", {"kind": "photo", "chat_id": 9,
                                               "data_b64": ["AA==", "AAA=", "AAAA"]})
        assert [p["file_size"] for p in update["message"]["photo"]] == [1, 2, 3]
        assert post("/_fake/fault", {"kind": "truncate_download", "after": 2})[0] == 200
        with pytest.raises(Exception):
            download(f"{base}/file/bot{TOKEN}/{f['file_path']}")
        status, downloads = http(base + "/_fake/downloads")
        assert [(d["status"], d["bytes"], d["fault"]) for d in downloads] == [
            (200, 5, None), (200, 2, "truncate_download")]
        ok(upload(Remote, "sendVoice", {"chat_id": "9", "caption": "c"},
                  {"voice": ("v.ogg", "audio/ogg", OGG)}))
        status, sent = http(base + "/_fake/files_sent?chat_id=9")
        assert status == 200 and sent[0]["data_b64"] == base64.b64encode(OGG).decode()
        assert sent[0]["shown_as"] == "voice" and sent[0]["caption"] == "c"
        assert http(base + "/_fake/files_sent")[1]["9"][0]["method"] == "sendVoice"
        assert post("/_fake/file", {"file_id": "F2", "data_b64": "!!"})[0] == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        out, errout = proc.communicate(timeout=10)
    assert proc.returncode == 0 and errout == ""


# -- live features: edits, drafts, keyboards, callbacks, reactions, topics, floods ------------

from fakes.fake_telegram import NOT_MODIFIED, QUERY_INVALID, REACTION_EMOJI  # noqa: E402

KEYBOARD = {"inline_keyboard": [[{"text": "Stop", "callback_data": "stop", "style": "danger"},
                                 {"text": "Docs", "url": "https://example.org/"}]]}


def test_edit_message_text_keeps_a_timed_history_and_the_final_parse_mode(tg):
    tg.add_chat(3)
    mid = ok(api(tg, "sendMessage", chat_id=3, text="…"))["message_id"]
    ok(api(tg, "editMessageText", chat_id=3, message_id=mid, text="Hel"))
    time.sleep(0.3)
    final = ok(api(tg, "editMessageText", "form", chat_id=3, message_id=mid,
                   text="<b>Hello</b>", parse_mode="HTML", reply_markup=KEYBOARD))
    assert final["text"] == "Hello" and final["reply_markup"] == KEYBOARD
    edits = tg.edits(3)
    assert [e["text"] for e in edits] == ["Hel", "Hello"]
    assert edits[1]["parse_mode"] == "HTML" and edits[1]["since_previous"] >= 0.3
    assert edits[1]["monotonic"] - edits[0]["monotonic"] >= 0.3
    assert [v["method"] for v in tg.versions(3, mid)] == [
        "sendMessage", "editMessageText", "editMessageText"]
    assert tg.sent(3) == ["Hello"] and len(tg.messages(3)) == 1
    status, body = http(f"{tg.url}/_fake/edits?chat_id=3&message_id={mid}")
    assert status == 200 and [e["text"] for e in body] == ["Hel", "Hello"]


def test_edit_message_text_errors(tg):
    tg.add_chat(3)
    mid = ok(api(tg, "sendMessage", chat_id=3, text="a", reply_markup=KEYBOARD))["message_id"]
    # same text and same keyboard: not modified (Telegram's full sentence)
    err(api(tg, "editMessageText", chat_id=3, message_id=mid, text="a", reply_markup=KEYBOARD),
        400, NOT_MODIFIED)
    # same text without reply_markup removes the keyboard: a change
    assert "reply_markup" not in ok(api(tg, "editMessageText", chat_id=3, message_id=mid,
                                        text="a"))
    err(api(tg, "editMessageText", chat_id=3, message_id=mid, text="a"), 400, NOT_MODIFIED)
    err(api(tg, "editMessageText", chat_id=3, message_id=mid, text="x" * 4097), 400,
        "Bad Request: message is too long")
    err(api(tg, "editMessageText", chat_id=3, message_id=mid, text="<b>x", parse_mode="HTML"),
        400, "Bad Request: can't parse entities: Can't find end tag corresponding to start "
        "tag \"b\"")
    err(api(tg, "editMessageText", chat_id=3, message_id=mid, text=""), 400,
        "Bad Request: message text is empty")
    err(api(tg, "editMessageText", chat_id=3, message_id=mid + 5, text="b"), 400,
        "Bad Request: message to edit not found")
    user_mid = tg.push_text("mine", chat_id=3)["message"]["message_id"]
    err(api(tg, "editMessageText", chat_id=3, message_id=user_mid, text="b"), 400,
        "Bad Request: message can't be edited")
    err(api(tg, "editMessageText", chat_id=3, message_id=mid, text="b",
            reply_markup={"keyboard": [["x"]]}), 400, "Bad Request: REPLY_MARKUP_INVALID")
    assert len(tg.edits(3, mid)) == 1 and tg.sent(3) == ["a"]


def test_edit_message_reply_markup(tg):
    tg.add_chat(3)
    mid = ok(api(tg, "sendMessage", chat_id=3, text="pick", reply_markup=KEYBOARD))[
        "message_id"]
    err(api(tg, "editMessageReplyMarkup", chat_id=3, message_id=mid, reply_markup=KEYBOARD),
        400, NOT_MODIFIED)
    removed = ok(api(tg, "editMessageReplyMarkup", chat_id=3, message_id=mid))
    assert "reply_markup" not in removed and removed["text"] == "pick"
    err(api(tg, "editMessageReplyMarkup", chat_id=3, message_id=mid), 400, NOT_MODIFIED)
    err(api(tg, "editMessageReplyMarkup", chat_id=3, message_id=99, reply_markup=KEYBOARD),
        400, "Bad Request: message to edit not found")
    assert [e["method"] for e in tg.edits(3)] == ["editMessageReplyMarkup"]


@pytest.mark.parametrize("markup, why", [
    ("{not json", "can't parse reply keyboard markup JSON object"),
    ([1], "object expected as reply markup"),
    ({"inline_keyboard": {"a": 1}},
     'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'),
    ({"inline_keyboard": [{"text": "a"}]},
     'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'),
    ({"inline_keyboard": [["a"]]},
     "can't parse inline keyboard button: InlineKeyboardButton must be an Object"),
    ({"inline_keyboard": [[{"callback_data": "a"}]]},
     'can\'t parse inline keyboard button: Can\'t find field "text"'),
    ({"inline_keyboard": [[{"text": 5, "callback_data": "a"}]]},
     'can\'t parse inline keyboard button: Field "text" must be of type String'),
    ({"inline_keyboard": [[{"text": "a"}]]},
     "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"),
    ({"inline_keyboard": [[{"text": "a", "callback_data": ""}]]},
     "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"),
    ({"inline_keyboard": [[{"text": "a", "callback_data": "x", "url": "https://a.b/"}]]},
     "can't parse inline keyboard button: exactly one of the optional fields must be used"),
    ({"inline_keyboard": [[{"text": "a", "callback_data": "é" * 33}]]}, "BUTTON_DATA_INVALID"),
    ({"inline_keyboard": [[{"text": "a", "callback_data": "x", "style": "red"}]]},
     "BUTTON_STYLE_INVALID"),
])
def test_inline_keyboard_is_checked(tg, markup, why):
    tg.add_chat(3)
    err(api(tg, "sendMessage", chat_id=3, text="x", reply_markup=markup), 400,
        f"Bad Request: {why}")
    assert tg.sent(3) == []


def test_inline_keyboard_limits_and_other_markups_are_accepted(tg):
    tg.add_chat(3)
    ok(api(tg, "sendMessage", chat_id=3, text="x", reply_markup={"inline_keyboard": [[
        {"text": "a", "callback_data": "é" * 32, "style": s}] for s in
        ("danger", "success", "primary")]}))  # 64 bytes: the maximum
    sent = ok(api(tg, "sendMessage", "form", chat_id=3, text="y",
                  reply_markup={"keyboard": [[{"text": "Yes"}]], "one_time_keyboard": True}))
    assert "reply_markup" not in sent  # only inline keyboards show on the Message
    assert tg.messages(3)[0]["reply_markup"]["inline_keyboard"][2][0]["style"] == "primary"


def test_press_queues_a_callback_query_interleaved_with_messages(tg):
    tg.add_chat(5)
    msg = ok(api(tg, "sendMessage", chat_id=5, text="Run it?", reply_markup=KEYBOARD))
    first = tg.push_text("before", chat_id=5)
    press = tg.press(5, msg["message_id"], "stop", user_id=5)
    after = tg.push_text("after", chat_id=5)
    got = ok(api(tg, "getUpdates", allowed_updates=["message", "callback_query"]))
    assert [u["update_id"] for u in got] == [first["update_id"], press["update_id"],
                                             after["update_id"]]
    assert [next(k for k in u if k != "update_id") for u in got] == [
        "message", "callback_query", "message"]
    q = got[1]["callback_query"]
    assert set(q) == {"id", "from", "message", "chat_instance", "data"} and q["data"] == "stop"
    assert q["from"]["id"] == 5 and q["message"]["message_id"] == msg["message_id"]
    assert q["message"]["chat"]["id"] == 5 and q["message"]["text"] == "Run it?"
    assert isinstance(q["id"], str) and isinstance(q["chat_instance"], str)
    # hermetic's default subscription (["message"]) does not see it
    assert [("message" in u) for u in ok(api(tg, "getUpdates",
                                             allowed_updates=["message"]))] == [True, True]
    with pytest.raises(ValueError):
        tg.press(5, msg["message_id"], "not-a-button")
    with pytest.raises(ValueError):
        tg.press(5, 999, "stop")


def test_answer_callback_query_and_its_errors(tg):
    tg.add_chat(5)
    mid = ok(api(tg, "sendMessage", chat_id=5, text="?", reply_markup=KEYBOARD))["message_id"]
    q1 = tg.press(5, mid, "stop")["callback_query"]["id"]
    q2 = tg.press(5, mid, "stop")["callback_query"]["id"]
    assert len(tg.unanswered_callbacks()) == 2
    err(api(tg, "answerCallbackQuery", callback_query_id=q1, text="x" * 201), 400,
        "Bad Request: MESSAGE_TOO_LONG")
    assert ok(api(tg, "answerCallbackQuery", callback_query_id=q1, text="Stopped",
                  show_alert=True)) is True
    err(api(tg, "answerCallbackQuery", callback_query_id=q1), 400, f"Bad Request: {QUERY_INVALID}")
    err(api(tg, "answerCallbackQuery", callback_query_id="12345"), 400,
        f"Bad Request: {QUERY_INVALID}")
    tg.callback_timeout = 0.2
    time.sleep(0.3)
    err(api(tg, "answerCallbackQuery", callback_query_id=q2), 400,
        f"Bad Request: {QUERY_INVALID}")
    [answer] = tg.callback_answers
    assert answer["callback_query_id"] == q1 and answer["text"] == "Stopped"
    assert answer["show_alert"] is True and answer["data"] == "stop" and answer["after"] >= 0
    assert [q["id"] for q in tg.unanswered_callbacks()] == [q2]
    status, body = http(f"{tg.url}/_fake/callbacks")
    assert [q["id"] for q in body["unanswered"]] == [q2] and len(body["answers"]) == 1


def test_send_message_draft(tg):
    tg.add_chat(7)
    assert ok(api(tg, "sendMessageDraft", chat_id=7, draft_id=1, text="")) is True
    assert ok(api(tg, "sendMessageDraft", "form", chat_id=7, draft_id=1,
                  text="<b>Thinking</b> hard", parse_mode="HTML")) is True
    drafts = tg.drafts(7)
    assert [(d["draft_id"], d["text"], d["parse_mode"]) for d in drafts] == [
        (1, "", None), (1, "Thinking hard", "HTML")]
    assert drafts[1]["entities"][0]["type"] == "bold"
    assert tg.sent(7) == [] and tg.messages(7) == []  # drafts are not messages
    err(api(tg, "sendMessageDraft", chat_id=7, draft_id=0, text="x"), 400,
        "Bad Request: DRAFT_ID_INVALID")
    err(api(tg, "sendMessageDraft", chat_id=7, text="x"), 400, "Bad Request: DRAFT_ID_INVALID")
    err(api(tg, "sendMessageDraft", chat_id=7, draft_id=2, text="x" * 4097), 400,
        "Bad Request: message is too long")
    err(api(tg, "sendMessageDraft", chat_id=7, draft_id=2, text="<x>", parse_mode="HTML"),
        400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0")
    tg.push_text("hi", chat_id=-100123, user_id=7, chat_type="supergroup")
    err(api(tg, "sendMessageDraft", chat_id=-100123, draft_id=1, text="x"), 400,
        "Bad Request: TEXTDRAFT_PEER_INVALID")
    assert len(tg.drafts(7)) == 2
    status, body = http(f"{tg.url}/_fake/drafts?chat_id=7")
    assert status == 200 and [d["text"] for d in body] == ["", "Thinking hard"]


def test_send_message_draft_can_be_unknown_like_an_older_server(tg):
    tg.add_chat(7)
    tg.disable_method("sendMessageDraft")
    err(api(tg, "sendMessageDraft", chat_id=7, draft_id=1, text="x"), 404, "Not Found")
    assert ok(api(tg, "sendMessage", chat_id=7, text="fallback"))
    status, _ = http(f"{tg.url}/_fake/methods", json.dumps(
        {"enable": ["sendMessageDraft"]}).encode(), "application/json")
    assert status == 200
    assert ok(api(tg, "sendMessageDraft", chat_id=7, draft_id=1, text="x")) is True


def test_rate_limit_fault_applies_to_edits_and_drafts(tg):
    tg.add_chat(7)
    mid = ok(api(tg, "sendMessage", chat_id=7, text="a"))["message_id"]
    tg.rate_limit(1, retry_after=4, method="editMessageText")
    tg.rate_limit(1, retry_after=5, method="sendMessageDraft")
    status, body = api(tg, "editMessageText", chat_id=7, message_id=mid, text="b")
    assert status == 429 and body["parameters"] == {"retry_after": 4}
    status, body = api(tg, "sendMessageDraft", chat_id=7, draft_id=3, text="b")
    assert status == 429 and body == {"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 5",
                                      "parameters": {"retry_after": 5}}
    # the second call came inside the first 429's window: counted, answered as usual
    assert tg.violations == 1 and tg.flood_stats()["violation_calls"][0]["method"] == \
        "sendMessageDraft"
    assert tg.sent(7) == ["a"] and tg.drafts(7) == []


def test_set_message_reaction(tg):
    tg.add_chat(9)
    user_mid = tg.push_text("hello", chat_id=9)["message"]["message_id"]
    bot_mid = ok(api(tg, "sendMessage", chat_id=9, text="hi"))["message_id"]
    assert len(REACTION_EMOJI) == 73 and len(set(REACTION_EMOJI)) == 73
    for emoji in REACTION_EMOJI:
        assert ok(api(tg, "setMessageReaction", chat_id=9, message_id=user_mid,
                      reaction=[{"type": "emoji", "emoji": emoji}])) is True
    assert tg.reactions(9, user_mid) == ["😡"] and len(tg.reaction_history(9, user_mid)) == 73
    ok(api(tg, "setMessageReaction", "form", chat_id=9, message_id=bot_mid,
           reaction=[{"type": "emoji", "emoji": "👀"}], is_big=True))
    assert tg.reactions(9, bot_mid) == ["👀"] and tg.reaction_history(9, bot_mid)[0]["is_big"]
    ok(api(tg, "setMessageReaction", chat_id=9, message_id=bot_mid, reaction=[]))
    assert tg.reactions(9, bot_mid) == [] and len(tg.reaction_history(9, bot_mid)) == 2
    status, body = http(f"{tg.url}/_fake/reactions?chat_id=9&message_id={bot_mid}")
    assert body["reactions"] == [] and body["history"][0]["reaction"][0]["emoji"] == "👀"


@pytest.mark.parametrize("reaction, message_id, why", [
    ([{"type": "emoji", "emoji": "❤️"}], 1, "REACTION_INVALID"),   # with U+FE0F: not listed
    ([{"type": "emoji", "emoji": "🦖"}], 1, "REACTION_INVALID"),
    ([{"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"}], 1,
     "REACTION_INVALID"),
    ([{"type": "emoji", "emoji": "👍"}, {"type": "emoji", "emoji": "🔥"}], 1,
     "REACTIONS_TOO_MANY"),
    ([{"type": "emoji", "emoji": "👍"}], 42, "message to react not found"),
    ([{"type": "paid"}], 1, "can't parse ReactionType: invalid reaction type specified"),
    ([{"emoji": "👍"}], 1, 'can\'t parse ReactionType: Can\'t find field "type"'),
    ([{"type": "emoji"}], 1, 'can\'t parse ReactionType: Can\'t find field "emoji"'),
    (["👍"], 1, "can't parse ReactionType: expected an Object"),
    ({"type": "emoji"}, 1, "expected an Array of ReactionType"),
])
def test_set_message_reaction_errors(tg, reaction, message_id, why):
    tg.push_text("hello", chat_id=9)
    err(api(tg, "setMessageReaction", chat_id=9, message_id=message_id, reaction=reaction),
        400, f"Bad Request: {why}")
    assert tg.reactions(9, 1) == []


def test_topics_threads_and_strict_topics(tg):
    update = tg.push_text("in a topic", chat_id=11, thread_id=77)
    m = update["message"]
    assert m["message_thread_id"] == 77 and m["is_topic_message"] is True
    sent = ok(api(tg, "sendMessage", chat_id=11, text="answer", message_thread_id=77))
    assert sent["message_thread_id"] == 77 and sent["is_topic_message"] is True
    ok(api(tg, "sendMessageDraft", chat_id=11, draft_id=5, text="…", message_thread_id=77))
    assert tg.drafts(11)[0]["message_thread_id"] == 77
    # an unknown topic is accepted while strict_topics is off (the default)
    assert ok(api(tg, "sendMessage", chat_id=11, text="x", message_thread_id=5))[
        "message_thread_id"] == 5
    status, _ = http(f"{tg.url}/_fake/topic", json.dumps(
        {"chat_id": 11, "thread_id": 78, "strict": True}).encode(), "application/json")
    assert status == 200 and tg.strict_topics
    for method, extra in (("sendMessage", {"text": "x"}),
                          ("sendMessageDraft", {"draft_id": 1, "text": "x"})):
        err(api(tg, method, chat_id=11, message_thread_id=5, **extra), 400,
            "Bad Request: message thread not found")
    ok(api(tg, "sendMessage", chat_id=11, text="y", message_thread_id=78))
    voice = tg.push_voice(chat_id=11, thread_id=78)["message"]
    assert voice["message_thread_id"] == 78 and voice["is_topic_message"] is True
    assert [m.get("message_thread_id") for m in tg.messages(11)] == [77, 5, 78]


def test_reply_to_message_and_quote_on_pushed_updates(tg):
    tg.add_chat(12)
    bot = ok(api(tg, "sendMessage", chat_id=12, text="Pods: web-1 crashed 😢 twice"))
    reply = tg.push_text("why?", chat_id=12, reply_to=bot["message_id"],
                         quote="crashed")["message"]
    quoted = reply["reply_to_message"]
    assert {k: quoted[k] for k in ("message_id", "from", "chat", "date", "text")} == {
        k: bot[k] for k in ("message_id", "from", "chat", "date", "text")}
    assert quoted["from"]["is_bot"] is True
    assert reply["quote"] == {"text": "crashed", "position": 12, "is_manual": True}
    # a quote after an astral emoji: positions count UTF-16 units (22 code points before)
    assert tg.push_text("?", chat_id=12, reply_to=bot["message_id"], quote="twice")[
        "message"]["quote"]["position"] == 23
    user = tg.push_text("first", chat_id=12)["message"]
    again = tg.push_text("second", chat_id=12, reply_to=user["message_id"])["message"]
    assert again["reply_to_message"]["text"] == "first" and "quote" not in again
    assert again["reply_to_message"]["from"]["is_bot"] is False
    nested = tg.push_text("third", chat_id=12, reply_to=again["message_id"])["message"]
    assert "reply_to_message" not in nested["reply_to_message"]  # one level, as Telegram
    with pytest.raises(ValueError):
        tg.push_text("x", chat_id=12, reply_to=999)
    with pytest.raises(ValueError):
        tg.push_text("x", chat_id=12, reply_to=bot["message_id"], quote="absent")
    status, body = http(f"{tg.url}/_fake/message", json.dumps(
        {"chat_id": 12, "text": "r", "reply_to": user["message_id"]}).encode(),
        "application/json")
    assert status == 200 and body["message"]["reply_to_message"]["text"] == "first"


def test_flood_limits_are_off_by_default(tg):
    tg.add_chat(13)
    for i in range(12):
        ok(api(tg, "sendMessage", chat_id=13, text=f"m{i}"))
    assert tg.violations == 0 and tg.flood_stats()["enabled"] is False


def test_flood_limits_per_chat_and_violations_inside_the_window(tg):
    tg.add_chat(13)
    tg.add_chat(14)
    tg.flood_limits(per_chat_per_s=1, burst=2)
    ok(api(tg, "sendMessage", chat_id=13, text="a"))
    ok(api(tg, "sendChatAction", chat_id=13, action="typing"))  # counted too
    status, body = api(tg, "sendMessage", chat_id=13, text="b")
    assert status == 429 and body == {"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}
    assert tg.violations == 0  # hitting the limit is not a violation, ignoring it is
    status, body = api(tg, "editMessageText", chat_id=13, message_id=1, text="c")
    assert status == 429 and body["parameters"]["retry_after"] == 1
    assert tg.violations == 1
    ok(api(tg, "sendMessage", chat_id=14, text="other chat"))  # per chat
    time.sleep(1.1)  # honour retry_after
    ok(api(tg, "sendMessage", chat_id=13, text="b"))
    stats = tg.flood_stats()
    assert stats["violations"] == 1 and stats["limited"] == 1
    assert stats["violation_calls"][0]["method"] == "editMessageText"
    assert [c["status"] for c in tg.calls("sendMessage")] == [200, 429, 200, 200]
    assert tg.sent(13) == ["a", "b"]


def test_flood_limits_fixed_retry_after_groups_and_http_control(tg):
    tg.push_text("hi", chat_id=-100500, user_id=1, chat_type="supergroup")
    status, stats = http(f"{tg.url}/_fake/flood", json.dumps(
        {"per_chat_per_s": 100, "burst": 100, "group_per_min": 3, "retry_after": 9}).encode(),
        "application/json")
    assert status == 200 and stats["enabled"] and stats["config"]["group_per_min"] == 3
    for i in range(3):
        ok(api(tg, "sendMessage", chat_id=-100500, text=f"g{i}"))
    status, body = api(tg, "sendMessage", chat_id=-100500, text="g3")
    assert status == 429 and body["parameters"] == {"retry_after": 9}
    status, body = api(tg, "setMessageReaction", chat_id=-100500, message_id=1,
                       reaction=[{"type": "emoji", "emoji": "👍"}])
    assert status == 429 and body["parameters"]["retry_after"] in (8, 9)
    status, stats = http(f"{tg.url}/_fake/flood")
    assert stats["violations"] == 1 and "-100500" in stats["windows"]
    ok(api(tg, "getMe"))  # not a counted method
    tg.flood_limits(enabled=False)
    assert tg.flood_stats()["enabled"] is False


def test_default_subscription_leaves_out_reaction_and_member_updates(tg):
    tg.push_update({"message_reaction": {"chat": {"id": 1}, "message_id": 1}})
    tg.push_update({"chat_member": {"chat": {"id": 1}}})
    cb = tg.push_update({"callback_query": {"id": "1", "data": "x"}})
    assert [u["update_id"] for u in ok(api(tg, "getUpdates"))] == [cb["update_id"]]
    assert len(ok(api(tg, "getUpdates", allowed_updates=["message_reaction"]))) == 1


def test_press_over_http(tg):
    tg.add_chat(5)
    mid = ok(api(tg, "sendMessage", chat_id=5, text="?", reply_markup=KEYBOARD))["message_id"]
    status, update = http(f"{tg.url}/_fake/press", json.dumps(
        {"chat_id": 5, "message_id": mid, "data": "stop", "user_id": 6}).encode(),
        "application/json")
    assert status == 200 and update["callback_query"]["from"]["id"] == 6
    assert ok(api(tg, "getUpdates", allowed_updates=["message", "callback_query"])) == [update]
    status, body = http(f"{tg.url}/_fake/press", json.dumps(
        {"chat_id": 5, "message_id": mid, "data": "nope"}).encode(), "application/json")
    assert status == 400 and "no button" in body["description"]
    assert http(f"{tg.url}/_fake/callbacks", json.dumps({"timeout": 30}).encode(),
                "application/json")[0] == 200 and tg.callback_timeout == 30
