"""A fake Prometheus HTTP API (v1) on loopback for prometheus_query's e2e tests. Python 3.11
standard library only.

It holds a set of series, each a label dict and a function of time (unix seconds -> float,
or None for no sample). What it does not do is evaluate PromQL: a query is answered from what
the test registered for that exact expression (`fake.on_query(expr, [series names])`), and any
other expression gets the parse error Prometheus gives for nonsense. Everything else follows
Prometheus' own API (web/api/v1/api.go):

- GET and POST (form) /api/v1/query (query, time), /api/v1/query_range (query, start, end,
  step: bad_data for a missing or unparsable parameter, end before start, a step that is not
  positive, or more than 11,000 points per series), /api/v1/series (match[] required,
  start/end), /api/v1/label/<name>/values (match[], start/end), /api/v1/alerts,
  /api/v1/rules (type=alert|record);
- {"status":"success","data":...} answers; errors as {"status":"error","errorType":..,
  "error":..} with HTTP 400 (bad_data), 422 (execution), 503 (unavailable, timeout);
- series selectors of the form name{label="v",label!="v",...} for match[];
- timestamps as JSON numbers, sample values as strings ("NaN" for a NaN).

Faults: `fake.fail(path, status, body, content_type)` answers every request whose path
starts with `path` with exactly that. Every request is recorded in `fake.requests` (method,
path, params).

    with FakePrometheus() as prom:
        prom.add_series({"__name__": "up", "job": "node"}, lambda t: 1)
        prom.on_query("up", ["up"])          # names series by __name__ (or a label dict)
        # prometheus.url: prom.url
"""
import json
import math
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_POINTS = 11000
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _value(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))


def parse_selector(sel):
    """name{l="v",...} -> list of (label, op, value); None when it is not a selector."""
    sel = sel.strip()
    m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(\{(.*)\})?$", sel, re.S)
    if not m or not (m.group(1) or m.group(2)):
        return None
    out = [("__name__", "=", m.group(1))] if m.group(1) else []
    body = m.group(3) or ""
    pos = 0
    while pos < len(body):
        mm = MATCHER.match(body, pos)
        if not mm:
            return None
        out.append((mm.group(1), mm.group(2), bytes(mm.group(3), "utf-8").decode("unicode_escape")))
        pos = mm.end()
    if not out:
        return None
    return out


def _matches(labels, matchers):
    for name, op, val in matchers:
        have = labels.get(name, "")
        if op == "=" and have != val:
            return False
        if op == "!=" and have == val:
            return False
        if op == "=~" and not re.fullmatch(val, have):
            return False
        if op == "!~" and re.fullmatch(val, have):
            return False
    return True


def _parse_time(s, name):
    try:
        return float(s)
    except (TypeError, ValueError):
        pass
    try:
        from datetime import datetime
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except (TypeError, ValueError, AttributeError):
        raise _ApiError(400, "bad_data", f'invalid parameter "{name}": cannot parse "{s or ""}" '
                        "to a valid timestamp")


