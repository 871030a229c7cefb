"use strict";
// peercall's web interface: state from /api/state, live updates from the
// node's event stream (/api/events), actions as JSON POSTs with the
// session's CSRF token.
(() => {
  let csrf = "";
  let current = null; // the call shown: {id, peer, state, connectedAt}
  let timer = null;
  const relayKbps = []; // the relayed kbit/s of the latest samples (every 5 s)
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  };
  const notice = (msg) => { $("notice").textContent = msg; };

  async function post(path, body) {
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }
  window.peercallUI = { post, el, notice, button: (...a) => button(...a) }; // for chat.js
  const act = (path, body, done) => post(path, body).then((d) => { if (done) done(d); }).catch((e) => notice(e.message));

  function button(label, text, onclick, data) {
    const b = el("button", { type: "button", "aria-label": label, text, onclick });
    for (const [k, v] of Object.entries(data || {})) b.dataset[k] = v;
    return b;
  }

  function renderContacts(list) {
    const cl = $("contact-list"), rl = $("request-list");
    cl.replaceChildren(); rl.replaceChildren();
    for (const c of list) {
      const li = el("li", { "data-user": c.username, "data-state": c.state });
      li.append(el("span", { class: "name", text: c.username }));
      if (c.state === "accepted") {
        li.append(el("span", { class: "status " + c.status, text: c.status }));
        if (c.mood) li.append(el("span", { class: "mood", text: c.mood }));
        li.append(button("Call " + c.username, "Call", () => startCall(c.username), { call: c.username }));
        li.append(button("Chat with " + c.username, "Chat", () => window.peercallChat.open(c.username), { chat: c.username }));
        li.append(button("Remove " + c.username, "Remove", () => act("/api/contacts", { action: "remove", name: c.username }), { remove: c.username }));
        li.append(button("Block " + c.username, "Block", () => act("/api/contacts", { action: "block", name: c.username })));
        cl.append(li);
      } else if (c.state === "incoming") {
        li.append(el("span", { class: "note", text: c.note ? "“" + c.note + "”" : "wants to add you" }));
        li.append(button("Accept " + c.username, "Accept", () => act("/api/contacts", { action: "accept", name: c.username }), { accept: c.username }));
        li.append(button("Decline " + c.username, "Decline", () => act("/api/contacts", { action: "decline", name: c.username }), { decline: c.username }));
        li.append(button("Block " + c.username, "Block", () => act("/api/contacts", { action: "block", name: c.username })));
        rl.append(li);
      } else if (c.state === "outgoing") {
        li.append(el("span", { class: "note", text: c.queued ? "request waiting until they come online" : "request sent, no answer yet" }));
        li.append(button("Withdraw the request to " + c.username, "Withdraw", () => act("/api/contacts", { action: "remove", name: c.username })));
        rl.append(li);
      } else if (c.state === "blocked") {
        li.append(el("span", { class: "note", text: "blocked" }));
        li.append(button("Unblock " + c.username, "Unblock", () => act("/api/contacts", { action: "remove", name: c.username })));
        rl.append(li);
      }
    }
    if (!cl.children.length) cl.append(el("li", { text: "No contacts yet: search for someone below and send a request." }));
  }

  function renderHistory(list) {
    const hl = $("history-list");
    hl.replaceChildren();
    for (const h of list) {
      const when = new Date(h.started).toLocaleString();
      const what = h.connected ? `${Math.round(h.duration_s)} s, ${h.route || "?"}` : (h.end || "not connected");
      hl.append(el("li", { "data-call-id": h.call_id, "data-peer": h.peer, text: `${when} — ${h.direction} ${h.peer}: ${what}` }));
    }
    if (!list.length) hl.append(el("li", { text: "No calls yet." }));
  }

  function renderStatus(st, self) {
    $("me").textContent = st.username ? "— " + st.username : "";
    if (self && self.status) {
      $("me").textContent += " (" + self.status + ")";
      if (document.activeElement !== $("presence")) $("presence").value = self.status === "away" ? "away" : self.status;
      if (document.activeElement !== $("mood")) $("mood").value = self.mood || "";
    }
    $("set-role").textContent = `${st.role} (${st.role_reason})`;
    const r = st.relay || {};
    const lim = r.limits || {};
    $("set-relay").textContent = `${r.sessions || 0} sessions, ${Math.round(r.kbps || 0)} kbit/s now` +
      (lim.max_sessions !== undefined ? ` (caps: ${lim.max_sessions} sessions, ${lim.max_kbps} kbit/s)` : "");
    relayKbps.push(r.kbps || 0);
    if (relayKbps.length > 60) relayKbps.shift();
    const top = Math.max(1, ...relayKbps), bars = "▁▂▃▄▅▆▇█";
    $("set-relay-graph").textContent = relayKbps.map((k) => bars[Math.min(7, Math.floor(8 * k / top))]).join("") +
      ` (last ${relayKbps.length} samples, peak ${Math.round(Math.max(...relayKbps))} kbit/s)`;
    $("set-reach").textContent = st.reachability;
    $("set-addrs").textContent = (st.addrs || []).join("\n");
    $("acct-user").textContent = st.username;
    $("acct-peer").textContent = st.peer_id;
    $("acct-presence").textContent = st.presence;
    $("acct-expires").textContent = st.certificate_expires ? new Date(st.certificate_expires).toLocaleString() : "unknown";
    for (const c of st.calls || []) {
      if (current && c.call_id === current.id) showCallInfo(c);
    }
  }

  async function load() {
    const r = await fetch("/api/state", { credentials: "same-origin" });
    if (!r.ok) { notice("Session ended: run `peercall ui` and open the link it prints."); return; }
    const s = await r.json();
    csrf = s.csrf;
    renderContacts(s.contacts);
    renderHistory(s.history);
    renderStatus(s.status, s.self);
  }

  function fmtTime(sec) { return Math.floor(sec / 60) + ":" + String(Math.floor(sec % 60)).padStart(2, "0"); }

  function showCallInfo(info) {
    $("call-peer").textContent = info.peer;
    if (info.route) $("call-route").textContent = info.route;
    if (info.sas) $("call-sas").textContent = info.sas;
    if (info.mos) $("call-mos").textContent = info.mos.toFixed(2);
    const q = info.quality;
    if (q && q.loss !== undefined) $("call-loss").textContent = `${(100 * q.loss).toFixed(1)} % / ${(q.jitter_ms || 0).toFixed(0)} ms`;
    showAudio(info);
  }

  // showAudio shows a call's mute and hold, both sides, and sets the
  // buttons to what a click would do.
  function showAudio(info) {
    if (info.state !== "active") return;
    if (current) { current.muted = !!info.muted; current.held = !!info.held; }
    $("call-audio").textContent = info.audio || "flowing";
    $("mute-btn").textContent = info.muted ? "Unmute" : "Mute";
    $("mute-btn").setAttribute("aria-pressed", info.muted ? "true" : "false");
    $("hold-btn").textContent = info.held ? "Resume" : "Hold";
    $("hold-btn").setAttribute("aria-pressed", info.held ? "true" : "false");
  }

  function media(action) {
    act("/api/media", { call_id: current ? current.id : "", action }, (d) => { if (d.call) showAudio(d.call); });
  }

  function onCall(ev) {
    const d = ev.data;
    if (d.kind === "failed") {
      notice(`Call to ${d.peer} failed: ${d.error}`);
      hideCall();
      return;
    }
    const info = d.call;
    switch (d.kind) {
      case "incoming":
        current = { id: info.call_id, peer: info.peer, state: "ringing" };
        $("incoming-peer").textContent = info.peer;
        $("incoming").hidden = false;
        $("answer-btn").focus();
        break;
      case "ringing":
        current = { id: info.call_id, peer: info.peer, state: "ringing" };
        $("call").hidden = false;
        $("call-state").textContent = "ringing";
        showCallInfo(info);
        break;
      case "connected":
        current = { id: info.call_id, peer: info.peer, state: "connected", connectedAt: Date.now() };
        $("incoming").hidden = true;
        $("call").hidden = false;
        $("call-state").textContent = "connected";
        showCallInfo(info);
        clearInterval(timer);
        timer = setInterval(() => {
          $("call-timer").textContent = fmtTime((Date.now() - current.connectedAt) / 1000);
          load();
        }, 1000);
        $("hangup-btn").focus();
        break;
      case "media":
        if (current && current.id === info.call_id) showCallInfo(info);
        break;
      case "ended":
        if (current && current.id === info.call_id) hideCall();
        if (d.result) notice(`Call with ${info.peer} ended: ${d.result.end}${d.result.detail ? " (" + d.result.detail + ")" : ""}`);
        load();
        break;
    }
  }

  function hideCall() {
    current = null;
    clearInterval(timer);
    $("incoming").hidden = true;
    $("call").hidden = true;
    for (const id of ["call-route", "call-mos", "call-loss", "call-sas", "call-audio"]) $(id).textContent = "—";
    $("mute-btn").textContent = "Mute"; $("hold-btn").textContent = "Hold";
    $("call-timer").textContent = "0:00";
  }

  function startCall(name) {
    notice("");
    current = { id: "", peer: name, state: "calling" };
    $("call-peer").textContent = name;
    $("call-state").textContent = "calling";
    $("call").hidden = false;
    act("/api/call", { name });
  }

  function listen() {
    const es = new EventSource("/api/events");
    es.addEventListener("call", (m) => onCall(JSON.parse(m.data)));
    es.addEventListener("presence", () => load());
    es.addEventListener("contacts", () => load());
    es.addEventListener("chat", (m) => window.peercallChat.onEvent(JSON.parse(m.data)));
    es.addEventListener("reload", () => load());
    es.addEventListener("audio", (m) => {
      const a = JSON.parse(m.data).data;
      if (a.error) { notice(`Audio test on ${a.device}: ${a.error}`); return; }
      if (a.what === "meter") {
        $("level").value = Math.max(-60, a.dbfs);
        $("level-text").textContent = a.running ? `${a.dbfs.toFixed(1)} dBFS` : `${$("level-text").textContent} (done)`;
      } else {
        notice(a.running ? `Playing a 440 Hz tone on ${a.device}…` : `Test tone on ${a.device} done.`);
      }
    });
    es.onerror = () => { /* EventSource reconnects; reload on open */ };
    es.onopen = () => { load(); window.peercallChat.load(); };
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("answer-btn").addEventListener("click", () => act("/api/answer", { call_id: current ? current.id : "" }));
    $("reject-btn").addEventListener("click", () => act("/api/reject", { call_id: current ? current.id : "" }, hideCall));
    $("hangup-btn").addEventListener("click", () => act("/api/hangup", { call_id: current ? current.id : "" }));
    $("mute-btn").addEventListener("click", () => media(current && current.muted ? "unmute" : "mute"));
    $("hold-btn").addEventListener("click", () => media(current && current.held ? "resume" : "hold"));
    $("add-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const name = $("add-name").value.trim();
      act("/api/contacts", { action: "add", name, message: $("add-message").value }, (d) => {
        notice(d.delivered ? `Request sent to ${name}.` : `${name} is offline: the request is sent when they come online.`);
        $("add-name").value = ""; $("add-message").value = "";
        load();
      });
    });
    $("search-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const r = await fetch("/api/search?q=" + encodeURIComponent($("search").value), { credentials: "same-origin" });
      const d = await r.json();
      const ul = $("search-results");
      ul.replaceChildren();
      if (!r.ok) { notice(d.error); return; }
      for (const u of d.users) {
        ul.append(el("li", {}, el("span", { text: u }),
          button("Add " + u, "Add", () => { $("add-name").value = u; $("add-message").focus(); })));
      }
      if (!d.users.length) ul.append(el("li", { text: "Nobody by that name." }));
    });
    $("meter-btn").addEventListener("click", () => act("/api/audio", { what: "meter", device: $("audio-device").value.trim() }));
    $("tone-btn").addEventListener("click", () => act("/api/audio", { what: "tone", device: $("audio-device").value.trim() }));
    $("presence-form").addEventListener("submit", (e) => {
      e.preventDefault();
      act("/api/presence", { status: $("presence").value, mood: $("mood").value }, load);
    });
    load().then(listen);
    setInterval(() => { if (!current) load(); }, 5000);
  });
})();
