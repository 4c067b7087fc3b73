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
    var checked = [];  /* ticked boxes (a bulk action's choice) */
    target.querySelectorAll("input[type=checkbox][id]").forEach(function (c) {
      if (c.checked) checked.push(c.id);
    });
    saved.set(target, { open: open, focus: focus, checked: checked });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target, state = target && saved.get(target);
    if (!state) return;
    saved.delete(target);
    target.querySelectorAll("details[data-key]").forEach(function (d) {
      if (state.open.indexOf(d.getAttribute("data-key")) >= 0) d.open = true;
    });
    target.querySelectorAll("input[type=checkbox][id]").forEach(function (c) {
      if (state.checked.indexOf(c.id) >= 0) c.checked = true;
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

/* A bulk action (the office's case list): 全选 ticks every row of the page; nothing ticked is
   said in place, before any confirmation is asked. */
document.addEventListener("change", function (event) {
  if (event.target.id !== "pick-all") return;
  document.querySelectorAll("input.pick").forEach(function (c) { c.checked = event.target.checked; });
});
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form || form.id !== "bulk" || document.querySelector("input.pick:checked")) return;
  event.preventDefault();
  event.stopPropagation();
  var said = document.getElementById("bulk-error");
  said.textContent = "请先在列表中勾选要处理的建议。";
  said.hidden = false;
}, true);

/* Irreversible steps ask first: a form with data-confirm submits only when confirmed. */
document.addEventListener("submit", function (event) {
  var form = event.target, message = form && form.getAttribute && form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

/* A refused form keeps what was typed: what a post form held is kept in sessionStorage when
   it is sent; when the page that comes back says the step failed (.flash-error), the same
   form (same action, same place on the page) gets it back. Any other page forgets it. */
(function () {
  var PREFIX = "duty-form:";
  function key(form) {
    var same = Array.prototype.filter.call(document.forms, function (f) {
      return f.getAttribute("action") === form.getAttribute("action");
    });
    return PREFIX + form.getAttribute("action") + "#" + same.indexOf(form);
  }
  function kept(el) {
    return el.name && el.type !== "hidden" && el.type !== "password" && el.type !== "submit"
      && el.type !== "button" && el.type !== "file";
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form || (form.method || "").toLowerCase() !== "post") return;
    var values = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!kept(el)) return;
      if (el.type === "checkbox" || el.type === "radio") values.push([el.name, el.value, el.checked]);
      else values.push([el.name, el.value]);
    });
    try { sessionStorage.setItem(key(form), JSON.stringify(values)); } catch (e) { /* full */ }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var failed = document.querySelector(".flash-error");
    Array.prototype.forEach.call(document.forms, function (form) {
      var k = key(form), stored = null;
      try { stored = sessionStorage.getItem(k); } catch (e) { return; }
      if (!stored) return;
      if (failed) {
        var values = JSON.parse(stored);
        Array.prototype.forEach.call(form.elements, function (el) {
          if (!kept(el)) return;
          values.forEach(function (v) {
            if (v[0] !== el.name) return;
            if (el.type === "checkbox" || el.type === "radio") { if (v[1] === el.value) el.checked = v[2]; }
            else if (!el.value || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.type === "date" || el.type === "text") el.value = v[1];
          });
        });
      }
    });
    for (var i = sessionStorage.length - 1; i >= 0; i--) {
      var name = sessionStorage.key(i);
      if (name && name.indexOf(PREFIX) === 0) sessionStorage.removeItem(name);
    }
  });
})();

/* 打印: a button marked data-print prints the page (the print style shows only the content). */
document.addEventListener("click", function (event) {
  var button = event.target && event.target.closest && event.target.closest("[data-print]");
  if (button) window.print();
});
