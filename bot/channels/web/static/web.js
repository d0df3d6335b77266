// Pathways web chat: progressive enhancement only. Every page works without this file.
//
// Exit this page, by its button or by pressing Shift three times in a row: the exit form is
// sent in the background (the server forgets the conversation and clears the cookie), and the
// page is replaced at once by the neutral site, so Back does not return here.
//
// Answers without full reloads: the chat's forms (its buttons, and typed words) are sent with
// fetch, which follows the server's redirect to GET /chat; the page that comes back replaces
// this one's body, and focus moves to the new step. Nothing navigates, so the browser's history
// holds one entry for the whole chat, and after Exit this page, Back goes to the page before
// the chat. When the server says the conversation has ended by its quick exit (a typed "exit",
// say), it answers 204, and the page leaves as Exit this page does. If anything fails, the
// form is sent the ordinary way instead, which always works.
(function () {
  "use strict";

  var SHIFT_GAP_MS = 1000; // the longest pause between two presses of Shift
  var SHIFT_PRESSES = 3;
  var FETCH_HEADER = "X-Pathways-Fetch"; // tells the server this page updates itself
  var LEFT = 204; // the server's answer when the conversation ended by the quick exit
  var busy = false;

  function exitForm() {
    return document.querySelector("form.exit-form");
  }

  // The exit is sent as the page goes (keepalive lets it finish after the page has gone), and
  // where its redirect leads does not matter; an answer's redirect is followed to the next step.
  function send(form, data, leaving) {
    var headers = {};
    headers[FETCH_HEADER] = "1";
    return fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(data),
      credentials: "same-origin",
      headers: headers,
      redirect: leaving ? "manual" : "follow",
      keepalive: leaving,
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  }

  // Embedded in a partner's page (the frame_ancestors setting), the whole window leaves, not
  // just the frame; the frame is replaced too, in case the browser refuses that.
  function go(url) {
    try {
      if (window.top !== window.self) {
        window.top.location.replace(url);
      }
    } catch (error) {
      // Refused: the frame alone leaves.
    }
    window.location.replace(url);
  }

  function leave(form) {
    var exitUrl = form && form.getAttribute("data-exit-url");
    if (!exitUrl) {
      return;
    }
    try {
      send(form, new FormData(form), true).catch(function () {});
    } catch (error) {
      // Without fetch, the form itself does the exit.
      form.submit();
      return;
    }
    go(exitUrl);
  }

  function show(html) {
    var next = new DOMParser().parseFromString(html, "text/html");
    var root = document.documentElement;
    root.setAttribute("lang", next.documentElement.getAttribute("lang") || "en");
    root.setAttribute("dir", next.documentElement.getAttribute("dir") || "ltr");
    document.body.replaceChildren.apply(
      document.body,
      Array.prototype.map.call(next.body.childNodes, function (node) {
        return document.importNode(node, true);
      })
    );
    // Focus the new words: what changed (a notice such as "Did you mean ...?") first, else
    // the step itself, so a screen reader reads them and the keyboard carries on from there.
    var target = document.querySelector(".notices") || document.getElementById("step");
    if (target) {
      target.setAttribute("tabindex", "-1");
      target.focus();
    }
  }

  function answer(form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    busy = true;
    send(form, data, false)
      .then(function (response) {
        if (response.status === LEFT) {
          go(exitForm().getAttribute("data-exit-url"));
          return null;
        }
        // The next step, or a kind page of the server's own (an old page, too much at once).
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("text/html") !== 0) {
          throw new Error("not a page");
        }
        return response.text().then(show);
      })
      .catch(function () {
        // Sent the ordinary way instead. If the first try reached the server after all, a
        // button it has already taken is answered as expired: nothing is taken twice.
        fallback(form, submitter);
      })
      .finally(function () {
        busy = false;
      });
  }

  function fallback(form, submitter) {
    if (submitter && submitter.name) {
      var carried = document.createElement("input");
      carried.type = "hidden";
      carried.name = submitter.name;
      carried.value = submitter.value;
      form.appendChild(carried);
    }
    HTMLFormElement.prototype.submit.call(form);
  }

  function onSubmit(event) {
    var form = event.target;
    if (form.classList.contains("exit-form")) {
      event.preventDefault();
      leave(form);
      return;
    }
    var mine = form.classList.contains("answers") || form.classList.contains("typed");
    if (!mine || !window.fetch || !window.DOMParser || !document.body.replaceChildren) {
      return; // the ordinary way
    }
    if (form.classList.contains("answers") && !event.submitter) {
      return; // which button was pressed is unknown here: the ordinary way keeps it
    }
    event.preventDefault();
    if (!busy) {
      answer(form, event.submitter);
    }
  }

  function start() {
    if (!exitForm()) {
      return;
    }
    document.addEventListener("submit", onSubmit);

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
        leave(exitForm());
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
