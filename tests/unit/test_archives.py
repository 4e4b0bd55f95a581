import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import pytest

from convpipe.data.archives import Bounds, DownloadError, download, extract, redact

FILES = {"pets/cats/a.jpg": b"cat", "pets/dogs/b.jpg": b"dog", "pets/dogs/nested/c.jpg": b"pup"}


def make_zip(path, files=FILES):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def make_tar(path, files=FILES, links=()):
    """Write a tar.gz of files plus (name, type, linkname) link members."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, kind, linkname in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, linkname
            tf.addfile(info)
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("maker, name", [(make_zip, "pets.zip"), (make_tar, "pets.tar.gz")])
def test_fetch_and_extract_by_file_url(tmp_path, maker, name):
    archive = maker(tmp_path / name)
    cached = download(archive.as_uri(), tmp_path / "cache", sha(archive))
    assert cached.read_bytes() == archive.read_bytes()
    root = extract(cached, tmp_path / "out")
    assert root == tmp_path / "out" / "pets"  # the single top-level folder
    assert (root / "dogs" / "nested" / "c.jpg").read_bytes() == b"pup"
    assert leftovers(tmp_path / "cache") == [cached.name]  # no .part files


def test_wrong_sha256_raises_and_leaves_nothing(tmp_path):
    archive = make_zip(tmp_path / "pets.zip")
    with pytest.raises(ValueError, match=f"pets.zip: sha256 mismatch: expected {'0' * 64}, got {sha(archive)}"):
        download(archive.as_uri(), tmp_path / "cache", "0" * 64)
    assert leftovers(tmp_path / "cache") == []


def test_cached_file_is_reused_without_reading_the_source(tmp_path):
    archive = make_zip(tmp_path / "pets.zip")
    digest = sha(archive)
    first = download(archive.as_uri(), tmp_path / "cache", digest)
    archive.unlink()
    assert download(archive.as_uri(), tmp_path / "cache", digest) == first


def test_size_limit_is_enforced_while_streaming(tmp_path):
    archive = make_zip(tmp_path / "pets.zip")
    with pytest.raises(ValueError, match="exceeds data.max_download_bytes=10"):
        download(archive.as_uri(), tmp_path / "cache", None, max_bytes=10)
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize("url", ["ftp://example.org/a.zip", "s3://bucket/a.zip", "/just/a/path.zip"])
def test_unsupported_scheme_is_refused(tmp_path, url):
    with pytest.raises(ValueError, match="URL scheme .* is not one of .*'file', 'http', 'https'"):
        download(url, tmp_path, None)


def test_redact_hides_credentials_and_query():
    assert redact("https://alice:s3cret@host:8443/d/a.zip?token=abc#x") == "https://***@host:8443/d/a.zip?***"
    assert redact("https://host/a.zip") == "https://host/a.zip"


class _Server(http.server.BaseHTTPRequestHandler):
    body = b""
    seen_auth = []
    send_length = True

    def do_GET(self):
        _Server.seen_auth.append(self.headers.get("Authorization"))
        self.send_response(200)
        if self.send_length:
            self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_netrc_credentials_go_in_a_header_and_never_in_messages(tmp_path, server, caplog, monkeypatch):
    monkeypatch.setattr(_Server, "body", make_zip(tmp_path / "pets.zip").read_bytes())
    monkeypatch.setattr(_Server, "seen_auth", [])
    (tmp_path / "netrc").write_text("machine 127.0.0.1 login alice password s3cret\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    with pytest.raises(ValueError) as info:
        download(f"http://{server}/pets.zip", tmp_path / "cache", "1" * 64)
    assert _Server.seen_auth == ["Basic YWxpY2U6czNjcmV0"]  # base64 of alice:s3cret
    assert f"http://{server}/pets.zip: sha256 mismatch" in str(info.value)
    path = download(f"http://{server}/pets.zip", tmp_path / "cache", None)
    assert path.read_bytes() == _Server.body
    assert "s3cret" not in str(info.value) + caplog.text + path.name


def test_credentials_in_the_url_are_refused_before_anything_is_sent(tmp_path, server, monkeypatch):
    monkeypatch.setattr(_Server, "seen_auth", [])
    with pytest.raises(ValueError) as info:
        download(f"http://alice:s3cret@{server}/pets.zip", tmp_path / "cache", None)
    assert str(info.value).startswith(f"http://***@{server}/pets.zip: credentials in a URL would be stored in clear")
    assert "~/.netrc" in str(info.value) and "s3cret" not in str(info.value)
    assert _Server.seen_auth == [] and leftovers(tmp_path / "cache") == []


def test_size_limit_holds_without_content_length(tmp_path, server, monkeypatch):
    monkeypatch.setattr(_Server, "body", b"PK\x03\x04" + b"x" * 5000)
    monkeypatch.setattr(_Server, "send_length", False)
    with pytest.raises(ValueError, match="more than data.max_download_bytes=1000 bytes"):
        download(f"http://{server}/big.zip", tmp_path / "cache", None, max_bytes=1000)
    assert leftovers(tmp_path / "cache") == []


def test_download_failure_names_redacted_url(tmp_path):
    with pytest.raises(DownloadError, match=r"file:///nowhere/a.zip\?\*\*\*: download failed") as info:
        download("file:///nowhere/a.zip?token=hunter2", tmp_path, None)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "file:///etc/hostname#pets.zip", "https://host/download?f=a.zip"]
)
def test_a_url_not_naming_an_archive_is_refused_before_anything_is_read(tmp_path, url):
    with pytest.raises(ValueError, match="not an archive; the URL's path must end with one of"):
        download(url, tmp_path / "cache", None)
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize("name", ["passwd.zip", "passwd.tar.gz", "passwd.tar"])
def test_a_file_that_is_not_the_archive_its_name_says_is_never_saved(tmp_path, name):
    impostor = tmp_path / name
    impostor.write_text("root:x:0:0:root:/root:/bin/bash\n" * 40)
    with pytest.raises(
        ValueError, match=f"{name}: not a .* archive \\(it does not start like one\\); nothing was saved"
    ):
        download(impostor.as_uri(), tmp_path / "cache", hashlib.sha256(impostor.read_bytes()).hexdigest())
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize(
    "name, why",
    [
        ("../evil.jpg", "'..' path component"),
        ("pets/../../evil.jpg", "'..' path component"),
        ("/abs/evil.jpg", "absolute path"),
    ],
)
@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_path_traversal_members_are_refused(tmp_path, maker, name, why):
    archive = maker(tmp_path / ("bad.zip" if maker is make_zip else "bad.tar.gz"), {**FILES, name: b"x"})
    with pytest.raises(ValueError, match=f"bad.*refusing member '{name}': {why}"):
        extract(archive, tmp_path / "out")
    assert leftovers(tmp_path / "out") == [] and not (tmp_path / "evil.jpg").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.parametrize(
    "kind, link",
    [(tarfile.SYMTYPE, "../../../etc/passwd"), (tarfile.SYMTYPE, "/etc/passwd"), (tarfile.LNKTYPE, "../outside")],
)
def test_tar_links_escaping_dest_are_refused(tmp_path, kind, link):
    archive = make_tar(tmp_path / "bad.tar.gz", links=[("pets/cats/link.jpg", kind, link)])
    with pytest.raises(ValueError, match=f"refusing member 'pets/cats/link.jpg': link to '{link}' points outside"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_links_inside_dest_are_kept(tmp_path):
    archive = make_tar(tmp_path / "ok.tar.gz", links=[("pets/cats/same.jpg", tarfile.SYMTYPE, "a.jpg")])
    root = extract(archive, tmp_path / "out")
    assert (root / "cats" / "same.jpg").read_bytes() == b"cat"


def test_tar_device_files_are_refused(tmp_path):
    archive = make_tar(tmp_path / "dev.tar.gz", links=[("pets/null", tarfile.CHRTYPE, "")])
    with pytest.raises(ValueError, match="refusing member 'pets/null': device file"):
        extract(archive, tmp_path / "out")


def test_zip_symlinks_are_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("pets/cats/link.jpg")
        info.external_attr = 0o120777 << 16  # a symlink, as zip -y stores it
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(ValueError, match="refusing member 'pets/cats/link.jpg': symlink to '../../etc/passwd'"):
        extract(archive, tmp_path / "out")


def test_several_top_level_entries_return_dest_and_macosx_is_ignored(tmp_path):
    archive = make_zip(tmp_path / "mac.zip", {**FILES, "__MACOSX/pets/._a.jpg": b"fork"})
    assert extract(archive, tmp_path / "one") == tmp_path / "one" / "pets"
    archive = make_zip(tmp_path / "flat.zip", {"cats/a.jpg": b"1", "dogs/b.jpg": b"2"})
    assert extract(archive, tmp_path / "two") == tmp_path / "two"


def test_extract_refuses_existing_dest_and_unknown_types(tmp_path):
    archive = make_zip(tmp_path / "pets.zip")
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="out already exists"):
        extract(archive, tmp_path / "out")
    with pytest.raises(ValueError, match="pets.rar: unsupported archive type"):
        extract(tmp_path / "pets.rar", tmp_path / "new")


def test_corrupt_archive_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.zip: not a valid zip file"):
        extract(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupted_cache_entry_is_replaced(tmp_path):
    archive = make_zip(tmp_path / "pets.zip")
    cached = download(archive.as_uri(), tmp_path / "cache", sha(archive))
    cached.write_bytes(b"bit rot")
    assert download(archive.as_uri(), tmp_path / "cache", sha(archive)).read_bytes() == archive.read_bytes()


def zeros_zip(path, megabytes: int, name="pets/cats/zeros.jpg"):
    """A zip whose one member inflates to `megabytes` MiB of zeros: a thousand times its size."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w") as member:
        for _ in range(megabytes):
            member.write(bytes(2**20))
    return path


