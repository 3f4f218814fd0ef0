"""Where LAIONet's home lives: a local folder, or an fsspec URL (``s3://bucket/laionet``,
``gs://…``, ``memory://…``) for a cluster whose workers share no disk.  The one place that turns a
home into a path and reads or lists files below it; writes go through ``core.io.atomic``.

A local home is a ``pathlib.Path``; a URL home is a ``upath.UPath`` with the same interface
(``/``, ``exists``, ``glob``, ``open``), backed by the URL's fsspec filesystem.  Credentials and
endpoints come from the standard variables of each store (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, …, or the machine's role), never from project files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlparse, urlsplit

if TYPE_CHECKING:
    import polars as pl

Location = Path  # a local Path or a UPath; both have the pathlib interface used here


class HomeUnreachable(ValueError):
    """A URL home whose bucket does not exist or whose credentials are refused."""


class CredentialsInUrl(ValueError):
    """A URL that carries a user name or password: refused, so no secret is printed or stored."""


WHERE_CREDENTIALS_GO = (
    "credentials never go in a URL, where they would be printed and stored with it: give them in "
    "the store's standard variables (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "GOOGLE_APPLICATION_CREDENTIALS, …), ~/.netrc for http(s), or the fsspec/boto configuration"
)


def refuse_credentials(location: str | os.PathLike, what: str) -> None:
    """``CredentialsInUrl`` when ``location`` is a URL with a user name or password; the message
    shows the URL without them."""
    parts = urlsplit(str(location))
    if is_remote(location) and (parts.username is not None or parts.password is not None):
        shown = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[-1]).geturl()
        raise CredentialsInUrl(f"{what} {shown}: {WHERE_CREDENTIALS_GO}")


def is_remote(location: str | os.PathLike) -> bool:
    """A URL with a scheme other than ``file``; a Windows drive letter is not one."""
    scheme = urlparse(str(location)).scheme
    return len(scheme) > 1 and scheme != "file"


def home_path(home: str | os.PathLike) -> Location:
    """A local home resolved to an absolute ``Path``; a URL home as a ``UPath``, without fsspec's
    listings cache: other processes (step workers) write below the home, and a long-lived process
    (the daemon, the CLI) must see their files, as it would on a disk.  A URL with credentials in
    it is refused (``refuse_credentials``)."""
    if is_remote(home):
        refuse_credentials(home, "LAIONET_HOME")
        from upath import UPath

        return UPath(str(home).rstrip("/"), use_listings_cache=False)
    return Path(home).expanduser().resolve()


def read_parquet(path: Location, columns: Sequence[str] | None = None) -> pl.DataFrame:
    import polars as pl  # here, not above: the decoders import this module, not polars

    if is_remote(path):
        with path.open("rb") as f:
            return pl.read_parquet(f, columns=columns)
    return pl.read_parquet(path, columns=columns)


def scan_parquet(path: Location) -> pl.LazyFrame:
    """A Parquet file as a lazy frame: only the columns and rows a query uses are read.  A local
    file and an ``s3://`` one go through polars' own reader (the latter with
    :func:`object_store_options`); any other fsspec URL through a pyarrow dataset on the URL's
    filesystem, which reads the columns asked for, one row group at a time."""
    import polars as pl

    if not is_remote(path):
        return pl.scan_parquet(path)
    if urlparse(str(path)).scheme in ("s3", "s3a"):
        return pl.scan_parquet(str(path), storage_options=object_store_options(path))
    import pyarrow.dataset as ds

    return pl.scan_pyarrow_dataset(ds.dataset(path.path, filesystem=path.fs, format="parquet"))


def open_binary(location: str | os.PathLike) -> BinaryIO:
    """A file opened for reading, local or at a URL (an image of a URL home's store)."""
    if is_remote(location):
        return home_path(location).open("rb")
    return open(location, "rb")


def read_bytes(location: str | os.PathLike) -> bytes:
    with open_binary(location) as f:
        return f.read()


def existing(folder: Location, names: Sequence[str | None]) -> list[bool]:
    """Whether each ``folder / name`` exists: one stat each on a local disk, one listing of the
    folder on an object store (a request per file there would be a round trip per image)."""
    if not is_remote(folder):
        return [name is not None and (folder / name).exists() for name in names]
    prefix = folder.path.rstrip("/") + "/"
    try:
        found = {p.removeprefix(prefix) for p in folder.fs.find(folder.path)}
    except FileNotFoundError:
        found = set()
    return [name is not None and name in found for name in names]


def object_store_options(path: Location) -> dict[str, str] | None:
    """The ``storage_options`` of the Rust object-store readers (LanceDB's and polars') for a URL
    home: the endpoint of ``AWS_ENDPOINT_URL`` (a local or S3-compatible server), plain HTTP
    allowed when it is an ``http://`` one.  Both read the credentials and region from the same
    variables themselves."""
    if not is_remote(path):
        return None
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint or urlparse(str(path)).scheme not in ("s3", "s3a"):
        return {}
    return {"aws_endpoint": endpoint, "allow_http": str(endpoint.startswith("http://")).lower()}


def check_home(home: str | os.PathLike) -> None:
    """Before any work: a URL home's bucket exists and the credentials are accepted (one listing
    of the home).  A clear ``HomeUnreachable`` naming the URL otherwise; a local home passes
    unless it is a file."""
    named = f"LAIONET_HOME {str(home).rstrip('/')}"
    if not is_remote(home):
        local = Path(home).expanduser()
        if local.exists() and not local.is_dir():
            raise HomeUnreachable(f"{named}: is a file, not a folder")
        return
    try:
        path = home_path(home)
        path.fs.ls(path.path.split("/")[0])  # the bucket: the home itself need not exist yet
    except FileNotFoundError as exc:
        raise HomeUnreachable(f"{named}: the bucket does not exist ({exc})") from None
    except PermissionError as exc:
        raise HomeUnreachable(f"{named}: the credentials are refused ({exc})") from None
    except (OSError, ValueError, ImportError) as exc:  # an unknown scheme, its library not installed
        raise HomeUnreachable(f"{named}: cannot be reached ({exc})") from None


def lance_connect(folder: str | os.PathLike):
    """A LanceDB database in ``folder``: a local folder (created), or a URL home's prefix through
    LanceDB's own object-store client."""
    import lancedb

    if is_remote(folder):
        return lancedb.connect(str(folder), storage_options=object_store_options(folder))
    Path(folder).mkdir(parents=True, exist_ok=True)
    return lancedb.connect(str(folder))
