"""Known mistakes in the gradients assignment: each becomes a submission that
tests/test_nbgrader_pipeline.py grades with the real nbgrader CLI."""
from . import Mistake

JACOBIAN_TESTS = ("test_jacobian_product_norms_returns", "test_jacobian_product_norms_one_step",
                  "test_jacobian_product_norms_values", "test_jacobian_product_norms_float32")
CLIP_TESTS = ("test_clip_by_global_norm_returns", "test_clip_by_global_norm_in_place",
              "test_clip_by_global_norm_values", "test_clip_by_global_norm_below")
TRUNCATED_TESTS = ("test_truncated_bptt_returns", "test_truncated_bptt_forward",
                   "test_truncated_bptt_values", "test_truncated_bptt_full")

# A mistake in one step's Jacobian shows already with T = 1; one in how the product is built or
# stored only from T = 2 on. What is returned (shape, dtype) is right in all of them.
ONE_STEP_WRONG = JACOBIAN_TESTS[1:]
PRODUCT_WRONG = ("test_jacobian_product_norms_values", "test_jacobian_product_norms_float32")

MISTAKES = {
    # ------------------------------------------------------------------ jacobian_product_norms
    "jacobian_without_tanh_derivative": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.zeros((N, T), dtype=hs.dtype)
    for n in range(N):
        J = np.eye(H, dtype=hs.dtype)
        for d in range(1, T + 1):
            J = J @ Wh
            norms[n, d - 1] = np.linalg.norm(J, 2)
    return norms
''',
        feedback="tanh derivative is missing",
        fails=ONE_STEP_WRONG,
    ),
    "jacobian_tanh_applied_twice": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.zeros((N, T), dtype=hs.dtype)
    for n in range(N):
        J = np.eye(H, dtype=hs.dtype)
        for d in range(1, T + 1):
            h = hs[n, T - d]
            J = J @ (np.diag(1 - np.tanh(h) ** 2) @ Wh)
            norms[n, d - 1] = np.linalg.norm(J, 2)
    return norms
''',
        feedback="already holds h_t = tanh(a_t)",
        fails=ONE_STEP_WRONG,
    ),
    "jacobian_derivative_scales_columns": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.zeros((N, T), dtype=hs.dtype)
    for n in range(N):
        J = np.eye(H, dtype=hs.dtype)
        for d in range(1, T + 1):
            h = hs[n, T - d]
            J = J @ (Wh * (1 - h ** 2))
            norms[n, d - 1] = np.linalg.norm(J, 2)
    return norms
''',
        feedback="scales the columns of Wh",
        fails=ONE_STEP_WRONG,
    ),
    "jacobian_wh_transposed": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    P = np.broadcast_to(np.eye(H, dtype=hs.dtype), (N, H, H))
    for d in range(1, T + 1):
        h = hs[:, T - d]
        P = P @ ((1 - h ** 2)[:, :, None] * Wh.T)
        norms[:, d - 1] = np.linalg.norm(P, 2, axis=(1, 2))
    return norms
''',
        feedback="Wh is transposed",
        fails=ONE_STEP_WRONG,
    ),
    "jacobian_product_in_wrong_order": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    P = np.broadcast_to(np.eye(H, dtype=hs.dtype), (N, H, H))
    for d in range(1, T + 1):
        h = hs[:, T - d]
        P = ((1 - h ** 2)[:, :, None] * Wh) @ P
        norms[:, d - 1] = np.linalg.norm(P, 2, axis=(1, 2))
    return norms
''',
        feedback="multiplied in the wrong order",
        fails=PRODUCT_WRONG,
    ),
    "jacobian_norms_in_reversed_order": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    P = np.broadcast_to(np.eye(H, dtype=hs.dtype), (N, H, H))
    for d in range(1, T + 1):
        h = hs[:, T - d]
        P = P @ ((1 - h ** 2)[:, :, None] * Wh)
        norms[:, T - d] = np.linalg.norm(P, 2, axis=(1, 2))   # stored by the time step it reaches
    return norms
''',
        feedback="reversed order",
        fails=PRODUCT_WRONG,
    ),
    "jacobian_frobenius_norm": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    P = np.broadcast_to(np.eye(H, dtype=hs.dtype), (N, H, H))
    for d in range(1, T + 1):
        h = hs[:, T - d]
        P = P @ ((1 - h ** 2)[:, :, None] * Wh)
        for n in range(N):
            norms[n, d - 1] = np.linalg.norm(P[n])
    return norms
