// rdplic licensing manager: reads everything through the JSON API it is served with
// (rdplic/web/site.py) and follows the live feed (server-sent events).  Plain JavaScript,
// no library, no network beyond this origin.  Data goes into the page as text only.
"use strict";

const CSRF = document.querySelector('meta[name="rdplic-csrf"]').content;
const state = { licenses: [], sort: { key: "license_id", dir: 1 }, host: null, client: "" };

function $(selector) { return document.querySelector(selector); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key === "onclick") node.addEventListener("click", value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function when(text) { return text ? text.replace("T", " ").replace("Z", "") : ""; }

function say(text, ok) {
  const box = $("#message");
  box.textContent = text;
  box.className = ok ? "ok" : "error";
}

async function api(path, body) {
  const init = { headers: { "Accept": "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.headers["X-CSRF-Token"] = CSRF;
    init.body = JSON.stringify(body);
  }
  const response = await fetch("/api/" + path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function confirmAction(text) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
  });
}

async function act(question, path, body, done) {
  if (!(await confirmAction(question))) return;
  try {
    const result = await api(path, body);
    say(done(result), true);
  } catch (error) {
    say(error.message, false);
  }
  await refresh();
}

// -- key packs --------------------------------------------------------------------------

function renderKeyPacks(packs) {
  const box = $("#keypacks");
  box.replaceChildren();
  for (const pack of packs) {
    const bar = el("div", { class: "bar" + (pack.total === null ? " unlimited" : "") }, el("div"));
    const share = pack.total ? Math.min(100, (100 * pack.issued_count) / pack.total) : 100;
    bar.firstChild.style.width = share + "%";
    const numbers = pack.total === null
      ? `${pack.issued_count} issued (unlimited)`
      : `${pack.issued_count} / ${pack.total} issued, ${pack.available} available`;
    box.append(el("div", { class: "pack", "data-key-pack-id": pack.key_pack_id },
      el("span", {}, `#${pack.key_pack_id} ${pack.description} (${pack.program})`),
      bar,
      el("span", { class: "numbers" }, numbers)));
  }
  if (!packs.length) box.append(el("p", {}, "no key pack installed"));
}

// -- licenses ---------------------------------------------------------------------------

function filtered() {
  const status = $("#filter-status").value;
  const client = $("#filter-client").value.trim().toLowerCase();
  const user = $("#filter-user").value.trim().toLowerCase();
  const version = $("#filter-version").value;
  const { key, dir } = state.sort;
  return state.licenses
    .filter((l) => (!status || l.status === status)
      && (!client || l.client_name.toLowerCase().includes(client) || l.hwid.includes(client))
      && (!user || l.user_name.toLowerCase().includes(user))
      && (!version || l.version === version))
    .sort((a, b) => {
      const x = a[key] ?? "", y = b[key] ?? "";
      return (x < y ? -1 : x > y ? 1 : 0) * dir || (a.license_id - b.license_id);
    });
}

function renderLicenses() {
  const versions = [...new Set(state.licenses.map((l) => l.version))].sort();
  const select = $("#filter-version");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "all"),
    ...versions.map((v) => el("option", { value: v }, v)));
  select.value = versions.includes(chosen) ? chosen : "";
  for (const th of document.querySelectorAll("#licenses th[data-sort]")) {
    th.className = th.dataset.sort === state.sort.key
      ? (state.sort.dir > 0 ? "sorted-asc" : "sorted-desc") : "";
  }
  const rows = filtered().map((l) => {
    const actions = el("td");
    if (l.status === "active" && l.cal_type === "per-device") {
      actions.append(
        el("button", { class: "small revoke", onclick: () => revoke(l) }, "Revoke…"),
        " ",
        el("button", { class: "small transfer", onclick: () => transfer(l) }, "Transfer…"));
    }
    return el("tr", { "data-license-id": l.license_id },
      el("td", {}, l.license_id),
      el("td", { class: "status-" + l.status }, l.status),
      el("td", {}, el("a", { class: "client", onclick: () => showClient(l.client_name || l.hwid) },
        l.client_name || l.hwid.slice(0, 12))),
      el("td", {}, l.user_name),
      el("td", {}, l.version),
      el("td", {}, l.cal_type),
      el("td", { class: "when" }, when(l.issued)),
      el("td", { class: "when" }, when(l.expires)),
      actions);
  });
  $("#licenses tbody").replaceChildren(...rows);
  $("#licenses-count").textContent = `${rows.length} of ${state.licenses.length}`;
}

function revoke(l) {
  act(`Revoke license ${l.license_id} of ${l.client_name}? Its CAL goes back to its key pack (R51).`,
    `licenses/${l.license_id}/revoke`, {},
    (r) => `license ${l.license_id} revoked; ${r.revokable_cals} revocations left`);
}

