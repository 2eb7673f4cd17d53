"""`hermetic router` beyond chat: /v1/embeddings, /v1/completions (streamed too),
/v1/audio/transcriptions (multipart, the file byte for byte) and /v1/audio/speech (audio bytes
out), through the same allowlist, key restrictions, budgets, ledger, fallbacks and metrics as
chat; against tests/fakes/fake_openai_media.py and with the official OpenAI Node SDK."""
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import threading
import time
import uuid

import pytest

from conftest import ROOT, SLOW
from fakes.fake_openai_media import TRANSCRIPT, FakeOpenAIMedia, error, ok
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    BUDGET_EXCEEDED, INVALID_MODEL, UPSTREAM_ENV, UPSTREAM_KEY, approx, fake, msum,
    router_config, start_router,
)

EMBED_PRICE = 2e-8
BOB_KEY = "sk-e2e-endpoints-bob-SECRET-5e6f"


@pytest.fixture
def media():
    with FakeOpenAIMedia(api_key=UPSTREAM_KEY) as m:
        yield m


def dep(name, model_id, upstream, provider="openai", model_info=None, **params):
    """A model_list entry whose upstream is `provider/<model_id>` at the fake."""
    entry = {"model_name": name,
             "litellm_params": {"model": f"{provider}/{model_id}", "api_base": upstream.url,
                                "api_key": f"os.environ/{UPSTREAM_ENV}", **params}}
    if model_info:
        entry["model_info"] = model_info
    return entry


def media_models(media, **prices):
    return [
        dep("embed", "text-embedding-3-small", media,
            model_info={"id": "embed-1", "input_cost_per_token": EMBED_PRICE}),
        dep("instruct", "gpt-3.5-turbo-instruct", media,
            model_info={"id": "instruct-1", "input_cost_per_token": 1e-6,
                        "output_cost_per_token": 2e-6}),
        dep("stt", "gpt-4o-transcribe", media,
            model_info={"id": "stt-1", "input_cost_per_token": 2.5e-6,
                        "output_cost_per_token": 1e-5}),
        dep("whisper", "whisper-1", media, model_info={"id": "whisper-1",
                                                       "input_cost_per_token": 1e-7}),
        dep("tts", "gpt-4o-mini-tts", media,
            model_info={"id": "tts-1", "input_cost_per_character": prices.get("char", 1.5e-5)}),
        dep("tts-tokens", "tts-1", media, model_info={"id": "tts-2",
                                                      "input_cost_per_token": 1e-6}),
    ]


def rows_of(r, group, count=1):
    r.wait_spend_rows(count)
    return [x for x in r.spend_rows() if x["model_group"] == group]


# ---------------------------------------------------------------------------
# Audio: a real WAV file and the multipart form a client sends
# ---------------------------------------------------------------------------

def wav_file(tmp_path):
    """A spoken WAV made by espeak-ng, else a 0.5 s 440 Hz tone synthesised here."""
    path = tmp_path / "hello.wav"
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(path), "hello from hermetic"], check=True,
                       capture_output=True)
    else:
        rate, n = 16000, 8000
        pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                       for i in range(n))
        path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
                         struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" +
                         struct.pack("<I", len(pcm)) + pcm)
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and len(data) > 1000
    return path, data


def multipart(fields, files, boundary=None):
    """(body, content type) of a multipart/form-data form, as an HTTP client writes it."""
    boundary = boundary or "----hermetic-e2e-" + uuid.uuid4().hex
    out = b""
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for name, filename, ctype, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def transcribe(r, model, audio, key=None, **fields):
    body, ctype = multipart([("model", model), *fields.items()],
                            [("file", "hello.wav", "audio/wav", audio)])
    return r.post("/v1/audio/transcriptions", raw=body, key=key,
                  headers={"Content-Type": ctype})


def assert_openai_400(reply, param, code):
    assert reply.status == 400, reply.text
    err = reply.error()
    assert err["type"] == "invalid_request_error" and err["param"] == param, err
    assert err["code"] == code, err
    return err


# ---------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------

