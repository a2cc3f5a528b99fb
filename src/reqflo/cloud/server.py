"""`reqflo server`: the Cloud Runner in one process (HTTP API + executor), and its config.

Owns `ServerConfig` (flags > environment `REQFLO_DB_URL`, `REQFLO_SERVER_DATA_DIR`,
`REQFLO_SERVER_HOST`, `REQFLO_SERVER_PORT`, `REQFLO_EXECUTOR`,
`REQFLO_WEBHOOK_ALLOW_PRIVATE`, `REQFLO_SECURE_COOKIES`, `REQFLO_API_ONLY` (submit only;
`reqflo worker` processes execute) > `server.toml` > defaults: data directory
`$REQFLO_HOME/server`, SQLite file `reqflo.db` in it, 127.0.0.1:8787, webhooks to
private addresses refused),
`open_store`, the executor choice (`durable` when reqflo.cloud.durable is importable,
else `inprocess`), `serve` (uvicorn until SIGINT/SIGTERM, then the executor and the
store close) and `store_sink`, the sink factory durable workers use
(`--sink reqflo.cloud.server:store_sink`).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy import make_url

from reqflo.artifact import reqflo_home
from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.executor import ResultSink, RunExecutor
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.cloud.scheduler import start_scheduler
from reqflo.secrets.redact import redact_process_logs
from reqflo.store import Store, StoreSink, sqlite_url
from reqflo.store.database import normalize_url

log = logging.getLogger(__name__)
EXECUTORS = ("durable", "inprocess")


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    db_url: str
    host: str = "127.0.0.1"
    port: int = 8787
    executor: str = "inprocess"
    webhook_allow_private: bool = False  # SSRF guard off for private addresses (admin)
    secure_cookies: bool = False  # web UI cookies marked Secure even on plain HTTP (TLS proxy)
    api_only: bool = False  # durable: submit and cancel only; `reqflo worker` processes execute

    @classmethod
    def resolve(
        cls,
        data_dir: Path | None = None,
        db_url: str | None = None,
        host: str | None = None,
        port: int | None = None,
        executor: str | None = None,
        webhook_allow_private: bool | None = None,
        secure_cookies: bool | None = None,
        api_only: bool | None = None,
    ) -> ServerConfig:
        """Flags win over environment variables, which win over the config file
        (`$REQFLO_SERVER_CONFIG`, else `$REQFLO_HOME/server.toml`), then defaults."""
        env = os.environ
        file = config_file_values()
        folder = (
            data_dir
            or _path(env.get("REQFLO_SERVER_DATA_DIR") or file.get("data_dir"))
            or reqflo_home() / "server"
        )
        chosen = (
            executor or env.get("REQFLO_EXECUTOR") or file.get("executor") or default_executor()
        )
        if chosen not in EXECUTORS:
            raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}, not '{chosen}'")
        submit_only = _flag(api_only, env.get("REQFLO_API_ONLY") or file.get("api_only"))
        if submit_only and chosen != "durable":
            raise ValueError("--api-only needs the durable executor (workers run the runs)")
        return cls(
            data_dir=folder,
            db_url=db_url or env.get("REQFLO_DB_URL") or file.get("db_url") or sqlite_url(folder),
            host=host or env.get("REQFLO_SERVER_HOST") or file.get("host") or "127.0.0.1",
            port=port or int(env.get("REQFLO_SERVER_PORT") or file.get("port") or 8787),
            executor=chosen,
            webhook_allow_private=_flag(
                webhook_allow_private,
                env.get("REQFLO_WEBHOOK_ALLOW_PRIVATE") or file.get("webhook_allow_private"),
            ),
            secure_cookies=_flag(
                secure_cookies, env.get("REQFLO_SECURE_COOKIES") or file.get("secure_cookies")
            ),
            api_only=submit_only,
        )


def _flag(given: bool | None, configured: str | None) -> bool:
    if given is not None:
        return given
    return (configured or "").strip().lower() in ("1", "true", "yes", "on")


def default_executor() -> str:
    return "durable" if importlib.util.find_spec("reqflo.cloud.durable.executor") else "inprocess"


def open_store(config: ServerConfig) -> Store:
    """Create the data directory (owner only) and open the migrated store."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.data_dir.chmod(0o700)
    return Store.open(config.db_url)


def store_sink(database_url: str, data_dir: Path) -> ResultSink:
    """The sink durable workers report to: the same store the API reads."""
    return StoreSink(Store.open(database_url))


CONFIG_KEYS = frozenset({"data_dir", "db_url", "host", "port", "executor",
                         "webhook_allow_private", "secure_cookies", "api_only"})  # fmt: skip


def config_file_values() -> dict[str, str]:
    """The server's TOML config file, if there is one (unknown keys are an error)."""
    path = Path(os.environ.get("REQFLO_SERVER_CONFIG") or reqflo_home() / "server.toml")
    if not path.is_file():
        if os.environ.get("REQFLO_SERVER_CONFIG"):
            raise ValueError(f"config file {path} does not exist")
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(document) - CONFIG_KEYS)
    if unknown:
        raise ValueError(
            f"{path}: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(CONFIG_KEYS))}"
        )
    return {key: str(value) for key, value in document.items()}


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def make_executor(config: ServerConfig, sink: ResultSink) -> RunExecutor:
    if config.executor == "inprocess":
        return InProcessExecutor(sink, config.data_dir)
    engine = importlib.import_module("reqflo.cloud.durable.engine")
    durable = importlib.import_module("reqflo.cloud.durable.executor")
    settings = engine.EngineConfig(
        database_url=config.db_url,
        data_dir=config.data_dir,
        executor_id=durable.default_executor_id(),
    )
    executor: RunExecutor = durable.DurableExecutor(settings, sink, worker=not config.api_only)
    return executor


def serve(config: ServerConfig) -> None:
    redact_process_logs()  # every resolved secret is masked in every library's logs
    store = open_store(config)
    if config.executor == "inprocess":  # its runs died with the previous process
        lost = store.fail_unfinished("the server stopped before the run finished (in-process)")
        if lost:
            log.warning("%d unfinished in-process runs ended as error", lost)
    executor = make_executor(config, StoreSink(store))
    app = create_app(Services(store=store, executor=executor, data_dir=config.data_dir))
    app.state.webhook_allow_private = config.webhook_allow_private  # read by api_schedules
    app.state.secure_cookies = config.secure_cookies  # read by cloud.web.session
    scheduler = start_scheduler(store, executor, config.host, config.port, data_dir=config.data_dir,
                                allow_private=config.webhook_allow_private)  # fmt: skip
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
    )
    database = make_url(normalize_url(config.db_url)).render_as_string(hide_password=True)
    log.info("Reqflo Cloud Runner on http://%s:%s (%s)", config.host, config.port, database)
    log.info("web UI: http://%s:%s/ (sign in with an API token)", config.host, config.port)
    try:
        server.run()
    finally:
        scheduler.stop()
        executor.close()
        store.close()
