#!/usr/bin/python3
"""The wake-up storm (issue 40): what rate pools change when everything wakes at once.

One provider account with a 30,000 tokens-per-minute ceiling, enforced over an exact sliding
minute by the fake upstream (tests/fakes/ratelimit.py: OpenAI's 429 body, retry-after and
x-ratelimit-* headers). At t=0 (a minute boundary, when the cron job fires) a cron briefing
with a 12k-token prompt, three hooks of 4k tokens and an API client whose answer streams 8k
tokens all start; then a Telegram message arrives every 6 s for 2 minutes, each in its own
chat. The same storm runs twice, with `rate_pools:` (one pool for the account, the default
priorities) and without, and the Telegram messages alone run once on an idle gateway with the
pool, as the baseline of the interactive wait.

Reported per run:
  upstream_429          429s the fake account sent (goal with pools: 0)
  first_token_p95_s     push of a Telegram message -> the bot's first message in that chat
                        (stream: edit), p95 over the 20 messages; with pools, the goal is
                        <= the idle run's p95 + 2 s
  background_done_s     t=0 -> the cron briefing, the three hooks and the API stream all done
                        (goal with pools: <= 300 s, nothing dropped)
  peak_window_tokens    the most tokens the fake's sliding minute held (goal: <= 30,000)
  dropped               storm items that never completed (goal: 0)

Writes benchmarks/results/<date>-<rev>-pools.json and prints a table. Standard library plus
the project's fakes; every wait is bounded. Usage:
  benchmarks/pools/storm.py --hermetic build/hermetic [--quick] [--only pools|nopools|idle]
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "gateway"))

from fakes.fake_openai import FakeOpenAI  # noqa: E402
from fakes.fake_telegram import FakeTelegram  # noqa: E402
from benchlib import free_port, http_req, log  # noqa: E402
from bench import API_KEY, HOOK_TOKEN, UPSTREAM_KEY, TG_TOKEN, Gateway, machine  # noqa: E402

TPM = 30000
# light turns: ten a minute fit the default 30 % interactive reserve; heavy turns need twice
# that, to show what a reserve smaller than the chat's pace does
MODES = ("idle", "pools", "nopools", "idle-heavy", "pools-heavy")
ADMIN_CHAT = 900000001           # where the cron briefing and the hooks deliver
CHATS = [100000001 + i for i in range(20)]
ANSWER = re.compile(r"\[answer (\d+)\]")
TOKENS_PER_S = 400               # the fake's generation speed (about a fast cloud model)


class StormModel(FakeOpenAI):
    """Answers each request with as many tokens as its last user message asks for
    ("[answer N]", else 40) up to the request's max_tokens, streamed at TOKENS_PER_S when the
    client streams."""

    def _next_step(self, record):
        with self._lock:
            record["step"] = "storm"
        body = record["body"] or {}
        users = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
        last = users[-1] if users and isinstance(users[-1], str) else ""
        m = ANSWER.search(last)
        n = int(m.group(1)) if m else 40
        # like OpenAI: the answer stops at max_tokens (finish_reason "length")
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        reason = "stop"
        if isinstance(cap, int) and 0 < cap < n:
            n, reason = cap, "length"
        chunk = 64  # characters, about 16 tokens
        return {"kind": "text", "content": ("word " * (n * 4 // 5 + 1))[: n * 4],
                "finish_reason": reason,
                "chunk_size": chunk, "chunk_delay": (chunk / 4) / TOKENS_PER_S}


def filler(tokens):
    """About `tokens` tokens of prose (4 characters a token, as the fake counts)."""
    return ("The quarterly numbers and the overnight logs follow. " * (tokens * 4 // 53 + 1))[
        : tokens * 4]


def config(home, port, fake, tg, pools, at, heavy):
    cfg = {
        "home": str(home), "timezone": "UTC", "model": "free",
        "agent": {"max_iterations": 4},
        # a light turn offers one small toolset (its prompt is about 300 tokens); a heavy one
        # offers them all (about 1,200)
        "toolsets": ["all"] if heavy else ["time"],
        "model_list": [{"model_name": "free",
                        "litellm_params": {"model": "openai/storm", "api_base": fake.url,
                                           "api_key": "os.environ/OPENROUTER_API_KEY"}}],
        "litellm_settings": {"num_retries": 2, "request_timeout": 120},
        "budget": {"daily_usd": 100.0},
        # every call reserves prompt + max_tokens in the account's window (as OpenAI counts):
        # 600 keeps a Telegram turn near 900 tokens, so 10 messages a minute fit the ceiling
        # alone and the storm's 45k tokens in its first minute do not
        "guardrails": {"bleed": {"max_calls": 0}, "max_tokens": 600},
        "telegram": {"token": "os.environ/TELEGRAM_BOT_TOKEN", "api_base": tg.url,
                     "allowed_users": CHATS + [ADMIN_CHAT], "stream": "edit",
                     "progress": "off", "edit_every_ms": 1000},
        "api": {"listen": f"127.0.0.1:{port}", "key": "os.environ/API_SERVER_KEY"},
        # fires once, at the storm's minute (the schedule names that minute of that hour)
        "cron": [{"name": "briefing", "schedule": f"{at.tm_min} {at.tm_hour} * * *",
                  "deliver": f"telegram:{ADMIN_CHAT}",
                  "prompt": "Morning briefing [answer 1500]. " + filler(12000)}],
        # three hooks: one hook's source takes one run at a time (a second request is a 409)
        "hooks": [{"name": f"digest{i}", "token": "os.environ/HOOK_TOKEN",
                   "deliver": f"telegram:{ADMIN_CHAT}",
                   "prompt": "Summarise this [answer 300]: {{payload}}"} for i in range(3)],
    }
    if pools:
        cfg["rate_pools"] = {"account": {"tpm": TPM, "models": ["free"]}}
    return cfg


def api_stream(port, content, timeout, want_chars, deadline_s=900):
    """A streamed agent API call, repeated after a 429 at its retry-after as the OpenAI SDK
    does (for up to deadline_s); True when a whole answer arrived."""
    end = time.monotonic() + deadline_s
    while True:
        ok, retry_after = api_stream_once(port, content, timeout, want_chars)
        if ok or retry_after is None or time.monotonic() + retry_after > end:
            return ok
        time.sleep(retry_after)


def api_stream_once(port, content, timeout, want_chars):
    """One streamed agent API call: (done, retry-after seconds of a 429 or None)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = json.dumps({"user": "storm-api", "stream": True,
                           "messages": [{"role": "user", "content": content}]})
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Content-Type": "application/json",
                              "Authorization": f"Bearer {API_KEY}"})
        r = conn.getresponse()
        data = r.read()
        if r.status == 429:
            return False, max(1.0, float(r.getheader("retry-after") or 1))
        text = "".join(
            (json.loads(line[6:])["choices"][0].get("delta") or {}).get("content") or ""
            for line in data.decode(errors="replace").splitlines()
            if line.startswith("data: {") and '"choices":[{' in line.replace(" ", ""))
        # done = the whole answer arrived (an error inside the stream is not done)
        return r.status == 200 and b"[DONE]" in data and len(text) >= want_chars, None
    except (OSError, ValueError):
        return False, None
    finally:
        conn.close()


