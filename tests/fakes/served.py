"""What the HTTP fakes share to serve: their server in a daemon thread, started once;
close() that wakes what waits, stops serving and drops the connections still open; the
context manager; and, for their script mode, the port file and the wait for SIGTERM/SIGINT.

A fake mixes in Served and sets, in its __init__, self._server (its bound HTTP server, whose
.fake is the fake) and self._thread = None. It may override _closing() (wake held answers
before the server stops). Its handler derives from TrackedHandler when close() is to drop the
connections still open (a held long poll, a hanging answer)."""
import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler

_conns_lock = threading.Lock()  # guards every fake's set of open connections


class TrackedHandler(BaseHTTPRequestHandler):
    """A handler whose connection its fake knows while it is open (Served._track)."""

    def setup(self):
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)


class Served:
    @property
    def port(self) -> int:
        """The port the fake's server is bound to."""
        return self._server.server_address[1]

    def start(self):
        """Serve in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}:{self._server.server_address[1]}", daemon=True)
            self._thread.start()
        return self

    def close(self):
        """Stop serving: held answers woken, open connections dropped. A fake never started
        is only closed (shutdown() would wait for a serve_forever that never ran)."""
        self._closing()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        for conn in self._open_connections():
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _closing(self):
        pass

    def _track(self, conn, opened):
        with _conns_lock:
            conns = self.__dict__.setdefault("_served_conns", set())
            (conns.add if opened else conns.discard)(conn)

    def _open_connections(self):
        with _conns_lock:
            return list(self.__dict__.get("_served_conns", ()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def write_port_file(path, port):
    """port and a newline into path, atomically (a reader never sees it half written)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def serve_until_signal(fake, url, port_file=None, signals=(signal.SIGTERM, signal.SIGINT)):
    """Script mode: starts fake, prints "listening on <url>" (and writes port_file), serves
    until one of signals arrives, closes it."""
    stop = threading.Event()
    for sig in signals:
        signal.signal(sig, lambda *_: stop.set())
    fake.start()
    print(f"listening on {url}", flush=True)
    if port_file:
        write_port_file(port_file, fake.port)
    while not stop.wait(1.0):
        pass
    fake.close()
