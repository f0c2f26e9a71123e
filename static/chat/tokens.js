// How many tokens a text is before the upstream has counted it: the rule of
// webapp/usage/estimate.py, the same numbers (tests/browser/test_context_window.py
// runs both on the same strings).

export const BYTES_PER_TOKEN = 4;
export const PER_MESSAGE = 4; // a message's role and separators

const utf8 = new TextEncoder();

/** A quarter of the UTF-8 length, rounded up. */
export function estimateTokens(text) {
  if (!text) return 0;
  return Math.ceil(utf8.encode(text).length / BYTES_PER_TOKEN);
}

/** The input of a request that sends `texts` as messages. */
export function estimateConversation(texts) {
  return texts.reduce((total, text) => total + estimateTokens(text) + PER_MESSAGE, 0);
}
