"""The pieces of lib/httpguard that need no server: limits from the environment, the log
throttle, and that app.py's hook only acts inside a loading uvicorn."""

from __future__ import annotations

import logging

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from lib.httpguard import Limits, RepeatFilter, guard_loading_uvicorn, is_guarded


@pytest.mark.parametrize(
    "env, timeout, cap",
    [
        ({"GIFTRUN_REQUEST_TIMEOUT": "5", "GIFTRUN_MAX_CONNECTIONS": "100"}, 5.0, 100),
        ({"GIFTRUN_REQUEST_TIMEOUT": "nan", "GIFTRUN_MAX_CONNECTIONS": "-3"}, 30.0, None),
        ({"GIFTRUN_REQUEST_TIMEOUT": "inf", "GIFTRUN_MAX_CONNECTIONS": "lots"}, 30.0, None),
        ({"GIFTRUN_REQUEST_TIMEOUT": "0"}, 30.0, None),
        ({}, 30.0, None),
    ],
)
def test_limits_from_env_ignore_nonsense(env, timeout, cap):
    limits = Limits.from_env(env)
    assert limits.request_timeout == timeout
    assert limits.max_connections == cap if cap else 64 <= limits.max_connections <= 4096


def _record(msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, msg, args, None)


def test_a_repeated_message_is_let_through_once_and_counted():
    f = RepeatFilter()
    passed = [f.filter(_record("Invalid HTTP request received.")) for _ in range(5000)]
    assert passed.count(True) == 1


def test_distinct_messages_are_capped_per_minute():
    f = RepeatFilter(per_minute=60)
    passed = sum(f.filter(_record("webhook refused: %s", i)) for i in range(5000))
    assert passed == 60


def test_the_hook_does_nothing_outside_a_loading_uvicorn():
    assert guard_loading_uvicorn(Limits()) is False


def test_the_hook_guards_the_config_that_imports_it():
    config = uvicorn.Config("x:app", backlog=2048)
    config.http_protocol_class = H11Protocol

    class Loader:  # stands for uvicorn.Config.load importing app.py: `self` is the Config
        def load(self):
            return guard_loading_uvicorn(Limits(backlog=100))

    def load(self):  # noqa: ANN001 - the frame's `self` is what the hook looks for
        return Loader().load()

    assert load(config) is True
    assert is_guarded(config.http_protocol_class) and issubclass(config.http_protocol_class, H11Protocol)
    assert config.backlog == 100
