"""Telegram media through `hermetic gateway` (issue 17): voice notes transcribed through the
router (/v1/audio/transcriptions, or an audio-capable chat model), photos as image parts or
described by auxiliary.vision, documents as text or PDF file parts, files out with send_file,
voice replies, the download caps (both sides of each kind's), a kill between download and transcription, the ledger and
the memory ceiling. Against the fake Bot API (getFile, file downloads, uploads), the chat fake
and the media fake (tests/fakes/)."""
import base64
import json
import os
import signal
import sqlite3
import time

import pytest

from agent_harness import fake  # noqa: F401
from conftest import SLOW
from fakes.fake_openai import text, tool_calls
from fakes.fake_openai_media import TRANSCRIPT, FakeOpenAIMedia, ok
from fakes.fake_telegram import callback_data_of
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, api_base_of, deployment
from tg_harness import gateways, telegram_section, tg  # noqa: F401 (fixtures)

ALLOWED = 1001
# An Ogg page header is enough for the APIs' checks here; the bytes are compared end to end.
OGG = b"OggS\x00\x02" + bytes(range(256)) * 40
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 300


@pytest.fixture
def media():
    with FakeOpenAIMedia(api_key=UPSTREAM_KEY) as m:
        yield m


def media_dep(name, model, m, **info):
    return {"model_name": name,
            "litellm_params": {"model": f"openai/{model}", "api_base": api_base_of(m),
                               "api_key": f"os.environ/{UPSTREAM_ENV}"},
            "model_info": info}


@pytest.fixture
def bot(fake, tg, media, gateways):
    def make(free_info=None, extra_models=(), auxiliary=None, telegram=None, **sections):
        models = [deployment("free", "test/free", fake, model_info=free_info or {}),
                  deployment("cheap", "test/cheap", fake),
                  deployment("eyes", "test/eyes", fake, model_info={"supports_vision": True}),
                  deployment("ears-chat", "test/ears", fake,
                             model_info={"supports_audio_input": True}),
                  media_dep("ears", "whisper-1", media, mode="audio_transcription",
                            input_cost_per_second=0.0001),
                  media_dep("mouth", "tts-1", media, mode="audio_speech",
                            input_cost_per_character=0.000015),
                  *extra_models]
        tele = telegram_section(tg, ALLOWED, **(telegram or {}))
        cfg = {"home": "HOME", "timezone": "UTC", "model": "free",
               "auxiliary": {"compression": "cheap", **(auxiliary or {})},
               "model_list": models,
               "router_settings": {"num_retries": 0, "allowed_fails": 100, "timeout": 20},
               "api": {"listen": "127.0.0.1:PORT"}, "telegram": tele, **sections}
        return gateways.start(cfg)

    return make


def user_content(req):
    """The last user message's content of a recorded chat request."""
    return [m for m in req["body"]["messages"] if m["role"] == "user"][-1]["content"]


def parts_of(req, kind):
    content = user_content(req)
    return [p for p in content if isinstance(content, list) and p.get("type") == kind]


def ledger(g):
    db = sqlite3.connect(g.home / "state.db")
    try:
        return db.execute("SELECT model_group, cost_usd, estimated FROM spend "
                          "ORDER BY rowid").fetchall()
    finally:
        db.close()


def outbox_rows(g):
    db = sqlite3.connect(g.home / "state.db")
    try:
        return db.execute("SELECT count(*) FROM tg_outbox").fetchone()[0]
    finally:
        db.close()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ---- voice -------------------------------------------------------------------------------