@pytest.mark.smoke
def test_embeddings_reach_the_upstream_with_its_model_id_and_bill_usage_prompt_tokens(
        fake, media, start_router):
    r = start_router(router_config(fake, media_models(media)))
    reply = r.post("/v1/embeddings", {"model": "embed", "input": ["hello", "world"]})
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["object"] == "list" and [d["index"] for d in doc["data"]] == [0, 1]
    assert reply.headers["x-litellm-model-id"] == "embed-1"
    sent = media.requests[-1]
    assert sent["path"] == "/v1/embeddings"
    assert sent["body"] == {"model": "text-embedding-3-small", "input": ["hello", "world"]}
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    rows = rows_of(r, "embed")
    assert len(rows) == 1, rows
    prompt = doc["usage"]["prompt_tokens"]
    assert rows[0]["input_tokens"] == prompt and rows[0]["output_tokens"] == 0, rows
    assert approx(rows[0]["cost_usd"], prompt * EMBED_PRICE, 1e-15), rows
    assert rows[0]["estimated"] == 0 and rows[0]["cost_source"] == "model_info", rows
    assert r.post("/embeddings", {"model": "embed", "input": "x"}).status == 200


def test_embeddings_without_usage_are_billed_by_an_estimate_marked_as_such(
        fake, media, start_router):
    media.script(ok(usage=None))
    r = start_router(router_config(fake, media_models(media)))
    assert r.post("/v1/embeddings", {"model": "embed", "input": "hello"}).status == 200
    row = rows_of(r, "embed")[0]
    assert row["estimated"] == 1 and row["cost_source"] == "estimate", row
    assert row["output_tokens"] == 0 and row["cost_usd"] > 0, row


def test_requests_each_route_cannot_take_get_openai_400s_before_anything_is_sent(
        fake, media, start_router):
    r = start_router(router_config(fake, media_models(media)))
    assert_openai_400(r.post("/v1/embeddings", {"model": "embed"}), "input",
                      "missing_required_parameter")
    assert_openai_400(r.post("/v1/embeddings", {"model": "embed", "input": 3}), "input",
                      "invalid_type")
    assert_openai_400(r.post("/v1/embeddings", {"model": "embed", "input": []}), "input",
                      "invalid_value")
    assert_openai_400(r.post("/v1/completions", {"model": "instruct"}), "prompt",
                      "missing_required_parameter")
    assert_openai_400(r.post("/v1/audio/speech", {"model": "tts", "input": "hi"}), "voice",
                      "missing_required_parameter")
    assert_openai_400(r.post("/v1/audio/speech", {"model": "tts", "voice": "alloy"}), "input",
                      "missing_required_parameter")
    body, ctype = multipart([("model", "stt")], [])
    assert_openai_400(r.post("/v1/audio/transcriptions", raw=body,
                             headers={"Content-Type": ctype}), "file",
                      "missing_required_parameter")
    no_model = r.post("/v1/embeddings", {"input": "x"})
    assert no_model.status == 400 and "model is required" in no_model.error()["message"]
    not_form = r.post("/v1/audio/transcriptions", {"model": "stt"})
    assert not_form.status == 400 and "multipart/form-data" in not_form.error()["message"]
    cut, ctype = multipart([("model", "stt")], [("file", "a.wav", "audio/wav", b"RIFF")])
    cut_reply = r.post("/v1/audio/transcriptions", raw=cut[:-12], headers={"Content-Type": ctype})
    assert cut_reply.status == 400 and "closing boundary" in cut_reply.error()["message"]
    assert media.requests == [] and r.spend_rows() == []


# ---------------------------------------------------------------------------
# Completions
# ---------------------------------------------------------------------------

