"""`make validate` as part of the e2e suite: the manifests in k8s/, k8s-overlays/, registry/ and kaniko/ pass
the offline validator (tests/k8s/validate.mjs), and the validator rejects what it must: bad copies
of the manifests are fed to it from a temporary directory.

The npm validators are installed once into ~/.cache/hermetic/k8s-validate (tests/k8s/install.sh),
and the strict JSON schemas are generated from those pinned packages (tests/k8s/gen-schemas.mjs):
nothing outside the repository is read. Every rejection test of a field runs with the strict
schemas and with --no-schemas, so each layer is shown to catch it on its own.
"""
import json
import os
import re
import shutil
import subprocess

from pathlib import Path

import pytest

from conftest import BIN, ROOT, WRAPPER

VALIDATE = ROOT / "tests" / "k8s" / "validate.mjs"
GEN_SCHEMAS = ROOT / "tests" / "k8s" / "gen-schemas.mjs"
TREES = ("k8s", "k8s-overlays", "registry", "kaniko")


@pytest.fixture(scope="module")
def modules():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed")
    r = subprocess.run([str(ROOT / "tests" / "k8s" / "install.sh")], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def validate(modules, *paths, schemas=True, hermetic=False, extra=()):
    args = ["node", str(VALIDATE), "--modules", modules, "--quiet", *extra]
    if not schemas:
        args.append("--no-schemas")
    if hermetic:
        args += ["--hermetic", BIN] + (["--wrapper", WRAPPER] if WRAPPER else [])
    r = subprocess.run(args + [str(p) for p in paths], capture_output=True, text=True, timeout=300)
    print(r.stdout[-4000:], r.stderr[-2000:])
    return r


@pytest.fixture
def copy(tmp_path):
    """A scratch copy of the three manifest trees; returns edit(path, old, new)."""
    for t in TREES:
        shutil.copytree(ROOT / t, tmp_path / t)

    def edit(rel, old, new, count=1):
        p = tmp_path / rel
        text = p.read_text()
        assert old in text, f"{old!r} not in {rel}"
        p.write_text(text.replace(old, new, count))
    edit.root = tmp_path
    edit.paths = [tmp_path / t for t in TREES]
    return edit


def schema_modes():
    return [True, False]


# ---- the repository's manifests pass ------------------------------------------------------------

def test_repository_manifests_pass_with_config_check(modules):
    r = validate(modules, *(ROOT / t for t in TREES), hermetic=True)
    assert r.returncode == 0
    m = re.search(r"validate: (\d+) objects in (\d+) files, (\d+) checks, 0 errors", r.stdout)
    assert m and int(m.group(1)) >= 25, r.stdout
    # the strict layer ran, with the schemas generated beside the pinned packages
    used = re.search(r"strict schemas: ([^;]+);", r.stdout.splitlines()[-1]).group(1)
    assert used == str(Path(modules).parent / Path(used).name) and Path(used).name.startswith("schemas-"), used


def test_npm_layer_alone_passes(modules):
    r = validate(modules, *(ROOT / t for t in TREES), schemas=False)
    assert r.returncode == 0
    assert "npm models only" in r.stdout


def manifest_kinds(modules):
    """(apiVersion, kind) of every object in the repository's manifests, as the validator reads them."""
    kinds = set()
    for tree in TREES:
        for f in sorted((ROOT / tree).rglob("*.yaml")):
            if f.name in ("kustomization.yaml", "registries.yaml"):
                continue
            out = subprocess.run(["node", str(VALIDATE), "--modules", modules, "--to-json", str(f)],
                                 capture_output=True, text=True, check=True).stdout
            kinds |= {(d["apiVersion"], d["kind"]) for d in json.loads(out) if "kind" in d}
    return kinds


def schema_file(api_version, kind):
    group, _, version = api_version.rpartition("/")
    return f"{kind.lower()}{'-' + group.split('.')[0] if group else ''}-{version}.json"


def strict_objects(node, where="#"):
    """Yield (where, additionalProperties) for every object schema that names its fields."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and node["properties"] and "type" in node:
            yield where, node.get("additionalProperties", True)
        for k, v in node.items():
            yield from strict_objects(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strict_objects(v, f"{where}/{i}")


def test_strict_schemas_are_generated_from_the_pinned_packages(modules, tmp_path):
    out = tmp_path / "schemas"
    r = subprocess.run(["node", str(GEN_SCHEMAS), "--modules", modules, "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lock = json.loads((ROOT / "tests" / "k8s" / "package-lock.json").read_text())["packages"]
    sources = (out / "SOURCES.md").read_text()
    for pkg in ("@kubernetes/client-node", "kubernetes-models", "@kubernetes-models/prometheus-operator"):
        assert f"{pkg} {lock['node_modules/' + pkg]['version']}" in sources
    kinds = manifest_kinds(modules)
    assert {("apps/v1", "Deployment"), ("monitoring.coreos.com/v1", "ServiceMonitor"),
            ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"), ("batch/v1", "Job")} <= kinds
    for api_version, kind in sorted(kinds):
        f = out / schema_file(api_version, kind)
        assert f.is_file(), f"no strict schema for {api_version} {kind}"
        schema = json.loads(f.read_text())
        objects = list(strict_objects(schema))
        assert objects and all(a is False for _, a in objects), \
            [w for w, a in objects if a is not False][:5]
    for kind in ("pod-v1.json", "poddisruptionbudget-policy-v1.json", "cronjob-batch-v1.json",
                 "statefulset-apps-v1.json", "lease-coordination-v1.json", "role-rbac-v1.json",
                 "rolebinding-rbac-v1.json", "prometheusrule-monitoring-v1.json"):
        assert (out / kind).is_file(), kind
    assert (out / "k3s-registries.schema.json").read_text() == \
        (ROOT / "tests" / "k8s" / "k3s-registries.schema.json").read_text()


def test_strict_schemas_are_the_kubernetes_version_the_manifests_target(modules, copy):
    # lifecycle.stopSignal arrived in Kubernetes v1.33: kubernetes-models 4.5.1 knows it, the
    # v1.32 cluster (and so the schemas, from client-node's v1.32.0 tables) does not
    copy("k8s/deployment.yaml", "          imagePullPolicy: IfNotPresent\n",
         "          imagePullPolicy: IfNotPresent\n          lifecycle:\n            stopSignal: SIGTERM\n")
    r = validate(modules, *copy.paths)
    assert r.returncode == 1
    assert "[strict] /spec/template/spec/containers/0/lifecycle: unknown field 'stopSignal'" in r.stdout


def test_nothing_beside_the_repository_is_read():
    folder = "k8s-" + "schemas"  # spelt apart so this test does not find itself
    hits = [f"{f.relative_to(ROOT)}" for d in ("tests", "docs", "scripts", "k8s", "Makefile", ".ci")
            for f in ([ROOT / d] if (ROOT / d).is_file() else (ROOT / d).rglob("*"))
            if f.is_file() and f.suffix not in (".o", ".a") and folder in f.read_text(errors="replace")]
    assert hits == []


# ---- the validator rejects what it must ---------------------------------------------------------

@pytest.mark.parametrize("strict", schema_modes(), ids=lambda s: "strict" if s else "npm-only")
def test_rejects_misspelled_field(modules, copy, strict):
    copy("k8s/deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true")
    copy("registry/service.yaml", "targetPort: http", "targtPort: http")
    r = validate(modules, *copy.paths, schemas=strict)
    assert r.returncode == 1
    assert "readOnlyRootFilesytem: unknown field (did you mean 'readOnlyRootFilesystem'?)" in r.stdout
    assert "targtPort: unknown field (did you mean 'targetPort'?)" in r.stdout
    if strict:
        assert "[strict] /spec/template/spec/containers/0/securityContext: unknown field 'readOnlyRootFilesytem'" in r.stdout


@pytest.mark.parametrize("strict", schema_modes(), ids=lambda s: "strict" if s else "npm-only")
def test_rejects_a_missing_limit(modules, copy, strict):
    copy("k8s/deployment.yaml", '            limits:\n              cpu: "1"\n              memory: 64Mi\n',
         '            limits:\n              cpu: "1"\n')
    copy("registry/gc-job.yaml", "            limits:\n              cpu: \"1\"\n              memory: 256Mi\n", "")
    r = validate(modules, *copy.paths, schemas=strict)
    assert r.returncode == 1
    assert "Deployment ai/hermetic: [policy] container hermetic: no resources.limits.memory" in r.stdout
    assert "Job registry/registry-gc: [policy] container gc: no resources.limits.memory" in r.stdout


def test_rejects_a_memory_limit_above_128mi(modules, copy):
    copy("k8s/deployment.yaml", "memory: 64Mi", "memory: 256Mi")
    r = validate(modules, *copy.paths)
    assert r.returncode == 1
    assert "container hermetic: memory limit 256Mi above 128Mi" in r.stdout


# ---- k8s/local-models: the one workload allowed more than 128Mi, and only it ---------------------

def test_local_model_servers_pass_within_their_own_ceiling(modules, copy):
    r = validate(modules, copy.root / "k8s" / "local-models")
    assert r.returncode == 0
    assert re.search(r"validate: 10 objects in \d+ files, \d+ checks, 0 errors", r.stdout), r.stdout
    # above 6Gi even a model server is refused
    copy("k8s/local-models/ollama.yaml", "memory: 4Gi", "memory: 7Gi")
    r = validate(modules, copy.root / "k8s" / "local-models")
    assert r.returncode == 1
    assert "Deployment ai-local/ollama: [policy] container ollama: memory limit 7Gi above 6Gi" in r.stdout


def test_local_model_exception_does_not_admit_other_workloads(modules, copy):
    """The 6Gi ceiling follows a Deployment's pod template label: the gateway labelled
    local-model on its metadata only keeps 128Mi, and so does a StatefulSet with the label."""
    copy("k8s/deployment.yaml", "memory: 64Mi", "memory: 1Gi")
    copy("k8s/deployment.yaml", "    app.kubernetes.io/component: gateway\n",
         "    app.kubernetes.io/component: local-model\n")  # metadata.labels only (4 spaces)
    r = validate(modules, *copy.paths)
    assert r.returncode == 1
    assert "Deployment ai/hermetic: [policy] container hermetic: memory limit 1Gi above 128Mi" in r.stdout
    # a Job is not long-running and a StatefulSet is not a Deployment: the label alone opens nothing
    copy("k8s/local-models/whisper.yaml", "kind: Deployment", "kind: StatefulSet")
    copy("k8s/local-models/whisper.yaml", "  strategy:\n    type: Recreate                   # the models volume is ReadWriteOnce\n",
         "  serviceName: whisper\n")
    r = validate(modules, copy.root / "k8s" / "local-models")
    assert r.returncode == 1
    assert "StatefulSet ai-local/whisper: [policy] container whisper: memory limit 1536Mi above 128Mi" in r.stdout


def test_local_models_reachable_only_from_the_gateway():
    """The servers admit only hermetic's gateway pods on their two ports, and the gateway gets a
    matching egress rule in namespace ai (its own policy allows DNS and 443 only)."""
    ns = (ROOT / "k8s" / "local-models" / "networkpolicy.yaml").read_text().split("\n---\n")[0]
    assert "kubernetes.io/metadata.name: ai\n" in ns
    assert "app.kubernetes.io/component: gateway" in ns
    assert re.findall(r"port: (\d+)", ns.split("egress:")[0]) == ["11434", "8000"]
    out = (ROOT / "k8s" / "local-models" / "egress-to-local-models.yaml").read_text()
    assert "namespace: ai\n" in out and "policyTypes: [Egress]" in out
    assert "kubernetes.io/metadata.name: ai-local" in out
    assert re.findall(r"port: (\d+)", out) == ["11434", "8000"]
    ports = {"ollama": "11434", "whisper": "8000"}
    svc = (ROOT / "k8s" / "local-models" / "service.yaml").read_text()
    for name, port in ports.items():
        assert f"name: {name}\n" in svc and f"port: {port}\n" in svc


@pytest.mark.parametrize("strict", schema_modes(), ids=lambda s: "strict" if s else "npm-only")
def test_rejects_latest_and_untagged_images(modules, copy, strict):
    copy("registry/deployment.yaml", "image: registry:2.8.3", "image: registry:latest")
    copy("kaniko/job-kubernetes-mcp-server.yaml", "image: ghcr.io/osscontainertools/kaniko:v1.28.5",
         "image: ghcr.io/osscontainertools/kaniko")
    copy("k8s/kustomization.yaml", "newTag: v0.0.67", "newTag: latest")
    r = validate(modules, *copy.paths, schemas=strict)
    assert r.returncode == 1
    assert "image registry:latest uses the moving tag :latest" in r.stdout
    assert "image ghcr.io/osscontainertools/kaniko has no tag" in r.stdout
    assert "kubernetes-mcp-server:latest uses the moving tag :latest" in r.stdout


def test_rejects_enum_and_type_errors(modules, copy):
    copy("k8s/deployment.yaml", "imagePullPolicy: IfNotPresent", "imagePullPolicy: Sometimes")
    copy("k8s/deployment.yaml", "  replicas: 1", "  replicas: one")
    r = validate(modules, *copy.paths, schemas=False)
    assert r.returncode == 1
    assert "imagePullPolicy: must be equal to one of the allowed values (Always, IfNotPresent, Never)" in r.stdout
    assert "/spec/replicas: must be integer" in r.stdout


POLICY_CASES = [
    ("k8s/deployment.yaml", "type: Recreate", "type: RollingUpdate",
     "mounts a PersistentVolumeClaim but strategy is not Recreate"),
    ("k8s/deployment.yaml", "            allowPrivilegeEscalation: false\n", "",
     "allowPrivilegeEscalation is not false"),
    ("k8s/deployment.yaml", "              drop: [ALL]", "              drop: [NET_RAW]",
     "capabilities.drop does not include ALL"),
    ("registry/deployment.yaml", "        runAsUser: 1000\n        runAsGroup: 1000\n        fsGroup: 1000\n        fsGroupChange",
     "        runAsUser: 0\n        runAsGroup: 1000\n        fsGroup: 1000\n        fsGroupChange", "container registry: runAsUser 0"),
    ("k8s/deployment.yaml", "          readinessProbe:\n            httpGet:\n              path: /readyz\n",
     "          startupProbe:\n            httpGet:\n              path: /readyz\n", "container hermetic: no readinessProbe"),
    ("registry/gc-job.yaml", "  activeDeadlineSeconds: 1800\n", "", "Job without activeDeadlineSeconds"),
    ("kaniko/job-hermetic.yaml", "  backoffLimit: 1 ", "  backoffLimit: 6 ", "backoffLimit 6 > 3"),
    ("kaniko/job-hermetic.yaml", "            allowPrivilegeEscalation: false\n", "",
     "Job kaniko/build-hermetic: [policy] container kaniko: allowPrivilegeEscalation is not false"),
    ("kaniko/job-kubernetes-mcp-server.yaml", "          type: RuntimeDefault\n", "          type: Unconfined\n",
     "container kaniko: seccompProfile is not RuntimeDefault or Localhost"),
    ("k8s/service.yaml", "targetPort: http", "targetPort: htp", "targetPort htp is not a container port"),
    ("k8s/monitoring/servicemonitor.yaml", "    - port: http", "    - port: metrics",
     "endpoint port 'metrics' is not a port name"),
    ("k8s/deployment.yaml", "claimName: hermetic-data", "claimName: hermetic-dat",
     "refers to PersistentVolumeClaim hermetic-dat, which is not defined here"),
    ("k8s/deployment.yaml", "name: hermetic-secrets", "name: hermetic-secret",
     "refers to Secret hermetic-secret, which is not defined here"),
    ("k8s/kustomization.yaml", "  - networkpolicy.yaml\n", "  - networkpolicy.yaml\n  - secret.example.yaml\n",
     "a Secret in a kustomization"),
    ("k8s/kustomization.yaml", "namespace: ai\n", "namespace: ai\ncommonLabels: {a: b}\n",
     "field 'commonLabels' is not supported here"),
    ("registry/registries.yaml", "http://127.0.0.1:30500", "http://127.0.0.1:30501",
     "no NodePort Service with nodePort 30501"),
    ("registry/registries.yaml", "insecure_skip_verify: true", "insecure_skip_verfy: true",
     "unknown field 'insecure_skip_verfy'"),
    ("registry/pvc.yaml", "  name: registry-data\n", "  name: registry-data\n  name: registry-data2\n",
     "Map keys must be unique"),
    ("k8s/namespace.yaml", "  name: ai\n", "  name: ai \n", "trailing whitespace"),
    ("k8s/monitoring/servicemonitor.yaml", "    release: kube-prometheus-stack\nspec:\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: hermetic\n",
     "spec:\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: hermetic\n", "no `release` label"),
]


@pytest.mark.parametrize("rel,old,new,message", POLICY_CASES,
                         ids=[re.sub(r"\W+", "-", c[3]).strip("-")[:48] for c in POLICY_CASES])
def test_rejects_policy_violations(modules, copy, rel, old, new, message):
    copy(rel, old, new)
    r = validate(modules, *copy.paths, schemas=False)
    assert r.returncode == 1
    assert message in r.stdout


def test_rejects_root(modules, copy):
    copy("registry/gc-job.yaml", "            runAsNonRoot: true\n", "")
    copy("registry/gc-job.yaml", "        runAsNonRoot: true\n", "        runAsNonRoot: false\n")
    r = validate(modules, *copy.paths, schemas=False)
    assert r.returncode == 1
    assert "Job registry/registry-gc: [policy] container gc: runAsNonRoot is not true" in r.stdout
    # kaniko's namespace is the one exception: it must run as root
    assert "build-hermetic" not in r.stdout


def test_rejects_a_config_hermetic_refuses(modules, copy):
    copy("k8s/configmap.yaml", "    budget:\n      daily_usd: 1.00", "    budget:\n      daly_usd: 1.00")
    copy("k8s/router/configmap.yaml", "timezone: Asia/Manila", "timezone: Asia/Manilla")
    r = validate(modules, *copy.paths, schemas=False, hermetic=True)
    assert r.returncode == 1
    assert "ConfigMap ai/hermetic-config: [config] hermetic config check:" in r.stdout
    assert "daly_usd" in r.stdout
    assert "ConfigMap ai/hermetic-router-config: [config]" in r.stdout
    assert "Asia/Manilla" in r.stdout


def test_a_single_file_can_be_validated(modules, copy):
    copy("registry/gc-job.yaml", "restartPolicy: Never", "restartPolicy: Always")
    r = validate(modules, copy.root / "registry" / "gc-job.yaml", schemas=False)
    assert r.returncode == 1
    assert "Job pods need restartPolicy Never or OnFailure" in r.stdout


# ---- the kustomize rendering is kubectl's ---------------------------------------------------------

@pytest.mark.parametrize("tree", ["k8s", "k8s/router", "k8s/monitoring", "k8s/ingress", "k8s/local-models", "k8s/hooks",
                                  "registry",
                                  "k8s-overlays/longhorn", "k8s-overlays/shadow"])
def test_rendering_matches_kubectl_kustomize(modules, tree):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not installed (the validator renders kustomizations itself)")
    mine = subprocess.run(["node", str(VALIDATE), "--modules", modules, "--render", str(ROOT / tree)],
                          capture_output=True, text=True, check=True).stdout
    theirs = subprocess.run([kubectl, "kustomize", str(ROOT / tree)], capture_output=True, text=True,
                            check=True).stdout
    theirs = subprocess.run(["node", str(VALIDATE), "--modules", modules, "--to-json", "-"], input=theirs,
                            capture_output=True, text=True, check=True).stdout
    key = lambda d: (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])  # noqa: E731
    a = {key(d): d for d in json.loads(mine)}
    b = {key(d): d for d in json.loads(theirs)}
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k] == b[k], k


def render(modules, tree):
    out = subprocess.run(["node", str(VALIDATE), "--modules", modules, "--render", str(ROOT / tree)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_the_traefik_ingress_is_optional_https_and_reaches_the_service(modules):
    assert not [d for d in render(modules, "k8s") if d["kind"] == "Ingress"]  # off by default
    docs = {d["kind"]: d for d in render(modules, "k8s/ingress")}
    assert set(docs) == {"Ingress", "NetworkPolicy"}
    ing = docs["Ingress"]
    assert ing["metadata"]["namespace"] == "ai" and ing["spec"]["ingressClassName"] == "traefik"
    notes = ing["metadata"]["annotations"]
    assert notes["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"
    assert notes["traefik.ingress.kubernetes.io/router.tls"] == "true"
    (tls,) = ing["spec"]["tls"]
    (rule,) = ing["spec"]["rules"]
    assert tls["hosts"] == [rule["host"]] and tls["secretName"] == "hermetic-tls"
    paths = {p["path"]: p["backend"]["service"] for p in rule["http"]["paths"]}
    assert sorted(paths) == ["/ui", "/v1"]  # not /metrics
    svc = next(d for d in render(modules, "k8s") if d["kind"] == "Service")
    assert all(b == {"name": svc["metadata"]["name"], "port": {"name": "http"}} for b in paths.values())
    assert [p["name"] for p in svc["spec"]["ports"]] == ["http"]
    pol = docs["NetworkPolicy"]["spec"]
    assert pol["ingress"][0]["ports"] == [{"protocol": "TCP", "port": svc["spec"]["ports"][0]["port"]}]
    assert pol["podSelector"] == svc["spec"]["selector"] or \
        pol["podSelector"]["matchLabels"] == svc["spec"]["selector"]
    # Through the Ingress the cockpit's cookie is __Host- and Secure, and logins are limited
    # per browser: the config trusts Traefik's pods (K3s's default pod network) as its proxy
    # and leaves ui.secure_cookie at auto (docs/cockpit.md, "Behind a proxy").
    cfg = configmap_config("k8s/configmap.yaml")
    ui = cfg.split("\nui:\n", 1)[1].split("\n\n", 1)[0]
    assert "  trusted_proxies: [10.42.0.0/16]" in ui.splitlines()
    assert "secure_cookie" not in cfg


@pytest.mark.parametrize("strict", schema_modes(), ids=lambda s: "strict" if s else "npm-only")
def test_rejects_a_broken_ingress(modules, copy, strict):
    copy("k8s/ingress/ingress.yaml", "pathType: Prefix", "pathType: Prefixed")
    copy("k8s/ingress/ingress.yaml", "secretName: hermetic-tls", "secretNme: hermetic-tls")
    r = validate(modules, *copy.paths, schemas=strict)
    assert r.returncode == 1
    assert "/spec/tls/0/secretNme: unknown field (did you mean 'secretName'?)" in r.stdout
    assert "/spec/rules/0/http/paths/0/pathType: must be equal to one of the allowed values" in r.stdout


# ---- the overlays: replicated storage, a second instance ---------------------------------------

def rendered(modules, tree, root=ROOT):
    r = subprocess.run(["node", str(VALIDATE), "--modules", modules, "--render", str(root / tree)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in json.loads(r.stdout)}


def test_longhorn_overlay_moves_the_pod_off_a_lost_node(modules):
    """The pod tolerates an unreachable or not-ready node for at most a minute (the default is
    300 s), its volume is a replicated Longhorn one, and nothing else differs from the base."""
    base = rendered(modules, "k8s")
    lh = rendered(modules, "k8s-overlays/longhorn")
    assert sorted(lh) == sorted(base)
    assert {k for k in lh if lh[k] != base[k]} == {("Deployment", "ai", "hermetic"),
                                                    ("PersistentVolumeClaim", "ai", "hermetic-data")}
    pvc = lh[("PersistentVolumeClaim", "ai", "hermetic-data")]
    assert pvc["spec"]["storageClassName"] == "longhorn"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    dep = lh[("Deployment", "ai", "hermetic")]
    assert dep["spec"]["strategy"]["type"] == "Recreate" and dep["spec"]["replicas"] == 1
    tol = {t["key"]: t for t in dep["spec"]["template"]["spec"]["tolerations"]}
    assert set(tol) == {"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"}
    for t in tol.values():
        assert t["operator"] == "Exists" and t["effect"] == "NoExecute"
        assert 0 < t["tolerationSeconds"] <= 60
    base_dep = base[("Deployment", "ai", "hermetic")]
    del dep["spec"]["template"]["spec"]["tolerations"]
    assert dep == base_dep


def test_shadow_overlay_shares_no_object_with_the_main_install(modules):
    """Applied beside the main install, the shadow creates or changes none of its objects: its own
    namespace, and its own names for the cluster-scoped RBAC, bound to its own ServiceAccount."""
    base = rendered(modules, "k8s")
    shadow = rendered(modules, "k8s-overlays/shadow")
    assert set(base) & set(shadow) == set()
    assert ("Namespace", "", "ai-shadow") in shadow
    assert {ns for _, ns, _ in shadow} == {"", "ai-shadow"}
    kinds = lambda objs: sorted(k for k, _, _ in objs)  # noqa: E731
    assert kinds(shadow) == kinds(base)  # everything the main install has, once
    for (kind, _, name), d in shadow.items():
        if kind == "ClusterRoleBinding":
            assert name.endswith("-ai-shadow") and d["roleRef"]["name"] == name
            assert ("ClusterRole", "", name) in shadow
            assert d["subjects"] == [{"kind": "ServiceAccount", "name": "hermetic", "namespace": "ai-shadow"}]
    dep = shadow[("Deployment", "ai-shadow", "hermetic")]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in dep["spec"]["template"]["spec"]["volumes"]
              if "persistentVolumeClaim" in v]
    assert claims == ["hermetic-data"] and ("PersistentVolumeClaim", "ai-shadow", "hermetic-data") in shadow
    secrets = [e["secretRef"]["name"] for c in dep["spec"]["template"]["spec"]["containers"] for e in c.get("envFrom", [])]
    assert secrets == ["hermetic-secrets"]  # the Secret of namespace ai-shadow: its own bot token
    example = (ROOT / "k8s-overlays" / "shadow" / "secret.example.yaml").read_text()
    assert "namespace: ai-shadow" in example and "TELEGRAM_BOT_TOKEN" in example


def test_rejects_an_overlay_patch_that_matches_nothing(modules, copy):
    """kustomize drops a patch whose target is gone without a word; the validator does not."""
    copy("k8s-overlays/longhorn/kustomization.yaml", "      kind: Deployment\n      name: hermetic\n",
         "      kind: Deployment\n      name: hermetic-gateway\n")
    r = validate(modules, *copy.paths, schemas=False)
    assert r.returncode == 1
    assert "patches[1]: target Deployment hermetic-gateway matches no object" in r.stdout


def test_rejects_a_second_instance_that_rebinds_the_main_rbac(modules, copy):
    """Without its own names the shadow's ClusterRoleBindings are the main install's, pointed at
    the shadow's ServiceAccount: applying it would take the main sidecar's permissions away."""
    k = copy.root / "k8s-overlays" / "shadow" / "kustomization.yaml"
    k.write_text(k.read_text().split("patches:\n")[0])
    r = validate(modules, *copy.paths, schemas=False)
    assert r.returncode == 1
    assert re.search(r"k8s-overlays/shadow: ClusterRoleBinding hermetic-kubernetes-mcp-read: \[kustomize\] "
                     r"rendered differently by \S*/k8s: applying one overwrites the other", r.stdout)


def test_rejects_an_overlay_inside_its_base(modules, copy):
    """kubectl kustomize refuses a base directory that contains the overlay (a cycle)."""
    shutil.copytree(copy.root / "k8s-overlays" / "longhorn", copy.root / "k8s" / "overlays-longhorn")
    copy("k8s/overlays-longhorn/kustomization.yaml", "  - ../../k8s\n", "  - ..\n")
    r = validate(modules, copy.root / "k8s", schemas=False)
    assert r.returncode == 1
    assert "resource .. contains this kustomization" in r.stdout


# ---- the Makefile's cluster targets, without a cluster -------------------------------------------

def test_kaniko_job_is_filled_in_completely():
    sha = "0123456789abcdef0123456789abcdef01234567"
    r = subprocess.run([str(ROOT / "kaniko" / "run-job.sh"), "--render", str(ROOT / "kaniko" / "job-hermetic.yaml"),
                        "GIT_URL=github.com/me/hermetic.git", "GIT_REF=refs/heads/main", f"GIT_SHA={sha}",
                        "TAG=0.1.0", "SHORT_SHA=0123456789ab", "REGISTRY=registry.registry:5000"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "__" not in out
    for arg in (f"--context=git://github.com/me/hermetic.git#refs/heads/main#{sha}",
                "--dockerfile=kaniko/Dockerfile",
                "--destination=registry.registry:5000/ai/hermes-agent:0.1.0",
                "--destination=registry.registry:5000/ai/hermes-agent:0123456789ab",
                "--insecure-registry=registry.registry:5000", "--snapshot-mode=redo",
                "--compressed-caching=false", "--cache=true",
                "--cache-repo=registry.registry:5000/ai/cache"):
        assert f"- {arg}" in out, arg
    assert "kubernetes.io/arch: arm64" in out
    missing = subprocess.run([str(ROOT / "kaniko" / "run-job.sh"), "--render",
                              str(ROOT / "kaniko" / "job-hermetic.yaml"), "TAG=1"], capture_output=True, text=True)
    assert missing.returncode == 1
    assert "no value for __GIT_REF__ __GIT_SHA__ __GIT_URL__ __REGISTRY__ __SHORT_SHA__" in missing.stderr


def test_kubernetes_mcp_server_job_builds_the_upstream_tag():
    r = subprocess.run([str(ROOT / "kaniko" / "run-job.sh"), "--render",
                        str(ROOT / "kaniko" / "job-kubernetes-mcp-server.yaml"), "REGISTRY=registry.registry:5000"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "--context=git://github.com/containers/kubernetes-mcp-server#refs/tags/v0.0.67" in r.stdout
    assert "--destination=registry.registry:5000/ai/kubernetes-mcp-server:v0.0.67" in r.stdout


def test_make_targets_and_help():
    r = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True)
    for t in ("ai", "ai-registry", "ai-hermes-build", "ai-kubernetes-mcp-build", "ai-hermes-deploy",
              "k8s-secret", "validate", "image-rootfs"):
        assert re.search(rf"^  {re.escape(t)} ", r.stdout, re.M), t
    r = subprocess.run(["make", "-n", "ai", "KUBECTL=kubectl-test", "GIT_URL=github.com/me/h.git",
                        "GIT_REF=refs/heads/main", "TAG=9.9.9"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for step in ("ai-registry", "ai-hermes-build", "ai-kubernetes-mcp-build", "ai-hermes-deploy"):
        assert step in r.stdout
    r = subprocess.run(["make", "-n", "ai-hermes-build", "GIT_URL=github.com/me/h.git", "GIT_REF=refs/heads/main",
                        "TAG=9.9.9", "REGISTRY=reg:5000"], cwd=ROOT, capture_output=True, text=True)
    assert "kaniko/run-job.sh kaniko/job-hermetic.yaml GIT_URL=github.com/me/h.git GIT_REF=refs/heads/main" in r.stdout
    assert "TAG=9.9.9" in r.stdout and "REGISTRY=reg:5000" in r.stdout
    r = subprocess.run(["make", "-n", "ai-hermes-deploy", "TAG=9.9.9"], cwd=ROOT, capture_output=True, text=True)
    assert 'TAG="9.9.9"' in r.stdout and "k8s/deploy.sh" in r.stdout


def test_deploy_sets_the_image_tag_and_the_release_label():
    if not shutil.which("kubectl"):
        pytest.skip("kubectl not installed")
    env = {**os.environ, "TAG": "1.2.3", "REGISTRY": "reg.example:5000", "PROM_RELEASE": "prom"}
    r = subprocess.run([str(ROOT / "k8s" / "deploy.sh"), "--render"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    images = re.findall(r"image: (\S+)", r.stdout)
    assert "reg.example:5000/ai/hermes-agent:1.2.3" in images
    assert "reg.example:5000/ai/kubernetes-mcp-server:v0.0.67" in images
    assert set(re.findall(r"release: (\S+)", r.stdout)) == {"prom"}


def test_secret_script_without_a_cluster(tmp_path):
    script = str(ROOT / "k8s" / "make-secret.sh")
    base = {"PATH": os.environ["PATH"], "SECRET_ENV": str(tmp_path / "none.env")}
    r = subprocess.run([script, "--print"], capture_output=True, text=True,
                       env={**base, "OPENROUTER_API_KEY": "sk-or-x", "TELEGRAM_BOT_TOKEN": "1:y"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["API_SERVER_KEY=<redacted>", "LITELLM_MASTER_KEY=<redacted>",
                                "OPENROUTER_API_KEY=<redacted>", "TELEGRAM_BOT_TOKEN=<redacted>"]
    assert "sk-or-x" not in r.stdout + r.stderr
    r = subprocess.run([script, "--print"], capture_output=True, text=True, env={**base, "OPENROUTER_API_KEY": "x"})
    assert r.returncode == 1 and "TELEGRAM_BOT_TOKEN is missing" in r.stderr
    env_file = tmp_path / "secret.env"
    env_file.write_text("# keys\nOPENROUTER_API_KEY=sk-or-file\nexport TELEGRAM_BOT_TOKEN=1:y\n")
    r = subprocess.run([script, "--print"], capture_output=True, text=True, env={**base, "SECRET_ENV": str(env_file)})
    assert r.returncode == 1 and "drop the 'export ' prefix" in r.stderr
    env_file.write_text("OPENROUTER_API_KEY=sk-or-file\nTELEGRAM_BOT_TOKEN=1:y\nAPI_SERVER_KEY=k\n")
    r = subprocess.run([script, "--print"], capture_output=True, text=True, env={**base, "SECRET_ENV": str(env_file)})
    assert r.returncode == 0 and "API_SERVER_KEY=<redacted>" in r.stdout


def test_secret_env_is_git_ignored():
    r = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "k8s/secret.env"])
    if r.returncode == 128:
        pytest.skip("not a git checkout")
    assert r.returncode == 0


# ---- the Grafana dashboard reads series the gateway exports -------------------------------------

PENDING_SERIES = {  # panels ready for series that land with the Telegram gateway
    "hermetic_telegram_last_poll_timestamp_seconds",
}


def dashboard_series():
    text = (ROOT / "k8s" / "monitoring" / "dashboard.yaml").read_text()
    body = text.split("  hermetic.json: |\n", 1)[1]
    dash = json.loads("\n".join(line[4:] for line in body.splitlines()))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    return {m for e in exprs for m in re.findall(r"\b([a-z_][a-z0-9_]*)\{", e)}


def configmap_config(rel):
    lines = (ROOT / rel).read_text().splitlines()
    start = lines.index("  config.yaml: |") + 1
    cfg = []
    for line in lines[start:]:
        if line.strip() and not line.startswith("    "):
            break
        cfg.append(line[4:])
    return "\n".join(cfg) + "\n"


def exported_series(url):
    from conftest import http_get
    status, _, body = http_get(url + "/metrics")
    assert status == 200
    names = set()
    for line in body.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return names


def test_dashboard_series_exist_in_the_exported_metrics(gateway, tmp_path):
    """The dashboard's series are what the gateway and `hermetic router` export (the service
    variable picks one; the LiteLLM series come from the router part)."""
    import time
    from conftest import argv, clean_env, free_port, http_get, SLOW
    text = configmap_config("k8s/configmap.yaml").replace("{", "{{").replace("}", "}}")
    text = text.replace("home: /opt/data", "home: {home}")
    text = text.replace('listen: "0.0.0.0:8642"', 'listen: "127.0.0.1:{port}"')
    text = text.replace("persona_file: /etc/hermetic/SOUL.md", "")
    text = text.replace('url: "http://127.0.0.1:8080/mcp"', 'url: "http://127.0.0.1:9/mcp"')
    g = gateway(text, env={"OPENROUTER_API_KEY": "x", "TELEGRAM_BOT_TOKEN": "1:x", "API_SERVER_KEY": "k"})
    exported = exported_series(g.url)

    port = free_port()
    cfg = tmp_path / "router.yaml"
    cfg.write_text(configmap_config("k8s/router/configmap.yaml")
                   .replace("home: /opt/data", f"home: {tmp_path / 'router-home'}")
                   .replace('listen: "0.0.0.0:4000"', f'listen: "127.0.0.1:{port}"'))
    log = open(tmp_path / "router.log", "w")
    proc = subprocess.Popen(argv("router", "--config", str(cfg)), stdout=subprocess.DEVNULL, stderr=log,
                            env=clean_env(OPENROUTER_API_KEY="x", LITELLM_MASTER_KEY="k"))
    try:
        deadline = time.monotonic() + 20 * SLOW
        while True:
            assert proc.poll() is None, (tmp_path / "router.log").read_text()
            try:
                if http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "router did not start"
            time.sleep(0.05)
        exported |= exported_series(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=20 * SLOW)
        log.close()

    wanted = dashboard_series()
    assert {"litellm_proxy_total_requests_metric_total", "litellm_spend_metric_total",
            "litellm_deployment_successful_fallbacks_total", "litellm_request_total_latency_metric_bucket",
            "litellm_deployment_state", "hermetic_spend_today_usd", "hermetic_mcp_server_up",
            "process_resident_memory_bytes"} <= wanted
    missing = wanted - exported - PENDING_SERIES
    assert missing == set(), f"dashboard series nothing exports: {sorted(missing)}"
    landed = PENDING_SERIES & exported
    if landed:
        print(f"now exported, update the dashboard notes: {sorted(landed)}")


# ---- run-job.sh against a fake kubectl: Complete, Failed, never finishing ------------------------

FAKE_KUBECTL = r"""#!/usr/bin/env bash
# records every call; answers like kubectl would for one kaniko Job
echo "$*" >> "$FAKE_STATE/calls"
args=" $* "
case "$args" in
  *" delete job "*) echo "job.batch \"build-hermetic\" deleted" ;;
  *" apply -f - "*) cat > "$FAKE_STATE/applied.yaml"; echo "job.batch/build-hermetic created" ;;
  *" logs -f job/"*) echo "INFO[0001] kaniko: building stage builder" ;;
  *" get pods "*"state.terminated.reason"*) echo "build-hermetic-x7k2q OOMKilled exit 137" ;;
  *" get pods "*) echo Running ;;
  *"@.type==\"Failed\""*) echo "BackoffLimitExceeded: Job has reached the specified backoff limit" ;;
  *" get job "*) printf '%s ' $FAKE_CONDITIONS ;;
  *) echo "fake kubectl: unexpected: $*" >&2; exit 2 ;;
