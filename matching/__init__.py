"""Matching: tag calls with the förvaltningar and topics of config/needs.yaml, with reasons.

- :mod:`matching.terms` — the term syntax (``skola``, ``"kommun"``, ``vård*``, ``*vård``,
  ``*omsorg*``, phrases).
- :mod:`matching.text` — normalisation, tokens, language detection, stems, snippets.
- :mod:`matching.engine` — ``compile_needs(needs) -> CompiledNeeds`` (``.rules_hash``),
  ``match_call(compiled, call) -> list[TagResult]``, ``match_text``, ``evaluate``. Pure.
- :mod:`matching.service` — ``run_match(*, session, needs, now, all_calls=False,
  dry_run=False) -> MatchReport``: the pipeline stage (writes ``tag`` and ``match_state``).
- :mod:`matching.explain` and :mod:`cli.match` — ``bevaka match``, ``bevaka explain`` and
  ``bevaka eval``.
- :mod:`matching.evaluation` — ``bevaka eval``: needs.yaml measured on labelled calls or on
  recorded decisions (pure).
- :mod:`matching.second_opinion` — the learned second opinion (a logistic regression per
  förvaltning): features, deterministic training, the model file; judged by the engine
  as needs.yaml's ``second_opinion`` block allows. :mod:`matching.cross_validation` —
  ``bevaka model cv``.

See docs/matching.md.
"""
