"""Lanes (docs/security.md, "Lanes"): a call in a lane reaches only its lane's model groups.

One fake upstream per side: `pub` serves the public groups (free, cheap), `priv` the private
lane's group (strong-private). Every test asserts on what each fake received: a request of a
private call, its retries and its fallbacks never reach `pub`, and when no group of the lane
can answer the call fails with a clear message instead of going to a lower lane's model.
"""
import json

import pytest

from agent_harness import Agent, tool_results
from fakes.fake_openai import FakeOpenAI, openai_error, text, tool_calls
from router_harness import (  # noqa: F401 (start_router is a fixture)
    MASTER_ENV, MASTER_KEY, UPSTREAM_KEY, deployment, fake, router_config, start_router,
    upstream_models,
)

CLINIC_KEY = "sk-e2e-clinic-scripts-SECRET-2b7e"
ENV = {MASTER_ENV: MASTER_KEY, "E2E_CLINIC_KEY": CLINIC_KEY}
LANES = {
    "private": {"models": ["strong-private"], "skills": ["client-notes"],
                "mcp_servers": [], "keys": ["clinic-scripts"]},
    "deidentified": {"models": ["cheap"]},
}


@pytest.fixture
def priv():
    with FakeOpenAI(api_key=UPSTREAM_KEY) as f:
        yield f


def models(pub, priv):
    return [deployment("free", "test/free", pub), deployment("cheap", "test/cheap", pub),
            deployment("strong-private", "test/strong-private", priv)]


def lanes(keys=True, **over):
    """LANES with over merged in; without the pinned key (keys=False) for a config with no keys."""
    out = json.loads(json.dumps(LANES))
    for name, lane in over.items():
        out[name].update(lane)
    for lane in out.values():
        if not lane.get("mcp_servers"):
            lane.pop("mcp_servers", None)
        if not keys:
            lane.pop("keys", None)
    return out


def router_cfg(pub, priv, **sections):
    return router_config(
        pub, models(pub, priv),
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_CLINIC_KEY", "alias": "clinic-scripts"}],
        lanes=lanes(), **sections)


# ---- the router endpoint: a pinned key, metadata.lane ------------------------------------

def test_a_pinned_key_never_reaches_a_group_outside_its_lane(fake, priv, start_router):
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=CLINIC_KEY)
    assert reply.status == 403, reply.text
    msg = reply.error()["message"]
    assert "lane 'private' may not reach model group 'cheap'" in msg, msg
    assert "strong-private" in msg and "nothing was sent" in msg, msg
    assert upstream_models(fake) == [] and upstream_models(priv) == []


def test_a_pinned_key_falls_back_only_to_its_lane(fake, priv, start_router):
    priv.script_for("test/strong-private", text("from the private model"))
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("free", key=CLINIC_KEY, fallbacks=["cheap", "strong-private"])
    assert reply.status == 200, reply.text
    assert reply.content() == "from the private model"
    assert reply.headers.get("x-litellm-model-group") == "strong-private"
    assert upstream_models(fake) == []
    assert upstream_models(priv) == ["test/strong-private"]


def test_a_private_calls_retries_and_fallbacks_stay_in_the_lane(fake, priv, start_router):
    priv.script_for("test/strong-private", openai_error(500, "boom", "server_error"),
                    openai_error(500, "boom again", "server_error"))
    cfg = router_cfg(fake, priv, router_settings={"num_retries": 1},
                     litellm_settings={"fallbacks": [{"strong-private": ["cheap", "free"]}]})
    r = start_router(cfg, env=ENV)
    reply = r.chat("strong-private", key=CLINIC_KEY)
    assert reply.status >= 400, reply.text
    assert upstream_models(priv) == ["test/strong-private", "test/strong-private"]
    assert upstream_models(fake) == [], "a fallback of a private call reached a public group"


def test_metadata_lane_raises_a_call(fake, priv, start_router):
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=MASTER_KEY, metadata={"lane": "private"})
    assert reply.status == 403, reply.text
    assert upstream_models(fake) == []