def test_completions_answer_and_stream_with_usage_in_the_ledger(fake, media, start_router):
    r = start_router(router_config(fake, media_models(media)))
    reply = r.post("/v1/completions", {"model": "instruct", "prompt": "Say this is a test",
                                       "max_tokens": 7})
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["object"] == "text_completion" and doc["choices"][0]["text"]
    assert media.requests[-1]["body"]["model"] == "gpt-3.5-turbo-instruct"

    streamed = r.post("/completions", {"model": "instruct", "prompt": "Say", "stream": True})
    assert streamed.status == 200 and streamed.headers["content-type"] == "text/event-stream"
    assert streamed.done(), streamed.text
    events = streamed.events()
    assert "".join(c["text"] for e in events for c in e["choices"]) == " and that is all."
    assert all(e["choices"] for e in events), "the usage chunk is the router's, not asked for"
    sent = media.requests[-1]["body"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    rows = rows_of(r, "instruct", 2)
    assert len(rows) == 2 and all(x["estimated"] == 0 for x in rows), rows
    assert rows[0]["input_tokens"] == doc["usage"]["prompt_tokens"]
    assert rows[0]["output_tokens"] == doc["usage"]["completion_tokens"]
    assert approx(rows[0]["cost_usd"], doc["usage"]["prompt_tokens"] * 1e-6 +
                  doc["usage"]["completion_tokens"] * 2e-6, 1e-15), rows


# ---------------------------------------------------------------------------
# Transcriptions (multipart)
# ---------------------------------------------------------------------------

@pytest.mark.smoke
def test_transcription_upload_arrives_byte_exact_with_the_upstream_model(
        fake, media, start_router, tmp_path):
    _, audio = wav_file(tmp_path)
    r = start_router(router_config(fake, media_models(media)))
    reply = transcribe(r, "stt", audio, language="en", prompt="hermetic")
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["text"] == TRANSCRIPT and doc["usage"]["type"] == "tokens"
    form = media.requests[-1]["form"]
    assert form["file"]["data"] == audio, "the file part must arrive byte for byte"
    assert form["file"]["filename"] == "hello.wav"
    assert form["file"]["content_type"] == "audio/wav"
    assert form["model"]["data"] == b"gpt-4o-transcribe"
    assert form["language"]["data"] == b"en" and form["prompt"]["data"] == b"hermetic"
    assert media.requests[-1]["headers"]["content-type"].startswith("multipart/form-data;")
    row = rows_of(r, "stt")[0]
    u = doc["usage"]
    assert row["input_tokens"] == u["input_tokens"] and row["output_tokens"] == u["output_tokens"]
    assert row["estimated"] == 0, row
    assert approx(row["cost_usd"], u["input_tokens"] * 2.5e-6 + u["output_tokens"] * 1e-5, 1e-15)


def test_a_form_smuggling_a_second_model_is_refused_before_the_upstream(
        fake, media, start_router):
    """A part with two Content-Disposition headers (Starlette reads the last) and a second
    part named model, as a field or as a file, would run another model than the one checked
    and billed: each is a 400 naming what was wrong, and the upstream receives nothing."""
    r = start_router(router_config(fake, media_models(media)))
    boundary = "----hermetic-e2e-smuggle"
    ctype = f"multipart/form-data; boundary={boundary}"
    wav = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n")
    two_headers = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
                   f"stt\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"x\"\r\n"
                   f"Content-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o\r\n"
                   + wav + f"--{boundary}--\r\n")
    reply = r.post("/v1/audio/transcriptions", raw=two_headers.encode(),
                   headers={"Content-Type": ctype})
    assert reply.status == 400, reply.text
    assert "more than one Content-Disposition" in reply.error()["message"], reply.text
    second_field, _ = multipart([("model", "stt"), ("model", "gpt-4o")],
                                [("file", "a.wav", "audio/wav", b"RIFF")], boundary)
    as_file, _ = multipart([("model", "stt")], [("model", "m.txt", "text/plain", b"gpt-4o"),
                                                ("file", "a.wav", "audio/wav", b"RIFF")],
                           boundary)
    for body in (second_field, as_file):
        err = assert_openai_400(r.post("/v1/audio/transcriptions", raw=body,
                                       headers={"Content-Type": ctype}), "model",
                                "invalid_value")
        assert "more than one part named 'model'" in err["message"], err
    assert media.requests == [] and r.spend_rows() == []
    ok_body, _ = multipart([("model", "stt")], [("file", "a.wav", "audio/wav", b"RIFF")],
                           boundary)
    assert r.post("/v1/audio/transcriptions", raw=ok_body,
                  headers={"Content-Type": ctype}).status == 200
    assert len(media.requests) == 1


def test_a_3_mib_upload_arrives_whole_and_one_over_max_body_bytes_is_refused(
        fake, media, start_router):
    audio = b"RIFF" + os.urandom(3 * 1024 * 1024)  # past curl's 1 MiB Expect: 100-continue
    r = start_router(router_config(fake, media_models(media)))
    reply = transcribe(r, "whisper", audio)
    assert reply.status == 200, reply.text
    assert hashlib.sha256(media.requests[-1]["form"]["file"]["data"]).digest() == \
        hashlib.sha256(audio).digest()
    small = start_router(router_config(fake, media_models(media),
                                       router={"max_body_bytes": 1024 * 1024}), name="small")
    try:
        big = transcribe(small, "whisper", audio)
        assert big.status == 413, big.status
    except ConnectionError:
        pass  # the server may close before the client has sent the whole body
    assert len(media.requests) == 1


