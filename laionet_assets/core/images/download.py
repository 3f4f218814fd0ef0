"""Image download and decoding (paper §2: LAIONet's images, fetched by URL).

``download_images`` fetches LAIONet images by URL on an aiohttp event loop (the client measured
fastest per core, ``benchmarks/bench_download``) with bounded concurrency, a per-request
timeout, retries with exponential backoff for transient failures, and a size cap.  Every sample
gets a status; images that pass are stored content-addressed (``<store>/ab/cd/<sha256>.<ext>``,
the original bytes, written atomically).  A re-run with the previous status table fetches only
samples that are new, whose stored file is gone, or that failed with a retryable status.

Conversion to RGB follows ``core.images.pixels`` (``load_rgb``, used by every model in the project).
An image is kept when it decodes completely and width × height ≥ ``min_area`` (paper: 100).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import polars as pl
from PIL import Image, UnidentifiedImageError

from laionet_assets.core.images.pixels import JPEG_MAGIC, to_rgb
from laionet_assets.core.io.atomic import write_bytes_atomic
from laionet_assets.core.io.storage import existing, home_path, is_remote

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
)
# Failures worth another attempt in this run and in the next run of the asset.
RETRYABLE_STATUSES = ("timeout", "connection_error", "truncated")
RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})

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
}


@dataclass(frozen=True)
class DownloadSettings:
    concurrency: int = 16  # requests in flight per process
    processes: int = 1  # downloading processes, each an event loop with ``concurrency`` requests
    timeout_s: float = 10.0
    retries: int = 2
    backoff_s: float = 0.5
    max_bytes: int = 20 * 2**20
    min_area: int = 100
    user_agent: str = "laionet_assets/0.1 (+https://arxiv.org/abs/2306.15769)"
    # URL prefix → replacement, e.g. to fetch through a mirror or a local cache.
    url_rewrites: dict[str, str] = field(default_factory=dict)
    # shorter side of a stored image at most this many pixels (re-encoded as JPEG, as img2dataset
    # does); 0 keeps the original bytes, as the paper's images were resized from originals
    resize_shorter: int = 0

    def __post_init__(self):
        if self.resize_shorter < 0:
            raise ValueError(
                f"download resize_shorter must be 0 (off) or positive, got {self.resize_shorter}"
            )
        for name in ("concurrency", "processes", "max_bytes", "min_area"):
            if getattr(self, name) < 1:
                raise ValueError(f"download {name} must be positive, got {getattr(self, name)}")
        if self.timeout_s <= 0 or self.retries < 0 or self.backoff_s < 0:
            raise ValueError("download timeout_s must be > 0, retries and backoff_s ≥ 0")

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


def client_session(settings: DownloadSettings) -> aiohttp.ClientSession:
    """A pooled keep-alive session for ``settings.concurrency`` requests in flight.  The timeout
    bounds the connect and every wait for data (a server that stops sending times out).  Proxies
    come from the standard variables (``HTTPS_PROXY``, ``NO_PROXY``, …) as urllib's did, read per
    request only when one is set: that lookup halved the images per CPU-second
    (``bench_download``)."""
    proxies = urllib.request.getproxies()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.concurrency, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=settings.timeout_s, sock_read=settings.timeout_s
        ),
        headers={"User-Agent": settings.user_agent},
        trust_env="http" in proxies or "https" in proxies,
    )


async def _fetch_once(session: aiohttp.ClientSession, url: str, settings: DownloadSettings) -> Fetched:
    """One request; every outcome is a ``Fetched``, never an exception."""
    try:
        async with session.get(url) as response:
            if response.status >= 400:
                return Fetched(
                    "http_error", response.status, error=f"HTTP {response.status} {response.reason}"
                )
            length = response.content_length
            if length is not None and length > settings.max_bytes:
                return Fetched(
                    "too_large", response.status, error=f"Content-Length {length} > {settings.max_bytes}"
                )
            data = bytearray()
            async for chunk in response.content.iter_any():
                data += chunk
                if len(data) > settings.max_bytes:
                    return Fetched(
                        "too_large", response.status, error=f"body exceeds {settings.max_bytes} bytes"
                    )
            if length is not None and len(data) < length:
                return Fetched(
                    "truncated", response.status, error=f"body ended after {len(data)} of {length} bytes"
                )
            return Fetched("ok", response.status, bytes(data))
    except aiohttp.TooManyRedirects as e:
        last = e.history[-1].status if e.history else None
        return Fetched("http_error", last, error=f"more than {len(e.history) - 1} redirects")
    except aiohttp.InvalidURL as e:
        return Fetched("bad_url", error=f"invalid URL: {e}")
    except aiohttp.ClientPayloadError as e:  # the connection closed before Content-Length bytes
        return Fetched("truncated", error=f"body ended early ({type(e).__name__}: {e})")
    except TimeoutError:
        return Fetched("timeout", error=f"no response within {settings.timeout_s} s")
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
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
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


_IMAGE_MAGIC = (JPEG_MAGIC, b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


@dataclass
class Checked:
    status: str
    width: int | None = None
    height: int | None = None
    mode: str | None = None
    format: str | None = None
    error: str | None = None


def check_image(data: bytes, min_area: int = 100) -> Checked:
    """Decode completely and apply the paper's filters; never raises on bad bytes."""
    return _decode(data, min_area)[0]


