"""Credentials out of messages: a URL's password (and user) replaced before it is printed."""

from __future__ import annotations

import re

# scheme://user:password@host...  or  scheme://:password@host...
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/?#]*)@")


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``***@``; text that does not parse as a URL
    with credentials is returned with every ``:...@`` run masked as well (a mistyped URL must
    not echo its password)."""
    m = _USERINFO.match(url)
    if m:
        return m.group("scheme") + "***@" + url[m.end():]
    return re.sub(r":[^@\s]*@", ":***@", url)
