import asyncio

import numpy as np
import polars as pl
import pytest
from PIL import Image

from laionet_assets.core.images.download import DownloadSettings, download_images, fetch
from laionet_assets.core.images.pixels import load_rgb, to_rgb
from laionet_assets.core.images.validation import check_image
from laionet_assets.testing.fixtures import shared_path
from laionet_assets.testing.web import LOOPBACK, ImageServer, crafted_images

FAST = DownloadSettings(allow=LOOPBACK, concurrency=8, timeout_s=2.0, retries=2, backoff_s=0.01)


@pytest.mark.parametrize(
    "name, status, mode",
    [
        ("rgb.jpg", "ok", "RGB"),
        ("cmyk.jpg", "ok", "CMYK"),
        ("palette.png", "ok", "P"),
        ("rgba.png", "ok", "RGBA"),
        ("gray16.png", "ok", "I;16"),
        ("ten_by_ten.png", "ok", "RGB"),
        ("one_by_one.png", "too_small", "RGB"),
        ("nine_by_eleven.png", "too_small", "RGB"),
        ("cut.jpg", "corrupt", None),
        ("page.html", "not_image", None),
        ("garbage.jpg", "corrupt", None),
    ],
)
def test_check_image_statuses(name, status, mode):
    checked = check_image(crafted_images()[name], min_area=100)
    assert checked.status == status, checked.error
    if mode:
        assert checked.mode == mode


def test_conversion_rules_give_8_bit_rgb():
    grey16 = Image.fromarray(np.array([[0, 256, 65535]], dtype=np.uint16))
    assert np.asarray(to_rgb(grey16))[0, :, 0].tolist() == [0, 1, 255]
    transparent = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert np.asarray(to_rgb(transparent)).tolist() == [[[255, 255, 255]] * 2] * 2  # alpha onto white
    cmyk = Image.new("CMYK", (1, 1), (0, 0, 0, 0))
    assert to_rgb(cmyk).mode == "RGB" and np.asarray(to_rgb(cmyk))[0, 0].tolist() == [255, 255, 255]


def test_download_against_local_server(tmp_path):
    files = crafted_images()
    real = sorted(shared_path("data", "imagenet_sample").glob("*.JPEG"))[:5]
    files.update({p.name: p.read_bytes() for p in real})
    with ImageServer(files, {"page.html": "text/html"}) as server:
        urls = {
            **{f"real{i}": server.url(f"img/{p.name}") for i, p in enumerate(real)},
            "cmyk": server.url("img/cmyk.jpg"),
            "palette": server.url("img/palette.png"),
            "gray16": server.url("img/gray16.png"),
            "tiny": server.url("img/one_by_one.png"),
            "cut": server.url("img/cut.jpg"),
            "html": server.url("img/page.html"),
            "missing": server.url("img/nothing.jpg"),
            "gone": server.url("status/410"),
            "redirect": server.url("redirect/rgb.jpg"),
            "flaky": server.url("flaky/2/rgb.jpg"),
            "slow": server.url("hang/rgb.jpg"),
            "truncated": server.url("truncated/rgb.jpg"),
            "not_http": "ftp://127.0.0.1/x.jpg",
        }
        samples = pl.DataFrame({"sample_id": list(urls), "url": list(urls.values())})
        # generous beside the milliseconds a local answer takes, so a loaded machine times out
        # nothing but the route that never answers
        settings = DownloadSettings(allow=LOOPBACK, concurrency=8, timeout_s=2.0, retries=2, backoff_s=0.01)
        table, counts = download_images(samples, tmp_path / "images", settings)
        status = dict(zip(table["sample_id"], table["status"]))
        assert table["sample_id"].to_list() == list(urls)  # input order kept
        assert {k: status[k] for k in urls} == {
            **{f"real{i}": "ok" for i in range(len(real))},
            "cmyk": "ok",
            "palette": "ok",
            "gray16": "ok",
            "tiny": "too_small",
            "cut": "corrupt",
            "html": "not_image",
            "missing": "http_error",
            "gone": "http_error",
            "redirect": "ok",
            "flaky": "ok",
            "slow": "timeout",
            "truncated": "truncated",
            "not_http": "bad_url",
        }
        row = table.row(by_predicate=pl.col("sample_id") == "flaky", named=True)
        assert row["attempts"] == 3 and server.hits["/flaky/2/rgb.jpg"] == 3
        assert (
            table.row(by_predicate=pl.col("sample_id") == "missing", named=True)["attempts"] == 1
        )  # 404: no retry
        assert table.row(by_predicate=pl.col("sample_id") == "slow", named=True)["attempts"] == 3
        assert counts["status_ok"] == len(real) + 5 and counts["fetched"] == len(urls)
        # content addressed: the stored bytes are the served bytes, named by their sha256
        for r in table.filter(pl.col("status") == "ok").iter_rows(named=True):
            stored = (tmp_path / "images" / r["image_path"]).read_bytes()
            import hashlib

            assert hashlib.sha256(stored).hexdigest() == r["image_sha256"]
            assert load_rgb(tmp_path / "images" / r["image_path"]).mode == "RGB"
        # the same redirect and direct image are one file
        assert len({*table.filter(pl.col("sample_id").is_in(["redirect", "flaky"]))["image_path"]}) == 1

        # resumable: a re-run fetches only retryable failures and samples whose file is gone
        (tmp_path / "images" / status_path(table, "cmyk")).unlink()
        before = sum(server.hits.values())
        again, counts2 = download_images(samples, tmp_path / "images", settings, previous=table)
        refetched = {"cmyk", "slow", "truncated"}
        assert counts2["fetched"] == len(refetched) and counts2["reused_from_previous_run"] == len(
            urls
        ) - len(refetched)
        assert sum(server.hits.values()) - before == 1 + 3 + 3  # cmyk once; slow and truncated with retries
        assert again.filter(pl.col("sample_id") == "cmyk")["status"].item() == "ok"
        assert (tmp_path / "images" / status_path(again, "cmyk")).exists()