@pytest.mark.smoke
def test_a_voice_note_becomes_a_transcript_the_model_answers_and_its_cost_counts(
        bot, tg, fake, media):
    fake.script_for("test/free", text("Two tasks noted."))
    g = bot(auxiliary={"transcription": "ears"})
    tg.push_voice(chat_id=ALLOWED, data=OGG, duration=42)
    sent = tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)
    # The user sees what was heard first (a mis-hearing is visible), then the answer.
    assert sent[0] == f"🎤 {TRANSCRIPT}"
    assert any(e["type"] == "blockquote" for e in tg.messages(ALLOWED)[0].get("entities", []))
    assert sent[1] == "Two tasks noted."
    # The Telegram file went to /v1/audio/transcriptions as it is (Ogg), with the group's model.
    tr = [r for r in media.requests if r["path"].endswith("/audio/transcriptions")]
    assert len(tr) == 1
    assert tr[0]["form"]["file"]["data"] == OGG
    assert tr[0]["form"]["file"]["filename"].endswith(".ogg")
    assert tr[0]["form"]["model"]["data"] == b"whisper-1"
    assert user_content(fake.chat_requests[-1]) == f"[voice note, 0:42] {TRANSCRIPT}"
    # Kept under home/media with the transcript beside it.
    saved = sorted(p.name for p in (g.home / "media").iterdir())
    assert any(n.endswith(".ogg") for n in saved) and any(n.endswith(".ogg.txt") for n in saved)
    # The transcription is in the ledger under its group, priced per second of audio: the
    # fake's whisper-1 usage says len(file) // 32000 seconds, at least 1.
    rows = [r for r in ledger(g) if r[0] == "ears"]
    assert len(rows) == 1
    assert rows[0][1] == pytest.approx(max(1, len(OGG) // 32000) * 0.0001)


def test_without_usage_the_transcription_is_priced_by_telegrams_duration(bot, tg, fake, media):
    media.script(ok(usage=None))
    fake.script_for("test/free", text("ok"))
    g = bot(auxiliary={"transcription": "ears"})
    tg.push_voice(chat_id=ALLOWED, data=OGG, duration=90)
    tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)
    rows = [r for r in ledger(g) if r[0] == "ears"]
    assert rows and rows[0][1] == pytest.approx(90 * 0.0001) and rows[0][2] == 0


def test_a_voice_note_reaches_an_audio_capable_chat_model_as_input_audio(bot, tg, fake, media):
    fake.script_for("test/ears", text("buy milk and call Bob"))
    fake.script_for("test/free", text("Done."))
    bot(auxiliary={"transcription": "ears-chat"})
    tg.push_voice(chat_id=ALLOWED, data=OGG, duration=5)
    sent = tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)
    assert sent == ["🎤 buy milk and call Bob", "Done."]
    heard = [r for r in fake.chat_requests if r["body"]["model"] == "test/ears"]
    assert len(heard) == 1
    audio = parts_of(heard[0], "input_audio")
    assert len(audio) == 1 and audio[0]["input_audio"]["format"] == "ogg"
    assert base64.b64decode(audio[0]["input_audio"]["data"]) == OGG
    assert not media.requests  # no transcription endpoint involved


def test_voice_without_a_transcription_model_is_said_not_silent(bot, tg, fake):
    bot()
    tg.push_voice(chat_id=ALLOWED, data=OGG)
    sent = tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)
    assert "auxiliary.transcription is not set" in sent[0]
    assert not tg.calls("getFile")  # nothing downloaded for nothing
    assert not fake.chat_requests


def test_a_failed_transcription_is_retried_once_then_said(bot, tg, fake, media):
    from fakes.fake_openai_media import error
    # An empty transcript (billed by the provider), then an HTTP 500 (a refusal, not billed).
    media.script(ok(text=""), error(500))
    g = bot(auxiliary={"transcription": "ears"})
    tg.push_voice(chat_id=ALLOWED, data=OGG)
    sent = tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW)
    assert sent[0].startswith("Transcribing the voice note failed (HTTP 500")
    assert len([r for r in media.requests if "transcriptions" in r["path"]]) == 2
    assert not fake.chat_requests
    # The attempt the provider answered is in the ledger; the refused one is not billed.
    wait_for(lambda: [r for r in ledger(g) if r[0] == "ears"], 10 * SLOW, "the ledger row")
    assert len([r for r in ledger(g) if r[0] == "ears"]) == 1


def test_a_provider_error_is_quoted_cut_between_characters(bot, tg, fake, media):
    """The provider's answer is quoted in the message to the user, cut at 200 bytes: between
    characters (with an ellipsis), never into a U+FFFD where an emoji was split."""
    from fakes.fake_openai_media import error
    said = json.dumps({"error": {"message": "x" + "\U0001F525" * 100, "type": "server_error"}},
                      ensure_ascii=False, separators=(",", ":")).encode()
    assert said.index("\U0001F525".encode()) == 22  # so the 200th byte is inside an emoji
    media.script(error(500, body=said), error(500, body=said))
    bot(auxiliary={"transcription": "ears"})
    tg.push_voice(chat_id=ALLOWED, data=OGG)
    sent = tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW)
    assert sent[0].startswith('Transcribing the voice note failed (HTTP 500: {"error"'), sent[0]
    assert "\ufffd" not in sent[0] and sent[0].endswith("\U0001F525\u2026)."), sent[0]


