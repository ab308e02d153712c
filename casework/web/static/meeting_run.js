// Live quorum on the attendance list. Without this script the page works the same: the
// quorum is counted again when "Spara närvaro" is pressed.
(function () {
  "use strict";

  var form = document.getElementById("narvaro");
  var target = document.getElementById("beslutsmassighet");
  if (!form || !target || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var url = form.getAttribute("data-quorum-url");
  var controller = null;

  function refresh() {
    var params = new URLSearchParams();
    var boxes = form.querySelectorAll("input[type=checkbox][name=narvarande]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].checked) {
        params.append("narvarande", boxes[i].value);
      }
    }
    if (controller) {
      controller.abort();
    }
    controller = window.AbortController ? new AbortController() : null;
    fetch(url + "?" + params.toString(), {
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          target.innerHTML = html;
        }
      })
      .catch(function () {});
  }

  form.addEventListener("change", function (event) {
    if (event.target && event.target.name === "narvarande") {
      refresh();
    }
  });
})();
