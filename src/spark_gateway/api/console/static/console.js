// Spark Gateway console: auto-refresh of the applications table, the driver log's live tail and
// search, Kill, and the Submit form. Kill and Submit call the API itself with JSON bodies and the
// X-Requested-By header, so the API's own authorization and CSRF rules apply; the console adds no
// state-changing endpoint. No inline scripts anywhere: the gateway's CSP forbids them.
(function () {
  "use strict";

  const JSON_HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "X-Requested-By": "spark-gateway-console",
  };
  const BADGES = {
    NEW: "waiting", SUBMITTED: "waiting", PENDING_RERUN: "waiting",
    RUNNING: "running", SUCCEEDING: "running", FAILING: "running",
    COMPLETED: "ok", FAILED: "failed", SUBMISSION_FAILED: "failed",
  };

  async function callApi(method, url, payload, headers) {
    const response = await fetch(url, {
      method: method,
      headers: Object.assign({}, JSON_HEADERS, headers || {}),
      body: payload === undefined ? undefined : JSON.stringify(payload),
      credentials: "same-origin",
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { response: response, data: data };
  }

  function apiMessage(result) {
    const data = result.data;
    return (data && (data.msg || data.error)) || ("HTTP " + result.response.status);
  }

  function showNotice(element, text, kind) {
    element.textContent = text;
    element.className = "notice " + kind;
    element.hidden = false;
  }

  function setBadge(element, state) {
    if (!element) return;
    element.textContent = state;
    element.className = "badge " + (BADGES[state] || "other");
  }

  // Applications ---------------------------------------------------------------------------------

  function setupAutoRefresh() {
    const box = document.getElementById("auto-refresh");
    if (!box) return;
    window.setInterval(function () {
      const table = document.getElementById("applications");
      if (!box.checked || document.hidden || !table || table.dataset.firstPage !== "yes" || !window.htmx) return;
      window.htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#table", swap: "innerHTML" });
    }, 5000);
  }

  // Application ----------------------------------------------------------------------------------

  function updateTimeline(steps) {
    const items = document.querySelectorAll("#timeline li:not(.total)");
    (steps || []).forEach(function (step, i) {
      if (!items[i]) return;
      items[i].className = step.reached ? "reached" : "pending";
      items[i].querySelector("span").textContent = step.at;
    });
  }

  function setupLog() {
    const pre = document.getElementById("log");
    if (!pre) return;
    const status = document.getElementById("log-status");
    const search = document.getElementById("log-search");
    const matches = document.getElementById("log-matches");
    const stateBadge = document.getElementById("state");
    let next = 0;
    let polls = 0;

    function matchesSearch(line) {
      const needle = search.value.trim().toLowerCase();
      return !needle || line.textContent.toLowerCase().includes(needle);
    }

    function applySearch() {
      let shown = 0;
      for (const line of pre.children) {
        const visible = matchesSearch(line);
        line.hidden = !visible;
        if (visible) shown += 1;
      }
      matches.textContent = search.value.trim() ? shown + " matching line" + (shown === 1 ? "" : "s") : "";
    }

    function append(lines) {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
      const fragment = document.createDocumentFragment();
      for (const text of lines) {
        const line = document.createElement("div");
        line.className = "line";
        line.textContent = text;
        line.hidden = !matchesSearch(line);
        fragment.appendChild(line);
      }
      pre.appendChild(fragment);
      if (search.value.trim()) applySearch();
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }

    async function poll() {
      if (pre.dataset.stopped === "yes") return;
      let delay = 1500;
      try {
        const response = await fetch(pre.dataset.url + "?from=" + next, {
          headers: { "Accept": "application/json" }, credentials: "same-origin",
        });
        if (response.status === 404) {
          status.textContent = "(the application was removed)";
          return;
        }
        if (!response.ok) {
          status.textContent = "(log unavailable: HTTP " + response.status + "; retrying)";
        } else {
          const data = await response.json();
          append(data.lines);
          next = data.from + data.lines.length;
          pre.dataset.lines = String(next);
          polls += 1;
          const changed = stateBadge && stateBadge.textContent !== data.state;
          if (window.htmx && (changed || (polls % 10 === 0 && document.querySelector("#links .none")))) {
            // Links appear as the application gets going (the Spark UI once the driver serves it):
            // refresh that part of the page only.
            window.htmx.ajax("GET", window.location.pathname, { target: "#links", select: "#links", swap: "outerHTML" });
          }
          setBadge(stateBadge, data.state);
          updateTimeline(data.timeline);
          document.getElementById("duration").textContent = data.duration;
          if (data.done) {
            const kill = document.getElementById("kill");
            if (kill) kill.remove();  // finished: nothing left to kill
            status.textContent = "(" + data.total + " lines, finished)";
            pre.dataset.live = "no";
            return;
          }
          status.textContent = "(" + data.total + " lines, live)";
          pre.dataset.live = "yes";
          if (next < data.total) delay = 0;
        }
      } catch (e) {
        status.textContent = "(connection lost; retrying)";
      }
      window.setTimeout(poll, delay);
    }

    search.addEventListener("input", applySearch);
    poll();
  }

  function setupKill() {
    const button = document.getElementById("kill");
    if (!button) return;
    button.addEventListener("click", async function () {
      const name = button.dataset.name;
      if (!window.confirm("Kill " + name + "? It stops now and disappears from the lists.")) return;
      button.disabled = true;
      const notice = document.getElementById("notice");
      const result = await callApi("DELETE", button.dataset.url);
      if (result.response.ok) {
        showNotice(notice, "Killed " + name + ": it was stopped and removed from the lists.", "ok");
        // A session's page names its own badge and state (Livy's "killed"); it stops re-reading itself.
        setBadge(document.getElementById(button.dataset.badge || "state"), button.dataset.killedState || "FAILED");
        const live = document.getElementById("session-live");
        if (live) {
          const still = live.cloneNode(true);
          still.removeAttribute("hx-trigger");
          live.replaceWith(still);
        }
        document.getElementById("log").dataset.stopped = "yes";
        document.getElementById("log-status").textContent = "(stopped: the application was killed)";
        button.remove();
      } else {
        showNotice(notice, "Not killed: " + apiMessage(result), "bad");
        button.disabled = false;
      }
    });
  }

  // Submit ---------------------------------------------------------------------------------------

  function parseConf(text) {
    const conf = {};
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i += 1) {
      const line = lines[i].trim();
      if (!line) continue;
      const at = line.indexOf("=");
      if (at <= 0) throw new Error("Spark conf line " + (i + 1) + ": expected key=value, got '" + line + "'");
      conf[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return conf;
  }

  function setupSubmit() {
    const form = document.getElementById("submit-form");
    if (!form) return;
    const error = document.getElementById("submit-error");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      error.hidden = true;
      const field = function (name) { return form.elements[name].value.trim(); };
      const payload = {};
      try {
        if (field("file")) payload.file = field("file");
        if (field("className")) payload.className = field("className");
        const args = form.elements.args.value.split("\n").filter(function (a) { return a.trim() !== ""; });
        if (args.length) payload.args = args;
        const conf = parseConf(form.elements.conf.value);
        if (Object.keys(conf).length) payload.conf = conf;
        if (field("name")) payload.name = field("name");
      } catch (e) {
        showNotice(error, e.message, "bad");
        return;
      }
      const button = document.getElementById("submit-button");
      button.disabled = true;
      try {
        const result = await callApi("POST", form.dataset.url, payload, {
          "X-Spark-Gateway-Livy-Namespace": field("namespace"),
        });
        if (result.response.status === 201) {
          window.location.assign(document.body.dataset.base + "/applications/" + result.data.appInfo.GatewayId);
          return;
        }
        showNotice(error, apiMessage(result), "bad");
      } catch (e) {
        showNotice(error, "The gateway did not answer: " + e.message, "bad");
      }
      button.disabled = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupAutoRefresh();
    setupLog();
    setupKill();
    setupSubmit();
  });
})();
