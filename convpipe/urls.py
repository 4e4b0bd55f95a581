"""Showing URLs without their secrets; shared by the downloader and the params logged to MLflow."""
import urllib.parse


def redact(url: str) -> str:
    """Return url with any user:password replaced by *** and the query string masked."""
    parts = urllib.parse.urlsplit(url)
    _, at, host = parts.netloc.rpartition("@")
    netloc = f"***@{host}" if at else host
    # Signed URLs (S3, GCS, SAS) carry their secret in the query, so none of it is shown.
    query = "***" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_source(source: str) -> str:
    """A params `data.source` fit to show or log: a url: source redacted, any other kind as it is."""
    kind, _, where = source.partition(":")
    return f"url:{redact(where)}" if kind == "url" else source
