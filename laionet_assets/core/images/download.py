"""Image download (paper §2: LAIONet's images, fetched by URL).

``download_images`` fetches LAIONet images by URL on an aiohttp event loop (the client measured
fastest per core, ``benchmarks/bench_download``) with bounded concurrency, a read timeout and a
total deadline per fetch, retries with exponential backoff for transient failures, and a size
cap.  It connects only to globally routable addresses unless ``allow`` names a network or host
(``core.images.addresses``: the check runs on each address a socket is about to connect to, and
redirects are followed one hop at a time, each target checked again), ignores proxy variables,
and honours opt-out headers (``core.images.optout``).  Every sample gets a status; images that
pass ``core.images.validation`` are stored content-addressed (``<store>/ab/cd/<sha256>.<ext>``,
the original bytes, written atomically).  A re-run with the previous status table fetches only
samples that are new, whose stored file is gone, or that failed with a retryable status.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import polars as pl
import yarl

from laionet_assets.core.images.addresses import REQUEST, Destinations, Request
from laionet_assets.core.images.optout import OPT_OUT_DIRECTIVES, opt_out
from laionet_assets.core.images.validation import EXTENSIONS, decode, shrink
from laionet_assets.core.io.atomic import write_bytes_atomic
from laionet_assets.core.io.storage import existing, home_path, is_remote

LOG = logging.getLogger(__name__)

STATUSES = (
    "ok",
    "http_error",
    "timeout",
    "connection_error",
    "truncated",
    "too_large",
    "not_image",
    "corrupt",
    "too_small",
    "bad_url",
    "blocked_address",
    "opted_out",
)
# Failures worth another attempt in this run and in the next run of the asset.
RETRYABLE_STATUSES = ("timeout", "connection_error", "truncated")
RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
# Not retried in a run, checked again in the next one (whose allow list may have changed).
RECHECKED_NEXT_RUN = ("blocked_address",)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ERROR_CHARS = 300  # a stored error message is cut to this length

STATUS_SCHEMA = {
    "sample_id": pl.String,
    "url": pl.String,
    "status": pl.String,
    "http_status": pl.Int32,
    "image_sha256": pl.String,
    "image_path": pl.String,
    "width": pl.Int32,
    "height": pl.Int32,
    "mode": pl.String,
    "bytes": pl.Int64,
    "attempts": pl.Int32,
    "error": pl.String,
    "fetched_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class DownloadSettings:
    concurrency: int = 16  # requests in flight per process
    processes: int = 1  # downloading processes, each an event loop with ``concurrency`` requests
    timeout_s: float = 10.0  # to connect, and for each wait for data
    # a fetch's whole time (its redirects included, its retries each get their own); 0: 3 × timeout_s
    deadline_s: float = 0.0
    retries: int = 2
    backoff_s: float = 0.5
    max_bytes: int = 20 * 2**20
    max_redirects: int = 5
    min_area: int = 100
    # an image is decoded only when width × height is at most this (read from its header first);
    # well under PIL's own decompression-bomb limit
    max_image_pixels: int = 50_000_000
    user_agent: str = "laionet_assets/0.1 (+https://arxiv.org/abs/2306.15769)"
    # networks (CIDR), addresses or host names that may be fetched although not global: a mirror
    allow: list[str] = field(default_factory=list)
    # X-Robots-Tag directives that opt an image out (img2dataset's defaults); empty: none
    opt_out_directives: list[str] = field(default_factory=lambda: list(OPT_OUT_DIRECTIVES))
    # URL prefix → replacement, e.g. to fetch through a mirror or a local cache.
    url_rewrites: dict[str, str] = field(default_factory=dict)
    # the status table is handed to the checkpoint every this many samples fetched (and images
    # read by OCR), so a run that is killed resumes there
    checkpoint_rows: int = 1000
    # shorter side of a stored image at most this many pixels (re-encoded as JPEG, as img2dataset
    # does); 0 keeps the original bytes, as the paper's images were resized from originals
    resize_shorter: int = 0

    def __post_init__(self):
        if self.resize_shorter < 0:
            raise ValueError(
                f"download resize_shorter must be 0 (off) or positive, got {self.resize_shorter}"
            )
        for name in ("concurrency", "processes", "max_bytes", "min_area", "max_image_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"download {name} must be positive, got {getattr(self, name)}")
        if self.checkpoint_rows < 1:
            raise ValueError(f"download checkpoint_rows must be positive, got {self.checkpoint_rows}")
        if self.timeout_s <= 0 or self.retries < 0 or self.backoff_s < 0 or self.max_redirects < 0:
            raise ValueError("download timeout_s must be > 0, retries, backoff_s and max_redirects ≥ 0")
        if self.deadline_s < 0:
            raise ValueError(
                f"download deadline_s must be 0 (3 × timeout_s) or positive, got {self.deadline_s}"
            )
        self.destinations()

    @property
    def deadline(self) -> float:
        return self.deadline_s or 3 * self.timeout_s

    def destinations(self) -> Destinations:
        return Destinations.parse(self.allow)

    def rewrite(self, url: str) -> str:
        for prefix, replacement in self.url_rewrites.items():
            if url.startswith(prefix):
                return replacement + url[len(prefix) :]
        return url


@dataclass
class Fetched:
    status: str
    http_status: int | None = None
    data: bytes | None = None
    attempts: int = 1
    error: str | None = None

    def __post_init__(self):
        if self.error is not None and len(self.error) > ERROR_CHARS:
            self.error = self.error[: ERROR_CHARS - 1] + "…"


def client_session(settings: DownloadSettings) -> aiohttp.ClientSession:
    """A pooled keep-alive session for ``settings.concurrency`` requests in flight, connecting
    only where ``settings.destinations()`` allows.  The timeout bounds the connect and every wait
    for data; the deadline (``fetch_async``) bounds the whole fetch.  Proxy variables are ignored
    (``trust_env=False``): a proxy would connect on the client's behalf, past the address check."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=settings.concurrency,
            ttl_dns_cache=300,
            socket_factory=settings.destinations().socket_factory,
        ),
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=settings.timeout_s, sock_read=settings.timeout_s
        ),
        headers={"User-Agent": settings.user_agent},
        trust_env=False,
    )