def status_path(table, sample_id):
    return table.filter(pl.col("sample_id") == sample_id)["image_path"].item()


def test_size_cap_with_and_without_content_length():
    files = crafted_images()
    size = len(files["rgb.jpg"])
    with ImageServer(files) as server:
        capped = DownloadSettings(allow=LOOPBACK, max_bytes=100, retries=0)
        declared = fetch(server.url("img/rgb.jpg"), capped)
        assert (declared.status, declared.error) == ("too_large", f"Content-Length {size} > 100")
        streamed = fetch(server.url("unsized/rgb.jpg"), capped)  # counted while reading
        assert (streamed.status, streamed.error) == ("too_large", "body exceeds 100 bytes")
        assert fetch(server.url("img/rgb.jpg"), FAST).data == files["rgb.jpg"]
        assert fetch(server.url("unsized/rgb.jpg"), FAST).data == files["rgb.jpg"]


def test_redirect_loop_and_malformed_url_get_a_status_not_an_exception():
    with ImageServer(crafted_images()) as server:
        looping = fetch(server.url("loop/rgb.jpg"), FAST)
        assert (looping.status, looping.http_status, looping.attempts) == ("http_error", 302, 1)
        assert server.hits["/loop/rgb.jpg"] > 1
    assert fetch("http://127.0.0.1:notaport/x.jpg", FAST).status == "bad_url"
    assert fetch("http://", FAST).status == "bad_url"


def test_retry_backoff_doubles():
    waits = []
    settings = DownloadSettings(allow=LOOPBACK, timeout_s=0.2, retries=3, backoff_s=0.1)
    result = fetch("http://127.0.0.1:9/refused.jpg", settings, sleep=waits.append)  # port 9: nothing listens
    assert result.status == "connection_error" and result.attempts == 4
    assert waits == pytest.approx([0.1, 0.2, 0.4])


def test_url_rewrites_point_at_a_mirror():
    settings = DownloadSettings(
        allow=LOOPBACK, url_rewrites={"https://images.example.org/": "http://127.0.0.1:1234/"}
    )
    assert settings.rewrite("https://images.example.org/a/b.jpg") == "http://127.0.0.1:1234/a/b.jpg"
    assert settings.rewrite("https://other.org/a.jpg") == "https://other.org/a.jpg"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="concurrency"):
        DownloadSettings(allow=LOOPBACK, concurrency=0)


