// Drives `hermetic router` with the official OpenAI Node SDK (tests/peers, openai@6.49.0):
// embeddings.create, audio.transcriptions.create with a fs.createReadStream file, and
// audio.speech.create. Run by tests/e2e/test_router_endpoints.py with NODE_PATH set to the
// peers' node_modules; prints one JSON line with what the SDK returned.
//   env: ROUTER_URL (http://127.0.0.1:PORT/v1), ROUTER_KEY, AUDIO_FILE
const fs = require("fs");
const OpenAI = require("openai");

async function main() {
  const client = new OpenAI({
    baseURL: process.env.ROUTER_URL,
    apiKey: process.env.ROUTER_KEY,
    maxRetries: 0,
    timeout: 20000,
  });
  const out = {};

  // The SDK asks for base64 and decodes it back to floats unless encoding_format is given.
  const emb = await client.embeddings.create({ model: "embed", input: ["hello", "world"] });
  out.embeddings = {
    n: emb.data.length,
    dims: emb.data.map((d) => d.embedding.length),
    first: emb.data[0].embedding.slice(0, 3),
    usage: emb.usage,
    model: emb.model,
  };

  const tr = await client.audio.transcriptions.create({
    model: "stt",
    file: fs.createReadStream(process.env.AUDIO_FILE),
    language: "en",
  });
  out.transcription = { text: tr.text, usage: tr.usage };

  const speech = await client.audio.speech.create({
    model: "tts",
    voice: "alloy",
    input: "Hello from the SDK.",
    response_format: "opus",
  });
  const bytes = Buffer.from(await speech.arrayBuffer());
  out.speech = {
    length: bytes.length,
    magic: bytes.subarray(0, 4).toString("latin1"),
    content_type: speech.headers.get("content-type"),
    sha256: require("crypto").createHash("sha256").update(bytes).digest("hex"),
  };

  try {
    await client.embeddings.create({ model: "nope", input: "x" });
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
