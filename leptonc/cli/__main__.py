"""``python -m leptonc.cli``: the same as the ``leptonc`` command."""

import sys

from leptonc.cli import main

sys.exit(main())
