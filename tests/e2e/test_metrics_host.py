"""/metrics checks the Host as the API does (issue 38, item 6): its series name spend, key
aliases and MCP servers, and a page that rebinds a name of its own to the server's address
must not read them. Taken: loopback names and addresses, the address literal the connection
came in on (Prometheus scrapes a pod by its IP, docs/deploy-k3s.md), and for the gateway the
names of api.allowed_hosts (the Service). Refused with 403: any other name or address. The
probes stay open to any Host (the kubelet; they reveal nothing)."""
import http.client
import re

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, to_yaml
from router_harness import (  # noqa: F401 (start_router is a fixture)
    UPSTREAM_ENV, UPSTREAM_KEY, router_config, start_router)

API_KEY = "sk-e2e-metrics-host-SECRET-77c1"


def local_ipv4():
    """A non-loopback IPv4 address of this machine (the pod's own address in the test), from
    the kernel's table of local addresses."""
    with open("/proc/net/fib_trie") as f:
        lines = f.read().splitlines()
    for prev, line in zip(lines, lines[1:]):
        m = re.search(r"\|-- (\d+\.\d+\.\d+\.\d+)$", prev)
        if m and "/32 host LOCAL" in line and not m.group(1).startswith("127."):
            return m.group(1)
    raise AssertionError("this machine has no non-loopback IPv4 address to dial")


def get(addr, port, path, host):
    c = http.client.HTTPConnection(addr, port, timeout=30 * SLOW)
    try:
        c.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            c.putheader("Host", host)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


@pytest.fixture
def pod_gateway(gateway, fake):
    """The gateway as the ConfigMap runs it: on every address, with a key and the Service's
    names in api.allowed_hosts."""
    cfg = agent_config(fake, "HOME", api={"listen": "0.0.0.0:PORT",
                                          "key": "os.environ/API_SERVER_KEY",
                                          "allowed_hosts": ["hermetic", "hermetic.ai.svc"]})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    return gateway(text_, env={UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})


def test_metrics_refuse_a_foreign_host_and_answer_the_documented_ones(pod_gateway):
    g, ip = pod_gateway, local_ipv4()
    # A rebinding page's name, or an address this connection did not come in on: 403, and
    # not one series in the answer.
    for host in ("attacker.example", f"attacker.example:{g.port}", f"10.42.0.17:{g.port}",
                 f"{ip}.attacker.example", ""):
        status, body = get("127.0.0.1", g.port, "/metrics", host)
        assert status == 403, (host, body)
        assert "hermetic_" not in body and "does not name this server" in body
    assert get("127.0.0.1", g.port, "/metrics", None)[0] == 403
    # The address dialled is only taken on a connection to it.
    assert get("127.0.0.1", g.port, "/metrics", f"{ip}:{g.port}")[0] == 403
    # Prometheus' scrape of the pod's IP (ServiceMonitor: Host <pod IP>:<port>), the
    # Service's names, and a port-forward.
    for addr, host in ((ip, f"{ip}:{g.port}"), (ip, ip), ("127.0.0.1", f"hermetic.ai.svc:{g.port}"),
                       ("127.0.0.1", "hermetic"), ("127.0.0.1", f"localhost:{g.port}"),
                       ("127.0.0.1", f"127.0.0.1:{g.port}")):
        status, body = get(addr, g.port, "/metrics", host)
        assert status == 200 and "hermetic_build_info" in body, (addr, host, body)
    # The kubelet's probes take any Host.
    assert get(ip, g.port, "/healthz", "attacker.example")[0] == 200
    assert get(ip, g.port, "/readyz", "attacker.example")[0] in (200, 503)


def test_the_routers_metrics_refuse_a_foreign_host(start_router, fake):
    r = start_router(router_config(fake))
    status, body = get("127.0.0.1", r.port, "/metrics", f"attacker.example:{r.port}")
    assert status == 403 and "litellm_" not in body, body
    status, body = get("127.0.0.1", r.port, "/metrics", f"127.0.0.1:{r.port}")
    assert status == 200 and "hermetic_build_info" in body
