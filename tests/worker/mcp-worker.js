// A Worker whose agent calls an MCP server's tools with each user's own token, for
// tests/worker/mcp.test.mjs: the same fetch-based client under workerd.
//
//   GET /run?input=...&user=...&session=...  -> { text }, or 500 with { code, message }
//   GET /audit?user=...          -> the user's `mcp.list` audit entries' data
import { Agent } from "tenantry";

// `CALL <tool>` asks for that tool; after its result, answers with it.
const model = async ({ messages }) => {
  const last = messages.at(-1);
  if (last.role === "tool") return { text: `tool said ${last.content}` };
  const m = last.content.match(/^CALL (\S+)$/);
  return m ? { text: "", toolCalls: [{ id: "c1", name: m[1], arguments: "{}" }] } : { text: "ok" };
};

let agent; // made on the first request: Workers refuse some work at module scope

export default {
  async fetch(request, env) {
    agent ??= new Agent({
      model,
      mcp: [{ name: "crm", url: env.MCP_URL, headers: (userId) => ({ authorization: `Bearer ${userId}-token` }) }],
      audit: { key: "an-audit-key-of-32-bytes-or-more!" },
    });
    const url = new URL(request.url);
    const user = url.searchParams.get("user");
    if (url.pathname === "/audit") {
      return Response.json(agent.auditLog(user).filter((e) => e.type === "mcp.list").map((e) => e.data));
    }
    try {
      const { text } = await agent.run(url.searchParams.get("input"), user, { sessionId: url.searchParams.get("session") ?? undefined });
      return Response.json({ text });
    } catch (e) {
      return Response.json({ code: e.code, message: e.message }, { status: 500 });
    }
  },
};
