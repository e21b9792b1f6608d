"""The suite in several processes (pytest-xdist, `-n 2` in pytest.ini): the tests that must not
run beside each other (the root conftest's PROCESS_TESTS) all go to one worker.

xdist's own means do not serve here: its `xdist_group` mark is lost under pytest 9 (xdist names
the items after their group through an attribute pytest 9 no longer reads), and its scope
schedulers key the tests by node id, which schemathesis' tests of one function share (one id for
every operation fuzzed): all but one of them would never run. This keeps xdist's `load`
scheduling, which deals in positions in the collection.
"""

from __future__ import annotations

from xdist.scheduler import LoadScheduling
from xdist.workermanage import WorkerController


class TogetherFirst(LoadScheduling):
    """xdist's `load` scheduling, but every test whose node id starts with one of `together`
    goes to the first worker at the start, in collection order; the others are shared out as
    usual (that worker takes its part once it has run them)."""

    together: tuple[str, ...] = ()
    _together: frozenset[int] = frozenset()

    def schedule(self) -> None:
        if self.collection is not None:  # nodes added later: as xdist does
            super().schedule()
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        collection = next(iter(self.node2collection.values()))
        together = [n for n, nodeid in enumerate(collection) if nodeid.startswith(self.together)]
        if not together:
            super().schedule()
            return
        self.collection = collection
        self._together = frozenset(together)
        self.pending[:] = [n for n in range(len(collection)) if n not in self._together]
        if self.maxschedchunk is None:
            self.maxschedchunk = len(collection)
        first = self.nodes[0]
        self.node2pending[first].extend(together)
        first.send_runtest_some(together)
        for node in self.nodes:
            self.check_schedule(node)  # the others' first tests (or shutdown, if none are left)

    def check_schedule(self, node: WorkerController, duration: float = 0) -> None:
        # No other tests for the first worker while it has these to run, but for the last one:
        # a worker runs a test once it holds the next (for the teardown between them).
        if self.pending and sum(n in self._together for n in self.node2pending[node]) > 1:
            return
        super().check_schedule(node, duration)