def test_transcription_without_token_usage_is_estimated_and_text_format_stays_text(
        fake, media, start_router, tmp_path):
    _, audio = wav_file(tmp_path)
    r = start_router(router_config(fake, media_models(media)))
    reply = transcribe(r, "whisper", audio, response_format="text")
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.text == TRANSCRIPT + "\n"
    reply = transcribe(r, "whisper", audio)  # json with usage {"type": "duration"}
    assert reply.status == 200 and reply.json()["usage"]["type"] == "duration"
    rows = rows_of(r, "whisper", 2)
    assert len(rows) == 2 and all(x["estimated"] == 1 for x in rows), rows
    assert all(x["cost_source"] == "estimate" and x["cost_usd"] > 0 for x in rows), rows
    assert media.requests[-1]["form"]["model"]["data"] == b"whisper-1"


def test_transcription_falls_back_on_503_and_re_encodes_for_the_other_deployment(
        fake, media, start_router, tmp_path):
    _, audio = wav_file(tmp_path)
    media.script(error(503))
    models = media_models(media) + [dep("stt-backup", "whisper-1", media,
                                        model_info={"id": "backup-1"})]
    r = start_router(router_config(fake, models,
                                   litellm_settings={"fallbacks": [{"stt": ["stt-backup"]}]}))
    reply = transcribe(r, "stt", audio)
    assert reply.status == 200, reply.text
    assert reply.headers["x-litellm-attempted-fallbacks"] == "1"
    assert reply.headers["x-litellm-model-id"] == "backup-1"
    assert [q["status"] for q in media.requests] == [503, 200]
    assert [q["form"]["model"]["data"] for q in media.requests] == [b"gpt-4o-transcribe",
                                                                    b"whisper-1"]
    assert all(q["form"]["file"]["data"] == audio for q in media.requests)
    m = r.metrics()
    assert msum(m, "litellm_deployment_successful_fallbacks_total", requested_model="stt",
                fallback_model="stt-backup") == 1


# ---------------------------------------------------------------------------
# Speech (binary answers)
# ---------------------------------------------------------------------------

@pytest.mark.smoke
def test_speech_returns_the_upstream_audio_and_type_priced_per_character(
        fake, media, start_router):
    r = start_router(router_config(fake, media_models(media)))
    text = "Grüße aus dem Router."  # 21 characters, 23 bytes
    reply = r.post("/v1/audio/speech", {"model": "tts", "input": text, "voice": "alloy",
                                        "response_format": "opus"})
    assert reply.status == 200, reply.text
    assert reply.body[:4] == b"OggS" and reply.headers["content-type"] == "audio/ogg"
    assert b"\x00" in reply.body and len(reply.body) == int(reply.headers["content-length"])
    sent = media.requests[-1]["body"]
    assert sent["model"] == "gpt-4o-mini-tts" and sent["input"] == text
    row = rows_of(r, "tts")[0]
    assert approx(row["cost_usd"], len(text) * 1.5e-5, 1e-15), row
    assert row["estimated"] == 0 and row["cost_source"] == "model_info", row
    assert approx(reply.headers["x-litellm-response-cost"], len(text) * 1.5e-5, 1e-12)

    mp3 = r.post("/audio/speech", {"model": "tts-tokens", "input": "hi", "voice": "echo"})
    assert mp3.status == 200 and mp3.body[:3] == b"ID3"
    assert mp3.headers["content-type"] == "audio/mpeg"
    row = rows_of(r, "tts-tokens", 2)[0]
    assert row["estimated"] == 1 and row["cost_source"] == "estimate", row


def test_speech_upstream_errors_come_back_as_openai_json(fake, media, start_router):
    r = start_router(router_config(fake, media_models(media)))
    reply = r.post("/v1/audio/speech", {"model": "tts", "input": "x" * 4097, "voice": "alloy"})
    assert reply.status == 400 and reply.headers["content-type"] == "application/json"
    assert "maximum length 4096" in reply.error()["message"], reply.text


