#!/usr/bin/env python3
"""A fake of OpenAI's Responses API (``POST /v1/responses``) for the router's e2e tests
(tests/e2e/test_router_responses.py). Standard library only.

It checks each request the way OpenAI's API reference shapes it and answers with the
documented objects and streaming events; ``fake_openai.py`` stays the chat fake.

    with FakeOpenAIResponses(api_key="sk-test") as fake:   # 127.0.0.1, ephemeral port
        fake.script(error(503))                            # next request: HTTP 503
        ...  # point a deployment's api_base at fake.url ("http://127.0.0.1:PORT/v1")
        assert fake.requests[0]["body"]["model"] == "gpt-4.1-mini"

Requests (also without the /v1 prefix; Azure's ``/openai/responses?api-version=...`` and
``/openai/v1/responses`` too, with the ``api-key`` header):
    ``model`` required; ``input`` (a string or an array of input items) required unless
    ``prompt``, ``conversation`` or ``previous_response_id`` gives the model something to answer;
    a top-level parameter the API does not know is refused (400 ``unknown_parameter``);
    ``stream`` a boolean; ``max_output_tokens`` an integer >= 16.
Answer: a ``response`` object (``"object": "response"``, ``status`` ``completed``, or
    ``incomplete`` with ``incomplete_details.reason`` ``max_output_tokens`` when the text does not
    fit) whose ``output`` holds a ``message`` item (``output_text`` content) or, scripted, a
    ``function_call`` item, and ``usage`` {input_tokens, input_tokens_details.cached_tokens,
    output_tokens, output_tokens_details.reasoning_tokens, total_tokens}: input = the input's
    JSON bytes // 4, output = the text's bytes // 4 (at least 1 each).
Stream (``stream: true``): ``text/event-stream``, each event ``event: <type>`` + ``data: <JSON>``
    carrying the same ``type`` and a ``sequence_number`` from 0: response.created,
    response.in_progress, response.output_item.added, response.content_part.added,
    response.output_text.delta (one per 8 characters), response.output_text.done,
    response.content_part.done, response.output_item.done, then response.completed (or
    response.incomplete) with the whole response and its usage. No ``[DONE]``. A function call
    streams response.function_call_arguments.delta/.done instead of the content events.

Errors are OpenAI's shape ``{"error":{"message","type","param","code"}}``: 401
``invalid_api_key``, 400 ``invalid_request_error``, 404 for an unknown path.

A script (FIFO) may replace the next answers: ``error(status, body=None, retry_after=None)``;
``ok(**overrides)`` with ``text``, ``usage`` (dict merged over the computed one, or ``None`` to
leave it out), ``call`` ({"name", "arguments"}: answer with a function call), ``delay``
(seconds before answering), and for streams ``fail_after`` (events sent before the failure) with
``fail`` one of ``"error"`` (an ``error`` event, ``code`` given by ``fail_code``), ``"failed"`` (a
``response.failed`` event with ``response.error``), ``"cut"`` (the connection closes mid-body) or
``"end"`` (the body ends cleanly, without a final event); ``done=True`` appends a chat-style
``data: [DONE]`` (not the API's; some compatible servers send it). With the
queue empty every valid request gets the normal answer. Recorded requests (``fake.requests``):
``path``, ``headers`` (lower-case keys), ``raw``, ``body`` (parsed JSON or None), ``status``.
"""
import json
import time

try:
    from fakes.openai_steps import (BadRequest, StepFake, StepHandler, error, ok,  # noqa: F401
                                    openai_error, tokens_of)
    from fakes.served import serve_until_signal
except ImportError:  # run as a script from tests/fakes
    from openai_steps import (BadRequest, StepFake, StepHandler, error, ok,  # noqa: F401
                              openai_error, tokens_of)
    from served import serve_until_signal

TEXT = "Hermetic routes the Responses API."

# The body parameters of POST /v1/responses in OpenAI's API reference.
KNOWN_PARAMS = frozenset((
    "background", "context_management", "conversation", "include", "input", "instructions",
    "max_output_tokens", "max_tool_calls", "metadata", "model", "moderation",
    "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key",
    "prompt_cache_options", "prompt_cache_retention", "reasoning", "safety_identifier",
    "service_tier", "store", "stream", "stream_options", "temperature", "text", "tool_choice",
    "tools", "top_logprobs", "top_p", "truncation", "user",
))


