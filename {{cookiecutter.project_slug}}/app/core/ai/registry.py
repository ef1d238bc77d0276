"""The providers this project ships, by the name ``AI_PROVIDER`` selects them with.

To add a provider, write ``app/core/ai/providers/<name>.py`` with a class that
satisfies :class:`~app.core.ai.base.AIProvider` and is built as
``Provider(settings, http_client=None)``, then add its line to ``PROVIDERS``.
Providers are imported only when selected, so an unused SDK costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr

from app.core.ai.base import AIProvider

if TYPE_CHECKING:
    import httpx2


class ProviderSettings(Protocol):
    """The settings that choose the provider; ``Settings`` has them. (A protocol,
    because ``Settings`` checks ``AI_PROVIDER`` against ``PROVIDERS``: importing
    it here would make the two modules import each other.)"""

    AI_PROVIDER: str | None
    AI_API_KEY: SecretStr | None


#: Provider name -> "module:class". The offline fake comes first; the first real
#: provider is the default when ``AI_PROVIDER`` is unset and ``AI_API_KEY`` is set.
PROVIDERS: dict[str, str] = {
    "fake": "app.core.ai.providers.fake:FakeProvider",
{%- if cookiecutter.ai_provider in ["openai", "both"] %}
    "openai": "app.core.ai.providers.openai:OpenAIProvider",
{%- endif %}
{%- if cookiecutter.ai_provider in ["anthropic", "both"] %}
    "anthropic": "app.core.ai.providers.anthropic:AnthropicProvider",
{%- endif %}
}


def provider_name(settings: ProviderSettings) -> str:
    """``AI_PROVIDER``; unset, the first real provider if there is a key, else ``fake``."""
    if settings.AI_PROVIDER:
        return settings.AI_PROVIDER
    if settings.AI_API_KEY is None or not settings.AI_API_KEY.get_secret_value():
        return "fake"
    return next(name for name in PROVIDERS if name != "fake")


def build_provider(
    settings: ProviderSettings, *, http_client: httpx2.Client | None = None
) -> AIProvider:
    """The provider ``settings`` select.

    :param http_client: The HTTP client the provider's SDK sends with (tests
        pass one over a mock transport); None lets the SDK make its own.
    """
    module_name, _, class_name = PROVIDERS[provider_name(settings)].partition(":")
    provider_class: Any = getattr(importlib.import_module(module_name), class_name)
    provider: AIProvider = provider_class(settings, http_client=http_client)
    return provider
