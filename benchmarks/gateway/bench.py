#!/usr/bin/python3
"""Gateway benchmark driver (benchmarks/gateway/run.sh builds what it needs and calls this).

Measures `hermetic gateway` (the static musl build) doing real work on loopback, against the
scripted fake model (tests/fakes/fake_openai.py, in this process), the fake Telegram Bot API
(tests/fakes/fake_telegram.py, in this process) and the real MCP servers from npm
(server-everything over stdio, spawned by hermetic; kubernetes-mcp-server over HTTP with a dummy
kubeconfig, as the seed's sidecar):

  size      the stripped static aarch64 binary and the FROM-scratch image tree;
  startup   exec -> first 200 from /readyz, and exec -> MCP tools listed (GET /v1/tools),
            over N restarts of the seed-shaped config; median, min, max;
  memory    VmRSS/VmHWM of the gateway process: idle after IDLE s, over the first 1,000 turns of
            a soak, and the RSS slope over the whole soak (least squares, KiB per 1,000 turns,
            after the first 1,000 turns); turns are POST /v1/chat/completions with a session
            (`user`), every 10th one a Telegram message instead, each turn one tool call
            (server-everything echo, memory read, time in rotation) then an answer;
  qemu      the same idle and turns scenario on the static aarch64 build under
            qemu-aarch64-static, as the difference over a static hello-world under that qemu;
  day       a scripted seed "day": 3 cron briefings, 6 workout hooks, 20 Telegram chat turns
            with tool use, one long API conversation that needs compression; model calls and
            tokens from the fake's counters, cost from the gateway's spend ledger (seed prices).

Writes benchmarks/results/<date>-<rev>-gateway.json and prints a table. Standard library only;
every wait is bounded.
"""
import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.dirname(HERE))

from fakes.fake_openai import FakeOpenAI, text, tool_calls  # noqa: E402
from fakes.fake_openai_media import FakeOpenAIMedia  # noqa: E402
from fakes.fake_telegram import FakeTelegram  # noqa: E402
from fakes.skills import real_skills, write_skills  # noqa: E402
from benchlib import free_port, http_req, log, machine, proc_status  # noqa: E402

API_KEY = "sk-bench-api-key"
UPSTREAM_KEY = "sk-or-v1-bench-upstream"
TG_TOKEN = "123456:BENCH-token"
HOOK_TOKEN = "bench-hook-token"
CHAT = 123456789
NODE = os.environ.get("HERMETIC_NODE", "/usr/bin/node")
KUBECONFIG = os.path.join(REPO, "tests", "peers", "kubeconfig-dummy.yaml")
LOOPBACK_JS = os.path.join(REPO, "tests", "peers", "loopback.cjs")

# The seed deployment's models and prices (k8s/configmap.yaml); free tiers cost nothing.
SEED_MODELS = [
    ("free", "qwen/qwen3-coder:free", None),
    ("free2", "google/gemini-2.0-flash-exp:free", None),
    ("cheap", "qwen/qwen-turbo", (0.00000005, 0.0000002)),
    ("strong", "deepseek/deepseek-chat-v3-0324", (0.00000028, 0.00000088)),
]
PRICE = {mid: p for _, mid, p in SEED_MODELS}
# Cached input tokens at a quarter of the input price: DeepSeek's published ratio for
# deepseek-chat when V3-0324 was current ($0.07 per million on a cache hit, $0.27 on a miss).
# The fake model caches as OpenAI does: prefixes of 1,024 tokens and more, in steps of 128.
CACHE_READ_SHARE = 0.25
# Keys merged into the gateway's agent section, to compare settings (README: BENCH_AGENT).
BENCH_AGENT = json.loads(os.environ.get("BENCH_AGENT") or "{}")
PROMPT_CACHE = (1024, 128)
FREE_ID, CHEAP_ID = SEED_MODELS[0][1], SEED_MODELS[2][1]


def qemu_smaps_kib(pid):
    """Rss of a qemu-user process by what it is: the JIT code buffer (the rwx mapping), qemu's
    own heap and binary, and the rest (the guest's memory, plus qemu's other anonymous maps)."""
    out = {"jit": 0, "qemu_heap": 0, "qemu_binary": 0, "rest": 0}
    where = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                    parts = line.split()
                    name = parts[5] if len(parts) > 5 else ""
                    if parts[1] == "rwxp":
                        where = "jit"
                    elif name == "[heap]":
                        where = "qemu_heap"
                    elif name.endswith("qemu-aarch64-static"):
                        where = "qemu_binary"
                    else:
                        where = "rest"
                elif line.startswith("Rss:") and where:
                    out[where] += int(line.split()[1])
    except OSError:
        pass
    return out


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def spread(values):
    v = sorted(values)
    return {"median": statistics.median(v), "min": v[0], "max": v[-1], "n": len(v)}


def slope_per_1000(points):
    """Least-squares slope of (turn, KiB) points, in KiB per 1,000 turns."""
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 1000.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


# ---------------------------------------------------------------------------
# The gateway under test
# ---------------------------------------------------------------------------

def seed_config(home, port, fake, tg, mcp, **extra):
    """The seed deployment's config (k8s/configmap.yaml) pointed at the fakes; rpm limits of
    the free tiers are left out (the benchmark compresses a day into minutes)."""
    models = []
    for name, mid, price in SEED_MODELS:
        entry = {"model_name": name,
                 "litellm_params": {"model": f"openrouter/{mid}", "api_base": fake.url,
                                    "api_key": "os.environ/OPENROUTER_API_KEY"}}
        if price:
            entry["model_info"] = {"input_cost_per_token": price[0],
                                   "output_cost_per_token": price[1]}
        models.append(entry)
    cfg = {
        "home": str(home), "timezone": "UTC", "model": "free",
        "auxiliary": {"compression": "cheap", "title": "cheap"},
        "agent": dict({"max_iterations": 12, "max_turn_cost_usd": 0.05}, **BENCH_AGENT),
        "model_list": models,
        "litellm_settings": {"num_retries": 2, "request_timeout": 30,
                             "fallbacks": [{"free": ["free2", "cheap"]}]},
        "router_settings": {"routing_strategy": "simple-shuffle", "allowed_fails": 3,
                            "cooldown_time": 30},
        "budget": {"daily_usd": 100.0},
        # The bench packs a day (and a 10,000-turn soak) into minutes; the bleed breaker's
        # default (60 model calls in 15 minutes) would rightly refuse most of it.
        "guardrails": {"bleed": {"max_calls": 0}},
        "telegram": {"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [CHAT],
                     "api_base": tg.url},
        "api": {"listen": f"127.0.0.1:{port}", "key": "os.environ/API_SERVER_KEY"},
        "mcp_servers": mcp,
    }
    cfg.update(extra)
    return cfg


