"""Turns: a person's message and the reply written for it.

``commands`` start, claim, cancel and retry turns; ``finishing`` records how a reply
ended (and what it cost), its checkpoints and the sweep of replies whose process died;
``selectors`` read what a socket starts from. Each is sync, one transaction a call;
frames leave through ``chat.events`` after commit. The runner (``chat.runner``) drives a
claimed turn; interfaces start it once ``commands`` has committed the turn.
"""
