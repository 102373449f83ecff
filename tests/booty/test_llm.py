from __future__ import annotations

import httpx
import pytest
import respx

from booty.llm import LLM, LLMError

URL = "https://llm.test/v1"


async def test_without_an_url_the_call_fails_clearly() -> None:
    llm = LLM(None, None, "m")
    with pytest.raises(LLMError, match="LLM_API_URL is not set"):
        await llm.chat("system", "user")
    await llm.aclose()


@respx.mock
async def test_an_answer_without_usage_is_accepted() -> None:
    respx.post(f"{URL}/chat/completions").respond(
        json={"choices": [{"message": {"content": "plan"}}]}
    )
    llm = LLM(URL, None, "m")
    assert await llm.chat("system", "user") == "plan"
    await llm.aclose()


@respx.mock
@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"choices": [{"message": {"content": None}}]}),
        httpx.Response(200, json=[]),
        httpx.Response(200, text="not json"),
        httpx.Response(503),
    ],
)
async def test_errors_never_quote_the_answer(answer: httpx.Response) -> None:
    respx.post(f"{URL}/chat/completions").mock(return_value=answer)
    llm = LLM(URL, None, "m")
    with pytest.raises(LLMError) as caught:
        await llm.chat("system prompt", "user prompt")
    assert "not json" not in str(caught.value) and "prompt" not in str(caught.value)
    await llm.aclose()
