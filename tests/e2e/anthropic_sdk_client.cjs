// Drives `hermetic router`'s /v1/messages with the official Anthropic TypeScript SDK
// (@anthropic-ai/sdk, pinned in tests/peers/package.json). Called by
// tests/e2e/test_router_messages.py with NODE_PATH at the SDK, ROUTER_URL and ROUTER_KEY; prints
// one JSON line of what the SDK made of the answers, for the test to assert on.
const Anthropic = require("@anthropic-ai/sdk").default;

async function main() {
  const client = new Anthropic({ baseURL: process.env.ROUTER_URL, apiKey: process.env.ROUTER_KEY,
                                 maxRetries: 0 });
  const out = {};
  const create = await client.messages.create({
    model: "claude-sonnet", max_tokens: 64, messages: [{ role: "user", content: "Hi" }],
  });
  out.create = { content: create.content, stop_reason: create.stop_reason };

  const stream = client.messages.stream({
    model: "claude-sonnet", max_tokens: 64, messages: [{ role: "user", content: "Stream" }],
  });
  let text = "";
  stream.on("text", (t) => { text += t; });
  const final = await stream.finalMessage();
  out.stream_text = text;
  out.stream_final = { stop_reason: final.stop_reason, usage: final.usage };

  const tool = await client.messages.stream({
    model: "claude-sonnet", max_tokens: 64,
    tools: [{ name: "get_weather", input_schema: { type: "object" } }],
    messages: [{ role: "user", content: "Weather in Oslo?" }],
  }).finalMessage();
  out.tool = { content: tool.content, stop_reason: tool.stop_reason };

  try {
    await client.messages.create({
      model: "no-such-model", max_tokens: 8, messages: [{ role: "user", content: "x" }],
    });
    out.error_status = 0;
  } catch (e) {
    out.error_status = e.status;
    out.error_type = e.error && e.error.error && e.error.error.type;
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
