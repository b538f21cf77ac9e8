// sw.js — the web player's service worker, served at /sw.js (scope /),
// so that the page loads with no network once it has loaded once. The
// page (/) is network first: online it is always the relay's current
// page, and every answer is kept; offline the kept copy answers. Assets
// (/assets/<name>.<hash>.<ext>, immutable) are cache first, kept on first
// fetch; the page's asset list is fetched into the cache when the worker
// installs and after each fresh copy of the page, and assets the current
// page no longer names are deleted. Nothing else (the relay's API, the
// playlists socket) goes through it. Caches hold only what the relay
// serves to anyone: no audio, no keys, no tokens.
"use strict";
const CACHE = "segue-page-v1";
const PAGE = "/";

// assetsOf returns the /assets/ URLs an HTML page names.
const assetsOf = (html) => [...new Set(html.match(/\/assets\/[A-Za-z0-9._-]+/g) || [])];

async function refresh(pageResponse) {
  const cache = await caches.open(CACHE);
  const html = await pageResponse.clone().text();
  await cache.put(PAGE, pageResponse);
  const want = assetsOf(html);
  for (const u of want) {
    if (!(await cache.match(u))) {
      const r = await fetch(u);
      if (r.ok) await cache.put(u, r);
    }
  }
  for (const req of await cache.keys()) {
    const p = new URL(req.url).pathname;
    if (p.startsWith("/assets/") && !want.includes(p)) await cache.delete(req);
  }
}

self.addEventListener("install", (e) => {
  e.waitUntil((async () => {
    const r = await fetch(PAGE, { cache: "no-cache" });
    if (r.ok) await refresh(r);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (e) => { e.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  if (url.pathname === "/" || url.pathname === "/index.html") {
    e.respondWith((async () => {
      try {
        const r = await fetch(req);
        if (r.ok) e.waitUntil(refresh(r.clone()).catch(() => {}));
        return r;
      } catch (err) {
        const kept = await (await caches.open(CACHE)).match(PAGE);
        if (kept) return kept;
        throw err;
      }
    })());
  } else if (url.pathname.startsWith("/assets/")) {
    e.respondWith((async () => {
      const cache = await caches.open(CACHE);
      const kept = await cache.match(url.pathname);
      if (kept) return kept;
      const r = await fetch(req);
      if (r.ok) await cache.put(url.pathname, r.clone());
      return r;
    })());
  }
});
