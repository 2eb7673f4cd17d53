"""A fake Azure OpenAI resource (https://<resource>.openai.azure.com) for the e2e tests.

Azure OpenAI differs from OpenAI in its URL and key header, which is what this fake checks:

- ``POST /openai/deployments/<deployment>/chat/completions?api-version=<v>``: the deployment
  comes from the path, not the body; a missing ``api-version`` is 404 ``Resource not found``
  (Azure's answer, as documented for the classic API); an unknown deployment is 404
  ``DeploymentNotFound``; a missing or wrong ``api-key`` header is 401 with Azure's "Access
  denied due to invalid subscription key" body. ``Authorization: Bearer`` is for Entra tokens
  and is refused here.
- ``POST /openai/v1/chat/completions`` (the v1 API): stock OpenAI requests, model = deployment.
- Scripted steps, in order: ``("text", content)``, ``("filter",)`` (400 ``content_filter`` with
  ``innererror.code: ResponsibleAIPolicyViolation``, Azure's prompt-filter answer),
  ``("error", status, body)``. Streams answer in OpenAI's SSE framing with a usage chunk when
  ``stream_options.include_usage`` is set.

Every request is recorded in ``requests`` (method, path, query, headers lower-cased, body).
Standard library only; 127.0.0.1 and an ephemeral port.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCESS_DENIED = {"error": {"code": "401", "message": (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API endpoint "
    "for your resource.")}}
NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
FILTERED = {"error": {
    "message": ("The response was filtered due to the prompt triggering Azure OpenAI's content "
                "management policy. Please modify your prompt and retry."),
    "type": None, "param": "prompt", "code": "content_filter", "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation",
                   "content_filter_result": {"hate": {"filtered": True, "severity": "high"}}}}}


def deployment_missing(name):
    return {"error": {"code": "DeploymentNotFound", "message": (
        f"The API deployment for this resource does not exist. If you created the deployment "
        f"within the last 5 minutes, please wait a moment and try again. ({name})")}}


class FakeAzure:
    def __init__(self, api_key, deployments):
        self.api_key = api_key
        self.deployments = set(deployments)
        self.steps = []
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                fake._serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def script(self, *steps):
        with self.lock:
            self.steps.extend(steps)

    def _send(self, h, status, obj):
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("apim-request-id", "00000000-0000-0000-0000-000000000000")
        h.end_headers()
        h.wfile.write(data)

    def _serve(self, h):
        url = urlsplit(h.path)
        n = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(n)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        rec = {"method": "POST", "path": url.path, "query": parse_qs(url.query),
               "headers": {k.lower(): v for k, v in h.headers.items()}, "body": body}
        with self.lock:
            self.requests.append(rec)
        if h.headers.get("api-key") != self.api_key:
            return self._send(h, 401, ACCESS_DENIED)
        parts = url.path.split("/")
        if url.path == "/openai/v1/chat/completions":
            dep = (body or {}).get("model")
        elif (len(parts) == 6 and parts[1:3] == ["openai", "deployments"]
              and parts[4:] == ["chat", "completions"]):
            if "api-version" not in rec["query"]:
                return self._send(h, 404, NOT_FOUND)
            dep = parts[3]
        else:
            return self._send(h, 404, NOT_FOUND)
        if dep not in self.deployments:
            return self._send(h, 404, deployment_missing(dep))
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._send(h, 400, {"error": {"code": "BadRequest", "message": (
                "'messages' is a required property")}})
        with self.lock:
            step = self.steps.pop(0) if self.steps else ("error", 500, {
                "error": {"code": "500", "message": "fake_azure: script exhausted"}})
        if step[0] == "filter":
            return self._send(h, 400, FILTERED)
        if step[0] == "error":
            return self._send(h, step[1], step[2])
        self._answer(h, dep, body, step[1])

    def _answer(self, h, dep, body, content):
        usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
        base = {"id": "chatcmpl-azure1", "created": int(time.time()), "model": "gpt-4o-2024-08-06",
                "system_fingerprint": "fp_az"}
        if not body.get("stream"):
            return self._send(h, 200, dict(base, object="chat.completion", choices=[{
                "index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": content}}], usage=usage))
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        chunks = [{"choices": [], "prompt_filter_results": [{"prompt_index": 0}]},
                  {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        chunks += [{"choices": [{"index": 0, "delta": {"content": content[i:i + 4]}}]}
                   for i in range(0, len(content), 4)]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({"choices": [], "usage": usage})
        for c in chunks:
            h.wfile.write(b"data: " + json.dumps(dict(base, object="chat.completion.chunk",
                                                      **c)).encode() + b"\n\n")
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()
        h.close_connection = True
