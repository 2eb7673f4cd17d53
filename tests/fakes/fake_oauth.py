#!/usr/bin/env python3
"""A fake MCP server behind OAuth 2.1, with its own authorization server, on one loopback port.

What the MCP authorization spec (2025-11-25) has a remote server do, and what a test needs to
see of the client: `/mcp` answers 401 with `WWW-Authenticate: Bearer resource_metadata=...`
without a valid token; `/.well-known/oauth-protected-resource/mcp` names the resource and
this server as its authorization server; `/.well-known/oauth-authorization-server` lists the
endpoints, PKCE S256 and (option) RFC 9207's iss; `/register` registers clients (RFC 7591);
`/authorize` approves at once and redirects with code, state and iss; `/token` checks the code,
the PKCE verifier, the redirect URI and the resource, and issues access and refresh tokens (also
for the client_credentials grant of client `cc-client`, secret `cc-secret`, sent Basic, and for
the jwt-bearer grant of an ID-JAG that `/idp/token` exchanged for the id_token `idt-e2e`, as an
IdP does for cross-app access; `cc_refresh=False` leaves the refresh token out of those two, as
RFC 6749 4.4.3 advises; `code_refresh=False` leaves it out of sign-ins). The tool `whoami` echoes its `say` argument.
Every request is recorded (`requests`: method, path, query, form, headers). Standard library
only.

`dpop=True` binds tokens with DPoP (RFC 9449): the metadata lists `dpop_algs`, `/token` wants a
valid proof (tests/fakes/dpop_check.py) and issues DPoP tokens bound to the proof's key (a
refresh must come from the same key), `/mcp` wants `Authorization: DPoP` with a proof for that
key and token. `dpop_nonce=True` has both ask for a nonce first (use_dpop_nonce). What was
wrong with a proof lands in `dpop_errors`.

`hold_refusals()` keeps each `/mcp` request without a valid token waiting (counted in `held`)
until `release_refusals()`, then answers its 401: a connection attempt still in flight when a
sign-in ends.

    from fakes.fake_oauth import FakeOAuth
    with FakeOAuth(expires_in=3600) as fake:
        fake.url  # http://127.0.0.1:PORT/mcp
"""
import base64
import hashlib
import json
import secrets
import threading

try:
    from fakes import dpop_check
except ImportError:  # run as a script
    import dpop_check
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

TOOL = {"name": "whoami", "description": "says who the token belongs to (and `say`, if given)",
        "inputSchema": {"type": "object", "properties": {"say": {"type": "string"}}}}


