#!/usr/bin/env python3
"""A scripted fake of the Gemini API (Google AI Studio), standing in for
https://generativelanguage.googleapis.com in hermetic's end-to-end tests of the gemini/
dialect. Standard library only.

It follows Google's documentation of ``models.generateContent`` and
``models.streamGenerateContent`` (ai.google.dev/api/generate-content) and the error shape of
Google APIs (ai.google.dev/gemini-api/docs/troubleshooting; google.rpc.Status):

- ``POST /v1beta/models/{model}:generateContent`` answers a GenerateContentResponse;
  ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` answers Server-Sent Events,
  each ``data: <GenerateContentResponse>`` + CRLF CRLF, no event names and no end marker, the
  last one carrying ``finishReason`` and the final ``usageMetadata``; without ``alt=sse`` the
  stream is one JSON array of responses, as Google sends it.
- Images (ai.google.dev/gemini-api/docs/imagen, .../docs/image-generation):
  ``POST /v1beta/models/{imagen-model}:predict`` takes ``{"instances": [{"prompt"}],
  "parameters": {"sampleCount" 1..4, "aspectRatio" 1:1|3:4|4:3|9:16|16:9, ...}}`` and answers
  ``{"predictions": [{"mimeType", "bytesBase64Encoded"}]}``; images its safety filters take are
  left out (with ``includeRaiReason``, a ``{"raiFilteredReason"}`` entry instead), all taken:
  ``{}``. A Gemini image model (an id with "image") answers generateContent with
  ``responseModalities`` ``["IMAGE"]`` with ``inlineData`` parts; a filtered image is a
  candidate with ``finishReason`` ``IMAGE_SAFETY`` and no content; a model without "image"
  refuses IMAGE as an unsupported modality.
- Auth: ``x-goog-api-key`` (or ``?key=``). None: 403 PERMISSION_DENIED "Method doesn't allow
  unregistered callers ..."; a wrong one: 400 INVALID_ARGUMENT "API key not valid. Please pass
  a valid API key." with an ErrorInfo detail, reason API_KEY_INVALID.
- Errors: ``{"error": {"code", "message", "status", "details"?}}`` with the HTTP status = code.
- The request is validated as Google validates it (what the tests need to catch): unknown
  fields ("Invalid JSON payload received. Unknown name ..."), contents given and non-empty,
  roles ``user``/``model`` only ("Please use a valid role: user, model."), parts non-empty with
  one data field each, functionCall parts only from the model, functionResponse parts only
  from the user and only right after a function-call turn with as many responses as calls,
  functionCall.args and functionResponse.response objects, function declarations with valid
  names and OpenAPI-subset schemas (JSON-schema keys such as ``additionalProperties`` or
  ``$schema`` are unknown names; an OBJECT schema needs properties), toolConfig modes,
  inlineData with a mime type and base64 data. camelCase and snake_case field names are both
  accepted, as the proto-JSON mapping accepts them.

In a test::

    from fakes.fake_gemini import FakeGemini, text, function_calls, google_error
    with FakeGemini(api_key="AIza-test") as g:
        g.script(google_error(503), text("Hello!", thoughts="thinking..."))
        g.script_for("gemini-2.5-pro", function_calls(("get_weather", {"city": "Oslo"})))
        ...  # api_base = g.url ("http://127.0.0.1:PORT")
        assert g.requests[0]["body"]["contents"][0]["role"] == "user"

Steps (FIFO; a model's own queue first, then the shared one; empty: 500 "fake_gemini: script
exhausted"): ``text(content, thoughts=, finish=, usage=, chunk_size=, error_after=, error=)``,
``function_calls((name, args[, thought_signature]), ..., text=)``, ``blocked(reason)`` (a
prompt blocked by promptFeedback, no candidates), ``google_error(status, message=)`` and
``context_too_long()``, ``images(filtered=, text=)`` (an image step: an answer to :predict
or to a Gemini image model). Recorded requests: ``method``, ``path``, ``query``, ``headers``
(lower-case keys), ``body`` (parsed), ``model``, ``rpc`` (generateContent or
streamGenerateContent), ``sse``, ``status`` (of the answer), ``step``.

As a process: ``python3 tests/fakes/fake_gemini.py --port 0 --port-file F --api-key K``.
"""
import argparse
import base64
import binascii
import json
import re
import sys
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
try:
    from fakes.served import Served, serve_until_signal