# ---------------------------------------------------------------------------
# Allowlist, keys, budgets, providers, metrics
# ---------------------------------------------------------------------------

def test_allowlist_and_key_models_refuse_every_route(fake, media, start_router, tmp_path):
    _, audio = wav_file(tmp_path)
    r = start_router(router_config(
        fake, media_models(media),
        keys=[{"key": "os.environ/E2E_BOB_KEY", "alias": "bob", "models": ["embed"]}]),
        env={"E2E_BOB_KEY": BOB_KEY}, key=BOB_KEY)
    unknown = r.post("/v1/embeddings", {"model": "text-embedding-3-large", "input": "x"})
    assert unknown.status == 400, unknown.text
    assert unknown.error()["message"] == INVALID_MODEL.format("text-embedding-3-large")
    speech = r.post("/v1/audio/speech", {"model": "tts", "input": "hi", "voice": "alloy"})
    assert speech.status == 401, speech.text
    stt = transcribe(r, "stt", audio, key=BOB_KEY)
    assert stt.status == 401, stt.text
    assert r.post("/v1/completions", {"model": "instruct", "prompt": "x"}).status == 401
    assert r.post("/v1/embeddings", {"model": "embed", "input": "x"}).status == 200
    assert media.paths() == ["/v1/embeddings"]


def test_budget_refuses_each_route_before_the_upstream(fake, media, start_router, tmp_path):
    _, audio = wav_file(tmp_path)
    r = start_router(router_config(fake, media_models(media, char=0.01),
                                   budget={"daily_usd": 0.05}))
    # 6 characters at 0.01: 0.06 spent, over the 0.05 cap
    assert r.post("/v1/audio/speech", {"model": "tts", "input": "abcdef",
                                       "voice": "alloy"}).status == 200
    r.wait_spend_rows(1)
    for reply in (r.post("/v1/embeddings", {"model": "embed", "input": "x"}),
                  r.post("/v1/completions", {"model": "instruct", "prompt": "x"}),
                  r.post("/v1/audio/speech", {"model": "tts", "input": "x", "voice": "alloy"}),
                  transcribe(r, "stt", audio)):
        assert reply.status == 400, reply.text
        assert reply.error()["type"] == "budget_exceeded", reply.text
        assert BUDGET_EXCEEDED.match(reply.error()["message"]), reply.text
    assert len(media.requests) == 1


def test_a_speech_call_in_flight_reserves_its_characters_in_the_budget(
        fake, media, start_router):
    """10 characters at 0.01 reserve 0.10 of a 0.05 budget: a call arriving meanwhile waits for
    it to settle, then is refused, and never reaches the upstream."""
    media.script(ok(delay=1.0))
    r = start_router(router_config(fake, media_models(media, char=0.01),
                                   budget={"daily_usd": 0.05}))
    replies = {}
    t = threading.Thread(target=lambda: replies.update(speech=r.post(
        "/v1/audio/speech", {"model": "tts", "input": "x" * 10, "voice": "alloy"})))
    t.start()
    deadline = time.monotonic() + 5 * SLOW
    while not media.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    late = r.post("/v1/embeddings", {"model": "embed", "input": "x"})
    t.join()
    assert replies["speech"].status == 200, replies["speech"].text
    assert late.status == 400 and late.error()["type"] == "budget_exceeded", late.text
    assert media.paths() == ["/v1/audio/speech"]
    assert approx(rows_of(r, "tts")[0]["cost_usd"], 0.10, 1e-12)


def test_providers_that_do_not_serve_a_route_answer_400_before_sending(
        fake, media, start_router):
    models = [dep("claude-embed", "claude-sonnet-4-5", media, provider="anthropic"),
              dep("bedrock-tts", "amazon.nova-lite-v1:0", media, provider="bedrock",
                  aws_region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                  aws_secret_access_key="secret")]
    r = start_router(router_config(fake, models))
    reply = r.post("/v1/embeddings", {"model": "claude-embed", "input": "x"})
    assert reply.status == 400, reply.text
    assert reply.error()["message"] == "provider anthropic does not serve /v1/embeddings"
    reply = r.post("/v1/audio/speech", {"model": "bedrock-tts", "input": "x", "voice": "a"})
    assert reply.status == 400, reply.text
    assert reply.error()["message"] == "provider bedrock does not serve /v1/audio/speech"
    assert media.requests == [] and r.spend_rows() == []