function transfer(l) {
  const target = window.prompt(`Transfer license ${l.license_id} (KB 315262) to which machine?`, "");
  if (target === null) return;
  act(`Transfer license ${l.license_id} from ${l.client_name} to ${target || "another device"}? ` +
      "This can be done once per CAL (R54).",
    `licenses/${l.license_id}/transfer`, { to: target },
    (r) => `license ${l.license_id} transferred: reissued as key pack ${r.reissued_key_pack.key_pack_id}`);
}

// -- connections ------------------------------------------------------------------------

function renderConnections(data) {
  $("#conn-active").replaceChildren(...data.active.map((c) =>
    el("li", { "data-connection-id": c.connection_id },
      `#${c.connection_id} ${c.peer} ${c.client_name || ""} ${c.user_name || ""} (in flight)`)));
  $("#conn-recent tbody").replaceChildren(...data.recent.map((c) =>
    el("tr", { "data-connection-id": c.connection_id },
      el("td", {}, c.connection_id), el("td", { class: "when" }, when(c.time)),
      el("td", {}, c.peer), el("td", {}, c.security || ""),
      el("td", {}, c.client_name), el("td", {}, c.user_name),
      el("td", { class: "outcome-" + c.outcome }, c.outcome || ""),
      el("td", {}, c.license_id ?? ""), el("td", {}, c.duration_seconds ?? ""),
      el("td", {}, c.error || ""))));
}

// -- chart ------------------------------------------------------------------------------

function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderChart(data) {
  const chart = $("#chart");
  chart.replaceChildren();
  const points = data.points;
  if (!points.length) {
    chart.append(svg("text", { x: 20, y: 100 }, "no license issued yet"));
    return;
  }
  const W = 640, H = 200, left = 36, bottom = 24, top = 10;
  let total = 0;
  const totals = points.map((p) => (total += p.temporary_count + p.permanent_count));
  const most = Math.max(1, total);
  const step = (W - left - 10) / points.length;
  const y = (v) => H - bottom - ((H - bottom - top) * v) / most;
  chart.append(svg("line", { x1: left, y1: H - bottom, x2: W - 5, y2: H - bottom, stroke: "#8a94a0" }));
  chart.append(svg("text", { x: 4, y: top + 8 }, String(most)), svg("text", { x: 4, y: H - bottom }, "0"));
  let path = "";
  points.forEach((p, i) => {
    const x = left + i * step + step * 0.15, w = step * 0.7;
    const t = p.temporary_count, k = p.permanent_count;
    chart.append(svg("rect", { class: "permanent", x, width: w, y: y(k), height: H - bottom - y(k) },));
    chart.append(svg("rect", { class: "temporary", x, width: w, y: y(k + t), height: y(k) - y(k + t) }));
    path += `${i ? "L" : "M"}${x + w / 2},${y(totals[i])}`;
    chart.append(svg("circle", { class: "total", cx: x + w / 2, cy: y(totals[i]), r: 3 }));
    if (points.length <= 12 || i % Math.ceil(points.length / 12) === 0) {
      chart.append(svg("text", { x, y: H - 8 }, p.time.slice(5, 10)));
    }
  });
  chart.append(svg("path", { class: "total", d: path }));
}

// -- client -----------------------------------------------------------------------------

function showClient(client) {
  $("#explain-client").value = client;
  state.client = client;
  loadClient();
  $("#client-section").scrollIntoView();
}

function prediction(p) {
  const what = p.scenario === "presents-license"
    ? `presenting license ${p.presented_license_id}` : "asking for a new license";
  const license = p.license_id ? ` license ${p.license_id} (${p.temporary ? "temporary" : "permanent"})` : "";
  return el("li", { class: "outcome-" + p.outcome }, `${what}: ${p.outcome}${license}`,
    el("span", { class: "rule" }, p.rule), p.reason, p.error_code ? ` (${p.error_code})` : "");
}

