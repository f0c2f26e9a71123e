// The chat page: one websocket (protocol v1, docs/protocol.md), the thread on
// screen, the composer and the sidebar. Data comes from the json_script "boot".
import { keepOpen, socketUrl } from "./socket.js";
import { setupContextNote } from "./context.js";
import { setupModelPicker } from "./models.js";
import { refreshAllowance, showAllowance } from "./allowance.js";
import { activePath, createMessageView, isRunning, updateMessageView } from "./thread.js";

const SNAPSHOT_WAIT_MS = 1500;
// The server closed this tab's socket for good: past MAX_SOCKETS_PER_PERSON (docs/protocol.md).
const TOO_MANY_SOCKETS = 4429;
const boot = JSON.parse(document.getElementById("boot").textContent);
const byId = (id) => document.getElementById(id);
const ui = {
  messages: byId("messages"),
  status: byId("status"),
  composer: byId("composer"),
  text: byId("message"),
  send: byId("send"),
  stop: byId("stop"),
  list: byId("conversation-list"),
};

const chat = {
  id: boot.conversation?.id ?? null,
  seq: 0, // the last seq applied for this conversation
  messages: new Map(), // id -> message as the server described it, plus applied deltas
  views: new Map(), // id -> <article> on screen
  catchUp: null, // after conversation.open: {message, frames, timer} until turn.snapshot
  pending: null, // our turn.start not yet acknowledged: {clientId, frame, text}
  stopping: null, // id of the reply we asked to stop
  earlier: null, // id of the oldest message loaded, when older ones are left to ask for
  asking: false, // a conversation.history request is on its way
  assembling: new Map(), // id -> a long message's text arriving in message.piece frames
  resumable: false, // what is shown came by this page's socket, so a reconnect asks only what changed
  ended: null, // why the server closed the socket for good (it is not reopened)
};

// ----- status line ------------------------------------------------------------------

let statusIsConnection = false;
function setStatus(text, { connection = false } = {}) {
  ui.status.textContent = text;
  statusIsConnection = connection && text !== "";
}

// ----- drawing ----------------------------------------------------------------------

const nearBottom = () => ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 120;
const scrollToBottom = () => { ui.messages.scrollTop = ui.messages.scrollHeight; };

function runningId() {
  for (const message of chat.messages.values()) if (isRunning(message)) return message.id;
  return null;
}

let contextNote = () => {}; // set up with the composer, below

function refreshControls() {
  const running = runningId();
  ui.send.disabled = chat.ended !== null || chat.pending !== null || running !== null;
  ui.stop.disabled = running === null || chat.stopping === running;
  contextNote(); // whatever changed the thread or the composer may change what fits
}

const earlierButton = document.createElement("button");
earlierButton.type = "button";
earlierButton.className = "load-earlier";
earlierButton.textContent = "Load earlier messages";
earlierButton.addEventListener("click", () => askEarlier());

/** Lay out the whole branch again (new messages, a retry that replaces a failed reply). */
function drawThread() {
  const stick = nearBottom();
  const fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
  const views = new Map();
  for (const message of activePath(chat.messages)) {
    let view = chat.views.get(message.id);
    if (view) updateMessageView(view, message);
    else view = createMessageView(message, { onRetry: retry });
    views.set(message.id, view);
  }
  chat.views = views;
  ui.messages.replaceChildren(...(chat.earlier !== null ? [earlierButton] : []), ...views.values());
  dirty.clear();
  if (stick) scrollToBottom();
  else ui.messages.scrollTop = ui.messages.scrollHeight - fromBottom; // older messages above keep the view still
  refreshControls();
}

// ----- long conversations: older pages, long texts in pieces ------------------------

function askEarlier() {
  if (chat.earlier === null || chat.asking || chat.id === null) return;
  if (socket.send({ type: "conversation.history", conversation: chat.id, before: chat.earlier })) chat.asking = true;
}

ui.messages.addEventListener("scroll", () => {
  if (ui.messages.scrollTop < 200) askEarlier();
});

/** A message's text comes in message.piece frames of this seq; `then` runs with it once whole. */
function expectPieces(id, lengths, seq, then = null) {
  chat.assembling.set(id, { seq, lengths, parts: { content: [], reasoning: [] }, then });
}

function textSoFar(assembly, field) {
  return assembly.parts[field].join("");
}

