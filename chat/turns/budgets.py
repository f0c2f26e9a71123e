"""A turn's claim on its team's budgets and per-minute limits (webapp.usage), made where
its start is stored: what it asks for, and the refusal a person reads."""

from __future__ import annotations

from chat.grok import LanguageModel
from webapp.usage.estimate import estimate_conversation
from webapp.usage.limits.admission import denials_record, turns_admit
from webapp.usage.limits.budgets import Ask, Grant, Refused
from webapp.usage.pricing import Price

from .errors import TurnError


class QuotaRefused(TurnError):
    """A limit refused the turn: nothing is stored for it but a denial for the admins,
    written once the transaction that refused it has ended (``denials_record``)."""

    def __init__(self, ask: Ask, refused: Refused) -> None:
        super().__init__(refused.code, refused.message)
        self.ask, self.refused = ask, refused


def price_of(model: LanguageModel) -> Price:
    return Price(input=model.prompt_price, cached_input=model.cached_prompt_price, output=model.completion_price)


def ask_for(*, user, model: LanguageModel, cap: int, texts: list[str], instructions: str | None) -> Ask | None:
    """What a turn that sends ``texts`` (the branch, the new message last) asks of its
    team's budgets; None for a person in no team (there is nobody's budget to hold)."""
    team_id = getattr(user, "active_team_id", None)
    if team_id is None:
        return None
    # The whole branch is input, chained or not (the upstream counts a stored response's
    # turns as input too); reserved at the full input price, since a cache miss or a
    # forgotten response costs that, and settling charges what it really cost.
    return Ask(
        team_id=team_id,
        user_id=user.pk,
        input_tokens=estimate_conversation(texts, instructions),
        output_tokens=cap,
        price=price_of(model),
        model=model.id,
        reasons=bool(model.reasoning),
    )


def admit(asks: list[Ask | None]) -> list[Grant | QuotaRefused | None]:
    """Each ask admitted (a Grant) or refused; None where there was nothing to ask."""
    wanted = [a for a in asks if a is not None]
    answers = iter(turns_admit(wanted))
    results: list[Grant | QuotaRefused | None] = []
    for ask in asks:
        if ask is None:
            results.append(None)
            continue
        answer = next(answers)
        results.append(QuotaRefused(ask, answer) if isinstance(answer, Refused) else answer)
    return results


def refusals_record(errors: list) -> None:
    denials_record([(e.ask, e.refused) for e in errors if isinstance(e, QuotaRefused)])
