// The demo's only script, loaded by every page (defer). nginx serves it from
// /static/ under a name that carries a hash of this content; see static.go.
"use strict";

// Times in the session list are rendered by the server in UTC; show them in
// the browser's own time zone.
for (const el of document.querySelectorAll("time[datetime]")) {
  const t = new Date(el.dateTime);
  if (!isNaN(t)) {
    el.textContent = t.toLocaleString();
    el.title = el.dateTime;
  }
}

// The live line of the home page: GET /api/events (server-sent events) sends
// `event: tick` every 5 s, and `event: end` when the session ends, whether by
// this browser, another one ("log out everywhere") or expiry. On `end`, or
// when the stream is refused (401 once the session is gone), the page asks
// /api/whoami: logged out, it goes to the login page; still logged in (the
// session was renewed by a login in another tab), it reconnects.
const live = document.getElementById("live");
if (live && window.EventSource) {
  connect();
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("tick", (e) => {
    const d = JSON.parse(e.data);
    document.getElementById("live-instance").textContent = d.instance;
    document.getElementById("live-time").textContent = new Date(d.time).toLocaleTimeString();
    live.hidden = false;
  });
  es.addEventListener("end", () => {
    es.close();
    recheck();
  });
  es.addEventListener("error", () => {
    // CONNECTING: the browser retries by itself (an instance went away).
    // CLOSED: the answer was not a stream (401, 503): it gives up.
    if (es.readyState === EventSource.CLOSED) {
      recheck();
    }
  });
}

async function recheck() {
  try {
    const r = await fetch("/api/whoami", { headers: { Accept: "application/json" }, cache: "no-store" });
    if (r.ok && (await r.json()).user === null) {
      location.assign("/login");
      return;
    }
  } catch (e) {
    // offline or refused: try again below
  }
  setTimeout(connect, 3000);
}