def test_metadata_lane_never_lowers_a_pinned_key(fake, priv, start_router):
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=CLINIC_KEY, metadata={"lane": "deidentified"})
    assert reply.status == 403, reply.text
    assert "lane 'private'" in reply.error()["message"]
    assert upstream_models(fake) == []


def test_metadata_naming_no_lane_is_a_400(fake, priv, start_router):
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=MASTER_KEY, metadata={"lane": "nonesuch"})
    assert reply.status == 400, reply.text
    assert reply.error()["param"] == "metadata.lane"
    assert upstream_models(fake) == []


def test_calls_in_no_lane_behave_as_before(fake, priv, start_router):
    fake.script_for("test/cheap", text("public answer"), text("public again"))
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=MASTER_KEY)
    assert reply.status == 200 and reply.content() == "public answer", reply.text
    reply = r.chat("cheap", key=MASTER_KEY, metadata={"lane": "deidentified"})
    assert reply.status == 200, reply.text
    assert upstream_models(fake) == ["test/cheap", "test/cheap"]


# ---- the agent: a turn's lane from what it read -----------------------------------------

SKILL = "---\nname: {name}\ndescription: Notes about clients.\n---\n# Notes\nclient Ada: {secret}\n"


def private_agent(tmp_path, pub, priv, **sections):
    a = Agent(tmp_path, pub)
    a.configure(model_list=models(pub, priv), lanes=lanes(keys=False),
                litellm_settings={"fallbacks": [{"free": ["strong-private"]},
                                                {"cheap": ["strong-private"]}]},
                **sections)
    skill = a.home / "skills" / "client-notes"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(SKILL.format(name="client-notes", secret="diagnosis-X17"))
    return a


def test_a_skill_raises_the_turn_and_the_next_call_stays_in_the_lane(tmp_path, fake, priv):
    a = private_agent(tmp_path, fake, priv)
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "client-notes"}))),
                    text("a new session is public again"))
    priv.script_for("test/strong-private", text("private answer"), text("still private"))
    # Two turns of one session (the REPL continues it).
    r = a.run("chat", input="look up Ada\nand now?\n")
    assert r.returncode == 0, r.stderr
    assert "private answer" in r.stdout and "still private" in r.stdout, r.stdout
    # The public group got only the request made before the skill was read.
    assert len(fake.chat_requests) == 1
    assert "diagnosis-X17" not in fake.chat_requests[0]["raw"]
    # The private model got the skill's text (the turn's next call, its fallback) ...
    assert "diagnosis-X17" in tool_results(priv.chat_requests[0])[0]
    # ... and the session's next turn, which went straight to the lane's group.
    assert len(priv.chat_requests) == 2
    assert "diagnosis-X17" in priv.chat_requests[1]["raw"]
    # A new session starts in no lane again.
    r = a.chat("something else")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "a new session is public again"
    assert len(fake.chat_requests) == 2 and len(priv.chat_requests) == 2
    assert "diagnosis-X17" not in fake.chat_requests[1]["raw"]


def test_a_private_turn_with_no_group_of_its_lane_fails_clearly(tmp_path, fake, priv):
    a = private_agent(tmp_path, fake, priv)
    a.configure(model_list=models(fake, priv), lanes=lanes(keys=False))  # no fallbacks to the lane
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "client-notes"}))))
    r = a.chat("look up Ada")
    assert "lane 'private' may not reach model group 'free'" in r.stdout + r.stderr
    assert len(fake.chat_requests) == 1
    assert "diagnosis-X17" not in json.dumps(fake.chat_requests)


def test_an_unlisted_skill_leaves_the_turn_where_it_was(tmp_path, fake, priv):
    a = private_agent(tmp_path, fake, priv)
    other = a.home / "skills" / "recipes"
    other.mkdir(parents=True)
    (other / "SKILL.md").write_text(SKILL.format(name="recipes", secret="pancakes"))
    fake.script_for("test/free", tool_calls(("c1", "skill_view", json.dumps({"name": "recipes"}))),
                    text("public answer"))
    r = a.chat("recipes?")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "public answer"
    assert len(fake.chat_requests) == 2 and priv.chat_requests == []
