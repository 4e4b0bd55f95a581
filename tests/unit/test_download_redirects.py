"""url: sources against a hostile server on loopback: redirects are bounded and http(s) only; big bodies stop."""

import http.server
import threading

import pytest

from convpipe.data.archives import MAX_REDIRECTS, DownloadError, download

BODY = b"PK\x05\x06" + bytes(18)  # an empty zip: its end record alone


class Hostile(http.server.BaseHTTPRequestHandler):
    """/data.zip serves BODY; /hop/N redirects N times; other paths redirect where their name says."""

    seen: list = []

    def do_GET(self):
        Hostile.seen.append((self.path, self.headers.get("Authorization")))
        port = self.server.server_address[1]
        targets = {
            "/to-file.zip": "file:///etc/passwd",
            "/to-ftp.zip": "ftp://127.0.0.1/data.zip",
            "/loop.zip": "/loop.zip",
            "/to-creds.zip": f"http://bob:hunter2@127.0.0.1:{port}/to-file.zip",
            "/to-other-host.zip": f"http://localhost:{port}/data.zip",
        }
        if self.path == "/data.zip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
            return
        if self.path.startswith("/hop/"):
            left = int(self.path.split("/")[2])
            target = "/data.zip" if left == 0 else f"/hop/{left - 1}/data.zip"
        elif self.path == "/huge.zip":  # a body that never ends, without Content-Length
            self.send_response(200)
            self.end_headers()
            try:
                self.wfile.write(b"PK\x03\x04")
                while True:
                    self.wfile.write(b"x" * 65536)
            except OSError:
                return
        else:
            target = targets[self.path]
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch):
    monkeypatch.setattr(Hostile, "seen", [])


def test_a_few_redirects_are_followed(tmp_path, server):
    path = download(f"http://{server}/hop/{MAX_REDIRECTS - 1}/data.zip", tmp_path, None)
    assert path.read_bytes() == BODY


def test_too_many_redirects_are_refused(tmp_path, server):
    with pytest.raises(DownloadError, match=rf"/hop/{MAX_REDIRECTS + 1}/data.zip: more than {MAX_REDIRECTS} redirects"):
        download(f"http://{server}/hop/{MAX_REDIRECTS + 1}/data.zip", tmp_path, None)
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_loop_ends(tmp_path, server):
    with pytest.raises(DownloadError, match="redirects"):
        download(f"http://{server}/loop.zip", tmp_path, None)


@pytest.mark.parametrize("path, shown", [("/to-file.zip", "file:///etc/passwd"), ("/to-ftp.zip", "ftp://127.0.0.1")])
def test_a_redirect_off_http_is_refused(tmp_path, server, path, shown):
    with pytest.raises(DownloadError) as caught:
        download(f"http://{server}{path}", tmp_path, None)
    assert str(caught.value) == (
        f"http://{server}{path}: redirected to {shown}{'' if 'file' in shown else '/data.zip'}; "
        "only http:// and https:// redirects are followed"
    )
    assert list(tmp_path.iterdir()) == []


def test_netrc_credentials_are_not_sent_on_after_a_redirect(tmp_path, server, monkeypatch):
    (tmp_path / "netrc").write_text("machine 127.0.0.1 login alice password s3cret\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert download(f"http://{server}/to-other-host.zip", tmp_path / "cache", None).read_bytes() == BODY
    (first, auth), (second, next_auth) = Hostile.seen
    assert first == "/to-other-host.zip" and auth == "Basic YWxpY2U6czNjcmV0"
    assert second == "/data.zip" and next_auth is None  # localhost never got alice's password


def test_credentials_a_redirect_names_are_never_shown(tmp_path, server):
    with pytest.raises(DownloadError) as caught:
        download(f"http://{server}/to-creds.zip", tmp_path, None)
    assert str(caught.value).startswith(f"http://{server}/to-creds.zip: download failed")
    assert "hunter2" not in str(caught.value)


def test_a_body_past_the_size_limit_is_cut_off_and_deleted(tmp_path, server):
    with pytest.raises(
        ValueError, match=rf"^http://{server}/huge.zip: more than data.max_download_bytes=1000000 bytes$"
    ):
        download(f"http://{server}/huge.zip", tmp_path, None, max_bytes=1_000_000)
    assert list(tmp_path.iterdir()) == []
