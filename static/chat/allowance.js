// What is left of the budgets that hold this person (their own and their team's), shown
// under the composer before they send, and read again after each reply settles.
const place = document.getElementById("allowance");

export function showAllowance(lines) {
  if (!place) return;
  place.replaceChildren();
  for (const [i, line] of (lines || []).entries()) {
    if (i) place.append(" · ");
    const part = document.createElement("span");
    const whose = line.whose === "You" ? "You" : "Team";
    part.textContent = line.used_up
      ? `${whose} ${line.period}: ${line.limit} used up (resets ${line.resets})`
      : `${whose} ${line.period}: ${line.left} left of ${line.limit}`;
    if (line.used_up) part.className = "used-up";
    place.append(part);
  }
  place.hidden = !place.childNodes.length;
}

let asking = null;
export function refreshAllowance() {
  if (!place || asking) return;
  asking = fetch("/usage/allowance", { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .then((data) => data && showAllowance(data.left))
    .catch(() => {}) // the next reply tries again
    .finally(() => {
      asking = null;
    });
}
