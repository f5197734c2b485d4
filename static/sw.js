/* The body of /sw.js. portal/pwa/views.py prepends CC_VERSION, CC_SHELL (the
   versioned URLs of the app shell) and CC_OFFLINE_URL.

   Caches:
   - cc-shell-<version>: the app shell, precached at install; older versions are
     deleted when this worker activates.
   - cc-pages-u<user id>: the pages a signed-in user opened, kept for reading
     offline. Only one user's pages are ever kept: a page of another user drops
     the rest. The page script deletes them at sign-out, and the server's
     Clear-Site-Data header drops everything. A patient's pages go as soon as
     the server says the user may no longer open them (a 404 for one of them,
     or /api/v1/me/patients on each page load): a revoked caregiver's phone
     forgets that patient the next time it is online.
     Each saved page carries the end
     of its session (X-CC-Session-Ends, from the server's X-CC-Session-Left
     seconds, on this phone's clock): once the newest of a user's pages says
     the session has timed out, all that user's pages are deleted, not shown.
   API responses are never cached. */
/* global CC_VERSION, CC_SHELL, CC_OFFLINE_URL */
'use strict';

const SHELL_CACHE = 'cc-shell-' + CC_VERSION;
const PAGES_PREFIX = 'cc-pages-u';
const MAX_PAGES = 40;
const PATIENT_PAGE = /^\/p\/(\d+)\//;
const NETWORK_TIMEOUT_MS = 6000;
const VERSIONED = /^\/static\/(.+)\.[0-9a-f]{10}(\.[A-Za-z0-9]+)$/;
const ICON = CC_SHELL.find((url) => url.includes('/icons/icon-192.')) || '/';

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    // The shell is the same for everyone: fetched without cookies, so the cached
    // offline page holds no one's session or name.
    await cache.addAll(CC_SHELL.map((url) => new Request(url, { credentials: 'omit', cache: 'reload' })));
    // A new version takes over at once: assets have versioned names, so pages
    // still showing keep their own files, and the next navigation gets the new ones.
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names
      .filter((name) => name.startsWith('cc-shell-') && name !== SHELL_CACHE)
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate') {
    event.respondWith(navigate(event, url));
  } else if (url.pathname.startsWith('/static/')) {
    event.respondWith(staticFile(request, url));
  }
  // Everything else (the API above all) goes to the network, uncached.
});

self.addEventListener('message', (event) => {
  const data = event.data || {};
  if (data.type === 'user' && typeof data.user === 'string') {
    event.waitUntil(forgetOtherUsers(data.user).then(() => forgetClosedPatients(data.user)));
  } else if (data.type === 'signout') {
    event.waitUntil(forgetOtherUsers(null));
  }
});

/* Navigations: the network first; offline (or very slow), the user's saved copy,
   marked with the time it was saved; otherwise the offline page. */
async function navigate(event, url) {
  const key = url.origin + url.pathname + url.search;
  let kept;
  event.waitUntil(new Promise((resolve) => { kept = resolve; }));
  const network = fetch(event.request).then((response) => {
    kept(keepPage(key, response.clone()).catch(() => undefined));
    return response;
  }, (error) => {
    kept();
    throw error;
  });
  network.catch(() => undefined); // handled below; a saved copy may have won the race
  try {
    const slow = new Promise((resolve) => setTimeout(resolve, NETWORK_TIMEOUT_MS)).then(() => savedPage(key));
    const first = await Promise.race([network, slow]);
    return first || await network;
  } catch (error) {
    return (await savedPage(key))
      || (url.pathname === '/' && await savedHome(url.origin))
      || (await caches.match(CC_OFFLINE_URL, { cacheName: SHELL_CACHE }))
      || Response.error();
  }
}

/* "/" (the installed app's start) redirects to the user's home: offline, show the saved one. */
const HOMES = /^\/(p\/\d+\/|clinic\/)$/;
async function savedHome(origin) {
  let best = null;
  for (const name of await pageCaches()) {
    for (const request of await (await caches.open(name)).keys()) {
      const path = new URL(request.url).pathname;
      if (!HOMES.test(path)) continue;
      const hit = await caches.match(request, { cacheName: name });
      const at = hit.headers.get('X-CC-Saved-At') || '';
      if (!best || at > best.at) best = { url: origin + path, at };
    }
  }
  return best && savedPage(best.url);
}

function metaContent(html, name) {
  const match = new RegExp('<meta name="' + name + '" content="([^"]*)"').exec(html);
  return match ? match[1] : null;
}

