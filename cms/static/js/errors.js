// Progressive enhancement: after a failed submit the page already opens at the error summary (the form posts to
// "#form-errors"); this moves the keyboard and screen-reader focus there too. Without JavaScript nothing is lost.
(function () {
  var summary = document.getElementById("form-errors");
  if (summary) {
    summary.focus();
  }
})();
