"""The phone page in a real browser: headless Chromium (Debian's chromium and chromium-driver) plays a
session the program really built, from the real server on 127.0.0.1 with a token as `--lan` gives."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from libraries import ThreadServer, quick_library

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TOKEN = "page-test-token-0123456789"
LIMIT_S = 30.0
"""Only stops a hung test: each wait ends as soon as the page reaches the state it waits for."""


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return (f"{path} is missing: the page's tests need Debian's headless Chromium "
                    "(apt-get install chromium chromium-driver; .ci/run installs it)")
    return None


pytestmark = pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("page")
    return quick_library(root / "library", root / "cache")


@pytest.fixture(scope="module")
def plan(library) -> dict:
    return json.loads((library / "quick-stretch.json").read_text())


@pytest.fixture(scope="module")
def server(library):
    running = ThreadServer(library, TOKEN)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="vg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
                 f"--user-data-dir={profile}", "--window-size=412,915"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(LIMIT_S)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait(driver, script: str, *args):
    """Wait until the page's `script` (a JavaScript expression) is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, LIMIT_S, poll_frequency=0.02).until(
        lambda d: d.execute_script(f"return ({script});", *args))


def open_session(driver, url: str, session_id: str = "quick-stretch") -> None:
    driver.get(url)
    wait(driver, "document.querySelectorAll('#sessions li').length > 0")
    driver.find_element("css selector", f"#sessions li[data-id='{session_id}'] a").click()
    wait(driver, "!document.getElementById('player').hidden && document.querySelectorAll('#chapters button').length > 0")


def pause(driver) -> None:
    driver.execute_script("document.getElementById('audio').pause();")
    wait(driver, "document.getElementById('audio').paused")


def test_the_session_list_shows_covers_and_lengths(browser, server, library):
    from voiceguide.durations import format_clock
    from voiceguide.library import scan

    browser.get(server.url)
    wait(browser, "document.querySelectorAll('#sessions li').length == 2")
    shown = browser.execute_script("""return [...document.querySelectorAll('#sessions li')].map(li => [
        li.querySelector('.name').textContent, li.querySelector('.length').textContent])""")
    assert sorted(shown) == sorted([s.title, format_clock(s.duration_ms)] for s in scan(library))
    assert sorted(title for title, _ in shown) == ["Quick Stretch", "Quick Stretch — pace 1.5"]
    wait(browser, "document.querySelector(\"#sessions li[data-id='quick-stretch'] img\").naturalWidth == 1400")
    links = browser.execute_script("return [document.getElementById('subscribe').href, "
                                   "document.getElementById('subscribe-antennapod').href]")
    host = server.url.split("//", 1)[1]
    assert links == [f"podcast://{host}feed.xml", f"antennapod-subscribe://{host}feed.xml"]


def test_play_starts_and_the_lock_screen_knows_the_chapter(browser, server, plan):
    open_session(browser, server.url)
    browser.find_element("id", "play").click()
    wait(browser, "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 0.3")
    assert browser.execute_script("return document.getElementById('play').getAttribute('aria-label')") == "Pause"
    metadata = browser.execute_script("const m = navigator.mediaSession.metadata; "
                                      "return [m.title, m.artist, m.artwork[0].src, m.artwork[0].sizes]")
    assert metadata[:2] == [plan["chapters"][0]["title"], "Quick Stretch"]
    assert metadata[2].endswith(f"/{TOKEN}/quick-stretch.cover.png") and metadata[3] == "1400x1400"
    pause(browser)


def test_tapping_a_chapter_seeks_to_its_start(browser, server, plan):
    open_session(browser, server.url)
    pause(browser)
    for index in (2, 1):
        chapter = plan["chapters"][index]
        browser.find_elements("css selector", "#chapters button")[index].click()
        wait(browser, "!document.getElementById('audio').seeking")
        at = browser.execute_script("return document.getElementById('audio').currentTime")
        assert abs(at - chapter["start_ms"] / 1000) <= 0.1
        current = browser.execute_script("return document.querySelector('#chapters button[aria-current=true]')"
                                         ".firstChild.textContent")
        assert current == chapter["title"]
        wait(browser, "navigator.mediaSession.metadata.title == arguments[0]", chapter["title"])


