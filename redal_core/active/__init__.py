"""Active learning: label state, per-point scores, unit tables, diversity and selection strategies.

Modules (import what you need; nothing is imported here, so ``import redal_core.active`` stays cheap):

- ``pool``        LabelState: which (scan, region) is labeled in which round; point masks; budget
- ``scores``      pure numpy scores (entropy, margin, confidence, MC-dropout, segment entropy), Eq. 4
- ``units``       UnitTable: one row per labeling unit, built per scan by ``scan_unit_rows``
- ``diversity``   region features, k-means, Algorithm 1 (``penalize_similar``), core-set k-center
- ``strategies``  STRATEGIES registry with the paper's names; ``get_strategy(name).select(...)``
- ``loop``        the active-learning loop (train, evaluate, predict, score, select, label)
"""
