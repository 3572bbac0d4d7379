// An MCP server built with the official `@modelcontextprotocol/sdk` (McpServer +
// StreamableHTTPServerTransport over node:http on a random loopback port), for the suites
// that test MCP tools: what it received shows whose credentials went where.
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

/** The tools every test server offers. `whoami` answers with the Authorization it saw. */
function crmServer() {
  const server = new McpServer({ name: "crm", version: "1.0.0" });
  server.registerTool("whoami", { description: "Who the server thinks is calling", inputSchema: {} }, async (_args, extra) => ({
    content: [{ type: "text", text: `${extra.requestInfo?.headers?.authorization ?? "nobody"}` }],
  }));
  server.registerTool(
    "lookup",
    { description: "Finds an order", inputSchema: { id: z.string() }, outputSchema: { id: z.string(), status: z.string() } },
    async ({ id }) => ({ content: [{ type: "text", text: `order ${id}: shipped` }], structuredContent: { id, status: "shipped" } }),
  );
  server.registerTool("broken", { description: "Always fails", inputSchema: {} }, async () => {
    throw new Error("database down");
  });
  server.registerTool("slow", { description: "Never answers", inputSchema: {} }, () => new Promise(() => {}));
  server.registerTool("big", { description: "Too much", inputSchema: {} }, async () => ({ content: [{ type: "text", text: "x".repeat(300 * 1024) }] }));
  return server;
}

/**
 * An MCP server on 127.0.0.1: `stateful` keeps a transport per session (404 for an unknown
 * one), otherwise a fresh server and transport per request; `json` answers with JSON bodies
 * instead of SSE. `requests` is what it received; `opener` the Authorization per session.
 */
export async function startServer({ stateful, json }) {
  const requests = [];
  const sessions = new Map(); // id -> { transport, auth }
  const openers = new Map(); // id -> auth, never cleared
  const http = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const sid = req.headers["mcp-session-id"];
    requests.push({ method: body?.method, tool: body?.params?.name, auth: req.headers.authorization, session: sid, protocol: req.headers["mcp-protocol-version"] });
    if (!stateful) {
      const server = crmServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: json });
      res.on("close", () => {
        transport.close();
        server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
      return;
    }
    let entry = sid ? sessions.get(sid) : undefined;
    if (!entry) {
      if (sid || !isInitializeRequest(body)) {
        res.writeHead(sid ? 404 : 400).end();
        return;
      }
      const auth = req.headers.authorization;
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: json,
        onsessioninitialized: (id) => (sessions.set(id, { transport, auth }), openers.set(id, auth)),
      });
      await crmServer().connect(transport);
      entry = { transport, auth };
    }
    await entry.transport.handleRequest(req, res, body);
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  const s = {
    url: `http://127.0.0.1:${http.address().port}/mcp`,
    requests,
    sessions,
    openers,
    count: (method) => requests.filter((r) => r.method === method).length,
    close: async () => {
      for (const { transport } of sessions.values()) await transport.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
  return s;
}
