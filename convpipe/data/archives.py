"""Fetch a data archive by URL into a verified cache and unpack it safely; no TensorFlow here."""

import base64
import hashlib
import http.client
import logging
import netrc
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from convpipe.core.urls import CREDENTIALS_ADVICE, redact
from convpipe.data.images import file_sha256

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("file", "http", "https")
DEFAULT_MAX_BYTES = 20 * 2**30  # 20 GiB, as params' data.max_download_bytes
MAX_REDIRECTS = 5
# Archive file endings → (offset, the bytes one of which a file of that type starts with there).
MAGIC = {
    ".zip": (0, (b"PK\x03\x04", b"PK\x05\x06")),  # a member, or the end record of an empty zip
    ".tar": (257, (b"ustar",)),
    ".tar.gz": (0, (b"\x1f\x8b",)),
    ".tgz": (0, (b"\x1f\x8b",)),
    ".tar.bz2": (0, (b"BZh",)),
    ".tar.xz": (0, (b"\xfd7zXZ\x00",)),
}
ARCHIVE_SUFFIXES = tuple(MAGIC)
MEMBER_OVERHEAD = 512  # bytes counted per member besides its data (a tar header; a file system entry)
_CHUNK = 2**20
_HEAD_BYTES = 512  # read before anything is written: covers every offset in MAGIC
_TIMEOUT_S = 60  # per socket operation, not for the whole download


@dataclass(frozen=True)
class Bounds:
    """What unpacking one archive may write: at most max_bytes, and at most max_ratio times the archive's size."""

    max_bytes: int = 50 * 2**30  # data.max_extract_bytes
    max_ratio: int = 100  # data.max_compression_ratio


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
    suffix = archive_suffix(url)
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
            actual = _download(request, out, shown, max_bytes, suffix)
        if expected is not None and actual != expected:
            raise ValueError(f"{shown}: sha256 mismatch: expected {expected}, got {actual}")
        if expected is None:
            log.warning("%s has sha256 %s; pin it to make the download reproducible", shown, actual)
        os.replace(part, target)  # atomic: readers see the old file or the whole verified one
    finally:
        if os.path.exists(part):
            os.unlink(part)
    return target


def archive_suffix(url: str) -> str:
    """The archive type (a key of MAGIC) that the URL's path ends with; ValueError before anything is fetched."""
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name.lower()
    suffix = next((s for s in sorted(MAGIC, key=len, reverse=True) if name.endswith(s)), None)
    if suffix is None:
        raise ValueError(f"{redact(url)}: not an archive; the URL's path must end with one of {ARCHIVE_SUFFIXES}")
    return suffix


