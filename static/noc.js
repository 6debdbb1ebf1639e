// The NOC wall's script: asks for the board every refresh with the ETag it
// has (an unchanged board is a 304 with no body), swaps it in when it
// changed, and turns the wall amber by itself when the agent's last
// observation is older than three of its intervals (by the console's
// clock, from each answer's Date header) or the console cannot be
// reached, so a stale wall never looks green.
"use strict";

(function () {
  var wall = document.getElementById("wall");
  if (!wall) {
    return;
  }
  var boardUrl = wall.getAttribute("data-board");
  var etag = wall.getAttribute("data-etag");
  var every = parseInt(wall.getAttribute("data-refresh-ms"), 10) || 2000;
  var trouble = document.getElementById("wall-trouble");
  var board = document.getElementById("board");
  var serverNow = Date.now();
  var serverAt = Date.now();
  var lastOk = Date.now();
  var revoked = false;

  function clock(t) {
    var d = new Date(t);
    return d.toTimeString().slice(0, 8);
  }

  function say(words) {
    if (words) {
      trouble.textContent = words;
      trouble.hidden = false;
      document.body.classList.add("wall-stale");
    } else {
      trouble.textContent = "";
      trouble.hidden = true;
      document.body.classList.remove("wall-stale");
    }
  }

  function judge() {
    if (revoked) {
      say("This wall link was revoked: ask an administrator for a new one.");
      return;
    }
    var now = serverNow + (Date.now() - serverAt);
    if (Date.now() - lastOk > 3 * every + 1000) {
      say("The console cannot be reached since " + clock(lastOk) + ": what is shown may be old.");
      return;
    }
    var head = board.querySelector(".wall-head");
    var observed = head ? parseInt(head.getAttribute("data-observed-ms"), 10) : 0;
    var staleAfter = head ? parseInt(head.getAttribute("data-stale-after-ms"), 10) : 0;
    if (!observed) {
      say("The agent has not observed the appliance yet.");
    } else if (now - observed > staleAfter) {
      say("The agent has not observed the appliance since " + clock(observed) + ": what is shown is old.");
    } else {
      say(null);
    }
  }

  function poll() {
    if (revoked) {
      return;
    }
    fetch(boardUrl, {
      headers: etag ? { "If-None-Match": etag } : {},
      cache: "no-store",
      credentials: "same-origin",
      redirect: "error"
    }).then(function (r) {
      var date = r.headers.get("Date");
      if (r.status === 200 || r.status === 304) {
        lastOk = Date.now();
        if (date) {
          serverNow = Date.parse(date);
          serverAt = Date.now();
        }
      }
      if (r.status === 401 || r.status === 403 || r.status === 404) {
        revoked = true;
      }
      if (r.status === 200) {
        etag = r.headers.get("ETag") || etag;
        return r.text().then(function (html) {
          board.innerHTML = html;
        });
      }
    }).catch(function () {
      // The console is unreachable; judge() says so once it lasts.
    }).then(judge, judge);
  }

  judge();
  setInterval(poll, every);
})();
