"""Helpers of the serving tests: a real uvicorn server on 127.0.0.1, port 0, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.serve import ServiceApp, build_app, bundle_source


@contextmanager
def live_server(app: ServiceApp) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1, port 0, in a thread; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, loop="uvloop", http="httptools", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def make_app(bundle_path: Path, **serving: Any) -> ServiceApp:
    return build_app(
        bundle_source(bundle_path),
        ServingSettings.model_validate(serving),
        MonitoringSettings(),
        follow=False,
    )