def test_metrics_count_every_route_with_bounded_labels(fake, media, start_router, tmp_path):
    _, audio = wav_file(tmp_path)
    r = start_router(router_config(fake, media_models(media)))
    assert r.post("/v1/embeddings", {"model": "embed", "input": "x"}).status == 200
    assert transcribe(r, "stt", audio).status == 200
    assert r.post("/v1/audio/speech", {"model": "tts", "input": "hi",
                                       "voice": "alloy"}).status == 200
    assert r.post("/v1/embeddings", {"model": "no-such-" + "x" * 50, "input": "x"}).status == 400
    m = r.metrics()
    for group, model in (("embed", "openai/text-embedding-3-small"),
                         ("stt", "openai/gpt-4o-transcribe"), ("tts", "openai/gpt-4o-mini-tts")):
        assert msum(m, "litellm_proxy_total_requests_metric_total", requested_model=group,
                    status_code=200) == 1, group
        assert msum(m, "litellm_requests_metric_total", model=model) == 1, model
    assert msum(m, "litellm_spend_metric_total", model="openai/gpt-4o-mini-tts") > 0
    assert msum(m, "litellm_input_tokens_metric_total", model="openai/text-embedding-3-small") > 0
    failed = [lab for n, lab, _ in m if n == "litellm_proxy_failed_requests_metric_total"]
    assert failed and all(lab["requested_model"] == "None" for lab in failed), failed


