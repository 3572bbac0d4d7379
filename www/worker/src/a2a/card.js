// The A2A agent card, served at /.well-known/agent-card.json to anyone: what the agent is,
// where its JSON-RPC endpoint is (absolute, on the origin the card was asked from), how to
// authenticate, and its skills: chatting, plus one per tool the demo agent's model may
// call. v1.0's card unless the request asks for `A2A-Version: 0.3`, which gets v0.3's.
import { memoryTools } from "../tenant.js";
import { V03 } from "./wire.js";

export const A2A_PATH = "/a2a/v1";
export const CARD_PATH = "/.well-known/agent-card.json";
const AGENT_VERSION = "1.0.0";

const INPUT_MODES = ["text/plain", "application/json", "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];
const OUTPUT_MODES = ["text/plain"];

const BEARER_DESCRIPTION =
  "A JWT signed HS256 with the Worker's AUTH_SECRET, with an `exp`; its `tenant` claim (else `sub`) is the tenant every task and context belongs to.";

// What each tool of the demo agent lets a caller do, as a skill.
const TOOL_SKILLS = {
  memory_remember: {
    name: "Remember facts",
    description: "Keeps facts you state about yourself (\"remember that my favourite colour is green\") for your tenant, in every context.",
    tags: ["memory", "facts"],
    examples: ["Remember that my favourite colour is green"],
  },
  memory_forget_fact: {
    name: "Forget facts",
    description: "Withdraws a fact it keeps about you when you ask it to.",
    tags: ["memory", "facts"],
    examples: ["Forget my favourite colour"],
  },
};

function skills(env) {
  const chat = {
    id: "chat",
    name: "Chat",
    description:
      "Converses in text and remembers the conversation of each context: a message naming a contextId continues that conversation of your tenant, one without it starts a new context.",
    tags: ["chat", "conversation", "memory"],
    examples: ["My name is Alice", "What is my name?"],
  };
  const tools = memoryTools(env).map((tool) => ({
    id: tool,
    ...(TOOL_SKILLS[tool] ?? { name: tool, description: `The agent's \`${tool}\` tool.`, tags: ["tool"], examples: [] }),
  }));
  return [chat, ...tools].map((s) => ({ ...s, inputModes: INPUT_MODES, outputModes: OUTPUT_MODES }));
}

function description(jwt) {
  return (
    "The tenantry demo agent: each tenant has its own agent memory in its own Durable Object. " +
    (jwt
      ? "The tenant is the verified bearer token's; contexts and tasks are that tenant's alone."
      : "OPEN DEMO MODE: no token is checked, and the tenant is named by the endpoint's `tenant_id` query parameter.")
  );
}

/** The v1.0 card (ProtoJSON). */
function v1Card(origin, env) {
  const jwt = Boolean(env.AUTH_SECRET);
  const url = origin + A2A_PATH;
  return {
    name: "tenantry demo agent",
    description: description(jwt),
    supportedInterfaces: [
      { url, protocolBinding: "JSONRPC", protocolVersion: "1.0" },
      { url, protocolBinding: "JSONRPC", protocolVersion: "0.3" },
    ],
    version: AGENT_VERSION,
    documentationUrl: `${origin}/`,
    capabilities: { streaming: true, pushNotifications: false, extendedAgentCard: false },
    securitySchemes: { bearer: { httpAuthSecurityScheme: { scheme: "Bearer", bearerFormat: "JWT", description: BEARER_DESCRIPTION } } },
    // Open mode checks no token, and says so instead of asking for one.
    securityRequirements: jwt ? [{ schemes: { bearer: { list: [] } } }] : [],
    defaultInputModes: INPUT_MODES,
    defaultOutputModes: OUTPUT_MODES,
    skills: skills(env),
  };
}

/** The v0.3 card (JSON Schema shapes: `url`, `security`, typed security schemes). */
function v03Card(origin, env) {
  const jwt = Boolean(env.AUTH_SECRET);
  const url = origin + A2A_PATH;
  return {
    protocolVersion: "0.3.0",
    name: "tenantry demo agent",
    description: description(jwt),
    url,
    preferredTransport: "JSONRPC",
    additionalInterfaces: [{ url, transport: "JSONRPC" }],
    version: AGENT_VERSION,
    documentationUrl: `${origin}/`,
    capabilities: { streaming: true, pushNotifications: false },
    securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: BEARER_DESCRIPTION } },
    security: jwt ? [{ bearer: [] }] : [],
    defaultInputModes: INPUT_MODES,
    defaultOutputModes: OUTPUT_MODES,
    skills: skills(env),
    supportsAuthenticatedExtendedCard: false,
  };
}

/** The card for a request: v0.3's when `A2A-Version` asks for 0.3, else v1.0's. */
export function agentCardResponse(request, url, env) {
  const legacy = request.headers.get("a2a-version")?.trim() === V03;
  const card = legacy ? v03Card(url.origin, env) : v1Card(url.origin, env);
  return new Response(JSON.stringify(card), {
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "public, max-age=300",
      vary: "A2A-Version",
      // A public document that any agent's page may read.
      "access-control-allow-origin": "*",
    },
  });
}
