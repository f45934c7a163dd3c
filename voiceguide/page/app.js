// The phone page of `voiceguide serve`: the library's sessions, and a player that shows the line spoken
// now and the next one (from the session's plan), jumps by chapter, and tells the lock screen (Media
// Session) what is playing. Every URL is relative, so the page works under the library's token.
"use strict";

const $ = (id) => document.getElementById(id);
const audio = $("audio");
const OFFLINE_CACHE = "voiceguide-sessions";
const PLAY_ICON = "M7 4.5v15L20 12z";
const PAUSE_ICON = "M6 4.5h4.5v15H6zM13.5 4.5H18v15h-4.5z";

const state = {
  sessions: [],
  session: null,
  lines: [],      // the plan's speech events, by start: {text, start, end} in seconds
  chapters: [],   // {title, start, end} in seconds
  chapter: -1,
  line: -2,
};

function clock(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
}

function element(tag, props, children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children || []) node.append(child);
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

// ---- the library --------------------------------------------------------------------------------

function feedLinks() {
  const feed = new URL("feed.xml", location.href);
  const bare = feed.host + feed.pathname;
  $("subscribe").href = "podcast://" + bare;         // podcast apps that register podcast:// (iOS)
  $("subscribe-antennapod").href = "antennapod-subscribe://" + bare;  // AntennaPod (Android)
  $("feed-address").textContent = "Feed address (paste it into a podcast app): " + feed.href;
}

async function showLibrary() {
  feedLinks();
  let library;
  try {
    library = await getJSON("sessions.json");
  } catch (error) {
    $("status").textContent = "Could not load the sessions (" + error.message + "). Is voiceguide serve running?";
    return;
  }
  state.sessions = library.sessions;
  $("library-title").textContent = library.title;
  document.title = library.title;
  const list = $("sessions");
  list.replaceChildren();
  for (const session of library.sessions) {
    // a session built with --only-mp3 has its cover inside the MP3 only: a plain tile stands in
    const cover = session.cover ? element("img", { alt: "", src: session.cover, width: 88, height: 88 })
      : element("span", { className: "tile", textContent: session.title.slice(0, 1) });
    const text = element("span", {}, [
      element("span", { className: "name", textContent: session.title }),
      element("span", { className: "length", textContent: clock(session.duration_ms / 1000) }),
    ]);
    const link = element("a", { href: "#" + encodeURIComponent(session.id) }, [cover, text]);
    const item = element("li", { className: "session" }, [link]);
    item.dataset.id = session.id;
    list.append(item);
  }
  $("status").textContent = library.sessions.length ? "" :
    "No sessions yet: build one into this folder (voiceguide build lower-back-relief), then reload.";
  route();
}

function route() {
  const id = decodeURIComponent(location.hash.slice(1));
  const session = state.sessions.find((s) => s.id === id);
  if (session) openSession(session);
  else closeSession();
}

function closeSession() {
  audio.pause();
  $("player").hidden = true;
  $("library").hidden = false;
  state.session = null;
}

// ---- the player ---------------------------------------------------------------------------------

async function openSession(session) {
  if (state.session === session) return;
  state.session = session;
  state.lines = [];
  state.chapters = [];
  state.chapter = -1;
  state.line = -2;
  $("library").hidden = true;
  $("player").hidden = false;
  $("title").textContent = session.title;
  $("cover").hidden = !session.cover;
  $("cover").src = session.cover || "";
  $("now").textContent = "";
  $("next").textContent = "";
  audio.src = session.audio;
  try {
    if (session.plan) {
      const plan = await getJSON(session.plan);
      state.lines = plan.events.filter((e) => e.kind === "speech")
        .map((e) => ({ text: e.text, start: e.start_ms / 1000, end: e.end_ms / 1000 }));
      state.chapters = plan.chapters.map((c) => ({ title: c.title, start: c.start_ms / 1000, end: c.end_ms / 1000 }));
    } else if (session.chapters) {
      const chapters = (await getJSON(session.chapters)).chapters;
      state.chapters = chapters.map((c, i) => ({ title: c.title, start: c.startTime,
        end: i + 1 < chapters.length ? chapters[i + 1].startTime : session.duration_ms / 1000 }));
    }
  } catch (error) {
    $("now").textContent = "(The timed script could not be loaded: " + error.message + ")";
  }
  if (state.session !== session) return;
  renderChapters();
  update();
  keepOffline(session);
}

