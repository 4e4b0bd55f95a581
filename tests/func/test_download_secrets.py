"""The download stage given a url: whose password is in netrc and whose query holds a token, never puts either into
MLflow or its outputs."""

import base64
import http.server
import io
import sqlite3
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests import project as project_copy

pytestmark = pytest.mark.slow  # starts an HTTP server and runs the download stage

SECRET = "s3cret-pa55"


def digits_zip() -> bytes:
    """Two classes of three tiny images each, in one top folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in ("0", "1"):
            for index in range(3):
                image = io.BytesIO()
                Image.fromarray(np.full((8, 8), 40 * index + 100 * int(label), np.uint8)).save(image, "PNG")
                archive.writestr(f"digits/{label}/{index}.png", image.getvalue())
    return buffer.getvalue()


class Archive(http.server.BaseHTTPRequestHandler):
    body = digits_zip()

    def do_GET(self):
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode():
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Archive)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/digits.zip?token=also-{SECRET}"
    repo = project_copy.copy_project(tmp_path_factory.mktemp("secrets"), git=False, data={"source": f"url:{url}"})
    netrc = repo.parent / "netrc"  # outside the project, as ~/.netrc is
    netrc.write_text(f"machine 127.0.0.1 login alice password {SECRET}\n")
    try:
        result = project_copy.run(
            "python", "-m", "stages.download", cwd=repo, env=project_copy.clean_env(NETRC=str(netrc))
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    return repo, result.stdout + result.stderr


def test_the_download_worked(downloaded):
    repo, _ = downloaded
    assert sorted(p.relative_to(repo / "data/raw").as_posix() for p in (repo / "data/raw").rglob("*.png")) == [
        "0/0.png",
        "0/1.png",
        "0/2.png",
        "1/0.png",
        "1/1.png",
        "1/2.png",
    ]


def port(repo) -> int:
    return int(
        project_copy.yaml.safe_load((repo / "params.yaml").read_text())["data"]["source"].split(":")[-1].split("/")[0]
    )


def test_mlflow_params_and_tags_hold_only_the_redacted_url(downloaded):
    repo, _ = downloaded
    with sqlite3.connect(repo / "mlflow.db") as db:
        params = dict(db.execute("select key, value from params where key = 'data.source'").fetchall())
        values = [v for (v,) in db.execute("select value from params union all select value from tags")]
    assert params == {"data.source": f"url:http://127.0.0.1:{port(repo)}/digits.zip?***"}
    assert not [v for v in values if SECRET in (v or "")]


def test_the_secret_is_nowhere_on_disk_or_in_the_output(downloaded):
    repo, output = downloaded
    assert SECRET not in output
    leaks = [
        p for p in repo.rglob("*") if p.is_file() and p.name != "params.yaml" and SECRET.encode() in p.read_bytes()
    ]
    assert leaks == []
