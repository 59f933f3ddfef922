"""Run the app: uvicorn with a header read timeout, in one process or several workers
forked after the models are loaded (so they share the loaded models' memory,
copy-on-write, and start in milliseconds).

uvicorn bounds the body only through the app (:class:`spinerisk.serve.middleware.BodyReader`)
and the idle time between requests (keep-alive); :class:`HeaderTimeoutH11` adds the
missing bound on the time from the first byte of a request (or the connection) to its
complete head, so slow-header clients cannot hold connections.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
from dataclasses import dataclass

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

LOG = logging.getLogger("spinerisk.serve")


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head is not complete
    within ``header_timeout`` seconds of the connection or of the request's first byte."""

    header_timeout = 10.0
    _head_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._head_timer is None:
                self._arm()  # a request has begun (or is awaited) but its head is incomplete
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:  # keep-alive takes over
        self._disarm()
        super().on_response_complete()

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


@dataclass(frozen=True)
class ServeOptions:
    """How to listen.

    Parameters
    ----------
    host, port : str, int
    workers : int
        Processes answering requests (forked after loading; 1 = this process).
    header_timeout : float
        Seconds allowed for a request head (see :class:`HeaderTimeoutH11`).
    keep_alive : float
        Seconds an idle keep-alive connection is held.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    header_timeout: float = 10.0
    keep_alive: float = 5.0


def run(app, options: ServeOptions) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (see :class:`ServeOptions`)."""
    protocol = type("SpineriskH11", (HeaderTimeoutH11,),
                    {"header_timeout": options.header_timeout})
    config = uvicorn.Config(app, host=options.host, port=options.port, http=protocol,
                            log_level="warning", access_log=False, lifespan="off",
                            timeout_keep_alive=max(1, round(options.keep_alive)))
    if options.workers <= 1:
        uvicorn.Server(config).run()
        return
    _prefork(config, options.workers)


def _prefork(config: uvicorn.Config, workers: int) -> None:
    """Listen, fork ``workers`` children, restart any that dies, and stop them all on
    SIGINT/SIGTERM.

    Each worker slot has its own listening socket on the one port (``SO_REUSEPORT``), so
    the kernel spreads new connections over the workers. On one shared socket the
    worker that wakes first accepts a whole burst of connections, leaving the others
    idle. The sockets stay open in this process, so a restarted worker takes over its
    slot's socket and the connections waiting in it.
    """
    sockets = _listen(config, workers)
    # what is loaded now (models, tables, rule book) lasts as long as the server: kept out
    # of the collector's full passes, which otherwise walk it in every worker (60 ms and
    # more, a stall for every request waiting) and write to the pages the workers share
    gc.freeze()
    children: dict[int, int] = {}  # pid -> slot
    stopping = []

    def stop(signum, frame) -> None:
        stopping.append(signum)
        for pid in children:
            _signal(pid, signal.SIGTERM)

    for slot in range(workers):
        children[_fork_worker(config, sockets[slot])] = slot
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    LOG.info("serving on http://%s:%d with %d workers", config.host, config.port, workers)
    try:
        while children:
            pid, status = os.wait()
            slot = children.pop(pid, None)
            if slot is not None and not stopping:
                code = os.waitstatus_to_exitcode(status)
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                LOG.error("worker %d exited (%s); starting another", slot, how)
                children[_fork_worker(config, sockets[slot])] = slot
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for sock in set(sockets):
            sock.close()


def _listen(config: uvicorn.Config, workers: int) -> list[socket.socket]:
    """One listening socket per worker slot (or one shared socket where the system has
    no ``SO_REUSEPORT``)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return [_tcp(config.bind_socket())] * workers
    sockets: list[socket.socket] = []
    port = config.port
    for _ in range(workers):
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((config.host, port))
        except OSError:
            sock.close()
            for other in sockets:
                other.close()
            raise
        port = sock.getsockname()[1]  # port 0: the others join the port the first got
        sock.listen(config.backlog)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


def _tcp(bound: socket.socket) -> socket.socket:
    # uvicorn binds with protocol 0; asyncio sets TCP_NODELAY on accepted connections only
    # when the protocol says TCP, and without it Nagle's algorithm meets the client's
    # delayed ACK: ~40 ms added to every keep-alive response.
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())


def _fork_worker(config: uvicorn.Config, sock: socket.socket) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        uvicorn.Server(config).run(sockets=[sock])
    except BaseException:  # noqa: BLE001 -- a child must never return into the parent's code
        code = 1
    os._exit(code)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
