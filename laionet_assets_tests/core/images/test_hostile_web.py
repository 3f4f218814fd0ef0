"""The downloader pointed at a hostile web.  Every server is on 127.0.0.1; an attempt to reach any
other address is refused in-process and recorded by the suite's network guard, so "nothing was
sent" is shown by an empty record, and a DNS name is answered by a fake resolver."""

import socket
import struct
import zlib
from urllib.parse import quote

import aiohttp
import aiohttp.connector
import polars as pl
import pytest

from laionet_assets.core.images.download import DownloadSettings, download_images, fetch
from laionet_assets.core.images.optout import opt_out
from laionet_assets.core.images.validation import check_image
from laionet_assets.testing.web import LOOPBACK, ImageServer, crafted_images

FAST = DownloadSettings(allow=LOOPBACK, timeout_s=2.0, retries=0)


@pytest.fixture(scope="module")
def server():
    with ImageServer(crafted_images(), {"page.html": "text/html"}) as running:
        yield running


class FakeResolver(aiohttp.abc.AbstractResolver):
    """Names → addresses, and how often each was looked up; a name may answer differently each
    time (DNS rebinding)."""

    answers: dict[str, list[str]] = {}
    lookups: dict[str, int] = {}

    def __init__(self, *args, **kwargs):
        pass

    async def resolve(self, host, port=0, family=socket.AF_INET):
        n = FakeResolver.lookups[host] = FakeResolver.lookups.get(host, 0) + 1
        answers = FakeResolver.answers[host]
        address = answers[min(n, len(answers)) - 1]
        kind = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [{"hostname": host, "host": address, "port": port, "family": kind, "proto": 0, "flags": 0}]

    async def close(self):
        pass


@pytest.fixture
def resolver(monkeypatch):
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", FakeResolver)
    FakeResolver.answers, FakeResolver.lookups = {}, {}
    return FakeResolver.answers


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/a.jpg",
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata endpoint
        "http://192.168.1.1/a.jpg",
        "http://100.64.0.1/a.jpg",  # carrier-grade NAT
        "http://0.0.0.0/a.jpg",
        "http://[::ffff:10.0.0.1]/a.jpg",  # IPv4-mapped IPv6
        "http://[fd00::1]/a.jpg",
        "HTTP://10.0.0.1/a.jpg",
    ],
)
def test_internal_addresses_are_refused_before_any_connection(url, network_attempts):
    fetched = fetch(url, DownloadSettings(retries=2))
    assert fetched.status == "blocked_address" and fetched.attempts == 1, fetched.error
    assert network_attempts() == []


def test_loopback_is_refused_unless_allowed(server, network_attempts):
    url = server.url("img/rgb.jpg")
    assert fetch(url, DownloadSettings(retries=0)).status == "blocked_address"
    assert server.hits["/img/rgb.jpg"] == 0
    assert fetch(url, FAST).status == "ok"
    assert fetch(url.replace("http://", "HTTP://"), FAST).status == "ok"  # a scheme in any case
    assert network_attempts() == []


def test_names_that_resolve_inside_are_refused(resolver, network_attempts):
    resolver.update({"metadata.example.test": ["169.254.169.254"], "intranet.example.test": ["10.1.2.3"]})
    for host in resolver:
        fetched = fetch(f"http://{host}/a.jpg", DownloadSettings(retries=0))
        assert fetched.status == "blocked_address" and host in fetched.error
    assert network_attempts() == []


def test_each_connection_checks_the_address_it_is_given(server, resolver, network_attempts):
    """A name that answers a loopback mirror first and an inside address next (DNS rebinding)."""
    resolver["rebind.example.test"] = ["127.0.0.1", "10.0.0.7"]
    url = f"http://rebind.example.test:{server.httpd.server_address[1]}/img/rgb.jpg"
    assert fetch(url, FAST).status == "ok"
    assert fetch(url, FAST).status == "blocked_address"
    assert FakeResolver.lookups["rebind.example.test"] == 2 and network_attempts() == []


def test_a_mirror_is_allowed_by_host_name(server, resolver, network_attempts):
    resolver["mirror.example.test"] = ["127.0.0.1"]
    url = f"http://mirror.example.test:{server.httpd.server_address[1]}/img/rgb.jpg"
    assert fetch(url, DownloadSettings(retries=0)).status == "blocked_address"
    assert fetch(url, DownloadSettings(allow=["mirror.example.test"], retries=0)).status == "ok"
    assert network_attempts() == []


def test_redirects_are_checked_hop_by_hop(server, network_attempts):
    inside = fetch(server.url("to?" + quote("http://10.0.0.1/a.jpg")), FAST)
    assert inside.status == "blocked_address" and inside.http_status == 302
    for target in ("file:///etc/passwd", "ftp://127.0.0.1/a.jpg", "gopher://127.0.0.1/"):
        fetched = fetch(
            server.url("to?" + quote(target)), DownloadSettings(**{**FAST.__dict__, "retries": 2})
        )
        assert fetched.status == "bad_url" and fetched.attempts == 1 and "redirect" in fetched.error
    assert fetch(server.url("to?" + quote(server.url("img/rgb.jpg"))), FAST).status == "ok"
    assert fetch(server.url("to?" + quote("/redirect/rgb.jpg")), FAST).status == "ok"  # relative
    looped = fetch(server.url("loop/x"), FAST)
    assert looped.status == "http_error" and "more than 5 redirects" in looped.error
    assert network_attempts() == []


