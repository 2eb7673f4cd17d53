// Strict JSON schemas (unknown fields rejected) for `make validate`, generated from the npm
// packages pinned in tests/k8s/package-lock.json, so that a fresh clone needs nothing beside the
// repository:
//
//   node tests/k8s/gen-schemas.mjs --modules DIR/node_modules [--out DIR]
//
// prints the schema directory. Without --out it is <modules>/../schemas-<hash of this script and
// k3s-registries.schema.json>, generated once and reused (tests/k8s/install.sh runs this at setup
// time; validate.mjs calls ensureSchemas() itself when the directory is missing).
//
// Sources, and why each:
//   @kubernetes/client-node   its model tables are generated from the Kubernetes v1.32.0 OpenAPI
//                             spec: which fields each object has, their types and formats, and
//                             (from its .d.ts: `'name': T` against `'name'?: T`) which are required.
//                             This is the API version the manifests target, so it decides what a
//                             field is.
//   kubernetes-models         its .d.ts spell enums as string-literal unions ("Always" | "Never")
//                             and Quantity as number | string; used only to narrow the fields
//                             client-node defines (it is generated from a newer API version, so a
//                             field it alone has is not accepted).
//   @kubernetes-models/prometheus-operator
//                             its .d.ts are generated from the prometheus-operator CRDs'
//                             openAPIV3Schema: ServiceMonitor, PrometheusRule, AlertmanagerConfig...
//   k3s-registries.schema.json (beside this script) hermetic's own schema of K3s registries.yaml.
//
// Output: one file per kind in kubeconform's layout, <kind>-<first label of the group>-<version>.json
// (deployment-apps-v1.json, service-v1.json, servicemonitor-monitoring-v1.json), each with every
// object additionalProperties: false and every optional value nullable (the API server reads a
// null as unset); plus k3s-registries.schema.json and SOURCES.md naming the package versions.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const REGISTRIES = path.join(HERE, "k3s-registries.schema.json");

// ---------------------------------------------------------------------------------------------
// The generated .d.ts files, read with a parser for the subset they use: imports, `export
// interface`, `export declare type`, `export { A as B }`; types are string/number/boolean/any,
// literals, unions, Array<T>, T[], { "k"?: T; [key: string]: T; } and names.
function tokenize(text, file) {
  const src = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
  const out = [];
  const re = /\s+|("(?:[^"\\]|\\.)*")|('(?:[^'\\]|\\.)*')|([A-Za-z_$][\w$]*)|(-?\d+(?:\.\d+)?)|([{}<>()[\];:?|,=&.*])/y;
  let m;
  while (re.lastIndex < src.length) {
    const at = re.lastIndex;
    if (!(m = re.exec(src))) throw new Error(`${file}: cannot read the declaration at offset ${at}`);
    if (m[1] !== undefined) out.push({ s: JSON.parse(m[1]) });
    else if (m[2] !== undefined) out.push({ s: JSON.parse(`"${m[2].slice(1, -1).replace(/"/g, '\\"')}"`) });
    else if (m[3] !== undefined) out.push({ id: m[3] });
    else if (m[4] !== undefined) out.push({ n: Number(m[4]) });
    else if (m[5] !== undefined) out.push({ p: m[5] });
  }
  return out;
}