def test_voice_replies_mirror_a_voice_note_with_an_ogg_voice_message(bot, tg, fake, media):
    fake.script_for("test/free", text("Here is the plan."))
    g = bot(auxiliary={"transcription": "ears", "speech": "mouth"},
            telegram={"voice_replies": "mirror", "voice": "nova"})
    tg.push_voice(chat_id=ALLOWED, data=OGG, duration=3)
    wait_for(lambda: tg.files_sent(ALLOWED), 30 * SLOW, "a voice reply")
    voice = tg.files_sent(ALLOWED)[0]
    assert voice["method"].lower() == "sendvoice" and voice["data"][:4] == b"OggS"
    assert voice["shown_as"] == "voice"
    speech = [r for r in media.requests if r["path"].endswith("/audio/speech")]
    assert speech[0]["body"] == {"model": "tts-1", "input": "Here is the plan.",
                                 "voice": "nova", "response_format": "opus"}
    assert "Here is the plan." in tg.sent(ALLOWED)
    assert [r for r in ledger(g) if r[0] == "mouth"][0][1] == pytest.approx(
        len("Here is the plan.") * 0.000015)


# ---- photos --------------------------------------------------------------------------------


def photo_sizes():
    return [JPEG[:200], JPEG[:2000], JPEG]


@pytest.mark.smoke
def test_a_photo_reaches_a_vision_model_as_an_image_part_once(bot, tg, fake):
    fake.script_for("test/free", text("A cat."), text("Still a cat."))
    bot(free_info={"supports_vision": True}, telegram={"max_image_bytes": 2500})
    tg.push_photo(chat_id=ALLOWED, data=photo_sizes(), caption="what is this?")
    assert tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW) == ["A cat."]
    first = fake.chat_requests[-1]
    image = parts_of(first, "image_url")
    assert len(image) == 1
    url = image[0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    # The largest size under telegram.max_image_bytes (2,000 bytes of the three).
    assert base64.b64decode(url.split(",", 1)[1]) == JPEG[:2000]
    assert "what is this?" in parts_of(first, "text")[0]["text"]
    tg.push_text("and now?", chat_id=ALLOWED)
    tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)
    later = fake.chat_requests[-1]
    # The stored session names the file; the image is not sent again.
    assert "base64" not in json.dumps(later["body"])
    assert any("[photo, saved as media/" in m["content"] for m in later["body"]["messages"]
               if m["role"] == "user" and isinstance(m["content"], str))


def test_a_photo_for_a_model_without_vision_is_described_by_auxiliary_vision(bot, tg, fake):
    fake.script_for("test/eyes", text("A red bicycle against a wall."))
    fake.script_for("test/free", text("Nice bike."))
    bot(auxiliary={"vision": "eyes"})
    tg.push_photo(chat_id=ALLOWED, data=photo_sizes())
    assert tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW) == ["Nice bike."]
    eyes = [r for r in fake.chat_requests if r["body"]["model"] == "test/eyes"]
    assert len(eyes) == 1 and len(parts_of(eyes[0], "image_url")) == 1
    turn = [r for r in fake.chat_requests if r["body"]["model"] == "test/free"][-1]
    assert "described by eyes: A red bicycle against a wall." in user_content(turn)
    assert "base64" not in json.dumps(turn["body"])


def test_photos_without_any_vision_model_are_refused_clearly(bot, tg, fake):
    bot()
    tg.push_photo(chat_id=ALLOWED, data=photo_sizes())
    sent = tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)
    assert "can't look at photos" in sent[0] and "supports_vision" in sent[0]


# ---- documents -------------------------------------------------------------------------------


def test_a_csv_becomes_text_in_the_turn(bot, tg, fake):
    csv = b"name,amount\nrent,900\nfood,300\n"
    fake.script_for("test/free", text("Total 1200."))
    bot()
    tg.push_document(chat_id=ALLOWED, data=csv, file_name="budget.csv", mime_type="text/csv",
                     caption="sum it")
    assert tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW) == ["Total 1200."]
    content = user_content(fake.chat_requests[-1])
    assert "[document budget.csv" in content and "rent,900" in content and "sum it" in content


