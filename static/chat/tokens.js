// How many tokens a text is before the upstream has counted it: the rule of
// webapp/usage/estimate.py, the same numbers (tests/browser/test_context_window.py
// runs both on the same strings).

export const ASCII_CHARS_PER_TOKEN = 4;
export const PER_MESSAGE = 4; // a message's role and separators

/** A quarter of the ASCII characters, rounded up, and one token for every other character. */
export function estimateTokens(text) {
  if (!text) return 0;
  let ascii = 0;
  let other = 0;
  // By code point, as Python counts a str's characters (an emoji is one, a lone surrogate one).
  for (const character of text) {
    if (character.codePointAt(0) < 0x80) ascii += 1;
    else other += 1;
  }
  return Math.ceil(ascii / ASCII_CHARS_PER_TOKEN) + other;
}

/** The input of a request that sends `texts` as messages. */
export function estimateConversation(texts) {
  return texts.reduce((total, text) => total + estimateTokens(text) + PER_MESSAGE, 0);
}
