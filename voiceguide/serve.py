"""Publish a library to a phone: its sessions, their feed and a player page over HTTP (with Range
requests), on this computer alone or, behind a secret token in every URL, on the local network."""
from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import logging
import re
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .atomic import STOPPING, write_atomic
from .errors import VoiceguideError
from .export import CHAPTERS_SUFFIX, COVER_MIME, COVER_SUFFIX
from .feed import FEED_NAME, SESSIONS_NAME, feed_xml, library_title, sessions_json
from .library import scan

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.abc import AbstractStreamWriter

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
DEFAULT_FOLDER = Path("output")
TOKEN_FILE = ".voiceguide-token"
"""Where a library keeps its token (in the library, so it moves with it; never served)."""
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")

PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
}
"""The player page, shipped in voiceguide/page/: plain files, no build step."""

_SESSION_TYPES = {
    ".mp3": "audio/mpeg",
    ".vtt": "text/vtt; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    CHAPTERS_SUFFIX: "application/json+chapters; charset=utf-8",
    COVER_SUFFIX: COVER_MIME,
}

_VIRTUAL = ("docker", "br-", "virbr", "veth", "vmnet", "vboxnet", "tun", "tap", "wg", "tailscale", "zt", "lxc",
            "lxd", "cni", "flannel", "podman", "utun")
"""Interface names of containers, VMs and VPNs: their addresses are tried after a real network's."""


class ServeError(VoiceguideError):
    """Raised when the library cannot be served: no such folder, the port taken, an address not this machine's."""