function onPiece(frame) {
  const assembly = chat.assembling.get(frame.message);
  if (!assembly || assembly.seq !== frame.seq || !(frame.field in assembly.parts)) return;
  if (frame.offset !== textSoFar(assembly, frame.field).length) return; // out of order: not ours
  assembly.parts[frame.field].push(frame.text || "");
  const whole = ["content", "reasoning"].every((f) => textSoFar(assembly, f).length >= (assembly.lengths[f] || 0));
  if (!whole) return;
  chat.assembling.delete(frame.message);
  const content = textSoFar(assembly, "content");
  const reasoning = textSoFar(assembly, "reasoning");
  if (assembly.then) {
    assembly.then(content, reasoning);
    return;
  }
  const message = chat.messages.get(frame.message);
  if (!message) return;
  message.content = content;
  message.reasoning = reasoning;
  scheduleDraw(message.id);
}

function addMessages(messages, seq) {
  for (const m of messages || []) {
    chat.messages.set(m.id, { ...m, content: m.content ?? "", reasoning: m.reasoning ?? "" });
    if (m.pieces) expectPieces(m.id, m.pieces, seq);
  }
}

function onPage(frame) {
  chat.asking = false;
  chat.earlier = frame.earlier ?? null;
  addMessages(frame.messages, frame.seq);
  drawThread();
}

// Deltas arrive every ~30 ms; frames that land in the same task are drawn once.
const dirty = new Set();
let drawTimer = null;
function scheduleDraw(id) {
  dirty.add(id);
  if (drawTimer === null) drawTimer = setTimeout(drawDirty, 0);
}
function drawDirty() {
  drawTimer = null;
  const stick = nearBottom();
  for (const id of dirty) {
    const view = chat.views.get(id);
    const message = chat.messages.get(id);
    if (view && message) updateMessageView(view, message);
  }
  dirty.clear();
  if (stick) scrollToBottom();
  refreshControls();
}

// ----- sidebar and title ------------------------------------------------------------

function showTitle(title) {
  if (!title) return;
  document.title = `${title} · Grok Team Chat`;
  const link = ui.list.querySelector(`li[data-conversation="${Number(chat.id)}"] a`);
  if (link) link.textContent = title;
  const input = byId("title");
  if (input && document.activeElement !== input) input.value = title;
}

