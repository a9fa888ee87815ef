"""Fixtures of the io tests: a local http server as the model zoo, and a private checkpoint cache."""
from __future__ import annotations

import pytest
from _zoo_server import ZooServer


@pytest.fixture()
def zoo_server(tmp_path, monkeypatch):
    """A ZooServer on 127.0.0.1 with SEGLAB_HOME in tmp_path (cache: ``server.cache``); no proxy, no real network."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("SEGLAB_HOME", str(tmp_path / "seglab_home"))
    server = ZooServer(tmp_path / "seglab_home" / "checkpoints")
    yield server
    server.close()
