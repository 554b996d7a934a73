"""Real HTTP servers on 127.0.0.1 for the tests: llama.cpp's OpenAI-compatible server, and a
proxy in front of it that misbehaves on request.

`LlamaServer` runs `python -m llama_cpp.server` on a GGUF file as a subprocess (one inference
thread, the file's own chat template). `FaultProxy` forwards HTTP/1.1 requests to it, one per
connection, except when told to answer with a status (429 with `Retry-After`, 500, ...), to hang
without answering, to close the connection, or to wait before forwarding; it counts requests
and how many were in flight at once. `RawServer` is no proxy: a raw socket server whose
behaviours (`respond`, `trickle`, `hang`, `die_after`, `reset_at_once`, `endless`, `sse`) write
every byte on the wire themselves, for servers that trickle, hang, lie or die.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` serving one GGUF file on 127.0.0.1 (a context manager)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        chat_format: str = "chat_template.default",
        api_key: str | None = None,
    ) -> None:
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        # "chat_template.default" is the template stored in the GGUF; without the flag the
        # server may swap a recognised template for a built-in format that renders differently.
        self.chat_format = chat_format
        self.api_key = api_key
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="llama_server_", suffix=".log", delete=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        """The model name the server reports (the path it was given)."""
        return self.model_path

    def start(self, timeout_s: float = 60.0) -> LlamaServer:
        args = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            self.model_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            "1",
            "--n_threads_batch",
            "1",
            "--n_ctx",
            str(self.n_ctx),
            "--chat_format",
            self.chat_format,
        ]
        if self.api_key:
            args += ["--api_key", self.api_key]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.process = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited early:\n{self.log_tail()}")
            if self.answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer in {timeout_s} s:\n{self.log_tail()}")

    def answers(self) -> bool:
        """Whether GET /v1/models answers right now."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        req = urllib.request.Request(f"{self.base_url}/models", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=1.0) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """SIGKILL: the way a crash looks to clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log_tail(self, n: int = 4000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-n:]

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