def test_a_server_that_drips_bytes_meets_the_deadline(server):
    """One byte every 0.2 s never leaves the read timeout (1 s) idle: only the deadline ends it."""
    settings = DownloadSettings(allow=LOOPBACK, timeout_s=1.0, deadline_s=1.5, retries=0)
    fetched = fetch(server.url("drip/0.2/rgb.jpg"), settings)
    assert fetched.status == "timeout" and "1.5 s deadline" in fetched.error
    assert DownloadSettings(timeout_s=4).deadline == 12  # 0: three times the read timeout


def test_a_compressed_body_is_judged_by_its_decoded_bytes(server):
    fetched = fetch(server.url("gzip/rgba.png"), FAST)
    assert fetched.status == "ok" and fetched.data == crafted_images()["rgba.png"]


def test_a_malformed_response_is_stored_as_a_short_error(server):
    fetched = fetch(server.url("malformed"), DownloadSettings(**{**FAST.__dict__, "retries": 2}))
    assert fetched.status == "http_error" and fetched.attempts == 1 and 0 < len(fetched.error) <= 300


@pytest.mark.parametrize(
    "header, status",
    [
        ("noai", "opted_out"),
        ("noimageai, nofollow", "opted_out"),
        ("NOINDEX", "opted_out"),
        ("laionet_assets: noimageindex", "opted_out"),
        ("otherbot: noai", "ok"),
        ("unavailable_after: 25 Jun 2010 15:00:00 PST", "ok"),
        ("max-image-preview: large", "ok"),
        ("nofollow", "ok"),
    ],
)
def test_opt_out_headers_are_honoured(server, tmp_path, header, status):
    samples = pl.DataFrame({"sample_id": ["s"], "url": [server.url(f"robots/{quote(header)}/rgb.jpg")]})
    table, counts = download_images(samples, tmp_path, FAST)
    assert table["status"].to_list() == [status] and counts["status_opted_out"] == (status == "opted_out")
    assert (table["image_path"][0] is None) == (status == "opted_out")
    assert list(tmp_path.rglob("*.jpg")) == ([] if status == "opted_out" else list(tmp_path.rglob("*.jpg")))


def test_opt_out_directives_are_configurable():
    agent = DownloadSettings().user_agent
    assert opt_out(["noai"], agent, []) is None
    assert opt_out(["nosnippet"], agent, ["nosnippet"]) == "nosnippet"
    assert opt_out(["LAIONET_ASSETS: noai"], agent, ["noai"]) == "noai"


def dds(fourcc: bytes = b"ZZZZ") -> bytes:
    """A 3 KB DDS file whose pixel format PIL's DDS plugin does not implement."""
    header = struct.pack("<4s7I", b"DDS ", 124, 0x1007, 64, 64, 0, 0, 0) + bytes(44)
    pixel_format = struct.pack("<2I4s5I", 32, 0x4, fourcc, 0, 0, 0, 0, 0)
    return header + pixel_format + bytes(20) + bytes(3000)


def png_header(width: int, height: int, mode_byte: int = 6) -> bytes:
    """A PNG that declares ``width`` × ``height`` (RGBA) and carries one compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">2I5B", width, height, 8, mode_byte, 0, 0, 0)
    idat = zlib.compress(bytes(1 + 4 * width))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_only_image_formats_are_opened():
    assert check_image(dds()).status == "not_image"


def test_an_image_over_the_pixel_budget_is_never_decoded():
    checked = check_image(png_header(16_000, 16_000), max_pixels=50_000_000)
    assert checked.status == "too_large" and (checked.width, checked.height) == (16_000, 16_000)
    assert "max_image_pixels" in checked.error and "MiB" in checked.error
    assert check_image(png_header(3_000, 3_000), max_pixels=10_000_000).status != "too_large"


def test_any_exception_of_the_decoder_is_corrupt(monkeypatch, server, tmp_path, caplog):
    """A decoder bug on crafted bytes fails its sample, never its part."""
    from PIL import PngImagePlugin

    def broken(self):
        raise AttributeError("'NoneType' object has no attribute 'tile'")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", broken, raising=False)
    samples = pl.DataFrame(
        {"sample_id": ["png", "jpg"], "url": [server.url("img/rgba.png"), server.url("img/rgb.jpg")]}
    )
    with caplog.at_level("WARNING"):
        table, _ = download_images(samples, tmp_path, FAST)
    assert table["status"].to_list() == ["corrupt", "ok"]
    assert "AttributeError" in table["error"][0]
    assert "png" in caplog.text and server.url("img/rgba.png") in caplog.text


def test_download_settings_read_from_flags_and_the_environment(monkeypatch):
    import argparse

    from laionet_assets.cli.parser import add_setting_flags, chosen_settings
    from laionet_assets.profiles import resources_for

    parser = argparse.ArgumentParser()
    add_setting_flags(parser)
    flags = ["--download-deadline", "7.5", "--max-image-pixels", "1000000", "--download-opt-out", "noai"]
    monkeypatch.setenv("LAIONET_DOWNLOAD_ALLOW", "10.1.0.0/16, mirror.internal")
    chosen = chosen_settings(parser.parse_args(flags))
    settings = resources_for("tiny", "/tmp/x", chosen)["downloader"].settings()
    assert settings.allow == ["10.1.0.0/16", "mirror.internal"]
    assert (settings.deadline_s, settings.max_image_pixels) == (7.5, 1_000_000)
    assert settings.opt_out_directives == ["noai"]
    with pytest.raises(ValueError, match="10.0.0.0/33"):
        resources_for("tiny", "/tmp/x", {"download_allow": ["10.0.0.0/33"]})