class FakeOAuth:
    def __init__(self, expires_in=3600, iss="right", resource=None, scopes=("mcp:read",),
                 call_scope=None, dpop=False, dpop_nonce=False, dpop_algs=("ES256",),
                 cc_refresh=True, code_refresh=True):
        self.expires_in = expires_in
        self.iss = iss  # "right", "wrong", "none" (not advertised, not sent)
        self.resource_override = resource
        self.scopes = list(scopes)
        self.cc_refresh = cc_refresh  # False: machine grants without a refresh token
        self.code_refresh = code_refresh  # False: sign-ins without one (the SDK's demo's)
        self.jags = []  # ID-JAGs /idp/token issued
        self.call_scope = call_scope  # tools/call needs it: else 403 insufficient_scope
        self.requests = []
        self.dpop, self.dpop_nonce, self.dpop_algs = dpop, dpop_nonce, list(dpop_algs)
        self.dpop_errors = []
        self.jtis = set()
        self.bound = {}  # access or refresh token -> the key's thumbprint (cnf.jkt)
        self.jkts = []  # of every valid proof, in order
        self.codes = {}  # code -> (challenge, redirect_uri, resource, client_id)
        self.access = {}  # token -> the scope granted (the one asked for)
        self.refresh = {}
        self.lock = threading.Lock()
        self.holding = False
        self.held = 0
        self.released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a):
                pass

            def reply(self, status, body=b"", ctype="application/json", headers=None):
                if isinstance(body, (dict, list)):
                    body = json.dumps(body)
                if isinstance(body, str):
                    body = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def record(self, body):
                u = urlsplit(self.path)
                form = {}
                if self.headers.get("Content-Type", "").startswith("application/x-www-form"):
                    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                rec = {"method": self.command, "path": u.path,
                       "query": {k: v[0] for k, v in parse_qs(u.query).items()},
                       "form": form, "body": body.decode(errors="replace"),
                       "headers": {k.lower(): v for k, v in self.headers.items()}}
                with fake.lock:
                    fake.requests.append(rec)
                return rec

            def do_GET(self):
                self.route(self.record(b""))

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.route(self.record(self.rfile.read(n)))

            def route(self, rec):
                p = rec["path"]
                if p == "/mcp":
                    return fake._mcp(self, rec)
                if p == "/.well-known/oauth-protected-resource/mcp":
                    return self.reply(200, {"resource": fake.resource,
                                            "authorization_servers": [fake.base],
                                            "scopes_supported": fake.scopes})
                if p == "/.well-known/oauth-authorization-server":
                    return self.reply(200, fake._as_metadata())
                if p == "/register" and self.command == "POST":
                    meta = json.loads(rec["body"])
                    return self.reply(201, {"client_id": "dyn-" + secrets.token_hex(4),
                                            "redirect_uris": meta.get("redirect_uris", []),
                                            "token_endpoint_auth_method": "none"})
                if p == "/authorize":
                    return fake._authorize(self, rec)
                if p == "/token" and self.command == "POST":
                    return fake._token(self, rec)
                if p == "/idp/token" and self.command == "POST":
                    return fake._idp_exchange(self, rec)
                self.reply(404, {"error": "not_found"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.base + "/mcp"
        self.resource = resource or self.url

    def _as_metadata(self):
        m = {"issuer": self.base, "authorization_endpoint": self.base + "/authorize",
             "token_endpoint": self.base + "/token", "registration_endpoint": self.base + "/register",
             "response_types_supported": ["code"],
             "grant_types_supported": ["authorization_code", "refresh_token"],
             "code_challenge_methods_supported": ["S256"],
             "token_endpoint_auth_methods_supported": ["none"],
             "scopes_supported": self.scopes + ["offline_access"]}
        if self.iss != "none":
            m["authorization_response_iss_parameter_supported"] = True
        if self.dpop:
            m["dpop_signing_alg_values_supported"] = self.dpop_algs
        return m

    def _proof(self, rec, method, url, access_token=None, nonce="nonce"):
        """The proof's key thumbprint, or (None, why) when it is missing, wrong or lacks the
        nonce; the nonce answer is the caller's."""
        try:
            claims, jkt = dpop_check.check(rec["headers"].get("dpop"), method, url, self.jtis,
                                           access_token)
        except (ValueError, KeyError, TypeError) as e:
            with self.lock:
                self.dpop_errors.append(f"{rec['method']} {rec['path']}: {e}")
            return None, "invalid_dpop_proof"
        if self.dpop_nonce and claims.get("nonce") != nonce:
            return None, "use_dpop_nonce"
        with self.lock:
            self.jkts.append(jkt)
        return jkt, None

    def _authorize(self, h, rec):
        q = rec["query"]
        code = secrets.token_urlsafe(12)
        with self.lock:
            self.codes[code] = (q.get("code_challenge"), q.get("redirect_uri"),
                                q.get("resource"), q.get("client_id"), q.get("scope", ""))
        params = {"code": code, "state": q.get("state", "")}
        if self.iss == "right":
            params["iss"] = self.base
        elif self.iss == "wrong":
            params["iss"] = "http://evil.example"
        h.reply(302, b"", headers={"Location": q["redirect_uri"] + "?" + urlencode(params)})

    def _issue(self, h, scope, jkt=None, refresh=True):
        at, rt = "at-" + secrets.token_hex(12), "rt-" + secrets.token_hex(12)
        with self.lock:
            self.access[at] = scope
            if refresh:
                self.refresh[rt] = scope
            if jkt:
                self.bound[at] = self.bound[rt] = jkt
        answer = {"access_token": at, "token_type": "DPoP" if jkt else "Bearer",
                  "expires_in": self.expires_in, "refresh_token": rt, "scope": scope}
        if not refresh:  # RFC 6749 4.4.3: client_credentials SHOULD NOT have one (and
            # some servers give none for a sign-in either)
            del answer["refresh_token"]
        h.reply(200, answer)

    def _token(self, h, rec):
        f = rec["form"]
        jkt = None
        if self.dpop:
            jkt, why = self._proof(rec, "POST", self.base + "/token", nonce="as-nonce")
            if why:
                return h.reply(400, {"error": why}, headers={"DPoP-Nonce": "as-nonce"})
            rt = f.get("refresh_token")
            if f.get("grant_type") == "refresh_token" and self.bound.get(rt) != jkt:
                return h.reply(400, {"error": "invalid_grant",
                                     "error_description": "refresh from another DPoP key"})
            return self._grant(h, rec, f, jkt)
        return self._grant(h, rec, f, None)

    def _idp_exchange(self, h, rec):
        """An IdP's token exchange (RFC 8693): an id_token for an ID-JAG (cross-app access)."""
        f = rec["form"]
        if f.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" or \
                f.get("subject_token") != "idt-e2e":
            return h.reply(400, {"error": "invalid_grant"})
        jag = "jag-" + secrets.token_hex(12)
        with self.lock:
            self.jags.append(jag)
        h.reply(200, {"access_token": jag, "token_type": "N_A",
                      "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag"})

    def _grant(self, h, rec, f, jkt):
        if f.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            if f.get("assertion") not in self.jags:
                return h.reply(400, {"error": "invalid_grant"})
            return self._issue(h, f.get("scope", ""), jkt, refresh=self.cc_refresh)
        if f.get("grant_type") == "client_credentials":
            basic = rec["headers"].get("authorization", "")
            want = "Basic " + base64.b64encode(b"cc-client:cc-secret").decode()
            if basic != want:
                return h.reply(401, {"error": "invalid_client"})
            return self._issue(h, f.get("scope", ""), jkt, refresh=self.cc_refresh)
        if f.get("grant_type") == "refresh_token":
            if f.get("refresh_token") not in self.refresh:
                return h.reply(400, {"error": "invalid_grant"})
            return self._issue(h, self.refresh[f["refresh_token"]], jkt)
        with self.lock:
            got = self.codes.pop(f.get("code"), None)
        if not got:
            return h.reply(400, {"error": "invalid_grant", "error_description": "unknown code"})
        challenge, redirect, resource, client, scope = got
        verifier = f.get("code_verifier", "")
        want = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        if want.decode() != challenge or f.get("redirect_uri") != redirect or \
                f.get("resource") != resource or f.get("client_id") != client:
            return h.reply(400, {"error": "invalid_grant", "error_description": "PKCE, "
                                 "redirect_uri, resource or client_id differs"})
        self._issue(h, scope, jkt, refresh=self.code_refresh)

    def _mcp_dpop(self, h, rec, auth):
        """A DPoP server's check of a request: the token's scheme, its proof and key."""
        meta = self.base + "/.well-known/oauth-protected-resource/mcp"
        token = auth[5:] if auth.startswith("DPoP ") else None
        if token not in self.access:
            h.reply(401, {"error": "invalid_token"}, headers={
                "WWW-Authenticate": f'DPoP algs="ES256", resource_metadata="{meta}", '
                                    'scope="mcp:read"'})
            return None
        jkt, why = self._proof(rec, h.command, self.url, token, nonce="rs-nonce")
        if why or self.bound.get(token) != jkt:
            h.reply(401, {"error": why or "invalid_token"}, headers={
                "WWW-Authenticate": f'DPoP error="{why or "invalid_token"}", algs="ES256"',
                "DPoP-Nonce": "rs-nonce"})
            return None
        return token

    def _mcp(self, h, rec):
        auth = rec["headers"].get("authorization", "")
        if self.dpop:
            token = self._mcp_dpop(h, rec, auth)
            if not token:
                return
            auth = "Bearer " + token
        if not auth.startswith("Bearer ") or auth[7:] not in self.access:
            meta = self.base + "/.well-known/oauth-protected-resource/mcp"
            if self.holding:
                with self.lock:
                    self.held += 1
                self.released.wait(120)
            return h.reply(401, {"error": "invalid_token"}, headers={
                "WWW-Authenticate": f'Bearer resource_metadata="{meta}", scope="mcp:read"'})
        if h.command == "GET":
            return h.reply(405, "no GET stream\n", "text/plain")
        msg = json.loads(rec["body"])
        if "id" not in msg:
            return h.reply(202)
        m = msg["method"]
        if m == "initialize":
            result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities":
                      {"tools": {}}, "serverInfo": {"name": "fake-oauth", "version": "1"}}
        elif m == "tools/list":
            result = {"tools": [TOOL]}
        elif m == "tools/call" and self.call_scope and \
                self.call_scope not in self.access[auth[7:]].split():
            meta = self.base + "/.well-known/oauth-protected-resource/mcp"
            return h.reply(403, {"error": "insufficient_scope"}, headers={
                "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{self.call_scope}", '
                                    f'resource_metadata="{meta}"'})
        elif m == "tools/call":
            say = (msg["params"].get("arguments") or {}).get("say")
            result = {"content": [{"type": "text", "text": "signed in as the owner" +
                                   (f"; you said {say}" if say else "")}]}
        else:
            return h.reply(200, {"jsonrpc": "2.0", "id": msg["id"],
                                 "error": {"code": -32601, "message": "no such method"}})
        h.reply(200, {"jsonrpc": "2.0", "id": msg["id"], "result": result})

    def hold_refusals(self):
        self.released.clear()
        self.holding = True

    def release_refusals(self):
        self.holding = False
        self.released.set()

    def of(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
