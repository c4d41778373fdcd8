"""Shared test set-up: no test may touch a hub, and caches stay inside the test's temp dirs."""

import pytest


@pytest.fixture(autouse=True)
def offline_hub(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf_home"))