def validate(body):
    """OpenAI's checks of a create request; raises BadRequest."""
    for k in body:
        if k not in KNOWN_PARAMS:
            raise BadRequest(f"Unknown parameter: '{k}'.", k, "unknown_parameter")
    if body.get("model") is None:
        raise BadRequest("Missing required parameter: 'model'.", "model",
                         "missing_required_parameter")
    if not isinstance(body["model"], str):
        raise BadRequest("Invalid type for 'model': expected a string.", "model", "invalid_type")
    if body.get("input") is None and not any(body.get(k) for k in
                                             ("prompt", "conversation", "previous_response_id")):
        raise BadRequest("Missing required parameter: 'input'.", "input",
                         "missing_required_parameter")
    inp = body.get("input")
    if inp is not None and not isinstance(inp, (str, list)):
        raise BadRequest("Invalid type for 'input': expected one of a string or an array of "
                         "input items.", "input", "invalid_type")
    for i, item in enumerate(inp if isinstance(inp, list) else []):
        if not isinstance(item, dict) or not ("role" in item or "type" in item):
            raise BadRequest(f"Invalid value for 'input[{i}]': expected an input item.",
                             f"input[{i}]", "invalid_value")
    if "stream" in body and body["stream"] is not None and not isinstance(body["stream"], bool):
        raise BadRequest("Invalid type for 'stream': expected a boolean.", "stream",
                         "invalid_type")
    mot = body.get("max_output_tokens")
    if mot is not None:
        if not isinstance(mot, int) or isinstance(mot, bool):
            raise BadRequest("Invalid type for 'max_output_tokens': expected an integer.",
                             "max_output_tokens", "invalid_type")
        if mot < 16:
            raise BadRequest("Invalid 'max_output_tokens': integer below minimum value. "
                             f"Expected a value >= 16, but got {mot} instead.",
                             "max_output_tokens", "integer_below_min_value")


