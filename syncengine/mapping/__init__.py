"""Mapping and merging, pure (no queries, no requests): `normal` is the normalized form
values are compared in, `contacts` the contact fields in it, `merge` the three-way merge."""
