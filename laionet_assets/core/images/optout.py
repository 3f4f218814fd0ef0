"""Opt-out headers: an image whose response carries ``X-Robots-Tag: noai`` (or another of the
configured directives) is not stored.

A header value is a comma-separated list of directives, optionally addressed to one crawler
(``X-Robots-Tag: laionet_assets: noai``); a value addressed to another crawler does not apply.
Directives that carry a value of their own (``unavailable_after: <date>``,
``max-image-preview: large``) are not mistaken for a crawler's name.
"""

from __future__ import annotations

from collections.abc import Iterable

OPT_OUT_DIRECTIVES = ("noai", "noimageai", "noindex", "noimageindex")  # img2dataset's defaults
_VALUED_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})


def agent_token(user_agent: str) -> str:
    """The product token a header may address this client by: ``laionet_assets`` of
    ``laionet_assets/0.1 (+https://…)``."""
    return user_agent.split("/", 1)[0].split()[0].strip().lower() if user_agent.strip() else ""


def opt_out(values: Iterable[str], user_agent: str, directives: Iterable[str]) -> str | None:
    """The first of ``directives`` that the ``X-Robots-Tag`` header ``values`` give this client,
    or ``None``."""
    wanted = {d.strip().lower() for d in directives if d.strip()}
    token = agent_token(user_agent)
    for value in values:
        agent, _, rest = value.partition(":")
        if rest and agent.strip().lower() not in _VALUED_DIRECTIVES:
            if agent.strip().lower() != token:
                continue
            value = rest
        for directive in value.split(","):
            name = directive.strip().lower()
            if name in wanted:
                return name
    return None
