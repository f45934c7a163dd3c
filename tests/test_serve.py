"""`voiceguide serve`: the real server, on 127.0.0.1 (and, with --lan, in a network namespace the test
makes), answers Range requests as podcast apps and browsers send them and hands out nothing but the
library's own files."""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from libraries import ThreadServer, quick_library

from voiceguide.serve import TOKEN_FILE, library_token, terminal_qr, where

TOKEN = "t0ken-for-the-tests_0123456789"


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    folder = quick_library(root / "library", root / "cache")
    outside = root / "secret.txt"
    outside.write_text("not the library's")
    (folder / "notes.txt").write_text("the user's own file")
    (folder / "escape.mp3").symlink_to(root / "library" / "quick-stretch.mp3")
    (folder / "secret.json").symlink_to(outside)
    (folder / "sub").mkdir()
    (folder / "sub" / "x.mp3").write_bytes((folder / "quick-slow.mp3").read_bytes())
    (folder / TOKEN_FILE).write_text(TOKEN + "\n")
    return folder


@pytest.fixture(scope="module")
def server(library):
    """The web application with a token, as `serve --lan` runs it, but on 127.0.0.1."""
    running = ThreadServer(library, TOKEN)
    yield running
    running.stop()


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request, the path sent exactly as written (no client tidies up `..` or %2e)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_the_served_feed_has_absolute_urls_that_fetch_the_files(server, library):
    status, headers, body = get(server.url + "feed.xml")
    assert status == 200 and headers["content-type"].startswith("application/rss+xml")
    root = ET.fromstring(body)
    urls = [e.get("url") for e in root.iter("enclosure")]
    assert len(urls) == 2
    for enclosure in root.iter("enclosure"):
        url = enclosure.get("url")
        assert url.startswith(server.url)  # absolute, with the token
        status, headers, data = get(url)
        name = urlsplit(url).path.rsplit("/", 1)[1]
        assert status == 200 and data == (library / name).read_bytes()
        assert int(enclosure.get("length")) == len(data) and headers["content-type"] == "audio/mpeg"
    status, _, page = get(server.url)
    assert status == 200 and b"<audio" in page


def test_range_requests_get_206_with_the_right_bytes(server, library):
    data = (library / "quick-stretch.mp3").read_bytes()
    url = server.url + "quick-stretch.mp3"
    status, headers, body = get(url, {"Range": "bytes=1000-1999"})
    assert status == 206 and body == data[1000:2000]
    assert headers["content-range"] == f"bytes 1000-1999/{len(data)}" and headers["accept-ranges"] == "bytes"
    status, _, body = get(url, {"Range": "bytes=-300"})
    assert status == 206 and body == data[-300:]
    status, _, body = get(url, {"Range": f"bytes={len(data) - 10}-"})
    assert status == 206 and body == data[-10:]
    status, headers, _ = get(url, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"
    etag = get(url, method="HEAD")[1]["etag"]
    status, _, body = get(url, {"Range": "bytes=0-99", "If-Range": etag})
    assert status == 206 and body == data[:100]
    status, _, body = get(url, {"Range": "bytes=0-99", "If-Range": '"an-older-build"'})
    assert status == 200 and body == data  # the file changed since: the whole of it


def test_without_the_token_everything_is_404(server):
    for path in ["", "feed.xml", "quick-stretch.mp3", "index.html", "sessions.json", "wrong-token/feed.xml",
                 TOKEN[:-1] + "/feed.xml", TOKEN.upper() + "/feed.xml"]:
        status, _, body = get(server.root + path)
        assert status == 404, path
        assert TOKEN.encode() not in body
    status, headers, _ = get(server.root + TOKEN)
    assert status == 302 and headers["location"] == f"/{TOKEN}/"


@pytest.mark.parametrize("path", [
    "../secret.txt", "%2e%2e/secret.txt", "..%2fsecret.txt", "%2e%2e%2fsecret.txt", "sub/x.mp3", "sub/", "sub",
    "escape.mp3", "secret.json", "notes.txt", TOKEN_FILE, ".", "quick-stretch.mp3/..", "./feed.xml",
    "quick-stretch.mp3%00", "/etc/passwd", "//etc/passwd",
])
def test_nothing_but_the_librarys_own_files(server, path):
    """`..` in any spelling, symbolic links out of (or within) the library, other files, subfolders,
    the token file: all 404, and so is every listing but the page's."""
    status, _, body = get(server.url + path)
    assert status == 404, (path, body[:200])
    assert b"not the library's" not in body


def test_no_writes(server, library):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in library.iterdir())
    for method in ("PUT", "POST", "DELETE", "PATCH"):
        status, _, _ = get(server.url + "quick-stretch.mp3", method=method)
        assert status == 405, method
    assert sorted((p.name, p.stat().st_mtime_ns) for p in library.iterdir()) == before