esac
"""


def run_job(tmp_path, conditions, wait_s=None):
    fake = tmp_path / "kubectl"
    fake.write_text(FAKE_KUBECTL)
    fake.chmod(0o755)
    env = {**os.environ, "KUBECTL": str(fake), "FAKE_STATE": str(tmp_path), "FAKE_CONDITIONS": conditions,
           "POLL_S": "0.2"}
    if wait_s is not None:
        env["WAIT_S"] = str(wait_s)
    r = subprocess.run([str(ROOT / "kaniko" / "run-job.sh"), str(ROOT / "kaniko" / "job-kubernetes-mcp-server.yaml"),
                        "REGISTRY=registry.registry:5000"], capture_output=True, text=True, env=env, timeout=120)
    print(r.stdout, r.stderr)
    calls = (tmp_path / "calls").read_text().splitlines()
    return r, calls


def test_run_job_deletes_applies_follows_and_sees_complete(tmp_path):
    r, calls = run_job(tmp_path, "SuccessCriteriaMet Complete")
    assert r.returncode == 0
    assert "complete in" in r.stderr
    assert "kaniko: building stage builder" in r.stdout + r.stderr  # the log was followed
    assert calls[0].startswith("-n kaniko delete job build-kubernetes-mcp-server --ignore-not-found")
    assert calls[1] == "apply -f -"
    applied = (tmp_path / "applied.yaml").read_text()
    assert "--destination=registry.registry:5000/ai/kubernetes-mcp-server:v0.0.67" in applied
    assert "__" not in applied


def test_run_job_reports_a_failed_job_instead_of_hanging(tmp_path):
    r, _ = run_job(tmp_path, "FailureTarget Failed")
    assert r.returncode == 1
    assert "FAILED" in r.stderr and "BackoffLimitExceeded" in r.stderr
    assert "OOMKilled" in r.stderr and "ran out of memory" in r.stderr


def test_run_job_gives_up_after_wait_s(tmp_path):
    r, _ = run_job(tmp_path, "", wait_s=1)
    assert r.returncode == 1
    assert "neither Complete nor Failed after 1s" in r.stderr


# ---- deploy.sh against a fake kubectl (kustomize is the real one) -------------------------------

FAKE_DEPLOY_KUBECTL = r"""#!/usr/bin/env bash
echo "$*" >> "$FAKE_STATE/calls"
args=" $* "
count() { n=$(cat "$FAKE_STATE/$1" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_STATE/$1"; echo $((n + 1)); }
case "$args" in
  " kustomize "*) exec "$REAL_KUBECTL" "$@" ;;
  *" create secret generic "*) echo "apiVersion: v1"; echo "kind: Secret" ;;
  *" apply -f - "*) cat >> "$FAKE_STATE/applied.yaml"; echo "configured" ;;
  *" apply -f "*) echo "applied $3" ;;
  *" get configmap hermetic-config "*) count cm ;;
  *" get secret hermetic-secrets -o jsonpath={.metadata.resourceVersion} "*) echo 7 ;;
  *" get secret hermetic-secrets -o jsonpath={.data."*) printf '' ;;
  *" get secret hermetic-secrets "*) echo ok ;;
  *" get deployment hermetic -o jsonpath={.metadata.generation} "*) echo 3 ;;
  *" get deployment hermetic -o jsonpath={.spec."*) echo "reg/ai/hermes-agent:1.2.3" ;;
  *" rollout restart "*) echo "deployment.apps/hermetic restarted" ;;
  *" rollout status "*) [ "$FAKE_ROLLOUT" = ok ] ;;
  *" get pods "*"containerStatuses"*) echo "hermetic: ImagePullBackOff " ;;
  *" get pods "*) echo "hermetic-abc 0/2 ImagePullBackOff" ;;
  *" get crd servicemonitors.monitoring.coreos.com "*) [ "$FAKE_CRD" = yes ] ;;
  *" get namespace monitoring "*) true ;;
  *) echo "fake kubectl: unexpected: $*" >&2; exit 2 ;;
