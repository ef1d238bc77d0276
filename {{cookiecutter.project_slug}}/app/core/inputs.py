"""Bounds on the work a request can cause before validation, and text a database can store.

Everything here runs before a view's input is validated, so that no request,
however it is built, costs more than a few milliseconds to refuse:

- a URL longer than ``MAX_URL_LENGTH`` answers 414;
- a body longer than ``MAX_CONTENT_LENGTH`` answers 413 (Flask reads no further);
- a JSON body nested deeper than ``MAX_JSON_DEPTH`` or holding more than
  ``MAX_JSON_KEYS`` object members answers 400, before any model sees it;
- a string that a text column cannot hold (NUL, which PostgreSQL refuses, or an
  unpaired surrogate, which no UTF-8 column can encode) answers 422, wherever it
  is: body, query string or path (:func:`unstorable_text`, called by
  ``app.core.openapi.validate`` for every view).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask, Request, request
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from app.core.config import Settings
from app.core.exceptions import APIError

#: Characters no text column stores: NUL, and the surrogates UTF-8 cannot encode.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


#: Text that is neither blank nor padded: it starts and ends with a visible
#: character. ASCII whitespace only, so that every regular expression engine
#: (the server's, a client's, a test generator's) reads the pattern alike.
TRIMMED_PATTERN = r"^[^\t\n\v\f\r \x00](?:[^\x00]*[^\t\n\v\f\r \x00])?$"
_TRIMMED = re.compile(TRIMMED_PATTERN)


def _require_trimmed(value: str) -> str:
    if not _TRIMMED.fullmatch(value):
        raise PydanticCustomError(
            "string_not_trimmed", "Text must not be blank, nor start or end with whitespace."
        )
    return value


#: Add to a name or a title, which is stored exactly as sent: it is refused when
#: blank or padded with whitespace (``"Lamp "`` and ``"Lamp"`` would look like one
#: name), and the OpenAPI document says so::
#:
#:     name: Annotated[str, Field(min_length=1, max_length=200, **TRIMMED_FIELD), TRIMMED]
TRIMMED = AfterValidator(_require_trimmed)
TRIMMED_FIELD: dict[str, Any] = {"json_schema_extra": {"pattern": TRIMMED_PATTERN}}


class JSONTooComplexError(ValueError):
    """A JSON body nested too deeply or with too many members.

    A ``ValueError``, so Flask treats it as any undecodable body (and
    ``get_json(silent=True)`` returns None).
    """


class BoundedJSON:
    """The ``json_module`` of requests: ``json.loads`` with limits on depth and size."""

    def __init__(self, *, max_depth: int, max_keys: int) -> None:
        self.max_depth = max_depth
        self.max_keys = max_keys

    def loads(self, text: str | bytes, **kwargs: Any) -> Any:
        try:
            value = json.loads(text, **kwargs)
        except RecursionError:
            # The parser gave up on a document nested deeper than Python recurses.
            raise JSONTooComplexError(self._too_deep()) from None
        self.check(value)
        return value

    def dumps(self, value: Any, **kwargs: Any) -> str:
        return json.dumps(value, **kwargs)

    def check(self, value: Any) -> None:
        """Raise :class:`JSONTooComplexError` if ``value`` is too deep or too large."""
        keys = 0
        stack = [(value, 1)]
        while stack:
            node, depth = stack.pop()
            if isinstance(node, dict):
                keys += len(node)
                children = node.values()
            elif isinstance(node, list):
                children = node  # type: ignore[assignment]
            else:
                continue
            if depth > self.max_depth:
                raise JSONTooComplexError(self._too_deep())
            if keys > self.max_keys:
                raise JSONTooComplexError(
                    f"The JSON body has more than {self.max_keys} object members (MAX_JSON_KEYS)."
                )
            stack.extend((child, depth + 1) for child in children)

    def _too_deep(self) -> str:
        return f"The JSON body is nested deeper than {self.max_depth} levels (MAX_JSON_DEPTH)."


def unstorable_text(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The dotted paths of every string (key or value) in ``value`` that holds a
    character no text column can store."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, path)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, str):
            if UNSTORABLE.search(node):
                yield tuple(str(part) for part in at)
        elif isinstance(node, dict):
            for key, child in node.items():
                if isinstance(key, str) and UNSTORABLE.search(key):
                    yield tuple(str(part) for part in (*at, key))
                stack.append((child, (*at, key)))
        elif isinstance(node, list):
            stack.extend((child, (*at, index)) for index, child in enumerate(node))


def _check_url_length(limit: int) -> Any:
    def check() -> None:
        # What the client sent: the path as it arrived (still percent-encoded) and
        # the query string.
        path = request.environ.get("RAW_URI") or request.full_path
        if len(path) > limit:
            raise APIError(
                f"The URL is longer than {limit} characters (MAX_URL_LENGTH).",
                code="URI_TOO_LONG",
                status=414,
            )

    return check


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["settings"]
    bounded = BoundedJSON(max_depth=settings.MAX_JSON_DEPTH, max_keys=settings.MAX_JSON_KEYS)

    class APIRequest(Request):
        @property
        def json_module(self) -> Any:
            """How a request body is parsed (Flask sets the app's JSON provider on
            every request; this keeps the bounded parser, which still returns
            what the provider would)."""
            return bounded

        @json_module.setter
        def json_module(self, provider: Any) -> None:
            del provider  # responses keep using the app's provider

        def on_json_loading_failed(self, e: ValueError | None) -> Any:
            if isinstance(e, JSONTooComplexError):
                raise APIError(str(e), code="JSON_TOO_COMPLEX", status=400) from e
            return super().on_json_loading_failed(e)

    app.request_class = APIRequest
    app.before_request(_check_url_length(settings.MAX_URL_LENGTH))
