"""prometheus_query's listings, sparklines and PNG charts (issue 20), driving the real binary
against the fake Prometheus (tests/fakes/fake_prometheus.py): `hermetic chat -q` for the text
modes and a turn without a chat (the chart's path comes back), `hermetic gateway` with the fake
Bot API for a chart sent as a photo. PNGs are checked with zlib: IHDR's size, and the series'
colour among the unfiltered IDAT pixels."""
import json
import math
import struct
import time
import zlib

import pytest

from agent_harness import agent, fake, tool_results  # noqa: F401
from conftest import SLOW, Gateway, to_yaml
from fakes.fake_openai import text, tool_calls
from fakes.fake_prometheus import FakePrometheus
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, deployment

TOKEN = "123456:TEST-prom-token"
ALLOWED = 1001
BLUE = (0x1F, 0x77, 0xB4)  # chart_color(0)


@pytest.fixture
def prom():
    with FakePrometheus() as p:
        p.add_series({"__name__": "up", "job": "node", "instance": "pi:9100"}, lambda t: 1)
        p.add_series({"__name__": "up", "job": "prom", "instance": "localhost:9090"},
                     lambda t: 1)
        p.add_series({"__name__": "node_load1", "instance": "pi:9100"},
                     lambda t: 1 + math.sin(t / 600))
        p.on_query("node_load1", ["node_load1"])
        p.on_query("up", ["up"])
        p.alerts = [{"labels": {"alertname": "NodeDown", "job": "node", "severity": "page"},
                     "annotations": {"summary": "pi is down"}, "state": "firing",
                     "activeAt": "2026-11-23T10:00:00.5Z", "value": "0e+00"}]
        p.rule_groups = [{"name": "node", "file": "/etc/prometheus/rules.yml", "interval": 30,
                          "rules": [{"type": "alerting", "name": "NodeDown", "query": "up == 0",
                                     "duration": 300, "state": "firing", "health": "ok",
                                     "alerts": p.alerts, "labels": {}, "annotations": {}},
                                    {"type": "recording", "name": "job:up:sum",
                                     "query": "sum by (job) (up)", "health": "ok",
                                     "labels": {}}]}]
        yield p


def call(*args):
    return tool_calls(*[(f"c{i}", "prometheus_query", a) for i, a in enumerate(args)])


def chat(agent, fake, prom, *args):  # noqa: F811
    fake.script_for("test/free", call(*args), text("done"))
    agent.configure(prometheus={"url": prom.url})
    r = agent.chat("how is the cluster?")
    assert r.returncode == 0, r.stderr
    return tool_results(fake.chat_requests[-1])


