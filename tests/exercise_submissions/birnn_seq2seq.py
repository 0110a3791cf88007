"""Known mistakes in the birnn_seq2seq assignment: each becomes a submission that
tests/test_nbgrader_pipeline.py grades with the real nbgrader CLI."""
from . import Mistake

MF_CELLS = ("test_merge_forward_concat", "test_merge_forward_sum", "test_merge_forward_mode")

MISTAKES = {
    # ---- merge_forward ------------------------------------------------------------------------
    "merge_reverse_first": Mistake(
        function="merge_forward",
        code='''\
def merge_forward(hs_forward, hs_reverse, mode="concat"):
    if mode == "concat":
        out = np.concatenate([hs_reverse, hs_forward], axis=-1)
    elif mode == "sum":
        out = hs_forward + hs_reverse
    else:
        raise ValueError(mode)
    return out, (mode, hs_forward.shape[-1])
''',
        feedback="reverse states come first",
        fails=("test_merge_forward_concat",),
    ),
    "merge_flips_reverse_again": Mistake(
        function="merge_forward",
        code='''\
def merge_forward(hs_forward, hs_reverse, mode="concat"):
    hs_reverse = hs_reverse[:, ::-1]   # the reverse layer read the sequence backwards
    if mode == "concat":
        out = np.concatenate([hs_forward, hs_reverse], axis=2)
    elif mode == "sum":
        out = hs_forward + hs_reverse
    else:
        raise ValueError(mode)
    return out, (mode, hs_forward.shape[2])
''',
        feedback="flipped in time",
        fails=("test_merge_forward_concat", "test_merge_forward_sum"),
    ),
    "merge_concat_time_axis": Mistake(
        function="merge_forward",
        code='''\
def merge_forward(hs_forward, hs_reverse, mode="concat"):
    if mode == "concat":
        out = np.concatenate([hs_forward, hs_reverse], axis=1)
    elif mode == "sum":
        out = hs_forward + hs_reverse
    else:
        raise ValueError(mode)
    return out, (mode, hs_forward.shape[-1])
''',
        feedback="along the time axis",
        fails=("test_merge_forward_concat",),
    ),
    "merge_sum_is_mean": Mistake(
        function="merge_forward",
        code='''\
def merge_forward(hs_forward, hs_reverse, mode="concat"):
    if mode == "concat":
        out = np.concatenate((hs_forward, hs_reverse), axis=-1)
    elif mode == "sum":
        out = (hs_forward + hs_reverse) / 2
    else:
        raise ValueError("unknown mode")
    return out, (mode, hs_forward.shape[-1])
''',
        feedback="does not take the mean",
        fails=("test_merge_forward_sum",),
    ),
    "merge_unknown_mode_accepted": Mistake(
        function="merge_forward",
        code='''\
def merge_forward(hs_forward, hs_reverse, mode="concat"):
    if mode == "concat":
        out = np.concatenate([hs_forward, hs_reverse], axis=-1)
    else:
        out = hs_forward + hs_reverse
    return out, (mode, hs_forward.shape[-1])
''',
        feedback="must raise a ValueError",
        fails=("test_merge_forward_mode",),
    ),
    "merge_cache_holds_states": Mistake(
        function="merge_forward",
        code='''\
def merge_forward(hs_forward, hs_reverse, mode="concat"):
    if mode == "concat":
        out = np.concatenate([hs_forward, hs_reverse], axis=-1)
    elif mode == "sum":
        out = hs_forward + hs_reverse
    else:
        raise ValueError(mode)
    return out, (hs_forward, hs_reverse, mode)
''',
        feedback="the cache must be the pair (mode, H)",
        fails=("test_merge_forward_mode",),
    ),
    # ---- merge_backward -----------------------------------------------------------------------
    "merge_backward_sum_one_direction": Mistake(
        function="merge_backward",
        code='''\
def merge_backward(dout, cache):
    mode, H = cache
    if mode == "concat":
        return dout[..., :H], dout[..., H:]
    return dout, np.zeros_like(dout)
''',
        feedback="only one direction",
        fails=("test_merge_backward_sum", "test_merge_backward_gradcheck"),
    ),
    "merge_backward_sum_halved": Mistake(
        function="merge_backward",
        code='''\
def merge_backward(dout, cache):
    mode, H = cache
    if mode == "concat":
        dhs_forward, dhs_reverse = dout[:, :, :H], dout[:, :, H:]
    else:
        dhs_forward = dhs_reverse = dout / 2   # the gradient is shared between the two directions
    return dhs_forward, dhs_reverse
''',
        feedback="halved",
        fails=("test_merge_backward_sum", "test_merge_backward_gradcheck"),
    ),
    "merge_backward_concat_swapped": Mistake(
        function="merge_backward",
        code='''\
def merge_backward(dout, cache):
    mode, H = cache
    if mode == "concat":
        dhs_reverse, dhs_forward = dout[..., :H], dout[..., H:]
    else:
        dhs_forward, dhs_reverse = dout, dout.copy()
    return dhs_forward, dhs_reverse
''',
        feedback="halves are swapped",
        fails=("test_merge_backward_concat", "test_merge_backward_gradcheck"),
    ),
    "merge_backward_concat_wrong_axis": Mistake(
        function="merge_backward",
        code='''\
def merge_backward(dout, cache):
    mode, H = cache
    if mode == "concat":
        dhs_forward, dhs_reverse = dout[:, :H], dout[:, H:]
    else:
        dhs_forward, dhs_reverse = dout, dout.copy()
    return dhs_forward, dhs_reverse
''',
        feedback="wrong axis",
        fails=("test_merge_backward_concat", "test_merge_backward_gradcheck"),
    ),
    "merge_backward_reverse_flipped": Mistake(
        function="merge_backward",
        code='''\
def merge_backward(dout, cache):
    mode, H = cache
    if mode == "concat":
        dhs_forward, dhs_reverse = dout[..., :H], dout[..., H:]
    else:
        dhs_forward, dhs_reverse = dout, dout
    return dhs_forward, dhs_reverse[:, ::-1]   # the reverse layer runs backwards in time
''',
        feedback="flipped in time",
    ),
    # ---- decoder_forward ----------------------------------------------------------------------
    "decoder_teacher_forcing_inverted": Mistake(
        function="decoder_forward",
        code='''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    N, T = targets.shape
    inputs = np.full(N, bos)
    outputs = []
    for t in range(T):
        logits, state = step(inputs, state)
        outputs.append(logits)
        if t + 1 < T:
            u = rng.random(N)
            inputs = np.where(u < teacher_forcing, logits.argmax(axis=1), targets[:, t])
    return np.stack(outputs, axis=1)
''',
        feedback="inverted",
    ),
    "decoder_peeks_at_the_answer": Mistake(
        function="decoder_forward",
        code='''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    N, T = targets.shape
    logits = []
    token = np.full(N, bos)
    for t in range(T):
        if t > 0:
            guess = logits[-1].argmax(axis=1)
            token = np.where(rng.random(N) < teacher_forcing, targets[:, t], guess)
        out, state = step(token, state)
        logits.append(out)
    return np.stack(logits, axis=1)
''',
        feedback="peeking",
        fails=("test_decoder_forward_teacher_forcing", "test_decoder_forward_scheduled"),
    ),
    "decoder_no_bos": Mistake(
        function="decoder_forward",
        code='''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    N, T = targets.shape
    logits = []
    previous = np.zeros(N, dtype=int)
    for t in range(T):
        if t > 0:
            use_truth = rng.random(N) < teacher_forcing
            previous = np.where(use_truth, targets[:, t - 1], logits[-1].argmax(axis=1))
        out, state = step(previous, state)
        logits.append(out)
    return np.stack(logits, axis=1)
''',
        feedback="must read bos",
    ),
    "decoder_rng_drawn_once": Mistake(
        function="decoder_forward",
        code='''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    N, T = targets.shape
    use_truth = rng.random(N) < teacher_forcing   # one coin per example
    previous = np.full(N, bos)
    logits = []
    for t in range(T):
        if t > 0:
            previous = np.where(use_truth, targets[:, t - 1], logits[-1].argmax(axis=1))
        out, state = step(previous, state)
        logits.append(out)
    return np.stack(logits, axis=1)
''',
        feedback="once for the whole sequence",
        fails=("test_decoder_forward_scheduled",),
    ),
    "decoder_rng_drawn_at_step_0": Mistake(
        function="decoder_forward",
        code='''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    N, T = targets.shape
    previous = np.full(N, bos)
    logits = []
    for t in range(T):
        u = rng.random(N)
        if t > 0:
            previous = np.where(u < teacher_forcing, targets[:, t - 1], logits[-1].argmax(axis=1))
        out, state = step(previous, state)
        logits.append(out)
    return np.stack(logits, axis=1)
''',
        feedback="drawn at step 0",
        fails=("test_decoder_forward_scheduled",),
    ),
    "decoder_one_coin_per_batch": Mistake(
        function="decoder_forward",
        code='''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    N, T = targets.shape
    previous = np.full(N, bos)
    logits = []
    for t in range(T):
        if t > 0:
            if rng.random() < teacher_forcing:
                previous = targets[:, t - 1]
            else:
                previous = logits[-1].argmax(axis=1)
        out, state = step(previous, state)
        logits.append(out)
    return np.stack(logits, axis=1)
''',
        feedback="one number per example",
        fails=("test_decoder_forward_scheduled",),
    ),
    "decoder_state_not_carried": Mistake(
        function="decoder_forward",
        code='''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    N, T = targets.shape
    previous = np.full(N, bos)
    logits = []
    for t in range(T):
        if t > 0:
            use_truth = rng.random(N) < teacher_forcing
            previous = np.where(use_truth, targets[:, t - 1], logits[-1].argmax(axis=1))
        out, h = step(previous, state)
        logits.append(out)
    return np.stack(logits, axis=1)
''',
        feedback="state is not carried",
    ),
    "decoder_float64_logits": Mistake(
        function="decoder_forward",
        code='''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    N, T = targets.shape
    previous = np.full(N, bos)
    logits = None
    for t in range(T):
        if t > 0:
            use_truth = rng.random(N) < teacher_forcing
            previous = np.where(use_truth, targets[:, t - 1], logits[:, t - 1].argmax(axis=1))
        out, state = step(previous, state)
        if logits is None:
            logits = np.zeros((N, T, out.shape[1]))
        logits[:, t] = out
    return logits
''',
        feedback="dtype",
        fails=("test_decoder_forward_teacher_forcing", "test_decoder_forward_free_running",
               "test_decoder_forward_scheduled"),
    ),
    # ---- greedy_decode ------------------------------------------------------------------------
    "greedy_argmax_wrong_axis": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = len(state)
    ids = np.zeros((N, max_len), dtype=np.int64)
    previous = np.full(N, bos)
    done = np.zeros(N, dtype=bool)
    for t in range(max_len):
        logits, state = step(previous, state)
        previous = logits.argmax(axis=0)
        if eos is not None:
            previous = np.where(done, eos, previous)
            done |= previous == eos
        ids[:, t] = previous
    return ids
''',
        feedback="one id per example",
    ),
    "greedy_state_not_carried": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = state.shape[0]
    ids = np.zeros((N, max_len), dtype=int)
    token = np.full(N, bos)
    finished = np.zeros(N, dtype=bool)
    for t in range(max_len):
        logits, _ = step(token, state)
        token = np.argmax(logits, axis=1)
        if eos is not None:
            token[finished] = eos
            finished = finished | (token == eos)
        ids[:, t] = token
    return ids
''',
        feedback="state is not carried",
    ),
    "greedy_does_not_stop": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = len(state)
    ids = np.zeros((N, max_len), dtype=np.int64)
    previous = np.full(N, bos)
    for t in range(max_len):
        logits, state = step(previous, state)
        previous = logits.argmax(axis=1)
        ids[:, t] = previous
    return ids