def _parse_step(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        raise _ApiError(400, "bad_data", f'invalid parameter "step": cannot parse "{s or ""}" '
                        "to a valid duration")
    if v <= 0:
        raise _ApiError(400, "bad_data", "zero or negative query resolution step widths are "
                        "not accepted. Try a positive integer")
    return v


class _ApiError(Exception):
    def __init__(self, status, kind, message):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class FakePrometheus:
    def __init__(self, host="127.0.0.1", port=0):
        self._lock = threading.Lock()
        self._series = []          # [(labels, fn)]
        self._queries = {}         # expr -> [labels dict]
        self._faults = []          # [(path prefix, status, body, content type)]
        self.alerts = []           # /api/v1/alerts data.alerts
        self.rule_groups = []      # /api/v1/rules data.groups
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- setup ----

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_series(self, labels, fn):
        with self._lock:  # Prometheus keeps (and sends) labels sorted by name
            self._series.append((dict(sorted(labels.items())), fn))

    def on_query(self, expr, names):
        """expr answers with these series (a __name__ each, or label dicts to match)."""
        sel = [n if isinstance(n, dict) else {"__name__": n} for n in names]
        with self._lock:
            self._queries[expr] = sel

    def fail(self, path, status, body, content_type="application/json"):
        with self._lock:
            self._faults.append((path, status, body, content_type))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # ---- answers ----

    def _reply(self, h, status, obj=None, raw=None, content_type="application/json"):
        body = raw if raw is not None else json.dumps(obj).encode()
        if isinstance(body, str):
            body = body.encode()
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h, method):
        u = urllib.parse.urlsplit(h.path)
        params = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if method == "POST":
            n = int(h.headers.get("Content-Length") or 0)
            form = h.rfile.read(n).decode()
            for k, v in urllib.parse.parse_qs(form, keep_blank_values=True).items():
                params.setdefault(k, []).extend(v)
        with self._lock:
            self.requests.append({"method": method, "path": u.path, "params": params})
            faults = list(self._faults)
        for prefix, status, body, ctype in faults:
            if u.path.startswith(prefix):
                return self._reply(h, status, raw=body, content_type=ctype)
        try:
            data = self._route(u.path, params)
        except _ApiError as e:
            return self._reply(h, e.status, {"status": "error", "errorType": e.kind,
                                             "error": e.message})
        if data is None:
            return self._reply(h, 404, raw="404 page not found\n", content_type="text/plain")
        return self._reply(h, 200, {"status": "success", "data": data})

    def _route(self, path, params):
        one = lambda k: (params.get(k) or [None])[-1]  # noqa: E731
        if path == "/api/v1/query":
            return self._instant(one("query"), one("time"))
        if path == "/api/v1/query_range":
            return self._range(one("query"), one("start"), one("end"), one("step"))
        if path == "/api/v1/series":
            return self._series_list(params.get("match[]") or [], one("start"), one("end"))
        m = re.fullmatch(r"/api/v1/label/([^/]+)/values", path)
        if m:
            return self._label_values(urllib.parse.unquote(m.group(1)),
                                      params.get("match[]") or [])
        if path == "/api/v1/alerts":
            return {"alerts": self.alerts}
        if path == "/api/v1/rules":
            kind = one("type")
            if kind not in (None, "", "alert", "record"):
                raise _ApiError(400, "bad_data", f'invalid parameter "type": not a valid rule '
                                f'type "{kind}"')
            want = {"alert": "alerting", "record": "recording"}.get(kind or "")
            groups = [dict(g, rules=[r for r in g["rules"] if not want or r["type"] == want])
                      for g in self.rule_groups]
            return {"groups": groups}
        return None

    def _selected(self, expr):
        if not expr:
            raise _ApiError(400, "bad_data", 'invalid parameter "query": unknown position: '
                            "parse error: no expression found in input")
        with self._lock:
            sel = self._queries.get(expr)
            series = list(self._series)
        if sel is None:
            raise _ApiError(400, "bad_data", f'invalid parameter "query": 1:1: parse error: '
                            f'unexpected identifier "{expr[:40]}"')
        return [(labels, fn) for labels, fn in series
                if any(all(labels.get(k) == v for k, v in s.items()) for s in sel)]

    def _instant(self, expr, at):
        t = _parse_time(at, "time") if at else time.time()
        result = []
        for labels, fn in self._selected(expr):
            v = fn(t)
            if v is not None:
                result.append({"metric": labels, "value": [round(t, 3), _value(v)]})
        return {"resultType": "vector", "result": result}

    def _range(self, expr, start, end, step):
        s, e = _parse_time(start, "start"), _parse_time(end, "end")
        st = _parse_step(step)
        if e < s:
            raise _ApiError(400, "bad_data", 'invalid parameter "end": end timestamp must not '
                            "be before start time")
        if (e - s) / st > MAX_POINTS:
            raise _ApiError(400, "bad_data", "exceeded maximum resolution of 11,000 points per "
                            "timeseries. Try decreasing the query resolution (?step=XX)")
        result = []
        for labels, fn in self._selected(expr):
            values, t = [], s
            while t <= e + 1e-9:
                v = fn(t)
                if v is not None:
                    values.append([round(t, 3), _value(v)])
                t += st
            if values:
                result.append({"metric": labels, "values": values})
        return {"resultType": "matrix", "result": result}

    def _series_list(self, matches, start, end):
        if not matches:
            raise _ApiError(400, "bad_data", "no match[] parameter provided")
        sels = []
        for m in matches:
            sel = parse_selector(m)
            if sel is None:
                raise _ApiError(400, "bad_data", f'invalid parameter "match[]": 1:1: parse '
                                f'error: unexpected character in "{m[:40]}"')
            sels.append(sel)
        if start:
            _parse_time(start, "start")
        if end:
            _parse_time(end, "end")
        with self._lock:
            series = [labels for labels, _ in self._series]
        return [labels for labels in series if any(_matches(labels, s) for s in sels)]

    def _label_values(self, name, matches):
        if not LABEL_NAME.match(name):
            raise _ApiError(400, "bad_data", f'invalid label name: "{name}"')
        sels = [parse_selector(m) for m in matches]
        with self._lock:
            series = [labels for labels, _ in self._series]
        vals = {labels[name] for labels in series
                if name in labels and (not sels or any(s and _matches(labels, s) for s in sels))}
        return sorted(vals)
