// Offline, strict validation of hermetic's Kubernetes manifests (make validate; tests/k8s/validate.sh).
//
//   node tests/k8s/validate.mjs --modules DIR/node_modules [options] [PATH ...]
//
// PATH: directories (default: k8s registry kaniko, relative to the repository) or single files.
// Every *.yaml below a PATH is checked once: through the kustomization that lists it (rendered
// here: namespace, resources, images, JSON 6902 patches; any other kustomization field is
// refused), or on its own. A cluster-scoped object that two kustomizations render differently
// is an error: applying one would overwrite the other's (e.g. a second instance's RBAC).
//
// Layers, each reported as FILE: KIND/NAME: message:
//   yaml      YAML 1.1 as Kubernetes reads it: parse errors, duplicate keys, tabs, trailing spaces,
//             CRLF, missing final newline
//   strict    JSON schemas with unknown fields rejected (Kubernetes v1.32, the monitoring.coreos.com
//             CRDs, K3s registries.yaml) from --schemas DIR; by default the ones tests/k8s/gen-schemas.mjs
//             generates from the pinned npm packages next to --modules (generated here if missing)
//   models    kubernetes-models validate() (types, enums, required fields, formats) and unknown
//             fields against @kubernetes/client-node's v1.32 model tables: works without --schemas
//   policy    non-root, read-only root filesystem, drop ALL, seccomp, no privilege escalation,
//             probes, requests and limits (memory <= 128Mi for long-running pods; <= 6Gi for a
//             Deployment labelled app.kubernetes.io/component: local-model), Recreate with a
//             PVC, Job deadline/backoff/ttl, pinned images (no :latest), no committed Secrets,
//             references (Service selectors and ports, ServiceMonitor ports, ConfigMaps, PVCs,
//             ServiceAccounts, Secrets), the registries.yaml mirror against the registry NodePort
//   config    `hermetic config check` on every hermetic config.yaml in a ConfigMap (--hermetic BIN)
//
// Options: --schemas DIR | --no-schemas, --hermetic BIN, --wrapper PROG (e.g. qemu-aarch64-static),
//          --render DIR (print the rendered kustomization as JSON and exit), --to-json FILE (print
//          the documents of a YAML file, - for stdin, as JSON read the way this script reads them),
//          --quiet
// Exit status: 0 = no errors, 1 = errors, 2 = usage.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL, fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { ensureSchemas } from "./gen-schemas.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");

// ---------------------------------------------------------------------------------------------
// arguments
const argv = process.argv.slice(2);
const opt = { modules: null, schemas: undefined, hermetic: null, wrapper: null, render: null, toJson: null,
  quiet: false, paths: [] };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  if (a === "--modules") opt.modules = val();
  else if (a === "--schemas") opt.schemas = val();
  else if (a === "--no-schemas") opt.schemas = null;
  else if (a === "--hermetic") opt.hermetic = val();
  else if (a === "--wrapper") opt.wrapper = val();
  else if (a === "--render") opt.render = val();
  else if (a === "--to-json") opt.toJson = val();
  else if (a === "--quiet") opt.quiet = true;
  else if (a.startsWith("--")) usage(`unknown option ${a}`);
  else opt.paths.push(a);
}
function usage(msg) {
  console.error(`validate.mjs: ${msg}\nusage: node validate.mjs --modules NODE_MODULES [--schemas DIR|--no-schemas] ` +
    `[--hermetic BIN] [--wrapper PROG] [--render DIR] [PATH ...]`);
  process.exit(2);
}
if (!opt.modules) usage("--modules is required (tests/k8s/install.sh prints the directory)");
if (opt.schemas === undefined) opt.schemas = await ensureSchemas(opt.modules);
if (opt.paths.length === 0) opt.paths = ["k8s", "k8s-overlays", "registry", "kaniko"].map((p) => path.join(ROOT, p));

const require = createRequire(path.join(path.resolve(opt.modules), "_"));
const YAML = require("yaml");
const AjvMod = require("ajv");
const Ajv = AjvMod.default || AjvMod;
const serializer = await import(pathToFileURL(path.join(path.resolve(opt.modules),
  "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js")).href);

