"""A fake Google Cloud: an OAuth 2.0 token endpoint for service accounts and the Vertex AI
publisher-model API, on one 127.0.0.1 port, built from Google's documented shapes.

Token endpoint (``POST /token``, developers.google.com/identity/protocols/oauth2/service-account):
- Form ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`` (a service
  account), or ``grant_type=refresh_token&client_id&client_secret&refresh_token`` (gcloud's
  application-default login, an ``authorized_user``; ``add_user``), else 400
  ``{"error":"unsupported_grant_type",...}``; an unknown client or refresh token is Google's
  400 ``invalid_client`` / ``invalid_grant``.
- The JWT is checked as Google does: header ``{"alg":"RS256","typ":"JWT"}``; the RS256
  signature against the service account's public key (``cryptography``); claims ``iss`` the
  account's ``client_email``, ``scope`` holding ``https://www.googleapis.com/auth/cloud-platform``,
  ``aud`` this endpoint's URL, ``iat`` within a minute of now, ``exp - iat`` at most 3600 s.
  Failures are 400 ``{"error":"invalid_grant","error_description":...}`` with Google's wording.
- Answers ``{"access_token":"ya29.fake-<n>","expires_in":<lifetime>,"token_type":"Bearer"}``;
  ``token_lifetime`` sets the lifetime (the fake also refuses the token once it has passed).
  ``fail_tokens(status, body)`` scripts failures; ``token_delay`` holds each answer back.

Metadata server (``GET /computeMetadata/v1/instance/service-accounts/default/token``, what a
GCE VM or GKE node serves; the router reaches it through ``GCE_METADATA_HOST``): needs
``Metadata-Flavor: Google`` (else 403), answers the same token shape;
``GET /computeMetadata/v1/project/project-id`` answers the fake's project as text (recorded in
``project_requests``).

Vertex AI (``POST /v1/projects/{p}/locations/{l}/publishers/{google|anthropic}/models/{m}:{rpc}``):
- ``Authorization: Bearer <token>``: a token this fake issued and that has not expired, else
  401 ``{"error":{"code":401,"message":"Request had invalid authentication credentials...",
  "status":"UNAUTHENTICATED"}}``. Another project or location: 403 PERMISSION_DENIED.
  ``reject_quoting_token(times)``: the next requests get that 401 with their whole
  ``Authorization`` header quoted in the message (as some upstreams answer).
- ``publishers/google``: ``generateContent`` and ``streamGenerateContent?alt=sse`` with a
  generateContent body, and Imagen's ``predict`` with a PredictRequest, checked and answered
  by tests/fakes/fake_gemini.py (scripted with ``gemini.script(...)``).
- ``publishers/anthropic``: ``rawPredict`` / ``streamRawPredict`` with a Messages body that has
  ``"anthropic_version": "vertex-2023-10-16"`` and no ``model`` (Google's 400 otherwise), checked
  and answered by tests/fakes/fake_anthropic.py (``anthropic.script(...)``).
Requests are recorded in ``requests`` / ``token_requests`` for tests to inspect.
"""
import base64
import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fakes.fake_anthropic import FakeAnthropic
from fakes.fake_gemini import FakeGemini
from fakes.served import Served

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ANTHROPIC_VERSION = "vertex-2023-10-16"
METADATA_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
METADATA_PROJECT = "/computeMetadata/v1/project/project-id"
UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access "
                   "token, login cookie or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
               "reasonable timeframe. Check your iat and exp values in the JWT claim.")


