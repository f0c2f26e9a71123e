// Markdown for text nobody vouches for (model replies and user messages alike).
// Three layers: our marked renderer never emits raw HTML, bad links or images;
// DOMPurify then sanitizes the string with a tag allow-list; a last pass over the
// resulting DOM re-checks links and adds what must not go through a string
// (KaTeX output, Copy buttons with listeners).
import { Marked } from "../vendor/marked/marked.esm.js";
import DOMPurify from "../vendor/dompurify/purify.es.mjs";
import hljs from "../vendor/highlight/highlight.min.js";
import { mathExtensions, mathSpan, renderMath } from "./math.js";

const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
const IMAGE_PROTOCOLS = new Set(["http:", "https:"]);

export const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A URL object when `href` is absolute and uses an allowed protocol, else null. */
export function safeUrl(href, protocols = LINK_PROTOCOLS) {
  try {
    const url = new URL(href);
    return protocols.has(url.protocol) ? url : null;
  } catch {
    return null; // relative or malformed: there is nothing safe to point at
  }
}

const highlighted = new Map(); // streamed replies re-render the same finished blocks
function highlight(code, language) {
  if (!language || !hljs.getLanguage(language)) return escapeHtml(code);
  const key = `${language}\n${code}`;
  let html = highlighted.get(key);
  if (html === undefined) {
    html = hljs.highlight(code, { language, ignoreIllegals: true }).value;
    highlighted.set(key, html);
    if (highlighted.size > 200) highlighted.delete(highlighted.keys().next().value);
  }
  return html;
}

const renderer = {
  // Raw HTML is shown as the text it is.
  html({ text, block }) {
    return block ? `<p>${escapeHtml(text)}</p>\n` : escapeHtml(text);
  },
  link({ href, title, text, tokens, autolink }) {
    const inner = autolink || !tokens ? escapeHtml(text) : this.parser.parseInline(tokens);
    const url = safeUrl(href);
    if (!url) return inner;
    const titleAttr = title ? ` title="${escapeHtml(title)}"` : "";
    return `<a href="${escapeHtml(url.href)}"${titleAttr}>${inner}</a>`;
  },
  // Never an <img>: loading a URL a model wrote can leak the conversation.
  image({ href, text, tokens }) {
    const alt = (tokens ? this.parser.parseInline(tokens, this.parser.textRenderer) : text) || "untitled";
    const url = safeUrl(href, IMAGE_PROTOCOLS);
    if (!url) return `<span class="image-link">Image: ${escapeHtml(alt)}</span>`;
    return `<a class="image-link" href="${escapeHtml(url.href)}">Image: ${escapeHtml(alt)} (${escapeHtml(url.host)})</a>`;
  },
  code({ text, lang }) {
    const language = (lang || "").match(/^[\w+#.-]+/)?.[0]?.toLowerCase() || "";
    if (language === "math" || language === "latex" || language === "tex") {
      return `<div class="math-block">${mathSpan(text, true)}</div>\n`;
    }
    const cls = language ? `hljs language-${escapeHtml(language)}` : "hljs";
    return `<pre><code class="${cls}">${highlight(text.replace(/\n$/, ""), language)}</code></pre>\n`;
  },
};

const marked = new Marked({ gfm: true, breaks: true, async: false });
marked.use({ renderer, extensions: mathExtensions });

const PURIFY_CONFIG = {
  ALLOWED_TAGS: ["a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "del", "s", "code",
    "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "input"],
  ALLOWED_ATTR: ["href", "title", "class", "start", "align", "type", "checked", "disabled"],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  // DOMPurify's own pattern with fewer schemes; it also vets plain values such as align="left".
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  RETURN_DOM_FRAGMENT: true,
};

function finishLinks(root) {
  for (const a of root.querySelectorAll("a")) {
    if (!safeUrl(a.getAttribute("href") || "")) {
      a.replaceWith(...a.childNodes);
      continue;
    }
    a.rel = "noopener noreferrer nofollow";
    a.target = "_blank";
  }
  for (const input of root.querySelectorAll("input")) {
    if (input.type !== "checkbox") input.remove();
    else input.disabled = true;
  }
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // No async clipboard (plain http on a LAN address) or no permission: the old way.
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

function addCopyButtons(root) {
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector("code");
    const language = [...(code?.classList || [])].find((c) => c.startsWith("language-"))?.slice(9) || "";
    const wrapper = document.createElement("div");
    wrapper.className = "code-block";
    const head = document.createElement("div");
    head.className = "code-head";
    const label = document.createElement("span");
    label.className = "code-lang";
    label.textContent = language;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", () => {
      copyText((code || pre).textContent).then(
        () => { button.textContent = "Copied"; },
        () => { button.textContent = "Copy failed"; },
      ).finally(() => setTimeout(() => { button.textContent = "Copy"; }, 1500));
    });
    head.append(label, button);
    pre.replaceWith(wrapper);
    wrapper.append(head, pre);
  }
}

/** Render untrusted markdown into a DocumentFragment that is safe to insert. */
export function renderMarkdown(text) {
  const fragment = DOMPurify.sanitize(marked.parse(String(text ?? "")), PURIFY_CONFIG);
  finishLinks(fragment);
  renderMath(fragment);
  addCopyButtons(fragment);
  return fragment;
}

/** Replace the contents of `element` with rendered markdown. */
export function setMarkdown(element, text) {
  element.replaceChildren(renderMarkdown(text));
}