esac
"""


def run_deploy(tmp_path, rollout="ok", crd="yes"):
    real = shutil.which("kubectl")
    if not real:
        pytest.skip("kubectl not installed (deploy.sh renders with kubectl kustomize)")
    fake = tmp_path / "kubectl"
    fake.write_text(FAKE_DEPLOY_KUBECTL)
    fake.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "KUBECTL": str(fake), "REAL_KUBECTL": real, "FAKE_STATE": str(tmp_path),
           "FAKE_ROLLOUT": rollout, "FAKE_CRD": crd, "TAG": "1.2.3", "REGISTRY": "reg:5000",
           "PROM_RELEASE": "prom", "SECRET_ENV": str(tmp_path / "secret.env"),
           "OPENROUTER_API_KEY": "sk-or-test", "TELEGRAM_BOT_TOKEN": "1:test"}
    r = subprocess.run([str(ROOT / "k8s" / "deploy.sh")], capture_output=True, text=True, env=env, timeout=120)
    print(r.stdout, r.stderr)
    return r, (tmp_path / "calls").read_text(), (tmp_path / "applied.yaml").read_text()


def test_deploy_applies_restarts_on_config_change_and_adds_monitoring(tmp_path):
    r, calls, applied = run_deploy(tmp_path)
    assert r.returncode == 0
    assert "image: reg:5000/ai/hermes-agent:1.2.3" in applied
    assert "-n ai create secret generic hermetic-secrets --from-env-file=" in calls
    assert "rollout restart deployment/hermetic" in calls  # the ConfigMap changed, the Deployment did not
    assert "rollout status deployment/hermetic" in calls
    assert "kind: ServiceMonitor" in applied and "release: prom" in applied
    assert "sk-or-test" not in r.stdout + r.stderr + calls


def test_deploy_explains_an_image_pull_failure(tmp_path):
    r, calls, applied = run_deploy(tmp_path, rollout="fail", crd="no")
    assert r.returncode == 1
    assert "ImagePullBackOff" in r.stderr
    assert "registries.yaml" in r.stderr and "make ai-hermes-build TAG=1.2.3" in r.stderr
    assert "ServiceMonitor" not in applied


def test_deploy_skips_monitoring_without_the_crd(tmp_path):
    r, calls, applied = run_deploy(tmp_path, crd="no")
    assert r.returncode == 0
    assert "monitoring skipped" in r.stderr
    assert "kind: ServiceMonitor" not in applied


# ---- hermetic's own alerts and the Alertmanager example: the CRDs' strict schemas ---------------

@pytest.mark.parametrize("rel,old,new,message", [
    ("k8s/monitoring/prometheusrule.yaml", "          for: 10m\n", "          for: 10 minutes\n",
     "/spec/groups/0/rules/4/for: must match pattern"),
    ("k8s/monitoring/prometheusrule.yaml", "        - alert: HermeticMCPServerDown\n",
     "        - alertname: HermeticMCPServerDown\n", "unknown field 'alertname'"),
    ("k8s/monitoring/alertmanagerconfig.yaml", 'matchType: "=~"', 'matchType: "~"',
     "/spec/route/matchers/0/matchType: must be equal to one of the allowed values"),
    ("k8s/monitoring/alertmanagerconfig.yaml", "          sendResolved: true\n",
     "          send_resolved: true\n", "[strict] /spec/receivers/0/webhookConfigs/0: unknown field 'send_resolved'"),
    ("k8s/monitoring/servicemonitor.yaml", "    - port: http\n", "    - port: http\n      scrape_interval: 30s\n",
     "[strict] /spec/endpoints/0: unknown field 'scrape_interval'"),
    ("k8s/monitoring/servicemonitor.yaml", "    - port: http\n", "    - port: http\n      scheme: ftp\n",
     "[strict] /spec/endpoints/0/scheme: must be equal to one of the allowed values (http, https)"),
])
def test_monitoring_crds_are_checked_strictly(modules, copy, rel, old, new, message):
    copy(rel, old, new)
    r = validate(modules, copy.root / "k8s" / "monitoring")
    assert r.returncode == 1
    assert message in r.stdout


def test_hermetic_alerts_use_metrics_hermetic_serves():
    rules = (ROOT / "k8s" / "monitoring" / "prometheusrule.yaml").read_text()
    used = set(re.findall(r"\bhermetic_[a-z_]+", rules.split("spec:", 1)[1]))
    assert {"hermetic_telegram_last_poll_success_timestamp_seconds", "hermetic_breaker_open",
            "hermetic_spend_today_usd", "hermetic_mcp_server_up"} <= used
    src = "".join(p.read_text() for p in (ROOT / "src").rglob("*.c"))
    for name in used:
        assert f'"{name}"' in src, f"{name} is not a metric hermetic serves"
    # The webhook is the gateway's Service, port and route.
    am = (ROOT / "k8s" / "monitoring" / "alertmanagerconfig.yaml").read_text()
    assert "url: http://hermetic.ai.svc.cluster.local:8642/v1/alerts/alertmanager" in am
    assert "port: 8642" in (ROOT / "k8s" / "service.yaml").read_text()


def test_local_models_config_example_in_the_docs_loads(tmp_path):
    """The config in docs/deploy-k3s.md's "Local models" section passes `hermetic config check`:
    the ollama_chat group, the whisper transcription group and the lane that names them."""
    from conftest import argv, clean_env
    doc = (ROOT / "docs" / "deploy-k3s.md").read_text()
    section = doc.split("## Local models (a lane that stays in the house)", 1)[1].split("\n## ", 1)[0]
    block = section.split("   ```yaml\n", 1)[1].split("   ```\n", 1)[0]
    text = "\n".join(line[3:] for line in block.splitlines()) + "\n"
    assert "model: ollama_chat/qwen2.5:1.5b" in text and "api_base: http://ollama.ai-local.svc:11434" in text
    assert "transcription: whisper" in text and "mode: audio_transcription" in text
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"home: {tmp_path / 'home'}\n" + text)
    r = subprocess.run(argv("config", "check", "--config", str(cfg)), capture_output=True, text=True,
                       env=clean_env(OPENROUTER_API_KEY="x"), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "local      ollama_chat qwen2.5:1.5b" in r.stdout
    assert "whisper    openai Systran/faster-whisper-tiny" in r.stdout
    # the lane is read: a lane naming a group that does not exist is refused
    cfg.write_text(cfg.read_text().replace("models: [local, whisper]", "models: [local, whisperr]"))
    r = subprocess.run(argv("config", "check", "--config", str(cfg)), capture_output=True, text=True,
                       env=clean_env(OPENROUTER_API_KEY="x"), timeout=60)
    assert r.returncode != 0 and "whisperr" in r.stdout + r.stderr