def _http_url(url: str) -> yarl.URL | None:
    """``url`` parsed, when it is an absolute http(s) URL (any letter case) with a host."""
    try:
        parsed = yarl.URL(url)
    except (ValueError, TypeError):
        return None
    return parsed if parsed.scheme in ("http", "https") and parsed.host else None


async def _read(response: aiohttp.ClientResponse, settings: DownloadSettings) -> Fetched:
    """A final (non-redirect) response's outcome: an HTTP error, an opt-out, or the body."""
    if response.status >= 400:
        return Fetched("http_error", response.status, error=f"HTTP {response.status} {response.reason}")
    directive = opt_out(
        response.headers.getall("X-Robots-Tag", []), settings.user_agent, settings.opt_out_directives
    )
    if directive is not None:
        return Fetched("opted_out", response.status, error=f"X-Robots-Tag: {directive}")
    # a Content-Length counts the encoded bytes; the body is read decoded
    encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
    length = None if encoded else response.content_length
    if length is not None and length > settings.max_bytes:
        return Fetched("too_large", response.status, error=f"Content-Length {length} > {settings.max_bytes}")
    data = bytearray()
    async for chunk in response.content.iter_any():
        data += chunk
        if len(data) > settings.max_bytes:
            return Fetched("too_large", response.status, error=f"body exceeds {settings.max_bytes} bytes")
    if length is not None and len(data) < length:
        return Fetched("truncated", response.status, error=f"body ended after {len(data)} of {length} bytes")
    return Fetched("ok", response.status, bytes(data))