def test_next_and_previous_track_jump_by_chapter(browser, server, plan):
    """The handlers the page gives the Media Session for the lock screen's and headset's buttons."""
    open_session(browser, server.url)
    pause(browser)
    starts = [c["start_ms"] / 1000 for c in plan["chapters"]]
    browser.execute_script("document.getElementById('audio').currentTime = arguments[0]", starts[1] + 5)
    wait(browser, "!document.getElementById('audio').seeking")
    browser.execute_script("window.voiceguide.actions.nexttrack()")
    wait(browser, "Math.abs(document.getElementById('audio').currentTime - arguments[0]) <= 0.1", starts[2])
    browser.execute_script("window.voiceguide.actions.previoustrack()")  # at a chapter's start: the one before
    wait(browser, "Math.abs(document.getElementById('audio').currentTime - arguments[0]) <= 0.1", starts[1])


def test_the_now_line_changes_when_the_audio_reaches_a_cue(browser, server, plan):
    lines = [e for e in plan["events"] if e["kind"] == "speech"]
    # a line after a silence of at least half a second, in the middle of the session
    k = next(i for i in range(len(lines) // 2, len(lines)) if lines[i]["start_ms"] - lines[i - 1]["end_ms"] >= 500)
    before, cue = lines[k - 1], lines[k]
    open_session(browser, server.url)
    pause(browser)
    browser.execute_script("document.getElementById('audio').currentTime = arguments[0]",
                           (cue["start_ms"] - 400) / 1000)
    wait(browser, "!document.getElementById('audio').seeking && document.getElementById('now').textContent == arguments[0]",
         before["text"])
    assert browser.execute_script("return document.getElementById('next').textContent").startswith(
        f"Next: {cue['text']}")
    browser.find_element("id", "play").click()
    wait(browser, "document.getElementById('now').textContent == arguments[0]", cue["text"])
    at = browser.execute_script("return document.getElementById('audio').currentTime")
    assert at >= cue["start_ms"] / 1000 - 0.05  # not before the voice starts
    pause(browser)


def _status(browser, path: str) -> int:
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {cache: 'no-store'}).then(r => done(r.status), e => done(String(e)));", path)


def test_a_missing_token_or_a_dotdot_path_gets_404(browser, server):
    browser.get(server.url)
    wait(browser, "document.querySelectorAll('#sessions li').length == 2")
    assert _status(browser, f"/{TOKEN}/feed.xml") == 200
    assert _status(browser, "/feed.xml") == 404
    assert _status(browser, "/quick-stretch.mp3") == 404
    assert _status(browser, f"/{TOKEN}/../{TOKEN}/feed.xml") == 200  # the browser resolves `..` itself...
    assert _status(browser, f"/{TOKEN}/%2e%2e/feed.xml") == 404  # ...but not this spelling, which the server refuses
    assert _status(browser, f"/{TOKEN}/..%2f..%2fetc%2fpasswd") == 404
    browser.get(server.root)  # the address without the token: nothing to see
    assert "404" in browser.find_element("tag name", "body").text
    assert TOKEN not in browser.page_source


def test_once_loaded_it_plays_offline(browser, library, plan):
    """The service worker keeps the page and the opened session: with the server gone, they load and play."""
    server = ThreadServer(library, TOKEN)  # an origin of its own, whose server this test stops
    try:
        open_session(browser, server.url)
        wait(browser, "document.getElementById('offline').textContent.startsWith('Saved')")
        wait(browser, "navigator.serviceWorker.controller !== null")
    finally:
        server.stop()
    browser.refresh()
    wait(browser, "document.querySelectorAll('#chapters button').length == arguments[0]", len(plan["chapters"]))
    browser.find_element("id", "play").click()
    wait(browser, "document.getElementById('audio').currentTime > 0.3")
    browser.find_elements("css selector", "#chapters button")[2].click()  # a range from the kept copy
    wait(browser, "Math.abs(document.getElementById('audio').currentTime - arguments[0]) <= 0.3",
         plan["chapters"][2]["start_ms"] / 1000)
    assert browser.execute_script("return document.getElementById('audio').error") is None
    pause(browser)