def test_a_large_text_document_is_given_by_path_for_read_file(bot, tg, fake):
    log = b"".join(b"line %d ok\n" % i for i in range(5000))
    fake.script_for("test/free", text("Read it."))
    g = bot(telegram={"max_text_doc_bytes": 1024})
    tg.push_document(chat_id=ALLOWED, data=log, file_name="app.log", mime_type="text/plain")
    tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW)
    content = user_content(fake.chat_requests[-1])
    assert f"{len(log)} bytes" in content and "read_file" in content
    assert "line 4999" not in content
    saved = [p for p in (g.home / "media").iterdir() if p.name.endswith("app.log")]
    assert saved and saved[0].read_bytes() == log


def test_a_pdf_becomes_a_file_part_for_openrouter_models(bot, tg, fake):
    pdf = b"%PDF-1.4\n" + b"0" * 3000 + b"\n%%EOF\n"
    fake.script_for("test/free", text("It is an invoice."))
    bot()
    tg.push_document(chat_id=ALLOWED, data=pdf, file_name="invoice.pdf",
                     mime_type="application/pdf")
    assert tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW) == ["It is an invoice."]
    files = parts_of(fake.chat_requests[-1], "file")
    assert len(files) == 1 and files[0]["file"]["filename"] == "invoice.pdf"
    data = files[0]["file"]["file_data"]
    assert data.startswith("data:application/pdf;base64,")
    assert base64.b64decode(data.split(",", 1)[1]) == pdf


def test_other_documents_are_refused_naming_the_type(bot, tg, fake):
    bot()
    tg.push_document(chat_id=ALLOWED, data=b"PK\x03\x04" + b"\x00" * 500, file_name="t.xlsx",
                     mime_type="application/vnd.openxmlformats-officedocument."
                               "spreadsheetml.sheet")
    sent = tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)
    assert "I can't read application/vnd.openxmlformats" in sent[0] and "t.xlsx" in sent[0]
    assert not fake.chat_requests


# ---- files out -------------------------------------------------------------------------------


def test_send_file_delivers_a_file_under_home_and_refuses_paths_outside(bot, tg, fake, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the chat")
    fake.script_for("test/free",
                    tool_calls(("c1", "send_file", {"path": "notes/report.txt", "caption": "here"})),
                    tool_calls(("c2", "send_file", {"path": "../secret.txt"})),
                    tool_calls(("c3", "send_file", {"path": str(outside)})),
                    text("Sent the report."))
    g = bot()
    (g.home / "notes").mkdir(parents=True, exist_ok=True)
    (g.home / "notes" / "report.txt").write_bytes(b"quarterly numbers\n" * 100)
    tg.push_text("send me the report", chat_id=ALLOWED)
    # send_file asks first (approvals.builtin); "Always in this chat" lets the rest run.
    wait_for(lambda: [m for m in tg.messages(ALLOWED) if m.get("reply_markup")], 30 * SLOW,
             "the approval question")
    [ask] = [m for m in tg.messages(ALLOWED) if m.get("reply_markup")]
    assert "send_file" in ask["text"] and "path: notes/report.txt" in ask["text"]
    time.sleep(0.5 * SLOW)
    assert not tg.files_sent(ALLOWED)
    tg.press(ALLOWED, ask["message_id"], callback_data_of(ask["reply_markup"])[1],
             user_id=ALLOWED)
    wait_for(lambda: tg.files_sent(ALLOWED), 30 * SLOW, "the file")
    f = tg.files_sent(ALLOWED)[0]
    assert f["method"].lower() == "senddocument" and f["filename"] == "report.txt"
    assert f["data"] == b"quarterly numbers\n" * 100 and f["caption"] == "here"
    # The chat shows the file (its caption is the message's text), then the answer.
    assert tg.wait_sent(ALLOWED, 3, timeout=30 * SLOW)[1:] == ["here", "Sent the report."]
    assert tg.sent(ALLOWED)[0].endswith("→ Approved, and always in this chat")
    results = [m["content"] for m in fake.chat_requests[-1]["body"]["messages"]
               if m["role"] == "tool"]
    assert results[0].startswith("Queued: notes/report.txt")
    assert "send_file sends files under home only" in results[1]
    assert "send_file sends files under home only" in results[2]
    assert len(tg.files_sent(ALLOWED)) == 1


# ---- caps and faults -------------------------------------------------------------------------


def test_an_oversized_file_is_refused_before_download(bot, tg, fake):
    bot(auxiliary={"transcription": "ears"}, telegram={"max_file_bytes": 4096})
    tg.push_voice(chat_id=ALLOWED, data=OGG)  # 10 KiB
    sent = tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)
    assert "more than telegram.max_file_bytes (4096)" in sent[0]
    assert not tg.downloads


