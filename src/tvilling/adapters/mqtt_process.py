"""MQTT reception in a child process: the same contract as :class:`tvilling.adapters.mqtt.MqttSource`
(``handler(topic, payload, ack)``, PUBACK only when ``ack`` is called after the durable commit), with paho's
per-message work on another core.

Why: paho is pure Python and costs about as much CPU per message as the platform's own decode + rules + store, and
in one process both share one interpreter lock. Here the child runs paho and nothing else; messages cross a pipe in
batches and acknowledgements come back in batches, so the parent spends a few microseconds per message on them.

Guarantees kept (reliability G1/G2, D-01):
- The child acks a message only when the parent sends its token back, i.e. after the parent's commit.
- The child dies with the parent: its main thread blocks on the pipe and exits on EOF, so a killed platform never
  leaves a subscriber behind that would fight its successor for the client id.
- If the child dies, the parent starts a new one (capped backoff). Tokens of the dead child are never sent to the new
  one: the broker redelivers those messages (storage is idempotent).
"""

from __future__ import annotations

import gc
import itertools
import logging
import multiprocessing as mp
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from prometheus_client import Counter

from tvilling.adapters.mqtt import Ack, MessageHandler, MqttSettings, MqttSource

log = logging.getLogger(__name__)
RESTARTS = Counter("tvilling_mqtt_receiver_restarts_total",
                   "MQTT receiver child processes that ended unexpectedly and were replaced", registry=None)

BATCH_MAX = 512  # messages per pipe message; larger bursts are split so the parent can start on the first part
GATHER_S = 0.0005  # after the first message of a burst, wait this long for more before sending (latency cost)


