// Pathways web chat: progressive enhancement only. Every page works without this file.
//
// Exit this page, by its button or by pressing Shift three times in a row: the exit form is
// sent in the background (the server forgets the conversation and clears the cookie), and the
// page is replaced at once by the neutral site, so Back does not return here.
(function () {
  "use strict";

  var SHIFT_GAP_MS = 1000; // the longest pause between two presses of Shift
  var SHIFT_PRESSES = 3;

  function leave(form) {
    var exitUrl = form.getAttribute("data-exit-url");
    try {
      fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
        keepalive: true,
        redirect: "manual",
        cache: "no-store",
        referrerPolicy: "no-referrer"
      }).catch(function () {});
    } catch (error) {
      // Without fetch, the form itself does the exit.
      form.submit();
      return;
    }
    window.location.replace(exitUrl);
  }

  function start() {
    var form = document.querySelector("form.exit-form");
    if (!form || !form.getAttribute("data-exit-url")) {
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      leave(form);
    });

    var presses = 0;
    var last = 0;
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Shift") {
        presses = 0;
        return;
      }
      if (event.repeat) {
        return; // holding Shift down is not pressing it again
      }
      var now = Date.now();
      presses = now - last <= SHIFT_GAP_MS ? presses + 1 : 1;
      last = now;
      if (presses >= SHIFT_PRESSES) {
        presses = 0;
        leave(form);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
