"""End to end in a real browser: `laionet ui` serves the Dagster UI over the demo's home; headless
Chromium finds every asset of the graph, an asset's figure and described columns, the CLI's named
jobs, launches a materialisation of one lemma_matches partition, which succeeds, and opens the
demo's report, whose banner comes first."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from laionet_assets.core.columns import COLUMNS
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.testing.fixtures import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def asset_groups() -> dict[str, list[str]]:
    """Every asset of the code location, group by group (from the Definitions)."""
    from laionet_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    groups: dict[str, list[str]] = {}
    for key in graph.toposorted_asset_keys:
        groups.setdefault(graph.get(key).group_name, []).append(key.to_user_string())
    return groups


def dismiss_welcome(page) -> None:
    """A new instance greets with "Join the Dagster community"; its Skip button closes it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_role("button", name="Skip").first.click(timeout=8_000)
    except PlaywrightTimeout:
        pass


def shown(name: str, least: int = 3) -> re.Pattern:
    """The graph shortens long names in the middle, keeping more or fewer characters by the
    name's length ("laio…_experiments"): match the name, or any of its first characters, "…",
    and any of its last (at least ``least`` on each side)."""
    heads = "|".join(re.escape(name[:k]) for k in range(least, len(name) + 1))
    tails = "|".join(re.escape(name[-k:]) for k in range(least, len(name) + 1))
    return re.compile(f"^(?:{re.escape(name)}|(?:{heads})…(?:{tails}))$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ui_server(tmp_path, demo_home, monkeypatch):
    """``laionet ui`` over the session's demo home: every asset materialised, by the CLI's jobs."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make setup` installs Debian's chromium")
    pytest.importorskip("playwright.sync_api", reason="playwright is installed by `make setup` (dev extra)")
    home = demo_home[0]
    keys = sorted(ReleaseRegistry(str(home)).load())
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    port = free_port()
    env = {**os.environ, "LAIONET_PROFILE": "tiny", "DAGSTER_DISABLE_TELEMETRY": "1"}
    log = open(tmp_path / "ui.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "laionet_assets.cli", "ui", "--home", str(home), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/server_info", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        f"Dagster UI did not start: {(tmp_path / 'ui.log').read_text()[-3000:]}"
                    )
                time.sleep(1)
        yield url, home, keys
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


SCREENSHOTS = os.environ.get("LAIONET_SCREENSHOTS")  # a folder to keep the screenshots in (the docs')


def screenshot(page, tmp_path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name))
    if SCREENSHOTS:
        shutil.copyfile(tmp_path / name, Path(SCREENSHOTS) / name)


def test_the_ui_and_the_report_of_the_demo(ui_server, tmp_path):
    """Every asset in the graph; an asset's figure as a picture and its columns described; the
    CLI's runs as named jobs; a partition materialised from the UI; the demo's report with its
    banner first."""
    from playwright.sync_api import expect, sync_playwright

    url, home, keys = ui_server
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        before = {r.dagster_run.run_id for r in instance.get_run_records()}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        # The global lineage shows one node per group (long names shortened in the middle with
        # "…"); clicking a group's node expands it.
        groups = asset_groups()
        assert {"imagenet_synsets", "lemma_matches", "text_sims", "laionet_clean"} <= set(
            groups["laionet_creation"]
        )
        for group, assets in groups.items():
            page.goto(f"{url}/asset-groups", wait_until="networkidle")
            dismiss_welcome(page)
            # the sidebar lists every group; clicking one brings its node into view
            page.get_by_text(group, exact=True).first.click()
            page.locator("svg").get_by_text(shown(group)).first.click()
            any_asset = re.compile("|".join(shown(a).pattern for a in assets))
            expect(page.locator("svg").get_by_text(any_asset).first).to_be_visible(timeout=30_000)
            # The expanded group may not fit the view (the graph renders only the nodes in view):
            # the group's page lists every asset of the group.
            page.goto(
                f"{url}/locations/laionet_assets.definitions/asset-groups/{group}", wait_until="networkidle"
            )
            page.get_by_role("tab", name="List").click()
            for asset in assets:
                expect(page.get_by_text(shown(asset)).first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(tmp_path / f"asset_graph_{group}.png"))

        # an asset page: its figures as pictures in the metadata, its columns described
        page.goto(url + "/assets/laionet_clean", wait_until="networkidle")
        dismiss_welcome(page)
        description = page.get_by_text(COLUMNS["text_similarity"]).first
        expect(description).to_be_visible(timeout=30_000)
        description.scroll_into_view_if_needed()
        screenshot(page, tmp_path, "ui_asset_columns.png")
        page.locator("tr", has_text="fig3_coverage").first.get_by_text("[Show Markdown]").click()
        figure = page.get_by_role("dialog").locator("img[src^='data:image/png;base64,']")
        expect(figure).to_be_visible(timeout=30_000)
        assert page.evaluate("(img) => img.naturalWidth", figure.element_handle()) > 100
        screenshot(page, tmp_path, "ui_asset_figure.png")
        page.get_by_role("button", name="Close").click()

        # the CLI's runs are its stages' named jobs
        page.goto(url + "/runs", wait_until="networkidle")
        stage_job = re.compile(r"^laionet_run_\d+_[a-z0-9_]+?(_by_part|_by_release)?$")
        expect(page.get_by_text(stage_job).first).to_be_visible(timeout=30_000)
        screenshot(page, tmp_path, "ui_runs.png")

        page.goto(url + "/assets/lemma_matches", wait_until="networkidle")
        page.get_by_role("button", name="Materialize…").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Select a partition or create one").click()
        page.get_by_text(keys[0], exact=True).first.click()
        dialog.get_by_role("button", name="Launch 1 run").click()

        with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
            deadline = time.time() + 240
            while True:
                records = [r for r in instance.get_run_records() if r.dagster_run.run_id not in before]
                done = [r.dagster_run for r in records if r.dagster_run.is_finished]
                if done or time.time() > deadline:
                    break
                time.sleep(2)
            assert len(records) == 1, "the UI launched exactly one run"
            run = records[0].dagster_run
            assert run.tags.get("dagster/partition") == keys[0]
            assert run.is_success, f"run {run.run_id} ended {run.status}"
        page.goto(f"{url}/runs/{run.run_id}", wait_until="networkidle")
        expect(page.get_by_text("Success").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(tmp_path / "run_succeeded.png"))

        # the demo's report: the banner about its random models and synthetic images comes first
        page.goto((home / "reports" / "sample" / "report.html").as_uri(), wait_until="load")
        banner = page.get_by_role("alert")
        expect(banner).to_contain_text("The models have random weights")
        expect(banner).to_contain_text("synthetic")
        assert banner.bounding_box()["y"] < page.get_by_role("navigation").bounding_box()["y"]
        screenshot(page, tmp_path, "report.png")
        browser.close()
    print(f"screenshots: {tmp_path}")
