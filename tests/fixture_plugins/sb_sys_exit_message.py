"""A plugin that calls sys.exit("message") while being imported."""

import sys

sys.exit("this plugin refuses to load")