''',
        feedback="Frobenius norm",
        fails=ONE_STEP_WRONG,
    ),
    "jacobian_product_not_accumulated": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    for d in range(1, T + 1):
        h = hs[:, T - d]
        J = (1 - h ** 2)[:, :, None] * Wh
        norms[:, d - 1] = np.linalg.norm(J, 2, axis=(1, 2))
    return norms
''',
        feedback="product is not accumulated",
        fails=PRODUCT_WRONG,
    ),
    "jacobian_starts_with_identity": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    P = np.broadcast_to(np.eye(H, dtype=hs.dtype), (N, H, H))
    for d in range(T):
        norms[:, d] = np.linalg.norm(P, 2, axis=(1, 2))
        h = hs[:, T - 1 - d]
        P = P @ ((1 - h ** 2)[:, :, None] * Wh)
    return norms
''',
        feedback="shifted by one step",
        fails=ONE_STEP_WRONG,
    ),
    "jacobian_first_example_for_all": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    P = np.eye(H, dtype=hs.dtype)
    for d in range(1, T + 1):
        h = hs[0, T - d]
        P = P @ ((1 - h ** 2)[:, None] * Wh)
        norms[:, d - 1] = np.linalg.norm(P, 2)
    return norms
''',
        feedback="norms of the first one",
        fails=ONE_STEP_WRONG,
    ),
    "jacobian_factor_uses_previous_state": Mistake(
        function="jacobian_product_norms",
        code='''\
def jacobian_product_norms(hs, Wh):
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    P = np.broadcast_to(np.eye(H, dtype=hs.dtype), (N, H, H))
    for d in range(1, T + 1):
        h_prev = hs[:, T - d - 1]
        P = P @ ((1 - h_prev ** 2)[:, :, None] * Wh)
        norms[:, d - 1] = np.linalg.norm(P, 2, axis=(1, 2))
    return norms
''',
        feedback="one step too early",
        fails=PRODUCT_WRONG,
    ),
    # ------------------------------------------------------------------ clip_by_global_norm
    "clip_each_array_by_its_own_norm": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    for g in grads.values():
        norm = np.sqrt(np.sum(g ** 2))
        if norm > max_norm:
            g *= max_norm / norm
    return total
''',
        feedback="clipped by its own norm",
        fails=("test_clip_by_global_norm_values",),
    ),
    "clip_scales_up_small_gradients": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    for g in grads.values():
        g *= max_norm / total
    return total
''',
        feedback="although its global norm is below max_norm",
        fails=("test_clip_by_global_norm_below",),
    ),
    "clip_returns_norm_after_clipping": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    if total > max_norm:
        for g in grads.values():
            g *= max_norm / total
        total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    return total
''',
        feedback="norm after clipping",
        fails=("test_clip_by_global_norm_returns",),
    ),
    "clip_sum_of_norms": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = sum(float(np.linalg.norm(g)) for g in grads.values())
    if total > max_norm:
        for g in grads.values():
            g *= max_norm / total
    return total
''',
        feedback="sum of the arrays' norms",
        fails=("test_clip_by_global_norm_returns", "test_clip_by_global_norm_values",
               "test_clip_by_global_norm_below"),
    ),
    "clip_norm_without_sqrt": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = float(sum(np.sum(g ** 2) for g in grads.values()))
    if total > max_norm:
        for g in grads.values():
            g *= max_norm / total
    return total
''',
        feedback="missing its square root",
        fails=("test_clip_by_global_norm_returns", "test_clip_by_global_norm_values",
               "test_clip_by_global_norm_below"),
    ),
    "clip_inverted_scale": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    if total > max_norm:
        for g in grads.values():
            g *= total / max_norm
    return total
''',
        feedback="upside down",
        fails=("test_clip_by_global_norm_values",),
    ),
    "clip_rebinds_instead_of_scaling_in_place": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    if total > max_norm:
        for g in grads.values():
            g = g * (max_norm / total)
    return total
