"""Hooks on K3s (docs/deploy-k3s.md, "Hooks"): the workout sync CronJob of k8s/hooks/ calls the
hook `workout` end to end. Its own shell script, taken from the manifest, runs against a fake
workout app and a gateway configured with the docs' hook entry (and a fake model and Telegram):
a new workout reaches the model and the answer reaches Telegram; no new workout sends nothing.
The gateway's NetworkPolicy admits the CronJob's namespace and pods by the labels the docs name,
and the YAML the page shows is the repository's (`make validate` checks the manifests)."""
import http.server
import json
import subprocess
import threading
import time

import pytest
import yaml

from agent_harness import agent_config, fake  # noqa: F401
from conftest import ROOT, SLOW, Gateway, to_yaml
from fakes.fake_openai import text
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY
from test_k8s_validate import copy, modules, validate  # noqa: F401

DOC = (ROOT / "docs" / "deploy-k3s.md").read_text()
SECTION = DOC.split("## Hooks: a CronJob that calls the agent", 1)[1].split("\n## ", 1)[0]
CRONJOB = ROOT / "k8s" / "hooks" / "workout-sync.yaml"
HOOK_TOKEN = "hook-e2e-token-7f3a"
GLOS_TOKEN = "glos-e2e-token-19c2"
CHAT = 123456789


def doc_blocks(lang):
    blocks = SECTION.split(f"   ```{lang}\n")[1:]
    return ["\n".join(ln[3:] for ln in b.split("   ```\n", 1)[0].splitlines()) + "\n" for b in blocks]


def load_all(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_the_pages_yaml_is_the_repositorys():
    hook_entry, cronjob, rule = doc_blocks("yaml")
    assert cronjob in CRONJOB.read_text()
    assert rule in (ROOT / "k8s" / "networkpolicy.yaml").read_text()
    assert yaml.safe_load(hook_entry)["hooks"][0]["name"] == "workout"
    # the CronJob POSTs to that hook's route
    assert '"$HERMETIC_URL/v1/hooks/workout"' in cronjob


def test_the_gateway_policy_admits_the_cronjobs_namespace_and_pods():
    ns = load_all(ROOT / "k8s" / "hooks" / "namespace.yaml")[0]
    job = load_all(CRONJOB)[0]
    policy = load_all(ROOT / "k8s" / "networkpolicy.yaml")[0]
    pod_labels = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert job["metadata"]["namespace"] == ns["metadata"]["name"] == "ai-jobs"

    def admits(peer):
        want_ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
        want_pod = peer.get("podSelector", {}).get("matchLabels", {})
        ns_labels = {**ns["metadata"]["labels"], "kubernetes.io/metadata.name": "ai-jobs"}
        return ("namespaceSelector" in peer and want_ns.items() <= ns_labels.items()
                and want_pod.items() <= pod_labels.items())

    rules = [r for r in policy["spec"]["ingress"] if any(admits(p) for p in r["from"])]
    assert rules and {"protocol": "TCP", "port": 8642} in rules[0]["ports"], policy["spec"]["ingress"]
    # only labelled pods: the same namespace without the pod label is not admitted
    pod_labels.pop("hermetic.io/hook-caller")
    assert not any(admits(p) for r in policy["spec"]["ingress"] for p in r["from"])
    # and the URL the CronJob calls is the gateway's Service and port
    env = {e["name"]: e.get("value") for e in
           job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HERMETIC_URL"] == "http://hermetic.ai.svc.cluster.local:8642"
    assert "port: 8642" in (ROOT / "k8s" / "service.yaml").read_text()


def test_make_validate_checks_the_hook_manifests(modules, copy):  # noqa: F811
    """The validator of `make validate` reads k8s/hooks/: a CronJob without its job's ttl, or
    running as root, is refused, naming the CronJob."""
    assert validate(modules, *copy.paths).returncode == 0
    copy("k8s/hooks/workout-sync.yaml", "      ttlSecondsAfterFinished: 86400\n", "")
    copy("k8s/hooks/workout-sync.yaml", "            runAsNonRoot: true\n", "")
    r = validate(modules, *copy.paths)
    assert r.returncode == 1
    assert "CronJob ai-jobs/workout-sync: [policy] Job without ttlSecondsAfterFinished" in r.stdout
    assert "CronJob ai-jobs/workout-sync: [policy] container sync: runAsNonRoot is not true" in r.stdout


class WorkoutApp(http.server.ThreadingHTTPServer):
    """The workout app's sync endpoint: POST with the bearer token; answers self.answer."""

    def __init__(self):
        self.answer = {"new": False}
        self.calls = []
        app = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                app.calls.append(self.headers.get("Authorization"))
                if self.headers.get("Authorization") != f"Bearer {GLOS_TOKEN}":
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps(app.answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), H)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/api/workouts/sync"


@pytest.fixture
def app():
    a = WorkoutApp()
    yield a
    a.shutdown()
    a.server_close()


def run_cronjob(gateway_url, app_url):
    container = load_all(CRONJOB)[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "-c"]
    env = {"PATH": "/usr/bin:/bin", "HERMETIC_URL": gateway_url, "GLOS_SYNC_URL": app_url,
           "GLOS_TOKEN": GLOS_TOKEN, "HOOK_TOKEN": HOOK_TOKEN}
    return subprocess.run(["/bin/sh", "-c", container["args"][0]], env=env, capture_output=True,
                          text=True, timeout=120 * SLOW)


def test_the_cronjobs_script_sends_a_new_workout_through_the_docs_hook(tmp_path, fake, app):  # noqa: F811
    hook_entry = yaml.safe_load(doc_blocks("yaml")[0])
    with FakeTelegram(token="123456:HOOKS-e2e") as tg:
        tg.add_chat(CHAT)
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"},
                           telegram={"token": "123456:HOOKS-e2e", "api_base": tg.url,
                                     "allowed_users": [CHAT], "poll_timeout_s": 1},
                           **hook_entry)
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {"HOOK_TOKEN": HOOK_TOKEN, UPSTREAM_ENV: UPSTREAM_KEY}).start()
        try:
            # No new workout: the app is asked, hermetic is not.
            r = run_cronjob(g.url, app.url)
            assert r.returncode == 0 and "workout-sync: no new workout" in r.stdout, r.stdout + r.stderr
            assert app.calls == [f"Bearer {GLOS_TOKEN}"]
            assert fake.chat_requests == []

            fake.script_for("test/cheap", text("Nice: 3 PRs today."))
            app.answer = {"new": True, "workout_id": "w-42", "volume_kg": 5120, "reps": 86,
                          "prs": 3, "xp_delta": 40}
            r = run_cronjob(g.url, app.url)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "workout-sync: new workout sent to hermetic" in r.stdout
            assert json.loads(r.stdout.splitlines()[0])["status"] == "accepted", r.stdout
            assert tg.wait_sent(CHAT, 1, timeout=30 * SLOW) == ["Nice: 3 PRs today."]
            prompt = json.dumps(fake.chat_requests[0])
            assert "A new workout was logged" in prompt and "w-42" in prompt and "xp_delta" in prompt

            # The same workout again (the app re-flagged it): the idempotency key runs nothing.
            r = run_cronjob(g.url, app.url)
            assert r.returncode == 0, r.stdout + r.stderr
            time.sleep(1)
            assert len(fake.chat_requests) == 1
        finally:
            g.kill()
        assert "AddressSanitizer" not in g.stderr()