''',
        feedback="go on after eos",
        fails=("test_greedy_decode_eos",),
    ),
    "greedy_pads_with_zero": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = len(state)
    ids = np.zeros((N, max_len), dtype=np.int64)
    previous = np.full(N, bos)
    done = np.zeros(N, dtype=bool)
    for t in range(max_len):
        logits, state = step(previous, state)
        previous = logits.argmax(axis=1)
        ids[~done, t] = previous[~done]
        if eos is not None:
            done = done | (previous == eos)
            if done.all():
                break
    return ids
''',
        feedback="must repeat eos",
        fails=("test_greedy_decode_eos",),
    ),
    "greedy_stops_whole_batch": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = len(state)
    ids = np.zeros((N, max_len), dtype=np.int64)
    previous = np.full(N, bos)
    for t in range(max_len):
        logits, state = step(previous, state)
        previous = logits.argmax(axis=1)
        ids[:, t] = previous
        if eos is not None and (previous == eos).any():
            break
    return ids
''',
        feedback="stopped for the whole batch",
        fails=("test_greedy_decode_eos",),
    ),
    "greedy_first_input_not_bos": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = len(state)
    ids = np.zeros((N, max_len), dtype=np.int64)
    previous = np.zeros(N, dtype=np.int64)
    done = np.zeros(N, dtype=bool)
    for t in range(max_len):
        logits, state = step(previous, state)
        previous = np.where(done, eos if eos is not None else 0, logits.argmax(axis=1))
        if eos is not None:
            done |= previous == eos
        ids[:, t] = previous
    return ids
''',
        feedback="must read bos",
    ),
    "greedy_feeds_bos_forever": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = len(state)
    ids = np.zeros((N, max_len), dtype=np.int64)
    tokens = np.full(N, bos)
    done = np.zeros(N, dtype=bool)
    for t in range(max_len):
        logits, state = step(tokens, state)
        best = logits.argmax(axis=1)
        if eos is not None:
            best[done] = eos
            done |= best == eos
        ids[:, t] = best
    return ids
