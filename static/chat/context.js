// The note under the composer when the conversation and the message will not fit the
// model's context window (or nearly will not). The page estimates first (tokens.js);
// only near the limit, or when older messages are not loaded, does it ask the server
// (POST /c/<id>/tokens), which counts the whole branch and the instructions with the
// upstream's tokenizer where the key offers one.
import { PER_MESSAGE, estimateConversation, estimateTokens } from "./tokens.js";

const WAIT_MS = 400; // after the last keystroke, or the last change to the thread
const ASK_ABOVE = 0.8; // of the window, by the page's estimate: below it nobody is asked
const NEAR_ABOVE = 0.9; // a softer note

const number = (n) => Number(n).toLocaleString("en");

/** A count rounded to thousands, toward the side that keeps it true ("over" stays over). */
function about(tokens, over) {
  if (tokens < 10000) return number(tokens);
  return number((over ? Math.ceil(tokens / 1000) : Math.floor(tokens / 1000)) * 1000);
}

function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

/**
 * @param {{region: HTMLElement, draft: HTMLTextAreaElement, models: object[], model: () => string,
 *          branch: () => {conversation: number|null, leaf: number|null, texts: string[], whole: boolean,
 *                          running: boolean}}} parts
 * `branch()` is what a message sent now would continue: its texts as shown, whether they
 * are all of it (older pages and long texts loaded), and whether its last reply is still
 * being written (Send waits for it, and so does the count).
 * Returns `schedule()`, to call whenever the thread, the draft or the model changed.
 */
export function setupContextNote({ region, draft, models, model, branch }) {
  const byId = new Map(models.map((m) => [m.id, m]));
  const counted = new Map(); // "conversation|leaf|model" -> the server's count of the conversation
  let estimated = { key: null, tokens: 0 };
  let timer = null;
  let asked = 0; // the latest question; older answers are dropped
  let inFlight = null;

  function estimateBranch({ conversation, leaf, texts }) {
    const key = `${conversation}|${leaf}|${texts.reduce((n, t) => n + t.length, 0)}`;
    if (estimated.key !== key) estimated = { key, tokens: estimateConversation(texts) };
    return estimated.tokens;
  }

  function say(text, level) {
    region.dataset.level = level;
    if (region.textContent !== text) region.textContent = text; // the same words are not announced again
  }

  function show(tokens, chosen, { conversation, withDraft }) {
    const window = chosen?.context_window;
    const over = Boolean(window) && tokens > window;
    const near = Boolean(window) && !over && tokens > NEAR_ABOVE * window;
    if (!over && !near) {
      say("", "");
      return;
    }
    const subject = conversation === null ? "Your message is"
      : withDraft ? "This conversation and your message are" : "This conversation is";
    if (near) {
      say(`${subject} about ${about(tokens, false)} tokens, close to the ${number(window)} ` +
        `that ${chosen.id} reads at most.`, "near");
      return;
    }
    const roomier = models.some((m) => m.context_window >= tokens);
    const ways = [
      conversation !== null && "start a new conversation",
      roomier && "pick a model that reads more",
      withDraft && "shorten the message",
    ].filter(Boolean);
    const advice = ways.length > 1 ? `${ways.slice(0, -1).join(", ")}, or ${ways.at(-1)}` : ways[0] || "";
    say(`${subject} about ${about(tokens, true)} tokens; ${chosen.id} reads at most ` +
      `${number(window)}.${advice ? ` ${advice[0].toUpperCase()}${advice.slice(1)}.` : ""}`, "over");
  }

  async function evaluate() {
    timer = null;
    const chosen = byId.get(model());
    const text = draft.value;
    const here = branch();
    const key = `${here.conversation}|${here.leaf}|${chosen?.id}`;
    // The same question is on its way (more of the thread arrived, not another thread): its answer stands.
    if (inFlight && inFlight.key === key && inFlight.text === text) return;
    const question = ++asked;
    inFlight?.controller.abort();
    inFlight = null;
    const said = { conversation: here.conversation, withDraft: text.trim() !== "" };
    if (here.running || !chosen?.context_window) { // a reply being written: counted once it ends
      show(0, chosen, said);
      return;
    }
    const local = (counted.get(key) ?? estimateBranch(here)) + (text ? estimateTokens(text) + PER_MESSAGE : 0);
    const unsure = !here.whole && !counted.has(key);
    if (here.conversation === null || (local <= ASK_ABOVE * chosen.context_window && !unsure)) {
      show(local, chosen, said);
      return;
    }
    const controller = new AbortController();
    inFlight = { controller, key, text };
    try {
      const response = await fetch(`/c/${Number(here.conversation)}/tokens`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ model: chosen.id, parent: here.leaf, text }),
        signal: controller.signal,
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`the count was refused (${response.status})`);
      const answer = await response.json();
      if (question !== asked) return;
      counted.set(key, answer.conversation);
      show(answer.tokens, chosen, said);
    } catch {
      if (question === asked) show(local, chosen, said); // the page's own estimate, then
    } finally {
      if (inFlight?.controller === controller) inFlight = null;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(evaluate, WAIT_MS);
  }

  draft.addEventListener("input", schedule);
  return schedule;
}
