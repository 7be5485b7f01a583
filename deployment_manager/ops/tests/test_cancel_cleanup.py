"""A clean-up after a cancel runs each command once."""

from ...remote import LocalTransport
from ..common import run_anyway
from ..context import Cancelled, SimpleContext


class CancelledAfterEachCommand(SimpleContext):
    """Like the journal once a cancel is asked: the command runs, then the
    cancel is raised with its result."""

    def run(self, transport, argv, keep_output=True, **kwargs):
        result = super().run(transport, argv, keep_output, **kwargs)
        raise Cancelled("Cancelled on request.", result)


class CancelledBeforeEachCommand(SimpleContext):
    def run(self, transport, argv, keep_output=True, **kwargs):
        raise Cancelled("Cancelled on request.")


def test_clean_up_after_cancel_runs_a_command_once(tmp_path):
    """A clean-up command the journal ran before noticing the cancel is not run a
    second time; one it refused to start still runs, outside the journal."""
    marks = tmp_path / "marks"
    argv = ["sh", "-c", 'echo ran >> "$1"', "sh", str(marks)]
    with LocalTransport() as transport:
        result = run_anyway(CancelledAfterEachCommand(str(tmp_path)), transport, argv)
        assert result.ok
        assert marks.read_text().splitlines() == ["ran"]
        result = run_anyway(CancelledBeforeEachCommand(str(tmp_path)), transport, argv)
        assert result.ok
        assert marks.read_text().splitlines() == ["ran", "ran"]