class Gateway:
    def __init__(self, argv0, work, cfg, wrapper=None):
        self.work = work
        self.port = int(cfg["api"]["listen"].rsplit(":", 1)[1])
        self.config = os.path.join(work, "config.yaml")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)  # JSON is YAML
        self.argv = ([wrapper] if wrapper else []) + [argv0, "gateway", "--config", self.config]
        self.env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC",
                    "OPENROUTER_API_KEY": UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TG_TOKEN,
                    "API_SERVER_KEY": API_KEY, "HOOK_TOKEN": HOOK_TOKEN,
                    "HERMETIC_ALLOW_ROOT": "1"}
        self.proc = None
        self.t0 = None

    def start(self):
        self.err = open(os.path.join(self.work, "stderr.log"), "ab")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        return self

    def wait(self, pred, seconds, what):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited ({self.proc.returncode}) waiting for "
                                   f"{what}: {self.stderr_tail()}")
            try:
                if pred():
                    return time.monotonic() - self.t0
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.002)
        raise RuntimeError(f"no {what} after {seconds} s: {self.stderr_tail()}")

    def ready(self, seconds=30):
        return self.wait(lambda: http_req(self.port, "GET", "/readyz", timeout=1)[0] == 200,
                         seconds, "200 from /readyz")

    def tools(self):
        st, _, body = http_req(self.port, "GET", "/v1/tools",
                               headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
        return body.decode() if st == 200 else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()

    def stderr_tail(self):
        try:
            with open(os.path.join(self.work, "stderr.log"), errors="replace") as f:
                return f.read()[-1500:]
        except OSError:
            return ""

    def chat(self, user, content, timeout=60):
        st, _, body = http_req(self.port, "POST", "/v1/chat/completions",
                               {"user": user, "messages": [{"role": "user", "content": content}]},
                               {"Authorization": f"Bearer {API_KEY}"}, timeout=timeout)
        if st != 200:
            raise RuntimeError(f"chat answered {st}: {body[:300]!r}")
        return json.loads(body)

    def hook(self, name, payload, timeout=60):
        st, _, body = http_req(self.port, "POST", f"/v1/hooks/{name}", payload,
                               {"Authorization": f"Bearer {HOOK_TOKEN}"}, timeout=timeout)
        if st != 200:
            raise RuntimeError(f"hook answered {st}: {body[:300]!r}")
        return json.loads(body)


class K8sMcp:
    """kubernetes-mcp-server --read-only on loopback with the dummy kubeconfig (the sidecar)."""

    def __init__(self, binary, work):
        self.port = free_port()
        self.log = open(os.path.join(work, "kubernetes-mcp.log"), "ab")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind-address", "127.0.0.1", "--read-only",
             "--kubeconfig", KUBECONFIG], env={"PATH": "/usr/bin:/bin", "HOME": work,
                                               "KUBECONFIG": KUBECONFIG},
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        end = time.monotonic() + 30
        try:
            while time.monotonic() < end:
                try:
                    if http_req(self.port, "GET", "/healthz", timeout=1)[0] == 200:
                        return
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("kubernetes-mcp-server did not start")
        except BaseException:
            self.stop()
            raise

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.log.close()


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

def measure_size(a64, image_tree):
    out = {}
    if a64 and os.path.exists(a64):
        out["aarch64_binary_bytes"] = os.path.getsize(a64)
        out["aarch64_binary_how"] = f"size of {os.path.relpath(a64, REPO)} (stripped, static musl)"
    if image_tree and os.path.isdir(image_tree):
        total = 0
        for root, _, files in os.walk(image_tree):
            for f in files:
                p = os.path.join(root, f)
                if not os.path.islink(p):
                    total += os.path.getsize(p)
        out["image_tree_bytes"] = total
        out["image_tree_how"] = "sum of regular file sizes in scripts/image-rootfs.sh's tree"
    return out


def measure_startup(binary, work, fake, tg, k8s, runs):
    mcp = {"kubernetes": {"url": f"http://127.0.0.1:{k8s.port}/mcp", "timeout": 60,
                          "tools": {"exclude": ["configuration_view"]}}}
    home = os.path.join(work, "home")
    port = free_port()
    ready, tools = [], []
    for i in range(runs + 1):
        g = Gateway(binary, work, seed_config(home, port, fake, tg, mcp)).start()
        try:
            r = g.ready()
            t = g.wait(lambda: "mcp_kubernetes_" in g.tools(), 30, "kubernetes tools listed")
        finally:
            g.stop()
        if i:  # the first run creates state.db; the others are restarts, like a pod's
            ready.append(r * 1000)
            tools.append(t * 1000)
    return {
        "readyz_ms": spread(ready), "mcp_tools_ms": spread(tools),
        "how": (f"{runs} restarts (after one first start that creates state.db) of the seed config "
                "(4 models, Telegram against the fake Bot API, kubernetes-mcp-server 0.0.67 "
                "over HTTP with a dummy kubeconfig): time from fork+exec to the first 200 from "
                "GET /readyz, and to GET /v1/tools listing the kubernetes tools; polled every "
                "2 ms over loopback HTTP"),
        "readyz_waits_for": ("nothing beyond the listening API socket: /readyz is 200 once the "
                             "loop runs unless Telegram has not polled successfully for "
                             "2 x poll_timeout_s (min 10 s) since start; it does not wait for "
                             "MCP servers (src/gateway/gateway.c ready(), src/telegram/telegram.c "
                             "telegram_ready()). MCP readiness is the second figure"),
    }


