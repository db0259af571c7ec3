// Keyboard for the task loop: digits pick the value of the current scale (then move on to the
// next unanswered one), a / b / n pick in A/B pairs, Enter submits. Radios keep their native
// arrow-key behaviour; this only adds shortcuts, so the page works the same without it.
(function () {
  "use strict";

  function form() { return document.getElementById("task-form"); }

  function groups(f) { return Array.from(f.querySelectorAll("fieldset[data-group=scale]")); }

  function answered(fs) { return fs.querySelector("input[type=radio]:checked") !== null; }

  function currentScale(f) {
    var active = document.activeElement;
    var all = groups(f);
    var here = active && active.closest ? active.closest("fieldset[data-group=scale]") : null;
    if (here && !answered(here)) return here;
    return all.find(function (fs) { return !answered(fs); }) || here || all[all.length - 1];
  }

  function pick(input) {
    input.checked = true;
    input.focus({ preventScroll: false });
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function focusFirst() {
    var f = form();
    if (!f) return;
    var first = f.querySelector("fieldset[data-group] input[type=radio]");
    if (first) first.focus({ preventScroll: true });
  }

  document.addEventListener("keydown", function (event) {
    var f = form();
    if (!f || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"))) return;
    var key = event.key;
    if (/^[0-9]$/.test(key)) {
      var fs = currentScale(f);
      if (!fs) return;
      var input = fs.querySelector('input[type=radio][value="' + key + '"]');
      if (!input) return;
      event.preventDefault();
      pick(input);
      var next = groups(f).find(function (g) { return !answered(g); });
      if (next) next.querySelector("input[type=radio]").focus();
      return;
    }
    var lower = key.toLowerCase();
    if (lower === "a" || lower === "b" || lower === "n") {
      var choice = f.querySelector('input[name=choice][data-key="' + lower + '"]');
      if (choice) {
        event.preventDefault();
        pick(choice);
        var nextScale = groups(f).find(function (g) { return !answered(g); });
        if (nextScale) nextScale.querySelector("input[type=radio]").focus();
      }
      return;
    }
    if (key === "Enter" && target && target.tagName !== "BUTTON" && target.tagName !== "A") {
      event.preventDefault();
      f.requestSubmit();
    }
  });

  // After htmx swaps in the next item, put the keyboard focus on its first control and make
  // sure the top of the item is in view (long responses push the form far down).
  document.body.addEventListener("htmx:afterSwap", function () {
    window.scrollTo({ top: 0 });
    focusFirst();
    var text = document.getElementById("progress-text");
    if (text) document.title = text.textContent + " · " + document.title.split(" · ").slice(-1)[0];
  });
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    // A refusal re-renders the form with its message; show it rather than dropping it.
    if (event.detail.xhr.status === 400 || event.detail.xhr.status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", focusFirst);
  else focusFirst();
  // The shortcuts work from here on (browser tests wait for this instead of guessing).
  document.documentElement.dataset.keyboard = "ready";
})();
