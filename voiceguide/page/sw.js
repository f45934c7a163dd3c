// Keeps the page and the sessions opened on it for offline use. The page is fetched from the network
// first (so a rebuilt library shows at once) and from the cache when the server cannot be reached;
// a session's MP3 (whose URL changes with every build) is played from the cache, cut to the byte
// range the player asks for, as the server would.
"use strict";

const CACHE = "voiceguide-sessions";
const SHELL = ["./", "app.js", "style.css", "sessions.json"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.endsWith(".mp3")) {
    event.respondWith(audio(request));
    return;
  }
  event.respondWith(networkFirst(request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !request.headers.has("range")) {
      const url = new URL(request.url);
      if (SHELL.some((name) => new URL(name, self.registration.scope).href === url.href) || await cache.match(request)) {
        await cache.put(request, response.clone());
      }
    }
    return response;
  } catch (error) {
    const kept = await cache.match(request, { ignoreSearch: true });
    if (kept) return kept;
    throw error;
  }
}

async function audio(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request.url);
  if (!kept) return fetch(request);
  const range = request.headers.get("range");
  if (!range) return kept;
  const body = await kept.arrayBuffer();
  const size = body.byteLength;
  const match = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  let start = 0, end = size - 1;
  if (match && match[1] !== "") {
    start = Number(match[1]);
    if (match[2] !== "") end = Math.min(Number(match[2]), size - 1);
  } else if (match && match[2] !== "") {
    start = Math.max(0, size - Number(match[2]));
  }
  if (!match || start >= size || start > end) {
    return new Response(null, { status: 416, headers: { "Content-Range": "bytes */" + size } });
  }
  return new Response(body.slice(start, end + 1), {
    status: 206,
    headers: {
      "Content-Type": kept.headers.get("Content-Type") || "audio/mpeg",
      "Content-Length": String(end - start + 1),
      "Content-Range": "bytes " + start + "-" + end + "/" + size,
      "Accept-Ranges": "bytes",
    },
  });
}