def png_info(data):
    """(width, height, set of RGB pixels) of an 8-bit RGB PNG, unfiltered by hand."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + chunk) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    w, h, depth, ctype = ihdr[:4]
    assert (depth, ctype) == (8, 2)
    raw, stride, prev, pixels = zlib.decompress(idat), w * 3, bytearray(w * 3), set()
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels.update(tuple(line[i:i + 3]) for i in range(0, stride, 3))
        prev = line
    return w, h, pixels


# ---- text modes ------------------------------------------------------------------------------


def test_listings_series_label_values_alerts_rules(agent, fake, prom):  # noqa: F811
    series, labels, alerts, rules = chat(
        agent, fake, prom,
        {"kind": "series", "query": 'up{job="node"}'},
        {"kind": "label_values", "label": "job"},
        {"kind": "alerts"},
        {"kind": "rules"})
    assert series == 'series: 1\nup{instance="pi:9100",job="node"}'
    assert labels == "label values: 2\nnode\nprom"
    assert alerts == ('alerts: 1 (1 firing, 0 pending)\nfiring NodeDown{job="node",'
                      'severity="page"} since 2026-11-23T10:00:00Z value=0e+00: pi is down')
    assert rules == ("rules: 1 groups, 2 rules\ngroup node (/etc/prometheus/rules.yml)\n"
                     "  alert NodeDown state=firing active=1 health=ok: up == 0\n"
                     "  record job:up:sum health=ok: sum by (job) (up)")
    # Read-only calls run side by side: any order.
    paths = sorted(r["path"] for r in prom.requests)
    assert paths == ["/api/v1/alerts", "/api/v1/label/job/values", "/api/v1/rules",
                     "/api/v1/series"]
    [s] = [r for r in prom.requests if r["path"] == "/api/v1/series"]
    assert s["params"]["match[]"] == ['up{job="node"}']


def test_a_range_query_has_a_sparkline_per_series(agent, fake, prom):  # noqa: F811
    [res] = chat(agent, fake, prom, {"query": "node_load1", "start": "now-2h", "step": "2m"})
    head, line = res.split("\n")
    assert head.startswith("matrix: 1 series, ")
    assert line.startswith('node_load1{instance="pi:9100"} points=61 min=')
    spark = line.split(" last=")[1].split(" ", 1)[1]
    assert len(spark) == 40 and set(spark) <= set("▁▂▃▄▅▆▇█")
    assert "▁" in spark and "█" in spark  # a sine over 2 h spans the whole scale
    q = prom.requests[0]
    assert q["path"] == "/api/v1/query_range" and q["params"]["step"] == ["120.000"]


def test_a_chart_without_a_chat_comes_back_as_a_path(agent, fake, prom):  # noqa: F811
    [res] = chat(agent, fake, prom, {"query": "up", "start": "now-1h", "chart": "png"})
    assert res.startswith("matrix: 2 series")
    last = res.split("\n")[-1]
    assert last.startswith(f"chart: saved as {agent.home}/media/chart-")
    assert last.endswith(".png (this turn has no chat to send it to)")
    path = last.split("saved as ", 1)[1].split(" ", 1)[0]
    w, h, pixels = png_info(open(path, "rb").read())
    assert (w, h) == (800, 450) and BLUE in pixels


def test_errors_are_prometheus_own_and_arguments_fail_before_a_request(agent, fake, prom):  # noqa: F811,E501
    prom.fail("/api/v1/rules", 503, json.dumps({"status": "error", "errorType": "unavailable",
                                                "error": "rule manager is not ready"}))
    res = chat(agent, fake, prom,
               {"kind": "rules"},
               {"query": "rate(nonsense[5m]", "start": "now-1h"},
               {"kind": "series"},
               {"kind": "label_values", "label": "bad-name"},
               {"kind": "alerts", "start": "now-1h"},
               {"query": "up", "chart": "png"},
               {"kind": "everything"})
    assert res[0] == "Error: Prometheus failed (unavailable, HTTP 503): rule manager is not ready"
    assert res[1].startswith("Error: Prometheus rejected the query (bad_data): invalid parameter "
                             '"query": 1:1: parse error')
    assert "kind series needs query" in res[2]
    assert "kind label_values needs label" in res[3]
    assert "kind alerts takes no start or end" in res[4]
    assert 'chart: "png" draws a range query' in res[5]
    assert "kind must be query, series, label_values, alerts or rules" in res[6]
    assert sorted(r["path"] for r in prom.requests) == ["/api/v1/query_range",
                                                          "/api/v1/rules"]


def test_listings_are_capped(agent, fake, prom):  # noqa: F811
    for i in range(300):
        prom.add_series({"__name__": "many", "i": str(i)}, lambda t: 1)
    prom.alerts = [{"labels": {"alertname": f"A{i}"}, "annotations": {}, "state": "pending",
                    "activeAt": "2026-11-23T10:00:00Z"} for i in range(120)]
    series, values, alerts = chat(agent, fake, prom, {"kind": "series", "query": "many"},
                                  {"kind": "label_values", "label": "i"}, {"kind": "alerts"})
    assert series.startswith("series: 300\n") and series.endswith("\n... 250 more series")
    assert len(series.split("\n")) == 52
    assert values.startswith("label values: 300\n0\n1\n10\n100\n")  # sorted as strings
    assert values.endswith("\n... 100 more values")
    assert alerts.startswith("alerts: 120 (0 firing, 120 pending)")
    assert alerts.endswith("\n... 70 more alerts")


# ---- a chart to Telegram ---------------------------------------------------------------------


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        yield t


def test_a_chart_is_sent_to_the_chat_as_a_photo(tmp_path, fake, tg, prom):  # noqa: F811
    cfg = {"home": "HOME", "timezone": "UTC", "model": "free",
           "auxiliary": {"compression": "cheap"},
           "model_list": [deployment("free", "test/free", fake),
                          deployment("cheap", "test/cheap", fake)],
           "router_settings": {"num_retries": 0, "allowed_fails": 100, "timeout": 20},
           "api": {"listen": "127.0.0.1:PORT"}, "prometheus": {"url": prom.url},
           "telegram": {"token": "os.environ/TELEGRAM_BOT_TOKEN", "stream": "off",
                        "progress": "off", "allowed_users": [ALLOWED], "api_base": tg.url,
                        "poll_timeout_s": 1}}
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    fake.script_for("test/free",
                    call({"query": "node_load1", "start": "now-3h", "chart": "png"}),
                    text("Load is fine."))
    g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
    g.start()
    try:
        tg.push_text("chart the load", chat_id=ALLOWED)
        deadline = time.monotonic() + 30 * SLOW
        while time.monotonic() < deadline and not tg.files_sent(ALLOWED):
            time.sleep(0.05)
        [photo] = tg.files_sent(ALLOWED)
        assert photo["method"].lower() == "sendphoto" and photo["caption"] == "node_load1"
        w, h, pixels = png_info(photo["data"])
        assert (w, h) == (800, 450) and BLUE in pixels
        tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)
        [res] = tool_results(fake.chat_requests[-1])
        assert "\nchart: sent to the chat as a photo (media/chart-" in res
        assert list((g.home / "media").glob("chart-*.png"))
    finally:
        g.kill()
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()