TURN_TOOLS = [
    lambda i: ("mcp_everything_echo", json.dumps({"message": f"turn {i}: " + "x" * 200})),
    lambda i: ("memory", json.dumps({"action": "read", "target": "memory"})),
    lambda i: ("time", "{}"),
]
ANSWER = ("Done. " + "Here is what I found, in a few sentences so the history grows like a real "
          "chat does over a day. " * 6)
USER_TEXT = ("Please check this for me and keep it in mind for later; " * 12)
CONVERSATION = 5  # chat turns per conversation in the day


def soak_script(fake):
    steps = []
    for k, f in enumerate(TURN_TOOLS):
        name, args = f(k)
        steps += [tool_calls((f"call{k}", name, args)), text(ANSWER)]
    fake.script_for(FREE_ID, *steps)
    fake.script_for(CHEAP_ID, text("Summary of the earlier conversation: the user asked for "
                                   "checks; all were done. " * 4))


TG_EVERY = 50
# A quiet second every QUIET_EVERY turns: the WAL restarts only after a checkpoint caught up
# with every write, which back-to-back turns (hundreds a second) never allow; people pause.
QUIET_EVERY = 500
QUIET_S = 1.5


def run_turns(g, tg, n, sample, on_sample, slow=1):
    """n sequential turns: every TG_EVERY-th through Telegram (hermetic sends at most one
    message per second to a chat, Telegram's limit, so these take about a second each), the
    rest through the API session."""
    tg_sent = len(tg.sent(CHAT))
    for i in range(1, n + 1):
        if i % TG_EVERY == 0:
            tg.push_text(f"{USER_TEXT} ({i})", chat_id=CHAT, user_id=CHAT)
            tg_sent += 1
            tg.wait_sent(CHAT, tg_sent, timeout=60 * slow)
        else:
            g.chat("soak", f"{USER_TEXT} ({i})", timeout=60 * slow)
        if i % sample == 0 or i == n:
            on_sample(i)
        if i % QUIET_EVERY == 0:
            time.sleep(QUIET_S)


