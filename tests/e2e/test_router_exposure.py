"""`hermetic router` is not an open spend faucet (issue 14, router half): on a non-loopback
address without general_settings.master_key (or keys) it refuses to start, and `config check`
says why and what to do; loopback without a key, or any address with a key, is fine."""
from conftest import SLOW, run, to_yaml
from fakes.fake_openai import text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    MASTER_ENV, MASTER_KEY, deep_merge, fake, router_config, start_router,
)

HINT = ("neither general_settings.master_key nor keys is set: anyone who can reach it could "
        "spend your budget; set general_settings.master_key (e.g. "
        "os.environ/LITELLM_MASTER_KEY) or listen on 127.0.0.1")


def open_config(fake, **sections):
    cfg = deep_merge(router_config(fake), {"home": "{home}",
                                           "router": {"listen": "0.0.0.0:{port}"}, **sections})
    return to_yaml(cfg)


def test_router_on_an_open_address_without_a_key_refuses_to_start(fake, start_router):
    r = start_router(open_config(fake), start=False)
    r.start(wait=False)
    rc = r.proc.wait(timeout=20 * SLOW)
    assert rc != 0
    err = r.stderr()
    assert f"router.listen: 0.0.0.0:{r.port} is not a loopback address" in err, err
    assert HINT in err, err
    check = run("config", "check", "--config", str(r.config_path), env=r.env)
    assert check.returncode != 0
    assert HINT in check.stdout + check.stderr


def test_router_on_an_open_address_with_a_master_key_starts_and_asks_for_it(fake, start_router):
    cfg = open_config(fake, general_settings={"master_key": f"os.environ/{MASTER_ENV}"})
    r = start_router(cfg, env={MASTER_ENV: MASTER_KEY})
    assert r.chat("free").status == 401
    check = run("config", "check", "--config", str(r.config_path), env=r.env)
    assert check.returncode == 0, check.stdout + check.stderr


def test_router_on_loopback_needs_no_key(fake, start_router):
    fake.script_for("test/free", text("ok"))
    r = start_router(router_config(fake))
    assert r.chat("free").status == 200