const parsed = new Map(); // file -> {imports, decls, aliases}
function parseDts(file) {
  if (parsed.has(file)) return parsed.get(file);
  const t = tokenize(fs.readFileSync(file, "utf8"), file);
  let i = 0;
  const is = (p) => t[i]?.p === p;
  const isId = (id) => t[i]?.id === id;
  const expect = (p) => {
    if (!is(p)) throw new Error(`${file}: expected '${p}' at token ${i}, found ${JSON.stringify(t[i])}`);
    i++;
  };
  const skipTo = (p) => { while (i < t.length && !is(p)) i++; i++; };
  const skipBraces = () => {
    while (i < t.length && !is("{")) i++;
    let depth = 0;
    do { if (is("{")) depth++; else if (is("}")) depth--; i++; } while (depth > 0 && i < t.length);
  };
  function type() {
    if (is("|")) i++;
    const of = [postfix()];
    while (is("|")) { i++; of.push(postfix()); }
    return of.length === 1 ? of[0] : { t: "union", of };
  }
  function postfix() {
    let x = primary();
    while (is("[") && t[i + 1]?.p === "]") { i += 2; x = { t: "array", of: x }; }
    return x;
  }
  function primary() {
    const k = t[i];
    if (k?.s !== undefined) { i++; return { t: "lit", value: k.s }; }
    if (k?.n !== undefined) { i++; return { t: "lit", value: k.n }; }
    if (is("(")) { i++; const x = type(); expect(")"); return x; }
    if (is("{")) return object();
    if (k?.id === "true" || k?.id === "false") { i++; return { t: "lit", value: k.id === "true" }; }
    if (k?.id === "Array") { i++; expect("<"); const of = type(); expect(">"); return { t: "array", of }; }
    if (k?.id) {
      i++;
      if (["string", "number", "boolean", "any", "unknown", "object", "null"].includes(k.id)) return { t: "prim", name: k.id };
      return { t: "ref", name: k.id, file };
    }
    throw new Error(`${file}: unexpected ${JSON.stringify(k)} in a type at token ${i}`);
  }
  function object() {
    expect("{");
    const props = new Map();
    let index = null;
    while (!is("}")) {
      if (is("[")) {
        i++; i++; expect(":"); i++; expect("]"); expect(":");
        index = type();
      } else {
        const name = t[i].s ?? t[i].id;
        if (name === undefined) throw new Error(`${file}: expected a member name at token ${i}`);
        i++;
        const optional = is("?");
        if (optional) i++;
        expect(":");
        props.set(name, { optional, type: type() });
      }
      if (is(";") || is(",")) i++;
    }
    expect("}");
    return { t: "object", props, index };
  }
  const imports = new Map(), decls = new Map(), aliases = new Map();
  while (i < t.length) {
    if (isId("import")) {
      i++;
      if (is("{")) {
        i++;
        while (!is("}")) {
          const name = t[i++].id;
          let local = name;
          if (isId("as")) { i++; local = t[i++].id; }
          imports.set(local, { name });
          if (is(",")) i++;
        }
        i++;
        if (isId("from")) { i++; const mod = t[i++].s; for (const v of imports.values()) v.mod ??= mod; }
      }
      skipTo(";");
    } else if (isId("export")) {
      i++;
      if (isId("declare")) i++;
      if (isId("interface")) {
        i++;
        const name = t[i++].id;
        while (!is("{")) i++; // `extends TypeMeta`: apiVersion and kind are declared again
        decls.set(name, object());
      } else if (isId("type")) {
        i++;
        const name = t[i++].id;
        expect("=");
        decls.set(name, type());
        if (is(";")) i++;
      } else if (isId("class")) {
        skipBraces();
      } else if (is("{")) {
        i++;
        while (!is("}")) {
          const local = t[i++].id;
          let name = local;
          if (isId("as")) { i++; name = t[i++].id; }
          aliases.set(name, local);
          if (is(",")) i++;
        }
        i++;
        if (isId("from")) skipTo(";");
      } else {
        skipTo(";");
      }
    } else {
      i++;
    }
  }
  const r = { imports, decls, aliases };
  parsed.set(file, r);
  return r;
}

let MODULES = null;
function moduleFile(from, spec) {
  const base = spec.startsWith(".") ? path.resolve(path.dirname(from), spec) : path.join(MODULES, spec);
  for (const f of [`${base}.d.ts`, path.join(base, "index.d.ts")]) if (fs.existsSync(f)) return f;
  throw new Error(`${from}: cannot find the declarations of ${spec}`);
}
// A name as seen from a file -> {file, decl}
function resolve(file, name, depth = 0) {
  if (depth > 20) throw new Error(`${file}: ${name}: too many re-exports`);
  const d = parseDts(file);
  const local = d.aliases.get(name) ?? name;
  if (d.decls.has(local)) return { file, decl: d.decls.get(local) };
  const imp = d.imports.get(local);
  if (imp?.mod) return resolve(moduleFile(file, imp.mod), imp.name, depth + 1);
  throw new Error(`${file}: ${name} is not declared or imported there`);
}
// follow names and aliases down to an object, array, union, literal or primitive
function deref(x) {
  let n = 0;
  while (x?.t === "ref") {
    if (++n > 20) throw new Error(`${x.file}: ${x.name}: alias cycle`);
    const r = resolve(x.file, x.name);
    x = r.decl.t === "ref" ? { ...r.decl, file: r.file } : withFile(r.decl, r.file);
  }
  return x;
}
// a declaration's inner names resolve in the file that declares it
function withFile(x, file) {
  if (!x || typeof x !== "object") return x;
  if (x.t === "ref") return { ...x, file };
  if (x.t === "array") return { t: "array", of: withFile(x.of, file) };
  if (x.t === "union") return { t: "union", of: x.of.map((y) => withFile(y, file)) };
  if (x.t === "object") {
    const props = new Map([...x.props].map(([k, v]) => [k, { optional: v.optional, type: withFile(v.type, file) }]));
    return { t: "object", props, index: x.index && withFile(x.index, file) };
  }
  return x;
}

