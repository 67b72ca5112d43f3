"""A FastAPI + SQLAlchemy service with the deadlock of fastapi#3205, for poolstorm's
`command` targets.

GET /work is a sync (`def`) endpoint with a yield dependency that opens a SQLAlchemy
session. FastAPI 0.81 runs the endpoint on anyio's thread pool and, after the response is
sent, runs the dependency's teardown (`db.close()`, which returns the connection) on the same
pool. When every thread is taken by an endpoint waiting for a connection, the teardowns that
would free one are queued behind them: nothing moves again.

GET /metrics (Prometheus text, an async endpoint that never needs a thread) shows the pool and
the thread pool under the service's own names; GET /health answers at once.

Settings: --port, --pool-size, --threads, --hold-ms, --pool-timeout (seconds, or `none` to
wait forever as SQLAlchemy's pool_timeout=None does); the database from --database-url or
$DATABASE_URL (sqlite:////path, mysql://user:pass@host:port/name or
postgres://user:pass@host:port/name), the threads also from $THREADS.
"""

import argparse
import os
import threading
import time

import anyio
import uvicorn
from fastapi import Depends, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool


class CountingQueuePool(QueuePool):
    """SQLAlchemy's QueuePool, counting the threads that wait in checkout."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiting = 0
        self._waiting_lock = threading.Lock()

    def _do_get(self):
        with self._waiting_lock:
            self.waiting += 1
        try:
            return super()._do_get()
        finally:
            with self._waiting_lock:
                self.waiting -= 1


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--pool-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "40")))
    p.add_argument("--hold-ms", type=int, default=1000)
    p.add_argument("--pool-timeout", default="none")
    args = p.parse_args()
    if not args.database_url:
        p.error("--database-url or $DATABASE_URL is required")
    return args


def sqlalchemy_url(url):
    """poolstorm's {db.url} as SQLAlchemy takes it (MySQL through PyMySQL, PostgreSQL through
    pg8000: both pure Python, so the venv needs no compiler and no libpq)."""
    drivers = {
        "mysql://": "mysql+pymysql://",
        "mariadb://": "mysql+pymysql://",
        "postgres://": "postgresql+pg8000://",
        "postgresql://": "postgresql+pg8000://",
    }
    for scheme, dialect in drivers.items():
        if url.startswith(scheme):
            return dialect + url[len(scheme):]
    return url


ARGS = parse_args()
URL = sqlalchemy_url(ARGS.database_url)
ENGINE = create_engine(
    URL,
    poolclass=CountingQueuePool,
    pool_size=ARGS.pool_size,
    max_overflow=0,
    pool_timeout=None if ARGS.pool_timeout == "none" else float(ARGS.pool_timeout),
    connect_args={"check_same_thread": False} if URL.startswith("sqlite") else {},
)
SessionLocal = sessionmaker(bind=ENGINE)
HOLD = ARGS.hold_ms / 1000.0

REGISTRY = CollectorRegistry()


def gauge(name, documentation, read):
    Gauge(name, documentation, registry=REGISTRY).set_function(read)


def limiter():
    return anyio.to_thread.current_default_thread_limiter()


gauge("app_db_pool_size", "Most connections the pool opens.", ENGINE.pool.size)
gauge("app_db_pool_checked_out", "Connections checked out now.", ENGINE.pool.checkedout)
gauge("app_db_pool_waiting", "Threads waiting for a connection.", lambda: ENGINE.pool.waiting)
gauge("app_threadpool_size", "Threads of anyio's default limiter.", lambda: limiter().total_tokens)
gauge("app_threadpool_busy", "Threads busy.", lambda: limiter().borrowed_tokens)
gauge(
    "app_threadpool_waiting",
    "Jobs waiting for a thread.",
    lambda: limiter().statistics().tasks_waiting,
)

app = FastAPI()


@app.on_event("startup")
async def size_the_thread_pool():
    limiter().total_tokens = ARGS.threads


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@app.get("/work")
def work(db=Depends(get_db)):
    db.execute(text("SELECT 1"))
    time.sleep(HOLD)
    return {"ok": True}


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.get("/metrics")
async def metrics():
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=ARGS.port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
