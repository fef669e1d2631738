// The board's service worker: the app shell (the page and its built files) from the
// cache when the network is gone, so that the board opens in a basement and says it is
// offline instead of the browser's error page. The API and the WebSocket are never
// cached: what the board shows of the tasks always comes from the server.
// build.mjs fills in the version and the list of built files.
const VERSION = 'd158a8a891e75540';
const SHELL = '/board/';
const ASSETS = ["/board/assets/Stats-7KLPLSQQ.js","/board/assets/chunk-UZCHWKSJ.js","/board/assets/main-2BXNMQWV.css","/board/assets/main-5ZMZ3H34.js"];
const CACHE = `taskboard-${VERSION}`;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll([SHELL, ...ASSETS])).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith('taskboard-') && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== location.origin || !url.pathname.startsWith('/board/')) return;
  if (request.mode === 'navigate') {
    // The page: fresh from the server (its settings may have changed), the cached
    // shell when there is no network. Every /board/ address is the same page.
    event.respondWith(fetch(request).catch(() => caches.match(SHELL)));
    return;
  }
  if (url.pathname.startsWith('/board/assets/')) {
    // Fingerprinted: a name never changes its content.
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});