# The caps of docs/gateway.md, both sides of each: a photo (and an image sent as a document
# that is handled as one) is bounded by telegram.max_image_bytes alone, every other file by
# telegram.max_file_bytes. The photo cap is set above the file cap so that a mix-up shows.
FILE_CAP, IMAGE_CAP = 4096, 8192
CAPS = {"max_file_bytes": FILE_CAP, "max_image_bytes": IMAGE_CAP}


def refused_file(n):
    return f"That file has {n} bytes, more than telegram.max_file_bytes ({FILE_CAP})."


def photo_of(n):
    return JPEG[:n] if n <= len(JPEG) else JPEG + b"\0" * (n - len(JPEG))


@pytest.mark.parametrize("kind,ext", [("voice", ".ogg"), ("audio", ".mp3"),
                                      ("video_note", ".mp4")])
def test_a_sound_file_at_max_file_bytes_is_transcribed_and_one_byte_more_is_refused(
        bot, tg, fake, media, kind, ext):
    fake.script_for("test/free", text("Heard."))
    g = bot(auxiliary={"transcription": "ears"}, telegram=CAPS)
    tg.push_media(kind, chat_id=ALLOWED, data=OGG[:FILE_CAP + 1])
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == [refused_file(FILE_CAP + 1)]
    assert not tg.downloads and media.requests == []
    tg.push_media(kind, chat_id=ALLOWED, data=OGG[:FILE_CAP])
    sent = tg.wait_sent(ALLOWED, 3, timeout=30 * SLOW)
    assert sent[1:] == [f"🎤 {TRANSCRIPT}", "Heard."], sent
    tr = [r for r in media.requests if r["path"].endswith("/audio/transcriptions")]
    assert len(tr) == 1 and tr[0]["form"]["file"]["data"] == OGG[:FILE_CAP]
    assert tr[0]["form"]["file"]["filename"].endswith(ext)
    assert [r for r in ledger(g) if r[0] == "ears"], ledger(g)


def test_a_document_at_max_file_bytes_reaches_the_turn_and_one_byte_more_is_refused(
        bot, tg, fake):
    fake.script_for("test/free", text("Read."))
    line = b"rent,900\n"
    doc = b"name,amount\n" + line * ((FILE_CAP - 12) // len(line))
    doc += b"x" * (FILE_CAP - len(doc) - 1) + b"\n"
    assert len(doc) == FILE_CAP
    bot(telegram=CAPS | {"max_text_doc_bytes": 2 * FILE_CAP})
    tg.push_document(chat_id=ALLOWED, data=doc + b"\n", file_name="big.csv",
                     mime_type="text/csv")
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == [refused_file(FILE_CAP + 1)]
    assert not tg.downloads and fake.chat_requests == []
    tg.push_document(chat_id=ALLOWED, data=doc, file_name="budget.csv", mime_type="text/csv")
    assert tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)[1] == "Read."
    content = user_content(fake.chat_requests[-1])
    assert "[document budget.csv" in content and "rent,900" in content


def test_a_photo_is_bounded_by_max_image_bytes_not_max_file_bytes(bot, tg, fake):
    """A photo over telegram.max_file_bytes but at telegram.max_image_bytes reaches the
    vision model whole; one byte more (no smaller size offered) is refused, naming the photo
    cap; and a photo whose update understates its size is stopped by the same cap while it
    streams in."""
    fake.script_for("test/free", text("A cat."))
    g = bot(free_info={"supports_vision": True}, telegram=CAPS)
    tg.push_photo(chat_id=ALLOWED, data=[photo_of(IMAGE_CAP + 1)])
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == [
        f"That photo has {IMAGE_CAP + 1} bytes, more than telegram.max_image_bytes "
        f"({IMAGE_CAP})."]
    assert not tg.downloads and fake.chat_requests == []
    tg.push_photo(chat_id=ALLOWED, data=[JPEG[:200], photo_of(IMAGE_CAP)])
    assert tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)[1] == "A cat."
    image = parts_of(fake.chat_requests[-1], "image_url")
    assert len(image) == 1
    assert base64.b64decode(image[0]["image_url"]["url"].split(",", 1)[1]) == \
        photo_of(IMAGE_CAP)
    assert [r for r in ledger(g) if r[0] == "free"], ledger(g)
    n = len(fake.chat_requests)
    tg.push_photo(chat_id=ALLOWED, data=[photo_of(IMAGE_CAP + 1)], file_size=IMAGE_CAP)
    assert tg.wait_sent(ALLOWED, 3, timeout=30 * SLOW)[2] == (
        f"That photo is larger than telegram.max_image_bytes ({IMAGE_CAP} bytes); I did not "
        "keep it.")
    assert len(fake.chat_requests) == n