def test_release_size_below_min_area_is_too_small_without_a_request(tmp_path):
    with ImageServer(crafted_images()) as server:
        samples = pl.DataFrame(
            {
                "sample_id": ["small", "big", "unknown"],
                "url": [server.url("img/rgb.jpg"), server.url("img/cmyk.jpg"), server.url("img/palette.png")],
                "width": [9, 640, None],
                "height": [10, 480, None],
            },
            schema_overrides={"width": pl.Int32, "height": pl.Int32},
        )
        table, counts = download_images(
            samples, tmp_path / "images", DownloadSettings(allow=LOOPBACK, min_area=100, retries=0)
        )
        assert dict(zip(table["sample_id"], table["status"])) == {
            "small": "too_small",
            "big": "ok",
            "unknown": "ok",
        }
        small = table.filter(pl.col("sample_id") == "small").row(0, named=True)
        assert small["attempts"] == 0 and small["error"] == "the release says 9×10 < 100 pixels"
        assert counts["too_small_by_release_size"] == 1 and counts["fetched"] == 2
        assert sum(server.hits.values()) == 2  # the small one was never requested


def test_several_processes_give_the_table_of_one(tmp_path, monkeypatch):
    """Spread over spawned processes (chunks smaller than the sample, so every process works), the
    status table and the stored files are those of one process."""
    import laionet_assets.core.images.download as images

    files = crafted_images()
    real = sorted(shared_path("data", "imagenet_sample").glob("*.JPEG"))[:6]
    files.update({p.name: p.read_bytes() for p in real})
    names = [*files, "absent.jpg"] * 2  # every kind of outcome, each twice
    with ImageServer(files, {"page.html": "text/html"}) as server:
        samples = pl.DataFrame(
            {
                "sample_id": [f"s{i}" for i in range(len(names))],
                "url": [server.url(f"img/{n}") for n in names],
            }
        )
        one, _ = download_images(samples, tmp_path / "one", FAST)
        monkeypatch.setattr(images, "PROCESS_CHUNK", 5)
        ticks = []
        many, counts = download_images(
            samples,
            tmp_path / "many",
            DownloadSettings(**{**FAST.__dict__, "processes": 2, "concurrency": 2}),
            None,
            ticks.append,
        )
    from polars.testing import assert_frame_equal

    assert_frame_equal(many.drop("fetched_at"), one.drop("fetched_at"))
    assert many["fetched_at"].null_count() == 0
    assert sum(ticks) == len(names) == counts["fetched"] and len(ticks) > 2
    stored = lambda root: sorted(p.relative_to(root) for p in root.rglob("*.*"))  # noqa: E731
    assert stored(tmp_path / "many") == stored(tmp_path / "one") != []


def test_resize_at_download_shrinks_the_shorter_side_and_keeps_small_images(tmp_path):
    y, x = np.mgrid[0:300, 0:400]  # smooth: what JPEG keeps well
    big = Image.fromarray(np.stack([x * 255 // 400, y * 255 // 300, (x + y) % 256], -1).astype(np.uint8))
    files = {"big.png": encode_png(big), **{k: v for k, v in crafted_images().items() if k == "rgb.jpg"}}
    with ImageServer(files) as server:
        samples = pl.DataFrame(
            {"sample_id": ["big", "small"], "url": [server.url("img/big.png"), server.url("img/rgb.jpg")]}
        )
        table, _ = download_images(
            samples, tmp_path, DownloadSettings(**{**FAST.__dict__, "resize_shorter": 120})
        )
    big_row, small_row = table.row(0, named=True), table.row(1, named=True)
    assert (big_row["width"], big_row["height"]) == (400, 300)  # as served
    with Image.open(tmp_path / big_row["image_path"]) as stored:
        assert (stored.format, stored.size) == ("JPEG", (160, 120))
        expected = np.asarray(big.resize((160, 120), Image.Resampling.LANCZOS), dtype=np.float32)
        assert np.abs(np.asarray(stored, dtype=np.float32) - expected).mean() < 8  # JPEG at quality 95
    # 50×40 is smaller already: stored as served
    assert (tmp_path / small_row["image_path"]).read_bytes() == files["rgb.jpg"]
    with pytest.raises(ValueError, match="resize_shorter"):
        DownloadSettings(allow=LOOPBACK, resize_shorter=-1)


def encode_png(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_proxy_variables_are_ignored(monkeypatch):
    """A proxy would connect on the client's behalf, past the address check."""
    from laionet_assets.core.images.download import client_session

    async def trusts_env(settings):
        async with client_session(settings) as session:
            return session.trust_env

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    assert asyncio.run(trusts_env(FAST)) is False
