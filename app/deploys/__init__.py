"""Deploys: what changed in production, and which incidents may have followed from it."""