def test_an_image_document_is_a_photo_up_to_max_image_bytes_else_a_capped_file(
        bot, tg, fake):
    fake.script_for("test/free", text("A chart."))
    bot(free_info={"supports_vision": True}, telegram=CAPS)
    tg.push_document(chat_id=ALLOWED, data=photo_of(IMAGE_CAP + 1), file_name="big.jpg",
                     mime_type="image/jpeg")
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == [refused_file(IMAGE_CAP + 1)]
    assert not tg.downloads and fake.chat_requests == []
    tg.push_document(chat_id=ALLOWED, data=photo_of(IMAGE_CAP), file_name="chart.jpg",
                     mime_type="image/jpeg")
    assert tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)[1] == "A chart."
    image = parts_of(fake.chat_requests[-1], "image_url")
    assert len(image) == 1
    assert base64.b64decode(image[0]["image_url"]["url"].split(",", 1)[1]) == \
        photo_of(IMAGE_CAP)


def test_a_file_larger_than_telegram_lets_bots_download_is_said(bot, tg, fake):
    bot(auxiliary={"transcription": "ears"}, telegram={"max_file_bytes": 100 * 1024 * 1024})
    tg.add_file("huge-voice", OGG, size=21 * 1024 * 1024)
    msg = tg.push_voice(chat_id=ALLOWED, data=OGG, file_size=21 * 1024 * 1024,
                        file_id="huge-voice")
    assert msg
    sent = tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)
    assert "too big for me to download" in sent[0]


def test_a_truncated_download_is_fetched_again(bot, tg, fake, media):
    fake.script_for("test/free", text("Got it."))
    g = bot(auxiliary={"transcription": "ears"})
    tg.truncate_download(1, after=1000)
    tg.push_voice(chat_id=ALLOWED, data=OGG)
    assert tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)[1] == "Got it."
    assert len(tg.downloads) == 2
    tr = [r for r in media.requests if "transcriptions" in r["path"]]
    assert tr[0]["form"]["file"]["data"] == OGG  # the whole file, not the cut one
    assert not [p for p in (g.home / "media").iterdir() if p.name.endswith(".part")]


def test_a_kill_between_download_and_transcription_resumes_without_a_second_download(
        bot, tg, fake, media):
    media.script(ok(delay=30))
    fake.script_for("test/free", text("after the restart"))
    g = bot(auxiliary={"transcription": "ears"})
    tg.push_voice(chat_id=ALLOWED, data=OGG)
    wait_for(lambda: [r for r in media.requests if "transcriptions" in r["path"]],
             30 * SLOW, "the transcription request")
    g.proc.send_signal(signal.SIGKILL)
    g.proc.wait()
    g._err.close()
    media.script()  # answers at once now
    downloads = len(tg.downloads)
    g.start()
    sent = tg.wait_sent(ALLOWED, 2, timeout=40 * SLOW)
    time.sleep(1)
    assert tg.sent(ALLOWED) == [f"🎤 {TRANSCRIPT}", "after the restart"]
    assert len(tg.downloads) == downloads == 1  # the saved file was taken
    assert sent


def test_a_kill_after_transcription_makes_no_second_transcription_nor_echo(
        bot, tg, fake, media):
    fake.script_for("test/free", text("never delivered", first_byte_delay=30))
    g = bot(auxiliary={"transcription": "ears"})
    tg.push_voice(chat_id=ALLOWED, data=OGG)
    fake.wait_requests(1, timeout=30 * SLOW)
    tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)  # the transcript was shown
    # ... and its outbox row deleted (a kill before that is the at-least-once window of any
    # reply, tested in test_telegram_durability.py).
    wait_for(lambda: outbox_rows(g) == 0, 10 * SLOW, "the outbox to empty")
    g.proc.send_signal(signal.SIGKILL)
    g.proc.wait()
    g._err.close()
    fake.reset()
    fake.script_for("test/free", text("answered after the restart"))
    g.start()
    tg.wait_sent(ALLOWED, 2, timeout=40 * SLOW)
    time.sleep(1)
    assert tg.sent(ALLOWED) == [f"🎤 {TRANSCRIPT}", "answered after the restart"]
    assert len([r for r in media.requests if "transcriptions" in r["path"]]) == 1