''',
        feedback="are not changed",
        fails=("test_clip_by_global_norm_in_place", "test_clip_by_global_norm_values"),
    ),
    "clip_puts_new_arrays_into_the_dict": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    if total > max_norm:
        for name in grads:
            grads[name] = grads[name] * (max_norm / total)
    return total
''',
        feedback="new arrays instead of the scaled originals",
        fails=("test_clip_by_global_norm_in_place",),
    ),
    "clip_returns_nothing": Mistake(
        function="clip_by_global_norm",
        code='''\
def clip_by_global_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    if total > max_norm:
        for g in grads.values():
            g *= max_norm / total
''',
        feedback="returns nothing",
        fails=("test_clip_by_global_norm_returns", "test_clip_by_global_norm_below"),
    ),
    # ------------------------------------------------------------------ truncated_bptt
    "truncated_state_reset_every_chunk": Mistake(
        function="truncated_bptt",
        code='''\
def truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len):
    N, T, _ = x.shape
    hs = np.zeros(dhs.shape, dtype=x.dtype)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    for start in range(0, T, chunk_len):
        chunk = slice(start, start + chunk_len)
        hs[:, chunk], cache = rnn_forward(x[:, chunk], h0, Wx, Wh, b)
        dx[:, chunk], _, dWx_c, dWh_c, db_c = rnn_backward(dhs[:, chunk], cache)
        dWx += dWx_c
        dWh += dWh_c
        db += db_c
    return hs, dx, dWx, dWh, db
''',
        feedback="not carried across chunks",
        fails=("test_truncated_bptt_forward", "test_truncated_bptt_values"),
    ),
    "truncated_gradient_crosses_chunk_borders": Mistake(
        function="truncated_bptt",
        code='''\
def truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len):
    hs, cache = rnn_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = rnn_backward(dhs, cache)
    return hs, dx, dWx, dWh, db
''',
        feedback="flows across chunk borders",
        fails=("test_truncated_bptt_values",),
    ),
    "truncated_last_partial_chunk_dropped": Mistake(
        function="truncated_bptt",
        code='''\
def truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len):
    N, T, _ = x.shape
    hs = np.zeros(dhs.shape, dtype=x.dtype)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    h = h0
    for c in range(T // chunk_len):
        chunk = slice(c * chunk_len, (c + 1) * chunk_len)
        hs[:, chunk], cache = rnn_forward(x[:, chunk], h, Wx, Wh, b)
        dx[:, chunk], _, dWx_c, dWh_c, db_c = rnn_backward(dhs[:, chunk], cache)
        dWx += dWx_c
        dWh += dWh_c
        db += db_c
        h = hs[:, chunk][:, -1]
    return hs, dx, dWx, dWh, db
''',
        feedback="last, shorter chunk is missing",
        fails=("test_truncated_bptt_forward", "test_truncated_bptt_values", "test_truncated_bptt_full"),
    ),
    "truncated_chunk_gradients_not_summed": Mistake(
        function="truncated_bptt",
        code='''\
def truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len):
    N, T, _ = x.shape
    hs = np.zeros(dhs.shape, dtype=x.dtype)
    dx = np.zeros_like(x)
    h = h0
    for start in range(0, T, chunk_len):
        chunk = slice(start, start + chunk_len)
        hs[:, chunk], cache = rnn_forward(x[:, chunk], h, Wx, Wh, b)
        dx[:, chunk], _, dWx, dWh, db = rnn_backward(dhs[:, chunk], cache)
        h = hs[:, chunk][:, -1]
    return hs, dx, dWx, dWh, db
''',
        feedback="not summed over the chunks",
        fails=("test_truncated_bptt_values",),
    ),
    "truncated_chunk_gradients_averaged": Mistake(
        function="truncated_bptt",
        code='''\
def truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len):
    N, T, _ = x.shape
    hs = np.zeros(dhs.shape, dtype=x.dtype)
    dx = np.zeros_like(x)
    grads = []
    h = h0
    for start in range(0, T, chunk_len):
        chunk = slice(start, start + chunk_len)
        hs[:, chunk], cache = rnn_forward(x[:, chunk], h, Wx, Wh, b)
        dx[:, chunk], _, *chunk_grads = rnn_backward(dhs[:, chunk], cache)
        grads.append(chunk_grads)
        h = hs[:, chunk][:, -1]
    dWx, dWh, db = (np.mean(g, axis=0) for g in zip(*grads))
    return hs, dx, dWx, dWh, db
''',
        feedback="averaged over the chunks",
        fails=("test_truncated_bptt_values",),
    ),
    "truncated_float64_accumulators": Mistake(
        function="truncated_bptt",
        code='''\
def truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len):
    N, T, D = x.shape
    H = Wh.shape[0]
    hs = np.zeros((N, T, H), dtype=x.dtype)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros((H, D)), np.zeros((H, H)), np.zeros(H)
    h = h0
    for start in range(0, T, chunk_len):
        chunk = slice(start, start + chunk_len)
        hs[:, chunk], cache = rnn_forward(x[:, chunk], h, Wx, Wh, b)
        dx[:, chunk], _, dWx_c, dWh_c, db_c = rnn_backward(dhs[:, chunk], cache)
        dWx += dWx_c
        dWh += dWh_c
        db += db_c
        h = hs[:, chunk][:, -1]
    return hs, dx, dWx, dWh, db
''',
        feedback="dtype",
        fails=("test_truncated_bptt_returns",),
    ),
}

# The reference implementations of jacobian_product_norms and truncated_bptt live in
# rnnlib.gradient_flow (not exported at the top level of rnnlib); a learner who calls them
# delegates. clip_by_global_norm is rnnlib's top-level export, so the test makes its delegation.
DELEGATIONS = {
    "jacobian_product_norms": '''\
def jacobian_product_norms(hs, Wh):
    from rnnlib.gradient_flow import jacobian_product_norms as library_version
    return library_version(hs, Wh)
''',
    "truncated_bptt": '''\
def truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len):
    from rnnlib.gradient_flow import truncated_bptt as library_version
    return library_version(x, h0, Wx, Wh, b, dhs, chunk_len)
''',
}