def service_account(email="runner@proj-e2e.iam.gserviceaccount.com", project="proj-e2e",
                    token_uri="https://oauth2.googleapis.com/token", bits=2048):
    """A new RSA key and the JSON key file Google would give for it: (dict, private key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": project,
            "private_key_id": "0123456789abcdef", "private_key": pem,
            "client_email": email, "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
            "universe_domain": "googleapis.com"}, key


def authorized_user(client_id="764086051850-e2e.apps.googleusercontent.com",
                    project="proj-e2e"):
    """The file gcloud auth application-default login writes (made-up values)."""
    return {"type": "authorized_user", "client_id": client_id,
            "client_secret": "d-e2e-client-secret", "refresh_token": "1//0e2e-refresh&token",
            "quota_project_id": project, "universe_domain": "googleapis.com"}


def google_error(code, message, status):
    return {"error": {"code": code, "message": message, "status": status}}


def _b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


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

    def log_message(self, *args):
        pass

    def _send(self, status, obj, ctype="application/json; charset=UTF-8"):
        data = json.dumps(obj, indent=2).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's name)
        fake = self.server.fake
        headers = {k.lower(): v for k, v in self.headers.items()}
        if urlsplit(self.path).path == METADATA_PROJECT:
            with fake.lock:
                fake.project_requests.append(headers)
            ok = headers.get("metadata-flavor") == "Google"
            data = (fake.project if ok else "Missing required header: Metadata-Flavor").encode()
            self.send_response(200 if ok else 403)
            self.send_header("Content-Type", "application/text")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if urlsplit(self.path).path != METADATA_TOKEN:
            return self._send(404, {"error": "not found"})
        rec = {"headers": headers, "form": None, "claims": None, "grant": "metadata",
               "status": None, "t": time.time()}
        with fake.lock:
            fake.token_requests.append(rec)
        if headers.get("metadata-flavor") != "Google":
            rec["status"] = 403
            data = b"Missing required header: Metadata-Flavor\n"
            self.send_response(403)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        rec["status"] = 200
        self._send(200, fake._issue(), "application/json")

    def do_POST(self):  # noqa: N802 (http.server's name)
        fake = self.server.fake
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if url.path == "/token":
            return self._token(fake, headers, raw)
        return self._vertex(fake, url, headers, raw)

    # ---- the token endpoint ----

    def _token(self, fake, headers, raw):
        rec = {"headers": headers, "form": None, "claims": None, "status": None, "t": time.time()}
        with fake.lock:
            fake.token_requests.append(rec)
            scripted = fake._token_failures.pop(0) if fake._token_failures else None
        if fake.token_delay:
            time.sleep(fake.token_delay)
        status, body = self._token_answer(fake, headers, raw, rec)
        if scripted and status == 200:
            status, body = scripted
        rec["status"] = status
        self._send(status, body)

    def _token_answer(self, fake, headers, raw, rec):
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request",
                         "error_description": "Invalid Content-Type"}
        form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        rec["form"] = form
        rec["grant"] = form.get("grant_type")
        if form.get("grant_type") == "refresh_token":
            user = fake.users.get(form.get("client_id"))
            if user is None or user[0] != form.get("client_secret"):
                return 401, {"error": "invalid_client",
                             "error_description": "The OAuth client was not found."}
            if user[1] != form.get("refresh_token"):
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            return 200, fake._issue()
        if form.get("grant_type") != GRANT:
            return 400, {"error": "unsupported_grant_type",
                         "error_description": f"Invalid grant_type: {form.get('grant_type', '')}"}
        parts = form.get("assertion", "").split(".")
        if len(parts) != 3:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT format."}
        try:
            header = json.loads(_b64url(parts[0]))
            claims = json.loads(_b64url(parts[1]))
            sig = _b64url(parts[2])
        except ValueError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT format."}
        rec["claims"] = claims
        if header.get("alg") != "RS256":
            return 400, {"error": "invalid_grant",
                         "error_description": "Invalid JWT: unsupported algorithm."}
        key = fake.accounts.get(claims.get("iss"))
        if key is None:
            return 400, {"error": "invalid_grant",
                         "error_description": "Invalid grant: account not found"}
        try:
            key.public_key().verify(sig, f"{parts[0]}.{parts[1]}".encode(),
                                    padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if claims.get("aud") != fake.token_url:
            return 400, {"error": "invalid_grant",
                         "error_description": f"Invalid JWT: Failed audience check. The right "
                                              f"audience is {fake.token_url}"}
        if SCOPE not in str(claims.get("scope", "")).split():
            return 400, {"error": "invalid_scope",
                         "error_description": "Invalid OAuth scope or ID token audience "
                                              "provided."}
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or abs(iat - time.time()) > 60 \
                or not 0 < exp - iat <= 3600:
            return 400, {"error": "invalid_grant", "error_description": SHORT_LIVED}
        return 200, fake._issue()

    # ---- Vertex AI ----

    def _vertex(self, fake, url, headers, raw):
        rec = {"path": url.path, "query": url.query, "headers": headers, "body": None,
               "status": None}
        with fake.lock:
            fake.requests.append(rec)
        try:
            rec["body"] = json.loads(raw or b"null")
        except ValueError:
            rec["body"] = None
        status, body = self._vertex_check(fake, url, headers, rec)
        if status:
            rec["status"] = status
            return self._send(status, body)
        rec["status"] = 200
        self._relay(fake, rec)

    def _vertex_check(self, fake, url, headers, rec):
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        with fake.lock:
            until = fake.tokens.get(token)
            quote = fake._quoting_rejects > 0
            fake._quoting_rejects -= quote
        if quote:
            return 401, google_error(401, f"Request had invalid authentication credentials: "
                                          f"{auth} is not valid here.", "UNAUTHENTICATED")
        if until is None or time.monotonic() >= until:
            return 401, google_error(401, UNAUTHENTICATED, "UNAUTHENTICATED")
        rec["token"] = token
        p = url.path.split("/")
        # ['', 'v1', 'projects', P, 'locations', L, 'publishers', PUB, 'models', 'M:RPC']
        if len(p) != 10 or p[1] != "v1" or p[2] != "projects" or p[4] != "locations" \
                or p[6] != "publishers" or p[8] != "models" or ":" not in p[9]:
            return 404, google_error(404, "Requested entity was not found.", "NOT_FOUND")
        project, location, publisher = p[3], p[5], p[7]
        model, rpc = unquote(p[9]).rsplit(":", 1)
        rec.update(project=project, location=location, publisher=publisher, model=model, rpc=rpc)
        if project != fake.project or location != fake.location:
            return 403, google_error(
                403, f"Permission 'aiplatform.endpoints.predict' denied on resource "
                     f"'//aiplatform.googleapis.com/projects/{project}/locations/{location}/"
                     f"publishers/{publisher}/models/{model}' (or it may not exist).",
                "PERMISSION_DENIED")
        if publisher == "google" and rpc in ("generateContent", "streamGenerateContent",
                                             "predict"):
            return None, None
        if publisher == "anthropic" and rpc in ("rawPredict", "streamRawPredict"):
            body = rec["body"]
            if not isinstance(body, dict):
                return 400, google_error(400, "Invalid JSON payload received.",
                                         "INVALID_ARGUMENT")
            if body.get("anthropic_version") != ANTHROPIC_VERSION:
                return 400, google_error(400, "anthropic_version: must be "
                                              f"{ANTHROPIC_VERSION}", "INVALID_ARGUMENT")
            if "model" in body:
                return 400, google_error(400, "model: Extra inputs are not permitted (the "
                                              "model is named in the URL)",
                                         "INVALID_ARGUMENT")
            if (rpc == "streamRawPredict") != (body.get("stream") is True):
                return 400, google_error(400, f"{rpc} needs stream "
                                              f"{'true' if rpc == 'streamRawPredict' else 'false'}",
                                         "INVALID_ARGUMENT")
            return None, None
        return 404, google_error(404, f"Method not found: {rpc}", "NOT_FOUND")

    def _relay(self, fake, rec):
        """Hands the request to the publisher's fake and copies its answer back as it comes."""
        if rec["publisher"] == "google":
            target = fake.gemini
            path = f"/v1beta/models/{rec['model']}:{rec['rpc']}" + \
                   (f"?{rec['query']}" if rec["query"] else "")
            body = rec["body"]
            headers = {"x-goog-api-key": fake.gemini.api_key or "k"}
        else:
            target = fake.anthropic
            path = "/v1/messages"
            body = {"model": rec["model"],
                    **{k: v for k, v in rec["body"].items() if k != "anthropic_version"}}
            headers = {"x-api-key": "vertex", "anthropic-version": "2023-06-01"}
        host, port = urlsplit(target.url).netloc.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        data = json.dumps(body).encode()
        conn.request("POST", path, data, {**headers, "Content-Type": "application/json",
                                          "Content-Length": str(len(data))})
        resp = conn.getresponse()
        rec["status"] = resp.status
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        conn.close()