except ImportError:  # run as a script from tests/fakes
    from served import Served, serve_until_signal
from urllib.parse import parse_qs, unquote, urlsplit

# ---------------------------------------------------------------------------
# Google's error bodies
# ---------------------------------------------------------------------------

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "You exceeded your current quota, please check your plan and billing details. For "
         "more information on this error, head to: https://ai.google.dev/gemini-api/docs/"
         "rate-limits.",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}

MAX_INPUT_TOKENS = 1048576


def error_body(code, message=None, details=None):
    err = {"code": code, "message": message or DEFAULT_MESSAGES.get(code, "Error"),
           "status": STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        err["details"] = details
    return {"error": err}


def _quota_details():
    return [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
             "violations": [{"quotaMetric": "generativelanguage.googleapis.com/"
                                            "generate_content_free_tier_requests",
                             "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]


class BadRequest(Exception):
    """A request Google would refuse: (status, body)."""

    def __init__(self, message, code=400, details=None):
        super().__init__(message)
        self.status = code
        self.body = error_body(code, message, details)


def unknown_name(name, where=None):
    at = f" at '{where}'" if where else ""
    return BadRequest(f'Invalid JSON payload received. Unknown name "{name}"{at}: '
                      f"Cannot find field.",
                      details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                "fieldViolations": [{"field": where or "",
                                                     "description": f'Invalid JSON payload '
                                                     f'received. Unknown name "{name}"{at}: '
                                                     f'Cannot find field.'}]}])


# ---------------------------------------------------------------------------
# Script steps
# ---------------------------------------------------------------------------

def text(content, thoughts=None, finish="STOP", usage=None, chunk_size=8, error_after=None,
         error=None, model_version=None):
    """An answer; streamed in `chunk_size` pieces. `error_after=N`: N events, then an error
    event (`error`, default a 503 body) and the end of the stream."""
    return {"kind": "text", "content": content, "thoughts": thoughts, "finish": finish,
            "usage": usage or {}, "chunk_size": chunk_size, "error_after": error_after,
            "error": error, "model_version": model_version}


def function_calls(*calls, text=None, finish="STOP", usage=None):  # noqa: A002
    """Function calls (name, args[, thought_signature]), optionally after some text."""
    out = []
    for c in calls:
        call = {"name": c[0], "args": c[1] if len(c) > 1 else {}}
        if len(c) > 2 and c[2]:
            call["thoughtSignature"] = c[2]
        out.append(call)
    return {"kind": "calls", "calls": out, "text": text, "finish": finish, "usage": usage or {}}


def images(filtered=0, text=None):  # noqa: A002
    """Images for an image request: sampleCount (Imagen) or candidateCount (a Gemini image
    model) of them, the last `filtered` taken by the safety filters; `text`: a text part
    before each Gemini image."""
    return {"kind": "images", "filtered": filtered, "text": text}


def image_bytes(model, prompt, i):
    """The bytes of the fake's i-th image for a prompt (a PNG signature, then who made it)."""
    return b"\x89PNG\r\n\x1a\n" + f"{model}|{i}|{prompt}".encode()


def validate_predict(model, body):
    """Raises BadRequest for an Imagen PredictRequest Google would refuse; returns (prompt,
    parameters)."""
    if not isinstance(body, dict):
        raise BadRequest("Invalid JSON payload received. Expected an object.")
    for k in body:
        if k not in ("instances", "parameters"):
            raise BadRequest(f'Invalid JSON payload received. Unknown name "{k}": Cannot find '
                             f'field.')
    inst = body.get("instances")
    if not isinstance(inst, list) or len(inst) != 1 or not isinstance(inst[0], dict) or \
            not isinstance(inst[0].get("prompt"), str) or not inst[0]["prompt"]:
        raise BadRequest("Exactly one instance with a non-empty prompt is required.")
    for k in inst[0]:
        if k != "prompt":
            raise BadRequest(f'Invalid JSON payload received. Unknown name "{k}" at '
                             f'\'instances[0]\': Cannot find field.')
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadRequest("Invalid JSON payload received. parameters must be an object.")
    for k in params:
        if k not in PREDICT_PARAMETERS:
            raise BadRequest(f'Invalid JSON payload received. Unknown name "{k}" at '
                             f'\'parameters\': Cannot find field.')
    n = params.get("sampleCount", 4)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 4:
        raise BadRequest(f"Number of images to generate must be between 1 and 4, got {n}.")
    ar = params.get("aspectRatio", "1:1")
    if ar not in IMAGEN_ASPECT_RATIOS:
        raise BadRequest(f"Unsupported aspect ratio: {ar}. Supported values: 1:1, 3:4, 4:3, "
                         f"9:16, 16:9.")
    return inst[0]["prompt"], params


def blocked(reason="SAFETY"):
    return {"kind": "blocked", "reason": reason}


def google_error(status, message=None, details=None):
    if status == 429 and details is None:
        details = _quota_details()
    return {"kind": "error", "status": status, "body": error_body(status, message, details)}


def context_too_long(count=1054016):
    return google_error(400, f"The input token count ({count}) exceeds the maximum number of "
                             f"tokens allowed ({MAX_INPUT_TOKENS}).")


# ---------------------------------------------------------------------------
# Request validation (GenerateContentRequest)
# ---------------------------------------------------------------------------

def _snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _fields(obj, allowed, where):
    """The object's fields by camelCase name; unknown names refused as Google refuses them."""
    if not isinstance(obj, dict):
        raise BadRequest(f"Invalid value at '{where}', expected an object.")
    by_snake = {_snake(a): a for a in allowed}
    out = {}
    for k, v in obj.items():
        name = k if k in allowed else by_snake.get(k)
        if name is None:
            raise unknown_name(k, where)
        out[name] = v
    return out


REQUEST_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
                  "safetySettings", "cachedContent"}
GENERATION_FIELDS = {"stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
                     "responseModalities", "candidateCount", "maxOutputTokens", "temperature",
                     "topP", "topK", "seed", "presencePenalty", "frequencyPenalty",
                     "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers", "speechConfig",
                     "thinkingConfig", "mediaResolution", "imageConfig"}
GEMINI_ASPECT_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
IMAGEN_ASPECT_RATIOS = {"1:1", "3:4", "4:3", "9:16", "16:9"}
PREDICT_PARAMETERS = {"sampleCount", "aspectRatio", "personGeneration", "safetySetting",
                      "addWatermark", "enhancePrompt", "includeRaiReason", "outputOptions",
                      "sampleImageSize", "negativePrompt", "seed", "language", "imageSize"}
PART_DATA = {"text", "inlineData", "functionCall", "functionResponse", "fileData",
             "executableCode", "codeExecutionResult"}
PART_FIELDS = PART_DATA | {"thought", "thoughtSignature", "videoMetadata"}
SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "maxItems",
                 "minItems", "properties", "required", "minProperties", "maxProperties",
                 "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
                 "default", "items", "minimum", "maximum"}
