// Refreshes the status page's tables in place, without reloading the
// page; without JavaScript a meta refresh reloads it instead.
(function () {
  "use strict";
  var body = document.body;
  var every = (parseInt(body.dataset.refresh, 10) || 5) * 1000;
  var live = document.getElementById("live");
  var count = 0;
  function refresh() {
    fetch("?part=main", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status); }
        return r.text();
      })
      .then(function (html) {
        document.getElementById("main").innerHTML = html;
        count++;
        body.dataset.refreshes = String(count);
        live.hidden = false;
      })
      .catch(function () { live.hidden = true; })
      .finally(function () { setTimeout(refresh, every); });
  }
  live.hidden = false;
  body.dataset.refreshes = "0";
  setTimeout(refresh, every);
})();
