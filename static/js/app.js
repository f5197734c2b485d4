/* CareCircle in the browser: service worker, offline goal entries, push, sign-out.
   No framework; every page works without this script, it only adds to them. */
(function () {
  'use strict';

  const DB_NAME = 'carecircle';
  const STORE = 'outbox';
  const doc = document;
  const meta = (name) => {
    const el = doc.querySelector('meta[name="' + name + '"]');
    return el ? el.content : '';
  };
  const USER = meta('cc-user');
  // The reader's locale, as the server negotiated it (<html lang>, portal/when.py), so
  // times written here read as the page's own: "3:05 PM on Nov 26" (en-US), "15:05 on 26 Nov".
  const LANG = doc.documentElement.lang || undefined;
  const when = (iso) => {
    const at = new Date(iso);
    return new Intl.DateTimeFormat(LANG, { hour: 'numeric', minute: '2-digit' }).format(at)
      + ' on ' + new Intl.DateTimeFormat(LANG, { day: 'numeric', month: 'short' }).format(at);
  };
  const entries = (n) => n + (n === 1 ? ' entry' : ' entries');

  function el(tag, attrs, ...children) {
    const node = doc.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value);
    });
    children.forEach((child) => node.append(child));
    return node;
  }

  function say(target, text, ...extra) {
    if (!target) return;
    target.replaceChildren();
    if (text) target.append(el('p', { text }, ...extra));
    target.hidden = !text;
  }

  /* ---------- the outbox: goal entries waiting in IndexedDB, one record per
     entry ({key, user, url, body, savedAt, state}), only the signed-in user's shown ---------- */

  let dbPromise = null;
  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => {
          const store = request.result.createObjectStore(STORE, { keyPath: 'key' });
          store.createIndex('user', 'user');
        };
        request.onsuccess = () => {
          const db = request.result;
          db.onversionchange = () => { db.close(); dbPromise = null; };
          resolve(db);
        };
        request.onerror = () => reject(request.error);
      });
    }
    return dbPromise;
  }

  async function tx(mode, work) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const result = work(t.objectStore(STORE));
      t.oncomplete = () => resolve(result && 'result' in result ? result.result : undefined);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  }

  const mine = () => (USER ? tx('readonly', (s) => s.index('user').getAll(USER)) : Promise.resolve([]));
  const put = (item) => tx('readwrite', (s) => s.put(item));
  const remove = (key) => tx('readwrite', (s) => s.delete(key));

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function jsonHeaders(extra) {
    return Object.assign({
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'X-CSRFToken': meta('csrf-token'),
    }, extra);
  }

  /* POST one entry. Resolves to 'sent', 'invalid' (with .fields), 'stop' (try later) or 'refused'. */
  async function send(item) {
    let response;
    try {
      response = await fetch(item.url, {
        method: 'POST',
        credentials: 'same-origin',
        redirect: 'error', // a redirect (to sign-in) is not a stored entry
        headers: jsonHeaders({ 'Idempotency-Key': item.key }),
        body: JSON.stringify(item.body),
      });
    } catch (error) {
      return { outcome: 'stop' }; // no connection
    }
    if (response.ok || response.status === 409) return { outcome: 'sent' };
    let body = {};
    try { body = await response.json(); } catch (error) { body = {}; }
    if (response.status === 422) return { outcome: 'invalid', error: body.error, fields: body.fields || {} };
    // Not signed in, too many, the server in trouble, or a page's CSRF token gone stale
    // (a 400): try again at the next open, with that page's token.
    if (response.status === 401 || response.status === 429 || response.status >= 500
      || (response.status === 400 && (item.tries || 0) < 3)) {
      return { outcome: 'stop', error: body.error, retry: response.status === 400 };
    }
    return { outcome: 'refused', error: body.error || 'It could not be sent.' };
  }

  function entryBody(form) {
    const data = new FormData(form);
    const text = (name) => {
      const value = data.get(name);
      return value === null ? null : String(value).trim();
    };
    const body = { note: text('note') || '', feeling: text('feeling') || null };
    if (form.elements.namedItem('value')) body.value = text('value') || null;
    const done = form.elements.namedItem('done');
    if (done) {
      // A checkbox says done by being ticked; radios say "1" (done) or "0" (not done).
      const raw = done.type === 'checkbox' ? (done.checked ? '1' : '0') : text('done');
      body.done = raw === null || raw === '' ? null : !['0', 'false', 'no', 'off'].includes(raw);
    }
    if (text('entry_date')) body.entry_date = text('entry_date');
    return body;
  }

  async function showQueue() {
    const box = doc.querySelector('[data-queue-status]');
    if (!box || !USER || !window.indexedDB) return;
    const items = await mine();
    const waiting = items.filter((i) => i.state === 'waiting');
    const stuck = items.filter((i) => i.state !== 'waiting');
    box.replaceChildren();
    box.classList.toggle('queue-status--error', stuck.length > 0);
    if (waiting.length) {
      box.append(el('p', { text: 'Saved on this phone — ' + entries(waiting.length)
        + ' waiting to send. They will be sent ' + (navigator.onLine ? 'shortly.' : 'when you are back online.') }));
    }
    stuck.forEach((item) => {
      const discard = el('button', { type: 'button', class: 'button button--small button--quiet' }, 'Discard');
      discard.addEventListener('click', async () => { await remove(item.key); showQueue(); });
      const what = [item.body.entry_date, item.body.value, item.body.note].filter(Boolean).join(', ');
      box.append(el('div', { class: 'queue-status__item' },
        el('p', { text: 'An entry saved at ' + when(item.savedAt) + (what ? ' (' + what + ')' : '')
          + ' could not be sent: ' + (item.error || 'check it and log it again.') }), discard));
    });
    box.hidden = items.length === 0;
  }

  let flushing = null;
  function flush() {
    if (!USER || !window.indexedDB || !navigator.onLine) return Promise.resolve(0);
    if (!flushing) {
      const run = async () => {
        let sent = 0;
        for (const item of (await mine()).filter((i) => i.state === 'waiting')) {
          const result = await send(item);
          if (result.retry) await put(Object.assign(item, { tries: (item.tries || 0) + 1 }));
          if (result.outcome === 'stop') break;
          if (result.outcome === 'sent') {
            await remove(item.key);
            sent += 1;
          } else {
            const fields = Object.values(result.fields || {});
            await put(Object.assign(item, { state: 'attention', error: fields[0] || result.error }));
          }
        }
        return sent;
      };
      // One tab at a time sends the outbox (the idempotency key makes a double send harmless).
      const locked = navigator.locks ? navigator.locks.request('cc-outbox', run) : run();
      flushing = locked.finally(() => { flushing = null; });
    }
    return flushing;
  }

  async function flushAndRefresh() {
    try {
      const sent = await flush();
      await showQueue();
      const busy = doc.activeElement && doc.activeElement.matches('input, textarea, select');
      if (sent > 0 && !busy) window.location.reload();
    } catch (error) {
      // the outbox stays as it is; the next open or reconnect tries again
    }
  }

  function fieldErrors(form, message, fields) {
    form.querySelectorAll('[data-js-error]').forEach((node) => node.remove());
    form.querySelectorAll('[aria-invalid]').forEach((node) => node.removeAttribute('aria-invalid'));
    const list = el('ul');
    Object.entries(fields || {}).forEach(([name, text]) => {
      const input = form.elements.namedItem(name);
      if (input && input.id) {
        input.setAttribute('aria-invalid', 'true');
        list.append(el('li', {}, el('a', { href: '#' + input.id, text })));
      } else {
        list.append(el('li', { text }));
      }
    });
    if (!list.children.length) list.append(el('li', { text: message || 'It could not be saved. Try again.' }));
    const summary = el('div', { class: 'error-summary', role: 'alert', tabindex: '-1', 'data-js-error': '' },
      el('h2', { class: 'error-summary__title', text: 'There is a problem' }), list);
    form.prepend(summary);
    summary.focus();
  }

  async function submitEntry(event, form) {
    if (!USER || !window.indexedDB || !window.fetch) return; // the plain form post works
    event.preventDefault();
    const key = newKey();
    const keyField = form.elements.namedItem('idempotency_key');
    if (keyField) keyField.value = key;
    const item = {
      key,
      user: USER,
      url: '/api/v1/patients/' + form.dataset.patientId + '/goals/' + form.dataset.goalId + '/entries',
      body: entryBody(form),
      savedAt: new Date().toISOString(),
      state: 'waiting',
    };
    const goalId = form.dataset.goalId;
    const button = form.querySelector('[type="submit"]');
    if (button) button.disabled = true;
    try {
      // Online: the same form post as without this script, and the page it lands on
      // swapped in, so the confirmation beside the form is the server's own.
      if (navigator.onLine && await postForm(form)) return;
      await put(item); // kept on the phone, sent on reconnect or next open
      form.reset();
      await showQueue();
      confirmAt(doc.getElementById('saved-' + goalId),
        'Saved on this phone; it will be sent when you’re back online.');
    } catch (error) {
      fieldErrors(form, 'It could not be saved. Try again.', {});
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  }

  /* Post a form as the browser would and show the page it lands on in place of this one.
     False when there is no connection (the caller keeps the entry on the phone). */
  async function postForm(form) {
    let response;
    try {
      response = await fetch(form.action, {
        method: 'POST', credentials: 'same-origin', body: new URLSearchParams(new FormData(form)),
      });
    } catch (error) {
      return false;
    }
    const type = response.headers.get('Content-Type') || '';
    const page = new DOMParser().parseFromString(type.startsWith('text/html') ? await response.text() : '', 'text/html');
    if (!response.redirected) {
      // Refused (422: the fields' errors; or an error page): said in place, beside the form.
      const fields = {};
      page.querySelectorAll('[data-error-summary] a[href^="#entry-"]').forEach((link) => {
        fields[link.getAttribute('href').slice('#entry-'.length)] = link.textContent.trim();
      });
      const said = page.querySelector('#main p');
      fieldErrors(form, said ? said.textContent.trim() : 'It could not be saved. Try again.', fields);
      return true;
    }
    const main = page.getElementById('main');
    if (!main || new URL(response.url).pathname !== window.location.pathname) {
      window.location.assign(response.url); // somewhere else (e.g. signed out): go there
      return true;
    }
    doc.getElementById('main').replaceChildren(...Array.from(main.childNodes, (n) => doc.importNode(n, true)));
    doc.title = page.title;
    const note = doc.querySelector('[data-saved-note][autofocus]');
    const problem = doc.querySelector('#main [data-error-summary]');
    const target = note || problem;
    if (target) {
      target.focus();
      target.scrollIntoView({ block: 'center' });
    }
    return true;
  }

  /* A confirmation beside the form: in its live region, focused, so it is seen and heard. */
  function confirmAt(region, text) {
    if (!region) return;
    region.replaceChildren(el('span', { class: 'saved-note__mark', 'aria-hidden': 'true', text: '✓' }), ' ' + text);
    region.classList.add('saved-note--queued');
    region.focus();
  }

  /* ---------- sign-out: forget this user on this phone ---------- */

  async function forgetEverything() {
    if (window.caches) {
      const names = await caches.keys();
      await Promise.all(names.filter((n) => n.startsWith('cc-pages-')).map((n) => caches.delete(n)));
    }
    if (window.indexedDB) {
      if (dbPromise) (await dbPromise).close();
      dbPromise = null;
      await new Promise((resolve) => {
        const request = indexedDB.deleteDatabase(DB_NAME);
        request.onsuccess = request.onerror = request.onblocked = () => resolve();
      });
    }
    const worker = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (worker) worker.postMessage({ type: 'signout' });
  }

  async function signOut(event, form) {
    event.preventDefault();
    try {
      if (window.indexedDB && USER) {
        await flush();
        const left = (await mine()).length;
        if (left && !window.confirm(entries(left) + (left === 1 ? ' has' : ' have')
          + ' not been sent to your care team yet. If you sign out now, they will be deleted from this phone. Sign out anyway?')) {
          return;
        }
      }
      await forgetEverything();
    } catch (error) {
      // the server's Clear-Site-Data header clears the rest
    }
    form.submit();
  }

  /* ---------- push notifications: only on the person's click ---------- */

  function keyBytes(base64url) {
    const padded = (base64url + '='.repeat((4 - (base64url.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  async function enablePush(controls, button) {
    let status = controls.querySelector('[data-push-status]');
    if (!status) {
      status = el('p', { role: 'status', 'data-push-status': '' });
      controls.append(status);
    }
    const tell = (text) => { status.textContent = text; };
    if (!('serviceWorker' in navigator) || !('PushManager' in window) || !window.Notification) {
      tell('This browser cannot show notifications. Try adding CareCircle to your home screen first.');
      return;
    }
    button.disabled = true;
    try {
      if (await Notification.requestPermission() !== 'granted') {
        tell('Notifications are blocked. You can allow them in your browser’s settings for this site.');
        return;
      }
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.getSubscription()
        || await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(controls.dataset.vapidPublicKey || ''),
        });
      const response = await fetch('/api/v1/push/subscriptions', {
        method: 'POST', credentials: 'same-origin', headers: jsonHeaders(), body: JSON.stringify(subscription.toJSON()),
      });
      if (!response.ok) {
        let body = {};
        try { body = await response.json(); } catch (error) { body = {}; }
        throw new Error(body.error || 'The server did not accept this phone.');
      }
      controls.dataset.pushState = 'on';
      tell('Notifications are on for this phone.');
    } catch (error) {
      tell('Notifications could not be turned on. ' + (error && error.message ? error.message : 'Try again.'));
    } finally {
      button.disabled = false;
    }
  }

  /* ---------- offline: banner, saved pages ---------- */

  function showConnection() {
    const banner = doc.querySelector('[data-offline-banner]');
    const savedAt = meta('cc-saved-at');
    if (savedAt) {
      say(banner, 'Showing the copy saved on this phone at ' + when(savedAt)
        + ', because CareCircle could not be reached. It may not show the latest changes.');
      banner.dataset.savedAt = savedAt;
    } else if (!navigator.onLine) {
      say(banner, 'You are offline. What you log is kept on this phone and sent when you are back online.');
    } else {
      say(banner, '');
    }
  }

  async function listSavedPages() {
    const section = doc.querySelector('[data-saved-pages]');
    if (!section || !window.caches) return;
    const list = section.querySelector('[data-saved-list]');
    for (const name of (await caches.keys()).filter((n) => n.startsWith('cc-pages-'))) {
      const cache = await caches.open(name);
      const saved = [];
      for (const request of await cache.keys()) saved.push([request, await cache.match(request)]);
      // A timed-out session's pages are deleted, not listed (as the service worker does).
      const ends = Math.max(0, ...saved.map(([, r]) => Date.parse(r.headers.get('X-CC-Session-Ends') || '') || 0));
      if (ends <= Date.now()) {
        await caches.delete(name);
        continue;
      }
      for (const [request, response] of saved) {
        const title = decodeURIComponent(response.headers.get('X-CC-Title') || '').replace(/ – CareCircle$/, '')
          || new URL(request.url).pathname;
        list.append(el('li', { class: 'item' }, el('a', { href: new URL(request.url).pathname + new URL(request.url).search, text: title }),
          el('p', { class: 'meta', text: 'Saved at ' + when(response.headers.get('X-CC-Saved-At') || Date.now()) })));
      }
    }
    section.hidden = list.children.length === 0;
  }

  /* ---------- long text: a count before the limit (the server refuses more, never cuts) ---------- */

  const number = new Intl.NumberFormat(LANG);
  function countChars(input) {
    const ids = (input.getAttribute('aria-describedby') || '').split(' ');
    const box = ids.map((id) => doc.getElementById(id)).find((node) => node && node.matches('[data-char-count]'));
    if (!box) return;
    const limit = Number(input.dataset.maxlength);
    const left = limit - input.value.replace(/\r\n/g, '\n').trim().length;
    const text = left >= 0
      ? 'You have ' + number.format(left) + (left === 1 ? ' character' : ' characters') + ' left'
      : 'You have ' + number.format(-left) + (left === -1 ? ' character' : ' characters') + ' too many';
    box.textContent = text;
    box.classList.toggle('char-count--over', left < 0);
    // Said to screen readers once typing pauses, not at every key.
    let status = box.nextElementSibling;
    if (!status || !status.matches('[data-char-status]')) {
      status = el('p', { class: 'visually-hidden', role: 'status', 'data-char-status': '' });
      box.after(status);
    }
    clearTimeout(input.ccTimer);
    input.ccTimer = setTimeout(() => { status.textContent = text; }, 1000);
  }

  /* A form sent back with errors: its summary is where the eyes go (long forms too). */
  function showErrorSummary() {
    const summary = doc.querySelector('#main [data-error-summary]');
    if (summary) {
      summary.focus();
      summary.scrollIntoView({ block: 'start' });
    }
  }

  /* ---------- wiring ---------- */

  doc.addEventListener('input', (event) => {
    if (event.target.matches && event.target.matches('[data-maxlength]')) countChars(event.target);
  });

  doc.addEventListener('submit', (event) => {
    const form = event.target;
    if (form.matches('[data-signout]')) signOut(event, form);
    else if (form.matches('form[data-entry-form]')) submitEntry(event, form);
    else if (!navigator.onLine && form.method === 'post') {
      // Other changes need the server: say so, rather than the browser's error page.
      event.preventDefault();
      say(doc.querySelector('[data-offline-banner]'),
        'You are offline, so this cannot be sent yet. Try again when you are back online.');
    }
  });
  doc.addEventListener('click', (event) => {
    if (event.target.closest('[data-print]')) window.print();
    const button = event.target.closest('[data-push-enable]');
    const controls = button && button.closest('[data-push-controls]');
    if (controls) enablePush(controls, button);
  });
  window.addEventListener('online', () => { showConnection(); flushAndRefresh(); });
  window.addEventListener('offline', () => { showConnection(); showQueue(); });

  showConnection();
  showErrorSummary();
  doc.querySelectorAll('[data-maxlength]').forEach((input) => { if (input.value) countChars(input); });
  listSavedPages();
  showQueue().then(() => { if (!meta('cc-saved-at')) flushAndRefresh(); });

  // After the page has loaded: installing the worker fetches and caches the app's files,
  // work that would otherwise compete with the first page's own on a slow phone.
  const registerWorker = () => {
    navigator.serviceWorker.register('/sw.js', { scope: '/', updateViaCache: 'none' }).then(() => {
      // The worker keeps only this user's saved pages.
      if (USER && navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage({ type: 'user', user: USER });
    }).catch(() => undefined);
  };
  if ('serviceWorker' in navigator) {
    if (doc.readyState === 'complete') registerWorker();
    else window.addEventListener('load', registerWorker, { once: true });
  }
}());