SCHEMA_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null",
                "type_unspecified"}
FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:\-]{0,63}$")


def _check_schema(s, where, depth=0):
    s = _fields(s, SCHEMA_FIELDS, where)
    t = s.get("type")
    if t is not None and (not isinstance(t, str) or t.lower() not in SCHEMA_TYPES):
        raise BadRequest(f"Invalid value at '{where}.type', \"{t}\"")
    props = s.get("properties")
    if isinstance(t, str) and t.lower() == "object" and not props and depth == 0:
        raise BadRequest(f"* GenerateContentRequest.{where}.properties: should be non-empty "
                         f"for OBJECT type\n")
    for name, sub in (props or {}).items():
        _check_schema(sub, f"{where}.properties[{name}].value", depth + 1)
    if "items" in s:
        _check_schema(s["items"], f"{where}.items", depth + 1)
    for i, sub in enumerate(s.get("anyOf") or []):
        _check_schema(sub, f"{where}.any_of[{i}]", depth + 1)


def _check_part(p, role, where):
    p = _fields(p, PART_FIELDS, where)
    data = [k for k in p if k in PART_DATA]
    if len(data) != 1:
        raise BadRequest(f"* GenerateContentRequest.{where}.data: required oneof field 'data' "
                         f"must have one initialized field\n")
    kind = data[0]
    if kind == "text" and not isinstance(p["text"], str):
        raise BadRequest(f"Invalid value at '{where}.text'")
    if kind == "inlineData":
        d = _fields(p["inlineData"], {"mimeType", "data"}, f"{where}.inline_data")
        if not d.get("mimeType"):
            raise BadRequest(f"* GenerateContentRequest.{where}.inline_data.mime_type: "
                             f"required field is not set.\n")
        try:
            base64.b64decode(d.get("data") or "", validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), "
                             f"Base64 decoding failed") from None
    if kind == "functionCall":
        fc = _fields(p["functionCall"], {"id", "name", "args"}, f"{where}.function_call")
        if role != "model":
            raise BadRequest("Please ensure that function call turn comes immediately after a "
                             "user turn or after a function response turn.")
        if not fc.get("name"):
            raise BadRequest(f"* GenerateContentRequest.{where}.function_call.name: "
                             f"Name cannot be empty.\n")
        if "args" in fc and not isinstance(fc["args"], dict):
            raise BadRequest(f"Invalid value at '{where}.function_call.args' (type.googleapis."
                             f"com/google.protobuf.Struct)")
    if kind == "functionResponse":
        fr = _fields(p["functionResponse"], {"id", "name", "response", "parts", "willContinue",
                                             "scheduling"}, f"{where}.function_response")
        if role != "user":
            raise BadRequest("Please ensure that function response turn comes immediately "
                             "after a function call turn.")
        if not fr.get("name"):
            raise BadRequest(f"* GenerateContentRequest.{where}.function_response.name: "
                             f"Name cannot be empty.\n")
        if not isinstance(fr.get("response"), dict):
            raise BadRequest(f"Invalid value at '{where}.function_response.response' "
                             f"(type.googleapis.com/google.protobuf.Struct)")
    return kind


