// Ferry's UI script: live updates from server-sent events, and keyboard
// shortcuts. Pages work without it; it only keeps them current.
"use strict";
(function () {
  // The list: a batch of changed rows updates the visible ones in place,
  // once per animation frame, so a burst of 1,000 never blocks the page.
  function liveList(root) {
    var pending = {};
    var scheduled = false;
    // The page's rows by key, found once: a batch of 1,000 looks each up
    // without searching the document.
    var rows = {};
    Array.prototype.forEach.call(root.querySelectorAll("[data-app]"), function (el) {
      rows[el.getAttribute("data-app")] = el;
    });
    function paint() {
      scheduled = false;
      var batch = pending;
      pending = {};
      Object.keys(batch).forEach(function (key) {
        var el = rows[key];
        if (!el) return;
        var r = batch[key];
        if (r.deleted) { el.classList.add("deleted"); return; }
        setField(el, "sync", r.sync, "badge s-");
        setField(el, "health", r.health, "badge h-");
        setField(el, "phase", r.phase);
        setField(el, "revision", r.revision);
      });
    }
    // The page's own query: the stream's counts are of what it lists.
    var query = location.search ? "&" + location.search.slice(1) : "";
    var es = new EventSource("/events?since=" + encodeURIComponent(root.getAttribute("data-seq") || "0") + query);
    es.addEventListener("apps", function (e) {
      JSON.parse(e.data).forEach(function (r) { pending[r.namespace + "/" + r.name] = r; });
      if (!scheduled) { scheduled = true; requestAnimationFrame(paint); }
    });
    es.addEventListener("counts", function (e) {
      var c = JSON.parse(e.data);
      var total = document.getElementById("total");
      if (total) total.textContent = String(c.total);
      Array.prototype.forEach.call(document.querySelectorAll("[data-count]"), function (el) {
        var kind = el.getAttribute("data-count").split("-")[0];
        var n = (c[kind] || {})[el.getAttribute("data-count").slice(kind.length + 1)] || 0;
        el.textContent = String(n);
        el.parentNode.hidden = n === 0;
      });
    });
  }

  function setField(el, name, value, cls) {
    var f = el.querySelector('[data-field="' + name + '"]');
    if (!f || f.textContent === value) return;
    f.textContent = value;
    if (cls) f.className = cls + value;
  }

  // One Application: a change reloads the live part, as the person, at
  // most one request at a time.
  function liveApp(root) {
    var key = root.getAttribute("data-live-app");
    var url = "/applications/" + key + "/live";
    var busy = false, again = false;
    function reload() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          // Sent to the login page (the session ended): show it whole.
          if (r.redirected) { location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null) root.innerHTML = html;
          document.documentElement.setAttribute("data-updated", String(Date.now()));
        })
        .finally(function () {
          busy = false;
          if (again) { again = false; reload(); }
        });
    }
    var es = new EventSource("/events?app=" + encodeURIComponent(key) +
      "&since=" + encodeURIComponent(root.getAttribute("data-seq") || "0"));
    es.addEventListener("app", reload);
  }

  // Keyboard: "/" to search, j/k to move between Applications.
  function keys() {
    document.addEventListener("keydown", function (e) {
      var t = e.target;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "/") {
        var q = document.getElementById("filter-q");
        if (q) { e.preventDefault(); q.focus(); }
        return;
      }
      if (e.key !== "j" && e.key !== "k") return;
      var links = Array.prototype.slice.call(document.querySelectorAll("[data-app] a[href^='/applications/']"));
      if (!links.length) return;
      var i = links.indexOf(document.activeElement);
      i = e.key === "j" ? Math.min(i + 1, links.length - 1) : Math.max(i - 1, 0);
      e.preventDefault();
      links[i].focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.querySelector("[data-live=list]");
    if (list) liveList(list);
    var app = document.querySelector("[data-live-app]");
    if (app) liveApp(app);
    keys();
    // When the page became interactive, in ms since navigation started
    // (the UI benchmark reads it; tests wait for it).
    document.documentElement.setAttribute("data-ready", String(Math.round(performance.now())));
  });
})();