@dataclass(frozen=True)
class Fault:
    """What the proxy does with one request."""

    kind: str  # "status" | "hang" | "close" | "pass"
    status: int = 200
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    echo_auth: bool = False  # put the request's Authorization header in the body

    @staticmethod
    def reply(status: int, message: str = "", retry_after: float | None = None) -> Fault:
        """Answer `status` with an OpenAI-style error body (and `Retry-After` if given)."""
        headers = (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
        body = json.dumps({"error": {"message": message or f"injected {status}", "code": status}})
        return Fault("status", status=status, body=body, headers=headers)

    @staticmethod
    def echo_authorization(status: int = 400) -> Fault:
        """Answer `status` with an error message that quotes the request's Authorization."""
        return Fault("status", status=status, echo_auth=True)

    @staticmethod
    def completion(content: str, finish_reason: str = "stop") -> Fault:
        """Answer 200 with a chat completion whose reply is `content` (any text at all)."""
        body = json.dumps(
            {
                "id": "chatcmpl-injected",
                "object": "chat.completion",
                "created": 0,
                "model": "injected",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
            }
        )
        return Fault("status", status=200, body=body)

    @staticmethod
    def hang() -> Fault:
        """Read the request and never answer."""
        return Fault("hang")

    @staticmethod
    def close() -> Fault:
        """Read the request and close the connection without a word."""
        return Fault("close")

    @staticmethod
    def delay(seconds: float) -> Fault:
        """Wait, then forward as usual."""
        return Fault("pass", delay_s=seconds)


PASS = Fault("pass")


@dataclass
class Seen:
    """One request the proxy received."""

    method: str
    path: str
    at: float  # time.monotonic()
    headers: dict[str, str]
    body: bytes
    fault: Fault

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class _State:
    queue: list[Fault] = field(default_factory=list)
    default: Fault = PASS
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 in front of `upstream_port` (a context manager).

    `push(*faults)` queues faults for the next requests, in order; `default` applies once the
    queue is empty (pass-through unless set). Every response carries `Connection: close`, so a
    client opens one connection per request and the counts are exact.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._state = _State()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *faults: Fault) -> None:
        with self._lock:
            self._state.queue.extend(faults)

    @property
    def default(self) -> Fault:
        return self._state.default

    @default.setter
    def default(self, fault: Fault) -> None:
        with self._lock:
            self._state.default = fault

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._state.seen)

    def count(self, path_suffix: str = "") -> int:
        """Requests received whose path ends with `path_suffix`."""
        return sum(1 for s in self.seen if s.path.endswith(path_suffix))

    @property
    def max_in_flight(self) -> int:
        return self._state.max_in_flight

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None and self._stopping is not None
        self._stopping.set()
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _next_fault(self) -> Fault:
        with self._lock:
            return self._state.queue.pop(0) if self._state.queue else self._state.default

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        fault = self._next_fault()
        with self._lock:
            self._state.seen.append(Seen(method, path, time.monotonic(), headers, body, fault))
            self._state.in_flight += 1
            self._state.max_in_flight = max(self._state.max_in_flight, self._state.in_flight)
        done = [False]

        def answered() -> None:
            # "In flight" ends when the answer starts: the client may have its whole reply (and
            # send its next request) before this relay sees the upstream close.
            if not done[0]:
                done[0] = True
                with self._lock:
                    self._state.in_flight -= 1

        try:
            await self._act(fault, method, path, headers, body, writer, answered)
        except (ConnectionError, OSError):
            pass
        finally:
            answered()
            writer.close()

    async def _act(
        self,
        fault: Fault,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
        answered: Callable[[], None] = lambda: None,
    ) -> None:
        assert self._stopping is not None
        if fault.kind == "hang":
            await self._stopping.wait()
            return
        if fault.kind == "close":
            return
        if fault.kind == "status":
            payload = fault.body
            if fault.echo_auth:
                got = headers.get("authorization", "")
                payload = json.dumps({"error": {"message": f"bad request from {got!r}"}})
            data = payload.encode()
            extra = "".join(f"{k}: {v}\r\n" for k, v in fault.headers)
            writer.write(
                f"HTTP/1.1 {fault.status} Injected\r\ncontent-type: application/json\r\n"
                f"content-length: {len(data)}\r\n{extra}connection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
            return
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        answered()
        await self._forward(method, path, headers, body, writer)

    async def _forward(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            sent = {k: v for k, v in headers.items() if k not in ("connection", "keep-alive")}
            sent["connection"] = "close"
            sent["host"] = f"127.0.0.1:{self.upstream_port}"
            head = f"{method} {path} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in sent.items()
            )
            up_writer.write(head.encode("latin-1") + b"\r\n" + body)
            await up_writer.drain()
            # The upstream closes after its response (we asked it to): relay until then.
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            up_writer.close()


# --- raw-socket servers: every byte on the wire is the test's ---------------------------------


@dataclass
class RawRequest:
    """One request a `RawServer` read."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


class RawConn:
    """The server's side of one connection, for a behaviour to write to.

    `send` gives up quietly (returns False) once the client has gone or the server stops, so a
    behaviour can write forever and still end; it counts what reached the socket."""

    def __init__(self, sock: socket.socket, server: RawServer) -> None:
        self.sock = sock
        self.server = server

    @property
    def stopping(self) -> bool:
        return self.server.stopping.is_set()

    def send(self, data: bytes | str) -> bool:
        if isinstance(data, str):
            data = data.encode()
        view = memoryview(data)
        while view:
            if self.stopping:
                return False
            try:
                n = self.sock.send(view)
            except TimeoutError:
                continue  # the client is not reading: try again (or stop)
            except OSError:
                return False  # the client has gone
            self.server.add_sent(n)
            view = view[n:]
        return True

    def head(
        self,
        status: int = 200,
        content_type: str = "application/json",
        length: int | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        reason: str = "OK",
    ) -> bool:
        """Send a status line and headers (`length` None: chunked if `chunked` in headers)."""
        lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}"]
        if length is not None:
            lines.append(f"content-length: {length}")
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append("connection: close")
        return self.send("\r\n".join(lines) + "\r\n\r\n")

    def wait(self, seconds: float | None = None) -> None:
        """Sleep `seconds` (forever when None) or until the server stops."""
        self.server.stopping.wait(seconds)

    def reset(self) -> None:
        """Close with a TCP reset (what a killed process's kernel sends)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
        self.sock.close()


Behaviour = Callable[[RawConn, RawRequest], None]


class RawServer:
    """A TCP server on 127.0.0.1 that hands each connection's request to `behaviour(conn, req)`
    (a thread per connection) and closes the connection when it returns (a context manager).

    The behaviours below (`respond`, `trickle`, `hang`, `die_after`, `endless`, `sse`, ...)
    build misbehaving OpenAI-compatible servers byte by byte. `requests` lists what was read,
    `sent_bytes` counts what reached the socket. `read_request=False` accepts and reads
    nothing at all (a server stuck before it parses anything)."""

    def __init__(self, behaviour: Behaviour, *, read_request: bool = True) -> None:
        self.behaviour = behaviour
        self.read_request = read_request
        self.stopping = threading.Event()
        self.requests: list[RawRequest] = []
        self.sent_bytes = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add_sent(self, n: int) -> None:
        with self._lock:
            self.sent_bytes += n

    def start(self) -> RawServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._acceptor.join(5)
        for t in list(self._threads):
            t.join(5)
        self._sock.close()

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(0.1)
        conn = RawConn(sock, self)
        try:
            req = self._read(conn) if self.read_request else RawRequest("", "", {}, b"")
            if req is None:
                return
            with self._lock:
                self.requests.append(req)
            self.behaviour(conn, req)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _read(self, conn: RawConn) -> RawRequest | None:
        data = b""
        while b"\r\n\r\n" not in data:
            if conn.stopping:
                return None
            try:
                chunk = conn.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            if conn.stopping:
                return None
            try:
                chunk = conn.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return None
            body += chunk
        return RawRequest(method, path, headers, body)


def completion_json(content: Any = "b2", **fields: Any) -> str:
    """A chat completion body whose reply is `content`; `fields` replace top-level fields
    (`choices=[]`, ...)."""
    data: dict[str, Any] = {
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "created": 0,
        "model": "raw",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }
    data.update(fields)
    return json.dumps(data)


def chunk_json(content: str | None = None, finish_reason: str | None = None) -> str:
    """One streamed chat completion chunk."""
    delta = {} if content is None else {"role": "assistant", "content": content}
    return json.dumps(
        {
            "id": "chatcmpl-raw",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "raw",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
    )


def respond(
    status: int = 200,
    body: bytes | str = "",
    content_type: str = "application/json",
    headers: tuple[tuple[str, str], ...] = (),
) -> Behaviour:
    """Answer every request with `status` and `body` (with a Content-Length)."""
    data = body.encode() if isinstance(body, str) else body

    def behaviour(conn: RawConn, req: RawRequest) -> None:
        conn.head(status, content_type, len(data), headers) and conn.send(data)

    return behaviour


def trickle(body: bytes | str, interval_s: float = 1.0, status: int = 200) -> Behaviour:
    """Send the head at once, then the body one byte every `interval_s` (no read ever waits
    longer than that)."""
    data = body.encode() if isinstance(body, str) else body

    def behaviour(conn: RawConn, req: RawRequest) -> None:
        if not conn.head(status, "application/json", len(data)):
            return
        for i in range(len(data)):
            if not conn.send(data[i : i + 1]):
                return
            conn.wait(interval_s)

    return behaviour


def hang() -> Behaviour:
    """Read the request and never answer (until the server stops)."""

    def behaviour(conn: RawConn, req: RawRequest) -> None:
        conn.wait()

    return behaviour


def die_after(body: bytes | str, sent: int, *, reset: bool = False) -> Behaviour:
    """Announce `body` (Content-Length) and close after its first `sent` bytes (with a TCP
    reset when `reset`)."""
    data = body.encode() if isinstance(body, str) else body

    def behaviour(conn: RawConn, req: RawRequest) -> None:
        if conn.head(200, "application/json", len(data)) and conn.send(data[:sent]):
            conn.wait(0.05)
            if reset:
                conn.reset()

    return behaviour


def reset_at_once() -> Behaviour:
    """Read the request, then reset the connection without a byte."""

    def behaviour(conn: RawConn, req: RawRequest) -> None:
        conn.reset()

    return behaviour


def endless(piece: bytes | str = b"x" * 65536, content_type: str = "application/json") -> Behaviour:
    """A chunked body that never ends: `piece` after `piece` until the client goes away."""
    data = piece.encode() if isinstance(piece, str) else piece
    frame = f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def behaviour(conn: RawConn, req: RawRequest) -> None:
        if not conn.head(200, content_type, None, (("transfer-encoding", "chunked"),)):
            return
        while conn.send(frame):
            pass

    return behaviour


def sse(
    events: list[str], *, done: bool = True, cut: int | None = None, chunked: bool = True
) -> Behaviour:
    """A server-sent-event stream of `events` (each a `data:` payload), then `data: [DONE]`
    when `done`. `cut`: close after that many bytes of the stream (mid-event, even). Chunked
    transfer encoding by default; `chunked=False` ends the body by closing the connection."""
    text = "".join(f"data: {e}\n\n" for e in events) + ("data: [DONE]\n\n" if done else "")
    data = text.encode()
    if cut is not None:
        data = data[:cut]

    def behaviour(conn: RawConn, req: RawRequest) -> None:
        extra = (("transfer-encoding", "chunked"),) if chunked else ()
        if not conn.head(200, "text/event-stream", None, extra):
            return
        if not chunked:
            conn.send(data)
            return
        for line in data.splitlines(keepends=True):
            if not conn.send(f"{len(line):x}\r\n".encode() + line + b"\r\n"):
                return
        if cut is None:
            conn.send(b"0\r\n\r\n")  # a complete body; a cut one just stops

    return behaviour
