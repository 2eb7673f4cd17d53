"""`hermetic gateway`: starts, serves /healthz /readyz /metrics on api.listen, writes its log
under home/, keeps secrets out of it, and shuts down cleanly on SIGTERM and SIGINT."""
import json
import shutil
import signal
import sqlite3
import subprocess

import pytest

from conftest import http_get

CONFIG = """\
home: {home}
api:
  listen: 127.0.0.1:{port}
  key: os.environ/API_SERVER_KEY
log:
  level: debug
"""
SECRET = "e2e-gateway-api-secret-value"


@pytest.mark.smoke
def test_gateway_serves_health_and_stops_on_sigterm(gateway):
    g = gateway(CONFIG, env={"API_SERVER_KEY": SECRET})
    status, _, body = http_get(g.url + "/healthz")
    assert (status, body) == (200, "ok\n")
    status, _, body = http_get(g.url + "/readyz")
    assert (status, body) == (200, "ready\n")
    assert g.stop(signal.SIGTERM) == 0, g.stderr()
    assert "stopped cleanly" in g.stderr()


def test_gateway_stops_cleanly_on_sigint_and_closes_sqlite(gateway):
    g = gateway(CONFIG, env={"API_SERVER_KEY": SECRET})
    assert g.stop(signal.SIGINT) == 0, g.stderr()
    db = g.home / "state.db"
    assert db.exists()
    # A clean close checkpoints the WAL: nothing is left only in the -wal file.
    wal = g.home / "state.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] >= 1
    con.close()


def test_metrics_are_prometheus_text_that_promtool_accepts(gateway):
    g = gateway(CONFIG, env={"API_SERVER_KEY": SECRET})
    http_get(g.url + "/healthz")
    http_get(g.url + "/nope")
    status, headers, body = http_get(g.url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'hermetic_build_info{version="' in body
    assert 'hermetic_http_requests_total{route="/healthz",code="200"} ' in body
    assert 'hermetic_http_requests_total{route="unmatched",code="404"} 1' in body
    rss = [l for l in body.splitlines() if l.startswith("process_resident_memory_bytes ")]
    assert rss and int(float(rss[0].split()[1])) > 0
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert g.stop() == 0


def test_unknown_route_answers_json_404(gateway):
    g = gateway(CONFIG, env={"API_SERVER_KEY": SECRET})
    status, headers, body = http_get(g.url + "/v1/nothing-here")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["type"] == "not_found_error"


def test_log_file_under_home_and_secret_redacted(gateway):
    g = gateway(CONFIG + "  file: true\n", env={"API_SERVER_KEY": SECRET})
    assert g.stop() == 0
    log = (g.home / "logs" / "hermetic.log").read_text()
    assert "gateway starting" in log and "stopped cleanly" in log
    assert SECRET not in log and SECRET not in g.stderr()


def test_port_in_use_fails_with_clear_message(gateway):
    first = gateway(CONFIG, env={"API_SERVER_KEY": SECRET})
    second = gateway(CONFIG.replace("{port}", str(first.port)), env={"API_SERVER_KEY": SECRET},
                     start=False)
    second.start(wait=False)
    assert second.proc.wait(timeout=30) == 1
    assert f"cannot listen on 127.0.0.1:{first.port}" in second.stderr()
    assert first.stop() == 0


def test_unwritable_home_fails_with_clear_message(gateway, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    g = gateway(CONFIG.replace("{home}", str(blocker / "home")),
                env={"API_SERVER_KEY": SECRET}, start=False)
    g.start(wait=False)
    assert g.proc.wait(timeout=30) == 1
    assert "data directory" in g.stderr() and "HERMETIC_HOME" in g.stderr()
