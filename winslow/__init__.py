"""Winslow: masterless multi-stage container pipelines.

The layers live in the repository's top folders (`api/`, `reconcilers/`, `controller/`,
`resources/`, as the design lays them out) and are installed under this package, so that
`pip install` never puts a top-level `api` or `resources` into anyone's site-packages.
In a checkout, `winslow/<layer>` is a link to the folder of that name.
"""
