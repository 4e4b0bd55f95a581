"""Showing URLs without their secrets; shared by the downloader, the tracking and remote messages, and
the params logged to MLflow."""

import urllib.parse

# Why a URL may not carry user:password@, and where credentials go instead: data.source is a param, so DVC would
# store them in clear in dvc.lock and its run-cache (and push them to the team's remote).
CREDENTIALS_ADVICE = (
    "credentials in a URL would be stored in clear in dvc.lock and the DVC run-cache; remove user:password@ and "
    "put them in ~/.netrc (or the file $NETRC names): machine HOST login USER password PASSWORD"
)


def redact(url: str) -> str:
    """`url` with its user-info (user:password@) and query string shown as *** and no fragment."""
    # Edited in place rather than rebuilt: urlunsplit would turn sqlite:////abs/path.db into sqlite://abs/path.db.
    parts = urllib.parse.urlsplit(url)
    shown = url.partition("#")[0]
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        shown = shown.replace(f"{userinfo}@", "***@", 1)
    if parts.query:  # signed URLs (S3, GCS, SAS) carry their secret in the query, so none of it is shown
        shown = shown.replace(f"?{parts.query}", "?***", 1)
    return shown


def redact_source(source: str) -> str:
    """A params `data.source` fit to show or log: a url: source redacted, any other kind as it is."""
    kind, _, where = source.partition(":")
    return f"url:{redact(where)}" if kind == "url" else source
