"""Start a worker process: ``python -m signalrisk.workers.serve``.

The secret comes from the environment (``SIGNALRISK_WORKER_SECRET``), never from the command line,
where ``ps`` would show it. The listening socket is either inherited (``--fd``, bound by the
parent so that the port is known and recorded before the process starts) or bound here.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading

import uvicorn

from signalrisk.workers.compute import preload_kernel
from signalrisk.workers.http_app import IdleWatchdog, create_worker_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="signalrisk worker")
    parser.add_argument("--fd", type=int, help="inherited listening socket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--resource-id", default=None)
    parser.add_argument("--scale-id", default=None, help="tag: the scale this worker belongs to")
    parser.add_argument("--idle-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    secret = os.environ.get("SIGNALRISK_WORKER_SECRET")
    if not secret:
        print("SIGNALRISK_WORKER_SECRET is required", file=sys.stderr)
        return 2
    if args.resource_id:
        os.environ["SIGNALRISK_RESOURCE_ID"] = args.resource_id
    watchdog = IdleWatchdog(args.idle_timeout)
    watchdog.start()
    # The kernel loads beside start-up (numba's cache, or a compile), not in the first batch.
    threading.Thread(target=preload_kernel, name="kernel-preload", daemon=True).start()
    app = create_worker_app(secret, watchdog)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    if args.fd is None:
        server.run()
    else:
        # Wrap the inherited socket ourselves: uvicorn's own ``fd=`` takes it for a Unix socket,
        # so asyncio would not set TCP_NODELAY on its connections and every answer would wait
        # ~40 ms for a delayed ACK (Nagle). ``socket(fileno=...)`` reads the real family.
        server.run(sockets=[socket.socket(fileno=args.fd)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
