#!/usr/bin/env python3
"""A fake of OpenAI's non-chat endpoints: embeddings, completions, audio transcriptions and
audio speech, for the router's e2e tests (tests/e2e/test_router_endpoints.py).

It checks each request the way OpenAI's API reference shapes it and answers with OpenAI's
documented bodies; `fake_openai.py` stays the chat-completions fake. Standard library only.

    with FakeOpenAIMedia(api_key="sk-test") as fake:     # 127.0.0.1, ephemeral port
        fake.script(error(503))                          # next request: HTTP 503
        ...  # point a deployment's api_base at fake.url ("http://127.0.0.1:PORT/v1")
        assert fake.requests[0]["form"]["file"]["data"] == wav_bytes

Endpoints (each also without the /v1 prefix):

``POST /v1/embeddings`` (JSON)
    ``model`` and ``input`` required; ``input`` is a non-empty string, or a non-empty array of
    strings, of token ids, or of arrays of token ids; ``encoding_format`` ``float`` (default)
    or ``base64`` (little-endian float32, what the OpenAI SDKs ask for); ``dimensions`` > 0.
    Answer: ``{"object":"list","data":[{"object":"embedding","index":i,"embedding":...}],
    "model":...,"usage":{"prompt_tokens":N,"total_tokens":N}}`` with N = the input's bytes//4
    (at least 1 per input).
``POST /v1/completions`` (JSON)
    ``model`` and ``prompt`` required. Answer: a ``text_completion`` with ``choices[].text``
    and usage; ``stream: true`` sends ``text_completion`` chunks, then (with
    ``stream_options.include_usage``) a ``"choices": []`` usage chunk, then ``data: [DONE]``.
``POST /v1/audio/transcriptions`` (multipart/form-data)
    ``file`` (a file part whose name ends in flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav or
    webm) and ``model`` required. ``response_format`` json (default): ``{"text": ...}`` plus
    ``usage`` (``{"type":"tokens",...}`` for gpt-4o-* models, ``{"type":"duration",
    "seconds":...}`` for whisper-1); text, srt, vtt: plain text; verbose_json: text, language,
    duration, segments. The gpt-4o-* models take json only, as OpenAI's do.
``POST /v1/audio/speech`` (JSON)
    ``model``, ``input`` (1..4096 characters) and ``voice`` required; ``response_format`` mp3
    (default), opus, aac, flac, wav or pcm; ``speed`` 0.25..4. Answer: audio bytes with their
    type (opus is Ogg: the body starts with ``OggS``).
``POST /v1/images/generations`` (JSON)
    ``model`` and ``prompt`` (a non-empty string) required; ``n`` 1..10 (default 1);
    ``response_format`` url (default) or b64_json for dall-e-*; gpt-image-* always answer
    b64_json and carry ``usage`` (``input_tokens``, ``output_tokens``, ``total_tokens``).
    Answer: ``{"created": ..., "data": [{"url": ...} | {"b64_json": ...}], ...}``.
``POST /v1/images/edits`` (multipart/form-data)
    ``model``, ``prompt`` (non-empty) and ``image`` (or ``image[]``: a file part whose name
    ends in png, webp, jpg or jpeg) required; ``mask`` (a png file part) and ``n`` 1..10
    optional. Answer as for generations (gpt-image-* with ``usage``, whose input counts 65
    tokens an image besides the prompt's).
``POST /v1/rerank`` (JSON, Cohere's shape as LiteLLM serves it)
    ``model``, ``query`` (a non-empty string) and ``documents`` (a non-empty list of strings or
    ``{"text": ...}``) required; ``top_n`` >= 1. Answer: ``{"id", "results": [{"index",
    "relevance_score"}], "meta": {"billed_units": {"search_units": 1}}}``, best first (the
    share of the query's words in the document).

Errors are OpenAI's shape ``{"error":{"message","type","param","code"}}``: 401
``invalid_api_key`` with ``api_key`` set, 400 ``invalid_request_error`` for a bad request, 404
for an unknown path.

A script (FIFO, shared by every endpoint) may replace the next answers: ``error(status,
body=None, retry_after=None)``, ``ok(**overrides)`` (``text`` of a transcription or
completion, ``usage`` dict merged over the computed one or ``None`` to leave it out,
``audio`` bytes, ``content_type``); either takes ``delay`` (seconds before answering). With
the queue empty every valid request gets the normal
answer. Recorded requests (``fake.requests``): ``path``, ``headers`` (lower-case keys),
``raw`` (bytes), ``body`` (parsed JSON or None), ``form`` (name -> ``{"filename",
"content_type", "data"}`` for multipart), ``status`` (what was answered).
"""
import base64
import hashlib
import json
import re
import struct
import time

