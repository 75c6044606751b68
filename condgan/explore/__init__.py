"""`condgan explore`: a local page to look at a generator — classes, truncation, seeds, interpolations —
beside its run's configuration and stored metrics.

The standard library serves it (`http.server`, one thread per request) on 127.0.0.1 only; the page is one
HTML document with its CSS and JavaScript inline, so it needs no network and no build step. `app.Explorer`
holds the loaded G_ema and turns checked requests into PNGs; `server` is the HTTP plumbing; `page` the page.
"""
from __future__ import annotations

from .app import BadRequest, Explorer
from .server import make_server, serve

__all__ = ["BadRequest", "Explorer", "make_server", "serve"]