def measure_memory(binary, work, fake, tg, peers, idle_s, turns, soak, wrapper=None,
                   baseline=None):
    mcp = {"everything": {"command": NODE,
                          "args": ["--require", LOOPBACK_JS, peers["everything_js"], "stdio"]}}
    fake.reset()
    soak_script(fake)
    tg.reset()
    tg.add_chat(CHAT)
    slow = 6 if wrapper else 1
    g = Gateway(binary, work, seed_config(os.path.join(work, "home"), free_port(), fake, tg, mcp),
                wrapper).start()
    res = {}
    try:
        g.ready(30 * slow)
        g.wait(lambda: "mcp_everything_echo" in g.tools(), 30 * slow, "server-everything tools")
        pid = g.proc.pid
        start_status = proc_status(pid)
        time.sleep(idle_s)
        idle = proc_status(pid)
        if wrapper:
            idle["smaps"] = qemu_smaps_kib(pid)
        res["start"] = start_status
        res["idle"] = idle
        res["idle_s"] = idle_s
        samples = []
        t_start = time.monotonic()

        def on_sample(i):
            samples.append((i, proc_status(pid)))
        run_turns(g, tg, soak, 50 if soak <= 2000 else 100, on_sample, slow)
        elapsed = time.monotonic() - t_start
        first = [s for i, s in samples if i <= turns]
        res["turns"] = turns
        res["during_turns"] = {"max_VmRSS": max(s["VmRSS"] for s in first),
                               "VmHWM_after": first[-1]["VmHWM"],
                               "VmRSS_after_50": samples[0][1]["VmRSS"],
                               "VmRSS_after": first[-1]["VmRSS"]}
        res["soak_turns"] = soak
        res["soak_final"] = samples[-1][1]
        home = os.path.join(work, "home")
        res["state_db_bytes"] = {suffix or "db": os.path.getsize(os.path.join(
            home, "state.db" + suffix)) for suffix in ("", "-wal", "-shm")}
        if wrapper:
            res["soak_final"]["smaps"] = qemu_smaps_kib(pid)
        pts = [(i, s["VmRSS"]) for i, s in samples if i > min(turns, soak // 2)]
        res["soak_slope_kib_per_1000"] = slope_per_1000(pts)
        res["turns_per_s"] = soak / elapsed
        res["model_calls"] = fake.chat_count
        res["compression_calls"] = fake.usage_totals.get(CHEAP_ID, {}).get("calls", 0)
        res["samples"] = [[i, s["VmRSS"]] for i, s in samples]
        kids = [c for c in children(pid)]
        res["children"] = {str(c): proc_status(c) for c in kids}
    finally:
        g.stop()
    if baseline:
        res["hello_baseline"] = baseline
        b = baseline["VmRSS"]
        res["over_hello_kib"] = {"idle_VmRSS": res["idle"]["VmRSS"] - b,
                                 "max_VmRSS_during_turns": res["during_turns"]["max_VmRSS"] - b,
                                 "VmHWM": res["soak_final"]["VmHWM"] - baseline["VmHWM"]}
        bs = baseline["smaps"]
        res["over_hello_kib"]["guest_idle"] = res["idle"]["smaps"]["rest"] - bs["rest"]
        res["over_hello_kib"]["guest_after_turns"] = (res["soak_final"]["smaps"]["rest"] -
                                                      bs["rest"])
        res["over_hello_kib"]["jit_after_turns"] = (res["soak_final"]["smaps"]["jit"] -
                                                    bs["jit"])
        res["over_hello_kib"]["qemu_heap_after_turns"] = (
            res["soak_final"]["smaps"]["qemu_heap"] - bs["qemu_heap"])
    res["how"] = (
        f"VmRSS/VmHWM of the gateway process from /proc/PID/status: {idle_s} s idle after "
        f"MCP tools were listed; then {soak} sequential turns (POST /v1/chat/completions in "
        "one session `user: soak` so the history grows and is compressed; every "
        f"{TG_EVERY}th a Telegram message to the fake Bot API instead; a {QUIET_S} s pause every "
        f"{QUIET_EVERY} turns), each turn one tool call "
        "(server-everything echo over stdio / memory read / time, in rotation) then a ~600 byte "
        "answer; sampled every 50 (100 in long soaks) turns; slope = least squares over the "
        f"samples after turn {min(turns, soak // 2)}")
    return res


def measure_media(binary, work, fake, tg, voice_bytes, photo_bytes):
    """Resident memory while a voice note is downloaded and transcribed and a photo goes to a
    vision model (issue 17: <= 12 MiB peak, back to idle after). VmRSS is sampled every 10 ms
    from /proc while each turn runs; VmHWM is read after each."""
    media = FakeOpenAIMedia(api_key=UPSTREAM_KEY).start()
    fake.reset()
    tg.reset()
    tg.add_chat(CHAT)
    fake.script_for("test/vision", *[text("noted")] * 4)
    home = os.path.join(work, "home")
    cfg = seed_config(home, free_port(), fake, tg, {})
    cfg["model_list"] += [
        {"model_name": "ears", "litellm_params": {
            "model": "openai/whisper-1", "api_base": media.url,
            "api_key": "os.environ/OPENROUTER_API_KEY"},
         "model_info": {"mode": "audio_transcription", "input_cost_per_second": 0.0001}},
        {"model_name": "vision", "litellm_params": {
            "model": "openrouter/test/vision", "api_base": fake.url,
            "api_key": "os.environ/OPENROUTER_API_KEY"},
         "model_info": {"supports_vision": True}}]
    cfg["model"] = "vision"
    cfg["auxiliary"]["transcription"] = "ears"
    cfg["telegram"]["max_image_bytes"] = photo_bytes + 1024
    del cfg["litellm_settings"]["fallbacks"]
    g = Gateway(binary, work, cfg).start()
    res = {"voice_bytes": voice_bytes, "photo_bytes": photo_bytes}
    try:
        g.ready(30)
        pid = g.proc.pid
        time.sleep(2)
        res["idle"] = proc_status(pid)

        def run(push, n_sent, key):
            peak = 0
            push()
            deadline = time.monotonic() + 120
            while len(tg.sent(CHAT)) < n_sent and time.monotonic() < deadline:
                peak = max(peak, proc_status(pid)["VmRSS"])
                time.sleep(0.01)
            st = proc_status(pid)
            time.sleep(1)
            res[key] = {"max_VmRSS_sampled": max(peak, st["VmRSS"]), "VmHWM": st["VmHWM"],
                        "VmRSS_1s_after": proc_status(pid)["VmRSS"],
                        "answered": len(tg.sent(CHAT)) >= n_sent}
        run(lambda: tg.push_voice(chat_id=CHAT, data=b"OggS" + os.urandom(voice_bytes - 4),
                                  duration=600), 2, "voice")
        run(lambda: tg.push_photo(chat_id=CHAT, data=[b"\xff\xd8" + os.urandom(4000),
                                                      b"\xff\xd8" + os.urandom(photo_bytes - 2)]),
            3, "photo")
    finally:
        g.stop()
        media.close()
    res["how"] = (f"static binary, seed config plus a whisper-1 group (fake) as "
                  f"auxiliary.transcription and a vision chat group as the model; a "
                  f"{voice_bytes:,} byte voice note (10 minutes of Opus at 32 kbit/s), then a "
                  f"{photo_bytes:,} byte photo; VmRSS sampled every 10 ms while each turn ran, "
                  f"VmHWM after it, VmRSS 1 s after")
    return res


def qemu_hello(cc, work, wrapper):
    src = os.path.join(work, "hello.c")
    exe = os.path.join(work, "hello-aarch64")
    with open(src, "w") as f:
        f.write('#include <stdio.h>\n#include <unistd.h>\n'
                'int main(void) { puts("hello"); fflush(stdout); pause(); return 0; }\n')
    subprocess.run([cc, "-static", "-Os", "-s", "-o", exe, src], check=True, timeout=120)
    p = subprocess.Popen([wrapper, exe], stdout=subprocess.PIPE)
    try:
        p.stdout.readline()
        time.sleep(1)
        s = proc_status(p.pid)
        s["smaps"] = qemu_smaps_kib(p.pid)
    finally:
        p.kill()
        p.wait()
    return s


def measure_day(binary, work, peers, k8s, n_chat, long_turns):
    fake = FakeOpenAI(api_key=UPSTREAM_KEY, prompt_cache=PROMPT_CACHE).start()
    tg = FakeTelegram(token=TG_TOKEN).start()
    tg.add_chat(CHAT)
    try:
        return _day(binary, work, fake, tg, peers, k8s, n_chat, long_turns)
    finally:
        tg.close()
        fake.close()


def _day(binary, work, fake, tg, peers, k8s, n_chat, long_turns):
    home = os.path.join(work, "home")
    now = datetime.datetime.now(datetime.timezone.utc)
    # Three briefings whose time fell within the last hour: missed while "down", so each runs
    # once at start (cron's misfire rule), like the seed's 7:00 briefing after a restart.
    cron = []
    for k, (name, prompt) in enumerate([
            ("morning-briefing", "Good morning. Summarise the cluster's health (nodes, failing "
                                 "pods, warning events) and anything that needs me today."),
            ("midday-check", "Midday check: anything failing in the cluster since the morning?"),
            ("evening-wrapup", "Evening wrap-up: what happened in the cluster today?")]):
        t = now - datetime.timedelta(minutes=50 - 10 * k)
        cron.append({"name": name, "schedule": f"{t.minute} {t.hour} * * *", "prompt": prompt,
                     "deliver": f"telegram:{CHAT}", "model": "cheap",
                     "misfire_grace_s": 7200})
    hooks = [{"name": "workout", "token": "os.environ/HOOK_TOKEN",
              "prompt": "A new workout was logged: {{payload}}. Congratulate briefly in your "
                        "own voice.", "deliver": f"telegram:{CHAT}",
              "idempotency_field": "id"}]
    mcp = {"kubernetes": {"url": f"http://127.0.0.1:{k8s.port}/mcp", "timeout": 60,
                          "tools": {"exclude": ["configuration_view"]}},
           "everything": {"command": NODE, "args": ["--require", LOOPBACK_JS,
                                                     peers["everything_js"], "stdio"]}}
    cfg = seed_config(home, free_port(), fake, tg, mcp, cron=cron, hooks=hooks)
    write_skills(home, real_skills())
    # A first start creates state.db; then the jobs are marked as last run yesterday.
    g = Gateway(binary, work, dict(cfg, cron=[])).start()
    g.ready()
    g.stop()
    db = sqlite3.connect(os.path.join(home, "state.db"))
    yesterday = int(time.time() * 1000) - 86400 * 1000
    for c in cron:
        db.execute("INSERT OR REPLACE INTO kv (key, value, updated_ms) VALUES (?, ?, ?)",
                   (f"cron.{c['name']}.last_run",
                    json.dumps({"time_ms": yesterday, "status": "ok", "cost_usd": 0}), yesterday))
    db.commit()
    db.close()

    # Briefings: look at the cluster (pods_list: the dummy cluster answers isError), then answer.
    brief = "Cluster: 3 nodes Ready, no failing pods, 2 warning events about image pulls. " * 3
    for _ in cron:
        fake.script_for(CHEAP_ID, tool_calls(("b1", "mcp_kubernetes_pods_list", "{}")),
                        text(brief))
    phases = {}
    g = Gateway(binary, work, cfg).start()
    try:
        g.ready()
        tg.wait_sent(CHAT, 3, timeout=120)
        phases["briefings"] = dict(fake.usage_totals)
        for k in range(6):
            fake.script_for(FREE_ID, text(f"Great session! {k + 1} workouts this week, "
                                          "volume up 8%. Keep it going."))
            g.hook("workout", {"id": f"w{k}", "exercise": "squat", "volume_kg": 4200 + k,
                               "reps": 40, "prs": k % 2, "xp_delta": 120})
        tg.wait_sent(CHAT, 9, timeout=120)
        phases["hooks"] = dict(fake.usage_totals)
        chat_tools = [("mcp_kubernetes_pods_list_in_namespace", '{"namespace": "ai"}'),
                      ("time", "{}"), ("memory", '{"action": "read", "target": "user"}'),
                      ("session_search", '{"query": "workout"}'),
                      ("mcp_everything_get-sum", '{"a": 2, "b": 3}')]
        # The day's chats are hours apart: a chat idle for session_idle_minutes (240) starts a
        # new session, which /new does here without the wait, every CONVERSATION turns.
        sent = 9
        for k in range(n_chat):
            if k and k % CONVERSATION == 0:
                tg.push_text("/new", chat_id=CHAT, user_id=CHAT)
                sent += 1
                tg.wait_sent(CHAT, sent, timeout=120)
            name, args = chat_tools[k % len(chat_tools)]
            fake.script_for(FREE_ID, tool_calls((f"c{k}", name.replace("-", "_"), args)),
                            text(ANSWER))
            tg.push_text(f"Question {k}: " + USER_TEXT, chat_id=CHAT, user_id=CHAT)
            sent += 1
            tg.wait_sent(CHAT, sent, timeout=120)
        phases["chat"] = dict(fake.usage_totals)
        # One long conversation (the API, one session) that passes the context budget.
        fake.script_for(CHEAP_ID, *[text("Summary so far: the user pasted long reports; "
                                          "each was acknowledged. " * 8)] * long_turns)
        for k in range(long_turns):
            fake.script_for(FREE_ID, text(ANSWER * 2))
            g.chat("long", f"Report part {k}: " + "Log line with details about the service. "
                   * 60)
        phases["long"] = dict(fake.usage_totals)
        tools_text = g.tools()
    finally:
        g.stop()
    db = sqlite3.connect(os.path.join(home, "state.db"))
    ledger = db.execute("SELECT model_group, count(*), sum(input_tokens), sum(output_tokens), "
                        "sum(cost_usd) FROM spend GROUP BY model_group").fetchall()
    db.close()
    totals = fake.usage_totals
    calls = sum(t["calls"] for t in totals.values())
    p_tok = sum(t["prompt_tokens"] for t in totals.values())
    c_tok = sum(t["completion_tokens"] for t in totals.values())
    per_phase, prev = {}, {}
    for name, snap in phases.items():
        per_phase[name] = {
            "calls": sum(t["calls"] for t in snap.values()) - sum(t["calls"] for t in
                                                                   prev.values()),
            "input_tokens": sum(t["prompt_tokens"] for t in snap.values()) -
            sum(t["prompt_tokens"] for t in prev.values())}
        prev = snap

    def priced(mid):
        i, o = PRICE[mid]
        return p_tok * i + c_tok * o

    seed_cost = sum(t["prompt_tokens"] * PRICE[m][0] + t["completion_tokens"] * PRICE[m][1]
                    for m, t in totals.items() if PRICE.get(m))
    reqs = fake.chat_requests
    max_prompt = max((r["body"] and len(r["raw"]) // 4) or 0 for r in reqs)
    prefix = prefix_figures(reqs)
    cached = {}
    for r in reqs:
        cached[r["model"]] = cached.get(r["model"], 0) + (r.get("cached_tokens") or 0)
    cache_cost = sum((t["prompt_tokens"] - cached.get(m, 0) * (1 - CACHE_READ_SHARE)) *
                     PRICE[m][0] + t["completion_tokens"] * PRICE[m][1]
                     for m, t in totals.items() if PRICE.get(m))

    def priced_cached(mid):
        i, o = PRICE[mid]
        return (p_tok - sum(cached.values()) * (1 - CACHE_READ_SHARE)) * i + c_tok * o

    hello = hello_tokens(binary, work, fake, tg)
    hello_full = hello_tokens(binary, work, fake, tg, peers=peers, k8s=k8s)
    return {
        "model_calls": calls, "input_tokens": p_tok, "output_tokens": c_tok,
        "input_tokens_per_call": p_tok / calls if calls else None,
        "max_input_tokens_per_call": max_prompt,
        "by_model": totals, "per_phase": per_phase,
        "compression_calls": per_phase["long"]["calls"] - long_turns,
        "ledger": [{"model_group": m, "calls": n, "input_tokens": i, "output_tokens": o,
                    "cost_usd": c} for m, n, i, o, c in ledger],
        "cost_usd_seed_config": seed_cost,
        "cost_usd_if_all_cheap": priced(CHEAP_ID),
        "cost_usd_if_all_strong": priced("deepseek/deepseek-chat-v3-0324"),
        "cached_input_tokens": sum(cached.values()),
        "cost_usd_seed_config_cached": cache_cost,
        "cost_usd_if_all_cheap_cached": priced_cached(CHEAP_ID),
        "cost_usd_if_all_strong_cached": priced_cached("deepseek/deepseek-chat-v3-0324"),
        "prefix": prefix, "session_prefix": session_prefix_figures(reqs),
        "agent_overrides": BENCH_AGENT,
        "tools_offered": tools_text.count('"name"'),
        "hello": hello, "hello_100_skills_2_mcp": hello_full,
        "seed_measured": {"calls_per_day": 200, "usd_per_day": 5.09,
                          "tokens_per_call": "30,000-40,000",
                          "source": "seed deployment's forensic audit (/work/shared/seeds)"},
        "how": ("one gateway, the seed config plus server-everything: 3 cron briefings (missed "
                "within the last hour, so they run at start; model cheap; each calls "
                "kubernetes pods_list, then answers), 6 workout hooks (POST /v1/hooks/workout), "
                f"{n_chat} Telegram turns each with one tool call (kubernetes, time, memory, "
                f"session_search, everything get-sum) in conversations of {CONVERSATION} (/new "
                "between them stands for the hours between a day's chats: a chat idle for "
                "session_idle_minutes, 240, starts a new session), one API conversation of "
                f"{long_turns} ~2.5 KB messages (the agent's context budget -> compression); tokens "
                "are the fake model's usage (request bytes / 4, answer bytes / 4; the gateway's "
                "spend ledger records the same tokens, its cost is $0 because the fake reports "
                "usage.cost = 0, which takes precedence over model_info), cost = those tokens "
                "at the seed's model_info prices per model (free tiers $0), and the same "
                "tokens priced as if every call went to cheap or strong; 'cached': the fake "
                "caches as OpenAI does (the longest prefix shared with one of the model's last "
                "64 requests, from 1,024 tokens, in steps of 128) and cached tokens cost "
                f"{CACHE_READ_SHARE:.0%} of the input price; 100 real-shaped skills in "
                "home/skills/<category>/"),
    }


def prefix_figures(reqs):
    """How much of each call a caching provider could read from its cache: the bytes shared
    from the start with the most similar of the model's last 64 requests (the fake's
    cache_prefix_bytes), over the call's bytes. A session's first call shares the tools and
    system prompt with the calls before it; the call after a compression shares less."""
    shares = [r["cache_prefix_bytes"] / len(r["raw"]) for r in reqs[1:]
              if r.get("raw") and "cache_prefix_bytes" in r]
    total = sum(len(r["raw"]) for r in reqs[1:] if r.get("raw"))
    shared = sum(r.get("cache_prefix_bytes", 0) for r in reqs[1:] if r.get("raw"))
    low = [round(x, 3) for x in shares if x < 0.8]
    return {"calls": len(shares), "calls_at_least_80pct": len(shares) - len(low),
            "calls_below_80pct": low,
            "share_of_all_input_bytes": shared / total if total else None,
            "min_share": min(shares) if shares else None,
            "how": "every call after the day's first: bytes shared from the start with the "
                   "most similar of the same model's last 64 request bodies / its bytes"}


def session_prefix_figures(reqs):
    """The issue's rule, per session: each call's bytes shared from the start with the
    previous call of its session, over its bytes. A call's session is its model and its first
    message after the system prompt (compression keeps that message); a session's first call
    has no previous call and a compression call is a request of its own (its first message is
    the middle it summarises), so neither is counted. The call after a compression cannot
    share more than the system prompt, the tools and the first message: the summary replaces
    what followed them in the previous call."""
    last, shares, after = {}, [], []
    for r in reqs:
        body, raw = r.get("body") or {}, r.get("raw")
        msgs = body.get("messages") or []
        if not raw or len(msgs) < 2:
            continue
        key = (r.get("model"), json.dumps(msgs[1], sort_keys=True))
        prev = last.get(key)
        last[key] = raw
        if prev is None:
            continue
        n = 0
        limit = min(len(prev), len(raw))
        while n < limit and prev[n] == raw[n]:
            n += 1
        share = n / len(raw)
        shares.append(share)
        if share < 0.8:
            summarised = any("[Summary of the earlier conversation]" in str(m.get("content"))
                             for m in msgs)
            after.append({"share": round(share, 3), "after_compression": summarised,
                          "messages": len(msgs), "bytes": len(raw),
                          "last_two_messages_bytes": {m.get("role"): len(json.dumps(m))
                                                      for m in msgs[-2:]}})
    return {"calls": len(shares), "calls_at_least_80pct": len(shares) - len(after),
            "below_80pct": after,
            "below_80pct_not_after_compression": sum(1 for a in after
                                                     if not a["after_compression"]),
            "min_share": min(shares) if shares else None,
            "how": "calls with an earlier call in their session (model + first message after "
                   "the system prompt): bytes shared from the start with that session's "
                   "previous request body / the call's bytes"}


def hello_tokens(binary, work, fake, tg, peers=None, k8s=None):
    """Input tokens of "hello" in a fresh session: the seed config (its default toolset), or
    with peers and k8s also 100 real-shaped skills and both MCP servers attached."""
    full = peers is not None
    home = os.path.join(work, "hello-full-home" if full else "hello-home")
    mcp = {}
    if full:
        mcp = {"kubernetes": {"url": f"http://127.0.0.1:{k8s.port}/mcp", "timeout": 60,
                              "tools": {"exclude": ["configuration_view"]}},
               "everything": {"command": NODE, "args": ["--require", LOOPBACK_JS,
                                                         peers["everything_js"], "stdio"]}}
        write_skills(home, real_skills())
    fake.reset()
    fake.script_for(FREE_ID, text("Hello! How can I help?"))
    g = Gateway(binary, work, seed_config(home, free_port(), fake, tg, mcp)).start()
    try:
        g.ready()
        if full:
            g.wait(lambda: "mcp_kubernetes_" in g.tools() and "mcp_everything_" in g.tools(),
                   60, "both MCP servers' tools listed")
        g.chat("hello", "hello")
    finally:
        g.stop()
    t = fake.usage_totals.get(FREE_ID, {})
    pi, po = t.get("prompt_tokens", 0), t.get("completion_tokens", 0)
    strong = PRICE["deepseek/deepseek-chat-v3-0324"]
    body = fake.chat_requests[-1]["body"]
    return {"input_tokens": pi, "output_tokens": po,
            "tools_tokens": len(json.dumps(body.get("tools", []), separators=(",", ":"))) // 4,
            "system_tokens": len(body["messages"][0]["content"]
                                 if isinstance(body["messages"][0]["content"], str)
                                 else json.dumps(body["messages"][0]["content"])) // 4,
            "cost_usd_at_cheap": pi * PRICE[CHEAP_ID][0] + po * PRICE[CHEAP_ID][1],
            "cost_usd_at_strong": pi * strong[0] + po * strong[1],
            "how": "POST /v1/chat/completions 'hello', seed config " +
                   ("with 100 real-shaped skills (home/skills/<category>/) and both MCP "
                    "servers (kubernetes-mcp-server over HTTP, server-everything over stdio), "
                    "once their tools are listed" if full else "without MCP servers") +
                   "; tokens = request bytes / 4"}


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib is not None else "-"


def table(r):
    rows = []
    s = r.get("size", {})
    if "aarch64_binary_bytes" in s:
        rows.append(("static aarch64 binary, stripped", f"{s['aarch64_binary_bytes'] / 2**20:.2f} MiB",
                     "<= 2 MiB"))
    if "image_tree_bytes" in s:
        rows.append(("FROM-scratch image tree", f"{s['image_tree_bytes'] / 2**20:.2f} MiB",
                     "<= 4 MiB"))
    st = r.get("startup")
    if st:
        for key, label in (("readyz_ms", "start-up: exec -> /readyz 200"),
                           ("mcp_tools_ms", "start-up: exec -> kubernetes MCP tools listed")):
            v = st[key]
            rows.append((label, f"{v['median']:.1f} ms ({v['min']:.1f}-{v['max']:.1f}, n={v['n']})",
                         "-"))
    m = r.get("memory")
    if m:
        rows.append((f"gateway idle {m['idle_s']} s: VmRSS / VmHWM",
                     f"{mib(m['idle']['VmRSS'])} / {mib(m['idle']['VmHWM'])}", "<= 4 MiB"))
        d = m["during_turns"]
        rows.append((f"first {m['turns']} turns: max VmRSS / VmHWM",
                     f"{mib(d['max_VmRSS'])} / {mib(d['VmHWM_after'])}", "<= 8 MiB"))
        sl = m["soak_slope_kib_per_1000"]
        rows.append((f"soak {m['soak_turns']} turns: RSS slope, final VmRSS / VmHWM",
                     f"{sl:+.1f} KiB/1000 turns, {mib(m['soak_final']['VmRSS'])} / "
                     f"{mib(m['soak_final']['VmHWM'])}" if sl is not None else "-", "~0"))
        rows.append(("turn rate (fake model, real MCP)", f"{m['turns_per_s']:.0f} turns/s", "-"))
    q = r.get("qemu_aarch64")
    if q and "over_hello_kib" in q:
        o = q["over_hello_kib"]
        rows.append(("aarch64 under qemu, over static hello: idle / max during turns / HWM",
                     f"{mib(o['idle_VmRSS'])} / {mib(o['max_VmRSS_during_turns'])} / "
                     f"{mib(o['VmHWM'])}", "<= 4 / 8 MiB"))
        rows.append(("  of which guest mappings (not JIT, not qemu heap): idle / after turns",
                     f"{mib(o['guest_idle'])} / {mib(o['guest_after_turns'])}",
                     "<= 4 / 8 MiB"))
        rows.append(("  of which qemu JIT code buffer / qemu heap, after turns",
                     f"{mib(o['jit_after_turns'])} / {mib(o['qemu_heap_after_turns'])}", "-"))
    md = r.get("media")
    if md:
        rows.append(("media idle VmRSS", mib(md["idle"]["VmRSS"]), "-"))
        for key, label in (("voice", "10-minute voice note"), ("photo", "1 MB photo")):
            x = md[key]
            rows.append((f"{label}: max VmRSS / VmHWM / 1 s after",
                         f"{mib(x['max_VmRSS_sampled'])} / {mib(x['VmHWM'])} / "
                         f"{mib(x['VmRSS_1s_after'])}", "<= 12 MiB, back to idle"))
    dy = r.get("day")
    if dy:
        rows.append(("day: model calls / input / output tokens",
                     f"{dy['model_calls']} / {dy['input_tokens']:,} / {dy['output_tokens']:,}",
                     "seed: ~200 calls, 30-40k tokens per call"))
        rows.append(("day: input tokens per call (mean / max)",
                     f"{dy['input_tokens_per_call']:,.0f} / {dy['max_input_tokens_per_call']:,}",
                     "<= 4,000 / <= 12,000"))
        p = dy["prefix"]
        rows.append(("day: calls with >= 80% cacheable prefix; share of all input",
                     f"{p['calls_at_least_80pct']} of {p['calls']}; "
                     f"{p['share_of_all_input_bytes']:.0%}", ">= 80% of each call"))
        sp = dy["session_prefix"]
        rows.append(("day: in-session calls with >= 80% a prefix of the previous call",
                     f"{sp['calls_at_least_80pct']} of {sp['calls']} (below: "
                     f"{len(sp['below_80pct']) - sp['below_80pct_not_after_compression']} "
                     "first calls after a compression, "
                     f"{sp['below_80pct_not_after_compression']} others)",
                     ">= 80% of each call"))
        rows.append(("day: cost seed config / all cheap / all strong",
                     f"${dy['cost_usd_seed_config']:.4f} / ${dy['cost_usd_if_all_cheap']:.4f} / "
                     f"${dy['cost_usd_if_all_strong']:.4f}", "seed: $5.09 at peak"))
        rows.append(("day: the same with cache pricing",
                     f"${dy['cost_usd_seed_config_cached']:.4f} / "
                     f"${dy['cost_usd_if_all_cheap_cached']:.4f} / "
                     f"${dy['cost_usd_if_all_strong_cached']:.4f}", "-"))
        for key, label in (("hello", '"hello"'),
                           ("hello_100_skills_2_mcp", '"hello", 100 skills, both MCP servers')):
            h = dy[key]
            rows.append((f"{label}: input tokens, cost at cheap / strong",
                         f"{h['input_tokens']} tokens, ${h['cost_usd_at_cheap']:.6f} / "
                         f"${h['cost_usd_at_strong']:.6f}", "<= 1,500 tokens"))
    w = max(len(a) for a, _, _ in rows) if rows else 10
    v = max(len(b) for _, b, _ in rows) if rows else 10
    lines = [f"{'measure':<{w}}  {'value':<{v}}  target", "-" * (w + v + 12)]
    lines += [f"{a:<{w}}  {b:<{v}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="hermetic gateway benchmark")
    ap.add_argument("--hermetic", required=True, help="static x86_64 binary")
    ap.add_argument("--aarch64", help="static aarch64 binary (size, qemu memory)")
    ap.add_argument("--aarch64-cc", help="aarch64 C compiler for the static hello baseline")
    ap.add_argument("--image-tree", help="scripts/image-rootfs.sh's tree")
    ap.add_argument("--peers", required=True, help="tests/peers/install.sh's directory")
    ap.add_argument("--quick", action="store_true", help="a short smoke run of the harness")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--only", choices=["size", "startup", "memory", "media", "day", "qemu"],
                    help="measure only this part")
    ap.add_argument("--command", default="make bench")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    a = ap.parse_args()

    q = a.quick
    runs, idle_s, turns, soak = (3, 5, 100, 300) if q else (20, 60, 1000, 10000)
    q_idle, q_turns = (5, 30) if q else (60, 1000)
    n_chat, long_turns = (5, 25) if q else (20, 40)
    peers = {"everything_js": os.path.join(a.peers, "node_modules", "@modelcontextprotocol",
                                           "server-everything", "dist", "index.js"),
             "k8s_bin": os.path.join(a.peers, "node_modules", "kubernetes-mcp-server-linux-amd64",
                                     "bin", "kubernetes-mcp-server-linux-amd64")}
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    started = datetime.datetime.now(datetime.timezone.utc)
    result = {"benchmark": "gateway", "revision": rev, "started": started.isoformat(),
              "command": a.command, "quick": q, "binary": os.path.relpath(a.hermetic, REPO),
              "machine": machine()}
    work = tempfile.mkdtemp(prefix="hermetic-bench-gw-")

    def want(part):
        return a.only in (None, part)

    fake = FakeOpenAI(api_key=UPSTREAM_KEY, cycle=True, keep_requests=20).start()
    tg = FakeTelegram(token=TG_TOKEN).start()
    tg.add_chat(CHAT)
    k8s = K8sMcp(peers["k8s_bin"], work)
    try:
        if want("size"):
            result["size"] = measure_size(a.aarch64, a.image_tree)
        if want("startup"):
            log(f"start-up: {runs} restarts")
            os.makedirs(os.path.join(work, "startup"))
            result["startup"] = measure_startup(a.hermetic, os.path.join(work, "startup"),
                                                fake, tg, k8s, runs)
        if want("memory"):
            log(f"memory: {idle_s} s idle, {soak} turns")
            os.makedirs(os.path.join(work, "memory"))
            result["memory"] = measure_memory(a.hermetic, os.path.join(work, "memory"), fake,
                                              tg, peers, idle_s, turns, soak)
        if want("media"):
            log("media: a 10-minute voice note and a 1 MB photo")
            os.makedirs(os.path.join(work, "media"))
            result["media"] = measure_media(a.hermetic, os.path.join(work, "media"), fake, tg,
                                            2_400_000, 1_000_000)
        if want("day"):
            log("day: briefings, hooks, chat, a long conversation")
            os.makedirs(os.path.join(work, "day"))
            result["day"] = measure_day(a.hermetic, os.path.join(work, "day"), peers, k8s,
                                        n_chat, long_turns)
        if not want("qemu"):
            pass
        elif (a.aarch64 and a.aarch64_cc and not a.no_qemu and
              shutil.which("qemu-aarch64-static")):
            log(f"qemu aarch64: {q_idle} s idle, {q_turns} turns")
            os.makedirs(os.path.join(work, "qemu"))
            wrapper = shutil.which("qemu-aarch64-static")
            base = qemu_hello(a.aarch64_cc, os.path.join(work, "qemu"), wrapper)
            result["qemu_aarch64"] = measure_memory(
                a.aarch64, os.path.join(work, "qemu"), fake, tg, peers, q_idle, q_turns,
                q_turns, wrapper=wrapper, baseline=base)
            result["qemu_aarch64"]["how"] += ("; process = qemu-aarch64-static running the "
                                              "binary, minus a static hello-world (pause()) "
                                              "under the same qemu")
        else:
            result["qemu_aarch64"] = {"skipped": "no aarch64 binary, compiler or qemu"}
    finally:
        k8s.stop()
        tg.close()
        fake.close()
    result["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    os.makedirs(a.out, exist_ok=True)
    name = (f"{started.strftime('%Y-%m-%dT%H%M%S')}-{rev}-gateway{'-quick' if q else ''}"
            f"{'-' + a.only if a.only else ''}.json")
    path = os.path.join(a.out, name)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    shutil.rmtree(work, ignore_errors=True)
    print(table(result))
    print(f"\nresults: {os.path.relpath(path, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
