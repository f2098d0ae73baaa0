// halosync UI behaviour: time zone cookie, Test Connection enabling, confirmation dialogs,
// the Halo client picker. Plain browser JavaScript: no build step.
(function () {
  "use strict";

  // The server formats timestamps in the viewer's zone; the Intl API tells it which.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("halosync_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "halosync_tz=" + encodeURIComponent(zone) + "; path=/; SameSite=Lax; max-age=31536000";
    }
  } catch (e) { /* old browser: UTC it is */ }

  function updateTestButtons(root) {
    root.querySelectorAll("[data-needs-fields]").forEach(function (button) {
      var form = button.closest("form");
      var names = button.getAttribute("data-needs-fields").split(",");
      var stored = button.getAttribute("data-secret-stored") === "1";
      var ready = names.every(function (name) {
        var field = form.elements[name];
        if (!field) { return false; }
        if (name === "client_secret" && stored) { return true; }
        return field.value.trim() !== "";
      });
      button.disabled = !ready;
      button.setAttribute("aria-disabled", ready ? "false" : "true");
    });
  }

  document.addEventListener("input", function () { updateTestButtons(document); });

  // A form with data-confirm asks first in the named <dialog>.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-confirm") || form.dataset.confirmed === "1") {
      return;
    }
    var watched = form.getAttribute("data-confirm-if-changed");
    if (watched) {
      // Only a real change asks (saving the value already chosen does nothing to confirm).
      var field = form.elements[watched];
      var initial = Array.prototype.find.call(field.options, function (o) { return o.defaultSelected; });
      if (initial && initial.value === field.value) { return; }
      form.onCancel = function () { if (initial) { field.value = initial.value; } };
    }
    event.preventDefault();
    var dialog = document.getElementById(form.getAttribute("data-confirm"));
    var text = form.getAttribute("data-confirm-text");
    if (text) { dialog.querySelector("[data-dialog-text]").textContent = text; }
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue === "confirm") {
        form.dataset.confirmed = "1";
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      } else if (form.onCancel) {
        form.onCancel();
      }
    };
    dialog.showModal();
  }, true);

  // Price toggles: the dialog's text depends on the direction; Cancel restores the toggle.
  document.addEventListener("change", function (event) {
    var toggle = event.target;
    if (!toggle.matches || !toggle.matches("[data-price-toggle]")) { return; }
    var form = toggle.closest("form");
    var on = toggle.checked;
    form.elements.price_mode.value = on ? toggle.dataset.on : toggle.dataset.off;
    form.setAttribute("data-confirm-text", on ? toggle.dataset.enableText : toggle.dataset.disableText);
    form.onCancel = function () { toggle.checked = !on; };
    form.dataset.confirmed = "";
    if (form.requestSubmit) { form.requestSubmit(); } else { form.dispatchEvent(new Event("submit", {cancelable: true})); }
  });

  // "Show only writes" on the dry run hides the unchanged and skipped rows.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-hide-rows]")) { return; }
    document.getElementById(box.dataset.hideRows).classList.toggle("writes-only", box.checked);
  });

  // Picking a Halo client fills both the name and the ID of the row being edited.
  document.addEventListener("click", function (event) {
    var option = event.target.closest ? event.target.closest("[data-pick-client]") : null;
    if (!option) { return; }
    event.preventDefault();
    var row = option.closest("tr");
    row.querySelector("input[name=halo_client_id]").value = option.dataset.id;
    row.querySelector("input[name=client_name]").value = option.dataset.name;
    row.querySelector("input[name=client_id_search]").value = option.dataset.id;
    var status = row.querySelector("[data-row-status]");
    if (status) { status.textContent = "Pending"; status.className = "badge badge-pending"; }
    var list = row.querySelector("[data-client-options]");
    if (list) { list.innerHTML = ""; }
    var invoices = row.querySelector("select[name=recurring_invoice_id]");
    if (invoices && window.htmx) {
      htmx.ajax("GET", invoices.dataset.source + "?halo_client_id=" + encodeURIComponent(option.dataset.id),
                {target: invoices, swap: "innerHTML"});
    }
  });

  document.addEventListener("DOMContentLoaded", function () { updateTestButtons(document); });
  document.addEventListener("htmx:afterSettle", function () { updateTestButtons(document); });
})();
