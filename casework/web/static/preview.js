// Live routing preview on the submission form. Without this script the form works the same:
// the "Förhandsgranska fördelning" button posts the whole page instead.
(function () {
  "use strict";

  var form = document.getElementById("anmalan");
  var target = document.getElementById("forhandsvisning");

  var summary = document.getElementById("felsammanfattning");
  if (summary) {
    summary.focus();
  }
  if (!form || !target || !window.fetch || !window.URLSearchParams) {
    return;
  }

  var url = form.getAttribute("data-preview-url");
  var timer = null;
  var controller = null;
  var lastBody = null;
  var lastHtml = null;

  function fields() {
    var data = new FormData(form);
    data.delete("attachments");
    data.delete("action");
    return new URLSearchParams(data).toString();
  }

  function refresh(force) {
    var body = fields();
    if (!force && body === lastBody) {
      return;
    }
    lastBody = body;
    if (controller) {
      controller.abort();
    }
    controller = window.AbortController ? new AbortController() : null;
    fetch(url, {
      method: "POST",
      body: body,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("preview failed: " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        // Only touch the live region when its content changes, so screen readers
        // announce a new routing, not every keystroke.
        if (html !== lastHtml) {
          lastHtml = html;
          target.innerHTML = html;
        }
      })
      .catch(function () {
        // The button still posts the whole form; nothing to tell the person here.
        lastBody = null;
      });
  }

  function schedule(event) {
    if (event.target && event.target.type === "file") {
      return;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { refresh(false); }, 400);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);

  // With the script the button previews in place, keeping any files already chosen.
  var button = form.querySelector('button[name="action"][value="preview"]');
  if (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      window.clearTimeout(timer);
      refresh(true);
    });
  }
})();
