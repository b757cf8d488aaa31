// Keyboard shortcuts for the queue and item pages. No inline scripts (CSP): behaviour hangs on data-* attributes.
// Queue: j/k move, Enter open, l link, d dismiss, e escalate, / search, ? help.
(function () {
  "use strict";

  function typing(ev) {
    var t = ev.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-row]")); }

  function selected() { return document.querySelector("[data-row].selected"); }

  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) { return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    row.scrollIntoView({ block: "nearest" });
    try { sessionStorage.setItem("mm-sel", row.getAttribute("data-row")); } catch (e) { /* private mode */ }
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var i = all.indexOf(selected());
    var next = i < 0 ? 0 : Math.min(all.length - 1, Math.max(0, i + step));
    select(all[next]);
  }

  // An action on the selected row (queue) or on the page itself (item page).
  function act(name) {
    var scope = selected() || document.querySelector("[data-item-page]");
    if (!scope) { return false; }
    var el = scope.querySelector("[data-action='" + name + "']");
    if (!el) { return false; }
    if (el.tagName === "A") { window.location.href = el.href; }
    else if (el.tagName === "DETAILS") { el.open = true; var f = el.querySelector("select, input, textarea, button"); if (f) { f.focus(); } }
    else if (el.hasAttribute("data-focus-only")) { el.focus(); el.scrollIntoView({ block: "center" }); }
    else { el.focus(); el.click(); }
    return true;
  }

  function toggleHelp() {
    var box = document.getElementById("keyhelp");
    if (box) { box.hidden = !box.hidden; }
  }

  document.addEventListener("keydown", function (ev) {
    // Ctrl+Enter (Cmd+Enter) in a text area submits its form (the escalation note).
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter" && ev.target.tagName === "TEXTAREA" && ev.target.form) {
      ev.preventDefault();
      ev.target.form.requestSubmit();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "Escape") {
      var box = document.getElementById("keyhelp");
      if (box) { box.hidden = true; }
      if (typing(ev)) { ev.target.blur(); }
      return;
    }
    if (typing(ev)) {
      // Enter in a search-as-you-type box must not submit the surrounding decision form.
      if (ev.key === "Enter" && ev.target.hasAttribute("data-no-submit")) { ev.preventDefault(); }
      return;
    }
    var handled = true;
    switch (ev.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": handled = act("open"); break;
      case "l": handled = act("link"); break;
      case "d": handled = act("dismiss"); break;
      case "e": handled = act("escalate"); break;
      case "/":
        var q = document.querySelector("[data-search]");
        if (q) { q.focus(); q.select(); } else { handled = false; }
        break;
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) { ev.preventDefault(); }
  });

  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest("[data-row]");
    if (row) { select(row); }
    var btn = ev.target.closest && ev.target.closest("[data-confirm]");
    if (btn && !window.confirm(btn.getAttribute("data-confirm"))) { ev.preventDefault(); ev.stopPropagation(); }
  }, true);

  // Keep the selection after htmx replaces a row; select the first row on load.
  function restore() {
    var keep = null;
    try { keep = sessionStorage.getItem("mm-sel"); } catch (e) { keep = null; }
    var all = rows();
    if (!all.length || selected()) { return; }
    var found = keep && document.querySelector("[data-row='" + CSS.escape(keep) + "']");
    select(found || all[0]);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var auto = document.querySelector("[data-autofocus]");
    if (auto) { auto.focus(); auto.scrollIntoView({ block: "center" }); }
    restore();
  });
  document.addEventListener("htmx:afterSettle", restore);
})();
