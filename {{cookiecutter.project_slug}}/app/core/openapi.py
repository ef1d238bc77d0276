"""Request validation and the OpenAPI document, from the same Pydantic models.

Views declare their inputs with type hints and their output with ``@validate``::

    @bp.post("")
    @validate(data=WidgetPublic, status=201, errors=[409])
    def create_widget(json: WidgetCreate) -> Response: ...

    @bp.get("/<widget_id>")
    @validate(data=WidgetPublic, errors=[404])
    def get_widget(widget_id: WidgetId) -> Response: ...

``json`` is the request body, ``query`` the query string, and every other
annotated argument a path parameter. Invalid input answers 422 with one entry
per field; the body must be a JSON object sent as ``application/json``. A view
may answer with a streamed ``Response`` (server-sent events, say) instead of
the documented envelope: that one is passed through as it is.

Before any model sees the input, two rules hold for every view: text that a
database cannot store (NUL, unpaired surrogates) is refused wherever it is, and
an integer in the path or the query string is plain decimal digits (``1``, not
``1.0``, ``+1``, ``01`` or `` 1``), so one resource has one URL.

SpecTree writes the document from the models each ``@validate`` registers;
the validation itself calls Pydantic with those models directly (SpecTree's own
wrapper collects every header and cookie, then serializes the response again
to check it, on every request). This module adds what a JSON API needs on top:
the envelope as the documented response, errors as ``APIError`` with one entry
per field, Pydantic path parameters, and strict body checks (400 malformed, 415
wrong content type). A response that breaks its documented schema is a bug: 500.
"""

from __future__ import annotations

import copy
import functools
import html
import inspect
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from flask import Blueprint, Flask, Response, current_app, request, send_from_directory
from pydantic import BaseModel, ValidationError, create_model
from spectree import Response as ResponseSpec
from spectree import SpecTree
from spectree.utils import get_multidict_items
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, UnsupportedMediaType
from werkzeug.routing import Rule

from app.core.access import public
from app.core.exceptions import APIError, BadRequestError, ValidationFailedError
from app.core.inputs import unstorable_text
from app.core.responses import ErrorResponse, FieldError, Location, SuccessResponse
from app.version import __version__

F = TypeVar("F", bound=Callable[..., Any])

#: Argument names SpecTree fills from the request; any other annotated argument
#: of a view is a path parameter.
REQUEST_PARTS: dict[str, Location] = {"json": "body", "query": "query"}
#: Statuses every validated operation documents with the error envelope: a URL
#: over MAX_URL_LENGTH, an unexpected error, a dependency that is unavailable.
ALWAYS_DOCUMENTED = (414, 500, 503)
#: An integer as a path or query parameter: decimal digits, nothing else.
PLAIN_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


def schema_name(model: type[BaseModel]) -> str:
    """Component name of a model: ``SuccessResponse[WidgetPublic]`` -> ``WidgetPublicResponse``."""
    generic = getattr(model, "__pydantic_generic_metadata__", None)
    if generic and generic["origin"] is SuccessResponse:
        (argument,) = generic["args"]
        return f"{getattr(argument, '__name__', 'Data')}Response"
    return re.sub(r"[^A-Za-z0-9_]", "", model.__name__)


spec = SpecTree(
    "flask",
    mode="strict",
    validation_error_status=422,
    validation_error_model=ErrorResponse,
    naming_strategy=schema_name,
    nested_naming_strategy=lambda _parent, child: child,
)


def field_errors(exc: ValidationError, location: Location) -> list[FieldError]:
    """One ``FieldError`` per problem Pydantic found."""
    return [
        FieldError(
            location=location,
            field=".".join(str(part) for part in problem["loc"]) or "(root)",
            message=problem["msg"],
            type=problem["type"],
        )
        for problem in exc.errors(include_url=False, include_input=False)
    ]