@dataclass(frozen=True)
class Where:
    """Where the server listens and the URL it is reached at."""

    bind: str
    """The address the server listens on."""
    shown: str
    """The address in the URL (the LAN address when listening on all of them)."""
    token: str | None
    """The first path segment of every URL; None on loopback, where nobody else can connect."""

    def url(self, port: int) -> str:
        host = f"[{self.shown}]" if ":" in self.shown else self.shown
        return f"http://{host}:{port}/" + (f"{self.token}/" if self.token else "")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses a phone on the same network could reach, the likeliest first
    (a private address of a real interface before containers', VMs' and VPNs')."""
    import ifaddr

    found: list[tuple[int, int, str]] = []
    for adapter in ifaddr.get_adapters():
        name = str(adapter.nice_name).lower()
        for ip in adapter.ips:
            if not ip.is_IPv4:
                continue
            address = ipaddress.ip_address(str(ip.ip))
            if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified:
                continue
            rank = (0 if address.is_private else 2) + (1 if name.startswith(_VIRTUAL) else 0)
            found.append((rank, len(found), str(address)))
    return [address for _, _, address in sorted(found)]


def where(folder: Path, lan: bool, host: str | None, new_token: bool = False,
          warn: Callable[[str], None] = lambda message: None) -> Where:
    """Decide the address to listen on and the token: `host` as given, else the LAN address with
    `lan`, else 127.0.0.1; anything but loopback gets the library's token (`new_token`: a new one)."""
    check_folder(folder)  # before a token file could make it
    if host is None and not lan:
        host = "127.0.0.1"
    elif host is None:
        found = lan_addresses()
        if not found:
            raise ServeError("no network address found besides this computer's own (127.0.0.1); connect it to "
                             "the Wi-Fi the phone is on, or give the address to listen on with --host ADDRESS")
        if len(found) > 1:
            warn(f"this computer has several addresses ({', '.join(found)}); serving on {found[0]}: if the phone "
                 f"cannot reach it, give another with --host")
        host = found[0]
    if is_loopback(host):
        if new_token:  # for the next time the library is served on the network
            library_token(folder, True, warn)
        return Where(host, host, None)
    shown = next(iter(lan_addresses()), "127.0.0.1") if host in ("0.0.0.0", "::") else host
    return Where(host, shown, library_token(folder, new_token, warn))


def library_token(folder: Path, new: bool = False, warn: Callable[[str], None] = lambda message: None) -> str:
    """The library's token, made once and kept in it (so a podcast app's subscription survives a
    restart); `new` replaces it (every earlier URL then gets 404). A library that cannot keep one gets
    a token for this run only, and a warning."""
    path = folder / TOKEN_FILE
    if not new:
        try:
            kept = path.read_text(encoding="ascii").strip()
            if _TOKEN.fullmatch(kept):
                return kept
        except (OSError, UnicodeDecodeError):
            pass
    token = secrets.token_urlsafe(18)
    try:
        write_atomic(path, f"{token}\n".encode(), private=True)  # 0600, as a secret should be
    except OSError as exc:
        warn(f"{path}: could not keep the token ({exc.strerror or exc}); it lasts until the server stops, "
             "so a podcast app subscribed now will need the new address after a restart")
    return token


def make_app(folder: Path, base_url: Callable[[], str], token: str | None) -> web.Application:
    """The web application: the page, the feed (absolute URLs under `base_url()`), the session list,
    and the library's session files, each under `/<token>/` when there is a token. Nothing else
    answers: any other path (a missing or wrong token, `..`, a file that is not a session's, a
    hidden file, a symbolic link) is 404, and only GET and HEAD are served."""
    from aiohttp import web

    page = {name: resources.files("voiceguide").joinpath("page", name).read_bytes() for name in PAGE_FILES}
    title = library_title(folder)

    async def handle(request: web.Request) -> web.StreamResponse:
        if token is None and not _local_host(request.host, base_url()):
            raise web.HTTPNotFound()  # a web page's script on another name for this computer (DNS rebinding)
        parts = request.match_info["path"].split("/")
        if token is not None:
            if not parts or not hmac.compare_digest(parts[0].encode(), token.encode()):
                raise web.HTTPNotFound()
            if len(parts) == 1:  # /<token> itself: the page is at /<token>/
                raise web.HTTPFound(f"/{token}/")
            parts = parts[1:]
        if len(parts) != 1:
            raise web.HTTPNotFound()
        name = parts[0] or "index.html"
        if name in page:
            return web.Response(body=page[name], headers={"Content-Type": PAGE_FILES[name],
                                                          "Cache-Control": "no-cache"})
        sessions = await asyncio.to_thread(scan, folder)  # a new MP3 is read (hashed) once: not on the loop
        if name == FEED_NAME:
            return web.Response(body=feed_xml(sessions, title, base_url()),
                                headers={"Content-Type": "application/rss+xml; charset=utf-8",
                                         "Cache-Control": "no-cache"})
        if name == SESSIONS_NAME:
            return web.Response(body=sessions_json(sessions, title),
                                headers={"Content-Type": "application/json; charset=utf-8",
                                         "Cache-Control": "no-cache"})
        files = {path.name: path for session in sessions for path in session.files}
        path = files.get(name)
        if path is None:
            raise web.HTTPNotFound()
        kind = next(t for suffix, t in sorted(_SESSION_TYPES.items(), key=lambda kv: -len(kv[0]))
                    if name.endswith(suffix))
        return _FileResponse(path, headers={"Content-Type": kind, "Cache-Control": "no-cache"})

    async def headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # the token is in every URL
        response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                       "media-src 'self'; frame-ancestors 'none'")

    class _FileResponse(web.FileResponse):
        """aiohttp's FileResponse (Range, 206, 416, ETag, dates in If-Range), and If-Range with an
        entity tag: aiohttp 3.14 reads only the date form and serves the range whatever the tag says
        (fixed upstream in aio-libs/aiohttp#13480), which would hand a podcast app resuming a download
        the rest of a rebuilt file. A tag that does not match asks for the whole file (RFC 9110 13.1.5)."""

        async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
            validator = request.headers.get("If-Range", "").strip()
            if validator.startswith(('"', "W/")) and not _strong_match(validator, self._path):
                kept = {k: v for k, v in request.headers.items() if k.lower() not in ("range", "if-range")}
                request = request.clone(headers=kept)
            return await super().prepare(request)

    app = web.Application()
    app.router.add_get("/{path:.*}", handle)
    app.on_response_prepare.append(headers)
    return app


