// LaTeX for markdown: a marked extension that marks math out as plain text spans
// (so markdown never mangles it), and a pass that renders those spans with KaTeX
// after the HTML has been sanitized. KaTeX builds DOM nodes itself; with trust
// off it emits no links, images or scripts.
import katex from "../vendor/katex/katex.mjs";

const KATEX_OPTIONS = { throwOnError: false, trust: false, strict: "ignore", maxExpand: 500, maxSize: 20 };

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const mathSpan = (tex, display) =>
  `<span class="math ${display ? "math-display" : "math-inline"}">${escapeHtml(tex.trim())}</span>`;

// $…$ follows pandoc's rule so prices ("$5 and $10") stay text: no space just
// inside the dollars and no digit right after the closing one.
const INLINE = [
  [/^\$\$(?!\$)([\s\S]+?)\$\$/, true],
  [/^\\\[([\s\S]+?)\\\]/, true],
  [/^\\\(([\s\S]+?)\\\)/, false],
  [/^\$(?![\s$])((?:\\[\s\S]|[^\\$\n])+?)(?<![\s\\])\$(?!\d)/, false],
];
const BLOCK = [
  /^ {0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/,
  /^ {0,3}\\\[([\s\S]+?)\\\][ \t]*(?:\n+|$)/,
];

export const mathExtensions = [
  {
    name: "mathBlock",
    level: "block",
    start: (src) => src.match(/^ {0,3}(?:\$\$|\\\[)/m)?.index,
    tokenizer(src) {
      for (const re of BLOCK) {
        const m = re.exec(src);
        if (m) return { type: "mathBlock", raw: m[0], text: m[1] };
      }
      return undefined;
    },
    renderer: (token) => `<div class="math-block">${mathSpan(token.text, true)}</div>\n`,
  },
  {
    name: "mathInline",
    level: "inline",
    start: (src) => src.match(/\$|\\[[(]/)?.index,
    tokenizer(src) {
      for (const [re, display] of INLINE) {
        const m = re.exec(src);
        if (m) return { type: "mathInline", raw: m[0], text: m[1], display };
      }
      return undefined;
    },
    renderer: (token) => mathSpan(token.text, token.display),
  },
];

export { mathSpan };

// Rendering the same formula on every streamed frame is wasteful: keep recent results.
const cache = new Map();
const CACHE_SIZE = 300;

function rendered(tex, display) {
  const key = `${display ? "D" : "I"}${tex}`;
  let node = cache.get(key);
  if (!node) {
    node = document.createElement("span");
    try {
      katex.render(tex, node, { ...KATEX_OPTIONS, displayMode: display });
    } catch {
      node.textContent = tex; // throwOnError is off; this is for anything unforeseen
    }
    cache.set(key, node);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
  }
  return node.cloneNode(true);
}

/** Replace every math span under `root` (already sanitized) with KaTeX's rendering. */
export function renderMath(root) {
  for (const span of root.querySelectorAll("span.math")) {
    const display = span.classList.contains("math-display");
    span.replaceChildren(...rendered(span.textContent, display).childNodes);
  }
}
