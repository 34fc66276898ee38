"""Run by tests/test_telemetry.py in a process of its own (Sentry and Elastic APM are set up once
per process): loads a config as every command does, logs what an agent logs when things go
wrong, with secrets in it, and flushes what is queued for the error trackers."""

import logging
import sys

from waldur_site_agent_actors.agent import process
from waldur_site_agent_actors.config import load_file


def main(path: str) -> None:
    config = load_file(path).config
    process.prepare(config)
    token = config.offerings[0].waldur_api_token
    log = logging.getLogger("actors.order_process")
    log.info("GET https://s3.example.org/admin/user?uid=a&secret-key=minted-at-run-time")
    log.error("Waldur refused token %s", token, extra={"offering": "hpc"})
    try:
        raise RuntimeError(f"backend said: bad credentials {token}")
    except RuntimeError:
        log.exception("order failed")
    if config.sentry_dsn:
        import sentry_sdk

        sentry_sdk.flush(timeout=10)
    if config.elastic_apm_server_url:
        import elasticapm

        client = elasticapm.get_client()
        assert client is not None
        client.close()


if __name__ == "__main__":
    main(sys.argv[1])