def _validated(model: type[BaseModel], values: Any, location: Location) -> BaseModel:
    """``values`` as an instance of ``model``, or the 422 that lists what is wrong."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ValidationFailedError(details=field_errors(exc, location)) from exc


def _unstorable_errors(value: Any, location: Location) -> list[FieldError]:
    return [
        FieldError(
            location=location,
            field=".".join(path) or "(root)",
            message="Text must not contain NUL or unpaired surrogate characters.",
            type="string_unstorable_character",
        )
        for path in unstorable_text(value)
    ]


def _is_integer(annotation: Any) -> bool:
    """Whether a field annotated ``annotation`` holds an int (``int``, ``int | None``)."""
    if annotation is int:
        return True
    return get_origin(annotation) in (Union, types.UnionType) and int in get_args(annotation)


def _loose_integers(
    values: Mapping[str, Any], model: type[BaseModel], location: Location
) -> list[FieldError]:
    """An entry for each integer field of ``model`` whose raw value in ``values``
    is not plain decimal digits (Pydantic alone would take ``1.0``, ``+1``, `` 1``)."""
    return [
        FieldError(
            location=location,
            field=name,
            message="Input should be an integer in plain decimal digits.",
            type="int_parsing",
        )
        for name, field in model.model_fields.items()
        if _is_integer(field.annotation)
        and isinstance(raw := values.get(field.alias or name), str)
        and not PLAIN_INTEGER.fullmatch(raw)
    ]


def _check_raw_input(values: Mapping[str, Any], model: type[BaseModel], location: Location) -> None:
    """Refuse unstorable text and loose integers in path or query values."""
    # Every value of a repeated query parameter, not only the first.
    pairs = values.items(multi=True) if isinstance(values, MultiDict) else values.items()
    problems = [
        FieldError(
            location=location,
            field=str(name),
            message="Text must not contain NUL or unpaired surrogate characters.",
            type="string_unstorable_character",
        )
        for name, value in pairs
        if any(unstorable_text([name, value]))
    ]
    problems += _loose_integers(values, model, location)
    if problems:
        raise ValidationFailedError(details=problems)


def _require_json_object() -> dict[str, Any]:
    """The request body; refused if it is not a JSON object sent as
    ``application/json``, or if it holds text no database can store."""
    try:
        body = request.get_json()
    except UnsupportedMediaType as exc:
        raise APIError(
            "Send the request body as JSON with 'Content-Type: application/json'.",
            code="UNSUPPORTED_MEDIA_TYPE",
            status=415,
        ) from exc
    except BadRequest as exc:
        raise BadRequestError("The request body is not valid JSON.", code="MALFORMED_JSON") from exc
    if not isinstance(body, dict):
        raise ValidationFailedError(
            details=[
                FieldError(
                    location="body",
                    field="(root)",
                    message="The request body must be a JSON object.",
                    type="dict_type",
                )
            ]
        )
    if problems := _unstorable_errors(body, "body"):
        raise ValidationFailedError(details=problems)
    return body


def _path_model(view: Callable[..., Any]) -> type[BaseModel] | None:
    """A model of the view's annotated path parameters, or None if it has none."""
    hints = get_type_hints(view, include_extras=True)
    fields = {
        name: (
            hints[name],
            ... if parameter.default is inspect.Parameter.empty else parameter.default,
        )
        for name, parameter in inspect.signature(view).parameters.items()
        if name in hints and name not in REQUEST_PARTS
    }
    if not fields:
        return None
    return create_model(f"{view.__name__}_path", **fields)  # type: ignore[call-overload,no-any-return]


