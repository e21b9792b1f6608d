"""The gunicorn worker `manage.py serve` runs: gthread, with two changes. A kept-alive
connection's next request is served by the thread that answered the last one when it comes at
once; and a worker accepts a connection only while it has a thread free (see
`set_accept_enabled`: slow clients spread over the workers).

gthread hands a kept-alive connection back to the worker's main thread after every response: the
socket goes back on the poller, and when the next request arrives it is submitted to the thread
pool again (a future, a pipe write to wake the main thread, two epoll registrations, two
`setblocking` calls, and the main thread taking the GIL from the threads serving requests). Here
the thread waits up to `LINGER_SECONDS` for the next request on the same connection and serves it
directly; only an idle connection goes back to the poller, as before. Measured (issue 14,
bench/single.py, same runs against plain gthread): one client posting events one after another
gained 4-16% (the trip is latency as much as CPU); 8 clients -1% to +8%, as the machine was
busy or quiet (737 against 743 events/s, 830 against 816, 918 against 854 with 6 rounds of 6 ahead).
py-spy put the trip at about 3% of the GIL's time.

Bounds, so that no client keeps a thread from the others: at most `REQUESTS_IN_A_ROW` requests of
one connection are served this way before it queues like any other, and a stopping worker
lingers no more. A slow client is treated as before: its request is taken up once its first
bytes have arrived, and its body read under REQUEST_BODY_TIMEOUT_SECONDS (core.request_body).
"""

import select
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# How long a thread waits for a connection's next request. A client with requests to send
# sends the next one as soon as it has read the answer (under a millisecond here); waiting
# costs no CPU, and holds one of the worker's threads (64 by default) that long at most.
LINGER_SECONDS = 0.005
# Requests of one connection a thread serves in a row before handing it back to the poller:
# other connections' requests queued for a thread wait for at most these many.
REQUESTS_IN_A_ROW = 16


def _next_request_arrives(sock: Any, timeout: float) -> bool:
    # poll, not select: select refuses descriptors above 1,023, which a busy worker reaches.
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


class KeepAliveThreadWorker(ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Requests handed to the thread pool and not finished (the main thread alone counts).
        self.busy_threads = 0

    # --- accept only with a thread free --------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread accepts while it holds fewer than worker_connections (1,000) connections,
        # thread free or not: one worker could take most of a burst of slow clients and leave
        # the requests it accepts next waiting while another worker's threads idle. With all
        # its threads busy, a worker leaves new connections to the others (the listening
        # socket is shared), or to the backlog until a thread frees.
        super().set_accept_enabled(enabled and self.busy_threads < self.cfg.threads)

    def enqueue_req(self, conn: Any) -> None:
        self.busy_threads += 1
        if self.busy_threads >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        # run() turns accepting back on at its next turn (the poller wakes it for this call).
        self.busy_threads -= 1
        super().finish_request(conn, fs)

    # --- a kept-alive connection's next request ------------------------------------------

    def handle(self, conn: Any) -> Any:
        keep_alive = super().handle(conn)
        for _ in range(REQUESTS_IN_A_ROW - 1):
            # TLS may hold decrypted bytes the socket no longer shows; HTTP/2 has its own loop.
            if keep_alive is not True or not self.alive or self.cfg.is_ssl or conn.is_http2:
                break
            # Bytes already read past the last request (pipelining) are the next one.
            read_ahead = conn.parser.unreader.buf.getvalue()
            if not read_ahead and not _next_request_arrives(conn.sock, LINGER_SECONDS):
                break
            keep_alive = super().handle(conn)
        return keep_alive
