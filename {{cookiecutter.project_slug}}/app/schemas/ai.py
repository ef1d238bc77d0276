"""Request and response bodies of the AI API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field, model_validator

#: Longest prompt or message, in characters (the body limit applies as well).
MAX_TEXT_LENGTH = 100_000
MAX_MESSAGES = 100

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH)]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: Text


Messages = Annotated[
    list[ChatMessage],
    Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="A conversation, instead of a prompt; it needs at least one user turn.",
        json_schema_extra={"contains": {"properties": {"role": {"const": "user"}}}},
    ),
]


class GenerateRequest(BaseModel):
    """A prompt or a conversation, and how to answer it."""

    # Unknown fields are an error: a misspelled option should not be ignored.
    # The rules between fields, as the OpenAPI document states them: exactly one
    # of prompt and messages; no response_schema with stream.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["prompt"]}, {"required": ["messages"]}],
            "if": {"properties": {"stream": {"const": True}}, "required": ["stream"]},
            "then": {"properties": {"response_schema": {"type": "null"}}},
        },
    )

    prompt: Annotated[Text, Field(description="A single user turn.")] | MISSING = MISSING
    messages: Messages | MISSING = MISSING
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="One of the models the server allows; default: its configured model.",
    )
    max_tokens: int | None = Field(
        default=None, ge=1, description="Longest reply in tokens; at most the server's cap."
    )
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)  # not `false`
    response_schema: dict[str, Any] | None = Field(
        default=None,
        description="A JSON Schema: the reply is validated against it and returned as 'data'. "
        "References go by JSON pointer inside the schema ('#/$defs/name'); recursive "
        "schemas, 'pattern', 'patternProperties', '$id' and anchors are refused.",
    )
    stream: bool = Field(
        default=False, description="Answer with server-sent events, one per piece of text."
    )

    @model_validator(mode="after")
    def _check_combination(self) -> GenerateRequest:
        if (self.prompt is MISSING) == (self.messages is MISSING):
            raise ValueError("send either 'prompt' or 'messages'")
        if self.messages is not MISSING and not any(m.role == "user" for m in self.messages):
            raise ValueError("'messages' needs at least one user turn")
        if self.stream and self.response_schema is not None:
            raise ValueError(
                "'stream' cannot be combined with 'response_schema': "
                "a structured reply is validated whole"
            )
        return self


class GenerateLaterRequest(GenerateRequest):
    """A generation to answer later rather than now: it cannot stream."""

    stream: Literal[False] = Field(
        default=False, description="Always false: fetch the result once it is ready."
    )


class TokenUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class GenerateResult(BaseModel):
    """A reply: ``text``, or ``data`` when a ``response_schema`` was sent."""

    text: str | None = None
    data: Any = None
    model: str
    provider: str
    finish_reason: str = Field(description="'stop', 'length', or the provider's own reason.")
    usage: TokenUsage
