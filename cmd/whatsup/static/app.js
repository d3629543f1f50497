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
