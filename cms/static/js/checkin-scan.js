/* Check-in by code on the roster (templates/courses/admin/roster/_check_in.html, courses.checkin).

   Progressive enhancement of the typed-reference form, which works without this script:
   - where the browser can open a camera (HTTPS or localhost), a "Scan" button: the camera's frames are decoded by
     jsQR (vendored under js/vendor/jsqr/, loaded on the first scan) and each code read is POSTed to the form's
     address; the same code is not sent again for a few seconds (sending it again would be harmless: the server
     says "already checked in");
   - the typed reference is sent the same way, without leaving the page;
   - the server's answer (who was marked for which session, or why not) is shown in the live region in large type,
     and the person's line and the counts on the roster follow. When no answer comes (network down), it says the
     scan did not reach the server: nothing is shown as done that the server did not confirm.
   The round trip of the last check-in (code read → answer shown, in ms) is left in the live region's
   data-round-trip-ms for the browser test. */
(function () {
  "use strict";

  var panel = document.querySelector("[data-checkin]");
  if (!panel) { return; }
  var form = panel.querySelector("[data-checkin-form]");
  var result = panel.querySelector("[data-checkin-result]");
  var scan = panel.querySelector("[data-checkin-scan]");
  var startButton = panel.querySelector("[data-checkin-start]");
  var stopButton = panel.querySelector("[data-checkin-stop]");
  var video = panel.querySelector("[data-checkin-video]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var REPEAT_MS = 4000;  // the same code is not sent again within this time (after an answer)
  var RETRY_MS = 1500;  // ... or within this time after the server could not be reached
  var FRAME_MS = 80;  // decode at most ~12 frames a second: enough at the door, easy on a tablet's battery
  var MAX_WIDTH = 640;  // frames are scaled down to this width before decoding

  var stream = null;
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", {willReadFrequently: true});
  var busy = false;
  var last = {code: "", until: 0};
  var lastFrame = 0;
  var startedAt = 0;

  function show(text, tone) {
    result.className = "roster-checkin__result roster-checkin__result--" + tone;
    result.textContent = text;
  }

  function updateRoster(answer) {
    if (answer.registration) {
      var badge = document.querySelector("#person-" + answer.registration + " .roster-status");
      if (badge && answer.status_label) {
        badge.textContent = answer.status_label;
        badge.className = "roster-status roster-status--" + answer.status;
      }
    }
    if (answer.summary) {
      Object.keys(answer.summary).forEach(function (key) {
        var count = document.querySelector("[data-summary='" + key + "']");
        if (count) { count.textContent = answer.summary[key]; }
      });
    }
  }

  function send(code, readAt) {
    busy = true;
    show(panel.dataset.msgSending, "info");
    var body = new FormData();
    body.append("code", code);
    return fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin", redirect: "follow",
      headers: {"Accept": "application/json", "X-CSRFToken": csrf}
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) { throw new Error("not json"); }
      return response.json().then(function (answer) {
        if (!answer.message) { throw new Error("no message"); }
        show(answer.message, answer.ok ? "ok" : (answer.kind === "unknown" ? "error" : "warn"));
        updateRoster(answer);
        last = {code: code, until: performance.now() + REPEAT_MS};
        result.dataset.roundTripMs = String(Math.round(performance.now() - readAt));
        result.dataset.kind = answer.kind;
        return answer;
      }, function () { throw new Error("not json"); });
    }, function () {
      // fetch itself failed: no answer from the server (network down, server unreachable)
      show(panel.dataset.msgUnreachable, "error");
      result.dataset.kind = "unreachable";
      last = {code: code, until: performance.now() + RETRY_MS};
      return null;
    }).catch(function () {
      show(panel.dataset.msgBadAnswer, "error");
      result.dataset.kind = "bad_answer";
      last = {code: code, until: performance.now() + REPEAT_MS};
      return null;
    }).then(function (answer) {
      busy = false;
      return answer;
    });
  }

  form.addEventListener("submit", function (event) {
    var input = form.querySelector("input[name=code]");
    if (!input.value.trim() || busy) { event.preventDefault(); return; }
    event.preventDefault();
    send(input.value, performance.now()).then(function (answer) {
      if (answer && answer.ok) { input.value = ""; }
    });
  });

  // --- The camera ---------------------------------------------------------------------------------------------

  if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.isSecureContext)) { return; }
  scan.hidden = false;

  function loadDecoder() {
    if (window.jsQR) { return Promise.resolve(); }
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = panel.dataset.jsqrSrc;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function frame(now) {
    if (!stream) { return; }
    window.requestAnimationFrame(frame);
    if (busy || now - lastFrame < FRAME_MS || video.readyState < 2 || !video.videoWidth) { return; }
    lastFrame = now;
    var scale = Math.min(1, MAX_WIDTH / video.videoWidth);
    var width = Math.round(video.videoWidth * scale);
    var height = Math.round(video.videoHeight * scale);
    if (canvas.width !== width) { canvas.width = width; }
    if (canvas.height !== height) { canvas.height = height; }
    context.drawImage(video, 0, 0, width, height);
    var found = window.jsQR(context.getImageData(0, 0, width, height).data, width, height,
                            {inversionAttempts: "dontInvert"});
    if (!found || !found.data) { return; }
    var code = found.data.trim();
    if (code === last.code && now < last.until) { return; }
    if (!result.dataset.firstReadMs) { result.dataset.firstReadMs = String(Math.round(now - startedAt)); }
    send(code, performance.now());
  }

  function stop() {
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  startButton.addEventListener("click", function () {
    startedAt = performance.now();
    Promise.all([
      loadDecoder(),
      navigator.mediaDevices.getUserMedia({audio: false, video: {facingMode: "environment"}})
    ]).then(function (values) {
      stream = values[1];
      video.srcObject = stream;
      video.hidden = false;
      startButton.hidden = true;
      stopButton.hidden = false;
      show(panel.dataset.msgScanning, "info");
      return video.play();
    }).then(function () {
      window.requestAnimationFrame(frame);
    }).catch(function () {
      stop();
      show(panel.dataset.msgNoCamera, "error");
    });
  });
  stopButton.addEventListener("click", stop);
  document.addEventListener("visibilitychange", function () { if (document.hidden) { stop(); } });
}());
