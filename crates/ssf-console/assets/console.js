// SSF console: keeps the sections marked data-live fresh without reloading the page.
// Pages work without this script; it only re-reads the same page every few seconds and swaps
// in the new content of each [data-live] element (matched by id). It pauses while the
// operator types in a form, and stops when the session has ended.
(function () {
  "use strict";
  var PERIOD_MS = 3000;
  var live = document.querySelectorAll("[data-live][id]");
  if (live.length === 0) {
    return;
  }
  var stamp = document.getElementById("live-stamp");
  function typing() {
    var el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
  }
  function refresh() {
    if (document.hidden || typing()) {
      return schedule();
    }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("session ended or server unavailable (" + response.status + ")");
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var next = fresh.getElementById(el.id);
          if (next && next.innerHTML !== el.innerHTML) {
            el.innerHTML = next.innerHTML;
          }
        });
        if (stamp) {
          stamp.textContent = "live, updated " + new Date().toLocaleTimeString();
        }
        schedule();
      })
      .catch(function (err) {
        if (stamp) {
          stamp.textContent = "not updating: " + err.message + "; reload the page";
        }
      });
  }
  function schedule() {
    window.setTimeout(refresh, PERIOD_MS);
  }
  schedule();
})();
