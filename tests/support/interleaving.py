"""Two transactions that share review entries in opposite orders, made to interleave: the deadlock tests' harness."""
from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine, select

from mappings.tables import review_entries

__all__ = ["CODES", "in_opposite_orders"]

#: Two local codes nothing maps, so that each translation counts a review entry (and locks its row).
CODES = ("DLA", "DLB")


def in_opposite_orders(engine: Engine, work: Callable[[Connection, list[str], Callable[..., None]], None]
                       ) -> tuple[list[BaseException], dict[str, int]]:
    """Run `work(connection, codes, observe)` for CODES and for CODES reversed, in two threads, each in a
    transaction of its own; `observe` (pass it as the translation callback) pauses each thread after its first
    translation until the other has made its own, or 2 s. Without a common lock order they would then
    deadlock. Returns (what the threads raised, each code's review-entry occurrences)."""
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []
    paused: set[int] = set()

    def pause_once(*_answer) -> None:
        if threading.get_ident() not in paused:
            paused.add(threading.get_ident())
            try:
                barrier.wait(timeout=2)  # the other transaction cannot get here while it waits for our lock
            except threading.BrokenBarrierError:
                pass

    def run(codes: list[str]) -> None:
        try:
            with engine.begin() as connection:
                work(connection, codes, pause_once)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(codes,)) for codes in (list(CODES), list(reversed(CODES)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with engine.connect() as connection:
        counted = dict(connection.execute(select(review_entries.c.source_code, review_entries.c.occurrences)
                                          .where(review_entries.c.source_code.in_(CODES))).all())
    return failures, counted
