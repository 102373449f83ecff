"""An OpenAI-compatible chat completion, as a `gen_ai.chat` span.

Breadcrumbs and spans carry the model, status, latency and token counts,
never the prompt or the answer.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import sentry_sdk
from pydantic import SecretStr

from booty.http import make_client
from middleware import span

TIMEOUT = 60.0


class LLMError(Exception):
    """The LLM call failed: not configured, an HTTP error status, a timeout or a malformed body."""


class LLM:
    def __init__(self, api_url: str | None, api_key: SecretStr | None, model: str) -> None:
        self.model = model
        self.client = (
            None if api_url is None else make_client(api_url, token=api_key, timeout=TIMEOUT)
        )

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def chat(self, system: str, user: str) -> str:
        if self.client is None:
            raise LLMError("LLM_API_URL is not set")
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
        }
        with span("gen_ai.chat", f"chat {self.model}") as llm_span:
            crumb: dict[str, Any] = {"model": self.model}
            started = time.perf_counter()
            try:
                response = await self.client.post("/chat/completions", json=body)
                crumb["status_code"] = response.status_code
                if response.is_error:
                    raise LLMError(f"chat {self.model}: HTTP {response.status_code}")
                content, usage = _parse(response)
                # Not "input_tokens": Sentry scrubs any data key that says "token".
                crumb["usage"] = {k.removesuffix("_tokens"): v for k, v in usage.items()}
            except httpx.HTTPError as exc:
                crumb["error"] = type(exc).__name__
                raise LLMError(f"chat {self.model}: {type(exc).__name__}") from exc
            finally:
                crumb["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
                sentry_sdk.add_breadcrumb(category="llm", message="chat completion", data=crumb)
            if llm_span is not None:
                llm_span.set_data("gen_ai.request.model", self.model)
                for key, value in usage.items():
                    llm_span.set_data(f"gen_ai.usage.{key}", value)
            return content


def _parse(response: httpx.Response) -> tuple[str, dict[str, int]]:
    try:
        data = response.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError):
        raise LLMError("the answer has no choices[0].message.content") from None
    if not isinstance(content, str) or not content.strip():
        raise LLMError("choices[0].message.content is not a non-empty string")
    usage = data.get("usage") if isinstance(data, dict) else None
    tokens: dict[str, int] = {}
    if isinstance(usage, dict):
        for ours, theirs in (
            ("input_tokens", "prompt_tokens"),
            ("output_tokens", "completion_tokens"),
        ):
            if isinstance(usage.get(theirs), int):
                tokens[ours] = usage[theirs]
    return content, tokens