// ---------------------------------------------------------------------------------------------
// JSON Schema
const nullable = (types) => ({ type: [...(Array.isArray(types) ? types : [types]), "null"] });
function leafFromKm(km) {
  // what kubernetes-models says about a scalar: string enums, number | string
  const x = deref(km);
  const of = x?.t === "union" ? x.of.map(deref) : x ? [x] : [];
  const lits = of.filter((y) => y.t === "lit" && typeof y.value === "string").map((y) => y.value);
  const prims = new Set(of.filter((y) => y.t === "prim").map((y) => y.name));
  return { enum: lits.length && lits.length === of.length ? lits : null, numberToo: prims.has("number") && prims.has("string") };
}

let cn = null; // client-node ObjectSerializer exports
const requiredCache = new Map();
function cnRequired(cls) {
  if (!requiredCache.has(cls)) {
    const f = path.join(MODULES, "@kubernetes/client-node/dist/gen/models", `${cls}.d.ts`);
    const text = fs.readFileSync(f, "utf8");
    requiredCache.set(cls, [...text.matchAll(/^\s+'([^']+)'(\?)?:/gm)].filter((m) => !m[2]).map((m) => m[1]));
  }
  return requiredCache.get(cls);
}

// A client-node type (with kubernetes-models' view of the same value, or null) -> schema.
function cnSchema(type, format, km, defs) {
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    const k = deref(km);
    return { ...nullable("array"), items: cnSchema(m[1], format, k?.t === "array" ? k.of : null, defs) };
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    const k = deref(km);
    return { ...nullable("object"), additionalProperties: cnSchema(m[1], format, k?.t === "object" ? k.index : null, defs) };
  }
  if (cn[type]?.attributeTypeMap) {
    if (!defs[type]) {
      defs[type] = {}; // placeholder: the API's types are recursive (JSONSchemaProps)
      const k = deref(km);
      const kprops = k?.t === "object" ? k.props : new Map();
      const properties = {};
      for (const a of cn[type].attributeTypeMap)
        properties[a.baseName] = cnSchema(a.type, a.format, kprops.get(a.baseName)?.type ?? null, defs);
      const required = cnRequired(type);
      defs[type] = { ...nullable("object"), additionalProperties: false, properties, ...(required.length ? { required } : {}) };
    }
    return { $ref: `#/definitions/${type}` };
  }
  const leaf = leafFromKm(km);
  switch (type) {
    case "string":
      if (leaf.enum) return { ...nullable("string"), enum: [...leaf.enum, null] };
      if (leaf.numberToo) return nullable(["string", "number"]); // resource.Quantity
      return format === "byte" ? { ...nullable("string"), format: "byte" } : nullable("string");
    case "number":
      return format === "int32" || format === "int64" ? { ...nullable("integer"), format } : nullable("number");
    case "boolean": return nullable("boolean");
    case "Date": return { ...nullable("string"), format: "date-time" };
    case "V1MicroTime": return nullable("string");
    case "IntOrString": return nullable(["integer", "string"]);
    case "any": return {};
    default: throw new Error(`client-node type ${type} is not handled`);
  }
}