# -- child process -------------------------------------------------------------------------------------------
def _child_main(settings: MqttSettings, conn: Connection,
                gc_thresholds: tuple[int, int, int] | None = None) -> None:
    if gc_thresholds is not None:  # the parent's interpreter settings (app.runtime) do not cross a spawn
        gc.set_threshold(*gc_thresholds)
    acks: dict[int, Ack] = {}
    tokens = itertools.count()
    buf: list[tuple[int, str, bytes]] = []
    lock = threading.Lock()
    send_lock = threading.Lock()
    wake = threading.Event()
    done = threading.Event()

    def send(msg: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(msg)

    def flush() -> None:
        with send_lock:  # taken before the buffer, so two flushes can never send out of arrival order
            with lock:
                items = buf[:]
                buf.clear()
            if items:
                conn.send(("msgs", items))

    def on_message(topic: str, payload: bytes, ack: Ack) -> None:
        token = next(tokens)
        acks[token] = ack
        with lock:
            buf.append((token, topic, payload))
            n = len(buf)
        if n == 1:
            wake.set()
        elif n >= BATCH_MAX:
            flush()

    def flusher() -> None:
        while not done.is_set():
            wake.wait(0.5)
            wake.clear()
            time.sleep(GATHER_S)
            flush()

    def status(src: MqttSource) -> None:
        while not done.is_set() and not src.wait_subscribed(0.5):
            pass
        if not done.is_set():
            send(("subscribed",))
        last = True
        while not done.wait(0.5):  # broker connection changes, for the parent's ``connected`` (health)
            now = src.connected
            if now != last:
                send(("connected", now))
                last = now

    src = MqttSource(settings, on_message)
    threading.Thread(target=flusher, name="mqtt-flush", daemon=True).start()
    src.start()
    threading.Thread(target=status, args=(src,), name="mqtt-status", daemon=True).start()
    try:
        while True:
            msg = conn.recv()  # EOFError when the parent is gone
            if msg[0] == "ack":
                for token in msg[1]:
                    ack = acks.pop(token, None)
                    if ack is not None:
                        ack()
            elif msg[0] == "stop":
                break
    except (EOFError, OSError):
        pass
    finally:
        done.set()
        src.stop()
        conn.close()


# -- parent side ---------------------------------------------------------------------------------------------
class MqttProcessSource:
    """Drop-in for ``MqttSource``: ``handler`` runs on a reader thread of this process (as paho's thread would)."""

    def __init__(self, settings: MqttSettings, handler: MessageHandler, restart_max_s: float = 10.0,
                 gc_thresholds: tuple[int, int, int] | None = None) -> None:
        self.settings = settings
        self._gc_thresholds = gc_thresholds
        self._handler = handler
        self._restart_max_s = restart_max_s
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._acks: list[int] = []
        self._ack_lock = threading.Lock()
        self._ack_wake = threading.Event()
        self._send_lock = threading.Lock()
        self._conn: Connection | None = None
        self._proc: mp.process.BaseProcess | None = None
        self._threads: list[threading.Thread] = []
        self.received = 0
        self.disconnects = 0  # child restarts
        self._broker_up = False  # as last reported by the child

    @property
    def connected(self) -> bool:
        return (self._proc is not None and self._proc.is_alive() and self._subscribed.is_set()
                and self._broker_up)

    def start(self) -> None:
        self._spawn()
        for target, name in ((self._read_loop, "mqtt-proc-read"), (self._ack_loop, "mqtt-proc-ack")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._ack_wake.set()
        self._flush_acks()  # what was committed before stop still gets its PUBACK
        conn, proc = self._conn, self._proc
        if conn is not None:
            try:
                with self._send_lock:
                    conn.send(("stop",))
            except OSError:
                pass
        if proc is not None:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(1)
        for t in self._threads:
            t.join(2)
        if conn is not None:
            conn.close()

    def _spawn(self) -> None:
        parent, child = mp.get_context("spawn").Pipe(duplex=True)
        proc = mp.get_context("spawn").Process(target=_child_main,
                                               args=(self.settings, child, self._gc_thresholds),
                                               name="tvilling-mqtt", daemon=True)
        proc.start()
        child.close()
        with self._ack_lock:
            self._acks.clear()  # tokens of a dead child mean nothing to the new one
            self._conn, self._proc = parent, proc

    def _read_loop(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            conn = self._conn
            assert conn is not None
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                if self._stopping.is_set():
                    return
                self._subscribed.clear()
                self.disconnects += 1
                RESTARTS.inc()
                log.error("MQTT receiver process ended; starting a new one in %.1f s", backoff)
                if self._stopping.wait(backoff):
                    return  # stopped while waiting: no new receiver
                backoff = min(backoff * 2, self._restart_max_s)
                self._spawn()
                continue
            if msg[0] == "msgs":
                backoff = 0.5
                self._deliver(conn, msg[1])
            elif msg[0] == "subscribed":
                self._broker_up = True
                self._subscribed.set()
            elif msg[0] == "connected":
                self._broker_up = bool(msg[1])

    def _deliver(self, conn: Connection, items: list[tuple[int, str, bytes]]) -> None:
        self.received += len(items)
        handler, ack_for = self._handler, self._ack_for
        for token, topic, payload in items:
            try:
                handler(topic, payload, ack_for(conn, token))
            except Exception:  # no ack -> redelivered later; the reader thread must live on
                log.exception("MQTT message handler failed on %s", topic)

    def _ack_for(self, conn: Connection, token: int) -> Ack:
        def ack() -> None:
            with self._ack_lock:
                if conn is not self._conn:
                    return  # from a receiver that has since died: the broker redelivers
                self._acks.append(token)
                first = len(self._acks) == 1
            if first:
                self._ack_wake.set()

        return ack

    def _ack_loop(self) -> None:
        while not self._stopping.is_set():
            self._ack_wake.wait(0.5)
            self._ack_wake.clear()
            self._flush_acks()

    def _flush_acks(self) -> None:
        with self._ack_lock:
            tokens, self._acks = self._acks, []
            conn = self._conn
        if tokens and conn is not None:
            try:
                with self._send_lock:
                    conn.send(("ack", tokens))
            except OSError:  # the child is gone; its messages come back from the broker
                pass