def _decode(data: bytes, min_area: int) -> tuple[Checked, Image.Image | None]:
    """``check_image``'s verdict and the RGB image it decoded (``None`` unless ok)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            mode, fmt = image.mode, image.format
            image.load()
            rgb = to_rgb(image)
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        # PIL's own message names the buffer object's address: not a fact about the sample
        message = "cannot identify the image file" if isinstance(e, UnidentifiedImageError) else str(e)
        if data.startswith(_IMAGE_MAGIC):
            return Checked("corrupt", error=f"image signature but undecodable: {message}"[:200]), None
        head = data[:64].lstrip().lower()
        reason = "HTML page, not an image" if head.startswith((b"<!doctype html", b"<html")) else message
        return Checked("not_image", error=reason[:200]), None
    except (OSError, SyntaxError, ValueError, IndexError, EOFError) as e:
        return Checked("corrupt", error=f"{type(e).__name__}: {e}"[:200]), None
    width, height = rgb.size
    if width * height < min_area:
        return Checked("too_small", width, height, mode, fmt, f"{width}×{height} < {min_area} pixels"), None
    return Checked("ok", width, height, mode, fmt), rgb


RESIZED_JPEG_QUALITY = 95  # img2dataset's default


def shrink(rgb: Image.Image, shorter: int) -> bytes | None:
    """JPEG bytes of ``rgb`` with its shorter side cut to ``shorter`` (aspect kept, Lanczos), or
    ``None`` when it is no larger than that already."""
    width, height = rgb.size
    if min(width, height) <= shorter:
        return None
    scale = shorter / min(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    buffer = io.BytesIO()
    rgb.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=RESIZED_JPEG_QUALITY)
    return buffer.getvalue()


def _store(data: bytes, fmt: str | None, store: Path) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    ext = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}.get(
        fmt or "", "img"
    )
    relative = f"{sha[:2]}/{sha[2:4]}/{sha}.{ext}"
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
    }
    if fetched.status != "ok":
        return row
    checked, rgb = _decode(fetched.data, settings.min_area)
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
    rows: list[tuple[str, str]], store: Path, settings: DownloadSettings, progress=None
) -> list[dict]:
    """Status rows of ``(sample_id, url)`` pairs in their order: one event loop with
    ``settings.concurrency`` requests in flight on one pooled session.  Each body is checked and
    stored (``finish``) on the loop itself: handing it to threads cost 1.75× the CPU per image
    (``bench_download``); a process's decoding is bound by its GIL either way, and
    ``settings.processes`` spreads it over cores."""

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
                    if progress is not None:
                        progress(1)

            await asyncio.gather(*(fetcher() for _ in range(min(settings.concurrency, len(rows)))))
        return out

    return asyncio.run(run())


# Rows a downloading process takes at a time: small enough for even progress, large enough that
# every process keeps its threads busy.
PROCESS_CHUNK = 256


def _download_chunk(args) -> list[dict]:
    return _download_rows(*args)


def _download_all(
    rows: list[tuple[str, str]], store: Path, settings: DownloadSettings, progress=None
) -> list[dict]:
    """In this process, or over ``settings.processes`` processes (spawned: no forked threads)."""
    if settings.processes == 1 or len(rows) <= settings.concurrency:
        return _download_rows(rows, store, settings, progress)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [rows[i : i + PROCESS_CHUNK] for i in range(0, len(rows), PROCESS_CHUNK)]
    out = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(settings.processes, mp_context=context) as pool:
        for done in pool.map(_download_chunk, [(chunk, store, settings) for chunk in chunks]):
            out += done
            if progress is not None:
                progress(len(done))
    return out


def settled(previous: pl.DataFrame, store: Path) -> pl.DataFrame:
    """The rows of a previous status table that a re-run keeps as they are."""
    if previous.is_empty():
        return previous
    present = pl.Series(existing(store, previous["image_path"].to_list()), dtype=pl.Boolean)
    retryable = pl.col("status").is_in(RETRYABLE_STATUSES) | (
        (pl.col("status") == "http_error") & pl.col("http_status").is_in(list(RETRYABLE_HTTP))
    )
    return (
        previous.with_columns(_present=present)
        .filter(pl.when(pl.col("status") == "ok").then(pl.col("_present")).otherwise(~retryable))
        .drop("_present")
    )


def download_images(
    samples: pl.DataFrame,
    store: str | os.PathLike,
    settings: DownloadSettings,
    previous: pl.DataFrame | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Status table (``STATUS_SCHEMA``) for ``samples`` (``sample_id``, ``url``) and counts.

    Rows of ``previous`` for the same (sample_id, url) that are settled are reused unchanged.
    When ``samples`` has the release's ``width`` and ``height``, a sample whose known area is
    below ``min_area`` is ``too_small`` without being fetched.
    """
    store = home_path(store)  # a local folder, or a URL home's image prefix
    if not is_remote(store):
        store.mkdir(parents=True, exist_ok=True)
    wanted = samples.select(pl.col("sample_id").cast(pl.String), pl.col("url").cast(pl.String)).unique(
        maintain_order=True
    )
    kept = pl.DataFrame(schema=STATUS_SCHEMA)
    if previous is not None and not previous.is_empty():
        kept = settled(previous.select(list(STATUS_SCHEMA)).cast(STATUS_SCHEMA), store).join(
            wanted, on=["sample_id", "url"], how="semi"
        )
    todo = wanted.join(kept, on=["sample_id", "url"], how="anti")
    small = pl.DataFrame(schema=STATUS_SCHEMA)
    if {"width", "height"} <= set(samples.columns):
        sizes = samples.select(
            pl.col("sample_id").cast(pl.String), pl.col("url").cast(pl.String), "width", "height"
        ).unique(["sample_id", "url"], keep="first")
        small = (
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
        small = pl.DataFrame(schema=STATUS_SCHEMA).vstack(
            small.with_columns(
                **{c: pl.lit(None, t) for c, t in STATUS_SCHEMA.items() if c not in small.columns}
            )
            .select(list(STATUS_SCHEMA))
            .cast(STATUS_SCHEMA)
        )
        todo = todo.join(small, on=["sample_id", "url"], how="anti")
    rows = _download_all(list(todo.iter_rows()), store, settings, progress) if todo.height else []
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