async function loadClient() {
  const out = $("#explain-out");
  if (!state.client) return;
  let data;
  try {
    data = await api("explain?client=" + encodeURIComponent(state.client));
  } catch (error) {
    say(error.message, false);
    return;
  }
  const parts = [el("ul", { class: "facts" }, ...data.facts.map((f) => el("li", {}, f)))];
  if (!data.devices.length) {
    parts.push(el("p", {}, "No license or history for this client. Its first connection:"));
    if (data.first_contact) parts.push(el("ul", {}, prediction(data.first_contact)));
  }
  for (const d of data.devices) {
    parts.push(el("h3", {}, `device ${d.hwid} (${d.client_names.join(", ")})` +
      (d.platform ? `, ${d.platform}` : "")));
    parts.push(el("ol", { id: "timeline" }, ...d.history.map((e) =>
      el("li", { "data-event": e.event },
        el("span", { class: "when" }, when(e.time)), " ", el("strong", {}, e.event),
        e.license_id ? ` license ${e.license_id}` : "",
        e.rule ? el("span", { class: "rule" }, e.rule) : " ", e.detail))));
    parts.push(el("h3", {}, "Next connection"), el("ul", { class: "next" }, ...d.next.map(prediction)));
    for (const note of d.notes) parts.push(el("p", { class: "note" }, note));
    if (d.remedies.length) {
      parts.push(el("h3", {}, "What would change the answer"),
        el("ul", { class: "remedies" }, ...d.remedies.map((r) => el("li", {}, r))));
    }
  }
  if (data.remedies && data.remedies.length) {
    parts.push(el("ul", { class: "remedies" }, ...data.remedies.map((r) => el("li", {}, r))));
  }
  out.replaceChildren(...parts);
}

// -- host -------------------------------------------------------------------------------

function renderHost(host) {
  state.host = host;
  const days = Math.round(host.offset_seconds / 86400 * 10) / 10;
  $("#clock").textContent = `server time ${when(host.now)} UTC (offset ${days} days)`;
  const rows = [["server time", when(host.now) + " UTC"], ["clock offset", `${host.offset_seconds} s`],
    ["grace period ends", host.grace_ends ? when(host.grace_ends) : "not started"],
    ["CAL version asked for", `${host.version} (${host.product_version})`],
    ...Object.entries(host.settings)];
  $("#host tbody").replaceChildren(...rows.map(([k, v]) =>
    el("tr", { "data-key": k }, el("th", {}, k), el("td", {}, v))));
  const select = $("#config-key");
  if (!select.options.length) {
    select.append(...Object.keys(host.settings).map((k) => el("option", { value: k }, k)));
  }
}

// -- loading and the live feed ----------------------------------------------------------

async function refresh() {
  try {
    const [packs, licenses, connections, chart, host] = await Promise.all([
      api("key-packs"), api("licenses"), api("connections"), api("chart"), api("host")]);
    renderKeyPacks(packs);
    state.licenses = licenses;
    renderLicenses();
    renderConnections(connections);
    renderChart(chart);
    renderHost(host);
    if (state.client) await loadClient();
    document.body.dataset.loaded = String(Date.now());
  } catch (error) {
    say(error.message, false);
  }
}

let pending = null;
function refreshSoon() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh(); }, 150);
}

let connectionsPending = null;
function connectionsSoon() {
  if (connectionsPending) return;
  connectionsPending = setTimeout(async () => {
    connectionsPending = null;
    try { renderConnections(await api("connections")); } catch (error) { say(error.message, false); }
  }, 100);
}

function follow() {
  const feed = new EventSource("/api/events");
  const live = $("#live");
  feed.addEventListener("open", () => { live.textContent = "live"; live.className = "on"; });
  feed.addEventListener("error", () => { live.textContent = "live feed: reconnecting"; live.className = "off"; });
  feed.addEventListener("connection", connectionsSoon);
  feed.addEventListener("changed", refreshSoon);
}

function wire() {
  for (const th of document.querySelectorAll("#licenses th[data-sort]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      renderLicenses();
    });
  }
  for (const id of ["#filter-status", "#filter-version"]) $(id).addEventListener("change", renderLicenses);
  for (const id of ["#filter-client", "#filter-user"]) $(id).addEventListener("input", renderLicenses);
  $("#form-keypack").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { cal_type: $("#kp-type").value, count: $("#kp-count").value,
      version: $("#kp-version").value.trim(), program: $("#kp-program").value };
    act(`Install ${body.count} ${body.cal_type} CALs (${body.program})?`, "key-packs", body,
      (p) => `installed key pack ${p.key_pack_id}: ${p.total} ${p.cal_type} CALs for ${p.product_version}`);
  });
  $("#form-explain").addEventListener("submit", (event) => {
    event.preventDefault();
    state.client = $("#explain-client").value.trim();
    loadClient();
  });
  $("#form-clock").addEventListener("submit", (event) => {
    event.preventDefault();
    const by = $("#clock-advance").value.trim();
    act(`Advance the license server's clock by ${by}?`, "clock", { advance: by },
      (h) => `server time is now ${when(h.now)} UTC`);
  });
  $("#clock-reset").addEventListener("click", () =>
    act("Reset the license server's clock to real time?", "clock", { reset: true },
      (h) => `server time is now ${when(h.now)} UTC`));
  $("#form-config").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("#config-key").value, value = $("#config-value").value.trim();
    act(`Set ${key} to ${value}?`, "config", { key, value }, () => `${key} = ${value}`);
  });
}

wire();
refresh();
follow();
