"""Compute: blocks whose content a registered Python function computes from their inputs.

This wing owns compute blocks and the function registry (`compute_blocks`: the
registry, the decorator and entry points that fill it, a compute block's
content and the signals it reads), the functions every service has
(`builtin_functions`), and where compute runs (`executors`: in process, or on
Ray).
"""