// ---------------------------------------------------------------------------------------------
// reporting
const errors = [];
const notes = [];
let checks = 0;
const rel = (f) => path.relative(process.cwd(), f) || f;
function idOf(doc) {
  if (!doc || typeof doc !== "object") return "";
  const ns = doc.metadata?.namespace ? `${doc.metadata.namespace}/` : "";
  return doc.kind ? `${doc.kind} ${ns}${doc.metadata?.name ?? "?"}` : "";
}
function err(layer, file, doc, msg) {
  const id = idOf(doc);
  errors.push(`${rel(file)}: ${id ? id + ": " : ""}[${layer}] ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// YAML: read a file as Kubernetes does (YAML 1.1), with lint checks
const parsedFiles = new Map(); // abs path -> [{doc, index}]
function readYaml(file) {
  if (parsedFiles.has(file)) return parsedFiles.get(file);
  const text = fs.readFileSync(file, "utf8");
  checks++;
  if (text.includes("\r")) err("yaml", file, null, "CRLF line endings");
  if (text.length && !text.endsWith("\n")) err("yaml", file, null, "no newline at the end of the file");
  text.split("\n").forEach((line, i) => {
    if (/^[ \t]*\t/.test(line)) err("yaml", file, null, `line ${i + 1}: tab character in indentation`);
    if (/[ \t]+$/.test(line)) err("yaml", file, null, `line ${i + 1}: trailing whitespace`);
  });
  const out = [];
  const docs = YAML.parseAllDocuments(text, { version: "1.1", uniqueKeys: true, prettyErrors: true, strict: true });
  docs.forEach((d, index) => {
    for (const e of d.errors) err("yaml", file, null, e.message.split("\n")[0]);
    for (const w of d.warnings) err("yaml", file, null, `warning: ${w.message.split("\n")[0]}`);
    if (d.errors.length) return; // nothing more to say about a document that does not parse
    const v = d.toJS({ maxAliasCount: 100 });
    if (v !== null && v !== undefined) out.push({ doc: v, index, file });
  });
  parsedFiles.set(file, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// kustomize, the subset the repository uses: namespace, resources (files or directories with a
// kustomization), images (name + newTag/newName/digest), patches (JSON 6902 operations, inline,
// with a target by kind and name). Anything else is refused, so the rendering here and
// `kubectl kustomize` cannot drift apart silently (a test compares them). A patch whose target
// matches nothing is an error (kustomize says nothing): a renamed base object would otherwise
// drop an overlay's change without a word.
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
  "StorageClass", "CustomResourceDefinition", "PriorityClass", "Node"]);
const KUSTOMIZATION_KEYS = new Set(["apiVersion", "kind", "namespace", "resources", "images", "patches"]);
const PATCH_KEYS = new Set(["target", "patch"]);
const TARGET_KEYS = new Set(["kind", "name", "group", "version"]);
const IMAGE_KEYS = new Set(["name", "newName", "newTag", "digest"]);
const kustomized = new Set(); // files rendered through a kustomization

function kustomizationFile(dir) {
  for (const n of ["kustomization.yaml", "kustomization.yml", "Kustomization"]) {
    if (fs.existsSync(path.join(dir, n))) return path.join(dir, n);
  }
  return null;
}

function splitImage(ref) {
  // registry/name:tag@digest -> {name, tag, digest}; a ':' after the last '/' is the tag
  let digest = null, tag = null, name = ref;
  const at = name.indexOf("@");
  if (at >= 0) { digest = name.slice(at + 1); name = name.slice(0, at); }
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  if (colon > slash) { tag = name.slice(colon + 1); name = name.slice(0, colon); }
  return { name, tag, digest };
}

function podSpecOf(doc) {
  switch (doc?.kind) {
    case "Pod": return doc.spec;
    case "Deployment": case "StatefulSet": case "DaemonSet": case "ReplicaSet": case "Job":
      return doc.spec?.template?.spec;
    case "CronJob": return doc.spec?.jobTemplate?.spec?.template?.spec;
    default: return null;
  }
}
const containersOf = (spec) => [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];

// JSON 6902 (RFC 6902) operations on one object: add, replace, remove, test.
function pointer(p) {
  if (typeof p !== "string" || !p.startsWith("/")) throw new Error(`path ${JSON.stringify(p)} is not a JSON pointer`);
  return p.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}
function patchOp(doc, op) {
  const keys = pointer(op.path);
  const last = keys.pop();
  let parent = doc;
  for (const key of keys) {
    if (parent === null || typeof parent !== "object" || !(key in parent)) throw new Error(`${op.op} ${op.path}: ${key} does not exist`);
    parent = parent[key];
  }
  if (parent === null || typeof parent !== "object") throw new Error(`${op.op} ${op.path}: the parent is not an object or a list`);
  const isList = Array.isArray(parent);
  const index = isList ? (last === "-" ? parent.length : Number(last)) : null;
  if (isList && (!Number.isInteger(index) || index < 0 || index > parent.length)) throw new Error(`${op.op} ${op.path}: bad list index`);
  const has = isList ? index < parent.length : last in parent;
  switch (op.op) {
    case "add":
      if (isList) parent.splice(index, 0, structuredClone(op.value));
      else parent[last] = structuredClone(op.value);
      break;
    case "replace":
      if (!has) throw new Error(`replace ${op.path}: nothing to replace`);
      parent[isList ? index : last] = structuredClone(op.value);
      break;
    case "remove":
      if (!has) throw new Error(`remove ${op.path}: nothing to remove`);
      if (isList) parent.splice(index, 1); else delete parent[last];
      break;
    case "test":
      if (!has || JSON.stringify(parent[isList ? index : last]) !== JSON.stringify(op.value)) throw new Error(`test ${op.path} failed`);
      break;
    default:
      throw new Error(`operation ${JSON.stringify(op.op)} is not supported here (add, replace, remove, test)`);
  }
}
function applyPatch(kfile, n, pt, out) {
  const where = `patches[${n}]`;
  for (const key of Object.keys(pt ?? {})) {
    if (!PATCH_KEYS.has(key)) { err("kustomize", kfile, null, `${where}.${key} is not supported here (inline JSON 6902 patches with a target)`); return; }
  }
  const t = pt?.target ?? {};
  for (const key of Object.keys(t)) {
    if (!TARGET_KEYS.has(key)) { err("kustomize", kfile, null, `${where}.target.${key} is not supported here (kind, name, group, version)`); return; }
  }
  if (!t.kind || !t.name || typeof pt.patch !== "string") { err("kustomize", kfile, null, `${where}: needs target.kind, target.name and an inline patch`); return; }
  const ops = YAML.parse(pt.patch, { version: "1.1" });
  if (!Array.isArray(ops) || !ops.every((o) => o && typeof o === "object" && typeof o.op === "string")) {
    err("kustomize", kfile, null, `${where}: the patch is not a list of JSON 6902 operations`);
    return;
  }
  const hits = out.filter((i) => i.doc?.kind === t.kind && i.doc?.metadata?.name === t.name &&
    (!t.group || (i.doc.apiVersion ?? "").split("/")[0] === t.group) &&
    (!t.version || (i.doc.apiVersion ?? "").split("/").pop() === t.version));
  if (!hits.length) { err("kustomize", kfile, null, `${where}: target ${t.kind} ${t.name} matches no object`); return; }
  for (const item of hits) {
    try { for (const op of ops) patchOp(item.doc, op); } catch (e) { err("kustomize", kfile, item.doc, `${where}: ${e.message}`); }
  }
}

function render(dir, seen = new Set()) {
  const kfile = kustomizationFile(dir);
  if (!kfile) throw new Error(`${dir}: no kustomization.yaml`);
  if (seen.has(kfile)) throw new Error(`${kfile}: kustomization cycle`);
  seen.add(kfile);
  kustomized.add(kfile);
  const kdocs = readYaml(kfile);
  const k = kdocs[0]?.doc ?? {};
  checks++;
  if (kdocs.length !== 1) err("kustomize", kfile, null, "expected exactly one YAML document");
  if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization")
    err("kustomize", kfile, null, "apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization");
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_KEYS.has(key))
      err("kustomize", kfile, null, `field '${key}' is not supported here (allowed: ${[...KUSTOMIZATION_KEYS].join(", ")})`);
  }
  const out = [];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, r);
    if (!fs.existsSync(p)) { err("kustomize", kfile, null, `resource ${r} does not exist`); continue; }
    if (fs.statSync(p).isDirectory()) {
      if (!path.relative(p, dir).startsWith("..")) err("kustomize", kfile, null, `resource ${r} contains this kustomization (kustomize: cycle)`);
      else out.push(...render(p, new Set(seen)).map((i) => ({ ...i, base: true })));
    } else {
      if (path.relative(dir, p).startsWith("..")) err("kustomize", kfile, null, `resource ${r} is outside the kustomization's directory`);
      kustomized.add(p);
      for (const d of readYaml(p)) out.push({ ...d, doc: structuredClone(d.doc), via: kfile });
    }
  }
  (k.patches ?? []).forEach((pt, n) => applyPatch(kfile, n, pt, out));
  // ServiceAccount subjects of (Cluster)RoleBindings that name a ServiceAccount rendered here
  // follow it into the new namespace, as kustomize's name references do
  const accounts = new Set(out.filter((i) => i.doc.kind === "ServiceAccount")
    .map((i) => `${i.doc.metadata?.namespace ?? ""}/${i.doc.metadata?.name}`));
  for (const item of out) {
    const d = item.doc;
    if (k.namespace && d.kind === "Namespace") d.metadata = { ...(d.metadata ?? {}), name: k.namespace };
    if (k.namespace && (d.kind === "ClusterRoleBinding" || d.kind === "RoleBinding")) {
      for (const sub of d.subjects ?? []) {
        if (sub.kind === "ServiceAccount" && accounts.has(`${sub.namespace ?? ""}/${sub.name}`)) sub.namespace = k.namespace;
      }
    }
    if (k.namespace && d.kind && !CLUSTER_SCOPED.has(d.kind)) {
      // an object read from this kustomization's own files says the namespace it expects; a
      // base's objects move into the overlay's namespace
      if (!item.base && d.metadata?.namespace && d.metadata.namespace !== k.namespace)
        err("kustomize", item.file, d, `namespace ${d.metadata.namespace} differs from the kustomization's ${k.namespace}`);
      d.metadata = { ...(d.metadata ?? {}), namespace: k.namespace };
    }
    for (const im of k.images ?? []) {
      for (const key of Object.keys(im)) {
        if (!IMAGE_KEYS.has(key)) err("kustomize", kfile, null, `images[].${key} is not supported here`);
      }
      for (const c of containersOf(podSpecOf(d))) {
        if (typeof c.image !== "string") continue;
        const p = splitImage(c.image);
        if (p.name !== im.name) continue;
        const name = im.newName ?? p.name;
        if (im.digest) c.image = `${name}@${im.digest}`;
        else if (im.newTag !== undefined) c.image = `${name}:${im.newTag}`;
        else c.image = `${name}${p.tag ? ":" + p.tag : ""}${p.digest ? "@" + p.digest : ""}`;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// strict JSON schemas (gen-schemas.mjs, or --schemas DIR): kubeconform's <kind>-<group>-<version>.json
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
const intRange = (lo, hi) => ({ type: "number", validate: (n) => Number.isInteger(n) && n >= lo && n <= hi });
ajv.addFormat("int32", intRange(-(2 ** 31), 2 ** 31 - 1));
ajv.addFormat("int64", intRange(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
ajv.addFormat("double", { type: "number", validate: () => true });
ajv.addFormat("float", { type: "number", validate: () => true });
ajv.addFormat("byte", /^[A-Za-z0-9+/]*={0,2}$/);
ajv.addFormat("date-time", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i);
ajv.addFormat("int-or-string", true);
const compiled = new Map();
function schemaValidator(file) {
  if (!compiled.has(file)) {
    const s = JSON.parse(fs.readFileSync(file, "utf8"));
    delete s.$schema;
    delete s.$id;
    compiled.set(file, ajv.compile(s));
  }
  return compiled.get(file);
}
function schemaFileFor(doc) {
  const [g, v] = doc.apiVersion.includes("/") ? doc.apiVersion.split("/") : ["", doc.apiVersion];
  const group = g ? `-${g.split(".")[0]}` : "";
  return path.join(opt.schemas, `${doc.kind.toLowerCase()}${group}-${v}.json`);
}
function ajvErrors(v) {
  return (v.errors ?? []).map((e) => {
    const where = e.instancePath || "/";
    if (e.keyword === "additionalProperties") return `${where}: unknown field '${e.params.additionalProperty}'`;
    // the generated schemas accept null wherever the API server does (as unset): say what else
    if (e.keyword === "enum") return `${where}: ${e.message} (${(e.params.allowedValues ?? []).filter((x) => x !== null).join(", ")})`;
    if (e.keyword === "type") return `${where}: must be ${String(e.params.type).replace(/,null$/, "")}`;
    return `${where}: ${e.message}`;
  });
}
// A schema's verdicts on documents, remembered: ajv takes seconds to compile a Kubernetes
// schema, and the same documents are checked again and again (each test of
// tests/e2e/test_k8s_validate.py validates the repository's manifests with one change). The key
// is the digest of this script, the schema file's text and the document as JSON, so a change to
// any of them checks again. Kept under $HERMETIC_CACHE (~/.cache/hermetic)/k8s-validate/verdicts;
// HERMETIC_K8S_VERDICTS=0 turns it off.
const VERDICTS = process.env.HERMETIC_K8S_VERDICTS === "0" ? null
  : path.join(process.env.HERMETIC_CACHE || path.join(os.homedir(), ".cache", "hermetic"), "k8s-validate", "verdicts");
const sha256 = (data) => crypto.createHash("sha256").update(data).digest("hex");
const SELF = sha256(fs.readFileSync(fileURLToPath(import.meta.url)));
const schemaDigests = new Map();
function schemaErrors(file, doc) {
  if (!schemaDigests.has(file)) schemaDigests.set(file, sha256(fs.readFileSync(file)));
  const key = sha256(`${SELF}\n${schemaDigests.get(file)}\n${JSON.stringify(doc) ?? "undefined"}`);
  const kept = VERDICTS && path.join(VERDICTS, key.slice(0, 2), `${key}.json`);
  if (kept) {
    try { return JSON.parse(fs.readFileSync(kept, "utf8")); } catch { /* not yet: check */ }
  }
  const v = schemaValidator(file);
  const found = v(doc) ? [] : ajvErrors(v);
  if (kept) {
    try {
      fs.mkdirSync(path.dirname(kept), { recursive: true });
      fs.writeFileSync(`${kept}.${process.pid}`, JSON.stringify(found));
      fs.renameSync(`${kept}.${process.pid}`, kept);
    } catch { /* a cache that cannot be written only costs time */ }
  }
  return found;
}
function strictCheck(item) {
  const d = item.doc;
  if (!opt.schemas) return;
  const f = schemaFileFor(d);
  checks++;
  if (!fs.existsSync(f)) { err("strict", item.file, d, `no strict schema ${path.basename(f)} in ${opt.schemas}`); return; }
  for (const m of dedupe(schemaErrors(f, d))) err("strict", item.file, d, m);
}
const dedupe = (a) => [...new Set(a)];

// K3s /etc/rancher/k3s/registries.yaml: hermetic's own schema (k3s-registries.schema.json beside
// this script, copied into the generated directory), used even with --no-schemas
const REGISTRIES_SCHEMA = "k3s-registries.schema.json";

// ---------------------------------------------------------------------------------------------
// npm layer 1: kubernetes-models validate() (types, enums, required fields, formats)
function modelClass(doc) {
  const [g, v] = doc.apiVersion.includes("/") ? doc.apiVersion.split("/") : ["", doc.apiVersion];
  const tries = g === "monitoring.coreos.com"
    ? [`@kubernetes-models/prometheus-operator/${g}/${v}/${doc.kind}`]
    : [`kubernetes-models/${g ? g + "/" : ""}${v}/${doc.kind}`];
  for (const t of tries) {
    try {
      const m = require(t);
      return m[doc.kind] ?? m.default;
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return null;
}
function modelsCheck(item) {
  const d = item.doc;
  const C = modelClass(d);
  checks++;
  if (!C) { err("models", item.file, d, `kubernetes-models has no model for ${d.apiVersion} ${d.kind}`); return; }
  try {
    new C(d).validate();
  } catch (e) {
    const list = e.errors ?? e.details ?? null;
    const msgs = Array.isArray(list) && list.length
      ? list.map((x) => `${x.instancePath || x.dataPath || "/"}: ${x.message}` +
          (x.params?.allowedValues ? ` (${x.params.allowedValues.join(", ")})` : ""))
      : [String(e.message).split("\n")[0]];
    for (const m of dedupe(msgs)) err("models", item.file, d, m);
  }
}

// npm layer 2: unknown fields against @kubernetes/client-node's generated model tables (v1.32.0)
function levenshtein(a, b) {
  const m = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) m[0][j] = j;
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++)
    m[i][j] = Math.min(m[i - 1][j] + 1, m[i][j - 1] + 1, m[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return m[a.length][b.length];
}
function fieldsCheck(item) {
  const d = item.doc;
  const v = d.apiVersion.split("/").pop();
  const cls = `${v[0].toUpperCase()}${v.slice(1)}${d.kind}`;
  if (!serializer[cls]?.attributeTypeMap) return; // custom resources: strict layer only
  checks++;
  const found = [];
  walk(d, cls, "", found);
  for (const m of found) err("models", item.file, d, m);
}
function walk(value, type, where, found) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (!Array.isArray(value)) { found.push(`${where || "/"}: expected a list`); return; }
    value.forEach((x, i) => walk(x, m[1], `${where}/${i}`, found));
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof value !== "object" || Array.isArray(value)) { found.push(`${where || "/"}: expected a mapping`); return; }
    for (const [k, x] of Object.entries(value)) walk(x, m[1], `${where}/${k}`, found);
    return;
  }
  const C = serializer[type];
  if (!C?.attributeTypeMap) return; // primitives, IntOrString, any, dates: types are the other layers' job
  if (typeof value !== "object" || Array.isArray(value)) { found.push(`${where || "/"}: expected a mapping (${type})`); return; }
  const fields = new Map(C.attributeTypeMap.map((a) => [a.baseName, a.type]));
  for (const [k, x] of Object.entries(value)) {
    if (!fields.has(k)) {
      const best = [...fields.keys()].map((f) => [levenshtein(k.toLowerCase(), f.toLowerCase()), f]).sort((a, b) => a[0] - b[0])[0];
      found.push(`${where}/${k}: unknown field${best && best[0] <= 3 ? ` (did you mean '${best[1]}'?)` : ""}`);
    } else {
      walk(x, fields.get(k), `${where}/${k}`, found);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// policy
const MIB = 1024 * 1024;
const MAX_LONG_RUNNING_MEMORY = 128 * MIB;
// The one exception: a model server (k8s/local-models/) holds the model in memory, 1-5 GB on a
// Pi. Only a Deployment whose pod template says app.kubernetes.io/component: local-model may
// go up to 6Gi; every other long-running workload keeps the 128Mi ceiling.
const LOCAL_MODEL_COMPONENT = "local-model";
const MAX_LOCAL_MODEL_MEMORY = 6 * 1024 * MIB;
function memoryCeiling(doc) {
  const local = doc.kind === "Deployment" &&
    doc.spec?.template?.metadata?.labels?.["app.kubernetes.io/component"] === LOCAL_MODEL_COMPONENT;
  return local ? { bytes: MAX_LOCAL_MODEL_MEMORY, text: "6Gi (a local-model server)" } : { bytes: MAX_LONG_RUNNING_MEMORY, text: "128Mi" };
}
const ROOT_ALLOWED_NAMESPACES = new Set(["kaniko"]); // kaniko must run as root (its own namespace)
function quantityBytes(q) {
  if (typeof q === "number") return q;
  const m = /^([0-9.]+)([EPTGMK]i?|[mk])?$/.exec(String(q));
  if (!m) return NaN;
  const mult = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
    k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 }[m[2] ?? ""] ?? 1;
  return parseFloat(m[1]) * mult;
}
function pinned(image) {
  if (typeof image !== "string" || !image) return "no image";
  if (/__[A-Z_]+__/.test(image)) return null; // placeholders are filled by the Makefile
  const p = splitImage(image);
  if (p.digest) return /^sha256:[0-9a-f]{64}$/.test(p.digest) ? null : `bad digest in ${image}`;
  if (!p.tag) return `image ${image} has no tag (implicitly :latest): pin a version`;
  if (/^(latest|main|master|stable|edge|nightly)$/i.test(p.tag) || /-latest$/i.test(p.tag))
    return `image ${image} uses the moving tag :${p.tag}: pin a version`;
  return null;
}

function policyCheck(item, all) {
  const d = item.doc;
  const f = item.file;
  const meta = d.metadata ?? {};
  checks++;
  if (!meta.name) err("policy", f, d, "metadata.name missing");
  if (d.kind && !CLUSTER_SCOPED.has(d.kind) && !meta.namespace && d.kind !== "Kustomization")
    err("policy", f, d, "no namespace (set metadata.namespace or the kustomization's namespace)");

  if (d.kind === "Secret") {
    const vals = Object.values(d.stringData ?? {}).concat(Object.values(d.data ?? {}));
    if (item.via) err("policy", f, d, "a Secret in a kustomization: Secrets come from `make k8s-secret`, never from the repository");
    else if (!/\.example\.ya?ml$/.test(f) || !vals.every((x) => /REPLACE-ME/.test(String(x))))
      err("policy", f, d, "a committed Secret must be an *.example.yaml with REPLACE-ME placeholder values only");
  }

  const spec = podSpecOf(d);
  if (!spec) return;
  const ns = meta.namespace;
  const longRunning = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"].includes(d.kind);
  const batch = d.kind === "Job" || d.kind === "CronJob";
  const rootOk = batch && ROOT_ALLOWED_NAMESPACES.has(ns);
  const podSc = spec.securityContext ?? {};

  if (batch) {
    const js = d.kind === "Job" ? d.spec : d.spec?.jobTemplate?.spec;
    if (!(js?.activeDeadlineSeconds > 0)) err("policy", f, d, "Job without activeDeadlineSeconds (a stuck build would run forever)");
    if (js?.backoffLimit === undefined) err("policy", f, d, "Job without backoffLimit (the default 6 retries an OOM six times)");
    else if (js.backoffLimit > 3) err("policy", f, d, `backoffLimit ${js.backoffLimit} > 3`);
    if (js?.ttlSecondsAfterFinished === undefined) err("policy", f, d, "Job without ttlSecondsAfterFinished");
    if (!["Never", "OnFailure"].includes(spec.restartPolicy)) err("policy", f, d, "Job pods need restartPolicy Never or OnFailure");
  }
  if (d.kind === "Deployment") {
    const pvc = (spec.volumes ?? []).some((v) => v.persistentVolumeClaim);
    if (pvc && d.spec?.strategy?.type !== "Recreate")
      err("policy", f, d, "mounts a PersistentVolumeClaim but strategy is not Recreate (a ReadWriteOnce volume deadlocks a rolling update)");
    if (pvc && (d.spec?.replicas ?? 1) > 1) err("policy", f, d, "more than one replica sharing a ReadWriteOnce PersistentVolumeClaim");
  }
  if (spec.automountServiceAccountToken !== false)
    err("policy", f, d, "set automountServiceAccountToken: false (project a token into the one container that needs it)");
  for (const k of ["hostNetwork", "hostPID", "hostIPC"]) if (spec[k]) err("policy", f, d, `${k}: true`);
  for (const v of spec.volumes ?? []) if (v.hostPath) err("policy", f, d, `volume ${v.name}: hostPath`);

  for (const c of containersOf(spec)) {
    const at = `container ${c.name}`;
    const sc = c.securityContext ?? {};
    const bad = pinned(c.image);
    if (bad) err("policy", f, d, `${at}: ${bad}`);
    const lim = c.resources?.limits ?? {};
    const req = c.resources?.requests ?? {};
    if (lim.memory === undefined) err("policy", f, d, `${at}: no resources.limits.memory`);
    if (longRunning) {
      for (const [k, o] of [["limits.cpu", lim.cpu], ["requests.cpu", req.cpu], ["requests.memory", req.memory]])
        if (o === undefined) err("policy", f, d, `${at}: no resources.${k}`);
      const ceiling = memoryCeiling(d);
      if (lim.memory !== undefined && !(quantityBytes(lim.memory) <= ceiling.bytes))
        err("policy", f, d, `${at}: memory limit ${lim.memory} above ${ceiling.text}`);
      if (!c.livenessProbe) err("policy", f, d, `${at}: no livenessProbe`);
      if (!c.readinessProbe) err("policy", f, d, `${at}: no readinessProbe`);
    }
    if (sc.privileged) err("policy", f, d, `${at}: privileged`);
    // even kaniko (root, default capabilities) needs neither privilege escalation nor an
    // unconfined seccomp profile
    if (sc.allowPrivilegeEscalation !== false) err("policy", f, d, `${at}: allowPrivilegeEscalation is not false`);
    const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
    if (!["RuntimeDefault", "Localhost"].includes(seccomp)) err("policy", f, d, `${at}: seccompProfile is not RuntimeDefault or Localhost`);
    if (rootOk) continue;
    const nonRoot = sc.runAsNonRoot ?? podSc.runAsNonRoot;
    const uid = sc.runAsUser ?? podSc.runAsUser;
    if (nonRoot !== true) err("policy", f, d, `${at}: runAsNonRoot is not true`);
    if (uid === 0) err("policy", f, d, `${at}: runAsUser 0`);
    if (sc.readOnlyRootFilesystem !== true) err("policy", f, d, `${at}: readOnlyRootFilesystem is not true`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) err("policy", f, d, `${at}: capabilities.drop does not include ALL`);
    if ((sc.capabilities?.add ?? []).length) err("policy", f, d, `${at}: capabilities.add ${sc.capabilities.add.join(",")}`);
  }
  // kaniko destinations: pinned tags, the insecure registry is the one pushed to
  for (const c of containersOf(spec)) {
    for (const a of c.args ?? []) {
      const m = /^--destination=(.+)$/.exec(String(a));
      if (m) { const bad = pinned(m[1]); if (bad) err("policy", f, d, `container ${c.name}: --destination ${bad}`); }
    }
  }
}

// references between documents (over everything rendered and read)
function labelsMatch(selector, labels) {
  return selector && Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
// The same cluster-scoped object (kind and name) from two kustomizations, or a kustomization and
// a plain file, must be the same object: kubectl apply of one would overwrite the other's.
function clusterScopedConflicts(items) {
  const seen = new Map();
  for (const i of items) {
    if (!CLUSTER_SCOPED.has(i.doc.kind)) continue;
    checks++;
    const key = `${i.doc.kind}/${i.doc.metadata?.name}`;
    const from = i.root ?? i.file;
    const prev = seen.get(key);
    if (!prev) { seen.set(key, { from, json: JSON.stringify(i.doc) }); continue; }
    if (prev.from !== from && prev.json !== JSON.stringify(i.doc))
      err("kustomize", from, i.doc, `rendered differently by ${rel(prev.from)}: applying one overwrites the other (give it its own name)`);
  }
}

function referenceChecks(items) {
  const byKind = (k) => items.filter((i) => i.doc.kind === k);
  // a reference into a namespace none of whose objects were read (a partial run) is not checked
  const loadedNs = new Set(items.filter((i) => i.doc.kind !== "ServiceMonitor").map((i) => i.doc.metadata?.namespace));
  const workloads = items.filter((i) => podSpecOf(i.doc) && i.doc.kind !== "Job" && i.doc.kind !== "CronJob");
  const named = (kind, ns, name) => items.some((i) => i.doc.kind === kind && i.doc.metadata?.name === name &&
    (CLUSTER_SCOPED.has(kind) || i.doc.metadata?.namespace === ns));
  for (const s of byKind("Service")) {
    checks++;
    const d = s.doc, ns = d.metadata?.namespace;
    const pods = workloads.filter((w) => w.doc.metadata?.namespace === ns &&
      labelsMatch(d.spec?.selector, w.doc.spec?.template?.metadata?.labels));
    if (!pods.length) { err("policy", s.file, d, "selector matches no pod template in its namespace"); continue; }
    const portNames = new Set(pods.flatMap((w) => containersOf(podSpecOf(w.doc)).flatMap((c) => (c.ports ?? []).map((p) => p.name))));
    const portNums = new Set(pods.flatMap((w) => containersOf(podSpecOf(w.doc)).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort))));
    for (const p of d.spec?.ports ?? []) {
      const t = p.targetPort ?? p.port;
      if (typeof t === "string" ? !portNames.has(t) : !portNums.has(t))
        err("policy", s.file, d, `port ${p.name ?? p.port}: targetPort ${t} is not a container port of the selected pods`);
    }
  }
  for (const m of byKind("ServiceMonitor")) {
    checks++;
    const d = m.doc;
    const nss = d.spec?.namespaceSelector?.matchNames ?? [d.metadata?.namespace];
    if (!nss.some((n) => loadedNs.has(n))) { notes.push(`${rel(m.file)}: ${idOf(d)}: namespace ${nss.join(",")} not read; selector not checked`); continue; }
    const svcs = byKind("Service").filter((s) => nss.includes(s.doc.metadata?.namespace) &&
      labelsMatch(d.spec?.selector?.matchLabels, s.doc.metadata?.labels));
    if (!svcs.length) { err("policy", m.file, d, "selector matches no Service"); continue; }
    for (const e of d.spec?.endpoints ?? []) {
      if (e.port && !svcs.some((s) => (s.doc.spec?.ports ?? []).some((p) => p.name === e.port)))
        err("policy", m.file, d, `endpoint port '${e.port}' is not a port name of the selected Services`);
    }
    if (!d.metadata?.labels?.release)
      err("policy", m.file, d, "no `release` label: kube-prometheus-stack ignores ServiceMonitors without it");
  }
  for (const w of items.filter((i) => podSpecOf(i.doc))) {
    checks++;
    const d = w.doc, ns = d.metadata?.namespace, spec = podSpecOf(d);
    const need = (kind, name, what) => {
      if (name && !named(kind, ns, name)) err("policy", w.file, d, `${what} refers to ${kind} ${name}, which is not defined here`);
    };
    if (spec.serviceAccountName) need("ServiceAccount", spec.serviceAccountName, "serviceAccountName");
    for (const v of spec.volumes ?? []) {
      if (v.configMap && v.configMap.name !== "kube-root-ca.crt") need("ConfigMap", v.configMap.name, `volume ${v.name}`);
      if (v.persistentVolumeClaim) need("PersistentVolumeClaim", v.persistentVolumeClaim.claimName, `volume ${v.name}`);
      if (v.secret) need("Secret", v.secret.secretName, `volume ${v.name}`);
      for (const src of v.projected?.sources ?? []) {
        if (src.configMap && src.configMap.name !== "kube-root-ca.crt") need("ConfigMap", src.configMap.name, `volume ${v.name}`);
      }
    }
    for (const c of containersOf(spec)) {
      const mounts = new Set((c.volumeMounts ?? []).map((m) => m.name));
      for (const m of mounts) if (!(spec.volumes ?? []).some((v) => v.name === m))
        err("policy", w.file, d, `container ${c.name}: volumeMount ${m} has no volume`);
      for (const e of c.envFrom ?? []) if (e.secretRef) need("Secret", e.secretRef.name, `container ${c.name} envFrom`);
      for (const e of c.env ?? []) {
        const r = e.valueFrom?.secretKeyRef;
        if (!r) continue;
        need("Secret", r.name, `container ${c.name} env ${e.name}`);
        const sec = items.find((i) => i.doc.kind === "Secret" && i.doc.metadata?.name === r.name && i.doc.metadata?.namespace === ns);
        if (sec && !(r.key in (sec.doc.stringData ?? {})) && !(r.key in (sec.doc.data ?? {})))
          err("policy", w.file, d, `container ${c.name} env ${e.name}: key ${r.key} is not in Secret ${r.name}`);
      }
      const portNames = new Set((c.ports ?? []).map((p) => p.name));
      for (const pr of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
        const p = pr?.httpGet?.port ?? pr?.tcpSocket?.port;
        if (typeof p === "string" && !portNames.has(p)) err("policy", w.file, d, `container ${c.name}: probe port ${p} is not a named port`);
      }
    }
  }
  for (const b of [...byKind("ClusterRoleBinding"), ...byKind("RoleBinding")]) {
    checks++;
    const d = b.doc;
    if (d.roleRef?.kind === "ClusterRole" && !named("ClusterRole", null, d.roleRef.name))
      err("policy", b.file, d, `roleRef ClusterRole ${d.roleRef.name} is not defined here`);
    for (const s of d.subjects ?? []) {
      if (s.kind === "ServiceAccount" && !named("ServiceAccount", s.namespace, s.name))
        err("policy", b.file, d, `subject ServiceAccount ${s.namespace}/${s.name} is not defined here`);
    }
  }
  for (const c of byKind("ConfigMap")) {
    if (c.doc.metadata?.labels?.grafana_dashboard === undefined) continue;
    checks++;
    const d = c.doc;
    if (d.metadata.labels.grafana_dashboard !== "1") err("policy", c.file, d, "label grafana_dashboard must be \"1\"");
    for (const [k, v] of Object.entries(d.data ?? {})) {
      let j;
      try { j = JSON.parse(v); } catch (e) { err("policy", c.file, d, `${k}: not JSON: ${e.message}`); continue; }
      const panels = (j.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== "row");
      if (!panels.length) err("policy", c.file, d, `${k}: no panels`);
      for (const p of panels) {
        if (!(p.targets ?? []).length || p.targets.some((t) => !t.expr)) err("policy", c.file, d, `${k}: panel '${p.title}' has a target without expr`);
      }
    }
  }
}

// registries.yaml: schema, and its mirror must point at the registry's NodePort
function registriesCheck(file, items) {
  const docs = readYaml(file);
  const doc = docs[0]?.doc;
  checks++;
  const given = opt.schemas && path.join(opt.schemas, REGISTRIES_SCHEMA);
  const schema = given && fs.existsSync(given) ? given : path.join(HERE, REGISTRIES_SCHEMA);
  for (const m of schemaErrors(schema, doc)) err("strict", file, null, `registries.yaml ${m}`);
  const nodePorts = items.filter((i) => i.doc.kind === "Service" && i.doc.spec?.type === "NodePort")
    .flatMap((i) => (i.doc.spec.ports ?? []).map((p) => p.nodePort));
  for (const [host, m] of Object.entries(doc?.mirrors ?? {})) {
    for (const e of m.endpoint ?? []) {
      const u = /^https?:\/\/(127\.0\.0\.1|localhost):(\d+)/.exec(e);
      if (u && !nodePorts.includes(Number(u[2])))
        err("policy", file, null, `mirror ${host} -> ${e}: no NodePort Service with nodePort ${u[2]}`);
    }
  }
}

// hermetic config check on every hermetic config.yaml in a ConfigMap
function configCheck(item) {
  const d = item.doc;
  const text = d.data?.["config.yaml"];
  if (typeof text !== "string" || d.metadata?.labels?.["app.kubernetes.io/part-of"] !== "hermetic") return;
  checks++;
  if (!opt.hermetic) { notes.push(`${rel(item.file)}: ${idOf(d)}: config check skipped (no --hermetic)`); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hermetic-validate-"));
  try {
    const cfg = path.join(dir, "config.yaml");
    fs.writeFileSync(cfg, text);
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LANG: "C.UTF-8" };
    if (process.env.TZDIR) env.TZDIR = process.env.TZDIR;
    for (const m of text.matchAll(/os\.environ\/([A-Za-z_][A-Za-z0-9_]*)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g))
      env[m[1] ?? m[2]] = `dummy-${(m[1] ?? m[2]).toLowerCase()}`;
    const cmd = opt.wrapper ? [opt.wrapper, opt.hermetic] : [opt.hermetic];
    const r = spawnSync(cmd[0], [...cmd.slice(1), "config", "check", "--config", cfg], { env, encoding: "utf8", timeout: 120000 });
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.replaceAll(cfg, "config.yaml");
    if (r.error) err("config", item.file, d, `cannot run ${opt.hermetic}: ${r.error.message}`);
    else if (r.status !== 0) for (const l of out.split("\n").filter((l) => /error/.test(l)).slice(0, 20))
      err("config", item.file, d, `hermetic config check: ${l}`);
    else for (const l of out.split("\n").filter((l) => /warning:/.test(l))) notes.push(`${rel(item.file)}: ${idOf(d)}: ${l}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
function yamlFilesUnder(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return [path.resolve(p)];
  const out = [];
  for (const e of fs.readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const q = path.join(p, e.name);
    if (e.isDirectory()) out.push(...yamlFilesUnder(q));
    else if (/\.ya?ml$/.test(e.name)) out.push(path.resolve(q));
  }
  return out;
}
function kustomizationDirs(p) {
  if (!fs.statSync(p).isDirectory()) return [];
  const out = kustomizationFile(p) ? [path.resolve(p)] : [];
  for (const e of fs.readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) out.push(...kustomizationDirs(path.join(p, e.name)));
  return out;
}

// Prints text whole, then exits: process.stdout.write to a pipe is asynchronous, and an exit
// right after it cuts the output at the pipe's 64 KiB.
function printAllAndExit(text) {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length;) {
    try {
      off += fs.writeSync(1, buf, off);
    } catch (e) {
      if (e.code !== "EAGAIN") throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // the reader is behind
    }
  }
  process.exit(0);
}

if (opt.toJson) {
  const text = fs.readFileSync(opt.toJson === "-" ? 0 : opt.toJson, "utf8");
  const docs = YAML.parseAllDocuments(text, { version: "1.1" }).map((d) => d.toJS()).filter((d) => d != null);
  printAllAndExit(JSON.stringify(docs, null, 1) + "\n");
}
if (opt.render) {
  const docs = render(path.resolve(opt.render)).map((i) => i.doc);
  if (errors.length) { for (const e of errors) console.error(e); process.exit(1); }
  printAllAndExit(JSON.stringify(docs, null, 1) + "\n");
}

const t0 = Date.now();
const items = [];
for (const p of opt.paths) {
  if (!fs.existsSync(p)) usage(`${p} does not exist`);
  for (const k of kustomizationDirs(p)) {
    try { items.push(...render(k).map((i) => ({ ...i, root: k }))); } catch (e) { err("kustomize", k, null, e.message); }
  }
}
const registries = [];
for (const p of opt.paths) {
  for (const f of yamlFilesUnder(p)) {
    if (kustomized.has(f)) continue;
    if (path.basename(f) === "registries.yaml") { registries.push(f); continue; }
    for (const d of readYaml(f)) items.push(d);
  }
}
for (const item of items) {
  const d = item.doc;
  if (typeof d !== "object" || Array.isArray(d) || !d.apiVersion || !d.kind) {
    err("yaml", item.file, null, `document ${item.index + 1} is not a Kubernetes object (no apiVersion/kind)`);
    continue;
  }
  strictCheck(item);
  modelsCheck(item);
  fieldsCheck(item);
  policyCheck(item, items);
  configCheck(item);
}
referenceChecks(items.filter((i) => i.doc?.kind));
clusterScopedConflicts(items.filter((i) => i.doc?.kind));
for (const f of registries) registriesCheck(f, items.filter((i) => i.doc?.kind));

const files = new Set(items.map((i) => i.file).concat(registries, [...kustomized]));
if (!opt.quiet) for (const n of notes) console.log(`note: ${n}`);
for (const e of errors) console.log(e);
console.log(`validate: ${items.length} objects in ${files.size} files, ${checks} checks, ${errors.length} errors ` +
  `(strict schemas: ${opt.schemas ? (rel(opt.schemas).startsWith("..") ? opt.schemas : rel(opt.schemas)) : "none, npm models only"}; ${Date.now() - t0} ms)`);
process.exit(errors.length ? 1 : 0);
