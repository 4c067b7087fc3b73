/* Live regions refreshed by htmx keep what the user opened and where the keyboard is:
   before a swap into an element marked data-keep-state, the open <details> (by data-key)
   and the focused link (by href) or control (by id) are remembered; after it they are
   restored. No other script runs on the pages. */
(function () {
  var saved = new WeakMap();
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.hasAttribute("data-keep-state")) return;
    var open = [];
    target.querySelectorAll("details[open][data-key]").forEach(function (d) {
      open.push(d.getAttribute("data-key"));
    });
    var active = document.activeElement, focus = null;
    if (active && target.contains(active)) {
      if (active.id) focus = { id: active.id };
      else if (active.tagName === "A") focus = { href: active.getAttribute("href") };
      else if (active.tagName === "SUMMARY" && active.parentElement.getAttribute("data-key"))
        focus = { summary: active.parentElement.getAttribute("data-key") };
    }
    saved.set(target, { open: open, focus: focus });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target, state = target && saved.get(target);
    if (!state) return;
    saved.delete(target);
    target.querySelectorAll("details[data-key]").forEach(function (d) {
      if (state.open.indexOf(d.getAttribute("data-key")) >= 0) d.open = true;
    });
    var f = state.focus, el = null;
    if (f && f.id) el = document.getElementById(f.id);
    else if (f && f.href) el = Array.prototype.find.call(target.querySelectorAll("a[href]"),
      function (a) { return a.getAttribute("href") === f.href; });
    else if (f && f.summary) {
      var d = Array.prototype.find.call(target.querySelectorAll("details[data-key]"),
        function (x) { return x.getAttribute("data-key") === f.summary; });
      el = d && d.querySelector("summary");
    }
    if (el) el.focus({ preventScroll: true });
  });
})();

/* Irreversible steps ask first: a form with data-confirm submits only when confirmed. */
document.addEventListener("submit", function (event) {
  var form = event.target, message = form && form.getAttribute && form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