async def _follow(session: aiohttp.ClientSession, url: str, settings: DownloadSettings) -> Fetched:
    """One fetch: the request, then its redirects one hop at a time, each target an http(s) URL
    connected to only where allowed."""
    status = None
    for hop in range(settings.max_redirects + 1):
        target = _http_url(url)
        if target is None:
            where = "redirected to " if hop else ""
            return Fetched("bad_url", status, error=f"{where}{url!r}: not an http(s) URL")
        request = Request(target.host)
        token = REQUEST.set(request)
        try:
            async with session.get(target, allow_redirects=False) as response:
                status = response.status
                if status not in REDIRECTS:
                    return await _read(response, settings)
                location = response.headers.get("Location")
                if not location:
                    return Fetched("http_error", status, error=f"HTTP {status} without a Location")
                url = str(target.join(yarl.URL(location)))
        except aiohttp.ClientConnectorError as e:
            if request.blocked:
                return Fetched(
                    "blocked_address",
                    status,
                    error=f"{target.host} → {', '.join(request.blocked)}: not a global address "
                    "(allow a mirror with download_allow)",
                )
            return Fetched("connection_error", error=f"{type(e).__name__}: {e}")
        finally:
            REQUEST.reset(token)
    return Fetched("http_error", status, error=f"more than {settings.max_redirects} redirects")


async def _fetch_once(session: aiohttp.ClientSession, url: str, settings: DownloadSettings) -> Fetched:
    """One request and its redirects within the deadline; every outcome is a ``Fetched``, never
    an exception."""
    try:
        async with asyncio.timeout(settings.deadline) as deadline:
            return await _follow(session, url, settings)
    except TimeoutError:
        if deadline.expired():
            return Fetched("timeout", error=f"not done within the {settings.deadline:g} s deadline")
        return Fetched("timeout", error=f"no data for {settings.timeout_s:g} s")
    except aiohttp.InvalidURL as e:
        return Fetched("bad_url", error=f"invalid URL: {e}")
    except aiohttp.ClientPayloadError as e:  # the connection closed before Content-Length bytes
        return Fetched("truncated", error=f"body ended early ({type(e).__name__}: {e})")
    except aiohttp.ClientResponseError as e:  # the server's answer is no valid HTTP
        return Fetched("http_error", e.status or None, error=f"{type(e).__name__}: {e.message}")
    except (aiohttp.ClientError, OSError) as e:
        return Fetched("connection_error", error=f"{type(e).__name__}: {e}")
    except ValueError as e:  # a malformed URL that yarl rejects
        return Fetched("bad_url", error=str(e))


def _retryable(f: Fetched) -> bool:
    return f.status in RETRYABLE_STATUSES or (f.status == "http_error" and f.http_status in RETRYABLE_HTTP)