function addToSidebar(id, title) {
  ui.list.querySelector("li.empty")?.remove();
  for (const item of ui.list.querySelectorAll("li[aria-current]")) item.removeAttribute("aria-current");
  let item = ui.list.querySelector(`li[data-conversation="${Number(id)}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.conversation = String(id);
    const link = document.createElement("a");
    link.href = `/c/${Number(id)}/`;
    item.append(link);
  }
  item.querySelector("a").textContent = title || "New conversation";
  item.setAttribute("aria-current", "page");
  ui.list.prepend(item);
}

// ----- applying frames --------------------------------------------------------------

function applyDelta(frame) {
  if (frame.seq <= chat.seq) return; // a duplicate: already in the text
  chat.seq = frame.seq;
  const message = chat.messages.get(frame.message);
  if (!message) return;
  const field = frame.type === "turn.delta" ? "content" : "reasoning";
  message[field] = (message[field] || "") + (frame.text || "");
  if (message.state === "pending") message.state = "streaming";
  scheduleDraw(message.id);
}

function endCatchUp() {
  if (chat.catchUp) clearTimeout(chat.catchUp.timer);
  chat.catchUp = null;
}

/** The snapshot arrived (or did not, in time): set the text, then the deltas after it. */
function finishCatchUp(snapshot) {
  const { message: id, frames } = chat.catchUp;
  endCatchUp();
  const message = chat.messages.get(id);
  if (snapshot && message) {
    message.content = snapshot.content ?? message.content;
    message.reasoning = snapshot.reasoning ?? message.reasoning;
    if (message.state === "pending" && (message.content || message.reasoning)) message.state = "streaming";
    chat.seq = Math.max(chat.seq, snapshot.seq ?? 0);
    scheduleDraw(id);
  }
  frames.sort((a, b) => a.seq - b.seq).forEach(applyDelta);
}

function onState(frame) {
  chat.messages = new Map();
  chat.assembling = new Map();
  chat.earlier = frame.earlier ?? null;
  applyState(frame);
}

/** What changed after the seq we had (a reconnect): the rest of what is shown stays. */
function onChanges(frame) {
  applyState(frame);
}

function applyState(frame) {
  endCatchUp();
  chat.seq = frame.seq ?? 0;
  chat.asking = false; // a history request on the socket that went down has no answer
  chat.resumable = true;
  addMessages(frame.messages, frame.seq);
  chat.stopping = null;
  if (chat.pending && (frame.messages || []).some((m) => m.client_id === chat.pending.clientId)) chat.pending = null;
  showTitle(frame.title);
  const running = chat.messages.get(frame.running);
  // A reply already streaming has text the database may not have yet: wait for the
  // runner's exact snapshot before applying deltas. A pending one has no text so far.
  if (running && running.state === "streaming") {
    const catchUp = { message: running.id, frames: [], timer: null };
    catchUp.timer = setTimeout(() => chat.catchUp === catchUp && finishCatchUp(null), SNAPSHOT_WAIT_MS);
    chat.catchUp = catchUp;
  }
  drawThread();
}

function onSnapshot(frame) {
  if (frame.pieces) {
    // A long reply's text so far comes in pieces: the snapshot is whole once they are here.
    if (chat.catchUp && chat.catchUp.message === frame.message) clearTimeout(chat.catchUp.timer);
    expectPieces(frame.message, frame.pieces, frame.seq, (content, reasoning) =>
      onSnapshot({ ...frame, pieces: null, content, reasoning }));
    return;
  }
  if (chat.catchUp && chat.catchUp.message === frame.message) {
    finishCatchUp(frame);
    return;
  }
  const message = chat.messages.get(frame.message);
  if (message && isRunning(message) && frame.seq >= chat.seq) {
    message.content = frame.content ?? message.content;
    message.reasoning = frame.reasoning ?? message.reasoning;
    chat.seq = frame.seq;
    scheduleDraw(message.id);
  }
}

function onDelta(frame) {
  if (typeof frame.seq !== "number" || frame.seq <= chat.seq) return;
  if (chat.catchUp && chat.catchUp.message === frame.message) {
    chat.catchUp.frames.push(frame);
    return;
  }
  applyDelta(frame);
}

function onStarted(frame) {
  chat.seq = Math.max(chat.seq, frame.seq ?? 0);
  for (const message of [frame.user_message, frame.assistant_message]) {
    if (message) chat.messages.set(message.id, { ...message });
  }
  if (frame.replaces) chat.messages.delete(frame.replaces); // the retry stands in for it
  if (chat.pending && frame.client_id === chat.pending.clientId) chat.pending = null;
  drawThread();
}

function onFinished(frame) {
  chat.seq = Math.max(chat.seq, frame.seq ?? 0);
  if (chat.catchUp && chat.catchUp.message === frame.message) endCatchUp();
  const message = chat.messages.get(frame.message);
  if (!message) return;
  // A long reply's final text follows in pieces; until then it keeps what streamed.
  if (frame.pieces) expectPieces(frame.message, frame.pieces, frame.seq);
  Object.assign(message, {
    state: frame.state,
    content: frame.content ?? message.content,
    reasoning: frame.reasoning ?? message.reasoning,
    citations: frame.citations ?? message.citations,
    usage: frame.usage ?? null,
    error: frame.error ?? null,
  });
  if (chat.stopping === message.id) chat.stopping = null;
  scheduleDraw(message.id);
  refreshAllowance(); // settled: what it really cost is counted now
}

function onCreated(frame) {
  if (!chat.pending || frame.client_id !== chat.pending.clientId) return;
  chat.pending = null; // the turn.started that follows carries the turn
  if (chat.id !== frame.conversation) {
    endCatchUp();
    chat.id = frame.conversation;
    chat.seq = 0;
    chat.messages = new Map();
    chat.resumable = true; // everything about it comes by this socket, from its first seq
    const url = `/c/${Number(frame.conversation)}/`;
    if (location.pathname !== url) history.pushState({ conversation: frame.conversation }, "", url);
    addToSidebar(frame.conversation, frame.title);
  }
  showTitle(frame.title);
}

function onError(frame) {
  setStatus(frame.message || "The server refused that request.");
  if (frame.code === "quota_exceeded") refreshAllowance();
  if (frame.code === "too_many_sockets") chat.ended = frame.message;
  if (chat.pending && frame.client_id && frame.client_id === chat.pending.clientId) {
    // Nothing was started: give the text back so it is not lost.
    const current = ui.text.value;
    ui.text.value = current ? `${chat.pending.text}\n\n${current}` : chat.pending.text;
    chat.pending = null;
  } else {
    chat.stopping = null;
    for (const button of ui.messages.querySelectorAll("button.retry:disabled")) button.disabled = false;
  }
}

function toSignIn() {
  location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
}

const handlers = {
  "session.ended": toSignIn,
  "conversation.created": onCreated,
  "conversation.state": onState,
  "conversation.changes": onChanges,
  "conversation.page": onPage,
  "message.piece": onPiece,
  "turn.started": onStarted,
  "turn.snapshot": onSnapshot,
  "turn.delta": onDelta,
  "turn.reasoning": onDelta,
  "turn.done": onFinished,
  "turn.failed": onFinished,
  error: onError,
};

function onFrame(frame) {
  const handler = handlers[frame.type];
  if (!handler) return; // new frame types may be added
  const general = ["error", "conversation.created", "session.ended"].includes(frame.type);
  if (!general && (chat.id === null || frame.conversation !== chat.id)) return;
  handler(frame);
  refreshControls();
}

// ----- the socket -------------------------------------------------------------------

/** The seq to resume after: null (send everything) until what is shown is whole as of it. */
function resumeAfter() {
  return chat.resumable && chat.assembling.size === 0 && chat.seq > 0 ? chat.seq : null;
}

const socket = keepOpen(socketUrl("/ws/chat/"), {
  onOpen() {
    if (statusIsConnection) setStatus("");
    if (chat.id !== null) socket.send({ type: "conversation.open", conversation: chat.id, after: resumeAfter() });
    // Resending is safe: a repeated client_id is answered with the existing turn.
    if (chat.pending) socket.send(chat.pending.frame);
  },
  onFrame,
  finalCodes: [TOO_MANY_SOCKETS],
  onEnd() {
    // Reconnecting would be refused the same way: say so and stay down until a reload.
    chat.ended ??= "Too many chat tabs are open: close one and reload.";
    setStatus(chat.ended);
    if (chat.pending) {
      ui.text.value = chat.pending.text; // never sent: give it back
      chat.pending = null;
    }
    refreshControls();
  },
  onDown() {
    setStatus("Reconnecting…", { connection: true });
    // A socket refused for want of a session looks like any lost connection: ask the page.
    fetch(location.pathname, { redirect: "manual", cache: "no-store" })
      .then((response) => response.type === "opaqueredirect" && toSignIn())
      .catch(() => {});
  },
});

function sendOrSay(frame) {
  if (socket.send(frame)) return true;
  setStatus(chat.ended ?? "Not connected right now; try again in a moment.");
  return false;
}

function retry(messageId) {
  setStatus("");
  if (!sendOrSay({ type: "turn.retry", message: messageId })) {
    for (const button of ui.messages.querySelectorAll("button.retry:disabled")) button.disabled = false;
  }
}

// ----- composer ---------------------------------------------------------------------

const modelInfo = byId("model-info");
const choice = setupModelPicker({
  models: boot.models || [],
  preferred: boot.conversation?.model,
  select: byId("model"),
  effort: byId("effort"),
  effortLabel: byId("effort-label"),
  webSearch: byId("web-search"),
  info: modelInfo,
});

/** What a message sent now continues: the branch on screen, whether all of it is loaded,
 * and whether its last reply is still being written. */
function branchShown() {
  const path = activePath(chat.messages);
  const leaf = path.length ? path[path.length - 1] : null;
  return {
    conversation: chat.id,
    leaf: leaf?.id ?? null,
    texts: path.map((m) => m.content || "").filter(Boolean),
    whole: chat.earlier === null && chat.assembling.size === 0,
    running: leaf !== null && isRunning(leaf),
  };
}
contextNote = setupContextNote({
  region: byId("context-note"),
  draft: ui.text,
  models: boot.models || [],
  model: () => byId("model").value,
  branch: branchShown,
});
byId("model").addEventListener("change", contextNote);
if (boot.models_error) {
  modelInfo.textContent = boot.models_error;
  modelInfo.classList.add("error");
}
showAllowance(boot.allowance);

function newClientId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context; plain http on a LAN address has only getRandomValues.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.text.value;
  if (!text.trim() || chat.ended !== null || chat.pending !== null || runningId() !== null) return;
  const { model, options } = choice();
  const frame = {
    type: "turn.start", client_id: newClientId(), conversation: chat.id, parent: null,
    text, model, options, attachments: [],
  };
  chat.pending = { clientId: frame.client_id, frame, text };
  ui.text.value = "";
  if (socket.send(frame)) setStatus("");
  else setStatus("Not connected: your message will be sent when the connection is back.");
  refreshControls();
});

ui.text.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  ui.composer.requestSubmit();
});

ui.stop.addEventListener("click", () => {
  const id = runningId();
  if (id === null) return;
  if (sendOrSay({ type: "turn.cancel", message: id })) chat.stopping = id;
  refreshControls();
});

byId("delete-form")?.addEventListener("submit", (event) => {
  if (!window.confirm("Delete this conversation? This cannot be undone.")) event.preventDefault();
});

// The URL changed under us (pushState after a new conversation): load that page.
window.addEventListener("popstate", () => location.reload());

// ----- start ------------------------------------------------------------------------

if (boot.state) {
  onState(boot.state);
  chat.resumable = false; // the page's copy: the socket's first state brings its long texts
} else drawThread();
if (!socket.isOpen) setStatus("Connecting…", { connection: true });
refreshControls(); // Send starts disabled in the page until this module is ready
