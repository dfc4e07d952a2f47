// The official `openai` npm package (the chat app's own stack) against a running Sluice.
// Run by tests/sdk.rs with SLUICE_BASE_URL, SLUICE_API_KEY set. Exits non-zero on a failed check.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.SLUICE_BASE_URL, apiKey: process.env.SLUICE_API_KEY, maxRetries: 0 });

function check(name, cond, detail = "") {
  if (!cond) {
    console.log(`FAIL ${name}`, detail);
    process.exit(1);
  }
  console.log(`ok   ${name}`);
}

const chatRoutes = { openai: "gpt-4o", "cloudflare-native": "llama-3.1-8b" };
const embeddingRoutes = { openai: ["text-embedding-3-large", 3072], "cloudflare-native": ["text-embedding-3-small", 768] };

for (const [route, model] of Object.entries(chatRoutes)) {
  const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Say hello" }] });
  check(`chat [${route}]`, r.choices[0].message.content && r.usage.total_tokens > 0, r);

  const stream = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Tell me a story" }], stream: true });
  const pieces = [];
  for await (const chunk of stream) {
    if (chunk.choices.length) pieces.push(chunk.choices[0].delta.content ?? "");
  }
  check(`streaming [${route}]`, pieces.length >= 3 && pieces.join("").length > 0, pieces);

  try {
    await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], mock: { status: 429 } });
    check(`upstream 429 raises [${route}]`, false);
  } catch (e) {
    check(`upstream 429 -> RateLimitError [${route}]`, e instanceof OpenAI.RateLimitError && e.status === 429, e);
  }
}

for (const [route, [model, dims]] of Object.entries(embeddingRoutes)) {
  const r = await client.embeddings.create({ model, input: ["first", "second"] });
  check(`embeddings [${route}]`, r.data.length === 2 && r.data[0].embedding.length === dims, r.data[0].embedding.length);
}

try {
  await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] });
  check("unknown model raises", false);
} catch (e) {
  check("unknown model -> NotFoundError", e instanceof OpenAI.NotFoundError && e.status === 404, e);
}

try {
  await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], temperature: "hot" });
  check("bad type raises", false);
} catch (e) {
  check("bad type -> BadRequestError", e instanceof OpenAI.BadRequestError && e.param === "temperature", e);
}

try {
  await new OpenAI({ baseURL: process.env.SLUICE_BASE_URL, apiKey: "sk-wrong", maxRetries: 0 }).models.list();
  check("bad key raises", false);
} catch (e) {
  check("bad key -> AuthenticationError", e instanceof OpenAI.AuthenticationError, e);
}

console.log("node sdk: all checks passed");
