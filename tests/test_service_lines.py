"""What the service tells systemd and the journal: the STATUS= summary, journal line prefixes."""

import logging

from waldur_site_agent_actors.actors.status import ModeStatus, OfferingStatus
from waldur_site_agent_actors.agent import logs
from waldur_site_agent_actors.agent.status import SUMMARY_LENGTH, summary


def offering(name: str, state: str, error: str | None = None, **modes: ModeStatus):
    return OfferingStatus(name=name, uuid=name, state=state, last_error=error, modes=modes)


def test_summary_counts_states_and_shows_the_failed_offerings_error_first():
    offerings = [
        offering("hpc", "RUNNING", report=ModeStatus(last_error="usage: timeout")),
        offering("storage", "FAILED", "RuntimeError: no\nbackend"),
        offering("gpu", "RUNNING"),
    ]
    assert summary(offerings) == (
        "3 offering(s): 1 failed, 2 running; last error (storage): RuntimeError: no backend"
    )


def test_summary_falls_back_to_the_latest_mode_error_and_stays_short():
    older, newer = ModeStatus(last_error="old", last_cycle_at=1), ModeStatus(last_cycle_at=2)
    newer.last_error = "x" * 500
    line = summary([offering("hpc", "RUNNING", report=older, order_process=newer)])
    assert line.startswith("1 offering(s): 1 running; last error (hpc order_process): xxx")
    assert len(line) == SUMMARY_LENGTH and line.endswith("...")
    assert summary([]) == "0 offering(s): none"


def test_journal_stream_is_recognised_by_its_inode_only(tmp_path, monkeypatch):
    journal, other = (tmp_path / "journal").open("w"), (tmp_path / "other").open("w")
    info = (tmp_path / "journal").stat()
    monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
    assert logs.is_journal(journal)
    assert not logs.is_journal(other)  # the variable inherited, the stream redirected
    monkeypatch.delenv("JOURNAL_STREAM")
    assert not logs.is_journal(journal)
    journal.close()
    other.close()


def test_journal_lines_carry_the_priority_of_their_level():
    formatter = logs.OneLineFormatter(logs.JOURNAL_FORMAT)
    levels = {
        logging.CRITICAL: 2,
        logging.ERROR: 3,
        logging.WARNING: 4,
        logging.INFO: 6,
        logging.DEBUG: 7,
    }
    for level, priority in levels.items():
        record = logging.LogRecord("agent.x", level, __file__, 1, "a\nb", None, None)
        name = logging.getLevelName(level)
        assert formatter.format(record) == f"<{priority}>{name} agent.x [-]: a | b"
