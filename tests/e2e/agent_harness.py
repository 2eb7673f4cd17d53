"""Helpers for the agent end-to-end tests (tests/e2e/test_agent_*.py).

A test scripts the fake model (tests/fakes/fake_openai.py) with the answers the model would
give, runs the real binary (`hermetic chat -q ...`), and checks what the model was sent: the
tool results the agent produced are in the next request's messages.

    def test_x(fake, agent):
        fake.script_for("test/free", tool_calls(("c1", "time", "{}")), text("done"))
        r = agent.chat("what time is it?")
        assert r.returncode == 0 and r.stdout.strip() == "done"
        assert "UTC" in tool_results(fake.chat_requests[1])[0]

Import the fixtures into the test module: `from agent_harness import fake, agent`.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import SLOW, argv, clean_env, to_yaml
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, deep_merge, deployment, fake  # noqa: F401

SANITIZER_MARKERS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer")


def agent_config(fake, home, **sections):
    """Model `free` (test/free) for turns and `cheap` (test/cheap) for compression."""
    base = {
        "home": str(home),
        "timezone": "UTC",
        "model": "free",
        "auxiliary": {"compression": "cheap"},
        "model_list": [deployment("free", "test/free", fake),
                       deployment("cheap", "test/cheap", fake)],
        "router_settings": {"num_retries": 0, "allowed_fails": 100, "timeout": 20},
    }
    return deep_merge(base, sections)


def messages(req):
    return req["body"]["messages"]


def tool_results(req):
    """The contents of the tool messages of a recorded request, in order."""
    return [m["content"] for m in messages(req) if m["role"] == "tool"]


def est_tokens(req):
    """The issue's estimate: UTF-8 bytes of the request body / 4."""
    return len(req["raw"].encode()) // 4


class Agent:
    def __init__(self, tmp_path, fake):
        self.tmp = Path(tmp_path)
        self.home = self.tmp / "home"
        self.fake = fake
        self.config_path = self.tmp / "config.yaml"
        self.env = clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY})
        self.configure()

    def configure(self, **sections):
        self.config = agent_config(self.fake, self.home, **sections)
        self.config_path.write_text(to_yaml(self.config))
        return self

    def run(self, *args, input=None, timeout=60):
        r = subprocess.run(argv(*args, "--config", str(self.config_path)), env=self.env,
                           input=input, capture_output=True, text=True, timeout=timeout * SLOW)
        for marker in SANITIZER_MARKERS:
            assert marker not in r.stderr, r.stderr
        return r

    def chat(self, prompt, *extra, timeout=60):
        return self.run("chat", "-q", prompt, *extra, timeout=timeout)

    def popen_chat(self, *extra):
        return subprocess.Popen(argv("chat", *extra, "--config", str(self.config_path)),
                                env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


@pytest.fixture
def agent(tmp_path, fake):
    return Agent(tmp_path, fake)
