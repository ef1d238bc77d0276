"""Without auth, the AI quota is per client address."""

from __future__ import annotations

from tests.conftest import MakeApp
from tests.fixtures.ai import GENERATE
from tests.test_ai_limits import exact


def test_each_address_has_a_quota_of_its_own(make_app: MakeApp) -> None:
    client = exact(make_app, AI_RATE_LIMIT="1/minute").test_client()

    def from_address(address: str) -> int:
        return client.post(
            GENERATE, json={"prompt": "hi"}, environ_base={"REMOTE_ADDR": address}
        ).status_code

    assert [from_address("203.0.113.1") for _ in range(2)] == [200, 429]
    assert from_address("203.0.113.2") == 200