class FakeVertex(Served):
    """Token endpoint + Vertex API on 127.0.0.1; a context manager. ``accounts`` maps each
    client_email to its private key (the fake checks signatures with its public half)."""

    def __init__(self, project="proj-e2e", location="us-central1", token_lifetime=3599,
                 host="127.0.0.1", port=0):
        self.project = project
        self.location = location
        self.token_lifetime = token_lifetime
        self.token_delay = 0.0
        self.accounts = {}
        self.users = {}
        self.lock = threading.Lock()
        self.requests = []
        self.token_requests = []
        self.project_requests = []
        self.tokens = {}
        self._issued = 0
        self._token_failures = []
        self._quoting_rejects = 0
        self.closing = False
        self.gemini = FakeGemini(api_key=None)
        self.anthropic = FakeAnthropic()
        self._server = _Server((host, port), self)
        self._thread = None

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self):
        return f"{self.url}/token"

    def add_account(self, info, key):
        self.accounts[info["client_email"]] = key

    def add_user(self, info):
        """An authorized_user file's client (id, secret) and refresh token."""
        self.users[info["client_id"]] = (info["client_secret"], info["refresh_token"])

    def _issue(self):
        with self.lock:
            self._issued += 1
            token = f"ya29.fake-{self._issued}"
            self.tokens[token] = time.monotonic() + self.token_lifetime
        return {"access_token": token, "expires_in": self.token_lifetime,
                "token_type": "Bearer"}

    def reject_quoting_token(self, times=1):
        """The next `times` Vertex requests get a 401 whose message quotes their Authorization
        header, as some upstreams do."""
        with self.lock:
            self._quoting_rejects += times

    def fail_tokens(self, status, body, times=1):
        """The next `times` token requests get (status, body) instead of a token."""
        with self.lock:
            self._token_failures.extend([(status, body)] * times)

    @property
    def exchanges(self):
        return [r for r in self.token_requests if r["status"] == 200]

    def start(self):
        self.gemini.start()
        self.anthropic.start()
        return super().start()

    def close(self):
        super().close()
        self.anthropic.close()
        self.gemini.close()

    def _closing(self):
        self.closing = True