''',
        feedback="feed back the token chosen at the step before",
    ),
    "greedy_feeds_first_token_forever": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = len(state)
    ids = np.zeros((N, max_len), dtype=np.int64)
    done = np.zeros(N, dtype=bool)
    for t in range(max_len):
        previous = np.full(N, bos) if t == 0 else ids[:, 0]
        logits, state = step(previous, state)
        best = logits.argmax(axis=1)
        if eos is not None:
            best[done] = eos
            done |= best == eos
        ids[:, t] = best
    return ids
''',
        feedback="the token of step 0",
    ),
    "greedy_returns_fewer_columns": Mistake(
        function="greedy_decode",
        code='''\
def greedy_decode(step, state, bos, max_len, eos=None):
    N = len(state)
    columns = []
    previous = np.full(N, bos)
    done = np.zeros(N, dtype=bool)
    for t in range(max_len):
        logits, state = step(previous, state)
        previous = np.where(done, eos, logits.argmax(axis=1)) if eos is not None else logits.argmax(axis=1)
        columns.append(previous)
        if eos is not None:
            done |= previous == eos
            if done.all():
                break
    return np.stack(columns, axis=1)
''',
        feedback="max_len columns",
        fails=("test_greedy_decode_eos",),
    ),
}

# rnnlib does not export decoder_forward and greedy_decode at its top level (they live in
# rnnlib.seq2seq), so their delegating submissions import them from there.
DELEGATIONS = {
    "decoder_forward": '''\
def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    from rnnlib.seq2seq import decoder_forward as library_decoder_forward
    return library_decoder_forward(step, state, targets, bos, teacher_forcing, rng)
''',
    "greedy_decode": '''\
def greedy_decode(step, state, bos, max_len, eos=None):
    from rnnlib.seq2seq import greedy_decode as library_greedy_decode
    return library_greedy_decode(step, state, bos, max_len, eos=eos)
''',
}
