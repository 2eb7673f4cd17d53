// Drives `hermetic router` with the official OpenAI Node SDK (tests/peers, openai@6.49.0):
// responses.create, responses.stream (the SDK's ResponseStream helper) and responses.create
// with stream: true (the raw event stream). Run by tests/e2e/test_router_responses.py with
// NODE_PATH set to the peers' node_modules; prints one JSON line with what the SDK returned.
//   env: ROUTER_URL (http://127.0.0.1:PORT/v1), ROUTER_KEY
const OpenAI = require("openai");

async function main() {
  const client = new OpenAI({
    baseURL: process.env.ROUTER_URL,
    apiKey: process.env.ROUTER_KEY,
    maxRetries: 0,
    timeout: 20000,
  });
  const out = {};

  const r = await client.responses.create({ model: "gpt", input: "Say hi", store: false });
  out.create = { output_text: r.output_text, status: r.status, usage: r.usage, id: r.id };

  const types = [];
  let deltas = "";
  const stream = client.responses.stream({ model: "gpt", input: "Say hi" });
  stream.on("event", (e) => types.push(e.type));
  stream.on("response.output_text.delta", (e) => {
    deltas += e.delta;
  });
  const final = await stream.finalResponse();
  out.stream = { types, deltas, final_text: final.output_text, usage: final.usage };

  const raw = await client.responses.create({ model: "gpt", input: "Say hi", stream: true });
  const rawTypes = [];
  let text = "";
  for await (const e of raw) {
    rawTypes.push(e.type);
    if (e.type === "response.output_text.delta") text += e.delta;
  }
  out.raw_stream = { types: rawTypes, text };

  try {
    await client.responses.create({ model: "nope", input: "x" });
    out.refused = null;
  } catch (e) {
    out.refused = { status: e.status, message: e.message };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`sdk error: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
