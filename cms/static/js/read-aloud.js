// 読み上げ: "Read this page aloud" with the browser's own speech synthesis. Progressive enhancement: the button is
// made here, so without JavaScript (or without speech synthesis) there is none. Reads the main content in the
// page's language, a sentence at a time (long utterances are cut off by some browsers); press again to stop.
(function () {
  var holder = document.getElementById("read-aloud");
  var main = document.getElementById("main");
  if (!holder || !main || !("speechSynthesis" in window) || typeof SpeechSynthesisUtterance === "undefined") {
    return;
  }
  var speech = window.speechSynthesis;
  var lang = document.documentElement.lang === "en" ? "en-GB" : "ja-JP";
  var button = document.createElement("button");
  button.type = "button";
  button.className = "read-aloud-button";
  button.setAttribute("aria-pressed", "false");
  button.textContent = holder.dataset.start;
  holder.appendChild(button);

  function sentences(text) {
    return text.replace(/\s+/g, " ").split(/(?<=[。！？!?])\s*|(?<=\.)\s+/)
      .map(function (part) { return part.trim(); })
      .filter(function (part) { return part.length > 0; });
  }

  function stopped() {
    button.setAttribute("aria-pressed", "false");
    button.textContent = holder.dataset.start;
  }

  button.addEventListener("click", function () {
    if (button.getAttribute("aria-pressed") === "true") {
      speech.cancel();
      stopped();
      return;
    }
    var parts = sentences(main.innerText);
    if (!parts.length) {
      return;
    }
    speech.cancel();
    button.setAttribute("aria-pressed", "true");
    button.textContent = holder.dataset.stop;
    parts.forEach(function (part, index) {
      var utterance = new SpeechSynthesisUtterance(part);
      utterance.lang = lang;
      utterance.rate = 0.9;  // a little slower than the default: most listeners are 65+
      if (index === parts.length - 1) {
        utterance.onend = stopped;
      }
      speech.speak(utterance);
    });
  });
})();