def _check_contents(contents):
    if not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        raise BadRequest("Invalid value at 'contents', expected a list.")
    prev_calls = 0
    for i, c in enumerate(contents):
        c = _fields(c, {"role", "parts"}, f"contents[{i}]")
        role = c.get("role", "user")
        if role not in ("user", "model"):
            raise BadRequest("Please use a valid role: user, model.")
        parts = c.get("parts")
        if not parts:
            raise BadRequest(f"* GenerateContentRequest.contents[{i}].parts: contents.parts "
                             f"must not be empty.\n")
        kinds = [_check_part(p, role, f"contents[{i}].parts[{j}]") for j, p in enumerate(parts)]
        responses = kinds.count("functionResponse")
        if responses:
            if prev_calls == 0:
                raise BadRequest("Please ensure that function response turn comes immediately "
                                 "after a function call turn.")
            if responses != prev_calls:
                raise BadRequest("Please ensure that the number of function response parts is "
                                 "equal to the number of function call parts of the function "
                                 "call turn.")
        prev_calls = kinds.count("functionCall")


def _check_tools(tools, tool_config):
    names = set()
    for i, t in enumerate(tools or []):
        t = _fields(t, {"functionDeclarations", "googleSearch", "googleSearchRetrieval",
                        "codeExecution", "urlContext"}, f"tools[{i}]")
        for j, d in enumerate(t.get("functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}]"
            d = _fields(d, {"name", "description", "parameters", "parametersJsonSchema",
                            "response", "behavior"}, where)
            if not FUNCTION_NAME.match(d.get("name") or ""):
                raise BadRequest(f"* GenerateContentRequest.{where}.name: Invalid function "
                                 f"name. Must start with a letter or an underscore. Must be "
                                 f"a-z, A-Z, 0-9, or contain underscores, dots, colons and "
                                 f"dashes, with a maximum length of 64.\n")
            names.add(d["name"])
            if "parameters" in d:
                _check_schema(d["parameters"], f"{where}.parameters")
    if tool_config is None:
        return
    tc = _fields(tool_config, {"functionCallingConfig", "retrievalConfig"}, "tool_config")
    fcc = _fields(tc.get("functionCallingConfig") or {}, {"mode", "allowedFunctionNames"},
                  "tool_config.function_calling_config")
    mode = fcc.get("mode", "AUTO")
    if mode not in ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"):
        raise BadRequest(f"Invalid value at 'tool_config.function_calling_config.mode' "
                         f"(type.googleapis.com/google.ai.generativelanguage.v1beta."
                         f"FunctionCallingConfig.Mode), \"{mode}\"")
    allowed = fcc.get("allowedFunctionNames")
    if allowed and mode not in ("ANY", "VALIDATED"):
        raise BadRequest("* GenerateContentRequest.tool_config.function_calling_config."
                         "allowed_function_names: only allowed when mode is ANY.\n")
    for n in allowed or []:
        if n not in names:
            raise BadRequest(f"* GenerateContentRequest.tool_config.function_calling_config."
                             f"allowed_function_names: {n} is not a declared function.\n")


def validate(body):
    """Raises BadRequest for a GenerateContentRequest Google would refuse."""
    req = _fields(body, REQUEST_FIELDS, None)
    _check_contents(req.get("contents"))
    si = req.get("systemInstruction")
    if si is not None:
        si = _fields(si, {"role", "parts"}, "system_instruction")
        for j, p in enumerate(si.get("parts") or []):
            _check_part(p, "user", f"system_instruction.parts[{j}]")
    _check_tools(req.get("tools"), req.get("toolConfig"))
    gc = req.get("generationConfig")
    if gc is not None:
        gc = _fields(gc, GENERATION_FIELDS, "generation_config")
        cc = gc.get("candidateCount", 1)
        if not isinstance(cc, int) or cc < 1 or cc > 8:
            raise BadRequest("* GenerateContentRequest.generation_config.candidate_count: "
                             "must be between 1 and 8.\n")
        ic = gc.get("imageConfig")
        if ic is not None:
            ic = _fields(ic, {"aspectRatio", "imageSize"}, "generation_config.image_config")
            if "aspectRatio" in ic and ic["aspectRatio"] not in GEMINI_ASPECT_RATIOS:
                raise BadRequest("* GenerateContentRequest.generation_config.image_config."
                                 "aspect_ratio: unsupported aspect ratio "
                                 f"{ic['aspectRatio']}.\n")
        stops = gc.get("stopSequences") or []
        if len(stops) > 5:
            raise BadRequest("* GenerateContentRequest.generation_config.stop_sequences: "
                             "at most 5 stop sequences are allowed.\n")
    return req


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------

def _usage(req_raw, step, generated, thoughts):
    prompt = max(1, len(req_raw) // 4)
    cands = max(1, len(generated) // 4) if generated else 0
    u = {"promptTokenCount": prompt, "candidatesTokenCount": cands}
    if thoughts:
        u["thoughtsTokenCount"] = max(1, len(thoughts) // 4)
    u.update(step.get("usage") or {})
    u["totalTokenCount"] = (u["promptTokenCount"] + u.get("candidatesTokenCount", 0) +
                            u.get("thoughtsTokenCount", 0))
    return u


def _response(model, rid, parts, finish=None, usage=None, model_version=None):
    cand = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    out = {"candidates": [cand]}
    if usage:
        out["usageMetadata"] = usage
    out["modelVersion"] = model_version or model
    out["responseId"] = rid
    return out


def _events(step, model, rid, raw):
    """The GenerateContentResponses of a streamed step, in order."""
    if step["kind"] == "calls":
        parts = ([{"text": step["text"]}] if step.get("text") else [])
        for c in step["calls"]:
            p = {"functionCall": {"name": c["name"], "args": c["args"]}}
            if c.get("thoughtSignature"):
                p["thoughtSignature"] = c["thoughtSignature"]
            parts.append(p)
        gen = (step.get("text") or "") + "".join(c["name"] + json.dumps(c["args"])
                                                  for c in step["calls"])
        return [_response(model, rid, parts, step["finish"], _usage(raw, step, gen, None))]
    content, thoughts = step["content"], step.get("thoughts")
    size = max(1, step.get("chunk_size") or 8)
    pieces = [{"text": thoughts, "thought": True}] if thoughts else []
    pieces += [{"text": content[i:i + size]} for i in range(0, len(content), size)] or \
        [{"text": ""}]
    usage = _usage(raw, step, content, thoughts)
    out = []
    for i, p in enumerate(pieces):
        last = i == len(pieces) - 1
        out.append(_response(model, rid, [p], step["finish"] if last else None,
                             usage if last else {"promptTokenCount": usage["promptTokenCount"]},
                             step.get("model_version")))
    return out


def _whole(step, model, rid, raw):
    """The one GenerateContentResponse of a non-streamed step."""
    events = _events(step, model, rid, raw)
    parts = [p for e in events for p in e["candidates"][0]["content"]["parts"]]
    if step["kind"] == "text":
        merged, thought = [], [p for p in parts if p.get("thought")]
        merged += thought
        merged.append({"text": "".join(p["text"] for p in parts if not p.get("thought"))})
        parts = merged
    last = events[-1]
    return _response(model, rid, parts, last["candidates"][0].get("finishReason"),
                     last.get("usageMetadata"), last.get("modelVersion"))


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------

PATH = re.compile(r"^/v1beta/models/([^/:]+):([A-Za-z]+)$")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, fake):
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):
        if not self.fake.closing:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        if self.server.fake.verbose:
            sys.stderr.write("fake_gemini: " + (format % args) + "\n")

    def _send(self, status, body, headers=None):
        data = json.dumps(body, indent=2).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        self._send(404, error_body(404, "Method not found."))

    def do_POST(self):
        fake = self.server.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        rec = {"method": "POST", "path": url.path, "query": query, "headers": headers,
               "raw": raw, "body": None, "model": None, "rpc": None,
               "sse": query.get("alt") == "sse", "status": None, "step": None}
        with fake.lock:
            fake.requests.append(rec)
        status, body, step = self._handle(fake, url.path, query, headers, raw, rec)
        rec["status"] = status
        if step is None:
            self._send(status, body)
            return
        rec["step"] = step["kind"]
        self._answer(rec, step, raw)

    def _handle(self, fake, path, query, headers, raw, rec):
        m = PATH.match(path)
        if not m:
            return 404, error_body(404, "Method not found."), None
        model, rpc = unquote(m.group(1)), m.group(2)
        rec["model"], rec["rpc"] = model, rpc
        key = headers.get("x-goog-api-key") or query.get("key")
        if not key:
            return 403, error_body(403, "Method doesn't allow unregistered callers (callers "
                                        "without established identity). Please use API Key or "
                                        "other form of API consumer identity to call this "
                                        "API."), None
        if fake.api_key is not None and key != fake.api_key:
            return 400, error_body(400, "API key not valid. Please pass a valid API key.", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com",
                 "metadata": {"service": "generativelanguage.googleapis.com"}}]), None
        if rpc == "batchEmbedContents":
            return self._embed(fake, model, raw, rec)
        if rpc == "predict":
            return self._predict(fake, model, raw, rec)
        if rpc not in ("generateContent", "streamGenerateContent"):
            return 404, error_body(404, f"Method not found: {rpc}"), None
        if fake.models is not None and model not in fake.models:
            return 404, error_body(404, f"models/{model} is not found for API version v1beta, "
                                        f"or is not supported for {rpc}. Call ListModels to "
                                        f"see the list of available models and their supported "
                                        f"methods."), None
        try:
            rec["body"] = json.loads(raw or b"null")
        except ValueError as e:
            return 400, error_body(400, f"Invalid JSON payload received. {e}"), None
        try:
            validate(rec["body"])
        except BadRequest as e:
            return e.status, e.body, None
        modalities = ((rec["body"] or {}).get("generationConfig") or {}).get(
            "responseModalities") or []
        if "IMAGE" in modalities and "image" not in model:
            return 400, error_body(400, "Model does not support the requested response "
                                        "modalities: image"), None
        step = fake.next_step(model)
        if step is None:
            return 500, error_body(500, f"fake_gemini: script exhausted (request "
                                        f"{len(fake.requests)} for model {model})"), None
        if step["kind"] == "error":
            rec["step"] = "error"
            return step["status"], step["body"], None
        return 200, None, step

    def _predict(self, fake, model, raw, rec):
        """models.predict of an Imagen model: PredictRequest -> {"predictions": [...]}."""
        if "imagen" not in model and "imagegeneration" not in model:
            return 404, error_body(404, f"models/{model} is not found for API version v1beta, "
                                        f"or is not supported for predict. Call ListModels to "
                                        f"see the list of available models and their supported "
                                        f"methods."), None
        try:
            body = rec["body"] = json.loads(raw or b"null")
            prompt, params = validate_predict(model, body)
        except ValueError as e:
            return 400, error_body(400, f"Invalid JSON payload received. {e}"), None
        except BadRequest as e:
            return e.status, e.body, None
        step = fake.next_step(model)
        if step is None:
            return 500, error_body(500, f"fake_gemini: script exhausted (request "
                                        f"{len(fake.requests)} for model {model})"), None
        rec["step"] = step["kind"]
        if step["kind"] == "error":
            return step["status"], step["body"], None
        n = params.get("sampleCount", 4)
        kept = max(0, n - step["filtered"])
        preds = [{"mimeType": "image/png",
                  "bytesBase64Encoded": base64.b64encode(image_bytes(model, prompt, i)).decode()}
                 for i in range(kept)]
        if params.get("includeRaiReason"):
            preds += [{"raiFilteredReason": "Your current safety filter threshold filtered out "
                                            f"{n - kept} generated images. You will not be "
                                            "charged for blocked images."}] if kept < n else []
        return 200, ({"predictions": preds} if preds else {}), None

    def _image_answer(self, rec, step):
        """A Gemini image model's GenerateContentResponse: candidateCount candidates, each an
        inlineData image (the filtered ones IMAGE_SAFETY without content)."""
        body, model = rec["body"], rec["model"]
        gc = body.get("generationConfig") or {}
        n = gc.get("candidateCount", 1)
        prompt = "".join(p.get("text", "") for c in body["contents"] for p in c["parts"])
        cands = []
        for i in range(n):
            if i >= n - step["filtered"]:
                cands.append({"finishReason": "IMAGE_SAFETY", "index": i})
                continue
            parts = [{"text": step["text"]}] if step.get("text") else []
            parts.append({"inlineData": {"mimeType": "image/png", "data": base64.b64encode(
                image_bytes(model, prompt, i)).decode()}})
            cands.append({"content": {"role": "model", "parts": parts},
                          "finishReason": "STOP", "index": i})
        made = n - step["filtered"]
        return {"candidates": cands,
                "usageMetadata": {"promptTokenCount": max(1, len(prompt) // 4),
                                  "candidatesTokenCount": 1290 * made,
                                  "totalTokenCount": max(1, len(prompt) // 4) + 1290 * made,
                                  "candidatesTokensDetails": [
                                      {"modality": "IMAGE", "tokenCount": 1290 * made}]},
                "modelVersion": model, "responseId": self.server.fake.new_id()}

    def _embed(self, fake, model, raw, rec):
        """models.batchEmbedContents: {"requests": [EmbedContentRequest]} -> {"embeddings":
        [{"values": [...]}]}, one per request, in order. Each request names the same model as
        the path (Google refuses a mismatch) and has content.parts with text. The values are
        made from the text (its length and first byte), so a test can tell them apart."""
        try:
            body = rec["body"] = json.loads(raw or b"null")
        except ValueError as e:
            return 400, error_body(400, f"Invalid JSON payload received. {e}"), None
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            return 400, error_body(400, "* BatchEmbedContentsRequest.requests: contents is not "
                                        "specified"), None
        out = []
        for i, q in enumerate(reqs):
            if not isinstance(q, dict) or q.get("model") != f"models/{model}":
                return 400, error_body(400, f"* BatchEmbedContentsRequest.requests[{i}].model: "
                                            f"the model in each request must be models/{model}"), None
            parts = (q.get("content") or {}).get("parts")
            if not isinstance(parts, list) or not parts or not all(
                    isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts):
                return 400, error_body(400, f"* BatchEmbedContentsRequest.requests[{i}].content"
                                            f": parts must be text parts"), None
            text = "".join(p["text"] for p in parts)
            dims = q.get("outputDimensionality") or 4
            out.append({"values": [round(len(text) + 0.25 * k, 3) for k in range(dims - 1)]
                        + [float(ord(text[0])) if text else 0.0]})
        return 200, {"embeddings": out}, None

    def _answer(self, rec, step, raw):
        model, rid = rec["model"], self.server.fake.new_id()
        if step["kind"] == "images":
            self._send(200, self._image_answer(rec, step))
            return
        if step["kind"] == "blocked":
            body = {"promptFeedback": {"blockReason": step["reason"], "safetyRatings": []},
                    "usageMetadata": {"promptTokenCount": max(1, len(raw) // 4),
                                      "totalTokenCount": max(1, len(raw) // 4)},
                    "modelVersion": model, "responseId": rid}
            events = [body]
            whole = body
        else:
            events = _events(step, model, rid, raw)
            whole = _whole(step, model, rid, raw)
        if rec["rpc"] == "generateContent":
            self._send(200, whole)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if rec["sse"]
                         else "application/json; charset=UTF-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        error_after = step.get("error_after")
        if not rec["sse"]:
            self._chunk(b"[" + b",\r\n".join(json.dumps(e).encode() for e in events) + b"]")
        for i, e in enumerate(events if rec["sse"] else []):
            if error_after is not None and i >= error_after:
                err = step.get("error") or error_body(503)
                self._chunk(b"data: " + json.dumps(err).encode() + b"\r\n\r\n")
                break
            self._chunk(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\r\n\r\n")
        self._chunk(b"")


class FakeGemini(Served):
    """The fake on 127.0.0.1 (ephemeral port by default). api_key None accepts any key."""

    def __init__(self, host="127.0.0.1", port=0, api_key="AIza-fake-key", models=None,
                 verbose=False):
        self.api_key = api_key
        self.models = set(models) if models is not None else None
        self.verbose = verbose
        self.lock = threading.Lock()
        self.requests = []
        self._shared = deque()
        self._by_model = {}
        self._ids = 0
        self.closing = False
        self._server = _Server((host, port), self)
        self._thread = None

    def _closing(self):
        self.closing = True

    @property
    def url(self):
        """The api_base: the fake serves /v1beta/models/... under it."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *steps):
        with self.lock:
            self._shared.extend(steps)
        return self

    def script_for(self, model, *steps):
        with self.lock:
            self._by_model.setdefault(model, deque()).extend(steps)
        return self

    def next_step(self, model):
        with self.lock:
            q = self._by_model.get(model)
            if q:
                return q.popleft()
            return self._shared.popleft() if self._shared else None

    def new_id(self):
        with self.lock:
            self._ids += 1
            return f"fakeresp{self._ids:04d}"

    @property
    def remaining(self):
        with self.lock:
            return len(self._shared) + sum(len(q) for q in self._by_model.values())

    def answered(self, status=200):
        """Recorded requests the fake answered with `status`."""
        return [r for r in self.requests if r["status"] == status]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--api-key", default=None, help="require this key (default: any key)")
    ap.add_argument("--script", help="a JSON list of steps")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    fake = FakeGemini(port=args.port, api_key=args.api_key, verbose=args.verbose)
    if args.script:
        with open(args.script) as f:
            fake.script(*json.load(f))
    serve_until_signal(fake, fake.url, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
