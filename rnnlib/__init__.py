"""rnnlib: the small numpy library behind the course on recurrent neural networks.

Batch first (x is (N, T, D), a hidden state (N, H)); weights in PyTorch's layout with gates
stacked along the first axis; forward functions return ``(out, cache)`` and backward functions
take ``(dout, cache)`` and return gradients in the order of the forward's inputs.
"""
from .bidirectional import Bidirectional, merge_backward, merge_forward
from .gradcheck import gradcheck, numerical_gradient, relative_error
from .gradient_flow import jacobian_product_norms, truncated_bptt
from .gru import GRU, gru_backward, gru_forward, gru_step_backward, gru_step_forward
from .layers import (
    log_softmax,
    one_hot,
    softmax,
    softmax_cross_entropy,
    temporal_affine_backward,
    temporal_affine_forward,
)
from .lstm import LSTM, lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from .optim import SGD, Adagrad, Adam, clip_by_global_norm, clip_elementwise, global_norm
from .rnn import RNN, rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from .seq2seq import Seq2Seq, decoder_forward, greedy_decode, teacher_forcing_schedule
from .train import SequenceModel, fit, last_step_cross_entropy, last_step_mse

__version__ = "0.1.0"

# The one list of rnnlib's functions that the graded exercises (exercises/source/) ask learners to
# write with the same name, arguments and cache layout, and that grade the learners' versions as
# the reference: changing one of them changes an assignment. While an assignment is graded, its
# functions are stubs in the learner's sandbox (rnncourse.sandbox).
EXERCISE_CONTRACTS = (
    "rnn_step_forward", "rnn_forward",                                      # rnn_forward
    "rnn_step_backward", "rnn_backward",                                    # bptt
    "jacobian_product_norms", "clip_by_global_norm", "truncated_bptt",      # gradients
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",  # lstm
    "gru_step_forward", "gru_step_backward",                                # gru
    "merge_forward", "merge_backward", "decoder_forward", "greedy_decode",  # birnn_seq2seq
)

__all__ = [
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "RNN",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward", "LSTM",
    "gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward", "GRU",
    "Bidirectional", "merge_forward", "merge_backward",
    "one_hot", "softmax", "log_softmax", "softmax_cross_entropy",
    "temporal_affine_forward", "temporal_affine_backward",
    "jacobian_product_norms", "truncated_bptt",
    "clip_by_global_norm", "clip_elementwise", "global_norm", "SGD", "Adagrad", "Adam",
    "Seq2Seq", "decoder_forward", "greedy_decode", "teacher_forcing_schedule",
    "SequenceModel", "fit", "last_step_cross_entropy", "last_step_mse",
    "gradcheck", "numerical_gradient", "relative_error",
]