function renderChapters() {
  const list = $("chapters");
  list.replaceChildren();
  state.chapters.forEach((chapter, index) => {
    const button = element("button", { type: "button" }, [
      element("span", { textContent: chapter.title }),
      element("span", { className: "at", textContent: clock(chapter.start) }),
    ]);
    button.dataset.start = String(chapter.start);
    button.addEventListener("click", () => jumpTo(index));
    list.append(element("li", { className: "chapter" }, [button]));
  });
}

function jumpTo(index) {
  if (index < 0 || index >= state.chapters.length) return;
  audio.currentTime = state.chapters[index].start;
  update();
}

function currentChapter(t) {
  let found = -1;
  state.chapters.forEach((c, i) => { if (c.start <= t + 0.001) found = i; });
  return found;
}

function nextChapter() { jumpTo(currentChapter(audio.currentTime) + 1); }

function previousChapter() {
  const index = currentChapter(audio.currentTime);
  // a few seconds into a chapter, "previous" means its start; at its start, the one before
  if (index >= 0 && audio.currentTime - state.chapters[index].start > 3) jumpTo(index);
  else jumpTo(Math.max(0, index - 1));
}

function lastLineAt(t) {
  let lo = 0, hi = state.lines.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (state.lines[mid].start <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

// What the screen says at the audio's time: the line being spoken (or the last one, dimmed, in the
// silence after it), the next line and how soon it comes, the chapter, the clock.
function update() {
  const t = audio.currentTime || 0;
  const duration = isFinite(audio.duration) ? audio.duration : (state.session ? state.session.duration_ms / 1000 : 0);
  const index = lastLineAt(t);
  const now = $("now");
  if (index !== state.line) {
    state.line = index;
    now.textContent = index >= 0 ? state.lines[index].text : (state.session ? state.session.title : "");
    const next = state.lines[index + 1];
    $("next").replaceChildren(...(next ? [element("span", { className: "label", textContent: "Next: " }),
      next.text + " ", element("span", { className: "when" })] : []));
  }
  now.classList.toggle("said", index >= 0 && t >= state.lines[index].end);
  const next = state.lines[index + 1];
  const when = $("next").querySelector(".when");
  if (next && when) when.textContent = "in " + clock(next.start - t);
  const chapter = currentChapter(t);
  if (chapter !== state.chapter) {
    state.chapter = chapter;
    document.querySelectorAll("#chapters button").forEach((b, i) => b.setAttribute("aria-current", String(i === chapter)));
    $("chapter").textContent = chapter >= 0 ? state.chapters[chapter].title : "";
    mediaMetadata();
  }
  const seek = $("seek");
  seek.max = String(Math.round(duration));
  if (document.activeElement !== seek) seek.value = String(Math.round(t));
  $("time").textContent = clock(t) + " / " + clock(duration);
  const playing = !audio.paused;
  $("play-icon").setAttribute("d", playing ? PAUSE_ICON : PLAY_ICON);
  $("play").setAttribute("aria-label", playing ? "Pause" : "Play");
}

function togglePlay() {
  if (audio.paused) audio.play().catch((error) => { $("now").textContent = "Could not play: " + error.message; });
  else audio.pause();
}

// ---- the lock screen (Media Session) ------------------------------------------------------------

const actions = {
  play: () => audio.play(),
  pause: () => audio.pause(),
  previoustrack: previousChapter,
  nexttrack: nextChapter,
  seekbackward: (details) => { audio.currentTime = Math.max(0, audio.currentTime - ((details && details.seekOffset) || 10)); },
  seekforward: (details) => { audio.currentTime = audio.currentTime + ((details && details.seekOffset) || 10); },
  seekto: (details) => { audio.currentTime = details.seekTime; },
};

function mediaMetadata() {
  if (!("mediaSession" in navigator) || !state.session) return;
  const session = state.session;
  const chapter = state.chapters[state.chapter];
  const artwork = session.cover ? [{ src: new URL(session.cover, location.href).href, sizes: "1400x1400",
    type: session.cover_type }] : [];
  navigator.mediaSession.metadata = new MediaMetadata({
    title: chapter ? chapter.title : session.title,
    artist: session.title,
    album: "voiceguide",
    artwork,
  });
}

function mediaPosition() {
  if (!("mediaSession" in navigator) || !isFinite(audio.duration)) return;
  try {
    navigator.mediaSession.setPositionState({ duration: audio.duration, playbackRate: audio.playbackRate,
      position: Math.min(audio.currentTime, audio.duration) });
  } catch (error) { /* a browser that cannot take the position */ }
}

function mediaActions() {
  if (!("mediaSession" in navigator)) return;
  for (const [name, handler] of Object.entries(actions)) {
    try { navigator.mediaSession.setActionHandler(name, handler); } catch (error) { /* not supported here */ }
  }
}

// ---- offline ------------------------------------------------------------------------------------

// A service worker keeps the page and each opened session for playing offline. Browsers allow one
// only on https:// or this computer itself (http://127.0.0.1, localhost): on a plain http:// LAN
// address the page works while connected, and a podcast app is the way to keep sessions offline.
function registerWorker() {
  if (!("serviceWorker" in navigator)) {
    $("offline").textContent = "To play offline, subscribe in a podcast app: this browser keeps pages for "
      + "offline use only from https:// or from this computer itself.";
    return;
  }
  navigator.serviceWorker.register("sw.js").catch((error) => {
    $("offline").textContent = "Not kept for offline use: " + error.message;
  });
}

async function keepOffline(session) {
  if (!("serviceWorker" in navigator) || !window.caches) return;
  const wanted = [session.audio, session.plan, session.chapters, session.cover, "sessions.json", "./", "app.js",
    "style.css"].filter(Boolean);
  $("offline").textContent = "Saving for offline use...";
  try {
    const cache = await caches.open(OFFLINE_CACHE);
    await Promise.all(wanted.map(async (url) => {
      if (!(await cache.match(url))) await cache.add(url);
    }));
    if (state.session === session) $("offline").textContent = "Saved: plays offline on this device.";
  } catch (error) {
    if (state.session === session) $("offline").textContent = "Not saved for offline use: " + error.message;
  }
}

// ---- wiring -------------------------------------------------------------------------------------

$("play").addEventListener("click", togglePlay);
$("next-chapter").addEventListener("click", nextChapter);
$("prev-chapter").addEventListener("click", previousChapter);
$("back").addEventListener("click", () => { location.hash = ""; });
$("seek").addEventListener("input", (event) => { audio.currentTime = Number(event.target.value); });
for (const name of ["timeupdate", "seeked", "play", "pause", "loadedmetadata", "durationchange"]) {
  audio.addEventListener(name, update);
}
for (const name of ["play", "pause", "seeked", "loadedmetadata", "ratechange"]) audio.addEventListener(name, mediaPosition);
audio.addEventListener("play", () => { if ("mediaSession" in navigator) navigator.mediaSession.playbackState = "playing"; });
audio.addEventListener("pause", () => { if ("mediaSession" in navigator) navigator.mediaSession.playbackState = "paused"; });
window.addEventListener("hashchange", route);

// timeupdate comes about four times a second; while playing, follow the audio every frame so the
// "now" line changes as the voice starts
function follow() {
  if (!audio.paused) update();
  requestAnimationFrame(follow);
}
requestAnimationFrame(follow);

window.voiceguide = { state, actions, jumpTo, update };
mediaActions();
registerWorker();
showLibrary();
