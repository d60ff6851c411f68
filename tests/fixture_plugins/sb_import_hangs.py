"""A plugin whose import never finishes (well, not for a minute)."""

import time

time.sleep(60)
