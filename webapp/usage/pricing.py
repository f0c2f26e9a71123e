"""What tokens cost, in ticks (1e-10 USD, the unit xAI reports cost in).

Model listings price tokens in US cents per 100 million, which is exactly ticks per
token: grok-4.3's 12,500 (a price of $1.25 per million) costs 12,500 ticks a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

TICKS_PER_USD = 10_000_000_000


@dataclass(frozen=True)
class Price:
    input: int = 0  # ticks per input token
    cached_input: int = 0  # ... per input token the upstream had cached
    output: int = 0  # ... per output token, reasoning included

    @property
    def free(self) -> bool:
        return not (self.input or self.cached_input or self.output)

    def input_cost(self, tokens: int, cached: int = 0) -> int:
        cached = min(cached, tokens)
        return (tokens - cached) * self.input + cached * (self.cached_input or self.input)

    def cost(self, *, input_tokens: int, cached_input_tokens: int = 0, output_tokens: int = 0) -> int:
        return self.input_cost(input_tokens, cached_input_tokens) + output_tokens * self.output


def usd(ticks: int) -> Decimal:
    return Decimal(ticks) / TICKS_PER_USD


def ticks(dollars: Decimal) -> int:
    return int((dollars * TICKS_PER_USD).to_integral_value())


def dollars_in_words(ticks_: int, *, down: bool = False) -> str:
    """$50.00, or more places for what a cent does not show ($0.000125). ``down``: to the
    cent below (what is left: $49.996 left is not $50.00 left)."""
    amount = usd(ticks_)
    if amount == 0 or abs(amount) >= Decimal("0.01"):
        cents = amount.quantize(Decimal("0.01"), rounding=ROUND_DOWN if down else ROUND_HALF_EVEN)
        return f"${cents:,.2f}"
    return f"${amount.normalize():f}"