class _Handler(StepHandler):
    log_name = "fake_openai_responses"

    def do_GET(self):
        self.rec = {}
        self._send(404, openai_error(f"Invalid URL (GET {self.path})"))

    def _authorized(self):
        key = self.server.fake.api_key
        return (not key or self.headers.get("Authorization") == f"Bearer {key}"
                or self.headers.get("api-key") == key)

    def do_POST(self):
        fake = self.server.fake
        raw = self._read()
        path = self.path.split("?")[0]
        self.rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                    "raw": raw, "body": None, "status": 0, "time": time.time()}
        with fake.lock:
            fake.requests.append(self.rec)
        if path not in ("/v1/responses", "/responses", "/openai/responses",
                        "/openai/v1/responses"):
            return self._send(404, openai_error(f"Invalid URL (POST {self.path})"))
        if not self._authorized():
            return self._send(401, openai_error("Incorrect API key provided.", None,
                                                "invalid_api_key"))
        try:
            if "application/json" not in self.headers.get("Content-Type", ""):
                raise BadRequest("Invalid Content-Type header, expected application/json")
            try:
                body = self.rec["body"] = json.loads(raw)
            except ValueError:
                raise BadRequest("We could not parse the JSON body of your request.")
            if not isinstance(body, dict):
                raise BadRequest("The request body must be a JSON object.")
            validate(body)
        except BadRequest as e:
            return self._send(e.status, e.body)
        step = fake.next_step()
        time.sleep(step.get("delay", 0))
        if step.get("kind") == "error":
            hdr = {"Retry-After": str(step["retry_after"])} if step.get("retry_after") else {}
            return self._send(step["status"], step["body"], headers=hdr)
        if body.get("stream"):
            return self._stream(body, step)
        self._send(200, self._response(body, step, final=True))

    # -- the response object --
    def _response(self, body, step, final):
        n = self.server.fake.next_id()
        text = step.get("text", TEXT)
        limit = body.get("max_output_tokens")
        incomplete = limit is not None and tokens_of(text) > limit
        if incomplete:
            text = text[:limit * 4]
        call = step.get("call")
        if call:
            item = {"type": "function_call", "id": f"fc_{n:024x}", "call_id": f"call_{n:024x}",
                    "name": call["name"], "arguments": call.get("arguments", "{}"),
                    "status": "completed"}
            out_text = item["arguments"]
        else:
            item = {"type": "message", "id": f"msg_{n:024x}", "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": [],
                                 "logprobs": []}]}
            out_text = text
        pt = tokens_of(json.dumps(body.get("input", "")))
        ct = tokens_of(out_text)
        usage = {"input_tokens": pt, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": ct, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": pt + ct}
        if "usage" in step:
            usage = None if step["usage"] is None else {**usage, **step["usage"]}
        return {
            "id": f"resp_{n:032x}", "object": "response", "created_at": int(time.time()),
            "status": ("incomplete" if incomplete else "completed") if final else "in_progress",
            "background": False, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete and final
            else None,
            "instructions": body.get("instructions"), "max_output_tokens": limit,
            "model": body["model"], "output": [item] if final else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None}, "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text", {"format": {"type": "text"}}),
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools", []),
            "top_p": body.get("top_p", 1.0), "truncation": body.get("truncation", "disabled"),
            "usage": usage if final else None, "user": body.get("user"),
            "metadata": body.get("metadata", {}),
        }

    # -- streaming --
    def _events(self, body, step):
        """(type, payload) of every event of a streamed response, in order."""
        final = self._response(body, step, final=True)
        start = {**final, "status": "in_progress", "output": [], "usage": None,
                 "incomplete_details": None}
        item = final["output"][0]
        evs = [("response.created", {"response": start}),
               ("response.in_progress", {"response": start})]
        if item["type"] == "function_call":
            args = item["arguments"]
            evs.append(("response.output_item.added", {"output_index": 0, "item": {
                **item, "arguments": "", "status": "in_progress"}}))
            for i in range(0, len(args), 8):
                evs.append(("response.function_call_arguments.delta", {
                    "item_id": item["id"], "output_index": 0, "delta": args[i:i + 8]}))
            evs.append(("response.function_call_arguments.done", {
                "item_id": item["id"], "output_index": 0, "name": item["name"],
                "arguments": args}))
        else:
            text = item["content"][0]["text"]
            ids = {"item_id": item["id"], "output_index": 0, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            evs.append(("response.output_item.added", {"output_index": 0, "item": {
                **item, "status": "in_progress", "content": []}}))
            evs.append(("response.content_part.added", {**ids, "part": empty}))
            for i in range(0, len(text), 8):
                evs.append(("response.output_text.delta", {**ids, "delta": text[i:i + 8],
                                                           "logprobs": []}))
            evs.append(("response.output_text.done", {**ids, "text": text, "logprobs": []}))
            evs.append(("response.content_part.done", {**ids, "part": item["content"][0]}))
        evs.append(("response.output_item.done", {"output_index": 0, "item": item}))
        evs.append(("response.incomplete" if final["status"] == "incomplete"
                    else "response.completed", {"response": final}))
        return evs, final

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, body, step):
        evs, final = self._events(body, step)
        fail_after = step.get("fail_after")
        if fail_after is not None:
            evs = evs[:fail_after]
            fail = step.get("fail", "error")
            code = step.get("fail_code", "server_error")
            if fail == "error":
                evs.append(("error", {"code": code, "message": f"fake stream error {code}",
                                      "param": None}))
            elif fail == "failed":
                evs.append(("response.failed", {"response": {
                    **final, "status": "failed", "output": [], "incomplete_details": None,
                    "error": {"code": code, "message": f"fake response failed {code}"}}}))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.rec["status"] = 200
        for seq, (typ, payload) in enumerate(evs):
            data = json.dumps({"type": typ, "sequence_number": seq, **payload})
            self._chunk(f"event: {typ}\ndata: {data}\n\n".encode())
            time.sleep(step.get("gap", 0))
        if step.get("fail") == "cut" and fail_after is not None:
            self.close_connection = True
            return
        if step.get("done"):
            self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")


class FakeOpenAIResponses(StepFake):
    def __init__(self, api_key=None, verbose=False):
        super().__init__(_Handler, api_key, verbose)
        self._ids = 0

    @property
    def root(self):
        return f"http://127.0.0.1:{self.port}"

    def next_id(self):
        with self.lock:
            self._ids += 1
            return self._ids


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api-key")
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    fake = FakeOpenAIResponses(api_key=a.api_key, verbose=a.verbose)
    serve_until_signal(fake, f"http://127.0.0.1:{fake.port}", a.port_file)
