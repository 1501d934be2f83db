"""Tandem: one system of record and one rulebook for marketing and sales."""
