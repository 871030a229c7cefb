"use strict";
// The chat pane: conversations, the open one's messages with their
// delivered/read receipts, typing notices both ways. State from
// /api/chat, live updates from the node's "chat" events (app.js passes
// them on), actions as POSTs to /api/chat.
(() => {
  const $ = (id) => document.getElementById(id);
  let peer = ""; // the open conversation
  let typingTimer = null;
  let lastTyping = 0;
  const TYPING_EVERY = 3000, TYPING_SHOWS = 5000; // chat.TypingEvery, chat.TypingShows

  const ui = () => window.peercallUI;
  const stateText = (m) => m.dir === "out" ? ({ queued: "queued", delivered: "delivered ✓", read: "read ✓✓", refused: "refused", expired: "expired" }[m.state] || m.state) : "";

  function messageItem(m) {
    const { el } = ui();
    const li = el("li", { "data-id": m.id, "data-dir": m.dir, "data-seq": String(m.seq), "data-state": m.state, class: "msg " + m.dir });
    const when = new Date(m.sent).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const text = m.kind === "voice" ? `voice message, ${(m.duration_ms / 1000).toFixed(1)} s (peercall play ${m.local})` : m.text;
    li.append(el("span", { class: "who", text: m.dir === "out" ? "you" : m.peer }), el("span", { class: "when", text: when }),
      el("span", { class: "text", text }), el("span", { class: "state", text: stateText(m) }));
    if (m.reason) li.append(el("span", { class: "reason", text: m.reason }));
    return li;
  }

  function upsert(m) {
    const ol = $("chat-messages");
    const old = ol.querySelector(`li[data-id="${m.id}"][data-dir="${m.dir}"]`);
    if (old) old.replaceWith(messageItem(m)); else ol.append(messageItem(m));
    ol.scrollTop = ol.scrollHeight;
  }

  async function get(path) {
    const r = await fetch(path, { credentials: "same-origin" });
    const d = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(d.error || r.statusText);
    return d;
  }

  async function loadConversations() {
    const d = await get("/api/chat").catch((e) => { ui().notice(e.message); return null; });
    if (!d) return;
    $("chat-rule").textContent = d.enabled ? "" : "Chat is off: " + d.rule;
    const ul = $("conversation-list");
    ul.replaceChildren();
    for (const c of d.conversations || []) {
      const li = ui().el("li", { "data-peer": c.peer },
        ui().button("Open the conversation with " + c.peer, c.peer, () => open(c.peer), { open: c.peer }));
      if (c.unread) li.append(ui().el("span", { class: "unread", text: `${c.unread} unread` }));
      ul.append(li);
    }
    if (!ul.children.length) ul.append(ui().el("li", { text: "No conversations yet." }));
  }

  async function open(name) {
    peer = name;
    $("chat-peer").textContent = name;
    $("chat-typing").textContent = "";
    $("conversation").hidden = false;
    const d = await get("/api/chat?peer=" + encodeURIComponent(name)).catch((e) => { ui().notice(e.message); return null; });
    if (!d || peer !== name) return;
    $("chat-messages").replaceChildren(...(d.messages || []).map(messageItem));
    markRead();
    $("chat-text").focus();
    location.hash = "#chat";
  }

  function markRead() {
    if (!peer || document.hidden) return;
    if (!document.querySelector('#chat-messages li[data-dir="in"][data-state="unread"]')) return;
    ui().post("/api/chat", { action: "read", name: peer }).then(loadConversations).catch(() => {});
    for (const li of document.querySelectorAll('#chat-messages li[data-dir="in"][data-state="unread"]')) li.dataset.state = "read";
  }

  function onEvent(ev) {
    const d = ev.data;
    switch (d.what) {
      case "message":
        if (d.peer === peer) {
          upsert(d.message);
          $("chat-typing").textContent = "";
          markRead();
        } else {
          ui().notice(`New message from ${d.peer}.`);
        }
        loadConversations();
        break;
      case "sent": case "delivered": case "refused": case "expired":
        if (d.peer === peer && d.message) upsert(d.message);
        if (d.what === "sent") loadConversations();
        break;
      case "read":
        if (d.peer !== peer) break;
        for (const li of document.querySelectorAll('#chat-messages li[data-dir="out"]')) {
          if (Number(li.dataset.seq) <= d.up_to && (li.dataset.state === "delivered" || li.dataset.state === "queued")) {
            li.dataset.state = "read";
            li.querySelector(".state").textContent = stateText({ dir: "out", state: "read" });
          }
        }
        break;
      case "typing":
        if (d.peer !== peer) break;
        $("chat-typing").textContent = `${d.peer} is typing…`;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => { $("chat-typing").textContent = ""; }, TYPING_SHOWS);
        break;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("chat-open-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const name = $("chat-with").value.trim();
      if (name) open(name);
    });
    $("chat-text").addEventListener("input", () => {
      if (!peer || !$("chat-text").value || Date.now() - lastTyping < TYPING_EVERY) return;
      lastTyping = Date.now();
      ui().post("/api/chat", { action: "typing", name: peer }).catch(() => {});
    });
    $("chat-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = $("chat-text").value;
      if (!peer || !text.trim()) return;
      ui().post("/api/chat", { action: "send", name: peer, message: text }).then((r) => {
        $("chat-text").value = "";
        lastTyping = 0;
        upsert(r.message);
        if (!r.delivered && r.message.state === "queued") ui().notice(`${peer} is offline: the message is delivered when their node is online.`);
      }).catch((err) => ui().notice(err.message));
    });
    document.addEventListener("visibilitychange", markRead);
  });

  window.peercallChat = { open, onEvent, load: loadConversations };
})();