def test_the_token_is_made_once_kept_private_and_replaced_on_request(tmp_path):
    first = library_token(tmp_path)
    assert (tmp_path / TOKEN_FILE).read_text().strip() == first and len(first) >= 22
    assert stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode) == 0o600
    assert library_token(tmp_path) == first
    assert where(tmp_path, False, "192.0.2.9").token == first  # not loopback: the token; nothing is bound here
    assert where(tmp_path, False, None).token is None and where(tmp_path, False, "127.0.0.1").token is None
    replaced = where(tmp_path, False, "192.0.2.9", new_token=True).token
    assert replaced != first and library_token(tmp_path) == replaced
    assert where(tmp_path, False, "192.0.2.9").url(8765) == f"http://192.0.2.9:8765/{replaced}/"


def test_a_token_that_cannot_be_kept_lasts_the_run_with_a_warning(tmp_path):
    (tmp_path / TOKEN_FILE).mkdir()  # neither readable nor replaceable as a file
    said: list[str] = []
    token = library_token(tmp_path, warn=said.append)
    assert len(token) >= 22 and len(said) == 1
    assert said[0].startswith(f"{tmp_path / TOKEN_FILE}: could not keep the token (")
    assert "lasts until the server stops" in said[0]


def test_an_address_not_this_computers_is_a_clear_error(library):
    result = subprocess.run([sys.executable, "-m", "voiceguide", "serve", str(library), "--host", "192.0.2.199",
                             "--port", "0"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert "error: 192.0.2.199 is not an address of this computer (its network addresses: " in result.stderr
    assert "give one of them with --host" in result.stderr


def _serve(*args: str, netns: str | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "voiceguide", "serve", *args]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    # no preexec_fn resetting signals (this module runs a server thread): voiceguide installs its own
    # handlers for Ctrl-C and SIGTERM, whatever it inherits
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    """Ctrl-C, as a user stops it; its exit status and what it said."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_serve_prints_its_url_first_and_ctrl_c_exits_130(library):
    proc = _serve(str(library), "--port", "0")
    url = proc.stdout.readline().strip()  # the first line: waits until it listens
    assert url.startswith("http://127.0.0.1:") and url.endswith("/") and url.count("/") == 3
    status, _, body = get(url + "sessions.json")
    assert status == 200 and b"Quick Stretch" in body
    port = urlsplit(url).port
    assert get(url + "sessions.json", {"Host": f"localhost:{port}"})[0] == 200
    # no token on loopback: a page elsewhere that points its own name at 127.0.0.1 gets nothing
    assert get(url + "sessions.json", {"Host": f"rebound.example:{port}"})[0] == 404
    assert get(url, {"Host": "rebound.example"})[0] == 404
    code, err = _stop(proc)
    assert code == 130 and "stopped" in err and "Traceback" not in err
    assert "Serving 2 sessions" in err


def test_a_port_in_use_is_a_clear_error(library):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "voiceguide", "serve", str(library), "--port", str(port)],
                                capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert f"error: 127.0.0.1:{port} is already in use" in result.stderr and f"--port {port + 1}" in result.stderr


def test_a_missing_folder_is_a_clear_error_and_is_not_made(tmp_path):
    result = subprocess.run([sys.executable, "-m", "voiceguide", "serve", str(tmp_path / "nothing")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "nothing: no such folder" in result.stderr and "voiceguide build" in result.stderr
    assert not (tmp_path / "nothing").exists()


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns():
    """A network namespace joined to this one by a veth pair: 10.231.N.1 here, 10.231.N.2 there."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("--lan is tested in a network namespace of its own, which needs root and iproute2 (`ip`)")
    name = f"vgtest-{uuid.uuid4().hex[:8]}"
    here, there = f"vgh{name[-6:]}", f"vgn{name[-6:]}"
    subnet = 10 + os.getpid() % 240
    try:
        _run("ip", "netns", "add", name)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot make a network namespace here ({getattr(exc, 'stderr', b'') or exc}); --lan untested")
    try:
        _run("ip", "link", "add", here, "type", "veth", "peer", "name", there, "netns", name)
        _run("ip", "addr", "add", f"10.231.{subnet}.1/30", "dev", here)
        _run("ip", "link", "set", here, "up")
        _run("ip", "netns", "exec", name, "ip", "addr", "add", f"10.231.{subnet}.2/30", "dev", there)
        _run("ip", "netns", "exec", name, "ip", "link", "set", there, "up")
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name, f"10.231.{subnet}.2"
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, timeout=30, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30, check=False)


def test_lan_serves_the_lan_address_with_the_token_and_a_qr_code(library, tmp_path, netns):
    name, address = netns
    folder = tmp_path / "lan"
    shutil.copytree(library, folder, symlinks=True)
    (folder / TOKEN_FILE).unlink()  # a library served on the network for the first time
    proc = _serve(str(folder), "--lan", "--port", "0", netns=name)
    url = proc.stdout.readline().strip()
    try:
        token = (folder / TOKEN_FILE).read_text().strip()
        assert url.startswith(f"http://{address}:") and url.endswith(f"/{token}/")
        qr = "".join(proc.stdout.readline() for _ in terminal_qr(url).splitlines())
        assert qr == terminal_qr(url)
        status, _, body = get(url + "feed.xml")
        assert status == 200
        assert all(e.get("url").startswith(url) for e in ET.fromstring(body).iter("enclosure"))
        assert get(url.replace(f"/{token}/", "/") + "feed.xml")[0] == 404
        assert get(url + "../feed.xml")[0] == 404
    finally:
        code, err = _stop(proc)
    assert code == 130, err
    # restarted, it keeps the token: a podcast app's subscription still works
    proc = _serve(str(folder), "--lan", "--port", "0", netns=name)
    again = proc.stdout.readline().strip()
    _stop(proc)
    assert again.rsplit(":", 1)[1].split("/", 1)[1] == f"{token}/"


def test_lan_without_a_network_is_a_clear_error(library):
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs a network namespace of its own (root and iproute2 `ip`)")
    name = f"vgbare-{uuid.uuid4().hex[:8]}"  # loopback only: no network to serve on
    try:
        _run("ip", "netns", "add", name)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot make a network namespace here ({getattr(exc, 'stderr', b'') or exc})")
    try:
        result = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-m", "voiceguide", "serve",
                                 str(library), "--lan"], capture_output=True, text=True, timeout=60, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert "error: no network address found besides this computer's own (127.0.0.1)" in result.stderr
    assert "--host ADDRESS" in result.stderr


def test_serve_help_is_quick_to_start():
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "voiceguide", "serve", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and "--lan" in result.stdout and "--new-token" in result.stdout
    code = ("import sys; from voiceguide import cli; print(' '.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('aiohttp', 'PIL', 'segno', 'ifaddr'))))")
    modules = subprocess.run([sys.executable, "-c", code],
                             capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert modules == [], modules  # the heavy libraries load when serving, not for --help
    assert time.perf_counter() - started < 30