def test_media_retention_prunes_old_files_at_start(bot, tg, fake, tmp_path):
    home = tmp_path / "home"
    (home / "media").mkdir(parents=True)
    old = home / "media" / "1.ogg"
    old.write_bytes(b"x" * 100)
    past = time.time() - 40 * 86400
    os.utime(old, (past, past))
    young = home / "media" / "2.ogg"
    young.write_bytes(b"y" * 100)
    g = bot(media={"retention_days": 30})
    wait_for(lambda: not old.exists(), 20 * SLOW, "the old file pruned")
    assert young.exists()
    assert "pruned 1 file(s)" in g.stderr()


# ---- memory ------------------------------------------------------------------------------------


def _rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.smoke
@pytest.mark.needs("static", "native")
def test_memory_stays_under_12_mib_for_a_ten_minute_voice_note_and_a_photo(bot, tg, fake, media):
    """Peak resident memory while a 10-minute voice note (2.4 MB: Opus at 32 kbit/s, about
    what Telegram records) is downloaded and transcribed and a 1 MB photo goes to a vision
    model: at most 12 MiB (VmHWM), and back near the idle figure afterwards. Measured on the
    native static binary only (ASan keeps freed memory in quarantine; qemu adds its own)."""
    voice = b"OggS" + os.urandom(2_400_000)
    photo = b"\xff\xd8\xff\xe0" + os.urandom(1_000_000)
    fake.script_for("test/free", text("noted"), text("a photo"))
    g = bot(auxiliary={"transcription": "ears"}, free_info={"supports_vision": True},
            telegram={"max_image_bytes": 1_100_000})
    time.sleep(1)
    idle = _rss_kib(g.proc.pid, "VmRSS")
    tg.push_voice(chat_id=ALLOWED, data=voice, duration=600)
    tg.wait_sent(ALLOWED, 2, timeout=60 * SLOW)
    tg.push_photo(chat_id=ALLOWED, data=[photo[:5000], photo])
    tg.wait_sent(ALLOWED, 3, timeout=60 * SLOW)
    peak = _rss_kib(g.proc.pid, "VmHWM")
    time.sleep(1)
    after = _rss_kib(g.proc.pid, "VmRSS")
    print(f"media memory: idle {idle} KiB, peak (VmHWM) {peak} KiB, 1 s after {after} KiB")
    assert [r for r in media.requests if "transcriptions" in r["path"]][0]["form"]["file"][
        "data"] == voice
    assert peak <= 12 * 1024, f"peak {peak} KiB (idle {idle} KiB)"
    assert after <= idle + 1024, f"after {after} KiB, idle {idle} KiB"


def test_send_voice_is_offered_when_asked_and_delivers_a_voice_message(bot, tg, fake, media):
    fake.script_for("test/free", tool_calls(("c1", "send_voice", {"text": "Good night, Ada."})),
                    text("Said it in voice too."))
    bot(auxiliary={"speech": "mouth"}, telegram={"voice_replies": "when_asked"})
    tg.push_text("say good night to me out loud", chat_id=ALLOWED)
    wait_for(lambda: tg.files_sent(ALLOWED), 30 * SLOW, "the voice message")
    assert tg.files_sent(ALLOWED)[0]["method"].lower() == "sendvoice"
    offered = [t["function"]["name"] for t in fake.chat_requests[0]["body"]["tools"]]
    assert "send_voice" in offered
    speech = [r for r in media.requests if r["path"].endswith("/audio/speech")]
    assert speech[0]["body"]["input"] == "Good night, Ada."


def test_send_voice_is_not_offered_by_default(bot, tg, fake):
    fake.script_for("test/free", text("hi"))
    bot(auxiliary={"speech": "mouth"})
    tg.push_text("hello", chat_id=ALLOWED)
    tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)
    offered = [t["function"]["name"] for t in fake.chat_requests[0]["body"]["tools"]]
    assert "send_voice" not in offered and "send_file" in offered
