"""Incident reviews, action items, the figures that feed back (metrics) and digests."""
