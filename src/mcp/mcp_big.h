/* mcp_big: one MCP message too large to hold (over MCP_FRAME_CAP), read as it streams by a
 * bounded JSON scanner instead of being parsed whole.
 *
 * The scanner keeps only what a tools/call answer needs: the id, result.isError, the text of
 * result.content[] (text blocks and resource texts, streamed into a core/toolout: an excerpt
 * for the model, the whole in home/tool-output/), notes for binary blocks (type and size, as
 * mcp_render writes them), and error.code / error.message. Memory: the excerpt, the toolout's
 * write buffer and a fixed stack (depth MCP_BIG_DEPTH), whatever the message's size.
 */
#ifndef HERMETIC_MCP_MCP_BIG_H
#define HERMETIC_MCP_MCP_BIG_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct mcp_big;
struct mcp_server;

#define MCP_BIG_DEPTH 64

/* Starts a message of server (names the kept file). Takes over nothing. The kept file is
 * written on the caller's thread (tests, the fuzz target). */
struct mcp_big *mcp_big_create(const struct config *cfg, const char *server);
/* For the transports: a message of server s, which streams only when it answers a tools/call
 * of s (mcp_transport_streams); any other message is held whole as before, up to
 * MCP_EVENT_CAP (-E2BIG past it), and mcp_big_finish returns it as it came. The kept file is
 * written on the workers of s's loop (loop_offload). */
struct mcp_big *mcp_big_create_for(struct mcp_server *s);
/* Accepts NULL. */
void mcp_big_destroy(struct mcp_big *b);
/* Feeds the message's next bytes. 0; -E2BIG once the message passes
 * agent.tool_output.max_bytes; -EPROTO when it is not JSON (nested deeper than MCP_BIG_DEPTH
 * counts), with why saying so. Errors are sticky. */
int mcp_big_feed(struct mcp_big *b, const char *data, size_t len);
/* Why the last feed failed ("" when it did not). Borrowed. */
const char *mcp_big_why(const struct mcp_big *b);
/* Bytes fed so far. */
uint64_t mcp_big_size(const struct mcp_big *b);
/* The message is complete: a small JSON-RPC message that stands for it (malloc'd, *len set):
 * the answer with its id, one text block (the excerpt and its note) and isError, or the error
 * with its code and message; an answer without content a model reads becomes an error saying
 * so. NULL when the message is no answer (a request or notification from the server: too big
 * to handle, the caller logs it) or is not a complete JSON value (why says which). */
char *mcp_big_finish(struct mcp_big *b, size_t *len);
/* For the transports: ends *b, handing the core the message that stands for it
 * (mcp_transport_message) or logging why there is none; *b is destroyed and set to NULL first,
 * as the core may close the transport meanwhile. */
void mcp_big_hand_over(struct mcp_big **b, struct mcp_server *s);
/* The transport's failure after a feed failed: "the server sent a message of over N bytes that
 * cannot be read: WHY" in out. */
void mcp_big_failure(const struct mcp_big *b, char *out, size_t len);

#endif
