"""A local AWS Lambda service that runs handlers for real, for boto3 to talk to over HTTP.

Two sides of Lambda's wire protocol, on 127.0.0.1:

- the **Invoke API** that boto3 calls (``POST /2015-03-31/functions/{name}/invocations``), plus
  ``GET /2016-08-19/account-settings`` and provisioned concurrency (``PUT``/``GET``/``DELETE
  /2019-09-30/functions/{name}/provisioned-concurrency``);
- the **Runtime API** that the real runtime client ``awslambdaric`` polls
  (``/2018-06-01/runtime/invocation/next``, ``…/{id}/response``, ``…/{id}/error``,
  ``/2018-06-01/runtime/init/error``).

Each registered function has a pool of execution environments, each one a ``python -m
awslambdaric <module.handler>`` subprocess with its own Runtime API port (one endpoint cannot tell
environments apart) and its own ``AWS_LAMBDA_LOG_STREAM_NAME``. An invocation takes an idle
environment or starts a new one, up to the concurrency limit; beyond it the answer is 429
``TooManyRequestsException``, as on AWS. INIT (spawn to the runtime's first ``/next``) is
measured and reported as ``Init Duration`` on the environment's first invocation; the ``REPORT``
line counts it in ``Billed Duration``, as Lambda does since August 2025.

Faults are injected explicitly, by the test, with :meth:`LambdaShim.inject`: "answer the next
N invocations (of this function, whose payload matches) with a fault", where a fault is one
Lambda really gives:

- ``throttle``: 429 ``TooManyRequestsException`` before any environment is used (the
  function's reserved concurrency is exhausted);
- ``error``: 200 with ``X-Amz-Function-Error: Unhandled`` and the error document the runtime
  sends when a handler raises (``errorMessage``, ``errorType``, ``stackTrace``);
- ``crash``: the environment's runtime process is killed as the invocation reaches it, so the
  answer is Lambda's own ``Runtime.ExitError`` (Unhandled) and the next invocation starts a
  fresh environment.

Every fault given is kept in :attr:`LambdaShim.faults_given`, with its time.
"""

from __future__ import annotations

import base64
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
TAIL_BYTES = 4096
RUNTIME = "/2018-06-01/runtime"


@dataclass
class Invocation:
    """One request on its way through an environment."""

    request_id: str
    payload: bytes
    deadline_s: float
    done: threading.Event = field(default_factory=threading.Event)
    kind: str = ""  # "response" or "error"
    body: bytes = b""
    started: float | None = None  # perf_counter when the runtime took it
    finished: float | None = None
    log: list[str] = field(default_factory=list)


FaultKind = Literal["throttle", "error", "crash"]
Payload = dict[str, Any]


def is_warmup(payload: Payload) -> bool:
    """A warm-up invocation (``{"warmup": true}``)."""
    return bool(payload.get("warmup"))


def is_batch(payload: Payload) -> bool:
    """A batch of an analysis (it carries its ``resource_index``)."""
    return "resource_index" in payload


@dataclass
class Fault:
    """``kind`` for the next ``times`` invocations (every one while ``times`` is None) of
    ``function`` (any when None) whose decoded payload satisfies ``when`` (any when None)."""

    kind: FaultKind
    times: int | None
    function: str | None = None
    when: Callable[[Payload], bool] | None = None
    message: str = "injected fault"

    def matches(self, function: str, payload: Payload) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.function is not None and self.function != function:
            return False
        return self.when is None or self.when(payload)


@dataclass(frozen=True)
class GivenFault:
    """A fault the shim answered with: its kind, the invocation's function and payload, and
    when (``time.monotonic()``)."""

    kind: FaultKind
    function: str
    payload: Payload
    at: float


@dataclass
class Function:
    name: str
    handler: str
    memory_mb: int
    timeout_s: float
    env: dict[str, str]
    environments: list[Environment] = field(default_factory=list)
    provisioned: dict[str, dict[str, Any]] = field(default_factory=dict)  # qualifier -> config


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], owner: Any) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.owner = owner

    def serve_in_thread(self) -> None:
        self.serving = True
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (a killed runtime, a stopped test) is not news

    def close(self) -> None:
        if getattr(self, "serving", False):
            self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the shim's state, not its access log

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def send_error_type(self, status: int, error_type: str, message: str, **extra: Any) -> None:
        self.send_json(
            status,
            {"Type": "User", "message": message, **extra},
            {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())},
        )


