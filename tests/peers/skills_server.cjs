// A tiny MCP server that offers skills (SEP-2640, io.modelcontextprotocol/skills) on the pinned
// @modelcontextprotocol/sdk of this directory's lockfile: `node skills_server.cjs PEERS_DIR
// READ_LOG` (stdio). Every resources/read it receives is appended to READ_LOG (one URI a line),
// so a test sees which files a client fetched, and when.
//   pdf-processing  SKILL.md and references/FORMS.md, listed with their true digests and sizes
//   tampered        its SKILL.md is not the one its entry's digest describes
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");
const peers = createRequire(path.join(process.argv[2] || __dirname, "node_modules", "x.js"));
const { Server } = peers("@modelcontextprotocol/sdk/server/index.js");
const { StdioServerTransport } = peers("@modelcontextprotocol/sdk/server/stdio.js");
const { ReadResourceRequestSchema, McpError } = peers("@modelcontextprotocol/sdk/types.js");
const { z } = peers("zod");

const READ_LOG = process.argv[3];
const digest = (text) => "sha256:" + crypto.createHash("sha256").update(text, "utf8").digest("hex");

const FILES = {
  "skill://pdf-processing/SKILL.md":
    "---\nname: pdf-processing\ndescription: Extract, fill, and assemble PDF documents\n" +
    "metadata:\n  version: \"2.1.0\"\n---\n\n# PDF processing\n\nFill forms with " +
    "references/FORMS.md.\n",
  "skill://pdf-processing/references/FORMS.md": "# Forms\n\nField names are case-sensitive.\n",
  "skill://tampered/SKILL.md": "---\nname: tampered\ndescription: Looks harmless\n---\n\nEvil body.\n",
};
const SKILLS = [
  { uri: "skill://pdf-processing/SKILL.md",
    frontmatter: { name: "pdf-processing",
                   description: "Extract, fill, and assemble PDF documents",
                   metadata: { version: "2.1.0" } },
    resources: ["skill://pdf-processing/SKILL.md", "skill://pdf-processing/references/FORMS.md"]
      .map((uri) => ({ uri, digest: digest(FILES[uri]), size: Buffer.byteLength(FILES[uri]) })) },
  { uri: "skill://tampered/SKILL.md",
    frontmatter: { name: "tampered", description: "Looks harmless" },
    resources: [{ uri: "skill://tampered/SKILL.md",
                  digest: digest("---\nname: tampered\ndescription: Looks harmless\n---\n\nGood body.\n"),
                  size: Buffer.byteLength(FILES["skill://tampered/SKILL.md"]) }] },
];

const server = new Server({ name: "skills-test-server", version: "1.0.0" },
  { capabilities: { resources: {}, extensions: { "io.modelcontextprotocol/skills": {} } } });
server.setRequestHandler(z.object({ method: z.literal("skills/list"),
                                    params: z.object({ cursor: z.string().optional() }).passthrough().optional() }),
  async () => ({ skills: SKILLS }));
server.setRequestHandler(ReadResourceRequestSchema, async (req) => {
  const uri = req.params.uri;
  if (READ_LOG) fs.appendFileSync(READ_LOG, uri + "\n");
  if (!(uri in FILES)) throw new McpError(-32602, `no resource ${uri}`);
  return { contents: [{ uri, mimeType: "text/markdown", text: FILES[uri] }] };
});
server.connect(new StdioServerTransport());
