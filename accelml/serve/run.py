"""Start the prediction server with Uvicorn: one process, or several workers sharing the port.

Uvicorn finishes the requests in flight on SIGTERM or Ctrl-C (graceful shutdown) before it
exits; the access log is one JSON line per request on stderr.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from rich.console import Console

from accelml.errors import ConfigError, MissingDependencyError
from accelml.serve.app import (
    SETTINGS_ENV,
    ServeSettings,
    configure_access_log,
    create_app,
    settings_environment,
)

#: Seconds in-flight requests get to finish on shutdown.
GRACEFUL_SHUTDOWN_S = 10


def _uvicorn():  # type: ignore[no-untyped-def]
    try:
        import uvicorn
    except ImportError:
        raise MissingDependencyError("accelml serve needs FastAPI and Uvicorn: "
                                     "pip install 'accelml[serve]'") from None
    return uvicorn


def run_server(settings: ServeSettings, host: str = "127.0.0.1", port: int = 8080,
               workers: int = 1) -> None:
    """Serve until stopped. The model is loaded (and verified) before the port opens, so a
    bad model directory fails here, with its message, not in a worker."""
    uvicorn = _uvicorn()
    configure_access_log(settings.access_log)
    app = create_app(settings)
    common = {"host": host, "port": port, "access_log": False, "log_level": "warning",
              "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S}
    if workers <= 1:
        uvicorn.run(app, **common)
        return
    os.environ[SETTINGS_ENV] = settings_environment(settings)
    uvicorn.run("accelml.serve.app:app_from_environment", factory=True, workers=workers,
                **common)


def read_api_key(path: Path) -> str:
    """The key in ``path`` (surrounding whitespace dropped); a missing or empty file is a
    ConfigError that says so."""
    try:
        key = Path(path).read_text().strip()
    except OSError as error:
        raise ConfigError(f"cannot read the API key file {path} ({error.strerror}); "
                          "pass a file holding the key") from None
    if not key:
        raise ConfigError(f"the API key file {path} is empty; write the key into it")
    return key


def check_address(host: str, port: int) -> None:
    """Fail in one line, before the model is loaded, when ``host:port`` cannot be listened on
    (a port another server holds, an address not of this machine), instead of Uvicorn's log
    line and exit 1. Bound as Uvicorn binds it (SO_REUSEADDR), then released."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0 to 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use (another server "
                              "listens there); stop it, or pass a free --port") from None
        reason = error.strerror or str(error)
        raise ConfigError(f"cannot listen on {host}:{port} ({reason}); pass an address of "
                          "this machine as --host and a free --port") from None


def serve_model(model: Path, host: str, port: int, api_key_file: Path | None, workers: int,
                max_rows: int, access_log: bool, console: Console, *, docs: bool = True) -> None:
    """What ``accelml serve`` does: check the options and the address, load the model,
    listen. ``docs=False`` serves no API documentation (``/docs``, ``/redoc``,
    ``/openapi.json``)."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    settings = ServeSettings(str(model), read_api_key(api_key_file) if api_key_file else None,
                             max_rows, access_log=access_log, docs=docs)
    check_address(host, port)
    key = "required" if settings.api_key else "not required"
    console.print(f"serving {model} on http://{host}:{port} ({workers} worker"
                  f"{'s' if workers > 1 else ''}; key {key}; "
                  f"{'API docs at /docs' if docs else 'no API docs'})", highlight=False)
    run_server(settings, host, port, workers)