class Environment:
    """One execution environment: an awslambdaric process and its own Runtime API server."""

    def __init__(self, function: Function, number: int, provisioned: bool = False) -> None:
        self.function = function
        self.number = number
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.stream = f"{day}/[$LATEST]{uuid.uuid4().hex}"
        self.inbox: queue.Queue[Invocation] = queue.Queue()
        self.busy = not provisioned  # reserved for the invocation that started it
        self.provisioned = provisioned
        self.current: Invocation | None = None
        self.init_log: list[str] = []
        self.init_ms: float | None = None
        self.init_reported = provisioned  # pre-initialised: no cold start to report
        self.initialised = threading.Event()
        self.init_error: bytes | None = None
        self.server = _Server(_RuntimeHandler, self)
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned = 0.0

    @property
    def runtime_api(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        self.server.serve_in_thread()
        fn = self.function
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_LAMBDA_", "SIGNALRISK_", "_HANDLER", "PYTEST"))
        }
        env.update(fn.env)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
                "AWS_LAMBDA_FUNCTION_NAME": fn.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": self.stream,
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
                "AWS_REGION": env.get("AWS_DEFAULT_REGION", REGION),
                "_HANDLER": fn.handler,
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.spawned = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", fn.handler],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.reader = threading.Thread(target=self._read_output, daemon=True)
        self.reader.start()

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.process.stdout as output:
            for raw in output:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                current = self.current
                (current.log if current is not None else self.init_log).append(line)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """The runtime process dies (a ``crash`` fault); its Runtime API stays up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def gone(self) -> bool:
        """Started and exited (an environment still being created is not gone)."""
        return self.process is not None and self.process.poll() is not None

    def next_invocation(self) -> Invocation | None:
        """Runtime side: block until an invocation arrives (None if the shim is stopping)."""
        if self.init_ms is None:
            self.init_ms = (time.perf_counter() - self.spawned) * 1000.0
            self.initialised.set()
        while self.alive():
            try:
                invocation = self.inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            invocation.started = time.perf_counter()
            self.current = invocation
            return invocation
        return None

    def complete(self, request_id: str, kind: str, body: bytes) -> bool:
        current = self.current
        if current is None or current.request_id != request_id:
            return False
        current.kind, current.body, current.finished = kind, body, time.perf_counter()
        current.done.set()
        return True

    def max_memory_mb(self) -> int:
        """Peak resident memory of the process (VmHWM), as ``Max Memory Used`` reports it."""
        try:
            with open(f"/proc/{self.process.pid if self.process else 0}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return math.ceil(int(line.split()[1]) / 1024)
        except OSError:
            pass
        return 0

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)
            self.reader.join(timeout=5)
        self.server.close()


class _RuntimeHandler(_Handler):
    """The Runtime API of one environment, for its awslambdaric process."""

    def do_GET(self) -> None:
        environment: Environment = self.server.owner
        if self.path != f"{RUNTIME}/invocation/next":
            return self.send(404)
        invocation = environment.next_invocation()
        if invocation is None:
            return self.send(500)
        fn = environment.function
        self.send(
            200,
            invocation.payload,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(int((time.time() + fn.timeout_s) * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": function_arn(fn.name),
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
            },
        )

    def do_POST(self) -> None:
        environment: Environment = self.server.owner
        body = self.body()
        parts = self.path.split("/")
        if self.path == f"{RUNTIME}/init/error":
            environment.init_error = body
            environment.initialised.set()
            return self.send(202, b'{"status":"OK"}')
        if len(parts) == 6 and parts[3] == "invocation" and parts[5] in ("response", "error"):
            if environment.complete(parts[4], parts[5], body):
                return self.send(202, b'{"status":"OK"}')
            return self.send(400, b'{"errorType":"InvalidRequestID"}')
        return self.send(404)


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


class _InvokeHandler(_Handler):
    """The control plane and Invoke API, for boto3."""

    def route(self) -> tuple[str, str, str | None]:
        """``(kind, function name, qualifier)`` from the request path."""
        url = urlsplit(self.path)
        parts = url.path.rstrip("/").split("/")
        qualifier = parse_qs(url.query).get("Qualifier", [None])[0]
        if url.path.rstrip("/") == "/2016-08-19/account-settings":
            return "account-settings", "", None
        if len(parts) >= 4 and parts[1] in ("2015-03-31", "2019-09-30") and parts[2] == "functions":
            name, _, alias = unquote(parts[3]).partition(":")
            if name.startswith("arn:"):
                name = name.rsplit(":", 1)[-1]
            return "/".join(parts[4:]) or "function", name, qualifier or alias or None
        return "unknown", "", None

    def do_GET(self) -> None:
        shim: LambdaShim = self.server.owner
        kind, name, qualifier = self.route()
        if kind == "account-settings":
            return self.send_json(200, shim.account_settings())
        fn = shim.functions.get(name)
        if fn is None:
            return self.not_found(name)
        if kind == "provisioned-concurrency":
            config = fn.provisioned.get(qualifier or "")
            if config is None:
                return self.send_error_type(
                    404,
                    "ProvisionedConcurrencyConfigNotFoundException",
                    "No Provisioned Concurrency Config found for this function",
                )
            return self.send_json(200, config)
        if kind == "function":  # GetFunction: the configuration boto3 reads
            configuration = {
                "FunctionName": name,
                "FunctionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                "Runtime": "python3.11",
                "Handler": fn.handler,
                "MemorySize": fn.memory_mb,
                "Timeout": int(fn.timeout_s),
                "State": "Active",
                "LastUpdateStatus": "Successful",
            }
            return self.send_json(200, {"Configuration": configuration})
        return self.send(404)

    def do_PUT(self) -> None:
        shim: LambdaShim = self.server.owner
        kind, name, qualifier = self.route()
        body = json.loads(self.body() or b"{}")
        fn = shim.functions.get(name)
        if fn is None:
            return self.not_found(name)
        if kind != "provisioned-concurrency":
            return self.send(404)
        if not qualifier or qualifier == "$LATEST":
            return self.send_error_type(
                400,
                "InvalidParameterValueException",
                "Provisioned Concurrency Configs cannot be applied to unpublished versions.",
            )
        config = shim.provision(fn, qualifier, int(body["ProvisionedConcurrentExecutions"]))
        return self.send_json(202, config)

    def do_DELETE(self) -> None:
        shim: LambdaShim = self.server.owner
        kind, name, qualifier = self.route()
        fn = shim.functions.get(name)
        if fn is None:
            return self.not_found(name)
        if kind != "provisioned-concurrency":
            return self.send(404)
        if fn.provisioned.pop(qualifier or "", None) is None:
            return self.send_error_type(
                404,
                "ProvisionedConcurrencyConfigNotFoundException",
                "No Provisioned Concurrency Config found for this function",
            )
        shim.release_provisioned(fn)
        return self.send(204)

    def do_POST(self) -> None:
        shim: LambdaShim = self.server.owner
        kind, name, _qualifier = self.route()
        payload = self.body() or b"{}"
        if kind != "invocations":
            return self.send(404)
        fn = shim.functions.get(name)
        if fn is None:
            return self.not_found(name)
        mode = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if mode == "DryRun":
            return self.send(204)
        if mode not in ("RequestResponse", "Event"):
            return self.send_error_type(
                400, "InvalidParameterValueException", f"invalid invocation type {mode!r}"
            )
        fault = shim.take_fault(fn.name, payload)
        if fault is not None and fault.kind == "throttle":
            return self.send_error_type(
                429,
                "TooManyRequestsException",
                "Rate Exceeded.",
                Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
            )
        if fault is not None and fault.kind == "error":
            return self.send_function_error(fault.message)
        environment = shim.acquire(fn)
        if environment is None:
            shim.throttled += 1
            return self.send_error_type(
                429,
                "TooManyRequestsException",
                "Rate Exceeded.",
                Reason="ConcurrentInvocationLimitExceeded",
            )
        invocation = Invocation(str(uuid.uuid4()), payload, fn.timeout_s)
        if fault is not None and fault.kind == "crash":
            environment.kill()
        if mode == "Event":
            threading.Thread(target=shim.run, args=(environment, invocation), daemon=True).start()
            return self.send(202, b"", {"x-amzn-RequestId": invocation.request_id})
        log_tail = shim.run(environment, invocation)
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": "$LATEST",
            "x-amzn-RequestId": invocation.request_id,
        }
        if invocation.kind != "response":
            headers["X-Amz-Function-Error"] = "Unhandled"
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            tail = log_tail.encode()[-TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        return self.send(200, invocation.body, headers)

    def send_function_error(self, message: str) -> None:
        """What Lambda answers when the handler raised: 200, ``Unhandled``, the runtime's error
        document, and a log tail whose REPORT line bills 1 ms."""
        request_id = str(uuid.uuid4())
        error = {
            "errorMessage": message,
            "errorType": "InjectedFault",
            "requestId": request_id,
            "stackTrace": ['  File "/var/task/handler.py", line 1, in handler\n'],
        }
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": "$LATEST",
            "X-Amz-Function-Error": "Unhandled",
            "x-amzn-RequestId": request_id,
        }
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            tail = (
                f"START RequestId: {request_id} Version: $LATEST\n"
                f"[ERROR] InjectedFault: {message}\n"
                f"END RequestId: {request_id}\n"
                f"REPORT RequestId: {request_id}\tDuration: 0.50 ms\tBilled Duration: 1 ms\t"
                "Memory Size: 1024 MB\tMax Memory Used: 64 MB\t\n"
            )
            headers["X-Amz-Log-Result"] = base64.b64encode(tail.encode()).decode()
        self.send(200, json.dumps(error).encode(), headers)

    def not_found(self, name: str) -> None:
        self.send_error_type(
            404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}"
        )


class LambdaShim:
    """``register`` functions, ``start``, point boto3 at ``url``; ``stop`` kills every process.

    ``concurrency_limit`` is the account's concurrent-executions limit (``get_account_settings``),
    and may be changed while running, e.g. to 1 to provoke throttling. :meth:`inject` makes
    chosen invocations fail (see the module docstring).
    """

    def __init__(self, concurrency_limit: int = 10) -> None:
        self.concurrency_limit = concurrency_limit
        self.functions: dict[str, Function] = {}
        self.throttled = 0  # 429 answers given for lack of concurrency (not injected ones)
        self._faults: list[Fault] = []
        self._given: list[GivenFault] = []
        self._lock = threading.Lock()
        self._numbers = 0
        self._server = _Server(_InvokeHandler, self)
        self.url = ""

    def register(
        self,
        name: str,
        handler: str,
        *,
        memory_mb: int = 1024,
        timeout_s: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> None:
        """A function ``name`` whose environments run ``handler`` (``module.function``)."""
        self.functions[name] = Function(name, handler, memory_mb, timeout_s, dict(env or {}))

    def start(self) -> None:
        self._server.serve_in_thread()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.close()
        with self._lock:
            environments = [e for fn in self.functions.values() for e in fn.environments]
            for fn in self.functions.values():
                fn.environments.clear()
        for environment in environments:
            environment.stop()

    # -- fault injection --------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        times: int | None = 1,
        *,
        function: str | None = None,
        when: Callable[[Payload], bool] | None = None,
        message: str = "injected fault",
    ) -> Fault:
        """Answer the next ``times`` matching invocations (all of them if None, until
        :meth:`clear_faults`) with ``kind``; ``message`` is an ``error`` fault's
        ``errorMessage``. Faults apply in the order injected, one per invocation."""
        fault = Fault(kind, times, function, when, message)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """No more faults: every invocation from now on runs normally."""
        with self._lock:
            self._faults.clear()

    @property
    def faults_given(self) -> list[GivenFault]:
        with self._lock:
            return list(self._given)

    def take_fault(self, function: str, raw: bytes) -> Fault | None:
        """The fault this invocation gets, if any (counted off the fault's ``times``)."""
        try:
            decoded = json.loads(raw or b"{}")
        except ValueError:
            decoded = {}
        payload: Payload = decoded if isinstance(decoded, dict) else {}
        with self._lock:
            fault = next((f for f in self._faults if f.matches(function, payload)), None)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
            self._given.append(GivenFault(fault.kind, function, payload, time.monotonic()))
        return fault

    def environments(self, name: str) -> list[Environment]:
        with self._lock:
            return list(self.functions[name].environments)

    def account_settings(self) -> dict[str, Any]:
        limit = self.concurrency_limit
        return {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": limit,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(self.functions)},
        }

    def _new_environment(self, fn: Function, provisioned: bool = False) -> Environment:
        self._numbers += 1
        environment = Environment(fn, self._numbers, provisioned)
        fn.environments.append(environment)
        return environment

    def acquire(self, fn: Function) -> Environment | None:
        """An idle environment, reserved; a new one if none is idle; None when throttled."""
        with self._lock:
            everyone = [e for f in self.functions.values() for e in f.environments]
            if sum(e.busy for e in everyone) >= self.concurrency_limit:
                return None
            for environment in fn.environments:
                if not environment.busy and environment.alive():
                    environment.busy = True
                    return environment
            if sum(not e.gone() for e in everyone) >= self.concurrency_limit:
                return None
            environment = self._new_environment(fn)
        environment.start()
        return environment

    def run(self, environment: Environment, invocation: Invocation) -> str:
        """Hand ``invocation`` to ``environment``, wait for its answer; return its log text."""
        fn = environment.function
        environment.inbox.put(invocation)
        deadline = time.monotonic() + invocation.deadline_s + 10.0  # INIT has its own 10 s
        while not invocation.done.wait(0.05):
            if not environment.alive() or time.monotonic() > deadline:
                environment.stop()
                reason = "Runtime exited" if environment.init_error is None else "init failed"
                invocation.kind = "error"
                invocation.body = (
                    environment.init_error
                    or json.dumps(
                        {
                            "errorType": "Runtime.ExitError",
                            "errorMessage": f"RequestId: {invocation.request_id} Error: {reason}",
                        }
                    ).encode()
                )
                invocation.finished = time.perf_counter()
                break
        with self._lock:
            environment.current = None
            environment.busy = False
            if not environment.alive() and environment in fn.environments:
                fn.environments.remove(environment)
        return self._log_text(environment, invocation)

    def _log_text(self, environment: Environment, invocation: Invocation) -> str:
        started = invocation.started or invocation.finished or time.perf_counter()
        duration = max(0.0, ((invocation.finished or started) - started) * 1000.0)
        init = None
        lines: list[str] = []
        if not environment.init_reported:
            environment.init_reported = True
            init = environment.init_ms
            lines += environment.init_log
        billed = max(1, math.ceil(duration + (init or 0.0)))
        rid = invocation.request_id
        report = (
            f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {environment.function.memory_mb} MB\t"
            f"Max Memory Used: {environment.max_memory_mb()} MB\t"
        )
        if init is not None:
            report += f"Init Duration: {init:.2f} ms\t"
        lines += [
            f"START RequestId: {rid} Version: $LATEST",
            *invocation.log,
            f"END RequestId: {rid}",
        ]
        return "\n".join([*lines, report]) + "\n"

    # -- provisioned concurrency ------------------------------------------------------------

    def provision(self, fn: Function, qualifier: str, count: int) -> dict[str, Any]:
        """Start ``count`` pre-initialised environments; the config turns READY when all are."""
        config: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": count,
            "AvailableProvisionedConcurrentExecutions": 0,
            "AllocatedProvisionedConcurrentExecutions": 0,
            "Status": "IN_PROGRESS",
            "LastModified": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        fn.provisioned[qualifier] = config
        with self._lock:
            fresh = [self._new_environment(fn, provisioned=True) for _ in range(count)]
        for environment in fresh:
            environment.start()

        def allocate() -> None:
            for environment in fresh:
                environment.initialised.wait(30)
            ready = sum(e.alive() and e.init_error is None for e in fresh)
            config["AvailableProvisionedConcurrentExecutions"] = ready
            config["AllocatedProvisionedConcurrentExecutions"] = ready
            config["Status"] = "READY" if ready == count else "FAILED"
            if ready != count:
                config["StatusReason"] = "some execution environments failed to initialise"

        threading.Thread(target=allocate, daemon=True).start()
        return dict(config)

    def release_provisioned(self, fn: Function) -> None:
        """Deleting the config reclaims its idle environments."""
        with self._lock:
            idle = [e for e in fn.environments if e.provisioned and not e.busy]
            for environment in idle:
                fn.environments.remove(environment)
        for environment in idle:
            environment.stop()
