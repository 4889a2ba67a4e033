"""Next-page links of Waldur's listings: page numbers, and links kept on the configured host."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit


def with_page(url: str, page: int) -> str:
    """``url`` with its ``page`` query parameter set to ``page`` (the rest of the query kept)."""
    parts = urlsplit(url)
    query = [
        (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "page"
    ]
    return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(page))])))


def relink(url: str, api_url: str) -> str | None:
    """``url`` (a next-page link) moved onto the scheme and host of ``api_url``; None if it leaves the API.

    Only the link's path and query are used, so a link naming another host (Django behind a proxy
    emits ``http://internal-host:8000/...``) cannot send the token anywhere else. A path outside
    ``api_url``'s path (or with ``..`` segments that could climb out of it) is refused.
    """
    link, base = urlsplit(url), urlsplit(api_url)
    segments = unquote(link.path).split("/")
    if not link.path.startswith(base.path) or ".." in segments or "." in segments:
        return None
    return urlunsplit((base.scheme, base.netloc, link.path, link.query, ""))
