"""BENCHMARKS.md upkeep: generated blocks are replaced, hand-written text stays;
the machine description has what the page prints."""

from __future__ import annotations

from benchmarks.machine import PeakMemory, current_rss_mib, describe_machine, machine_line
from benchmarks.report import _replace_block


def test_generated_block_is_replaced_and_the_rest_kept() -> None:
    text = "# Benchmarks\n\nhand-written\n"
    once = _replace_block(text, "cpu", "numbers 1\n")
    assert "hand-written" in once and "numbers 1" in once
    edited = once + "\nmore notes\n"
    twice = _replace_block(edited, "cpu", "numbers 2\n")
    assert "numbers 1" not in twice and "numbers 2" in twice
    assert "hand-written" in twice and "more notes" in twice
    assert twice.count("benchmarks.run:cpu:begin") == 1
    other = _replace_block(twice, "cuda", "gpu numbers\n")
    assert "numbers 2" in other and "gpu numbers" in other


def test_machine_description_and_phase_memory() -> None:
    m = describe_machine()
    for key in ("cpu", "cores_usable", "torch_threads", "ram_gib", "versions", "load_average", "date"):
        assert key in m
    assert m["cores_usable"] >= 1
    assert "core" in machine_line(m)
    mem = PeakMemory("cpu")
    with mem.phase("alloc"):
        block = bytearray(64 << 20)
        block[::4096] = b"x" * len(block[::4096])
        held = current_rss_mib()
        del block  # a transient: the phase's peak must still hold it
    # Not `start + 32`: a host that reclaims cold pages (DAMON) can page
    # others out while the block comes in, so the RSS need not grow.
    assert mem.peaks["alloc"]["rss_peak_mib"] >= held - 2  # the kernel updates its counters in batches