# ---------------------------------------------------------------------------
# The official OpenAI Node SDK
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sdk_node_path():
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    p = subprocess.run(["bash", str(ROOT / "tests" / "peers" / "install.sh")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"tests/peers/install.sh failed:\n{p.stdout}\n{p.stderr}"
    return os.path.join(p.stdout.strip().splitlines()[-1], "node_modules")


def test_openai_node_sdk_embeddings_transcription_and_speech(
        fake, media, start_router, tmp_path, sdk_node_path):
    path, audio = wav_file(tmp_path)
    master = "sk-e2e-endpoints-master-SECRET-9c0d"
    r = start_router(router_config(fake, media_models(media),
                                   general_settings={"master_key": "os.environ/E2E_MASTER"}),
                     env={"E2E_MASTER": master})
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NODE_PATH": sdk_node_path,
           "ROUTER_URL": f"{r.url}/v1", "ROUTER_KEY": master, "AUDIO_FILE": str(path)}
    p = subprocess.run(["node", str(ROOT / "tests" / "e2e" / "openai_sdk_endpoints.cjs")],
                       capture_output=True, text=True, env=env, timeout=60 * SLOW)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    emb = out["embeddings"]
    assert emb["n"] == 2 and emb["dims"] == [8, 8] and emb["usage"]["prompt_tokens"] >= 2, emb
    assert all(-1 <= v <= 1 for v in emb["first"]), emb
    sent = [q for q in media.requests if q["path"] == "/v1/embeddings"][0]["body"]
    assert sent["encoding_format"] == "base64" and sent["model"] == "text-embedding-3-small"
    assert out["transcription"]["text"] == TRANSCRIPT, out
    stt = [q for q in media.requests if q["path"] == "/v1/audio/transcriptions"][0]
    assert stt["form"]["file"]["data"] == audio and stt["form"]["file"]["filename"] == "hello.wav"
    assert stt["form"]["model"]["data"] == b"gpt-4o-transcribe"
    assert stt["form"]["language"]["data"] == b"en"
    sp = out["speech"]
    assert sp["magic"] == "OggS" and sp["content_type"] == "audio/ogg", sp
    speech_req = [q for q in media.requests if q["path"] == "/v1/audio/speech"][0]
    assert speech_req["body"]["voice"] == "alloy"
    assert out["refused"]["status"] == 400 and "Invalid model name" in out["refused"]["message"]
    rows = r.wait_spend_rows(3)
    assert sorted(x["model_group"] for x in rows) == ["embed", "stt", "tts"], rows
    digest = hashlib.sha256(b"").hexdigest()
    assert sp["sha256"] != digest and sp["length"] > 100


def test_transcription_priced_per_second_bills_the_answers_duration_else_an_estimate(
        fake, media, start_router, tmp_path):
    """model_info.input_cost_per_second (LiteLLM's whisper pricing): whisper-1's usage
    {"type": "duration", "seconds": N} is billed N seconds; verbose_json's duration likewise;
    an answer without either is an estimate from the upload at 16 kbit/s, marked as one."""
    _, audio = wav_file(tmp_path)
    seconds = max(1, len(audio) // 32000)  # what the fake reports
    price = 0.0001
    models = [dep("ears", "whisper-1", media, model_info={"input_cost_per_second": price})]
    r = start_router(router_config(fake, models))
    assert transcribe(r, "ears", audio).status == 200
    assert transcribe(r, "ears", audio, response_format="verbose_json").status == 200
    media.script(ok(usage=None))
    assert transcribe(r, "ears", audio).status == 200
    rows = rows_of(r, "ears", 3)
    assert [x["cost_usd"] for x in rows[:2]] == [pytest.approx(seconds * price)] * 2
    assert [x["estimated"] for x in rows] == [0, 0, 1]
    assert rows[2]["cost_usd"] > 0 and rows[2]["cost_source"] == "estimate"


# ---------------------------------------------------------------------------
# Images (issue 49): /v1/images/generations for model_info.mode image_generation deployments
# ---------------------------------------------------------------------------

IMAGE_PRICE = 0.04


def image_models(media):
    return [
        dep("dalle", "dall-e-3", media,
            model_info={"id": "dalle-1", "mode": "image_generation",
                        "output_cost_per_image": IMAGE_PRICE}),
        dep("gpt-image", "gpt-image-1", media,
            model_info={"id": "gpt-image-1", "mode": "image_generation",
                        "input_cost_per_token": 5e-6, "output_cost_per_token": 4e-5}),
    ]


def test_images_reach_the_upstream_and_bill_litellms_per_image_price(fake, media,
                                                                      start_router):
    r = start_router(router_config(fake, image_models(media)))
    reply = r.post("/v1/images/generations", {"model": "dalle", "prompt": "a red fox", "n": 2})
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert len(doc["data"]) == 2 and doc["data"][0]["url"].startswith("https://images.example/")
    assert reply.headers["x-litellm-model-id"] == "dalle-1"
    sent = media.requests[-1]
    assert sent["path"] == "/v1/images/generations"
    assert sent["body"] == {"model": "dall-e-3", "prompt": "a red fox", "n": 2}
    rows = rows_of(r, "dalle")
    assert len(rows) == 1, rows
    assert approx(rows[0]["cost_usd"], 2 * IMAGE_PRICE, 1e-12), rows
    assert rows[0]["cost_source"] == "model_info" and rows[0]["estimated"] == 0, rows
    assert r.post("/images/generations", {"model": "dalle", "prompt": "x"}).status == 200


def test_images_with_the_providers_usage_bill_its_tokens(fake, media, start_router):
    r = start_router(router_config(fake, image_models(media)))
    reply = r.post("/v1/images/generations", {"model": "gpt-image", "prompt": "a lighthouse"})
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert "b64_json" in doc["data"][0]
    rows = rows_of(r, "gpt-image")
    assert len(rows) == 1, rows
    assert rows[0]["input_tokens"] == doc["usage"]["input_tokens"], rows
    assert rows[0]["output_tokens"] == doc["usage"]["output_tokens"] == 272, rows
    want = doc["usage"]["input_tokens"] * 5e-6 + 272 * 4e-5
    assert approx(rows[0]["cost_usd"], want, 1e-12), rows


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # an image's bytes, NULs and CRLFs too


def edit_image(r, model, image=PNG, **fields):
    body, ctype = multipart([("model", model), *fields.items()],
                            [("image", "fox.png", "image/png", image)])
    return r.post("/v1/images/edits", raw=body, headers={"Content-Type": ctype})


def test_image_edits_arrive_byte_exact_and_bill_litellms_per_image_price(fake, media,
                                                                         start_router):
    models = [dep("dalle2", "dall-e-2", media,
                  model_info={"id": "dalle2-1", "mode": "image_generation",
                              "output_cost_per_image": IMAGE_PRICE})]
    r = start_router(router_config(fake, models))
    reply = edit_image(r, "dalle2", prompt="give the fox a hat", n="3")
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert len(doc["data"]) == 3 and doc["data"][0]["url"].startswith("https://images.example/")
    sent = media.requests[-1]
    assert sent["path"] == "/v1/images/edits"
    assert sent["headers"]["content-type"].startswith("multipart/form-data;")
    form = sent["form"]
    assert form["image"]["data"] == PNG, "the image must arrive byte for byte"
    assert form["image"]["filename"] == "fox.png"
    assert form["model"]["data"] == b"dall-e-2"
    assert form["prompt"]["data"] == b"give the fox a hat" and form["n"]["data"] == b"3"
    rows = rows_of(r, "dalle2")
    assert len(rows) == 1, rows
    assert approx(rows[0]["cost_usd"], 3 * IMAGE_PRICE, 1e-12), rows
    assert rows[0]["cost_source"] == "model_info" and rows[0]["estimated"] == 0, rows


def test_image_edits_with_the_providers_usage_bill_its_tokens(fake, media, start_router):
    r = start_router(router_config(fake, image_models(media)))
    reply = edit_image(r, "gpt-image", prompt="make it night")
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert "b64_json" in doc["data"][0]
    rows = rows_of(r, "gpt-image")
    assert len(rows) == 1, rows
    assert rows[0]["input_tokens"] == doc["usage"]["input_tokens"], rows
    assert rows[0]["output_tokens"] == 272, rows
    want = doc["usage"]["input_tokens"] * 5e-6 + 272 * 4e-5
    assert approx(rows[0]["cost_usd"], want, 1e-12), rows


def test_an_image_edit_without_a_prompt_is_openais_400_and_a_gemini_one_is_refused(
        fake, media, start_router):
    models = [*image_models(media),
              dep("gem-image", "gemini-2.5-flash-image", media, provider="gemini",
                  model_info={"mode": "chat"})]
    r = start_router(router_config(fake, models))
    assert_openai_400(edit_image(r, "dalle"), "prompt", "missing_required_parameter")
    reply = edit_image(r, "gem-image", prompt="x")
    assert reply.status == 400, reply.text
    assert "does not serve /v1/images/edits" in reply.error()["message"], reply.text
    assert not media.requests


def test_an_image_request_without_a_prompt_is_openais_400(fake, media, start_router):
    r = start_router(router_config(fake, image_models(media)))
    reply = r.post("/v1/images/generations", {"model": "dalle"})
    assert_openai_400(reply, "prompt", "missing_required_parameter")
    assert not media.requests


# ---------------------------------------------------------------------------
# Rerank (issue 49): /v1/rerank, LiteLLM's Cohere-shaped API, for mode: rerank deployments
# ---------------------------------------------------------------------------

QUERY_PRICE = 0.002


def test_rerank_reaches_the_upstream_and_bills_litellms_per_query_price(fake, media,
                                                                         start_router):
    models = [dep("rerank", "rerank-v3.5", media, provider="hosted_vllm",
                  model_info={"id": "rerank-1", "mode": "rerank",
                              "input_cost_per_query": QUERY_PRICE})]
    r = start_router(router_config(fake, models))
    body = {"model": "rerank", "query": "red fox",
            "documents": ["a blue whale", "the quick red fox", {"text": "a red car"}],
            "top_n": 2}
    reply = r.post("/v1/rerank", body)
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert [x["index"] for x in doc["results"]] == [1, 2]
    assert reply.headers["x-litellm-model-id"] == "rerank-1"
    sent = media.requests[-1]
    assert sent["path"] == "/v1/rerank"
    assert sent["body"] == {**body, "model": "rerank-v3.5"}
    rows = rows_of(r, "rerank")
    assert len(rows) == 1, rows
    assert approx(rows[0]["cost_usd"], QUERY_PRICE, 1e-12), rows
    assert rows[0]["cost_source"] == "model_info" and rows[0]["estimated"] == 0, rows
    assert r.post("/rerank", body).status == 200


def test_a_rerank_request_without_documents_is_openais_400(fake, media, start_router):
    models = [dep("rerank", "rerank-v3.5", media, provider="hosted_vllm",
                  model_info={"mode": "rerank"})]
    r = start_router(router_config(fake, models))
    reply = r.post("/v1/rerank", {"model": "rerank", "query": "x"})
    assert_openai_400(reply, "documents", "missing_required_parameter")
    assert not media.requests
