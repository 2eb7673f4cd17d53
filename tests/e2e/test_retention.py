"""Session retention: the gateway deletes conversations idle longer than
sessions.retention_days (with their messages and search rows) soon after start, keeps the
recent ones, and /metrics reports how large state.db and its WAL are."""
import sqlite3
import time

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, http_get, to_yaml
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

DAY_MS = 86400000


def gateway(tmp_path, fake, **extra):
    cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, **extra)
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    return Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY})


def add_session(db, source, idle_days, text):
    now = int(time.time() * 1000)
    at = now - idle_days * DAY_MS
    sid = db.execute("INSERT INTO sessions (source, created_ms, updated_ms, ended) "
                     "VALUES (?, ?, ?, 1)", (source, at, at)).lastrowid
    for i in range(30):
        db.execute("INSERT INTO messages (session_id, role, content, json, created_ms) "
                   "VALUES (?, 'user', ?, '{}', ?)", (sid, f"{text} {i}", at))
    return sid


def test_sessions_older_than_retention_are_pruned_soon_after_start(tmp_path, fake):
    g = gateway(tmp_path, fake, sessions={"retention_days": 30})
    g.start()
    g.stop()
    db = sqlite3.connect(g.home / "state.db")
    for i in range(45):  # more than one batch
        add_session(db, f"api:old{i}", 40 + i, "quokka meadow")
    keep = add_session(db, "api:recent", 3, "quokka harbour")
    db.commit()
    db.close()
    g.start()
    try:
        def left():
            c = sqlite3.connect(g.home / "state.db")
            try:
                return c.execute("SELECT id FROM sessions").fetchall()
            finally:
                c.close()
        deadline = time.monotonic() + 30 * SLOW
        while len(left()) != 1:
            assert time.monotonic() < deadline, f"still {len(left())} sessions"
            time.sleep(0.2)
        assert left() == [(keep,)]
        c = sqlite3.connect(g.home / "state.db")
        assert c.execute("SELECT count(*) FROM messages").fetchone()[0] == 30
        assert c.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH "
                         "'meadow'").fetchone()[0] == 0
        c.close()
        assert "deleted 45 session(s) idle for more than 30 days" in g.stderr()
        metrics = http_get(g.url + "/metrics")[2]
        size = [ln for ln in metrics.splitlines()
                if ln.startswith('hermetic_state_db_bytes{file="db"}')]
        assert size and float(size[0].split()[-1]) > 0, size
    finally:
        g.kill()
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def test_retention_zero_keeps_every_session(tmp_path, fake):
    g = gateway(tmp_path, fake, sessions={"retention_days": 0})
    g.start()
    g.stop()
    db = sqlite3.connect(g.home / "state.db")
    add_session(db, "api:ancient", 4000, "kept forever")
    db.commit()
    db.close()
    g.start()
    try:
        time.sleep(12 * SLOW)
        c = sqlite3.connect(g.home / "state.db")
        assert c.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
        c.close()
    finally:
        g.kill()
