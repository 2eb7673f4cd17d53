// A tiny MCP server that asks questions (elicitation), on the pinned @modelcontextprotocol/sdk
// of this directory's lockfile: `node elicit_server.cjs PEERS_DIR` (stdio). Its tools answer
// with what the client sent back, as JSON text, so a test sees exactly what reached the server.
//   book_table  a form: guests (integer 1-12, required), time (titled enum), outside (boolean),
//               note (string), name (string, default "Ada")
//   defaults    the form of the conformance suite's SEP-1034 scenario: every field has a default
//   pay         url mode: a link to open
//   confirm     a form without fields: a yes or no
const path = require("path");
const { createRequire } = require("module");
const peers = createRequire(path.join(process.argv[2] || __dirname, "node_modules", "x.js"));
const { McpServer } = peers("@modelcontextprotocol/sdk/server/mcp.js");
const { StdioServerTransport } = peers("@modelcontextprotocol/sdk/server/stdio.js");
const { ElicitResultSchema } = peers("@modelcontextprotocol/sdk/types.js");

const FORMS = {
  book_table: {
    message: "Book a table: how many, and when?",
    requestedSchema: {
      type: "object",
      properties: {
        guests: { type: "integer", title: "Guests", minimum: 1, maximum: 12 },
        time: { type: "string", title: "Time", oneOf: [
          { const: "18:00", title: "Early" }, { const: "20:00", title: "Late" }] },
        outside: { type: "boolean", title: "Outside?" },
        note: { type: "string", title: "Note", maxLength: 200 },
        name: { type: "string", title: "Name", default: "Ada" },
      },
      required: ["guests", "time"],
    },
  },
  defaults: {
    message: "Please accept with defaults",
    requestedSchema: {
      type: "object",
      properties: {
        name: { type: "string", default: "John Doe" },
        age: { type: "integer", default: 30 },
        score: { type: "number", default: 95.5 },
        status: { type: "string", enum: ["active", "inactive"], default: "active" },
        verified: { type: "boolean", default: true },
      },
      required: [],
    },
  },
  confirm: {
    message: "Delete the draft?",
    requestedSchema: { type: "object", properties: {} },
  },
  pay: { mode: "url", message: "Confirm the payment", url: "https://pay.example/confirm/42",
         elicitationId: "pay-42" },
};

const server = new McpServer({ name: "elicit-test-server", version: "1.0.0" });
for (const [name, params] of Object.entries(FORMS)) {
  // read-only: asking changes nothing, so no approval stands before the question
  server.registerTool(name, { description: `asks: ${params.message}`, inputSchema: {},
                              annotations: { readOnlyHint: true } },
    async (args, extra) => {
      const r = await extra.sendRequest({ method: "elicitation/create", params },
                                        ElicitResultSchema, { timeout: 600000 });
      return { content: [{ type: "text", text: JSON.stringify(r) }] };
    });
}
server.connect(new StdioServerTransport());
