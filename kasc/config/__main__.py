"""``python -m kasc.config NAME [--set KEY=VALUE]``: the extends chain and the resolved config (:mod:`kasc.config.show`)."""

import sys

from kasc.config.show import main

sys.exit(main())
