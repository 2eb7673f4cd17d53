"""Proof that the governed target really governed: a target that skipped its key, pool, lane,
ledger or audit trail would measure fast and prove nothing. After the run (the router stopped
cleanly, so its last ledger batch and audit lines are on disk) the router's own records are
counted and must agree:

- spend ledger (home/state.db): one row per billed call, every row under the virtual key's
  SHA-256, at least as many as the 2xx answers the load generator counted from this target
  (those leave out the warm-up requests, which have rows too);
- audit trail (home/logs/audit.jsonl): one `attempt` line per attempt, each with the key's alias
  and the lane's name, the billed ones exactly as many as the ledger's rows;
- rate pool (/metrics, read before the stop): `hermetic_pool_wait_seconds_count` of the pool =
  every attempt admitted through it, as many as the audit's attempt lines;
- the key's budget (/metrics): `litellm_remaining_api_key_budget_metric` of the alias below
  its max_budget, by at most what the ledger holds (less when the key's day turned during
  the run).
The redaction itself is checked before the rounds (bench.py: the upstream saw the placeholder,
not the address). Standard library only."""
import hashlib
import json
import os
import re
import sqlite3

from benchlib import http_req

ALIAS, LANE, POOL, MAX_BUDGET = "bench-key", "bench-lane", "bench-pool", 1000000.0


def scrape(port, master_key):
    """The series this proof needs from the router's /metrics (None when unreachable)."""
    try:
        st, _, body = http_req(port, "GET", "/metrics",
                               headers={"Authorization": f"Bearer {master_key}"}, timeout=10)
    except OSError as e:
        return {"error": str(e)}
    if st != 200:
        return {"error": f"/metrics answered {st}"}
    out = {"pool_admitted": 0, "key_requests": 0, "remaining_budget_usd": None}
    for line in body.decode("utf-8", "replace").splitlines():
        m = re.match(r'([a-z_]+)\{([^}]*)\} ([0-9.eE+-]+)$', line)
        if not m:
            continue
        name, labels, v = m.group(1), m.group(2), float(m.group(3))
        if name == "hermetic_pool_wait_seconds_count" and f'pool="{POOL}"' in labels:
            out["pool_admitted"] += int(v)
        elif name == "litellm_requests_metric_total" and f'api_key_alias="{ALIAS}"' in labels:
            out["key_requests"] += int(v)
        elif (name == "litellm_remaining_api_key_budget_metric" and
              f'api_key_alias="{ALIAS}"' in labels):
            out["remaining_budget_usd"] = v
    return out


def prove(home, virtual_key, metrics, client_ok):
    """The counts and the verdict: {"ok": bool, "why": [...], ...}."""
    why = []
    out = {"client_2xx_counted": client_ok, "metrics": metrics}
    key_hash = hashlib.sha256(virtual_key.encode()).hexdigest()
    try:
        db = sqlite3.connect(f"file:{os.path.join(home, 'state.db')}?mode=ro", uri=True,
                             timeout=10)
        rows = dict(db.execute("SELECT key_hash, count(*) FROM spend GROUP BY key_hash"))
        cost = db.execute("SELECT coalesce(sum(cost_usd), 0) FROM spend").fetchone()[0]
        db.close()
    except sqlite3.Error as e:
        rows, cost = {}, 0.0
        why.append(f"state.db: {e}")
    out["ledger_rows"] = rows.get(key_hash, 0)
    out["ledger_rows_other_keys"] = sum(v for k, v in rows.items() if k != key_hash)
    out["ledger_cost_usd"] = round(cost, 6)
    attempts = billed = other = 0
    try:
        with open(os.path.join(home, "logs", "audit.jsonl")) as f:
            for line in f:
                d = json.loads(line)
                if d.get("kind") != "attempt":
                    continue
                if d.get("key_alias") == ALIAS and d.get("lane") == LANE:
                    attempts += 1
                    billed += bool(d.get("billed"))
                else:
                    other += 1
    except (OSError, ValueError) as e:
        why.append(f"audit.jsonl: {e}")
    out.update(audit_attempts=attempts, audit_billed=billed, audit_attempts_other=other)
    if out["ledger_rows"] < max(client_ok, 1):
        why.append(f"{out['ledger_rows']} ledger rows under the virtual key for {client_ok} "
                   "answers counted by the client")
    if out["ledger_rows_other_keys"]:
        why.append(f"{out['ledger_rows_other_keys']} ledger rows under another key")
    if billed != out["ledger_rows"]:
        why.append(f"{billed} billed audit lines in the lane for {out['ledger_rows']} ledger rows")
    if other:
        why.append(f"{other} audit attempt lines without the key's alias and the lane")
    if "error" in (metrics or {}):
        why.append("metrics: " + metrics["error"])
    else:
        if metrics.get("pool_admitted") != attempts:
            why.append(f"the pool admitted {metrics.get('pool_admitted')} calls for {attempts} "
                       "audited attempts")
        rem = metrics.get("remaining_budget_usd")
        if rem is None or not (0 < MAX_BUDGET - rem <= cost * (1 + 1e-6) + 1e-6):
            why.append(f"the key's remaining budget {rem} of {MAX_BUDGET:.0f} does not show "
                       f"the ledger's {cost:.6f} USD spent")
    out["ok"] = not why
    out["why"] = why
    return out