try:
    from fakes.openai_steps import (BadRequest, StepFake, StepHandler, error, ok,  # noqa: F401
                                    openai_error, tokens_of)
    from fakes.served import serve_until_signal
except ImportError:  # run as a script from tests/fakes
    from openai_steps import (BadRequest, StepFake, StepHandler, error, ok,  # noqa: F401
                              openai_error, tokens_of)
    from served import serve_until_signal

AUDIO_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
SPEECH_FORMATS = {
    "mp3": ("audio/mpeg", b"ID3\x04\x00\x00\x00\x00\x00\x00"),
    "opus": ("audio/ogg", b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"),
    "aac": ("audio/aac", b"\xff\xf1\x50\x80"),
    "flac": ("audio/flac", b"fLaC\x00\x00\x00\x22"),
    "wav": ("audio/wav", b"RIFF\x24\x00\x00\x00WAVEfmt "),
    "pcm": ("audio/pcm", b"\x00\x00\x01\x00"),
}
TRANSCRIPT = "The quick brown fox jumps over the lazy dog."


def parse_multipart(content_type, raw):
    """name -> {filename, content_type, data} (first part of each name), an independent reading
    of RFC 7578: the boundary from the header, parts between CRLF--boundary delimiters."""
    m = re.match(r'\s*multipart/form-data\s*;.*?boundary=("([^"]+)"|[^;\s]+)', content_type or "",
                 re.I)
    if not m:
        raise BadRequest("Invalid Content-Type header (expected multipart/form-data with a "
                         "boundary)")
    boundary = (m.group(2) or m.group(1)).encode()
    delim = b"--" + boundary
    if not raw.startswith(delim):
        i = raw.find(b"\r\n" + delim)
        if i < 0:
            raise BadRequest("multipart body without its boundary")
        raw = raw[i + 2:]
    form = {}
    chunks = raw.split(b"\r\n" + delim)
    first = chunks[0][len(delim):]
    chunks = [first] + chunks[1:]
    closed = False
    for chunk in chunks:
        if chunk.startswith(b"--"):
            closed = True
            break
        chunk = chunk.lstrip(b" \t")
        if not chunk.startswith(b"\r\n"):
            raise BadRequest("malformed multipart body")
        head, sep, data = chunk[2:].partition(b"\r\n\r\n")
        if not sep:
            raise BadRequest("malformed multipart part headers")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        disp = headers.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', disp)
        fname = re.search(r'(?:^|;)\s*filename="([^"]*)"', disp)
        if not disp.lower().startswith("form-data") or not name:
            raise BadRequest("multipart part without Content-Disposition: form-data; name")
        form.setdefault(name.group(1), {"filename": fname.group(1) if fname else None,
                                        "content_type": headers.get("content-type"),
                                        "data": data})
    if not closed:
        raise BadRequest("multipart body without its closing boundary")
    return form


class _Handler(StepHandler):
    log_name = "fake_openai_media"

    def do_GET(self):
        self.rec = {}
        self._send(404, openai_error(f"Invalid URL (GET {self.path})"))

    def do_POST(self):
        fake = self.server.fake
        raw = self._read()
        path = self.path.split("?")[0]
        route = path[3:] if path.startswith("/v1/") else path
        self.rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                    "raw": raw, "body": None, "form": None, "status": 0, "time": time.time()}
        with fake.lock:
            fake.requests.append(self.rec)
        handler = {"/embeddings": self._embeddings, "/completions": self._completions,
                   "/audio/transcriptions": self._transcriptions,
                   "/audio/speech": self._speech,
                   "/images/generations": self._images, "/images/edits": self._image_edits,
                   "/rerank": self._rerank}.get(route)
        if handler is None:
            return self._send(404, openai_error(f"Invalid URL (POST {self.path})"))
        if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._send(401, openai_error("Incorrect API key provided.", None,
                                                "invalid_api_key"))
        try:
            if route in ("/audio/transcriptions", "/images/edits"):
                self.rec["form"] = parse_multipart(self.headers.get("Content-Type"), raw)
            else:
                if "application/json" not in self.headers.get("Content-Type", ""):
                    raise BadRequest("Invalid Content-Type header, expected application/json")
                try:
                    self.rec["body"] = json.loads(raw)
                except ValueError:
                    raise BadRequest("We could not parse the JSON body of your request.")
                if not isinstance(self.rec["body"], dict):
                    raise BadRequest("The request body must be a JSON object.")
            step = fake.next_step()
            time.sleep(step.get("delay", 0))
            if step.get("kind") == "error":
                hdr = {"Retry-After": str(step["retry_after"])} if step.get("retry_after") else {}
                return self._send(step["status"], step["body"], headers=hdr)
            handler(step)
        except BadRequest as e:
            self._send(e.status, e.body)

    # -- checks shared by the JSON endpoints --
    def _need(self, body, name):
        if body.get(name) is None:
            raise BadRequest(f"Missing required parameter: '{name}'.", name,
                             "missing_required_parameter")
        return body[name]

    def _usage(self, step, usage):
        if "usage" in step:
            if step["usage"] is None:
                return None
            usage = {**usage, **step["usage"]}
        return usage

    def _embeddings(self, step):
        body = self.rec["body"]
        model = self._need(body, "model")
        inp = self._need(body, "input")
        items = [inp] if isinstance(inp, str) else inp
        if not isinstance(items, list) or not items or any(
                not (isinstance(x, str) or isinstance(x, int) or
                     (isinstance(x, list) and all(isinstance(t, int) for t in x)))
                for x in items) or inp == "":
            raise BadRequest("'$.input' is invalid. Please check the API reference: "
                             "https://platform.openai.com/docs/api-reference.", "input")
        if all(isinstance(x, int) for x in items):
            items = [items]
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            raise BadRequest(f"Invalid value for 'encoding_format': {fmt!r}.", "encoding_format")
        dims = body.get("dimensions", 8)
        if not isinstance(dims, int) or dims < 1:
            raise BadRequest("Invalid value for 'dimensions': must be at least 1.", "dimensions")
        data, prompt = [], 0
        for i, x in enumerate(items):
            seed = hashlib.sha256(json.dumps(x).encode()).digest()
            vec = [(seed[j % 32] - 128) / 128.0 for j in range(dims)]
            emb = (base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if fmt == "base64"
                   else vec)
            data.append({"object": "embedding", "index": i, "embedding": emb})
            prompt += tokens_of(x) if isinstance(x, str) else len(x)
        out = {"object": "list", "data": data, "model": model}
        usage = self._usage(step, {"prompt_tokens": prompt, "total_tokens": prompt})
        if usage is not None:
            out["usage"] = usage
        self._send(200, out)

    def _completions(self, step):
        body = self.rec["body"]
        model = self._need(body, "model")
        prompt = self._need(body, "prompt")
        text = step.get("text", " and that is all.")
        pt = tokens_of(json.dumps(prompt))
        usage = self._usage(step, {"prompt_tokens": pt, "completion_tokens": tokens_of(text),
                                   "total_tokens": pt + tokens_of(text)})
        base = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()),
                "model": model}
        if not body.get("stream"):
            out = {**base, "choices": [{"text": text, "index": 0, "logprobs": None,
                                        "finish_reason": "stop"}]}
            if usage is not None:
                out["usage"] = usage
            return self._send(200, out)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.rec["status"] = 200
        events = [{**base, "choices": [{"text": text[i:i + 8], "index": 0, "logprobs": None,
                                        "finish_reason": None}]}
                  for i in range(0, len(text), 8)]
        events.append({**base, "choices": [{"text": "", "index": 0, "logprobs": None,
                                            "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage") and usage is not None:
            events.append({**base, "choices": [], "usage": usage})
        for ev in [json.dumps(e) for e in events] + ["[DONE]"]:
            chunk = f"data: {ev}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def _transcriptions(self, step):
        form = self.rec["form"]
        if "file" not in form or form["file"]["filename"] is None:
            raise BadRequest("Missing required parameter: 'file'.", "file",
                             "missing_required_parameter")
        if "model" not in form:
            raise BadRequest("Missing required parameter: 'model'.", "model",
                             "missing_required_parameter")
        model = form["model"]["data"].decode()
        fname = form["file"]["filename"]
        if fname.rsplit(".", 1)[-1].lower() not in AUDIO_EXTENSIONS:
            raise BadRequest("Invalid file format. Supported formats: "
                             + json.dumps(list(AUDIO_EXTENSIONS)), "file", "invalid_value")
        fmt = form["response_format"]["data"].decode() if "response_format" in form else "json"
        if fmt not in ("json", "text", "srt", "verbose_json", "vtt"):
            raise BadRequest(f"Invalid value for 'response_format': {fmt!r}.", "response_format")
        if model.startswith("gpt-4o") and fmt != "json":
            raise BadRequest(f"response_format '{fmt}' is not compatible with model '{model}'. "
                             "Use 'json' or 'text' instead.", "response_format",
                             "unsupported_value")
        text = step.get("text", TRANSCRIPT)
        seconds = max(1, len(form["file"]["data"]) // 32000)
        if fmt == "text":
            return self._send(200, (text + "\n").encode(), "text/plain; charset=utf-8")
        if fmt in ("srt", "vtt"):
            cue = f"1\n00:00:00,000 --> 00:00:0{min(seconds, 9)},000\n{text}\n"
            return self._send(200, (("WEBVTT\n\n" if fmt == "vtt" else "") + cue).encode(),
                              "text/plain; charset=utf-8")
        out = {"text": text}
        if fmt == "verbose_json":
            out = {"task": "transcribe", "language": "english", "duration": seconds,
                   "text": text, "segments": []}
        if model.startswith("gpt-4o"):
            audio = seconds * 10
            usage = {"type": "tokens", "input_tokens": audio,
                     "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
                     "output_tokens": tokens_of(text), "total_tokens": audio + tokens_of(text)}
        else:
            usage = {"type": "duration", "seconds": seconds}
        usage = self._usage(step, usage)
        if usage is not None:
            out["usage"] = usage
        self._send(200, out)

    def _speech(self, step):
        body = self.rec["body"]
        self._need(body, "model")
        inp = self._need(body, "input")
        voice = self._need(body, "voice")
        if not isinstance(inp, str) or not inp:
            raise BadRequest("Invalid value for 'input': expected a non-empty string.", "input")
        if len(inp) > 4096:
            raise BadRequest("string too long. Expected a string with maximum length 4096, "
                             f"but got a string with length {len(inp)} instead.", "input",
                             "string_above_max_length")
        if not isinstance(voice, (str, dict)):
            raise BadRequest("Invalid value for 'voice'.", "voice")
        fmt = body.get("response_format", "mp3")
        if fmt not in SPEECH_FORMATS:
            raise BadRequest(f"Invalid value for 'response_format': {fmt!r}.", "response_format")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
            raise BadRequest("Invalid value for 'speed': must be between 0.25 and 4.0.", "speed")
        ctype, magic = SPEECH_FORMATS[fmt]
        audio = step.get("audio", magic + hashlib.sha256(inp.encode()).digest() * 8
                         + bytes(range(256)))
        self._send(200, audio, step.get("content_type", ctype))


    def _rerank(self, step):
        body = self.rec["body"]
        self._need(body, "model")
        query = self._need(body, "query")
        docs = self._need(body, "documents")
        if not isinstance(query, str) or not query:
            raise BadRequest("Invalid value for 'query': expected a non-empty string.", "query")
        if not isinstance(docs, list) or not docs:
            raise BadRequest("Invalid value for 'documents': expected a non-empty list.",
                             "documents")
        texts = [d.get("text", "") if isinstance(d, dict) else str(d) for d in docs]
        words = set(query.lower().split())
        scores = [len(words & set(t.lower().split())) / max(1, len(words)) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -scores[i])
        top_n = body.get("top_n", len(texts))
        if not isinstance(top_n, int) or top_n < 1:
            raise BadRequest("Invalid value for 'top_n'.", "top_n")
        answer = {"id": hashlib.sha256(query.encode()).hexdigest()[:16],
                  "results": [{"index": i, "relevance_score": scores[i]}
                              for i in order[:top_n]],
                  "meta": {"billed_units": {"search_units": 1}}}
        self._send(200, answer)

    def _images(self, step):
        body = self.rec["body"]
        model = self._need(body, "model")
        prompt = self._need(body, "prompt")
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest("Invalid value for 'prompt': expected a non-empty string.",
                             "prompt")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            raise BadRequest("Invalid value for 'n': must be between 1 and 10.", "n")
        gpt_image = str(model).startswith("gpt-image")
        fmt = "b64_json" if gpt_image else body.get("response_format", "url")
        if fmt not in ("url", "b64_json"):
            raise BadRequest(f"Invalid value for 'response_format': {fmt!r}.",
                             "response_format")
        digest = hashlib.sha256(prompt.encode()).hexdigest()
        data = [{"url": f"https://images.example/{digest}-{i}.png"} if fmt == "url" else
                {"b64_json": base64.b64encode(b"\x89PNG\r\n" + digest.encode()).decode()}
                for i in range(n)]
        answer = {"created": int(time.time()), "data": data}
        usage = ({"input_tokens": tokens_of(prompt), "output_tokens": 272 * n,
                  "total_tokens": tokens_of(prompt) + 272 * n} if gpt_image else None)
        if "usage" in step:
            usage = self._usage(step, usage or {})
        if usage is not None:
            answer["usage"] = usage
        self._send(200, answer)

    def _image_edits(self, step):
        form = self.rec["form"]

        def field(name):
            part = form.get(name)
            if part is None or part.get("filename") is not None:
                return None
            return part["data"].decode("utf-8", "replace")

        model = field("model")
        if model is None:
            raise BadRequest("Missing required parameter: 'model'.", "model",
                             "missing_required_parameter")
        prompt = field("prompt")
        if not prompt:
            raise BadRequest("Missing required parameter: 'prompt'.", "prompt",
                             "missing_required_parameter")
        image = form.get("image") or form.get("image[]")
        if image is None or not image.get("filename"):
            raise BadRequest("Missing required parameter: 'image'.", "image",
                             "missing_required_parameter")
        if not image["filename"].lower().endswith((".png", ".webp", ".jpg", ".jpeg")):
            raise BadRequest("Invalid file 'image': unsupported file format.", "image")
        n = field("n") or "1"
        if not n.isdigit() or not 1 <= int(n) <= 10:
            raise BadRequest("Invalid value for 'n': must be between 1 and 10.", "n")
        n = int(n)
        gpt_image = model.startswith("gpt-image")
        digest = hashlib.sha256(prompt.encode() + image["data"]).hexdigest()
        data = [{"url": f"https://images.example/edit-{digest}-{i}.png"} if not gpt_image else
                {"b64_json": base64.b64encode(b"\x89PNG\r\n" + digest.encode()).decode()}
                for i in range(n)]
        answer = {"created": int(time.time()), "data": data}
        if gpt_image:
            answer["usage"] = {"input_tokens": tokens_of(prompt) + 65,
                               "output_tokens": 272 * n,
                               "total_tokens": tokens_of(prompt) + 65 + 272 * n}
        self._send(200, answer)


class FakeOpenAIMedia(StepFake):
    def __init__(self, api_key=None, verbose=False):
        super().__init__(_Handler, api_key, verbose)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api-key")
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    fake = FakeOpenAIMedia(api_key=a.api_key, verbose=a.verbose)
    serve_until_signal(fake, f"http://127.0.0.1:{fake.port}", a.port_file)
