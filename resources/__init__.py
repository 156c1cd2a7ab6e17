"""Manifest kinds, their validation, and the store that keeps them on the share.

This package is the innermost layer: it imports nothing else of Winslow's.
"""
