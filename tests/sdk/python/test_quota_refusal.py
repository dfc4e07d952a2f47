"""The official `openai` Python SDK meets Sluice's quota: RateLimitError, not retried, and the
caller's x-ratelimit-* headers decrease as the user spends. Run by tests/sdk.rs against a gateway
whose tier has a small monthly quota and per-minute limits."""

import os
import re
import sys
import urllib.request

import openai
from openai import OpenAI

BASE_URL = os.environ["SLUICE_BASE_URL"]
client = OpenAI(base_url=BASE_URL, api_key=os.environ["SLUICE_API_KEY"])  # default max_retries=2


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def refused_requests() -> float:
    text = urllib.request.urlopen(BASE_URL.removesuffix("/v1") + "/metrics").read().decode()
    return sum(float(m) for m in re.findall(r'^sluice_requests_total\{[^}]*status_class="4xx"[^}]*\} (\S+)$', text, re.M))


remaining = []
refused = None
for _ in range(40):
    try:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "Hello there"}]
        )
        remaining.append((int(raw.headers["x-ratelimit-remaining-tokens"]), int(raw.headers["x-sluice-quota-remaining-tokens"])))
        raw.parse()
    except openai.RateLimitError as e:
        refused = e
        break

check("quota refusal raises RateLimitError", refused is not None)
check("error code insufficient_quota", refused.code == "insufficient_quota", refused)
check("x-should-retry: false", refused.response.headers.get("x-should-retry") == "false")
tpm = [r[0] for r in remaining]
monthly = [r[1] for r in remaining]
check("x-ratelimit-remaining-tokens decreases", len(tpm) >= 2 and tpm[0] > tpm[-1], remaining)
check("x-sluice-quota-remaining-tokens decreases", monthly == sorted(monthly, reverse=True) and monthly[0] > monthly[-1], remaining)

before = refused_requests()
try:
    client.chat.completions.create(model="gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "Hello there"}])
    check("second refusal raises", False)
except openai.RateLimitError:
    pass
after = refused_requests()
check("the SDK did not retry the refusal (one request reached Sluice)", after - before == 1, (before, after))
print("python sdk quota: all checks passed")
