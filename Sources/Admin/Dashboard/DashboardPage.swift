/// The dashboard: one page, no external assets (no font, script or style from elsewhere; it works offline and
/// under `default-src 'self'`). It polls `/api/status` every 2 s and renders the process's header, services
/// with their issues, endpoints and health, routes, and request and 5xx rates computed from two consecutive
/// readings of the counters. Everything shown comes from labels, i.e. user input: it is set with
/// `textContent`, never as HTML. With a token, open `/dashboard#token=…`: the fragment never reaches a server,
/// and the page sends it as `Authorization: Bearer` on its own requests only. Elements carry stable `data-*`
/// attributes (`data-service`, `data-state`, `data-issue-key`, `data-generation`) for tests and scripts.
enum DashboardPage {
    static let html = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Pier</title>
    <style>
    :root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --ok: #12805c; --bad: #c4320a; --warn: #b54708; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
    header { display: flex; flex-wrap: wrap; gap: 4px 24px; align-items: baseline; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
    header h1 { margin: 0 12px 0 0; font-size: 18px; }
    header span { color: var(--muted); }
    header b { color: var(--fg); font-weight: 600; }
    main { padding: 16px 24px 40px; display: grid; gap: 20px; }
    section { background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow: auto; }
    h2 { font-size: 14px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: 7px 14px; border-bottom: 1px solid var(--line); vertical-align: top; }
    th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
    tr:last-child td { border-bottom: 0; }
    .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef0f3; }
    .badge.routed, .badge.ready { background: #e3f5ec; color: var(--ok); }
    .badge.rejected, .badge.not-ready { background: #fde9e3; color: var(--bad); }
    .badge.inactive, .badge.other_cluster { background: #fdf1e1; color: var(--warn); }
    tr.has-error td { background: #fff6f3; }
    .issue { color: var(--bad); margin: 2px 0; }
    .issue.warning { color: var(--warn); }
    .issue code { font-family: ui-monospace, monospace; font-size: 12px; }
    .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 5px; background: #98a2b3; }
    .dot.up { background: var(--ok); } .dot.down { background: var(--bad); }
    .ep { white-space: nowrap; margin-right: 12px; font-family: ui-monospace, monospace; font-size: 12px; }
    .num { text-align: right; font-variant-numeric: tabular-nums; }
    .muted { color: var(--muted); }
    #problem { display: none; margin: 16px 24px 0; padding: 10px 14px; border-radius: 8px; background: #fde9e3; color: var(--bad); }
    </style>
    </head>
    <body>
    <header id="header" data-generation="">
      <h1>Pier</h1>
      <span>role <b id="role">…</b></span>
      <span id="ready" class="badge">…</span>
      <span>generation <b id="generation">–</b></span>
      <span>last reload <b id="reloaded">–</b></span>
      <span>compile <b id="compile">–</b></span>
      <span>requests <b id="rate">–</b></span>
      <span>5xx <b id="errors">–</b></span>
      <span class="muted" id="version"></span>
    </header>
    <div id="problem"></div>
    <main>
      <section>
        <h2>Services <span class="muted" id="service-count"></span></h2>
        <table><thead><tr><th>Service</th><th>State</th><th>Routes</th><th>Endpoints</th><th>Issues</th></tr></thead>
        <tbody id="services"></tbody></table>
      </section>
      <section>
        <h2>Routes</h2>
        <table><thead><tr><th>Route</th><th>Entrypoints</th><th>Action</th><th class="num">req/s</th><th class="num">5xx/s</th></tr></thead>
        <tbody id="routes"></tbody></table>
      </section>
      <section id="failures-section">
        <h2>Failures</h2>
        <table><thead><tr><th>Side</th><th>Cause</th><th class="num">count</th></tr></thead>
        <tbody id="failures"></tbody></table>
      </section>
      <section id="global-issues-section">
        <h2>Configuration issues</h2>
        <table><tbody id="global-issues"></tbody></table>
      </section>
    </main>
    <script>
    "use strict";
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    const interval = Number(new URLSearchParams(location.search).get("interval")) || 2000;
    let previous = null;

    function el(tag, attributes, ...children) {
      const node = document.createElement(tag);
      for (const [key, value] of Object.entries(attributes || {})) {
        if (key === "class") node.className = value; else node.setAttribute(key, value);
      }
      for (const child of children) {
        if (child === null || child === undefined) continue;
        node.append(typeof child === "string" ? document.createTextNode(child) : child);
      }
      return node;
    }
    function fill(id, rows) { const body = document.getElementById(id); body.replaceChildren(...rows); }
    function text(id, value) { document.getElementById(id).textContent = value; }
    function rate(n) { return n === null ? "–" : (n < 10 ? n.toFixed(2) : n.toFixed(0)) + "/s"; }

    function issueLine(issue) {
      const subject = issue.key ? issue.key + (issue.value !== null && issue.value !== undefined ? "=\\"" + issue.value + "\\"" : "") + ": " : "";
      return el("div", { class: "issue " + issue.severity, "data-issue-key": issue.key || "", "data-severity": issue.severity },
                el("code", {}, subject), issue.reason);
    }

    function rates(status, now) {
      const traffic = status.traffic;
      const result = { total: null, errors: null, routes: {} };
      if (!traffic) { previous = null; return result; }
      if (previous && now > previous.at) {
        const seconds = (now - previous.at) / 1000;
        result.total = Math.max(0, traffic.requests - previous.traffic.requests) / seconds;
        result.errors = Math.max(0, traffic.errors - previous.traffic.errors) / seconds;
        for (const route of traffic.routes) {
          const before = previous.traffic.routes.find(r => r.route === route.route);
          result.routes[route.route] = {
            requests: Math.max(0, route.requests - (before ? before.requests : 0)) / seconds,
            errors: Math.max(0, route.errors - (before ? before.errors : 0)) / seconds,
          };
        }
      }
      previous = { at: now, traffic };
      return result;
    }

    function render(status) {
      const now = Date.now();
      const header = document.getElementById("header");
      header.setAttribute("data-generation", status.generation === null || status.generation === undefined ? "" : String(status.generation));
      text("role", status.role + (status.name ? " " + status.name : ""));
      const ready = document.getElementById("ready");
      ready.textContent = status.ready ? "ready" : "not ready: " + status.notReady;
      ready.className = "badge " + (status.ready ? "ready" : "not-ready");
      text("generation", status.generation === null || status.generation === undefined ? "–" : String(status.generation));
      text("reloaded", status.publishedAt ? new Date(status.publishedAt * 1000).toLocaleString() : "–");
      text("compile", status.compileMs === null || status.compileMs === undefined ? "–" : status.compileMs.toFixed(2) + " ms");
      text("version", status.pier + (status.version ? " · snapshot " + status.version.slice(0, 12) : ""));
      const r = rates(status, now);
      text("rate", status.traffic ? rate(r.total) : "not counted");
      text("errors", status.traffic ? rate(r.errors) : "–");

      const broken = status.services.filter(s => s.issues.some(i => i.severity === "error")).length;
      text("service-count", status.services.length + " · " + broken + " with errors");
      const order = { rejected: 0, inactive: 1, other_cluster: 2, routed: 3, ignored: 4 };
      const services = [...status.services].sort((a, b) => (order[a.state] - order[b.state]) || a.name.localeCompare(b.name));
      fill("services", services.map(service => el("tr",
        { "data-service": service.name, "data-state": service.state, class: service.issues.some(i => i.severity === "error") ? "has-error" : "" },
        el("td", {}, el("b", {}, service.name)),
        el("td", {}, el("span", { class: "badge " + service.state }, service.state.replace("_", " ")),
           service.reason ? el("div", { class: "muted" }, service.reason) : null),
        el("td", {}, ...service.routes.map(route => el("div", {}, route))),
        el("td", {}, ...service.endpoints.map(endpoint => el("span", { class: "ep", "data-endpoint": endpoint.address,
            "data-healthy": endpoint.healthy === null || endpoint.healthy === undefined ? "unknown" : String(endpoint.healthy) },
          el("span", { class: "dot " + (endpoint.healthy === false ? "down" : endpoint.healthy === true ? "up" : "") }), endpoint.address)),
          service.endpoints.length === 0 && service.state === "routed" ? el("span", { class: "issue" }, "no endpoints: 503") : null),
        el("td", {}, ...service.issues.map(issueLine)))));

      fill("routes", status.routes.map(route => {
        const action = route.action === "proxy" ? "→ " + route.services.join(", ") + (route.stripContextRoot ? " (strip " + route.contextRoot + ")" : "")
          : route.action === "redirect" ? "redirect " + route.redirect : "redirect to https";
        const routeRate = r.routes[route.route];
        return el("tr", { "data-route": route.route },
          el("td", {}, route.route), el("td", {}, route.schemes.join(", ")), el("td", {}, action),
          el("td", { class: "num" }, routeRate ? rate(routeRate.requests) : "–"),
          el("td", { class: "num" }, routeRate ? rate(routeRate.errors) : "–"));
      }));

      const failures = status.traffic ? status.traffic.failures : [];
      document.getElementById("failures-section").style.display = failures.length ? "" : "none";
      fill("failures", failures.map(f => el("tr", { "data-failure": f.kind },
        el("td", {}, f.side), el("td", {}, f.summary), el("td", { class: "num" }, String(f.count)))));
      const global = status.issues.filter(i => !i.service);
      document.getElementById("global-issues-section").style.display = global.length ? "" : "none";
      fill("global-issues", global.map(issue => el("tr", {}, el("td", {}, issueLine(issue)))));
    }

    function problem(message) {
      const box = document.getElementById("problem");
      box.textContent = message || "";
      box.style.display = message ? "block" : "none";
    }

    async function poll() {
      try {
        const response = await fetch("/api/status", { headers: token ? { "Authorization": "Bearer " + token } : {}, cache: "no-store" });
        if (response.status === 401) {
          problem("This admin entrypoint wants a token: open /dashboard#token=<token>.");
        } else if (!response.ok) {
          problem("/api/status answered " + response.status);
        } else {
          render(await response.json());
          problem(null);
        }
      } catch (error) {
        problem("Pier does not answer: " + error);
      }
      setTimeout(poll, interval);
    }
    poll();
    </script>
    </body>
    </html>
    """
}
