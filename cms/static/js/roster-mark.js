/* Attendance buttons on the roster (templates/courses/admin/roster/_mark_button.html, courses.admin.roster.MarkView).

   Progressive enhancement of the small POST forms, which work without this script (each tap then reloads the
   roster): a tap sends the same form with fetch, asking for JSON, and the page follows the server's answer —
   - the person's row is replaced by the row the server rendered (its state and buttons as the server holds them),
     the counts by the server's counts, and the answer (done, or why not) is said in the live region;
   - while a tap is in flight the row's buttons are disabled, so a double tap marks once;
   - when the person moves between the lists (a waiting-list person given a seat) the server says `reload`, and
     the roster is loaded again;
   - when no answer comes (network down) or an answer that is not the server's JSON (signed out, 403, 404), the
     form is submitted the ordinary way, which says what happened on a page of its own. Marks are idempotent on
     the server: sending again never marks twice.
   Nothing is shown as done that the server did not confirm. The time of the last tap (button → row replaced, in
   ms) is left in the live region's data-round-trip-ms for the browser test. */
(function () {
  "use strict";

  var roster = document.getElementById("roster");
  var result = document.querySelector("[data-roster-mark-result]");
  if (!roster || !result || !window.fetch || !window.FormData) { return; }

  function say(text, tone) {
    result.className = "roster-mark-result roster-mark-result--" + tone;
    result.textContent = text;
  }

  function setBusy(row, busy) {
    if (!row) { return; }
    row.setAttribute("aria-busy", busy ? "true" : "false");
    row.querySelectorAll("form[data-roster-mark] button").forEach(function (button) { button.disabled = busy; });
  }

  function reloadAt(address) {
    var target = new URL(address, window.location.href);
    if (target.pathname === window.location.pathname && target.search === window.location.search) {
      window.history.replaceState(null, "", target.href);
      window.location.reload();
    } else {
      window.location.assign(target.href);
    }
  }

  function replaceRow(row, html) {
    var holder = document.createElement("ul");
    holder.innerHTML = html.trim();
    var fresh = holder.firstElementChild;
    if (!fresh) { return null; }
    row.replaceWith(fresh);
    return fresh;
  }

  function follow(answer, row, hadFocus) {
    if (answer.summary) {
      Object.keys(answer.summary).forEach(function (key) {
        var count = document.querySelector("[data-summary='" + key + "']");
        if (count) { count.textContent = answer.summary[key]; }
      });
    }
    var fresh = answer.html ? replaceRow(row, answer.html) : null;
    if (fresh && hadFocus) {
      // The pressed button is gone with the old row: keep the keyboard where it was, on this person.
      var next = fresh.querySelector("button") || fresh.querySelector(".roster-person__name");
      if (next && next.tagName !== "BUTTON") { next.setAttribute("tabindex", "-1"); }
      if (next) { next.focus(); }
    }
    return fresh;
  }

  roster.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-roster-mark]")) { return; }
    event.preventDefault();
    var row = form.closest(".roster-person");
    if (row && row.getAttribute("aria-busy") === "true") { return; }  // a second tap while the first is sent
    var startedAt = performance.now();
    var hadFocus = row && row.contains(document.activeElement);
    var body = new FormData(form);
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    setBusy(row, true);
    say(result.dataset.msgSending, "info");

    // form.getAttribute: the form has an input named "action", which form.action would return.
    fetch(form.getAttribute("action"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-Requested-With": "fetch", "X-CSRFToken": token ? token.value : ""}
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) { throw new Error("not json"); }
      return response.json();
    }).then(function (answer) {
      if (!answer || typeof answer.message !== "string") { throw new Error("no message"); }
      if (answer.reload && answer.roster_url) {
        say(answer.message, answer.ok ? "ok" : "error");
        reloadAt(answer.roster_url);
        return;
      }
      say(answer.message, answer.ok ? "ok" : "error");
      var fresh = follow(answer, row, hadFocus);
      if (!fresh) { setBusy(row, false); }
      result.dataset.roundTripMs = String(Math.round(performance.now() - startedAt));
      result.dataset.kind = answer.ok ? "marked" : "refused";
    }).catch(function () {
      // No answer, or not the server's JSON: the ordinary form says what happened (marks are idempotent).
      result.dataset.kind = "fallback";
      form.submit();
    });
  });
}());