def next_boundary(lead_s=15):
    """The first wall-clock minute at least lead_s away (time for the gateway to start)."""
    return (int(time.time() + lead_s) // 60 + 1) * 60


def wait_until(boundary):
    """Sleeps until the wall-clock second `boundary` (when the cron job fires); returns the
    monotonic time of that boundary."""
    time.sleep(max(0.0, boundary - time.time()))
    return time.monotonic() - (time.time() - boundary)


def first_message_after(tg, chat, after, deadline):
    """Seconds from `after` (monotonic) to the bot's first message in chat, or None."""
    while time.monotonic() < deadline:
        msgs = tg.messages(chat)
        if msgs:
            vs = tg.versions(chat, msgs[0]["message_id"])
            if vs:
                return vs[0]["monotonic"] - after
        time.sleep(0.05)
    return None


def run(binary, work, mode, quick):
    heavy = mode.endswith("-heavy")
    base = mode[: -len("-heavy")] if heavy else mode
    storm, pools = base in ("pools", "nopools"), base in ("pools", "idle")
    n_msgs, every_s = (6, 6.0) if quick else (20, 6.0)
    fake = StormModel(api_key=UPSTREAM_KEY, rate_limit=(TPM, None)).start()
    tg = FakeTelegram(token=TG_TOKEN).start()
    for c in CHATS + [ADMIN_CHAT]:
        tg.add_chat(c)
    home = os.path.join(work, mode)
    os.makedirs(home, exist_ok=True)
    port = free_port()
    boundary = next_boundary()
    cfg = config(home, port, fake, tg, pools, time.gmtime(boundary), heavy)
    if not storm:
        cfg["cron"][0]["enabled"] = False
    g = Gateway(binary, home, cfg).start()
    out = {"mode": mode, "pools": pools, "storm": storm, "turns": "heavy" if heavy else "light"}
    try:
        g.ready()
        t0 = wait_until(boundary) if storm else time.monotonic()
        done = {}
        threads = []
        if storm:
            def hook(i):
                st, _, body = http_req(port, "POST", f"/v1/hooks/digest{i}",
                                       {"text": f"report {i} " + filler(4000)},
                                       {"Authorization": f"Bearer {HOOK_TOKEN}"}, timeout=900)
                ok = st == 200 and json.loads(body).get("status") == "ok"
                done[f"hook{i}"] = (time.monotonic() - t0) if ok else None

            def api():
                # asks for 8k tokens; the group's max_tokens (600) stops it at 2,400 characters
                ok = api_stream(port, "Write the long report [answer 8000].", 900, 2000)
                done["api"] = (time.monotonic() - t0) if ok else None
            threads = [threading.Thread(target=hook, args=(i,)) for i in range(3)]
            threads.append(threading.Thread(target=api))
            for t in threads:
                t.start()
        pushed = []
        for i in range(n_msgs):
            at = t0 + i * every_s
            time.sleep(max(0.0, at - time.monotonic()))
            chat = CHATS[i]
            pushed.append((chat, time.monotonic()))
            tg.push_text(f"quick question {i} [answer 60]", chat_id=chat, user_id=chat)
        waits = []
        for chat, at in pushed:
            w = first_message_after(tg, chat, at, at + 600)
            waits.append(w)
        if storm:
            for t in threads:
                t.join(timeout=900)
            # the cron briefing: its answer (600 tokens, 2,400 characters: its max_tokens)
            # reaches the admin chat (the hooks deliver there too: 300 tokens, 1,200)
            end = time.monotonic() + 900
            done["cron"] = None
            while time.monotonic() < end and done["cron"] is None:
                for m in tg.messages(ADMIN_CHAT):
                    if "word" in m["text"] and len(m["text"]) > 2000:
                        vs = tg.versions(ADMIN_CHAT, m["message_id"])
                        done["cron"] = (vs[0]["monotonic"] if vs else time.monotonic()) - t0
                        break
                else:
                    time.sleep(0.2)
        got = [w for w in waits if w is not None]
        out["first_token_s"] = [round(w, 3) if w is not None else None for w in waits]
        out["first_token_p50_s"] = round(statistics.median(got), 3) if got else None
        out["first_token_p95_s"] = (round(sorted(got)[max(0, int(len(got) * 0.95 + 0.5) - 1)], 3)
                                    if got else None)
        out["unanswered_messages"] = len(waits) - len(got)
        out["upstream_429"] = fake.limit.refused
        out["upstream_admitted"] = fake.limit.admitted
        out["peak_window_tokens"] = fake.limit.peak_tokens
        # every admitted upstream call: seconds after t=0 and the tokens the account counted
        out["upstream_timeline"] = [[round(at - t0, 2), tokens]
                                    for at, tokens, _ in fake.limit.timeline]
        if storm:
            out["background_s"] = {k: (round(v, 1) if v is not None else None)
                                   for k, v in sorted(done.items())}
            out["dropped"] = sum(1 for v in done.values() if v is None)
            finished = [v for v in done.values() if v is not None]
            out["background_done_s"] = round(max(finished), 1) if finished else None
    finally:
        g.stop()
        fake.close()
        tg.close()
    return out


def table(res):
    rows = [("", "upstream 429s", "first token p95 s", "background done s", "peak window tok",
             "dropped")]
    for r in res["runs"]:
        rows.append((r["mode"], str(r["upstream_429"]), str(r["first_token_p95_s"]),
                     str(r.get("background_done_s", "-")), str(r["peak_window_tokens"]),
                     str(r.get("dropped", "-"))))
    w = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    for x in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(x)))


def main():
    ap = argparse.ArgumentParser(description="hermetic rate pools: the wake-up storm")
    ap.add_argument("--hermetic", required=True, help="the gateway binary")
    ap.add_argument("--quick", action="store_true", help="6 Telegram messages, a harness check")
    ap.add_argument("--only", choices=MODES)
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    a = ap.parse_args()
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    started = datetime.datetime.now(datetime.timezone.utc)
    res = {"benchmark": "pools-storm", "revision": rev, "started": started.isoformat(),
           "quick": a.quick, "tpm": TPM, "machine": machine(), "runs": []}
    work = tempfile.mkdtemp(prefix="hermetic-bench-storm-")
    for mode in MODES:
        if a.only in (None, mode):
            log(f"storm: {mode}")
            res["runs"].append(run(os.path.abspath(a.hermetic), work, mode, a.quick))
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f"{started.strftime('%Y-%m-%dT%H%M%S')}-{rev}-pools.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    table(res)
    print(f"results: {os.path.relpath(path, REPO)}")


if __name__ == "__main__":
    main()