def validate(
    *,
    data: Any = None,
    status: int = 200,
    errors: Iterable[int] = (),
    tags: Iterable[str] = (),
) -> Callable[[F], F]:
    """Validate a view's input and document its responses.

    :param data: The type of ``data`` in the success envelope (None for no body).
    :param status: The success status code.
    :param errors: Error statuses the view can answer besides the ones every
        operation documents (422 for invalid input, 500).
    :param tags: OpenAPI tags of the operation.
    """

    def decorator(view: F) -> F:
        hints = get_type_hints(view)
        inputs = {name: hints[name] for name in REQUEST_PARTS if name in hints}
        path_model = _path_model(view)

        documented = set(errors) | set(ALWAYS_DOCUMENTED)
        if inputs or path_model:
            documented.add(422)
        if "json" in inputs:
            documented.update({400, 413, 415})
        responses: dict[str, Any] = {f"HTTP_{code}": ErrorResponse for code in sorted(documented)}
        responses[f"HTTP_{status}"] = None if data is None else SuccessResponse[data]

        # SpecTree registers the operation for the document; the wrapper below
        # validates the request and the response itself, with the same models,
        # without SpecTree's per-request machinery (it rebuilds the response).
        documented_view = spec.validate(resp=ResponseSpec(**responses), tags=list(tags))(view)
        query_model, json_model = inputs.get("query"), inputs.get("json")
        response_models = {
            int(code.removeprefix("HTTP_")): model for code, model in responses.items() if model
        }

        @functools.wraps(documented_view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if path_model is not None:
                _check_raw_input(kwargs, path_model, "path")
                kwargs.update(dict(_validated(path_model, kwargs, "path")))
            if query_model is not None:
                _check_raw_input(request.args, query_model, "query")
            body = _require_json_object() if json_model is not None else None
            if query_model is not None:
                values = get_multidict_items(request.args, query_model)
                kwargs["query"] = _validated(query_model, values, "query")
            if json_model is not None:
                kwargs["json"] = _validated(json_model, body, "body")
            response = current_app.make_response(view(*args, **kwargs))
            model = response_models.get(response.status_code)
            # A streamed response is passed on as it is: reading it would consume it.
            if model is not None and not response.is_streamed:
                try:
                    model.model_validate_json(response.get_data())
                except ValidationError as exc:
                    # The view broke its own contract: a bug, so a 500 with the details logged.
                    raise RuntimeError(f"Response does not match its schema: {exc}") from exc
            return response

        wrapper.__path_model__ = path_model  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def _openapi_path(rule: str) -> str:
    """``/widgets/<int:widget_id>`` -> ``/widgets/{widget_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def operations(
    document: dict[str, Any], app: Flask
) -> Iterator[tuple[Rule, Callable[..., Any], dict[str, Any]]]:
    """Each documented operation with the URL rule and the view that serve it."""
    for rule in app.url_map.iter_rules():
        documented = document["paths"].get(_openapi_path(rule.rule), {})
        for method in sorted(rule.methods or ()):
            if method.lower() in documented:
                yield rule, app.view_functions[rule.endpoint], documented[method.lower()]


def add_document_hook(app: Flask, hook: Callable[[dict[str, Any], Flask], None]) -> None:
    """Let a module edit the OpenAPI document once it is built (security schemes, ...)."""
    app.extensions["openapi_hooks"].append(hook)


def _document_path_parameters(document: dict[str, Any], app: Flask) -> None:
    """Replace the plain-string path parameters SpecTree infers from the URL rule
    with the schemas of the views' Pydantic path parameters."""
    for _rule, view, operation in operations(document, app):
        model = getattr(view, "__path_model__", None)
        if model is None:
            continue
        properties = model.model_json_schema()["properties"]
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] in properties:
                parameter["schema"] = properties[parameter["name"]]


def document_error(
    app: Flask, endpoint: str, status: int, *, headers: dict[str, Any] | None = None
) -> None:
    """Document that ``endpoint`` can also answer ``status`` with the error envelope.

    For errors that come from a hook around the view rather than the view
    itself (a rate limit, say), so ``@validate`` cannot know them.
    """
    documented = app.extensions.setdefault("openapi_errors", {})
    documented.setdefault(endpoint, {})[status] = headers or {}