def test_an_archive_inflating_past_the_ratio_is_refused_naming_the_member(tmp_path):
    archive = zeros_zip(tmp_path / "bomb.zip", 64)
    size = archive.stat().st_size
    assert size < 2**20 // 10
    with pytest.raises(ValueError) as refused:
        extract(archive, tmp_path / "out")
    assert str(refused.value) == (
        f"{archive}: refusing member 'pets/cats/zeros.jpg': unpacking would write more than {100 * size} bytes "
        f"(data.max_compression_ratio=100 × the archive's {size} bytes)"
    )
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["bomb.zip"]
    assert (extract(archive, tmp_path / "out", Bounds(max_ratio=2000)) / "cats" / "zeros.jpg").stat().st_size == 2**26


def test_a_tar_past_the_total_bound_is_refused_naming_the_member(tmp_path):
    archive = make_tar(tmp_path / "big.tar.gz", {"pets/a.jpg": bytes(3000), "pets/b.jpg": bytes(3000)})
    with pytest.raises(
        ValueError,
        match=r"refusing member 'pets/b.jpg': unpacking would write more than 5000 bytes "
        r"\(data.max_extract_bytes=5000\)",
    ):
        extract(archive, tmp_path / "out", Bounds(max_bytes=5000, max_ratio=10**5))
    assert extract(archive, tmp_path / "out", Bounds(max_bytes=8000, max_ratio=10**5)) == tmp_path / "out" / "pets"


def test_a_broken_netrc_is_named_without_quoting_it(tmp_path, monkeypatch):
    (tmp_path / "netrc").write_text("machine 127.0.0.1 login alice passwd s3cret\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    with pytest.raises(ValueError) as refused:
        download("http://127.0.0.1:9/pets.zip", tmp_path / "cache", None)
    assert str(refused.value) == f"{tmp_path / 'netrc'}: not a netrc file this downloader can read (line 1)"