async function keepPage(key, response) {
  const type = response.headers.get('Content-Type') || '';
  const patient = PATIENT_PAGE.exec(new URL(key).pathname);
  if (patient && (response.status === 404 || response.status === 403)) {
    // This patient's page is closed to the user now (access revoked or ended): forget them.
    await forgetPatients((id) => id === patient[1]);
    return;
  }
  if (response.status !== 200 || response.type !== 'basic' || !type.startsWith('text/html')) return;
  const html = await response.text();
  const user = metaContent(html, 'cc-user');
  if (!user) return; // signed-out pages (sign-in, offline) hold nothing to keep
  await forgetOtherUsers(user);
  const title = /<title>([^<]*)<\/title>/.exec(html);
  const headers = new Headers(response.headers);
  headers.delete('Content-Length');
  headers.set('X-CC-Saved-At', new Date().toISOString());
  const left = parseInt(response.headers.get('X-CC-Session-Left') || '', 10);
  if (!Number.isFinite(left)) return; // no session end known: nothing is kept
  headers.set('X-CC-Session-Ends', new Date(Date.now() + left * 1000).toISOString());
  const entities = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&#39;': "'", '&quot;': '"', '&#34;': '"' };
  const text = title ? title[1].trim().replace(/&(amp|lt|gt|quot|#39|#34);/g, (m) => entities[m]) : '';
  headers.set('X-CC-Title', encodeURIComponent(text));
  const cache = await caches.open(PAGES_PREFIX + user);
  await cache.put(key, new Response(html, { status: 200, headers }));
  const saved = await cache.keys();
  for (const old of saved.slice(0, Math.max(0, saved.length - MAX_PAGES))) await cache.delete(old);
}

/* Pages about a patient whose access has ended (revoked, expired, stepped down) go the
   next time the phone is online: the server lists the patients this account may open. */
async function forgetClosedPatients(user) {
  let open;
  try {
    const response = await fetch('/api/v1/me/patients', { credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) return;
    open = new Set(((await response.json()).patients || []).map(String));
  } catch (error) {
    return; // offline: the server cannot say yet, so keep them until it can
  }
  await forgetPatients((id) => !open.has(id), PAGES_PREFIX + user);
}

async function forgetPatients(closed, only) {
  for (const name of await pageCaches()) {
    if (only && name !== only) continue;
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const match = PATIENT_PAGE.exec(new URL(request.url).pathname);
      if (match && closed(match[1])) await cache.delete(request);
    }
  }
}

/* The user caches whose session has not timed out; the others are deleted on the way.
   A session's end is the latest any of its pages was given (each request pushes it on). */
async function pageCaches() {
  const names = (await caches.keys()).filter((name) => name.startsWith(PAGES_PREFIX));
  const live = [];
  for (const name of names) {
    if (await sessionEnded(name)) await caches.delete(name);
    else live.push(name);
  }
  return live;
}

async function sessionEnded(name) {
  const cache = await caches.open(name);
  let latest = 0;
  for (const request of await cache.keys()) {
    const hit = await cache.match(request);
    const ends = Date.parse((hit && hit.headers.get('X-CC-Session-Ends')) || '');
    if (!Number.isNaN(ends) && ends > latest) latest = ends;
  }
  return latest <= Date.now();
}

/* Drop every user's saved pages except `user`'s (all of them when user is null). */
async function forgetOtherUsers(user) {
  const keep = user === null ? null : PAGES_PREFIX + user;
  await Promise.all((await pageCaches()).filter((name) => name !== keep).map((name) => caches.delete(name)));
}

async function savedPage(key) {
  for (const name of await pageCaches()) {
    const cache = await caches.open(name);
    const hit = await cache.match(key);
    if (!hit) continue;
    const savedAt = hit.headers.get('X-CC-Saved-At') || '';
    const html = (await hit.text()).replace(
      '<head>', '<head><meta name="cc-saved-at" content="' + savedAt.replace(/[^0-9TZ:.+-]/g, '') + '">');
    return new Response(html, { status: 200, headers: hit.headers });
  }
  return null;
}

/* Static files: versioned names never change, so the cache answers first. A page
   saved under an older deploy asks for older names: offline, it gets today's file. */
async function staticFile(request, url) {
  const hit = await caches.match(request);
  if (hit) return hit;
  const versioned = VERSIONED.exec(url.pathname);
  try {
    const response = await fetch(request);
    if (response.ok && versioned) {
      const copy = response.clone();
      caches.open(SHELL_CACHE).then((cache) => cache.put(request, copy));
    }
    return response;
  } catch (error) {
    if (versioned) {
      // Offline, a page saved before a deploy gets the current version of its file.
      // Stylesheets are one bundle now: a page saved when each feature had its own
      // link gets the bundle for each of them (the same rules, in the same order).
      const current = CC_SHELL.find((shellUrl) => {
        const match = VERSIONED.exec(shellUrl);
        return match && match[1] === versioned[1] && match[2] === versioned[2];
      }) || (versioned[2] === '.css' && CC_SHELL.find((shellUrl) => /\.css$/.test(shellUrl)));
      const fallback = current && await caches.match(current, { cacheName: SHELL_CACHE });
      if (fallback) return fallback;
    }
    throw error;
  }
}

/* Push: the payload is {title, body, url, tag}, never health information. */
function samePath(raw) {
  try {
    const url = new URL(raw || '/', self.location.origin);
    return url.origin === self.location.origin ? url.pathname + url.search + url.hash : '/';
  } catch (error) {
    return '/';
  }
}

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { body: event.data ? event.data.text() : '' };
  }
  const options = {
    body: data.body || 'There is something new for you in CareCircle.',
    icon: ICON,
    badge: ICON,
    data: { url: samePath(data.url) },
  };
  if (data.tag) {
    options.tag = String(data.tag);
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(data.title || 'CareCircle', options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(openNotification(event.notification));
});

/* Show the notification's page: a window already on it, else an open window
   moved to it, else a new window. Only paths of this site are ever opened. */
async function openNotification(notification) {
  const target = new URL(samePath(notification.data && notification.data.url), self.location.origin).href;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  let client = windows.find((candidate) => candidate.url === target);
  if (!client) {
    for (const candidate of windows) {
      try {
        client = await candidate.navigate(target);
      } catch (error) {
        client = null; // not controlled by this worker
      }
      if (client) break;
    }
  }
  if (!client) return self.clients.openWindow(target);
  try {
    await client.focus();
  } catch (error) {
    // focus needs the click's user activation; the page is shown either way
  }
  return client;
}