// A type from a CRD's .d.ts -> schema (prometheus-operator: inline objects; metadata is the API's).
function kmSchema(km, defs) {
  if (km?.t === "ref") {
    const r = resolve(km.file, km.name);
    if (r.file.endsWith(path.join("apimachinery", "apis", "meta", "v1", "ObjectMeta.d.ts")))
      return cnSchema("V1ObjectMeta", "", km, defs);
  }
  const x = deref(km);
  switch (x?.t) {
    case "object": {
      // `{}`: the CRD says only "an object" (an embedded resource's metadata, say)
      if (!x.props.size && !x.index) return nullable("object");
      const properties = {};
      const required = [];
      for (const [k, v] of x.props) {
        properties[k] = kmSchema(v.type, defs);
        if (!v.optional) required.push(k);
      }
      // { [key: string]: T } is a map (labels, annotations): its values are checked, not its keys
      return { ...nullable("object"), additionalProperties: x.index ? kmSchema(x.index, defs) : false,
        ...(x.props.size ? { properties } : {}), ...(required.length ? { required } : {}) };
    }
    case "array": return { ...nullable("array"), items: kmSchema(x.of, defs) };
    case "lit": return { enum: [x.value] };
    case "prim": return x.name === "string" || x.name === "number" || x.name === "boolean" ? nullable(x.name) : {};
    case "union": {
      const of = x.of.map(deref);
      if (of.every((y) => y.t === "lit")) return { enum: [...of.map((y) => y.value), null] };
      if (of.every((y) => y.t === "lit" || y.t === "prim")) {
        const types = new Set(of.map((y) => (y.t === "prim" ? y.name : typeof y.value)));
        return types.has("any") || types.has("unknown") || types.has("object") ? {} : nullable([...types]);
      }
      return { anyOf: x.of.map((y) => kmSchema(y, defs)) };
    }
    default: throw new Error(`cannot turn ${JSON.stringify(x)} into a schema`);
  }
}

// ---------------------------------------------------------------------------------------------
// kinds: every top-level object the packages declare (an interface with literal apiVersion and kind)
function kindsIn(root) {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) { if (!e.name.startsWith("_") && e.name !== "node_modules") walk(p); continue; }
      if (!e.name.endsWith(".d.ts") || e.name === "index.d.ts") continue;
      const kind = e.name.slice(0, -5);
      const text = fs.readFileSync(p, "utf8");
      if (!text.includes(`"kind": "${kind}"`)) continue;
      const iface = parseDts(p).decls.get(`I${kind}`);
      const av = iface?.props?.get("apiVersion")?.type;
      if (av?.t !== "lit") continue;
      out.push({ file: p, kind, apiVersion: av.value, km: { t: "ref", name: `I${kind}`, file: p } });
    }
  };
  walk(root);
  return out.sort((a, b) => a.file.localeCompare(b.file));
}
function fileName(apiVersion, kind) {
  const [g, v] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  return `${kind.toLowerCase()}${g ? "-" + g.split(".")[0] : ""}-${v}.json`;
}
const pascal = (s) => s.charAt(0).toUpperCase() + s.slice(1);
// client-node's class for a kind: V1Deployment, or with the group when two groups share a kind
// (CoreV1Event, EventsV1Event); it must define no field kubernetes-models lacks
function cnClass(apiVersion, kind, km) {
  const [g, v] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  const k = deref(km);
  for (const name of [`${pascal(g.split(".")[0])}${pascal(v)}${kind}`, `${pascal(v)}${kind}`]) {
    const C = cn[name];
    if (!C?.attributeTypeMap) continue;
    const fields = C.attributeTypeMap.map((a) => a.baseName);
    if (fields.includes("kind") && fields.every((f) => k.props.has(f))) return name;
  }
  return null;
}

function version(pkg) {
  return JSON.parse(fs.readFileSync(path.join(MODULES, pkg, "package.json"), "utf8")).version;
}