def _request(url: str) -> urllib.request.Request:
    """Build a request, with the host's credentials from netrc (never from the URL) as an Authorization header."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise ValueError(f"URL scheme {parts.scheme!r} of {redact(url)} is not one of {ALLOWED_SCHEMES}")
    if "@" in parts.netloc:
        raise ValueError(f"{redact(url)}: {CREDENTIALS_ADVICE}")
    request = urllib.request.Request(url)
    request.add_header("User-Agent", "convpipe")
    login = netrc_login(parts.hostname) if parts.scheme.lower() != "file" else None
    if login:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode())
        # Unredirected: urllib would otherwise send the credentials on to whatever host a redirect names.
        request.add_unredirected_header("Authorization", f"Basic {token.decode()}")
    return request


def netrc_login(host: str | None) -> tuple[str, str] | None:
    """(login, password) for `host` from the netrc file ($NETRC, else ~/.netrc), or None when it has none."""
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if host is None or not path.is_file():
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except netrc.NetrcParseError as err:  # its own message may quote a token of the file: a password, say
        raise ValueError(f"{path}: not a netrc file this downloader can read (line {err.lineno})") from None
    return (entry[0], entry[2] or "") if entry else None


def _cache_name(url: str, sha256: str | None) -> str:
    """Name cached files by content hash when known (mirrors share it), else by URL."""
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name or "download"
    name = re.sub(r"[^\w.\-]", "_", name)[-100:]
    key = sha256 or hashlib.sha256(url.encode()).hexdigest()
    return f"{key[:16]}-{name}"


def _scrubbed(text: str, url: str) -> str:
    """`text` with the query string of `url` (where signed URLs keep their secret) shown as ***."""
    query = urllib.parse.urlsplit(url).query
    return text.replace(query, "***") if query else text


def _read_start(response, size: int) -> bytes:
    """The first `size` bytes of a response (fewer only at its end): enough to check the archive type."""
    start = b""
    while len(start) < size and (more := response.read(size - len(start))):
        start += more
    return start


def _check_magic(head: bytes, suffix: str, shown: str) -> None:
    """Refuse a body that does not start like a `suffix` archive, before any of it is written."""
    offset, starts = MAGIC[suffix]
    if not head[offset:].startswith(starts):
        raise ValueError(f"{shown}: not a {suffix} archive (it does not start like one); nothing was saved")


def _download(request: urllib.request.Request, out, shown: str, max_bytes: int, suffix: str) -> str:
    """Stream the response into out with a progress bar; return the hex sha256 of what was written.

    The first bytes are checked to be a `suffix` archive before anything is written (file:///etc/passwd is not).
    """
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
                chunk = _read_start(response, _HEAD_BYTES)
                _check_magic(chunk, suffix, shown)
                while chunk:
                    received += len(chunk)
                    if received > max_bytes:
                        raise ValueError(f"{shown}: more than data.max_download_bytes={max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
                    chunk = response.read(_CHUNK)
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400 and "infinite loop" in str(exc.msg):  # urllib's words for a loop or long chain
            raise DownloadError(f"{shown}: more than {MAX_REDIRECTS} redirects") from None
        raise DownloadError(f"{shown}: download failed: HTTP {exc.code} {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        # from None: the chained exception may carry the unredacted URL, as may its message (a file: path).
        raise DownloadError(f"{shown}: download failed: {_scrubbed(str(exc), request.full_url)}") from None
    if total is not None and received != total:
        raise DownloadError(f"{shown}: connection closed after {received} of {total} bytes")
    return digest.hexdigest()


def extract(archive: Path, dest: Path, bounds: Bounds = Bounds()) -> Path:
    """Unpack a zip or tar archive into dest (which must not exist), writing no more than `bounds` allow; return
    its single top folder or dest."""
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
            _extract_zip(archive, part, bounds)
        else:
            _extract_tar(archive, part, bounds)
        os.replace(part, dest)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return single_root(dest)


def _check_sizes(archive: Path, members: Iterable[tuple[str, int]], bounds: Bounds) -> None:
    """Refuse, naming the member, an archive whose members (name, size) would write more than `bounds` allow.

    Sizes are what the archive declares: exact in a tar, and in a zip what zipfile stops at (a member inflating
    past its declared size fails its CRC instead).
    """
    size = archive.stat().st_size
    by_ratio = bounds.max_ratio * size
    limit = min(bounds.max_bytes, by_ratio)
    which = (
        f"data.max_compression_ratio={bounds.max_ratio} × the archive's {size} bytes"
        if by_ratio < bounds.max_bytes
        else f"data.max_extract_bytes={bounds.max_bytes}"
    )
    total = 0
    for name, length in members:
        total += length + MEMBER_OVERHEAD
        if total > limit:
            raise _unsafe(archive, name, f"unpacking would write more than {limit} bytes ({which})")


def _extract_zip(archive: Path, into: Path, bounds: Bounds) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            _check_sizes(archive, ((info.filename, info.file_size) for info in zf.infolist()), bounds)
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


def _extract_tar(archive: Path, into: Path, bounds: Bounds) -> None:
    try:
        with tarfile.open(archive, "r:*") as tf:
            # Iterated, not getmembers(): a tar of millions of empty members stops at the bound, not in memory.
            _check_sizes(archive, ((member.name, member.size) for member in tf), bounds)
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
