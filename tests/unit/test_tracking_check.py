"""The tracking store's pre-flight check and URI redaction, against a tiny local HTTP server and folders."""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from convpipe.core.tracking import unreachable
from convpipe.core.urls import redact
from tests.servers import free_port


@pytest.fixture(scope="module")
def health_server():
    """An HTTP server whose /health answers with the status code the path's first part names."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(int(self.path.strip("/").split("/")[0]))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_server_answering_health_is_usable(health_server):
    assert unreachable(f"{health_server}/200") is None


def test_a_client_error_still_means_a_live_server(health_server):
    assert unreachable(f"{health_server}/401") is None  # e.g. an auth proxy in front of /health


def test_a_server_error_makes_it_unusable(health_server):
    assert unreachable(f"{health_server}/503") == "GET /health answered HTTP 503"


def test_nothing_listening_is_unreachable():
    problem = unreachable(f"http://127.0.0.1:{free_port()}")
    assert problem.startswith("no answer to GET /health") and "refused" in problem


def test_a_sql_server_port_with_nothing_listening_is_unreachable():
    assert unreachable(f"postgresql+psycopg2://u@127.0.0.1:{free_port()}/db").startswith("no TCP connection")


def test_sqlite_needs_a_writable_folder(tmp_path):
    assert unreachable(f"sqlite:///{tmp_path}/new/sub/mlflow.db") is None  # MLflow creates the folders
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    tmp_path.chmod(0o500)
    try:
        assert unreachable(f"sqlite:///{tmp_path}/mlflow.db") == f"{tmp_path} is not writable"
    finally:
        tmp_path.chmod(0o700)


def test_sqlite_on_a_read_only_file_is_unusable(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    database = tmp_path / "mlflow.db"
    database.touch(0o400)
    assert unreachable(f"sqlite:///{database}") == f"{database} is not writable"


def test_sqlite_under_a_file_is_unusable(tmp_path):
    (tmp_path / "file").touch()
    assert unreachable(f"sqlite:///{tmp_path}/file/mlflow.db") == f"{tmp_path}/file is not a folder"


def test_redact_hides_user_info_and_query_and_keeps_file_uris_intact():
    assert redact("https://alice:s3cret@mlflow.example.com:5000/x") == "https://***@mlflow.example.com:5000/x"
    assert redact("sqlite:////abs/mlflow.db") == "sqlite:////abs/mlflow.db"
    assert redact("postgresql://u:p@db:5432/mlflow?sslmode=require") == "postgresql://***@db:5432/mlflow?***"
    assert redact("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