export function generate(modules, out) {
  MODULES = path.resolve(modules);
  parsed.clear();
  requiredCache.clear();
  return import(pathToFileURL(path.join(MODULES, "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js")).href)
    .then((mod) => {
      cn = mod;
      fs.mkdirSync(out, { recursive: true });
      const written = [], skipped = [];
      const header = (apiVersion, kind, from) => ({
        $schema: "http://json-schema.org/draft-07/schema#",
        description: `${kind} ${apiVersion}, strict: generated by tests/k8s/gen-schemas.mjs from ${from}`,
      });
      for (const k of kindsIn(path.join(MODULES, "kubernetes-models"))) {
        const cls = cnClass(k.apiVersion, k.kind, k.km);
        if (!cls) { skipped.push(`${k.apiVersion} ${k.kind}`); continue; }
        const defs = {};
        const root = cnSchema(cls, "", k.km, defs);
        const from = `@kubernetes/client-node ${version("@kubernetes/client-node")} (${cls}) and ` +
          `kubernetes-models ${version("kubernetes-models")}`;
        const schema = { ...header(k.apiVersion, k.kind, from), $ref: root.$ref, definitions: defs };
        // the root object is a manifest, never null; apiVersion and kind are this kind's
        const required = [...new Set([...(defs[cls].required ?? []), "apiVersion", "kind"])];
        defs[cls] = { ...defs[cls], type: "object", required };
        defs[cls].properties = { ...defs[cls].properties, apiVersion: { enum: [k.apiVersion] },
          kind: { enum: [k.kind] } };
        fs.writeFileSync(path.join(out, fileName(k.apiVersion, k.kind)), JSON.stringify(schema) + "\n");
        written.push(`${k.apiVersion} ${k.kind}`);
      }
      const po = "@kubernetes-models/prometheus-operator";
      for (const k of kindsIn(path.join(MODULES, po))) {
        const defs = {};
        const root = kmSchema(k.km, defs);
        root.type = "object";
        const schema = { ...header(k.apiVersion, k.kind, `${po} ${version(po)}`), ...root, definitions: defs };
        fs.writeFileSync(path.join(out, fileName(k.apiVersion, k.kind)), JSON.stringify(schema) + "\n");
        written.push(`${k.apiVersion} ${k.kind}`);
      }
      fs.copyFileSync(REGISTRIES, path.join(out, "k3s-registries.schema.json"));
      fs.writeFileSync(path.join(out, "SOURCES.md"), [
        "# Strict schemas for make validate (generated by tests/k8s/gen-schemas.mjs; do not edit)", "",
        `- @kubernetes/client-node ${version("@kubernetes/client-node")}: fields, types, formats, required (Kubernetes OpenAPI v1.32.0)`,
        `- kubernetes-models ${version("kubernetes-models")}: enums and Quantity (number | string) of those fields`,
        `- ${po} ${version(po)}: the monitoring.coreos.com CRDs`,
        "- k3s-registries.schema.json: hermetic's own, from the K3s private-registry documentation", "",
        `${written.length} kinds: ${written.join(", ")}`, "",
        `not in client-node's v1.32.0 tables (no schema): ${skipped.join(", ") || "none"}`, "",
      ].join("\n"));
      return { written, skipped };
    });
}

export function schemaDir(modules) {
  const h = crypto.createHash("sha256");
  h.update(fs.readFileSync(SELF));
  h.update(fs.readFileSync(REGISTRIES));
  return path.join(path.resolve(modules), "..", `schemas-${h.digest("hex").slice(0, 16)}`);
}

// The schema directory for these node_modules, generated if missing (atomically: a second run,
// or a concurrent one, finds it complete or builds its own copy and renames it into place).
export async function ensureSchemas(modules) {
  const dir = schemaDir(modules);
  if (fs.existsSync(path.join(dir, "SOURCES.md"))) return dir;
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    await generate(modules, tmp);
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      if (!fs.existsSync(path.join(dir, "SOURCES.md"))) throw e; // else another run won the race
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const argv = process.argv.slice(2);
  let modules = null, out = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--modules" && i + 1 < argv.length) modules = argv[++i];
    else if (argv[i] === "--out" && i + 1 < argv.length) out = argv[++i];
    else {
      console.error(`gen-schemas.mjs: unknown argument ${argv[i]}\n` +
        "usage: node gen-schemas.mjs --modules NODE_MODULES [--out DIR]");
      process.exit(2);
    }
  }
  if (!modules) { console.error("gen-schemas.mjs: --modules is required (tests/k8s/install.sh prints it)"); process.exit(2); }
  try {
    if (out) {
      const r = await generate(modules, out);
      console.error(`gen-schemas: ${r.written.length} kinds${r.skipped.length ? `; no schema for ${r.skipped.join(", ")}` : ""}`);
      console.log(path.resolve(out));
    } else {
      console.log(await ensureSchemas(modules));
    }
  } catch (e) {
    console.error(`gen-schemas.mjs: ${e.message}`);
    process.exit(1);
  }
}
