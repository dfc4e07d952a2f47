"""The official `openai` Python SDK (default retries on) against Sluice with a flaky upstream: the
user sees no error, and each SDK call reaches Sluice exactly once — also when Sluice gives up
(it answers x-should-retry: false). Run by tests/resilience.rs."""

import json
import os
import re
import sys
import urllib.request

import openai
from openai import OpenAI

BASE_URL = os.environ["SLUICE_BASE_URL"]
MOCK_URL = os.environ["MOCK_URL"]
client = OpenAI(base_url=BASE_URL, api_key=os.environ["SLUICE_API_KEY"])  # max_retries=2 (default)


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def push_faults(*faults):
    req = urllib.request.Request(f"{MOCK_URL}/__mock/faults", data=json.dumps(list(faults)).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()


def sluice_requests(model: str) -> float:
    text = urllib.request.urlopen(BASE_URL.removesuffix("/v1") + "/metrics").read().decode()
    pattern = r'^sluice_requests_total\{[^}]*model="' + re.escape(model) + r'"[^}]*\} (\S+)$'
    return sum(float(m) for m in re.findall(pattern, text, re.M))


before = sluice_requests("chain")
push_faults({"status": 503}, {"status": 429}, {"reset": True})
r = client.chat.completions.create(model="chain", messages=[{"role": "user", "content": "hello"}])
check("flaky upstream: the user sees an answer", bool(r.choices[0].message.content), r)
check("flaky upstream: one call to Sluice", sluice_requests("chain") - before == 1)

before = sluice_requests("single")
push_faults(*[{"status": 503}] * 3)
try:
    client.chat.completions.create(model="single", messages=[{"role": "user", "content": "hello"}])
    check("gave up: error raised", False)
except openai.InternalServerError as e:
    check("gave up: InternalServerError with x-should-retry false", e.response.headers.get("x-should-retry") == "false", e)
check("gave up: the SDK did not retry on top (one call to Sluice)", sluice_requests("single") - before == 1,
      sluice_requests("single") - before)
print("python sdk flaky upstream: all checks passed")
