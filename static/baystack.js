// Baystack's own script: small on purpose. htmx does the rest.
"use strict";

// Every htmx request carries the page's CSRF token; forms also carry it as
// a hidden field, so they work without JavaScript too.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});

// A form, or the button that submits it, with data-confirm asks before it
// submits (delete, revoke, a fault LED). What htmx posts asks through
// htmx's own confirm step, so it is asked once.
document.addEventListener("submit", function (event) {
  var asking = [event.submitter, event.target].find(function (elt) {
    return elt && elt.getAttribute && elt.getAttribute("data-confirm");
  });
  if (asking && !asking.hasAttribute("hx-post") && !window.confirm(asking.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
}, true);
document.addEventListener("htmx:confirm", function (event) {
  var elt = event.detail.elt;
  var question = elt.getAttribute && elt.getAttribute("data-confirm");
  if (!question) {
    return;
  }
  event.preventDefault();
  if (window.confirm(question)) {
    event.detail.issueRequest(true);
  }
});

// The wizard shows the IQN a volume would get while the naming authority
// is typed. The server validates; this only previews.
document.addEventListener("input", function (event) {
  var example = document.getElementById("iqn-example");
  if (!example || !/^(hostname|iqn_domain|iqn_date)$/.test(event.target.id)) {
    return;
  }
  var value = function (id, fallback) {
    var v = document.getElementById(id).value.trim();
    return v || fallback;
  };
  var domain = value("iqn_domain", "example.com").split(".").reverse().join(".");
  example.textContent = "iqn." + value("iqn_date", "YYYY-MM") + "." + domain + ":" +
    value("hostname", "bay01") + ".db01";
});
