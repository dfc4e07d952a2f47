"""The official `openai` Python SDK against a running Sluice, unchanged but for base_url and key.

Run by `tests/sdk.rs` with SLUICE_BASE_URL, SLUICE_API_KEY and MOCK_URL set. Exits non-zero on
the first failed check; prints one line per check.
"""

import asyncio
import json
import os
import sys
import urllib.request
import uuid

import openai
from openai import AsyncOpenAI, OpenAI

BASE_URL = os.environ["SLUICE_BASE_URL"]
API_KEY = os.environ["SLUICE_API_KEY"]
MOCK_URL = os.environ["MOCK_URL"]

CHAT_ROUTES = {"openai": "gpt-4o", "cloudflare-native": "llama-3.1-8b"}
EMBEDDING_ROUTES = {"openai": ("text-embedding-3-large", 3072), "cloudflare-native": ("text-embedding-3-small", 768)}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def mock_call_count() -> int:
    with urllib.request.urlopen(f"{MOCK_URL}/__mock/calls") as resp:
        return len(json.load(resp))


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def sync_checks(client: OpenAI):
    for route, model in CHAT_ROUTES.items():
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hello"}])
        check(f"sync chat [{route}]", r.choices[0].message.content and r.object == "chat.completion", r)
        check(f"usage [{route}]", r.usage is not None and r.usage.total_tokens > 0, r.usage)

        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Tell me a story"}], stream=True
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        check(f"streaming [{route}]", len(pieces) >= 3 and "".join(pieces), pieces)

        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        check(f"stream usage chunk [{route}]", chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0, chunks[-1])

        r = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "What's the weather in Paris?"}],
            tools=[WEATHER_TOOL],
            extra_body={"mock": {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}},
        )
        calls = r.choices[0].message.tool_calls
        check(f"tool call [{route}]", calls and calls[0].function.name == "get_weather", r)
        check(f"tool call arguments [{route}]", json.loads(calls[0].function.arguments) == {"city": "Paris"}, calls)

    for route, (model, dims) in EMBEDDING_ROUTES.items():
        r = client.embeddings.create(model=model, input=["first text", "second text"])  # SDK asks base64
        check(f"embeddings base64 default [{route}]", len(r.data) == 2 and len(r.data[0].embedding) == dims, len(r.data[0].embedding))
        check(f"embeddings are floats [{route}]", all(isinstance(x, float) for x in r.data[1].embedding[:5]))
        r = client.embeddings.create(model=model, input="one", encoding_format="float")
        check(f"embeddings float [{route}]", len(r.data[0].embedding) == dims)

    models = client.models.list()
    ids = {m.id for m in models}
    check("models.list", {"gpt-4o", "llama-3.1-8b"} <= ids, ids)
    check("models.retrieve", client.models.retrieve("gpt-4o").id == "gpt-4o")


def cache_checks(client: OpenAI):
    """Repeated deterministic requests are answered from Sluice's cache, unchanged for the SDK."""
    for route, model in CHAT_ROUTES.items():
        messages = [{"role": "user", "content": f"What is the capital of Peru? {uuid.uuid4()}"}]
        before = mock_call_count()
        raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, temperature=0)
        first = raw.parse()
        check(f"cache miss header [{route}]", raw.headers.get("x-sluice-cache") == "MISS", raw.headers)
        raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, temperature=0)
        second = raw.parse()
        check(f"cache hit header [{route}]", raw.headers.get("x-sluice-cache") == "HIT", raw.headers)
        check(f"cache hit content [{route}]", second.choices[0].message.content == first.choices[0].message.content)
        check(f"cache hit has its own id [{route}]", second.id != first.id and second.id.startswith("chatcmpl-"))
        check(f"cache hit: one upstream call [{route}]", mock_call_count() == before + 1)

        before = mock_call_count()
        streams = [
            list(client.chat.completions.create(model=model, messages=messages + [{"role": "user", "content": "more"}], temperature=0, stream=True))
            for _ in range(2)
        ]
        texts = ["".join(c.choices[0].delta.content or "" for c in s if c.choices) for s in streams]
        check(f"cached stream replays every chunk [{route}]", len(streams[0]) == len(streams[1]) >= 3, [len(s) for s in streams])
        check(f"cached stream content [{route}]", texts[0] == texts[1] and texts[0], texts)
        check(f"cached stream: one upstream call [{route}]", mock_call_count() == before + 1)

    for route, (model, dims) in EMBEDDING_ROUTES.items():
        a, b, c = (f"{w} {uuid.uuid4()}" for w in ("apple", "banana", "cherry"))
        first = client.embeddings.create(model=model, input=[a, b])
        before = mock_call_count()
        second = client.embeddings.create(model=model, input=[c, b, a])
        calls = json.load(urllib.request.urlopen(f"{MOCK_URL}/__mock/calls"))
        sent = calls[-1]["body"].get("input", calls[-1]["body"].get("text"))
        check(f"embeddings: only the miss went upstream [{route}]", mock_call_count() == before + 1 and sent == [c], sent)
        check(
            f"embeddings: cached vectors in order [{route}]",
            [d.index for d in second.data] == [0, 1, 2]
            and second.data[1].embedding == first.data[1].embedding
            and second.data[2].embedding == first.data[0].embedding
            and len(second.data[0].embedding) == dims,
        )


def error_checks():
    client = OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0)
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
        check("unknown model raises", False)
    except openai.NotFoundError as e:
        check("unknown model -> NotFoundError", e.status_code == 404 and e.code == "model_not_found", e)

    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "wizard", "content": "hi"}])
        check("bad role raises", False)
    except openai.BadRequestError as e:
        check("bad role -> BadRequestError", e.status_code == 400 and e.param == "messages[0].role", e)

    try:
        OpenAI(base_url=BASE_URL, api_key="sk-not-a-real-key", max_retries=0).models.list()
        check("bad key raises", False)
    except openai.AuthenticationError as e:
        check("bad key -> AuthenticationError", e.status_code == 401, e)

    for route, model in CHAT_ROUTES.items():
        try:
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], extra_body={"mock": {"status": 429}}
            )
            check(f"upstream 429 raises [{route}]", False)
        except openai.RateLimitError as e:
            check(f"upstream 429 -> RateLimitError [{route}]", e.status_code == 429, e)

    before = mock_call_count()
    try:
        list(
            client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "story"}],
                stream=True,
                extra_body={"mock": {"completion_tokens": 30, "drop_after_chunks": 3}},
            )
        )
        check("mid-stream failure raises", False)
    except openai.APIError as e:
        check("mid-stream failure -> APIError", "upstream" in str(e).lower() or e.message, e)
    check("mid-stream failure not retried", mock_call_count() == before + 1)


async def async_checks():
    client = AsyncOpenAI(base_url=BASE_URL, api_key=API_KEY)
    for route, model in CHAT_ROUTES.items():
        r = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi async"}])
        check(f"async chat [{route}]", bool(r.choices[0].message.content))
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Stream async"}], stream=True
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        check(f"async streaming [{route}]", len(pieces) >= 3, pieces)
    r = await client.embeddings.create(model="text-embedding-3-small", input="async")
    check("async embeddings", len(r.data[0].embedding) == 768)
    await client.close()


def main():
    print(f"openai-python {openai.__version__}")
    sync_checks(OpenAI(base_url=BASE_URL, api_key=API_KEY))
    cache_checks(OpenAI(base_url=BASE_URL, api_key=API_KEY))
    error_checks()
    asyncio.run(async_checks())
    print("python sdk: all checks passed")


if __name__ == "__main__":
    main()
