"""The AI client and settings: provider choice, production guards, structured output
with a Pydantic model, and slots freed when a stream is abandoned."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from app import create_app
from app.core.ai import get_ai
from app.core.ai.base import Message, StreamEnd, TextDelta, close_stream
from app.core.ai.client import Call
from app.core.ai.errors import AIBusyError
from app.core.ai.registry import PROVIDERS, provider_name
from app.core.ai.structured import validate_reply
from app.core.config import ConfigurationError, Settings
from tests.support import PRODUCTION, make_settings

REAL_PROVIDER = next(name for name in PROVIDERS if name != "fake")


class Person(BaseModel):
    name: str = Field(min_length=1)
    age: int = Field(ge=0)


def production(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**PRODUCTION, **overrides})  # type: ignore[arg-type]


def test_without_a_key_the_fake_provider_is_chosen() -> None:
    assert provider_name(make_settings()) == "fake"
    assert provider_name(make_settings(AI_API_KEY="")) == "fake"


def test_with_a_key_the_shipped_provider_is_chosen() -> None:
    assert provider_name(make_settings(AI_API_KEY="sk-x")) == REAL_PROVIDER
    assert provider_name(make_settings(AI_API_KEY="sk-x", AI_PROVIDER="fake")) == "fake"


def test_an_unknown_provider_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="AI_PROVIDER must be one of: fake"):
        make_settings(AI_PROVIDER="skynet")


@pytest.mark.parametrize(
    "url", ["ftp://models.example", "file:///etc/passwd", "127.0.0.1:8000", "http://"]
)
def test_the_base_url_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError, match="AI_BASE_URL must be an http"):
        make_settings(AI_BASE_URL=url)


def test_production_accepts_a_real_provider_with_a_key() -> None:
    assert provider_name(production()) == REAL_PROVIDER


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [({"AI_PROVIDER": "fake"}, "AI_PROVIDER"), ({"AI_API_KEY": ""}, "AI_API_KEY")],
)
def test_production_refuses_the_fake_and_a_missing_key(
    overrides: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        production(**overrides)


def test_production_refuses_to_start_without_a_key() -> None:
    values = {key: value for key, value in PRODUCTION.items() if key != "AI_API_KEY"}
    with pytest.raises(ConfigurationError, match="AI_API_KEY must be set"):
        create_app(Settings(_env_file=None, **values))  # type: ignore[arg-type]


def test_the_key_never_appears_in_the_settings_repr() -> None:
    assert "sk-production-test-key" not in repr(production())


def test_a_pydantic_model_gives_a_validated_instance() -> None:
    app = create_app(make_settings())
    with app.app_context():
        result = get_ai().generate_object([Message("user", "Who?")], Person)
    assert result.value == Person(name="fake", age=0)
    assert not result.repaired


def test_pydantic_problems_name_the_field_not_the_reply() -> None:
    value, problems = validate_reply('{"name": "", "age": "old secret"}', Person)
    assert value is None
    assert [(p["path"], p["keyword"]) for p in problems] == [
        ("/name", "string_too_short"),
        ("/age", "int_parsing"),
    ]
    assert "secret" not in str(problems)


def test_a_reply_that_is_not_json_is_a_problem_too() -> None:
    value, problems = validate_reply("Sure! Here it is: {", {"type": "object"})
    assert value is None
    assert problems[0]["keyword"] == "json"
    assert "Sure" not in problems[0]["message"]


def test_an_abandoned_stream_frees_its_slot() -> None:
    app = create_app(make_settings(AI_MAX_CONCURRENT=1))
    with app.app_context():
        client = get_ai()
        events = client.stream([Message("user", "one two three")])
        assert isinstance(next(events), TextDelta)
        with pytest.raises(AIBusyError):
            client.generate([Message("user", "while streaming")])
        close_stream(events)  # what the server does when the client disconnects
        assert client.generate([Message("user", "after")]).text
        *_, end = client.stream([Message("user", "again")])
    assert isinstance(end, StreamEnd)


def test_listeners_hear_each_call_with_its_outcome_and_tokens() -> None:
    app = create_app(make_settings())
    heard: list[Call] = []
    with app.app_context():
        client = get_ai()
        client.on_call(heard.append)
        reply = client.generate([Message("user", "one two three")])
        *_, end = client.stream([Message("user", "four five")])
    assert [(call.provider, call.outcome, call.stream) for call in heard] == [
        ("fake", "ok", False),
        ("fake", "ok", True),
    ]
    assert isinstance(end, StreamEnd)
    assert (heard[0].usage, heard[1].usage) == (reply.usage, end.usage)
    assert heard[0].model == reply.model
    assert all(call.seconds >= 0 for call in heard)
