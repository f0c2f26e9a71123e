// How one message looks: built with DOM calls, markdown through renderMarkdown only.
import { safeUrl, setMarkdown } from "./markdown.js";

const RUNNING = new Set(["pending", "streaming"]);
export const isRunning = (message) => message.role === "assistant" && RUNNING.has(message.state);

/** The branch on screen: from the newest message back to the root along `parent`. */
export function activePath(messages) {
  let newest = null;
  for (const message of messages.values()) if (!newest || message.id > newest.id) newest = message;
  const path = [];
  const seen = new Set();
  for (let m = newest; m && !seen.has(m.id); m = messages.get(m.parent)) {
    seen.add(m.id);
    path.push(m);
  }
  return path.reverse();
}

export function formatCost(usd) {
  const n = Number(usd);
  if (usd === null || usd === undefined || usd === "" || !Number.isFinite(n)) return null;
  if (n >= 1) return `$${n.toFixed(2)}`;
  return `$${n.toFixed(6).replace(/\.?0+$/, "") || "0"}`;
}

export function usageText(usage) {
  if (!usage || usage.total_tokens === null || usage.total_tokens === undefined) return "";
  const cost = formatCost(usage.cost_usd);
  return cost ? `${usage.total_tokens} tokens · ${cost}` : `${usage.total_tokens} tokens`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const drawn = new WeakMap(); // element -> what it shows now, to skip needless re-renders

/** A new, empty view for `message`; `onRetry(id)` runs when its Retry button is pressed. */
export function createMessageView(message, { onRetry }) {
  const article = element("article", `message ${message.role}`);
  article.dataset.messageId = String(message.id);
  const head = element("header", "message-head", message.role === "user" ? "You" : `Grok${message.model ? ` · ${message.model}` : ""}`);
  article.append(head);
  if (message.role === "user") {
    article.append(element("div", "body"));
  } else {
    const thinking = element("details", "thinking");
    thinking.append(element("summary", "", "Thinking"), element("div", "reasoning"));
    thinking.hidden = true;
    const citations = element("ol", "citations");
    citations.hidden = true;
    citations.setAttribute("aria-label", "Sources");
    const footer = element("div", "message-foot");
    footer.append(element("p", "usage"));
    footer.addEventListener("click", (event) => {
      const button = event.target.closest("button.retry");
      if (!button) return;
      button.disabled = true;
      onRetry(message.id);
    });
    article.append(thinking, element("div", "reply"), citations, footer);
  }
  drawn.set(article, {});
  updateMessageView(article, message);
  return article;
}

function drawCitations(list, citations) {
  const items = (citations || []).map((citation) => {
    const item = element("li");
    const url = safeUrl(citation?.url || "", new Set(["http:", "https:"]));
    const label = citation?.title || (url ? url.host : citation?.url) || "source";
    if (url) {
      const link = element("a", "", label);
      link.href = url.href;
      link.rel = "noopener noreferrer nofollow";
      link.target = "_blank";
      item.append(link);
    } else {
      item.textContent = label;
    }
    return item;
  });
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
}

function drawFooter(footer, message) {
  const usage = usageText(message.usage);
  const words = { cancelled: usage ? `Stopped · ${usage}` : "Stopped", completed: usage };
  footer.querySelector(".usage").textContent = words[message.state] || "";
  footer.querySelector(".failure")?.remove();
  if (message.state === "failed" || message.state === "interrupted") {
    const failure = element("div", "failure");
    failure.setAttribute("role", "alert");
    failure.append(element("span", "error-text", message.error?.message || "This reply could not be finished."),
      element("button", "retry", "Retry"));
    failure.lastChild.type = "button";
    footer.append(failure);
  }
}

/** Bring the view in line with `message` (re-rendering only what changed). */
export function updateMessageView(article, message) {
  const was = drawn.get(article);
  article.dataset.state = message.state || "completed";
  article.setAttribute("aria-busy", String(isRunning(message)));
  if (message.role === "user") {
    if (was.content !== message.content) setMarkdown(article.querySelector(".body"), message.content);
    drawn.set(article, { content: message.content });
    return;
  }
  if (was.reasoning !== message.reasoning) {
    const thinking = article.querySelector(".thinking");
    thinking.querySelector(".reasoning").textContent = message.reasoning || "";
    thinking.hidden = !message.reasoning;
  }
  if (was.content !== message.content) setMarkdown(article.querySelector(".reply"), message.content || "");
  if (was.citations !== message.citations) drawCitations(article.querySelector(".citations"), message.citations);
  if (was.state !== message.state || was.usage !== message.usage || was.error !== message.error) {
    drawFooter(article.querySelector(".message-foot"), message);
  }
  drawn.set(article, { content: message.content, reasoning: message.reasoning, citations: message.citations,
    state: message.state, usage: message.usage, error: message.error });
}
