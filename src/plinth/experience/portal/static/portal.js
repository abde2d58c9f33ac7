// Plinth portal live updates: listen to server-sent events; when a topic changes,
// fetch this page again and swap in the parts marked data-live="<topic>".
(function () {
  "use strict";
  var url = document.body.getAttribute("data-events");
  if (!url || !window.EventSource) { return; }
  var busy = false;
  function refresh(topics) {
    if (busy) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        topics.forEach(function (topic) {
          var selector = '[data-live~="' + topic + '"]';
          var now = document.querySelectorAll(selector);
          var next = fresh.querySelectorAll(selector);
          for (var i = 0; i < now.length && i < next.length; i++) {
            if (now[i].contains(document.activeElement)) { continue; }
            now[i].innerHTML = next[i].innerHTML;
          }
        });
        var status = document.getElementById("live-status");
        if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function () { /* the next event retries */ })
      .then(function () { busy = false; });
  }
  var source = new EventSource(url);
  source.addEventListener("change", function (event) {
    var data = {};
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (data.topics && data.topics.length) { refresh(data.topics); }
  });
})();
