"""Where daily prices come from: the bundled sample, a user's CSV, or Yahoo Finance."""