def error_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI response object for the error envelope."""
    response: dict[str, Any] = {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"}
            }
        },
    }
    if headers:
        response["headers"] = headers
    return response


def _document_errors(document: dict[str, Any], app: Flask) -> None:
    extra: dict[str, dict[int, dict[str, Any]]] = app.extensions.get("openapi_errors", {})
    for rule, _view, operation in operations(document, app):
        for status, headers in extra.get(rule.endpoint, {}).items():
            operation["responses"][str(status)] = error_response(HTTPStatus(status).phrase, headers)


#: What each error status means, as every operation that can answer it documents it.
STATUS_DESCRIPTIONS = {
    400: "The body is not JSON, or is nested deeper or holds more members than the "
    "server allows (MAX_JSON_DEPTH, MAX_JSON_KEYS).",
    413: "The body is larger than the server allows (MAX_CONTENT_LENGTH).",
    414: "The URL is longer than the server allows (MAX_URL_LENGTH).",
    415: "The body is not sent as 'Content-Type: application/json'.",
    422: "The input is not valid; error.details lists the problems (the first 20). "
    "Text anywhere in the input must not contain NUL (U+0000) or unpaired surrogate "
    "characters, and integers in the path and the query string are plain decimal digits.",
    500: "An unexpected error; quote the request_id when you report it.",
    503: "A service the request needs is unavailable or busy; retry after Retry-After s.",
}


def _describe_statuses(document: dict[str, Any]) -> None:
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) in STATUS_DESCRIPTIONS:
                    response["description"] = STATUS_DESCRIPTIONS[int(status)]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the current app (built once per app)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if "openapi" not in app.extensions:
        settings = app.extensions["settings"]
        # SpecTree caches its document on the instance, and building it consumes
        # the nested model definitions. Build from a copy, per app, so every app
        # gets a complete document of its own URL map.
        builder = copy.copy(spec)
        builder.models = copy.deepcopy(spec.models)
        document = copy.deepcopy(builder.spec)
        document["info"] = {
            "title": settings.PROJECT_NAME,
            "version": __version__,
            "description": settings.PROJECT_DESCRIPTION,
        }
        _document_path_parameters(document, app)
        _document_errors(document, app)
        for hook in app.extensions["openapi_hooks"]:
            hook(document, app)
        _describe_statuses(document)
        app.extensions["openapi"] = document
    built: dict[str, Any] = app.extensions["openapi"]
    return built


docs = Blueprint("docs", __name__, url_prefix="/api/v1")

#: Swagger UI's own files, as the flask-swagger-ui package ships them: the docs
#: page loads nothing from another site, so it works offline and behind a firewall.
SWAGGER_UI_FILES = Path(str(files("flask_swagger_ui") / "dist"))
SWAGGER_UI_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>$title</title>
  <link rel="stylesheet" href="$files/swagger-ui.css">
  <link rel="icon" type="image/png" href="$files/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="$files/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "$document", dom_id: "#swagger-ui", deepLinking: true });
  </script>
</body>
</html>
""")


@docs.get("/openapi.json")
@public
def openapi_json() -> Any:
    """The OpenAPI document."""
    return openapi_document()


@docs.get("/docs")
@public
def swagger_ui() -> str:
    """Interactive API documentation (Swagger UI)."""
    settings = current_app.extensions["settings"]
    return SWAGGER_UI_PAGE.substitute(
        title=html.escape(f"{settings.PROJECT_NAME}: API documentation"),
        files="/api/v1/docs/files",
        document="/api/v1/openapi.json",
    )


@docs.get("/docs/files/<path:name>")
@public
def swagger_ui_file(name: str) -> Response:
    """A file of Swagger UI (script, style sheet, icon)."""
    return send_from_directory(SWAGGER_UI_FILES, name, max_age=86400)


def init_app(app: Flask) -> None:
    app.extensions["openapi_hooks"] = []
    if app.extensions["settings"].api_docs_enabled:
        app.register_blueprint(docs)
