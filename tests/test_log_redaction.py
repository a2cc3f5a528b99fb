"""The service's logs: every record of every library is redacted as it is created."""

import logging

import pytest

from reqflo.secrets.redact import MASK, Redactor, redact_process_logs


@pytest.fixture
def restore_factory():  # type: ignore[no-untyped-def]
    original = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(original)


def test_records_of_any_logger_are_redacted_even_in_tracebacks(
    restore_factory: None, caplog: pytest.LogCaptureFixture
) -> None:
    redactor = Redactor()
    redact_process_logs(redactor)
    redact_process_logs(redactor)  # idempotent: one wrapper only
    redactor.add("canary-LOG-5ecret")
    logger = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        logger.info("token=%s", "canary-LOG-5ecret")
        try:
            raise ValueError("bad value canary-LOG-5ecret")
        except ValueError:
            logger.exception("failed with %r", {"k": "canary-LOG-5ecret"})
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "canary-LOG-5ecret" not in text
    assert text.count(MASK) >= 3 and "ValueError" in text


def test_sanity_without_the_factory_the_canary_shows(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("token=%s", "canary-LOG-5ecret")
    assert "canary-LOG-5ecret" in caplog.text
