"""Fetch a data archive by URL into a verified cache and unpack it safely; no TensorFlow here."""

import base64
import hashlib
import http.client
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from convpipe.core.urls import redact
from convpipe.data.images import file_sha256

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("file", "http", "https")
DEFAULT_MAX_BYTES = 20 * 2**30  # 20 GiB, as params' data.max_download_bytes
MAX_REDIRECTS = 5
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_CHUNK = 2**20
_TIMEOUT_S = 60  # per socket operation, not for the whole download


class DownloadError(OSError):
    """A download failed; the message names the redacted URL."""


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow at most MAX_REDIRECTS redirects, and only to http(s): never from a server to file://."""

    max_redirections = MAX_REDIRECTS

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("location") or headers.get("uri")
        if location:
            # Checked before urllib's own check, which lets ftp:// through and names no URL.
            newurl = urllib.parse.urljoin(req.full_url, location)
            if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
                raise DownloadError(
                    f"{redact(req.full_url)}: redirected to {redact(newurl)}; "
                    "only http:// and https:// redirects are followed"
                )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def download(url: str, cache_dir: Path, sha256: str | None, max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """Download url into cache_dir once, verified against sha256 when given; return the cached file.

    Without sha256 a cached file is reused as it is, and the hash to pin is logged.
    """
    request = _request(url)
    shown = redact(url)
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"sha256 {sha256!r} for {shown} is not 64 hexadecimal digits")
    expected = sha256.lower() if sha256 else None
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / _cache_name(url, expected)
    if target.exists():
        if expected is None or file_sha256(target) == expected:
            return target
        log.warning("cached %s does not match sha256 %s; downloading %s again", target, expected, shown)
        target.unlink()  # named after the expected hash, so it is garbage whatever happens next
    fd, part = tempfile.mkstemp(dir=cache_dir, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _download(request, out, shown, max_bytes)
        if expected is not None and actual != expected:
            raise ValueError(f"{shown}: sha256 mismatch: expected {expected}, got {actual}")
        if expected is None:
            log.warning("%s has sha256 %s; pin it to make the download reproducible", shown, actual)
        os.replace(part, target)  # atomic: readers see the old file or the whole verified one
    finally:
        if os.path.exists(part):
            os.unlink(part)
    return target


def _request(url: str) -> urllib.request.Request:
    """Build a request with credentials moved from the URL into an Authorization header."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise ValueError(f"URL scheme {parts.scheme!r} of {redact(url)} is not one of {ALLOWED_SCHEMES}")
    userinfo, at, _ = parts.netloc.rpartition("@")
    request = urllib.request.Request(_without_credentials(url))
    request.add_header("User-Agent", "convpipe")
    if at:
        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode())
        # Unredirected: urllib would otherwise send the credentials on to whatever host a redirect names.
        request.add_unredirected_header("Authorization", f"Basic {token.decode()}")
    return request


def _cache_name(url: str, sha256: str | None) -> str:
    """Name cached files by content hash when known (mirrors share it), else by credential-free URL."""
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name or "download"
    name = re.sub(r"[^\w.\-]", "_", name)
    key = sha256 or hashlib.sha256(_without_credentials(url).encode()).hexdigest()
    return f"{key[:16]}-{name}"


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _download(request: urllib.request.Request, out, shown: str, max_bytes: int) -> str:
    """Stream the response into out with a progress bar; return the hex sha256 of what was written."""
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.build_opener(_Redirects).open(request, timeout=_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            if total is not None and total > max_bytes:
                raise ValueError(f"{shown}: {total} bytes exceeds data.max_download_bytes={max_bytes}")
            name = PurePosixPath(urllib.parse.urlsplit(shown).path).name
            # disable=None turns the bar off when stderr is not a terminal (CI, DVC logs).
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=None) as bar:
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise ValueError(f"{shown}: more than data.max_download_bytes={max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400 and "infinite loop" in str(exc.msg):  # urllib's words for a loop or long chain
            raise DownloadError(f"{shown}: more than {MAX_REDIRECTS} redirects") from None
        raise DownloadError(f"{shown}: download failed: HTTP {exc.code} {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        # from None: the chained exception may carry the unredacted URL.
        raise DownloadError(f"{shown}: download failed: {exc}") from None
    if total is not None and received != total:
        raise DownloadError(f"{shown}: connection closed after {received} of {total} bytes")
    return digest.hexdigest()


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a zip or tar archive into dest (which must not exist); return its single top folder or dest."""
    archive, dest = Path(archive), Path(dest)
    if not archive.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise ValueError(f"{archive}: unsupported archive type; expected one of {ARCHIVE_SUFFIXES}")
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; remove it to extract {archive.name} again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Unpack beside dest and rename, so a failure never leaves a half-filled dest behind.
    part = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"))
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, part)
        else:
            _extract_tar(archive, part)
        os.replace(part, dest)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return single_root(dest)


def _extract_zip(archive: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_name(archive, info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    # zipfile would write the link target as a small text file: wrong either way.
                    target = zf.read(info).decode(errors="replace")
                    why = f"symlink to {target!r} (links in zip files are not supported)"
                    raise _unsafe(archive, info.filename, why)
            zf.extractall(into)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{archive}: not a valid zip file: {exc}") from None


def _extract_tar(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf.getmembers():
                _check_tar_member(archive, member)
            # The "data" filter refuses the same things again (and strips setuid bits); ours come
            # first only so the message names the archive and the member.
            tf.extractall(into, filter="data")
    except tarfile.TarError as exc:
        raise ValueError(f"{archive}: not a valid tar file: {exc}") from None


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    _check_name(archive, member.name)
    if member.isdev():
        raise _unsafe(archive, member.name, "device file or FIFO")
    if member.issym() or member.islnk():
        # Symlink targets are relative to the link's folder, hard-link targets to the archive root.
        base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
        target = os.path.normpath(base / member.linkname)
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise _unsafe(archive, member.name, f"link to {member.linkname!r} points outside the archive")


def _check_name(archive: Path, name: str) -> None:
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"[A-Za-z]:", posix):
        raise _unsafe(archive, name, "absolute path")
    if ".." in PurePosixPath(posix).parts:
        raise _unsafe(archive, name, "'..' path component")


def _unsafe(archive: Path, member: str, why: str) -> ValueError:
    return ValueError(f"{archive}: refusing member {member!r}: {why}")


def single_root(dest: Path) -> Path:
    """The one folder inside dest when there is just one, else dest itself."""
    # macOS zips add __MACOSX/ beside the real top folder; it holds only resource forks.
    entries = [p for p in dest.iterdir() if not (p.name.startswith(".") or p.name == "__MACOSX")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest
