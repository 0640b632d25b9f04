"""Fuzz the whole HTTP API from its own OpenAPI schema: no 5xx, no response that breaks the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from assistant.api.app import create_app
from assistant.indexing.service import run_index
from assistant.settings import Settings
from tests.lawdb import copy_seed


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, embedder: object) -> object:
    root = tmp_path_factory.mktemp("fuzz")
    corpus = copy_seed(root / "corpus")
    config = Settings(corpus_dir=corpus, index_dir=root / "index", data_dir=root / "data",
                      max_concurrent_requests=64, rate_limit_questions="", rate_limit_reports="")
    run_index(config)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(config, ui=False))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_holds_its_own_contract(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, status_code_conformance,
                                   content_type_conformance])
