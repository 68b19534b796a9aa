"""Everything about teachers, entered through one function, :func:`.teaching.teach`: the
teachers trained or reused as runs of their own (``runs``), checked against a floor before
they teach (``check``), their soft targets computed once and cached (``targets``:
``soft_targets`` for clips, ``view_bank`` for pre-drawn views), and cross-fitted teachers
that never heard the clips they label (``cross_fit``)."""
