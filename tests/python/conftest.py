import os

import pytest


@pytest.fixture
def cpu_threads():
    """Sets FLASHMLA_CPU_THREADS (the CPU backend's part count) for one test, then restores it."""
    saved = os.environ.get("FLASHMLA_CPU_THREADS")

    def set_threads(n):
        os.environ["FLASHMLA_CPU_THREADS"] = str(n)

    yield set_threads
    if saved is None:
        os.environ.pop("FLASHMLA_CPU_THREADS", None)
    else:
        os.environ["FLASHMLA_CPU_THREADS"] = saved
