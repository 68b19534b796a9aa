"""Training machinery behind ``python -m kasc.train``: the multi-teacher ``Distiller``
(``distill``), teachers' soft targets and their caches (``soft_targets``, ``cross_fit``),
the batch target names (``targets``), callbacks, the learning-rate schedule
(``schedules``), ``tf.distribute`` strategies (``distribute``) and CPU runtime settings
such as mixed precision (``runtime``)."""
