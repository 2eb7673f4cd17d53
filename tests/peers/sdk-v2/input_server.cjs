// An MCP server on the TypeScript SDK v2 (@modelcontextprotocol/server, pinned by this
// directory's lockfile) that speaks the 2026-07-28 revision, and the 2025 wire as its stateless
// fallback: `node input_server.cjs SDK_DIR LOG_FILE` listens on 127.0.0.1 (a free port,
// printed as {"port": N} on stdout) and serves createMcpHandler's web-standard fetch over
// node:http. Each POST is appended to LOG_FILE as a JSON line: the method, the JSON-RPC id,
// the MCP headers and the params, so a test sees exactly what reached the server.
// `node input_server.cjs SDK_DIR LOG_FILE stdio` serves the same tools over stdio
// (serveStdio, which takes either revision's opening) and logs each request read.
//   book_table  asks a question through input_required (an elicitation form, with
//               requestState), then answers with the inputResponses and requestState it got
//   ask_model   asks the client's model (a sampling/createMessage input request), then
//               answers with the sampling result it got
//   pay         asks the user to open a link (url mode, which names no elicitationId here)
//   forever     answers input_required with only a new requestState, every time
//   echo        answers its arguments at once
const fs = require("fs");
const http = require("http");
const path = require("path");
const { createRequire } = require("module");
const sdk = createRequire(path.join(process.argv[2] || __dirname, "node_modules", "x.js"));
const { McpServer, createMcpHandler, inputRequired, inputResponse } =
  sdk("@modelcontextprotocol/server");
const z = sdk("zod");
const log = process.argv[3];

function factory() {
  const server = new McpServer({ name: "input-test-server", version: "1.0.0" });
  server.registerTool("book_table", {
    description: "Books a table; asks who it is for",
    inputSchema: z.object({ guests: z.number().int() }),
  }, async ({ guests }, ctx) => {
    const got = inputResponse(ctx.mcpReq.inputResponses, "who");
    if (got.kind === "missing") {
      return inputRequired({
        inputRequests: {
          who: inputRequired.elicit({
            message: `A table for ${guests}: in whose name?`,
            requestedSchema: {
              type: "object",
              properties: { name: { type: "string", title: "Name" },
                            outside: { type: "boolean", title: "Outside?", default: false } },
              required: ["name"],
            },
          }),
        },
        requestState: `booking-${guests}`,
      });
    }
    return { content: [{ type: "text", text: JSON.stringify({
      inputResponses: ctx.mcpReq.inputResponses, requestState: ctx.mcpReq.requestState() }) }] };
  });
  server.registerTool("ask_model", {
    description: "Asks the client's model a question",
    inputSchema: z.object({ prompt: z.string() }),
  }, async ({ prompt }, ctx) => {
    const got = inputResponse(ctx.mcpReq.inputResponses, "answer");
    if (got.kind === "missing") {
      return inputRequired({
        inputRequests: {
          answer: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: prompt } }],
            systemPrompt: "You are a helpful test server.",
            maxTokens: 500,
          }),
        },
      });
    }
    return { content: [{ type: "text", text: JSON.stringify(got) }] };
  });
  server.registerTool("pay", {
    description: "Asks the user to confirm a payment on a web page",
    inputSchema: z.object({}),
  }, async (_args, ctx) => {
    const got = inputResponse(ctx.mcpReq.inputResponses, "confirm");
    if (got.kind === "missing") {
      return inputRequired({ inputRequests: { confirm: inputRequired.elicitUrl({
        message: "Confirm the payment", url: "https://pay.example/confirm/42" }) } });
    }
    return { content: [{ type: "text", text: JSON.stringify(got) }] };
  });
  server.registerTool("forever", {
    description: "Never has enough",
    inputSchema: z.object({}),
  }, async (_args, ctx) => {
    const round = Number(ctx.mcpReq.requestState() || "0") + 1;
    return inputRequired({ requestState: String(round) });
  });
  server.registerTool("echo", {
    description: "Answers its arguments",
    inputSchema: z.object({ text: z.string() }),
  }, async (args) => ({ content: [{ type: "text", text: JSON.stringify(args) }] }));
  return server;
}

if (process.argv[4] === "stdio") {
  const { serveStdio } = sdk("@modelcontextprotocol/server/stdio");
  if (log) {
    // Log each request line as it arrives, before the SDK reads it.
    let rest = "";
    process.stdin.on("data", (chunk) => {
      const lines = (rest + chunk.toString("utf8")).split("\n");
      rest = lines.pop();
      for (const line of lines) {
        let msg = {};
        try { msg = JSON.parse(line); } catch { /* logged as is */ }
        fs.appendFileSync(log, JSON.stringify({ method: msg.method, id: msg.id, headers: {},
                                                params: msg.params }) + "\n");
      }
    });
  }
  serveStdio(factory);
  return;
}

const handler = createMcpHandler(factory);
const srv = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  if (log && req.method === "POST") {
    let msg = {};
    try { msg = JSON.parse(body.toString("utf8")); } catch { /* logged as is */ }
    const mcp = {};
    for (const [k, v] of Object.entries(req.headers))
      if (k.startsWith("mcp-")) mcp[k] = v;
    fs.appendFileSync(log, JSON.stringify({ method: msg.method, id: msg.id, headers: mcp,
                                            params: msg.params }) + "\n");
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers))
    for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
  const request = new Request(`http://127.0.0.1${req.url}`, {
    method: req.method, headers,
    body: req.method === "GET" || req.method === "HEAD" ? undefined : body });
  try {
    const r = await handler.fetch(request);
    res.writeHead(r.status, Object.fromEntries(r.headers));
    if (r.body) for await (const c of r.body) res.write(c);
    res.end();
  } catch (e) {
    res.writeHead(500);
    res.end(String(e));
  }
});
srv.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: srv.address().port }) + "\n");
});