async def serve(folder: Path, place: Where, port: int, ready: Callable[[str], None]) -> int:
    """Serve until a stopping signal (Ctrl-C, SIGTERM); `ready(url)` is called once listening.
    Returns the signal that stopped it."""
    from aiohttp import web

    url = ""
    app = make_app(folder, lambda: url, place.token)
    runner = web.AppRunner(app, handle_signals=False, access_log=logging.getLogger(f"{__name__}.access"))
    await runner.setup()
    try:
        site = web.TCPSite(runner, place.bind, port)
        try:
            await site.start()
        except OSError as exc:
            raise ServeError(_bind_problem(exc, place, port)) from None
        bound = runner.addresses[0]
        url = place.url(bound[1])
        stopped = asyncio.Event()
        caught: list[int] = []
        loop = asyncio.get_running_loop()

        def stop(signum: int) -> None:
            caught.append(signum)
            stopped.set()

        for sig in STOPPING:
            loop.add_signal_handler(sig, stop, sig)
        try:
            ready(url)
            await stopped.wait()
        finally:
            for sig in STOPPING:
                loop.remove_signal_handler(sig)
        return caught[0]
    finally:
        await runner.cleanup()


def _local_host(host: str, base_url: str) -> bool:
    """Whether a request's Host is this server by a loopback name. Without a token, that is what keeps a
    web page the user visits from reading the library by pointing its own domain at 127.0.0.1."""
    port = urlsplit(base_url).port
    names = ("127.0.0.1", "localhost", "[::1]", urlsplit(base_url).hostname or "")
    return host in {f"{name}:{port}" for name in names} | {f"[{n}]:{port}" for n in names if ":" in n}


def _strong_match(validator: str, path: Path) -> bool:
    """Whether an If-Range entity tag is the file's own (aiohttp's: modification time and size); a
    weak tag never is."""
    try:
        info = path.stat()
    except OSError:
        return False
    return validator == f'"{info.st_mtime_ns:x}-{info.st_size:x}"'


def _bind_problem(exc: OSError, place: Where, port: int) -> str:
    shown = f"[{place.bind}]" if ":" in place.bind else place.bind
    if exc.errno == errno.EADDRINUSE:
        return (f"{shown}:{port} is already in use (another `voiceguide serve`, or another program); stop it, "
                f"or serve on another port: --port {port + 1 if port else DEFAULT_PORT}")
    if exc.errno == errno.EADDRNOTAVAIL:
        known = ", ".join(lan_addresses()) or "none besides 127.0.0.1"
        return f"{place.bind} is not an address of this computer (its network addresses: {known}); give one of them with --host"
    if exc.errno == errno.EACCES:
        return f"port {port} needs administrator rights; use a port above 1023, e.g. --port {DEFAULT_PORT}"
    return f"cannot listen on {shown}:{port} ({exc.strerror or exc}); try another --port or --host"


def check_folder(folder: Path) -> None:
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "no such folder"
        raise ServeError(f"{folder}: {what}; serve the folder your sessions are built into (output/ by default): "
                         "voiceguide build lower-back-relief, then voiceguide serve")


def run(folder: Path, place: Where, port: int, ready: Callable[[str], None]) -> int:
    """Serve `folder` until stopped; returns the signal that stopped it."""
    check_folder(folder)
    return asyncio.run(serve(folder, place, port, ready))


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def terminal_qr(url: str) -> str:
    """The URL as a QR code drawn with block characters, to scan from the terminal."""
    import io

    import segno

    out = io.StringIO()
    segno.make(url, error="m", boost_error=False).terminal(out=out, compact=True, border=2)
    return out.getvalue()

