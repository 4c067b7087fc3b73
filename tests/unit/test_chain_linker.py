"""Hash-chain links computed while two threads record at once (a command and a consumer of
the same service): each recording links its own events, whatever the other one does."""

from __future__ import annotations

import threading

from shared.audit import GENESIS, ChainLinker


def in_another_thread(fn) -> None:
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join()


def test_a_recording_in_another_thread_does_not_clear_or_commit_this_ones_links():
    linker = ChainLinker(previous_hash=lambda _id, _version: "read from the store")
    first = linker.link("case-x", 1, "Opened", {"n": 1})
    assert first["prev"] == GENESIS

    def other_recording_that_fails() -> None:
        linker.batch.clear()  # what a recording does when it starts, and when it fails
        linker.link("case-y", 1, "Opened", {"n": 1})
        linker.batch.clear()

    in_another_thread(other_recording_that_fails)
    second = linker.link("case-x", 2, "Changed", {"n": 2})
    assert second["prev"] == first["hash"]

    def other_recording_that_succeeds() -> None:
        linker.batch.clear()
        linker.link("case-y", 1, "Opened", {"n": 1})
        linker.commit()

    in_another_thread(other_recording_that_succeeds)
    assert ("case-x", 2) not in linker.committed  # not stored yet: not linked to by others
    linker.commit()
    assert linker.committed[("case-x", 2)] == second["hash"]
    assert linker.link("case-x", 3, "Changed", {"n": 3})["prev"] == second["hash"]
