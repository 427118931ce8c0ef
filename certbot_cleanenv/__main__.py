"""``python -m certbot_cleanenv``: the ``certbot-cleanenv`` command."""
import sys

from certbot_cleanenv.cli import main

sys.exit(main())