async def fetch_async(
    session: aiohttp.ClientSession,
    url: str,
    settings: DownloadSettings,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Fetched:
    """One URL with up to ``settings.retries`` retries after transient failures (backoff 1×, 2×, 4×…)."""
    if not isinstance(url, str) or _http_url(url) is None:
        return Fetched("bad_url", error=f"not an http(s) URL: {url!r}", attempts=0)
    url = settings.rewrite(url)
    for attempt in range(settings.retries + 1):
        result = await _fetch_once(session, url, settings)
        result.attempts = attempt + 1
        if not _retryable(result) or attempt == settings.retries:
            return result
        await sleep(settings.backoff_s * 2**attempt)
    raise AssertionError("unreachable")


def fetch(url: str, settings: DownloadSettings, sleep: Callable[[float], None] | None = None) -> Fetched:
    """``fetch_async`` for one URL from synchronous code (a session of its own); ``sleep`` replaces
    the backoff's wait (tests record it)."""

    async def wait(seconds: float) -> None:
        sleep(seconds)

    async def one() -> Fetched:
        async with client_session(settings) as session:
            return await fetch_async(session, url, settings, asyncio.sleep if sleep is None else wait)

    return asyncio.run(one())


def _store(data: bytes, fmt: str | None, store: Path) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    relative = f"{sha[:2]}/{sha[2:4]}/{sha}.{EXTENSIONS.get(fmt or '', 'img')}"
    path = store / relative
    if not path.exists():
        write_bytes_atomic(path, data)
    return sha, relative


def finish(sample_id: str, url: str, fetched: Fetched, store: Path, settings: DownloadSettings) -> dict:
    """The status row of a fetched sample: decoded and checked; an image that passes is stored
    content-addressed (shrunk first when ``resize_shorter`` is on).  ``width``/``height`` are the
    image as served."""
    row = {
        "sample_id": sample_id,
        "url": url,
        "status": fetched.status,
        "http_status": fetched.http_status,
        "image_sha256": None,
        "image_path": None,
        "width": None,
        "height": None,
        "mode": None,
        "bytes": len(fetched.data) if fetched.data is not None else None,
        "attempts": fetched.attempts,
        "error": fetched.error,
        "fetched_at": datetime.now(UTC),
    }
    if fetched.status != "ok":
        return row
    checked, rgb = decode(fetched.data, settings.min_area, settings.max_image_pixels)
    if checked.unexpected:
        LOG.warning("sample %s (%s): the decoder raised %s; kept as corrupt", sample_id, url, checked.error)
    row.update(
        status=checked.status,
        width=checked.width,
        height=checked.height,
        mode=checked.mode,
        error=checked.error,
    )
    if checked.status == "ok":
        data, fmt = fetched.data, checked.format
        small = shrink(rgb, settings.resize_shorter) if settings.resize_shorter else None
        if small is not None:
            data, fmt = small, "JPEG"
        row["image_sha256"], row["image_path"] = _store(data, fmt, store)
    return row


def _download_rows(
    rows: list[tuple[str, str]],
    store: Path,
    settings: DownloadSettings,
    on_row: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Status rows of ``(sample_id, url)`` pairs in their order, each also handed to ``on_row``
    as it is done: one event loop with ``settings.concurrency`` requests in flight on one pooled
    session.  Each body is checked and stored (``finish``) on the loop itself: handing it to
    threads cost 1.75× the CPU per image (``bench_download``); a process's decoding is bound by
    its GIL either way, and ``settings.processes`` spreads it over cores."""

    remote = is_remote(store)

    async def run() -> list[dict]:
        out: list[dict] = [{}] * len(rows)
        todo = iter(enumerate(rows))  # shared by the fetchers: each takes the next row
        async with client_session(settings) as session:

            async def fetcher() -> None:
                for i, (sample_id, url) in todo:
                    fetched = await fetch_async(session, url, settings)
                    if remote:  # the upload waits on the network: off the loop, as the fetches do
                        out[i] = await asyncio.to_thread(finish, sample_id, url, fetched, store, settings)
                    else:
                        out[i] = finish(sample_id, url, fetched, store, settings)
                    if on_row is not None:
                        on_row(out[i])

            await asyncio.gather(*(fetcher() for _ in range(min(settings.concurrency, len(rows)))))
        return out

    return asyncio.run(run())


# Rows a downloading process takes at a time: small enough for even progress, large enough that
# every process keeps its threads busy.
PROCESS_CHUNK = 256


def _download_chunk(args) -> list[dict]:
    return _download_rows(*args)


def _download_all(
    rows: list[tuple[str, str]],
    store: Path,
    settings: DownloadSettings,
    on_row: Callable[[dict], None] | None = None,
) -> list[dict]:
    """In this process, or over ``settings.processes`` processes (spawned: no forked threads)."""
    if settings.processes == 1 or len(rows) <= settings.concurrency:
        return _download_rows(rows, store, settings, on_row)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [rows[i : i + PROCESS_CHUNK] for i in range(0, len(rows), PROCESS_CHUNK)]
    out = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(settings.processes, mp_context=context) as pool:
        for done in pool.map(_download_chunk, [(chunk, store, settings) for chunk in chunks]):
            out += done
            if on_row is not None:
                for row in done:
                    on_row(row)
    return out


def status_table(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame``'s ``STATUS_SCHEMA`` columns, in order and type; a column it lacks (a table
    written before that column existed) is null."""
    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
        for c, t in STATUS_SCHEMA.items()
    )


def settled(previous: pl.DataFrame, store: Path) -> pl.DataFrame:
    """The rows of a previous status table that a re-run keeps as they are."""
    if previous.is_empty():
        return previous
    present = pl.Series(existing(store, previous["image_path"].to_list()), dtype=pl.Boolean)
    again = pl.col("status").is_in(RETRYABLE_STATUSES + RECHECKED_NEXT_RUN) | (
        (pl.col("status") == "http_error") & pl.col("http_status").is_in(list(RETRYABLE_HTTP))
    )
    return (
        previous.with_columns(_present=present)
        .filter(pl.when(pl.col("status") == "ok").then(pl.col("_present")).otherwise(~again))
        .drop("_present")
    )


def download_images(
    samples: pl.DataFrame,
    store: str | os.PathLike,
    settings: DownloadSettings,
    previous: pl.DataFrame | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoint: Callable[[pl.DataFrame], None] | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Status table (``STATUS_SCHEMA``) for ``samples`` (``sample_id``, ``url``) and counts.

    Rows of ``previous`` for the same (sample_id, url) that are settled are reused unchanged.
    When ``samples`` has the release's ``width`` and ``height``, a sample whose known area is
    below ``min_area`` is ``too_small`` without being fetched.  Every ``settings.checkpoint_rows``
    fetched samples, ``checkpoint`` receives the status table so far (reused rows and those
    fetched): as ``previous`` of the next run, it resumes a run that was killed where it stopped.
    """
    store = home_path(store)  # a local folder, or a URL home's image prefix
    if not is_remote(store):
        store.mkdir(parents=True, exist_ok=True)
    wanted = samples.select(pl.col("sample_id").cast(pl.String), pl.col("url").cast(pl.String)).unique(
        maintain_order=True
    )
    kept = pl.DataFrame(schema=STATUS_SCHEMA)
    if previous is not None and not previous.is_empty():
        kept = settled(status_table(previous), store).join(wanted, on=["sample_id", "url"], how="semi")
    todo = wanted.join(kept, on=["sample_id", "url"], how="anti")
    small = pl.DataFrame(schema=STATUS_SCHEMA)
    if {"width", "height"} <= set(samples.columns):
        sizes = samples.select(
            pl.col("sample_id").cast(pl.String), pl.col("url").cast(pl.String), "width", "height"
        ).unique(["sample_id", "url"], keep="first")
        small = status_table(
            todo.join(sizes, on=["sample_id", "url"])
            .filter(pl.col("width").cast(pl.Int64) * pl.col("height") < settings.min_area)
            .select(
                "sample_id",
                "url",
                status=pl.lit("too_small"),
                width=pl.col("width"),
                height=pl.col("height"),
                attempts=pl.lit(0),
                error=pl.format(
                    "the release says {}×{} < {} pixels", "width", "height", pl.lit(settings.min_area)
                ),
            )
        )
        todo = todo.join(small, on=["sample_id", "url"], how="anti")
    done: list[dict] = []

    def on_row(row: dict) -> None:
        done.append(row)
        if progress is not None:
            progress(1)
        if checkpoint is not None and len(done) % settings.checkpoint_rows == 0:
            checkpoint(pl.concat([kept, small, pl.DataFrame(done, schema=STATUS_SCHEMA)]))

    rows = _download_all(list(todo.iter_rows()), store, settings, on_row) if todo.height else []
    fetched = pl.DataFrame(rows, schema=STATUS_SCHEMA)
    table = (
        pl.concat([kept, small, fetched])
        .join(wanted.with_row_index("_order"), on=["sample_id", "url"])
        .sort("_order")
        .drop("_order")
    )
    counts = {
        "requested": wanted.height,
        "reused_from_previous_run": kept.height,
        "fetched": todo.height,
        "too_small_by_release_size": small.height,
        **{f"status_{s}": int((table["status"] == s).sum()) for s in STATUSES},
    }
    return table, counts
