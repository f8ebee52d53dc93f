"""ONNX Runtime session options: the automatic intra-op thread count (config 0)."""

from __future__ import annotations

from fulcrum.core.bundle.sessions import INFERENCE_THREADS, auto_intra_op_threads, session_options


def test_auto_threads_leave_the_event_loop_a_core():
    # (cores - 1) // 2 inference threads, at least 1:
    # 1 -> 0 -> 1; 2 -> 0 -> 1 (the reference machine); 3 -> 1; 4 -> 1; 8 -> 3; 16 -> 7
    assert INFERENCE_THREADS == 2
    assert [auto_intra_op_threads(n) for n in (1, 2, 3, 4, 8, 16)] == [1, 1, 1, 1, 3, 7]


def test_session_options_use_the_config_value_or_auto():
    assert session_options(3).intra_op_num_threads == 3
    assert session_options(0).intra_op_num_threads == auto_intra_op_threads()
    opts = session_options(0)
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.get_session_config_entry("session.inter_op.allow_spinning") == "0"
