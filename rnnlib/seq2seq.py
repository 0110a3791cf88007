"""Sequence to sequence (Sutskever et al., 2014; Cho et al., 2014): an encoder reads the source,
its last hidden state is the context vector, and a decoder started from that context writes the
target one token at a time, each step reading the token before it.

Training feeds the decoder the true previous token (teacher forcing) or, with probability
1 - ``teacher_forcing``, its own previous prediction (scheduled sampling, Bengio et al., 2015).
Decoding is greedy or by beam search.
"""
import numpy as np

from .gru import gru_step_forward
from .layers import log_softmax, one_hot, softmax_cross_entropy, temporal_affine_backward, temporal_affine_forward
from .lstm import lstm_step_forward
from .rnn import rnn_step_forward
from .train import CELLS


class Seq2Seq:
    """An encoder and a decoder of one kind ("rnn", "lstm" or "gru") and a read-out over the
    target vocabulary.

    Sources are integer ids (N, S), right-padded, with ``src_lengths`` (N,) when they differ in
    length; targets are ids (N, T) with a ``tgt_mask`` (N, T) marking the steps that count.
    ``bos`` is the target id the decoder reads at its first step. The context vector is the
    encoder's hidden state after the last real source token; an LSTM decoder starts with a zero
    cell state, so everything the decoder knows of the source passes through those H numbers.
    """

    def __init__(self, cell, src_vocab_size, tgt_vocab_size, hidden_size, *, bos, seed=None,
                 dtype=np.float64):
        if cell not in CELLS:
            raise ValueError(f"Seq2Seq: cell must be one of {sorted(CELLS)}, got {cell!r}")
        if not 0 <= bos < tgt_vocab_size:
            raise ValueError(f"Seq2Seq: bos must be a target id in [0, {tgt_vocab_size}), "
                             f"got {bos}")
        rng = np.random.default_rng(seed)
        self.cell, self.bos, self.dtype = cell, bos, dtype
        self.encoder = CELLS[cell](src_vocab_size, hidden_size, seed=rng, dtype=dtype)
        self.decoder = CELLS[cell](tgt_vocab_size, hidden_size, seed=rng, dtype=dtype)
        bound = 1 / np.sqrt(hidden_size)
        self.params = {f"encoder_{k}": v for k, v in self.encoder.params.items()}
        self.params.update({f"decoder_{k}": v for k, v in self.decoder.params.items()})
        self.params["Wy"] = rng.uniform(-bound, bound, (tgt_vocab_size, hidden_size)).astype(dtype)
        self.params["by"] = np.zeros(tgt_vocab_size, dtype=dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    @property
    def hidden_size(self):
        return self.encoder.hidden_size

    @property
    def num_params(self):
        return sum(p.size for p in self.params.values())

    def _one_hot(self, ids, layer):
        return one_hot(np.asarray(ids), layer.input_size, dtype=self.dtype)

    def encode(self, src, src_lengths=None):
        """The context vectors (N, H): the encoder's state after each source's last token."""
        src = np.asarray(src)
        lengths = np.full(len(src), src.shape[1]) if src_lengths is None else np.asarray(src_lengths)
        if lengths.shape != (len(src),) or lengths.min() < 1 or lengths.max() > src.shape[1]:
            raise ValueError(f"Seq2Seq: src_lengths must be (N,) = ({len(src)},) with values in "
                             f"[1, {src.shape[1]}], got {lengths}")
        hs = self.encoder.forward(self._one_hot(src, self.encoder))
        self._src_last = lengths - 1
        return hs[np.arange(len(src)), self._src_last]

    def _initial_state(self, context):
        if self.cell == "lstm":
            return (context, np.zeros_like(context))
        return (context,)

    def _step(self, token_ids, state):
        """One decoder step from the previous tokens (N,): (logits (N, V), new state)."""
        p = self.decoder.params
        x = self._one_hot(token_ids, self.decoder)
        if self.cell == "rnn":
            h, _ = rnn_step_forward(x, state[0], p["Wx"], p["Wh"], p["b"])
            state = (h,)
        elif self.cell == "lstm":
            h, c, _ = lstm_step_forward(x, state[0], state[1], p["Wx"], p["Wh"], p["b"])
            state = (h, c)
        else:
            h, _ = gru_step_forward(x, state[0], p["Wx"], p["Wh"], p["bx"], p["bh"])
            state = (h,)
        return h @ self.params["Wy"].T + self.params["by"], state

    def decoder_inputs(self, context, tgt, teacher_forcing, rng):
        """The token the decoder reads at each step: bos, then the true previous token with
        probability ``teacher_forcing`` and the model's own previous prediction otherwise."""
        N, T = tgt.shape
        inputs = np.empty((N, T), dtype=np.int64)
        inputs[:, 0] = self.bos
        if teacher_forcing >= 1:
            inputs[:, 1:] = tgt[:, :-1]
            return inputs
        state = self._initial_state(context)
        for t in range(1, T):
            logits, state = self._step(inputs[:, t - 1], state)
            use_truth = rng.random(N) < teacher_forcing
            inputs[:, t] = np.where(use_truth, tgt[:, t - 1], logits.argmax(axis=1))
        return inputs

    def loss_and_grads(self, src, tgt, *, src_lengths=None, tgt_mask=None, teacher_forcing=1.0,
                       rng=None):
        """Mean cross-entropy per counted target token; fills ``grads``.

        With ``teacher_forcing`` < 1 the inputs are chosen step by step; the chosen tokens are
        discrete, so no gradient flows through the choice, and the decoder is then run once
        more over the chosen inputs as a sequence, which gives the same states and a cache for
        backpropagation through time.
        """
        if not 0 <= teacher_forcing <= 1:
            raise ValueError(f"teacher_forcing must lie in [0, 1], got {teacher_forcing}")
        tgt = np.asarray(tgt)
        rng = np.random.default_rng(rng)
        context = self.encode(src, src_lengths)
        inputs = self.decoder_inputs(context, tgt, teacher_forcing, rng)
        hs = self.decoder.forward(self._one_hot(inputs, self.decoder), *self._initial_state(context))
        logits, head_cache = temporal_affine_forward(hs, self.params["Wy"], self.params["by"])
        loss, dlogits = softmax_cross_entropy(logits, tgt, tgt_mask)

        dhs, dWy, dby = temporal_affine_backward(dlogits, head_cache)
        self.decoder.backward(dhs)
        dcontext = self.decoder.dstate[0]
        dhs_encoder = np.zeros((len(tgt),) + self.encoder._last_hs.shape[1:], dtype=self.dtype)
        dhs_encoder[np.arange(len(tgt)), self._src_last] = dcontext
        self.encoder.backward(dhs_encoder)
        self.grads = {f"encoder_{k}": v for k, v in self.encoder.grads.items()}
        self.grads.update({f"decoder_{k}": v for k, v in self.decoder.grads.items()})
        self.grads.update(Wy=dWy, by=dby)
        return loss

    def greedy_decode(self, src, max_len, *, src_lengths=None, eos=None):
        """The most likely token at every step, fed back in: ids (N, max_len). After ``eos``
        a row repeats ``eos``."""
        state = self._initial_state(self.encode(src, src_lengths))
        N = len(np.asarray(src))
        out = np.empty((N, max_len), dtype=np.int64)
        previous = np.full(N, self.bos)
        done = np.zeros(N, dtype=bool)
        for t in range(max_len):
            logits, state = self._step(previous, state)
            previous = np.where(done, eos if eos is not None else 0, logits.argmax(axis=1))
            out[:, t] = previous
            if eos is not None:
                done |= previous == eos
                if done.all():
                    out[:, t + 1:] = eos
                    break
        return out

    def beam_search(self, src, max_len, *, beam_width=4, eos, src_lengths=None):
        """Keep the ``beam_width`` most likely partial outputs at every step instead of one.

        Returns, per source, the finished output (ending in ``eos``, or cut at ``max_len``) with
        the highest total log-probability, as a list of id lists, and their log-probabilities.
        """
        contexts = self.encode(src, src_lengths)
        results, scores = [], []
        for context in contexts:
            # Each beam: (log-probability, tokens so far, decoder state).
            beams = [(0.0, [], tuple(s[None] for s in self._initial_state(context)))]
            finished = []
            for _ in range(max_len):
                previous = np.array([b[1][-1] if b[1] else self.bos for b in beams])
                state = tuple(np.concatenate([b[2][k] for b in beams])
                              for k in range(len(beams[0][2])))
                logits, state = self._step(previous, state)
                log_p = log_softmax(logits)
                candidates = []
                for i, (score, tokens, _) in enumerate(beams):
                    for token in np.argsort(log_p[i])[::-1][:beam_width]:
                        candidates.append((score + log_p[i, token], tokens + [int(token)],
                                           tuple(s[i:i + 1] for s in state)))
                candidates.sort(key=lambda c: c[0], reverse=True)
                beams = []
                for candidate in candidates[:beam_width]:
                    (finished if candidate[1][-1] == eos else beams).append(candidate)
                if not beams:
                    break
            finished.extend(beams)
            best = max(finished, key=lambda c: c[0])
            results.append(best[1])
            scores.append(float(best[0]))
        return results, scores

    def __repr__(self):
        return (f"Seq2Seq({self.cell!r}, hidden_size={self.hidden_size}, "
                f"params={self.num_params})")


def teacher_forcing_schedule(kind, step, *, k):
    """The probability of feeding the true previous token at training step ``step`` under the
    decay schedules of Bengio et al. (2015):

    - "linear": max(0, 1 - step / k), reaching 0 at step k;
    - "exponential": k ** step, with 0 < k < 1;
    - "inverse_sigmoid": k / (k + exp(step / k)), with k >= 1: flat first, then falling.
    """
    if kind == "linear":
        return max(0.0, 1.0 - step / k)
    if kind == "exponential":
        if not 0 < k < 1:
            raise ValueError(f"exponential decay needs 0 < k < 1, got {k}")
        return k ** step
    if kind == "inverse_sigmoid":
        if k < 1:
            raise ValueError(f"inverse sigmoid decay needs k >= 1, got {k}")
        return k / (k + np.exp(step / k))
    raise ValueError(f"kind must be 'linear', 'exponential' or 'inverse_sigmoid', got {kind!r}")


def decoder_forward(step, state, targets, bos, teacher_forcing, rng):
    """Runs a decoder over ``T`` steps, feeding it the true previous token or its own guess.

    ``step(token_ids, state) -> (logits, state)`` is one decoder step: the tokens read (N,) and
    the state (for example the hidden state (N, H)) give the scores of the next token (N, V)
    and the new state. ``targets`` (N, T) are the true output ids; ``bos`` is the id read at
    step 0. At every step t >= 1 the function draws ``u = rng.random(N)``, exactly once, and
    example n reads ``targets[n, t - 1]`` (teacher forcing) where ``u[n] < teacher_forcing``
    and otherwise its own most likely token at step t - 1, the argmax of that step's logits.
    ``teacher_forcing=1`` is full teacher forcing, 0 is free running; no number is drawn at
    step 0. Returns the logits of every step, (N, T, V), with the dtype of ``step``'s logits.

    This is the step-by-step loop of :meth:`Seq2Seq.decoder_inputs` with the step handed in.

    >>> import numpy as np
    >>> table = np.eye(3)[[1, 2, 0]]          # token i scores token i + 1 (mod 3) highest
    >>> step = lambda ids, state: (table[ids], state)
    >>> decoder_forward(step, None, np.array([[2, 2, 2]]), 0, 0.0, np.random.default_rng(0)).argmax(-1)
    array([[1, 2, 0]])
    """
    targets = np.asarray(targets)
    N, T = targets.shape
    previous = np.full(N, bos, dtype=np.int64)
    steps = []
    for t in range(T):
        if t > 0:
            use_truth = rng.random(N) < teacher_forcing
            previous = np.where(use_truth, targets[:, t - 1], steps[-1].argmax(axis=1))
        logits, state = step(previous, state)
        steps.append(logits)
    return np.stack(steps, axis=1)


def greedy_decode(step, state, bos, max_len, eos=None):
    """Greedy decoding with a given decoder step: the most likely token at every step, fed back.

    ``step(token_ids, state) -> (logits, state)`` as in :func:`decoder_forward`; ``state`` is
    the initial state with the batch on its first axis, (N, ...), for example the context
    vectors (N, H). Step 0 reads ``bos``; step t >= 1 reads the token chosen at step t - 1.
    Returns ids (N, max_len), int64. With ``eos`` given, once an example has emitted ``eos``
    every later id of its row is ``eos`` too, and decoding stops early (without calling
    ``step`` again) when every example has emitted it; the result still has ``max_len`` columns.

    This is :meth:`Seq2Seq.greedy_decode` with the step handed in.

    >>> import numpy as np
    >>> table = np.eye(4)[[1, 2, 3, 3]]       # 0 -> 1 -> 2 -> 3 -> 3 ...
    >>> step = lambda ids, state: (table[ids], state)
    >>> greedy_decode(step, np.zeros((1, 1)), 0, 5, eos=2)
    array([[1, 2, 2, 2, 2]])
    """
    N = len(state) if not isinstance(state, tuple) else len(state[0])
    out = np.empty((N, max_len), dtype=np.int64)
    previous = np.full(N, bos, dtype=np.int64)
    done = np.zeros(N, dtype=bool)
    for t in range(max_len):
        logits, state = step(previous, state)
        previous = np.where(done, eos if eos is not None else 0, logits.argmax(axis=1))
        out[:, t] = previous
        if eos is not None:
            done |= previous == eos
            if done.all():
                out[:, t + 1:] = eos
                break
    return out
